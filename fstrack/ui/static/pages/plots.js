// Reported plotly figures, one card each, themed to match the page.
import { h, replace } from "../dom.js";
import { empty, isDark, loadPlotly } from "../util.js";

export function themed(layout) {
  const style = getComputedStyle(document.documentElement);
  const text = style.getPropertyValue("--text").trim();
  const grid = style.getPropertyValue("--border").trim();
  const axis = (a) => ({ ...(a || {}), gridcolor: grid, zerolinecolor: grid });
  const out = { ...(layout || {}), paper_bgcolor: "rgba(0,0,0,0)", plot_bgcolor: "rgba(0,0,0,0)",
    font: { ...((layout || {}).font || {}), color: text }, margin: { l: 50, r: 20, t: 40, b: 40 }, autosize: true };
  delete out.width;
  delete out.height;
  for (const key of Object.keys(out)) if (/^[xy]axis\d*$/.test(key)) out[key] = axis(out[key]);
  if (out.scene) out.scene = { ...out.scene, bgcolor: "rgba(0,0,0,0)" };
  if (isDark() && out.template) delete out.template;
  return out;
}

export async function renderPlots(container, data, { title = null } = {}) {
  if (!data.plots.length) return replace(container, empty("No plots reported."));
  await loadPlotly();
  const grid = h("div", { class: "charts plots" });
  replace(container, grid);
  for (const p of data.plots) {
    const div = h("div", { class: "plot" });
    grid.append(h("div", { class: "plot-card", dataset: { title: p.title, series: p.series } },
      h("h3", {}, `${title ? `${title} · ` : ""}${p.title} / ${p.series} · iteration ${p.iteration}`), div));
    const figure = p.figure || {};
    await Plotly.newPlot(div, figure.data || [], themed(figure.layout), { displaylogo: false, responsive: true });
  }
}
