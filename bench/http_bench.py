"""The GeoReport API under load at one database size: `open311 serve` as an operator runs
it (2 gunicorn workers, sync unless told otherwise, and its delivery worker, delivering to
a loopback back-end) against the ceiling (bench/ceiling.py: a bare Flask app under the same
gunicorn settings answering the gateway's own bytes), endpoint by endpoint, then the
workers' memory.

For each endpoint the ceiling runs first and the gateway right after, so that both meet
much the same load from the rest of the machine; POST runs last (it adds reports), and
the outbox is drained before the memory is read."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import requests
from sqlalchemy import bindparam, create_engine, text

from open311.db import Database, database_url
from open311.keys import create_key

from .backend import FastBackend
from .ceiling import save_answers
from .loadgen import Wrk
from .procs import (
    free_port,
    gateway_env,
    gunicorn_workers,
    open311_command,
    rss_mb,
    start_ceiling,
    start_server,
    stop_group,
)

API = "/open311/v2"
FORM = "application/x-www-form-urlencoded"
WARM_UP_S = 3.0
WORKERS = 2
THREADS = 1
# New Haven's green: inside the bench jurisdiction's boundary, in the middle of the map.
CENTRE = (41.3083, -72.9279)
# The eighth public service of bench/config.yaml: about 4% of the reports (the seed's Zipf
# curve). Open ones older than a year are rare (old reports are mostly closed): the
# sparse filter has few matches, spread over four years.
SPARSE_SERVICE = "HYDRANT"
ONE_IDS = 50  # requests/{id}: that many reports spread over the table, asked in turn


@dataclass
class Scenario:
    key: str
    label: str
    paths: list[str]
    method: str = "GET"
    body: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    query: bool = True  # a read: its p95 counts for the 1M/10k target
    # A page cut to as many rows as `same_as` answered at the smallest size: its p95 is
    # compared with that one's there (same_rows).
    same_as: str | None = None


def same_rows(
    cases: list[Scenario], rows: dict[str, int], smallest: dict[str, int]
) -> list[Scenario]:
    """For each query that answers more rows here than at the smallest size (a radius
    or a sparse filter matches more reports in a fuller database), the same query with
    page_size cut to the smallest size's count: the 1M/10k growth of the issue's own
    comparison is mostly the bigger answer, and this one is the database's part of it."""
    out = []
    for case in cases:
        wanted = smallest.get(case.key)
        if not case.query or not wanted or rows.get(case.key, 0) <= wanted:
            continue
        paths = []
        for path in case.paths:
            parts = urlsplit(path)
            params = dict(parse_qsl(parts.query)) | {"page_size": str(wanted)}
            paths.append(f"{parts.path}?{urlencode(params)}")
        out.append(
            Scenario(
                f"{case.key}_same_rows",
                f"{case.label}, cut to {wanted:,} rows",
                paths,
                query=False,
                same_as=case.key,
            )
        )
    return out


def scenarios(api_key: str, ids: list[str], now: datetime) -> list[Scenario]:
    lat, long = CENTRE
    years_ago = (now - timedelta(days=5 * 365)).strftime("%Y-%m-%dT00:00:00Z")
    year_ago = (now - timedelta(days=365)).strftime("%Y-%m-%dT00:00:00Z")
    sparse = urlencode(
        {
            "service_code": SPARSE_SERVICE,
            "status": "open",
            "start_date": years_ago,
            "end_date": year_ago,
            "page_size": 100,
        }
    )
    body = urlencode(
        {
            "api_key": api_key,
            "service_code": "POTHOLE",
            "lat": str(lat),
            "long": str(long),
            "description": "A pothole about the size of a bicycle wheel, in the bus lane.",
            "attribute[DEPTH_CM]": "8",
        }
    )
    return [
        Scenario("services", "GET services.json", [f"{API}/services.json"]),
        Scenario(
            "filtered",
            "GET requests.json, filtered page of 100",
            [f"{API}/requests.json?service_code=POTHOLE&page_size=100"],
        ),
        Scenario(
            "one",
            f"GET requests/{{id}}.json ({len(ids)} ids in turn)",
            [f"{API}/requests/{i}.json" for i in ids],
        ),
        Scenario("all", "GET requests.json, no parameters", [f"{API}/requests.json"]),
        Scenario(
            "radius",
            "GET requests.json, 500 m radius, page of 100",
            [f"{API}/requests.json?lat={lat}&long={long}&radius=500&page_size=100"],
        ),
        Scenario("sparse", "GET requests.json, sparse filter", [f"{API}/requests.json?{sparse}"]),
        Scenario(
            "post",
            "POST requests.json",
            [f"{API}/requests.json"],
            method="POST",
            body=body,
            headers={"Content-Type": FORM},
            query=False,
        ),
    ]


