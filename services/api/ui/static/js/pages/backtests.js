// /backtests: the list with filters (statuses from the API's schema) and the form that runs
// one, built from the backtest request's schema.
import { api, query } from "../api.js";
import { followRows, h, onNewJob, showErrors, table } from "../dom.js";
import { schemaForm, strategyControl, symbolsReplaceSymbol } from "../forms.js";
import { navigate } from "../nav.js";
import { enumOf, openapi } from "../schema.js";
import { jobColumns } from "./jobs.js";

// A new request starts from these where the schema has no default.
export const BACKTEST_START = {
  category: "linear",
  symbol: "BTCUSDT",
  interval: "60",
  start: "2024-01-01T00:00:00Z",
  end: "2024-01-10T00:00:00Z",
};

export async function backtests(app) {
  app.append(h("h1", { text: "Backtests" }));
  const doc = await openapi();
  const params = new URLSearchParams(location.search);
  const filters = h(
    "form",
    { class: "filters", id: "filters" },
    h(
      "select",
      { name: "status" },
      ["", ...enumOf(doc, "BacktestView", "status")].map((s) =>
        h("option", { value: s, text: s || "any status" }),
      ),
    ),
    h("input", { name: "symbol", placeholder: "symbol", value: params.get("symbol") || "" }),
    h("input", { name: "strategy", placeholder: "strategy", value: params.get("strategy") || "" }),
    h("button", { text: "Filter" }),
    h("button", { type: "button", id: "compare-picked", text: "Compare picked" }),
  );
  filters.status.value = params.get("status") || "";
  const list = h("div", { id: "backtest-list" });
  app.append(filters, list);
  const load = async () => {
    const q = {
      status: filters.status.value,
      symbol: filters.symbol.value,
      strategy: filters.strategy.value,
      limit: 50,
    };
    const page = await api(`/api/v1/backtests${query(q)}`);
    const cols = jobColumns("backtest");
    cols.push({
      title: "compare",
      value: () => null,
      cell: (b) =>
        h("td", {}, h("input", { type: "checkbox", class: "pick", value: b.id, title: "compare" })),
    });
    cols.rowAttrs = jobColumns("backtest").rowAttrs;
    list.innerHTML = "";
    list.append(
      table(cols, page.items, { sortable: true }),
      h("p", { class: "muted", text: `${page.total} in all` }),
    );
  };
  filters.addEventListener("submit", async (e) => {
    e.preventDefault();
    const q = {
      status: filters.status.value,
      symbol: filters.symbol.value,
      strategy: filters.strategy.value,
    };
    history.replaceState(null, "", `/backtests${query(q)}`);
    try {
      await load();
    } catch (err) {
      showErrors(filters, err);
    }
  });
  filters.querySelector("#compare-picked").addEventListener("click", () => {
    const ids = [...list.querySelectorAll(".pick:checked")].map((c) => c.value);
    if (ids.length) navigate(`/compare?ids=${ids.join(",")}`);
  });
  await load();
  followRows(list);
  onNewJob(list, (e) => e.kind === "backtest", load);
  const form = await schemaForm({
    id: "run-backtest",
    path: "/api/v1/backtests",
    custom: { strategy: strategyControl },
    initial: BACKTEST_START,
    submit: "Run backtest",
    onCreated: (created) => navigate(`/backtests/${created.id}`),
    transform: symbolsReplaceSymbol,
  });
  app.append(h("h2", { text: "Run a backtest" }), form);
}
