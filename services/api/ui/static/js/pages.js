// The pages. Each draws into `app` from the REST API and follows the event stream.
import { api, ApiError, query } from "./api.js";
import { candleChart, disposeCharts, heatmapChart, lineChart, PALETTE } from "./charts.js";
import { onJobEvent } from "./events.js";
import { bayesForm, disposeBayesCharts, drawBayes } from "./bayes.js";

export { disposeCharts };
let navigate = (href) => { location.href = href; };
export function setNavigate(fn) { navigate = fn; }

// --- small DOM helpers -------------------------------------------------------------------
function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v == null || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "text") el.textContent = v;
    else el.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) if (c != null) el.append(c instanceof Node ? c : String(c));
  return el;
}
const fmt = (v) => (typeof v === "number" ? (Number.isInteger(v) ? String(v) : v.toPrecision(5)) : v ?? "—");
const when = (iso) => (iso ? iso.replace("T", " ").replace(/(\.\d+)?(Z|\+00:00)$/, "") : "—");
const statusCell = (s) => h("td", { class: `status status-${s}`, text: s });

function table(columns, rows, { sortable = false } = {}) {
  const t = h("table");
  const head = h("tr");
  const body = h("tbody");
  let sortKey = null, descending = true;
  const fill = () => {
    body.innerHTML = "";
    const sorted = sortKey == null ? rows : [...rows].sort((a, b) => {
      const x = columns[sortKey].value(a), y = columns[sortKey].value(b);
      const c = x == null ? 1 : y == null ? -1 : x < y ? -1 : x > y ? 1 : 0;
      return descending ? -c : c;
    });
    for (const row of sorted) {
      const tr = h("tr");
      for (const col of columns) {
        const cell = col.cell ? col.cell(row) : h("td", { class: typeof col.value(row) === "number" ? "num" : null, text: fmt(col.value(row)) });
        tr.append(cell);
      }
      if (columns.rowAttrs) columns.rowAttrs(tr, row);
      body.append(tr);
    }
  };
  columns.forEach((col, i) => {
    const th = h("th", { class: sortable ? "sortable" : null, text: col.title });
    if (sortable) th.addEventListener("click", () => {
      descending = sortKey === i ? !descending : true;
      sortKey = i;
      fill();
    });
    head.append(th);
  });
  t.append(h("thead", {}, head), body);
  fill();
  return t;
}

// Follow job rows: any element with data-job=<id> gets its .status cell updated live.
function followRows(root) {
  onJobEvent((e) => {
    for (const row of root.querySelectorAll(`[data-job="${e.id}"]`)) {
      const cell = row.querySelector(".status");
      if (cell) { cell.textContent = e.status; cell.className = `status status-${e.status}`; }
    }
  });
}

// One job's events, listened to before its page reads it: those that arrive while the page is
// still drawing are handed over once it is ready, so no change falls between read and listen.
function jobEvents(id) {
  const early = [];
  let handler = null;
  onJobEvent((e) => {
    if (e.id !== id) return;
    if (handler) handler(e); else early.push(e);
  });
  return (fn) => { handler = fn; early.splice(0).forEach(fn); };
}

const TERMINAL = ["succeeded", "failed", "cancelled"];

// A job not listed yet (just submitted elsewhere): list again, once per job.
function onNewJob(root, wanted, reload) {
  const tried = new Set();
  onJobEvent((e) => {
    if (!wanted(e) || tried.has(e.id) || root.querySelector(`[data-job="${e.id}"]`)) return;
    tried.add(e.id);
    reload();
  });
}

// Errors from the API beside the field they name (its `details`), else at the form's foot.
function showErrors(form, error) {
  for (const el of form.querySelectorAll(".field-error, .form-error")) el.remove();
  const details = error instanceof ApiError && error.details.length ? error.details : [{ field: "", message: error.message }];
  for (const d of details) {
    const field = d.field || "";
    let target = null;
    for (const el of form.querySelectorAll("[data-field]")) {
      const name = el.dataset.field;
      if (field === name || field.startsWith(`${name}.`) || field.startsWith(`${name}[`)) {
        if (!target || name.length > target.dataset.field.length) target = el;
      }
    }
    const message = h("span", { class: target ? "field-error" : "form-error", "data-error-for": field, text: `${field ? field + ": " : ""}${d.message}` });
    if (target) target.after(message); else form.append(message);
  }
}

