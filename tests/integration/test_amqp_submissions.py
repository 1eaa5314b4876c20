"""Jobs submitted over RabbitMQ: the same validation and job as the POST, idempotent by the
message id, answered on reply_to; each kind of bad message acknowledged, answered and counted."""

import uuid
from typing import Any

import asyncpg
import orjson
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from shared.amqp import Topology
from shared.repos import backtests as backtests_repo
from shared.settings import Settings
from shared.submissions import MAX_SUBMISSION_BYTES
from tests.support.broker import next_message
from tests.support.market import BACKTEST_REQUEST, insert_hourly
from tests.support.producer import TestProducer, producer

pytestmark = pytest.mark.integration

Client = TestClient[web.Request, web.Application]
GRID: dict[str, Any] = {
    "kind": "grid",
    "backtest": BACKTEST_REQUEST,
    "param_grid": {"fast": [5, 10], "slow": [20, 30]},
}
BACKFILL: dict[str, Any] = {
    "category": "linear",
    "symbol": "BTCUSDT",
    "interval": "60",
    "start": "2024-02-01T00:00:00Z",
    "end": "2024-02-02T00:00:00Z",
}
# message type -> (its request, the POST path, the job table)
KINDS: dict[str, tuple[dict[str, Any], str, str]] = {
    "SubmitBacktest": (BACKTEST_REQUEST, "/api/v1/backtests", "backtests"),
    "SubmitOptimization": (GRID, "/api/v1/optimizations", "optimizations"),
    "SubmitBackfill": (BACKFILL, "/api/v1/backfills", "backfill_run"),
}

# Another valid request of each kind.
OTHER_REQUESTS: dict[str, dict[str, Any]] = {
    "SubmitBacktest": {**BACKTEST_REQUEST, "fee_rate": 0.001},
    "SubmitOptimization": {**GRID, "objective": "total_return"},
    "SubmitBackfill": {**BACKFILL, "end": "2024-02-01T12:00:00Z"},
}


@pytest.fixture
async def hourly(pool: asyncpg.Pool) -> None:
    await insert_hourly(pool)


@pytest.fixture
async def sender(api: Client, settings: Settings) -> Any:
    async with producer(settings.amqp_url, Topology(settings.amqp_prefix)) as test_producer:
        yield test_producer


@pytest.mark.parametrize("message_type", list(KINDS))
async def test_a_submission_creates_the_job_once_and_answers_it(
    api: Client, pool: asyncpg.Pool, hourly: None, sender: TestProducer, message_type: str
) -> None:
    request, path, table = KINDS[message_type]
    submission_id = uuid.uuid4()
    answer = await sender.submit(message_type, request, submission_id)
    assert answer["type"] == "SubmissionAccepted", answer
    assert answer["id"] == str(submission_id)
    job = answer["job"]
    assert job["location"] == f"{path}/{job['id']}" and job["status"] == "queued"
    # The job is the one a POST of the same body makes: same stored request.
    shown = await (await api.get(job["location"])).json()
    posted = await (await api.post(path, json=request)).json()
    assert shown["id"] == job["id"]
    if "request" in shown:
        assert shown["request"] == posted["request"]
    else:
        assert {k: shown[k] for k in BACKFILL} == {k: posted[k] for k in BACKFILL}
    stored = await pool.fetchval(f"SELECT submission_id FROM {table} WHERE id = $1", job["id"])
    assert stored == submission_id
    # The same id again: the same job, nothing new.
    again = await sender.submit(message_type, request, submission_id)
    assert again == answer
    count = await pool.fetchval(f"SELECT count(*) FROM {table} WHERE submission_id = $1", stored)
    assert count == 1
    # The same id for another request is refused, naming the id.
    reused = await sender.submit(message_type, OTHER_REQUESTS[message_type], submission_id)
    assert reused["type"] == "SubmissionRejected"
    assert [d["field"] for d in reused["error"]["details"]] == ["id"]


def _raw(body: Any) -> bytes:
    return orjson.dumps(body)


@pytest.mark.parametrize(
    ("message_type", "raw"),
    [
        ("SubmitBacktest", _raw({**BACKTEST_REQUEST, "fee_rate": 2, "slippage_bps": -1})),
        ("SubmitBacktest", _raw({**BACKTEST_REQUEST, "strategy": {"name": "no_such_strategy"}})),
        ("SubmitBacktest", _raw({**BACKTEST_REQUEST, "symbol": "ETHUSDT"})),  # no candles
        # A number beyond float64, as the producer wrote it.
        (
            "SubmitBacktest",
            _raw({**BACKTEST_REQUEST, "initial_capital": 7.5}).replace(b"7.5", b"1e400"),
        ),
        ("SubmitOptimization", _raw({**GRID, "param_grid": {"fast": [50], "slow": [20]}})),
        ("SubmitBackfill", _raw({**BACKFILL, "start": "2010-01-01T00:00:00Z"})),
        ("SubmitBacktest", b"[1, 2]"),
    ],
)
async def test_a_rejection_is_the_422_of_the_same_post(
    api: Client, hourly: None, sender: TestProducer, message_type: str, raw: bytes
) -> None:
    _, path, _ = KINDS[message_type]
    submission_id = uuid.uuid4()
    envelope = b'{"type": "%s", "version": 1, "id": "%s", "request": %s}' % (
        message_type.encode(),
        str(submission_id).encode(),
        raw,
    )
    answer = await sender.answer(await sender.publish(envelope))
    response = await api.post(path, data=raw, headers={"Content-Type": "application/json"})
    assert response.status == 422
    assert answer == {
        "type": "SubmissionRejected",
        "version": 1,
        "id": str(submission_id),
        "error": (await response.json())["error"],
    }


