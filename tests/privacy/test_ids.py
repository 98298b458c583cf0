"""Ids reveal nothing about private reports: public numbers have no gaps, private ids are
random."""

from __future__ import annotations

import re

from tests.helpers import NEW_HAVEN_GREEN, parse


def created(client, fmt, key, code):
    r = client.post(
        f"/open311/v2/requests.{fmt}",
        data={
            "api_key": key,
            "service_code": code,
            "lat": NEW_HAVEN_GREEN[0],
            "long": NEW_HAVEN_GREEN[1],
        },
    )
    assert r.status_code == 200, r.data
    return parse(r, fmt)[0]["service_request_id"]


def test_private_reports_leave_no_gap_in_public_ids(client, submit_key, fmt):
    first = created(client, fmt, submit_key, "POTHOLE")
    private = [created(client, fmt, submit_key, "LEASE_VIOLATION") for _ in range(3)]
    second = created(client, fmt, submit_key, "STREETLIGHT")
    assert (first, second) == ("NHV-1", "NHV-2")
    assert len(set(private)) == 3
    for rid in private:
        assert re.fullmatch(r"NHV-P[0-9A-F]{10}", rid), rid


def test_each_prefix_counts_on_its_own(client, submit_key, fmt):
    assert created(client, fmt, submit_key, "POTHOLE") == "NHV-1"
    hamden = client.post(
        f"/open311/v2/requests.{fmt}",
        data={
            "api_key": submit_key,
            "jurisdiction_id": "hamdenct.gov",
            "service_code": "POTHOLE",
            "address_string": "2372 Whitney Ave",
        },
    )
    assert parse(hamden, fmt)[0]["service_request_id"] == "HAM-1"
