"""Shared fixtures: a real database (a SQLite file always, PostgreSQL when
OPEN311_TEST_DATABASE_URL is set), the app on it, keys, and both formats."""

from __future__ import annotations

import copy
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from open311 import create_app
from open311.db import Base, Database, database_url
from open311.keys import create_key
from open311.migrate import upgrade

pytest_plugins = ["tests.support.plugin", "tests.support.browser"]

PG_URL = os.environ.get("OPEN311_TEST_DATABASE_URL")
BACKENDS = ["sqlite"] + (["postgresql"] if PG_URL else [])


@pytest.fixture(scope="session", autouse=True)
def _startup_memos() -> Iterator[None]:
    """The suite builds thousands of apps from a handful of files: YAML the tests parse
    themselves (the OpenAPI description, 244 ms a time) is remembered by its text, parsed
    once and handed out as a deep copy (a parse error is not remembered: it is raised
    each time). create_app's own look-ups are quick without help: the configuration
    parses with libyaml (open311/yaml_text.py) and the adapter registry scans the
    installed distributions once (adapters/registry.py)."""
    parse = yaml.safe_load
    parsed: dict[str, Any] = {}

    def safe_load(stream: Any) -> Any:
        if not isinstance(stream, str):
            return parse(stream)
        if stream not in parsed:
            parsed[stream] = parse(stream)
        return copy.deepcopy(parsed[stream])

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(yaml, "safe_load", safe_load)
        yield


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Migrate once; each test gets a copy of the migrated file."""
    path = tmp_path_factory.mktemp("template") / "template.db"
    upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """A throw-away database on the test server, migrated once, dropped at the end."""
    assert PG_URL is not None
    admin_url = database_url(PG_URL)
    name = f"open311_test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
        # A commit waits for its WAL to reach the disk only for durability across a crash
        # of the server, which a throw-away database does not need: commits still become
        # visible to every other session at once (a commit there is ~4 ms -> ~1 ms).
        conn.execute(text(f'ALTER DATABASE "{name}" SET synchronous_commit = off'))
    url = make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    upgrade(url)
    yield url
    drop_database(admin, name)
    admin.dispose()


def drop_database(admin: Any, name: str) -> None:
    """Drop a throw-away database, ending any connection a child process left open."""
    with admin.connect() as conn:
        conn.execute(
            text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = :name AND pid <> pg_backend_pid()"
            ),
            {"name": name},
        )
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))


def _empty_pg(url: str) -> None:
    """What TRUNCATE ... RESTART IDENTITY did, without its cost (new files for every table
    and index, and a synchronous commit: 45 ms a test, far more on a loaded machine): every
    row deleted, children first, and every sequence used taken back to its start."""
    engine = create_engine(url)
    with engine.begin() as conn:
        for table in reversed(Base.metadata.sorted_tables):
            conn.execute(table.delete())
        conn.execute(
            text(
                "SELECT setval(format('%I.%I', schemaname, sequencename), start_value, false) "
                "FROM pg_sequences WHERE schemaname = current_schema() AND last_value IS NOT NULL"
            )
        )
    engine.dispose()


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        path = tmp_path / "open311.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        return f"sqlite:///{path}"
    url = request.getfixturevalue("pg_database")
    _empty_pg(url)
    return url


@pytest.fixture
def settings(db_url: str) -> dict[str, Any]:
    """Override in a test module to point at another configuration."""
    return {"DATABASE_URL": db_url, "TESTING": True}


@pytest.fixture
def app(settings: dict[str, Any]) -> Iterator[Any]:
    application = create_app(settings)
    yield application
    application.extensions["open311"].db.dispose()


@pytest.fixture
def client(app: Any) -> Any:
    return app.test_client()


@pytest.fixture
def database(app: Any) -> Database:
    return app.extensions["open311"].db


def make_key(app: Any, name: str, role: str = "submit", agency: str | None = None) -> str:
    with app.extensions["open311"].db.write() as session, session.begin():
        return create_key(session, name, role, agency)


@pytest.fixture
def submit_key(app: Any) -> str:
    return make_key(app, f"app-{uuid.uuid4().hex[:6]}")


@pytest.fixture(params=["json", "xml"])
def fmt(request: pytest.FixtureRequest) -> str:
    return request.param
