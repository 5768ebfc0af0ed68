// The task page: a header with status and actions, and one tab per kind of record.
import { action, get, objectUrl } from "../api.js";
import { app, navigate, params, setParams } from "../app.js";
import { ScalarPanel, chartSettings, taskSource } from "../charts.js";
import { h, replace } from "../dom.js";
import { FINAL, ago, duration, empty, errorBox, poller, statusBadge, tagList, toast, when } from "../util.js";
import { renderPlots } from "./plots.js";

const TABS = [["execution", "Execution"], ["configuration", "Configuration"], ["artifacts", "Artifacts"], ["info", "Info"],
  ["console", "Console"], ["scalars", "Scalars"], ["plots", "Plots"], ["debug", "Debug samples"], ["models", "Models"]];

function kv(rows) {
  return h("table", { class: "grid kv" }, h("tbody", {}, rows.filter(Boolean).map(([k, v]) =>
    h("tr", {}, h("td", {}, k), h("td", {}, v === null || v === undefined || v === "" ? "–" : v)))));
}

export function renderDiff(text) {
  const box = h("div", { class: "diff" });
  for (const line of text.split("\n")) {
    const kind = line.startsWith("diff --git") || line.startsWith("+++") || line.startsWith("---") ? "file"
      : line.startsWith("@@") ? "hunk" : line.startsWith("+") ? "add" : line.startsWith("-") ? "del" : "";
    box.append(h("span", { class: kind }, line || " "));
  }
  return box;
}

function execution(task) {
  const s = task.script || {};
  const rt = task.runtime || {};
  const pip = (s.requirements || {}).pip;
  const container = task.container || {};
  return h("div", {},
    h("h2", {}, "Source"),
    kv([["repository", s.repository], ["branch", s.branch], ["commit", s.version_num && h("span", { class: "mono" }, s.version_num)],
      ["tag", s.tag], ["entry point", s.entry_point], ["working dir", s.working_dir], ["module", s.module],
      ["arguments", (s.argv || []).length ? h("span", { class: "mono" }, (s.argv || []).join(" ")) : null], ["binary", s.binary],
      ["python", rt.python_version && `${rt.python_version} (${rt.implementation || ""})`], ["host", rt.hostname],
      ["container", container.image ? `${container.image} ${container.arguments || ""}` : null]]),
    (s.warnings || []).length ? h("div", { class: "panel muted" }, s.warnings.join("\n")) : null,
    h("h2", {}, "Uncommitted changes"), s.diff ? renderDiff(s.diff) : empty("No uncommitted changes recorded."),
    s.diff_truncated ? h("p", { class: "muted" }, "(diff truncated)") : null,
    s.code ? h("details", {}, h("summary", {}, "Script code"), h("pre", {}, s.code)) : null,
    h("h2", {}, "Installed packages"), pip ? h("pre", { class: "packages" }, pip) : empty("No packages recorded."));
}

function configuration(task) {
  const sections = Object.entries(task.hyperparams || {});
  const configs = Object.entries(task.configuration || {});
  const props = Object.entries(task.user_properties || {});
  return h("div", {},
    h("h2", {}, "Hyperparameters"),
    sections.length ? sections.map(([section, entries]) => h("div", { class: "panel" }, h("h3", {}, section),
      h("table", { class: "grid params" }, h("thead", {}, h("tr", {}, h("th", {}, "name"), h("th", {}, "value"), h("th", {}, "type"), h("th", {}, "description"))),
        h("tbody", {}, Object.entries(entries || {}).map(([name, e]) => h("tr", {}, h("td", {}, name), h("td", { class: "wrap mono" }, (e || {}).value ?? ""),
          h("td", { class: "muted" }, (e || {}).type || ""), h("td", { class: "wrap" }, (e || {}).description || ""))))))) : empty("No hyperparameters."),
    h("h2", {}, "Configuration objects"),
    configs.length ? configs.map(([name, e]) => h("div", { class: "panel" }, h("h3", {}, name), h("pre", {}, (e || {}).value || ""))) : empty("No configuration objects."),
    h("h2", {}, "User properties"),
    props.length ? kv(props.map(([k, v]) => [k, (v || {}).value])) : empty("No user properties."));
}

