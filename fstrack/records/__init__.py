"""Layer 2, the records: what fstrack keeps about tasks and models on a store.

Task and model manifests with their index (``taskdb``, ``modeldb``), the lifecycle rules (``lifecycle``),
metric segments (``metrics``), queries (``query``, ``analytics``) and which store a process uses
(``config``). Never builds a ``Task``: everything here works on manifest dicts and Arrow tables.
"""
