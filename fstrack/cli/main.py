"""The ``fstrack`` command: a thin shell over the library."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from typing import Any

from fstrack.errors import FstrackError
from fstrack.records import config
from fstrack.store.fsck import fsck
from fstrack.store.store import Store, open_store
from fstrack.terminal import escape

Command = Callable[[argparse.Namespace], int]


def _storage_options(pairs: Sequence[str]) -> dict:
    options = {}
    for number, pair in enumerate(pairs, 1):
        key, sep, value = pair.partition("=")
        if not sep or not key:  # the text itself is not shown: it may be a credential
            raise FstrackError(f"storage option #{number} (-o) must look like KEY=VALUE; it has no '=' or no key")
        try:
            options[key] = json.loads(value) if value[:1] in "[{" or value in ("true", "false") else value
        except ValueError as exc:
            raise FstrackError(f"storage option {key!r} (-o) is not valid JSON ({exc})") from None
    return options


def _use_store(args: argparse.Namespace, *, must_exist: bool = True) -> None:
    """Make ``--url``/``-o`` (if given) the store of this read-only command (an empty URL is an error, not the
    default); a location holding no store is an error here: only writers create stores."""
    if args.url is not None:
        if not args.url.strip():
            raise FstrackError(
                f"store URL must not be empty, got {args.url!r} (leave it out to use the configured store)"
            )
        config.set_store(args.url, **_storage_options(args.option))
    if must_exist:
        url, options = config.store_location()
        args.store = config.get_taskdb(url, create=False, **options).store


def _open(args: argparse.Namespace, *, create: bool = False) -> Store:
    _use_store(args, must_exist=False)
    url, options = config.store_location()
    args.store = config.get_taskdb(url, create=create, **options).store
    return args.store


def _when(timestamp: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(timestamp)) if timestamp else "-"


def _emit(args: argparse.Namespace, data: Any, lines: Sequence[str]) -> None:
    """Print ``data`` as JSON (which escapes control characters itself) or ``lines``, each escaped so that no
    value from the store can start a line of its own or reach the terminal as a control sequence."""
    if args.json:
        print(json.dumps(data, indent=2, default=str))
    else:
        print("\n".join(escape(line) for line in lines))


def cmd_init(args: argparse.Namespace) -> int:
    store = _open(args, create=True)
    _emit(args, {"url": store.url, "backend": store.backend.name}, [f"fstrack store ready at {store.url}"])
    return 0


def cmd_fsck(args: argparse.Namespace) -> int:
    report = fsck(_open(args))
    summary = {
        "ok": report.ok,
        "objects": report.objects,
        "refs": report.refs,
        "errors": report.errors,
        "warnings": report.warnings,
    }
    lines = [
        *(f"error: {e}" for e in report.errors),
        *(f"warning: {w}" for w in report.warnings),
        f"{'ok' if report.ok else 'CORRUPT'}: {report.objects} objects, {report.refs} ref entries checked, "
        f"{len(report.errors)} errors",
    ]
    _emit(args, summary, lines)
    return 0 if report.ok else 1


def cmd_ls(args: argparse.Namespace) -> int:
    from fstrack.sdk.task import Task

    _use_store(args)
    if args.projects:
        names = [dict(p) for p in Task.get_projects()]
        _emit(args, names, [p["name"] for p in names] if names else ["no projects"])
        return 0
    task_filter = {"status": args.status} if args.status else None
    tasks = Task.get_tasks(
        project_name=args.project,
        task_name=args.name,
        tags=args.tag or None,
        allow_archived=args.archived,
        task_filter=task_filter,
    )
    rows = [t._record or t._data for t in tasks]
    lines = [f"{'ID':32}  {'STATUS':11}  {'UPDATED':19}  PROJECT / NAME  [TAGS]  LAST METRICS"]
    lines += [
        f"{r['id']}  {r['status']:11}  {_when(r.get('last_update'))}  {r['project']} / {r['name']}"
        + (f"  [{', '.join(r['tags'])}]" if r.get("tags") else "")
        + _last_metrics(r)
        for r in rows
    ]
    _emit(args, rows, lines if rows else ["no tasks"])
    return 0


def _last_metrics(record: dict, limit: int = 3) -> str:
    values = [
        f"{title}/{series}={v['last']:.4g}"
        for title, by_series in (record.get("last_metrics") or {}).items()
        if not title.startswith(":monitor:")
        for series, v in by_series.items()
        if isinstance(v.get("last"), (int, float))
    ]
    return ("  " + " ".join(values[:limit]) + (" ..." if len(values) > limit else "")) if values else ""


def cmd_show(args: argparse.Namespace) -> int:
    from fstrack.sdk.task import Task

    _use_store(args)
    task = Task.get_task(task_id=args.task)
    m = task.export_task()
    params = task.get_parameters() or {}
    lines = [
        f"{m['name']}  ({m['project']})",
        f"  id:        {m['id']}",
        f"  status:    {m['status']}" + (f" - {m['status_message']}" if m.get("status_message") else ""),
        f"  type:      {m['type']}",
        f"  user:      {m.get('user')}",
        f"  created:   {_when(m.get('created'))}   updated: {_when(m.get('last_update'))}",
        f"  tags:      {', '.join(m.get('tags') or []) or '-'}",
    ]
    script = m.get("script") or {}
    if script:
        lines.append(
            f"  script:    {script.get('repository') or '(no repository)'} "
            f"{script.get('branch') or ''} {script.get('version_num') or ''} "
            f"{script.get('entry_point') or ''}".rstrip()
        )
    if params:
        lines.append("  parameters:")
        lines += [f"    {k} = {v}" for k, v in params.items()]
    if m.get("configuration"):
        lines.append(f"  configuration: {', '.join(m['configuration'])}")
    for title, series in (m.get("last_metrics") or {}).items():
        for name, value in series.items():
            lines.append(
                f"  metric {title}/{name}: last={value.get('last')} min={value.get('min')} max={value.get('max')}"
            )
    artifacts = {
        name: {"type": a.type, "size": a.size, "hash": a.hash, "url": a.url} for name, a in task.artifacts.items()
    }
    if artifacts:
        lines.append("  artifacts:")
        lines += [
            f"    {name}  {a['type']}  {a['size'] if a['size'] is not None else '-'} bytes  {a['url'] or ''}".rstrip()
            for name, a in artifacts.items()
        ]
    models = {
        side: [
            {"id": model.id, "name": model.name, "framework": model.framework} for model in getattr(task.models, side)
        ]
        for side in ("input", "output")
    }
    for side, listed in models.items():
        if listed:
            lines.append(f"  {side} models:")
            lines += [f"    {model['id']}  {model['name']}  {model['framework'] or ''}".rstrip() for model in listed]
    statuses = _status_history(task.history())
    lines.append("  status history:")
    lines += [f"    {_when(when)}  {status}" for when, status in statuses]
    _emit(
        args,
        {
            **m,
            "artifacts": artifacts,
            "models": models,
            "status_history": [{"time": when, "status": status} for when, status in statuses],
        },
        lines,
    )
    return 0


def _status_history(chain: list[dict]) -> list[tuple[float | None, str]]:
    """``(time, status)`` of every status change in a manifest chain."""
    changes: list[tuple[float | None, str]] = []
    for manifest in chain:
        if not changes or changes[-1][1] != manifest["status"]:
            changes.append((manifest.get("last_update"), manifest["status"]))
    return changes


def cmd_log(args: argparse.Namespace) -> int:
    from fstrack.sdk.task import Task

    _use_store(args)
    task = Task.get_task(task_id=args.task)
    for row in task.iter_console(follow=args.follow, poll_seconds=args.interval):
        if args.json:
            print(json.dumps({**row, "timestamp": row["timestamp"].isoformat()}), flush=True)
        else:
            text = escape(row["message"], keep_lines=True)
            print(text if text.endswith("\n") else text + "\n", end="", flush=args.follow)
    return 0


def cmd_history(args: argparse.Namespace) -> int:
    from fstrack.sdk.task import Task

    _use_store(args)
    chain = Task.get_task(task_id=args.task).history()
    lines: list[str] = []
    before: dict[str, Any] = {}
    for manifest in chain:
        changed = sorted(
            k for k in manifest if k not in ("previous", "last_update", "position") and manifest.get(k) != before.get(k)
        )
        lines.append(
            f"#{manifest['position']:<4} {_when(manifest['last_update'])}  status={manifest['status']:11} "
            f"changed: {', '.join(changed) if before else '(created)'}"
        )
        before = manifest
    _emit(args, chain, lines)
    return 0


def cmd_clone(args: argparse.Namespace) -> int:
    from fstrack.dispatch.queues import queue_id
    from fstrack.records.taskdb import check_project_name
    from fstrack.sdk.parameters import _split_name
    from fstrack.sdk.task import Task

    _use_store(args)
    # everything is checked before anything is written: a bad option leaves no half-made clone behind
    edits = {}
    for item in args.set or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ValueError(f"--set {item!r}: expected SECTION/NAME=VALUE (or NAME=VALUE for section General)")
        _split_name(key)
        edits[key] = value
    if args.enqueue is not None:
        queue_id(args.enqueue)
    if args.project is not None:
        check_project_name(args.project)
    source = Task.get_task(task_id=args.task)
    clone = Task.clone(source, name=args.name, project=args.project)
    if edits:
        clone.update_parameters(edits)
    result: dict[str, Any] = {"id": clone.id, "name": clone.name}
    if args.enqueue is not None:
        result["enqueue"] = Task.enqueue(clone, queue_name=args.enqueue)
    _emit(
        args,
        result,
        [
            f"cloned {args.task} -> {clone.id} ({clone.name})"
            + (f", queued in {args.enqueue!r}" if args.enqueue else "")
        ],
    )
    return 0


def cmd_enqueue(args: argparse.Namespace) -> int:
    from fstrack.sdk.task import Task

    _use_store(args)
    result = Task.enqueue(args.task, queue_name=args.queue, force=args.force)
    _emit(args, result, [f"task {args.task} queued in {args.queue!r}"])
    return 0


def cmd_dequeue(args: argparse.Namespace) -> int:
    from fstrack.sdk.task import Task

    _use_store(args)
    result = Task.dequeue(args.task)
    _emit(args, result, [f"task {args.task} dequeued (back to draft)"])
    return 0


def cmd_queues(args: argparse.Namespace) -> int:
    from fstrack.dispatch.queues import Queues

    queues = Queues(_open(args))
    rows = [dict(q, pending=len(queues.pending(q["id"]))) for q in queues.all()]
    lines = [f"{'QUEUE':24} {'ID':32}  PENDING"] + [f"{q['name']:24} {q['id']}  {q['pending']}" for q in rows]
    _emit(args, rows, lines if rows else ["no queues"])
    return 0


def cmd_diff(args: argparse.Namespace) -> int:
    from fstrack.sdk.task import Task

    _use_store(args)
    a, b = Task.get_task(task_id=args.a), Task.get_task(task_id=args.b)
    sections = {
        "parameter": (a.get_parameters() or {}, b.get_parameters() or {}),
        "configuration": (
            {k: v["value"] for k, v in a._data.get("configuration", {}).items()},
            {k: v["value"] for k, v in b._data.get("configuration", {}).items()},
        ),
        "metric": (
            {
                f"{t}/{s}": v.get("last")
                for t, series in a._data.get("last_metrics", {}).items()
                for s, v in series.items()
            },
            {
                f"{t}/{s}": v.get("last")
                for t, series in b._data.get("last_metrics", {}).items()
                for s, v in series.items()
            },
        ),
    }
    rows = [
        {"kind": kind, "name": name, "a": left.get(name), "b": right.get(name)}
        for kind, (left, right) in sections.items()
        for name in sorted(set(left) | set(right))
        if args.all or left.get(name) != right.get(name)
    ]
    lines = [f"{'':14} {'NAME':40} {a.id[:8]:>20} {b.id[:8]:>20}"]
    lines += [f"{r['kind']:14} {r['name']:40} {str(r['a']):>20} {str(r['b']):>20}" for r in rows]
    _emit(args, rows, lines if rows else ["no differences"])
    return 0


def cmd_config(args: argparse.Namespace) -> int:
    if args.set_url:
        path = config.write_config(
            {**config.read_config(), "url": args.set_url, "storage_options": _storage_options(args.option)}
        )
        _emit(args, {"config": path, "url": args.set_url}, [f"default store set to {args.set_url} in {path}"])
        return 0
    if args.set_ui_url is not None:
        path = config.write_config({**config.read_config(), "ui_url": args.set_ui_url or None})
        _emit(
            args, {"config": path, "ui_url": args.set_ui_url}, f"web UI set to {args.set_ui_url or '(none)'} in {path}"
        )
        return 0
    url, options = config.store_location()
    shown = {
        k: ("***" if any(word in k.lower() for word in config.CREDENTIAL_WORDS) else v) for k, v in options.items()
    }
    _emit(
        args,
        {"url": url, "storage_options": shown, "config": config.config_path(), "offline": config.is_offline()},
        [f"store:   {url}", f"options: {shown or '-'}", f"config:  {config.config_path()}"],
    )
    return 0


def _compact_indexes(store: Store) -> None:
    """Checkpoint the task and model indexes from full listings, deleting the summaries left behind by crashed
    or overtaken writers (spec/tasks.md §7.5); a later collection frees the checkpoints this one replaced."""
    from fstrack.records.modeldb import MODEL_KIND
    from fstrack.records.taskdb import TaskDB

    tasks = TaskDB(store, cache_dir="")
    for db in (tasks, tasks.sibling(MODEL_KIND)):
        db.compact_index()


def cmd_gc(args: argparse.Namespace) -> int:
    from fstrack.store.gc import DEFAULT_GRACE_SECONDS, GCBusyError, gc_command

    url, options = (args.url, {}) if args.url is not None else config.store_location()
    options = {**options, **_storage_options(args.option)}
    try:
        report = gc_command(
            url,
            dry_run=args.dry_run,
            grace_seconds=DEFAULT_GRACE_SECONDS if args.grace is None else args.grace,
            break_lock=args.break_lock,
            **options,
        )
    except GCBusyError as exc:
        print(escape(f"fstrack: {exc}"), file=sys.stderr)
        return 1
    if not args.dry_run:  # only after a collection ran: one refused (a link, a corrupt ref) writes nothing
        _compact_indexes(open_store(url, create=False, **options))
    _emit(args, report, report["text"].split("\n"))
    return 0


def cmd_scalars(args: argparse.Namespace) -> int:
    import pyarrow as pa

    from fstrack.records.analytics import scalars

    _use_store(args)
    bounds = None if args.first is None and args.last is None else (args.first, args.last)
    table = scalars(
        project=args.project,
        task_ids=args.task_ids,
        task_name=args.name,
        tags=args.tag,
        task_filter={"status": args.status} if args.status else None,
        metrics=args.metric,
        series=args.series,
        iterations=bounds,
    )
    if args.parquet:
        import pyarrow.parquet as pq

        pq.write_table(table, args.parquet)
    if args.csv:
        import pyarrow.csv as pcsv

        plain = table.cast(
            pa.schema([(f.name, f.type.value_type if pa.types.is_dictionary(f.type) else f.type) for f in table.schema])
        )
        if args.csv == "-":
            sink = pa.BufferOutputStream()
            pcsv.write_csv(plain, sink)
            sys.stdout.write(sink.getvalue().to_pybytes().decode())
        else:
            pcsv.write_csv(plain, args.csv)
    if args.csv or args.parquet:
        return 0
    shown = table.slice(0, args.limit or None)
    if args.json:
        print(json.dumps(shown.to_pylist(), default=str, indent=2))
        return 0
    frame = shown.to_pandas()
    for column in frame.columns:
        if frame[column].dtype == object or str(frame[column].dtype) == "category":
            frame[column] = frame[column].astype(str).map(escape)
    print(frame.to_string(index=False) if shown.num_rows else "no scalars")
    if args.limit and table.num_rows > args.limit:
        print(f"... {table.num_rows - args.limit} more rows (--limit 0 for all, --csv/--parquet to export)")
    return 0


def cmd_sync(args: argparse.Namespace) -> int:
    from fstrack import sync

    try:
        task_filter = json.loads(args.filter) if args.filter else None
    except ValueError as exc:
        raise FstrackError(f"--filter must be a JSON object, got {args.filter!r} ({exc})") from None
    if task_filter is not None and not isinstance(task_filter, dict):
        raise FstrackError(f'--filter must be a JSON object like \'{{"status": ["completed"]}}\', got {args.filter!r}')
    if args.command == "push" and args.src:
        continued = _push_unsent(args)
        if continued is not None:
            return continued
    show = _progress_line() if sys.stderr.isatty() and not args.quiet else None
    common = dict(
        src_options=_storage_options(args.src_option),
        dst_options=_storage_options(args.dst_option),
        project=args.project,
        task_ids=args.task,
        task_filter=task_filter,
        progress=show,
        workers=args.workers,
    )
    if args.watch:
        if args.command != "push":
            raise FstrackError("--watch works with push only (it mirrors a live local store)")
        if args.dry_run:
            raise FstrackError("--watch cannot be combined with --dry-run")

        def each(round_summary: dict) -> None:
            if args.json:
                print(json.dumps(round_summary), flush=True)
            elif round_summary.get("round") == "failed":
                print(escape(f"fstrack: round failed, retrying: {'; '.join(round_summary['errors'])}"), file=sys.stderr)
            elif round_summary.get("objects_copied") or round_summary.get("refs_appended"):
                print(escape(_sync_text(round_summary), keep_lines=True), flush=True)

        totals = sync.watch(args.src, args.dst, interval=args.interval, on_push=each, **common)
        if not args.json:
            print(f"stopped after {totals['rounds']} rounds", file=sys.stderr)
        return 0
    summary = (sync.push if args.command == "push" else sync.pull)(args.src, args.dst, dry_run=args.dry_run, **common)
    if show is not None:
        show(None)
    _emit(args, summary, _sync_text(summary).split("\n"))
    return 1 if summary["errors"] or summary["conflicts"] else 0


def _push_unsent(args: argparse.Namespace) -> int | None:
    """``fstrack push FOLDER [STORE]`` of what a process saved at exit because its store failed
    (:mod:`fstrack.sdk.unsent`, spec/sync.md §12): continue the task it names. None: FOLDER is not such a folder."""
    from fstrack.sdk import unsent
    from fstrack.sdk.offline_import import continue_task
    from fstrack.sdk.task import Task

    folder = os.path.expanduser(args.src)
    saved = unsent.continuation(folder)
    if saved is None:
        return None
    if saved.get("delivered"):
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(float(saved["delivered"])))
        raise FstrackError(
            f"{args.src} was already pushed into task {saved['task']} ({when}); pushing it again would "
            "repeat its reports"
        )
    if args.dry_run or args.project or args.task or args.filter or args.watch:
        raise FstrackError(
            f"{args.src} holds what one run could not write; push it once, whole (no --watch, --dry-run or filters)"
        )
    continue_task(Task, folder, saved, args.dst, _storage_options(args.dst_option))
    unsent.mark_delivered(folder)
    _emit(args, {"continued": saved["task"]}, [f"stored what was left of task {saved['task']}"])
    return 0


def _progress_line() -> Callable[[Any], None]:
    """A progress callback that redraws one line of stderr (``None`` ends the line)."""
    from fstrack.sync import format_progress

    def show(progress: Any) -> None:
        if progress is None:
            sys.stderr.write("\n")
        else:
            sys.stderr.write(f"\r\033[K{progress.phase:8} {format_progress(progress)}")
        sys.stderr.flush()

    return show


def _sync_text(summary: dict) -> str:
    verb = "would copy" if summary.get("dry_run") else "copied"
    lines = [
        f"{summary.get('direction', 'sync')} {summary['source']} -> {summary['destination']}: {verb} "
        f"{summary['objects_copied']:,} objects ({summary['bytes_copied']:,} bytes), "
        f"{summary['refs_appended']:,} ref entries in {summary['sequences_updated']:,} sequences; "
        f"{summary['objects_skipped']:,} objects already there; {summary['seconds']:.2f}s"
    ]
    lines += [
        f"conflict: {c['kind']} {c['id']} moved on both sides (source at {c['source_head']}, "
        f"destination at {c['destination_head']}, first difference at {c['position']}); left as it is"
        for c in summary["conflicts"]
    ]
    lines += [f"merged diverged log: {key}" for key in summary["logs_merged"]]
    lines += [f"error: {e}" for e in summary["errors"]]
    return "\n".join(lines)


def cmd_ui(args: argparse.Namespace) -> int:
    from fstrack.ui import check_options, serve

    check_options(args.port, args.token)  # bad options first: then whether there is a store at all
    _use_store(args)
    url, options = config.store_location()
    serve(url, options, host=args.host, port=args.port, token=args.token, read_only=args.read_only)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fstrack", description="Serverless experiment tracking on any fsspec URL.")
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name: str, handler: Command, help_text: str, *, positional_url: bool = False) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_text, description=help_text)
        if positional_url:
            sub.add_argument("url", nargs="?", help="store URL or path (default: the configured store)")
            sub.add_argument("--url", dest="url_option", metavar="URL", help="the same, as an option")
        else:
            sub.add_argument("--url", help="store URL or path (default: the configured store)")
        sub.add_argument(
            "-o",
            "--option",
            action="append",
            default=[],
            metavar="KEY=VALUE",
            help="fsspec storage option, repeatable (e.g. -o endpoint_url=http://...)",
        )
        sub.add_argument("--json", action="store_true", help="print machine-readable JSON")
        sub.set_defaults(handler=handler)
        return sub

    add("init", cmd_init, "create a store (writing a task creates one on first use too)", positional_url=True)
    add("fsck", cmd_fsck, "verify every object's hash and every ref; exits 1 on corruption", positional_url=True)
    ls = add("ls", cmd_ls, "list tasks, newest first")
    ls.add_argument("--project", help="exact project name")
    ls.add_argument("--name", help="task name regex (partial match; ^...$ for exact)")
    ls.add_argument("--tag", action="append", help="tag filter, repeatable (-tag excludes)")
    ls.add_argument("--status", action="append", help="only these statuses, repeatable")
    ls.add_argument("--archived", action="store_true", help="include archived tasks")
    ls.add_argument("--projects", action="store_true", help="list projects instead of tasks")
    show = add("show", cmd_show, "show a task: status, parameters, configuration, script, metrics")
    show.add_argument("task", help="task id")
    history = add("history", cmd_history, "the task's manifest chain: what changed and when")
    history.add_argument("task", help="task id")
    diff = add("diff", cmd_diff, "compare two tasks' parameters, configuration and last metrics")
    diff.add_argument("a", help="task id")
    diff.add_argument("b", help="task id")
    diff.add_argument("--all", action="store_true", help="show equal values too")
    clone = add("clone", cmd_clone, "make a Draft copy of a task (configuration, no outputs)")
    clone.add_argument("task", help="task id")
    clone.add_argument("--name", help="name of the copy (default: 'Clone of ...')")
    clone.add_argument("--project", help="project of the copy (default: the original's)")
    clone.add_argument("--set", action="append", metavar="SECTION/NAME=VALUE", help="edit a parameter, repeatable")
    clone.add_argument("--enqueue", metavar="QUEUE", help="put the copy in this queue")
    enqueue = add("enqueue", cmd_enqueue, "put a Draft task in a queue for an agent")
    enqueue.add_argument("task", help="task id")
    enqueue.add_argument("--queue", required=True, help="queue name (created on first use)")
    enqueue.add_argument("--force", action="store_true", help="reset a task that already ran")
    dequeue = add("dequeue", cmd_dequeue, "take a queued task out of its queue (back to Draft)")
    dequeue.add_argument("task", help="task id")
    add("queues", cmd_queues, "list queues and how many tasks wait in each")
    gc = add(
        "gc",
        cmd_gc,
        "reclaim objects no task, model or log references (two phases, a grace period apart; safe while others write)",
        positional_url=True,
    )
    gc.add_argument("--dry-run", action="store_true", help="print what would be freed, change nothing")
    gc.add_argument("--grace", type=float, metavar="SECONDS", help="keep objects younger than this (default 1 day)")
    gc.add_argument(
        "--break-lock",
        action="store_true",
        help="take the gc lock from a collector you know is dead (one on this machine is detected without it)",
    )
    for name, text in (
        ("agent", "run queued tasks: fstrack agent --queue NAME [--workers N] [--once]"),
        ("abort", "stop running or queued tasks: fstrack abort TASK..."),
        ("watchdog", "mark non-responsive tasks aborted and repair expired leases"),
        ("run", "run a command with `import clearml` resolving to fstrack: fstrack run [--url URL] -- python ..."),
    ):
        commands.add_parser(name, help=text, add_help=False)
    log = add("log", cmd_log, "print a task's console output (stdout, stderr, logging, report_text)")
    log.add_argument("task", help="task id")
    log.add_argument("-f", "--follow", action="store_true", help="keep printing new output until the task ends")
    log.add_argument(
        "--interval",
        type=float,
        default=1.0,
        metavar="SECONDS",
        help="how often --follow looks for new output (default 1)",
    )
    for name, text in (
        ("push", "copy tasks to another store, like git push (default: offline folder -> configured store)"),
        ("pull", "copy tasks from another store (default: configured store -> offline folder)"),
    ):
        sync_parser = commands.add_parser(name, help=text, description=text)
        sync_parser.add_argument("src", nargs="?", help="source store URL or path")
        sync_parser.add_argument("dst", nargs="?", help="destination store URL or path (created if missing)")
        sync_parser.add_argument(
            "--src-option",
            action="append",
            default=[],
            metavar="KEY=VALUE",
            help="fsspec storage option of the source, repeatable",
        )
        sync_parser.add_argument(
            "--dst-option",
            action="append",
            default=[],
            metavar="KEY=VALUE",
            help="fsspec storage option of the destination, repeatable",
        )
        sync_parser.add_argument("--project", action="append", help="only this project (and subprojects), repeatable")
        sync_parser.add_argument("--task", action="append", metavar="ID", help="only this task, repeatable")
        sync_parser.add_argument("--filter", metavar="JSON", help="only tasks matching a Task.get_tasks task_filter")
        sync_parser.add_argument("--workers", type=int, default=16, help="parallel transfers (default 16)")
        sync_parser.add_argument("--dry-run", action="store_true", help="report what would be copied, copy nothing")
        sync_parser.add_argument(
            "--watch", action="store_true", help="push: keep mirroring a live local store until Ctrl-C"
        )
        sync_parser.add_argument(
            "--interval",
            type=float,
            default=0.5,
            metavar="SECONDS",
            help="--watch: least time between two rounds (default 0.5)",
        )
        sync_parser.add_argument("-q", "--quiet", action="store_true", help="no progress line")
        sync_parser.add_argument("--json", action="store_true", help="print the summary as JSON")
        sync_parser.set_defaults(handler=cmd_sync)
    sub = add("scalars", cmd_scalars, "print or export (CSV/Parquet) the scalars of matching tasks")
    sub.add_argument("--project", action="append", help="exact project name, repeatable")
    sub.add_argument("--task", action="append", dest="task_ids", help="task id, repeatable")
    sub.add_argument("--name", help="task name regex")
    sub.add_argument("--tag", action="append", help="tag filter, repeatable (-tag excludes)")
    sub.add_argument("--status", action="append", help="only tasks with these statuses, repeatable")
    sub.add_argument("--metric", action="append", help="title (metric) to keep, repeatable")
    sub.add_argument("--series", action="append", help="series (variant) to keep, repeatable")
    sub.add_argument("--from", dest="first", type=int, help="first iteration (inclusive)")
    sub.add_argument("--to", dest="last", type=int, help="last iteration (inclusive)")
    sub.add_argument("--csv", metavar="PATH", help="write CSV to PATH ('-': stdout)")
    sub.add_argument("--parquet", metavar="PATH", help="write Parquet to PATH")
    sub.add_argument("--limit", type=int, default=50, help="rows to print (default 50; 0: all)")
    ui = add(
        "ui",
        cmd_ui,
        "serve the web UI of a store (prints the URL to open; binds 127.0.0.1 unless --host)",
        positional_url=True,
    )
    ui.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1; any other needs a token)")
    ui.add_argument("--port", type=int, default=8765, help="port (default 8765; 0 picks a free one)")
    ui.add_argument("--token", help="access token (default: generated when --host is not a loopback address)")
    ui.add_argument("--read-only", action="store_true", help="turn every action (tags, abort, clone, ...) off")
    cfg = add("config", cmd_config, "show the default store, or set it with --set-url")
    cfg.add_argument("--set-url", metavar="URL", help="make URL (with -o options) the default store")
    cfg.add_argument(
        "--set-ui-url",
        metavar="URL",
        help="the team's fstrack ui (Task.init then prints each task's page there; '' removes it)",
    )
    return parser


def _show_warning(message: Warning | str, category: type[Warning], *_where: Any, **_more: Any) -> None:
    """A warning as one escaped line (``--debug`` keeps Python's format, with the source line)."""
    text = str(message).removeprefix("fstrack: ")
    print(f"fstrack: warning: {escape(text)}", file=sys.stderr)


#: Loggers of the object-store libraries, silent unless ``--debug``: gcsfs logs a traceback for every failed
#: request and a warning when it cannot tell a bucket's type; errors reach the user as one line instead.
_QUIET_LOGGERS = ("gcsfs", "adlfs", "azure", "s3fs", "aiobotocore", "botocore", "google", "grpc")

#: Commands that parse their own arguments (``fstrack agent --help``).
_SELF_PARSED = {"agent": "main_agent", "abort": "main_abort", "watchdog": "main_watchdog"}

RUN_USAGE = """usage: fstrack run [--url URL] [--] COMMAND [ARG ...]

Run COMMAND (e.g. python train.py, python -m pkg) so that `import clearml` in it and in its children resolves
to fstrack: code and libraries written for ClearML (HF Transformers' report_to="clearml", Accelerate's
ClearMLTracker) report to the fstrack store unchanged. Other processes still see a real clearml, if installed.

options:
  --url URL   store URL or path for the run (default: FSTRACK_URL or the configured store)
"""


def main_run(argv: list[str]) -> int:
    """``fstrack run [--url URL] [--] COMMAND ...``: replaces this process with COMMAND (its exit code is ours)."""
    url = None
    while argv and argv[0] != "--" and argv[0].startswith("-"):
        option = argv.pop(0)
        if option in ("-h", "--help"):
            print(RUN_USAGE, end="")
            return 0
        if option == "--url" and argv:
            url = argv.pop(0)
        elif option.startswith("--url="):
            url = option.split("=", 1)[1]
        else:
            print(
                f"fstrack run: error: unknown option {option!r} (expected --url URL, then the command)", file=sys.stderr
            )
            return 2
    if argv and argv[0] == "--":
        argv = argv[1:]
    if not argv:
        print("fstrack run: error: no command given (e.g. fstrack run -- python train.py)", file=sys.stderr)
        return 2
    from fstrack.clearml_shim import environment

    try:
        os.execvpe(argv[0], argv, environment(url=url))
    except OSError as exc:
        print(f"fstrack run: error: cannot run {argv[0]!r}: {exc.strerror or exc}", file=sys.stderr)
        return 127


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "run":
        return main_run(argv[1:])
    if argv and argv[0] in _SELF_PARSED:
        from fstrack.cli import agent

        return getattr(agent, _SELF_PARSED[argv[0]])(argv[1:])
    parser = build_parser()
    args = parser.parse_args(argv)
    option = getattr(args, "url_option", None)
    if option is not None:
        if args.url is not None and args.url != option:
            parser.error(f"give the store URL once: got {args.url!r} and --url {option!r}")
        args.url = option
    if not args.debug:
        warnings.showwarning = _show_warning
        for name in _QUIET_LOGGERS:  # their tracebacks and retry notes would bury the one line an error gets
            logging.getLogger(name).addHandler(logging.NullHandler())
    try:
        return args.handler(args)
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # noqa: BLE001 - one clear line, the traceback only with --debug
        if args.debug:
            raise
        store: Store | None = getattr(args, "store", None)
        unreachable = store.backend.unreachable(exc) if store is not None else None
        if store is not None and unreachable:  # the store answered when opened, then stopped
            message = f"cannot reach store at {store.url!r}: {unreachable}"
        elif isinstance(exc, (FstrackError, LookupError, ValueError, OSError)) and str(exc):
            message = str(exc)
        else:
            message = f"{type(exc).__name__}: {exc}"
        print(f"fstrack: error: {escape(message)}", file=sys.stderr)
        return 2
