from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from services.api.app import create_app
from shared.settings import Settings


@pytest.fixture
async def api(settings: Settings) -> AsyncIterator[TestClient[web.Request, web.Application]]:
    """The API on a free port, with this test's database and queue names."""
    client = TestClient(TestServer(create_app(settings)))
    await client.start_server()
    yield client
    await client.close()
