"""Layer 4, sync: copy tasks between two stores like ``git push`` / ``git pull`` (spec/sync.md)."""

from fstrack.sync.engine import format_progress, pull, push, watch

__all__ = ["format_progress", "pull", "push", "watch"]
