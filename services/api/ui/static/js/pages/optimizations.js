// /optimizations: the list and the form that starts a grid, walk-forward or bayes search,
// built from the optimization request's schema (the backtest inside it included).
import { api, query } from "../api.js";
import { followRows, h, onNewJob, showErrors, table } from "../dom.js";
import { gridControl, schemaForm, spaceControl, strategyControl, symbolsReplaceSymbol } from "../forms.js";
import { navigate } from "../nav.js";
import { enumOf, openapi } from "../schema.js";
import { BACKTEST_START } from "./backtests.js";
import { jobColumns } from "./jobs.js";

const prefixed = (values) => Object.fromEntries(Object.entries(values).map(([k, v]) => [`backtest.${k}`, v]));

export async function optimizations(app) {
  app.append(h("h1", { text: "Optimizations" }));
  const doc = await openapi();
  const options = (values, any) => ["", ...values].map((v) => h("option", { value: v, text: v || any }));
  const filters = h(
    "form",
    { class: "filters", id: "optimization-filters" },
    h("select", { name: "status" }, options(enumOf(doc, "OptimizationView", "status"), "any status")),
    h("select", { name: "kind" }, options(enumOf(doc, "OptimizationView", "kind"), "any kind")),
    h("input", { name: "symbol", placeholder: "symbol" }),
    h("input", { name: "strategy", placeholder: "strategy" }),
    h("button", { text: "Filter" }),
  );
  const list = h("div", { id: "optimization-list" });
  app.append(filters, list);
  const load = async () => {
    const q = Object.fromEntries(["status", "kind", "symbol", "strategy"].map((k) => [k, filters[k].value]));
    const page = await api(`/api/v1/optimizations${query({ ...q, limit: 50 })}`);
    list.innerHTML = "";
    list.append(table(jobColumns("optimization"), page.items, { sortable: true }));
  };
  filters.addEventListener("submit", async (e) => {
    e.preventDefault();
    try {
      await load();
    } catch (err) {
      showErrors(filters, err);
    }
  });
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
    transform: (body) => {
      symbolsReplaceSymbol(body.backtest);
      return body;
    },
  });
  // A walk-forward needs its windows: choosing that kind opens them.
  form.querySelector("[name=kind]")?.addEventListener("change", (e) => {
    if (e.target.value === "walk_forward")
      form.querySelector("fieldset[data-field=walk_forward]")?.switchOn();
  });
  app.append(h("h2", { text: "Start an optimization" }), form);
}
