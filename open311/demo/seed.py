"""What `open311 demo` puts in place for a newcomer to try the staff pages: a staff account
at the housing authority, and one lease-violation report filed the way a resident's app
files it (through the Open311 API, with the demo's submit key)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from ..catalog import Catalog
from ..db import Database
from ..models import ServiceRequest, StaffUser
from ..staff_accounts import create_user, set_password

STAFF_EMAIL = "housing-staff@demo.invalid"
STAFF_AGENCY = "nhv-housing-authority"
SAMPLE = {
    "service_code": "LEASE_VIOLATION",
    "lat": "41.3083",
    "long": "-72.9279",
    "address_string": "Unit 4B, 100 Demo Court, New Haven",
    "description": "Six people seem to live in a unit leased to two; they moved in last month.",
    "email": "tenant-demo@example.org",
    "first_name": "Alex",
}


def demo_staff_account(db: Database, catalog: Catalog) -> tuple[str, str]:
    """(e-mail, password) of the demo's housing-authority account, with a fresh password
    each run so the banner can print it."""
    with db.write() as session, session.begin():
        exists = session.scalar(select(StaffUser.id).where(StaffUser.email == STAFF_EMAIL))
        if exists is None:
            password = create_user(session, catalog, STAFF_EMAIL, STAFF_AGENCY, "staff")
        else:
            password = set_password(session, STAFF_EMAIL)
    return STAFF_EMAIL, password


def file_sample_report(settings: dict[str, Any], submit_key: str) -> str | None:
    """File the sample lease-violation report through the API unless one exists; returns
    its id when one was filed."""
    from .. import create_app

    app = create_app({**settings, "RATELIMIT_ENABLED": False})
    db: Database = app.extensions["open311"].db
    try:
        with db.read() as session:
            seen = session.scalar(
                select(ServiceRequest.id).where(ServiceRequest.service_code == "LEASE_VIOLATION")
            )
        if seen is not None:
            return None
        answer = app.test_client().post(
            "/open311/v2/requests.json", data={**SAMPLE, "api_key": submit_key}
        )
        if answer.status_code != 200:
            raise RuntimeError(f"the sample report was refused: {answer.get_data(as_text=True)}")
        return str(answer.get_json()[0]["service_request_id"])
    finally:
        db.dispose()