function row(label, input) { return [h("label", { text: label }), h("div", {}, input)]; }

// --- /  ----------------------------------------------------------------------------------
export async function home(app) {
  app.append(h("h1", { text: "Overview" }));
  const ready = h("p", { id: "readiness" });
  app.append(ready);
  try {
    const r = await fetch("/api/v1/readyz");
    const body = await r.json();
    ready.textContent = r.ok ? "All services ready." : `Not ready: ${JSON.stringify(body)}`;
    ready.className = r.ok ? "status-succeeded" : "status-failed";
  } catch (e) { ready.textContent = `readiness unknown: ${e.message}`; }
  const jobs = h("div", { id: "recent-jobs" });
  app.append(h("h2", { text: "Recent jobs" }), jobs);
  const load = async () => {
    const [bt, op, bf] = await Promise.all([
      api("/api/v1/backtests?limit=10"), api("/api/v1/optimizations?limit=5"), api("/api/v1/backfills?limit=5"),
    ]);
    const rows = [
      ...bt.items.map((j) => ({ kind: "backtest", href: `/backtests/${j.id}`, ...j })),
      ...op.items.map((j) => ({ kind: "optimization", href: `/optimizations/${j.id}`, ...j })),
      ...bf.items.map((j) => ({ kind: "backfill", href: "/data", ...j })),
    ].sort((a, b) => (a.created_at < b.created_at ? 1 : -1));
    const cols = [
      { title: "kind", value: (j) => j.kind },
      { title: "job", value: (j) => j.id, cell: (j) => h("td", {}, h("a", { href: j.href, text: j.id.slice(0, 8) })) },
      { title: "status", value: (j) => j.status, cell: (j) => statusCell(j.status) },
      { title: "created", value: (j) => when(j.created_at) },
    ];
    cols.rowAttrs = (tr, j) => tr.setAttribute("data-job", j.id);
    jobs.innerHTML = "";
    jobs.append(table(cols, rows));
  };
  await load();
  followRows(jobs);
  onNewJob(jobs, () => true, load);
}

// --- /backtests --------------------------------------------------------------------------
function backtestColumns() {
  const cols = [
    { title: "id", value: (b) => b.id, cell: (b) => h("td", {}, h("a", { href: `/backtests/${b.id}`, text: b.id.slice(0, 8) })) },
    { title: "status", value: (b) => b.status, cell: (b) => statusCell(b.status) },
    { title: "symbol", value: (b) => b.request.symbol },
    { title: "interval", value: (b) => b.request.interval },
    { title: "strategy", value: (b) => b.request.strategy?.name },
    { title: "total return", value: (b) => b.metrics?.total_return },
    { title: "sharpe", value: (b) => b.metrics?.sharpe },
    { title: "max drawdown", value: (b) => b.metrics?.max_drawdown },
    { title: "trades", value: (b) => b.metrics?.num_trades },
    { title: "created", value: (b) => when(b.created_at) },
    { title: "compare", value: () => null, cell: (b) => h("td", {}, h("input", { type: "checkbox", class: "pick", value: b.id })) },
  ];
  cols.rowAttrs = (tr, b) => tr.setAttribute("data-job", b.id);
  return cols;
}

