"""Property-based requests from the served OpenAPI document find no server error."""

import asyncio
import sys
from pathlib import Path

import aiohttp
import pytest

from devtools.launcher import free_port
from shared.settings import Settings
from tests.support.processes import service_process

pytestmark = pytest.mark.integration


async def wait_for_api(url: str) -> None:
    async with aiohttp.ClientSession() as http:
        for _ in range(200):
            try:
                async with http.get(f"{url}/api/v1/readyz") as resp:
                    if resp.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    raise AssertionError("the API did not become ready")


async def test_schemathesis_finds_no_server_error(settings: Settings) -> None:
    port = free_port()
    served = settings.model_copy(update={"api_port": port, "log_level": "WARNING"})
    url = f"http://127.0.0.1:{port}"
    async with service_process("services.api", served):
        await wait_for_api(url)
        st = Path(sys.executable).with_name("schemathesis")
        proc = await asyncio.create_subprocess_exec(
            str(st),
            "run",
            f"{url}/api/v1/openapi.json",
            "--checks",
            "not_a_server_error",
            "--max-examples",
            "25",
            "--seed",
            "7",
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        output, _ = await asyncio.wait_for(proc.communicate(), timeout=240)
    report = output.decode()
    assert proc.returncode == 0, report[-4000:]
    assert "Server error" not in report and " passed" in report
