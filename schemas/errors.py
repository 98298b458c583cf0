"""Marshmallow's nested error messages as flat lines that name where each problem is.

One walk serves two spellings of the path:
- the configuration file's key paths, `services[2].attributes[0].datatype: …`, used for
  the gateway's own keys and for every adapter's settings;
- the API's parameter names, `attribute[CODE]: …`, as a client wrote them.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

Path = tuple[str | int, ...]


def leaves(messages: Any, path: Path = ()) -> Iterator[tuple[Path, str]]:
    """Every (path, message) in a marshmallow error structure; `_schema` adds no step."""
    if isinstance(messages, dict):
        for key, value in messages.items():
            yield from leaves(value, path if key == "_schema" else (*path, key))
    elif isinstance(messages, list | tuple):
        for item in messages:
            yield from leaves(item, path)
    else:
        yield path, str(messages)


def key_path(path: Path) -> str:
    """`services[2].attributes[0].datatype`: list indexes in brackets, keys dotted."""
    out = ""
    for step in path:
        if isinstance(step, int):
            out += f"[{step}]"
        else:
            out += f".{step}" if out else str(step)
    return out


def key_path_lines(messages: Any, prefix: str = "") -> list[str]:
    """Configuration errors, one `key.path: message` line each, under an optional prefix."""
    lines = []
    for path, message in leaves(messages):
        where = key_path(path)
        if prefix:
            where = f"{prefix}.{where}" if where and not where.startswith("[") else prefix + where
        lines.append(f"{where or '(top level)'}: {message}")
    return lines


def parameter_lines(messages: Any) -> list[str]:
    """API errors named by parameter (`attribute[CODE][0]: …`); whole-request problems and
    location problems (lat/long or an address: no one parameter is wrong) stand bare."""
    lines = []
    for path, message in leaves(messages):
        if not path or path == ("location",):
            lines.append(message)
        else:
            first, *rest = path
            lines.append(f"{first}{''.join(f'[{step}]' for step in rest)}: {message}")
    return lines
