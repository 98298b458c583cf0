from __future__ import annotations

import pytest

from adapters.inbox import InboxAdapter


def test_inbox_acknowledges_at_once(make_ticket) -> None:
    adapter = InboxAdapter({})
    receipt = adapter.submit(make_ticket())
    assert receipt.backend_id == "NHV-2024-000123"
    assert receipt.status == "open"
    assert adapter.fetch_updates(make_ticket().requested_datetime, []) == []
    with pytest.raises(ValueError, match="^inbox adapter settings: url: Unknown field.$"):
        InboxAdapter({"url": "https://example.org"})
