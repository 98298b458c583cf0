"""The files under deploy/ are what docs/deployment.md tells operators to install, and
they work: Debian's nginx accepts the site (`nginx -t`), systemd accepts the units
(`systemd-analyze verify`), and the site keeps secrets out of its logs and security
headers on every location."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import SITE, nginx_prefix

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
UNITS = sorted((DEPLOY / "systemd").glob("*.service")) + sorted(
    (DEPLOY / "systemd").glob("*.timer")
)
DOCS = ROOT / "docs" / "deployment.md"


def test_the_docs_use_the_files() -> None:
    docs = DOCS.read_text(encoding="utf-8")
    for path in [SITE, *UNITS, DEPLOY / "systemd" / "open311.env.example"]:
        assert str(path.relative_to(ROOT)) in docs, path
    assert "proxy_cache_path" not in docs and "[Service]" not in docs  # no second copy


def test_the_site_logs_no_query_string() -> None:
    site = SITE.read_text(encoding="utf-8")
    formats = re.findall(r"log_format\s+\w+\s+(.*?);", site, re.S)
    assert formats and not any(
        v in f
        for f in formats
        for v in ("$request ", '$request"', "$request_uri", "$args", "$query_string")
    )
    assert re.findall(r"access_log\s+\S+\s+open311;", site) and "access_log off" not in site
    servers = site.count("server {")
    assert site.count("access_log ") == servers and site.count("error_log ") == servers
    assert all(level == "crit" for level in re.findall(r"error_log\s+\S+\s+(\w+);", site))


def test_no_location_drops_the_security_headers() -> None:
    """An add_header inside a location replaces every inherited one (HSTS included)."""
    site = SITE.read_text(encoding="utf-8")
    for block in re.findall(r"location[^{]*\{(.*?)\n\s*\}", site, re.S):
        assert "add_header" not in block
    assert 'Strict-Transport-Security "max-age=31536000" always' in site
    for block in re.findall(r"location[^{]*\{[^}]*proxy_cache open311;[^}]*\}", site, re.S):
        assert "proxy_hide_header X-RateLimit-Remaining" in block, block
    health = re.findall(r"location = /(?:healthz|readyz)\s*\{([^}]*)\}", site)
    assert len(health) == 2 and all("proxy_cache off" in h for h in health)


@pytest.mark.skipif(not shutil.which("nginx"), reason="nginx is not installed")
def test_nginx_accepts_the_site(tmp_path: Path) -> None:
    main = nginx_prefix(tmp_path)
    checked = subprocess.run(
        ["nginx", "-t", "-p", str(tmp_path), "-c", str(main)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert checked.returncode == 0, checked.stderr
    assert "test is successful" in checked.stderr


@pytest.mark.skipif(not shutil.which("systemd-analyze"), reason="systemd-analyze is missing")
def test_systemd_accepts_the_units(tmp_path: Path) -> None:
    command = Path(sys.executable).parent / "open311"  # the venv the units point at, here
    names = []
    for unit in UNITS:
        text = unit.read_text(encoding="utf-8")
        # The API reloads; workers restart; the daily chores and their timer run and stop.
        assert "ExecReload=" in text or "worker" in unit.name or "daily" in unit.name
        name = unit.name.replace("@.service", "@1.service")
        (tmp_path / name).write_text(text.replace("/opt/open311/venv/bin/open311", str(command)))
        names.append(str(tmp_path / name))
    checked = subprocess.run(
        ["systemd-analyze", "verify", *names], capture_output=True, text=True, timeout=60
    )
    problems = [
        line
        for line in checked.stderr.splitlines()
        if re.search(r"Unknown|Invalid|Failed|not found|Missing", line) and "open311" in line
    ]
    assert checked.returncode == 0 and not problems, checked.stderr
