"""Store benchmarks: fstrack operations beside the raw fsspec operations they wrap.

    python benchmarks/bench_store.py [--backend local|s3|all] [--quick]

Measures, on local disk (a temporary directory) and on SeaweedFS (S3, started
through ``tests/servers.py`` on 127.0.0.1):

* object put/get throughput for many small (1 KB) and a few large (64 MB) objects:
  ``Store.put``/``Store.get`` beside ``fs.pipe_file``/``fs.cat_file`` and
  ``Store.put_file``/``Store.get_file`` beside ``fs.put_file``/``fs.get_file``,
  on the very filesystem instance the store uses, with the same sizes;
* the ref update rate (``Refs.update``): one process alone, and 8 real processes
  each applying N increments to one key, beside the raw ``fs.pipe_file`` rate of
  an entry-sized payload (one process, and 8 processes at once).

``ratio`` is fstrack throughput / raw throughput (1.00 = no overhead; >1 = faster
than raw). Local stores can fsync every write (``open_store(..., fsync=True)`` or
``FSTRACK_FSYNC``; the benchmark reports which is the default); raw fsspec operations
never fsync, so local writes are reported with fsync on and off (the fsync-off row is
the like-for-like comparison). Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import queue
import shutil
import sys
import tempfile
import threading
import time
import traceback
import uuid
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
KB = 1024
MB = 1024 * 1024


# ---------------------------------------------------------------------------
# sizes
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Plan:
    small_size: int
    small_count: int
    large_size: int
    large_count: int
    procs: int
    updates_per_proc: int  # contended: each of `procs` processes
    updates_alone: int  # uncontended: one process
    s3_small_count: int
    s3_updates_per_proc: int
    s3_updates_alone: int
    contended_rounds: int  # each contended configuration runs in this many interleaved parts


FULL = Plan(
    small_size=KB,
    small_count=2000,
    large_size=64 * MB,
    large_count=3,
    procs=8,
    updates_per_proc=200,
    updates_alone=1000,
    s3_small_count=500,
    s3_updates_per_proc=50,
    s3_updates_alone=300,
    contended_rounds=2,
)
QUICK = Plan(
    small_size=KB,
    small_count=100,
    large_size=8 * MB,
    large_count=1,
    procs=4,
    updates_per_proc=10,
    updates_alone=50,
    s3_small_count=50,
    s3_updates_per_proc=2,
    s3_updates_alone=20,
    contended_rounds=1,
)


# ---------------------------------------------------------------------------
# results and printing
# ---------------------------------------------------------------------------


@dataclass
class ObjRow:
    backend: str
    op: str  # e.g. "put"
    size: int
    count: int
    fsync: str  # "on" / "off" / "n/a"
    seconds: float
    raw_op: str
    raw_seconds: float
    note: str = ""

    @property
    def ops(self) -> float:
        return self.count / self.seconds

    @property
    def raw_ops(self) -> float:
        return self.count / self.raw_seconds

    @property
    def ratio(self) -> float:
        return self.raw_seconds / self.seconds


@dataclass
class RefRow:
    backend: str
    scenario: str
    procs: int
    fsync: str
    updates: int
    seconds: float
    raw_rate: float  # raw pipe_file/s with the same number of processes
    retries: float = 0.0  # extra fn() calls per committed update
    final: str = ""
    note: str = ""

    @property
    def rate(self) -> float:
        return self.updates / self.seconds


def human_size(n: int) -> str:
    if n >= MB and n % MB == 0:
        return f"{n // MB} MB"
    if n >= KB and n % KB == 0:
        return f"{n // KB} KB"
    return f"{n} B"


def fmt_rate(x: float) -> str:
    if x >= 100:
        return f"{x:,.0f}"
    if x >= 10:
        return f"{x:.1f}"
    return f"{x:.2f}"


def table(headers: list[str], rows: list[list[str]], right: set[int]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]

    def line(cells: list[str]) -> str:
        out = [c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths))]
        return "| " + " | ".join(out) + " |"

    sep = "|" + "|".join(("-" * (w + 1) + ":") if i in right else ("-" * (w + 2)) for i, w in enumerate(widths)) + "|"
    return "\n".join([line(headers), sep, *(line(r) for r in rows)])


def object_table(rows: list[ObjRow]) -> str:
    headers = [
        "backend",
        "size",
        "n",
        "fstrack op",
        "fsync",
        "fstrack ops/s",
        "fstrack MB/s",
        "raw fsspec op (no fsync)",
        "raw ops/s",
        "raw MB/s",
        "ratio",
    ]
    body = []
    for r in rows:
        mbps = r.ops * r.size / MB
        raw_mbps = r.raw_ops * r.size / MB
        body.append(
            [
                r.backend,
                human_size(r.size),
                str(r.count),
                r.op,
                r.fsync,
                fmt_rate(r.ops),
                fmt_rate(mbps),
                r.raw_op,
                fmt_rate(r.raw_ops),
                fmt_rate(raw_mbps),
                f"{r.ratio:.2f}",
            ]
        )
    return table(headers, body, right={2, 5, 6, 8, 9, 10})


def ref_table(rows: list[RefRow]) -> str:
    headers = [
        "backend",
        "Refs.update",
        "procs",
        "fsync",
        "updates",
        "updates/s",
        "retries/update",
        "final value",
        "raw pipe_file/s (same procs, no fsync)",
        "ratio",
    ]
    body = []
    for r in rows:
        body.append(
            [
                r.backend,
                r.scenario,
                str(r.procs),
                r.fsync,
                str(r.updates),
                fmt_rate(r.rate),
                f"{r.retries:.2f}",
                r.final,
                fmt_rate(r.raw_rate),
                f"{r.rate / r.raw_rate:.2f}",
            ]
        )
    return table(headers, body, right={2, 4, 5, 6, 9})


# ---------------------------------------------------------------------------
# worker processes (for the contended runs)
# ---------------------------------------------------------------------------


def _apply_env(env: dict) -> None:
    for k, v in env.items():
        os.environ.setdefault(k, v)


def _worker_main(index: int, jobs, results, barrier) -> None:
    """A long-lived benchmark process: setup, meet the others at the barrier, work, report."""
    import fsspec

    from fstrack.store.objects import pack
    from fstrack.store.refs import Refs
    from fstrack.store.store import open_store

    results.put(("ready", index))
    while True:
        job = jobs.get()
        if job is None:
            # Every result has been read by the parent; skip interpreter teardown (closing S3
            # sessions and fsspec's event loop takes seconds on a loaded machine).
            os._exit(0)
        kind, spec = job
        # Reuse one filesystem instance per process across jobs (fsspec's default instance cache), as a
        # long-lived user process would: building an S3 client costs a few hundred ms of CPU, which on
        # 2 cores shared by 8 processes would otherwise dominate the set-up between jobs.
        spec = {**spec, "options": {k: v for k, v in spec["options"].items() if k != "skip_instance_cache"}}
        try:
            _apply_env(spec["env"])
            if kind == "refs":
                store = open_store(spec["url"], create=False, fsync=spec["fsync"], **spec["options"])
                refs = Refs(store)
                calls = [0]

                def incr(value, calls=calls):
                    calls[0] += 1
                    return (value or 0) + 1

                def work():
                    for _ in range(spec["n"]):
                        refs.update(spec["key"], incr)
            elif kind == "raw":
                # every process writes into one shared directory, as the entries of one ref do
                fs, base = fsspec.url_to_fs(spec["url"], **spec["options"])
                if spec["local"]:
                    os.makedirs(base, exist_ok=True)
                payload = pack([os.urandom(16), 1])  # the size of a ref entry: [write token, value]
                fs.pipe_file(f"{base}/warm-up-{index}", payload)  # connect before the clock starts
                calls = [spec["n"]]

                def work():
                    for i in range(spec["n"]):
                        fs.pipe_file(f"{base}/{i:020d}-{index}", payload)
            else:
                raise ValueError(kind)
        except BaseException:
            results.put(("error", index, traceback.format_exc()))
            barrier.abort()
            continue
        try:
            barrier.wait()
        except threading.BrokenBarrierError:
            results.put(("error", index, "barrier broken (another worker failed)"))
            continue
        try:
            t0 = time.monotonic()
            work()
            t1 = time.monotonic()
            results.put(("done", index, t0, t1, calls[0] - spec["n"]))
        except BaseException:
            results.put(("error", index, traceback.format_exc()))


class WorkerPool:
    """``procs`` spawned processes, started once and reused by every contended run."""

    def __init__(self, procs: int):
        ctx = mp.get_context("spawn")
        self.procs = procs
        self.jobs = ctx.Queue()
        self.results = ctx.Queue()
        self.barrier = ctx.Barrier(procs)
        self.workers = [
            ctx.Process(target=_worker_main, args=(i, self.jobs, self.results, self.barrier), daemon=True)
            for i in range(procs)
        ]
        for w in self.workers:
            w.start()
        ready = 0
        deadline = time.monotonic() + 120
        while ready < procs:
            try:
                msg = self.results.get(timeout=1)
            except queue.Empty:
                dead = [w.exitcode for w in self.workers if not w.is_alive()]
                if dead or time.monotonic() > deadline:
                    self.close()
                    raise RuntimeError(
                        f"benchmark worker processes failed to start (exit codes {dead}); see their tracebacks above"
                    ) from None
                continue
            assert msg[0] == "ready", msg
            ready += 1

    def run(self, kind: str, spec: dict) -> tuple[float, int]:
        """Run one job on every worker at once; (wall seconds from first start to last end, extra fn calls)."""
        for _ in range(self.procs):
            self.jobs.put((kind, spec))
        starts, ends, extra, errors = [], [], 0, []
        for _ in range(self.procs):
            msg = self._result()
            if msg[0] == "done":
                starts.append(msg[2])
                ends.append(msg[3])
                extra += msg[4]
            else:
                errors.append(f"worker {msg[1]}: {msg[2]}")
        if errors:
            self.barrier.reset()
            raise RuntimeError("contended run failed:\n" + "\n".join(errors))
        return max(ends) - min(starts), extra

    def _result(self):
        while True:
            try:
                return self.results.get(timeout=1)
            except queue.Empty:
                if not all(w.is_alive() for w in self.workers):
                    raise RuntimeError("a benchmark worker process died") from None

    def close(self) -> None:
        for _ in self.workers:
            self.jobs.put(None)
        for w in self.workers:
            w.join(timeout=10)
            if w.is_alive():
                w.kill()


# ---------------------------------------------------------------------------
# one backend
# ---------------------------------------------------------------------------


@dataclass
class Target:
    """Where to benchmark: a base URL under which a store and a raw area are made."""

    name: str  # "local" / "s3"
    base_url: str
    options: dict
    env: dict = field(default_factory=dict)

    @property
    def local(self) -> bool:
        return self.name == "local"


def timed(fn, items) -> float:
    t0 = time.perf_counter()
    for item in items:
        fn(item)
    return time.perf_counter() - t0


def race(contestants: dict[str, tuple], rounds: int) -> dict[str, float]:
    """Time several operations fairly: ``contestants`` maps a name to ``(fn, items)``.

    Each item list is cut into ``rounds`` chunks; every round runs one chunk of each
    contestant, in an order rotated from round to round, so that drift in the machine's
    speed (page cache, journal, neighbours) falls on all of them alike. Returns total
    seconds per name.
    """
    names = list(contestants)
    totals = dict.fromkeys(names, 0.0)
    for r in range(rounds):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            fn, items = contestants[name]
            chunk = items[r * len(items) // rounds : (r + 1) * len(items) // rounds]
            totals[name] += timed(fn, chunk)
    return totals


def unique_blob(base: bytes, counter: int) -> bytes:
    """``base`` with its first 8 bytes replaced by a counter: distinct content, hence a distinct object."""
    buf = bytearray(base)
    buf[:8] = counter.to_bytes(8, "little")
    return bytes(buf)


def incr(value):
    return (value or 0) + 1


class Bench:
    small_rounds = 50
    ref_rounds = 50

    def __init__(self, target: Target, plan: Plan, pool: WorkerPool | None, log=print):
        self.t = target
        self.plan = plan
        self.pool = pool
        self.log = log
        self.counter = int.from_bytes(os.urandom(4), "little") << 20
        self.obj_rows: list[ObjRow] = []
        self.ref_rows: list[RefRow] = []
        self.head_rows: list[tuple[str, int, float]] = []  # (backend, entries, seconds per cold head())
        self.scratch = Path(tempfile.mkdtemp(prefix="fstrack-bench-scratch-"))

    # -- helpers -----------------------------------------------------------------
    def open(self, name: str, fsync: bool | None = None):
        from fstrack.store.store import OBJECTS_DIR, open_store

        _apply_env(self.t.env)
        store = open_store(f"{self.t.base_url}/{name}", fsync=fsync, **self.t.options)
        if self.t.local:
            # Steady state: a store holding a few hundred objects has all 256 shard directories;
            # the raw area gets the same directories, so both write into the same tree shape.
            for i in range(256):
                os.makedirs(store.backend.path(f"{OBJECTS_DIR}/{i:02x}"), exist_ok=True)
        return store

    def raw_area(self, store, name: str) -> str:
        """A fresh directory/prefix beside the store's root, on the store's own filesystem instance."""
        parent = store.backend.root.rsplit("/", 1)[0]
        path = f"{parent}/{name}"
        if self.t.local:
            for i in range(256):
                os.makedirs(f"{path}/{i:02x}", exist_ok=True)
        return path

    def next_blob(self, base: bytes) -> bytes:
        self.counter += 1
        return unique_blob(base, self.counter)

    def small_blobs(self, n: int) -> list[bytes]:
        return [os.urandom(self.plan.small_size) for _ in range(n)]

    def variants(self) -> list[tuple[str, bool | None]]:
        """(label, fsync) per store variant: local stores with fsync on and off, object stores once."""
        return [("on", True), ("off", False)] if self.t.local else [("n/a", None)]

    def label(self, variant: str) -> str:
        """How a store variant is shown: "on"/"off", marked "(default)" if that is what open_store does."""
        if variant not in ("on", "off"):
            return variant
        return f"{variant} (default)" if (variant == "on") == DEFAULT_FSYNC else variant

    def row(self, op: str, size: int, n: int, fsync: str, secs: float, raw_op: str, raw_secs: float) -> None:
        fsync = self.label(fsync)
        r = ObjRow(self.t.name, op, size, n, fsync, secs, raw_op, raw_secs)
        self.obj_rows.append(r)
        self.log(
            f"  {self.t.name:5s} {human_size(size):>5s} {op:26s} fsync={fsync:13s} "
            f"{fmt_rate(r.ops):>8s}/s {fmt_rate(r.ops * size / MB):>7s} MB/s   "
            f"raw {raw_op} {fmt_rate(r.raw_ops):>8s}/s   ratio {r.ratio:.2f}"
        )

    # -- small objects -----------------------------------------------------------
    def small_objects(self) -> None:
        from fstrack.store.objects import hash_bytes

        n = self.plan.small_count if self.t.local else self.plan.s3_small_count
        size = self.plan.small_size
        stores = {label: self.open(f"small-fsync-{label}", fsync) for label, fsync in self.variants()}
        first = next(iter(stores.values()))
        fs = first.backend.fs
        raw = self.raw_area(first, "raw-small")

        def raw_path(blob: bytes) -> str:
            return f"{raw}/{hash_bytes(blob)[:2]}/{uuid.uuid4().hex}"

        # warm up every path (connections, imports, directory caches), untimed
        for store in stores.values():
            for blob in self.small_blobs(20):
                store.get(store.put(blob))
                fs.pipe_file(raw_path(blob), blob)

        raw_items = [(raw_path(b), b) for b in self.small_blobs(n)]
        contestants = {"raw": (lambda pb: fs.pipe_file(*pb), raw_items)}
        for label, store in stores.items():
            contestants[label] = (store.put, self.small_blobs(n))
        for label, store in stores.items():  # putting bytes that are already stored: a no-op by contract
            again = self.small_blobs(n)
            for blob in again:
                store.put(blob)
            contestants[f"again-{label}"] = (store.put, again)
        times = race(contestants, self.small_rounds)
        for label in stores:
            self.row("Store.put", size, n, label, times[label], "fs.pipe_file", times["raw"])
        for label in stores:
            self.row(
                "Store.put (already stored)", size, n, label, times[f"again-{label}"], "fs.pipe_file", times["raw"]
            )

        # reads do not depend on fsync: read the objects of the first store
        label0 = next(iter(stores))
        oids = [hash_bytes(b) for b in contestants[label0][1]]
        times = race({"raw": (fs.cat_file, [p for p, _ in raw_items]), "get": (first.get, oids)}, self.small_rounds)
        self.row("Store.get", size, n, "n/a", times["get"], "fs.cat_file", times["raw"])

    # -- large objects -----------------------------------------------------------
    def large_objects(self) -> None:
        from fstrack.store.objects import hash_bytes

        n, size = self.plan.large_count, self.plan.large_size
        base = os.urandom(size)
        stores = {label: self.open(f"large-fsync-{label}", fsync) for label, fsync in self.variants()}
        first = next(iter(stores.values()))
        fs = first.backend.fs
        raw = self.raw_area(first, "raw-large")

        # warm up each path once with a smaller object (connections, first volume on the server), untimed
        warm = os.urandom(min(size, 8 * MB))
        src = self.scratch / "src"
        dst = self.scratch / "dst"
        for store in stores.values():
            store.get(store.put(self.next_blob(warm)))
            src.write_bytes(self.next_blob(warm))
            store.get_file(store.put_file(src)[0], dst)
            path = f"{raw}/warm-{uuid.uuid4().hex}"
            fs.pipe_file(path, warm)
            fs.cat_file(path)
            fs.put_file(str(src), path + "-file")
            fs.get_file(path + "-file", str(dst))
            dst.unlink()

        # bytes in memory: Store.put / Store.get beside fs.pipe_file / fs.cat_file
        put_s = dict.fromkeys(["raw", *stores], 0.0)
        get_s = {"raw": 0.0, "get": 0.0}
        for i in range(n):
            order = list(put_s)[i % len(put_s) :] + list(put_s)[: i % len(put_s)]
            for name in order:
                data = self.next_blob(base)
                if name == "raw":
                    path = f"{raw}/bytes-{uuid.uuid4().hex}"
                    put_s[name] += timed(lambda d: fs.pipe_file(path, d), [data])
                    raw_path = path
                else:
                    put_s[name] += timed(stores[name].put, [data])
                    if stores[name] is first:
                        oid = hash_bytes(data)
            del data
            for name in ["raw", "get"] if i % 2 == 0 else ["get", "raw"]:
                if name == "raw":
                    get_s[name] += timed(fs.cat_file, [raw_path])
                else:
                    get_s[name] += timed(first.get, [oid])
            if self.t.local:  # the figures are taken: keep the temp disk small
                os.unlink(raw_path)
        for label in stores:
            self.row("Store.put", size, n, label, put_s[label], "fs.pipe_file", put_s["raw"])
        self.row("Store.get", size, n, "n/a", get_s["get"], "fs.cat_file", get_s["raw"])

        # files: Store.put_file / Store.get_file beside fs.put_file / fs.get_file
        put_s = dict.fromkeys(["raw", *stores], 0.0)
        get_s = {"raw": 0.0, "get": 0.0}
        for i in range(n):
            order = list(put_s)[i % len(put_s) :] + list(put_s)[: i % len(put_s)]
            for name in order:
                src.write_bytes(self.next_blob(base))
                if name == "raw":
                    path = f"{raw}/file-{uuid.uuid4().hex}"
                    put_s[name] += timed(lambda p: fs.put_file(str(src), p), [path])
                    raw_path = path
                else:
                    t0 = time.perf_counter()
                    oid, _ = stores[name].put_file(src)
                    put_s[name] += time.perf_counter() - t0
                    if stores[name] is first:
                        first_oid = oid
            for name in ["raw", "get"] if i % 2 == 0 else ["get", "raw"]:
                if name == "raw":
                    get_s[name] += timed(lambda p: fs.get_file(p, str(dst)), [raw_path])
                else:
                    get_s[name] += timed(lambda o: first.get_file(o, dst), [first_oid])
                dst.unlink()
            if self.t.local:
                os.unlink(raw_path)
        src.unlink()
        for label in stores:
            self.row("Store.put_file", size, n, label, put_s[label], "fs.put_file", put_s["raw"])
        self.row("Store.get_file", size, n, "n/a", get_s["get"], "fs.get_file", get_s["raw"])
        if self.t.local:
            for store in stores.values():
                shutil.rmtree(store.backend.root, ignore_errors=True)

    # -- refs --------------------------------------------------------------------
    def refs(self) -> None:
        from fstrack.store.objects import pack
        from fstrack.store.refs import Refs

        procs = self.plan.procs
        per_proc = self.plan.updates_per_proc if self.t.local else self.plan.s3_updates_per_proc
        alone = self.plan.updates_alone if self.t.local else self.plan.s3_updates_alone
        payload = pack([os.urandom(16), 1])  # the size of a ref entry holding a small counter: [write token, value]
        stores = {label: self.open(f"refs-fsync-{label}", fsync) for label, fsync in self.variants()}
        first = next(iter(stores.values()))
        fs = first.backend.fs
        parent = first.backend.root.rsplit("/", 1)[0]
        raw = f"{parent}/raw-refs-1"
        if self.t.local:
            os.makedirs(raw, exist_ok=True)

        # one process alone: Refs.update beside fs.pipe_file into one directory
        contestants = {"raw": (lambda i: fs.pipe_file(f"{raw}/{i:020d}", payload), list(range(alone)))}
        refs = {}
        for label, store in stores.items():
            refs[label] = Refs(store)
            refs[label].update("bench/alone", incr)  # warm: the first update lists the (empty) sequence
            contestants[label] = (lambda _, r=refs[label]: r.update("bench/alone", incr), list(range(alone)))
        times = race(contestants, self.ref_rounds)
        for label, store in stores.items():
            final = Refs(store).head("bench/alone")[1]
            self.ref_row(
                RefRow(
                    self.t.name,
                    "1 process alone",
                    1,
                    label,
                    alone,
                    times[label],
                    alone / times["raw"],
                    final=f"{final}/{alone + 1}",
                )
            )

        # A process that has no cached head (a fresh process, or one that lost a race) reads it with
        # Refs.head(), which lists the sequence: time that against the sequence's length.
        Refs(first).update("bench/short", incr)
        for key, entries in (("bench/short", 1), ("bench/alone", alone + 1)):
            reps = 5
            secs = timed(lambda _: Refs(first).head(key), range(reps))
            self.head_rows.append((self.t.name, entries, secs / reps))
            self.log(
                f"  {self.t.name:5s} Refs.head() with no cached head, {entries} entries: {secs / reps * 1000:.1f} ms"
            )
        if self.pool is None:
            return

        # `procs` processes at once: N increments each on one key, beside N raw pipe_files each
        url_parent = self.t.base_url
        jobs = {
            "raw": (
                "raw",
                {
                    "url": f"{url_parent}/raw-refs-{procs}",
                    "options": self.t.options,
                    "env": self.t.env,
                    "n": per_proc // self.plan.contended_rounds,
                    "local": self.t.local,
                },
            )
        }
        for label, fsync in self.variants():
            jobs[label] = (
                "refs",
                {
                    "url": stores[label].url,
                    "options": self.t.options,
                    "env": self.t.env,
                    "fsync": fsync,
                    "key": "bench/contended",
                    "n": per_proc // self.plan.contended_rounds,
                },
            )
        secs = dict.fromkeys(jobs, 0.0)
        extra = dict.fromkeys(jobs, 0)
        names = list(jobs)
        for r in range(self.plan.contended_rounds):
            for name in names[r % len(names) :] + names[: r % len(names)]:
                kind, spec = jobs[name]
                if kind == "raw":
                    spec = {**spec, "url": f"{spec['url']}-{r}"}
                s, e = self.pool.run(kind, spec)
                secs[name] += s
                extra[name] += e
        total = procs * (per_proc // self.plan.contended_rounds) * self.plan.contended_rounds
        raw_rate = total / secs["raw"]
        for label, store in stores.items():
            final = Refs(store).head("bench/contended")[1]
            self.ref_row(
                RefRow(
                    self.t.name,
                    f"{procs} processes, one key",
                    procs,
                    label,
                    total,
                    secs[label],
                    raw_rate,
                    retries=extra[label] / total,
                    final=f"{final}/{total}",
                )
            )

    def ref_row(self, r: RefRow) -> None:
        r.fsync = self.label(r.fsync)
        self.ref_rows.append(r)
        self.log(
            f"  {self.t.name:5s} Refs.update {r.scenario:22s} fsync={r.fsync:13s} {fmt_rate(r.rate):>7s}/s "
            f"retries/update {r.retries:.2f} final {r.final}   raw pipe_file {fmt_rate(r.raw_rate)}/s"
        )

    def run(self) -> None:
        try:
            for part in (self.small_objects, self.large_objects, self.refs):
                t0 = time.monotonic()
                part()
                self.log(f"  ({part.__name__}: {time.monotonic() - t0:.1f}s)")
        finally:
            shutil.rmtree(self.scratch, ignore_errors=True)


# ---------------------------------------------------------------------------
# main
# ---------------------------------------------------------------------------


def _default_fsync() -> bool:
    """Whether ``open_store`` fsyncs a local store when not told (the code's default, or FSTRACK_FSYNC)."""
    from fstrack.store.store import open_store

    with tempfile.TemporaryDirectory(prefix="fstrack-bench-probe-") as tmp:
        return bool(getattr(open_store(os.path.join(tmp, "s")).backend, "fsync", False))


DEFAULT_FSYNC = False  # set in main()


def load() -> str:
    try:
        return " ".join(f"{x:.1f}" for x in os.getloadavg())
    except OSError:
        return "n/a"


def start_s3():
    sys.path.insert(0, str(REPO / "tests"))
    from servers import start_seaweedfs  # tests/servers.py: SeaweedFS `weed mini` on 127.0.0.1

    return start_seaweedfs()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--backend", choices=["local", "s3", "all"], default="all")
    ap.add_argument("--quick", action="store_true", help="small sizes and counts, 4 contending processes: a smoke run")
    ap.add_argument(
        "--procs", type=int, default=None, help="processes for the contended runs (default 8; 4 with --quick)"
    )
    args = ap.parse_args(argv)
    plan = QUICK if args.quick else FULL
    if args.procs:
        from dataclasses import replace

        plan = replace(plan, procs=args.procs)
    backends = ["local", "s3"] if args.backend == "all" else [args.backend]
    global DEFAULT_FSYNC
    DEFAULT_FSYNC = _default_fsync()

    t_start = time.monotonic()
    print(
        f"fstrack store benchmark ({'quick' if args.quick else 'full'} run), {os.cpu_count()} CPUs, "
        f"python {sys.version.split()[0]}, load average {load()} at start"
    )
    t0 = time.monotonic()
    pool = WorkerPool(plan.procs) if plan.procs > 1 else None
    if pool is not None:
        print(f"{plan.procs} worker processes ready in {time.monotonic() - t0:.1f}s")
    obj_rows: list[ObjRow] = []
    ref_rows: list[RefRow] = []
    head_rows: list[tuple[str, int, float]] = []
    failures: list[str] = []
    try:
        for name in backends:
            server = None
            workdir = None
            try:
                if name == "local":
                    workdir = tempfile.mkdtemp(prefix="fstrack-bench-")
                    target = Target("local", workdir, {})
                else:
                    t0 = time.monotonic()
                    server = start_s3()
                    print(f"SeaweedFS started in {time.monotonic() - t0:.1f}s at {server.endpoint}")
                    target = Target(
                        "s3", server.url(f"bench-{uuid.uuid4().hex[:8]}"), server.storage_options, dict(server.env)
                    )
                print(f"== {name}: {target.base_url}")
                bench = Bench(target, plan, pool)
                try:
                    bench.run()
                finally:
                    obj_rows += bench.obj_rows
                    ref_rows += bench.ref_rows
                    head_rows += bench.head_rows
            except Exception as exc:  # noqa: BLE001 - report, go on with the other backend
                traceback.print_exc()
                failures.append(f"{name}: {type(exc).__name__}: {exc}")
            finally:
                if server is not None:
                    t0 = time.monotonic()
                    # A throwaway server: give it 3 s to exit on SIGTERM before the SIGKILL (the
                    # default grace of 15 s would be most of a --quick run when weed is slow to stop).
                    server.process.stop(timeout=3)
                    server.stop()  # removes its work directory
                    print(f"SeaweedFS stopped in {time.monotonic() - t0:.1f}s")
                if workdir is not None:
                    shutil.rmtree(workdir, ignore_errors=True)
    finally:
        if pool is not None:
            pool.close()

    print()
    print(
        "Objects (ratio = fstrack throughput / raw throughput; raw fsspec ops never fsync; "
        f"local stores fsync by default: {'yes' if DEFAULT_FSYNC else 'no'})"
    )
    print(object_table(obj_rows))
    print()
    print(f"Ref updates (Refs.update increments one key; contended = {plan.procs} processes x N increments each;")
    print(" retries/update = extra fn() calls per committed update; ratio = updates/s / raw pipe_file/s)")
    print(ref_table(ref_rows))
    print()
    print("Refs.head() with no cached head (what a fresh process, or Refs.update after a lost race, pays)")
    print(
        table(
            ["backend", "entries in the ref", "ms per head()"],
            [[b, str(e), f"{secs * 1000:.1f}"] for b, e, secs in head_rows],
            right={1, 2},
        )
    )
    print()
    print(
        f"total {time.monotonic() - t_start:.1f}s, load average {load()} at end "
        "(figures taken on a busy machine are not comparable)"
    )
    for f in failures:
        print(f"FAILED {f}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
