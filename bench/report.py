"""The issue's targets checked against one run's figures, and the run as Markdown (printed
at the end and written next to the JSON in bench/results/)."""

from __future__ import annotations

from typing import Any

# Gateway req/s over the ceiling's, per endpoint, on each database (issue 13).
RATIO_TARGETS = {"services": 0.80, "filtered": 0.30, "one": 0.50, "post": 0.25}
# At the largest size over the smallest: p95 of every query, and worker memory.
P95_GROWTH_MAX = 1.5
MEMORY_GROWTH_MAX = 1.2


def _mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else 0.0


def targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per target and database (and size, for the ratios): value, limit, met."""
    rows: list[dict[str, Any]] = []
    by_db: dict[str, list[dict[str, Any]]] = {}
    for run in results["runs"]:
        by_db.setdefault(run["database"], []).append(run)
    for database, runs in by_db.items():
        runs = sorted(runs, key=lambda r: r["size"])
        for run in runs:
            for key, limit in RATIO_TARGETS.items():
                found = run["scenarios"].get(key)
                if found is None or found["ratio"] is None:
                    continue
                rows.append(
                    {
                        "target": f"{found['label']}: gateway/ceiling >= {limit}",
                        "database": database,
                        "size": run["size"],
                        "value": found["ratio"],
                        "limit": limit,
                        "met": found["ratio"] >= limit,
                    }
                )
        if len(runs) < 2:
            continue
        small, large = runs[0], runs[-1]
        sizes = f"{large['size']:,} / {small['size']:,}"
        for key, found in large["scenarios"].items():
            # A page cut to the smallest size's rows is compared with that query there
            # (http_bench.same_rows): reported beside the comparison, not instead.
            same_as = found.get("same_as")
            before = small["scenarios"].get(same_as or key)
            if not (found["query"] or same_as) or before is None or not before["gateway"]["p95_ms"]:
                continue
            growth = round(found["gateway"]["p95_ms"] / before["gateway"]["p95_ms"], 2)
            against = f" (its uncut answer at {small['size']:,})" if same_as else ""
            rows.append(
                {
                    "target": f"{found['label']}: p95 {sizes}{against} <= {P95_GROWTH_MAX}",
                    "database": database,
                    "size": sizes,
                    "value": growth,
                    "limit": P95_GROWTH_MAX,
                    "met": growth <= P95_GROWTH_MAX,
                }
            )
        memory = round(_mean(large["worker_rss_mb"]) / _mean(small["worker_rss_mb"]), 2)
        rows.append(
            {
                "target": f"worker memory (RSS) {sizes} <= {MEMORY_GROWTH_MAX}",
                "database": database,
                "size": sizes,
                "value": memory,
                "limit": MEMORY_GROWTH_MAX,
                "met": memory <= MEMORY_GROWTH_MAX,
            }
        )
    return rows


def markdown(results: dict[str, Any]) -> str:
    m = results["machine"]
    s = results["settings"]
    lines = [
        f"# make bench, {results['started_at']}",
        "",
        f"- Machine: {m['cpu']}, {m['cpus']} CPUs, {m['memory_gb']} GB RAM, {m['os']} "
        f"(kernel {m['kernel']})",
        f"- Python {m['python']}, SQLite {m['sqlite']}, PostgreSQL {m['postgresql'] or '-'}; "
        + ", ".join(f"{k} {v}" for k, v in m["packages"].items()),
        f"- Load average (1, 5, 15 min) at start {results['load_average_start']}, "
        f"at end {results['load_average_end']}",
        f"- Gateway: `open311 serve` with {s['workers']} {s['worker_class']} workers and its "
        "delivery worker "
        "(to a loopback back-end); ceiling: bench/ceiling.py, a bare Flask app under the same "
        "gunicorn settings answering the gateway's own bytes",
        f"- Load: {results['load_generator']}, {s['seconds']} s per endpoint and server, "
        "ceiling first, then the gateway",
        f"- Total {results.get('total_s', '?')} s",
        "",
        "| database | stored | endpoint | rows | gateway req/s | p50 ms | p95 ms | p99 ms "
        "| ceiling req/s | ceiling p95 ms | ratio |",
        "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for run in results["runs"]:
        for found in run["scenarios"].values():
            g, c = found["gateway"], found["ceiling"]
            rows = "" if found["rows"] is None else f"{found['rows']:,}"
            lines.append(
                f"| {run['database']} | {run['size']:,} | {found['label']} | {rows} "
                f"| {g['rps']:,.0f} | {g['p50_ms']:.1f} | {g['p95_ms']:.1f} | {g['p99_ms']:.1f} "
                f"| {c['rps']:,.0f} | {c['p95_ms']:.1f} | {found['ratio']:.3f} |"
            )
    lines += [
        "",
        "| database | stored | seeded in | reports/s | gunicorn worker RSS MB | master MB "
        "| delivered while posting | outbox drained in | load average start → end |",
        "|---|---:|---:|---:|---|---:|---:|---:|---|",
    ]
    for run in results["runs"]:
        lines.append(
            f"| {run['database']} | {run['size']:,} | {run['seed']['seconds']} s "
            f"| {run['seed']['reports_per_s']:,} "
            f"| {', '.join(f'{x:.1f}' for x in run['worker_rss_mb'])} "
            f"| {run['master_rss_mb']:.1f} | {_while_posting(run)} | {run['outbox_drain_s']} s "
            f"| {run['load_average_start']} → {run['load_average_end']} |"
        )
    checked = results.get("targets") or []
    if checked:
        lines += ["", "| target | database | size | value | met |", "|---|---|---|---:|---|"]
        for t in checked:
            size = f"{t['size']:,}" if isinstance(t["size"], int) else t["size"]
            lines.append(
                f"| {t['target']} | {t['database']} | {size} | {t['value']} "
                f"| {'met' if t['met'] else '**missed**'} |"
            )
    failures = results.get("failures") or []
    if failures:
        lines += ["", "## FAILED", ""]
        lines += [f"- {f}" for f in failures]
    return "\n".join(lines) + "\n"


def extras(results: dict[str, Any]) -> str:
    """The optional sections (`--extras routing,outbox`), as the earlier bench printed them."""
    lines: list[str] = []
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
    return "\n".join(lines)


def _while_posting(run: dict[str, Any]) -> str:
    """Deliveries made during the POST run, of the reports posted in it."""
    found = run.get("delivered_while_posting")
    if not found:
        return ""
    return f"{found['delivered']:,} of {found['posted']:,}"
