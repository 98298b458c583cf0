"""The demo gateway with reports that carry personal data, private reports, and a status
history on both kinds (so every public view has something to leak, if it would)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from tests.conftest import make_key
from tests.helpers import HOUSING_PROPERTY

from .common import (
    API,
    PERSONAL,
    PRIVATE_LEASE,
    PRIVATE_NEIGHBOUR,
    PRIVATE_NOTE,
    created,
    deliver_all,
    staff_post,
)


@pytest.fixture
def settings(db_url: str) -> dict[str, Any]:
    # The walks make hundreds of GETs; rate limits have their own tests (test_rate_limits).
    return {"DATABASE_URL": db_url, "TESTING": True, "RATELIMIT_ENABLED": False}


@dataclass
class Scenario:
    submit_key: str
    public_ids: list[str] = field(default_factory=list)
    private_ids: list[str] = field(default_factory=list)
    zoning_ids: list[str] = field(default_factory=list)
    tokens: list[str] = field(default_factory=list)
    housing_staff: str = ""
    works_staff: str = ""

    @property
    def all_ids(self) -> list[str]:
        return self.public_ids + self.zoning_ids + self.private_ids


@pytest.fixture
def scenario(app: Any, client: Any) -> Scenario:
    s = Scenario(submit_key=make_key(app, "resident-app"))
    key = s.submit_key
    # Public reports carrying every personal field.
    for depth, lane in (("8", "bike"), ("15", "travel")):
        answers = {"attribute[DEPTH_CM]": depth, "attribute[LANE]": lane}
        answer = created(
            client, key, "POTHOLE", **PERSONAL, description="Deep hole by the green", **answers
        )
        s.public_ids.append(answer["service_request_id"])
    zoning = created(client, key, "ZONING", address_string="12 Elm Street", **PERSONAL)
    s.tokens.append(zoning["token"])
    phone_only = {"phone": PERSONAL["phone"], "last_name": PERSONAL["last_name"]}
    s.tokens.append(
        created(client, key, "ZONING", address_string="14 Elm St", **phone_only)["token"]
    )
    graffiti = created(client, key, "GRAFFITI", **PERSONAL, description="Tag on the library wall")
    assert "service_request_id" not in graffiti and graffiti.get("account_id") is None
    # Private reports: the submitter still gets the id.
    for code, text, where in (
        ("NEIGHBOR_COMPLAINT", PRIVATE_NEIGHBOUR, {}),
        (
            "LEASE_VIOLATION",
            PRIVATE_LEASE,
            {"lat": HOUSING_PROPERTY[0], "long": HOUSING_PROPERTY[1]},
        ),
    ):
        answer = created(client, key, code, **PERSONAL, description=text, **where)
        assert answer["service_request_id"], answer
        s.private_ids.append(answer["service_request_id"])

    works = deliver_all(app)
    assert works.tickets, "public works received its reports"
    for token in s.tokens:
        resolved = client.get(f"{API}/tokens/{token}.json").get_json()[0]
        assert resolved["service_request_id"], resolved
        s.zoning_ids.append(resolved["service_request_id"])

    # Staff move reports on, so the update feed and notes have private history to hide.
    s.housing_staff = make_key(app, "ha-clerk", "staff", "nhv-housing-authority")
    complaint, lease = s.private_ids
    staff_post(client, s.housing_staff, f"{complaint}/claim")
    staff_post(
        client, s.housing_staff, f"{complaint}/status", status="closed", status_notes=PRIVATE_NOTE
    )
    staff_post(client, s.housing_staff, f"{lease}/claim")
    staff_post(
        client,
        s.housing_staff,
        f"{lease}/status",
        status="open",
        detailed_status="investigating",
        status_notes=PRIVATE_NOTE,
    )
    s.works_staff = make_key(app, "works-clerk", "staff", "nhv-public-works")
    staff_post(
        client, s.works_staff, f"{s.public_ids[1]}/status", status="closed", status_notes="Patched"
    )
    return s
