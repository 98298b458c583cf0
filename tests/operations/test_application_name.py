"""Every database connection names its process in PostgreSQL (`application_name`), so
pg_stat_activity tells the API, the workers, a sync and the commands apart."""

from __future__ import annotations

import json
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from open311 import create_app
from open311.cli import Context
from open311.db import database_url
from open311.migrate import upgrade

from .conftest import clean_env, needs_pg, open311_command, write_config

pytestmark = needs_pg


def names_on(url: str) -> set[str]:
    """The application names connected to the URL's database, seen from a plain engine."""
    name = make_url(url).database
    engine = create_engine(database_url(url))
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                text(
                    "SELECT application_name FROM pg_stat_activity "
                    "WHERE datname = :db AND pid <> pg_backend_pid()"
                ),
                {"db": name},
            )
            return {row[0] for row in rows}
    finally:
        engine.dispose()


def test_the_api_names_its_connections(fresh_pg: str) -> None:
    upgrade(fresh_pg)
    app = create_app({"DATABASE_URL": fresh_pg, "TESTING": True})
    try:
        assert app.test_client().get("/open311/v2/requests.json").status_code == 200
        assert "open311-api" in names_on(fresh_pg)
    finally:
        app.extensions["open311"].db.dispose()


def test_a_command_names_its_connections(fresh_pg: str) -> None:
    database = Context(fresh_pg, None).database()
    try:
        with database.engine.connect() as conn:
            assert conn.scalar(text("SHOW application_name")) == "open311-cli"
    finally:
        database.dispose()


def test_a_url_that_names_itself_keeps_its_name(fresh_pg: str) -> None:
    url = make_url(database_url(fresh_pg)).update_query_dict({"application_name": "mine"})
    database = Context(url.render_as_string(hide_password=False), None).database()
    try:
        with database.engine.connect() as conn:
            assert conn.scalar(text("SHOW application_name")) == "mine"
    finally:
        database.dispose()


@pytest.fixture
def feed(fresh_pg: str) -> Any:
    """A status feed on loopback that notes who is connected to the database when pulled."""
    seen: list[set[str]] = []

    def app(environ: dict[str, Any], start_response: Any) -> Any:
        Request(environ)
        seen.append(names_on(fresh_pg))
        body = json.dumps({"items": []})
        return Response(body, content_type="application/json")(environ, start_response)

    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}", seen
    server.shutdown()


def _config(folder: Path, url: str) -> Path:
    settings = {
        "url": f"{url}/orders",
        "status": {
            "feed_url": f"{url}/orders",
            "items_path": "items",
            "id_path": "id",
            "status_path": "status",
        },
    }
    return write_config(
        folder, lambda c: c["agencies"][0].update(adapter="http_json", settings=settings)
    )


def test_the_worker_and_a_sync_name_their_connections(
    fresh_pg: str, feed: Any, tmp_path: Path
) -> None:
    url, seen = feed
    config = _config(tmp_path, url)
    command = [*open311_command(), "--database-url", fresh_pg, "--config", str(config)]
    synced = subprocess.run([*command, "sync"], env=clean_env(), capture_output=True, timeout=60)
    assert synced.returncode == 0, synced.stderr
    assert seen and "open311-sync" in seen[-1]

    worker = subprocess.Popen(
        [*command, "worker", "--sync-every", "0"], env=clean_env(), stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 30
        while "open311-worker" not in names_on(fresh_pg):
            assert time.monotonic() < deadline, names_on(fresh_pg)
            assert worker.poll() is None
            time.sleep(0.2)
    finally:
        worker.terminate()
        worker.wait(timeout=30)
