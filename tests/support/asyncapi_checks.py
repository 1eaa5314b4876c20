"""Checking an AsyncAPI 3.0 document offline: against the vendored AsyncAPI JSON Schema, its
references, and messages against the payload schemas it declares."""

import json
from pathlib import Path
from typing import Any

import jsonschema

SPEC_SCHEMA = Path(__file__).parent / "asyncapi_spec" / "asyncapi-3.0.0.schema.json"


def spec_errors(document: dict[str, Any]) -> list[str]:
    """What the AsyncAPI 3.0.0 JSON Schema finds wrong with `document` (nothing: valid)."""
    validator = jsonschema.Draft7Validator(json.loads(SPEC_SCHEMA.read_text()))
    return [
        f"{'/'.join(map(str, e.absolute_path))}: {e.message[:300]}"
        for e in validator.iter_errors(document)
    ]


def local_refs(node: Any) -> list[str]:
    """Every `$ref` in the document."""
    if isinstance(node, dict):
        found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return found + [ref for value in node.values() for ref in local_refs(value)]
    if isinstance(node, list):
        return [ref for item in node for ref in local_refs(item)]
    return []


def resolve(document: dict[str, Any], ref: str) -> Any:
    assert ref.startswith("#/"), ref
    node: Any = document
    for part in ref[2:].split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def payload_errors(document: dict[str, Any], message: str, body: Any) -> list[str]:
    """What the payload schema of `message` (a components/messages name) finds wrong with
    `body`, resolved within the document."""
    payload = document["components"]["messages"][message]["payload"]
    schema = {**payload, "components": document["components"]}
    validator = jsonschema.Draft7Validator(schema)
    return [f"{list(e.absolute_path)}: {e.message[:300]}" for e in validator.iter_errors(body)]
