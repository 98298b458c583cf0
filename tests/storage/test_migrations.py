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