export async function backtests(app) {
  app.append(h("h1", { text: "Backtests" }));
  const params = new URLSearchParams(location.search);
  const filters = h("form", { class: "filters", id: "filters" },
    h("select", { name: "status" }, ["", "queued", "running", "succeeded", "failed", "cancelled"].map((s) => h("option", { value: s, text: s || "any status" }))),
    h("input", { name: "symbol", placeholder: "symbol", value: params.get("symbol") || "" }),
    h("input", { name: "strategy", placeholder: "strategy", value: params.get("strategy") || "" }),
    h("button", { text: "Filter" }),
    h("button", { type: "button", id: "compare-picked", text: "Compare picked" }));
  filters.status.value = params.get("status") || "";
  const list = h("div", { id: "backtest-list" });
  app.append(filters, list);
  const load = async () => {
    const q = { status: filters.status.value, symbol: filters.symbol.value, strategy: filters.strategy.value, limit: 50 };
    const page = await api(`/api/v1/backtests${query(q)}`);
    list.innerHTML = "";
    list.append(table(backtestColumns(), page.items, { sortable: true }), h("p", { class: "muted", text: `${page.total} in all` }));
  };
  filters.addEventListener("submit", async (e) => {
    e.preventDefault();
    history.replaceState(null, "", `/backtests${query({ status: filters.status.value, symbol: filters.symbol.value, strategy: filters.strategy.value })}`);
    try { await load(); } catch (err) { showErrors(filters, err); }
  });
  filters.querySelector("#compare-picked").addEventListener("click", () => {
    const ids = [...list.querySelectorAll(".pick:checked")].map((c) => c.value);
    if (ids.length) navigate(`/compare?ids=${ids.join(",")}`);
  });
  await load();
  followRows(list);
  onNewJob(list, (e) => e.kind === "backtest", load);
  app.append(h("h2", { text: "Run a backtest" }), await backtestForm());
}

async function backtestForm() {
  const strategies = (await api("/api/v1/strategies")).items.filter((s) => s.available !== false);
  const form = h("form", { class: "grid", id: "run-backtest" });
  const input = (name, value, attrs = {}) => h("input", { name, value, "data-field": name, ...attrs });
  const paramsBox = h("div", { id: "params", "data-field": "strategy.params" });
  const strategySelect = h("select", { name: "strategy", "data-field": "strategy" },
    strategies.map((s) => h("option", { value: s.name, text: `${s.name} (${s.kind})` })));
  const drawParams = () => {
    paramsBox.innerHTML = "";
    const s = strategies.find((x) => x.name === strategySelect.value);
    const schema = s && Array.isArray(s.params) ? s.params : [];
    for (const p of schema) {
      const attrs = { type: "number", step: p.type === "int" ? "1" : "any", title: p.description || "" };
      if (p.minimum != null) attrs.min = p.minimum;
      if (p.maximum != null) attrs.max = p.maximum;
      paramsBox.append(h("div", {}, h("label", { text: `${p.name} ` }),
        h("input", { name: `param:${p.name}`, value: p.default, "data-field": `strategy.params.${p.name}`, "data-type": p.type, novalidate: true, ...attrs })));
    }
  };
  strategySelect.addEventListener("change", drawParams);
  form.append(
    ...row("category", h("select", { name: "category", "data-field": "category" }, ["linear", "spot", "inverse"].map((c) => h("option", { value: c, text: c })))),
    ...row("symbol", input("symbol", "BTCUSDT")),
    ...row("interval", input("interval", "60")),
    ...row("start", input("start", "2024-01-01T00:00:00Z")),
    ...row("end", input("end", "2024-01-10T00:00:00Z")),
    ...row("strategy", strategySelect),
    ...row("parameters", paramsBox),
    h("div"), h("button", { type: "submit", text: "Run backtest" }),
  );
  form.setAttribute("novalidate", "");
  drawParams();
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const params = {};
    for (const el of paramsBox.querySelectorAll("input")) {
      const n = Number(el.value);
      params[el.name.slice(6)] = el.value === "" || Number.isNaN(n) ? el.value : n;
    }
    const body = {
      category: form.category.value, symbol: form.symbol.value, interval: form.interval.value,
      start: form.start.value, end: form.end.value, strategy: { name: strategySelect.value, params },
    };
    try {
      const created = await api("/api/v1/backtests", { method: "POST", body });
      navigate(`/backtests/${created.id}`);
    } catch (err) { showErrors(form, err); }
  });
  return form;
}

// --- /backtests/{id} ---------------------------------------------------------------------
const INTERVAL_MINUTES = { D: 1440, W: 10080, M: 43200 };
const intervalMs = (i) => (INTERVAL_MINUTES[i] || Number(i)) * 60_000;

function metricsGrid(metrics) {
  return h("div", { class: "metrics", id: "metrics" },
    Object.entries(metrics || {}).map(([k, v]) => h("div", {}, h("span", { class: "muted", text: k }), h("b", { text: fmt(v) }))));
}

