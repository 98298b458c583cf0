"""SQLite's writers queue on a file lock beside the database, not on SQLite's busy handler.

SQLite lets one writer at a time hold a database. A writer that finds it held sleeps in
SQLite's busy handler for 1, 2, 5, 10, 15, 20, 25, 25, 25, 50, 50 and then 100 ms between
tries, whenever the holder actually let go. The API's workers and the delivery worker write
a few times per report (the report; the claim, start and outcome of its delivery), each
for about a millisecond, so under load most of a POST's time was spent asleep: 48 POSTs a
second with the delivery worker running, 318 without it (`make bench`'s POST on 10,000
reports, 2 sync workers). Here a writer takes an exclusive `flock` on `<database>-writer`
before BEGIN IMMEDIATE and lets go at COMMIT or ROLLBACK. It retries a taken lock every
fraction of a millisecond, so it starts within about that of the holder's end. Writers
outside the gateway (the sqlite3 shell, a backup) do not take this lock; SQLite's own
busy_timeout still queues them, as before.

The wait is bounded as busy_timeout's is (`WAIT_S`); past it the write fails as SQLite's
own does ("database is locked"), which `database_unavailable` answers as 503: try later.
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
import time
from pathlib import Path
from typing import Any

from sqlalchemy.exc import OperationalError

# As long as busy_timeout (db._sqlite_pragmas): a writer waits no longer than SQLite would.
WAIT_S = 30.0
# Between tries of a taken lock: short against a write transaction (about 1 ms), long
# enough that two or three waiting processes cost nothing noticeable in wake-ups.
_FIRST_PAUSE_S = 0.0001
_LONGEST_PAUSE_S = 0.001

_FD = "open311_writer_lock_fd"
_HELD = "open311_writer_lock_held"


def lock_path(database: str) -> Path:
    """The lock file for a SQLite database file."""
    return Path(f"{database}-writer")


def open_lock(info: dict[str, Any], database: str) -> None:
    """Opens the lock file for one new connection (its own open file, so two connections
    in one process queue on each other as two processes do)."""
    info[_FD] = os.open(lock_path(database), os.O_RDWR | os.O_CREAT, 0o600)


def close_lock(info: dict[str, Any]) -> None:
    """Closing the file lets go of the lock too, whatever the connection was doing."""
    fd = info.pop(_FD, None)
    info.pop(_HELD, None)
    if fd is not None:
        os.close(fd)


def acquire(info: dict[str, Any]) -> None:
    """Takes the writers' lock for this connection, waiting at most WAIT_S seconds."""
    fd = info.get(_FD)
    if fd is None or info.get(_HELD):
        return
    deadline = time.monotonic() + WAIT_S
    pause = _FIRST_PAUSE_S
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if time.monotonic() >= deadline:
                # As SQLAlchemy raises SQLite's own timeout of BEGIN IMMEDIATE.
                raise OperationalError(
                    "BEGIN IMMEDIATE", None, sqlite3.OperationalError("database is locked")
                ) from None
            time.sleep(pause)
            pause = min(pause * 2, _LONGEST_PAUSE_S)
            continue
        info[_HELD] = True
        return


def release(info: dict[str, Any]) -> None:
    """Lets go of the writers' lock if this connection holds it."""
    if info.pop(_HELD, False):
        fcntl.flock(info[_FD], fcntl.LOCK_UN)