async function artifacts(task, container) {
  const list = await get(`/tasks/${task.id}/artifacts`);
  if (!list.length) return replace(container, empty("No artifacts."));
  const preview = h("div", { class: "panel artifact-preview" }, h("p", { class: "muted" }, "Choose an artifact to preview it."));
  const show = async (a) => {
    replace(preview, h("p", { class: "muted" }, "Loading…"));
    try {
      const p = await get(`/tasks/${task.id}/artifacts/${encodeURIComponent(a.name)}/preview`);
      const body = p.kind === "image" ? h("img", { src: objectUrl(p.object, a.filename, a.content_type), alt: a.name, style: { maxWidth: "100%" } })
        : p.kind === "json" ? h("pre", {}, JSON.stringify(p.value, null, 2))
        : p.kind === "table" ? h("div", { class: "table-wrap" }, h("table", { class: "grid" }, p.rows.map((r, i) => h("tr", {}, r.map((c) => h(i ? "td" : "th", {}, c))))))
        : p.kind === "text" ? h("pre", {}, p.text)
        : h("pre", {}, p.preview || `(${p.reason})`);
      replace(preview, h("h3", {}, a.name), kv([["type", a.type], ["file", a.filename], ["content type", a.content_type], ["size", a.size === null ? null : `${a.size.toLocaleString()} bytes`],
        ["hash", a.hash && h("span", { class: "mono" }, a.hash)], ["stored in", a.store || (a.url ? a.url : "this store")],
        ["uploaded", when(a.timestamp)], ...Object.entries(a.metadata || {}).map(([k, v]) => [`metadata: ${k}`, v])]),
        a.object ? h("p", {}, h("a", { href: objectUrl(a.object, a.filename, a.content_type, true) }, "Download")) : null,
        body, p.truncated ? h("p", { class: "muted" }, "(preview truncated)") : null);
    } catch (err) { replace(preview, errorBox(err)); }
  };
  replace(container, h("div", { class: "grid2" },
    h("table", { class: "grid artifacts" }, h("thead", {}, h("tr", {}, h("th", {}, "name"), h("th", {}, "type"), h("th", {}, "size"))),
      h("tbody", {}, list.map((a) => h("tr", { onclick: () => show(a), style: { cursor: "pointer" } },
        h("td", {}, h("a", { href: "#", onclick: (e) => e.preventDefault() }, a.name)), h("td", {}, a.type), h("td", { class: "num" }, a.size === null ? "–" : a.size.toLocaleString()))))),
    preview));
  show(list[0]);
}

async function info(task, container) {
  const rows = kv([["id", h("span", { class: "mono" }, task.id)], ["project", h("a", { href: `/tasks?project=${encodeURIComponent(task.project)}`, "data-link": true }, task.project)],
    ["type", task.type], ["status", h("span", {}, statusBadge(task.status, task.alive), " ", task.status_message || "")], ["status reason", task.status_reason],
    ["created", when(task.created)], ["started", when(task.started)], ["completed", when(task.completed)], ["last update", `${when(task.last_update)} (${ago(task.last_update)})`],
    ["duration", task.started ? duration((task.completed || Date.now() / 1000) - task.started) : null], ["user", task.user],
    ["host", (task.runtime || {}).hostname], ["worker", (task.execution || {}).worker], ["queue", (task.execution || {}).queue_name],
    ["parent", task.parent && h("a", { href: `/task/${task.parent}`, "data-link": true, class: "mono" }, task.parent)],
    ["run", task.run], ["last iteration", task.last_iteration], ["heartbeat", task.heartbeat ? ago(task.heartbeat) : null],
    ["comment", h("span", { class: "wrap" }, task.comment || "–", " ", h("button", { class: "write ghost", title: "edit comment", onclick: async () => {
      const text = prompt("Comment", task.comment || "");
      if (text !== null) { await run(task, "comment", { comment: text }); }
    } }, "✎"))]]);
  const timeline = h("div", {}, h("p", { class: "muted" }, "Loading history…"));
  replace(container, rows, h("h2", {}, "History"), timeline);
  const history = await get(`/tasks/${task.id}/history`);
  replace(timeline, h("table", { class: "grid timeline" }, h("thead", {}, h("tr", {}, h("th", {}, "#"), h("th", {}, "time"), h("th", {}, "status"), h("th", {}, "changed"))),
    h("tbody", {}, history.slice().reverse().map((e) => h("tr", {}, h("td", { class: "num" }, e.position), h("td", {}, when(e.time)),
      h("td", {}, statusBadge(e.status)), h("td", { class: "wrap" }, e.changed.join(", ")))))));
}

