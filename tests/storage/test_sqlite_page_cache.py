"""Every SQLite connection of the gateway has an 8 MB page cache (db._sqlite_pragmas):
with SQLite's default 2 MB, the newest page of a 1,000,000-report file read 2.6 times
slower than with it (docs/deployment.md, the bench's 'why the misses')."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import text

from open311.db import SQLITE_CACHE_KIB, Database


def test_each_connection_has_the_larger_page_cache(tmp_path: Path) -> None:
    database = Database(f"sqlite:///{tmp_path / 'cache.db'}")
    try:
        with database.one_statement() as first, database.engine.connect() as second:
            for conn in (first, second):
                assert conn.execute(text("PRAGMA cache_size")).scalar_one() == -SQLITE_CACHE_KIB
        with database.write() as session, session.begin():
            assert session.execute(text("PRAGMA cache_size")).scalar_one() == -SQLITE_CACHE_KIB
    finally:
        database.dispose()
