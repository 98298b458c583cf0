"""Finding adapters by name.

Adapters are found through the entry-point group `open311.adapters`, the same way for the
built-in ones (declared in this project's pyproject.toml) and for third-party packages: an
agency's own adapter is a pip install away, with no change to the gateway.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from importlib.metadata import EntryPoint, entry_points
from typing import Any

from marshmallow import ValidationError

from adapters.base import Adapter

ENTRY_POINT_GROUP = "open311.adapters"


class UnknownAdapterError(ValueError, LookupError):
    """No installed adapter has this name (a configuration error, hence also a ValueError)."""


def _entry_points() -> dict[str, EntryPoint]:
    """The group's entry points by name, scanned again only when the import path or one
    of its folders changed. A scan reads every installed distribution's metadata (3.5 ms
    here); a process start asked about 12 times (each agency's adapter is checked when the
    configuration loads and again when it is built), and a POST of an update once. A pip
    install of a new adapter changes its site-packages folder, so a reload sees it."""
    key = _path_state()
    found = _last_scan.get(key)
    if found is None:
        found = _scan()
        _last_scan.clear()
        _last_scan[key] = found
    return found


# The last scan, under the state of the import path it was made in.
_last_scan: dict[tuple[tuple[str, int], ...], dict[str, EntryPoint]] = {}


def _path_state() -> tuple[tuple[str, int], ...]:
    state = []
    for folder in sys.path:
        try:
            state.append((folder, os.stat(folder or ".").st_mtime_ns))
        except OSError:
            state.append((folder, -1))
    return tuple(state)


def _scan() -> dict[str, EntryPoint]:
    found: dict[str, EntryPoint] = {}
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        earlier = found.get(ep.name)
        # The same distribution seen twice (e.g. an editable install) is harmless; two
        # packages claiming one name would make the configuration ambiguous.
        if earlier is not None and earlier.value != ep.value:
            raise LookupError(
                f"adapter name {ep.name!r} is claimed twice in {ENTRY_POINT_GROUP!r}: "
                f"{earlier.value} and {ep.value}; uninstall one of them"
            )
        found[ep.name] = ep
    return found


def available_adapters() -> list[str]:
    """The names of all installed adapters, sorted."""
    return sorted(_entry_points())


def load_adapter_class(name: str) -> type[Adapter]:
    points = _entry_points()
    ep = points.get(name)
    if ep is None:
        known = ", ".join(sorted(points)) or "none installed"
        raise UnknownAdapterError(f"unknown adapter {name!r}; available adapters: {known}")
    try:
        loaded = ep.load()
    except (ImportError, AttributeError) as exc:
        raise ImportError(f"adapter {name!r} ({ep.value}) cannot be loaded: {exc}") from exc
    if not (isinstance(loaded, type) and issubclass(loaded, Adapter)):
        raise TypeError(f"adapter {name!r} ({ep.value}) is not a subclass of adapters.base.Adapter")
    return loaded


def create_adapter(name: str, settings: Mapping[str, Any] | None = None) -> Adapter:
    """An adapter instance; ValueError when the name is unknown or the settings are wrong."""
    return load_adapter_class(name)(settings or {})


def settings_problems(name: str, settings: Mapping[str, Any] | None) -> dict[str, Any]:
    """What is wrong with an agency's `adapter` and `settings`, as marshmallow messages
    keyed like the agency's own keys ({} when nothing is): the configuration loader reports
    them by key path with the rest of the file's problems. An adapter without a
    `settings_schema` checks its settings when it is built."""
    try:
        adapter = load_adapter_class(name)
    except (ImportError, LookupError, TypeError) as exc:
        return {"adapter": [str(exc)]}
    if adapter.settings_schema is None:
        return {}
    try:
        adapter.settings_schema().load(settings or {})
    except ValidationError as exc:
        return {"settings": exc.messages}
    return {}
