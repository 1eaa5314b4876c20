// Bayesian search: the form that starts one, and its charts on the optimization page
// (each trial's objective with the best so far, Optuna's parameter importance, and the
// trials in parallel coordinates), drawn with the vendored ECharts.
import { api, ApiError } from "./api.js";

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

// As shared/metric_names.py LOWER_IS_BETTER: the metrics where less is better.
const LOWER_IS_BETTER = ["max_drawdown", "funding_paid", "liquidations"];
const charts = [];
const short = (v) => (typeof v === "number" && !Number.isInteger(v) ? Number(v.toPrecision(4)) : v);

function chart(el, option) {
  const c = echarts.init(el, null, { renderer: "canvas" });
  charts.push(c);
  c.setOption({ animation: false, ...option });
  return c;
}

export function disposeBayesCharts() {
  while (charts.length) { const c = charts.pop(); if (!c.isDisposed()) c.dispose(); }
}

// The optimization page's part for a finished (or running) search over the whole range.
export function drawBayes(body, view, rows) {
  disposeBayesCharts();
  const objective = view.request.objective || "sharpe";
  const lower = LOWER_IS_BETTER.includes(objective);
  const trials = [...rows].sort((a, b) => a.trial - b.trial);
  const summary = view.search;
  const search = view.request.search || {};
  const about = summary
    ? `${summary.trials} trials evaluated in ${summary.batches} batches, ${summary.rule_breaks} sampled sets broke the strategy's rules (sampler ${summary.sampler}, seed ${summary.seed})`
    : `${trials.length} of ${search.trials} trials evaluated so far (sampler ${search.sampler}, seed ${search.seed})`;
  body.append(h("h2", { text: "Bayesian search" }), h("p", { id: "bayes-summary", text: about }));
  if (!trials.length) return;
  drawHistory(body, trials, objective, lower);
  if (summary?.importance) drawImportance(body, summary.importance);
  drawParallel(body, trials, objective, lower, Object.keys(view.request.param_space || {}));
}

function drawHistory(body, trials, objective, lower) {
  let best = null;
  const bestSoFar = [];
  const points = [];
  for (const r of trials) {
    const v = r.metrics?.[objective];
    if (v != null) {
      points.push([r.trial, v]);
      if (best == null || (lower ? v < best : v > best)) best = v;
    }
    if (best != null) bestSoFar.push([r.trial, best]);
  }
  const el = h("div", { class: "panel", id: "bayes-history", style: "height: 320px" });
  body.append(h("h2", { text: `${objective} by trial` }), el);
  el.dataset.points = String(points.length);
  chart(el, {
    tooltip: { trigger: "item", formatter: (p) => `trial ${p.value[0]}: ${short(p.value[1])}` },
    legend: { data: ["trial", "best so far"] },
    grid: { left: 70, right: 20, top: 30, bottom: 40 },
    xAxis: { type: "value", name: "trial", nameLocation: "middle", nameGap: 26 },
    yAxis: { type: "value", name: objective, scale: true },
    series: [
      { name: "trial", type: "scatter", symbolSize: 6, data: points, itemStyle: { color: "#8aa4c8" } },
      { name: "best so far", type: "line", step: "end", showSymbol: false, data: bestSoFar, lineStyle: { color: "#2e7d32", width: 2 } },
    ],
  });
}

function drawImportance(body, importance) {
  const names = Object.keys(importance).reverse();
  const el = h("div", { class: "panel", id: "bayes-importance", style: `height: ${60 + 28 * names.length}px` });
  body.append(h("h2", { text: "Parameter importance (PED-ANOVA)" }), el);
  chart(el, {
    tooltip: { formatter: (p) => `${p.name}: ${(p.value * 100).toFixed(1)} %` },
    grid: { left: 120, right: 30, top: 10, bottom: 30 },
    xAxis: { type: "value", max: 1, axisLabel: { formatter: (v) => `${Math.round(v * 100)} %` } },
    yAxis: { type: "category", data: names },
    series: [{ type: "bar", data: names.map((n) => importance[n]), itemStyle: { color: "#5470c6" } }],
  });
}

