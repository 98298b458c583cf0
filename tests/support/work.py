"""A query's work, measured the way each database can say it without a clock: SQLite's
virtual machine steps (tests/support/sqlite_steps.py), PostgreSQL's rows read from one
table by the statement's plan (EXPLAIN ANALYZE). Tests compare the two figures with more
history and fail when a query walks it."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from sqlalchemy import Select, text

from .sqlite_steps import sqlite_steps


def rows_read(database: Any, statement: Select[Any], table: str) -> int:
    """PostgreSQL: the rows of `table` the statement's plan reads, those its filters threw
    away included (the statement runs in a transaction rolled back)."""
    with database.write() as session, session.begin():
        session.execute(text("ANALYZE"))
    sql = str(statement.compile(database.engine, compile_kwargs={"literal_binds": True}))
    with database.write() as session, session.begin():
        raw = session.execute(text(f"EXPLAIN (ANALYZE, FORMAT JSON) {sql}")).scalar_one()
        session.rollback()
    plan = (raw if isinstance(raw, list) else json.loads(raw))[0]["Plan"]

    def read(node: dict[str, Any]) -> int:
        own = 0
        if node.get("Relation Name") == table and node.get("Node Type") != "ModifyTable":
            loops = node.get("Actual Loops", 1)
            own = (node["Actual Rows"] + node.get("Rows Removed by Filter", 0)) * loops
        return own + sum(read(child) for child in node.get("Plans", []))

    return read(plan)


def work_of(
    database: Any, db_url: str, statement: Select[Any], run: Callable[[], Any], *, table: str
) -> tuple[int, Any]:
    """The work of `run` (which runs `statement`): the rows of `table` read on PostgreSQL,
    VM steps (hundreds) on SQLite; and what `run` answered."""
    if db_url.startswith("postgresql"):
        return rows_read(database, statement, table), run()
    with sqlite_steps(database.engine) as counted:
        answered = run()
    return counted[0], answered
