"""examples/producer.py against the real RabbitMQ, logged in as a producer user with the
documented rights: it submits a backtest and a grid, and the results it prints from the
events are those the REST API shows; every event it got matches the AsyncAPI document."""

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from shared.amqp import Topology
from shared.producer_rights import producer_permissions
from shared.settings import Settings
from tests.support.asyncapi_checks import payload_errors
from tests.support.market import insert_hourly
from tests.support.rabbitmq_users import rabbitmq_user
from tests.support.services import running_engine

pytestmark = pytest.mark.integration

Client = TestClient[web.Request, web.Application]
EXAMPLE = Path(__file__).parents[2] / "examples" / "producer.py"


async def _run_example(amqp_url: str, prefix: str) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(EXAMPLE),
        "--amqp-url",
        amqp_url,
        "--prefix",
        prefix,
        "--start",
        "2024-01-01T00:00:00Z",
        "--end",
        "2024-01-20T00:00:00Z",
        "--timeout",
        "240",
        "--json",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        out, _ = await asyncio.wait_for(process.communicate(), 280)
    except TimeoutError:
        process.kill()
        raise
    assert process.returncode is not None
    return process.returncode, out.decode()


async def test_the_example_producer_prints_the_results_of_its_jobs(
    api: Client, pool: asyncpg.Pool, settings: Settings
) -> None:
    await insert_hourly(pool)
    topology = Topology(settings.amqp_prefix)
    document = await (await api.get("/api/v1/asyncapi.json")).json()
    async with (
        rabbitmq_user(settings.amqp_url, producer_permissions(topology)) as url,
        running_engine(settings),
    ):
        code, printed = await _run_example(url, settings.amqp_prefix)
    assert code == 0, printed[-3000:]
    result: dict[str, Any] = json.loads(printed.strip().splitlines()[-1])
    events = {event["kind"]: event for event in result["events"]}
    assert set(events) == {"backtest", "optimization"}
    for submission_id, job in result["jobs"].items():
        event = events[job["kind"]]
        assert event["job_id"] == job["id"] and event["submission_id"] == submission_id
        assert event["routing_key"] == f"{job['kind']}.succeeded"
        shown = await (await api.get(job["location"])).json()
        assert shown["status"] == "succeeded"
        if job["kind"] == "backtest":
            assert event["metrics"] == shown["metrics"]
            assert f"sharpe: {shown['metrics']['sharpe']}" in printed
        else:
            assert event["best"] == shown["best"]
            assert f"best params: {shown['best']['params']}" in printed
        body = {k: v for k, v in event.items() if k != "routing_key"}
        assert payload_errors(document, body["type"], body) == []
