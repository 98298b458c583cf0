"""`make bench`: the GeoReport API on loopback under wrk, against its ceiling, at each
database size on SQLite and PostgreSQL; a table of ratios and the issue's targets (met or
missed); bench/results/<timestamp>.json and .md.

Settings (environment, or the options of the same name):
  BENCH_SIZES=10000,1000000  stored reports (each size gets a database of its own, seeded
                             with `open311 seed`)
  BENCH_SECONDS=15           wrk's duration per endpoint and server
  BENCH_CONNECTIONS=32       wrk's connections
  BENCH_THREADS=1            wrk's threads
  BENCH_WORKER_CLASS=sync    the gunicorn workers of both servers (sync, as the issue
                             measures; buffered is open311 serve's default)
  BENCH_KEEP=FOLDER          keep the databases for profiling afterwards (SQLite files in
                             FOLDER; PostgreSQL ones not dropped: drop them yourself)
  OPEN311_BENCH_DATABASE_URL a PostgreSQL server to create the bench's databases on
                             (default postgresql://postgres@127.0.0.1:5432/test); each is
                             CREATE DATABASE bench_…, dropped at the end

Every answer must be 2xx: any other status, and any socket error, is counted, printed and
makes the run exit 1. Figures are never asserted: the targets are reported as met or missed."""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import traceback
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from open311.db import display_url

from . import http_bench, outbox_bench, routing_bench
from .databases import Databases, PostgresDatabases, SqliteDatabases
from .loadgen import INSTALL_HINT, Wrk, find_wrk
from .machine import describe
from .pg import find_server
from .procs import BENCH
from .report import extras, markdown, targets

RESULTS = BENCH / "results"
SLOW_REPORTS = 100
SLOW_MS = 50


