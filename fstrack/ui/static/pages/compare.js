// Compare 2..100+ tasks: scalars overlaid (a colour per task), hyperparameters side by side with
// "differences only", parallel coordinates, and plots / debug samples side by side.
import { get } from "../api.js";
import { params, setParams } from "../app.js";
import { ScalarPanel, chartSettings } from "../charts.js";
import { h, replace } from "../dom.js";
import { colour, empty, errorBox, loadPlotly, num, statusBadge } from "../util.js";
import { themed, renderPlots } from "./plots.js";
import { debugSamples } from "./task.js";

const TABS = [["scalars", "Scalars"], ["params", "Hyperparameters"], ["parallel", "Parallel coordinates"], ["plots", "Plots"], ["debug", "Debug samples"]];
const DASHES = ["solid", "dash", "dot", "dashdot", "longdash"];

function compareSource(ids, tasks) {
  const names = Object.fromEntries(tasks.map((t) => [t.id, t.name]));
  const index = Object.fromEntries(ids.map((id, i) => [id, i]));
  return {
    async fetch(range, title, buckets, settings) {
      const band = settings.band && ids.length <= 10;
      const data = await get("/compare/scalars", {
        tasks: ids.join(","), x_axis: settings.xaxis === "iter" ? "iter" : "time", buckets: ids.length > 20 ? Math.min(buckets, 300) : buckets,
        band: band ? 1 : 0, x_min: range ? range[0] : "", x_max: range ? range[1] : "", title: title || "",
      });
      const titles = {};
      for (const t of data.tasks) {
        const seriesIndex = {};
        for (const s of t.series) {
          const d = (seriesIndex[s.title] = (seriesIndex[s.title] ?? -1) + 1);
          (titles[s.title] = titles[s.title] || []).push({ key: `${t.id}/${s.series}`, name: `${names[t.id] || t.id.slice(0, 8)} · ${s.series}`,
            colour: colour(index[t.id]), dash: DASHES[d % DASHES.length], x: s.x, y: s.y, min: s.min, max: s.max, t0: t.t0 || 0 });
        }
      }
      return { titles };
    },
  };
}

function paramsTable(tasks) {
  let diffOnly = params().get("diff") !== "0";
  const holder = h("div", {});
  const draw = () => {
    const keys = [...new Set(tasks.flatMap((t) => Object.keys(t.params)))].sort();
    const metricKeys = [...new Set(tasks.flatMap((t) => Object.keys(t.metrics)))].filter((k) => !k.startsWith(":monitor:")).sort();
    const row = (label, values) => {
      const differs = new Set(values.map((v) => JSON.stringify(v ?? null))).size > 1;
      if (diffOnly && !differs) return null;
      return h("tr", { class: differs ? "differs" : "" }, h("td", {}, label), values.map((v) => h("td", { class: differs ? "wrap diffcell" : "wrap same" }, v === undefined || v === null ? "–" : num(v))));
    };
    const rows = [...keys.map((k) => row(k, tasks.map((t) => t.params[k]))),
      ...metricKeys.map((k) => row(`metric ${k} (last)`, tasks.map((t) => (t.metrics[k] || {}).last)))].filter(Boolean);
    replace(holder, h("div", { class: "toolbar" }, h("label", {}, h("input", { type: "checkbox", checked: diffOnly, class: "diff-only", onchange: (e) => {
      diffOnly = e.target.checked; setParams({ diff: diffOnly ? "" : 0 }); draw();
    } }), "differences only")),
    rows.length ? h("div", { class: "table-wrap" }, h("table", { class: "grid compare-params" },
      h("thead", {}, h("tr", {}, h("th", {}, "parameter"), tasks.map((t, i) => h("th", { style: { color: colour(i) } }, t.name)))), h("tbody", {}, rows)))
      : empty(diffOnly ? "No differences." : "No parameters."));
  };
  draw();
  return holder;
}

