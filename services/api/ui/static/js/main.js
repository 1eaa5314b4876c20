// The client-side router: every deep link serves index.html, this draws the page for the path.
import { clearListeners, startEvents } from "./events.js";
import * as pages from "./pages.js";

const ROUTES = [
  [/^\/$/, pages.home],
  [/^\/data$/, pages.data],
  [/^\/strategies$/, pages.strategies],
  [/^\/backtests$/, pages.backtests],
  [/^\/backtests\/([0-9a-f-]{36})$/, pages.backtest],
  [/^\/compare$/, pages.compare],
  [/^\/optimizations$/, pages.optimizations],
  [/^\/optimizations\/([0-9a-f-]{36})$/, pages.optimization],
];

async function draw() {
  clearListeners();
  pages.disposeCharts();
  const app = document.getElementById("app");
  app.innerHTML = "";
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
pages.setNavigate(navigate);
startEvents();
draw();
