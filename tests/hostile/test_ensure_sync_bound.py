"""GatewayFlask remembers ensure_sync's answer per hook and view (open311/lean_flask.py);
functions made per request must not grow that store without end."""

from __future__ import annotations

from typing import Any

from open311.lean_flask import _SYNC_KEPT


def test_functions_made_per_request_are_not_kept_for_ever(app: Any) -> None:
    with app.test_request_context("/"):
        for n in range(_SYNC_KEPT + 500):

            def made(value: int = n) -> int:
                return value

            assert app.ensure_sync(made)() == n
    assert len(app._sync) <= _SYNC_KEPT
    # The app's own hooks and views are still answered from the store.
    view = app.view_functions["services.service_list"]
    assert app.ensure_sync(view) is app.ensure_sync(view)
