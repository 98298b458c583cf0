"""Input schemas for the GeoReport endpoints: what a client may send, and what is wrong."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from marshmallow import (
    EXCLUDE,
    Schema,
    ValidationError,
    fields,
    pre_load,
    validate,
    validates_schema,
)

from .fields import (
    BoundedList,
    BoundingBox,
    CommaList,
    FiniteFloat,
    Text,
    W3CDateTime,
    one_line_break,
)
from .personal import MAX_LENGTH, PERSONAL_FIELDS

# Photos sent as files (multipart/form-data), beside media_url links.
MEDIA_FIELDS = ("media", "media[]")
NOTIFY_CHOICES = ("email", "sms", "both", "none")
MAX_DESCRIPTION = 4000
# Links per report or update (photos sent as files have their own cap, open311/photos.py),
# each at most MAX_URL characters: every read of the report carries them, so 30 reports
# of 1,000 long links made one page of 64 MB.
MAX_MEDIA_URLS = 10
MAX_URL = 2000
# Values one filter may list (service_request_id=a,b,…; service_code=…).
MAX_FILTER_VALUES = 1000  # a page holds at most 1,000 reports too
# attribute[CODE], attribute[CODE][], attribute[CODE][0] (node's qs encoding).
_ATTRIBUTE_KEY = re.compile(r"^attribute\[([^\]]+)\](?:\[\d*\])?$")


def _text(max_len: int, **kw: Any) -> fields.String:
    return Text(validate=validate.Length(max=max_len), **kw)


class _Lenient(Schema):
    """Unknown parameters are ignored (clients send extensions); empty ones are absent."""

    class Meta:
        unknown = EXCLUDE

    @pre_load
    def _empty_is_absent(self, data: Any, **_: Any) -> Any:
        # Spec: "a null parameter should be treated as equivalent to a non-declared one";
        # a value of spaces is as empty (a phone of one space satisfied a contact rule).
        if isinstance(data, Mapping):
            return {k: v for k, v in data.items() if not _blank(v)}
        return data


def _media_urls() -> fields.Field:
    return BoundedList(
        fields.Url(schemes={"http", "https"}, validate=validate.Length(max=MAX_URL)),
        max_items=MAX_MEDIA_URLS,
    )


def _blank(value: Any) -> bool:
    return value in (None, [], "") or (isinstance(value, str) and not value.strip())


def _personal_input(name: str) -> fields.Field:
    # Their shape (a phone number, an e-mail address) is checked where it is normalised for
    # storage, with the libraries made for it: open311/contact.py `checked_contact`.
    return _text(MAX_LENGTH[name])


class CreateRequestSchema(_Lenient):
    class Meta(_Lenient.Meta):
        # The personal fields, from their one definition (schemas/personal.py).
        include = {name: _personal_input(name) for name in PERSONAL_FIELDS}  # noqa: RUF012

    jurisdiction_id = fields.String()
    service_code = fields.String(required=True, validate=validate.Length(min=1, max=100))
    lat = FiniteFloat(validate=validate.Range(min=-90, max=90))
    long = FiniteFloat(validate=validate.Range(min=-180, max=180))
    address_string = _text(1000)
    address_id = _text(200)
    zipcode = _text(20)
    description = Text(
        validate=validate.Length(
            max=MAX_DESCRIPTION,
            error=f"The description is limited to {MAX_DESCRIPTION} characters.",
        )
    )
    media_url = _media_urls()
    # Updates for the reporter (this gateway's extension; docs/api.md): the channels to be
    # told on when the status changes, needing the e-mail or phone sent with the report.
    notify = fields.String(
        validate=validate.OneOf(
            NOTIFY_CHOICES, error=f"notify is one of {', '.join(NOTIFY_CHOICES)}."
        )
    )
    # mySociety's name for the same wish, as FixMyStreet and Open311::Endpoint send it
    # (TRUE or FALSE): updates by e-mail. `notify` wins when both are sent.
    email_alerts_requested = fields.Boolean()
    # The language of those messages (a tag such as "es" or "es-MX"); the gateway's
    # default when absent or not one it ships.
    language = _text(35)

    @pre_load
    def _media_url_list(self, data: Any, **_: Any) -> Any:
        if isinstance(data, Mapping) and isinstance(data.get("media_url"), str):
            data = {**data, "media_url": [data["media_url"]]}
        return data

    @validates_schema
    def _location(self, data: dict[str, Any], **_: Any) -> None:
        has_lat, has_long = "lat" in data, "long" in data
        if has_lat != has_long:
            raise ValidationError("Send lat and long together.", "lat" if has_long else "long")
        if not (has_lat or data.get("address_string") or data.get("address_id")):
            raise ValidationError(
                "A location is required: lat and long, address_string or address_id.", "location"
            )


# The geographic filters are this gateway's extension (CitySDK's lat/long/radius; a bbox in
# the GeoJSON order). They are capped so one query cannot ask for a whole region's history.
DEFAULT_RADIUS_M = 500
MAX_RADIUS_M = 5000
MAX_BBOX_DEGREES = 0.5  # on each side: about 55 km north-south, a large city
# JSON:API's spelling: a leading "-" is newest first, the default.
SORTS = ("-requested_datetime", "requested_datetime", "-updated_datetime", "updated_datetime")


class RequestQuerySchema(_Lenient):
    jurisdiction_id = fields.String()
    service_request_id = CommaList(max_items=MAX_FILTER_VALUES)
    service_code = CommaList(max_items=MAX_FILTER_VALUES)
    status = CommaList(max_items=2)
    start_date = W3CDateTime()
    end_date = W3CDateTime()
    updated_after = W3CDateTime()
    updated_before = W3CDateTime()
    page = fields.Integer(validate=validate.Range(min=1, max=100_000))
    page_size = fields.Integer(validate=validate.Range(min=1, max=1000))
    extensions = fields.Boolean()
    lat = FiniteFloat(validate=validate.Range(min=-90, max=90))
    long = FiniteFloat(validate=validate.Range(min=-180, max=180))
    radius = FiniteFloat(
        validate=validate.Range(
            min=1, max=MAX_RADIUS_M, error=f"radius is in metres, from 1 to {MAX_RADIUS_M}."
        )
    )
    bbox = BoundingBox()
    agency_responsible = _text(200)
    sort = fields.String(
        validate=validate.OneOf(SORTS, error=f"Unknown sort; use one of {', '.join(SORTS)}.")
    )

    @validates_schema
    def _where(self, data: dict[str, Any], **_: Any) -> None:
        if ("lat" in data) != ("long" in data):
            raise ValidationError(
                "Send lat and long together.", "lat" if "long" in data else "long"
            )
        if "radius" in data and "lat" not in data:
            raise ValidationError("radius needs lat and long (its centre).", "radius")
        if "bbox" in data and "lat" in data:
            raise ValidationError("Send either lat, long and radius, or bbox, not both.", "bbox")
        box = data.get("bbox")
        if box and (box[2] - box[0] > MAX_BBOX_DEGREES or box[3] - box[1] > MAX_BBOX_DEGREES):
            raise ValidationError(
                f"The bbox is limited to {MAX_BBOX_DEGREES} degrees on each side.", "bbox"
            )

    @validates_schema
    def _statuses(self, data: dict[str, Any], **_: Any) -> None:
        bad = [s for s in data.get("status", []) if s not in ("open", "closed")]
        if bad:
            raise ValidationError(
                f"Unknown status {', '.join(bad)}; use open, closed or both.", "status"
            )
        if (
            data.get("start_date")
            and data.get("end_date")
            and data["end_date"] < data["start_date"]
        ):
            raise ValidationError("end_date is before start_date.", "end_date")


MAX_FEED_PAGE = 1000


class UpdatesQuerySchema(_Lenient):
    jurisdiction_id = fields.String()
    start_date = W3CDateTime()
    end_date = W3CDateTime()
    # The cursor: the update_id of the last entry a client has seen (this gateway's
    # extension; FixMyStreet resumes with start_date, which keeps working).
    after = fields.String(validate=validate.Regexp(r"^[0-9a-f]{16}$", error="Unknown after."))
    page_size = fields.Integer(validate=validate.Range(min=1, max=MAX_FEED_PAGE))


# mySociety's statuses for an update (FixMyStreet sends them upper-case), and which of them
# close a report; the rest leave it open.
APP_STATUSES = (
    "open",
    "closed",
    "fixed",
    "in_progress",
    "action_scheduled",
    "investigating",
    "planned",
    "duplicate",
    "not_councils_responsibility",
    "no_further_action",
    "internal_referral",
    "reopen",
    "for_triage",
)
CLOSING_STATUSES = frozenset(
    {"closed", "fixed", "duplicate", "not_councils_responsibility", "no_further_action"}
)


class PostUpdateSchema(_Lenient):
    """POST servicerequestupdates as FixMyStreet's Open311 client and open311-adapter send
    it. The author's name and e-mail are accepted and not kept (see docs/api.md)."""

    jurisdiction_id = fields.String()
    service_request_id = fields.String(required=True, validate=validate.Length(min=1, max=64))
    # The app's own id for the update: update_id (open311-adapter), update_id_ext (FixMyStreet).
    update_id = _text(200)
    update_id_ext = _text(200)
    updated_datetime = W3CDateTime()
    status = fields.String()
    description = Text(
        validate=[
            validate.Length(
                max=MAX_DESCRIPTION,
                error=f"The description is limited to {MAX_DESCRIPTION} characters.",
            ),
        ]
    )
    media_url = _media_urls()

    @pre_load
    def _lower_status(self, data: Any, **_: Any) -> Any:
        if isinstance(data, Mapping):
            data = dict(data)
            if isinstance(data.get("status"), str):
                data["status"] = data["status"].strip().lower()
        return data

    @validates_schema
    def _something(self, data: dict[str, Any], **_: Any) -> None:
        if data.get("status") is not None and data["status"] not in APP_STATUSES:
            raise ValidationError(
                f"Unknown status; use one of {', '.join(s.upper() for s in APP_STATUSES)}.",
                "status",
            )
        if not data.get("description") and not data.get("status"):
            raise ValidationError("Send a description, a status or both.", "description")


