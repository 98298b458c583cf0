"""jurisdiction_id on a gateway with several jurisdictions and no default (multi.yaml):
required where the spec requires it (400 when missing), 404 when unknown."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.helpers import errors, parse, text

from .conftest import api

MULTI = Path(__file__).parent / "multi.yaml"


@pytest.fixture
def settings(db_url: str) -> dict[str, Any]:
    return {"DATABASE_URL": db_url, "TESTING": True, "CONFIG": str(MULTI)}


def missing(response: Any, fmt: str) -> None:
    assert response.status_code == 400, response.data
    body = errors(response, fmt)
    assert text(body[0]["code"]) == "400"
    description = body[0]["description"]
    assert "jurisdiction_id" in description
    # It says which jurisdictions there are.
    assert "northtown.gov" in description and "southtown.gov" in description


def report(key: str | None = None, **extra: Any) -> dict[str, Any]:
    data = {"service_code": "POTHOLE", "address_string": "1 Main St", "attribute[SIZE]": "small"}
    if key:
        data["api_key"] = key
    data.update(extra)
    return data


def test_discovery_needs_no_jurisdiction(client: Any, fmt: str) -> None:
    response = client.get(api(f"discovery.{fmt}"))
    assert response.status_code == 200
    assert parse(response, fmt)["contact"].startswith("Twin Towns")


@pytest.mark.parametrize("given", [{}, {"jurisdiction_id": ""}], ids=["absent", "empty"])
def test_jurisdiction_required(
    client: Any, submit_key: str, fmt: str, given: dict[str, str]
) -> None:
    missing(client.get(api(f"services.{fmt}"), query_string=given), fmt)
    missing(client.get(api(f"services/POTHOLE.{fmt}"), query_string=given), fmt)
    missing(client.get(api(f"requests.{fmt}"), query_string=given), fmt)
    missing(client.post(api(f"requests.{fmt}"), data=report(submit_key, **given)), fmt)


def test_each_jurisdiction_serves_its_own(client: Any, submit_key: str, fmt: str) -> None:
    north = parse(
        client.get(api(f"services.{fmt}"), query_string={"jurisdiction_id": "northtown.gov"}), fmt
    )
    assert [s["service_code"] for s in north] == ["POTHOLE"]
    south = parse(
        client.get(api(f"services.{fmt}"), query_string={"jurisdiction_id": "southtown.gov"}), fmt
    )
    assert [s["service_code"] for s in south] == ["GRAFFITI"]
    definition = parse(
        client.get(
            api(f"services/POTHOLE.{fmt}"), query_string={"jurisdiction_id": "northtown.gov"}
        ),
        fmt,
    )
    assert [a["code"] for a in definition["attributes"]] == ["SIZE"]
    response = client.get(
        api(f"services/POTHOLE.{fmt}"), query_string={"jurisdiction_id": "southtown.gov"}
    )
    assert response.status_code == 404
    errors(response, fmt)


def test_post_and_read_with_a_jurisdiction(client: Any, submit_key: str, fmt: str) -> None:
    response = client.post(
        api(f"requests.{fmt}"), data=report(submit_key, jurisdiction_id="northtown.gov")
    )
    assert response.status_code == 200, response.data
    rid = parse(response, fmt)[0]["service_request_id"]
    assert rid.startswith("N-")
    north = {"jurisdiction_id": "northtown.gov"}
    listed = parse(client.get(api(f"requests.{fmt}"), query_string=north), fmt)
    assert [r["service_request_id"] for r in listed] == [rid]
    south = {"jurisdiction_id": "southtown.gov"}
    assert parse(client.get(api(f"requests.{fmt}"), query_string=south), fmt) == []
    assert client.get(api(f"requests/{rid}.{fmt}"), query_string=north).status_code == 200
    assert client.get(api(f"requests/{rid}.{fmt}"), query_string=south).status_code == 404
    # Request ids are unique across the gateway, so the id alone finds the report.
    got = parse(client.get(api(f"requests/{rid}.{fmt}")), fmt)
    assert got[0]["service_request_id"] == rid


def test_unknown_jurisdiction_is_404(client: Any, submit_key: str, fmt: str) -> None:
    bad = {"jurisdiction_id": "eastown.gov"}
    for response in (
        client.get(api(f"services.{fmt}"), query_string=bad),
        client.get(api(f"services/POTHOLE.{fmt}"), query_string=bad),
        client.get(api(f"requests.{fmt}"), query_string=bad),
        client.post(api(f"requests.{fmt}"), data=report(submit_key, **bad)),
        client.get(api(f"requests/N-1.{fmt}"), query_string=bad),
        client.get(api(f"tokens/abc.{fmt}"), query_string=bad),
    ):
        assert response.status_code == 404, response.request.url
        assert text(errors(response, fmt)[0]["code"]) == "404"
