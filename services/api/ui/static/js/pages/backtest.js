// /backtests/{id}: what ran, the metrics, the candles with every trade marked (a trade clicked
// in the table centres the chart on it), equity and drawdown, monthly returns, MAE/MFE, the
// Monte Carlo percentiles and the trades; live while it runs.
import { api, query } from "../api.js";
import { barChart, candleChart, disposeCharts, lineChart, PALETTE, scatterChart } from "../charts.js";
import { h, jobEvents, metricsGrid, TERMINAL, table, when } from "../dom.js";
import { formatValue, jobTitle, setupWords } from "../format.js";
import { navigate } from "../nav.js";
import { metricHints, openapi, requestSchema } from "../schema.js";
import { requestTable, researchPanels } from "./research.js";

const INTERVAL_MINUTES = { D: 1440, W: 10080, M: 43200 };
const intervalMs = (i) => (INTERVAL_MINUTES[i] || Number(i)) * 60_000;
const seconds = (iso) => Math.floor(Date.parse(iso) / 1000);
const MARKED_TRADES = 50_000;

async function tradesOf(id) {
  const first = await api(`/api/v1/backtests/${id}/trades?limit=1000`);
  if (first.total <= first.items.length) return first;
  const offsets = [];
  for (let o = Math.max(0, first.total - MARKED_TRADES); o < first.total; o += 1000) offsets.push(o);
  const pages = await Promise.all(
    offsets.map((o) => api(`/api/v1/backtests/${id}/trades?limit=1000&offset=${o}`)),
  );
  return { total: first.total, items: pages.flatMap((p) => p.items) };
}

export async function equityOf(id, points = 2000) {
  return (await api(`/api/v1/backtests/${id}/equity${points ? `?points=${points}` : ""}`)).items;
}

// The drawdown under each equity point as a negative fraction, as the equity endpoint answers
// it (measured on the whole curve, so exact under downsampling): drawn, never recomputed.
export function drawdownOf(points) {
  return points.map((p) => (p.drawdown ? -Math.abs(p.drawdown) : 0));
}

// Calendar-month returns as GET /backtests/{id}/returns answers them.
async function monthlyReturns(view) {
  return (await api(`/api/v1/backtests/${view.id}/returns?period=month`)).items;
}

const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

export function monthlyTable(items) {
  const years = new Map();
  for (const it of items) {
    const [y, m] = it.period.split("-");
    if (!years.has(y)) years.set(y, new Array(12).fill(undefined));
    years.get(y)[Number(m) - 1] = it.return;
  }
  const cell = (v) =>
    h("td", {
      class: `num ${v > 0 ? "pos" : v < 0 ? "neg" : ""}`,
      text: v === undefined ? "" : formatValue("return", v),
    });
  const head = h(
    "tr",
    {},
    h("th", { text: "year" }),
    MONTHS.map((m) => h("th", { text: m })),
    h("th", { text: "year" }),
  );
  const rows = [...years].map(([y, months]) => {
    const year = months.filter((v) => v != null).reduce((acc, v) => acc * (1 + v), 1) - 1;
    return h("tr", {}, h("th", { text: y }), months.map(cell), cell(year));
  });
  return h(
    "div",
    { class: "table-wrap", id: "monthly-returns" },
    h("table", { class: "monthly" }, h("thead", {}, head), h("tbody", {}, rows)),
  );
}

const TRADE_COLUMNS = [
  ["side", "side"],
  ["entry_time", "entry time"],
  ["entry_price", "entry price"],
  ["exit_time", "exit time"],
  ["exit_price", "exit price"],
  ["qty", "quantity"],
  ["pnl", "PnL"],
  ["return", "return"],
  ["equity_return", "on equity"],
  ["fees", "fees"],
  ["funding", "funding"],
  ["mae", "MAE"],
  ["mfe", "MFE"],
  ["bars_held", "bars held"],
  ["exit_reason", "exit reason"],
];
const ALWAYS = new Set([
  "side",
  "entry_time",
  "entry_price",
  "exit_time",
  "exit_price",
  "qty",
  "pnl",
  "return",
  "fees",
  "funding",
  "exit_reason",
]);

