"""Fresh databases for the benchmark runs, SQLite files or throw-away PostgreSQL
databases, and cheap copies of a seeded one (so 2,000 reports are queued only once)."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Protocol

from sqlalchemy import create_engine
from sqlalchemy.engine import make_url

from .pg import throwaway_database


class Databases(Protocol):
    label: str

    def fresh(self, name: str) -> AbstractContextManager[str]: ...

    def copy(self, url: str, name: str) -> AbstractContextManager[str]: ...


class SqliteDatabases:
    label = "sqlite"

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    @contextmanager
    def fresh(self, name: str) -> Iterator[str]:
        path = self.folder / f"{name}-{time.time_ns()}.db"
        yield f"sqlite:///{path}"

    @contextmanager
    def copy(self, url: str, name: str) -> Iterator[str]:
        source = Path(make_url(url).database or "")
        # Fold the write-ahead log into the file first, so the copy is the whole database.
        engine = create_engine(url)
        with engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        engine.dispose()
        path = self.folder / f"{name}-{time.time_ns()}.db"
        shutil.copyfile(source, path)
        yield f"sqlite:///{path}"


class PostgresDatabases:
    label = "postgresql"

    def __init__(self, admin_url: str, keep: bool = False) -> None:
        self.admin_url = admin_url
        self.keep = keep

    def fresh(self, name: str) -> AbstractContextManager[str]:
        return throwaway_database(self.admin_url, name, keep=self.keep)

    def copy(self, url: str, name: str) -> AbstractContextManager[str]:
        template = make_url(url).database
        assert template is not None
        return throwaway_database(self.admin_url, name, template=template)
