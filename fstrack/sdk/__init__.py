"""Layer 6, the SDK: ClearML's ``Task``, ``Logger``, artifacts, models and parameters on an fstrack store.

``Task`` (``task``) is assembled from the mixins in ``parameters``, ``reporting``, ``artifacts`` and
``models``; those never import ``task`` back (the current task is found through ``current``).
"""
