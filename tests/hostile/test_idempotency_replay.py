"""Item 4: replaying an Idempotency-Key must never answer one submitter's personal values to
another. An app key is shared by every user of a public app, so a second user who sends the
same Idempotency-Key (an app that numbers its keys 1, 2, 3…, or one that hashes the body)
got the first user's answer, account_id included. Now (open311/api/requests.py `_replay`):
a replay answers the first answer without personal fields (account_id null), and while the
first report's contact is kept, a replay whose personal fields differ is a 422 like any
other reuse of the key: the second user's report is not silently taken for the first."""

from __future__ import annotations

from typing import Any

import pytest

from tests.helpers import NEW_HAVEN_GREEN, parse
from tests.privacy.common import PERSONAL, leaks

from .conftest import API, Unchanged, refused

BODY = {
    "service_code": "POTHOLE",
    "lat": str(NEW_HAVEN_GREEN[0]),
    "long": str(NEW_HAVEN_GREEN[1]),
    "description": "Pothole by the bus stop",
}
OTHER_USER = {
    "email": "someone-else@example.net",
    "phone": "+1 203 555 0123",
    "first_name": "Other",
    "account_id": "acct-9000",
}


def _post(client: Any, fmt: str, key: str, retry: str, **personal: str) -> Any:
    return client.post(
        f"{API}/requests.{fmt}",
        data={"api_key": key, **BODY, **personal},
        headers={"Idempotency-Key": retry},
    )


def test_the_same_submitter_retrying_gets_the_same_report_without_personal_fields(
    app: Any, client: Any, fmt: str, submit_key: str
) -> None:
    first = _post(client, fmt, submit_key, "1", **PERSONAL)
    assert first.status_code == 200, first.data
    [answer] = parse(first, fmt)
    assert answer["account_id"] == PERSONAL["account_id"]  # the first answer: their own
    with Unchanged(app):
        again = _post(client, fmt, submit_key, "1", **PERSONAL)
    assert again.status_code == 200, again.data
    [replayed] = parse(again, fmt)
    assert replayed["service_request_id"] == answer["service_request_id"]
    assert replayed["account_id"] is None
    assert leaks(again) == []


@pytest.mark.parametrize("other", [OTHER_USER, {}], ids=["other-contact", "no-contact"])
def test_another_user_of_the_app_key_with_the_same_key_and_body_gets_a_422(
    app: Any, client: Any, fmt: str, submit_key: str, other: dict[str, str]
) -> None:
    assert _post(client, fmt, submit_key, "1", **PERSONAL).status_code == 200
    with Unchanged(app):
        response = _post(client, fmt, submit_key, "1", **other)
        refused(response, fmt, 422, "Idempotency-Key")
    assert leaks(response) == []


def test_without_a_kept_contact_a_replay_answers_nothing_personal(
    app: Any, client: Any, fmt: str, submit_key: str
) -> None:
    """An anonymous service keeps no contact: nothing tells two users apart, and nothing of
    either is in the answer."""
    body = {"api_key": submit_key, **BODY, "service_code": "GRAFFITI"}
    first = client.post(
        f"{API}/requests.{fmt}", data={**body, **PERSONAL}, headers={"Idempotency-Key": "g1"}
    )
    assert first.status_code == 200, first.data
    with Unchanged(app):
        again = client.post(
            f"{API}/requests.{fmt}", data={**body, **OTHER_USER}, headers={"Idempotency-Key": "g1"}
        )
    assert again.status_code == 200, again.data
    assert parse(again, fmt)[0]["account_id"] is None
    assert leaks(again) == [] and b"acct-9000" not in again.data
