"""While the database is unreachable the API answers 503 with Retry-After, as the Open311
error list in the requested format, and recovers by itself when the database is back; no
report accepted before the outage is lost. A PostgreSQL server of the test's own is
stopped and started under a real `open311 serve`; a SQLite file that vanishes is the
embedded case."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import requests

from open311 import DEMO_CONFIG, create_app
from open311.migrate import upgrade
from tests.conformance.test_live_server import body, error_list
from tests.helpers import NEW_HAVEN_GREEN, errors
from tests.support.pg_server import own_postgres
from tests.support.servers import open311_command

from .conftest import serving

pytestmark = pytest.mark.server

FORMATS = ("json", "xml")


def _post(root: str, key: str, fmt: str) -> requests.Response:
    return requests.post(
        f"{root}/open311/v2/requests.{fmt}",
        data={"api_key": key, "service_code": "POTHOLE", "lat": NEW_HAVEN_GREEN[0],
              "long": NEW_HAVEN_GREEN[1]},
        timeout=15,
    )  # fmt: skip


def _unavailable(answer: requests.Response, fmt: str) -> None:
    error_list(answer, fmt, 503)
    # At least the gateway's 5 s; Flask-Limiter raises it to the end of the rate-limit
    # window when that is later.
    assert int(answer.headers["Retry-After"]) >= 5


def test_postgres_stopped_and_started_under_a_running_gateway(tmp_path: Path) -> None:
    with own_postgres() as pg:
        env = {k: v for k, v in os.environ.items() if not k.startswith("OPEN311_")}
        env["OPEN311_DATABASE_URL"] = pg.url
        env["OPEN311_DEMO_WORKORDERS_URL"] = "http://127.0.0.1:9"
        env["OPEN311_CONFIG"] = str(DEMO_CONFIG)
        made = subprocess.run(
            [*open311_command(), "keys", "create", "outage"],
            env=env, capture_output=True, text=True, timeout=60, check=True,
        )  # fmt: skip
        key = made.stdout.strip()
        with serving(env, tmp_path, "--no-worker") as root:
            before = [_post(root, key, fmt) for fmt in FORMATS]
            assert [a.status_code for a in before] == [200, 200]
            ids = [body(before[0], "json")[0]["service_request_id"]]
            ids.append(body(before[1], "xml").findtext("request/service_request_id"))

            pg.stop()
            for fmt in FORMATS:
                _unavailable(requests.get(f"{root}/open311/v2/requests.{fmt}", timeout=15), fmt)
                _unavailable(_post(root, key, fmt), fmt)
            ready = requests.get(f"{root}/readyz", timeout=15)
            assert ready.status_code == 503 and ready.headers["Retry-After"] == "5"  # not limited
            assert ready.json() == {"status": "unavailable", "database": "unreachable"}
            assert requests.get(f"{root}/healthz", timeout=5).status_code == 200

            pg.start()
            # The first request after the restart is served: the pool notices the dead
            # connections itself (pre-ping) and opens new ones.
            for fmt in FORMATS:
                listed = requests.get(f"{root}/open311/v2/requests.{fmt}", timeout=15)
                assert listed.status_code == 200, listed.text[:300]
            assert requests.get(f"{root}/readyz", timeout=15).status_code == 200
            assert _post(root, key, "json").status_code == 200
            for rid in ids:
                one = requests.get(f"{root}/open311/v2/requests/{rid}.json", timeout=15)
                assert one.status_code == 200, rid
    log = (tmp_path / "serve.log").read_text()
    assert "database unavailable on GET /open311/v2/requests.json" in log
    assert "Traceback" not in log  # an outage is a warning, not an unhandled error


@pytest.mark.parametrize("fmt", FORMATS)
def test_sqlite_file_gone_answers_503_then_recovers(tmp_path: Path, fmt: str) -> None:
    folder = tmp_path / "db"
    folder.mkdir()
    upgrade(f"sqlite:///{folder}/gateway.db")
    # Without rate limits, whose headers would raise Retry-After to the end of their window.
    app = create_app(
        {
            "DATABASE_URL": f"sqlite:///{folder}/gateway.db",
            "TESTING": True,
            "RATELIMIT_ENABLED": False,
        }
    )
    client = app.test_client()
    database = app.extensions["open311"].db
    try:
        assert client.get(f"/open311/v2/requests.{fmt}").status_code == 200
        away = tmp_path / "moved"
        folder.rename(away)  # the volume is unmounted, the folder removed, …
        database.dispose()  # connections already open would still read the moved file
        answer = client.get(f"/open311/v2/requests.{fmt}")
        assert answer.status_code == 503 and answer.headers["Retry-After"] == "5"
        assert errors(answer, fmt)[0]["code"] in (503, "503")
        assert client.get("/readyz").status_code == 503
        away.rename(folder)
        assert client.get(f"/open311/v2/requests.{fmt}").status_code == 200
        assert client.get("/readyz").status_code == 200
    finally:
        database.dispose()
        shutil.rmtree(folder, ignore_errors=True)
