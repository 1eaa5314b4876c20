import asyncio
import uuid
from pathlib import Path

import asyncpg
import pytest

from devtools.launcher import run_module
from shared.db import with_database
from shared.migrate import apply_migrations, load_migrations
from tests.support.servers import Servers

pytestmark = pytest.mark.integration


@pytest.fixture
async def fresh_database_url(servers: Servers):
    """A database name that does not exist yet; dropped afterwards."""
    name = f"bt_fresh_{uuid.uuid4().hex[:10]}"
    yield with_database(servers.database_url, name)
    admin = await asyncpg.connect(servers.database_url)
    await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    await admin.close()


async def _run_migrate_process(database_url: str) -> tuple[int, str]:
    return await run_module("shared.migrate", env={"DATABASE_URL": database_url})


async def test_processes_starting_together_create_and_migrate_once(fresh_database_url: str) -> None:
    results = await asyncio.gather(*(_run_migrate_process(fresh_database_url) for _ in range(4)))
    assert all(code == 0 for code, _ in results), results
    conn = await asyncpg.connect(fresh_database_url)
    try:
        versions = [r["version"] for r in await conn.fetch("SELECT version FROM schema_migrations")]
        assert sorted(versions) == [m.version for m in load_migrations()]
        assert await conn.fetchval("SELECT to_regclass('klines') IS NOT NULL")
    finally:
        await conn.close()
    appliers = [out for _, out in results if "migrations applied: 0001" in out]
    assert len(appliers) == 1, "exactly one process applies the migrations"
    assert sum("none pending" in out for _, out in results) == 3


async def test_running_again_applies_nothing(database_url: str) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        assert await apply_migrations(conn) == []
        assert await apply_migrations(conn) == []
    finally:
        await conn.close()


async def test_an_edited_migration_is_refused(database_url: str, tmp_path: Path) -> None:
    for migration in load_migrations():
        (tmp_path / f"{migration.version}.sql").write_text(migration.sql + "\n-- edited\n")
    conn = await asyncpg.connect(database_url)
    try:
        with pytest.raises(RuntimeError, match="changed after it was applied"):
            await apply_migrations(conn, tmp_path)
    finally:
        await conn.close()


async def test_a_failing_migration_leaves_nothing_half_done(
    database_url: str, tmp_path: Path
) -> None:
    for migration in load_migrations():
        (tmp_path / f"{migration.version}.sql").write_text(migration.sql)
    (tmp_path / "9999_broken.sql").write_text("CREATE TABLE half_done (x int); SELECT 1/0;")
    conn = await asyncpg.connect(database_url)
    try:
        with pytest.raises(asyncpg.DivisionByZeroError):
            await apply_migrations(conn, tmp_path)
        assert not await conn.fetchval("SELECT to_regclass('half_done') IS NOT NULL")
        assert not await conn.fetchval(
            "SELECT 1 FROM schema_migrations WHERE version = '9999_broken'"
        )
    finally:
        await conn.close()
