"""Status flowing back: the inbox's staff API, the signed webhook, and the updates feed."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import timedelta

from sqlalchemy import select

from open311.db import utcnow
from open311.models import AuditEntry
from schemas.datetimes import format_w3c, parse_w3c
from tests.conftest import make_key
from tests.helpers import parse


def post(client, key, code="TENANT", **extra):
    data = {"service_code": code, "address_string": "3 Ash Ct", "api_key": key, **extra}
    r = client.post("/open311/v2/requests.json", data=data)
    assert r.status_code == 200, r.data
    return r.get_json()[0].get("service_request_id")


def staff_get(client, key, fmt, **params):
    return client.get(
        f"/open311/v2/staff/requests.{fmt}", query_string=params, headers={"X-API-Key": key}
    )


def test_staff_list_claim_and_close_flow_into_public_record(client, app, submit_key, outbox, fmt):
    rid = post(client, submit_key, email="tenant@example.org", description="No heat in unit 4")
    outbox.drain()
    staff = make_key(app, "ha-clerk", "staff", "tenants")
    listed = parse(staff_get(client, staff, fmt), fmt)
    assert [r["service_request_id"] for r in listed] == [rid]
    assert listed[0]["reporter"]["email"] == "tenant@example.org"

    r = client.post(f"/open311/v2/staff/requests/{rid}/claim.{fmt}", headers={"X-API-Key": staff})
    assert r.status_code == 200, r.data
    assert parse(r, fmt)[0]["claimed_by"] == "ha-clerk"
    other = make_key(app, "ha-other", "staff", "tenants")
    r = client.post(f"/open311/v2/staff/requests/{rid}/claim.{fmt}", headers={"X-API-Key": other})
    assert r.status_code == 409

    r = client.post(
        f"/open311/v2/staff/requests/{rid}/status.{fmt}",
        json={"status": "closed", "detailed_status": "fixed", "status_notes": "Boiler repaired"},
        headers={"X-API-Key": staff},
    )
    assert r.status_code == 200, r.data
    [public] = parse(client.get(f"/open311/v2/requests/{rid}.{fmt}"), fmt)
    assert public["status"] == "closed" and public["status_notes"] == "Boiler repaired"
    assert public["agency_responsible"] == "Test Housing Authority"
    assert "email" not in public and "reporter" not in public
    feed = parse(client.get(f"/open311/v2/servicerequestupdates.{fmt}"), fmt)
    assert [(u["service_request_id"], u["status"], u["description"]) for u in feed] == [
        (rid, "open", "Received by Test Housing Authority."),
        (rid, "closed", "Boiler repaired"),
    ]
    assert parse(staff_get(client, staff, fmt), fmt) == []  # no longer open
    closed = parse(staff_get(client, staff, fmt, status="closed"), fmt)
    assert [r["service_request_id"] for r in closed] == [rid]

    with app.extensions["open311"].db.read() as session:
        audit = session.scalars(select(AuditEntry).order_by(AuditEntry.id)).all()
    assert [(a.key_name, a.action, a.request_public_id) for a in audit][:3] == [
        ("ha-clerk", "staff.list", rid),
        ("ha-clerk", "staff.claim", rid),
        ("ha-clerk", "staff.status", rid),
    ]


def test_staff_keys_are_bound_to_their_agency(client, app, submit_key, outbox, fmt):
    rid = post(client, submit_key)
    outbox.drain()
    works = make_key(app, "works-clerk", "staff", "works")
    assert parse(staff_get(client, works, fmt), fmt) == []
    assert staff_get(client, works, fmt, agency="tenants").status_code == 403
    r = client.post(
        f"/open311/v2/staff/requests/{rid}/status.{fmt}",
        json={"status": "closed"},
        headers={"X-API-Key": works},
    )
    assert r.status_code == 404  # not theirs: indistinguishable from unknown
    assert staff_get(client, submit_key, fmt).status_code == 403
    admin = make_key(app, "root", "admin")
    assert staff_get(client, admin, fmt).status_code == 400  # must name the agency
    assert len(parse(staff_get(client, admin, fmt, agency="tenants"), fmt)) == 1


def test_staff_status_is_validated(client, app, submit_key, outbox, fmt):
    rid = post(client, submit_key)
    outbox.drain()
    staff = make_key(app, "ha-clerk", "staff", "tenants")
    r = client.post(
        f"/open311/v2/staff/requests/{rid}/status.{fmt}",
        data={"status": "finished"},
        headers={"X-API-Key": staff},
    )
    assert r.status_code == 400
    assert "status" in parse(r, fmt)[0]["description"]


def sign(body: bytes, secret: str = "works-shared-secret") -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def test_signed_webhook_updates_the_public_record_once(client, submit_key, outbox, backend, fmt):
    rid = post(client, submit_key, code="POTHOLE")
    outbox.drain()
    # A minute ahead, within the clock skew a back-end may have (open311/updates.py).
    soon = (utcnow() + timedelta(minutes=1)).isoformat()
    body = json.dumps(
        {
            "updates": [
                {
                    "backend_id": "WO-1",
                    "status": "closed",
                    "detailed_status": "completed",
                    "status_notes": "Patched",
                    "updated_datetime": soon,
                    "update_id": "evt-1",
                }
            ]
        }
    ).encode()
    url = f"/open311/v2/agencies/works/updates.{fmt}"
    headers = {"Content-Type": "application/json"}
    assert client.post(url, data=body, headers=headers).status_code == 403
    bad = {**headers, "X-Open311-Signature": sign(body, "wrong")}
    assert client.post(url, data=body, headers=bad).status_code == 403
    good = {**headers, "X-Open311-Signature": sign(body)}
    r = client.post(url, data=body, headers=good)
    assert r.status_code == 200, r.data
    assert parse(r, fmt)["applied"] in (1, "1")
    again = client.post(url, data=body, headers=good)
    assert parse(again, fmt)["applied"] in (0, "0")
    [public] = parse(client.get(f"/open311/v2/requests/{rid}.{fmt}"), fmt)
    assert public["status"] == "closed" and public["status_notes"] == "Patched"
    assert public["updated_datetime"] == format_w3c(parse_w3c(soon))
    unknown = client.post(f"/open311/v2/agencies/nobody/updates.{fmt}", data=body, headers=good)
    assert unknown.status_code == 403


def test_webhook_rejects_bad_payloads(client, submit_key, fmt):
    body = json.dumps({"updates": [{"backend_id": "WO-1", "status": "exploded"}]}).encode()
    r = client.post(
        f"/open311/v2/agencies/works/updates.{fmt}",
        data=body,
        headers={"Content-Type": "application/json", "X-Open311-Signature": sign(body)},
    )
    assert r.status_code == 400
    text = " ".join(e["description"] for e in parse(r, fmt))
    assert "status" in text and "updated_datetime" in text


def test_copy_recipient_cannot_set_public_status(client, app, submit_key, outbox, backend, fmt):
    rid = post(client, submit_key, code="SPILL")
    outbox.drain()
    admin = make_key(app, "root", "admin")
    r = client.post(
        f"/open311/v2/staff/requests/{rid}/status.{fmt}?agency=health",
        json={"status": "closed"},
        headers={"X-API-Key": admin},
    )
    assert r.status_code == 409


def test_staff_closing_before_the_receipt_is_not_reopened_by_it(
    client, app, submit_key, outbox, fmt
):
    rid = post(client, submit_key)  # TENANT, kept in the gateway's own inbox
    staff = make_key(app, "quick-clerk", "staff", "tenants")
    r = client.post(
        f"/open311/v2/staff/requests/{rid}/status.{fmt}",
        json={"status": "closed", "status_notes": "Done on the spot"},
        headers={"X-API-Key": staff},
    )
    assert r.status_code == 200
    outbox.drain()  # the acknowledgement arrives after the staff member acted
    [public] = parse(client.get(f"/open311/v2/requests/{rid}.{fmt}"), fmt)
    assert public["status"] == "closed" and public["status_notes"] == "Done on the spot"
    notes = parse(client.get(f"/open311/v2/requests/{rid}.{fmt}?extensions=true"), fmt)[0]
    assert "Received by Test Housing Authority." in [n["summary"] for n in notes["notes"]]
