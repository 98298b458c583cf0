"""`open311 import FILE.csv --mapping MAPPING.yaml`, run as an operator runs it, on a real
SQLite file and on PostgreSQL: rows placed in their jurisdiction and visible as any report,
never sent to a back-end, private services' reports kept private, a re-run importing
nothing, every skipped row counted under its reason; the mapping checked with key paths.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner, Result
from sqlalchemy import func, select

from open311 import DEMO_CONFIG
from open311.cli import main
from open311.models import Delivery, ServiceRequest
from tests.conftest import make_key
from tests.helpers import parse

HERE = Path(__file__).parent
LEGACY = HERE / "legacy-new-haven.csv"
LEGACY_MAPPING = HERE / "legacy-new-haven.yaml"
BOSTON = HERE.parent / "data" / "boston311-sample.csv"
BOSTON_CONFIG = HERE / "boston.yaml"
BOSTON_MAPPING = HERE.parents[1] / "docs" / "examples" / "boston-311-mapping.yaml"
API = "/open311/v2"
# Around the imported history (March 2024): the listing's 90-day default would miss it.
WINDOW = {"start_date": "2024-01-01T00:00:00Z", "end_date": "2024-06-30T00:00:00Z"}

SKIPPED = {
    "LEAK is not a service of hamdenct.gov": 1,
    "unknown service 'Noise'": 1,
    "requested: not a date (%m/%d/%Y %I:%M %p)": 1,
    "outside every jurisdiction": 1,
    "no id": 1,
    "already imported": 1,  # NHV-L1 twice in the file: the first one counts
    "unknown status 'Pending'": 1,
    "updated before requested": 1,
    "invalid description: The description is limited to 4000 characters.": 1,
    "invalid lat: Not a valid number.": 1,
}


def run_import(
    db_url: str, config: Path, csv_file: Path, mapping: Path, *more: str, code: int = 0
) -> Result:
    args = ["--database-url", db_url, "--config", str(config), "import", str(csv_file)]
    result = CliRunner().invoke(main, [*args, "--mapping", str(mapping), *more])
    assert result.exit_code == code, result.output
    return result


def summary(result: Result) -> tuple[int, int, int, dict[str, int]]:
    """(rows, imported, skipped, {reason: count}) from the command's report."""
    head = re.search(r"(\d+) rows: (?:would import|imported) (\d+) .*skipped (\d+)", result.output)
    assert head, result.output
    reasons = {
        m.group(2): int(m.group(1))
        for m in re.finditer(r"^  skipped (\d+): (.*) \(first at line \d+\)$", result.output, re.M)
    }
    rows, imported, skipped = (int(g) for g in head.groups())
    return rows, imported, skipped, reasons


def stored(app: Any) -> dict[str, ServiceRequest]:
    with app.extensions["open311"].db.read() as session:
        rows = session.scalars(select(ServiceRequest).where(ServiceRequest.source_key.is_not(None)))
        return {row.source_key.split(":", 1)[1]: row for row in rows if row.source_key}


def test_rows_go_in_where_a_post_would_and_the_others_are_counted_by_reason(
    app: Any, db_url: str
) -> None:
    result = run_import(db_url, DEMO_CONFIG, LEGACY, LEGACY_MAPPING)
    assert summary(result) == (16, 6, 10, SKIPPED)
    reports = stored(app)
    assert set(reports) == {"NHV-L1", "NHV-L2", "NHV-L3", "NHV-L12", "NHV-L15", "NHV-L16"}
    first = reports["NHV-L1"]
    assert first.public_id.startswith("NHV-") and not first.private
    assert (first.service_code, first.status, first.jurisdiction_id) == (
        "POTHOLE",
        "open",
        "newhavenct.gov",
    )
    # 8:15 in the morning in New Haven, in winter (EST): 13:15 UTC.
    assert first.requested_datetime == datetime(2024, 3, 1, 13, 15, tzinfo=UTC)
    assert first.updated_datetime == first.requested_datetime  # no closing time: opened
    assert first.description == "Deep hole by the bus stop"
    assert first.agency_responsible == "New Haven Department of Public Works"
    hamden = reports["NHV-L2"]  # no jurisdiction in the file: its point picks Hamden
    assert hamden.jurisdiction_id == "hamdenct.gov" and hamden.public_id.startswith("HAM-")
    assert (hamden.status, hamden.status_notes) == ("closed", "Patched by the night crew")
    assert hamden.updated_datetime == datetime(2024, 3, 5, 18, 30, tzinfo=UTC)
    private = reports["NHV-L3"]
    assert private.private and private.public_id.startswith("NHV-P")
    unplaced = reports["NHV-L12"]  # an address only: the default jurisdiction, no point
    assert (unplaced.jurisdiction_id, unplaced.lat, unplaced.status) == (
        "newhavenct.gov",
        None,
        "open",
    )
    assert reports["NHV-L16"].description == "Line one\nline two"  # a line break is one


