"""Where tasks go: the store URL and its storage options, resolved once per process.

Order: :func:`set_store` > ``FSTRACK_URL`` (options from ``FSTRACK_STORAGE_OPTIONS``, a JSON
object) > the config file (``FSTRACK_CONFIG`` or ``~/.config/fstrack/config.json``:
``{"url": ..., "storage_options": {...}}``) > ``~/.fstrack/store``. Offline mode
(``Task.set_offline(True)`` or ``FSTRACK_OFFLINE=1``) uses ``~/.fstrack/offline``
(``FSTRACK_OFFLINE_DIR``) instead. Storage options (credentials included) live only in the
process and the user's own config file; nothing here is ever written into a store.
"""

from __future__ import annotations

import json
import os
from typing import Any

from fstrack.errors import StoreError
from fstrack.records.taskdb import TaskDB
from fstrack.store.store import Store, open_store

_explicit: tuple[str, dict[str, Any]] | None = None
_offline: bool | None = None
_opened: dict[tuple[str, str], TaskDB] = {}


def config_path() -> str:
    return os.environ.get("FSTRACK_CONFIG") or os.path.join(
        os.path.expanduser("~"), ".config", "fstrack", "config.json"
    )


def read_config() -> dict[str, Any]:
    path = config_path()
    try:
        with open(path, encoding="utf-8") as f:
            config = json.load(f)
    except FileNotFoundError:
        return {}
    except ValueError as exc:
        raise StoreError(f"config file {path} is not valid JSON: {exc}") from exc
    if not isinstance(config, dict):
        raise StoreError(f"config file {path} must hold a JSON object, got {type(config).__name__}")
    return config


def write_config(config: dict[str, Any]) -> str:
    path = config_path()
    os.makedirs(os.path.dirname(path), exist_ok=True)
    staged = f"{path}.tmp"
    with open(os.open(staged, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w", encoding="utf-8") as f:
        json.dump(config, f, indent=2)
    os.replace(staged, path)
    return path


def set_store(url: str | os.PathLike[str], **storage_options: Any) -> None:
    """Send every task of this process to ``url`` (with fsspec ``storage_options``)."""
    global _explicit
    _explicit = (os.fspath(url), storage_options)


def set_offline(offline: bool) -> None:
    global _offline
    _offline = bool(offline)


def is_offline() -> bool:
    if _offline is not None:
        return _offline
    return os.environ.get("FSTRACK_OFFLINE", "").lower() in ("1", "true", "yes")


def offline_folder() -> str:
    return os.path.abspath(
        os.path.expanduser(os.environ.get("FSTRACK_OFFLINE_DIR") or os.path.join("~", ".fstrack", "offline"))
    )


def store_location() -> tuple[str, dict[str, Any]]:
    """The (url, storage_options) tasks of this process go to."""
    if is_offline():
        return offline_folder(), {}
    if _explicit is not None:
        return _explicit
    url = os.environ.get("FSTRACK_URL")
    if url:
        raw = os.environ.get("FSTRACK_STORAGE_OPTIONS", "{}")
        hidden = "its value is not shown: it may hold credentials"
        try:
            options = json.loads(raw)
        except ValueError as exc:  # the decoder's message gives a position, never the text
            raise StoreError(
                f"FSTRACK_STORAGE_OPTIONS must be a JSON object, and is not valid JSON ({exc}; {hidden})"
            ) from None
        if not isinstance(options, dict):
            raise StoreError(
                f"FSTRACK_STORAGE_OPTIONS must be a JSON object, got a {type(options).__name__} ({hidden})"
            )
        return url, options
    config = read_config()
    if config.get("url"):
        return config["url"], dict(config.get("storage_options") or {})
    return os.path.join(os.path.expanduser("~"), ".fstrack", "store"), {}


def task_page_url(task_id: str) -> str | None:
    """The task's page in the team's ``fstrack ui``, whose base URL is ``FSTRACK_UI_URL`` or the config file's
    ``ui_url`` (a query such as ``?token=...`` is kept); None when neither is set (or the file is unreadable)."""
    base = os.environ.get("FSTRACK_UI_URL")
    if not base:
        try:
            base = read_config().get("ui_url")
        except StoreError:
            return None
    if not base or not isinstance(base, str):
        return None
    root, sep, query = base.partition("?")
    return f"{root.rstrip('/')}/task/{task_id}" + (f"?{query}" if sep else "")


#: Storage-option names holding a credential contain one of these (``key``, ``secret``, ``sas_token``, ...).
CREDENTIAL_WORDS = ("key", "secret", "token", "password", "credential", "sas", "signature", "connection_string")


def credential_values(*option_sets: Any) -> list[str]:
    """Every credential string in the given storage options (values under a credential-like name, at any depth),
    and in ``FSTRACK_STORAGE_OPTIONS``, longest first: what must never reach a store or a log."""
    found: set[str] = set()

    def walk(value: Any, secret: bool) -> None:
        if isinstance(value, dict):
            for name, inner in value.items():
                walk(inner, secret or any(word in str(name).lower() for word in CREDENTIAL_WORDS))
        elif isinstance(value, (list, tuple)):
            for inner in value:
                walk(inner, secret)
        elif secret and isinstance(value, str) and len(value) >= 4:
            found.add(value)

    try:
        from_environment = json.loads(os.environ.get("FSTRACK_STORAGE_OPTIONS") or "{}")
    except ValueError:
        from_environment = {}
    for options in (*option_sets, from_environment):
        walk(options, False)
    return sorted(found, key=len, reverse=True)


def pickles_allowed() -> bool:
    """Whether this user trusts every writer of their stores enough to unpickle what they stored:
    ``FSTRACK_ALLOW_PICKLE=1`` or ``"allow_pickle": true`` in the config file (off by default; SECURITY.md)."""
    flag = os.environ.get("FSTRACK_ALLOW_PICKLE")
    if flag is not None:
        return flag.strip().lower() in ("1", "true", "yes")
    return read_config().get("allow_pickle") is True


def get_taskdb(url: str | os.PathLike[str] | None = None, *, create: bool = True, **storage_options: Any) -> TaskDB:
    """The (cached) task database of ``url``, or of the configured store; ``create=False`` refuses a location
    that holds no store instead of creating one there."""
    if url is None:
        url, storage_options = store_location()
    key = (os.fspath(url), json.dumps(storage_options, sort_keys=True, default=str))
    db = _opened.get(key)
    if db is None:
        db = _opened[key] = TaskDB(open_store(url, create=create, **storage_options))
    return db


def get_store(url: str | None = None, **storage_options: Any) -> Store:
    return get_taskdb(url, **storage_options).store


def online_location() -> tuple[str, dict[str, Any]]:
    """The configured store, whether or not offline mode is on (where ``fstrack push`` delivers)."""
    global _offline
    saved = _offline
    _offline = False
    try:
        return store_location()
    finally:
        _offline = saved


def offline_location() -> tuple[str, dict[str, Any]]:
    """The offline folder as a store location (what ``fstrack push`` sends from by default)."""
    return offline_folder(), {}
