"""Hostile requests get a 4xx at bounded cost: numbers beyond float64 / int64, gzip bombs,
bodies over the limit, odd request ids; and what the API exposes without the token."""

import asyncio
import gzip
import json
import time
import zlib
from typing import Any

import aiohttp
import asyncpg
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from devtools.launcher import free_port, wait_until_serving
from services.api.app import create_app
from shared.settings import Settings
from tests.support.market import BACKTEST_REQUEST, T0, insert_hourly
from tests.support.processes import service_process

pytestmark = pytest.mark.integration

Client = TestClient[web.Request, web.Application]
TOKEN = "s3cret"

BACKTEST: dict[str, Any] = BACKTEST_REQUEST


@pytest.fixture
async def hourly(pool: asyncpg.Pool) -> None:
    await insert_hourly(pool)


@pytest.fixture
async def guarded_api(settings: Settings) -> Any:
    """The API with API_TOKEN set."""
    client = TestClient(TestServer(create_app(settings.model_copy(update={"api_token": TOKEN}))))
    await client.start_server()
    yield client
    await client.close()


async def error_of(resp: Any, status: int) -> dict[str, Any]:
    assert resp.status == status, await resp.text()
    error: dict[str, Any] = (await resp.json())["error"]
    assert set(error) == {"code", "message", "details"}
    return error


def raw_json(text: str) -> dict[str, Any]:
    return {"data": text.encode(), "headers": {"Content-Type": "application/json"}}


async def test_a_number_jsonb_cannot_echo_is_accepted_and_never_breaks_the_lists(
    api: Client, hourly: None
) -> None:
    created = await api.post("/api/v1/backtests", json={**BACKTEST, "initial_capital": 1e20})
    assert created.status == 202, await created.text()
    backtest = await created.json()
    assert backtest["request"]["initial_capital"] == 1e20
    listed = await api.get("/api/v1/backtests")
    assert listed.status == 200, await listed.text()
    assert [b["request"]["initial_capital"] for b in (await listed.json())["items"]] == [1e20]
    one = await api.get(f"/api/v1/backtests/{backtest['id']}")
    assert one.status == 200 and (await one.json())["request"]["initial_capital"] == 1e20

    grid = {
        "kind": "grid",
        "backtest": {**BACKTEST, "initial_capital": 1e20},
        "param_grid": {"fast": [5, 10]},
    }
    created = await api.post("/api/v1/optimizations", json=grid)
    assert created.status == 202, await created.text()
    one = await api.get(f"/api/v1/optimizations/{(await created.json())['id']}")
    assert one.status == 200, await one.text()
    assert (await one.json())["request"]["backtest"]["initial_capital"] == 1e20


async def test_a_stored_number_beyond_int64_is_read_back_as_a_float(
    api: Client, pool: asyncpg.Pool
) -> None:
    # As rows written before the bounds existed may hold: jsonb keeps any numeric.
    request = {**BACKTEST, "initial_capital": 10**30, "fee_rate": 10**400}
    await pool.execute(
        """INSERT INTO backtests (id, request, symbol, strategy)
           VALUES (gen_random_uuid(), $1::text::jsonb, 'BTCUSDT', 'sma_cross')""",
        json.dumps(request),
    )
    listed = await api.get("/api/v1/backtests")
    assert listed.status == 200, await listed.text()
    (item,) = (await listed.json())["items"]
    assert item["request"]["initial_capital"] == 1e30
    assert item["request"]["fee_rate"] is None  # beyond float64: JSON has no such number


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (
            '"strategy": {"name": "sma_cross", "params": {"fast": ' + "9" * 4000 + "}}",
            "strategy.params.fast",
        ),
        (
            '"strategy": {"name": "sma_cross", "params": {"fast": ' + "9" * 9000 + "}}",
            "strategy.params.fast",
        ),
        ('"strategy": {"name": "sma_cross"}, "initial_capital": 1e400', "initial_capital"),
        ('"strategy": {"name": "sma_cross"}, "initial_capital": -1e999', "initial_capital"),
        (
            '"strategy": {"name": "sma_cross"}, "initial_capital": 9223372036854775808',
            "initial_capital",
        ),
        ('"strategy": {"name": "sma_cross"}, "stop_loss": NaN', "stop_loss"),
    ],
)
async def test_numbers_beyond_float64_or_int64_are_a_422_naming_the_field(
    api: Client, hourly: None, body: str, field: str
) -> None:
    text = '{"category": "linear", "symbol": "BTCUSDT", "interval": "60", "start": ' + str(T0)
    text += ', "end": "2024-01-05T00:00:00Z", ' + body + "}"
    error = await error_of(await api.post("/api/v1/backtests", **raw_json(text)), 422)
    assert error["details"][0]["field"] == field, error
    assert (await (await api.get("/api/v1/backtests")).json())["total"] == 0


