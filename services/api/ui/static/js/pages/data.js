// /data: stored coverage, a backfill form, live progress.
import { api } from "../api.js";
import { followRows, h, onNewJob, row, showErrors, statusCell, table, when } from "../dom.js";
import { onJobEvent } from "../events.js";
import { intervalName } from "../format.js";

export async function data(app) {
  app.append(h("h1", { text: "Data" }));
  const coverage = await api("/api/v1/symbols?limit=1000");
  const cols = [
    { title: "series", value: (s) => `${s.category} ${s.symbol} ${intervalName(s.interval)}` },
    { title: "first", value: (s) => when(s.first_open_time) },
    { title: "last", value: (s) => when(s.last_open_time) },
    { title: "candles", key: "count", value: (s) => s.count },
    { title: "mark price", key: "count", value: (s) => (s.mark_price ? s.mark_price.count : null) },
    { title: "fundings", key: "count", value: (s) => (s.funding ? s.funding.count : null) },
    { title: "gaps", key: "count", value: (s) => (s.gaps ? s.gaps.length : null) },
  ];
  app.append(h("h2", { text: "Stored coverage" }), h("div", { id: "coverage" }, table(cols, coverage.items)));
  const form = h("form", { class: "grid narrow", id: "backfill-form", novalidate: true });
  const input = (name, value) => h("input", { name, value, "data-field": name });
  form.append(
    ...row(
      "category",
      h(
        "select",
        { name: "category", "data-field": "category" },
        ["linear", "spot", "inverse"].map((c) => h("option", { value: c, text: c })),
      ),
    ),
    ...row("symbol", input("symbol", "BTCUSDT")),
    ...row("interval", input("interval", "60")),
    ...row("start", input("start", "2024-01-01T00:00:00Z")),
    ...row("end", input("end", "2024-02-01T00:00:00Z")),
    h("div"),
    h("button", { text: "Backfill" }),
  );
  const jobs = h("div", { id: "backfills" });
  app.append(h("h2", { text: "Backfill" }), form, h("h2", { text: "Backfills" }), jobs);
  const load = async () => {
    const page = await api("/api/v1/backfills?limit=20");
    const c = [
      { title: "series", value: (b) => `${b.category} ${b.symbol} ${intervalName(b.interval)}` },
      { title: "period", value: (b) => `${when(b.start)} → ${when(b.end)}` },
      { title: "status", value: (b) => b.status, cell: (b) => statusCell(b.status) },
      {
        title: "progress",
        value: (b) => b.progress,
        cell: (b) =>
          h(
            "td",
            {},
            h("progress", { class: "bf-progress", max: b.pages_total || 1, value: b.pages_done || 0 }),
          ),
      },
      { title: "candles", key: "rows", value: (b) => b.rows },
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
    if (bar && e.progress) {
      bar.max = e.progress.total || 1;
      bar.value = e.progress.done;
    }
  });
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const body = Object.fromEntries(
      ["category", "symbol", "interval", "start", "end"].map((k) => [k, form[k].value]),
    );
    try {
      await api("/api/v1/backfills", { method: "POST", body });
      for (const el of form.querySelectorAll(".field-error, .form-error")) el.remove();
      await load();
    } catch (err) {
      showErrors(form, err);
    }
  });
}
