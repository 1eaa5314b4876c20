// How likely a result is luck and what it ran on, shown wherever a result is: why trades
// ended, warnings, robustness, the Monte Carlo percentiles, provenance (hashes with a copy
// button), and the request as a readable table.
import { copyable, h, metricsGrid, table, when } from "../dom.js";
import { formatParams, formatValue } from "../format.js";

const PERCENTILES = ["p5", "p25", "p50", "p75", "p95"];

export function monteCarloPanel(mc) {
  const cols = [
    { title: "", value: (r) => r.name },
    ...PERCENTILES.map((k) => ({
      title: k,
      value: (r) => r.values?.[k],
      cell: (r) => h("td", { class: "num", text: formatValue(r.key, r.values?.[k]) }),
    })),
  ];
  const rows = [
    { name: "final equity", key: "final_equity", values: mc.final_equity },
    { name: "max drawdown", key: "max_drawdown", values: mc.max_drawdown },
  ];
  return [
    h("h2", {
      text: `Monte Carlo: ${formatValue("runs", mc.runs)} runs, seed ${mc.seed}; probability of a loss ${formatValue("prob_loss", mc.prob_loss)}`,
    }),
    h("div", { id: "monte-carlo" }, table(cols, rows)),
  ];
}

export function provenancePanel(view) {
  const p = view.provenance;
  const item = (label, value) => h("div", {}, h("span", { class: "muted", text: label }), h("b", {}, value));
  return [
    h("h2", { text: "Provenance" }),
    h(
      "div",
      { class: "metrics", id: "provenance" },
      item("candles", formatValue("count", p.candles?.count)),
      item("first candle", when(p.candles?.first)),
      item("last candle", when(p.candles?.last)),
      item("candles sha256", copyable(p.candles?.sha256)),
      item("strategy sha256", copyable(p.strategy_sha256)),
      item("engine", formatValue("engine", p.engine_version)),
      ...(view.rerun_of
        ? [
            item(
              "rerun of",
              h("a", { href: `/backtests/${view.rerun_of}`, text: view.rerun_of.slice(0, 8) }),
            ),
            item("reproduced", formatValue("reproduced", view.reproduced)),
          ]
        : []),
    ),
  ];
}

export function researchPanels(view, hints = {}) {
  const parts = [];
  if (view.exit_counts)
    parts.push(
      h("h2", { text: "Why trades ended" }),
      metricsGrid(view.exit_counts, { id: "exit-counts", as: "count" }),
    );
  if (view.warnings?.length)
    parts.push(
      h("h2", { text: "Warnings" }),
      h(
        "ul",
        { id: "warnings" },
        view.warnings.map((w) => h("li", { text: w })),
      ),
    );
  if (view.differences?.length)
    parts.push(
      h("h2", { text: "Differences from the original run" }),
      h(
        "ul",
        {},
        view.differences.map((w) => h("li", { text: w })),
      ),
    );
  if (view.robustness)
    parts.push(
      h("h2", { text: "Robustness" }),
      h("div", { id: "robustness" }, metricsGrid(view.robustness, { hints })),
    );
  if (view.monte_carlo) parts.push(...monteCarloPanel(view.monte_carlo));
  if (view.provenance) parts.push(...provenancePanel(view));
  return parts;
}

// A request, flattened to readable rows: "strategy" -> "sma_cross", "parameters" ->
// "fast 10, slow 30", "stop loss" -> "2.00 %", nested objects as "runs 1,000, seed 7".
export function requestRows(request, order = []) {
  const rows = [];
  const visit = (obj, prefix) => {
    for (const [k, v] of Object.entries(obj || {})) {
      const name = prefix ? `${prefix} ${k}` : k;
      if (k === "strategy" && v && typeof v === "object") {
        rows.push({
          key: "strategy",
          at: k,
          label: "strategy",
          text: v.name || v.definition?.name || (v.definition ? "expression" : formatValue("id", v.id)),
        });
        if (v.params) rows.push({ key: "params", at: k, label: "parameters", text: formatParams(v.params) });
        if (v.definition) {
          for (const rule of ["long_entry", "long_exit", "short_entry", "short_exit", "size"]) {
            if (v.definition[rule])
              rows.push({ key: rule, at: k, label: rule.replaceAll("_", " "), text: v.definition[rule] });
          }
        }
        if (v.sha256) rows.push({ key: "sha256", at: k, label: "plugin sha256", text: v.sha256 });
      } else if (k === "backtest" && v && typeof v === "object") {
        visit(v, "");
      } else {
        rows.push({ key: k, at: k, label: name.replaceAll("_", " "), text: formatValue(k, v) });
      }
    }
  };
  visit(request, "");
  const rank = (r) => (order.includes(r.at) ? order.indexOf(r.at) : order.length);
  return rows
    .map((r, i) => [r, i])
    .sort((a, b) => rank(a[0]) - rank(b[0]) || a[1] - b[1])
    .map(([r]) => r);
}

// `order`: the request schema's property names, so the rows follow the form's order.
export function requestTable(request, order = [], id = "request") {
  const cols = [
    { title: "setting", value: (r) => r.label },
    { title: "value", value: (r) => r.text, cell: (r) => h("td", { class: "wrap", text: r.text }) },
  ];
  return h("div", { id, class: "request" }, table(cols, requestRows(request, order)));
}
