"""Schema creation and upgrades with Alembic, run by the CLI (never at import time)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import text

from .db import make_engine

MIGRATIONS = Path(__file__).parent / "migrations"
LOCK_KEY = 311_0001  # any constant unique to this application


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url)
    return config


def upgrade(url: str, revision: str = "head") -> None:
    engine = make_engine(url)
    try:
        # writer=True: on SQLite, BEGIN IMMEDIATE serialises concurrent migrators.
        with engine.execution_options(writer=True).begin() as connection:
            if connection.dialect.name == "postgresql":
                # Several hosts may start `open311 serve`/`worker` at once: one migrates,
                # the others wait for it and then find nothing left to do.
                connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": LOCK_KEY})
            config = alembic_config(url)
            config.attributes["connection"] = connection
            command.upgrade(config, revision)
    finally:
        engine.dispose()


def current(url: str) -> str | None:
    from alembic.runtime.migration import MigrationContext

    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    finally:
        engine.dispose()