def test_imported_reports_are_never_sent_to_a_back_end(app: Any, db_url: str) -> None:
    run_import(db_url, DEMO_CONFIG, LEGACY, LEGACY_MAPPING)
    with app.extensions["open311"].db.read() as session:
        states = session.execute(
            select(Delivery.state, func.count()).group_by(Delivery.state)
        ).all()
        owners = set(session.scalars(select(Delivery.destination)))
    assert dict(states) == {"done": 6}  # one per report, already with its agency
    assert owners == {"nhv-public-works", "hamden-public-works", "nhv-housing-authority"}
    from open311.outbox_status import destination_status

    agencies = app.extensions["open311"].catalog.agencies
    with app.extensions["open311"].db.read() as session:
        assert all(d.depth == 0 for d in destination_status(session, agencies))


def test_a_second_run_imports_nothing(app: Any, db_url: str) -> None:
    run_import(db_url, DEMO_CONFIG, LEGACY, LEGACY_MAPPING)
    before = {k: r.public_id for k, r in stored(app).items()}
    rows, imported, skipped, reasons = summary(
        run_import(db_url, DEMO_CONFIG, LEGACY, LEGACY_MAPPING)
    )
    assert (rows, imported, skipped) == (16, 0, 16)
    assert reasons["already imported"] == 7  # the six, and the repeated row again
    assert {k: r.public_id for k, r in stored(app).items()} == before


def test_a_dry_run_counts_and_keeps_nothing(app: Any, db_url: str) -> None:
    result = run_import(db_url, DEMO_CONFIG, LEGACY, LEGACY_MAPPING, "--dry-run")
    assert "would import 6" in result.output
    assert summary(result)[3] == SKIPPED
    assert stored(app) == {}


def test_imported_reports_are_read_as_any_report_and_private_ones_stay_private(
    app: Any, client: Any, db_url: str, fmt: str
) -> None:
    run_import(db_url, DEMO_CONFIG, LEGACY, LEGACY_MAPPING)
    reports = stored(app)
    listed = parse(client.get(f"{API}/requests.{fmt}", query_string=WINDOW), fmt)
    ids = {r["service_request_id"] for r in listed}
    # New Haven's public reports; not the private one, not the blackbox one (its service
    # lists no ids), not Hamden's (another jurisdiction).
    assert ids == {reports[k].public_id for k in ("NHV-L1", "NHV-L12", "NHV-L16")}
    one = next(r for r in listed if r["service_request_id"] == reports["NHV-L1"].public_id)
    assert one["requested_datetime"] == "2024-03-01T13:15:00Z"
    assert one["status"] == "open" and one["service_code"] == "POTHOLE"
    hamden = parse(
        client.get(
            f"{API}/requests.{fmt}", query_string={**WINDOW, "jurisdiction_id": "hamdenct.gov"}
        ),
        fmt,
    )
    assert [r["service_request_id"] for r in hamden] == [reports["NHV-L2"].public_id]
    private = reports["NHV-L3"].public_id
    assert client.get(f"{API}/requests/{private}.{fmt}").status_code == 404
    for export in ("csv", "geojson"):
        body = client.get(f"{API}/requests.{export}", query_string=WINDOW).data.decode()
        assert reports["NHV-L1"].public_id in body and private not in body
    # The housing authority's staff see it as theirs.
    staff = make_key(app, "lee", "staff", "nhv-housing-authority")
    shown = client.get(f"{API}/requests/{private}.{fmt}", query_string={"api_key": staff})
    assert shown.status_code == 200


def test_a_fixed_jurisdiction_refuses_points_outside_its_services_area(
    app: Any, db_url: str, tmp_path: Path
) -> None:
    mapping = yaml.safe_load(LEGACY_MAPPING.read_text())
    mapping["jurisdiction"] = "newhavenct.gov"
    path = tmp_path / "fixed.yaml"
    path.write_text(yaml.safe_dump(mapping))
    _, imported, _, reasons = summary(run_import(db_url, DEMO_CONFIG, LEGACY, path))
    # The Hamden and the Boston rows: inside no boundary of the one jurisdiction's service.
    assert reasons["outside the area of POTHOLE (newhavenct.gov)"] == 2
    assert reasons["outside the area of LEAK (newhavenct.gov)"] == 1
    assert "outside every jurisdiction" not in reasons
    assert imported == 5  # all but the Hamden row