function drawParallel(body, trials, objective, lower, names) {
  const axes = [...names, objective].map((name, dim) => {
    const values = trials.map((r) => (name === objective ? r.metrics?.[objective] : r.params[name]));
    const numeric = values.every((v) => v == null || typeof v === "number");
    return numeric ? { dim, name } : { dim, name, type: "category", data: [...new Set(values.map(String))] };
  });
  const data = trials.map((r) => [...names.map((n) => r.params[n]), r.metrics?.[objective] ?? null]);
  const scored = data.map((d) => d[d.length - 1]).filter((v) => v != null);
  const el = h("div", { class: "panel", id: "bayes-parallel", style: "height: 340px" });
  body.append(h("h2", { text: "Trials in parallel coordinates" }), el);
  const colors = ["#c62828", "#fdd835", "#2e7d32"];
  chart(el, {
    parallelAxis: axes,
    parallel: { left: 60, right: 80, top: 40, bottom: 30 },
    visualMap: scored.length ? {
      min: Math.min(...scored), max: Math.max(...scored), dimension: names.length, calculable: true,
      orient: "vertical", right: 0, top: "center", inRange: { color: lower ? [...colors].reverse() : colors },
    } : undefined,
    series: [{ type: "parallel", lineStyle: { width: 1, opacity: 0.6 }, data }],
  });
}

// `NAME=LOW:HIGH`, `NAME=LOW:HIGH:STEP`, `NAME=LOW:HIGH:log` or `NAME=V1,V2,...`, one a line
// (the command line's --space): the request's `param_space`.
export function parseSpace(text) {
  const space = {};
  const number = (s) => (s.trim() !== "" && !Number.isNaN(Number(s)) ? Number(s) : s.trim());
  for (const line of text.split("\n").map((l) => l.trim()).filter(Boolean)) {
    const [name, value = ""] = line.split("=", 2).map((s) => s.trim());
    const bounds = value.split(":");
    if (bounds.length === 2 || bounds.length === 3) {
      const entry = { low: number(bounds[0]), high: number(bounds[1]) };
      if (bounds.length === 3) {
        if (bounds[2].trim().toLowerCase() === "log") entry.log = true;
        else entry.step = number(bounds[2]);
      }
      space[name] = entry;
    } else {
      space[name] = value.split(",").map((v) => (v.trim() === "null" ? null : number(v)));
    }
  }
  return space;
}

// A form that starts a Bayesian search over the range (the API's defaults where left empty).
export function bayesForm(onCreated) {
  const form = h("form", { class: "grid", id: "bayes-form", novalidate: true });
  const input = (field, value, attrs = {}) => h("input", { name: field, "data-field": field, value, ...attrs });
  const select = (field, options, value) => h("select", { name: field, "data-field": field },
    options.map((o) => h("option", { value: o, text: o, selected: o === value })));
  const row = (label, el) => [h("label", { text: label }), h("div", {}, el)];
  const space = h("textarea", { name: "param_space", "data-field": "param_space", rows: 4 },
    "fast=2:50\nslow=50,100,200\ntrailing_stop=0.01:0.2:log");
  form.append(
    ...row("category", select("backtest.category", ["linear", "spot", "inverse"], "linear")),
    ...row("symbol", input("backtest.symbol", "BTCUSDT")),
    ...row("interval", input("backtest.interval", "60")),
    ...row("start", input("backtest.start", "2024-01-01T00:00:00Z")),
    ...row("end", input("backtest.end", "2024-02-01T00:00:00Z")),
    ...row("strategy", input("backtest.strategy.name", "sma_cross")),
    ...row("objective", input("objective", "sharpe")),
    ...row("space (one a line: name=low:high[:step|:log] or name=v1,v2)", space),
    ...row("trials", input("search.trials", "100", { type: "number", min: 10 })),
    ...row("batch", input("search.batch", "16", { type: "number", min: 1 })),
    ...row("sampler", select("search.sampler", ["tpe", "random", "cmaes"], "tpe")),
    ...row("seed", input("search.seed", "0", { type: "number", min: 0 })),
    h("div"), h("button", { text: "Start the search" }));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const value = (f) => form.querySelector(`[data-field="${f}"]`).value.trim();
    const integer = (f) => (value(f) === "" ? undefined : Number(value(f)));
    const body = {
      kind: "bayes",
      backtest: {
        category: value("backtest.category"), symbol: value("backtest.symbol"), interval: value("backtest.interval"),
        start: value("backtest.start"), end: value("backtest.end"), strategy: { name: value("backtest.strategy.name") },
      },
      objective: value("objective") || undefined,
      param_space: parseSpace(space.value),
      search: { trials: integer("search.trials"), batch: integer("search.batch"), sampler: value("search.sampler"), seed: integer("search.seed") },
    };
    for (const el of form.querySelectorAll(".form-error")) el.remove();
    try {
      const created = await api("/api/v1/optimizations", { method: "POST", body });
      onCreated(created);
    } catch (err) {
      const details = err instanceof ApiError && err.details.length ? err.details : [{ field: "", message: err.message }];
      for (const d of details) form.append(h("p", { class: "form-error", "data-error-for": d.field || "", text: `${d.field ? d.field + ": " : ""}${d.message}` }));
    }
  });
  return form;
}
