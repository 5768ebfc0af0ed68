// Formatting and small shared widgets.
import { h } from "./dom.js";

export const FINAL = new Set(["stopped", "completed", "failed", "closed", "published"]);

export function when(seconds) {
  if (!seconds) return "–";
  const d = new Date(seconds * 1000);
  const pad = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

export function ago(seconds) {
  if (!seconds) return "–";
  const s = Date.now() / 1000 - seconds;
  if (s < 60) return `${Math.max(0, Math.round(s))}s ago`;
  if (s < 3600) return `${Math.round(s / 60)}m ago`;
  if (s < 86400) return `${Math.round(s / 3600)}h ago`;
  return `${Math.round(s / 86400)}d ago`;
}

export function duration(seconds) {
  if (seconds === null || seconds === undefined) return "–";
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${s % 60}s`;
  return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
}

export function num(value) {
  if (value === null || value === undefined) return "–";
  if (typeof value !== "number") return String(value);
  if (Number.isInteger(value)) return String(value);
  const a = Math.abs(value);
  return a !== 0 && (a < 1e-3 || a >= 1e6) ? value.toExponential(4) : String(Number(value.toPrecision(6)));
}

export function statusBadge(status, alive) {
  return h("span", { class: ["status", `s-${status || "unknown"}`], title: alive === false && status === "in_progress" ? "no heartbeat: its process may be dead" : "" },
    status === "in_progress" ? "running" : (status || "unknown"));
}

export function tagList(tags) {
  return h("span", { class: "tags" }, (tags || []).map((t) => h("span", { class: "tag" }, t)));
}

export function toast(message, kind = "info") {
  const el = document.getElementById("toast");
  const item = h("div", { class: ["toast", kind] }, message);
  el.append(item);
  setTimeout(() => item.remove(), kind === "error" ? 8000 : 4000);
}

export function empty(text) {
  return h("div", { class: "empty" }, text);
}

export function errorBox(err) {
  return h("div", { class: "error-box" }, `Error: ${err.message || err}`);
}

// A 10-colour palette readable on light and dark backgrounds; colour i of many tasks/series.
const PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22", "#7f7f7f"];
export function colour(i) {
  if (i < PALETTE.length) return PALETTE[i];
  return `hsl(${(i * 137.508) % 360}, 65%, 50%)`;
}

export function isDark() {
  return document.documentElement.dataset.theme === "dark";
}

// A poller that runs fn every `ms` until stopped; waits for each run to finish (no overlap).
export function poller(fn, ms) {
  let stopped = false;
  let timer = null;
  const tick = async () => {
    if (stopped) return;
    try { await fn(); } catch (err) { console.warn("poll failed", err); }
    if (!stopped) timer = setTimeout(tick, ms);
  };
  timer = setTimeout(tick, ms);
  return () => { stopped = true; clearTimeout(timer); };
}

// plotly.js (4.8 MB) is loaded once, by the first page that draws a chart.
let plotlyLoading = null;
export function loadPlotly() {
  if (window.Plotly) return Promise.resolve(window.Plotly);
  if (!plotlyLoading) {
    plotlyLoading = new Promise((resolve, reject) => {
      const script = document.createElement("script");
      script.src = "/static/plotly.min.js";
      script.onload = () => resolve(window.Plotly);
      script.onerror = () => { plotlyLoading = null; reject(new Error("could not load plotly.js")); };
      document.head.append(script);
    });
  }
  return plotlyLoading;
}
