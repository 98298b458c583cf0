"""The `open311` command: serve, demo, worker, sync, keys, outbox, check-config, db, seed,
import."""

from __future__ import annotations

import json
import logging
import os
import secrets
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import click

from .catalog import ConfigError
from .db import Database, DatabaseURLError, database_url, display_url, without_password
from .logs import LOG_FORMATS, configure_logging
from .outbox import MIN_LEASE_SECONDS

T = TypeVar("T")


class Context:
    def __init__(self, database_url_option: str | None, config: str | None) -> None:
        self.database_url = database_url(database_url_option)
        self.config = config

    def settings(self) -> dict[str, Any]:
        out: dict[str, Any] = {"DATABASE_URL": self.database_url}
        if self.config:
            out["CONFIG"] = self.config
        return out

    def database(self, application_name: str = "open311-cli") -> Database:
        return Database(self.database_url, application_name)

    @contextmanager
    def connected(self, application_name: str = "open311-cli") -> Iterator[Database]:
        """The database, migrated to head, and disposed of however the command ends."""
        _ensure_schema(self)
        database = self.database(application_name)
        try:
            yield database
        finally:
            database.dispose()

    def write(
        self,
        action: Callable[..., T],
        *args: Any,
        refused: type[Exception] | tuple[type[Exception], ...] = (),
        **kwargs: Any,
    ) -> T:
        """`action(session, …)` in one write transaction; an exception of a `refused`
        type (the rule said no: a taken name, a weak password) ends the command in its
        message."""
        try:
            with self.connected() as database, database.write() as session, session.begin():
                return action(session, *args, **kwargs)
        except refused as exc:
            raise click.ClickException(str(exc)) from exc

    def read(self, action: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """`action(session, …)` on a read session."""
        with self.connected() as database, database.read() as session:
            return action(session, *args, **kwargs)


pass_context = click.make_pass_decorator(Context)


class _Main(click.Group):
    """Failures an operator causes (no or a bad configuration, a database URL that does not
    parse or does not connect) end in one clear line, never a traceback, and never with
    the database password in it."""

    def invoke(self, ctx: click.Context) -> Any:
        from sqlalchemy.exc import DBAPIError

        try:
            return super().invoke(ctx)
        except (ConfigError, DatabaseURLError) as exc:
            raise click.ClickException(str(exc)) from None
        except DBAPIError as exc:
            url = ctx.obj.database_url if isinstance(ctx.obj, Context) else ""
            reason = str(exc.orig if exc.orig is not None else exc).strip()
            raise click.ClickException(
                without_password(f"database {display_url(url)}: {reason}", url)
            ) from None


@click.group(cls=_Main)
@click.option(
    "--database-url",
    envvar="OPEN311_DATABASE_URL",
    help="SQLAlchemy URL. Default: sqlite:///instance/open311.db (relative to the working folder).",
)
@click.option(
    "--config",
    envvar="OPEN311_CONFIG",
    type=click.Path(dir_okay=False),
    help="The gateway's YAML configuration. Required by every command that serves, delivers "
    "or checks agencies; only `open311 demo` uses the bundled demo configuration.",
)
@click.option(
    "--log-format",
    envvar="OPEN311_LOG_FORMAT",
    type=click.Choice(LOG_FORMATS),
    default="text",
    show_default=True,
    help="Log lines on stderr: text, or one JSON object per line.",
)
@click.option(
    "--log-level",
    envvar="OPEN311_LOG_LEVEL",
    type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"], case_sensitive=False),
    default="INFO",
    show_default=True,
)
@click.version_option(package_name="open311-gateway")
@click.pass_context
def main(
    ctx: click.Context,
    database_url: str | None,
    config: str | None,
    log_format: str,
    log_level: str,
) -> None:
    """An Open311 GeoReport v2 gateway."""
    ctx.obj = Context(database_url, config)
    # Every process logs the same way (redacted); the processes it starts (gunicorn's
    # workers, the delivery worker, the simulator) inherit the choice.
    configure_logging(log_level, log_format)
    os.environ["OPEN311_LOG_FORMAT"] = log_format
    os.environ["OPEN311_LOG_LEVEL"] = log_level.upper()


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


@db.command("current")
@pass_context
def db_current(obj: Context) -> None:
    """Print the schema revision of the database, and whether it is this version's head."""
    from .migrate import current, head

    revision, newest = current(obj.database_url), head()
    if revision is None:
        click.echo(f"no schema (this version's head is {newest}): run `open311 db upgrade`")
        sys.exit(1)
    note = "head" if revision == newest else f"not head: this version's head is {newest}"
    click.echo(f"{revision} ({note})")


@db.command("backup")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@pass_context
def db_backup(obj: Context, file: Path) -> None:
    """Back the database up to FILE (0600; it holds personal data), online."""
    from .backup import BackupError, backup

    try:
        backup(obj.database_url, file)
    except BackupError as exc:
        raise click.ClickException(f"backup failed, nothing written: {exc}") from None
    click.echo(f"backed up to {file}", err=True)


@db.command("restore")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--yes", is_flag=True, help="Do it: the database's content is replaced.")
@pass_context
def db_restore(obj: Context, file: Path, yes: bool) -> None:
    """Restore FILE (made by `db backup`) into the database; stop the gateway first."""
    from .backup import BackupError, restore

    if not yes:
        raise click.UsageError("a restore replaces the database's content; add --yes")
    try:
        restore(obj.database_url, file)
    except BackupError as exc:
        raise click.ClickException(f"restore failed: {exc}") from None
    click.echo(f"restored {file}", err=True)


@db.command("downgrade")
@click.argument("revision")
@click.option("--yes", is_flag=True, help="Do it: a downgrade may drop tables and columns.")
@pass_context
def db_downgrade(obj: Context, revision: str, yes: bool) -> None:
    """Take the schema back to REVISION (only when a release's notes say to)."""
    from .migrate import current, downgrade

    if not yes:
        raise click.UsageError(
            "a downgrade can drop data; back up first (`open311 db backup FILE`), then add --yes"
        )
    downgrade(obj.database_url, revision)
    click.echo(f"schema at revision {current(obj.database_url)}", err=True)


def _ensure_schema(obj: Context) -> None:
    from .migrate import upgrade

    upgrade(obj.database_url)


# --- configuration ------------------------------------------------------------------


def _parts(file: str | None, *, demo: bool = False) -> Any:
    """Everything start-up builds from the configuration (startup.build_parts), or exit 1
    with every problem listed."""
    from . import config_path
    from .startup import build_parts

    try:
        return build_parts(config_path(file, demo=demo))
    except ConfigError as exc:
        click.echo(str(exc), err=True)
        sys.exit(1)


def _load(file: str | None) -> tuple[Any, dict[str, Any]]:
    """The catalogue and the adapters, built as start-up builds them (see `_parts`)."""
    parts = _parts(file)
    return parts.catalog, parts.adapters


@main.command("check-config")
@click.argument("file", type=click.Path(dir_okay=False))
def check_config(file: str) -> None:
    """Validate a configuration file as start-up does (catalogue, routing index, rate-limit
    store, adapters; the database URL too); exit 1 with every problem listed."""
    parts = _parts(file)
    parts.close_adapters()
    catalog = parts.catalog
    click.echo(
        f"{file}: OK ({len(catalog.jurisdictions)} jurisdictions, {len(catalog.agencies)} "
        f"agencies, {len(catalog.services)} services, {len(catalog.routes)} routes)"
    )


def _emit(rows: list[dict[str, Any]], as_json: bool, columns: list[str]) -> None:
    """A JSON list of objects, or one tab-separated line per row."""
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    for row in rows:
        click.echo("\t".join("-" if row[c] is None else str(row[c]) for c in columns))


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
    """Create a key and print it (it is shown only this once). A staff key's agency must
    be one of the configuration's (OPEN311_CONFIG or --config)."""
    from .keys import create_key

    if agency is not None:
        from . import config_path
        from .catalog import load_catalog

        agencies = load_catalog(config_path(obj.config)).agencies
        if agency not in agencies:
            raise click.ClickException(
                f"no agency {agency!r} in {config_path(obj.config)}; "
                f"its agencies: {', '.join(sorted(agencies))}"
            )
    click.echo(obj.write(create_key, name, role, agency, refused=ValueError))


@keys.command("list")
@pass_context
def keys_list(obj: Context) -> None:
    """Name, role, agency, prefix, created and revoked dates."""
    from .keys import list_keys

    for row in obj.read(list_keys):
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

    _ended(obj.write(revoke_key, name), f"revoked {name}", f"no active key named {name!r}")


def _ended(done: bool, said: str, nothing: str) -> None:
    """Report a revocation: done, or failing because there was nothing active to end."""
    if not done:
        raise click.ClickException(nothing)
    click.echo(said, err=True)


# --- staff accounts -----------------------------------------------------------------


@main.group("staff-users")
def staff_users() -> None:
    """Accounts for people at an agency who sign in to the staff pages at /staff/."""


def _password(prompt: bool) -> str | None:
    """A typed password (twice), or None: the account gets a generated one."""
    if not prompt:
        return None
    return str(click.prompt("Password", hide_input=True, confirmation_prompt=True))


@staff_users.command("create")
@click.option("--email", required=True, help="The person's e-mail address: their sign-in name.")
@click.option("--agency", required=True, help="The agency (an id in the configuration).")
@click.option("--role", type=click.Choice(["staff", "admin"]), default="staff", show_default=True)
@click.option("--prompt", is_flag=True, help="Type the password instead of generating one.")
@pass_context
def staff_users_create(obj: Context, email: str, agency: str, role: str, prompt: bool) -> None:
    """Create an account bound to one agency; print its password unless it was typed."""
    from . import config_path
    from .catalog import load_catalog
    from .staff_accounts import AccountError, create_user

    catalog = load_catalog(config_path(obj.config))
    typed = _password(prompt)
    password = obj.write(create_user, catalog, email, agency, role, typed, refused=AccountError)
    click.echo(f"created {role} account {email.strip().lower()} for {agency}", err=True)
    if typed is None:
        click.echo(password)


@staff_users.command("list")
@click.option("--agency", help="Only this agency's accounts.")
@pass_context
def staff_users_list(obj: Context, agency: str | None) -> None:
    """E-mail, agency, role, created, last sign-in, state."""
    from .staff_accounts import list_users

    for row in obj.read(list_users, agency):
        state = "disabled" if row.disabled_at else "active"
        last = f"{row.last_login_at:%Y-%m-%d}" if row.last_login_at else "never"
        click.echo(
            f"{row.email}\t{row.agency}\t{row.role}\tcreated {row.created_at:%Y-%m-%d}\t"
            f"signed in {last}\t{state}"
        )


@staff_users.command("reset-password")
@click.argument("email")
@click.option("--prompt", is_flag=True, help="Type the password instead of generating one.")
@pass_context
def staff_users_reset(obj: Context, email: str, prompt: bool) -> None:
    """Set a new password (ends the account's sessions and lifts a lockout)."""
    from .staff_accounts import AccountError, set_password

    typed = _password(prompt)
    password = obj.write(set_password, email, typed, refused=AccountError)
    if typed is None:
        click.echo(password)


@staff_users.command("disable")
@click.argument("email")
@pass_context
def staff_users_disable(obj: Context, email: str) -> None:
    """Disable an account at once (its sessions stop working)."""
    from .staff_accounts import disable_user

    _ended(obj.write(disable_user, email), f"disabled {email}", f"no active account for {email}")


# --- delivery -----------------------------------------------------------------------


@main.command()
@click.option("--count", type=click.IntRange(min=1), required=True, help="Reports to write.")
@click.option(
    "--years",
    type=click.FloatRange(min=0.01, max=50),
    default=5.0,
    show_default=True,
    help="Spread the reports over this many years back from now.",
)
@click.option(
    "--private-share",
    type=click.FloatRange(min=0, max=1),
    default=0.05,
    show_default=True,
    help="Share of reports for the private services (when the configuration has some).",
)
@click.option(
    "--seed",
    "rng_seed",
    type=int,
    default=311,
    show_default=True,
    help="Random seed: the same seed and count write the same reports.",
)
@pass_context
def seed(obj: Context, count: int, years: float, private_share: float, rng_seed: int) -> None:
    """Fill the database with COUNT synthetic reports (benchmarks, load tests, demos)."""
    import time

    from .synthetic import SeedPlan
    from .synthetic import seed as write

    parts = _parts(obj.config)
    parts.close_adapters()  # only the catalogue and the router are needed
    with (
        obj.connected("open311-seed") as database,
        click.progressbar(length=count, label="reports", file=sys.stderr) as bar,
    ):
        started = time.monotonic()
        done = write(
            database,
            parts.catalog,
            parts.router,
            SeedPlan(count, years=years, private_share=private_share, rng_seed=rng_seed),
            progress=bar.update,
        )
    elapsed = time.monotonic() - started
    click.echo(
        f"wrote {done.requests} reports ({done.private} private, {done.closed} closed, "
        f"{done.unplaced} without coordinates) and {done.deliveries} deliveries "
        f"in {elapsed:.1f} s ({done.requests / elapsed:,.0f} reports/s)",
        err=True,
    )


@main.command("import")
@click.argument("csv_file", metavar="FILE.csv", type=click.Path(exists=True, dir_okay=False))
@click.option(
    "--mapping",
    required=True,
    type=click.Path(exists=True, dir_okay=False),
    help="YAML: which column holds what (docs/configuration.md, `open311 import`).",
)
@click.option("--dry-run", is_flag=True, help="Check and count every row; keep nothing.")
@pass_context
def import_history(obj: Context, csv_file: str, mapping: str, dry_run: bool) -> None:
    """Load a legacy system's history from a CSV export, as reports never sent to back-ends."""
    from .importer import ImportFailed, import_csv, load_mapping

    parts = _parts(obj.config)
    parts.close_adapters()  # only the catalogue and the router are needed
    plan = load_mapping(mapping, parts.catalog)
    with (
        obj.connected("open311-import") as database,
        click.progressbar(
            length=Path(csv_file).stat().st_size, label="bytes read", file=sys.stderr
        ) as bar,
    ):
        try:
            done = import_csv(
                database,
                parts.catalog,
                parts.router,
                csv_file,
                plan,
                progress=bar.update,
                dry_run=dry_run,
            )
        except ImportFailed as exc:
            raise click.ClickException(str(exc)) from None
    verb = "would import" if dry_run else "imported"
    click.echo(
        f"{done.rows} rows: {verb} {done.imported} ({done.private} private), skipped "
        f"{done.skipped_total}, in {done.seconds:.1f} s "
        f"({done.rows / max(done.seconds, 1e-9):,.0f} rows/s)",
        err=True,
    )
    for reason, count in done.skipped.most_common():
        click.echo(
            f"  skipped {count}: {reason} (first at line {done.first_line[reason]})", err=True
        )


@contextmanager
def _runtime(obj: Context, application_name: str) -> Iterator[tuple[Any, Database, Any]]:
    """The catalogue, the database and the parts (adapters, notifiers), all released
    however the command ends."""
    parts = _parts(obj.config)
    try:
        with obj.connected(application_name) as database:
            yield parts.catalog, database, parts
    finally:
        parts.close_adapters()


def _notices(catalog: Any, parts: Any) -> Any:
    """The reporter's messages for the worker, or None when none are configured. Their stop
    links are signed with OPEN311_SECRET_KEY, which the web processes check them with."""
    from .notifications import Notices

    if catalog.notifications is None or not parts.notifiers:
        return None
    secret = os.environ.get("OPEN311_SECRET_KEY")
    if not secret:
        # Reports still go out; the messages wait in the outbox (notify/… destinations in
        # `open311 outbox status`) for a worker that has the secret.
        logging.getLogger("open311.worker").error(
            "notifications are configured but OPEN311_SECRET_KEY is not set: this worker "
            "sends no updates to reporters (their stop links are signed with that key, which "
            "the web processes must share)"
        )
        return None
    return Notices(catalog.notifications, parts.notifiers, secret)


@main.command()
@click.option("--once", is_flag=True, help="Deliver what is due, sync once, then exit.")
@click.option(
    "--sync-every",
    default=60.0,
    show_default=True,
    help="Seconds between status pulls; 0 = this worker only delivers (run one syncing worker).",
)
@click.option(
    "--batch", default=10, show_default=True, help="Deliveries claimed per destination at a time."
)
@click.option(
    "--lease",
    type=click.FloatRange(min=MIN_LEASE_SECONDS),
    default=20.0,
    show_default=True,
    help="Seconds a claimed delivery stays this worker's between heartbeats (every lease/4); "
    "a worker that dies has its rows taken over about this long after.",
)
@click.option(
    "--metrics-port",
    type=int,
    default=0,
    envvar="OPEN311_WORKER_METRICS_PORT",
    help="Serve this worker's Prometheus metrics on 127.0.0.1:PORT (0 = off).",
)
@pass_context
def worker(
    obj: Context, once: bool, sync_every: float, batch: int, lease: float, metrics_port: int
) -> None:
    """Deliver queued reports to the agencies and pull their status back."""
    from datetime import timedelta

    from .outbox import Outbox, OutboxPolicy
    from .sync import sync_all

    with _runtime(obj, "open311-worker") as (catalog, database, parts):
        adapters = parts.adapters
        outbox = Outbox(
            database,
            catalog,
            adapters,
            OutboxPolicy(batch_size=batch, lease=timedelta(seconds=lease)),
            notices=_notices(catalog, parts),
        )
        try:
            if once:
                delivered = outbox.drain()
                results = sync_all(database, catalog, adapters) if sync_every > 0 else {}
                click.echo(f"delivered {delivered}; synced {results}", err=True)
            else:
                _work(outbox, database, catalog, adapters, sync_every, metrics_port)
        finally:
            outbox.close()


def _work(
    outbox: Any,
    database: Database,
    catalog: Any,
    adapters: dict[str, Any],
    sync_every: float,
    metrics_port: int,
) -> None:
    """Deliver until SIGTERM or SIGINT, pulling status every `sync_every` seconds."""
    import signal
    import threading

    from .sync import sync_all

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())

    def syncing() -> None:
        while not stop.wait(sync_every):
            try:
                sync_all(database, catalog, adapters)
            except Exception:  # keep pulling on the next round
                logging.getLogger("open311.sync").exception("sync round failed")

    if sync_every > 0:
        threading.Thread(target=syncing, name="open311-sync", daemon=True).start()
    if metrics_port:
        from prometheus_client import start_http_server

        from .metrics import process_registry

        start_http_server(metrics_port, addr="127.0.0.1", registry=process_registry())
    logging.getLogger("open311.worker").info("worker delivering", extra={"owner": outbox.owner})
    outbox.run_forever(stop)


