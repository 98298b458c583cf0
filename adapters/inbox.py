"""Keep the agency's queue in the gateway itself.

Some agencies have no work-order system at all, or none reachable from outside. For them
the gateway is the back-end: reports wait in the gateway's own database and staff work
them through the gateway's staff API, which writes status changes directly. There is
nothing to deliver to and nothing to read back, so this adapter only acknowledges: the
report is accepted at once under its own request id and is open.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from adapters.base import Adapter, Receipt, Ticket
from adapters.config import SettingsReader


class InboxAdapter(Adapter):
    name = "inbox"

    def __init__(self, settings: Mapping[str, Any] | None = None) -> None:
        super().__init__(settings)
        # It takes no settings; refusing stray ones catches an agency pointed here by mistake.
        SettingsReader(self.name, self.settings, allowed=())

    def submit(self, ticket: Ticket) -> Receipt:
        return Receipt(backend_id=ticket.request_id, status="open")
