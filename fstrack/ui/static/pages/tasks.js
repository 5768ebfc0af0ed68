// Tasks table: server-side filter, sort and paging; user-chosen columns; multi-select for compare and bulk actions.
import { action, get } from "../api.js";
import { navigate, params, setParams } from "../app.js";
import { h, replace } from "../dom.js";
import { duration, empty, errorBox, num, poller, statusBadge, tagList, toast, when } from "../util.js";

const STATUSES = ["created", "queued", "in_progress", "stopped", "completed", "failed", "published"];
const DEFAULT_COLUMNS = ["status", "type", "name", "tags", "user", "started", "last_update", "duration"];
const PAGE_SIZE = 100;
const BASE_LABELS = { last_update: "updated", last_iteration: "iteration", status_message: "message" };

export function columnLabel(column) {
  const parts = column.split("/").map(decodeURIComponent);
  if (parts[0] === "metric") return `${parts[1]} / ${parts[2]} (${parts[3]})`;
  if (parts[0] === "param") return `${parts[1]} / ${parts[2]}`;
  return BASE_LABELS[column] || column;
}

function cell(column, row) {
  const value = row[column];
  if (column === "status") return h("td", {}, statusBadge(value));
  if (column === "name") return h("td", { title: value }, h("a", { href: `/task/${row.id}`, "data-link": true }, value || "(no name)"));
  if (column === "tags") return h("td", {}, tagList(value));
  if (["created", "started", "last_update", "completed"].includes(column)) return h("td", { class: "mono" }, when(value));
  if (column === "duration") return h("td", { class: "num" }, duration(value));
  if (column === "id" || column === "parent") return h("td", { class: "mono" }, value ? value.slice(0, 8) : "–");
  if (column.startsWith("metric/") || typeof value === "number") return h("td", { class: "num" }, num(value));
  return h("td", { title: value === null || value === undefined ? "" : String(value) }, value === null || value === undefined ? "–" : String(value));
}

function multiChoice(label, options, selected, onChange) {
  const chosen = new Set(selected);
  const summary = h("summary", {}, `${label}${chosen.size ? ` (${chosen.size})` : ""}`);
  const box = h("details", { class: "multi" }, summary, h("div", { class: "panel menu" }, options.map((o) =>
    h("label", { style: { display: "block" } }, h("input", { type: "checkbox", checked: chosen.has(o), onchange: (e) => {
      if (e.target.checked) chosen.add(o); else chosen.delete(o);
      summary.textContent = `${label}${chosen.size ? ` (${chosen.size})` : ""}`;
      onChange([...chosen]);
    } }), ` ${o === "in_progress" ? "running" : o}`))));
  return box;
}

function debounce(fn, ms) {
  let timer = null;
  return (...args) => { clearTimeout(timer); timer = setTimeout(() => fn(...args), ms); };
}

