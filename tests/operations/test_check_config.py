"""`open311 check-config` builds every part start-up builds and exits 1 on anything
start-up would refuse: the same file then stops the app too."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from open311 import create_app
from open311.catalog import ConfigError, load_catalog
from open311.cli import main

from .conftest import clean_env, write_config


def limits(**values: Any) -> Any:
    return lambda c: c["gateway"].update(rate_limits=values)


BROKEN = {
    "storage scheme": (limits(storage_uri="redsi://:hunter2@cache:6379/0"), "storage_uri"),
    "limit string": (limits(submit="lots per minute"), "rate_limits.submit"),
    "adapter setting": (
        lambda c: c["agencies"][0].update(adapter="http_json", settings={"url": "not a url"}),
        "agencies[0].settings.url: Must be an http:// or https:// URL.",
    ),
    "unknown adapter": (
        lambda c: c["agencies"][0].update(adapter="carrier-pigeon"),
        "agencies[0].adapter: unknown adapter 'carrier-pigeon'",
    ),
}

HTTP = "https://backend.example.gov/api"
XML = {"url": HTTP, "template": "<a>$request_id</a>", "id_xpath": "//id"}
MAIL = {"host": "mail.example.gov", "from": "gw@example.gov", "to": "roads@example.gov"}
# One wrong setting of each built-in adapter, and the line the file's check gives for it.
BAD_SETTINGS = {
    "http_json": (
        {"url": HTTP, "timeout": {"connect": 2, "read": 0}},
        "agencies[1].settings.timeout.read: Must be greater than 0.",
    ),
    "xml": (
        {**XML, "status": {"url": HTTP + "/{backend_id}", "status_xpath": "//s", "notes": "x"}},
        "agencies[1].settings.status.notes: Unknown field.",
    ),
    "open311": (
        {"endpoint": HTTP, "format": "yaml"},
        "agencies[1].settings.format: Must be one of: json, xml.",
    ),
    "email": (
        {**MAIL, "port": 70000},
        "agencies[1].settings.port: Must be greater than or equal to 1 and less than or equal "
        "to 65535.",
    ),
    "inbox": ({"url": HTTP}, "agencies[1].settings.url: Unknown field."),
}


def second_agency(adapter: str, settings: dict[str, Any]) -> Any:
    def change(config: dict[str, Any]) -> None:
        config["agencies"].append(
            {"id": "works", "name": "Works", "adapter": adapter, "settings": settings}
        )

    return change


@pytest.mark.parametrize("adapter", BAD_SETTINGS)
def test_a_bad_adapter_setting_is_named_by_its_key_path(adapter: str, tmp_path: Path) -> None:
    settings, line = BAD_SETTINGS[adapter]
    path = write_config(tmp_path, second_agency(adapter, settings))
    with pytest.raises(ConfigError) as info:
        load_catalog(path)
    assert f"\n  {line}" in str(info.value)
    result = CliRunner().invoke(main, ["check-config", str(path)], env=clean_env())
    assert result.exit_code == 1, result.output
    assert line in result.output


def test_adapter_settings_are_reported_with_the_rest_of_the_file(tmp_path: Path) -> None:
    def change(config: dict[str, Any]) -> None:
        second_agency("http_json", {"url": HTTP, "timeout": -1})(config)
        config["services"][0]["agency"] = "nobody"

    with pytest.raises(ConfigError) as info:
        load_catalog(write_config(tmp_path, change))
    lines = str(info.value).splitlines()[1:]
    assert "  agencies[1].settings.timeout: Must be greater than 0." in lines
    assert "  services[0].agency: Unknown agency 'nobody'." in lines


@pytest.mark.parametrize("adapter", BAD_SETTINGS)
def test_the_good_settings_of_each_adapter_load(adapter: str, tmp_path: Path) -> None:
    good = {
        "http_json": {"url": HTTP, "timeout": {"connect": 2, "read": 5}},
        "xml": {**XML, "status": {"url": HTTP + "/{backend_id}", "status_xpath": "//s"}},
        "open311": {"endpoint": HTTP, "format": "xml"},
        "email": {**MAIL, "port": 587},
        "inbox": {},
    }[adapter]
    result = CliRunner().invoke(
        main,
        ["check-config", str(write_config(tmp_path, second_agency(adapter, good)))],
        env=clean_env(),
    )
    assert result.exit_code == 0, result.output


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
