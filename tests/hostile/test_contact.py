"""Item 13: "contact required" is satisfied only by a way to reach the reporter. A phone of
one space satisfied it. Now (open311/contact.py `checked_contact`) personal fields are
trimmed and a blank one is absent, the phone must be a valid number for its numbering plan
(phonenumbers; a number without +country is read in `gateway.phone_region`, US by default)
and the e-mail a valid address (email-validator, syntax only: no DNS look-up), each a 400
naming the field; both are stored normalised: the phone in E.164, the e-mail's domain in
lower case."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import select

from open311 import create_app
from open311.catalog import ConfigError, load_catalog
from open311.models import ReporterContact
from tests.helpers import NEW_HAVEN_GREEN, parse

from .conftest import API, Unchanged, refused

WHERE = {"lat": str(NEW_HAVEN_GREEN[0]), "long": str(NEW_HAVEN_GREEN[1])}


def _post(client: Any, fmt: str, key: str, code: str = "POTHOLE", **personal: str) -> Any:
    return client.post(
        f"{API}/requests.{fmt}", data={"api_key": key, "service_code": code, **WHERE, **personal}
    )


def _stored(app: Any) -> list[tuple[str | None, str | None]]:
    with app.extensions["open311"].db.read() as session:
        rows = session.execute(
            select(ReporterContact.phone, ReporterContact.email).order_by(
                ReporterContact.request_id
            )
        )
        return [tuple(r) for r in rows]  # type: ignore[misc]


@pytest.mark.parametrize(
    "personal",
    [{"phone": " "}, {"email": "   "}, {"phone": "\t", "email": " \n "}, {}],
    ids=["phone-space", "email-spaces", "both-blank", "none"],
)
def test_blank_contact_does_not_satisfy_contact_required(
    app: Any, client: Any, fmt: str, submit_key: str, personal: dict[str, str]
) -> None:
    with Unchanged(app):
        response = _post(client, fmt, submit_key, "ZONING", **personal)
        refused(response, fmt, 400, "contact details", "email or phone")


@pytest.mark.parametrize("phone", ["call me", "12", "555-1234", "+999 123", "0000000000", "+"])
def test_a_phone_that_is_no_number_is_a_400(
    app: Any, client: Any, fmt: str, submit_key: str, phone: str
) -> None:
    with Unchanged(app):
        refused(_post(client, fmt, submit_key, "ZONING", phone=phone), fmt, 400, "phone:")


@pytest.mark.parametrize(
    "email", ["not an address", "a@b", "a..b@example.org", "x@localhost", "someone@site.invalid"]
)
def test_an_email_that_is_no_address_is_a_400(
    app: Any, client: Any, fmt: str, submit_key: str, email: str
) -> None:
    with Unchanged(app):
        refused(_post(client, fmt, submit_key, "ZONING", email=email), fmt, 400, "email:")


def test_a_blank_phone_beside_an_email_is_just_absent(
    app: Any, client: Any, fmt: str, submit_key: str
) -> None:
    response = _post(client, fmt, submit_key, "ZONING", phone="  ", email="z@example.org")
    assert response.status_code == 200, response.data
    assert _stored(app) == [(None, "z@example.org")]


def test_contact_is_stored_normalised(app: Any, client: Any, fmt: str, submit_key: str) -> None:
    for phone, email in (
        ("(203) 555-0199", "Jane.Doe@EXAMPLE.ORG"),
        ("+44 20 7946 0958", " neighbour@example.org "),
        ("203 555 0199 ext. 12", None),
    ):
        given = {"phone": phone, **({"email": email} if email else {})}
        assert _post(client, fmt, submit_key, **given).status_code == 200
    assert _stored(app) == [
        ("+12035550199", "Jane.Doe@example.org"),
        ("+442079460958", "neighbour@example.org"),
        ("+12035550199 ext. 12", None),
    ]


def _config_with(tmp_path: Path, settings: dict[str, Any], **gateway: Any) -> Path:
    config = yaml.safe_load(Path(settings["CONFIG"]).read_text(encoding="utf-8"))
    config["gateway"].update(gateway)
    path = tmp_path / "regional.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


def test_the_default_region_is_configurable(
    settings: dict[str, Any], tmp_path: Path, fmt: str
) -> None:
    path = _config_with(tmp_path, settings, phone_region="GB")
    app = create_app({**settings, "CONFIG": str(path)})
    try:
        from tests.conftest import make_key

        key = make_key(app, "uk-app")
        client = app.test_client()
        response = _post(client, fmt, key, phone="020 7946 0958")
        assert response.status_code == 200, response.data
        assert parse(response, fmt)[0]["service_request_id"]
        assert _stored(app) == [("+442079460958", None)]
        # A US number without +1 is not a UK one.
        refused(_post(client, fmt, key, phone="(617) 555-0199"), fmt, 400, "phone:")
    finally:
        app.extensions["open311"].db.dispose()


def test_an_unknown_region_is_a_configuration_error(
    settings: dict[str, Any], tmp_path: Path
) -> None:
    for region, fragment in (("XX", "Unknown region"), ("us", "Two capital letters")):
        with pytest.raises(ConfigError, match=fragment) as error:
            load_catalog(_config_with(tmp_path, settings, phone_region=region))
        assert "gateway.phone_region" in str(error.value)