@main.command()
@pass_context
def sync(obj: Context) -> None:
    """Pull status updates from every agency once."""
    from .sync import sync_all

    with _runtime(obj, "open311-sync") as (catalog, database, parts):
        results = sync_all(database, catalog, parts.adapters)
    for destination, result in results.items():
        click.echo(f"{destination}\t{result}")


@main.group()
def outbox() -> None:
    """Inspect and retry deliveries."""


@outbox.command("status")
@click.option("--json", "as_json", is_flag=True, help="A JSON list of objects.")
@pass_context
def outbox_status(obj: Context, as_json: bool) -> None:
    """Per destination: depth, due, oldest due age, paused until, dead, last error."""
    from schemas.admin import DestinationStatusOutSchema

    from .db import utcnow
    from .outbox_status import destination_status, status_table

    catalog, _adapters = _load(obj.config)
    for adapter in _adapters.values():
        adapter.close()
    states = obj.read(destination_status, catalog.agencies, utcnow())
    if as_json:
        click.echo(json.dumps(DestinationStatusOutSchema(many=True).dump(states), indent=2))
    else:
        click.echo(status_table(states))


@outbox.command("list")
@click.option("--state", type=click.Choice(["pending", "inflight", "done", "dead"]))
@click.option("--limit", default=200, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="A JSON list of objects.")
@pass_context
def outbox_list(obj: Context, state: str | None, limit: int, as_json: bool) -> None:
    """Deliveries, newest first."""
    from schemas.admin import DeliveryOutSchema

    from .outbox_status import newest_deliveries

    rows = DeliveryOutSchema(many=True).dump(obj.read(newest_deliveries, state, limit))
    columns = ["id", "request_id", "destination", "state", "attempts", "backend_id", "last_error"]
    _emit(rows, as_json, columns)


