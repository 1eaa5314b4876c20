"""A backtest as one self-contained HTML file with the backtest page's content: what ran,
metrics, equity and drawdown as inline SVG, monthly returns, the research figures, every trade
column and the request as a readable table; no script and no external asset, so it opens
offline and can be mailed around."""

import html
from datetime import UTC, datetime
from typing import Any

import numpy as np
import numpy.typing as npt

from services.api.equity_stream import drawdowns
from services.api.period_returns import period_ends, period_returns
from services.api.report_format import human, job_title, request_rows, setup_words
from shared.backtest_spec import BacktestSpec
from shared.repos.backtests import BacktestView, Trade

CHART_POINTS = 1500
REPORT_TRADES = 1000
_WIDTH, _HEIGHT, _PAD = 900, 220, 40


class EquityDigest:
    """What the report needs of the full equity curve, fed slice by slice in time order: the
    drawdown under each point (from the running peak of every point, so downsampling never
    hides a trough) and each calendar month's last equity; by the rules of the equity and
    returns endpoints (equity_stream.drawdowns, period_returns)."""

    def __init__(self) -> None:
        self.peak = -np.inf
        self.month_keys: list[int] = []
        self.month_ends: list[float] = []

    def feed(
        self, times: npt.NDArray[np.int64], values: npt.NDArray[np.float64]
    ) -> npt.NDArray[np.float64]:
        """The drawdown (a negative fraction, 0 at a peak) of each point of this slice."""
        falls, self.peak = drawdowns(values, self.peak)
        keys, ends = period_ends(times, values, "month")
        for key, end in zip(keys.tolist(), ends.tolist(), strict=True):
            if self.month_keys and self.month_keys[-1] == key:
                self.month_ends[-1] = end  # a month across two slices ends in the later one
            else:
                self.month_keys.append(key)
                self.month_ends.append(end)
        return -falls

    def monthly_returns(self, initial_capital: float) -> list[tuple[str, float | None]]:
        """(YYYY-MM, return): a month's last equity over the previous month's (the first
        month's over the initial capital)."""
        items = period_returns(self.month_keys, self.month_ends, initial_capital, "month")
        return [(item.period, item.return_) for item in items]


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


def _cell(key: str, value: Any) -> str:
    numeric = isinstance(value, int | float) and not isinstance(value, bool)
    css = ' class="num"' if numeric else ""
    return f"<td{css}>{html.escape(human(key, value))}</td>"


def _pairs(rows: dict[str, Any], table_id: str, as_key: str | None = None) -> str:
    """A two-column table; each value formatted by its key, or all by `as_key`."""
    cells = "".join(
        f"<tr><th>{html.escape(str(k).replace('_', ' '))}</th>{_cell(as_key or str(k), v)}</tr>"
        for k, v in rows.items()
    )
    return f'<table id="{table_id}">{cells}</table>'


def _research_sections(view: BacktestView) -> str:
    """Why trades ended, the warnings, the Monte Carlo percentiles and the provenance."""
    parts = []
    if view.exit_counts:
        counts: dict[str, Any] = {str(k): v for k, v in view.exit_counts.items()}
        parts.append("<h2>Why trades ended</h2>" + _pairs(counts, "exit-counts", "count"))
    if view.warnings:
        items = "".join(f"<li>{html.escape(w)}</li>" for w in view.warnings)
        parts.append(f'<h2>Warnings</h2><ul id="warnings">{items}</ul>')
    if view.monte_carlo is not None:
        mc = view.monte_carlo.model_dump()
        head = "".join(f"<th>{k}</th>" for k in ("", *_PERCENTILES))
        rows = "".join(
            f"<tr><th>{name}</th>" + "".join(_cell(key, mc[key][p]) for p in _PERCENTILES) + "</tr>"
            for name, key in (("final equity", "final_equity"), ("max drawdown", "max_drawdown"))
        )
        parts.append(
            f"<h2>Monte Carlo: {human('runs', mc['runs'])} runs, seed {mc['seed']}; probability "
            f"of a loss {human('prob_loss', mc['prob_loss'])}</h2>"
            f'<table id="monte-carlo"><tr>{head}</tr>{rows}</table>'
        )
    if view.provenance is not None:
        made = view.provenance.model_dump(mode="json")
        candles = made.get("candles") or {}
        flat = {f"candles {k}": v for k, v in candles.items()}
        flat.update({k: v for k, v in made.items() if k != "candles"})
        parts.append("<h2>Provenance</h2>" + _pairs(flat, "provenance"))
    return "\n".join(parts)


