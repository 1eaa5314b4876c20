"""What a trader sees (docs/CONTRACT "Web UI"), checked in Chromium at a 1280 x 800 window:
every request field has a control in the forms (compared with the OpenAPI request schemas),
the forms send what was set, jobs are labelled, numbers read as percentages and money, nothing
prints undefined/None/null/NaN/[object Object], no page is wider than the window, the
optimization page leads with its heatmap over the two most varied parameters and sorts by the
objective, walk-forward windows run in time order, a trade clicked centres the chart, monthly
returns match the equity curve, and the report has the same content."""

import json
import re
from collections import defaultdict
from datetime import datetime
from typing import Any

import asyncpg
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from playwright.async_api import Browser, Route

from shared.settings import Settings
from tests.support.browser import ARTIFACTS, WAIT_MS, Watched, browser
from tests.support.market import T0, insert_candles, random_walk
from tests.support.services import running_engine, settled

pytestmark = pytest.mark.integration
__all__ = ["browser"]  # the fixture, shared with test_ui_browser

Client = TestClient[web.Request, web.Application]
TIMES = "\u00d7"  # the times sign, as in "3x" leverage and "2 x ATR"
FORBIDDEN = re.compile(r"\b(undefined|None|null|NaN)\b|\[object Object\]")
# Four-hour candles over a year: months enough for a year x month table.
REQUEST: dict[str, Any] = {
    "category": "linear",
    "symbol": "ETHUSDT",
    "interval": "240",
    "start": "2024-01-01T00:00:00Z",
    "end": "2024-12-30T00:00:00Z",
    "strategy": {"name": "sma_cross", "params": {"fast": 5, "slow": 20}},
    "direction": "long_short",
    "leverage": 3,
    "stop_loss": {"atr": 2},
    "monte_carlo": {"runs": 200, "seed": 1},
}


async def insert_year(pool: asyncpg.Pool) -> None:
    await insert_candles(pool, "linear", "ETHUSDT", "240", random_walk(T0, 2200, "240", seed=3))


async def trader_page(browser: Browser, api: Client) -> Watched:
    base = str(api.make_url("")).rstrip("/")
    page = await browser.new_page(viewport={"width": 1280, "height": 800})
    seen = Watched(page, base)
    await seen.block_elsewhere()
    return seen


async def looks_right(ui: Watched, where: str) -> str:
    """The page's text, after checking it prints no placeholder and fits the window."""
    text = await ui.page.inner_text("body")
    found = FORBIDDEN.search(text)
    assert found is None, (
        where,
        found.group(0),
        text[max(0, found.start() - 80) : found.end() + 80],
    )
    widths = await ui.page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert widths[0] <= widths[1], (where, widths)
    return text


