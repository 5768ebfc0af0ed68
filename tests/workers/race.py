"""Race worker: ``race.py MODE LOCATION_JSON WORKER_INDEX COUNT [EXTRA]``.

Opens the store, says ready, waits for ``go`` on stdin (so all workers start together),
then races and prints one JSON line with what it did:

* ``create``: ``backend.create("race/create/kNNNN", b"<worker>")`` for NNNN in 0..COUNT-1;
  prints the keys it won.
* ``claim``: ``backend.claim("race/pending/eNNNN", <claimed key>)`` for every entry;
  EXTRA ``shared`` uses one claimed key per entry (``race/claimed/eNNNN``), ``own`` one per
  worker and entry (``race/claimed/eNNNN-wW``); prints the entries it won.
* ``cas``: COUNT times ``Refs.update("race/counter", +1)``; prints the positions it wrote.
* ``open``: opens (creating) a fresh store after the release instead of before; prints "opened".
"""

from __future__ import annotations

import sys

from common import emit, open_location, wait_for_go


def main() -> None:
    mode, location_json, index, count = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    extra = sys.argv[5] if len(sys.argv) > 5 else ""
    if mode == "open":
        wait_for_go()
        store = open_location(location_json, create=True)
        store.put(b"opened by %d" % index)
        emit({"opened": index})
        return
    store = open_location(location_json)
    backend = store.backend
    if mode == "create":
        me = f"worker-{index}".encode()
        wait_for_go()
        won = [f"race/create/k{i:04d}" for i in range(count) if backend.create(f"race/create/k{i:04d}", me)]
        emit({"won": won})
    elif mode == "claim":
        wait_for_go()
        won = []
        for i in range(count):
            claimed = f"race/claimed/e{i:04d}" if extra == "shared" else f"race/claimed/e{i:04d}-w{index}"
            if backend.claim(f"race/pending/e{i:04d}", claimed):
                won.append(i)
        emit({"won": won})
    elif mode == "cas":
        from fstrack.refs import Refs

        refs = Refs(store)
        wait_for_go()
        positions = [refs.update("race/counter", lambda v: (v or 0) + 1)[0] for _ in range(count)]
        emit({"positions": positions})
    else:
        raise SystemExit(f"unknown mode {mode!r}")


if __name__ == "__main__":
    main()