// How likely a result is luck, and what it ran on: shown wherever a result is.
function researchPanels(view) {
  const parts = [];
  if (view.exit_counts) parts.push(h("h2", { text: "Why trades ended" }), metricsGrid(view.exit_counts));
  if (view.warnings?.length) parts.push(h("h2", { text: "Warnings" }), h("ul", { id: "warnings" }, view.warnings.map((w) => h("li", { text: w }))));
  if (view.robustness) parts.push(h("h2", { text: "Robustness" }), h("div", { id: "robustness" }, metricsGrid(view.robustness)));
  const mc = view.monte_carlo;
  if (mc) {
    const cols = [{ title: "", value: (r) => r.name }, ...["p5", "p25", "p50", "p75", "p95"].map((k) => ({ title: k, value: (r) => r[k] }))];
    parts.push(h("h2", { text: `Monte Carlo (${mc.runs} runs, seed ${mc.seed}; probability of a loss ${fmt(mc.prob_loss)})` }),
      h("div", { id: "monte-carlo" }, table(cols, [{ name: "final equity", ...mc.final_equity }, { name: "max drawdown", ...mc.max_drawdown }])));
  }
  const p = view.provenance;
  if (p) {
    parts.push(h("h2", { text: "Provenance" }), h("div", { id: "provenance" }, metricsGrid({
      candles: p.candles?.count, first: p.candles?.first, last: p.candles?.last, "candles sha256": p.candles?.sha256,
      "strategy sha256": p.strategy_sha256, engine: p.engine_version,
      ...(view.rerun_of ? { "rerun of": view.rerun_of, reproduced: view.reproduced } : {}),
    })));
  }
  return parts;
}

const MARKED_TRADES = 50_000;

async function tradesOf(id) {
  const first = await api(`/api/v1/backtests/${id}/trades?limit=1000`);
  if (first.total <= first.items.length) return first;
  const offsets = [];
  for (let o = Math.max(0, first.total - MARKED_TRADES); o < first.total; o += 1000) offsets.push(o);
  const pages = await Promise.all(offsets.map((o) => api(`/api/v1/backtests/${id}/trades?limit=1000&offset=${o}`)));
  return { total: first.total, items: pages.flatMap((p) => p.items) };
}

async function equityOf(id, points = 2000) {
  return (await api(`/api/v1/backtests/${id}/equity?points=${points}`)).items;
}

function drawdown(values) {
  let peak = -Infinity;
  return values.map((v) => { peak = Math.max(peak, v); return peak > 0 ? v / peak - 1 : 0; });
}

