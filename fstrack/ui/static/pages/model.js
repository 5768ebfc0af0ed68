// A model: its fields, labels, metadata, weights' location, and what was reported on it.
import { get, objectUrl } from "../api.js";
import { params } from "../app.js";
import { ScalarPanel, chartSettings, taskSource } from "../charts.js";
import { h, replace } from "../dom.js";
import { empty, tagList, when } from "../util.js";
import { renderPlots } from "./plots.js";
import { kv } from "./task.js";

export async function render(container, [modelId]) {
  const m = await get(`/models/${modelId}`);
  const w = m.weights || {};
  const labels = Object.entries(m.labels || {});
  const metadata = Object.values(m.metadata || {});
  const scalars = h("div", {});
  const plots = h("div", {});
  replace(container, h("div", { class: "muted" }, h("a", { href: "/models", "data-link": true }, "Models"), " / "),
    h("div", { class: "task-head" }, h("h1", {}, m.name), m.published ? h("span", { class: "status s-published" }, "published") : null, tagList(m.tags)),
    h("div", { class: "grid2" },
      h("div", {}, h("h2", {}, "Model"), kv([["id", h("span", { class: "mono" }, m.id)], ["framework", m.framework], ["project", m.project],
        ["task", m.task && h("a", { href: `/task/${m.task}`, "data-link": true, class: "mono" }, m.task)], ["iteration", m.iteration], ["user", m.user],
        ["created", when(m.created)], ["updated", when(m.last_update)], ["comment", m.comment],
        ["weights", w.object ? h("a", { href: objectUrl(w.object, w.file, null, true) }, `${w.file || "weights"} (${(w.size || 0).toLocaleString()} bytes)`) : (w.url || null)],
        ["weights store", w.store || null], ["parent", m.parent && h("a", { href: `/model/${m.parent}`, "data-link": true }, m.parent)]])),
      h("div", {}, h("h2", {}, "Labels"), labels.length ? kv(labels.map(([k, v]) => [k, String(v)])) : empty("No labels."),
        h("h2", {}, "Metadata"), metadata.length ? kv(metadata.map((e) => [e.key, `${e.value} (${e.type})`])) : empty("No metadata."))),
    m.design ? h("div", {}, h("h2", {}, "Design"), h("pre", {}, m.design)) : null,
    h("h2", {}, "Scalars"), scalars, h("h2", {}, "Plots"), plots);
  const panel = new ScalarPanel(scalars, taskSource(get, `/models/${modelId}/scalars`), { settings: chartSettings(params()) });
  const stop = await panel.start();
  await renderPlots(plots, await get(`/models/${modelId}/plots`));
  return stop;
}
