"""Race worker: ``race.py MODE LOCATION_JSON WORKER_INDEX COUNT``.

Opens the store, says ready, waits for ``go`` on stdin (so all workers start together),
then races and prints one JSON line with what it did:

* ``create``: ``backend.create("race/create/kNNNN", b"<worker>")`` for NNNN in 0..COUNT-1, each worker
  starting at its own offset; prints the keys it won.
* ``claim``: ``backend.claim("race/pending/eNNNN", "race/claimed/eNNNN")`` for every entry;
  prints the entries it won, each with the bytes the claim returned.
* ``cas``: COUNT times ``Refs.update("race/counter", +1)``; prints the positions it wrote.
* ``open``: opens (creating) a fresh store after the release instead of before; prints "opened".
"""

from __future__ import annotations

import sys

from common import emit, open_location, wait_for_go


def _preload(location_json: str) -> None:
    """Import fstrack and the location's filesystem class now, so that after the release the
    workers' first opens overlap instead of queueing behind imports."""
    import json

    import fsspec

    import fstrack.store.store  # noqa: F401

    url = json.loads(location_json)["url"]
    if "://" in url:
        fsspec.get_filesystem_class(url.split("://", 1)[0])


def main() -> None:
    mode, location_json, index, count = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    if mode == "open":
        _preload(location_json)
        wait_for_go()
        store = open_location(location_json, create=True)
        store.put(b"opened by %d" % index)
        emit({"opened": index})
        return
    store = open_location(location_json)
    backend = store.backend
    backend.exists("race/warm-up")  # connect before the release, so no worker starts late
    if mode == "create":
        me = f"worker-{index}".encode()
        wait_for_go()
        # each worker starts at its own place in the key order (and wraps around): every key is met by workers
        # coming from different places, so one worker that got going first cannot stay ahead of all the others
        order = [(i + index * 53) % count for i in range(count)]
        won = [f"race/create/k{i:04d}" for i in order if backend.create(f"race/create/k{i:04d}", me)]
        emit({"won": won})
    elif mode == "claim":
        wait_for_go()
        won = {}
        for i in range(count):
            data = backend.claim(f"race/pending/e{i:04d}", f"race/claimed/e{i:04d}")
            if data is not None:
                won[i] = data.decode()
        emit({"won": won})
    elif mode == "cas":
        from fstrack.store.refs import Refs

        refs = Refs(store)
        wait_for_go()
        positions = [refs.update("race/counter", lambda v: (v or 0) + 1)[0] for _ in range(count)]
        emit({"positions": positions})
    else:
        raise SystemExit(f"unknown mode {mode!r}")


if __name__ == "__main__":
    main()
