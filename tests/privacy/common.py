"""What the privacy tests share: distinctive personal values (easy to find in any byte
stream), posting reports, delivering them without the demo's work-order server, and the
staff steps that give reports a status history."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, quote_plus

from adapters.base import Adapter, Receipt, Ticket
from open311.delivery import build_adapters
from open311.outbox import Outbox
from tests.helpers import NEW_HAVEN_GREEN, parse
from tests.support.plugin import FAST

API = "/open311/v2"

EMAIL = "leak-7f3a@example.org"
PHONE = "+1 203 555 0199"
FIRST = "Zebulon"
LAST = "Quillfeather"
DEVICE = "dev-9x8y7z"
ACCOUNT = "acct-5551"
PERSONAL = {
    "email": EMAIL,
    "phone": PHONE,
    "first_name": FIRST,
    "last_name": LAST,
    "device_id": DEVICE,
    "account_id": ACCOUNT,
}
# The personal values as the gateway stores them: the phone in E.164 (open311/contact.py).
STORED = {**PERSONAL, "phone": "+12035550199"}
# Descriptions and staff notes of private reports: as secret as the reporter's name.
PRIVATE_NEIGHBOUR = "Tuba-at-3am-Marrowby in unit 12B"
PRIVATE_LEASE = "Unlisted-occupant-Fennimore since March"
PRIVATE_NOTE = "Mediation-Ottoline-visit arranged"
PRIVATE_TEXTS = (PRIVATE_NEIGHBOUR, PRIVATE_LEASE, PRIVATE_NOTE)
PRIVATE_CODES = ("NEIGHBOR_COMPLAINT", "LEASE_VIOLATION")

# Every value, and the parts of it a partial echo would show.
FORBIDDEN = (
    *PERSONAL.values(),
    "leak-7f3a",
    "2035550199",
    "203 555 0199",
    "Tuba-at-3am",
    "Unlisted-occupant",
    "Mediation-Ottoline",
)


def _spellings(value: str) -> set[bytes]:
    """The value as it could appear in a body or header: raw, URL-encoded either way."""
    return {s.lower().encode("utf-8") for s in (value, quote(value), quote_plus(value))}


def leaks(response: Any) -> list[str]:
    """Which forbidden values appear in the answer's raw body or in any header."""
    body = response.data.lower()
    headers = "\n".join(f"{k}: {v}" for k, v in response.headers.items()).lower().encode()
    found = []
    for value in FORBIDDEN:
        for spelling in _spellings(value):
            if spelling in body:
                found.append(f"{value!r} in body")
            if spelling in headers:
                found.append(f"{value!r} in headers")
    return sorted(set(found))


def post(client: Any, key: str | None, code: str, fmt: str = "json", **fields: Any) -> Any:
    data: dict[str, Any] = {"service_code": code}
    if "address_string" not in fields and "lat" not in fields:
        data["lat"], data["long"] = NEW_HAVEN_GREEN
    data.update(fields)
    if key is not None:
        data["api_key"] = key
    return client.post(f"{API}/requests.{fmt}", data=data)


def created(client: Any, key: str, code: str, fmt: str = "json", **fields: Any) -> dict[str, Any]:
    response = post(client, key, code, fmt, **fields)
    assert response.status_code == 200, response.data
    [answer] = parse(response, fmt)
    return answer


class AcceptingWorkOrders(Adapter):
    """Stands in for the demo's work-order system, which has no server in tests."""

    name = "test-work-orders"

    def __init__(self) -> None:
        super().__init__({})
        self.tickets: list[Ticket] = []

    def submit(self, ticket: Ticket) -> Receipt:
        self.tickets.append(ticket)
        return Receipt(backend_id=f"WO-{ticket.request_id}")


def deliver_all(app: Any) -> AcceptingWorkOrders:
    """Deliver every queued report of the demo configuration: the inboxes as configured,
    the public-works reports to a stand-in that accepts them."""
    gw = app.extensions["open311"]
    adapters = build_adapters(gw.catalog)
    adapters.pop("nhv-public-works").close()
    works = AcceptingWorkOrders()
    adapters["nhv-public-works"] = works
    worker = Outbox(gw.db, gw.catalog, adapters, FAST, seed=7)
    try:
        worker.drain()
    finally:
        worker.close()
    return works


def staff_post(client: Any, key: str, path: str, **data: Any) -> Any:
    response = client.post(
        f"{API}/staff/requests/{path}.json", data=data, headers={"X-API-Key": key}
    )
    assert response.status_code == 200, response.data
    return response
