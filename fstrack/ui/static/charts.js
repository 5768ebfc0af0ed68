// Scalar charts: one plotly chart per title, downsampled on the server (per-bucket last/min/max), re-fetched
// on zoom, EMA smoothing, x by iteration / wall time / time since start, log scale, min-max band, live growth.
import { setParams } from "./app.js";
import { h, replace } from "./dom.js";
import { colour, empty, isDark, loadPlotly, poller } from "./util.js";

const X_AXES = { iter: "Iterations", wall: "Wall time", rel: "Time since start" };

export function chartSettings(q) {
  return {
    smooth: Math.min(0.99, Math.max(0, Number(q.get("smooth") || 0))),
    xaxis: X_AXES[q.get("xaxis")] ? q.get("xaxis") : "iter",
    log: q.get("log") === "1",
    band: q.get("band") !== "0",
    // hidden series, as "title|series key" (a legend click toggles one)
    hidden: new Set(q.getAll("hide")),
  };
}

export function ema(values, weight) {
  if (!weight) return values;
  let last = 0;
  let norm = 0;
  return values.map((v) => {
    if (v === null || v === undefined) return null;
    last = last * weight + (1 - weight) * v;
    norm = norm * weight + (1 - weight);
    return last / norm;
  });
}

function rgba(hex, alpha) {
  if (!hex.startsWith("#")) return hex.replace("hsl(", "hsla(").replace(")", `, ${alpha})`);
  const n = parseInt(hex.slice(1), 16);
  return `rgba(${n >> 16}, ${(n >> 8) & 255}, ${n & 255}, ${alpha})`;
}

function themeLayout() {
  const style = getComputedStyle(document.documentElement);
  const text = style.getPropertyValue("--text").trim();
  const grid = style.getPropertyValue("--border").trim();
  return {
    paper_bgcolor: "rgba(0,0,0,0)", plot_bgcolor: "rgba(0,0,0,0)", font: { color: text, size: 11 },
    xaxis: { gridcolor: grid, zerolinecolor: grid }, yaxis: { gridcolor: grid, zerolinecolor: grid },
    hoverlabel: { bgcolor: isDark() ? "#1c2028" : "#ffffff", font: { color: text } },
  };
}

// x values of the API (iterations, or epoch ms) -> what the chart shows, and back.
function toChartX(xs, mode, t0) {
  if (mode === "rel") return xs.map((x) => (x - t0) / 1000);
  return xs;
}
function toApiX(value, mode, t0) {
  if (mode === "wall") return typeof value === "number" ? value : Date.parse(String(value).replace(" ", "T") + "Z");
  if (mode === "rel") return Number(value) * 1000 + t0;
  return Number(value);
}

// Charts with more points than this draw their lines with WebGL (one context per chart): SVG slows down past it.
const WEBGL_POINTS = 30000;

// lines: [{key, name, colour, x, y, min, max, t0}] of one title -> plotly traces.
function traces(title, lines, settings) {
  const out = [];
  const total = lines.reduce((n, line) => n + line.x.length, 0);
  const lineType = total > WEBGL_POINTS ? "scattergl" : "scatter";
  for (const line of lines) {
    const x = toChartX(line.x, settings.xaxis, line.t0);
    const visible = settings.hidden.has(`${title}|${line.key}`) ? "legendonly" : true;
    if (settings.band && line.min && line.max && line.x.length > 1) {
      out.push({ x, y: line.max, type: "scatter", mode: "lines", line: { width: 0, color: line.colour }, hoverinfo: "skip",
        legendgroup: line.key, showlegend: false, name: `${line.name} max`, visible });
      out.push({ x, y: line.min, type: "scatter", mode: "lines", line: { width: 0, color: line.colour }, fill: "tonexty",
        fillcolor: rgba(line.colour, 0.18), hoverinfo: "skip", legendgroup: line.key, showlegend: false, name: `${line.name} min`, visible });
    }
    out.push({ x, y: ema(line.y, settings.smooth), type: lineType, mode: line.x.length === 1 ? "markers" : "lines",
      name: line.name, legendgroup: line.key, line: { color: line.colour, width: 1.6, dash: line.dash || "solid" }, marker: { color: line.colour },
      hovertemplate: "%{y:.6g}", meta: line.key, visible });
  }
  return out;
}

