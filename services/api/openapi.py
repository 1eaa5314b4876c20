"""The OpenAPI 3.1 document, built from the endpoints' pydantic models."""

from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from services.api.endpoints import Endpoint
from shared.submissions import ErrorBody

_REF = "#/components/schemas/{model}"


class ErrorResponse(BaseModel):
    error: ErrorBody


_ERROR_DESCRIPTIONS = {
    400: "Malformed request",
    401: "Missing or wrong API token",
    404: "Not found",
    409: "Conflict",
    413: "Request body over 1 MiB (after decompression)",
    415: "Unsupported Content-Encoding (gzip, deflate or none)",
    422: "Invalid value; `details` names each field",
    503: "A dependency (PostgreSQL or RabbitMQ) is down",
}
_SUCCESS_DESCRIPTIONS = {
    200: "OK",
    201: "Created",
    202: "Accepted: the job is queued; follow it at `Location`",
    204: "Done; no content",
}
# Every route behind the token reads the database, so each may answer these.
_GUARDED_ERRORS = (401, 503)


def openapi_document(endpoints: list[Endpoint], *, title: str, version: str) -> dict[str, Any]:
    models: list[tuple[type[BaseModel], JsonSchemaMode]] = [(ErrorResponse, "serialization")]
    for ep in endpoints:
        if ep.body:
            models.append((ep.body, "validation"))
        if ep.response:
            models.append((ep.response, "serialization"))
    refs, top = models_json_schema(models, ref_template=_REF)
    schemas = top.get("$defs", {})

    def ref(model: type[BaseModel], mode: JsonSchemaMode) -> dict[str, Any]:
        return refs[(model, mode)]

    paths: dict[str, dict[str, Any]] = {}
    operation_ids: dict[str, Endpoint] = {}
    for ep in endpoints:
        clash = operation_ids.setdefault(ep.operation_name, ep)
        if clash is not ep:
            raise ValueError(f"operationId {ep.operation_name} names {clash.path} and {ep.path}")
        operation: dict[str, Any] = {
            "summary": ep.summary,
            "operationId": ep.operation_name,
            "tags": [ep.tag],
            "parameters": _parameters(ep),
            "responses": _responses(ep, ref),
        }
        if ep.body:
            operation["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": ref(ep.body, "validation")}},
            }
        if ep.public:
            operation["security"] = []
        paths.setdefault(ep.path, {})[ep.method.lower()] = operation
    return {
        # pydantic writes JSON Schema 2020-12, which is what OpenAPI 3.1 uses.
        "openapi": "3.1.0",
        "info": {"title": title, "version": version},
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{"bearer": []}],
    }


def _parameters(ep: Endpoint) -> list[dict[str, Any]]:
    params: list[dict[str, Any]] = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
        for name in ep.path_params
    ]
    if ep.query:
        schema = ep.query.model_json_schema(mode="validation")
        required = set(schema.get("required", []))
        for name, prop in schema.get("properties", {}).items():
            param = {"name": name, "in": "query", "required": name in required, "schema": prop}
            if "description" in prop:
                param["description"] = prop["description"]
            params.append(param)
    return params


def _responses(ep: Endpoint, ref: Any) -> dict[str, Any]:
    success: dict[str, Any] = {"description": _SUCCESS_DESCRIPTIONS[ep.status]}
    if ep.response:
        success["content"] = {"application/json": {"schema": ref(ep.response, "serialization")}}
    elif ep.content_type != "application/json":
        success["content"] = {ep.content_type: {"schema": {"type": "string"}}}
    elif ep.status != 204:
        success["content"] = {"application/json": {"schema": {"type": "object"}}}
    if ep.status in (201, 202):
        success["headers"] = {
            "Location": {"description": "Where the new resource is", "schema": {"type": "string"}}
        }
    responses = {str(ep.status): success}
    for status in ep.empty_statuses:
        responses[str(status)] = {"description": _SUCCESS_DESCRIPTIONS[status]}
    codes = set(ep.errors) if ep.public else set(ep.errors) | set(_GUARDED_ERRORS)
    if ep.body:
        codes |= {400, 413}  # not JSON; larger than the body limit
    for code in sorted(codes):
        responses[str(code)] = {
            "description": _ERROR_DESCRIPTIONS[code],
            "content": {"application/json": {"schema": ref(ErrorResponse, "serialization")}},
        }
    return responses
