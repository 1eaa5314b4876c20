// Bayesian search: its charts on the optimization page (each trial's objective with the best
// so far, Optuna's parameter importance, and the trials in parallel coordinates), drawn with
// the vendored ECharts. The form that starts one is the optimizations page's, generated from
// the request schema.
import { h } from "./dom.js";

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
  while (charts.length) {
    const c = charts.pop();
    if (!c.isDisposed()) c.dispose();
  }
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
      {
        name: "best so far",
        type: "line",
        step: "end",
        showSymbol: false,
        data: bestSoFar,
        lineStyle: { color: "#2e7d32", width: 2 },
      },
    ],
  });
}

function drawImportance(body, importance) {
  const names = Object.keys(importance).reverse();
  const el = h("div", {
    class: "panel",
    id: "bayes-importance",
    style: `height: ${60 + 28 * names.length}px`,
  });
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
    visualMap: scored.length
      ? {
          min: Math.min(...scored),
          max: Math.max(...scored),
          dimension: names.length,
          calculable: true,
          orient: "vertical",
          right: 0,
          top: "center",
          inRange: { color: lower ? [...colors].reverse() : colors },
        }
      : undefined,
    series: [{ type: "parallel", lineStyle: { width: 1, opacity: 0.6 }, data }],
  });
}
