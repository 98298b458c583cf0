"""POST requests.{fmt}: who may post, what a report needs, how attributes are read, what the
answer holds for each service type, and that the report can then be read back."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.helpers import BOSTON, HAMDEN_CENTRE, NEW_HAVEN_GREEN, errors, parse, post_request, text

from .conftest import API, W3C_UTC, api, created, new_id

LAT, LONG = NEW_HAVEN_GREEN


def rejected(response: Any, fmt: str, status: int, *fragments: str) -> list[dict[str, Any]]:
    assert response.status_code == status, response.data
    body = errors(response, fmt)
    assert text(body[0]["code"]) == str(status), body
    joined = " ".join(e["description"] for e in body)
    for fragment in fragments:
        assert fragment in joined, (fragment, joined)
    return body


def stored_attributes(client: Any, rid: str) -> dict[str, Any]:
    """The answers as the gateway kept them (extension: extensions=true)."""
    response = client.get(api(f"requests/{rid}.json"), query_string={"extensions": "true"})
    assert response.status_code == 200, response.data
    grouped: dict[str, list[Any]] = {}
    for entry in response.get_json()[0]["attributes"]:  # [{code, value}], one per value
        grouped.setdefault(entry["code"], []).append(entry["value"])
    return {code: values[0] if len(values) == 1 else values for code, values in grouped.items()}


# --- the API key ------------------------------------------------------------------------


def test_missing_api_key_is_403(client: Any, fmt: str) -> None:
    rejected(post_request(client, fmt, None), fmt, 403, "api_key")
    rejected(post_request(client, fmt, ""), fmt, 403, "api_key")


def test_wrong_api_key_is_403(client: Any, submit_key: str, fmt: str) -> None:
    rejected(post_request(client, fmt, submit_key + "x"), fmt, 403, "api_key")
    rejected(post_request(client, fmt, "o311_not-a-key"), fmt, 403)


def test_key_and_jurisdiction_from_the_query_string(client: Any, submit_key: str, fmt: str) -> None:
    # The PyPI open311 client puts api_key and jurisdiction_id in the POST URL.
    response = client.post(
        api(f"requests.{fmt}"),
        query_string={"api_key": submit_key, "jurisdiction_id": "hamdenct.gov"},
        data={
            "service_code": "BULKY_PICKUP",
            "lat": HAMDEN_CENTRE[0],
            "long": HAMDEN_CENTRE[1],
            "description": "Missed again",
        },
    )
    assert response.status_code == 200, response.data
    rid = parse(response, fmt)[0]["service_request_id"]
    assert rid.startswith("HAM-")
    listing = parse(
        client.get(api(f"requests.{fmt}"), query_string={"jurisdiction_id": "hamdenct.gov"}), fmt
    )
    assert [r["service_request_id"] for r in listing] == [rid]
    assert listing[0]["service_code"] == "BULKY_PICKUP"
    assert listing[0]["description"] == "Missed again"
    # Not listed in the default jurisdiction.
    assert parse(client.get(api(f"requests.{fmt}")), fmt) == []


def test_everything_in_the_query_string(client: Any, submit_key: str, fmt: str) -> None:
    response = client.post(
        api(f"requests.{fmt}"),
        query_string={
            "api_key": submit_key,
            "service_code": "STREETLIGHT",
            "address_string": "Church St & Chapel St",
        },
    )
    assert response.status_code == 200, response.data
    assert parse(response, fmt)[0]["service_request_id"]


def test_unknown_jurisdiction_in_the_query_string_is_404(
    client: Any, submit_key: str, fmt: str
) -> None:
    response = client.post(
        api(f"requests.{fmt}"),
        query_string={"jurisdiction_id": "nowhere.gov"},
        data={"api_key": submit_key, "service_code": "POTHOLE", "lat": LAT, "long": LONG},
    )
    rejected(response, fmt, 404, "jurisdiction")


# --- service code and location ----------------------------------------------------------


def test_missing_service_code_is_400(client: Any, submit_key: str, fmt: str) -> None:
    rejected(post_request(client, fmt, submit_key, service_code=None), fmt, 400, "service_code")
    rejected(post_request(client, fmt, submit_key, service_code=""), fmt, 400, "service_code")


def test_unknown_service_code_is_404(client: Any, submit_key: str, fmt: str) -> None:
    rejected(post_request(client, fmt, submit_key, service_code="NO_SUCH"), fmt, 404)
    # Hamden's service, asked of the default jurisdiction.
    rejected(post_request(client, fmt, submit_key, service_code="BULKY_PICKUP"), fmt, 404)


def test_no_location_is_400(client: Any, submit_key: str, fmt: str) -> None:
    rejected(post_request(client, fmt, submit_key, lat=None, long=None), fmt, 400, "location")
    # Empty parameters are absent parameters.
    rejected(
        post_request(client, fmt, submit_key, lat="", long="", address_string="", address_id=""),
        fmt,
        400,
        "location",
    )


@pytest.mark.parametrize("missing", ["lat", "long"])
def test_half_a_coordinate_is_400(client: Any, submit_key: str, fmt: str, missing: str) -> None:
    rejected(post_request(client, fmt, submit_key, **{missing: None}), fmt, 400, "lat and long")


@pytest.mark.parametrize(
    "lat, long",
    [
        ("90.5", "-72.9"),
        ("-91", "-72.9"),
        ("41.3", "180.01"),
        ("41.3", "-181"),
        ("nan", "-72.9"),
        ("NaN", "-72.9"),
        ("41.3", "inf"),
        ("-Infinity", "-72.9"),
        ("north", "-72.9"),
    ],
)
def test_bad_coordinates_are_400(
    client: Any, submit_key: str, fmt: str, lat: str, long: str
) -> None:
    rejected(post_request(client, fmt, submit_key, lat=lat, long=long), fmt, 400)


def test_outside_the_service_area_is_400(client: Any, submit_key: str, fmt: str) -> None:
    rejected(post_request(client, fmt, submit_key, lat=BOSTON[0], long=BOSTON[1]), fmt, 400)


def test_address_string_alone_is_a_location(client: Any, submit_key: str, fmt: str) -> None:
    rid = new_id(client, fmt, submit_key, lat=None, long=None, address_string="165 Church St")
    got = parse(client.get(api(f"requests/{rid}.{fmt}")), fmt)[0]
    assert got["address"] == "165 Church St"
    assert got["lat"] is None and got["long"] is None


def test_address_id_alone_is_a_location(client: Any, submit_key: str, fmt: str) -> None:
    rid = new_id(client, fmt, submit_key, lat=None, long=None, address_id="MAR-001234")
    got = parse(client.get(api(f"requests/{rid}.{fmt}")), fmt)[0]
    assert got["address_id"] == "MAR-001234"
    assert got["address"] in (None, "")


# --- attributes -------------------------------------------------------------------------


DUMPING = {"service_code": "ILLEGAL_DUMPING"}


@pytest.mark.parametrize("spelling", ["attribute[WHAT]", "attribute[WHAT][]", "attribute[WHAT][0]"])
def test_attribute_spellings(client: Any, submit_key: str, fmt: str, spelling: str) -> None:
    rid = new_id(client, fmt, submit_key, **DUMPING, **{spelling: "tires"})
    assert stored_attributes(client, rid)["WHAT"] == "tires"


def test_missing_required_attribute_is_400(client: Any, submit_key: str, fmt: str) -> None:
    rejected(post_request(client, fmt, submit_key, **DUMPING), fmt, 400, "WHAT")
    rejected(post_request(client, fmt, submit_key, **DUMPING, **{"attribute[WHAT]": ""}), fmt, 400)


def test_singlevaluelist_value_must_be_a_key(client: Any, submit_key: str, fmt: str) -> None:
    # The name is not the key.
    for value in ("Tires", "Furniture or mattresses", "sofa"):
        response = post_request(client, fmt, submit_key, **DUMPING, **{"attribute[WHAT]": value})
        rejected(response, fmt, 400, "WHAT")


def test_multivaluelist_from_repeated_fields(client: Any, submit_key: str, fmt: str) -> None:
    response = client.post(
        api(f"requests.{fmt}"),
        data={
            "api_key": submit_key,
            "service_code": "ILLEGAL_DUMPING",
            "lat": LAT,
            "long": LONG,
            "attribute[WHAT]": "furniture",
            "attribute[BLOCKING][]": ["sidewalk", "hydrant"],
        },
    )
    assert response.status_code == 200, response.data
    rid = parse(response, fmt)[0]["service_request_id"]
    stored = stored_attributes(client, rid)
    assert stored["BLOCKING"] == ["sidewalk", "hydrant"]
    assert stored["WHAT"] == "furniture"


def test_multivaluelist_with_an_unknown_key_is_400(client: Any, submit_key: str, fmt: str) -> None:
    response = client.post(
        api(f"requests.{fmt}"),
        data={
            "api_key": submit_key,
            "service_code": "ILLEGAL_DUMPING",
            "lat": LAT,
            "long": LONG,
            "attribute[WHAT]": "tires",
            "attribute[BLOCKING][]": ["street", "moon"],
        },
    )
    rejected(response, fmt, 400, "BLOCKING")


def test_number_attribute(client: Any, submit_key: str, fmt: str) -> None:
    rid = new_id(client, fmt, submit_key, **{"attribute[DEPTH_CM]": "8.5"})
    assert str(stored_attributes(client, rid)["DEPTH_CM"]) == "8.5"
    for bad in ("deep", "8cm", "nan"):
        response = post_request(client, fmt, submit_key, **{"attribute[DEPTH_CM]": bad})
        rejected(response, fmt, 400, "DEPTH_CM")


def test_datetime_attribute(client: Any, submit_key: str, fmt: str) -> None:
    new_id(
        client,
        fmt,
        submit_key,
        **DUMPING,
        **{"attribute[WHAT]": "tires", "attribute[NOTICED_AT]": "2026-01-31T14:30:00Z"},
    )
    for bad in ("yesterday", "31/01/2026", "2026-13-45T00:00:00Z"):
        response = post_request(
            client,
            fmt,
            submit_key,
            **DUMPING,
            **{"attribute[WHAT]": "tires", "attribute[NOTICED_AT]": bad},
        )
        rejected(response, fmt, 400, "NOTICED_AT")


def test_unknown_attribute_is_ignored(client: Any, submit_key: str, fmt: str) -> None:
    rid = new_id(
        client, fmt, submit_key, **{"attribute[COLOUR]": "blue", "attribute[LANE]": "bike"}
    )
    stored = stored_attributes(client, rid)
    assert "COLOUR" not in stored
    assert stored["LANE"] == "bike"


# --- free text ----------------------------------------------------------------------------


def test_description_limit_is_4000_characters(client: Any, submit_key: str, fmt: str) -> None:
    rid = new_id(client, fmt, submit_key, description="x" * 4000)
    assert parse(client.get(api(f"requests/{rid}.{fmt}")), fmt)[0]["description"] == "x" * 4000
    # Characters, not bytes.
    new_id(client, fmt, submit_key, description="ñ" * 4000)
    rejected(post_request(client, fmt, submit_key, description="x" * 4001), fmt, 400, "4000")


@pytest.mark.parametrize("newline", ["\r\n", "\r", "\n"])
def test_a_line_break_counts_as_one_character_and_is_stored_as_lf(
    client: Any, submit_key: str, fmt: str, newline: str
) -> None:
    # 3,995 characters with 5 line breaks: 4,000 sent as CRLF bytes, 3,995 as text.
    lines = ["x" * 798] * 5
    description = newline.join(lines) + newline
    assert len(description.replace("\r\n", "\n")) == 3995
    rid = new_id(client, fmt, submit_key, description=description)
    stored = parse(client.get(api(f"requests/{rid}.{fmt}")), fmt)[0]["description"]
    assert stored == "\n".join(lines) + "\n"
    leak = new_id(
        client, fmt, submit_key, service_code="LEAK", **{"attribute[DETAILS]": f"a{newline}b"}
    )
    assert stored_attributes(client, leak)["DETAILS"] == "a\nb"
    over = newline.join(["x" * 800] * 5) + "x"  # 4,001 characters even counted right
    rejected(post_request(client, fmt, submit_key, description=over), fmt, 400, "4000")


def test_utf8_round_trip(client: Any, submit_key: str, fmt: str) -> None:
    words = "Düsseldorf — ñ 漢字"
    rid = new_id(client, fmt, submit_key, description=words, address_string="Straße 1")
    response = client.get(api(f"requests/{rid}.{fmt}"))
    got = parse(response, fmt)[0]
    assert got["description"] == words
    assert got["address"] == "Straße 1"
    assert words.encode("utf-8") in response.data  # sent as UTF-8, not escaped or re-encoded


def test_line_breaks_survive(client: Any, submit_key: str, fmt: str) -> None:
    # The spec allows line breaks in a description; they are kept, stored as LF (CRLF
    # normalised, see the test above), and tabs are untouched.
    words = "line one\r\nline two\n\tindented"
    rid = new_id(client, fmt, submit_key, description=words)
    stored = parse(client.get(api(f"requests/{rid}.{fmt}")), fmt)[0]["description"]
    assert stored == "line one\nline two\n\tindented"


def test_markup_in_text_is_escaped_and_intact(client: Any, submit_key: str, fmt: str) -> None:
    rid = new_id(client, fmt, submit_key, description="<b>&</b>")
    response = client.get(api(f"requests/{rid}.{fmt}"))
    assert parse(response, fmt)[0]["description"] == "<b>&</b>"
    if fmt == "xml":
        assert b"<description>&lt;b&gt;&amp;&lt;/b&gt;</description>" in response.data


# --- personal data ------------------------------------------------------------------------

PERSONAL = {
    "email": "reporter.secret@example.org",
    "phone": "+1-203-555-0199",
    "first_name": "Zebediah",
    "last_name": "Quillfeather",
    "device_id": "device-7f3a9c",
    "account_id": "acct-55512",
}


def test_personal_fields_accepted_and_never_published(
    client: Any, submit_key: str, fmt: str
) -> None:
    media = "https://photos.example.org/pothole-1.jpg"
    answer = created(
        client, fmt, submit_key, description="Near the green", media_url=media, **PERSONAL
    )
    rid = answer["service_request_id"]
    assert answer["account_id"] == PERSONAL["account_id"]  # echoed to the reporter only
    token = created(
        client, fmt, submit_key, service_code="ZONING", address_string="1 Elm St", **PERSONAL
    )["token"]
    reads = [
        client.get(api(f"requests.{f}"), query_string=q)
        for f in ("json", "xml")
        for q in ({}, {"extensions": "true"}, {"service_request_id": rid})
    ]
    reads += [
        client.get(api(f"requests/{rid}.{f}"), query_string=q)
        for f in ("json", "xml")
        for q in ({}, {"extensions": "true"})
    ]
    reads += [client.get(api(f"tokens/{token}.{f}")) for f in ("json", "xml")]
    for response in reads:
        assert response.status_code == 200
        for value in PERSONAL.values():
            assert value.encode() not in response.data, (value, response.request.url)
    got = parse(client.get(api(f"requests/{rid}.{fmt}")), fmt)[0]
    assert got["media_url"] == media
    assert got["description"] == "Near the green"


def test_bad_email_or_media_url_is_400(client: Any, submit_key: str, fmt: str) -> None:
    rejected(post_request(client, fmt, submit_key, email="not an address"), fmt, 400, "email")
    rejected(post_request(client, fmt, submit_key, media_url="javascript:alert(1)"), fmt, 400)


def _tiny_jpeg() -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (8, 8), (90, 90, 90)).save(out, "JPEG")
    return out.getvalue()


def test_multipart_form(client: Any, submit_key: str, fmt: str) -> None:
    response = client.post(
        api(f"requests.{fmt}"),
        content_type="multipart/form-data",
        data={
            "api_key": submit_key,
            "service_code": "ILLEGAL_DUMPING",
            "lat": str(LAT),
            "long": str(LONG),
            "description": "Mattress — again",
            "attribute[WHAT]": "furniture",
            "attribute[BLOCKING][]": ["sidewalk", "street"],
            "media": (io.BytesIO(_tiny_jpeg()), "photo.jpg"),
        },
    )
    assert response.status_code == 200, response.data
    rid = parse(response, fmt)[0]["service_request_id"]
    got = parse(client.get(api(f"requests/{rid}.{fmt}")), fmt)[0]
    assert got["description"] == "Mattress — again"
    assert stored_attributes(client, rid)["BLOCKING"] == ["sidewalk", "street"]


# --- the answer, by service type ----------------------------------------------------------


def test_realtime_answers_an_id(client: Any, submit_key: str, fmt: str) -> None:
    response = post_request(client, fmt, submit_key)
    if fmt == "xml":
        assert response.data.count(b"<request>") == 1
    answer = created(client, fmt, submit_key)
    assert answer["service_request_id"]
    assert "token" not in answer
    assert answer["service_notice"] == (
        "Public Works inspects reported potholes within two working days."
    )
    assert answer["account_id"] is None


def test_service_without_a_notice(client: Any, submit_key: str, fmt: str) -> None:
    answer = created(client, fmt, submit_key, service_code="STREETLIGHT")
    assert answer["service_request_id"]
    assert answer.get("service_notice") is None


def test_batch_answers_a_token(client: Any, submit_key: str, fmt: str) -> None:
    answer = created(
        client,
        fmt,
        submit_key,
        service_code="ZONING",
        address_string="12 Orange St",
        email="neighbour@example.org",
    )
    assert answer["token"]
    assert "service_request_id" not in answer
    assert answer["service_notice"].startswith("An inspector reviews zoning complaints")


def test_blackbox_answers_neither(client: Any, submit_key: str, fmt: str) -> None:
    answer = created(client, fmt, submit_key, service_code="GRAFFITI", account_id="acct-1")
    assert "service_request_id" not in answer
    assert "token" not in answer
    assert answer["service_notice"].startswith("Graffiti reports are batched")
    # GRAFFITI is an anonymous service: personal fields, account_id included, are dropped.
    assert answer["account_id"] is None


def test_json_answer_is_a_one_element_array(client: Any, submit_key: str) -> None:
    body = post_request(client, "json", submit_key).get_json()
    assert isinstance(body, list) and len(body) == 1
    assert isinstance(body[0]["service_request_id"], str)


# --- reading it back ----------------------------------------------------------------------


def test_new_request_is_listed_and_readable(client: Any, submit_key: str, fmt: str) -> None:
    before = datetime.now(UTC).replace(microsecond=0)
    rid = new_id(
        client, fmt, submit_key, description="Deep one", address_string="Temple St", zipcode=""
    )
    after = datetime.now(UTC) + timedelta(seconds=1)
    one = parse(client.get(api(f"requests/{rid}.{fmt}")), fmt)
    assert len(one) == 1
    listing = parse(client.get(api(f"requests.{fmt}")), fmt)
    assert [r["service_request_id"] for r in listing] == [rid]
    assert listing[0] == one[0]
    got = one[0]
    assert got["status"] == "open"
    assert got["service_code"] == "POTHOLE"
    assert got["service_name"] == "Pothole"
    assert got["description"] == "Deep one"
    assert got["address"] == "Temple St"
    assert W3C_UTC.match(got["requested_datetime"]), got["requested_datetime"]
    requested = datetime.strptime(got["requested_datetime"], "%Y-%m-%dT%H:%M:%S%z")
    assert before <= requested <= after
    assert float(got["lat"]) == pytest.approx(LAT)
    assert float(got["long"]) == pytest.approx(LONG)


def test_api_key_on_a_get_is_ignored(client: Any, submit_key: str, fmt: str) -> None:
    rid = new_id(client, fmt, submit_key)
    for key in (submit_key, "o311_wrong"):
        response = client.get(api(f"requests/{rid}.{fmt}"), query_string={"api_key": key})
        assert response.status_code == 200
        response = client.get(f"{API}/services.{fmt}", query_string={"api_key": key})
        assert response.status_code == 200
