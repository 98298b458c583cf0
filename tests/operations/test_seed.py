"""`open311 seed --count N`: synthetic reports spread like real ones, written in bulk, and
a gateway that keeps working on top of them (ids, privacy, the query extensions)."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from typing import Any

from click.testing import CliRunner
from sqlalchemy import func, select

from open311 import DEMO_CONFIG
from open311.catalog import load_catalog
from open311.cli import main
from open311.db import utcnow
from open311.models import Delivery, ReporterContact, ServiceRequest
from open311.routing import Router
from tests.helpers import parse, post_request

COUNT = 1200  # a batch and a part, so the second batch's ids follow the first's


def _seed(db_url: str, *more: str) -> Any:
    args = ["--database-url", db_url, "--config", str(DEMO_CONFIG), "seed", "--count", str(COUNT)]
    result = CliRunner().invoke(main, [*args, *more])
    assert result.exit_code == 0, result.output
    return result


def test_seeded_reports_look_like_a_city_s_years(app: Any, db_url: str, monkeypatch: Any) -> None:
    monkeypatch.setattr("open311.synthetic.BATCH", 1000)
    result = _seed(db_url)
    assert f"wrote {COUNT} reports" in result.output
    router = Router(load_catalog(DEMO_CONFIG))
    with app.extensions["open311"].db.read() as session:
        rows = session.scalars(select(ServiceRequest)).all()
        assert len(rows) == COUNT
        assert len({r.public_id for r in rows}) == COUNT
        times = sorted(r.requested_datetime for r in rows)
        assert times[-1] - times[0] > timedelta(days=4 * 365)
        assert all(r.updated_datetime >= r.requested_datetime for r in rows)
        assert times[-1] <= utcnow()
        services = Counter((r.jurisdiction_id, r.service_code) for r in rows)
        assert len(services) >= 10 and len({j for j, _ in services}) == 3
        assert services.most_common(1)[0][1] > 5 * services.most_common()[-1][1]  # a few lead
        private = [r for r in rows if r.private]
        assert 0.02 * COUNT < len(private) < 0.10 * COUNT
        statuses = Counter(r.status for r in rows)
        assert statuses["open"] > 0 and statuses["closed"] > statuses["open"]

        def open_share(group: list[ServiceRequest]) -> float:
            return sum(r.status == "open" for r in group) / max(1, len(group))

        recent = [r for r in rows if r.requested_datetime > utcnow() - timedelta(days=90)]
        old = [r for r in rows if r.requested_datetime < utcnow() - timedelta(days=365)]
        assert open_share(recent) > 3 * open_share(old)  # old reports are mostly closed
        catalog = load_catalog(DEMO_CONFIG)
        for r in rows:
            area = catalog.service(r.jurisdiction_id, r.service_code).area
            assert r.lat is not None and r.long is not None
            assert area is None or area in router.areas_at(r.lat, r.long), r.public_id
        # The stored public answers are what the ORM would have written.
        from open311.fragments import rendered

        for r in rows[:50]:
            assert {"public_json": r.public_json, "public_xml": r.public_xml} == rendered(r)
        # Every report routed and delivered, no contact made up.
        assert session.scalar(select(func.count()).select_from(Delivery)) >= COUNT
        assert session.scalar(select(func.count()).select_from(ReporterContact)) == 0
        numbers = sorted(
            int(r.public_id.split("-")[1])
            for r in rows
            if r.public_id.startswith("NHV-") and not r.private
        )
        assert numbers == list(range(1, len(numbers) + 1))  # no gaps, none twice


def test_the_gateway_keeps_working_on_seeded_data(
    app: Any, client: Any, db_url: str, submit_key: str
) -> None:
    _seed(db_url, "--years", "0.2")
    with app.extensions["open311"].db.read() as session:
        before = session.scalar(
            select(func.count()).where(
                ServiceRequest.public_id.like("NHV-%"), ServiceRequest.private.is_(False)
            )
        )
    response = post_request(client, "json", submit_key)
    assert response.status_code == 200, response.data
    assert parse(response, "json")[0]["service_request_id"] == f"NHV-{before + 1}"
    listed = parse(
        client.get("/open311/v2/requests.json", query_string={"page_size": 1000}), "json"
    )
    assert listed and all(
        r["service_code"] not in ("NEIGHBOR_COMPLAINT", "LEASE_VIOLATION") for r in listed
    )
    near = parse(
        client.get(
            "/open311/v2/requests.json",
            query_string={"lat": 41.3083, "long": -72.9279, "radius": 2000},
        ),
        "json",
    )
    assert 0 < len(near) < len(listed)


def test_the_same_seed_writes_the_same_reports(tmp_path: Any) -> None:
    def descriptions(name: str) -> list[tuple[str, str]]:
        url = f"sqlite:///{tmp_path}/{name}.db"
        _seed(url, "--seed", "7")
        from open311.db import Database

        database = Database(url)
        try:
            with database.read() as session:
                return [
                    (r.service_code, r.address)
                    for r in session.scalars(select(ServiceRequest).order_by(ServiceRequest.id))
                ]
        finally:
            database.dispose()

    assert descriptions("a") == descriptions("b")
