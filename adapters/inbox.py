"""Keep the agency's queue in the gateway itself.

Some agencies have no work-order system at all, or none reachable from outside. For them
the gateway is the back-end: reports wait in the gateway's own database and staff work
them through the gateway's staff API, which writes status changes directly. There is
nothing to deliver to and nothing to read back, so this adapter only acknowledges: the
report is accepted at once under its own request id and is open.
"""

from __future__ import annotations

from adapters.base import Adapter, Receipt, Ticket
from adapters.settings import SettingsSchema


class InboxSettings(SettingsSchema):
    """None: refusing stray ones catches an agency pointed here by mistake."""


class InboxAdapter(Adapter):
    name = "inbox"
    settings_schema = InboxSettings

    def submit(self, ticket: Ticket) -> Receipt:
        return Receipt(backend_id=ticket.request_id, status="open")
