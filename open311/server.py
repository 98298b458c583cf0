"""Running the app under gunicorn from the `open311` command."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from gunicorn.app.base import BaseApplication
from gunicorn.arbiter import Arbiter
from gunicorn.glogging import Logger


class GatewayLogger(Logger):
    """gunicorn's error and access lines go through the process's own logging set-up
    (`open311.logs.configure_logging`: text or JSON, redacted) instead of handlers of
    their own, so every line of a process has one shape."""

    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        for log in (self.error_log, self.access_log):
            for handler in list(log.handlers):
                log.removeHandler(handler)
            log.propagate = True


class _Gunicorn(BaseApplication):
    def __init__(self, settings: dict[str, Any], options: dict[str, Any]) -> None:
        self.settings = settings
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        from . import create_app

        return create_app(self.settings)

    def run(self) -> None:
        _SafeReloadArbiter(self).run()


class _SafeReloadArbiter(Arbiter):
    """SIGHUP reloads the configuration: new workers start on the file, the old ones stop
    once they are idle. The file is first built here, as start-up builds it
    (`startup.build_parts`): a broken file is refused with its problems logged, and the
    workers keep serving the configuration they have (without this, gunicorn would start
    workers that cannot boot and then stop altogether)."""

    app: _Gunicorn  # gunicorn types it as any BaseApplication; ours is always this one

    def handle_hup(self) -> None:
        from . import config_path
        from .catalog import ConfigError
        from .startup import build_parts

        settings = self.app.settings
        try:
            path = config_path(settings.get("CONFIG"), demo=bool(settings.get("TESTING")))
            build_parts(path).close_adapters()
            parts_ok = True
        except ConfigError as exc:
            parts_ok = False
            _error_log.error("reload refused, still serving the running configuration: %s", exc)
        if parts_ok:
            super().handle_hup()


# gunicorn's own error logger (GatewayLogger sends it through the process's set-up), which
# is there from start-up on, unlike the arbiter's `log` attribute.
_error_log = logging.getLogger("gunicorn.error")

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


def taken_ports(wanted: list[tuple[str, int, str]]) -> list[str]:
    """For each (host, port, what) that cannot be bound right now (another process
    listens there), a sentence naming it; an empty list when all are free. SO_REUSEADDR
    as gunicorn and werkzeug use it, so a port in TIME_WAIT does not count as taken."""
    import socket

    problems = []
    for host, port, what in wanted:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind((host, port))
            except OSError as exc:
                problems.append(f"port {port} on {host} ({what}) is already in use: {exc.strerror}")
    return problems


def prepare_metrics_dir() -> tuple[Path, bool]:
    """The folder for the processes' metric files (open311/metrics.py): the operator's
    PROMETHEUS_MULTIPROC_DIR when set, emptied (counts from a previous run would add up),
    else a new temporary folder. Sets the variable for this process and its children and
    returns (folder, made here so remove it at exit). Must run before prometheus_client
    is imported, which this module never does at import time."""
    import tempfile

    given = os.environ.get(MULTIPROC_ENV)
    folder = Path(given) if given else Path(tempfile.mkdtemp(prefix="open311-metrics-"))
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.db"):
        old.unlink()
    os.environ[MULTIPROC_ENV] = str(folder)
    return folder, not given


def _child_exit(server: Any, worker: Any) -> None:
    """gunicorn's hook when a worker exits: its live gauges go with it."""
    if os.environ.get(MULTIPROC_ENV):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)


# The worker classes `open311 serve --worker-class` offers. `buffered` (the default) reads
# each whole request in the worker's main loop before a thread runs the app
# (open311/buffered_worker.py), so slow and idle clients hold no worker: gunicorn's sync
# worker is for running behind a buffering proxy only (docs/deployment.md, "Slow clients").
WORKER_CLASSES = {
    "buffered": "open311.buffered_worker.BufferedWorker",
    "sync": "sync",
    "gthread": "gthread",
}


def worker_class(name: str | None, threads: int) -> str:
    """The class to run: the one named, else gthread when threads are asked for (as
    before --worker-class existed), else buffered."""
    if name is not None:
        return name
    return "gthread" if threads > 1 else "buffered"


def run_gunicorn(
    settings: dict[str, Any],
    *,
    host: str,
    port: int,
    workers: int,
    threads: int,
    worker_class_name: str | None = None,
) -> None:
    _Gunicorn(settings, gunicorn_options(host, port, workers, threads, worker_class_name)).run()


def gunicorn_options(
    host: str, port: int, workers: int, threads: int, worker_class_name: str | None = None
) -> dict[str, Any]:
    """gunicorn's settings for `open311 serve` (make bench runs its ceiling app on them)."""
    chosen = worker_class(worker_class_name, threads)
    return {
        "bind": f"{host}:{port}",
        "workers": workers,
        "threads": threads,
        "worker_class": WORKER_CLASSES[chosen],
        "accesslog": "-",
        "logger_class": GatewayLogger,
        "child_exit": _child_exit,
        # The access log must not carry api_key or personal fields from query strings.
        "access_log_format": '%(h)s "%(m)s %(U)s" %(s)s %(B)s %(M)sms',
        "timeout": 60,
        "graceful_timeout": 20,
        # Several gateways may run on one host; none needs gunicorn's control socket.
        "control_socket_disable": True,
    }