export async function backtest(app, id) {
  const follow = jobEvents(id);
  let view = await api(`/api/v1/backtests/${id}`);
  const title = h("h1", {}, `Backtest ${id.slice(0, 8)} `, h("span", { id: "bt-status", class: `status-${view.status}`, text: view.status }));
  const body = h("div", { id: "bt-body" });
  app.append(title, h("p", { class: "muted", text: `${view.request.symbol} ${view.request.interval} ${view.request.strategy?.name} ${JSON.stringify(view.request.strategy?.params || {})} · ${view.request.start} → ${view.request.end} · ` },
    h("a", { href: `/api/v1/backtests/${id}/report`, "data-external": true, text: "report" })), body);
  const drawResult = async () => {
    body.innerHTML = "";
    disposeCharts();
    if (view.status === "failed") { body.append(h("p", { class: "form-error", text: view.error })); return; }
    if (view.status !== "succeeded") { body.append(h("p", { class: "muted", text: "Waiting for the result…" })); return; }
    // Every trade marks the candles (pages of 1,000 read at once, up to MARKED_TRADES); the
    // table lists the latest 1,000, where the candle chart opens.
    const marked = await tradesOf(id);
    const trades = marked.items.slice(-1000);
    const tradesTitle = marked.total > trades.length ? `Trades (last ${trades.length} of ${marked.total})` : `Trades (${trades.length})`;
    const candles = h("div", { class: "panel chart", id: "candles" });
    const equity = h("div", { class: "panel", id: "equity" });
    const dd = h("div", { class: "panel", id: "drawdown" });
    body.append(h("h2", { text: "Metrics" }), metricsGrid(view.metrics), ...researchPanels(view), h("h2", { text: "Price and trades" }), candles,
      h("h2", { text: "Equity and drawdown" }), equity, dd);
    const r = view.request;
    const step = intervalMs(r.interval);
    const first = Date.parse(r.start), last = Date.parse(r.end);
    await candleChart(candles, async (beforeSeconds) => {
      const end = beforeSeconds ? beforeSeconds * 1000 : last;
      const start = Math.max(first, end - 999 * step);  // 1,000 bars even if end is included
      if (start >= end) return [];
      const page = await api(`/api/v1/klines${query({ category: r.category, symbol: r.symbol, interval: r.interval, start: new Date(start).toISOString(), end: new Date(end).toISOString(), limit: 1000 })}`);
      return page.items.map((c) => ({ time: Math.floor(Date.parse(c.open_time) / 1000), open: c.open, high: c.high, low: c.low, close: c.close }));
    }, marked.items);
    const points = await equityOf(id);
    const times = points.map((p) => Date.parse(p.time) / 1000);
    const values = points.map((p) => p.equity);
    lineChart(equity, "Equity", times, [{ label: "equity", color: PALETTE[0], values }]);
    lineChart(dd, "Drawdown", times, [{ label: "drawdown", color: PALETTE[1], fill: "rgba(198,40,40,.15)", values: drawdown(values) }], { height: 160 });
    const cols = ["side", "entry_time", "entry_price", "exit_time", "exit_price", "qty", "pnl", "return", "fees", "exit_reason"]
      .map((k) => ({ title: k.replace("_", " "), value: (t) => (k.endsWith("_time") ? when(t[k]) : t[k]) }));
    body.append(h("h2", { text: tradesTitle }), table(cols, trades, { sortable: true }));
  };
  await drawResult();
  follow(async (e) => {
    if (TERMINAL.includes(view.status)) return;  // already drawn as it ended
    const status = document.getElementById("bt-status");
    status.textContent = e.status;
    status.className = `status-${e.status}`;
    if (TERMINAL.includes(e.status)) {
      view = await api(`/api/v1/backtests/${id}`);
      await drawResult();
    }
  });
}

// --- /compare?ids= -----------------------------------------------------------------------
export async function compare(app) {
  const ids = (new URLSearchParams(location.search).get("ids") || "").split(",").filter(Boolean);
  app.append(h("h1", { text: "Compare backtests" }));
  if (!ids.length) { app.append(h("p", { text: "Pick backtests on the Backtests page." })); return; }
  const views = await Promise.all(ids.map((id) => api(`/api/v1/backtests/${id}`)));
  const keys = [...new Set(views.flatMap((v) => Object.keys(v.metrics || {})))];
  const cols = [{ title: "metric", value: (k) => k }, ...views.map((v) => ({ title: v.id.slice(0, 8), value: (k) => v.metrics?.[k] }))];
  app.append(h("div", { id: "compare-metrics" }, table(cols, keys)));
  const curves = await Promise.all(views.map((v) => (v.status === "succeeded" ? equityOf(v.id, 1000) : [])));
  // One time axis: every curve's points, each curve carried forward between its own points.
  const times = [...new Set(curves.flatMap((c) => c.map((p) => Date.parse(p.time) / 1000)))].sort((a, b) => a - b);
  const series = curves.map((c, i) => {
    const at = new Map(c.map((p) => [Date.parse(p.time) / 1000, p.equity]));
    let lastValue = null;
    return { label: views[i].id.slice(0, 8), color: PALETTE[i % PALETTE.length], values: times.map((t) => (at.has(t) ? (lastValue = at.get(t)) : lastValue)) };
  });
  const el = h("div", { class: "panel", id: "compare-equity" });
  app.append(h("h2", { text: "Equity" }), el);
  lineChart(el, "Equity", times, series);
}

