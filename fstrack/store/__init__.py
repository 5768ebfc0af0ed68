"""Layer 1, the store: immutable objects named by their blake3 hash and append-only refs, on any fsspec URL.

Knows nothing of tasks: keys, bytes, documents and sequences only (spec/store.md, spec/refs.md). Modules:
``objects`` (ids, hashing, msgpack), ``backends`` (the atomic primitives, one module per filesystem),
``transfer`` (bounded-memory copies), ``store`` (:class:`Store`), ``refs``, ``gc`` and ``fsck``.
"""

from fstrack.store.store import Store, open_store

__all__ = ["Store", "open_store"]