// A panel of charts. source(range, title) resolves to {titles: {title: lines}} where range is null (everything)
// or [x_min, x_max] in API units; source.poll() (optional) resolves to true when there is new data.
export class ScalarPanel {
  constructor(container, source, { live = () => false, settings }) {
    this.container = container;
    this.source = source;
    this.live = live;
    this.settings = settings;
    this.charts = new Map();  // title -> {div, range, t0}
    this.grid = h("div", { class: "charts" });
    this.stopPoll = null;
    this.onTheme = () => this.charts.forEach((chart) => this.draw(chart));
    window.addEventListener("themechange", this.onTheme);
  }

  toolbar() {
    const s = this.settings;
    const save = () => { setParams({ smooth: s.smooth || "", xaxis: s.xaxis === "iter" ? "" : s.xaxis, log: s.log ? 1 : "", band: s.band ? "" : 0 }); };
    const smoothValue = h("span", { class: "mono" }, s.smooth.toFixed(2));
    return h("div", { class: "toolbar chart-settings" },
      h("label", {}, "Smoothing", h("input", { type: "range", min: 0, max: 0.99, step: 0.01, value: s.smooth, class: "smoothing", oninput: (e) => {
        s.smooth = Number(e.target.value); smoothValue.textContent = s.smooth.toFixed(2); save(); this.redraw();
      } }), smoothValue),
      h("label", {}, "X axis", h("select", { class: "x-axis", onchange: (e) => { s.xaxis = e.target.value; save(); this.reload(); } },
        Object.entries(X_AXES).map(([value, label]) => h("option", { value, selected: s.xaxis === value }, label)))),
      h("label", {}, h("input", { type: "checkbox", checked: s.log, class: "log-scale", onchange: (e) => { s.log = e.target.checked; save(); this.redraw(); } }), "log scale"),
      h("label", {}, h("input", { type: "checkbox", checked: s.band, class: "band", onchange: (e) => { s.band = e.target.checked; save(); this.reload(); } }), "min–max band"));
  }

  async start() {
    replace(this.container, this.toolbar(), this.grid);
    await this.reload();
    if (this.live()) {
      this.stopPoll = poller(async () => {
        if (!this.live()) return;
        if (this.source.poll && !(await this.source.poll())) return;
        await this.refresh();
      }, 1000);
    }
    return () => this.stop();
  }

  stop() {
    if (this.stopPoll) this.stopPoll();
    window.removeEventListener("themechange", this.onTheme);
    this.charts.forEach((chart) => { if (window.Plotly) Plotly.purge(chart.div); });
  }

  buckets() {
    const width = this.grid.clientWidth || 1000;
    const columns = Math.max(1, Math.floor(width / 520));
    return Math.max(100, Math.min(2000, Math.round(width / columns)));
  }

  async reload() {
    this.charts.forEach((chart) => { chart.range = null; });
    await this.refresh();
  }

  // Fetch everything not zoomed in one request, and each zoomed chart's own range.
  async refresh() {
    const [data] = await Promise.all([this.source.fetch(null, null, this.buckets(), this.settings), loadPlotly()]);
    const titles = Object.keys(data.titles).sort();
    if (!titles.length && !this.charts.size) {
      replace(this.grid, empty("No scalars reported yet."));
      return;
    }
    if (!this.charts.size) replace(this.grid);
    for (const title of titles) {
      let chart = this.charts.get(title);
      if (!chart) {
        const div = h("div", { class: "plot" });
        chart = { title, div, range: null, lines: [] };
        this.grid.append(h("div", { class: "chart", dataset: { title } }, h("h3", {}, title), div));
        this.charts.set(title, chart);
      }
      if (chart.range) continue;
      chart.lines = data.titles[title];
      this.draw(chart);
    }
    for (const chart of this.charts.values()) {
      if (chart.range) await this.zoom(chart, chart.range);
    }
  }

  redraw() { this.charts.forEach((chart) => this.draw(chart)); }

