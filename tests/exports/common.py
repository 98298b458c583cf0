"""Reading the exports back: CSV rows and GeoJSON features as the public fields."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

API = "/open311/v2"
EXPORTS = ("csv", "geojson")


def export_rows(response: Any, kind: str) -> list[dict[str, Any]]:
    """The public fields of each exported report (CSV cells are text, "" for null)."""
    assert response.status_code == 200, response.data[:300]
    if kind == "csv":
        assert response.content_type == "text/csv; charset=utf-8; header=present"
        return list(csv.DictReader(io.StringIO(response.data.decode("utf-8"), newline="")))
    assert response.content_type == "application/geo+json; charset=utf-8"
    body = json.loads(response.data)
    assert body["type"] == "FeatureCollection"
    return [feature["properties"] for feature in body["features"]]


def export_ids(client: Any, kind: str, **params: Any) -> list[str]:
    response = client.get(f"{API}/requests.{kind}", query_string=params)
    return [row["service_request_id"] for row in export_rows(response, kind)]
