"""Running the gateway as an operator does: the `open311` command on real databases,
a small configuration written per test, real processes on loopback."""

from __future__ import annotations

import copy
import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from bench.procs import open311_command
from open311.db import database_url
from tests.conftest import PG_URL, drop_database

__all__ = ["drop_database", "open311_command"]

BASE: dict[str, Any] = {
    "gateway": {"contact": "Test desk", "key_service": "Ask", "endpoint_type": "test"},
    "jurisdictions": [{"id": "city.example", "name": "City"}],
    "agencies": [{"id": "roads", "name": "Roads", "adapter": "inbox"}],
    "services": [
        {"code": "POTHOLE", "name": "Pothole", "description": "A pothole.", "agency": "roads"}
    ],
}


def write_config(
    folder: Path, change: Callable[[dict[str, Any]], None] | None = None, name: str = "gw.yaml"
) -> Path:
    config = copy.deepcopy(BASE)
    if change is not None:
        change(config)
    path = folder / name
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return path


def clean_env(**extra: str) -> dict[str, str]:
    """The environment without any OPEN311_ setting of the caller's."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPEN311_")}
    env.update(extra)
    return env


SITE = Path(__file__).resolve().parents[2] / "deploy" / "nginx" / "open311.conf"


def nginx_prefix(folder: Path, upstream: int = 8311, http: int = 80, https: int = 443) -> Path:
    """The shipped nginx site, as an operator installs it, rewritten only where a test must:
    a throw-away certificate, cache and log folder under `folder`, and the given ports.
    Writes folder/nginx.conf (a minimal main file that includes the site); returns it."""
    import subprocess

    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=311.riverton.example",
         "-keyout", str(folder / "key.pem"), "-out", str(folder / "cert.pem")],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    (folder / "logs").mkdir(exist_ok=True)
    live = "/etc/letsencrypt/live/311.riverton.example"
    site = (
        SITE.read_text(encoding="utf-8")
        .replace("/var/cache/nginx/open311", str(folder / "cache"))
        .replace(f"{live}/fullchain.pem", str(folder / "cert.pem"))
        .replace(f"{live}/privkey.pem", str(folder / "key.pem"))
        .replace("/var/log/nginx/", f"{folder}/logs/")
        .replace("server 127.0.0.1:8311;", f"server 127.0.0.1:{upstream};")
        .replace("listen 80;", f"listen 127.0.0.1:{http};")
        .replace("listen 443 ssl", f"listen 127.0.0.1:{https} ssl")
    )
    assert "/var/" not in site and "/etc/letsencrypt" not in site
    (folder / "site.conf").write_text(site, encoding="utf-8")
    main = folder / "nginx.conf"
    main.write_text(
        f"pid {folder}/nginx.pid;\nerror_log {folder}/logs/error.log;\nevents {{}}\n"
        f"http {{\n    include /etc/nginx/mime.types;\n    include {folder}/site.conf;\n}}\n",
        encoding="utf-8",
    )
    return main


needs_pg = pytest.mark.skipif(not PG_URL, reason="OPEN311_TEST_DATABASE_URL is not set")


@pytest.fixture
def pg_admin() -> Iterator[Any]:
    """An AUTOCOMMIT engine on the shared test server (CREATE/DROP DATABASE and ROLE)."""
    assert PG_URL is not None
    engine = create_engine(database_url(PG_URL), isolation_level="AUTOCOMMIT")
    yield engine
    engine.dispose()


@pytest.fixture
def fresh_pg(pg_admin: Any) -> Iterator[str]:
    """An empty throw-away database on the shared server (URL), dropped afterwards."""
    name = f"open311_ops_{uuid.uuid4().hex[:10]}"
    with pg_admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(database_url(PG_URL)).set(database=name)
    yield url.render_as_string(hide_password=False)
    drop_database(pg_admin, name)
