"""What a running gateway holds: its configuration, router and database."""

from __future__ import annotations

from dataclasses import dataclass

from .catalog import Catalog
from .db import Database
from .routing import Router


@dataclass
class Gateway:
    catalog: Catalog
    router: Router
    db: Database
