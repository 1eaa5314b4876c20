"""Health, readiness, docs, auth, errors and metrics of the API."""

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from devtools.waiting import poll_until
from services.api.app import create_app
from shared.settings import Settings

pytestmark = pytest.mark.integration

Client = TestClient[web.Request, web.Application]


async def wait_ready(api: Client) -> None:
    async def ready() -> bool:
        return (await api.get("/api/v1/readyz")).status == 200

    await poll_until(ready, within=30, every=0.05, what="API ready")


async def test_health_and_readiness(api: Client) -> None:
    resp = await api.get("/api/v1/healthz")
    assert resp.status == 200 and await resp.json() == {"status": "ok"}
    await wait_ready(api)
    body = await (await api.get("/api/v1/readyz")).json()
    assert body == {"status": "ready", "postgres": "up", "rabbitmq": "up"}


async def test_readiness_names_rabbitmq_when_it_is_down(settings: Settings) -> None:
    broken = settings.model_copy(update={"amqp_url": "amqp://guest:guest@127.0.0.1:1/"})
    async with TestClient(TestServer(create_app(broken))) as client:
        resp = await client.get("/api/v1/readyz")
        assert resp.status == 503
        error = (await resp.json())["error"]
        assert error["code"] == "unavailable" and "rabbitmq" in error["message"]
        assert "postgres" not in error["message"]


async def test_openapi_document_describes_every_route(api: Client) -> None:
    document = await (await api.get("/api/v1/openapi.json")).json()
    assert document["openapi"].startswith("3.")
    for path in (
        "/api/v1/backfills",
        "/api/v1/backfills/{id}",
        "/api/v1/klines",
        "/api/v1/symbols",
    ):
        assert path in document["paths"], path
    post = document["paths"]["/api/v1/backfills"]["post"]
    schema_ref = post["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    assert schema_ref.split("/")[-1] in document["components"]["schemas"]
    page = await api.get("/api/v1/docs")
    assert page.status == 200 and "swagger-ui-bundle.js" in await page.text()
    asset = await api.get("/api/v1/docs/static/swagger-ui-bundle.js")
    assert asset.status == 200


async def test_unknown_route_and_method_use_the_error_shape(api: Client) -> None:
    resp = await api.get("/api/v1/nope")
    assert resp.status == 404 and (await resp.json())["error"]["code"] == "not_found"
    resp = await api.put("/api/v1/healthz")
    assert resp.status == 405 and (await resp.json())["error"]["code"] == "method_not_allowed"


async def test_token_is_required_everywhere_but_health(settings: Settings) -> None:
    secured = settings.model_copy(update={"api_token": "s3cret"})
    async with TestClient(TestServer(create_app(secured))) as client:
        assert (await client.get("/api/v1/healthz")).status == 200
        resp = await client.get("/api/v1/backfills")
        assert resp.status == 401 and (await resp.json())["error"]["code"] == "unauthorized"
        wrong = await client.get("/api/v1/backfills", headers={"Authorization": "Bearer nope"})
        assert wrong.status == 401
        right = await client.get("/api/v1/backfills", headers={"Authorization": "Bearer s3cret"})
        assert right.status == 200


async def test_request_ids_are_echoed(api: Client) -> None:
    resp = await api.get("/api/v1/healthz", headers={"X-Request-Id": "abc-123"})
    assert resp.headers["X-Request-Id"] == "abc-123"
    assert len((await api.get("/api/v1/healthz")).headers["X-Request-Id"]) == 32


async def test_metrics_count_requests_and_jobs(api: Client) -> None:
    await api.get("/api/v1/healthz")
    await api.post(
        "/api/v1/backfills",
        json={
            "category": "linear",
            "symbol": "BTCUSDT",
            "interval": "1",
            "start": "2024-01-01T00:00:00Z",
            "end": "2024-01-01T01:00:00Z",
        },
    )
    text = await (await api.get("/metrics")).text()
    assert 'api_requests_total{method="GET",route="/api/v1/healthz",status="200"} 1.0' in text
    assert 'jobs{kind="backfill",status="queued"} 1.0' in text
    assert "outbox_backlog" in text