async def test_big_numbers_inside_lists_and_other_routes_are_refused_too(
    api: Client, hourly: None
) -> None:
    grid = json.dumps({"kind": "grid", "backtest": BACKTEST, "param_grid": {"fast": [5, 0]}})
    grid = grid.replace("[5, 0]", "[5, " + "1" * 30 + "]")
    error = await error_of(await api.post("/api/v1/optimizations", **raw_json(grid)), 422)
    assert error["details"][0]["field"] == "param_grid.fast.1"
    saved = '{"name": "x", "strategy": "sma_cross", "params": {"slow": 1e309}}'
    error = await error_of(await api.post("/api/v1/strategies", **raw_json(saved)), 422)
    assert error["details"][0]["field"] == "params.slow"


def gzip_bomb(inflated_mb: int) -> bytes:
    """`inflated_mb` MB of zeros as concatenated gzip members (about 1 KB each per MB)."""
    member = gzip.compress(b"\0" * 1024**2 * 10, compresslevel=9)
    return member * (inflated_mb // 10)


async def test_gzip_bombs_cost_no_cpu_whoever_sends_them(guarded_api: Client, hourly: None) -> None:
    bomb = gzip_bomb(500)
    assert len(bomb) < 600_000
    gzipped = {"Content-Encoding": "gzip", "Content-Type": "application/json"}
    auth = {"Authorization": f"Bearer {TOKEN}"}
    # One connection: the next request is answered only after the server is done with the last
    # body, so the CPU it spent on a bomb is all inside the measured stretch.
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=1)) as session:
        url = str(guarded_api.make_url("/api/v1"))
        started = time.process_time()
        health = await session.get(f"{url}/healthz", data=bomb, headers=gzipped)
        assert health.status == 200
        refused = await session.post(f"{url}/backtests", data=bomb, headers=gzipped)
        assert (await error_of(refused, 401))["code"] == "unauthorized"
        too_big = await session.post(f"{url}/backtests", data=bomb, headers={**gzipped, **auth})
        assert (await error_of(too_big, 413))["code"] == "too_large"
        for _ in range(3):
            assert (await session.get(f"{url}/healthz")).status == 200
        spent = time.process_time() - started
    # Inflating one bomb takes about a CPU-second; reading what the limit allows, milliseconds.
    assert spent < 0.5, f"{spent:.2f} CPU-s"


