"""The services a resident can pick, as the report page shows them: grouped, searchable.

Plain functions over `open311.catalog` (no Flask), so the page and its tests agree on
what a search finds.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..catalog import Catalog, Service


@dataclass(frozen=True)
class Group:
    name: str | None  # None: services without a group, listed last
    services: tuple[Service, ...]


def search_text(service: Service) -> str:
    """The words a search matches: name, group, keywords and description, lower case."""
    words = (service.name, service.group or "", " ".join(service.keywords), service.description)
    return " ".join(words).lower()


def grouped(catalog: Catalog, jurisdiction: str, query: str = "") -> list[Group]:
    """The jurisdiction's services whose text holds every word of `query`, by group name
    (alphabetical), each group's services by name."""
    words = query.lower().split()
    found = [
        s for s in catalog.services_in(jurisdiction) if all(w in search_text(s) for w in words)
    ]
    names = sorted({s.group for s in found if s.group})
    order: list[str | None] = [*names, None]
    groups = []
    for name in order:
        members = sorted((s for s in found if s.group == name), key=lambda s: s.name.lower())
        if members:
            groups.append(Group(name, tuple(members)))
    return groups
