"""The Alembic migrations build exactly the schema the models describe, on both databases."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine

from open311.db import Base
from open311.migrate import alembic_config, current, upgrade


def test_migrated_schema_matches_the_models(db_url):
    engine = create_engine(db_url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            diff = compare_metadata(context, Base.metadata)
    finally:
        engine.dispose()
    assert diff == [], diff


def test_upgrade_is_idempotent(db_url):
    before = current(db_url)
    upgrade(db_url)
    assert current(db_url) == before is not None


def test_hosts_starting_together_migrate_once(tmp_path, request):
    """Several `open311 db upgrade` at once on an empty database all succeed."""
    import os
    import subprocess
    import sys
    import uuid

    from sqlalchemy import text
    from sqlalchemy.engine import make_url

    from open311.db import database_url
    from tests.conftest import PG_URL

    urls = [f"sqlite:///{tmp_path}/fresh.db"]
    admin = None
    if PG_URL:
        name = f"open311_mig_{uuid.uuid4().hex[:8]}"
        admin = create_engine(database_url(PG_URL), isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        urls.append(make_url(database_url(PG_URL)).set(database=name).render_as_string(False))
    try:
        for url in urls:
            env = {**os.environ, "OPEN311_DATABASE_URL": url}
            command = [sys.executable, "-m", "open311.cli", "db", "upgrade"]
            runs = [
                subprocess.Popen(command, env=env, stderr=subprocess.PIPE, text=True)
                for _ in range(3)
            ]
            errs = [p.communicate(timeout=120)[1] for p in runs]
            assert [p.returncode for p in runs] == [0, 0, 0], errs
            assert (
                current(url) == ScriptDirectory.from_config(alembic_config(url)).get_current_head()
            )
    finally:
        if admin is not None:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()


def _scratch_copy(tmp_path):
    """The migrations folder copied aside, so a test can write revisions into it."""
    import shutil

    from open311.migrate import MIGRATIONS

    folder = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS, folder, ignore=shutil.ignore_patterns("__pycache__"))
    return folder


def test_make_migration_writes_the_next_numbered_revision(tmp_path):
    """A model change becomes 00NN_<message>.py after the head, and it builds the change."""
    import sqlalchemy as sa

    from open311.migrate import new_revision, next_revision_id

    folder = _scratch_copy(tmp_path)
    before = ScriptDirectory.from_config(alembic_config("sqlite://", folder)).get_current_head()
    number = next_revision_id(folder)
    assert number == f"{int(before) + 1:04d}"
    scratch = sa.Table("scratch_note", Base.metadata, sa.Column("id", sa.Integer, primary_key=True))
    try:
        path = new_revision("a scratch note", folder)
        assert path.name == f"{number}_a_scratch_note.py"
        text_of = path.read_text()
        assert f"revision = '{number}'" in text_of or f'revision = "{number}"' in text_of
        assert f"down_revision = '{before}'" in text_of or f'down_revision = "{before}"' in text_of
        assert "scratch_note" in text_of
        # The new head builds the models' schema, scratch table included.
        url = f"sqlite:///{tmp_path}/new.db"
        upgrade(url, "head", folder)
        engine = create_engine(url)
        try:
            with engine.connect() as connection:
                context = MigrationContext.configure(connection, opts={"compare_type": True})
                assert compare_metadata(context, Base.metadata) == []
        finally:
            engine.dispose()
    finally:
        Base.metadata.remove(scratch)


def test_make_migration_writes_nothing_when_the_models_match_the_head(tmp_path):
    import pytest

    from open311.migrate import NothingToMigrate, new_revision

    folder = _scratch_copy(tmp_path)
    names = sorted(p.name for p in (folder / "versions").glob("*.py"))
    with pytest.raises(NothingToMigrate):
        new_revision("nothing", folder)
    assert sorted(p.name for p in (folder / "versions").glob("*.py")) == names


def test_the_alembic_command_reads_the_gateways_migrations(tmp_path):
    """alembic.ini: `alembic heads` and `alembic upgrade head` on OPEN311_DATABASE_URL."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    from open311.migrate import head

    root = Path(__file__).resolve().parents[2]
    alembic = [sys.executable, "-m", "alembic", "-c", str(root / "alembic.ini")]
    env = {**os.environ, "OPEN311_DATABASE_URL": f"sqlite:///{tmp_path}/cli.db"}
    heads = subprocess.run([*alembic, "heads"], env=env, capture_output=True, text=True)
    assert heads.returncode == 0, heads.stderr
    assert heads.stdout.split() == [head(), "(head)"]
    done = subprocess.run([*alembic, "upgrade", "head"], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert current(env["OPEN311_DATABASE_URL"]) == head()
