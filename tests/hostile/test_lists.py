"""Item 3: no value may be repeated without bound. 30 ordinary POSTs of 1,000 long media_url
values made one read of requests.json?extensions=true 64 MB (and a worker grew by 175 MB).
Now (schemas/requests.py, schemas/attributes.py): at most MAX_MEDIA_URLS links of MAX_URL
characters per report or update (photos sent as files: at most 3, open311/photos.py), each
multivaluelist key once (repeats are one answer, more values than keys a 400), and at
most MAX_FILTER_VALUES values in a filter; over a cap the whole list is refused before any
value is read, so the answer is one error, not one per value."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select
from werkzeug.datastructures import MultiDict

from open311.models import ServiceRequest
from schemas.requests import MAX_FILTER_VALUES, MAX_MEDIA_URLS, MAX_URL
from tests.conftest import make_key
from tests.helpers import NEW_HAVEN_GREEN, errors, parse
from tests.privacy.common import created

from .conftest import API, Unchanged, refused

WHERE = [("lat", str(NEW_HAVEN_GREEN[0])), ("long", str(NEW_HAVEN_GREEN[1]))]


def _links(count: int, length: int = MAX_URL) -> list[tuple[str, str]]:
    out = []
    for n in range(count):
        head = f"https://photos.example.org/{n}/"
        out.append(("media_url", head + "a" * (length - len(head))))
    return out


def _post(client: Any, fmt: str, key: str, pairs: list[tuple[str, str]]) -> Any:
    data = MultiDict([("api_key", key), ("service_code", "POTHOLE"), *WHERE, *pairs])
    return client.post(f"{API}/requests.{fmt}", data=data)


@pytest.mark.parametrize("count", [MAX_MEDIA_URLS + 1, 1000])
def test_too_many_media_urls_are_one_400(
    app: Any, client: Any, fmt: str, submit_key: str, count: int
) -> None:
    with Unchanged(app):
        response = _post(client, fmt, submit_key, _links(count))
        refused(response, fmt, 400, "media_url", f"At most {MAX_MEDIA_URLS}")
    assert len(errors(response, fmt)) == 1


def test_an_over_long_media_url_is_a_400(app: Any, client: Any, fmt: str, submit_key: str) -> None:
    with Unchanged(app):
        refused(_post(client, fmt, submit_key, _links(1, MAX_URL + 1)), fmt, 400, "media_url")


def test_the_read_that_made_64_mb_stays_small(
    app: Any, client: Any, fmt: str, submit_key: str
) -> None:
    """The issue's 30 POSTs, now with as many and as long links as are allowed."""
    for _ in range(30):
        response = _post(client, fmt, submit_key, _links(MAX_MEDIA_URLS))
        assert response.status_code == 200, response.data
    read = client.get(f"{API}/requests.{fmt}", query_string={"extensions": "true"})
    assert read.status_code == 200
    assert len(parse(read, fmt)) == 30
    # 30 x 10 x 2,000 characters of links, once in media_urls (and the first as media_url).
    assert len(read.data) < 1_000_000, len(read.data)


def test_too_many_media_urls_on_an_update_are_a_400(app: Any, client: Any, fmt: str) -> None:
    key = make_key(app, "resident-app")
    rid = created(client, key, "POTHOLE")["service_request_id"]
    data = MultiDict(
        [("api_key", key), ("service_request_id", rid), ("description", "More"), *_links(11)]
    )
    with Unchanged(app):
        response = client.post(f"{API}/servicerequestupdates.{fmt}", data=data)
        refused(response, fmt, 400, "media_url")


def test_a_repeated_multivaluelist_key_is_one_answer(
    app: Any, client: Any, fmt: str, submit_key: str
) -> None:
    data = MultiDict(
        [
            ("api_key", submit_key),
            ("service_code", "ILLEGAL_DUMPING"),
            *WHERE,
            ("attribute[WHAT]", "tires"),
            *[("attribute[BLOCKING][]", "sidewalk")] * 5000,
            ("attribute[BLOCKING][]", "street"),
        ]
    )
    response = client.post(f"{API}/requests.{fmt}", data=data)
    assert response.status_code == 200, response.data
    with app.extensions["open311"].db.read() as session:
        [stored] = session.scalars(select(ServiceRequest.attributes)).all()
    assert stored["BLOCKING"] == ["sidewalk", "street"]


def test_more_list_values_than_keys_is_one_400(
    app: Any, client: Any, fmt: str, submit_key: str
) -> None:
    data = MultiDict(
        [
            ("api_key", submit_key),
            ("service_code", "ILLEGAL_DUMPING"),
            *WHERE,
            ("attribute[WHAT]", "tires"),
            *[("attribute[BLOCKING][]", f"made-up-{n}") for n in range(5000)],
        ]
    )
    with Unchanged(app):
        response = client.post(f"{API}/requests.{fmt}", data=data)
        refused(response, fmt, 400, "BLOCKING")
    assert len(errors(response, fmt)) == 1 and len(response.data) < 2000


@pytest.mark.parametrize("name", ["service_request_id", "service_code"])
def test_a_filter_of_too_many_values_is_a_400(client: Any, fmt: str, name: str) -> None:
    values = ",".join(f"NHV-{n}" for n in range(MAX_FILTER_VALUES + 1))
    refused(client.get(f"{API}/requests.{fmt}", query_string={name: values}), fmt, 400, name)
    # Repeats are one value; the cap itself is allowed.
    many = ",".join(["NHV-1"] * 1000 + [f"NHV-{n}" for n in range(MAX_FILTER_VALUES - 1)])
    answer = client.get(f"{API}/requests.{fmt}", query_string={"service_request_id": many})
    assert answer.status_code == 200, answer.data[:300]
