// Projects: the a/b/c tree with task counts per status and the last update.
import { get } from "../api.js";
import { h, replace } from "../dom.js";
import { ago, empty, statusBadge } from "../util.js";

export async function render(container) {
  const projects = await get("/projects");
  const list = h("div", { class: "project-tree" });
  replace(container, h("h1", {}, "Projects"), projects.length ? list : empty("No projects yet: run a script with Task.init(project_name=...) against this store."));
  for (const p of projects) {
    const depth = p.name.split("/").length - 1;
    const leaf = p.name.split("/").pop();
    const href = `/tasks?project=${encodeURIComponent(p.name)}&subprojects=1`;
    list.append(h("div", { class: "project-row", dataset: { project: p.name } },
      h("div", { class: "name", style: { paddingLeft: `${depth * 20}px` } },
        depth ? h("span", { class: "muted" }, "└ ") : null, h("a", { href, "data-link": true, title: p.name }, leaf)),
      h("div", { class: "muted" }, `${p.tasks} task${p.tasks === 1 ? "" : "s"}`),
      h("div", { class: "counts" }, Object.entries(p.counts).map(([s, n]) => h("span", {}, statusBadge(s), ` ${n}`))),
      h("div", { class: "muted" }, p.last_update ? `updated ${ago(p.last_update)}` : "")));
  }
}