@outbox.command("retry")
@click.argument("delivery_id", required=False, type=int)
@click.option("--dead", "all_dead", is_flag=True, help="Retry every dead delivery.")
@pass_context
def outbox_retry(obj: Context, delivery_id: int | None, all_dead: bool) -> None:
    """Queue a dead (or waiting) delivery again, now, with a fresh count of attempts."""
    from .db import utcnow
    from .outbox import requeue

    if (delivery_id is None) == (not all_dead):
        raise click.UsageError("give a delivery ID or --dead (not both)")
    count = obj.write(requeue, delivery_id=delivery_id, dead=all_dead, now=utcnow())
    if not count:
        raise click.ClickException("nothing to retry")
    click.echo(f"queued {count} deliveries again", err=True)


# --- privacy ------------------------------------------------------------------------


@main.command("purge-personal-data")
@click.option(
    "--older-than", "days", required=True, type=click.IntRange(min=0), help="Days closed."
)
@click.option("--dry-run", is_flag=True, help="Count what would be erased; erase nothing.")
@pass_context
def purge_personal_data_command(obj: Context, days: int, dry_run: bool) -> None:
    """Erase reporters' personal fields from reports closed more than DAYS ago."""
    from datetime import timedelta

    from .retention import count_personal_data, purge_personal_data

    window = timedelta(days=days)
    if dry_run:
        count = obj.read(count_personal_data, window)
    else:
        count = obj.write(purge_personal_data, window)
    if dry_run:
        click.echo(f"{count} reports closed more than {days} days ago hold personal data (dry run)")
    else:
        click.echo(f"erased personal data from {count} reports closed more than {days} days ago")