function highlight(text, search) {
  if (!search) return [text];
  const out = [];
  const lower = text.toLowerCase();
  const needle = search.toLowerCase();
  let at = 0;
  for (let i = lower.indexOf(needle); i >= 0; i = lower.indexOf(needle, at)) {
    out.push(text.slice(at, i), h("mark", {}, text.slice(i, i + needle.length)));
    at = i + needle.length;
  }
  out.push(text.slice(at));
  return out;
}

async function consoleTab(task, container, live) {
  const q = params();
  let search = q.get("q") || "";
  let follow = q.get("follow") !== "0";
  let next = -1;
  const box = h("div", { class: "console", tabindex: 0 });
  const count = h("span", { class: "muted" });
  const addRows = (rows) => {
    const atBottom = box.scrollTop + box.clientHeight >= box.scrollHeight - 30;
    for (const r of rows) {
      const text = r.message.endsWith("\n") ? r.message.slice(0, -1) : r.message;
      box.append(h("span", { class: ["line", r.stream], dataset: { index: r.index } }, highlight(text, search)));
    }
    if (follow && (atBottom || rows.length)) box.scrollTop = box.scrollHeight;
  };
  let run = null;
  const load = async () => {
    let data = await get(`/tasks/${task.id}/console`, { after: next, q: search, tail: 2000 });
    if (run !== null && data.run !== run) {  // the task was reset: its console starts over
      next = -1;
      data = await get(`/tasks/${task.id}/console`, { after: next, q: search, tail: 2000 });
    }
    run = data.run;
    if (next < 0) replace(box);
    addRows(data.rows);
    next = data.next;
    count.textContent = `${data.total.toLocaleString()} lines${search ? " (showing matches)" : ""}`;
    if (next < 0 && !data.rows.length) replace(box, h("span", { class: "muted" }, search ? "No line matches." : "No console output yet."));
  };
  let timer = null;
  replace(container, h("div", { class: "toolbar" },
    h("input", { type: "search", placeholder: "search", value: search, class: "console-search", oninput: (e) => {
      clearTimeout(timer);
      timer = setTimeout(() => { search = e.target.value; setParams({ q: search }); next = -1; load(); }, 300);
    } }),
    h("label", {}, h("input", { type: "checkbox", checked: follow, class: "follow", onchange: (e) => { follow = e.target.checked; setParams({ follow: follow ? "" : 0 }); } }), "follow"),
    h("span", { class: "spacer" }), count), box);
  await load();
  return poller(async () => { if (live()) await load(); }, 1000);
}

