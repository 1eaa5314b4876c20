// Job rows as a trader reads them: what ran (strategy, symbols, interval, the settings that
// change results) and what came out, for the lists and the home page.
import { h, statusCell, when } from "../dom.js";
import { formatValue, intervalName, setupWords, strategyName, symbolsOf } from "../format.js";

const link = (href, text) => h("a", { href, text });

// An optimization's result by its objective: the best set's, or a walk-forward's chained
// out-of-sample value.
function outcome(job) {
  const key = job.request?.objective || "sharpe";
  if (job.walk_forward?.test_metrics) return job.walk_forward.test_metrics[key];
  return job.best?.metrics?.[key];
}

export function jobColumns(kind) {
  const href = (j) =>
    kind === "backfill" ? "/data" : `/${kind === "optimization" ? "optimizations" : "backtests"}/${j.id}`;
  const backtestOf = (j) => (kind === "optimization" ? j.request?.backtest : j.request) || {};
  const cols = [
    {
      title: "strategy",
      value: (j) => strategyName(j),
      cell: (j) =>
        h(
          "td",
          {},
          link(href(j), strategyName(j)),
          h("span", { class: "muted id", text: ` ${j.id.slice(0, 8)}` }),
        ),
    },
    { title: "status", value: (j) => j.status, cell: (j) => statusCell(j.status) },
    { title: "symbols", value: (j) => symbolsOf(j.request) },
    { title: "interval", value: (j) => intervalName(backtestOf(j).interval) },
    { title: "setup", value: (j) => setupWords(backtestOf(j)) || "—" },
  ];
  if (kind === "optimization") {
    cols.push(
      { title: "kind", value: (j) => j.kind },
      { title: "objective", value: (j) => j.request?.objective },
      {
        title: "result",
        hint: "the best set's objective; for a walk-forward, the chained out-of-sample value",
        value: (j) => outcome(j),
        cell: (j) => {
          const key = j.request?.objective;
          const v = outcome(j);
          return h("td", { class: "num", text: v == null ? "—" : `${formatValue(key, v)}` });
        },
      },
      { title: "progress", value: (j) => `${j.progress?.done ?? 0} / ${j.progress?.total ?? 0}` },
    );
  } else {
    for (const key of ["total_return", "sharpe", "max_drawdown", "num_trades"]) {
      cols.push({ title: key.replaceAll("_", " "), key, value: (j) => j.metrics?.[key] });
    }
  }
  cols.push({ title: "created", value: (j) => when(j.created_at) });
  cols.rowAttrs = (tr, j) => tr.setAttribute("data-job", j.id);
  return cols;
}

// The home page's mixed list: one line per job of any kind, labelled and with its result.
export function recentColumns() {
  const cols = [
    { title: "kind", value: (j) => j.kind },
    {
      title: "job",
      value: (j) => j.label,
      cell: (j) =>
        h("td", {}, link(j.href, j.label), h("span", { class: "muted id", text: ` ${j.id.slice(0, 8)}` })),
    },
    { title: "status", value: (j) => j.status, cell: (j) => statusCell(j.status) },
    { title: "result", value: (j) => j.result || "—" },
    { title: "created", value: (j) => when(j.created_at) },
  ];
  cols.rowAttrs = (tr, j) => tr.setAttribute("data-job", j.id);
  return cols;
}

export function recentRow(kind, job) {
  if (kind === "backfill") {
    return {
      kind,
      href: "/data",
      label: `${job.category} ${job.symbol} ${intervalName(job.interval)}`,
      result: job.rows != null ? `${formatValue("rows", job.rows)} candles` : null,
      ...job,
    };
  }
  const backtest = kind === "optimization" ? job.request?.backtest : job.request;
  const setup = setupWords(backtest);
  const label = `${strategyName(job)} · ${symbolsOf(job.request)} ${intervalName(backtest?.interval)}${setup ? ` · ${setup}` : ""}`;
  let result = null;
  if (kind === "backtest" && job.metrics) {
    result = `return ${formatValue("total_return", job.metrics.total_return)}, Sharpe ${formatValue("sharpe", job.metrics.sharpe)}`;
  } else if (kind === "optimization" && outcome(job) != null) {
    const key = job.request?.objective || "sharpe";
    const where = job.walk_forward ? "out of sample" : "best";
    result = `${where} ${key.replaceAll("_", " ")} ${formatValue(key, outcome(job))}`;
  }
  const shown = kind === "optimization" ? `${(job.kind || "").replace("_", "-")} search` : kind;
  return { ...job, kind: shown, href: `/${kind}s/${job.id}`, label, result };
}
