"""Runs every benchmark, prints a table, writes bench/results/latest.json.

Everything runs against 127.0.0.1, every loop is bounded in time and count, and the whole
run takes about two minutes. Figures are printed, never asserted: they depend on the
machine, and the load generator shares its cores with the server."""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from . import http_bench, outbox_bench, routing_bench
from .databases import Databases, PostgresDatabases, SqliteDatabases
from .loadgen import LoadGenerator, find_wrk
from .machine import describe
from .pg import find_server
from .procs import BENCH

RESULTS = BENCH / "results" / "latest.json"
SLOW_REPORTS = 100
SLOW_MS = 50


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--seconds", type=float, default=3.0, help="per HTTP scenario")
    parser.add_argument("--connections", type=int, default=16, help="concurrent HTTP clients")
    parser.add_argument("--reports", type=int, default=2000, help="queued for the outbox runs")
    parser.add_argument("--no-postgres", action="store_true", help="SQLite only")
    parser.add_argument("--no-install", action="store_true", help="never apt-get install wrk")
    parser.add_argument(
        "--only", choices=("routing", "http", "outbox"), action="append", help="repeatable"
    )
    parser.add_argument("--output", type=Path, default=RESULTS)
    return parser.parse_args(argv)


def _section(results: dict[str, Any], name: str, work: Callable[[], Any]) -> None:
    """A failing section is recorded and reported; the others still run."""
    started = time.monotonic()
    _say(f"[bench] {name} …")
    try:
        results[name] = work()
    except Exception as exc:  # a bench that dies half-way still reports what it has
        traceback.print_exc()
        results.setdefault("errors", {})[name] = f"{type(exc).__name__}: {exc}"
    _say(f"[bench] {name} done in {time.monotonic() - started:.1f} s")


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    only = set(args.only or ("routing", "http", "outbox"))
    started = time.monotonic()
    results: dict[str, Any] = {
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": describe(),
        # Other work on the machine lowers every figure; the load average says how much.
        "load_average_before": [round(x, 2) for x in os.getloadavg()],
    }
    postgres = None if args.no_postgres else find_server()
    results["machine"]["postgresql"] = postgres[1] if postgres else None
    _say(f"[bench] PostgreSQL: {postgres[1] if postgres else 'not available, SQLite only'}")

    with tempfile.TemporaryDirectory(prefix="open311-bench-") as scratch:
        folder = Path(scratch)
        databases: list[Databases] = [SqliteDatabases(folder)]
        if postgres:
            databases.append(PostgresDatabases(postgres[0]))

        if "routing" in only:
            _section(results, "routing", lambda: routing_bench.run(seconds=1.5))

        if "http" in only:
            wrk = find_wrk(allow_install=not args.no_install)
            load = LoadGenerator(wrk, args.connections)
            results["load_generator"] = load.description
            _say(f"[bench] load generator: {load.description}")

            def http() -> list[dict[str, Any]]:
                # sync, buffered (serve's default) and gthread on SQLite (the advice in
                # docs/deployment.md rests on the differences); PostgreSQL with buffered and sync.
                first, rest = databases[0], databases[1:]
                shapes = [(first, 1, "sync"), (first, 1, "buffered"), (first, 4, "gthread")]
                shapes += [(d, 1, kind) for d in rest for kind in ("buffered", "sync")]
                out = []
                for dbs, threads, kind in shapes:
                    with dbs.fresh(f"http_{kind}") as url:
                        _say(f"[bench]   {dbs.label}, 2 {kind} workers × {threads} thread(s)")
                        out.append(
                            http_bench.run(
                                dbs.label,
                                url,
                                2,
                                threads,
                                load,
                                args.seconds,
                                folder / "serve.log",
                                kind,
                            )
                        )
                return out

            _section(results, "http", http)

        if "outbox" in only:

            def outbox() -> list[dict[str, Any]]:
                out = []
                for dbs in databases:
                    _say(f"[bench]   {dbs.label}: {args.reports} reports, 1 and 2 workers")
                    out += outbox_bench.run(dbs, args.reports, (1, 2), folder / "worker.log")
                # Real back-ends take tens to hundreds of milliseconds; then a worker mostly
                # waits, and more worker processes add up.
                _say(f"[bench]   sqlite: {SLOW_REPORTS} reports to a {SLOW_MS} ms back-end")
                out += outbox_bench.run(
                    databases[0],
                    SLOW_REPORTS,
                    (1, 4),
                    folder / "worker.log",
                    backend_delay=SLOW_MS / 1000,
                )
                return out

            _section(results, "outbox", outbox)

    results["total_s"] = round(time.monotonic() - started, 1)
    results["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(table(results))
    print(f"\nwritten to {args.output}")
    return 1 if results.get("errors") else 0


def table(results: dict[str, Any]) -> str:
    m = results["machine"]
    lines = [
        "",
        f"Machine: {m['cpu']}, {m['cpus']} CPUs, {m['memory_gb']} GB RAM, {m['os']}",
        f"         Python {m['python']}, SQLite {m['sqlite']}, PostgreSQL {m['postgresql'] or '-'}",
        f"         gunicorn {m['packages']['gunicorn']}, Flask {m['packages']['flask']}, "
        f"SQLAlchemy {m['packages']['sqlalchemy']}, shapely {m['packages']['shapely']}",
    ]
    r = results.get("routing")
    if r:
        lines += [
            "",
            f"Routing: {r['towns']} Connecticut towns ({r['polygons_file_mb']} MB GeoJSON), "
            f"{r['routes']} routes, first match wins",
            f"  index build              {r['index_build_s']:>10.3f} s",
            f"  index memory (RSS delta) {r['index_rss_delta_mb']:>10.1f} MB"
            f"   (Python objects {r['index_python_mb']} MB, peak {r['index_python_peak_mb']} MB)",
            f"  Router.route, in a town  {r['route_per_s_inside']:>10,} decisions/s"
            f"   ({r['route_us_inside']} µs each)",
            f"  Router.route, state box  {r['route_per_s_mixed']:>10,} decisions/s"
            f"   ({r['mixed_outside_share']:.0%} outside every town → refused)",
            f"  point-in-polygon only    {r['areas_at_per_s']:>10,} lookups/s   (areas_at)",
        ]
    http = results.get("http")
    if http:
        lines += [
            "",
            f"HTTP API: open311 serve (gunicorn) on 127.0.0.1, load: {results['load_generator']}",
            f"  {'database':<11}{'workers':<12}{'endpoint':<30}{'req/s':>8}{'p50 ms':>9}"
            f"{'p99 ms':>9}{'errors':>8}",
        ]
        for run in http:
            shape = f"2×{run['threads']} {run['worker_class']}"
            for name, key in (
                ("POST requests.json", "post_requests"),
                ("GET requests.json (50 rows)", "get_requests_50"),
                ("GET services.json", "get_services"),
            ):
                f = run[key]
                lines.append(
                    f"  {run['database']:<11}{shape:<12}{name:<30}{f['rps']:>8,.0f}"
                    f"{f['p50_ms']:>9.1f}{f['p99_ms']:>9.1f}{f['errors']:>8}"
                )
            lines.append(
                f"  {'':<23}worker RSS after load: "
                + ", ".join(f"{x:.0f} MB" for x in run["worker_rss_mb"])
                + f" (master {run['master_rss_mb']:.0f} MB)"
            )
    outbox = results.get("outbox")
    if outbox:
        lines += [
            "",
            "Outbox: `open311 worker --once` processes started together, loopback back-end",
            f"  {'database':<11}{'back-end':>9}{'workers':>8}{'reports':>9}{'wall s':>8}"
            f"{'start-up s':>11}{'deliv/s':>9}{'excl. start-up':>16}{'done':>7}{'twice':>7}",
        ]
        for run in outbox:
            steady = run["deliveries_per_s_after_startup"]
            lines.append(
                f"  {run['database']:<11}{str(run['backend_ms']) + ' ms':>9}"
                f"{run['workers']:>8}{run['reports']:>9}{run['wall_s']:>8.1f}"
                f"{run['worker_startup_s']:>11.1f}{run['deliveries_per_s']:>9,.0f}"
                f"{(f'{steady:,.0f}' if steady else '-'):>16}{run['done']:>7}"
                f"{run['received_twice']:>7}"
            )
        lines.append(
            "  (start-up: as many workers on an empty queue; `twice`: reports the back-end got"
            " more than once)"
        )
    for name, error in (results.get("errors") or {}).items():
        lines.append(f"\n{name} FAILED: {error}")
    lines.append(
        f"\nTotal {results['total_s']} s; load average (1, 5, 15 min) before "
        f"{results['load_average_before']}, after {results['load_average_after']}"
    )
    return "\n".join(lines)
