"""Layer 5, capture: what the running process records about itself.

Console output (``console``), machine statistics (``monitor``), the execution record (``execution``: git,
entry point, packages), and framework hooks installed after import (``import_hooks``, ``frameworks``).
Talks to the task only through the object it is handed; never imports :mod:`fstrack.sdk`.
"""
