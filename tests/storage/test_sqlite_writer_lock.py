"""SQLite's writers queue on the gateway's file lock (open311/sqlite_writer_lock.py), so a
writer waits for the one before it however short SQLite's own busy wait is, and the lock
is let go however a transaction ends."""

from __future__ import annotations

import fcntl
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import event, text
from sqlalchemy.exc import OperationalError

from open311 import sqlite_writer_lock
from open311.db import Database, database_unavailable


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "gateway.db"


@pytest.fixture
def db(path: Path) -> Iterator[Database]:
    database = Database(f"sqlite:///{path}")
    with database.write() as session, session.begin():
        session.execute(text("CREATE TABLE t (x INTEGER)"))
    yield database
    database.dispose()


def lock_is_free(path: Path) -> bool:
    """Whether another handle (as another process would hold) can take the lock now."""
    fd = os.open(sqlite_writer_lock.lock_path(str(path)), os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    finally:
        os.close(fd)
    return True


def impatient(path: Path) -> Database:
    """A second gateway process's database whose SQLite busy wait is zero: without the
    file lock, its BEGIN IMMEDIATE fails at once while another writer holds SQLite."""
    other = Database(f"sqlite:///{path}")

    @event.listens_for(other.engine, "connect")
    def no_busy_wait(dbapi_connection: object, _record: object) -> None:
        dbapi_connection.execute("PRAGMA busy_timeout=0")  # type: ignore[attr-defined]

    return other


def test_a_writer_holds_the_lock_until_its_connection_is_back(db: Database, path: Path) -> None:
    with db.write() as session, session.begin():
        session.execute(text("INSERT INTO t VALUES (1)"))
        assert not lock_is_free(path)
    assert lock_is_free(path)


def test_a_writer_that_fails_lets_go(db: Database, path: Path) -> None:
    with pytest.raises(RuntimeError), db.write() as session, session.begin():
        session.execute(text("INSERT INTO t VALUES (1)"))
        raise RuntimeError("the request failed half-way")
    assert lock_is_free(path)
    with db.read() as session:
        assert session.scalar(text("SELECT count(*) FROM t")) == 0


def handles_on_the_lock(path: Path) -> int:
    """How many of this process's open files are the lock file."""
    lock = str(sqlite_writer_lock.lock_path(str(path)))
    return sum(
        1 for fd in os.listdir("/proc/self/fd") if os.path.realpath(f"/proc/self/fd/{fd}") == lock
    )


def test_a_dropped_connection_lets_go_and_closes_its_handle(db: Database, path: Path) -> None:
    session = db.write()
    session.begin()
    session.execute(text("INSERT INTO t VALUES (1)"))
    before = handles_on_the_lock(path)
    session.connection().invalidate()
    assert lock_is_free(path)
    assert handles_on_the_lock(path) == before - 1
    session.close()
    db.dispose()
    assert handles_on_the_lock(path) == 0


def test_readers_do_not_take_the_lock(db: Database, path: Path) -> None:
    with db.read() as session:
        session.scalar(text("SELECT count(*) FROM t"))
        assert lock_is_free(path)


def test_a_second_writer_waits_for_the_first_instead_of_failing(db: Database, path: Path) -> None:
    other = impatient(path)
    holding = threading.Event()
    outcome: list[object] = []

    def second() -> None:
        holding.wait()
        try:
            with other.write() as session, session.begin():
                session.execute(text("INSERT INTO t VALUES (2)"))
            outcome.append("written")
        except OperationalError as exc:
            outcome.append(exc)

    thread = threading.Thread(target=second)
    thread.start()
    try:
        with db.write() as session, session.begin():
            session.execute(text("INSERT INTO t VALUES (1)"))
            holding.set()
            time.sleep(0.3)  # the second writer is queued by now
            assert outcome == []
        thread.join(10)
        assert outcome == ["written"]
        with db.read() as session:
            assert session.scalars(text("SELECT x FROM t ORDER BY rowid")).all() == [1, 2]
    finally:
        other.dispose()


def test_a_writer_gives_up_after_the_wait_as_sqlite_would(
    db: Database, path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sqlite_writer_lock, "WAIT_S", 0.2)
    other = impatient(path)
    try:
        with db.write() as session, session.begin():
            session.execute(text("INSERT INTO t VALUES (1)"))
            with (
                pytest.raises(OperationalError, match="database is locked") as raised,
                other.write() as late,
                late.begin(),
            ):
                late.execute(text("INSERT INTO t VALUES (2)"))
            assert database_unavailable(raised.value)
        with other.write() as session, session.begin():
            session.execute(text("INSERT INTO t VALUES (3)"))
        with db.read() as session:
            assert session.scalars(text("SELECT x FROM t ORDER BY rowid")).all() == [1, 3]
    finally:
        other.dispose()
