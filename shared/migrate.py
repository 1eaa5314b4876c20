"""Apply the SQL files in `shared/migrations/` in order, once each, safely from many processes.

`python -m shared.migrate` runs them against `DATABASE_URL`, creating the database if needed.
"""

import asyncio
import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path

import asyncpg

from shared.db import ensure_database
from shared.logs import setup_logging
from shared.settings import Settings

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
# Any constant works; all processes must agree on it.
_ADVISORY_LOCK_KEY = 0x6B6C696E6573  # "klines"

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Migration:
    version: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def load_migrations(directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    return [Migration(p.stem, p.read_text()) for p in sorted(directory.glob("*.sql"))]


async def apply_migrations(conn: asyncpg.Connection, directory: Path = MIGRATIONS_DIR) -> list[str]:
    """Apply what is pending; returns the versions applied by this call."""
    applied_now = []
    await conn.execute("SELECT pg_advisory_lock($1)", _ADVISORY_LOCK_KEY)
    try:
        await conn.execute(
            """CREATE TABLE IF NOT EXISTS schema_migrations (
                   version text PRIMARY KEY,
                   checksum text NOT NULL,
                   applied_at timestamptz NOT NULL DEFAULT now())"""
        )
        done = {
            r["version"]: r["checksum"]
            for r in await conn.fetch("SELECT version, checksum FROM schema_migrations")
        }
        for migration in load_migrations(directory):
            if migration.version in done:
                if done[migration.version] != migration.checksum:
                    raise RuntimeError(
                        f"migration {migration.version} changed after it was applied; "
                        "add a new migration instead of editing an old one"
                    )
                continue
            async with conn.transaction():
                await conn.execute(migration.sql)
                await conn.execute(
                    "INSERT INTO schema_migrations (version, checksum) VALUES ($1, $2)",
                    migration.version,
                    migration.checksum,
                )
            applied_now.append(migration.version)
            log.info("migration applied", extra={"version": migration.version})
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", _ADVISORY_LOCK_KEY)
    return applied_now


async def migrate(dsn: str) -> list[str]:
    """Create the database if missing, then apply pending migrations."""
    await ensure_database(dsn)
    conn = await asyncpg.connect(dsn)
    try:
        return await apply_migrations(conn)
    finally:
        await conn.close()


def main() -> None:
    settings = Settings()
    setup_logging(settings.log_level)
    applied = asyncio.run(migrate(settings.database_url))
    print(f"migrations applied: {', '.join(applied) if applied else 'none pending'}")


if __name__ == "__main__":
    main()
