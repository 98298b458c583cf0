"""What a running gateway holds: its configuration, router and database."""

from __future__ import annotations

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
