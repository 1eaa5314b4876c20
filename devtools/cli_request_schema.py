"""Writes cli/request_schema.json: the request bodies of the job-creating routes, as the API's
OpenAPI document gives them, with every `$ref` inlined, and the job statuses. The command line
builds its options from that file (it may not import the services), so a request field added to
the API gets its option when the file is regenerated: `make cli-schema`
(tests/unit/cli/test_request_schema.py fails while the committed file is stale)."""

import json
from pathlib import Path
from typing import Any

from services.api.app import ENDPOINTS
from services.api.openapi import openapi_document
from shared.jobs import TERMINAL_STATUSES

TARGET = Path(__file__).resolve().parents[1] / "cli" / "request_schema.json"
# Each job the command line submits, and the route whose body describes it.
JOB_ROUTES = {
    "backfill": "/api/v1/backfills",
    "backtest": "/api/v1/backtests",
    "optimization": "/api/v1/optimizations",
}
_DROPPED = ("title",)  # pydantic's field titles repeat the field names


def request_schemas() -> dict[str, Any]:
    """{kind: the body's JSON schema, references inlined}, from the live models."""
    document = openapi_document(ENDPOINTS, title="backtester", version="0")
    components = document["components"]["schemas"]
    schemas = {}
    for kind, path in JOB_ROUTES.items():
        body = document["paths"][path]["post"]["requestBody"]["content"]["application/json"]
        schemas[kind] = _inlined(body["schema"], components, ())
    return schemas


def job_statuses() -> dict[str, list[str]]:
    """Every job status, as the OpenAPI document's enum lists them, and those a job ends in."""
    document = openapi_document(ENDPOINTS, title="backtester", version="0")
    every = document["components"]["schemas"]["BacktestView"]["properties"]["status"]["enum"]
    return {"all": every, "terminal": [s for s in every if s in TERMINAL_STATUSES]}


def rendered() -> str:
    described = {**request_schemas(), "job_statuses": job_statuses()}
    return json.dumps(described, indent=1, sort_keys=False) + "\n"


def _inlined(node: Any, components: dict[str, Any], seen: tuple[str, ...]) -> Any:
    if isinstance(node, list):
        return [_inlined(item, components, seen) for item in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        name = node["$ref"].rsplit("/", 1)[-1]
        if name in seen:
            raise ValueError(f"{name} refers to itself; the command line cannot inline it")
        target = _inlined(components[name], components, (*seen, name))
        siblings = {k: v for k, v in node.items() if k != "$ref"}
        return {**target, **_inlined(siblings, components, seen)}
    return {
        key: _inlined(value, components, seen)
        for key, value in node.items()
        if key not in _DROPPED and key != "discriminator"
    }


def main() -> None:
    TARGET.write_text(rendered())
    print(
        f"wrote {TARGET.relative_to(Path.cwd()) if TARGET.is_relative_to(Path.cwd()) else TARGET}"
    )


if __name__ == "__main__":
    main()
