"""GET /api/v1/asyncapi.json: a valid AsyncAPI 3.0 document (checked offline against the
AsyncAPI JSON Schema) whose channels are the broker's and whose payload schemas accept the
messages the platform really sends, and refuse what the API refuses."""

import copy
import uuid
from typing import Any

import asyncpg
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from shared.amqp import SUBMIT_ROUTING_KEY, Topology
from shared.settings import Settings
from tests.support.asyncapi_checks import local_refs, payload_errors, resolve, spec_errors
from tests.support.market import BACKTEST_REQUEST, insert_hourly
from tests.support.producer import producer

pytestmark = pytest.mark.integration

Client = TestClient[web.Request, web.Application]


async def _document(api: Client) -> dict[str, Any]:
    response = await api.get("/api/v1/asyncapi.json")
    assert response.status == 200
    body: dict[str, Any] = await response.json()
    return body


async def test_the_document_is_valid_asyncapi_3(api: Client) -> None:
    document = await _document(api)
    assert document["asyncapi"] == "3.0.0"
    assert spec_errors(document) == []
    for ref in local_refs(document):
        assert resolve(document, ref) is not None, ref
    # The validator does find faults: an AsyncAPI 2 style operation is not 3.0.
    broken = copy.deepcopy(document)
    broken["operations"]["receiveSubmission"]["action"] = "publish"
    assert spec_errors(broken) != []


async def test_the_channels_are_the_brokers(api: Client, settings: Settings) -> None:
    document = await _document(api)
    topology = Topology(settings.amqp_prefix)
    submit = document["channels"]["submit"]
    assert submit["address"] == SUBMIT_ROUTING_KEY
    assert submit["bindings"]["amqp"]["exchange"]["name"] == topology.submit
    assert set(submit["messages"]) == {"SubmitBacktest", "SubmitOptimization", "SubmitBackfill"}
    event_keys = {
        channel["address"]
        for channel in document["channels"].values()
        if channel.get("bindings", {}).get("amqp", {}).get("exchange", {}).get("name")
        == topology.events
    }
    assert event_keys == {
        f"{kind}.{outcome}"
        for kind in ("backtest", "optimization", "backfill")
        for outcome in ("succeeded", "failed", "progress")
    }
    docs_page = await (await api.get("/api/v1/docs")).text()
    assert 'href="/api/v1/asyncapi.json"' in docs_page


async def test_the_payload_schemas_hold_the_real_messages(
    api: Client, pool: asyncpg.Pool, settings: Settings
) -> None:
    await insert_hourly(pool)
    document = await _document(api)
    submission = {
        "type": "SubmitBacktest",
        "version": 1,
        "id": str(uuid.uuid4()),
        "request": BACKTEST_REQUEST,
    }
    assert payload_errors(document, "SubmitBacktest", submission) == []
    # What the API refuses, the document refuses too.
    bad_request = {**submission, "request": {**BACKTEST_REQUEST, "fee_rate": 2}}
    assert payload_errors(document, "SubmitBacktest", bad_request) != []
    assert payload_errors(document, "SubmitBacktest", {**submission, "version": 2}) != []
    async with producer(settings.amqp_url, Topology(settings.amqp_prefix)) as sender:
        accepted = await sender.submit("SubmitBacktest", BACKTEST_REQUEST)
        rejected = await sender.submit("SubmitBacktest", bad_request["request"])
    assert accepted["type"] == "SubmissionAccepted"
    assert payload_errors(document, "SubmissionAccepted", accepted) == []
    assert rejected["type"] == "SubmissionRejected"
    assert payload_errors(document, "SubmissionRejected", rejected) == []
    assert payload_errors(document, "SubmissionAccepted", rejected) != []
