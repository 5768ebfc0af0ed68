"""Layer 3, dispatch: lock-free work queues of claim files and the leases of claimed runs (spec/queues.md).

The agent that serves the queues is an entry point (:mod:`fstrack.cli.agent`); this layer only holds the
records it and ``Task.enqueue`` share.
"""
