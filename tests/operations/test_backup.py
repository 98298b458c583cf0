"""`open311 db backup` / `db restore` on both databases: the restore brings the data
back, the file is 0600, and a failed backup leaves no file behind."""

from __future__ import annotations

import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .conftest import clean_env, needs_pg, open311_command


def run(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*open311_command(), "--database-url", url, *args],
        env=clean_env(), capture_output=True, text=True, timeout=120,
    )  # fmt: skip


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=needs_pg)])
def two_databases(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, str]]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/live.db", f"sqlite:///{tmp_path}/restored/x.db"
        return
    first = request.getfixturevalue("fresh_pg")
    second = request.getfixturevalue("second_pg")
    yield first, second


@pytest.fixture
def second_pg(pg_admin: Any) -> Iterator[str]:
    import uuid

    from sqlalchemy import text
    from sqlalchemy.engine import make_url

    from open311.db import database_url
    from tests.conftest import PG_URL, drop_database

    name = f"open311_restore_{uuid.uuid4().hex[:8]}"
    with pg_admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    yield make_url(database_url(PG_URL)).set(database=name).render_as_string(False)
    drop_database(pg_admin, name)


def test_backup_then_restore_brings_the_data_back(
    two_databases: tuple[str, str], tmp_path: Path
) -> None:
    live, fresh = two_databases
    assert run(live, "keys", "create", "kept-app").returncode == 0
    target = tmp_path / "open311.backup"
    made = run(live, "db", "backup", str(target))
    assert made.returncode == 0, made.stderr
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []

    assert run(fresh, "db", "restore", str(target)).returncode == 2  # without --yes
    restored = run(fresh, "db", "restore", "--yes", str(target))
    assert restored.returncode == 0, restored.stderr
    listed = run(fresh, "keys", "list")
    assert listed.returncode == 0 and "kept-app\tsubmit" in listed.stdout, listed.stderr
    current = run(fresh, "db", "current")
    assert current.returncode == 0 and "(head)" in current.stdout


def test_a_failed_backup_leaves_no_file(tmp_path: Path) -> None:
    target = tmp_path / "nope.backup"
    failed = run("postgresql://open311:S3cr%40t@127.0.0.1:9/open311", "db", "backup", str(target))
    assert failed.returncode == 1 and "S3cr" not in failed.stderr
    assert list(tmp_path.iterdir()) == []


@needs_pg
def test_a_failed_pg_dump_leaves_no_file(tmp_path: Path, fresh_pg: str) -> None:
    from sqlalchemy.engine import make_url

    # A 1 ms statement timeout makes the dump (or its version query) fail part-way.
    wrong = make_url(fresh_pg).update_query_dict({"options": "-c statement_timeout=1"})
    target = tmp_path / "x.backup"
    failed = run(wrong.render_as_string(False), "db", "backup", str(target))
    assert failed.returncode == 1, failed.stderr
    assert list(tmp_path.iterdir()) == []
