"""gradio (key ``gradio``): the URL an app is served at is recorded in the task.

ClearML asks its server for an external endpoint and routes the app through it. fstrack has no server, so it
does the serverless equivalent: when ``Blocks.launch`` has started the app, its local URL (and the public
share URL, when ``share=True``) are stored as the task's user properties ``gradio_url`` (and
``gradio_share_url``), and a line on stderr says so. Nothing is routed: the URL is reachable where gradio
serves it."""

from __future__ import annotations

import functools
import sys
from typing import Any

from fstrack.capture.frameworks import _core

KEY = "gradio"


def _record(blocks: Any) -> None:
    task = _core.active(KEY)
    url = getattr(blocks, "local_url", None)
    if task is None or not url or blocks.__dict__.get("_fstrack_recorded") == url:
        return
    blocks.__dict__["_fstrack_recorded"] = url
    properties = {"gradio_url": str(url)}
    share = getattr(blocks, "share_url", None)
    if share:
        properties["gradio_share_url"] = str(share)
    task.set_user_properties(**properties)
    print(
        f"fstrack: gradio app at {url} recorded in task {task.id} (user property gradio_url; "
        "fstrack has no server, so the app is not routed anywhere else)",
        file=sys.stderr,
    )


def _recording(original: Any, before: bool) -> Any:
    if getattr(original, "__fstrack_original__", None) is not None:
        return original

    @functools.wraps(original)
    def method(self: Any, *args: Any, **kwargs: Any) -> Any:
        if before:
            _safely(self)
        result = original(self, *args, **kwargs)
        if not before:
            _safely(self)
        return result

    method.__fstrack_original__ = original  # type: ignore[attr-defined]
    return method


def _safely(blocks: Any) -> None:
    try:
        _record(blocks)
    except Exception as exc:  # noqa: BLE001 - never break the user's app
        _core.warn("could not record the gradio app's URL", exc)


def patch(name: str, blocks_module: Any) -> None:
    """``name`` is ``gradio.blocks``: ``launch`` returns at once with ``prevent_thread_lock=True``; otherwise it
    blocks in ``block_thread``, so the URL is recorded before that too."""
    blocks = blocks_module.Blocks
    blocks.launch = _recording(blocks.launch, before=False)
    blocks.block_thread = _recording(blocks.block_thread, before=True)
