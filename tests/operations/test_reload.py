"""SIGHUP to `open311 serve` reloads the configuration safely: a broken file is refused
and logged while the API keeps answering with the running catalogue; a fixed file is
taken up by the next SIGHUP."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import requests

from tests.support.servers import free_port, stop_process, wait_until_up

from .conftest import clean_env, open311_command, write_config


def codes(root: str) -> set[str]:
    answer = requests.get(f"{root}/open311/v2/services.json", timeout=5)
    assert answer.status_code == 200
    return {s["service_code"] for s in answer.json()}


def test_sighup_refuses_a_broken_file_and_takes_a_fixed_one(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    port = free_port()
    root = f"http://127.0.0.1:{port}"
    log_path = tmp_path / "serve.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [
                *open311_command(),
                "--database-url", f"sqlite:///{tmp_path}/gw.db", "--config", str(config),
                "serve", "--port", str(port), "--workers", "1", "--no-worker",
            ],
            env={k: v for k, v in clean_env().items() if k != "PROMETHEUS_MULTIPROC_DIR"},
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        try:
            wait_until_up(root, process, timeout=60)
            assert codes(root) == {"POTHOLE"}

            config.write_text("services: [unclosed\n", encoding="utf-8")
            os.kill(process.pid, signal.SIGHUP)
            deadline = time.monotonic() + 20
            while b"reload refused" not in log_path.read_bytes():
                assert time.monotonic() < deadline, log_path.read_text()
                time.sleep(0.2)
            time.sleep(1.0)  # any new worker would have booted (and failed) by now
            assert process.poll() is None
            assert codes(root) == {"POTHOLE"}

            def more(c: dict) -> None:
                c["services"].append(
                    {"code": "LIGHT", "name": "Light", "description": "Out.", "agency": "roads"}
                )

            write_config(tmp_path, more)
            os.kill(process.pid, signal.SIGHUP)
            deadline = time.monotonic() + 30
            while codes(root) != {"POTHOLE", "LIGHT"}:
                assert time.monotonic() < deadline and process.poll() is None
                time.sleep(0.3)
        finally:
            stop_process(process)
