"""A backtest as one self-contained HTML file: metrics, equity and drawdown as inline SVG, the
trades; no script and no external asset, so it opens offline and can be mailed around."""

import html
from datetime import UTC, datetime
from typing import Any

import numpy as np
import numpy.typing as npt

from services.api.equity_stream import drawdowns
from shared.repos.backtests import BacktestView, Trade

CHART_POINTS = 1500
REPORT_TRADES = 1000
_WIDTH, _HEIGHT, _PAD = 900, 220, 40


def svg_line(
    times: npt.NDArray[np.int64], values: npt.NDArray[np.float64], title: str, color: str
) -> str:
    """A polyline with its extremes labelled on the y axis and the first and last date on x."""
    if len(values) < 2:
        return f"<p>{html.escape(title)}: no curve</p>"
    lo, hi = float(values.min()), float(values.max())
    span_y = (hi - lo) or 1.0
    t0, t1 = int(times[0]), int(times[-1])
    span_x = (t1 - t0) or 1
    xs = _PAD + (times - t0) / span_x * (_WIDTH - 2 * _PAD)
    ys = _HEIGHT - _PAD - (values - lo) / span_y * (_HEIGHT - 2 * _PAD)
    points = " ".join(f"{x:.1f},{y:.1f}" for x, y in zip(xs.tolist(), ys.tolist(), strict=True))

    def day(ms: int) -> str:
        return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d")

    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {_WIDTH} {_HEIGHT}" '
        f'width="{_WIDTH}" height="{_HEIGHT}" role="img" aria-label="{html.escape(title)}">'
        f'<text x="{_PAD}" y="16" font-size="13">{html.escape(title)}</text>'
        f'<text x="2" y="{_PAD}" font-size="10">{hi:.6g}</text>'
        f'<text x="2" y="{_HEIGHT - _PAD}" font-size="10">{lo:.6g}</text>'
        f'<text x="{_PAD}" y="{_HEIGHT - 8}" font-size="10">{day(t0)}</text>'
        f'<text x="{_WIDTH - _PAD}" y="{_HEIGHT - 8}" font-size="10" text-anchor="end">'
        f"{day(t1)}</text>"
        f'<polyline fill="none" stroke="{color}" stroke-width="1.3" points="{points}"/></svg>'
    )


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f'<td class="num">{value:.6g}</td>'
    if isinstance(value, datetime):
        return f"<td>{value.strftime('%Y-%m-%d %H:%M')}</td>"
    return f"<td>{html.escape('' if value is None else str(value))}</td>"


def _pairs(rows: dict[str, Any], table_id: str) -> str:
    cells = "".join(f"<tr><th>{html.escape(str(k))}</th>{_cell(v)}</tr>" for k, v in rows.items())
    return f'<table id="{table_id}">{cells}</table>'


def _research_sections(view: BacktestView) -> str:
    """Why trades ended, the warnings, the Monte Carlo percentiles and the provenance."""
    parts = []
    if view.exit_counts:
        counts: dict[str, Any] = {str(k): v for k, v in view.exit_counts.items()}
        parts.append("<h2>Why trades ended</h2>" + _pairs(counts, "exit-counts"))
    if view.warnings:
        items = "".join(f"<li>{html.escape(w)}</li>" for w in view.warnings)
        parts.append(f'<h2>Warnings</h2><ul id="warnings">{items}</ul>')
    if view.monte_carlo is not None:
        mc = view.monte_carlo.model_dump()
        head = "".join(f"<th>{k}</th>" for k in ("", "p5", "p25", "p50", "p75", "p95"))
        rows = "".join(
            f"<tr><th>{name}</th>"
            + "".join(_cell(mc[key][p]) for p in ("p5", "p25", "p50", "p75", "p95"))
            + "</tr>"
            for name, key in (("final equity", "final_equity"), ("max drawdown", "max_drawdown"))
        )
        parts.append(
            f"<h2>Monte Carlo ({mc['runs']} runs, seed {mc['seed']}; probability of a loss "
            f'{mc["prob_loss"]:.4g})</h2><table id="monte-carlo"><tr>{head}</tr>{rows}</table>'
        )
    if view.provenance is not None:
        made = view.provenance.model_dump(mode="json")
        candles = made.get("candles") or {}
        flat = {f"candles {k}": v for k, v in candles.items()}
        flat.update({k: v for k, v in made.items() if k != "candles"})
        parts.append("<h2>Provenance</h2>" + _pairs(flat, "provenance"))
    return "\n".join(parts)


def render_report(
    view: BacktestView,
    times: npt.NDArray[np.int64],
    values: npt.NDArray[np.float64],
    trades: list[Trade],
    total_trades: int,
    falls: npt.NDArray[np.float64] | None = None,
) -> str:
    """`falls`: each point's drawdown as the equity page answers it (measured on the whole
    curve, so a downsampled chart still shows the deepest fall); none: from `values`."""
    request = view.request
    strategy = request.get("strategy") or {}
    title = f"{request.get('symbol')} {request.get('interval')} {view.strategy_name}"
    if falls is None:
        falls, _ = drawdowns(values)
    metrics = "".join(
        f"<tr><th>{html.escape(k)}</th>{_cell(v)}</tr>"
        for k, v in (view.metrics.model_dump() if view.metrics else {}).items()
    )
    columns = ["side", "entry_time", "entry_price", "exit_time", "exit_price", "qty", "pnl"]
    columns += ["return", "fees", "exit_reason"]
    rows = "".join(
        "<tr>" + "".join(_cell(getattr(t, c, None)) for c in columns) + "</tr>" for t in trades
    )
    shown = f"first {len(trades)} of {total_trades}" if total_trades > len(trades) else "all"
    research = _research_sections(view)
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Backtest report: {html.escape(title)}</title>
<style>
body {{ font: 14px/1.4 system-ui, sans-serif; margin: 1.5em; color: #1d2330; }}
table {{ border-collapse: collapse; }} th, td {{ padding: .2em .6em; border-bottom: 1px solid #ddd;
text-align: left; }} td.num {{ text-align: right; }} svg {{ max-width: 100%; height: auto; }}
</style></head><body>
<h1>Backtest report: {html.escape(title)}</h1>
<p>Backtest <code>{view.id}</code>, status {view.status}; {html.escape(str(request.get("start")))}
to {html.escape(str(request.get("end")))}; parameters
<code>{html.escape(str(strategy.get("params", {})))}</code>.</p>
<h2>Metrics</h2><table id="metrics">{metrics}</table>
{research}
<h2>Equity and drawdown</h2>
<div id="equity">{svg_line(times, values, "Equity", "#1565c0")}</div>
<div id="drawdown">{svg_line(times, -falls, "Drawdown", "#c62828")}</div>
<h2>Trades ({shown})</h2>
<table id="trades"><tr>{"".join(f"<th>{c}</th>" for c in columns)}</tr>{rows}</table>
<details><summary>Request</summary><pre>{html.escape(str(request))}</pre></details>
</body></html>
"""
