// The client-side router: every deep link serves index.html, this draws the page for the path.
// Each page is a module of its own under pages/.
import { disposeCharts } from "./charts.js";
import { clearListeners, startEvents } from "./events.js";
import { setNavigate } from "./nav.js";
import { backtest } from "./pages/backtest.js";
import { backtests } from "./pages/backtests.js";
import { compare } from "./pages/compare.js";
import { data } from "./pages/data.js";
import { home } from "./pages/home.js";
import { optimization } from "./pages/optimization.js";
import { optimizations } from "./pages/optimizations.js";
import { strategies } from "./pages/strategies.js";

const ROUTES = [
  [/^\/$/, home],
  [/^\/data$/, data],
  [/^\/strategies$/, strategies],
  [/^\/backtests$/, backtests],
  [/^\/backtests\/([0-9a-f-]{36})$/, backtest],
  [/^\/compare$/, compare],
  [/^\/optimizations$/, optimizations],
  [/^\/optimizations\/([0-9a-f-]{36})$/, optimization],
];

async function draw() {
  clearListeners();
  disposeCharts();
  const app = document.getElementById("app");
  app.innerHTML = "";
  delete app.dataset.ready;
  const path = location.pathname;
  for (const [pattern, page] of ROUTES) {
    const match = path.match(pattern);
    if (match) {
      try {
        await page(app, ...match.slice(1));
      } catch (e) {
        const p = document.createElement("p");
        p.className = "form-error";
        p.textContent = e.message;
        app.append(p);
      }
      app.dataset.ready = "true";
      return;
    }
  }
  app.textContent = "No such page.";
}

export function navigate(href) {
  history.pushState(null, "", href);
  draw();
}

document.addEventListener("click", (e) => {
  const a = e.target.closest("a");
  if (!a || a.hasAttribute("data-external") || e.ctrlKey || e.metaKey) return;
  const url = new URL(a.href, location.href);
  if (url.origin !== location.origin || url.pathname.startsWith("/api/")) return;
  e.preventDefault();
  navigate(url.pathname + url.search);
});
window.addEventListener("popstate", draw);
setNavigate(navigate);
startEvents();
draw();
