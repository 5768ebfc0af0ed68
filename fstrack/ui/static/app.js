// The single-page app: a router over location.pathname; each page keeps its view state in the URL query.
import { get } from "./api.js";
import { h, replace } from "./dom.js";
import { errorBox, loadPlotly } from "./util.js";

const PAGES = [
  [/^\/(projects)?$/, "projects", () => import("./pages/projects.js")],
  [/^\/tasks$/, "tasks", () => import("./pages/tasks.js")],
  [/^\/task\/([0-9a-f]{32})(?:\/([a-z_]+))?$/, "tasks", () => import("./pages/task.js")],
  [/^\/compare$/, "tasks", () => import("./pages/compare.js")],
  [/^\/models$/, "models", () => import("./pages/models.js")],
  [/^\/model\/([0-9a-f]{32})$/, "models", () => import("./pages/model.js")],
  [/^\/queues$/, "queues", () => import("./pages/queues.js")],
];

let cleanup = null;
let renderedPath = null;
export const app = { info: { read_only: true } };

export function params() {
  return new URLSearchParams(location.search);
}

// Change the URL's query (view state) without rendering the page again.
export function setParams(changes, { push = false } = {}) {
  const q = params();
  for (const [key, value] of Object.entries(changes)) {
    q.delete(key);
    if (value === undefined || value === null || value === "" || value === false) continue;
    if (Array.isArray(value)) value.forEach((v) => q.append(key, v));
    else q.set(key, String(value));
  }
  q.delete("token");
  const text = q.toString();
  const url = `${location.pathname}${text ? `?${text}` : ""}`;
  if (push) history.pushState(null, "", url); else history.replaceState(null, "", url);
}

export function navigate(url) {
  history.pushState(null, "", url);
  render();
}

async function render() {
  const main = document.getElementById("main");
  if (cleanup) { try { cleanup(); } catch (err) { console.warn(err); } cleanup = null; }
  const path = location.pathname.replace(/\/+$/, "") || "/";
  renderedPath = path;
  for (const [pattern, nav, load] of PAGES) {
    const match = path.match(pattern);
    if (!match) continue;
    document.querySelectorAll("[data-nav]").forEach((a) => a.classList.toggle("active", a.dataset.nav === nav));
    try {
      const page = await load();
      if (renderedPath !== path) return;
      const container = h("div", { class: "page" });
      replace(main, container);
      cleanup = (await page.render(container, match.slice(1))) || null;
    } catch (err) {
      console.warn(err);
      replace(main, errorBox(err));
    }
    return;
  }
  replace(main, errorBox(new Error(`no page at ${path}`)));
}

function applyTheme(theme) {
  document.documentElement.dataset.theme = theme;
  window.dispatchEvent(new CustomEvent("themechange"));
}

function initTheme() {
  const stored = params().get("theme") || localStorage.getItem("fstrack-theme");
  const preferred = window.matchMedia && window.matchMedia("(prefers-color-scheme: dark)").matches ? "dark" : "light";
  applyTheme(stored === "dark" || stored === "light" ? stored : preferred);
  document.getElementById("theme").addEventListener("click", () => {
    const next = document.documentElement.dataset.theme === "dark" ? "light" : "dark";
    localStorage.setItem("fstrack-theme", next);
    applyTheme(next);
  });
}

document.addEventListener("click", (event) => {
  const a = event.target.closest("a[data-link]");
  if (!a || event.ctrlKey || event.metaKey || event.shiftKey || event.button !== 0) return;
  event.preventDefault();
  navigate(a.getAttribute("href"));
});
window.addEventListener("popstate", render);

initTheme();
if (params().has("token")) setParams({});  // the cookie carries it from now on; keep it out of shared links
get("/info").then((info) => {
  app.info = info;
  document.getElementById("store").textContent = info.store + (info.read_only ? " (read-only)" : "");
  document.body.classList.toggle("read-only", info.read_only);
}).catch((err) => console.warn(err)).finally(async () => {
  await render();
  // parse plotly.js while the user reads the first page, so the first chart they open draws at once
  (window.requestIdleCallback || setTimeout)(() => loadPlotly().catch((err) => console.warn(err)));
});