BAD_MESSAGES: dict[str, bytes] = {
    "malformed_json": b'{"type": "SubmitBacktest", "version": 1, "id": ',
    "unknown_type": orjson.dumps(
        {"type": "SubmitSomething", "version": 1, "id": str(uuid.uuid4()), "request": {}}
    ),
    "unknown_version": orjson.dumps(
        {"type": "SubmitBacktest", "version": 2, "id": str(uuid.uuid4()), "request": {}}
    ),
    "missing_id": orjson.dumps({"type": "SubmitBacktest", "version": 1, "request": {}}),
    "too_large": orjson.dumps(
        {
            "type": "SubmitBacktest",
            "version": 1,
            "id": str(uuid.uuid4()),
            "request": {"pad": "x" * MAX_SUBMISSION_BYTES},
        }
    ),
    "invalid_envelope": orjson.dumps(
        {"type": "SubmitBacktest", "version": 1, "id": str(uuid.uuid4()), "extra": 1}
    ),
}
# What the answer's error says for each.
BAD_ANSWERS: dict[str, tuple[str, list[str]]] = {
    "malformed_json": ("malformed_request", []),
    "unknown_type": ("invalid_request", ["type"]),
    "unknown_version": ("invalid_request", ["version"]),
    "missing_id": ("invalid_request", ["id"]),
    "too_large": ("too_large", []),
    "invalid_envelope": ("invalid_request", ["extra", "request"]),
}


async def test_each_bad_message_is_answered_once_acknowledged_and_counted(
    api: Client, hourly: None, sender: TestProducer
) -> None:
    waiting = {reason: await sender.publish(body) for reason, body in BAD_MESSAGES.items()}
    silent = await sender.publish(BAD_MESSAGES["unknown_type"], reply=False)
    for reason, correlation_id in waiting.items():
        answer = await sender.answer(correlation_id)
        code, fields = BAD_ANSWERS[reason]
        assert answer["type"] == "SubmissionRejected", reason
        assert answer["error"]["code"] == code, (reason, answer)
        assert sorted(d["field"] for d in answer["error"]["details"]) == fields, reason
    # A good submission after them all is answered: nothing bad blocks the queue.
    good = await sender.submit("SubmitBacktest", BACKTEST_REQUEST)
    assert good["type"] == "SubmissionAccepted"
    assert not sender.answered(silent) and not sender.unexpected
    metrics = await (await api.get("/metrics")).text()
    counted = {
        line.split("reason=")[1].split('"')[1]: float(line.rsplit(" ", 1)[1])
        for line in metrics.splitlines()
        if line.startswith("amqp_submissions_total{") and 'outcome="rejected"' in line
    }
    # Each counted once (never redelivered); the unanswered one too.
    assert counted == {reason: 1.0 for reason in BAD_MESSAGES} | {"unknown_type": 2.0}


async def _bound_queue(sender: TestProducer, *keys: str) -> Any:
    """An exclusive queue of the test's bound to the events exchange under `keys`."""
    queue = await sender.channel.declare_queue(exclusive=True)
    events = await sender.channel.get_exchange(sender.topology.events)
    for key in keys:
        await queue.bind(events, routing_key=key)
    return queue


async def test_events_name_the_submission_and_carry_the_outcome(
    api: Client, pool: asyncpg.Pool, hourly: None, sender: TestProducer
) -> None:
    queue = await _bound_queue(sender, "backtest.*")
    submission_id = uuid.uuid4()
    answer = await sender.submit("SubmitBacktest", BACKTEST_REQUEST, submission_id)
    job_id = uuid.UUID(answer["job"]["id"])
    # No engine runs: the API's poll tells the job queued, as `backtest.progress`.
    queued = await next_message(queue, within=60)
    body = orjson.loads(queued.body)
    assert queued.routing_key == "backtest.progress"
    assert body["type"] == "JobProgressed" and body["status"] == "queued"
    assert (body["job_id"], body["submission_id"]) == (str(job_id), str(submission_id))
    # Its failure (as a worker records it) is told with the error, under `backtest.failed`.
    async with pool.acquire() as conn:
        await backtests_repo.fail_backtest(conn, job_id, "no luck")
    failed = await next_message(queue, within=60)
    body = orjson.loads(failed.body)
    assert failed.routing_key == "backtest.failed"
    assert body["type"] == "BacktestFailed" and body["error"] == "no luck"
    assert (body["job_id"], body["submission_id"]) == (str(job_id), str(submission_id))
    # A job created over HTTP has no submission id.
    posted = await (await api.post("/api/v1/backtests", json=BACKTEST_REQUEST)).json()
    async with pool.acquire() as conn:
        await backtests_repo.fail_backtest(conn, uuid.UUID(posted["id"]), "no luck either")
    while True:
        body = orjson.loads((await next_message(queue, within=60)).body)
        if body["job_id"] == posted["id"] and body["status"] == "failed":
            break
    assert body["submission_id"] is None
