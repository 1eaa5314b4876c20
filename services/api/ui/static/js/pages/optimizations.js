// /optimizations: the list and the form that starts a grid, walk-forward or bayes search,
// built from the optimization request's schema (the backtest inside it included).
import { api } from "../api.js";
import { followRows, h, onNewJob, table } from "../dom.js";
import { gridControl, schemaForm, spaceControl, strategyControl } from "../forms.js";
import { navigate } from "../nav.js";
import { BACKTEST_START } from "./backtests.js";
import { jobColumns } from "./jobs.js";

const prefixed = (values) => Object.fromEntries(Object.entries(values).map(([k, v]) => [`backtest.${k}`, v]));

export async function optimizations(app) {
  app.append(h("h1", { text: "Optimizations" }));
  const list = h("div", { id: "optimization-list" });
  app.append(list);
  const load = async () => {
    const page = await api("/api/v1/optimizations?limit=50");
    list.innerHTML = "";
    list.append(table(jobColumns("optimization"), page.items, { sortable: true }));
  };
  await load();
  followRows(list);
  onNewJob(list, (e) => e.kind === "optimization", load);
  const kind = (form) => form.querySelector("[name=kind]")?.value;
  const form = await schemaForm({
    id: "run-optimization",
    path: "/api/v1/optimizations",
    custom: { "backtest.strategy": strategyControl, param_grid: gridControl, param_space: spaceControl },
    initial: prefixed(BACKTEST_START),
    submit: "Start optimization",
    visibility: {
      param_grid: (f) => kind(f) !== "bayes",
      walk_forward: (f) => kind(f) !== "grid",
      param_space: (f) => kind(f) === "bayes",
      search: (f) => kind(f) === "bayes",
    },
    onCreated: (created) => navigate(`/optimizations/${created.id}`),
  });
  app.append(h("h2", { text: "Start an optimization" }), form);
}
