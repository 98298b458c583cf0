"""The CLI configures logging: a real `open311 worker` writes one line per delivery with
destination, outcome, attempt and latency, as text or as JSON lines, without the
reporter's personal fields."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import parse
from tests.support.backend import Backend

from .conftest import open311_env, run_open311

EMAIL = "resident.private@example.org"
PHONE = "203-555-0147"


def _report(client: Any, key: str, service_code: str) -> str:
    data = {
        "service_code": service_code,
        "address_string": "1 Main St",
        "api_key": key,
        "email": EMAIL,
        "phone": PHONE,
        "first_name": "Zebulon",
    }
    answer = client.post("/open311/v2/requests.json", data=data)
    assert answer.status_code == 200, answer.data
    return str(parse(answer, "json")[0]["service_request_id"])


def test_worker_writes_one_json_line_per_delivery(
    client: Any, submit_key: str, db_url: str, backend: Backend, tmp_path: Path
) -> None:
    pothole = _report(client, submit_key, "POTHOLE")
    spill = _report(client, submit_key, "SPILL")  # works, with a copy to health
    env = open311_env(db_url, OPEN311_LOG_FORMAT="json")
    done = run_open311(["worker", "--once", "--sync-every", "0"], env, tmp_path)
    assert done.returncode == 0, done.stderr
    records = [json.loads(line) for line in done.stderr.splitlines() if line.startswith("{")]
    lines = [r for r in records if r["message"] == "delivery"]
    got = sorted((r["request_id"], r["destination"], r["outcome"], r["attempt"]) for r in lines)
    assert got == sorted(
        [(pothole, "works", "done", 1), (spill, "works", "done", 1), (spill, "health", "done", 1)]
    )
    for record in lines:
        assert record["logger"] == "open311.outbox" and record["level"] == "INFO"
        assert isinstance(record["latency_ms"], int) and record["latency_ms"] >= 0
        assert record["time"].endswith("+00:00")
    assert len(backend.received) == 3
    for secret in (EMAIL, PHONE, "Zebulon"):
        assert secret not in done.stderr


def test_worker_text_lines_carry_the_same_fields(
    client: Any, submit_key: str, db_url: str, backend: Backend, tmp_path: Path
) -> None:
    backend.mode = "error500"
    rid = _report(client, submit_key, "POTHOLE")
    env = open311_env(db_url)
    done = run_open311(
        ["--log-format", "text", "worker", "--once", "--sync-every", "0"], env, tmp_path
    )
    assert done.returncode == 0, done.stderr
    [line] = [x for x in done.stderr.splitlines() if " open311.outbox delivery " in x]
    assert f"request_id={rid}" in line and "destination=works" in line
    assert "outcome=retry" in line and "attempt=1" in line and "latency_ms=" in line
    assert not line.startswith("{")


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_extra_fields_and_messages_are_redacted(fmt: str) -> None:
    import io
    import logging

    from open311.logs import configure_logging

    stream = io.StringIO()
    configure_logging("INFO", fmt, stream=stream)
    try:
        logging.getLogger("open311.test").info(
            "mail %s",
            EMAIL,
            extra={"email": EMAIL, "note": f"call {PHONE}", "destination": "works"},
        )
    finally:
        configure_logging("INFO", "text")
    out = stream.getvalue()
    assert EMAIL not in out and PHONE not in out
    assert "works" in out
    if fmt == "json":
        record = json.loads(out)
        assert record["email"] == "[redacted]" and record["destination"] == "works"
