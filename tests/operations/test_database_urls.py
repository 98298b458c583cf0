"""A database URL with any legal percent-encoding works in every command (the migration
at start too), and no message of the command ever shows the password."""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from open311 import DEMO_CONFIG
from open311.db import DatabaseURLError, database_url, parse_url
from open311.migrate import head
from tests.conftest import PG_URL

from .conftest import clean_env, drop_database, needs_pg, open311_command

PASSWORD = "S3cr@t/pw%:?#"  # every character that must be percent-encoded in a URL
ENCODED = "S3cr%40t%2Fpw%25%3A%3F%23"


@pytest.fixture
def encoded_url(pg_admin: Any) -> Iterator[str]:
    """A role whose password needs percent-encoding, owning a fresh database; both dropped."""
    role = f"open311_pw_{uuid.uuid4().hex[:8]}"
    with pg_admin.connect() as conn:
        conn.execute(text(f"CREATE ROLE {role} LOGIN PASSWORD '{PASSWORD}'"))
        conn.execute(text(f'CREATE DATABASE "{role}" OWNER {role}'))
    server = make_url(database_url(PG_URL))
    yield f"postgresql://{role}:{ENCODED}@{server.host}:{server.port or 5432}/{role}"
    drop_database(pg_admin, role)
    with pg_admin.connect() as conn:
        conn.execute(text(f"DROP ROLE IF EXISTS {role}"))


def run(*args: str, url: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*open311_command(), "--database-url", url, *args],
        env=clean_env(OPEN311_DEMO_WORKORDERS_URL="http://127.0.0.1:9"),
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_url_decodes_to_the_password() -> None:
    url = database_url(f"postgres://open311:{ENCODED}@db.internal/open311")
    assert url.startswith("postgresql+psycopg://")
    assert parse_url(url).password == PASSWORD


@needs_pg
def test_every_command_works_with_an_encoded_password(encoded_url: str) -> None:
    assert parse_url(database_url(encoded_url)).password == PASSWORD
    upgraded = run("db", "upgrade", url=encoded_url)  # Alembic's ConfigParser read "%" here
    assert upgraded.returncode == 0, upgraded.stderr
    current = run("db", "current", url=encoded_url)
    assert current.returncode == 0 and current.stdout.strip() == f"{head()} (head)"
    key = run("keys", "create", "app", url=encoded_url)
    assert key.returncode == 0 and key.stdout.startswith("o311_"), key.stderr
    worker = run(
        "--config", str(DEMO_CONFIG), "worker", "--once", "--sync-every", "0", url=encoded_url
    )
    assert worker.returncode == 0, worker.stderr
    listed = run("outbox", "list", url=encoded_url)
    assert listed.returncode == 0, listed.stderr


@pytest.mark.parametrize(
    "url",
    [
        f"postgresql://open311:{ENCODED}@127.0.0.1:9/open311",  # nothing listens: refused
        f"postgresql://open311:{ENCODED}@127.0.0.1:notaport/open311",  # does not parse
        f"mysql://open311:{ENCODED}@127.0.0.1/open311",  # not a database the gateway runs on
    ],
)
def test_a_failing_database_never_shows_the_password(url: str) -> None:
    result = run("db", "upgrade", url=url)
    assert result.returncode == 1
    output = result.stdout + result.stderr
    assert "Traceback" not in output
    assert "OPEN311_DATABASE_URL" in output or "127.0.0.1" in output
    for form in (ENCODED, PASSWORD, "S3cr"):
        assert form not in output, output


def test_a_refused_connection_names_the_server_with_the_password_masked() -> None:
    result = run("db", "current", url=f"postgresql://open311:{ENCODED}@127.0.0.1:9/open311")
    assert "open311:***@127.0.0.1:9/open311" in result.stderr, result.stderr


def test_an_unparseable_url_is_refused_without_quoting_it() -> None:
    with pytest.raises(DatabaseURLError) as caught:
        database_url(f"postgresql://u:{ENCODED}@host:port/db")
    assert "S3cr" not in str(caught.value) and "OPEN311_DATABASE_URL" in str(caught.value)
