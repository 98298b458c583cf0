from typing import Any

import pytest


@pytest.fixture
def settings(delivery_settings: dict[str, Any]) -> dict[str, Any]:
    return delivery_settings
