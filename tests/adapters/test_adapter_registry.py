from __future__ import annotations

import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from adapters import registry
from adapters.base import Adapter
from adapters.email import EmailAdapter
from adapters.http_json import HttpJsonAdapter
from adapters.inbox import InboxAdapter
from adapters.open311_upstream import Open311Adapter
from adapters.registry import (
    UnknownAdapterError,
    available_adapters,
    create_adapter,
    load_adapter_class,
    settings_problems,
)
from adapters.xml_endpoint import XmlAdapter

BUILT_IN = {
    "open311": Open311Adapter,
    "http_json": HttpJsonAdapter,
    "xml": XmlAdapter,
    "email": EmailAdapter,
    "inbox": InboxAdapter,
}


@pytest.mark.parametrize("name", sorted(BUILT_IN))
def test_built_in_adapters_load_by_name(name: str) -> None:
    cls = load_adapter_class(name)
    assert cls is BUILT_IN[name]
    assert issubclass(cls, Adapter)
    assert cls.name == name


def test_available_adapters_lists_the_built_ins_sorted() -> None:
    names = available_adapters()
    assert set(BUILT_IN) <= set(names)
    assert names == sorted(names)


def test_unknown_name_lists_the_known_ones() -> None:
    with pytest.raises(UnknownAdapterError) as info:
        load_adapter_class("sharepoint")
    message = str(info.value)
    assert "'sharepoint'" in message
    for name in BUILT_IN:
        assert name in message
    # Configuration loaders catch ValueError for every bad setting, this included.
    assert isinstance(info.value, ValueError)


def test_create_adapter_builds_and_validates() -> None:
    adapter = create_adapter("inbox", {})
    assert isinstance(adapter, InboxAdapter)
    with pytest.raises(ValueError, match="url: Missing data for required field."):
        create_adapter("http_json", {})


def _install_plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, target: str) -> None:
    """A fake installed distribution on sys.path, the way pip would leave one."""
    _write_plugin(tmp_path, target)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "cityworks_plugin", raising=False)


def _write_plugin(tmp_path: Path, target: str) -> None:
    (tmp_path / "cityworks_plugin.py").write_text(
        textwrap.dedent(
            """
            from adapters.base import Adapter, Receipt

            class CityworksAdapter(Adapter):
                name = "cityworks"

                def submit(self, ticket):
                    return Receipt(backend_id="CW-" + ticket.request_id)

            class NotAnAdapter:
                pass

            from adapters.settings import HttpUrl, SettingsSchema

            class StrictSettings(SettingsSchema):
                url = HttpUrl(required=True)

            class StrictAdapter(CityworksAdapter):
                settings_schema = StrictSettings
            """
        )
    )
    dist = tmp_path / "cityworks_plugin-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: cityworks-plugin\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(f"[open311.adapters]\ncityworks = {target}\n")


def test_third_party_adapter_is_found_through_its_entry_point(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, make_ticket
) -> None:
    _install_plugin(tmp_path, monkeypatch, "cityworks_plugin:CityworksAdapter")
    assert "cityworks" in available_adapters()
    adapter = create_adapter("cityworks", {})
    assert adapter.submit(make_ticket()).backend_id == "CW-NHV-2024-000123"


def test_entry_point_that_is_not_an_adapter_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _install_plugin(tmp_path, monkeypatch, "cityworks_plugin:NotAnAdapter")
    with pytest.raises(TypeError, match="not a subclass"):
        load_adapter_class("cityworks")


def test_broken_entry_point_names_the_adapter(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _install_plugin(tmp_path, monkeypatch, "cityworks_plugin:Missing")
    with pytest.raises(ImportError, match="'cityworks'"):
        load_adapter_class("cityworks")


def test_a_third_party_settings_schema_is_checked_like_the_built_in_ones(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _install_plugin(tmp_path, monkeypatch, "cityworks_plugin:StrictAdapter")
    assert settings_problems("cityworks", {"url": "ftp://x"}) == {
        "settings": {"url": ["Must be an http:// or https:// URL."]}
    }
    assert settings_problems("cityworks", {"url": "https://x.example"}) == {}
    assert settings_problems("carrier-pigeon", {})["adapter"][0].startswith("unknown adapter")


def test_installed_adapters_are_scanned_once_until_the_path_changes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A process start asks the registry about a dozen times, and a POST of an update
    once; the installed distributions are read again only when a folder on the import
    path changed, as pip installing a new adapter into site-packages changes it."""
    scans = []
    real = registry.entry_points

    def counted(*, group: str) -> Any:
        scans.append(group)
        return real(group=group)

    monkeypatch.setattr(registry, "entry_points", counted)
    monkeypatch.syspath_prepend(str(tmp_path))  # a folder of its own: a state never seen
    for _ in range(5):
        assert load_adapter_class("http_json") is HttpJsonAdapter
        assert "cityworks" not in available_adapters()
    assert len(scans) == 1
    _write_plugin(tmp_path, "cityworks_plugin:CityworksAdapter")  # the same folder, changed
    monkeypatch.delitem(sys.modules, "cityworks_plugin", raising=False)
    assert "cityworks" in available_adapters()
    assert len(scans) == 2
