"""A minimal second writer of the fstrack store format, written from ``spec/`` alone.

It deliberately imports nothing from the ``fstrack`` package: only the standard library, ``blake3``,
``msgpack`` and ``pyarrow``. Every rule it follows is cited by section, so that a failure of the
conformance test (``tests/test_conformance.py``) points either at this file or at the spec text.

It writes to a local directory (store.md §9.1) and knows tasks (tasks.md), metric segments
(metrics.md) and nothing else. With ``seed`` set, ids, tokens and times are drawn from that seed, so the
store it writes is the same byte for byte on every run: that store is the conformance corpus.

Usage: ``python writer.py STORE_DIR [--seed N]`` writes the corpus scenario and prints, as JSON, what
every conforming reader must see in it.
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import os
import random
import re
import sys
import time
import unicodedata

import blake3
import msgpack
import pyarrow as pa

DOC_LINK, BLOB_LINK = 1, 2  # README.md, "Terminology"; store.md §5
SEQ_DIGITS = 20  # refs.md §3
LINK_ABOVE = 1024  # tasks.md §4.3


class Link:
    """A document or blob link (store.md §5: ext type 1 or 2, the 32 raw digest bytes)."""

    def __init__(self, code: int, hex_id: str):
        self.code, self.hex_id = code, hex_id

    def ext(self) -> msgpack.ExtType:
        return msgpack.ExtType(self.code, bytes.fromhex(self.hex_id))


def _default(value):
    if isinstance(value, Link):
        return value.ext()
    raise TypeError(f"cannot encode {value!r}")


def encode(value) -> bytes:
    """store.md §5: str keys, float 64, bin for bytes, links as ext 8."""
    return msgpack.packb(value, default=_default, use_bin_type=True)


def encode_name(name: str) -> str:
    """refs.md §2."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().lower()
    slug = re.sub(r"[^a-z0-9._-]+", "-", ascii_name).strip(".-")[:48].rstrip(".-") or "_"
    return f"{slug}~{blake3.blake3(name.encode('utf-8', 'surrogatepass')).hexdigest()[:32]}"


def project_id(name: str) -> str:
    """tasks.md §8."""
    return blake3.blake3(b"project:" + name.encode("utf-8", "surrogatepass")).hexdigest()[:32]


