// /optimizations/{id}: progress, then the heatmap first (default axes: the two varied
// parameters with the most values, the objective as the metric), the results sorted by the
// objective 50 rows a page, walk-forward windows in time order with the stitched
// out-of-sample equity, robustness and provenance.
import { api } from "../api.js";
import { disposeBayesCharts, drawBayes } from "../bayes.js";
import { disposeCharts, heatmapChart, lineChart, PALETTE } from "../charts.js";
import { h, jobEvents, metricsGrid, TERMINAL, table, when } from "../dom.js";
import { formatParams, jobTitle, setupWords } from "../format.js";
import { metricHints, openapi, requestSchema } from "../schema.js";
import { requestTable, researchPanels } from "./research.js";

// As shared/metric_names.py LOWER_IS_BETTER: the metrics where less is better.
const LOWER_IS_BETTER = ["max_drawdown", "funding_paid", "liquidations"];
const PAGE_ROWS = 50;
const NONE = "(none)";

const valueKey = (v) => JSON.stringify(v);

// The parameters a search varied, the ones with the most distinct values first.
export function variedParams(rows) {
  const names = [...new Set(rows.flatMap((r) => Object.keys(r.params || {})))];
  const counts = names.map((n) => [n, new Set(rows.map((r) => valueKey(r.params[n]))).size]);
  return counts
    .filter(([, c]) => c > 1)
    .sort((a, b) => b[1] - a[1])
    .map(([n]) => n);
}

function compareValues(a, b) {
  if (typeof a === "number" && typeof b === "number") return a - b;
  return valueKey(a) < valueKey(b) ? -1 : valueKey(a) > valueKey(b) ? 1 : 0;
}

export async function optimization(app, id) {
  const follow = jobEvents(id);
  const doc = await openapi();
  const hints = metricHints(doc);
  let view = await api(`/api/v1/optimizations/${id}`);
  const objective = view.request?.objective || "sharpe";
  const bar = h("progress", { id: "opt-progress", max: view.progress.total || 1, value: view.progress.done });
  const count = h("span", { text: ` ${view.progress.done} / ${view.progress.total}` });
  const status = h("span", { id: "opt-status", class: `status-${view.status}`, text: view.status });
  const backtest = view.request?.backtest || {};
  app.append(
    h("h1", { id: "opt-title" }, `${jobTitle(view)} · ${view.kind.replace("_", "-")} `, status),
    h(
      "p",
      { class: "muted", id: "opt-setup" },
      `objective ${objective.replaceAll("_", " ")} · ${setupWords(backtest)} · ${when(backtest.start)} → ${when(backtest.end)} · id ${id}`,
    ),
    h("p", {}, bar, count),
  );
  const body = h("div", { id: "opt-body" });
  app.append(body);
  const drawResults = async () => {
    body.innerHTML = "";
    disposeCharts();
    disposeBayesCharts();
    if (view.error) body.append(h("p", { class: "form-error", text: view.error }));
    const rows = (await api(`/api/v1/optimizations/${id}/results?limit=1000`)).items;
    const windows = view.kind === "walk_forward" || (view.kind === "bayes" && view.request.walk_forward);
    if (windows) drawWalkForward(body, view, rows, objective, hints);
    else {
      if (view.kind === "bayes") drawBayes(body, view, rows);
      drawSearch(body, view, rows, objective, hints);
    }
    body.append(
      h("h2", { text: "Request" }),
      requestTable(view.request, [
        ...Object.keys(requestSchema(doc, "/api/v1/backtests").properties),
        ...Object.keys(requestSchema(doc, "/api/v1/optimizations").properties),
      ]),
    );
  };
  await drawResults();
  follow(async (e) => {
    if (TERMINAL.includes(view.status)) return;
    status.textContent = e.status;
    status.className = `status-${e.status}`;
    if (e.progress) {
      bar.max = e.progress.total || 1;
      bar.value = e.progress.done;
      count.textContent = ` ${e.progress.done} / ${e.progress.total}`;
    }
    if (TERMINAL.includes(e.status)) {
      view = await api(`/api/v1/optimizations/${id}`);
      await drawResults();
    }
  });
}