// --- /optimizations ----------------------------------------------------------------------
export async function optimizations(app) {
  app.append(h("h1", { text: "Optimizations" }));
  const page = await api("/api/v1/optimizations?limit=50");
  const cols = [
    { title: "id", value: (o) => o.id, cell: (o) => h("td", {}, h("a", { href: `/optimizations/${o.id}`, text: o.id.slice(0, 8) })) },
    { title: "kind", value: (o) => o.kind },
    { title: "status", value: (o) => o.status, cell: (o) => statusCell(o.status) },
    { title: "progress", value: (o) => `${o.progress.done}/${o.progress.total}` },
    { title: "created", value: (o) => when(o.created_at) },
  ];
  cols.rowAttrs = (tr, o) => tr.setAttribute("data-job", o.id);
  const list = h("div", { id: "optimization-list" }, table(cols, page.items));
  app.append(list);
  followRows(list);
  app.append(h("h2", { text: "Start a Bayesian search" }), bayesForm((created) => navigate(`/optimizations/${created.id}`)));
}

export async function optimization(app, id) {
  const follow = jobEvents(id);
  let view = await api(`/api/v1/optimizations/${id}`);
  const bar = h("progress", { id: "opt-progress", max: view.progress.total || 1, value: view.progress.done });
  const status = h("span", { id: "opt-status", class: `status-${view.status}`, text: view.status });
  app.append(h("h1", {}, `Optimization ${id.slice(0, 8)} (${view.kind}) `, status), h("p", {}, bar, ` ${view.progress.done}/${view.progress.total}`));
  const body = h("div", { id: "opt-body" });
  app.append(body);
  const drawResults = async () => {
    body.innerHTML = "";
    disposeCharts();
    disposeBayesCharts();
    if (view.error) body.append(h("p", { class: "form-error", text: view.error }));
    const rows = (await api(`/api/v1/optimizations/${id}/results?limit=1000`)).items;
    if (view.kind === "walk_forward" || (view.kind === "bayes" && view.request.walk_forward)) return drawWalkForward(body, view, rows);
    if (view.kind === "bayes") drawBayes(body, view, rows);
    const paramNames = [...new Set(rows.flatMap((r) => Object.keys(r.params)))];
    const metricNames = [...new Set(rows.flatMap((r) => Object.keys(r.metrics || {})))];
    const cols = [...paramNames.map((p) => ({ title: p, value: (r) => r.params[p] })), ...metricNames.map((m) => ({ title: m, value: (r) => r.metrics?.[m] }))];
    body.append(...researchPanels(view), h("h2", { text: `Results (${rows.length})` }), h("div", { id: "opt-results" }, table(cols, rows, { sortable: true })));
    if (paramNames.length >= 2 && metricNames.length) drawHeatmap(body, rows, paramNames, metricNames);
  };
  await drawResults();
  follow(async (e) => {
    if (TERMINAL.includes(view.status)) return;
    status.textContent = e.status;
    status.className = `status-${e.status}`;
    if (e.progress) { bar.max = e.progress.total || 1; bar.value = e.progress.done; bar.nextSibling.textContent = ` ${e.progress.done}/${e.progress.total}`; }
    if (TERMINAL.includes(e.status)) { view = await api(`/api/v1/optimizations/${id}`); await drawResults(); }
  });
}

// As shared/metric_names.py LOWER_IS_BETTER: the metrics where less is better.
const LOWER_IS_BETTER = ["max_drawdown", "funding_paid", "liquidations"];

function drawHeatmap(body, rows, paramNames, metricNames) {
  const pick = (name, options, value) => h("select", { name }, options.map((o) => h("option", { value: o, text: o, selected: o === value })));
  const x = pick("x", paramNames, paramNames[0]), y = pick("y", paramNames, paramNames[1]);
  const m = pick("metric", metricNames, metricNames.includes("sharpe") ? "sharpe" : metricNames[0]);
  const grid = h("div", { id: "heatmap", class: "panel" });
  let heatmap = null;
  const disposeHeatmap = () => { if (heatmap && !heatmap.isDisposed()) heatmap.dispose(); heatmap = null; };
  const draw = () => {
    const xs = [...new Set(rows.map((r) => r.params[x.value]))].sort((a, b) => a - b);
    const ys = [...new Set(rows.map((r) => r.params[y.value]))].sort((a, b) => a - b);
    const cell = new Map();
    // The best value over the other parameters, best as the ranking has it (and so greener).
    const lower = LOWER_IS_BETTER.includes(m.value);
    const better = (a, b) => (lower ? a < b : a > b);
    for (const r of rows) {
      const k = `${r.params[x.value]}|${r.params[y.value]}`, v = r.metrics?.[m.value];
      if (v != null && (!cell.has(k) || better(v, cell.get(k)))) cell.set(k, v);
    }
    disposeHeatmap();
    grid.innerHTML = "";
    heatmap = heatmapChart(grid, x.value, y.value, xs, ys, cell, lower);
  };
  for (const s of [x, y, m]) s.addEventListener("change", draw);
  body.append(h("h2", { text: "Heatmap" }), h("p", {}, "x ", x, " y ", y, " metric ", m), grid);
  draw();
}

