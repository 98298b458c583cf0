"""Conditional GET and Cache-Control on the public answers (open311/api/caching.py): an
ETag and 304, `public` only for what every caller gets, `private` once a key is shown."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
from werkzeug.datastructures import EnvironHeaders, Headers

from open311.header_lookup import header
from tests.conftest import make_key

from .conftest import api, edit_request, new_id

PATHS = ("services.{fmt}", "services/POTHOLE.{fmt}", "requests.{fmt}", "discovery.{fmt}")


@pytest.mark.parametrize("path", PATHS)
def test_public_answers_carry_an_etag_and_answer_304(client: Any, fmt: str, path: str) -> None:
    first = client.get(api(path.format(fmt=fmt)))
    assert first.status_code == 200
    etag = first.headers["ETag"]
    assert first.headers["Cache-Control"].startswith("public, max-age=")
    assert {"X-API-Key", "Authorization"} <= {v.strip() for v in first.headers["Vary"].split(",")}
    again = client.get(api(path.format(fmt=fmt)), headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.data == b""
    other = client.get(api(path.format(fmt=fmt)), headers={"If-None-Match": '"something-else"'})
    assert other.status_code == 200 and other.data == first.data


def test_other_conditional_headers_still_go_through_werkzeug(client: Any, fmt: str) -> None:
    """The hook answers a plain GET itself (Content-Length; Date is the server's:
    test_live_server) and hands any request with a conditional header to werkzeug:
    If-Modified-Since, If-Match, Range."""
    plain = client.get(api(f"services.{fmt}"))
    assert plain.headers["Content-Length"] == str(len(plain.data))
    assert header(plain.headers, "Date") is None  # written by the server instead
    etag = plain.headers["ETag"]
    assert etag == f'"{hashlib.sha1(plain.data).hexdigest()}"'  # werkzeug's strong ETag
    for headers, status in (
        ({"If-Match": etag}, 200),
        ({"If-Match": '"something-else"'}, 412),
        ({"If-Modified-Since": "Wed, 21 Oct 2015 07:28:00 GMT"}, 200),
        ({"Range": "bytes=0-3"}, 200),  # no ranges offered: the whole answer
    ):
        again = client.get(api(f"services.{fmt}"), headers=headers)
        assert again.status_code == status, headers
        assert again.headers["ETag"] == etag and again.headers["Date"]
        if status == 200:
            assert again.data == plain.data


def test_a_changed_report_changes_the_etag(
    app: Any, client: Any, submit_key: str, fmt: str
) -> None:
    rid = new_id(client, fmt, submit_key)
    first = client.get(api(f"requests/{rid}.{fmt}"))
    edit_request(app, rid, status="closed")
    again = client.get(
        api(f"requests/{rid}.{fmt}"), headers={"If-None-Match": first.headers["ETag"]}
    )
    assert again.status_code == 200 and b"closed" in again.data
    assert again.headers["ETag"] != first.headers["ETag"]


@pytest.mark.parametrize("how", ["query", "header", "bearer"])
def test_answers_to_a_key_are_never_cached_for_others(
    app: Any, client: Any, fmt: str, how: str
) -> None:
    key = make_key(app, "staff-cache", role="staff", agency="nhv-housing-authority")
    kwargs: dict[str, Any] = {
        "query": {"query_string": {"api_key": key}},
        "header": {"headers": {"X-API-Key": key}},
        "bearer": {"headers": {"Authorization": f"Bearer {key}"}},
    }[how]
    for path in ("requests.{fmt}", "services.{fmt}"):
        response = client.get(api(path.format(fmt=fmt)), **kwargs)
        assert response.status_code == 200
        assert response.headers["Cache-Control"] == "private, no-cache"


def test_errors_are_not_marked_cacheable(client: Any, fmt: str) -> None:
    response = client.get(api(f"requests/NHV-999999.{fmt}"))
    assert response.status_code == 404
    assert "public" not in response.headers.get("Cache-Control", "")
    assert "ETag" not in response.headers


def test_header_lookup_answers_as_werkzeugs_get() -> None:
    # The hooks read headers through open311/header_lookup.py, not werkzeug's get(): it
    # must find what get() finds, in any case, on a response and in a request's environ.
    environ = {"HTTP_X_API_KEY": "k", "CONTENT_TYPE": "text/plain", "HTTP_IF_RANGE": ""}
    sent = Headers([("Content-Type", "text/html"), ("ETag", '"a"'), ("etag", '"b"')])
    for headers in (EnvironHeaders(environ), sent):
        for name in ("X-API-Key", "x-api-key", "Content-Type", "If-Range", "ETag", "Vary"):
            assert header(headers, name) == headers.get(name)


@pytest.mark.parametrize(
    "path", ["services.{fmt}", "services/POTHOLE.{fmt}", "requests/{rid}.{fmt}", "tokens/x.{fmt}"]
)
def test_a_get_without_parameters_loads_its_schema_once(
    client: Any, submit_key: str, fmt: str, path: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What a query schema loads from no parameters is kept (params.load_query): the
    second and later such GETs ask marshmallow nothing; one with a parameter still does,
    and an unknown jurisdiction is still refused."""
    from marshmallow import Schema

    rid = new_id(client, fmt, submit_key)
    url = api(path.format(fmt=fmt, rid=rid))
    assert client.get(url).status_code in (200, 404)
    loads: list[dict[str, Any]] = []
    original = Schema.load

    def counted(self: Schema, data: Any, **kwargs: Any) -> Any:
        loads.append(dict(data))
        return original(self, data, **kwargs)

    monkeypatch.setattr(Schema, "load", counted)
    first = client.get(url)
    again = client.get(url)
    assert first.status_code == again.status_code and first.data == again.data
    assert loads == []
    extended = client.get(url + "?extensions=true&jurisdiction_id=nhv.example")
    assert loads == [{"extensions": "true", "jurisdiction_id": "nhv.example"}], loads
    assert extended.status_code in (200, 403, 404), extended.data
    assert client.get(url + "?jurisdiction_id=nowhere.example").status_code == 404


def test_a_query_schema_with_a_default_is_loaded_every_time(app: Any) -> None:
    """load_query keeps what nothing loads only for schemas that add no value of their own:
    a default made at load time (here a counter) is made again for each request."""
    from marshmallow import Schema, fields

    from open311.api.params import load_query

    made: list[int] = []

    class Counted(Schema):
        n = fields.Integer(load_default=lambda: made.append(1) or len(made))

    schema = Counted()
    for expected in (1, 2):
        with app.test_request_context(api("services.json")):
            assert load_query(schema) == {"n": expected}