def seed(url: str, count: int, log: Path) -> dict[str, Any]:
    """`open311 seed --count N`, as an operator would run it, timed."""
    started = time.monotonic()
    with log.open("ab") as out:
        done = subprocess.run(
            [*open311_command(), "seed", "--count", str(count)],
            env=gateway_env(url),
            stdout=out,
            stderr=subprocess.STDOUT,
            check=False,
        )
    if done.returncode != 0:
        raise RuntimeError(f"open311 seed failed ({log.read_text(errors='replace')[-2000:]})")
    seconds = time.monotonic() - started
    return {"seconds": round(seconds, 1), "reports_per_s": round(count / seconds)}


def prepare(url: str) -> tuple[str, list[str], int]:
    """A submit key, ids of reports listed to anyone spread over the table, and the count.
    PostgreSQL gets ANALYZE, as autovacuum would give a table that grew this much."""
    engine = create_engine(database_url(url))
    try:
        if engine.dialect.name == "postgresql":
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.execute(text("ANALYZE"))
        with engine.connect() as conn:
            total, top = conn.execute(text("SELECT count(*), max(id) FROM service_request")).one()
            step = max(1, top // (ONE_IDS * 2))
            picked = list(range(step, top + 1, step))
            ids = list(
                conn.execute(
                    text(
                        "SELECT public_id FROM service_request WHERE private = :no "
                        "AND id IN :ids ORDER BY id"
                    ).bindparams(bindparam("ids", value=picked, expanding=True)),
                    {"no": False},
                ).scalars()
            )[:ONE_IDS]
    finally:
        engine.dispose()
    database = Database(url)
    try:
        with database.write() as session, session.begin():
            key = create_key(session, f"bench-{time.time_ns()}")
    finally:
        database.dispose()
    return key, ids, int(total)


def _answers(
    base: str, cases: list[Scenario]
) -> tuple[dict[str, tuple[str, bytes]], dict[str, int]]:
    """The gateway's answer to each request of each scenario (the ceiling serves these),
    after a warm-up (the first requests of a worker import and compile lazily), and the
    rows in each list answer."""
    answers: dict[str, tuple[str, bytes]] = {}
    rows: dict[str, int] = {}
    with requests.Session() as session:
        for case in cases:
            for path in case.paths:
                for _ in range(1 if case.method == "POST" else 4):
                    reply = session.request(
                        case.method, base + path, data=case.body, headers=case.headers, timeout=60
                    )
                    if reply.status_code != 200:
                        raise RuntimeError(
                            f"{case.method} {path}: {reply.status_code} {reply.text[:300]}"
                        )
                answers[f"{case.method} {path}"] = (reply.headers["Content-Type"], reply.content)
            if case.method == "GET" and case.key != "services":
                rows[case.key] = len(json.loads(reply.content))
    return answers, rows


def _deliveries(url: str) -> tuple[int, int]:
    """Deliveries done and not yet done (pending, in flight or waiting to retry)."""
    engine = create_engine(database_url(url))
    try:
        with engine.connect() as conn:
            done, left = conn.execute(
                text(
                    "SELECT count(*) FILTER (WHERE state = 'done'), "
                    "count(*) FILTER (WHERE state IN ('pending', 'inflight')) FROM delivery"
                )
            ).one()
    finally:
        engine.dispose()
    return int(done), int(left)


def _drain(url: str, timeout: float = 300) -> float:
    """Seconds until no delivery is pending (the POSTed reports reached the back-end)."""
    engine = create_engine(database_url(url))
    started = time.monotonic()
    try:
        while time.monotonic() - started < timeout:
            with engine.connect() as conn:
                left = conn.execute(
                    text("SELECT count(*) FROM delivery WHERE state IN ('pending', 'inflight')")
                ).scalar_one()
            if not left:
                break
            time.sleep(1)
    finally:
        engine.dispose()
    return round(time.monotonic() - started, 1)


def run(
    url: str,
    size: int,
    load: Wrk,
    seconds: float,
    folder: Path,
    say: Callable[[str], None],
    worker_class: str = "sync",
    smallest_rows: dict[str, int] | None = None,
) -> dict[str, Any]:
    """`smallest_rows`: the rows each query answered at the smallest size, when this is a
    larger one (see same_rows)."""
    log = folder / "bench.log"
    say(f"seeding {size:,} reports")
    seeded = seed(url, size, log)
    say(f"  {seeded['seconds']} s ({seeded['reports_per_s']:,}/s)")
    api_key, ids, total = prepare(url)
    cases = scenarios(api_key, ids, datetime.now(UTC))
    out: dict[str, Any] = {"size": size, "stored": total, "seed": seeded, "scenarios": {}}
    out["load_average_start"] = _loadavg()
    with FastBackend() as backend:
        port = free_port()
        gateway = start_server(
            url,
            port,
            WORKERS,
            THREADS,
            log,
            backend_url=backend.url,
            with_worker=True,
            worker_class=worker_class,
        )
        ceiling = None
        try:
            base = f"http://127.0.0.1:{port}"
            answers, rows = _answers(base, cases)
            if smallest_rows:
                cut = same_rows(cases, rows, smallest_rows)
                more, more_rows = _answers(base, cut)
                answers, rows = answers | more, rows | more_rows
                # Before POST, which adds reports and must come last.
                assert cases[-1].method == "POST"
                cases = cases[:-1] + cut + cases[-1:]
            answers_file = folder / f"answers-{size}.json"
            save_answers(answers_file, answers)
            ceiling_port = free_port()
            ceiling = start_ceiling(answers_file, ceiling_port, WORKERS, THREADS, log, worker_class)
            # Both servers get a few seconds of load before the first figure, so that the
            # first scenario is not measured on processes that have served only the
            # handful of requests above (services.json, measured first, had its lowest
            # ratio in the first run of the 18:47 results: 0.64 against 0.79-0.85).
            for warm in (f"http://127.0.0.1:{ceiling_port}", base):
                load.run(warm, cases[0].paths, WARM_UP_S)
            for case in cases:
                request = {"method": case.method, "body": case.body, "headers": case.headers}
                top = load.run(f"http://127.0.0.1:{ceiling_port}", case.paths, seconds, **request)
                before = _deliveries(url) if case.method == "POST" else None
                ours = load.run(base, case.paths, seconds, **request)
                if before is not None:
                    # Prompt delivery under load: how many of the reports posted during
                    # the run reached the back-end before it ended.
                    done, left = _deliveries(url)
                    out["delivered_while_posting"] = {
                        "posted": ours.requests,
                        "delivered": done - before[0],
                        "left": left,
                    }
                ratio = round(ours.rps / top.rps, 3) if top.rps else None
                out["scenarios"][case.key] = {
                    "label": case.label,
                    "query": case.query,
                    "same_as": case.same_as,
                    "rows": rows.get(case.key),
                    "answer_bytes": len(answers[f"{case.method} {case.paths[0]}"][1]),
                    "gateway": ours.as_dict(),
                    "ceiling": top.as_dict(),
                    "ratio": ratio,
                }
                say(
                    f"  {case.label:<48} {ours.rps:>8,.0f} req/s p95 {ours.p95_ms:>7.1f} ms"
                    f"  ceiling {top.rps:>8,.0f}  ratio {ratio}"
                    + (f"  FAILED: {ours.failed + top.failed}" if ours.failed + top.failed else "")
                )
            out["outbox_drain_s"] = _drain(url)
            workers = gunicorn_workers(gateway.pid)
            out["worker_rss_mb"] = [rss_mb(pid) for pid in workers]
            out["master_rss_mb"] = rss_mb(gateway.pid)
            if ceiling is not None:
                out["ceiling_worker_rss_mb"] = [rss_mb(p) for p in gunicorn_workers(ceiling.pid)]
            received, twice = backend.counts()
            out["backend_received"] = received
            out["backend_received_twice"] = twice
        finally:
            if ceiling is not None:
                stop_group(ceiling)
            stop_group(gateway)
    out["load_average_end"] = _loadavg()
    return out


def _loadavg() -> list[float]:
    import os

    return [round(x, 2) for x in os.getloadavg()]
