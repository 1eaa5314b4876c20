"""Consuming RunBacktest: claim, load candles, simulate in the process pool, commit, settle."""

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import numpy as np

from services.engine.backtests.in_pool import BacktestOutput, simulate
from services.engine.backtests.parsed_request import ParsedBacktest, parse_backtest
from services.engine.backtests.portfolio_in_pool import simulate_portfolio
from services.engine.fill_detail_loading import load_fill_detail
from services.engine.perp_market_loading import load_perp_market
from services.engine.portfolio_loading import load_portfolio_series
from services.engine.provenance import CandlesDigests, differences, equity_sha256
from services.engine.simulation_pool import SimulationPool
from shared import market_data
from shared.backtest_spec import BacktestSpec
from shared.jobs import JobRejected
from shared.messages import RunBacktest
from shared.repos import backtests as backtests_repo

log = logging.getLogger(__name__)
# What the pool runs for a backtest, its inputs (the candles loaded, the request parsed), and
# the bytes of the output's equity curve when known beforehand.
PoolWork = tuple[Callable[..., BacktestOutput], tuple[Any, ...], int]


@dataclass
class BacktestWorker:
    pool: asyncpg.Pool
    simulations: SimulationPool
    # The digest of the candles last loaded, reused while the same candles are loaded again.
    candles_digests: CandlesDigests = field(default_factory=CandlesDigests)

    async def handle(self, command: RunBacktest) -> None:
        request = await backtests_repo.claim_backtest(self.pool, command.backtest_id)
        if request is None:
            log.info("backtest already settled", extra={"backtest_id": str(command.backtest_id)})
            return
        try:
            await self._run(command, request)
        except JobRejected as exc:
            async with self.pool.acquire() as conn:
                await backtests_repo.fail_backtest(conn, command.backtest_id, str(exc))

    async def _run(self, command: RunBacktest, request: dict[str, object]) -> None:
        began = time.perf_counter()
        spec, run = parse_backtest(request)
        simulation, inputs, equity_bytes = await pool_work(
            self.pool, spec, run, self.candles_digests
        )
        loaded = time.perf_counter()
        # The domain's code keeps no view of its arguments; a plugin is user code that may.
        ours = spec.strategy.entry().plugin is None
        output = await self.simulations.run(
            simulation, *inputs, room=equity_bytes, keeps_no_arguments=ours
        )
        simulated = time.perf_counter()
        digests = output.digests
        async with self.pool.acquire() as conn:
            original = await backtests_repo.rerun_source(conn, command.backtest_id)
            if original is not None:  # a rerun compares the equity too
                digests = {
                    **digests,
                    "equity": await asyncio.to_thread(equity_sha256, output.times, output.equity),
                }
            stored = await backtests_repo.store_result(
                conn,
                command.backtest_id,
                output.metrics,
                output.trades,
                output.times,
                output.equity,
                data=output.data.data,
                warnings=output.warnings,
                exit_counts=output.exit_counts,
                monte_carlo=output.monte_carlo,
                provenance=output.provenance,
                digests=digests,
                differences=None if original is None else differences(original, digests),
                per_symbol=output.per_symbol,
            )
        context = {"backtest_id": str(command.backtest_id)}
        if not stored:
            log.info("backtest cancelled while it ran", extra=context)
            return
        # Where a backtest's time goes (`make bench` latency reads it): loading the candles,
        # the pool (sending them, simulating, the results back), writing the results.
        parts = {"load": loaded - began, "simulate": simulated - loaded}
        parts["write"] = time.perf_counter() - simulated
        ms = {f"{name}_ms": round(seconds * 1000, 1) for name, seconds in parts.items()}
        log.info("backtest stored", extra={**context, "bars": len(output.times), **ms})

    async def give_up(self, command: RunBacktest, error: str) -> None:
        async with self.pool.acquire() as conn:
            await backtests_repo.fail_backtest(conn, command.backtest_id, error)


async def pool_work(
    pool: asyncpg.Pool, spec: BacktestSpec, run: ParsedBacktest, digests: CandlesDigests
) -> PoolWork:
    """What the pool runs for the backtest, and its inputs loaded: one symbol's warmed
    candles (with a perpetual's market, the `fill_detail` candles and the candles' digest),
    or each symbol's of a portfolio on the union timeline."""
    async with pool.acquire() as conn:
        if spec.symbols is not None:
            series = await load_portfolio_series(conn, spec, spec.warmup_bars_asked)
            return simulate_portfolio, (series, run), 0
        candles = await market_data.load_candles_warmed(
            conn,
            spec.category,
            spec.symbol,
            spec.interval,
            spec.start,
            spec.end,
            spec.warmup_bars_asked,
        )
        market = await load_perp_market(conn, spec, candles)
        detail = await load_fill_detail(conn, spec, candles)
    warmup = int(np.searchsorted(candles.open_time, spec.start_ms))
    if warmup == len(candles):
        raise JobRejected("no stored candles in the range")
    digest = await asyncio.to_thread(digests.of, candles)
    equity_bytes = (len(candles) - warmup) * np.dtype(np.float64).itemsize
    return simulate, (candles, run, warmup, market, detail, digest), equity_bytes
