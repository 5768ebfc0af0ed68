// Models table: name, framework, tags, task, published, created; filters and sort in the URL.
import { get } from "../api.js";
import { params, setParams } from "../app.js";
import { h, replace } from "../dom.js";
import { empty, errorBox, tagList, when } from "../util.js";

const COLUMNS = [["name", "name"], ["framework", "framework"], ["tags", "tags"], ["project", "project"], ["task", "task"],
  ["published", "published"], ["user", "user"], ["created", "created"], ["last_update", "updated"]];

export async function render(container) {
  const q = params();
  const state = { name: q.get("name") || "", sort: q.get("sort") || "-created", archived: q.get("archived") === "1", project: q.get("project") || "" };
  const table = h("div", { class: "table-wrap" });
  const load = async () => {
    setParams({ name: state.name, sort: state.sort === "-created" ? "" : state.sort, archived: state.archived ? 1 : "", project: state.project });
    try {
      const rows = await get("/models", { name: state.name, sort: state.sort, archived: state.archived ? 1 : "", project: state.project });
      if (!rows.length) return replace(table, empty(state.name ? "No model matches." : "No models yet: OutputModel(task=...).update_weights(...) makes one."));
      const head = h("tr", {}, COLUMNS.map(([key, label]) => {
        const sorted = state.sort.replace(/^-/, "") === key;
        return h("th", { class: sorted ? "sorted" : "", onclick: () => { state.sort = sorted && !state.sort.startsWith("-") ? `-${key}` : key; load(); } },
          label, sorted ? (state.sort.startsWith("-") ? " ▼" : " ▲") : "");
      }));
      replace(table, h("table", { class: "grid models" }, h("thead", {}, head), h("tbody", {}, rows.map((m) => h("tr", { dataset: { id: m.id } },
        h("td", {}, h("a", { href: `/model/${m.id}`, "data-link": true }, m.name)), h("td", {}, m.framework || "–"), h("td", {}, tagList(m.tags)),
        h("td", {}, m.project || "–"), h("td", {}, m.task ? h("a", { href: `/task/${m.task}`, "data-link": true, class: "mono" }, m.task.slice(0, 8)) : "–"),
        h("td", {}, m.published ? "yes" : "no"), h("td", {}, m.user || "–"), h("td", {}, when(m.created)), h("td", {}, when(m.last_update)))))));
    } catch (err) { replace(table, errorBox(err)); }
  };
  let timer = null;
  replace(container, h("h1", {}, "Models"), h("div", { class: "toolbar" },
    h("input", { type: "search", placeholder: "name (regex)", value: state.name, oninput: (e) => { clearTimeout(timer); timer = setTimeout(() => { state.name = e.target.value; load(); }, 300); } }),
    h("label", {}, h("input", { type: "checkbox", checked: state.archived, onchange: (e) => { state.archived = e.target.checked; load(); } }), "archived")), table);
  await load();
}
