"""Schema creation and upgrades with Alembic, run by the CLI (never at import time)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import text

from .db import make_engine

MIGRATIONS = Path(__file__).parent / "migrations"
LOCK_KEY = 311_0001  # any constant unique to this application


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    # Alembic keeps options in a ConfigParser, which reads "%" as interpolation: a
    # percent-encoded password (S3cr%40t) must be escaped or it fails and is quoted.
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(url: str, revision: str = "head") -> None:
    _migrate(url, revision, command.upgrade)


def downgrade(url: str, revision: str) -> None:
    """Back to an older revision, for a release whose notes say its migration has one."""
    _migrate(url, revision, command.downgrade)


def _migrate(url: str, revision: str, step: Any) -> None:
    engine = make_engine(url, "open311-migrate")
    try:
        # writer=True: on SQLite, BEGIN IMMEDIATE serialises concurrent migrators.
        with engine.execution_options(writer=True).begin() as connection:
            if connection.dialect.name == "postgresql":
                # Several hosts may start `open311 serve`/`worker` at once: one migrates,
                # the others wait for it and then find nothing left to do.
                connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": LOCK_KEY})
            config = alembic_config(url)
            config.attributes["connection"] = connection
            step(config, revision)
    finally:
        engine.dispose()


def current(url: str) -> str | None:
    from alembic.runtime.migration import MigrationContext

    engine = make_engine(url, "open311-migrate")
    try:
        with engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    finally:
        engine.dispose()


def head() -> str | None:
    """The newest revision this version of the gateway knows."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()
