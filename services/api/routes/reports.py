"""GET /api/v1/backtests/{id}/report: the backtest as one self-contained HTML file."""

import asyncio

import numpy as np
from aiohttp import web

from services.api.endpoints import Endpoint, existing
from services.api.equity_stream import SLICE_POINTS, drawdowns, kept_points
from services.api.keys import POOL
from services.api.report import CHART_POINTS, REPORT_TRADES, render_report
from shared.repos import backtests as backtests_repo


async def report(request: web.Request) -> web.Response:
    pool = request.app[POOL]
    view = await existing(request, "backtest", backtests_repo.get_backtest)
    total = await backtests_repo.equity_length(pool, view.id) or 0
    keep = kept_points(total, CHART_POINTS)
    times, values, falls = [], [], []
    peak = -np.inf
    for first in range(0, total, SLICE_POINTS):  # slices, so a year of minutes is never whole
        part = await backtests_repo.equity_slice(pool, view.id, first, SLICE_POINTS)
        if part is None:
            break
        t, v = part
        d, peak = drawdowns(v, peak)
        if keep is not None:
            local = keep[(keep >= first) & (keep < first + len(t))] - first
            t, v, d = t[local], v[local], d[local]
        times.append(t)
        values.append(v)
        falls.append(d)
    trades, total_trades = await backtests_repo.trades_page(
        pool, view.id, limit=REPORT_TRADES, offset=0
    )
    page = await asyncio.to_thread(
        render_report,
        view,
        np.concatenate(times) if times else np.zeros(0, np.int64),
        np.concatenate(values) if values else np.zeros(0, np.float64),
        trades,
        total_trades,
        np.concatenate(falls) if falls else np.zeros(0, np.float64),
    )
    name = f"backtest-{view.id}.html"
    return web.Response(
        text=page,
        content_type="text/html",
        headers={"Content-Disposition": f'inline; filename="{name}"'},
    )


ENDPOINTS = [
    Endpoint(
        "GET",
        "/api/v1/backtests/{id}/report",
        report,
        "The backtest as one self-contained HTML file (charts inline, no external assets)",
        "backtests",
        content_type="text/html",
        errors=(404,),
        operation_id="getBacktestReport",
    ),
]
