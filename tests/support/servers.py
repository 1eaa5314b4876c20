"""Where the tests' PostgreSQL and RabbitMQ come from: the environment, else testcontainers."""

import contextlib
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass

HOW_TO_START = (
    "integration tests need PostgreSQL and RabbitMQ. Set TEST_DATABASE_URL and TEST_AMQP_URL "
    "(e.g. postgresql://postgres@127.0.0.1:5432/postgres and amqp://guest:guest@127.0.0.1:5672/) "
    "after starting them: "
    "`pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start` and "
    "`rabbitmq-server -detached`; or run a Docker engine for testcontainers."
)


@dataclass(frozen=True)
class Servers:
    database_url: str  # an administrative database on the server; tests create their own
    amqp_url: str


def _docker_available() -> bool:
    if not shutil.which("docker"):
        return False
    try:
        import docker  # type: ignore[import-untyped]

        docker.from_env().ping()
    except Exception:
        return False
    return True


@contextlib.contextmanager
def test_servers() -> Iterator[Servers]:
    database_url = os.environ.get("TEST_DATABASE_URL")
    amqp_url = os.environ.get("TEST_AMQP_URL")
    if database_url and amqp_url:
        yield Servers(database_url, amqp_url)
        return
    if not _docker_available():
        raise RuntimeError(HOW_TO_START)
    from testcontainers.postgres import PostgresContainer
    from testcontainers.rabbitmq import RabbitMqContainer

    with (
        PostgresContainer("postgres:16", driver=None) as pg,
        RabbitMqContainer("rabbitmq:3.13") as rabbit,
    ):
        params = rabbit.get_connection_params()
        yield Servers(
            database_url or pg.get_connection_url(),
            amqp_url or f"amqp://guest:guest@{params.host}:{params.port}/",
        )
