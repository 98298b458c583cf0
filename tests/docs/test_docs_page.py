"""The /docs page and its vendored files, without a browser (see test_docs_browser.py)."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any

from lxml import html

STATIC_DOCS = Path(__file__).resolve().parents[2] / "open311" / "static" / "docs"
OURS = {"docs.js", "docs.css", "VENDORED.md"}
# Hosts named in swagger-ui-bundle.js 5.35.0, reviewed (VENDORED.md says why none is
# fetched once docs.js sets validatorUrl: null). An update that adds a host fails here
# until someone has looked at it.
REVIEWED_BUNDLE_HOSTS = {
    "base",
    "datatracker.ietf.org",
    "example.com",
    "fb.me",
    "github.com",
    "instagram.com",
    "json-schema.org",
    "reactjs.org",
    "redux.js.org",
    "soundcloud.com",
    "spdx.org",
    "spec.openapis.org",
    "swagger.io",
    "twitter.com",
    "validator.swagger.io",
    "vladimirgorej.com",
    "www.facebook.com",
    "www.rfc-editor.org",
    "www.tiktok.com",
    "www.w3.org",
}
ABSOLUTE_URL = re.compile(r"https?://|//[a-z0-9.-]+\.[a-z]{2,}/", re.IGNORECASE)


def test_docs_page_loads_only_local_files(docs_client: Any) -> None:
    response = docs_client.get("/docs")
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    page = response.get_data(as_text=True)
    assert not ABSOLUTE_URL.search(page), "the page must not name another host"
    tree = html.fromstring(page)
    urls = tree.xpath("//script/@src | //link/@href | //*/@data-spec-url")
    assert {"/openapi.yaml", "/static/docs/swagger-ui-bundle.js", "/static/docs/docs.js"} <= set(
        urls
    )
    for url in urls:
        if url.startswith("data:"):
            continue
        assert url.startswith("/"), url
        loaded = docs_client.get(url)
        assert loaded.status_code == 200, url
        loaded.close()


def test_docs_page_forbids_other_origins(docs_client: Any) -> None:
    csp = docs_client.get("/docs").headers["Content-Security-Policy"]
    directives = dict(d.strip().split(" ", 1) for d in csp.split(";"))
    assert directives["default-src"] == "'none'"
    for name in ("script-src", "connect-src"):
        assert directives[name] == "'self'", name
    for name, value in directives.items():
        assert "http" not in value and "*" not in value, name


def test_our_page_files_name_no_host() -> None:
    for name in ("docs.js", "docs.css"):
        assert not ABSOLUTE_URL.search((STATIC_DOCS / name).read_text(encoding="utf-8")), name


def test_swagger_ui_options_switch_off_outside_calls() -> None:
    script = (STATIC_DOCS / "docs.js").read_text(encoding="utf-8")
    assert re.search(r"validatorUrl:\s*null", script)
    assert re.search(r"queryConfigEnabled:\s*false", script)


def test_bundle_hosts_were_reviewed() -> None:
    bundle = (STATIC_DOCS / "swagger-ui-bundle.js").read_text(encoding="utf-8")
    hosts = set(re.findall(r"https?://([a-zA-Z0-9.-]+)", bundle))
    assert hosts <= REVIEWED_BUNDLE_HOSTS, sorted(hosts - REVIEWED_BUNDLE_HOSTS)
    css = (STATIC_DOCS / "swagger-ui.css").read_text(encoding="utf-8")
    assert "@import" not in css
    assert set(re.findall(r"https?://([a-zA-Z0-9.-]+)", css)) <= {"www.w3.org"}


def test_vendored_files_match_their_record() -> None:
    record = (STATIC_DOCS / "VENDORED.md").read_text(encoding="utf-8")
    rows = dict(re.findall(r"^\| `([^`]+)` \| \d+ \| `([0-9a-f]{64})` \|$", record, re.M))
    assert rows, "VENDORED.md lists no files"
    for name, digest in rows.items():
        assert hashlib.sha256((STATIC_DOCS / name).read_bytes()).hexdigest() == digest, name
    on_disk = {p.name for p in STATIC_DOCS.iterdir() if p.is_file()}
    assert on_disk == set(rows) | OURS, on_disk ^ (set(rows) | OURS)
    total = sum((STATIC_DOCS / name).stat().st_size for name in on_disk)
    assert total < 2_500_000, total


def test_index_points_at_the_docs(docs_client: Any) -> None:
    # An app probing the root asks for JSON; a browser gets the resident pages.
    index = docs_client.get("/", headers={"Accept": "application/json"}).get_json()
    assert docs_client.get(index["docs"]).status_code == 200
    assert docs_client.get(index["openapi"]).status_code == 200
