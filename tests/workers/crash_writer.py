"""Crash worker: ``crash_writer.py LOCATION_JSON SEED`` writes until it is killed.

Opens the store, prints ``"ready"``, then loops forever over random writes: small blobs,
large blobs through ``put_stream`` (1-3 MiB, generated as they are read), files through
``put_file``, documents linking earlier objects, compare-and-swap updates of one head and
appends to a few logs. After each write has returned it prints one JSON line, flushed,
saying what is now durable in the store:

* ``{"blob": id}`` / ``{"doc": id}``: the object is stored;
* ``{"ref": key, "seq": n, "links": [ids]}``: entry ``n`` of ``key`` exists and links those ids.

The test SIGKILLs it at a random moment and then checks the store (tests/test_crash.py).
"""

from __future__ import annotations

import io
import os
import random
import sys
import tempfile

from common import emit, open_location

MiB = 1 << 20


class RandomStream(io.RawIOBase):
    def __init__(self, rng: random.Random, size: int):
        self.rng, self.left = rng, size

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        n = min(len(buffer), self.left, 256 * 1024)
        if n <= 0:
            return 0
        buffer[:n] = self.rng.randbytes(n)
        self.left -= n
        return n


def main() -> None:
    location_json, seed = sys.argv[1], int(sys.argv[2])
    store = open_location(location_json)
    from fstrack.store.refs import Refs

    refs = Refs(store)
    rng = random.Random(seed)
    blobs, docs = [], []
    scratch = tempfile.mkdtemp(prefix="crash-writer-")
    emit("ready")
    while True:
        r = rng.random()
        if r < 0.40 or not blobs:
            oid = store.put(rng.randbytes(rng.randint(0, 2048)))
            blobs.append(oid)
            emit({"blob": oid})
        elif r < 0.43:
            oid, _ = store.put_stream(RandomStream(rng, rng.randint(MiB, 3 * MiB)))
            blobs.append(oid)
            emit({"blob": oid})
        elif r < 0.45:
            path = os.path.join(scratch, "upload.bin")
            with open(path, "wb") as f:
                f.write(rng.randbytes(rng.randint(64 * 1024, MiB)))
            oid, _ = store.put_file(path)
            blobs.append(oid)
            emit({"blob": oid})
        elif r < 0.70:
            links = rng.sample(blobs, min(len(blobs), rng.randint(0, 4)))
            if docs and rng.random() < 0.5:
                links.append(rng.choice(docs))
            oid = store.put_doc({"seed": seed, "n": rng.random(), "links": links, "parent": docs[-1] if docs else None})
            docs.append(oid)
            emit({"doc": oid})
        elif r < 0.85:
            doc = docs[-1] if docs else None
            blob = rng.choice(blobs)
            seq, _ = refs.update(
                "crash/head", lambda v: {"count": (v or {"count": 0})["count"] + 1, "doc": doc, "blob": blob}
            )
            emit({"ref": "crash/head", "seq": seq, "links": [x for x in (doc, blob) if x]})
        else:
            key = f"crash/log{rng.randint(0, 2)}"
            blob = rng.choice(blobs)
            seq = refs.append(key, {"blob": blob, "seed": seed})
            emit({"ref": key, "seq": seq, "links": [blob]})


if __name__ == "__main__":
    main()
