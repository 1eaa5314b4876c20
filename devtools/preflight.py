"""Before starting anything: are PostgreSQL and RabbitMQ there? If not, say how to start them.

A server that is still starting gets a while to answer (`make up` right after starting one).
"""

import asyncio
import time
from collections.abc import Awaitable, Callable

from shared.db import with_database
from shared.dependencies import postgres_answers, rabbitmq_answers
from shared.settings import Settings

_HOW_TO_START = {
    "PostgreSQL": "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start",
    "RabbitMQ": "rabbitmq-server -detached",
}
_PROBE_SECONDS = 5.0


class NotReachable(Exception):
    pass


async def check_servers(settings: Settings, *, within: float = 30.0) -> None:
    """Raise NotReachable naming each server that does not answer within `within` seconds, and
    how to start it."""
    deadline = time.monotonic() + within
    # The platform's own database may not exist yet; the server's `postgres` one does.
    probes: dict[str, tuple[str, Callable[[], Awaitable[bool]]]] = {
        "PostgreSQL": (
            settings.database_url,
            lambda: postgres_answers(
                with_database(settings.database_url, "postgres"), _PROBE_SECONDS
            ),
        ),
        "RabbitMQ": (
            settings.amqp_url,
            lambda: rabbitmq_answers(settings.amqp_url, _PROBE_SECONDS),
        ),
    }
    missing = dict(probes)
    while missing:
        for name, (_, probe) in list(missing.items()):
            if await probe():
                del missing[name]
        if not missing or time.monotonic() > deadline:
            break
        await asyncio.sleep(1.0)
    if missing:
        raise NotReachable(
            "\n".join(
                f"{name} is not reachable at {url} after {within:.0f} s.\n"
                f"  Start it with: {_HOW_TO_START[name]}"
                for name, (url, _) in missing.items()
            )
        )
