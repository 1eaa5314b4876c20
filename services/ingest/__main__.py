"""`python -m services.ingest`: run the ingest service.

`python -m services.ingest backfill CATEGORY SYMBOL INTERVAL START END [--wait]` queues a
backfill job (START/END in ISO-8601 or epoch ms) and, with --wait, follows it to the end.
"""

import argparse
import asyncio
import sys

from pydantic import ValidationError

from services.ingest.service import run_ingest
from shared.jobs import TERMINAL_STATUSES
from shared.logs import setup_logging
from shared.outbox import relay_pending
from shared.repos.backfills import BackfillSpec, create_backfill, get_backfill
from shared.service_lifecycle import serve_until_signalled
from shared.settings import Settings
from shared.worker_runtime import worker_runtime


async def _queue_backfill(settings: Settings, spec: BackfillSpec, wait: bool) -> int:
    async with worker_runtime(settings) as runtime:
        pool = runtime.pool
        async with pool.acquire() as conn:
            backfill_id = await create_backfill(conn, spec)
        while await relay_pending(pool, runtime.publisher):
            pass
        print(f"backfill {backfill_id} queued")
        while wait:
            view = await get_backfill(pool, backfill_id)
            assert view is not None
            print(f"\r{view.status}: {view.progress:6.1%} {view.rows} rows", end="", flush=True)
            if view.status in TERMINAL_STATUSES:
                print(f"\n{view.error or ''}".rstrip())
                return 0 if view.status == "succeeded" else 1
            await asyncio.sleep(0.5)
        return 0


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m services.ingest")
    commands = parser.add_subparsers(dest="command")
    backfill = commands.add_parser("backfill", help="queue a backfill job")
    backfill.add_argument("category")
    backfill.add_argument("symbol")
    backfill.add_argument("interval")
    backfill.add_argument("start", help="ISO-8601 or epoch ms")
    backfill.add_argument("end", help="ISO-8601 or epoch ms")
    backfill.add_argument("--wait", action="store_true", help="follow the job until it ends")
    args = parser.parse_args()
    settings = Settings()
    setup_logging(settings.log_level)
    if args.command != "backfill":
        serve_until_signalled(run_ingest, settings)
        return
    try:
        spec = BackfillSpec(
            category=args.category,
            symbol=args.symbol,
            interval=args.interval,
            start=args.start,
            end=args.end,
        )
    except ValidationError as exc:
        sys.exit(f"invalid backfill: {exc}")
    sys.exit(asyncio.run(_queue_backfill(settings, spec, args.wait)))


if __name__ == "__main__":
    main()
