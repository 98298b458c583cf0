"""Alembic environment: the gateway's models, batch mode for SQLite's limited ALTER."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from open311 import models  # noqa: F401  (registers the tables on Base.metadata)
from open311.db import Base, database_url, make_engine

config = context.config


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=True,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:
    # migrate.alembic_config sets the URL; the `alembic` command alone reads the gateway's own.
    engine = make_engine(database_url(config.get_main_option("sqlalchemy.url")))
    with engine.connect() as conn:
        _run(conn)
    engine.dispose()
