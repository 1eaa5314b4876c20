"""The sim's aiohttp application."""

from collections.abc import AsyncIterator

from aiohttp import web

from services.bybit_sim import control, rest, ws
from services.bybit_sim.candles import CandleBook
from services.bybit_sim.clock import SimClock
from services.bybit_sim.faults import Faults
from services.bybit_sim.keys import (
    BOOK,
    CLOCK,
    FAULTS,
    LIMITER,
    MARK_BOOK,
    SETTINGS,
    STATS,
    WS_HUB,
    SimStats,
)
from services.bybit_sim.limits import IpRateLimiter
from services.bybit_sim.settings import SimSettings
from services.bybit_sim.ws_hub import WsHub


async def _close_sockets(app: web.Application) -> AsyncIterator[None]:
    yield
    await app[WS_HUB].drop_all()


def create_app(
    settings: SimSettings, book: CandleBook | None = None, clock: SimClock | None = None
) -> web.Application:
    """A book or clock built beforehand (e.g. shared by a test) may be handed in."""
    app = web.Application(middlewares=[rest.bybit_gate])
    app[SETTINGS] = settings
    app[CLOCK] = clock or SimClock(settings.clock_start, settings.clock_speed)
    app[BOOK] = book or CandleBook(settings)
    app[MARK_BOOK] = CandleBook(settings, mark_price=True)
    app[LIMITER] = IpRateLimiter(
        settings.rate_limit_requests, settings.rate_limit_window_seconds, settings.ban_seconds
    )
    app[FAULTS] = Faults(settings)
    app[STATS] = SimStats()
    app[WS_HUB] = WsHub()
    app.cleanup_ctx.append(_close_sockets)
    rest.add_routes(app)
    ws.add_routes(app)
    control.add_routes(app)
    return app
