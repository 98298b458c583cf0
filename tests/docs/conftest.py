"""The API description and the docs page: shared fixtures.

Until `create_app()` registers the docs blueprint itself, `docs_app` registers it on the
test app; afterwards it just uses the app as built.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from open311.api import docs

REPO = Path(__file__).resolve().parents[2]
TOP_LEVEL_SPEC = REPO / "openapi.yaml"
STATIC_DOCS = REPO / "open311" / "static" / "docs"


@pytest.fixture
def docs_app(app: Any) -> Any:
    if "docs" not in app.blueprints:
        app.register_blueprint(docs.bp)
    return app


@pytest.fixture
def docs_client(docs_app: Any) -> Any:
    return docs_app.test_client()


@pytest.fixture(scope="session")
def spec() -> dict[str, Any]:
    return yaml.safe_load(TOP_LEVEL_SPEC.read_text(encoding="utf-8"))