def test_a_real_city_export(app: Any, db_url: str) -> None:
    """97 rows of Boston's open data through the shipped example mapping."""
    boston = {"DATABASE_URL": db_url, "CONFIG": str(BOSTON_CONFIG), "TESTING": True}
    from open311 import create_app

    gateway = create_app(boston)
    try:
        result = run_import(db_url, BOSTON_CONFIG, BOSTON, BOSTON_MAPPING)
        rows, imported, skipped, reasons = summary(result)
        assert (rows, imported + skipped) == (97, 97)
        assert imported == 70 and "(6 private)" in result.output
        assert reasons["outside every jurisdiction"] == 4  # Hyde Park, West Roxbury
        assert reasons["unknown service 'Needle Pickup'"] == 2
        assert reasons["ABANDONED_VEHICLE is not a service of eastboston.example"] == 1
        reports = stored(gateway)
        east = reports["101004114147"]  # parking in East Boston: its own jurisdiction
        assert (east.jurisdiction_id, east.public_id[:3]) == ("eastboston.example", "EB-")
        case = reports["101004113348"]
        assert case.requested_datetime == datetime(2022, 1, 1, 11, 46, 29, tzinfo=UTC)
        assert case.updated_datetime == datetime(2022, 1, 1, 20, 10, 16, tzinfo=UTC)
        assert case.status == "closed" and case.zipcode == "02114"
        assert case.media_url and case.media_url.startswith("https://311.boston.gov/")
        assert case.address == "14 S Russell St  Boston  MA  02114"
        assert sum(r.private for r in reports.values()) == 6
        assert {r.service_code for r in reports.values() if r.private} == {"HOUSING"}
        again = summary(run_import(db_url, BOSTON_CONFIG, BOSTON, BOSTON_MAPPING))
        assert again[1] == 0 and again[3]["already imported"] == 70
    finally:
        gateway.extensions["open311"].db.dispose()


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"columns": {"id": "Ticket"}}, "columns.service: Missing data for required field."),
        ({"source": "nhv legacy"}, "source: Use 1 to 60 letters"),
        (
            {"services": {"Pothole": "NOPE"}},
            "services.Pothole: no service 'NOPE' in the configuration.",
        ),
        ({"statuses": {"Open": "pending"}}, "statuses.Open.value: open or closed."),
        ({"datetimes": {"timezone": "Mars/Olympus"}}, "datetimes.timezone: Unknown time zone"),
        ({"jurisdiction": "nowhere.example"}, "jurisdiction: no jurisdiction 'nowhere.example'"),
        ({"columns": {"lat": "Latitude"}}, "columns.long: Map lat and long together."),
        ({"colour": "blue"}, "colour: Unknown field."),
    ],
)
def test_a_bad_mapping_is_refused_with_key_paths(
    db_url: str, tmp_path: Path, change: dict[str, Any], expected: str
) -> None:
    mapping = yaml.safe_load(LEGACY_MAPPING.read_text())
    for key, value in change.items():
        if key == "columns" and "id" not in value:
            mapping["columns"] = {
                **{"id": "Ticket", "service": "Category", "requested": "Opened"},
                **value,
            }
        else:
            mapping[key] = value
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(mapping))
    result = run_import(db_url, DEMO_CONFIG, LEGACY, path, code=1)
    assert expected in result.output, result.output


def test_columns_the_file_lacks_are_named(db_url: str, tmp_path: Path) -> None:
    mapping = yaml.safe_load(LEGACY_MAPPING.read_text())
    mapping["columns"]["zipcode"] = "ZIP"
    path = tmp_path / "zip.yaml"
    path.write_text(yaml.safe_dump(mapping))
    result = run_import(db_url, DEMO_CONFIG, LEGACY, path, code=1)
    assert "columns.zipcode: no column 'ZIP' in the file" in result.output
    assert "(it has: Ticket, Category" in result.output


def test_a_row_in_another_encoding_is_skipped_alone(app: Any, db_url: str, tmp_path: Path) -> None:
    header, first = LEGACY.read_text(encoding="utf-8").splitlines()[:2]
    lines = [header] + [first.replace("NHV-L1", f"NHV-M{i}") for i in range(2500)]
    # Latin-1 in a UTF-8 file, deep in the second batch and inside a decoder's chunk.
    lines[1501] = lines[1501].replace("Deep hole", "Trou profond \u00e9")
    mixed = tmp_path / "mixed.csv"
    mixed.write_bytes("\r\n".join(lines).encode("utf-8").replace("\u00e9".encode(), b"\xe9"))
    rows, imported, skipped, reasons = summary(
        run_import(db_url, DEMO_CONFIG, mixed, LEGACY_MAPPING)
    )
    assert (rows, imported, skipped) == (2500, 2499, 1)
    assert reasons == {"not utf-8-sig text (see csv.encoding)": 1}
    assert "NHV-M1500" not in stored(app) and "NHV-M1499" in stored(app)


def test_a_row_the_csv_module_cannot_read_stops_the_run_after_the_rows_before_it(
    app: Any, db_url: str, tmp_path: Path
) -> None:
    header, first = LEGACY.read_text(encoding="utf-8").splitlines()[:2]
    lines = [header] + [first.replace("NHV-L1", f"NHV-M{i}") for i in range(1500)]
    lines[1201] = lines[1201].replace("Deep hole", "x" * 200_000)  # over csv's field limit
    broken = tmp_path / "broken.csv"
    broken.write_text("\r\n".join(lines), encoding="utf-8")
    result = run_import(db_url, DEMO_CONFIG, broken, LEGACY_MAPPING, code=1)
    assert "field larger than field limit" in result.output and "Traceback" not in result.output
    assert len(stored(app)) == 1200  # a whole batch and the part read before the row
    again = run_import(db_url, DEMO_CONFIG, broken, LEGACY_MAPPING, code=1)
    assert len(stored(app)) == 1200 and "Error" in again.output