def resolve(doc: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = doc["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def schema_fields(doc: dict[str, Any], schema: dict[str, Any], prefix: str = "") -> set[str]:
    """Every property path of a request schema, into objects that are one nullable choice
    (`monte_carlo.runs`); the strategy is one control of its own (name and parameters)."""
    out = set()
    for name, prop in schema.get("properties", {}).items():
        path = f"{prefix}{name}"
        out.add(path)
        if name == "strategy":
            continue
        target = resolve(doc, prop)
        variants = [resolve(doc, v) for v in target.get("anyOf", target.get("oneOf", [target]))]
        objects = [v for v in variants if v.get("type") != "null"]
        if len(objects) == 1 and objects[0].get("properties"):
            out |= schema_fields(doc, objects[0], f"{path}.")
    return out


def body_schema(doc: dict[str, Any], path: str) -> dict[str, Any]:
    schema = doc["paths"][path]["post"]["requestBody"]["content"]["application/json"]["schema"]
    return resolve(doc, schema)


async def form_fields(ui: Watched, form: str) -> set[str]:
    found: list[str] = await ui.page.eval_on_selector_all(
        f"{form} [data-field]", "els => els.map(e => e.dataset.field)"
    )
    return set(found)


async def test_the_forms_have_a_control_for_every_request_field_and_send_what_is_set(
    api: Client, settings: Settings, pool: asyncpg.Pool, browser: Browser
) -> None:
    await insert_year(pool)
    doc = await (await api.get("/api/v1/openapi.json")).json()
    ui = await trader_page(browser, api)
    page = ui.page
    await ui.open("/backtests", "trader-backtest-form")
    backtest_fields = schema_fields(doc, body_schema(doc, "/api/v1/backtests"))
    assert {"leverage", "direction", "stop_loss", "monte_carlo.runs"} <= backtest_fields
    shown = await form_fields(ui, "#run-backtest")
    assert backtest_fields <= shown, backtest_fields - shown
    await looks_right(ui, "/backtests")
    await ui.open("/optimizations", "trader-optimization-form")
    optimization_fields = schema_fields(doc, body_schema(doc, "/api/v1/optimizations"))
    assert {"kind", "param_grid", "objective", "backtest.leverage"} <= optimization_fields
    shown = await form_fields(ui, "#run-optimization")
    # Fields of another kind of search are hidden, not missing.
    assert optimization_fields <= shown, optimization_fields - shown
    await looks_right(ui, "/optimizations")

    async with running_engine(settings):
        await ui.open("/backtests", "trader-backtest-form")
        form = page.locator("#run-backtest")
        for name, value in [("symbol", "ETHUSDT"), ("start", "2024-01-01T00:00:00Z")]:
            await form.locator(f"input[name={name}]").fill(value)
        await form.locator("select[name=interval]").select_option("240")
        await form.locator("input[name=end]").fill("2024-03-01T00:00:00Z")
        await form.locator("select[name=direction]").select_option("long_short")
        await form.locator("input[name=leverage]").fill("3")
        await form.locator("select[name='stop_loss:kind']").select_option(label="fraction")
        await form.locator("input[name=stop_loss]").fill("0.05")
        await form.locator("select[name='trailing_stop:kind']").select_option(label="atr")
        await form.locator("input[name='trailing_stop.atr']").fill("3")
        await form.locator("input[name='monte_carlo:on']").check()
        await form.locator("input[name='monte_carlo.runs']").fill("300")
        await form.locator("input[name='monte_carlo.seed']").fill("9")
        await form.locator("button[type=submit]").click()
        await page.wait_for_url("**/backtests/*-*", timeout=WAIT_MS)
        view = await settled(api, f"/api/v1/backtests/{page.url.rsplit('/', 1)[1]}")
        sent = view["request"]
        assert (sent["direction"], sent["leverage"], sent["stop_loss"]) == ("long_short", 3, 0.05)
        assert sent["trailing_stop"] == {"atr": 3}
        assert sent["monte_carlo"] == {"runs": 300, "seed": 9}

        await ui.open("/optimizations", "trader-optimization-form")
        form = page.locator("#run-optimization")
        await form.locator("select[name=kind]").select_option("grid")
        await form.locator("input[name='backtest.symbol']").fill("ETHUSDT")
        await form.locator("select[name='backtest.interval']").select_option("240")
        await form.locator("input[name='backtest.end']").fill("2024-03-01T00:00:00Z")
        await form.locator("select[name=strategy]").select_option("sma_cross")
        await form.locator("input[name='grid:fast']").fill("5, 10")
        await form.locator("input[name='grid:slow']").fill("20:30:10")
        await form.locator("input[name='grid:stop_loss']").fill("0.02, 2 atr")
        await form.locator("select[name=objective]").select_option("calmar")
        await form.locator("button[type=submit]").click()
        await page.wait_for_url("**/optimizations/*-*", timeout=WAIT_MS)
        created = await settled(api, f"/api/v1/optimizations/{page.url.rsplit('/', 1)[1]}")
    asked = created["request"]
    assert asked["param_grid"] == {
        "fast": [5, 10],
        "slow": [20, 30],
        "stop_loss": [0.02, {"atr": 2.0}],
    }
    assert asked["objective"] == "calmar" and asked["kind"] == "grid"
    assert created["status"] == "succeeded", created["error"]
    assert not ui.problems, ui.problems


def monthly_returns(points: list[dict[str, Any]], initial: float) -> dict[str, float]:
    """Each month's last equity over the previous month's, the first over the capital."""
    last: dict[str, float] = {}
    for p in points:
        last[p["time"][:7]] = p["equity"]
    out, before = {}, initial
    for month, equity in last.items():
        out[month] = equity / before - 1
        before = equity
    return out


def percent(value: float) -> str:
    p = value * 100
    digits = 0 if abs(p) >= 100 else 1 if abs(p) >= 10 else 2 if abs(p) >= 0.1 else 3
    return f"{p:,.{digits}f} %".replace("-", "\u2212")


async def test_a_trader_reads_the_pages_and_the_report(
    api: Client, settings: Settings, pool: asyncpg.Pool, browser: Browser
) -> None:
    await insert_year(pool)
    base = {**REQUEST, "monte_carlo": None, "stop_loss": None}
    grid = {
        "kind": "grid",
        "backtest": base,
        "param_grid": {"fast": [3, 5, 8], "slow": [20, 30], "stop_loss": [0.05, {"atr": 2}]},
        "objective": "calmar",
    }
    walk = {
        "kind": "walk_forward",
        "backtest": base,
        "param_grid": {"fast": [3, 5], "slow": [20, 30]},
        "walk_forward": {"train_bars": 400, "test_bars": 300},
    }
    async with running_engine(settings):
        created = await api.post("/api/v1/backtests", json=REQUEST)
        view = await settled(api, created.headers["Location"])
        created = await api.post("/api/v1/optimizations", json=grid)
        optimization = await settled(api, created.headers["Location"])
        created = await api.post("/api/v1/optimizations", json=walk)
        walk_forward = await settled(api, created.headers["Location"])
    assert view["status"] == optimization["status"] == walk_forward["status"] == "succeeded"
    ui = await trader_page(browser, api)
    page = ui.page

    # The backtest page: labelled by what ran, percentages and money, every section drawn.
    await ui.open(f"/backtests/{view['id']}", "trader-backtest")
    await page.wait_for_selector("#monthly-returns table", timeout=WAIT_MS)
    text = await looks_right(ui, "backtest")
    title = await page.inner_text("#bt-title")
    assert "sma_cross" in title and "ETHUSDT" in title and "4h" in title
    setup = await page.inner_text("#bt-setup")
    assert f"3{TIMES}" in setup and "long & short" in setup and f"SL 2.00 {TIMES} ATR" in setup
    total_return = view["metrics"]["total_return"]
    shown_return = await page.inner_text("#metrics [data-metric=total_return] b")
    assert shown_return == percent(total_return)
    final = await page.inner_text("#metrics [data-metric=final_equity] b")
    assert final == f"{view['metrics']['final_equity']:,.2f}"
    assert "Monte Carlo: 200 runs" in text

    # The strategy's indicators drawn: both averages on the candles.
    await page.wait_for_selector("#candles[data-indicators]", timeout=WAIT_MS)
    drawn = (await page.get_attribute("#candles", "data-indicators") or "").split("|")
    assert drawn == ["price:sma(close, 5)", "price:sma(close, 20)"]
    await page.screenshot(path=str(ARTIFACTS / "trader-backtest-top.png"))

    # Monthly returns: a year x month table, each cell the equity curve's month over month.
    points = (await (await api.get(f"/api/v1/backtests/{view['id']}/equity")).json())["items"]
    expected = monthly_returns(points, 10_000.0)
    cells: list[list[str]] = await page.eval_on_selector_all(
        "#monthly-returns tbody tr",
        "rows => rows.map(r => [...r.children].map(c => c.textContent))",
    )
    by_year: dict[str, list[str]] = defaultdict(list)
    for row in cells:
        by_year[row[0]] = row[1:13]
    assert len(expected) >= 11
    for month, value in expected.items():
        year, m = month.split("-")
        assert by_year[year][int(m) - 1] == percent(value), month

    # A trade clicked in the table centres the candle chart on it.
    trades = (await (await api.get(f"/api/v1/backtests/{view['id']}/trades")).json())["items"]
    assert trades
    await page.wait_for_selector("#candles canvas", timeout=WAIT_MS)
    headers = await page.eval_on_selector_all(
        "#trades thead th", "ths => ths.map(t => t.textContent)"
    )
    assert not any(h.startswith("symbol") for h in headers)  # one symbol: it is in the title
    first_row = page.locator("#trades tbody tr").first
    entry = await first_row.locator("td").nth(1).inner_text()
    await first_row.click()
    await page.wait_for_selector("#candles[data-centre]", timeout=WAIT_MS)
    trade = trades[0]
    assert entry == trade["entry_time"][:16].replace("T", " ")
    entry_s = datetime.fromisoformat(trade["entry_time"]).timestamp()
    await page.wait_for_function(
        f"""(() => {{ const c = document.querySelector('#candles');
            return Number(c.dataset.visibleFrom) <= {entry_s}
                && {entry_s} <= Number(c.dataset.visibleTo)
                && Number(c.dataset.visibleTo) - Number(c.dataset.visibleFrom) < 200 * 4 * 3600;
        }})()""",
        timeout=WAIT_MS,
    )
    # Every trade column is filled.
    empty = await page.eval_on_selector_all(
        "#trades tbody td", "cells => cells.filter(c => c.textContent.trim() === '').length"
    )
    assert empty == 0

    # The optimization page: the heatmap first, over the two most varied parameters, then the
    # results by the objective (calmar), 50 a page; values like {"atr": 2} read as such.
    await ui.open(f"/optimizations/{optimization['id']}", "trader-optimization")
    await page.wait_for_selector("#heatmap canvas", timeout=WAIT_MS)
    text = await looks_right(ui, "optimization")
    order = await page.evaluate(
        "[...document.querySelectorAll('#heatmap, #opt-results')].map(e => e.id)"
    )
    assert order == ["heatmap", "opt-results"]
    await page.screenshot(path=str(ARTIFACTS / "trader-optimization-top.png"))
    assert await page.get_attribute("#heatmap", "data-x") == "fast"
    assert await page.get_attribute("#heatmap", "data-y") in {"slow", "stop_loss"}
    assert await page.get_attribute("#heatmap", "data-cells") == "6"
    assert f"2.00 {TIMES} ATR" in text and "5.00 %" in text
    rows = (await (await api.get(f"/api/v1/optimizations/{optimization['id']}/results")).json())[
        "items"
    ]
    best_calmar = max(r["metrics"]["calmar"] for r in rows if r["metrics"]["calmar"] is not None)
    first_calmar = (
        await page.locator("#opt-results tbody tr").first.locator("td").nth(3).inner_text()
    )
    assert first_calmar == f"{best_calmar:,.2f}".replace("-", "\u2212") or abs(best_calmar) < 1
    assert await page.locator("#opt-results tbody tr").count() == len(rows) == 12

    # Walk-forward windows in time order.
    await ui.open(f"/optimizations/{walk_forward['id']}", "trader-walk-forward")
    await looks_right(ui, "walk-forward")
    windows = await page.eval_on_selector_all(
        "#wf-windows tbody tr", "rows => rows.map(r => Number(r.children[0].textContent))"
    )
    assert windows == sorted(windows) and len(windows) == walk_forward["walk_forward"]["windows"]

    # The lists and the home page name what ran and what came out.
    for path in ("/", "/backtests", "/optimizations"):
        await ui.open(path, f"trader-{path.strip('/') or 'home'}")
        text = await looks_right(ui, path)
        assert "sma_cross" in text and "ETHUSDT" in text and f"3{TIMES}" in text, path
        assert path == "/optimizations" or "%" in text
    await ui.open("/data", "trader-data")
    assert "linear ETHUSDT 4h" in await looks_right(ui, "/data")
    await ui.open(f"/compare?ids={view['id']}", "trader-compare")
    assert "sma_cross · ETHUSDT · 4h" in await looks_right(ui, "/compare")
    await ui.open("/optimizations", "trader-optimizations")

    # The optimization list filters by the kinds and statuses of the API's own schema.
    await page.select_option("#optimization-filters select[name=kind]", "walk_forward")
    await page.click("#optimization-filters button")
    await (
        page.locator("#optimization-list tbody tr")
        .nth(1)
        .wait_for(state="detached", timeout=WAIT_MS)
    )
    assert await page.locator("#optimization-list tbody tr").count() == 1
    assert "walk_forward" in await page.inner_text("#optimization-list tbody")
    kinds = await page.eval_on_selector_all(
        "#optimization-filters select[name=kind] option", "os => os.map(o => o.value)"
    )
    schema = (await (await api.get("/api/v1/openapi.json")).json())["components"]["schemas"]
    assert kinds[1:] == schema["OptimizationView"]["properties"]["kind"]["enum"]
    # Choosing a walk-forward opens its windows in the form.
    form = page.locator("#run-optimization")
    assert await form.locator("input[name='walk_forward.train_bars']").is_hidden()
    await form.locator("select[name=kind]").select_option("walk_forward")
    await form.locator("input[name='walk_forward.train_bars']").wait_for(timeout=WAIT_MS)
    assert not ui.problems, ui.problems

    # The report: the same content, no placeholders, the request as a table, funding.
    report = await (await api.get(f"/api/v1/backtests/{view['id']}/report")).text()
    (ARTIFACTS / "trader-report.html").write_text(report)
    page = await browser.new_page(viewport={"width": 1280, "height": 800})
    await page.context.set_offline(True)
    await page.goto((ARTIFACTS / "trader-report.html").as_uri())
    text = await page.inner_text("body")
    assert FORBIDDEN.search(text) is None, FORBIDDEN.search(text)
    assert "sma_cross · ETHUSDT · 4h" in text and f"3{TIMES} · long & short" in text
    headings = await page.eval_on_selector_all("#trades th", "ths => ths.map(t => t.textContent)")
    assert {"return", "funding", "fees", "pnl"} <= set(headings)
    blank = await page.eval_on_selector_all(
        "#trades td", "cells => cells.filter(c => c.textContent.trim() === '').length"
    )
    assert blank == 0
    settings_text = await page.inner_text("#request")
    assert "leverage\t3" in settings_text and "parameters\tfast 5, slow 20" in settings_text
    report_months = await page.eval_on_selector_all(
        "#monthly-returns tr", "rows => rows.map(r => [...r.children].map(c => c.textContent))"
    )
    first_month = next(iter(expected.items()))
    assert report_months[1][1] == percent(first_month[1])
    await page.screenshot(path=str(ARTIFACTS / "trader-report.png"), full_page=True)


async def test_the_strategy_editor_takes_yaml(api: Client, browser: Browser) -> None:
    ui = await trader_page(browser, api)
    await ui.open("/strategies", "trader-strategies")
    await looks_right(ui, "/strategies")
    form = ui.page.locator("#expression-form")
    await form.locator("input[name=name]").fill("yaml_breakout")
    await form.locator("textarea").fill(
        "params:\n"
        "  period: {type: int, default: 20, minimum: 2, maximum: 200}\n"
        "long_entry: close > highest(shift(high, 1), period)\n"
        "long_exit: close < lowest(shift(low, 1), period)\n"
    )
    await form.locator("button").click()
    await ui.page.locator("#strategy-list", has_text="yaml_breakout").wait_for(timeout=WAIT_MS)
    listed = await (await api.get("/api/v1/strategies")).json()
    saved = next(s for s in listed["items"] if s["name"] == "yaml_breakout")
    assert saved["kind"] == "expression"
    assert saved["definition"]["long_entry"] == "close > highest(shift(high, 1), period)"
    await ui.open("/strategies", "trader-strategies")
    await looks_right(ui, "/strategies")
    assert not ui.problems, ui.problems


# Request shapes other fields take (orders, sizing, portfolios, intrabar detail, time stops):
# the form builder gives each a control and reads back the JSON the API expects.
SHAPES_SCRIPT = """async () => {
  const { buildField } = await import("/ui/js/forms.js");
  const ref = (name) => ({ $ref: `#/components/schemas/${name}` });
  const orNull = (s) => ({ anyOf: [s, { type: "null" }], default: null });
  const doc = { components: { schemas: {
    Limit: { type: "object", required: ["type"], properties: {
      type: { const: "limit", type: "string" }, offset: { type: "number", default: 0 },
      valid_bars: { type: "integer", default: 1 } } },
    Fraction: { type: "object", properties: { method: { const: "fraction", type: "string" } } },
    Risk: { type: "object", properties: { method: { const: "risk", type: "string" },
      risk: { type: "number" } } },
    Rebalance: { type: "object", properties: { every: { anyOf: [
      { enum: ["D", "W", "M"], type: "string" }, { type: "integer", minimum: 1 }] } } },
    Portfolio: { type: "object", properties: {
      max_positions: { anyOf: [{ type: "integer" }, { type: "null" }], default: null },
      rank: { anyOf: [{ type: "string" }, { type: "null" }], default: null },
      rebalance: { anyOf: [ref("Rebalance"), { type: "null" }], default: null } } },
  } } };
  const props = {
    entry_order: { anyOf: [{ const: "market", type: "string" }, ref("Limit")], default: "market" },
    sizing: { oneOf: [ref("Fraction"), ref("Risk")], default: { method: "fraction" },
      discriminator: { propertyName: "method" } },
    symbols: orNull({ type: "array", items: { type: "string" } }),
    portfolio: { anyOf: [ref("Portfolio"), { type: "null" }], default: null },
    fill_detail: orNull({ enum: ["1", "3"], type: "string" }),
    max_bars_in_trade: orNull({ type: "integer", minimum: 1 }),
  };
  const ctx = { doc, custom: {}, initial: {} };
  const form = document.createElement("form");
  document.body.append(form);
  const fields = Object.entries(props).map(([k, p]) => {
    const field = buildField(ctx, p, k, k, false);
    form.append(...field.nodes);
    return [k, field];
  });
  const read = () => JSON.stringify(Object.fromEntries(fields.map(([k, f]) => [k, f.read()])));
  const set = (name, value) => {
    const el = form.querySelector(`[name='${name}']`);
    el.value = value;
    el.dispatchEvent(new Event("change", { bubbles: true }));
  };
  const before = read();
  set("entry_order:kind", "1"); set("entry_order.offset", "0.001");
  set("entry_order.valid_bars", "3");
  set("sizing:kind", "1"); set("sizing.risk", "0.01");
  set("symbols", "BTCUSDT, ETHUSDT");
  form.querySelector("[name='portfolio:on']").click();
  set("portfolio.max_positions", "2"); set("portfolio.rank", "roc(close, 24)");
  form.querySelector("[name='portfolio.rebalance:on']").click();
  set("portfolio.rebalance.every:kind", "0"); set("portfolio.rebalance.every", "W");
  set("fill_detail", "1"); set("max_bars_in_trade", "48");
  return [before, read()];
}"""


async def test_the_form_builder_reads_the_shapes_of_fields_to_come(
    api: Client, browser: Browser
) -> None:
    ui = await trader_page(browser, api)
    await ui.open("/backtests", "trader-backtest-form")
    before, after = await ui.page.evaluate(SHAPES_SCRIPT)
    assert json.loads(before) == {"entry_order": "market", "sizing": {"method": "fraction"}}
    assert json.loads(after) == {
        "entry_order": {"type": "limit", "offset": 0.001, "valid_bars": 3},
        "sizing": {"method": "risk", "risk": 0.01},
        "symbols": ["BTCUSDT", "ETHUSDT"],
        "portfolio": {"max_positions": 2, "rank": "roc(close, 24)", "rebalance": {"every": "W"}},
        "fill_detail": "1",
        "max_bars_in_trade": 48,
    }
    assert not ui.problems, ui.problems


async def test_fields_other_issues_add_are_drawn_when_the_api_answers_them(
    api: Client, settings: Settings, pool: asyncpg.Pool, browser: Browser
) -> None:
    """strategy_name, trade mae/mfe/bars_held/equity_return, new metrics, GET .../returns and
    the equity's drawdown: answered here by rewriting the API's answers in the browser."""
    await insert_year(pool)
    await insert_candles(pool, "linear", "BTCUSDT", "240", random_walk(T0, 2200, "240", seed=8))
    async with running_engine(settings):
        created = await api.post("/api/v1/backtests", json={**REQUEST, "monte_carlo": None})
        view = await settled(api, created.headers["Location"])
    assert view["status"] == "succeeded", view["error"]
    ui = await trader_page(browser, api)
    page = ui.page
    months = [{"period": "2024-01", "return": 0.1}, {"period": "2024-02", "return": -0.05}]

    async def rewrite(route: Route) -> None:
        url = route.request.url
        if url.endswith("/returns?period=month"):
            await route.fulfill(json={"items": months, "total": len(months)})
            return
        answer = await route.fetch()
        body = await answer.json()
        if "/trades" in url:
            for i, trade in enumerate(body["items"]):
                trade.update(mae=0.01 * (i % 5), mfe=0.02 * (i % 3), bars_held=i + 1)
                trade["symbol"] = "BTCUSDT" if i == 0 else "ETHUSDT"
                trade["equity_return"] = trade["return"] * 3
        elif url.endswith(view["id"]):
            body["strategy_name"] = "donchian_rsi"
            body["request"]["symbols"] = ["ETHUSDT", "BTCUSDT"]  # a portfolio's
            body["metrics"].update(avg_bars_held=12.5, long_trades=7, benchmark_return=0.253)
        await route.fulfill(response=answer, json=body)

    await page.route("**/api/v1/**", rewrite)
    await ui.open(f"/backtests/{view['id']}", "trader-backtest-new-fields")
    await page.wait_for_selector("#monthly-returns table", timeout=WAIT_MS)
    await page.wait_for_selector("#mae-mfe canvas", timeout=WAIT_MS)
    await looks_right(ui, "backtest with new fields")
    assert (await page.inner_text("#bt-title")).startswith("donchian_rsi · ETHUSDT, BTCUSDT · 4h")
    # A portfolio's chart shows the symbol picked, and a trade's own when it is clicked.
    charted: list[str] = []
    page.on("request", lambda r: charted.append(r.url) if "/klines?" in r.url else None)
    assert await page.eval_on_selector_all(
        "#chart-symbol option", "os => os.map(o => o.value)"
    ) == [
        "ETHUSDT",
        "BTCUSDT",
    ]
    await page.select_option("#chart-symbol", "BTCUSDT")
    await page.wait_for_selector("#candles[data-symbol=BTCUSDT] canvas", timeout=WAIT_MS)
    await page.wait_for_selector("#candles[data-symbol=BTCUSDT][data-indicators]", timeout=WAIT_MS)
    assert charted and all("symbol=BTCUSDT" in url for url in charted)
    await page.select_option("#chart-symbol", "ETHUSDT")
    await page.wait_for_selector("#candles[data-symbol=ETHUSDT] canvas", timeout=WAIT_MS)
    await page.locator("#trades tbody tr").first.click()  # the BTCUSDT trade
    await page.wait_for_selector("#candles[data-symbol=BTCUSDT][data-centre]", timeout=WAIT_MS)
    total = (await (await api.get(f"/api/v1/backtests/{view['id']}/trades")).json())["total"]
    closed = total - (1 if view["exit_counts"].get("end") else 0)
    assert await page.get_attribute("#mae-mfe", "data-points") == str(closed)
    headings = await page.eval_on_selector_all("#trades th", "ths => ths.map(t => t.textContent)")
    assert {"MAE", "MFE", "bars held", "on equity", "symbol"} <= set(headings)
    shown = await page.inner_text("#metrics [data-metric=benchmark_return] b")
    assert shown == "25.3 %"
    assert await page.inner_text("#metrics [data-metric=avg_bars_held] b") == "12.50"
    row = await page.eval_on_selector_all(
        "#monthly-returns tbody tr",
        "rows => rows.map(r => [...r.children].map(c => c.textContent))",
    )
    assert row[0][:3] == ["2024", "10.0 %", "\u22125.00 %"] and row[0][13] == "4.50 %"
    # The drawdown the equity endpoint answers is the one drawn (negative under the axis).
    drawn = await page.evaluate(
        """import("/ui/js/pages/backtest.js").then((m) => [
             m.drawdownOf([{ equity: 5, drawdown: 0.2 }, { equity: 6, drawdown: 0 }])])"""
    )
    assert drawn[0] == [-0.2, 0]
    await page.unroute_all(behavior="ignoreErrors")
    assert not ui.problems, ui.problems
