"""Database engine and sessions: SQLite file by default, PostgreSQL (psycopg 3) at scale."""

from __future__ import annotations

import os
import select
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, DateTime, Engine, create_engine, event
from sqlalchemy.engine import URL, CursorResult, make_url
from sqlalchemy.exc import (
    ArgumentError,
    DBAPIError,
    DisconnectionError,
    InterfaceError,
    OperationalError,
)
from sqlalchemy.exc import TimeoutError as SATimeoutError
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.types import TypeDecorator

from . import sqlite_writer_lock
from .geo import register_sqlite

DEFAULT_DATABASE_URL = "sqlite:///instance/open311.db"
# Each SQLite connection's page cache, in KiB (_sqlite_pragmas).
SQLITE_CACHE_KIB = 8192


class DatabaseURLError(ValueError):
    """The database URL cannot be used; the message never quotes the URL's password."""


def database_url(explicit: str | None = None) -> str:
    """The URL to use, normalised to psycopg 3 for PostgreSQL, or DatabaseURLError."""
    url = explicit or os.environ.get("OPEN311_DATABASE_URL") or DEFAULT_DATABASE_URL
    # Accept the URLs operators copy from their PostgreSQL provider.
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    parse_url(url)
    return url


def parse_url(url: str) -> URL:
    """SQLAlchemy's URL (percent-encoding decoded), refusing what is not a database URL
    with a message that names the setting and not the password."""
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):
        raise DatabaseURLError(
            "OPEN311_DATABASE_URL (or --database-url) is not a database URL: expected "
            "postgresql://USER:PASSWORD@HOST:PORT/DATABASE or sqlite:////absolute/path.db"
        ) from None
    if parsed.get_backend_name() not in ("sqlite", "postgresql"):
        raise DatabaseURLError(
            f"OPEN311_DATABASE_URL (or --database-url): the gateway runs on sqlite or "
            f"postgresql, not {parsed.get_backend_name()!r}"
        )
    return parsed


