"""SQLite's measure of work: the steps of its virtual machine, counted by the progress
handler. Unlike a timing it does not depend on the machine or what else runs on it, so a
test can say "the same work with twice the history" and fail when a query walks it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, event

STEP = 100  # the handler is called every STEP instructions; the counts are in hundreds


@contextmanager
def sqlite_steps(engine: Engine) -> Iterator[list[int]]:
    """The VM steps (in hundreds) of the statements run on `engine` inside the block:
    the block's answer is `counted[0]` once it ends."""
    counted = [0]

    def tick() -> int:
        counted[0] += 1
        return 0  # go on

    counting: list[Any] = []

    def hook(conn: Any, *_: Any) -> None:
        dbapi = conn.connection.dbapi_connection
        dbapi.set_progress_handler(tick, STEP)
        counting.append(dbapi)

    event.listen(engine, "before_cursor_execute", hook)
    try:
        yield counted
    finally:
        event.remove(engine, "before_cursor_execute", hook)
        for dbapi in counting:  # the pool keeps them: stop counting on them
            dbapi.set_progress_handler(None, STEP)