class DefinitionQuerySchema(_Lenient):
    jurisdiction_id = fields.String()
    extensions = fields.Boolean()


class ServicesQuerySchema(_Lenient):
    jurisdiction_id = fields.String()
    extensions = fields.Boolean()
    lat = FiniteFloat(validate=validate.Range(min=-90, max=90))
    long = FiniteFloat(validate=validate.Range(min=-180, max=180))

    @validates_schema
    def _pair(self, data: dict[str, Any], **_: Any) -> None:
        if ("lat" in data) != ("long" in data):
            raise ValidationError("Send lat and long together.", "lat")


def split_attributes(items: Iterable[tuple[str, str]]) -> dict[str, list[str]]:
    """Collect attribute[CODE] in every spelling clients use, keeping repeated values."""
    out: dict[str, list[str]] = {}
    for key, value in items:
        match = _ATTRIBUTE_KEY.match(key)
        if match and value != "":
            out.setdefault(match.group(1), []).append(one_line_break(value))
    return out


def flat_params(items: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """A multi-dict as plain data: media_url keeps every value, others keep the first."""
    out: dict[str, Any] = {}
    for key, value in items:
        if key.startswith("attribute["):
            continue
        if key in ("media_url", "media_url[]"):
            out.setdefault("media_url", []).append(value) if value else None
        else:
            out.setdefault(key, value)
    return out
