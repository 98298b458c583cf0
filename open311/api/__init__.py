"""The HTTP surface: GeoReport v2 resources and the gateway's own extensions."""