  draw(chart) {
    if (!window.Plotly) return;
    const base = themeLayout();
    const t0 = chart.lines.length ? chart.lines[0].t0 : 0;
    const layout = {
      ...base, margin: { l: 50, r: 10, t: 8, b: 30 }, hovermode: chart.lines.length > 20 ? "closest" : "x unified",
      showlegend: true, uirevision: `${chart.title}|${this.settings.xaxis}`,
      // many series: a scrolling legend on the right instead of rows that would squeeze the plot away
      legend: chart.lines.length > 8 ? { orientation: "v", x: 1.02, y: 1, font: { size: 9 } }
        : { orientation: "h", y: -0.18, font: { size: 10 } },
      xaxis: { ...base.xaxis, type: this.settings.xaxis === "wall" ? "date" : "linear",
        title: { text: this.settings.xaxis === "rel" ? "seconds since start" : "" } },
      yaxis: { ...base.yaxis, type: this.settings.log ? "log" : "linear", autorange: true },
    };
    if (chart.range) {
      const shown = this.settings.xaxis === "rel" ? chart.range.map((x) => (x - t0) / 1000) : chart.range;
      layout.xaxis.range = shown;
      layout.xaxis.autorange = false;
    }
    chart.drawing = true;
    Plotly.react(chart.div, traces(chart.title, chart.lines, this.settings), layout, { displaylogo: false, responsive: true })
      .finally(() => { chart.drawing = false; });
    if (!chart.listening) {
      chart.listening = true;
      chart.div.on("plotly_legendclick", (event) => {
        const key = `${chart.title}|${event.data[event.curveNumber].legendgroup}`;
        if (this.settings.hidden.has(key)) this.settings.hidden.delete(key); else this.settings.hidden.add(key);
        setParams({ hide: [...this.settings.hidden] });
        this.draw(chart);
        return false;  // drawn from the settings, so the URL and the chart agree
      });
      chart.div.on("plotly_legenddoubleclick", () => false);
      chart.div.on("plotly_relayout", (event) => {
        if (chart.drawing) return;
        // time since start differs per task: one server-side range cannot serve them all, so plotly zooms alone
        if (this.settings.xaxis === "rel" && new Set(chart.lines.map((line) => line.t0)).size > 1) return;
        const t = chart.lines.length ? chart.lines[0].t0 : 0;
        if (event["xaxis.autorange"]) { chart.range = null; this.zoom(chart, null); return; }
        const lo = event["xaxis.range[0]"] ?? (event["xaxis.range"] || [])[0];
        const hi = event["xaxis.range[1]"] ?? (event["xaxis.range"] || [])[1];
        if (lo === undefined || hi === undefined) return;
        this.zoom(chart, [toApiX(lo, this.settings.xaxis, t), toApiX(hi, this.settings.xaxis, t)]);
      });
    }
  }

  async zoom(chart, range) {
    chart.range = range;
    const data = await this.source.fetch(range, chart.title, this.buckets(), this.settings);
    chart.lines = data.titles[chart.title] || [];
    this.draw(chart);
  }
}

// The source of one task's (or model's) scalars: /api/{kind}/{id}/scalars.
export function taskSource(get, path, name = null) {
  let position = -1;
  return {
    async fetch(range, title, buckets, settings) {
      const data = await get(path, {
        x_axis: settings.xaxis === "iter" ? "iter" : "time", buckets, band: settings.band ? 1 : 0,
        x_min: range ? range[0] : "", x_max: range ? range[1] : "", title: title || "",
      });
      if (!range && !title) position = data.position;
      const titles = {};
      const perTitle = {};
      for (const s of data.series) {
        const i = (perTitle[s.title] = (perTitle[s.title] ?? -1) + 1);
        (titles[s.title] = titles[s.title] || []).push({ key: s.series, name: name ? `${name} ${s.series}` : s.series,
          colour: colour(i), x: s.x, y: s.y, min: s.min, max: s.max, t0: data.t0 || 0 });
      }
      return { titles };
    },
    async poll() {
      const data = await get(path, { since: position, buckets: 1, x_axis: "iter" });
      return !data.unchanged;
    },
  };
}