def _say(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def _parse(argv: list[str] | None) -> argparse.Namespace:
    env = os.environ.get
    parser = argparse.ArgumentParser(
        prog="python -m bench", description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--sizes", default=env("BENCH_SIZES", "10000,1000000"))
    parser.add_argument("--seconds", type=float, default=float(env("BENCH_SECONDS", "15")))
    parser.add_argument("--connections", type=int, default=int(env("BENCH_CONNECTIONS", "32")))
    parser.add_argument("--threads", type=int, default=int(env("BENCH_THREADS", "1")))
    parser.add_argument(
        "--worker-class",
        default=env("BENCH_WORKER_CLASS", "sync"),
        choices=("sync", "buffered"),
        help="the gateway's and the ceiling's gunicorn workers (the issue measures sync)",
    )
    parser.add_argument("--no-postgres", action="store_true", help="SQLite only")
    parser.add_argument("--no-sqlite", action="store_true", help="PostgreSQL only")
    parser.add_argument("--no-install", action="store_true", help="never apt-get install wrk")
    parser.add_argument(
        "--extras",
        default=env("BENCH_EXTRAS", ""),
        help="also run the earlier sections: routing, outbox (comma-separated)",
    )
    parser.add_argument("--output", type=Path, default=RESULTS, help="folder for the results")
    parser.add_argument(
        "--keep",
        type=Path,
        default=Path(env("BENCH_KEEP")) if env("BENCH_KEEP") else None,
        metavar="FOLDER",
        help="keep the databases for profiling: SQLite files in FOLDER, PostgreSQL ones "
        "not dropped (their names are printed; drop them yourself)",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    sizes = [int(s.replace("_", "")) for s in args.sizes.split(",") if s.strip()]
    wrk = find_wrk(allow_install=not args.no_install)
    if wrk is None:
        _say(
            "wrk is missing and could not be installed here. Install it, then run again:"
            f"\n  {INSTALL_HINT}"
        )
        return 2
    load = Wrk(wrk, args.connections, args.threads)
    started_at = datetime.now(UTC)
    started = time.monotonic()
    results: dict[str, Any] = {
        "started_at": started_at.isoformat(timespec="seconds"),
        "machine": describe(),
        # Other work on the machine lowers every figure; the load average says how much.
        "load_average_start": [round(x, 2) for x in os.getloadavg()],
        "load_generator": load.description,
        "settings": {
            "sizes": sizes,
            "seconds": args.seconds,
            "connections": args.connections,
            "wrk_threads": args.threads,
            "workers": http_bench.WORKERS,
            "worker_class": args.worker_class,
        },
        "runs": [],
        "failures": [],
    }
    postgres = None if args.no_postgres else find_server()
    results["machine"]["postgresql"] = postgres[1] if postgres else None
    _say(f"load generator: {load.description}")
    _say(f"PostgreSQL: {postgres[1] if postgres else 'not available, SQLite only'}")
    with tempfile.TemporaryDirectory(prefix="open311-bench-") as scratch:
        folder = Path(scratch)
        kept = args.keep or folder
        kept.mkdir(parents=True, exist_ok=True)
        databases: list[Databases] = [] if args.no_sqlite else [SqliteDatabases(kept)]
        if postgres:
            databases.append(PostgresDatabases(postgres[0], keep=args.keep is not None))
        for dbs in databases:
            smallest_rows: dict[str, int] | None = None
            for size in sizes:
                _say(f"{dbs.label}, {size:,} reports")
                try:
                    with dbs.fresh(f"n{size}") as url:
                        run = http_bench.run(
                            url,
                            size,
                            load,
                            args.seconds,
                            folder,
                            _say,
                            args.worker_class,
                            smallest_rows,
                        )
                except Exception as exc:  # a size that dies still leaves the others' figures
                    traceback.print_exc()
                    results["failures"].append(
                        f"{dbs.label} at {size:,}: {type(exc).__name__}: {exc}"
                    )
                    continue
                run["database"] = dbs.label
                if smallest_rows is None:
                    smallest_rows = {
                        key: found["rows"]
                        for key, found in run["scenarios"].items()
                        if found["query"] and found["rows"]
                    }
                if args.keep:
                    _say(f"kept {dbs.label} at {size:,}: {display_url(url)}")
                results["runs"].append(run)
                for found in run["scenarios"].values():
                    for side in ("gateway", "ceiling"):
                        f = found[side]
                        if f["non_2xx"] or f["socket_errors"]:
                            results["failures"].append(
                                f"{dbs.label} at {size:,}, {found['label']} ({side}): "
                                f"{f['non_2xx']} answers not 2xx, "
                                f"{f['socket_errors']} socket errors"
                            )
        _extras(results, args, databases, folder)
    results["targets"] = targets(results)
    results["total_s"] = round(time.monotonic() - started, 1)
    results["load_average_end"] = [round(x, 2) for x in os.getloadavg()]
    args.output.mkdir(parents=True, exist_ok=True)
    stem = args.output / started_at.strftime("%Y%m%dT%H%M%SZ")
    stem.with_suffix(".json").write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    text = markdown(results) + extras(results)
    stem.with_suffix(".md").write_text(text, encoding="utf-8")
    print(text)
    print(f"written to {stem}.json and {stem}.md")
    if results["failures"]:
        print(f"\nFAILED: {len(results['failures'])} problem(s), see above", file=sys.stderr)
        return 1
    return 0


def _extras(
    results: dict[str, Any], args: argparse.Namespace, databases: list[Databases], folder: Path
) -> None:
    """The earlier bench's sections, on request: routing over 169 towns, and the outbox."""
    wanted = {e.strip() for e in args.extras.split(",") if e.strip()}
    try:
        if "routing" in wanted:
            _say("routing")
            results["routing"] = routing_bench.run(seconds=1.5)
        if "outbox" in wanted and databases:
            _say("outbox")
            out = []
            for dbs in databases:
                out += outbox_bench.run(dbs, 2000, (1, 2), folder / "worker.log")
            sqlite = databases[0]
            out += outbox_bench.run(
                sqlite, SLOW_REPORTS, (1, 4), folder / "worker.log", backend_delay=SLOW_MS / 1000
            )
            results["outbox"] = out
    except Exception as exc:
        traceback.print_exc()
        results["failures"].append(f"extras: {type(exc).__name__}: {exc}")
