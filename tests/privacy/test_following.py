"""The key that filed a private report follows it: in GET requests, requests/{id} and the
updates feed it sees the report's status and public notes, and nothing the report says
(no description, place, photo, attributes or reporter), because an app's key serves every
user of the app. Any other key, and no key, sees nothing of the report at all."""

from __future__ import annotations

from typing import Any

import pytest

from schemas.output import FOLLOWED_FIELDS
from tests.conftest import make_key
from tests.helpers import parse

from .common import API, PRIVATE_NOTE, leaks
from .conftest import Scenario

# What a followed private report may carry; the leak search below is what catches a
# description or a place that slipped into the whitelist.
FOLLOWED = set(FOLLOWED_FIELDS)
FEED_ENTRY = {
    "update_id",
    "service_request_id",
    "status",
    "updated_datetime",
    "description",
    "media_url",
    "external_status_code",
}
# The staff's public note is what the filing key is meant to read; nothing else listed.
FOLLOWED_NOTE = "'Mediation-Ottoline' in body"


def get(client: Any, path: str, key: str | None, **params: str) -> Any:
    if key:
        params = {**params, "api_key": key}
    return client.get(f"{API}/{path}", query_string=params)


def rows_of(response: Any, fmt: str) -> dict[str, dict[str, Any]]:
    assert response.status_code == 200, response.data
    body = parse(response, fmt)
    return {row["service_request_id"]: row for row in body}


def only_the_note(response: Any) -> None:
    assert [leak for leak in leaks(response) if leak != FOLLOWED_NOTE] == []


def test_the_filing_key_follows_its_private_reports_and_learns_nothing_they_say(
    client: Any, scenario: Scenario, fmt: str
) -> None:
    s, key = scenario, scenario.submit_key
    for extensions in ("false", "true"):
        response = get(client, f"requests.{fmt}", key, extensions=extensions)
        only_the_note(response)
        rows = rows_of(response, fmt)
        assert set(s.private_ids) <= set(rows)
        for rid in s.private_ids:
            allowed = FOLLOWED | ({"notes"} if extensions == "true" else set())
            assert set(rows[rid]) <= allowed, sorted(rows[rid])
            assert rows[rid]["status_notes"] == PRIVATE_NOTE
        # Its public reports come whole, as to anyone.
        assert rows[s.public_ids[0]]["description"] == "Deep hole by the green"
    complaint, lease = s.private_ids
    one = get(client, f"requests/{complaint}.{fmt}", key, extensions="true")
    only_the_note(one)
    [row] = parse(one, fmt)
    assert row["status"] == "closed"
    assert PRIVATE_NOTE in [note["summary"] for note in row["notes"]]
    feed = get(client, f"servicerequestupdates.{fmt}", key)
    only_the_note(feed)
    entries = parse(feed, fmt)
    fed = {e["service_request_id"] for e in entries}
    assert {complaint, lease} <= fed
    assert all(set(e) <= FEED_ENTRY for e in entries)


@pytest.mark.parametrize("who", ["another-app", "no-key"])
def test_nobody_else_sees_anything_of_them(
    client: Any, app: Any, scenario: Scenario, fmt: str, who: str
) -> None:
    s = scenario
    key = make_key(app, "another-app") if who == "another-app" else None
    ids = ",".join(s.private_ids)
    for path, params in (
        (f"requests.{fmt}", {}),
        (f"requests.{fmt}", {"service_request_id": ids}),
        (f"requests.{fmt}", {"extensions": "true"}),
        (f"servicerequestupdates.{fmt}", {}),
    ):
        response = get(client, path, key, **params)
        assert leaks(response) == []
        assert not set(s.private_ids) & set(rows_of(response, fmt))
    for rid in s.private_ids:
        assert get(client, f"requests/{rid}.{fmt}", key).status_code == 404


def test_the_feed_shows_staff_and_admin_what_their_role_allows(
    client: Any, app: Any, scenario: Scenario, fmt: str
) -> None:
    s = scenario
    admin = make_key(app, "root", "admin")
    for key, sees in ((s.housing_staff, True), (s.works_staff, False), (admin, True)):
        response = get(client, f"servicerequestupdates.{fmt}", key)
        fed = {e["service_request_id"] for e in parse(response, fmt)}
        assert (set(s.private_ids) <= fed) is sees, key
        assert not (set(s.private_ids) & fed) or sees
        assert all(set(e) <= FEED_ENTRY for e in parse(response, fmt))