async function debugSamples(task, container, base = `/tasks/${task.id}`) {
  const data = await get(`${base}/debug_samples`);
  if (!data.samples.length) return replace(container, empty("No debug samples."));
  const grid = h("div", { class: "samples" });
  for (const group of data.samples) {
    const events = group.events;  // newest first
    const view = h("div", { class: "sample-view" });
    const label = h("div", { class: "caption" });
    const show = (i) => {
      const e = events[i];
      label.textContent = `iteration ${e.iteration} · ${e.name}`;
      const type = (e.content_type || "").toLowerCase();
      let body;
      if (!e.object) body = h("div", { class: "caption" }, `stored at ${e.url}`);
      else if (type.startsWith("image/") && type !== "image/svg+xml") body = h("img", { src: objectUrl(e.object, e.name, type), alt: `${group.title} ${group.series}` });
      else if (type.startsWith("audio/")) body = h("audio", { controls: true, src: objectUrl(e.object, e.name, type) });
      else if (type.startsWith("video/")) body = h("video", { controls: true, src: objectUrl(e.object, e.name, type), style: { maxWidth: "100%" } });
      else if (type === "text/html" || type === "image/svg+xml") body = h("iframe", { sandbox: "", src: objectUrl(e.object, e.name, type), title: e.name });
      else body = h("a", { href: objectUrl(e.object, e.name, type, true) }, `download ${e.name}`);
      replace(view, body);
    };
    const slider = events.length > 1 ? h("input", { type: "range", min: 0, max: events.length - 1, step: 1, value: events.length - 1, class: "iteration-slider",
      oninput: (ev) => show(events.length - 1 - Number(ev.target.value)) }) : null;
    grid.append(h("div", { class: "sample", dataset: { title: group.title, series: group.series } },
      h("h3", {}, `${group.title} / ${group.series}`), view, label, slider ? h("div", { class: "slider" }, "iteration", slider) : null));
    show(0);
  }
  replace(container, grid);
}

function models(task) {
  const side = (name, list) => h("div", { class: "panel" }, h("h3", {}, name),
    list.length ? h("table", { class: "grid" }, h("thead", {}, h("tr", {}, h("th", {}, "model"), h("th", {}, "framework"), h("th", {}, "listed as"))),
      h("tbody", {}, list.map((m) => h("tr", {}, h("td", {}, h("a", { href: `/model/${m.model}`, "data-link": true }, m.model_name || m.model)),
        h("td", {}, m.framework || "–"), h("td", { class: "muted" }, m.name))))) : h("p", { class: "muted" }, "none"));
  const m = task.models || {};
  return h("div", { class: "grid2" }, side("Input models", m.input || []), side("Output models", m.output || []));
}

async function run(task, name, body = {}) {
  try {
    const result = await action(task.id, name, body);
    toast(`${name}: done`);
    return result;
  } catch (err) {
    toast(`${name} failed: ${err.message}`, "error");
    throw err;
  } finally {
    window.dispatchEvent(new CustomEvent("taskchanged"));
  }
}

function cloneDialog(task) {
  const edits = {};
  const rows = Object.entries(task.hyperparams || {}).flatMap(([section, entries]) => Object.entries(entries || {}).map(([name, e]) => {
    const key = `${section}/${name}`;
    return h("tr", {}, h("td", {}, key), h("td", {}, h("input", { value: (e || {}).value ?? "", dataset: { param: key }, oninput: (ev) => { edits[key] = ev.target.value; } })));
  }));
  const nameInput = h("input", { value: `Clone of ${task.name}`, class: "clone-name", style: { width: "100%" } });
  const queueInput = h("input", { placeholder: "queue (optional: enqueue the clone)", class: "clone-queue", style: { width: "100%" } });
  const dialog = h("dialog", { class: "clone-dialog" }, h("h2", {}, "Clone task"),
    h("p", {}, "Name ", nameInput),
    h("div", { class: "table-wrap", style: { maxHeight: "45vh" } }, h("table", { class: "grid" }, h("tbody", {}, rows))),
    h("p", {}, queueInput),
    h("div", { class: "toolbar" }, h("span", { class: "spacer" }), h("button", { onclick: () => dialog.close() }, "Cancel"),
      h("button", { class: "primary clone-submit", onclick: async () => {
        const result = await run(task, "clone", { name: nameInput.value, parameters: edits, queue: queueInput.value.trim() || null });
        dialog.close();
        navigate(`/task/${result.id}`);
      } }, "Clone")));
  dialog.addEventListener("close", () => dialog.remove());
  document.body.append(dialog);
  dialog.showModal();
}

