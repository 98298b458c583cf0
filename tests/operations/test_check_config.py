"""`open311 check-config` builds every part start-up builds and exits 1 on anything
start-up would refuse: the same file then stops the app too."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from open311 import create_app
from open311.catalog import ConfigError
from open311.cli import main

from .conftest import clean_env, write_config


def limits(**values: Any) -> Any:
    return lambda c: c["gateway"].update(rate_limits=values)


BROKEN = {
    "storage scheme": (limits(storage_uri="redsi://:hunter2@cache:6379/0"), "storage_uri"),
    "limit string": (limits(submit="lots per minute"), "rate_limits.submit"),
    "adapter setting": (
        lambda c: c["agencies"][0].update(adapter="http_json", settings={"url": "not a url"}),
        "agencies[0] (roads)",
    ),
    "unknown adapter": (lambda c: c["agencies"][0].update(adapter="carrier-pigeon"), "agencies[0]"),
}


@pytest.mark.parametrize("case", BROKEN)
def test_check_config_refuses_what_start_up_refuses(case: str, tmp_path: Path) -> None:
    change, where = BROKEN[case]
    path = write_config(tmp_path, change)
    result = CliRunner().invoke(main, ["check-config", str(path)], env=clean_env())
    assert result.exit_code == 1, result.output
    assert where in result.output
    assert "hunter2" not in result.output  # a Redis password is not repeated
    with pytest.raises(ConfigError):
        create_app({"CONFIG": str(path), "DATABASE_URL": f"sqlite:///{tmp_path}/x.db"})


def test_a_good_file_passes_with_a_redis_store(tmp_path: Path) -> None:
    path = write_config(tmp_path, limits(storage_uri="redis://127.0.0.1:9/0"))
    result = CliRunner().invoke(main, ["check-config", str(path)], env=clean_env())
    assert result.exit_code == 0, result.output
    assert "OK (1 jurisdictions, 1 agencies, 1 services" in result.output


def test_check_config_refuses_a_database_url_start_up_cannot_use(tmp_path: Path) -> None:
    path = write_config(tmp_path)
    env = clean_env(OPEN311_DATABASE_URL="postgresql://u:pw@db:port/x")
    result = CliRunner().invoke(main, ["check-config", str(path)], env=env)
    assert result.exit_code == 1 and "OPEN311_DATABASE_URL" in result.output
