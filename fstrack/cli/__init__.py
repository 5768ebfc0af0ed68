"""Layer 7, entry points: the ``fstrack`` command (``main``) and the queue agent (``agent``). Thin shells over
the layers below; heavy modules are imported inside the command that needs them."""