@main.command()
@click.option("--request", "request_id", help="Only reads of this service_request_id.")
@click.option("--limit", default=500, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="A JSON list of objects.")
@pass_context
def audit(obj: Context, request_id: str | None, limit: int, as_json: bool) -> None:
    """Who read private reports or personal fields, and when (newest first)."""
    from schemas.admin import AuditOutSchema

    from .audit import entries

    rows = AuditOutSchema(many=True).dump(obj.read(entries, request_id, limit))
    _emit(rows, as_json, ["at", "key_name", "agency", "action", "request_id", "detail"])


# --- serving ------------------------------------------------------------------------


def _serve(
    settings: dict[str, Any],
    host: str,
    port: int,
    workers: int,
    threads: int,
    worker_class: str | None = None,
) -> None:
    from .server import run_gunicorn

    run_gunicorn(
        settings,
        host=host,
        port=port,
        workers=workers,
        threads=threads,
        worker_class_name=worker_class,
    )


def _metrics_dir() -> Any:
    """PROMETHEUS_MULTIPROC_DIR for the processes `serve` and `demo` start; removed at the
    end when it was made here."""
    import shutil

    from .server import prepare_metrics_dir

    @contextmanager
    def scope() -> Any:
        folder, made_here = prepare_metrics_dir()
        owner = os.getpid()
        try:
            yield folder
        finally:
            # A gunicorn worker is a fork of this process and leaves through SystemExit,
            # so it runs this too (on SIGHUP, max requests, a crash): only the process
            # that made the folder removes it, or the workers left behind lose theirs.
            if made_here and os.getpid() == owner:
                shutil.rmtree(folder, ignore_errors=True)

    return scope()


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8311, show_default=True, type=int)
@click.option("--workers", default=2, show_default=True, type=int, help="gunicorn worker processes")
@click.option("--threads", default=1, show_default=True, type=int, help="threads per worker")
@click.option(
    "--worker-class",
    type=click.Choice(["buffered", "sync", "gthread"]),
    default=None,
    help="gunicorn worker class. Default: buffered (whole requests are read before a thread "
    "runs them, so slow clients hold none), gthread when --threads is more than 1. "
    "sync only behind a buffering proxy (nginx).",
)
@click.option(
    "--with-worker/--no-worker",
    default=None,
    help="Also deliver and sync in this process group. Default: on for SQLite, off otherwise.",
)
@pass_context
def serve(
    obj: Context,
    host: str,
    port: int,
    workers: int,
    threads: int,
    worker_class: str | None,
    with_worker: bool | None,
) -> None:
    """Serve the gateway with gunicorn."""
    _parts(obj.config).close_adapters()
    _ensure_schema(obj)
    embedded = obj.database_url.startswith("sqlite")
    with _metrics_dir():
        wanted = with_worker if with_worker is not None else embedded
        helper = _start_worker(obj) if wanted else None
        try:
            _serve(obj.settings(), host, port, workers, threads, worker_class)
        finally:
            if helper is not None:
                helper.terminate()
                helper.wait(timeout=10)


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
@click.option(
    "--mail-port",
    default=8325,
    show_default=True,
    type=int,
    help="The mail catcher (SMTP on 127.0.0.1) that receives the reporters' updates.",
)
@click.option(
    "--mail-folder",
    default="instance/demo-mail",
    show_default=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Where the mail catcher keeps each caught mail as an .eml file.",
)
@click.option(
    "--auto-close-after",
    default=60.0,
    show_default=True,
    help="Seconds until the simulated crews complete a work order.",
)
@click.option(
    "--region",
    type=click.Choice(["connecticut"]),
    default=None,
    help="Serve a whole region instead: every town of it, from its real boundaries.",
)
@pass_context
def demo(
    obj: Context,
    host: str,
    port: int,
    workorders_port: int,
    mail_port: int,
    mail_folder: Path,
    auto_close_after: float,
    region: str | None,
) -> None:
    """Serve the bundled demo: New Haven, its housing authority, Hamden and West Haven
    (or, with --region connecticut, all 169 Connecticut towns)."""
    import subprocess

    from . import DEMO_CONFIG, DEMO_REGIONS, config_path
    from .catalog import load_catalog
    from .keys import create_key
    from .server import taken_ports

    # A second demo would otherwise deliver into the first one's work-order system and
    # read its statuses back, without a word.
    taken = taken_ports(
        [
            (host, port, "the gateway API, --port"),
            ("127.0.0.1", workorders_port, "the simulated work-order system, --workorders-port"),
            ("127.0.0.1", mail_port, "the mail catcher, --mail-port"),
        ]
    )
    if taken:
        raise click.ClickException(
            "; ".join(taken) + ". Is another open311 demo running? Stop it, or choose free "
            "ports, e.g. open311 demo --port 8411 --workorders-port 8412 --mail-port 8425."
        )
    # The one command that runs the bundled demo configuration (unless given another).
    if region is not None and obj.config:
        raise click.ClickException("Give --config or --region, not both.")
    obj.config = obj.config or str(DEMO_REGIONS[region] if region else DEMO_CONFIG)
    _ensure_schema(obj)  # before the simulator starts: a failure leaves nothing running
    workorders_url = f"http://127.0.0.1:{workorders_port}"
    token = os.environ.get("OPEN311_DEMO_WORKORDERS_TOKEN", "demo-workorders-token")
    os.environ["OPEN311_DEMO_WORKORDERS_URL"] = workorders_url
    os.environ["OPEN311_DEMO_WORKORDERS_TOKEN"] = token
    # The demo configuration's notifications: mail to the catcher, links to this gateway.
    os.environ["OPEN311_DEMO_SMTP_PORT"] = str(mail_port)
    os.environ["OPEN311_DEMO_PUBLIC_URL"] = f"http://{host}:{port}"
    mail_folder = mail_folder.resolve()
    catcher = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "open311.demo.mailcatcher",
            "--port",
            str(mail_port),
            "--folder",
            str(mail_folder),
        ]
    )
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
            str(auto_close_after),
            "--quiet",  # the gateway's lines tell the story; one per poll would drown them
        ]
    )
    from .demo.seed import demo_staff_account, file_sample_report

    catalog = load_catalog(config_path(obj.config))
    with obj.connected() as database:
        with database.write() as session, session.begin():
            key = create_key(session, f"demo-{os.getpid()}")
        email, password = demo_staff_account(database, catalog)
    # One secret for both gunicorn workers (sessions signed by one are read by the other);
    # the demo serves plain http on loopback, so its cookie cannot be Secure-only.
    settings = {
        **obj.settings(),
        "SECRET_KEY": os.environ.get("OPEN311_SECRET_KEY") or secrets.token_hex(32),
        "STAFF_COOKIE_SECURE": False,
        "DEMO_MAIL_FOLDER": str(mail_folder),
    }
    file_sample_report(settings, key)
    base = f"http://{host}:{port}/open311/v2"
    # One write: the simulator, a child process, prints to the same terminal, and its
    # lines must not land in the middle of these.
    banner = [
        f"open311 demo gateway: {base}",
        f"  discovery:   {base}/discovery.json",
        f"  submit key:  {key}",
        f"  docs:        http://{host}:{port}/docs",
        f"  simulated city work-order system: {workorders_url}/",
        f"  staff sign-in (housing authority): http://{host}:{port}/staff/",
        f"    e-mail:    {email}",
        f"    password:  {password}",
        f"  reporters' updates, caught: http://{host}:{port}/demo/mail",
        f"    mail catcher: smtp://127.0.0.1:{mail_port}, files in {mail_folder}",
        f"  configuration: {obj.config}  (staff keys: open311 --config … keys create)",
    ]
    click.echo("\n".join(banner))
    with _metrics_dir():
        # The worker signs the stop links the web processes check: one secret for all.
        worker = _start_worker(obj, {"OPEN311_SECRET_KEY": settings["SECRET_KEY"]})
        try:
            _serve(settings, host, port, 2, 1)
        finally:
            for child in (worker, simulator, catcher):
                child.terminate()
                child.wait(timeout=10)


if __name__ == "__main__":
    main()
