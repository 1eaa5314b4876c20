// /compare?ids=...: metrics side by side (human formats) and the equity curves overlaid.
import { api } from "../api.js";
import { lineChart, PALETTE } from "../charts.js";
import { h, table } from "../dom.js";
import { formatParams, formatValue, jobTitle, setupWords } from "../format.js";
import { equityOf } from "./backtest.js";

export async function compare(app) {
  const ids = (new URLSearchParams(location.search).get("ids") || "").split(",").filter(Boolean);
  app.append(h("h1", { text: "Compare backtests" }));
  if (!ids.length) {
    app.append(h("p", { text: "Pick backtests on the Backtests page." }));
    return;
  }
  const views = await Promise.all(ids.map((id) => api(`/api/v1/backtests/${id}`)));
  const keys = [...new Set(views.flatMap((v) => Object.keys(v.metrics || {})))];
  const heading = (v) => `${jobTitle(v)} (${v.id.slice(0, 8)})`;
  const cols = [
    { title: "", value: (k) => k.replaceAll("_", " ") },
    ...views.map((v) => ({
      title: heading(v),
      value: (k) => v.metrics?.[k],
      cell: (k) => h("td", { class: "num", text: formatValue(k, v.metrics?.[k]) }),
    })),
  ];
  const setup = h(
    "div",
    { class: "muted" },
    views.map((v) =>
      h("div", {
        text: `${heading(v)}: ${formatParams(v.request?.strategy?.params)} · ${setupWords(v.request) || "—"}`,
      }),
    ),
  );
  app.append(setup, h("div", { id: "compare-metrics" }, table(cols, keys)));
  const curves = await Promise.all(views.map((v) => (v.status === "succeeded" ? equityOf(v.id, 1000) : [])));
  // One time axis: every curve's points, each curve carried forward between its own points.
  const times = [...new Set(curves.flatMap((c) => c.map((p) => Date.parse(p.time) / 1000)))].sort(
    (a, b) => a - b,
  );
  const series = curves.map((c, i) => {
    const at = new Map(c.map((p) => [Date.parse(p.time) / 1000, p.equity]));
    let lastValue = null;
    const values = times.map((t) => {
      if (at.has(t)) lastValue = at.get(t);
      return lastValue;
    });
    return { label: heading(views[i]), color: PALETTE[i % PALETTE.length], values };
  });
  const el = h("div", { class: "panel", id: "compare-equity" });
  app.append(h("h2", { text: "Equity" }), el);
  lineChart(el, "Equity", times, series);
}
