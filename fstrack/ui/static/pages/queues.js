// Queues (pending entries, oldest first) and workers (the tasks they run, with lease ages).
import { action, get } from "../api.js";
import { h, replace } from "../dom.js";
import { ago, empty, errorBox, poller, toast } from "../util.js";

export async function render(container) {
  const holder = h("div", {});
  replace(container, h("h1", {}, "Queues & workers"), holder);
  const load = async () => {
    try {
      const data = await get("/queues");
      replace(holder,
        h("h2", {}, "Queues"),
        data.queues.length ? h("table", { class: "grid queues" }, h("thead", {}, h("tr", {}, h("th", {}, "queue"), h("th", {}, "pending"), h("th", {}, "entries (oldest first)"))),
          h("tbody", {}, data.queues.map((q) => h("tr", { dataset: { queue: q.name } }, h("td", {}, q.name), h("td", { class: "num" }, q.pending.length),
            h("td", { class: "wrap" }, q.pending.length ? q.pending.map((e) => h("div", {}, h("a", { href: `/task/${e.task}`, "data-link": true }, e.name || e.task),
              h("span", { class: "muted" }, ` queued ${ago(e.enqueued)} `),
              h("button", { class: "write ghost", title: "dequeue", onclick: async () => {
                try { await action(e.task, "dequeue"); toast("dequeued"); } catch (err) { toast(err.message, "error"); }
                load();
              } }, "dequeue"))) : h("span", { class: "muted" }, "empty"))))))
          : empty("No queues: Task.enqueue(task, queue_name=...) or fstrack enqueue creates one."),
        h("h2", {}, "Workers"),
        data.workers.length ? h("table", { class: "grid workers" }, h("thead", {}, h("tr", {}, h("th", {}, "worker"), h("th", {}, "task"), h("th", {}, "queue"), h("th", {}, "started"), h("th", {}, "lease age"))),
          h("tbody", {}, data.workers.flatMap((w) => w.tasks.map((t) => h("tr", {}, h("td", {}, w.worker), h("td", {}, h("a", { href: `/task/${t.task}`, "data-link": true }, t.name || t.task)),
            h("td", {}, t.queue || "–"), h("td", {}, ago(t.started)), h("td", { class: "num" }, t.lease_age === null ? "–" : `${t.lease_age.toFixed(1)}s / ${t.lease_ttl}s`))))))
          : empty("No task is running."));
    } catch (err) { replace(holder, errorBox(err)); }
  };
  await load();
  return poller(load, 3000);
}
