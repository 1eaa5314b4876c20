"""`python -m services.bybit_sim`: serve the simulated Bybit until SIGTERM or SIGINT."""

import asyncio
import logging
import signal

from services.bybit_sim.server import running_sim
from services.bybit_sim.settings import SimSettings
from shared.logs import setup_logging

log = logging.getLogger("bybit_sim")


async def serve(settings: SimSettings) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with running_sim(settings) as sim:
        log.info(
            "bybit-sim serving",
            extra={"rest_url": sim.rest_url, "ws_url": sim.ws_url, "symbols": settings.symbols},
        )
        print(f"bybit-sim REST {sim.rest_url}  WS {sim.ws_url}/{{spot,linear,inverse}}", flush=True)
        await stop.wait()
    log.info("bybit-sim stopped")


def main() -> None:
    settings = SimSettings()
    setup_logging(settings.log_level)
    asyncio.run(serve(settings))


if __name__ == "__main__":
    main()
