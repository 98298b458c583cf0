"""A throw-away PostgreSQL database for one benchmark run, if a server answers."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from open311.db import database_url

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/test"


def find_server() -> tuple[str, str] | None:
    """(admin URL, server version) of OPEN311_BENCH_DATABASE_URL or the local default."""
    url = database_url(os.environ.get("OPEN311_BENCH_DATABASE_URL") or DEFAULT_URL)
    if not url.startswith("postgresql"):
        return None
    engine = create_engine(url, connect_args={"connect_timeout": 3})
    try:
        with engine.connect() as conn:
            version = str(conn.execute(text("SHOW server_version")).scalar())
    except Exception:  # no server, refused, bad password: the bench runs without it
        return None
    finally:
        engine.dispose()
    return url, version


@contextmanager
def throwaway_database(
    admin_url: str, label: str, template: str | None = None, keep: bool = False
) -> Iterator[str]:
    """A new database (a copy of `template` when given), dropped on the way out unless
    `keep` (then the caller drops it: `make bench --keep` prints its name)."""
    name = f"bench_{label}_{uuid.uuid4().hex[:8]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        # Names are ours (label and hex), never user input, so quoting them is enough.
        copy = f' TEMPLATE "{template}"' if template else ""
        conn.execute(text(f'CREATE DATABASE "{name}"{copy}'))
    try:
        yield make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    finally:
        if not keep:
            with admin.connect() as conn:
                # A worker that outlived its run must not keep the database from being
                # dropped.
                conn.execute(
                    text(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE datname = :name AND pid <> pg_backend_pid()"
                    ),
                    {"name": name},
                )
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        admin.dispose()