function parallel(tasks) {
  const keys = [...new Set(tasks.flatMap((t) => Object.keys(t.params)))].sort();
  const metricKeys = [...new Set(tasks.flatMap((t) => Object.keys(t.metrics)))].filter((k) => !k.startsWith(":monitor:")).sort();
  const differing = keys.filter((k) => new Set(tasks.map((t) => t.params[k])).size > 1);
  const q = params();
  const chosen = new Set(q.get("pc") ? q.get("pc").split(",").map(decodeURIComponent) : differing.slice(0, 8));
  let metric = q.get("metric") || metricKeys[0] || "";
  const plot = h("div", { class: "plot parcoords", style: { height: "460px" } });
  const draw = () => {
    setParams({ pc: [...chosen].map(encodeURIComponent).join(","), metric });
    const dims = [...chosen].filter((k) => keys.includes(k)).map((k) => {
      const values = tasks.map((t) => t.params[k]);
      const numeric = values.every((v) => v !== undefined && v !== null && v !== "" && !Number.isNaN(Number(v)));
      if (numeric) return { label: k, values: values.map(Number) };
      const cats = [...new Set(values.map((v) => String(v ?? "–")))].sort();
      return { label: k, values: values.map((v) => cats.indexOf(String(v ?? "–"))), tickvals: cats.map((_, i) => i), ticktext: cats };
    });
    const mvalues = tasks.map((t) => ((t.metrics[metric] || {}).last ?? null));
    if (metric) dims.push({ label: metric, values: mvalues.map((v) => (v === null ? NaN : v)) });
    if (!dims.length) { replace(plot, empty("Choose parameters to plot.")); return; }
    const line = metric ? { color: mvalues.map((v) => v ?? 0), colorscale: "Viridis", showscale: true } : { color: "#1f77b4" };
    Plotly.react(plot, [{ type: "parcoords", dimensions: dims, line }], themed({ margin: { l: 80, r: 80, t: 60, b: 30 } }), { displaylogo: false, responsive: true });
  };
  const controls = h("div", { class: "panel" },
    h("div", { class: "toolbar" }, h("label", {}, "Metric ", h("select", { class: "pc-metric", onchange: (e) => { metric = e.target.value; draw(); } },
      metricKeys.map((k) => h("option", { value: k, selected: k === metric }, k))))),
    h("div", { class: "choices", style: { columns: 3 } }, keys.map((k) => h("label", { style: { display: "block" } }, h("input", { type: "checkbox", checked: chosen.has(k), onchange: (e) => {
      if (e.target.checked) chosen.add(k); else chosen.delete(k);
      draw();
    } }), ` ${k}`))));
  setTimeout(draw, 0);
  return h("div", {}, controls, plot);
}

async function sideBySide(tasks, fill) {
  const grid = h("div", { style: { display: "grid", gridTemplateColumns: `repeat(${Math.min(tasks.length, 3)}, minmax(0, 1fr))`, gap: "12px" } });
  const cells = tasks.map((t, i) => {
    const body = h("div", {});
    grid.append(h("div", { class: "panel" }, h("h3", { style: { color: colour(i) } }, t.name), body));
    return body;
  });
  await Promise.all(tasks.map((t, i) => fill(t, cells[i]).catch((err) => replace(cells[i], errorBox(err)))));
  return grid;
}

export async function render(container) {
  const q = params();
  const ids = (q.get("ids") || "").split(",").filter((id) => /^[0-9a-f]{32}$/.test(id));
  if (ids.length < 1) return replace(container, h("h1", {}, "Compare"), empty("Select two or more tasks in the tasks table, then Compare."));
  const tab = TABS.some(([t]) => t === q.get("tab")) ? q.get("tab") : "scalars";
  const data = await get("/compare", { tasks: ids.join(",") });
  const tasks = data.tasks;
  const body = h("div", { class: "tab-body", dataset: { tab } });
  const tabs = h("div", { class: "tabs" }, TABS.map(([t, label]) => {
    const url = new URLSearchParams(location.search);
    url.set("tab", t);
    return h("a", { href: `/compare?${url}`, "data-link": true, class: t === tab ? "active" : "", dataset: { tab: t } }, label);
  }));
  replace(container, h("h1", {}, `Compare ${tasks.length} tasks`),
    h("div", { class: "tags compare-tasks" }, tasks.map((t, i) => h("span", { class: "tag", style: { borderColor: colour(i) } },
      h("span", { style: { color: colour(i) } }, "● "), h("a", { href: `/task/${t.id}`, "data-link": true }, t.name), " ", statusBadge(t.status)))),
    tabs, body);
  if (tab === "scalars") {
    const panel = new ScalarPanel(body, compareSource(ids, tasks), { settings: chartSettings(q) });
    return panel.start();
  }
  if (tab === "params") replace(body, paramsTable(tasks));
  else if (tab === "parallel") { await loadPlotly(); replace(body, parallel(tasks)); }
  else if (tab === "plots") replace(body, await sideBySide(tasks, async (t, cell) => renderPlots(cell, await get(`/tasks/${t.id}/plots`))));
  else if (tab === "debug") replace(body, await sideBySide(tasks, (t, cell) => debugSamples(t, cell, `/tasks/${t.id}`)));
  return null;
}