function actions(task) {
  const s = task.status;
  const b = (label, cls, onclick, show = true) => (show ? h("button", { class: ["write", cls], onclick, dataset: { action: label.toLowerCase() } }, label) : null);
  return h("div", { class: "toolbar actions" },
    b("Add tag", "", async () => { const t = prompt("Tag to add"); if (t) await run(task, "tags", { add: [t] }); }),
    b("Rename", "", async () => { const n = prompt("New name", task.name); if (n) await run(task, "rename", { name: n }); }),
    b("Abort", "danger", () => run(task, "abort"), s === "in_progress" || s === "queued"),
    b("Publish", "", () => run(task, "publish"), s === "completed" || s === "stopped"),
    b("Enqueue", "", async () => { const q = prompt("Queue name", "default"); if (q) await run(task, "enqueue", { queue: q }); }, s === "created" || s === "stopped"),
    b("Dequeue", "", () => run(task, "dequeue"), s === "queued"),
    b("Clone", "", () => cloneDialog(task)),
    b(task.archived ? "Restore" : "Archive", "", () => run(task, task.archived ? "restore" : "archive")),
    b("Delete", "danger", async () => {
      if (!confirm(`Delete task ${task.name}?`)) return;
      await run(task, "delete");
      navigate(`/tasks?project=${encodeURIComponent(task.project)}`);
    }));
}

export async function render(container, [taskId, tabName]) {
  const tab = TABS.some(([t]) => t === tabName) ? tabName : "scalars";
  let task = await get(`/tasks/${taskId}`);
  const live = () => !FINAL.has(task.status) && task.status !== "created";
  const header = h("div", {});
  const drawHeader = () => replace(header,
    h("div", { class: "muted" }, h("a", { href: `/tasks?project=${encodeURIComponent(task.project)}`, "data-link": true }, task.project), " / "),
    h("div", { class: "task-head" }, h("h1", { class: "task-name" }, task.name), statusBadge(task.status, task.alive),
      task.archived ? h("span", { class: "tag" }, "archived") : null,
      h("span", { class: "tags" }, (task.tags || []).map((t) => h("span", { class: "tag" }, t,
        h("button", { class: "ghost write", title: `remove tag ${t}`, onclick: () => run(task, "tags", { remove: [t] }) }, "×")))),
      h("span", { class: "muted mono" }, task.id)),
    task.status_message ? h("div", { class: "muted" }, task.status_message) : null,
    app.info.read_only ? null : actions(task));
  drawHeader();
  const tabs = h("div", { class: "tabs" }, TABS.map(([t, label]) => h("a", { href: `/task/${taskId}/${t}`, "data-link": true, class: t === tab ? "active" : "", dataset: { tab: t } }, label)));
  const body = h("div", { class: "tab-body", dataset: { tab } });
  replace(container, header, tabs, body);
  const refreshTask = async () => {
    const fresh = await get(`/tasks/${taskId}`);
    const changed = JSON.stringify([fresh.status, fresh.name, fresh.tags, fresh.archived, fresh.status_message]) !==
      JSON.stringify([task.status, task.name, task.tags, task.archived, task.status_message]);
    task = fresh;
    if (changed) drawHeader();
  };
  const onChanged = () => refreshTask().catch((err) => toast(err.message, "error"));
  window.addEventListener("taskchanged", onChanged);
  const stops = [poller(() => (live() ? refreshTask() : null), 2000), () => window.removeEventListener("taskchanged", onChanged)];
  try {
    if (tab === "execution") replace(body, execution(task));
    else if (tab === "configuration") replace(body, configuration(task));
    else if (tab === "artifacts") await artifacts(task, body);
    else if (tab === "info") await info(task, body);
    else if (tab === "console") stops.push(await consoleTab(task, body, live));
    else if (tab === "scalars") {
      const panel = new ScalarPanel(body, taskSource(get, `/tasks/${taskId}/scalars`), { live, settings: chartSettings(params()) });
      stops.push(await panel.start());
    } else if (tab === "plots") await renderPlots(body, await get(`/tasks/${taskId}/plots`));
    else if (tab === "debug") await debugSamples(task, body);
    else if (tab === "models") replace(body, models(task));
  } catch (err) {
    replace(body, errorBox(err));
  }
  return () => stops.forEach((stop) => stop());
}

export { debugSamples, kv };
