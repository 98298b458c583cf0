from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest

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
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "cityworks_plugin", raising=False)


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
