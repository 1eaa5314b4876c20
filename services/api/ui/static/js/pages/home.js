// /: the services' readiness and the recent jobs of every kind, with live status.
import { api } from "../api.js";
import { followRows, h, onNewJob, table } from "../dom.js";
import { recentColumns, recentRow } from "./jobs.js";

export async function home(app) {
  app.append(h("h1", { text: "Overview" }));
  const ready = h("p", { id: "readiness" });
  app.append(ready);
  try {
    const r = await fetch("/api/v1/readyz");
    const body = await r.json();
    ready.textContent = r.ok ? "All services ready." : `Not ready: ${body.error?.message || r.status}`;
    ready.className = r.ok ? "status-succeeded" : "status-failed";
  } catch (e) {
    ready.textContent = `readiness unknown: ${e.message}`;
  }
  const jobs = h("div", { id: "recent-jobs" });
  app.append(h("h2", { text: "Recent jobs" }), jobs);
  const load = async () => {
    const [bt, op, bf] = await Promise.all([
      api("/api/v1/backtests?limit=10"),
      api("/api/v1/optimizations?limit=5"),
      api("/api/v1/backfills?limit=5"),
    ]);
    const rows = [
      ...bt.items.map((j) => recentRow("backtest", j)),
      ...op.items.map((j) => recentRow("optimization", j)),
      ...bf.items.map((j) => recentRow("backfill", j)),
    ].sort((a, b) => (a.created_at < b.created_at ? 1 : -1));
    jobs.innerHTML = "";
    jobs.append(table(recentColumns(), rows));
  };
  await load();
  followRows(jobs);
  onNewJob(jobs, () => true, load);
}
