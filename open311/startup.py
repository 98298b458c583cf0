"""What start-up builds from a configuration file, in one place.

`create_app()`, `open311 worker`/`sync`, the SIGHUP reload and `open311 check-config` all
build through `build_parts()`, so check-config refuses exactly what start-up would: the
catalogue, the routing index, the rate-limit store and limits, every agency's adapter and
the reporter's notifiers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from adapters.base import Adapter
from adapters.notify import Notifier

from .catalog import Catalog, load_catalog
from .delivery import build_adapters
from .limits import check_limits
from .notifications import build_notifiers
from .routing import Router


@dataclass
class Parts:
    catalog: Catalog
    router: Router
    adapters: dict[str, Adapter]
    # The reporter's channels (notifications.email, notifications.sms), by channel.
    notifiers: dict[str, Notifier] = field(default_factory=dict)

    def close_adapters(self) -> None:
        for adapter in self.adapters.values():
            adapter.close()
        for notifier in self.notifiers.values():
            notifier.close()


def build_parts(path: Path) -> Parts:
    """Every component built from the file, or ConfigError naming the file and the key."""
    catalog = load_catalog(path)
    router = Router(catalog)
    check_limits(catalog)
    notifiers = build_notifiers(catalog)
    try:
        adapters = build_adapters(catalog)
    except Exception:
        for notifier in notifiers.values():
            notifier.close()
        raise
    return Parts(catalog=catalog, router=router, adapters=adapters, notifiers=notifiers)