export async function render(container) {
  const q = params();
  const state = {
    project: q.get("project") || "", subprojects: q.get("subprojects") === "1", status: q.getAll("status"), type: q.getAll("type"),
    user: q.getAll("user"), tag: q.get("tag") || "", name: q.get("name") || "", archived: q.get("archived") === "1",
    sort: q.get("sort") || "-last_update", columns: q.get("cols") ? q.get("cols").split(",") : DEFAULT_COLUMNS,
    page: Number(q.get("page") || 0),
  };
  const selected = new Set();
  const tableWrap = h("div", { class: "table-wrap" });
  const pager = h("div", { class: "pager" });
  const selection = h("span", { class: "muted" });
  let lastData = null;
  let choices = null;

  const saveState = () => setParams({
    project: state.project, subprojects: state.subprojects ? 1 : "", status: state.status, type: state.type, user: state.user,
    tag: state.tag, name: state.name, archived: state.archived ? 1 : "", sort: state.sort === "-last_update" ? "" : state.sort,
    cols: state.columns.join(",") === DEFAULT_COLUMNS.join(",") ? "" : state.columns.join(","), page: state.page || "",
  });

  const load = async () => {
    const data = await get("/tasks", {
      project: state.project, subprojects: state.subprojects ? 1 : "", status: state.status.join(","), type: state.type.join(","),
      user: state.user, tag: state.tag ? state.tag.split(",").map((t) => t.trim()).filter(Boolean) : [], name: state.name,
      archived: state.archived ? 1 : "", sort: state.sort, column: ["name", ...state.columns.filter((c) => c !== "name")].join(","),
      offset: state.page * PAGE_SIZE, limit: PAGE_SIZE,
    });
    lastData = data;
    draw(data);
  };
  const reload = () => { saveState(); load().catch((err) => replace(tableWrap, errorBox(err))); };

  const updateSelection = () => {
    selection.textContent = selected.size ? `${selected.size} selected` : "";
    compareButton.disabled = selected.size < 2;
    bulk.forEach((b) => { b.disabled = selected.size === 0; });
  };

  const draw = (data) => {
    const head = h("tr", {}, h("th", { style: { width: "28px" } }, h("input", { type: "checkbox", title: "select this page", onchange: (e) => {
      data.rows.forEach((r) => (e.target.checked ? selected.add(r.id) : selected.delete(r.id)));
      draw(data); updateSelection();
    } })));
    for (const column of state.columns) {
      const sorted = state.sort.replace(/^-/, "") === column;
      head.append(h("th", { class: sorted ? "sorted" : "", title: `sort by ${columnLabel(column)}`, onclick: () => {
        state.sort = sorted && !state.sort.startsWith("-") ? `-${column}` : column;
        state.page = 0; reload();
      } }, columnLabel(column), sorted ? (state.sort.startsWith("-") ? " ▼" : " ▲") : ""));
    }
    const body = h("tbody", {});
    for (const row of data.rows) {
      const tr = h("tr", { class: selected.has(row.id) ? "selected" : "", dataset: { id: row.id } },
        h("td", {}, h("input", { type: "checkbox", checked: selected.has(row.id), onchange: (e) => {
          if (e.target.checked) selected.add(row.id); else selected.delete(row.id);
          tr.classList.toggle("selected", e.target.checked); updateSelection();
        } })),
        state.columns.map((c) => cell(c, row)));
      body.append(tr);
    }
    replace(tableWrap, data.rows.length ? h("table", { class: "grid tasks" }, h("thead", {}, head), body)
      : empty(data.total === 0 && !state.name && !state.status.length && !state.tag ? "No tasks here yet." : "No task matches these filters."));
    const first = data.total ? data.offset + 1 : 0;
    replace(pager,
      h("button", { disabled: state.page === 0, onclick: () => { state.page -= 1; reload(); } }, "‹ Prev"),
      `${first.toLocaleString()}–${(data.offset + data.rows.length).toLocaleString()} of ${data.total.toLocaleString()}`,
      h("button", { disabled: data.offset + data.rows.length >= data.total, onclick: () => { state.page += 1; reload(); } }, "Next ›"));
  };

  const chooseColumns = async () => {
    choices = choices || await get("/columns", { project: state.project, subprojects: state.subprojects ? 1 : "" });
    const picked = new Set(state.columns);
    const box = (id, label) => h("label", {}, h("input", { type: "checkbox", checked: picked.has(id), onchange: (e) => {
      if (e.target.checked) picked.add(id); else picked.delete(id);
    } }), ` ${label}`);
    const dialog = h("dialog", { class: "columns-dialog" },
      h("h2", {}, "Columns"),
      h("h3", {}, "Fields"), h("div", { class: "choices" }, choices.base.map((c) => box(c, columnLabel(c)))),
      h("h3", {}, "Metrics"), choices.metrics.length ? h("div", { class: "choices" }, choices.metrics.flatMap((m) =>
        m.columns.map((c) => box(c, columnLabel(c))))) : h("p", { class: "muted" }, "no metrics reported"),
      h("h3", {}, "Hyperparameters"), choices.params.length ? h("div", { class: "choices" }, choices.params.map((p) => box(p.id, `${p.section} / ${p.name}`)))
        : h("p", { class: "muted" }, "no hyperparameters"),
      h("div", { class: "toolbar" }, h("span", { class: "spacer" }),
        h("button", { onclick: () => dialog.close() }, "Cancel"),
        h("button", { class: "primary", onclick: () => {
          const order = [...state.columns.filter((c) => picked.has(c)), ...[...picked].filter((c) => !state.columns.includes(c))];
          state.columns = order.length ? order : DEFAULT_COLUMNS;
          dialog.close(); reload();
        } }, "Apply")));
    dialog.addEventListener("close", () => dialog.remove());
    document.body.append(dialog);
    dialog.showModal();
  };

  const bulkAction = async (name, body) => {
    const ids = [...selected];
    const results = await Promise.allSettled(ids.map((id) => action(id, name, body)));
    const failed = results.filter((r) => r.status === "rejected");
    toast(failed.length ? `${name}: ${failed.length} of ${ids.length} failed: ${failed[0].reason.message}` : `${name}: ${ids.length} task(s) done`,
      failed.length ? "error" : "info");
    selected.clear(); updateSelection(); await load();
  };

  const compareButton = h("button", { class: "primary", disabled: true, onclick: () =>
    navigate(`/compare?ids=${[...selected].join(",")}`) }, "Compare");
  const bulk = [
    h("button", { class: "write", disabled: true, onclick: () => {
      const tag = prompt("Tag to add to the selected tasks");
      if (tag) bulkAction("tags", { add: [tag] });
    } }, "Add tag"),
    h("button", { class: "write", disabled: true, onclick: () => bulkAction(state.archived ? "restore" : "archive") },
      state.archived ? "Restore" : "Archive"),
  ];
  const onName = debounce((value) => { state.name = value; state.page = 0; reload(); }, 300);
  const onTag = debounce((value) => { state.tag = value; state.page = 0; reload(); }, 400);
  const typeSlot = h("span", {});
  const userSlot = h("span", {});
  replace(container,
    h("h1", {}, state.project ? `Tasks of ${state.project}` : "All tasks"),
    h("div", { class: "toolbar" },
      h("input", { type: "search", placeholder: "name (regex)", value: state.name, oninput: (e) => onName(e.target.value), class: "name-filter" }),
      multiChoice("Status", STATUSES, state.status, (v) => { state.status = v; state.page = 0; reload(); }),
      typeSlot, userSlot,
      h("input", { type: "search", placeholder: "tags: a, -b, __$any …", value: state.tag, title: "ClearML tag language, comma-separated", oninput: (e) => onTag(e.target.value) }),
      state.project ? h("label", {}, h("input", { type: "checkbox", checked: state.subprojects, onchange: (e) => { state.subprojects = e.target.checked; state.page = 0; choices = null; reload(); } }), "subprojects") : null,
      h("label", {}, h("input", { type: "checkbox", checked: state.archived, onchange: (e) => { state.archived = e.target.checked; state.page = 0; reload(); } }), "archived"),
      h("button", { onclick: chooseColumns }, "Columns…"),
      h("span", { class: "spacer" }), selection, ...bulk, compareButton),
    tableWrap, pager);
  const firstPage = load().catch((err) => replace(tableWrap, errorBox(err)));
  get("/columns", { project: state.project, subprojects: state.subprojects ? 1 : "" }).then((info) => {
    choices = info;
    replace(typeSlot, multiChoice("Type", info.types, state.type, (v) => { state.type = v; state.page = 0; reload(); }));
    replace(userSlot, multiChoice("User", info.users, state.user, (v) => { state.user = v; state.page = 0; reload(); }));
  }).catch((err) => console.warn(err));
  await firstPage;
  return poller(() => load(), 5000);
}