function drawWalkForward(body, view, windows) {
  const cols = ["window", "train_start", "train_end", "test_start", "test_end"].map((k) => ({ title: k, value: (w) => (k === "window" ? w[k] : when(w[k])) }));
  cols.push({ title: "params", value: (w) => JSON.stringify(w.params) });
  cols.push({ title: "test return", value: (w) => w.test_metrics?.total_return });
  cols.push({ title: "test sharpe", value: (w) => w.test_metrics?.sharpe });
  cols.push({ title: "train pbo", value: (w) => w.robustness?.pbo });
  cols.push({ title: "train dsr", value: (w) => w.robustness?.dsr });
  body.append(h("h2", { text: "Walk-forward windows" }), h("div", { id: "wf-windows" }, table(cols, windows, { sortable: true })));
  if (view.walk_forward?.test_metrics) body.append(h("h2", { text: "Out-of-sample metrics" }), metricsGrid(view.walk_forward.test_metrics));
  // The stitched out-of-sample curve, bar by bar, as the engine chained the test windows.
  const el = h("div", { class: "panel", id: "wf-equity" });
  body.append(h("h2", { text: "Stitched out-of-sample equity" }), el);
  api(`/api/v1/optimizations/${view.id}/equity?points=2000`).then((curve) => {
    if (!curve.items.length) { el.append(h("p", { text: "no test window has run yet" })); return; }
    const times = curve.items.map((p) => Date.parse(p.time) / 1000);
    lineChart(el, "Out-of-sample equity", times, [{ label: "out of sample", color: PALETTE[2], values: curve.items.map((p) => p.equity) }]);
  });
}

// --- /data -------------------------------------------------------------------------------
export async function data(app) {
  app.append(h("h1", { text: "Data" }));
  const coverage = await api("/api/v1/symbols?limit=1000");
  const cols = [
    { title: "series", value: (s) => `${s.category} ${s.symbol} ${s.interval}` },
    { title: "first", value: (s) => when(s.first_open_time) },
    { title: "last", value: (s) => when(s.last_open_time) },
    { title: "candles", value: (s) => s.count },
    { title: "mark price", value: (s) => (s.mark_price ? s.mark_price.count : null) },
    { title: "fundings", value: (s) => (s.funding ? s.funding.count : null) },
  ];
  cols.push({ title: "gaps", value: (s) => (s.gaps ? s.gaps.length : null) });
  app.append(h("h2", { text: "Stored coverage" }), h("div", { id: "coverage" }, table(cols, coverage.items)));
  const form = h("form", { class: "grid", id: "backfill-form", novalidate: true });
  const input = (name, value) => h("input", { name, value, "data-field": name });
  form.append(
    ...row("category", h("select", { name: "category", "data-field": "category" }, ["linear", "spot", "inverse"].map((c) => h("option", { value: c, text: c })))),
    ...row("symbol", input("symbol", "BTCUSDT")), ...row("interval", input("interval", "60")),
    ...row("start", input("start", "2024-01-01T00:00:00Z")), ...row("end", input("end", "2024-02-01T00:00:00Z")),
    h("div"), h("button", { text: "Backfill" }));
  const jobs = h("div", { id: "backfills" });
  app.append(h("h2", { text: "Backfill" }), form, h("h2", { text: "Backfills" }), jobs);
  const load = async () => {
    const page = await api("/api/v1/backfills?limit=20");
    const c = [
      { title: "id", value: (b) => b.id.slice(0, 8) },
      { title: "series", value: (b) => `${b.category} ${b.symbol} ${b.interval}` },
      { title: "status", value: (b) => b.status, cell: (b) => statusCell(b.status) },
      { title: "progress", value: (b) => b.progress, cell: (b) => h("td", {}, h("progress", { class: "bf-progress", max: b.pages_total || 1, value: b.pages_done })) },
      { title: "candles", value: (b) => b.rows },
      { title: "error", value: (b) => b.error },
    ];
    c.rowAttrs = (tr, b) => tr.setAttribute("data-job", b.id);
    jobs.innerHTML = "";
    jobs.append(table(c, page.items));
  };
  await load();
  followRows(jobs);
  onNewJob(jobs, (e) => e.kind === "backfill", load);
  onJobEvent((e) => {
    const bar = jobs.querySelector(`[data-job="${e.id}"] .bf-progress`);
    if (bar && e.progress) { bar.max = e.progress.total || 1; bar.value = e.progress.done; }
  });
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const body = Object.fromEntries(["category", "symbol", "interval", "start", "end"].map((k) => [k, form[k].value]));
    try { await api("/api/v1/backfills", { method: "POST", body }); showErrors(form, { message: "" }); form.querySelector(".form-error")?.remove(); await load(); } catch (err) { showErrors(form, err); }
  });
}