// `symbol` is a column only for a portfolio: in a one-symbol backtest it is the title's.
export function tradeColumns(trades, portfolio) {
  const present = (k) => ALWAYS.has(k) || trades.some((t) => t[k] !== undefined);
  const cols = TRADE_COLUMNS.filter(([k]) => present(k)).map(([key, title]) => ({
    title,
    key,
    value: (t) =>
      key.endsWith("_time") ? when(t[key]) : key === "exit_reason" && !t.exit_time ? "open" : t[key],
    sort: (t) => t[key],
  }));
  if (portfolio) cols.splice(1, 0, { title: "symbol", value: (t) => t.symbol });
  return cols;
}

export async function backtest(app, id) {
  const follow = jobEvents(id);
  const doc = await openapi();
  let view = await api(`/api/v1/backtests/${id}`);
  const status = h("span", { id: "bt-status", class: `status-${view.status}`, text: view.status });
  const rerun = h("button", { type: "button", id: "rerun", text: "Rerun" });
  rerun.addEventListener("click", async () => {
    const created = await api(`/api/v1/backtests/${id}/rerun`, { method: "POST" });
    navigate(`/backtests/${created.id}`);
  });
  const r = view.request;
  app.append(
    h("h1", { id: "bt-title" }, `${jobTitle(view)} `, status),
    h(
      "p",
      { class: "muted", id: "bt-setup" },
      `${setupWords(r)} · ${when(r.start)} → ${when(r.end)} · `,
      h("a", { href: `/api/v1/backtests/${id}/report`, "data-external": true, text: "report" }),
      " · ",
      h("span", { class: "muted", text: `id ${id}` }),
      " ",
      rerun,
    ),
  );
  const body = h("div", { id: "bt-body" });
  app.append(body);
  const hints = metricHints(doc);
  const drawResult = async () => {
    body.innerHTML = "";
    disposeCharts();
    if (view.status === "failed") {
      body.append(h("p", { class: "form-error", text: view.error || "failed" }));
      return;
    }
    if (view.status !== "succeeded") {
      body.append(
        h("p", { class: "muted", text: "Waiting for the result…" }),
        h(
          "details",
          {},
          h("summary", { text: "Request" }),
          requestTable(r, Object.keys(requestSchema(doc, "/api/v1/backtests").properties)),
        ),
      );
      return;
    }
    const marked = await tradesOf(id);
    const trades = marked.items;
    const candles = h("div", { class: "panel chart", id: "candles" });
    const equity = h("div", { class: "panel", id: "equity" });
    const dd = h("div", { class: "panel", id: "drawdown" });
    body.append(
      h("h2", { text: "Metrics" }),
      metricsGrid(view.metrics, { id: "metrics", hints }),
      h("h2", { text: "Price and trades" }),
      candles,
      h("h2", { text: "Equity and drawdown" }),
      equity,
      dd,
    );
    const step = intervalMs(r.interval);
    const first = Date.parse(r.start);
    const last = Date.parse(r.end);
    // A portfolio's chart shows one symbol at a time, picked above it.
    const symbols = r.symbols?.length ? r.symbols : [r.symbol];
    const pick =
      symbols.length > 1
        ? h(
            "select",
            { id: "chart-symbol" },
            symbols.map((s) => h("option", { value: s, text: s })),
          )
        : null;
    if (pick) candles.before(h("p", {}, h("label", {}, "symbol ", pick)));
    let price = null;
    const drawPrice = async (symbol) => {
      if (price) price.remove();
      candles.innerHTML = "";
      for (const key of Object.keys(candles.dataset)) delete candles.dataset[key];
      candles.dataset.symbol = symbol;
      if (pick) pick.value = symbol;
      const loadPage = async (beforeSeconds) => {
        const end = beforeSeconds ? beforeSeconds * 1000 : last;
        const start = Math.max(first, end - 999 * step); // 1,000 bars even if end is included
        if (start >= end) return [];
        const q = {
          category: r.category,
          symbol,
          interval: r.interval,
          start: new Date(start).toISOString(),
          end: new Date(end).toISOString(),
          limit: 1000,
        };
        const page = await api(`/api/v1/klines${query(q)}`);
        return page.items.map((c) => ({
          time: seconds(c.open_time),
          open: c.open,
          high: c.high,
          low: c.low,
          close: c.close,
        }));
      };
      const loadLines = (from, to) => {
        const q = {
          start: new Date(from * 1000).toISOString(),
          end: new Date(to * 1000).toISOString(),
          symbol,
        };
        return api(`/api/v1/backtests/${id}/indicators${query(q)}`);
      };
      const shown = marked.items.filter((t) => !t.symbol || t.symbol === symbol);
      price = await candleChart(candles, loadPage, shown, loadLines);
    };
    pick?.addEventListener("change", () => drawPrice(pick.value));
    await drawPrice(symbols[0]);
    const points = await equityOf(id);
    const times = points.map((p) => Date.parse(p.time) / 1000);
    lineChart(
      equity,
      "Equity",
      times,
      [{ label: "equity", color: PALETTE[0], values: points.map((p) => p.equity) }],
      { key: "equity" },
    );
    lineChart(
      dd,
      "Drawdown",
      times,
      [{ label: "drawdown", color: PALETTE[1], fill: "rgba(198,40,40,.15)", values: drawdownOf(points) }],
      {
        height: 160,
        key: "drawdown",
      },
    );
    // Drawn when read, so a long curve's months never hold up the rest of the page.
    const monthly = h("div", { id: "monthly", class: "muted", text: "reading…" });
    body.append(h("h2", { text: "Monthly returns" }), monthly);
    monthlyReturns(view).then((items) => {
      monthly.className = "";
      monthly.replaceChildren(monthlyTable(items));
    });
    const closed = trades.filter(
      (t) => t.exit_time && typeof t.mae === "number" && typeof t.mfe === "number",
    );
    if (closed.length) {
      const scatter = h("div", { class: "panel", id: "mae-mfe" });
      body.append(h("h2", { text: "Adverse and favourable excursions (MAE / MFE)" }), scatter);
      scatterChart(
        scatter,
        "mae",
        "mfe",
        closed.map((t) => ({ x: t.mae, y: t.mfe, win: t.pnl > 0 })),
        { xName: "MAE", yName: "MFE" },
      );
    }
    if (view.per_symbol) {
      const keys = [...new Set(Object.values(view.per_symbol).flatMap((v) => Object.keys(v || {})))];
      const cols = [
        { title: "symbol", value: ([s]) => s },
        ...keys.map((k) => ({ title: k.replaceAll("_", " "), key: k, value: ([, v]) => v?.[k] })),
      ];
      const contribution = h("div", { class: "panel", id: "contribution-chart" });
      body.append(
        h("h2", { text: "Per symbol" }),
        table(cols, Object.entries(view.per_symbol), { id: "per-symbol" }),
        h("h3", { text: "Contribution: each symbol's pnl" }),
        contribution,
      );
      const entries = Object.entries(view.per_symbol);
      barChart(
        contribution,
        entries.map(([s]) => s),
        entries.map(([, v]) => v?.pnl ?? 0),
        { key: "pnl", name: "pnl" },
      );
    }
    body.append(...researchPanels(view, hints));
    const shownTrades = trades.slice(-1000);
    const title =
      marked.total > shownTrades.length
        ? `Trades (last ${shownTrades.length} of ${marked.total})`
        : `Trades (${shownTrades.length})`;
    const cols = tradeColumns(shownTrades, symbols.length > 1);
    cols.rowAttrs = (tr, t) => {
      tr.classList.add("trade");
      tr.addEventListener("click", async () => {
        for (const el of body.querySelectorAll("tr.picked")) el.classList.remove("picked");
        tr.classList.add("picked");
        if (t.symbol && t.symbol !== candles.dataset.symbol) await drawPrice(t.symbol);
        price.centreOn(seconds(t.entry_time), seconds(t.exit_time || r.end));
        candles.scrollIntoView({ block: "center" });
      });
    };
    body.append(
      h("h2", { text: title }),
      h("p", { class: "muted", text: "Click a trade to centre the chart on it." }),
      table(cols, shownTrades, { sortable: true, pageSize: 50, id: "trades" }),
      h("h2", { text: "Request" }),
      requestTable(r, Object.keys(requestSchema(doc, "/api/v1/backtests").properties)),
    );
  };
  await drawResult();
  follow(async (e) => {
    if (TERMINAL.includes(view.status)) return; // already drawn as it ended
    status.textContent = e.status;
    status.className = `status-${e.status}`;
    if (TERMINAL.includes(e.status)) {
      view = await api(`/api/v1/backtests/${id}`);
      await drawResult();
    }
  });
}