class Store:
    """The primitives on a local directory (store.md §8, §9.1)."""

    def __init__(self, root: str, rng: random.Random | None):
        self.root = os.path.abspath(root)
        self.rng = rng
        self.clock = 1_790_000_000.0

    # -- randomness and time: seeded for the corpus, real otherwise ----------------------------------------
    def random_bytes(self, n: int) -> bytes:
        return self.rng.randbytes(n) if self.rng is not None else os.urandom(n)

    def new_id(self) -> str:
        """tasks.md §2: 32 hex digits from at least 122 random bits."""
        return self.random_bytes(16).hex()

    def now(self) -> float:
        if self.rng is None:
            return time.time()
        self.clock += 1.25
        return self.clock

    # -- primitives ---------------------------------------------------------------------------------------
    def _path(self, key: str) -> str:
        return os.path.join(self.root, *key.split("/"))

    def _stage(self, data: bytes) -> str:
        staging = os.path.join(self.root, "tmp")
        os.makedirs(staging, exist_ok=True)
        staged = os.path.join(staging, f"second-{os.urandom(16).hex()}")
        fd = os.open(staged, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        return staged

    def create(self, key: str, data: bytes) -> bool:
        """store.md §9.1: stage in tmp/, link(2) into place; EEXIST is *lost* unless the link count says ours."""
        staged = self._stage(data)
        target = self._path(key)
        try:
            os.makedirs(os.path.dirname(target), exist_ok=True)
            try:
                os.link(staged, target)
                return True
            except FileExistsError:
                return os.stat(staged).st_nlink > 1
        finally:
            os.unlink(staged)

    def replace(self, key: str, data: bytes) -> None:
        """claims.md §2 (POSIX): stage, then rename(2) over the key."""
        staged = self._stage(data)
        os.makedirs(os.path.dirname(self._path(key)), exist_ok=True)
        os.replace(staged, self._path(key))

    def read(self, key: str) -> bytes:
        with open(self._path(key), "rb") as f:
            return f.read()

    def delete(self, key: str) -> None:
        try:
            os.unlink(self._path(key))
        except FileNotFoundError:
            pass

    def listdir(self, prefix: str) -> list[str]:
        try:
            return sorted(os.listdir(self._path(prefix)))
        except FileNotFoundError:
            return []

    # -- the store ----------------------------------------------------------------------------------------
    def open_or_create(self) -> None:
        """store.md §3: refuse a non-empty location without a marker; probe (§9.6); create the marker; read it
        back and apply the compatibility rule (README.md)."""
        marker = os.path.join(self.root, "fstrack.json")
        if not os.path.exists(marker):
            os.makedirs(self.root, exist_ok=True)
            if [n for n in os.listdir(self.root) if n != "tmp"]:
                raise SystemExit(f"{self.root} holds keys but no fstrack.json: not an fstrack store")
            probe = f"tmp/probe-{os.urandom(16).hex()}"
            if not self.create(probe, b"1") or self.create(probe, b"2"):
                raise SystemExit("the filesystem does not honour create-only writes")
            self.delete(probe)
            created = self.clock if self.rng is not None else time.time()
            self.create("fstrack.json", json.dumps({"format": "fstrack", "version": 1, "created": created}).encode())
        found = json.loads(self.read("fstrack.json"))
        version = found.get("version")
        if found.get("format") != "fstrack" or type(version) is not int or not 1 <= version <= 1:
            raise SystemExit(f"unsupported store: {found!r} (this writer supports version 1)")

    def put(self, data: bytes, code: int = BLOB_LINK) -> Link:
        """store.md §4, §7: the object's key is its blake3 hex; storing existing bytes is a no-op."""
        digest = blake3.blake3(data).hexdigest()
        self.create(f"objects/{digest[:2]}/{digest[2:]}", data)
        return Link(code, digest)

    def put_doc(self, value) -> Link:
        return self.put(encode(value), DOC_LINK)

    def get_doc(self, link: Link):
        data = self.read(f"objects/{link.hex_id[:2]}/{link.hex_id[2:]}")
        assert blake3.blake3(data).hexdigest() == link.hex_id  # store.md §6
        return msgpack.unpackb(data, raw=False, strict_map_key=False, ext_hook=_ext_hook)

    # -- sequences (refs.md §3-§6) --------------------------------------------------------------------------
    def _entry_key(self, ref: str, n: int) -> str:
        return f"refs/{ref}/{str(n).zfill(SEQ_DIGITS)}"

    def head(self, ref: str):
        positions = [int(n) for n in self.listdir(f"refs/{ref}") if re.fullmatch(r"[0-9]{20}", n)]
        if not positions:
            return 0, None
        n = max(positions)
        return n, decode_entry(self.read(self._entry_key(ref, n)))

    def try_append(self, ref: str, n: int, value) -> bool:
        """refs.md §6, "Appending at a given position": create entry n with a fresh token, reading back on lost."""
        data = encode([self.random_bytes(16), value])
        if self.create(self._entry_key(ref, n), data):
            return True
        try:
            return self.read(self._entry_key(ref, n)) == data
        except FileNotFoundError:
            return False

    def update(self, ref: str, fn) -> tuple[int, object]:
        """refs.md §6: read the head, compute, create head + 1; on lost, start again."""
        while True:
            n, value = self.head(ref)
            new = fn(value)
            if self.try_append(ref, n + 1, new):
                return n + 1, new


def _ext_hook(code: int, data: bytes):
    if code in (DOC_LINK, BLOB_LINK) and len(data) == 32:
        return Link(code, data.hex())
    return msgpack.ExtType(code, data)


def decode_entry(data: bytes):
    """refs.md §4: [16-byte bin token, value]; anything else is malformed."""
    entry = msgpack.unpackb(data, raw=False, strict_map_key=False, ext_hook=_ext_hook)
    if not (isinstance(entry, list) and len(entry) == 2 and isinstance(entry[0], bytes) and len(entry[0]) == 16):
        raise ValueError("malformed entry")
    return entry[1]


# -- tasks (tasks.md) -------------------------------------------------------------------------------------
SUMMARY_MEMBERS = (
    "id name project type status status_message status_reason tags system_tags user parent comment created "
    "started completed last_update last_iteration archived last_metrics run"
).split()
SUMMARY_SCRIPT = ("repository", "branch", "version_num", "entry_point", "working_dir")
LINKED = (("script", "diff"), ("script", "code"), ("script", "requirements", "pip"))


class Tasks:
    def __init__(self, store: Store):
        self.store = store

    def record_project(self, name: str) -> None:
        """tasks.md §8: the project and each ancestor, with create; lost is fine."""
        parts = name.split("/")
        for depth in range(1, len(parts) + 1):
            path = "/".join(parts[:depth])
            record = {"name": path, "id": project_id(path), "created": self.store.now()}
            self.store.create(f"index/projects/{encode_name(path)}", encode(record))

    def _store_manifest(self, manifest: dict) -> Link:
        """tasks.md §4.3: large script members as blob links to their UTF-8 text, stored before the manifest."""
        stored = copy.deepcopy(manifest)
        for path in LINKED:
            parent = stored
            for part in path[:-1]:
                parent = parent.get(part) if isinstance(parent, dict) else None
            text = parent.get(path[-1]) if isinstance(parent, dict) else None
            if isinstance(text, str) and len(text.encode("utf-8")) > LINK_ABOVE:
                parent[path[-1]] = self.store.put(text.encode("utf-8"))
        return self.store.put_doc(stored)

    def _summary(self, task_id: str, n: int, manifest: dict | None) -> None:
        """tasks.md §7: create summary n, then delete summary n - 1."""
        if manifest is None:
            record = {"id": task_id, "deleted": True}
        else:
            record = {member: manifest.get(member) for member in SUMMARY_MEMBERS}
            record["script"] = {k: (manifest.get("script") or {}).get(k) for k in SUMMARY_SCRIPT}
        self.store.create(f"index/tasks/{task_id}.{str(n).zfill(SEQ_DIGITS)}", encode(record))
        if n > 1:
            self.store.delete(f"index/tasks/{task_id}.{str(n - 1).zfill(SEQ_DIGITS)}")

    def create(self, name: str, project: str, **fields) -> dict:
        """tasks.md §6, "Creating a task"."""
        task_id = self.store.new_id()
        self.record_project(project)
        now = self.store.now()
        manifest = {
            "kind": "task", "id": task_id, "name": name, "project": project, "type": "training",
            "status": "created", "status_message": "", "status_reason": "", "status_changed": now,
            "tags": [], "system_tags": [], "comment": "", "parent": None, "user": "second-writer",
            "created": now, "started": None, "completed": None, "last_update": now, "last_iteration": 0,
            "archived": False, "progress": None, "user_properties": {}, "hyperparams": {},
            "configuration": {}, "labels": {}, "script": {}, "runtime": {}, "container": {},
            "output_uri": None, "execution": {"queue": None, "worker": None}, "run": 1, "artifacts": {},
            "models": {"input": [], "output": []}, "last_metrics": {}, "settings": {}, "previous": None,
        }  # fmt: skip
        manifest.update(fields)
        if manifest["status"] == "in_progress":
            manifest["started"] = now
        link = self._store_manifest(manifest)
        if not self.store.try_append(f"tasks/{task_id}", 1, {"manifest": link, "time": now}):
            raise RuntimeError(f"task id {task_id} is taken")
        self._summary(task_id, 1, manifest)
        return manifest

    def load(self, task_id: str) -> tuple[dict, Link]:
        _n, entry = self.store.head(f"tasks/{task_id}")
        manifest = self.store.get_doc(entry["manifest"])
        for path in LINKED:
            parent = manifest
            for part in path[:-1]:
                parent = parent.get(part) if isinstance(parent, dict) else None
            if isinstance(parent, dict) and isinstance(parent.get(path[-1]), Link):
                blob = parent[path[-1]]
                parent[path[-1]] = self.store.read(f"objects/{blob.hex_id[:2]}/{blob.hex_id[2:]}").decode("utf-8")
        return manifest, entry["manifest"]

    def update(self, task_id: str, change) -> dict:
        """tasks.md §6, "Updating a task": the change runs on the head's manifest inside the swap."""
        done = {}

        def advance(entry):
            if entry is None or entry.get("deleted"):
                raise LookupError(task_id)
            manifest, link = self.load(task_id)
            change(manifest)
            manifest["previous"] = link
            manifest["last_update"] = self.store.now()
            done["manifest"] = manifest
            return {"manifest": self._store_manifest(manifest), "time": manifest["last_update"]}

        n, _ = self.store.update(f"tasks/{task_id}", advance)
        self._summary(task_id, n, done["manifest"])
        return done["manifest"]

    def set_status(self, task_id: str, status: str, **extra) -> dict:
        """tasks.md §5.1: the side effects of a status change."""

        def change(m):
            now = self.store.now()
            final = ("stopped", "completed", "failed", "closed", "published")
            if status == "in_progress" and m["status"] != "in_progress":
                m["started"], m["completed"] = now, None
            if status in final and m["status"] not in final:
                m["completed"] = now
            m.update(status=status, status_changed=now, **extra)

        return self.update(task_id, change)

    def reset(self, task_id: str) -> dict:
        """tasks.md §5.3: a new run computed from the manifest being replaced."""

        def change(m):
            m.update(
                status="created", status_changed=self.store.now(), status_message="reset", run=m["run"] + 1,
                started=None, completed=None, last_iteration=0, last_metrics={}, progress=None, artifacts={},
                models={"input": m["models"]["input"], "output": []},
            )  # fmt: skip

        return self.update(task_id, change)

    def delete(self, task_id: str) -> None:
        """tasks.md §6, "Deleting a task": a tombstone, then index clean-up and the heartbeat."""
        n, _ = self.store.update(f"tasks/{task_id}", lambda entry: {"deleted": True, "time": self.store.now()})
        self._summary(task_id, n, None)
        for old in (n - 1, n - 2):
            self.store.delete(f"index/tasks/{task_id}.{str(old).zfill(SEQ_DIGITS)}")
        self.store.delete(f"heartbeats/{task_id}")

    def beat(self, task_id: str, interval: float) -> None:
        """tasks.md §9."""
        info = {"host": "second-writer", "pid": os.getpid(), "time": self.store.now(), "interval": interval}
        self.store.replace(f"heartbeats/{task_id}", encode(info))


# -- metric segments (metrics.md) ---------------------------------------------------------------------------
_STR = pa.dictionary(pa.int32(), pa.string())
_TS = pa.timestamp("ms", tz="UTC")
COLUMNS = {  # metrics.md §1.2
    "scalars": [("task", _STR, False), ("title", _STR, False), ("series", _STR, False),
                ("iteration", pa.int64(), False), ("timestamp", _TS, False), ("value", pa.float64(), False)],
    "single_values": [("task", _STR, False), ("name", _STR, False), ("timestamp", _TS, False),
                      ("value", pa.float64(), False)],
    "plots": [("task", _STR, False), ("title", _STR, False), ("series", _STR, False),
              ("iteration", pa.int64(), False), ("timestamp", _TS, False), ("plot", pa.string(), False),
              ("object", pa.string(), True)],
    "console": [("task", _STR, False), ("timestamp", _TS, False), ("level", pa.int16(), False),
                ("stream", _STR, False), ("message", pa.string(), False)],
    "debug_samples": [("task", _STR, False), ("title", _STR, False), ("series", _STR, False),
                      ("iteration", pa.int64(), False), ("timestamp", _TS, False), ("kind", _STR, False),
                      ("object", pa.string(), True), ("url", pa.string(), False), ("name", pa.string(), False),
                      ("content_type", _STR, False), ("size", pa.int64(), True), ("width", pa.int32(), True),
                      ("height", pa.int32(), True), ("history", pa.int32(), False)],
}  # fmt: skip


def segment(kind: str, rows: list[dict]) -> bytes:
    """metrics.md §1.1: an Arrow IPC file, metadata V5, one batch, one dictionary per column, ZSTD."""
    fields = COLUMNS[kind]
    schema = pa.schema(
        [pa.field(name, typ, nullable=nullable) for name, typ, nullable in fields],
        metadata={"fstrack.kind": kind, "fstrack.format": "1"},
    )
    arrays = []
    for name, typ, _nullable in fields:
        values = [row[name] for row in rows]
        if name == "timestamp":
            values = [int(math.floor(v * 1000)) for v in values]
        if typ == _STR:
            arrays.append(pa.array(values, pa.string()).dictionary_encode())
        else:
            arrays.append(pa.array(values, pa.int64() if typ == _TS else typ).cast(typ))
    table = pa.Table.from_arrays(arrays, schema=schema)
    sink = pa.BufferOutputStream()
    options = pa.ipc.IpcWriteOptions(compression="zstd", metadata_version=pa.ipc.MetadataVersion.V5)
    with pa.ipc.new_file(sink, schema, options=options) as out:
        out.write_table(table)
    return sink.getvalue().to_pybytes()


class Reporter:
    """One writer of a task's (or model's) segment log (metrics.md §2) and its last_metrics (§6)."""

    def __init__(self, store: Store, tasks: Tasks, task_id: str):
        self.store, self.tasks, self.task_id = store, tasks, task_id
        self.writer = store.new_id()
        self.seq = 0

    def flush(self, run: int, rows: dict[str, list[dict]], *, objects: dict[str, bytes] | None = None) -> dict:
        """Store the blobs rows name, then the segments, then append the entry; fold scalars into the manifest."""
        for data in (objects or {}).values():
            self.store.put(data)
        infos = {}
        for kind, kind_rows in rows.items():
            for row in kind_rows:
                row["task"] = self.task_id
            data = segment(kind, kind_rows)
            info = {"segment": self.store.put(data), "rows": len(kind_rows), "bytes": len(data)}
            if kind in ("scalars", "plots", "debug_samples"):
                info["min_iteration"] = min(r["iteration"] for r in kind_rows)
                info["max_iteration"] = max(r["iteration"] for r in kind_rows)
            named = list(dict.fromkeys(r["object"] for r in kind_rows if r.get("object")))
            if named:
                info["objects"] = [Link(BLOB_LINK, oid) for oid in named]
            infos[kind] = info
        self.seq += 1
        entry = {"v": 1, "run": run, "writer": self.writer, "seq": self.seq, "time": self.store.now(),
                 "segments": infos}  # fmt: skip
        self.store.update(f"segments/{self.task_id}", lambda _old: entry)
        if rows.get("scalars"):
            self.tasks.update(self.task_id, lambda m: fold(m, run, rows["scalars"]))
        return entry

    def append_again(self, entry: dict) -> None:
        """What a transport retry does: the same flush appended twice (metrics.md §3 step 4)."""
        self.store.update(f"segments/{self.task_id}", lambda _old: entry)


def _nanmin(a, b):
    return b if math.isnan(a) else a if math.isnan(b) else min(a, b)


def _nanmax(a, b):
    return b if math.isnan(a) else a if math.isnan(b) else max(a, b)


def fold(manifest: dict, run: int, rows: list[dict]) -> None:
    """metrics.md §6: only for the manifest's run; last by report order, min/max ignoring NaN."""
    if manifest["run"] != run:
        return
    for row in rows:
        series = manifest["last_metrics"].setdefault(row["title"], {})
        value, old = row["value"], series.get(row["series"])
        if old is None:
            series[row["series"]] = {"last": value, "min": value, "max": value}
        else:
            series[row["series"]] = {"last": value, "min": _nanmin(old["min"], value),
                                     "max": _nanmax(old["max"], value)}  # fmt: skip
    manifest["last_iteration"] = max(manifest["last_iteration"], max(r["iteration"] for r in rows))


# -- the corpus scenario ----------------------------------------------------------------------------------
def scalar_rows(store: Store, points: list[tuple[str, str, int, float]]) -> list[dict]:
    return [{"title": t, "series": s, "iteration": i, "timestamp": store.now(), "value": v} for t, s, i, v in points]


def write_corpus(root: str, seed: int | None) -> dict:
    store = Store(root, random.Random(seed) if seed is not None else None)
    store.open_or_create()
    tasks = Tasks(store)
    project = "conformance/second writer"
    diff = "".join(f"+line {i} of an uncommitted change\n" for i in range(200))  # > 1 KiB: a linked blob

    # Task 1: a complete run with every kind of report, a retried flush and last_metrics.
    main = tasks.create(
        "spec only", project, status="in_progress", tags=["corpus", "second"],
        hyperparams={"General": {"lr": {"value": "0.01", "type": "float", "description": ""}},
                     "Args": {"epochs": {"value": "3", "type": "int", "description": "passes"}}},
        configuration={"General": {"value": '{\n  "depth": 3\n}', "type": "dictionary", "description": ""}},
        script={"repository": "", "branch": "", "version_num": "", "entry_point": "train.py", "working_dir": ".",
                "diff": diff, "requirements": {"pip": "numpy==2.0\n"}, "argv": ["train.py"]},
    )  # fmt: skip
    tid = main["id"]
    tasks.beat(tid, interval=30.0)
    reporter = Reporter(store, tasks, tid)
    image = b"\x89PNG\r\n\x1a\n" + bytes(range(64))  # opaque to the format: a blob
    image_id = blake3.blake3(image).hexdigest()
    first_scalars = [("loss", "train", i, 1.0 / (i + 1)) for i in range(5)] + [
        ("loss", "val", 0, float("nan")), ("loss", "val", 1, 0.5), ("loss", "val", 2, float("inf")),
    ]  # fmt: skip
    first = reporter.flush(
        1,
        {
            "scalars": scalar_rows(store, first_scalars),
            "single_values": [{"name": "seed", "timestamp": store.now(), "value": 7.0}],
            "console": [
                {"timestamp": store.now(), "level": 20, "stream": "stdout", "message": "epoch 0"},
                {"timestamp": store.now(), "level": 40, "stream": "stderr", "message": "a warning"},
                {"timestamp": store.now(), "level": 20, "stream": "report", "message": "two\nlines"},
            ],
            "plots": [{"title": "curve", "series": "s", "iteration": 0, "timestamp": store.now(), "object": None,
                       "plot": json.dumps({"data": [{"type": "scatter", "x": [0, 1], "y": [2, 3]}],
                                           "layout": {"title": "s"}})}],
            "debug_samples": [{"title": "img", "series": "s", "iteration": 4, "timestamp": store.now(),
                               "kind": "image", "object": image_id, "url": f"objects/{image_id[:2]}/{image_id[2:]}",
                               "name": "img_s_00000000.png", "content_type": "image/png", "size": len(image),
                               "width": 8, "height": 8, "history": 5}],
        },
        objects={image_id: image},
    )  # fmt: skip
    reporter.append_again(first)  # readers must show its rows once
    second_scalars = [("loss", "train", i, 1.0 / (i + 1)) for i in range(5, 8)] + [("loss", "val", 3, 0.25)]
    reporter.flush(1, {"scalars": scalar_rows(store, second_scalars)})
    tasks.set_status(tid, "completed")
    store.delete(f"heartbeats/{tid}")  # tasks.md §9: the run ended

    # Task 2: reset once; only run 2's rows are the task's.
    reset = tasks.create("was reset", project, status="in_progress")
    rid = reset["id"]
    old = Reporter(store, tasks, rid)
    old.flush(1, {"scalars": scalar_rows(store, [("acc", "val", 0, 0.1), ("acc", "val", 1, 0.2)])})
    tasks.reset(rid)
    tasks.set_status(rid, "in_progress")
    Reporter(store, tasks, rid).flush(2, {"scalars": scalar_rows(store, [("acc", "val", 0, 0.9)])})
    tasks.set_status(rid, "completed")

    # Task 3: deleted; no reader lists it.
    gone = tasks.create("deleted", project)
    tasks.delete(gone["id"])

    def listed(points):
        return [[t, s, i, None if math.isnan(v) else v] for t, s, i, v in points]

    return {
        "store": store.root,
        "project": project,
        "tasks_newest_first": [rid, tid],
        "deleted": gone["id"],
        "tasks": {
            tid: {
                "name": "spec only", "status": "completed", "tags": ["corpus", "second"], "run": 1,
                "parameters": {"General/lr": "0.01", "Args/epochs": "3"}, "diff": diff,
                "scalars": listed(first_scalars + second_scalars),
                "console": ["epoch 0", "a warning", "two\nlines"],
                "last_metrics": {"loss": {"train": {"last": 0.125, "min": 0.125, "max": 1.0},
                                          "val": {"last": 0.25, "min": 0.25, "max": "inf"}}},
                "last_iteration": 7, "image": image_id, "single_values": {"seed": 7.0},
            },
            rid: {"name": "was reset", "status": "completed", "tags": [], "run": 2, "parameters": {},
                  "scalars": [["acc", "val", 0, 0.9]], "console": [],
                  "last_metrics": {"acc": {"val": {"last": 0.9, "min": 0.9, "max": 0.9}}}, "last_iteration": 0},
        },
    }  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("store", help="a local directory (created if missing)")
    parser.add_argument("--seed", type=int, default=None, help="draw ids, tokens and times from this seed")
    args = parser.parse_args(argv)
    json.dump(write_corpus(args.store, args.seed), sys.stdout, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
