"""`python -m services.engine`: an engine worker; run as many as you like."""

import asyncio
import signal

from services.engine.service import run_engine
from shared.logs import setup_logging
from shared.settings import Settings


async def _serve(settings: Settings) -> None:
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopping.set)
    await run_engine(settings, stopping)


def main() -> None:
    settings = Settings()
    setup_logging(settings.log_level)
    asyncio.run(_serve(settings))


if __name__ == "__main__":
    main()
