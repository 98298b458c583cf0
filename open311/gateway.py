"""What a running gateway holds: its configuration, router and database."""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass, field

from .catalog import Catalog
from .db import Database
from .routing import Router


@dataclass
class Gateway:
    catalog: Catalog
    router: Router
    db: Database
    # jurisdictions.geojson, made on first request (it is the same until a reload).
    coverage: bytes | None = field(default=None, repr=False)
    # Answers that depend on the configuration alone (services, definitions), built once
    # per process: a new configuration comes with new processes (SIGHUP starts new workers).
    built: dict[Hashable, bytes] = field(default_factory=dict)

    def once(self, key: Hashable, build: Callable[[], bytes]) -> bytes:
        found = self.built.get(key)
        if found is None:
            found = self.built[key] = build()
        return found