// --- /strategies -------------------------------------------------------------------------
const EXAMPLE_DEFINITION = {
  params: { fast: { type: "int", default: 10, minimum: 1, maximum: 500 }, slow: { type: "int", default: 30, minimum: 2, maximum: 2000 } },
  rules: ["fast < slow"],
  long_entry: "sma(close, fast) > sma(close, slow)",
  short_entry: "sma(close, fast) < sma(close, slow)",
};

export async function strategies(app) {
  app.append(h("h1", { text: "Strategies" }));
  const list = await api("/api/v1/strategies");
  const cols = [
    { title: "name", value: (s) => s.name },
    { title: "kind", value: (s) => s.kind },
    { title: "parameters", value: (s) => (Array.isArray(s.params) ? s.params.map((p) => `${p.name}=${p.default} [${p.minimum}, ${p.maximum}]`).join(", ") : JSON.stringify(s.params)) },
    { title: "description", value: (s) => s.description || s.error },
  ];
  app.append(h("div", { id: "strategy-list" }, table(cols, list.items)));
  const form = h("form", { class: "grid", id: "expression-form", novalidate: true });
  const editor = h("textarea", { name: "definition", "data-field": "definition", spellcheck: "false" });
  editor.value = JSON.stringify(EXAMPLE_DEFINITION, null, 2);
  form.append(...row("name", h("input", { name: "name", "data-field": "name", value: "my_cross" })),
    ...row("description", h("input", { name: "description", "data-field": "description" })),
    ...row("definition (JSON)", editor), h("div"), h("button", { text: "Save" }));
  app.append(h("h2", { text: "Expression strategy" }), form);
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    let definition;
    try { definition = JSON.parse(editor.value); } catch (err) { showErrors(form, new ApiError(422, { error: { message: err.message, details: [{ field: "definition", message: `not JSON: ${err.message}` }] } })); return; }
    try {
      await api("/api/v1/strategies", { method: "POST", body: { name: form.name.value, description: form.description.value || null, definition } });
      navigate("/strategies");
    } catch (err) {
      showErrors(form, err);
      markExpressionError(editor, err);
    }
  });
}

// Select the spot an expression error names ("definition.long_entry ... (column 9)") in the
// editor's JSON, so the user sees where it is, not only what.
function markExpressionError(editor, error) {
  const detail = (error.details || []).find((d) => /^definition\.\w+$/.test(d.field || ""));
  if (!detail) return;
  const key = detail.field.split(".")[1];
  const column = Number((detail.message.match(/column (\d+)/) || [])[1] || 1);
  const at = editor.value.search(new RegExp(`"${key}"\\s*:\\s*"`));
  if (at < 0) return;
  const start = editor.value.indexOf('"', editor.value.indexOf(":", at)) + column;
  editor.focus();
  editor.setSelectionRange(start, start + 1);
  editor.dataset.errorAt = String(start);
}