def display_url(url: str) -> str:
    """The URL as it may appear in a message or a log line: the password masked."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except (ArgumentError, ValueError):
        return "(unparseable database URL)"


def without_password(text: str, url: str) -> str:
    """A message from a driver or a tool with the URL's password (raw or percent-encoded)
    masked, in case it quotes it."""
    try:
        password = make_url(url).password
    except (ArgumentError, ValueError):
        return text
    if password:
        from urllib.parse import quote, quote_plus

        for form in {str(password), quote(str(password), safe=""), quote_plus(str(password))}:
            text = text.replace(form, "***")
    return text


def make_engine(url: str, application_name: str = "open311", *, autocommit: bool = False) -> Engine:
    """An engine for the URL. On PostgreSQL every connection carries `application_name`
    (pg_stat_activity tells the API, workers and commands apart) unless the URL sets one,
    and with `autocommit` (PostgreSQL only) every connection is in autocommit from the
    start: its pool is for work done in one statement (see Database)."""
    parsed = parse_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        # hide_parameters: error messages and logs must never quote a reporter's data.
        engine = create_engine(parsed, connect_args={"timeout": 30}, hide_parameters=True)
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
        if parsed.database and parsed.database != ":memory:":
            _queue_writers(engine, parsed.database)
        return engine
    # A server that does not answer (host down, network cut) fails the connection after a
    # few seconds instead of holding the request until gunicorn kills the worker.
    connect_args: dict[str, Any] = {}
    if "connect_timeout" not in parsed.query:
        connect_args["connect_timeout"] = 5
    if "application_name" not in parsed.query:
        connect_args["application_name"] = application_name
    engine = create_engine(
        parsed,
        pool_size=5,
        max_overflow=10,
        hide_parameters=True,
        connect_args=connect_args,
        isolation_level="AUTOCOMMIT" if autocommit else None,
    )
    event.listen(engine, "connect", _fresh)
    event.listen(engine, "checkout", _alive)
    return engine


def _fresh(_dbapi_connection: Any, record: Any) -> None:
    record.info["fresh"] = True


def _alive(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
    """A pooled PostgreSQL connection is checked before each use without a round trip
    (pool_pre_ping's SELECT was a fifth of a GET by id): an idle connection has nothing
    to read unless the server closed it (a restart, a fail-over, pg_terminate_backend,
    an idle timeout) or sent a rare asynchronous message. Either way the pool drops it
    and connects again (DisconnectionError). A connection just made is not checked: what
    its handshake left unread is not a sign of anything."""
    if record.info.pop("fresh", False):
        return
    try:
        readable, _, _ = select.select([dbapi_connection.fileno()], [], [], 0)
    except (OSError, ValueError) as exc:  # closed already: no descriptor left
        raise DisconnectionError() from exc
    if readable:
        raise DisconnectionError()


def database_unavailable(exc: BaseException) -> bool:
    """True when `exc` says the database cannot be reached or used right now (server
    down or restarting, connection cut, file unreadable, pool exhausted, SQLite busy past
    its timeout), as opposed to a bug or bad data: the caller should try again later."""
    return isinstance(exc, OperationalError | InterfaceError | SATimeoutError) or (
        isinstance(exc, DBAPIError) and exc.connection_invalidated
    )


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None  # we send BEGIN ourselves (see make_engine)
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA foreign_keys=ON")
    # SQLite's default page cache is 2 MB a connection. A page of the newest 434 reports
    # of a 1,000,000-report file (rows spread over the whole table, and a deeper tree) read
    # in 1.3 ms with it, 0.5 ms with 8 MB (the same 0.4 ms as at 10,000 either way). The
    # cache fills only as pages are read, so this is at most 8 MB per connection.
    cursor.execute(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")
    cursor.close()
    register_sqlite(dbapi_connection)


def _sqlite_begin(conn: Any) -> None:
    # A SQLite transaction that reads and then writes cannot wait for the write lock
    # (it fails at once with "database is locked" when another writer got there first),
    # so writers take the lock up front with BEGIN IMMEDIATE, after queueing for it on
    # the writers' file lock (sqlite_writer_lock.py) when the database is a file.
    options = conn.get_execution_options()
    if options.get("one_statement"):
        return  # its own transaction, as in autocommit (Database.one_statement)
    if not options.get("writer"):
        conn.exec_driver_sql("BEGIN")
        return
    info = conn.connection.info
    sqlite_writer_lock.acquire(info)
    try:
        conn.exec_driver_sql("BEGIN IMMEDIATE")
    except BaseException:
        sqlite_writer_lock.release(info)
        raise


def _queue_writers(engine: Engine, database: str) -> None:
    """Each connection gets its own handle on the writers' lock file. A writer lets go of
    the lock when its connection goes back to the pool, after its COMMIT or ROLLBACK has
    run (the engine's commit and rollback events come just before them, which would let
    the next writer find SQLite's own lock still held); a connection closed or dropped
    lets go with its handle, whatever state it was in."""

    def opened(_dbapi_connection: Any, record: Any) -> None:
        sqlite_writer_lock.open_lock(record.info, database)

    def returned(_dbapi_connection: Any, record: Any) -> None:
        sqlite_writer_lock.release(record.info)

    def closed(_dbapi_connection: Any, record: Any, *_: Any) -> None:
        sqlite_writer_lock.close_lock(record.info)

    event.listen(engine, "connect", opened)
    event.listen(engine.pool, "checkin", returned)
    event.listen(engine.pool, "close", closed)


class Database:
    """An engine and two session factories: readers, and writers that lock up front."""

    def __init__(self, url: str, application_name: str = "open311") -> None:
        self.url = url
        self.engine = make_engine(url, application_name)
        self.read = sessionmaker(self.engine, expire_on_commit=False)
        self.write = sessionmaker(
            self.engine.execution_options(writer=True), expire_on_commit=False
        )
        # Work done in one statement needs no transaction around it: the statement is its
        # own. On SQLite the driver already runs in autocommit (_sqlite_pragmas), and the
        # option tells _sqlite_begin to send no BEGIN (a tenth of a GET by id in-process).
        # Its driver must keep the isolation level _sqlite_pragmas set: SQLAlchemy's
        # AUTOCOMMIT would reset it when the connection returns. On PostgreSQL it is
        # autocommit, so BEGIN and COMMIT cost no round trips, from a pool of its own whose
        # connections are made in autocommit: switching a pooled connection to it and back
        # on every checkout was about 40 of a public read's 300 microseconds of database
        # work. A process holds at most one connection of each pool per thread at a time.
        self._one_statement: Engine
        # Every engine of this database: a listener that must see every statement listens
        # on each.
        self.engines: tuple[Engine, ...]
        if self.dialect == "sqlite":
            self._one_statement = self.engine.execution_options(one_statement=True)
            self.engines = (self.engine,)
        else:
            self._one_statement = make_engine(url, application_name, autocommit=True)
            self.engines = (self.engine, self._one_statement)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def one_statement(self) -> Connection:
        """A connection for work done in a single statement (a key lookup, a new report)."""
        return self._one_statement.connect()

    def dispose(self) -> None:
        for engine in self.engines:
            engine.dispose()


class UTCDateTime(TypeDecorator[datetime]):
    """Stored as naive UTC (SQLite has no time zones), always handed back aware UTC."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        return value.replace(tzinfo=UTC) if value is not None else None


def insert_ignoring_conflicts(
    session: Session | Connection, model: Any, index_elements: list[str]
) -> Any:
    """INSERT … ON CONFLICT DO NOTHING for the dialect in use: concurrent workers may
    insert the same row, and the loser must neither fail nor duplicate it."""
    from sqlalchemy.dialects import postgresql, sqlite

    bind = session if isinstance(session, Connection) else session.get_bind()
    dialect = bind.dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    return insert(model).on_conflict_do_nothing(index_elements=index_elements)


def changed_rows(result: object) -> int:
    """How many rows an UPDATE or DELETE without RETURNING changed. Session.execute types
    every result as a plain Result; for these statements it is a CursorResult, which counts."""
    if not isinstance(result, CursorResult):
        raise TypeError(f"{type(result).__name__} does not count changed rows")
    return result.rowcount


def utcnow() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


class Base(DeclarativeBase):
    pass
