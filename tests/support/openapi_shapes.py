"""Reading openapi.yaml the way the tests compare answers with it: `$ref`s followed,
`allOf` properties merged, and the XML shape of an answer checked against the schema's
`xml` names (JSON bodies are checked with a JSON Schema validator; XML has no such tool)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
TOP_LEVEL_SPEC = REPO / "openapi.yaml"
DEMO_CONFIG = REPO / "open311" / "demo" / "config.yaml"


def load_spec() -> dict[str, Any]:
    return yaml.safe_load(TOP_LEVEL_SPEC.read_text(encoding="utf-8"))


def deref(spec: dict[str, Any], node: Any) -> Any:
    while isinstance(node, dict) and "$ref" in node:
        parts = node["$ref"].removeprefix("#/").split("/")
        node = spec
        for part in parts:
            node = node[part]
    return node


def properties(spec: dict[str, Any], schema: Any) -> dict[str, Any]:
    schema = deref(spec, schema)
    props = dict(schema.get("properties", {}))
    for part in schema.get("allOf", []):
        props.update(properties(spec, part))
    return props


def assert_xml_shape(spec: dict[str, Any], element: Any, schema: Any, where: str) -> None:
    """The element is named as the schema says, has every required child and no child the
    schema does not describe; wrapped lists hold elements of the item's name."""
    schema = deref(spec, schema)
    if "anyOf" in schema:  # one of the branches fits (a list of requests or followed ones)
        failures = []
        for branch in schema["anyOf"]:
            try:
                assert_xml_shape(spec, element, branch, where)
                return
            except AssertionError as exc:
                failures.append(exc)
        raise AssertionError(where, failures)
    assert element.tag == schema["xml"]["name"], (where, element.tag)
    kinds = schema.get("type")
    kinds = kinds if isinstance(kinds, list) else [kinds]
    if "array" in kinds:
        for child in element:
            assert_xml_shape(spec, child, schema["items"], where)
        return
    props = properties(spec, schema)
    required = set(deref(spec, schema).get("required", []))
    for part in schema.get("allOf", []):
        required |= set(deref(spec, part).get("required", []))
    tags = [child.tag for child in element]
    assert required <= set(tags), (where, required - set(tags))
    for child in element:
        assert child.tag in props, (where, child.tag)
        prop = deref(spec, props[child.tag])
        if "xml" in prop and prop["xml"].get("wrapped"):
            item = deref(spec, prop["items"])
            for grandchild in child:
                assert grandchild.tag == item["xml"]["name"], (where, grandchild.tag)
                if "properties" in item:
                    assert_xml_shape(spec, grandchild, item, where)


def demo_config_copy(folder: Path, webhook_secrets: dict[str, str]) -> Path:
    """The demo configuration written into `folder` (its boundary files still found),
    with a webhook secret for each agency named."""
    config = yaml.safe_load(DEMO_CONFIG.read_text(encoding="utf-8"))
    for jurisdiction in config["jurisdictions"]:
        jurisdiction["boundary"] = str(DEMO_CONFIG.parent / jurisdiction["boundary"])
    for area in config["areas"]:
        area["file"] = str(DEMO_CONFIG.parent / area["file"])
    for agency in config["agencies"]:
        if agency["id"] in webhook_secrets:
            agency["webhook_secret"] = webhook_secrets[agency["id"]]
    path = folder / "config.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path
