"""The OpenAPI document as built from the endpoints: valid, and its operationIds unique."""

import pytest
from openapi_spec_validator import validate

from services.api.app import ENDPOINTS
from services.api.endpoints import Endpoint
from services.api.openapi import openapi_document
from services.api.routes import backtests


def test_the_document_validates_and_names_operations_by_what_they_do() -> None:
    document = openapi_document(ENDPOINTS, title="backtester", version="0")
    validate(document)
    ids = {
        (method.upper(), path): op["operationId"]
        for path, ops in document["paths"].items()
        for method, op in ops.items()
    }
    assert ids[("GET", "/api/v1/backtests")] == "listBacktests"
    assert ids[("GET", "/api/v1/backtests/{id}")] == "getBacktest"
    assert ids[("POST", "/api/v1/backtests")] == "createBacktest"
    assert ids[("DELETE", "/api/v1/backtests/{id}")] == "deleteBacktest"
    assert ids[("GET", "/api/v1/backtests/{id}/trades")] == "listBacktestTrades"
    assert ids[("GET", "/api/v1/strategies/{id}")] == "getStrategy"
    assert ids[("GET", "/api/v1/optimizations")] == "listOptimizations"
    assert ids[("GET", "/api/v1/optimizations/{id}/results")] == "listOptimizationResults"


def test_two_operations_with_one_id_are_refused() -> None:
    twin = Endpoint(
        "GET", "/api/v1/backtests", backtests.list_all, "again", "x", operation_id="getBacktest"
    )
    with pytest.raises(ValueError, match="getBacktest"):
        openapi_document([*ENDPOINTS, twin], title="backtester", version="0")
