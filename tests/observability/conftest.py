"""Observability tests run a gateway whose agencies are a recording loopback back-end."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.support.plugin import DELIVERY_CONFIG
from tests.support.servers import free_port, open311_command, stop_process, wait_until_up


@pytest.fixture
def settings(delivery_settings: dict[str, Any]) -> dict[str, Any]:
    return delivery_settings


def open311_env(db_url: str, **extra: str) -> dict[str, str]:
    """The environment of an `open311` process over the test database and configuration
    (TEST_BACKEND_URL comes from the `delivery_settings` fixture)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPEN311_")}
    env.update(OPEN311_DATABASE_URL=db_url, OPEN311_CONFIG=str(DELIVERY_CONFIG), **extra)
    return env


def run_open311(
    args: list[str], env: dict[str, str], cwd: Path
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "open311.cli", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
    )


@contextmanager
def serving(env: dict[str, str], folder: Path, *args: str) -> Iterator[str]:
    """`open311 serve` (one gunicorn worker, no delivery worker unless asked) on a free
    loopback port; yields its root URL. Its log is in folder/serve.log."""
    port = free_port()
    root = f"http://127.0.0.1:{port}"
    with (folder / "serve.log").open("wb") as log:
        process = subprocess.Popen(
            [*open311_command(), "serve", "--port", str(port), "--workers", "1", *args],
            env=env,
            cwd=folder,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            wait_until_up(root, process)
            yield root
        finally:
            stop_process(process)
