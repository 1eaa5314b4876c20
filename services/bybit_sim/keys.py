"""Typed keys of the sim's application and request state, and its counters."""

from dataclasses import asdict, dataclass

from aiohttp import web

from services.bybit_sim.candles import CandleBook
from services.bybit_sim.clock import SimClock
from services.bybit_sim.faults import Faults
from services.bybit_sim.limits import IpRateLimiter
from services.bybit_sim.settings import SimSettings
from services.bybit_sim.ws_hub import WsHub


@dataclass
class SimStats:
    requests: int = 0  # REST requests on Bybit's routes, whatever the answer
    forbidden: int = 0  # 403 answers
    bans: int = 0
    faults_10006: int = 0
    faults_502: int = 0
    disconnects: int = 0
    ws_open: int = 0
    ws_opened_total: int = 0
    ws_refused: int = 0
    ws_dropped: int = 0

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


SETTINGS = web.AppKey("settings", SimSettings)
CLOCK = web.AppKey("clock", SimClock)
BOOK = web.AppKey("book", CandleBook)
MARK_BOOK = web.AppKey("mark_book", CandleBook)  # mark-price candles of the perpetuals
LIMITER = web.AppKey("limiter", IpRateLimiter)
FAULTS = web.AppKey("faults", Faults)
STATS = web.AppKey("stats", SimStats)
# The sim time at which a REST request arrived: the envelope's `time` and the rate headers.
REQUEST_NOW = web.RequestKey("sim_now_ms", int)
WS_HUB = web.AppKey("ws_hub", WsHub)