function perSymbolPanel(perSymbol) {
  if (!perSymbol || typeof perSymbol !== "object") return [];
  const keys = [...new Set(Object.values(perSymbol).flatMap((v) => Object.keys(v || {})))];
  const cols = [
    { title: "symbol", value: ([s]) => s },
    ...keys.map((k) => ({ title: k.replaceAll("_", " "), key: k, value: ([, v]) => v?.[k] })),
  ];
  return [
    h("h2", { text: "Per symbol" }),
    h("div", { id: "per-symbol" }, table(cols, Object.entries(perSymbol))),
  ];
}

function drawSearch(body, view, rows, objective, hints) {
  const varied = variedParams(rows);
  const metricNames = [...new Set(rows.flatMap((r) => Object.keys(r.metrics || {})))].filter((m) =>
    rows.some((r) => typeof r.metrics?.[m] === "number"),
  );
  if (varied.length && metricNames.length) drawHeatmap(body, rows, varied, metricNames, objective);
  if (view.best) {
    body.append(
      h("h2", { text: `Best: ${formatParams(view.best.params)}` }),
      metricsGrid(view.best.metrics, { id: "best", hints }),
      ...perSymbolPanel(view.best.metrics?.per_symbol || view.best.per_symbol),
    );
  }
  if (view.skipped)
    body.append(
      h("p", {
        class: "muted",
        text: `${view.skipped} combinations skipped (they break the strategy's rules).`,
      }),
    );
  const paramCols = varied.map((p) => ({ title: p.replaceAll("_", " "), key: p, value: (r) => r.params[p] }));
  const ordered = [objective, ...metricNames.filter((m) => m !== objective)];
  const metricCols = ordered.map((m) => ({
    title: m.replaceAll("_", " "),
    key: m,
    hint: hints[m],
    value: (r) => r.metrics?.[m],
  }));
  const trialCol = rows.some((r) => r.trial != null) ? [{ title: "trial", value: (r) => r.trial }] : [];
  const cols = [...trialCol, ...paramCols, ...metricCols];
  const order = {
    column: trialCol.length + paramCols.length,
    descending: !LOWER_IS_BETTER.includes(objective),
  };
  body.append(
    ...researchPanels(view, hints),
    h("h2", { text: `Results (${rows.length}), by ${objective.replaceAll("_", " ")}` }),
    table(cols, rows, { sortable: true, pageSize: PAGE_ROWS, order, id: "opt-results" }),
  );
}

function drawHeatmap(body, rows, varied, metricNames, objective) {
  const pick = (name, options, value) =>
    h(
      "select",
      { name },
      options.map((o) => h("option", { value: o, text: o.replaceAll("_", " "), selected: o === value })),
    );
  const x = pick("x", varied, varied[0]);
  const y = pick("y", [...varied, NONE], varied[1] || NONE);
  const m = pick("metric", metricNames, metricNames.includes(objective) ? objective : metricNames[0]);
  const grid = h("div", { id: "heatmap", class: "panel" });
  let heatmap = null;
  const draw = () => {
    const values = (name) =>
      name === NONE
        ? ["all"]
        : [...new Map(rows.map((r) => [valueKey(r.params[name]), r.params[name]])).values()].sort(
            compareValues,
          );
    const xs = values(x.value);
    const ys = values(y.value);
    const at = (r, name) => (name === NONE ? valueKey("all") : valueKey(r.params[name]));
    const cell = new Map();
    // The best value over the other parameters, best as the ranking has it (and so greener).
    const lower = LOWER_IS_BETTER.includes(m.value);
    const better = (a, b) => (lower ? a < b : a > b);
    for (const r of rows) {
      const k = `${at(r, x.value)}|${at(r, y.value)}`;
      const v = r.metrics?.[m.value];
      if (typeof v === "number" && (!cell.has(k) || better(v, cell.get(k)))) cell.set(k, v);
    }
    if (heatmap && !heatmap.isDisposed()) heatmap.dispose();
    grid.innerHTML = "";
    grid.dataset.x = x.value;
    grid.dataset.y = y.value;
    heatmap = heatmapChart(
      grid,
      { name: x.value, values: xs, keys: xs.map(valueKey) },
      {
        name: y.value === NONE ? "" : y.value,
        values: ys,
        keys: y.value === NONE ? [valueKey("all")] : ys.map(valueKey),
      },
      cell,
      { lower, metric: m.value },
    );
  };
  for (const s of [x, y, m]) s.addEventListener("change", draw);
  body.append(
    h("h2", { text: "Heatmap" }),
    h(
      "p",
      { class: "heatmap-axes" },
      h("label", {}, "x ", x),
      " ",
      h("label", {}, "y ", y),
      " ",
      h("label", {}, "metric ", m),
      h("span", { class: "muted", text: " (each cell: the best over the other parameters)" }),
    ),
    grid,
  );
  draw();
}

