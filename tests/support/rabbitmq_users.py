"""RabbitMQ users a test creates with `rabbitmqctl` (on the test machine) and deletes after."""

import asyncio
import contextlib
import secrets
import shutil
from collections.abc import AsyncIterator
from urllib.parse import quote, urlsplit, urlunsplit

from shared.producer_rights import Permissions


async def rabbitmqctl(*args: str) -> str:
    tool = shutil.which("rabbitmqctl")
    if tool is None:
        raise RuntimeError("rabbitmqctl is not installed: the rights test needs it")
    process = await asyncio.create_subprocess_exec(
        tool, *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await asyncio.wait_for(process.communicate(), 120)
    if process.returncode != 0:
        raise RuntimeError(f"rabbitmqctl {' '.join(args)}: {err.decode()[-500:]}")
    return out.decode()


def with_user(amqp_url: str, user: str, password: str) -> str:
    parts = urlsplit(amqp_url)
    host = parts.netloc.rpartition("@")[2]
    netloc = f"{quote(user, safe='')}:{quote(password, safe='')}@{host}"
    return urlunsplit(parts._replace(netloc=netloc))


@contextlib.asynccontextmanager
async def rabbitmq_user(amqp_url: str, permissions: Permissions) -> AsyncIterator[str]:
    """A new user with `permissions` on vhost `/`; yields the AMQP URL that logs in as it."""
    user = f"bt-test-{secrets.token_hex(6)}"
    password = secrets.token_hex(12)
    await rabbitmqctl("add_user", user, password)
    try:
        await rabbitmqctl(*permissions.as_rabbitmqctl(user))
        yield with_user(amqp_url, user, password)
    finally:
        await rabbitmqctl("delete_user", user)
