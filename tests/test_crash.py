"""SIGKILL a writer at random moments: the store must stay consistent every single time.

The writer (tests/workers/crash_writer.py) is a real process that loops over object, stream,
file, document and ref writes, printing each write's result once it has returned. After each
SIGKILL: fsck finds no error (a young staging file left in tmp/ is not one), every object the
writer reported reads back and verifies, every reported ref entry is there with its links,
and the CAS head's counter equals its position (no update lost or applied twice).
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import time

import pytest
from workers.common import WORKERS, child_env, location_to_json

from fstrack.store.fsck import fsck
from fstrack.store.refs import Refs
from fstrack.store.store import open_store

# Kills per backend. The spec asks for 100 on local disk; object stores are slower per write
# (and per fsck, which re-reads the whole store each time), so fewer there.
KILLS = {"local": 100, "s3": 10, "azure": 5, "gcs": 5}
# Seconds the writer runs after it said "ready" before it is killed: uniform in this range.
RUN_SECONDS = {"local": (0.0, 0.15), "s3": (0.0, 1.5), "azure": (0.0, 1.5), "gcs": (0.0, 1.5)}


def _start_writer(loc, seed: int, out_path: str, env: dict) -> subprocess.Popen:
    with open(out_path, "wb") as out:  # a file, not a pipe: a full pipe would stall the writer
        return subprocess.Popen(
            [sys.executable, str(WORKERS / "crash_writer.py"), location_to_json(loc), str(seed)],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
        )


def _wait_ready(proc: subprocess.Popen, out_path: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with open(out_path, "rb") as f:
            if f.readline() == b'"ready"\n':
                return
        if proc.poll() is not None:
            break
        time.sleep(0.005)
    proc.kill()
    proc.wait()
    with open(out_path, "rb") as f:
        raise AssertionError(f"writer never got ready:\n{f.read().decode(errors='replace')[-4000:]}")


def _reports(out_path: str) -> list[dict]:
    """Every complete line the writer printed before it died (a torn last line is ignored)."""
    with open(out_path, "rb") as f:
        text = f.read().decode()
    lines = text.split("\n")[:-1]  # whatever follows the last newline was cut by the kill
    assert lines and lines[0] == '"ready"', text[-2000:]
    reports = [json.loads(line) for line in lines[1:]]
    assert all(isinstance(r, dict) for r in reports), f"the writer printed something unexpected: {text[-2000:]}"
    return reports


@pytest.mark.timeout(900)
def test_sigkilled_writer_never_leaves_the_store_inconsistent(store_location, tmp_path):
    loc = store_location
    if loc.name == "memory":
        pytest.skip("memory:// is private to one process: a killed writer's store dies with it")
    kills = KILLS[loc.name]
    low, high = RUN_SECONDS[loc.name]
    store = open_store(loc.url, **loc.storage_options)
    refs = Refs(store)
    env = child_env(loc)
    writer_tmp = tmp_path / "writer-tmp"  # the writer's local temp files (staging on object stores)
    writer_tmp.mkdir()
    env["TMPDIR"] = str(writer_tmp)
    rng = random.Random(20240611)
    objects: dict[str, str] = {}  # id -> "blob" | "doc", everything any writer reported
    refs_seen: dict[str, int] = {}  # ref key -> highest position reported
    writes = 0
    started = time.monotonic()

    for kill in range(kills):
        out_path = str(tmp_path / f"writer-{kill}.out")
        proc = _start_writer(loc, rng.randrange(2**32), out_path, env)
        try:
            _wait_ready(proc, out_path)
            time.sleep(rng.uniform(low, high))
            assert proc.poll() is None, f"writer {kill} died on its own:\n{open(out_path).read()[-4000:]}"
        finally:
            proc.kill()  # SIGKILL
            proc.wait()
        assert proc.returncode == -9
        reports = _reports(out_path)
        writes += len(reports)

        fresh = {}
        for report in reports:
            if "blob" in report:
                fresh[report["blob"]] = "blob"
            elif "doc" in report:
                fresh[report["doc"]] = "doc"
            else:
                refs_seen[report["ref"]] = max(refs_seen.get(report["ref"], 0), report["seq"])
                for link in report["links"]:
                    assert link in objects or link in fresh, f"writer linked {link} before reporting it"
        for oid, kind in fresh.items():  # every reported object reads back and verifies
            if kind == "doc":
                store.get_doc(oid)
            else:
                store.get(oid)
        objects.update(fresh)

        report = fsck(store)
        assert report.ok, f"after kill {kill + 1}: fsck errors {report.errors[:10]}"
        present = set(store.object_ids())
        missing = [oid for oid in objects if oid not in present]
        assert not missing, f"after kill {kill + 1}: reported objects are gone: {missing[:5]}"
        for key, seq in refs_seen.items():
            entries = refs.entries(key)
            assert len(entries) >= seq, f"after kill {kill + 1}: {key} lost entries ({len(entries)} < {seq})"
            assert [p for p, _ in entries] == list(range(1, len(entries) + 1))
        head = refs.head("crash/head")
        if head is not None:
            assert head[1]["count"] == head[0], f"after kill {kill + 1}: CAS head {head} lost or repeated an update"

    assert writes > kills, "the writers hardly wrote anything before being killed"
    assert any(kind == "doc" for kind in objects.values()) and refs_seen, "the writers never got to docs and refs"
    if loc.name == "local":
        leftovers = os.listdir(store.backend.path("tmp"))
        print(f"[local] staging files left by {kills} kills: {len(leftovers)}")
    print(
        f"[{loc.name}] {kills} kills, {writes} reported writes, {len(objects)} objects, "
        f"{sum(refs_seen.values())} ref entries in {time.monotonic() - started:.1f}s"
    )