async def test_bodies_are_read_within_one_mib_after_decompression(
    api: Client, hourly: None
) -> None:
    body = json.dumps(BACKTEST).encode()
    for encoding, data in (("gzip", gzip.compress(body)), ("deflate", zlib.compress(body))):
        created = await api.post(
            "/api/v1/backtests",
            data=data,
            headers={"Content-Encoding": encoding, "Content-Type": "application/json"},
        )
        assert created.status == 202, await created.text()
    padded = body[:-1] + b', "pad": "' + b" " * 1024**2 + b'"}'
    error = await error_of(await api.post("/api/v1/backtests", data=padded), 413)
    assert "1048576" in error["message"]
    squeezed = gzip.compress(padded)
    assert len(squeezed) < 10_000
    headers = {"Content-Encoding": "gzip"}
    await error_of(await api.post("/api/v1/backtests", data=squeezed, headers=headers), 413)
    broken = {"Content-Encoding": "gzip"}
    await error_of(await api.post("/api/v1/backtests", data=b"not gzip", headers=broken), 400)
    odd = {"Content-Encoding": "compress"}
    await error_of(await api.post("/api/v1/backtests", data=body, headers=odd), 415)


async def test_metrics_need_the_token_and_the_bearer_scheme_is_case_insensitive(
    guarded_api: Client,
) -> None:
    await error_of(await guarded_api.get("/metrics"), 401)
    for scheme in ("Bearer", "bearer", "BEARER"):
        headers = {"Authorization": f"{scheme} {TOKEN}"}
        assert (await guarded_api.get("/metrics", headers=headers)).status == 200, scheme
        assert (await guarded_api.get("/api/v1/backtests", headers=headers)).status == 200
    for wrong in (f"Basic {TOKEN}", f"Bearer {TOKEN}x", TOKEN, ""):
        response = await guarded_api.get("/api/v1/backtests", headers={"Authorization": wrong})
        await error_of(response, 401)
    assert (await guarded_api.get("/api/v1/healthz")).status == 200
    for raw in (b"Bearer \xe9\xff", b"\xe9 " + TOKEN.encode()):
        request = b"GET /api/v1/backtests HTTP/1.1\r\nHost: x\r\nAuthorization: " + raw
        answer = await _raw_exchange(guarded_api.server.port or 0, request + b"\r\n\r\n")
        assert answer.startswith(b"HTTP/1.1 401 "), answer


async def test_the_server_header_names_no_versions(api: Client) -> None:
    for path in ("/api/v1/healthz", "/api/v1/nowhere", "/metrics", "/api/v1/docs"):
        server = (await api.get(path)).headers.get("Server", "")
        assert "aiohttp" not in server.lower() and "python" not in server.lower(), (path, server)
        assert not any(c.isdigit() for c in server), (path, server)


async def test_a_long_or_odd_request_id_is_replaced(api: Client) -> None:
    kept = (await api.get("/api/v1/healthz", headers={"X-Request-Id": "abc-123"})).headers
    assert kept["X-Request-Id"] == "abc-123"
    for given in ("x" * 129, "a b", "<script>", "id\u00e9"):
        answered = await api.get("/api/v1/healthz", headers={"X-Request-Id": given})
        replaced = answered.headers["X-Request-Id"]
        assert replaced != given and len(replaced) == 32 and replaced.isalnum()
    assert len((await api.get("/api/v1/healthz")).headers["X-Request-Id"]) == 32


async def _raw_exchange(port: int, request: bytes) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(request)
        await writer.drain()
        return await asyncio.wait_for(reader.read(65_536), timeout=30)
    finally:
        writer.close()


async def test_the_served_api_names_no_versions_even_for_requests_it_cannot_parse(
    settings: Settings,
) -> None:
    port = free_port()
    served = settings.model_copy(update={"api_port": port, "log_level": "WARNING"})
    async with service_process("services.api", served) as api:
        await wait_until_serving(f"http://127.0.0.1:{port}/api/v1/readyz", api, within=60)
        answers = [
            await _raw_exchange(port, b"GET /api/v1/healthz HTTP/1.1\r\nHost: x\r\n\r\n"),
            # Answered by aiohttp's parser before any of the app's code runs.
            await _raw_exchange(port, b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n"),
        ]
    for answer in answers:
        head = answer.split(b"\r\n\r\n")[0].decode("latin-1").lower()
        assert "server: backtester" in head and "aiohttp" not in head, head