_PERCENTILES = ("p5", "p25", "p50", "p75", "p95")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
# The trade columns the UI shows, in its order; a field a trade has beyond these is added.
TRADE_COLUMNS = (
    "side", "symbol", "entry_time", "entry_price", "exit_time", "exit_price", "qty", "pnl",
    "return", "equity_return", "fees", "funding", "mae", "mfe", "bars_held", "exit_reason",
)  # fmt: skip
_ALWAYS = frozenset(
    {"side", "entry_time", "entry_price", "exit_time", "exit_price", "qty", "pnl", "return"}
    | {"fees", "funding", "exit_reason"}
)


def _monthly_table(monthly: list[tuple[str, float | None]]) -> str:
    years: dict[str, dict[int, float | None]] = {}
    for period, value in monthly:
        year, month = period.split("-")
        years.setdefault(year, {})[int(month)] = value
    head = "<tr><th>year</th>" + "".join(f"<th>{m}</th>" for m in _MONTHS) + "<th>year</th></tr>"
    rows = []
    for year, months in years.items():
        compounded = float(np.prod([1 + v for v in months.values() if v is not None])) - 1
        cells = "".join(
            _cell("return", months[m]) if m in months else "<td></td>" for m in range(1, 13)
        )
        rows.append(f"<tr><th>{year}</th>{cells}{_cell('return', compounded)}</tr>")
    return f'<table id="monthly-returns">{head}{"".join(rows)}</table>'


def _trades_table(trades: list[Trade]) -> str:
    dumped = [t.model_dump(by_alias=True) for t in trades]
    present = {k for d in dumped for k, v in d.items() if v is not None}
    columns = [c for c in TRADE_COLUMNS if c in _ALWAYS or c in present]
    columns += sorted(present - set(columns))
    head = "".join(f"<th>{html.escape(c.replace('_', ' '))}</th>" for c in columns)

    def value(d: dict[str, Any], c: str) -> Any:
        if c == "exit_reason" and d.get("exit_time") is None:
            return "open"
        if c == "funding" and d.get(c) is None:
            return 0.0  # spot, or a run without funding: nothing paid
        return d.get(c)

    rows = "".join(
        "<tr>" + "".join(_cell(c, value(d, c)) for c in columns) + "</tr>" for d in dumped
    )
    return f'<table id="trades"><tr>{head}</tr>{rows}</table>'


def render_report(
    view: BacktestView,
    times: npt.NDArray[np.int64],
    values: npt.NDArray[np.float64],
    drawdowns: npt.NDArray[np.float64],
    monthly: list[tuple[str, float | None]],
    trades: list[Trade],
    total_trades: int,
) -> str:
    """`drawdowns`: each point's drawdown (a negative fraction) as EquityDigest measured it
    on the whole curve, so a downsampled chart still shows the deepest fall."""
    request = view.request
    title = job_title(getattr(view, "strategy_name", None), request)
    setup = setup_words(request)
    metrics = _pairs(view.metrics.model_dump() if view.metrics else {}, "metrics")
    shown = f"first {len(trades)} of {total_trades}" if total_trades > len(trades) else "all"
    research = _research_sections(view)
    settings = "".join(
        f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>"
        for k, v in request_rows(request, list(BacktestSpec.model_fields))
    )
    period = f"{human('start', request.get('start'))} to {human('end', request.get('end'))}"
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Backtest report: {html.escape(title)}</title>
<style>
body {{ font: 14px/1.4 system-ui, sans-serif; margin: 1.5em; color: #1d2330; }}
table {{ border-collapse: collapse; }} th, td {{ padding: .2em .6em; border-bottom: 1px solid #ddd;
text-align: left; }} td.num {{ text-align: right; font-variant-numeric: tabular-nums; }}
svg {{ max-width: 100%; height: auto; }} td {{ overflow-wrap: anywhere; }}
</style></head><body>
<h1>Backtest report: {html.escape(title)}</h1>
<p>{html.escape(setup)}; {html.escape(period)}; backtest <code>{view.id}</code>, {view.status}.</p>
<h2>Metrics</h2>{metrics}
<h2>Equity and drawdown</h2>
<div id="equity">{svg_line(times, values, "Equity", "#1565c0")}</div>
<div id="drawdown">{svg_line(times, drawdowns * 100, "Drawdown (%)", "#c62828")}</div>
<h2>Monthly returns</h2>{_monthly_table(monthly)}
{research}
<h2>Trades ({shown})</h2>
{_trades_table(trades)}
<h2>Request</h2><table id="request">{settings}</table>
</body></html>
"""
