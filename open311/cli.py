"""The `open311` command: serve, demo, worker, sync, keys, outbox, check-config, db."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import click

from .catalog import ConfigError, load_catalog
from .db import Database, database_url


class Context:
    def __init__(self, database_url_option: str | None, config: str | None) -> None:
        self.database_url = database_url(database_url_option)
        self.config = config

    def settings(self) -> dict[str, Any]:
        out: dict[str, Any] = {"DATABASE_URL": self.database_url}
        if self.config:
            out["CONFIG"] = self.config
        return out

    def database(self) -> Database:
        return Database(self.database_url)


pass_context = click.make_pass_decorator(Context)


@click.group()
@click.option(
    "--database-url",
    envvar="OPEN311_DATABASE_URL",
    help="SQLAlchemy URL. Default: sqlite:///instance/open311.db (relative to the working folder).",
)
@click.option(
    "--config",
    envvar="OPEN311_CONFIG",
    type=click.Path(dir_okay=False),
    help="The gateway's YAML configuration. Default: the bundled demo configuration.",
)
@click.version_option(package_name="open311-gateway")
@click.pass_context
def main(ctx: click.Context, database_url: str | None, config: str | None) -> None:
    """An Open311 GeoReport v2 gateway."""
    ctx.obj = Context(database_url, config)


# --- schema -------------------------------------------------------------------------


@main.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
@pass_context
def db_upgrade(obj: Context) -> None:
    """Create the schema, or bring it up to date."""
    from .migrate import current, upgrade

    upgrade(obj.database_url)
    click.echo(f"schema at revision {current(obj.database_url)}", err=True)


def _ensure_schema(obj: Context) -> None:
    from .migrate import upgrade

    upgrade(obj.database_url)


# --- configuration ------------------------------------------------------------------


@main.command("check-config")
@click.argument("file", type=click.Path(dir_okay=False))
def check_config(file: str) -> None:
    """Validate a configuration file; exit 1 with every problem listed."""
    try:
        catalog = load_catalog(file)
        from .routing import Router

        Router(catalog)
        from .delivery import build_adapters

        build_adapters(catalog)
    except ConfigError as exc:
        click.echo(str(exc), err=True)
        sys.exit(1)
    services = len(catalog.services)
    click.echo(
        f"{file}: OK ({len(catalog.jurisdictions)} jurisdictions, {len(catalog.agencies)} "
        f"agencies, {services} services, {len(catalog.routes)} routes)"
    )


# --- keys ---------------------------------------------------------------------------


@main.group()
def keys() -> None:
    """API keys for apps (submit), agency staff (staff) and administrators (admin)."""


@keys.command("create")
@click.argument("name")
@click.option("--role", type=click.Choice(["submit", "staff", "admin"]), default="submit")
@click.option("--agency", help="The agency a staff key works for.")
@pass_context
def keys_create(obj: Context, name: str, role: str, agency: str | None) -> None:
    """Create a key and print it (it is shown only this once)."""
    from .keys import create_key

    _ensure_schema(obj)
    database = obj.database()
    try:
        with database.write() as session, session.begin():
            key = create_key(session, name, role, agency)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        database.dispose()
    click.echo(key)


@keys.command("list")
@pass_context
def keys_list(obj: Context) -> None:
    """Name, role, agency, prefix, created and revoked dates."""
    from .keys import list_keys

    _ensure_schema(obj)
    database = obj.database()
    with database.read() as session:
        rows = list_keys(session)
    database.dispose()
    for row in rows:
        revoked = f"revoked {row.revoked_at:%Y-%m-%d}" if row.revoked_at else "active"
        click.echo(
            f"{row.name}\t{row.role}\t{row.agency or '-'}\t{row.prefix}…\t"
            f"created {row.created_at:%Y-%m-%d}\t{revoked}"
        )


@keys.command("revoke")
@click.argument("name")
@pass_context
def keys_revoke(obj: Context, name: str) -> None:
    """Revoke a key at once."""
    from .keys import revoke_key

    _ensure_schema(obj)
    database = obj.database()
    with database.write() as session, session.begin():
        done = revoke_key(session, name)
    database.dispose()
    if not done:
        raise click.ClickException(f"no active key named {name!r}")
    click.echo(f"revoked {name}", err=True)


# --- serving ------------------------------------------------------------------------


def _serve(settings: dict[str, Any], host: str, port: int, workers: int, threads: int) -> None:
    from .server import run_gunicorn

    run_gunicorn(settings, host=host, port=port, workers=workers, threads=threads)


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8311, show_default=True, type=int)
@click.option("--workers", default=2, show_default=True, type=int, help="gunicorn worker processes")
@click.option("--threads", default=1, show_default=True, type=int, help="threads per worker")
@click.option(
    "--with-worker/--no-worker",
    default=None,
    help="Also deliver and sync in this process group. Default: on for SQLite, off otherwise.",
)
@pass_context
def serve(
    obj: Context, host: str, port: int, workers: int, threads: int, with_worker: bool | None
) -> None:
    """Serve the gateway with gunicorn."""
    _ensure_schema(obj)
    _check(obj)
    embedded = obj.database_url.startswith("sqlite")
    helper = _start_worker(obj) if (with_worker if with_worker is not None else embedded) else None
    try:
        _serve(obj.settings(), host, port, workers, threads)
    finally:
        if helper is not None:
            helper.terminate()
            helper.wait(timeout=10)


def _check(obj: Context) -> None:
    from . import config_path

    try:
        catalog = load_catalog(config_path(obj.config))
        from .delivery import build_adapters
        from .routing import Router

        Router(catalog)
        build_adapters(catalog)
    except ConfigError as exc:
        click.echo(str(exc), err=True)
        sys.exit(1)


def _start_worker(obj: Context, extra_env: dict[str, str] | None = None) -> Any:
    import subprocess

    env = {**os.environ, "OPEN311_DATABASE_URL": obj.database_url, **(extra_env or {})}
    if obj.config:
        env["OPEN311_CONFIG"] = str(Path(obj.config).resolve())
    return subprocess.Popen(
        [sys.executable, "-m", "open311.cli", "worker", "--sync-every", "5"], env=env
    )


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8311, show_default=True, type=int)
@click.option("--workorders-port", default=8312, show_default=True, type=int)
@pass_context
def demo(obj: Context, host: str, port: int, workorders_port: int) -> None:
    """Serve the bundled demo: New Haven, its housing authority, Hamden and West Haven."""
    import subprocess

    from .keys import create_key

    _ensure_schema(obj)
    workorders_url = f"http://127.0.0.1:{workorders_port}"
    token = os.environ.get("OPEN311_DEMO_WORKORDERS_TOKEN", "demo-workorders-token")
    os.environ["OPEN311_DEMO_WORKORDERS_URL"] = workorders_url
    os.environ["OPEN311_DEMO_WORKORDERS_TOKEN"] = token
    simulator = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "open311.demo.simulator",
            "--port",
            str(workorders_port),
            "--token",
            token,
            "--auto-close-after",
            "60",
        ]
    )
    database = obj.database()
    name = f"demo-{os.getpid()}"
    with database.write() as session, session.begin():
        key = create_key(session, name)
    database.dispose()
    base = f"http://{host}:{port}/open311/v2"
    click.echo(f"open311 demo gateway: {base}")
    click.echo(f"  discovery:   {base}/discovery.json")
    click.echo(f"  submit key:  {key}")
    click.echo(f"  docs:        http://{host}:{port}/docs")
    click.echo(f"  simulated city work-order system: {workorders_url}/")
    worker = _start_worker(obj)
    try:
        _serve(obj.settings(), host, port, 2, 1)
    finally:
        for child in (worker, simulator):
            child.terminate()
            child.wait(timeout=10)


if __name__ == "__main__":
    main()
