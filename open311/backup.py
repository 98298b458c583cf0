"""`open311 db backup FILE` and `open311 db restore FILE`: the SQLite online backup API on
SQLite, pg_dump/pg_restore (of the server's major version) on PostgreSQL.

A backup holds personal data: the file is created 0600, written under a temporary name
and renamed only when complete, so a failed backup leaves no empty or partial file."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
from pathlib import Path

from sqlalchemy import text

from .db import make_engine, parse_url, without_password


class BackupError(Exception):
    """The backup or restore failed; the message never quotes the database password."""


def _private_temp(target: Path) -> Path:
    temp = target.with_name(f".{target.name}.partial-{os.getpid()}")
    os.close(os.open(temp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
    return temp


def _pg_tool(url: str, tool: str) -> str:
    """The tool of the server's major version (Debian keeps one per version)."""
    engine = make_engine(url, "open311-cli")
    try:
        with engine.connect() as conn:
            major = int(conn.scalar(text("SHOW server_version_num")) or 0) // 10000
    finally:
        engine.dispose()
    own = Path(f"/usr/lib/postgresql/{major}/bin/{tool}")
    found = str(own) if own.exists() else shutil.which(tool)
    if not found:
        raise BackupError(f"{tool} not found (install postgresql-client-{major})")
    return found


def _libpq(url: str) -> tuple[str, dict[str, str]]:
    """A libpq URL without the password, and the environment that carries it (a command
    line is visible to every user of the host)."""
    parsed = parse_url(url)
    env = dict(os.environ)
    if parsed.password:
        env["PGPASSWORD"] = str(parsed.password)
    plain = parsed.set(drivername="postgresql", password=None)
    return plain.render_as_string(hide_password=False), env


def _run(command: list[str], env: dict[str, str], url: str) -> None:
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise BackupError(without_password(done.stderr.strip() or f"exit {done.returncode}", url))


def backup(url: str, target: Path) -> None:
    target = Path(target)
    if not target.parent.is_dir():
        raise BackupError(f"no folder {target.parent}")
    temp = _private_temp(target)
    try:
        parsed = parse_url(url)
        if parsed.get_backend_name() == "sqlite":
            source = sqlite3.connect(str(parsed.database))
            copy = sqlite3.connect(temp)
            try:
                source.backup(copy)
            finally:
                copy.close()
                source.close()
        else:
            dbname, env = _libpq(url)
            _run([_pg_tool(url, "pg_dump"), "-Fc", "--no-owner", f"--file={temp}",
                  f"--dbname={dbname}"], env, url)  # fmt: skip
        os.replace(temp, target)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise


def restore(url: str, source: Path) -> None:
    """Into the database of the URL (best an empty one; stop the gateway first)."""
    source = Path(source)
    if not source.is_file():
        raise BackupError(f"no backup file {source}")
    parsed = parse_url(url)
    if parsed.get_backend_name() == "sqlite":
        Path(str(parsed.database)).parent.mkdir(parents=True, exist_ok=True)
        saved = sqlite3.connect(source)
        live = sqlite3.connect(str(parsed.database))
        try:
            saved.backup(live)
        finally:
            live.close()
            saved.close()
        return
    dbname, env = _libpq(url)
    _run([_pg_tool(url, "pg_restore"), "--no-owner", "--clean", "--if-exists",
          "--single-transaction", "--exit-on-error", f"--dbname={dbname}", str(source)],
         env, url)  # fmt: skip