function drawWalkForward(body, view, windows, objective, hints) {
  const inTime = [...windows].sort((a, b) => (a.window ?? 0) - (b.window ?? 0));
  const period = (a, b) => `${when(a)} → ${when(b)}`;
  const cols = [
    { title: "window", value: (w) => w.window },
    { title: "train", value: (w) => period(w.train_start, w.train_end), sort: (w) => w.train_start },
    { title: "test", value: (w) => period(w.test_start, w.test_end), sort: (w) => w.test_start },
    {
      title: "chosen parameters",
      value: (w) => formatParams(w.params),
      cell: (w) => h("td", { class: "wrap", text: formatParams(w.params) }),
    },
    {
      title: `train ${objective.replaceAll("_", " ")}`,
      key: objective,
      value: (w) => w.train_metrics?.[objective],
    },
    { title: "test return", key: "total_return", value: (w) => w.test_metrics?.total_return },
    { title: "test sharpe", key: "sharpe", value: (w) => w.test_metrics?.sharpe },
    { title: "test max drawdown", key: "max_drawdown", value: (w) => w.test_metrics?.max_drawdown },
    { title: "test trades", key: "num_trades", value: (w) => w.test_metrics?.num_trades },
    { title: "train pbo", key: "pbo", value: (w) => w.robustness?.pbo },
    { title: "train dsr", key: "dsr", value: (w) => w.robustness?.dsr },
  ];
  body.append(
    h("h2", { text: "Walk-forward windows (in time order)" }),
    table(cols, inTime, { sortable: true, pageSize: PAGE_ROWS, id: "wf-windows" }),
  );
  if (view.walk_forward?.test_metrics) {
    body.append(
      h("h2", { text: `Out-of-sample, ${view.walk_forward.windows} windows chained` }),
      metricsGrid(view.walk_forward.test_metrics, { id: "wf-metrics", hints }),
    );
  }
  if (view.best)
    body.append(
      h("p", {
        id: "wf-next",
        text: `To trade next (window ${view.best.window}): ${formatParams(view.best.params)}`,
      }),
    );
  // The stitched out-of-sample curve, bar by bar, as the engine chained the test windows.
  const el = h("div", { class: "panel", id: "wf-equity" });
  body.append(h("h2", { text: "Stitched out-of-sample equity" }), el, ...researchPanels(view, hints));
  api(`/api/v1/optimizations/${view.id}/equity?points=2000`).then((curve) => {
    if (!curve.items.length) {
      el.append(h("p", { text: "no test window has run yet" }));
      return;
    }
    const times = curve.items.map((p) => Date.parse(p.time) / 1000);
    lineChart(el, "Out-of-sample equity", times, [
      { label: "out of sample", color: PALETTE[2], values: curve.items.map((p) => p.equity) },
    ]);
  });
}
