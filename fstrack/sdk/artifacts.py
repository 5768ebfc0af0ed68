"""Artifacts: files and Python objects attached to a task, stored as content-addressed blobs.

:class:`ArtifactsMixin` is a base class of :class:`fstrack.sdk.task.Task`. It relies on the host providing
``id``, ``_db`` (a :class:`~fstrack.records.taskdb.TaskDB`), ``_data`` (the newest manifest), ``output_uri`` and
``_edit(fn, fields=...)``, and on ``Task.flush``/``Task._finish``/``Task.delete`` calling
:meth:`ArtifactsMixin._flush_artifacts`, :meth:`ArtifactsMixin._close_artifacts` and
:meth:`ArtifactsMixin._artifacts_before_delete`/:meth:`ArtifactsMixin._artifacts_after_delete`.

An artifact's bytes are one blob, named by its blake3 hash, in the task's own store (the manifest links
it, so fsck and the garbage collector see it) or in the store at the task's ``output_uri`` (the manifest
records that store's URL and the plain id; a pin sequence ``refs/outputs/<task id>`` in that store keeps
the blob alive there). Identical bytes from any task are stored once. See spec/artifacts.md.

Security: nothing here unpickles data unless the caller opted in: :meth:`Artifact.get` of a ``pickle``
artifact (or a pandas ``.pickle`` one) raises :class:`PickleNotAllowedError` unless ``allow_pickle=True`` or
the user's setting (``FSTRACK_ALLOW_PICKLE=1``, ``"allow_pickle": true`` in the config file) says they trust
every writer of the store. **Unpickling runs the code of whoever wrote the file.** Listing and previews never
unpickle. Archives are extracted only after every entry has been checked to stay inside the target folder.
"""

from __future__ import annotations

import atexit
import copy
import datetime
import gzip
import io
import json
import mimetypes
import os
import pathlib
import pickle
import shutil
import stat
import sys
import tempfile
import threading
import time
import urllib.parse
import weakref
import zipfile
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import blake3

from fstrack import terminal, threads
from fstrack.errors import FstrackError, InvalidNameError
from fstrack.sdk import local_cache
from fstrack.store.objects import BlobId, ObjectId
from fstrack.store.refs import Refs
from fstrack.store.store import Store, object_key, open_store, put_local_file
from fstrack.store.transfer import CHUNK, SMALL_FILE, hash_file

#: Previews longer than this are cut (with a note), as ClearML does.
MAX_PREVIEW = 65536
#: The pin sequence of a task's outputs in a store other than the task's own: ``refs/outputs/<task id>``.
OUTPUTS_REF = "outputs"
#: ClearML's type of a registered (dynamically synchronised) DataFrame.
DATA_AUDIT_TYPE = "data-audit-table"
#: String artifacts with one of these URL schemes are recorded, not downloaded or uploaded.
URL_SCHEMES = frozenset(
    {"http", "https", "s3", "s3a", "gs", "gcs", "az", "abfs", "abfss", "azure", "ftp", "sftp", "hdfs", "webhdfs"}
)
_FIXED_ZIP_TIME = (1980, 1, 1, 0, 0, 0)


class ArtifactError(FstrackError, ValueError):
    """An artifact could not be prepared, uploaded or read."""


class PickleNotAllowedError(ArtifactError):
    """An artifact is a pickle and the caller did not opt in to unpickling (it runs the writer's code)."""


class UnsafeArchiveError(ArtifactError):
    """An archive holds an entry that would land outside the extraction folder (zip-slip), or a link."""


# -- machine-local configuration: cache folder, storage options ---------------------------------------------
_cache_dir: str | None = None
_storage_options: dict[str, dict[str, Any]] = {}  # URL prefix -> fsspec options; in this process only
_stores: dict[tuple[str, str], Store] = {}
_stores_lock = threading.Lock()


def set_cache_dir(path: str | os.PathLike | None) -> None:
    """Where local copies of artifacts are kept (default ``$FSTRACK_CACHE_DIR`` or ``~/.cache/fstrack``)."""
    global _cache_dir
    _cache_dir = os.path.abspath(os.path.expanduser(os.fspath(path))) if path is not None else None


def cache_root() -> str:
    return (
        _cache_dir or os.environ.get("FSTRACK_CACHE_DIR") or os.path.join(os.path.expanduser("~"), ".cache", "fstrack")
    )


def _normalise(url: str) -> str:
    url = os.fspath(url)
    if "://" not in url:
        return os.path.abspath(os.path.expanduser(url))
    return url.rstrip("/")


def set_storage_options(url_prefix: str, **options: Any) -> None:
    """fsspec storage options (credentials, endpoint) for every store whose URL starts with ``url_prefix``.

    Held in this process only: nothing set here is ever written to a store.
    """
    _storage_options[_normalise(url_prefix)] = dict(options)
    with _stores_lock:
        _stores.clear()


def storage_options_for(url: str, fallback: Store | None = None) -> dict[str, Any]:
    """The options for ``url``: the longest registered prefix; else those of ``fallback`` (the task's store)
    when it uses the same protocol; else those of the configured store if it does; else none."""
    url = _normalise(url)
    best = None
    _load_env_options()
    for prefix in _storage_options:
        if (url == prefix or url.startswith(prefix.rstrip("/") + "/")) and (best is None or len(prefix) > len(best)):
            best = prefix
    if best is not None:
        return dict(_storage_options[best])
    protocol = _protocol(url)
    if fallback is not None and _protocol(fallback.url) == protocol:
        return dict(fallback.storage_options)
    from fstrack.records import config

    configured, options = config.store_location()
    if _protocol(configured) == protocol:
        return dict(options)
    return {}


_env_loaded: str | None = None


def _load_env_options() -> None:
    """``FSTRACK_OUTPUT_STORAGE_OPTIONS``: a JSON object ``{url prefix: {fsspec options}}`` for output stores
    (what ``setup_aws_upload`` and friends register, for processes that only read, e.g. agents)."""
    global _env_loaded
    raw = os.environ.get("FSTRACK_OUTPUT_STORAGE_OPTIONS", "")
    if raw == _env_loaded:
        return
    _env_loaded = raw
    if not raw:
        return
    try:
        mapping = json.loads(raw)
    except ValueError as exc:
        raise ArtifactError(f"FSTRACK_OUTPUT_STORAGE_OPTIONS must be a JSON object, got {raw[:80]!r}") from exc
    if not isinstance(mapping, dict) or not all(isinstance(v, dict) for v in mapping.values()):
        raise ArtifactError("FSTRACK_OUTPUT_STORAGE_OPTIONS must map URL prefixes to objects of fsspec options")
    for prefix, options in mapping.items():
        _storage_options.setdefault(_normalise(prefix), dict(options))


def _protocol(url: str) -> str:
    return url.split("://", 1)[0].lower() if "://" in url else "file"


def location_store(url: str, fallback: Store | None = None, *, create: bool = False) -> Store:
    """The (cached) store at ``url``, opened with :func:`storage_options_for`."""
    url = _normalise(url)
    if fallback is not None and _normalise(fallback.url) == url:
        return fallback
    options = storage_options_for(url, fallback)
    key = (url, json.dumps(options, sort_keys=True, default=str))
    with _stores_lock:
        store = _stores.get(key)
    if store is None:
        store = open_store(url, create=create, **options)
        with _stores_lock:
            _stores[key] = store
    return store


# -- small helpers --------------------------------------------------------------------------------------------
def _check_name(name: Any) -> str:
    if not isinstance(name, str) or not name.strip():
        raise InvalidNameError(f"artifact name must be a non-empty string, got {name!r}")
    if "\x00" in name or len(name) > 1024:
        raise InvalidNameError(f"artifact name must have at most 1024 characters and no NUL, got {name!r:.80}")
    return name


def safe_filename(text: str, default: str = "artifact") -> str:
    """A single path component made from ``text``: never a separator, ``..``, or a hidden-file dot."""
    cleaned = "".join("_" if c in "/\\\x00:" or ord(c) < 32 else c for c in str(text)).strip().lstrip(".")
    return cleaned[:200] or default


def _format_size(size: int) -> str:
    value = float(size)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if value < 1000 or unit == "TB":
            return f"{value:.2f} {unit}" if unit != "B" else f"{int(value)} B"
        value /= 1000
    return f"{size} B"


def _cut_preview(text: str | None) -> str:
    text = "" if text is None else str(text)
    if len(text) > MAX_PREVIEW + 1024:
        return f"# full preview too large to store, storing first {MAX_PREVIEW // 1024}kb\n{text[:MAX_PREVIEW]}"
    return text


def _module_instance(obj: Any, module: str, attribute: str) -> bool:
    """isinstance without importing ``module`` (an object of that type implies the module is loaded)."""
    loaded = sys.modules.get(module)
    cls = getattr(loaded, attribute, None) if loaded is not None else None
    return isinstance(cls, type) and isinstance(obj, cls)


# -- preparing an artifact (in the caller's thread: the object is captured as it is now) --------------------
@dataclass
class _Prepared:
    name: str
    type: str
    filename: str
    content_type: str | None
    preview: str
    path: str | None = None  # the local file to upload (None: a URL artifact)
    url: str | None = None  # a URL artifact's URL
    temporary: str | None = None  # folder to remove after the upload
    delete_source: bool = False  # the user asked to delete their file after the upload


def _temp_file(name: str, suffix: str) -> tuple[str, str]:
    folder = tempfile.mkdtemp(prefix="fstrack-artifact-")
    return folder, os.path.join(folder, safe_filename(name + suffix))


def _write_zip(members: list[tuple[str, str]], target: str) -> None:
    """A zip of ``(local path, name in archive)`` pairs with fixed timestamps and modes, so that the same
    files always give the same bytes (and deduplicate)."""
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED, allowZip64=True) as zf:
        for path, arcname in sorted(members, key=lambda m: m[1]):
            info = zipfile.ZipInfo(arcname, date_time=_FIXED_ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            with open(path, "rb") as src, zf.open(info, "w", force_zip64=True) as dst:
                shutil.copyfileobj(src, dst, CHUNK)


def _archive(
    files: list[pathlib.Path], base: pathlib.Path | None, name: str, filename: str, heading: str, preview: Any
) -> _Prepared:
    folder, target = _temp_file(name, ".zip")
    target = os.path.join(folder, safe_filename(filename))
    members, lines = [], [heading]
    for f in sorted(files):
        if f.is_file():
            arcname = f.relative_to(base).as_posix() if base is not None else f.as_posix().lstrip("/")
            members.append((str(f), arcname))
            lines.append(f"{arcname} - {_format_size(f.stat().st_size)}")
    _write_zip(members, target)
    return _Prepared(
        name,
        "archive",
        os.path.basename(target),
        "application/zip",
        _cut_preview(preview if preview is not None else "\n".join(lines) + "\n"),
        path=target,
        temporary=folder,
    )


def _as_path(obj: Any) -> pathlib.Path | None:
    """A string naming an existing file/folder, or a wildcard with matches, as a Path (ClearML's rule)."""
    if isinstance(obj, pathlib.PurePath):
        return pathlib.Path(obj)
    if not isinstance(obj, str) or not obj or len(obj) >= 2048:
        return None
    try:
        if os.path.exists(obj):
            return pathlib.Path(obj)
        candidate = pathlib.Path(obj).expanduser()
        if candidate.exists():
            return candidate
        if "*" in obj or "?" in obj:
            folder = candidate.parent
            if folder.is_dir() and folder.parts and any(folder.rglob(candidate.name)):
                return candidate
    except (OSError, ValueError):
        return None
    return None


def _pickled(name: str, obj: Any, preview: Any) -> _Prepared:
    folder, path = _temp_file(name, ".pkl")
    with open(path, "wb") as f:
        pickle.dump(obj, f)
    try:
        text = preview if preview is not None else repr(obj)[:MAX_PREVIEW]
    except Exception:  # noqa: BLE001 - a broken __repr__ must not fail the upload
        text = ""
    return _Prepared(
        name, "pickle", os.path.basename(path), "application/pickle", _cut_preview(text), path=path, temporary=folder
    )


def _extension(given: str | None, valid: Sequence[str], default: str, kind: str) -> str:
    if not given:
        return default
    if given in valid:
        return given
    terminal.warn(
        f"fstrack: {kind} artifact cannot be stored as {given}; valid extensions: {', '.join(valid)}. Using {default}",
        stacklevel=4,
    )
    return default


def _gzip_text(path: str, writer: Callable[[io.TextIOBase], None]) -> None:
    with (
        open(path, "wb") as raw,
        gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, filename="") as gz,
        io.TextIOWrapper(gz, encoding="utf-8", newline="") as text,
    ):
        writer(text)


def prepare(
    name: str,
    obj: Any,
    *,
    preview: Any = None,
    auto_pickle: bool = True,
    extension_name: str | None = None,
    serialization_function: Callable[[Any], bytes] | None = None,
    delete_after_upload: bool = False,
) -> _Prepared:
    """Serialise ``obj`` to a local file as ClearML's ``upload_artifact`` documents (or recognise a URL)."""
    if preview is not None and preview is not False:
        preview = str(preview)
    elif preview is False:
        preview = None
    if extension_name is not None and not extension_name.startswith("."):
        extension_name = "." + extension_name
    if serialization_function is not None:
        suffix = extension_name or ""
        folder, path = _temp_file(name, suffix)
        data = serialization_function(obj)
        if not isinstance(data, (bytes, bytearray, memoryview)):
            shutil.rmtree(folder, ignore_errors=True)
            raise ArtifactError(f"serialization_function must return bytes, got {type(data).__name__}")
        with open(path, "wb") as f:
            f.write(data)
        try:
            text = preview if preview is not None else repr(obj)[:MAX_PREVIEW]
        except Exception:  # noqa: BLE001
            text = ""
        return _Prepared(
            name,
            "custom",
            os.path.basename(path),
            mimetypes.guess_type(path)[0],
            _cut_preview(text),
            path=path,
            temporary=folder,
        )
    if extension_name == ".pkl":
        return _pickled(name, obj, preview)
    as_path = _as_path(obj)
    if as_path is not None:
        return _prepare_path(name, as_path, preview, delete_after_upload)
    if _module_instance(obj, "numpy", "ndarray"):
        return _prepare_numpy(name, obj, preview, extension_name, auto_pickle)
    if _module_instance(obj, "pandas", "DataFrame"):
        return _prepare_dataframe(name, obj, preview, extension_name)
    if _module_instance(obj, "PIL.Image", "Image"):
        return _prepare_image(name, obj, preview, extension_name)
    if isinstance(obj, dict):
        prepared = _prepare_dict(name, obj, preview, extension_name, auto_pickle)
        if prepared is not None:
            return prepared
        return _pickled(name, obj, preview)
    if isinstance(obj, (list, tuple)) and obj and all(isinstance(p, pathlib.PurePath) for p in obj):
        files = [pathlib.Path(p).expanduser().absolute() for p in obj]
        missing = [str(p) for p in files if not p.is_file()]
        if missing:
            terminal.warn(f"fstrack: artifact {name!r}: files not found, left out: {missing}", stacklevel=3)
        try:
            base = pathlib.Path(os.path.commonpath([str(p.parent) for p in files]))
        except ValueError:
            base = None
        return _archive(files, base, name, name + ".zip", "Archive content:", preview)
    if isinstance(obj, str) and obj and len(obj) < 4096 and urllib.parse.urlparse(obj).scheme.lower() in URL_SCHEMES:
        return _Prepared(
            name,
            "custom",
            safe_filename(os.path.basename(urllib.parse.urlparse(obj).path) or name),
            mimetypes.guess_type(obj)[0],
            _cut_preview(preview or ""),
            url=obj,
        )
    if isinstance(obj, str) and obj:
        folder, path = _temp_file(name, ".txt")
        with open(path, "w", encoding="utf-8") as f:
            f.write(obj)
        text = preview if preview is not None else obj
        return _Prepared(
            name, "string", os.path.basename(path), "text/plain", _cut_preview(text), path=path, temporary=folder
        )
    if obj is None or obj == "" or auto_pickle:
        return _pickled(name, obj, preview)
    raise ArtifactError(
        f"artifact {name!r}: objects of type {type(obj).__name__} are stored only with "
        "auto_pickle=True (or pass serialization_function)"
    )


def _prepare_path(name: str, path: pathlib.Path, preview: Any, delete_after_upload: bool) -> _Prepared:
    path = path.expanduser().absolute()
    try:
        st = os.stat(path)
    except OSError:
        st = None
    if st is not None and stat.S_ISREG(st.st_mode):
        return _Prepared(
            name,
            "custom",
            safe_filename(path.name),
            mimetypes.guess_type(path.name)[0],
            _cut_preview(preview if preview is not None else f"{path.name} - {_format_size(st.st_size)}\n"),
            path=str(path),
            delete_source=delete_after_upload,
        )
    if path.is_dir():
        folder, wildcard = path, "*"
    else:
        folder, wildcard = path.parent, path.name
    if not folder.is_dir() or not folder.parts:
        raise ArtifactError(f"artifact file or folder {str(path)!r} not found")
    files, left_out = _folder_files(folder, wildcard)
    if left_out:
        terminal.warn(
            f"fstrack: artifact {name!r}: {len(left_out)} symbolic link(s) left out of {str(folder)!r} (they lead "
            f"outside the folder, or back into a folder already stored): {', '.join(left_out[:5])}"
            + (" ..." if len(left_out) > 5 else ""),
            stacklevel=4,
        )
    prepared = _archive(
        files,
        folder,
        name,
        (folder.name or name) + ".zip",
        f"Archive content {(folder / wildcard).as_posix()}:",
        preview,
    )
    if left_out and preview is None:
        prepared.preview = _cut_preview(
            prepared.preview + "".join(f"{link} - symbolic link, left out\n" for link in left_out)
        )
    return prepared


def _folder_files(folder: pathlib.Path, wildcard: str) -> tuple[list[pathlib.Path], list[str]]:
    """The files below ``folder`` whose name matches ``wildcard``, and the symbolic links left out.

    The rule (spec/artifacts.md): a link is followed only if it resolves inside ``folder`` and does not lead back
    into a folder already walked; any other link (to a file or a folder) is left out and named.
    """
    import fnmatch

    root = os.path.realpath(folder)
    walked = {root}
    files: list[pathlib.Path] = []
    left_out: list[str] = []
    pending = [str(folder)]
    while pending:
        directory = pending.pop()
        with os.scandir(directory) as entries:
            for entry in sorted(entries, key=lambda e: e.name):
                if entry.is_symlink():
                    target = os.path.realpath(entry.path)
                    inside = target == root or target.startswith(root + os.sep)
                    if not inside or (os.path.isdir(target) and target in walked):
                        left_out.append(os.path.relpath(entry.path, folder))
                        continue
                if entry.is_dir():
                    walked.add(os.path.realpath(entry.path))
                    pending.append(entry.path)
                elif entry.is_file() and fnmatch.fnmatch(entry.name, wildcard):
                    files.append(pathlib.Path(entry.path))
    return files, left_out


def _prepare_numpy(name: str, array: Any, preview: Any, extension_name: str | None, auto_pickle: bool) -> _Prepared:
    import numpy as np

    ext = _extension(extension_name, (".npz", ".csv.gz"), ".npz", "numpy")
    folder, path = _temp_file(name, ext)
    text = _cut_preview(preview if preview is not None else repr(array))
    if ext == ".csv.gz":
        _gzip_text(path, lambda f: np.savetxt(f, array, delimiter=","))
        return _Prepared(name, "numpy", os.path.basename(path), "text/csv", text, path=path, temporary=folder)
    try:
        with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, allowZip64=True) as zf:
            info = zipfile.ZipInfo(name + ".npy", date_time=_FIXED_ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            with zf.open(info, "w", force_zip64=True) as f:
                np.lib.format.write_array(f, np.asanyarray(array), allow_pickle=False)
    except ValueError:  # an object array: numpy would pickle it, so it is an explicit pickle artifact instead
        shutil.rmtree(folder, ignore_errors=True)
        if not auto_pickle:
            raise
        return _pickled(name, array, preview)
    return _Prepared(name, "numpy", os.path.basename(path), "application/numpy", text, path=path, temporary=folder)


def _prepare_dataframe(name: str, df: Any, preview: Any, extension_name: str | None) -> _Prepared:
    ext = _extension(extension_name, (".csv.gz", ".parquet", ".feather", ".pickle"), ".csv.gz", "pandas")
    folder, path = _temp_file(name, ext)
    text = _cut_preview(preview if preview is not None else repr(df))
    content_type = {
        ".parquet": "application/parquet",
        ".feather": "application/feather",
        ".pickle": "application/pickle",
    }.get(ext, "text/csv")
    try:
        if ext == ".parquet":
            df.to_parquet(path)
        elif ext == ".feather":
            df.to_feather(path)
        elif ext == ".pickle":
            df.to_pickle(path)
    except Exception as exc:  # noqa: BLE001 - ClearML falls back to csv.gz
        terminal.warn(f"fstrack: artifact {name!r} could not be stored as {ext} ({exc}); storing .csv.gz", stacklevel=4)
        shutil.rmtree(folder, ignore_errors=True)
        ext, content_type = ".csv.gz", "text/csv"
        folder, path = _temp_file(name, ext)
    if ext == ".csv.gz":
        df.to_csv(path, compression={"method": "gzip", "mtime": 0})
    return _Prepared(name, "pandas", os.path.basename(path), content_type, text, path=path, temporary=folder)


def _prepare_image(name: str, image: Any, preview: Any, extension_name: str | None) -> _Prepared:
    from PIL import Image

    extensions = Image.registered_extensions()
    if not extensions:
        Image.init()
        extensions = Image.registered_extensions()
    ext = _extension(extension_name and extension_name.lower(), sorted(extensions), ".png", "image")
    folder, path = _temp_file(name, ext)
    image.save(path)
    description = repr(image)
    text = (
        preview
        if preview is not None
        else description[1 : description.find(" at ")]
        if " at " in description
        else description
    )
    return _Prepared(
        name,
        "image",
        os.path.basename(path),
        mimetypes.guess_type(path)[0] or "image/unknown-type",
        _cut_preview(text),
        path=path,
        temporary=folder,
    )


def _prepare_dict(
    name: str, obj: dict, preview: Any, extension_name: str | None, auto_pickle: bool
) -> _Prepared | None:
    ext = _extension(extension_name, (".json", ".yaml"), ".json", "dict")
    try:
        if ext == ".json":
            text, content_type = json.dumps(obj, sort_keys=True, indent=4), "application/json"
        else:
            import yaml

            text, content_type = yaml.dump(obj, sort_keys=True, indent=4), "application/yaml"
    except Exception:
        if not auto_pickle:
            raise
        terminal.warn(f"fstrack: artifact {name!r} cannot be stored as {ext}; pickling it", stacklevel=4)
        return None
    folder, path = _temp_file(name, ext)
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    shown = preview if preview is not None else text
    if len(shown) >= MAX_PREVIEW:
        shown = (
            f"# full serialized dict too large to store, storing first {MAX_PREVIEW // 1024}kb\n{shown[:MAX_PREVIEW]}"
        )
    return _Prepared(
        name, "dict", os.path.basename(path), content_type, _cut_preview(shown), path=path, temporary=folder
    )


# -- reading ---------------------------------------------------------------------------------------------------
def safe_extract(archive: str, target: str) -> None:
    """Extract a zip into ``target``, refusing the whole archive if any entry is absolute, climbs out with
    ``..``, is a symbolic link, or would otherwise land outside ``target``."""
    root = os.path.realpath(target)
    with zipfile.ZipFile(archive) as zf:
        infos = zf.infolist()
        for info in infos:
            entry = info.filename
            parts = entry.replace("\\", "/").split("/")
            mode = info.external_attr >> 16
            if (
                entry.startswith(("/", "\\"))
                or (parts and ":" in parts[0])
                or ".." in parts
                or (mode & 0o170000) == 0o120000
            ):
                raise UnsafeArchiveError(
                    f"archive {os.path.basename(archive)!r} holds an unsafe entry {entry!r} "
                    "(absolute, '..' or a link); nothing was extracted"
                )
            resolved = os.path.realpath(os.path.join(root, entry))
            if os.path.commonpath([root, resolved]) != root:
                raise UnsafeArchiveError(
                    f"archive entry {entry!r} would be written outside {target!r}; nothing was extracted"
                )
        os.makedirs(target, exist_ok=True)
        for info in infos:
            zf.extract(info, target)


def _download_verified(store: Store, oid: str, target: str, size: int | None = None) -> None:
    """Object ``oid`` to ``target`` (atomically, verified), looking in the collector's trash if need be."""
    from fstrack.store import gc

    if size is not None and size <= SMALL_FILE and not store.backend.concurrent_io:
        data = gc.read_object(store, oid)  # one read, verified in memory
        partial = f"{target}.{os.getpid()}-{threading.get_ident()}.partial"
        with open(partial, "wb") as f:
            f.write(data)
        os.replace(partial, target)
        return
    gc.fetch_object(store, oid, target, size)


class Artifact:
    """A read-only view of one artifact record (ClearML's ``Artifact``)."""

    def __init__(self, record: Mapping[str, Any], store: Store | None = None, *, task_id: str | None = None):
        self._record = dict(record)
        self._store = store
        self._task_id = task_id
        self._object: Any = _NOT_SET

    # -- properties ---------------------------------------------------------------------------------------
    @property
    def name(self) -> str:
        return self._record.get("name", "")

    @property
    def type(self) -> str:
        return self._record.get("type", "")

    @property
    def mode(self) -> str:
        return self._record.get("mode", "output")

    @property
    def size(self) -> int | None:
        return self._record.get("size")

    @property
    def hash(self) -> str | None:
        """The blake3 hex digest of the content (its object id); ClearML reports SHA-256 here."""
        return self._record.get("hash")

    @property
    def timestamp(self) -> datetime.datetime:
        return datetime.datetime.fromtimestamp(self._record.get("timestamp") or 0)

    @property
    def metadata(self) -> dict[str, str]:
        return dict(self._record.get("metadata") or {})

    @property
    def preview(self) -> str | None:
        return self._record.get("preview")

    @property
    def content_type(self) -> str | None:
        return self._record.get("content_type")

    @property
    def filename(self) -> str:
        return self._record.get("filename") or safe_filename(self.name)

    @property
    def store_url(self) -> str | None:
        """The URL of the store holding the content (None for a URL artifact)."""
        if self._record.get("url") and not self.hash:
            return None
        return self._record.get("store") or (self._store.url if self._store is not None else None)

    @property
    def url(self) -> str | None:
        """Where the bytes are: the recorded URL of a URL artifact, else the fsspec URL of the object."""
        if self._record.get("url"):
            return self._record["url"]
        where, oid = self.store_url, self.hash
        if where is None or oid is None:
            return None
        return f"{where.rstrip('/')}/{object_key(oid)}"

    def _content_store(self) -> Store:
        if self._record.get("store"):
            return location_store(self._record["store"], self._store)
        if self._store is None:
            raise ArtifactError(f"artifact {self.name!r} has no store to read from")
        return self._store

    # -- local copies -------------------------------------------------------------------------------------
    def _cache_folder(self) -> str:
        if self.hash:
            return os.path.join(cache_root(), "artifacts", ObjectId(self.hash))
        digest = blake3.blake3(self._record.get("url", "").encode()).hexdigest()[:32]
        return os.path.join(cache_root(), "artifacts", "urls", digest)

    def get_local_copy(
        self, extract_archive: bool = True, raise_on_error: bool = False, force_download: bool = False
    ) -> str | None:
        """A local path to the artifact's file (an extracted folder for an archive when ``extract_archive``).

        Copies are cached by content hash (``cache_dir``) and shared by every artifact with the same bytes, so
        they are handed out read-only; a cached copy changed anyway is verified again (and downloaded again if its
        bytes changed) before it is handed out. Copy the file before editing it. An archive holding entries that
        escape the folder is refused with :class:`UnsafeArchiveError`.
        """
        folder = self._cache_folder()
        target = os.path.join(folder, safe_filename(self.filename))
        try:
            cached = local_cache.holds(target, self.hash) if self.hash else os.path.isfile(target)
            if force_download or not cached:
                os.makedirs(folder, exist_ok=True)
                if self.hash:
                    _download_verified(self._content_store(), self.hash, target, self.size)
                    local_cache.seal(target)
                else:
                    self._download_url(target)
        except UnsafeArchiveError:
            raise
        except Exception as exc:  # noqa: BLE001 - ClearML returns None unless raise_on_error
            if raise_on_error:
                raise ArtifactError(
                    f"could not get a local copy of artifact {self.name!r} from {self.url}: {exc}"
                ) from exc
            terminal.warn(f"fstrack: could not get a local copy of artifact {self.name!r} ({exc})", stacklevel=2)
            return None
        if extract_archive and self.type == "archive":
            extracted = os.path.join(folder, "extracted")
            if force_download or not local_cache.tree_unchanged(extracted):
                staging = tempfile.mkdtemp(prefix=".extracting-", dir=folder)
                try:
                    try:
                        safe_extract(target, staging)
                    except UnsafeArchiveError:
                        raise
                    except Exception as exc:  # noqa: BLE001 - a corrupt archive: None unless raise_on_error (ClearML)
                        if raise_on_error:
                            raise ArtifactError(f"could not extract archive artifact {self.name!r}: {exc}") from exc
                        terminal.warn(
                            f"fstrack: could not extract archive artifact {self.name!r} ({exc})", stacklevel=2
                        )
                        return None
                    if os.path.isdir(extracted):
                        shutil.rmtree(extracted, ignore_errors=True)
                    try:
                        os.rename(staging, extracted)
                        local_cache.seal_tree(extracted)
                    except OSError:  # another process extracted it first
                        pass
                finally:
                    shutil.rmtree(staging, ignore_errors=True)
            return extracted
        return target

    def _download_url(self, target: str) -> None:
        import fsspec

        url = self._record["url"]
        options = storage_options_for(url, self._store)
        fd, partial = tempfile.mkstemp(dir=os.path.dirname(target), prefix=".fstrack-download-")
        os.close(fd)
        try:
            with fsspec.open(url, "rb", **options) as src, open(partial, "wb") as dst:
                shutil.copyfileobj(src, dst, CHUNK)
            os.replace(partial, target)
        finally:
            if os.path.exists(partial):
                os.unlink(partial)

    def get(
        self,
        force_download: bool = False,
        deserialization_function: Callable[[bytes], Any] | None = None,
        allow_pickle: bool | None = None,
    ) -> Any:
        """The artifact as a Python object: numpy array, DataFrame, PIL image, dict, str, an unpickled object, or
        ``deserialization_function(bytes)``; other types (files, archives, URLs) give a ``pathlib.Path`` to the
        local copy, as does content that fails to parse (with a warning).

        **Security:** unpickling runs the code of whoever wrote the file. ``pickle`` artifacts (and DataFrames
        stored as ``.pickle``) raise :class:`PickleNotAllowedError` unless ``allow_pickle=True`` or the user's
        setting allows pickles (``FSTRACK_ALLOW_PICKLE=1``, ``"allow_pickle": true`` in the config file).
        """
        if self._object is not _NOT_SET and not force_download and deserialization_function is None:
            return self._object
        if deserialization_function is None and self._is_pickle():
            from fstrack.records import config

            if not (config.pickles_allowed() if allow_pickle is None else allow_pickle):
                raise PickleNotAllowedError(
                    f"artifact {self.name!r} is a pickle: loading it runs the code of whoever stored it. If you "
                    "trust every writer of its store, pass get(allow_pickle=True), or set FSTRACK_ALLOW_PICKLE=1 "
                    '(or "allow_pickle": true in the fstrack config file); get_local_copy() gives the file unread'
                )
        local = self.get_local_copy(raise_on_error=True, force_download=force_download)
        assert local is not None  # raise_on_error: a failure raised
        result: Any = _NOT_SET
        try:
            result = self._load(local, deserialization_function)
        except Exception as exc:  # noqa: BLE001 - ClearML returns the local path when parsing fails
            terminal.warn(
                f"fstrack: could not load artifact {self.name!r} of type {self.type!r} "
                f"({type(exc).__name__}: {exc}); returning its local path",
                stacklevel=2,
            )
        if result is _NOT_SET:
            result = pathlib.Path(local)
        if deserialization_function is None:
            self._object = result
        return result

    def _is_pickle(self) -> bool:
        return self.type == "pickle" or self.content_type == "application/pickle"

    def _load(self, local: str, deserialization_function: Callable[[bytes], Any] | None) -> Any:
        kind, content_type = self.type, self.content_type
        if deserialization_function is not None:
            with open(local, "rb") as f:
                return deserialization_function(f.read())
        if kind == "numpy":
            import numpy as np

            if content_type == "text/csv":
                return np.genfromtxt(local, delimiter=",")
            with np.load(local, allow_pickle=False) as npz:
                return npz[self.name]
        if kind in ("pandas", DATA_AUDIT_TYPE):
            import pandas as pd

            if content_type == "application/parquet":
                return pd.read_parquet(local)
            if content_type == "application/feather":
                return pd.read_feather(local)
            if content_type == "application/pickle":
                return pd.read_pickle(local)  # explicit get(): see the security note
            if kind == DATA_AUDIT_TYPE:
                return pd.read_csv(local)
            return pd.read_csv(local, index_col=[0])
        if kind == "image":
            from PIL import Image

            image = Image.open(local)
            image.load()  # reads the pixels and releases the file
            return image
        if kind == "dict":
            with open(local, encoding="utf-8") as f:
                if content_type == "application/yaml":
                    import yaml

                    return yaml.safe_load(f)
                return json.load(f)
        if kind == "string":
            with open(local, encoding="utf-8") as f:
                return f.read()
        if kind == "pickle":
            with open(local, "rb") as f:
                return pickle.load(f)  # explicit get(): see the security note
        return _NOT_SET

    def __repr__(self) -> str:
        return str(
            {
                "name": self.name,
                "size": self.size,
                "type": self.type,
                "mode": self.mode,
                "url": self.url,
                "hash": self.hash,
                "timestamp": self.timestamp,
                "metadata": self.metadata,
                "preview": self.preview,
            }
        )


_NOT_SET: Any = object()


class _ReadOnlyDict(dict):
    def _refuse(self, *args: Any, **kwargs: Any) -> None:
        raise TypeError("task.artifacts is read-only: use upload_artifact, delete_artifacts or set_artifacts")

    __setitem__ = __delitem__ = clear = pop = popitem = setdefault = update = _refuse  # type: ignore[assignment]


# -- the upload worker -------------------------------------------------------------------------------------------
@dataclass
class _Job:
    prepared: _Prepared
    metadata: dict[str, str]
    retries: int
    target_url: str | None  # None: the task's own store
    done: threading.Event = field(default_factory=threading.Event)
    error: BaseException | None = None
    record: dict | None = None
    deduped: bool = False


class _Uploader:
    """One per Task object: a background thread taking queued uploads in batches. Each batch uploads its files
    (concurrently), pins those going to another store, then commits all their records in one manifest edit,
    and finally re-checks the objects it deduplicated against (the collector may have taken them)."""

    BATCH = 256

    def __init__(self, task: ArtifactsMixin):
        self._task = weakref.ref(task)
        self._cv = threading.Condition()
        self._queue: deque[_Job] = deque()
        self._running: list[_Job] = []  # the batch being uploaded
        self._busy = 0
        self._thread: threading.Thread | None = None
        self._errors: list[str] = []
        self._pool: ThreadPoolExecutor | None = None
        self.last_error: BaseException | None = None  # the store failure an upload is retrying (None: fine)
        self.last_stored = time.monotonic()  # when an upload last finished
        self._abandoned = False
        _LIVE.add(self)

    def submit(self, job: _Job) -> _Job:
        with self._cv:
            self._queue.append(job)
            self._busy += 1
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._loop, name="fstrack-artifacts", daemon=True)
                threads.start(self._thread)
            self._cv.notify_all()
        return job

    def wait(self, timeout: float | None = None) -> bool:
        """Block until every queued upload finished; False if one failed since the last wait (or on timeout)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cv:
            while self._busy:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return False
                self._cv.wait(remaining)
            failed, self._errors = self._errors, []
        for message in failed:
            terminal.warn(f"fstrack: {message}", stacklevel=3)
        return not failed

    def abandon(self) -> set[str]:
        """At exit, once the store failed past the deadline: stop waiting for uploads; the names of those queued
        and of those still running (the batch stuck on the store)."""
        with self._cv:
            self._abandoned = True
            running = [job for job in self._running if not job.done.is_set()]
            names = {job.prepared.name for job in [*self._queue, *running]}
            self._queue.clear()
            self._busy = 0
            self._cv.notify_all()
        return names

    def _loop(self) -> None:
        while True:
            with self._cv:
                while not self._queue:
                    if not self._cv.wait(30):
                        if not self._queue:
                            self._thread = None
                            return
                batch = [self._queue.popleft() for _ in range(min(len(self._queue), self.BATCH))]
                self._running = batch
            try:
                self._run(batch)
            except BaseException as exc:  # noqa: BLE001 - never let the worker die silently
                for job in batch:
                    if job.error is None and job.record is None:
                        job.error = exc
            finally:
                for job in batch:
                    _cleanup(job)
                with self._cv:
                    for job in batch:
                        if job.error is not None:
                            self._errors.append(
                                f"artifact {job.prepared.name!r} was not stored: "
                                f"{type(job.error).__name__}: {job.error}"
                            )
                        self._busy = max(0, self._busy - 1)  # abandon() may have zeroed it
                        job.done.set()
                    self._running = []
                    self._cv.notify_all()

    def _run(self, batch: list[_Job]) -> None:
        task = self._task()
        if task is None:
            raise ArtifactError("the task object was garbage-collected before its uploads finished")
        own = task._db.store
        stores: dict[str | None, Store] = {}
        for job in batch:
            if job.target_url is not None and job.target_url not in stores:
                stores[job.target_url] = location_store(job.target_url, own, create=True)
        remote = any((stores.get(j.target_url) or own).backend.concurrent_io for j in batch)
        if len(batch) > 1 and remote:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(
                    max_workers=16, thread_name_prefix="fstrack-artifact-put", initializer=threads.block_process_signals
                )
            list(self._pool.map(lambda j: self._transfer(j, stores.get(j.target_url) or own), batch))
        else:  # local disks: one thread (the caller's thread prepares the next artifacts meanwhile)
            for job in batch:
                self._transfer(job, stores.get(job.target_url) or own)
        ready = [(j, j.record) for j in batch if j.error is None and j.record is not None]
        if not ready:
            return
        # pins first: the objects in another store are roots there before the manifest names them
        for url, store in stores.items():
            pinned = {
                j.prepared.name: BlobId(record["hash"])
                for j, record in ready
                if j.target_url == url and record.get("hash")
            }
            if pinned:
                Refs(store).append(
                    f"{OUTPUTS_REF}/{task.id}", {"task": task.id, "artifacts": pinned, "time": time.time()}
                )
        records = [(j.prepared.name, record) for j, record in ready]

        def commit(manifest: dict) -> None:
            artifacts = manifest.setdefault("artifacts", {})
            for name, record in records:
                artifacts[name] = record  # fresh dicts of this batch, never mutated afterwards

        try:
            task._edit(commit, fields={"artifacts"})
        except BaseException as exc:
            for job, _record in ready:
                job.error = exc
            raise
        # the GC protocol: an object we deduplicated against may have been collected meanwhile
        for job, record in ready:
            if job.deduped and record.get("hash") and job.prepared.path is not None:
                store = stores.get(job.target_url) or own
                if not store.has(record["hash"]):
                    put_local_file(store, job.prepared.path)

    def _transfer(self, job: _Job, store: Store) -> None:
        prepared = job.prepared
        record = {
            "name": prepared.name,
            "type": prepared.type,
            "mode": "output",
            "filename": prepared.filename,
            "content_type": prepared.content_type,
            "preview": prepared.preview,
            "metadata": job.metadata,
            "timestamp": time.time(),
            "size": None,
            "hash": None,
            "object": None,
            "store": None,
            "url": None,
        }
        if prepared.path is None:
            record["url"] = prepared.url
            job.record = record
            return
        attempt = 0
        while True:
            try:
                oid, size, deduped = put_local_file(store, prepared.path)
                self.last_error, self.last_stored = None, time.monotonic()
                break
            except Exception as exc:  # noqa: BLE001
                self.last_error = exc
                if attempt >= job.retries:
                    job.error = exc
                    return
                attempt += 1
                time.sleep(min(5.0, 0.2 * 2**attempt))
        record.update(size=size, hash=str(oid))
        if job.target_url is None:
            record["object"] = oid
        else:
            record["store"] = store.url
        job.deduped = deduped
        job.record = record


def _cleanup(job: _Job) -> None:
    prepared = job.prepared
    if prepared.temporary:
        shutil.rmtree(prepared.temporary, ignore_errors=True)
    if prepared.delete_source and job.error is None and prepared.path:
        try:
            os.unlink(prepared.path)
        except OSError as exc:
            terminal.warn(f"fstrack: could not delete {prepared.path} after its upload ({exc})", stacklevel=1)


_LIVE: weakref.WeakSet[_Uploader] = weakref.WeakSet()


def _forget_parent_uploads() -> None:
    """In a forked child: the parent finishes the uploads it queued (this copy has no thread to run them)."""
    for uploader in list(_LIVE):
        uploader._cv = threading.Condition()
        uploader._queue.clear()
        uploader._busy = 0
        uploader._thread = None
        uploader._pool = None


os.register_at_fork(after_in_child=_forget_parent_uploads)


@atexit.register
def _wait_at_exit() -> None:
    for uploader in list(_LIVE):
        if uploader._abandoned:
            continue
        try:
            uploader.wait(timeout=3600)
        except Exception:  # noqa: BLE001
            pass


# -- the Task mixin ----------------------------------------------------------------------------------------------
@dataclass
class _Registered:
    frame: Any
    metadata: dict | None
    columns: list
    last_hash: str | None = None


if TYPE_CHECKING:  # the host contract, for the type checker only (see fstrack.sdk.host)
    from fstrack.sdk.host import ArtifactsHost
else:
    ArtifactsHost = object


class ArtifactsMixin(ArtifactsHost):
    """``upload_artifact``, ``artifacts``, registered artifacts, output destinations and the artifact cache."""

    # -- state kept on the Task object ---------------------------------------------------------------------
    def _artifact_uploader(self) -> _Uploader:
        uploader = self.__dict__.get("_fstrack_uploader")
        if uploader is None:
            uploader = self.__dict__["_fstrack_uploader"] = _Uploader(self)
        return uploader

    def _registered(self) -> dict[str, _Registered]:
        return self.__dict__.setdefault("_fstrack_registered", {})

    # -- where uploads go ----------------------------------------------------------------------------------
    def _artifact_target(self) -> str | None:
        """The URL of the store artifacts go to, or None for the task's own store."""
        destination = self.output_uri or os.environ.get("FSTRACK_DEFAULT_OUTPUT_URI") or None
        if not destination or destination is True:
            return None
        if _normalise(destination) == _normalise(self._db.store.url):
            return None
        return _normalise(destination)

    def get_output_destination(self, extra_path: str | None = None, **kwargs: Any) -> str:
        """The URL artifacts and models of this task are stored at (``output_uri``, or the task's own store),
        with ``extra_path`` appended. Content is addressed by hash there: no per-task folder is used."""
        base = self._artifact_target() or self._db.store.url
        return f"{base.rstrip('/')}/{extra_path.lstrip('/')}" if extra_path else base

    def get_output_storage_options(self) -> dict[str, Any]:
        """The fsspec storage options (held in this process only) for :meth:`get_output_destination`."""
        target = self._artifact_target()
        return storage_options_for(target, self._db.store) if target else dict(self._db.store.storage_options)

    def _set_output(self, url: str, options: dict[str, Any]) -> None:
        set_storage_options(url, **{k: v for k, v in options.items() if v is not None})
        self.output_uri = url

    def setup_aws_upload(
        self,
        bucket: str,
        subdir: str | None = None,
        host: str | None = None,
        key: str | None = None,
        secret: str | None = None,
        token: str | None = None,
        region: str | None = None,
        multipart: bool = True,
        secure: bool = True,
        verify: bool = True,
        profile: str | None = None,
        **storage_options: Any,
    ) -> None:
        """Send this task's artifacts to ``s3://bucket/subdir``; credentials become s3fs options of this process
        (never written to any store). ``host`` is the endpoint of an S3-compatible server."""
        url = f"s3://{bucket.strip('/')}" + (f"/{subdir.strip('/')}" if subdir else "")
        client: dict[str, Any] = {}
        if host:
            client["endpoint_url"] = host if "://" in host else f"{'https' if secure else 'http'}://{host}"
        if region:
            client["region_name"] = region
        if not verify:
            client["verify"] = False
        options = {"key": key, "secret": secret, "token": token, "profile": profile, **storage_options}
        if client:
            options["client_kwargs"] = {**client, **options.get("client_kwargs", {})}
        if not multipart:
            options.setdefault("default_block_size", 5 << 30)
        self._set_output(url, options)

    def setup_gcp_upload(
        self,
        bucket: str,
        subdir: str = "",
        project: str | None = None,
        credentials_json: str | None = None,
        pool_connections: int | None = None,
        pool_maxsize: int | None = None,
        **storage_options: Any,
    ) -> None:
        """Send this task's artifacts to ``gs://bucket/subdir`` (gcsfs options of this process only)."""
        url = f"gs://{bucket.strip('/')}" + (f"/{subdir.strip('/')}" if subdir else "")
        self._set_output(url, {"project": project, "token": credentials_json, **storage_options})

    def setup_azure_upload(
        self, account_name: str, account_key: str, container_name: str | None = None, **storage_options: Any
    ) -> None:
        """Send this task's artifacts to ``az://container`` (adlfs options of this process only)."""
        if not container_name:
            raise ValueError("setup_azure_upload needs container_name: fstrack stores artifacts in a container")
        url = f"az://{container_name.strip('/')}"
        self._set_output(url, {"account_name": account_name, "account_key": account_key, **storage_options})

    @property
    def cache_dir(self) -> pathlib.Path:
        """The folder holding local copies of artifacts (by content hash), shared by all tasks of this machine."""
        return pathlib.Path(cache_root()) / "artifacts"

    # -- uploading -----------------------------------------------------------------------------------------
    def upload_artifact(
        self,
        name: str,
        artifact_object: Any,
        metadata: Mapping | None = None,
        delete_after_upload: bool = False,
        auto_pickle: bool = True,
        preview: Any = None,
        wait_on_upload: bool = False,
        extension_name: str | None = None,
        serialization_function: Callable[[Any], bytes] | None = None,
        retries: int = 0,
    ) -> bool:
        """Upload (or record) an artifact; an artifact of the same name is replaced. The object is serialised
        now; its upload runs in the background unless ``wait_on_upload`` (``flush(wait_for_uploads=True)`` and
        ``close`` wait for it). Returns False if a waited upload failed."""
        _check_name(name)
        if (
            name in self._registered()
            or (self._data.get("artifacts", {}).get(name) or {}).get("type") == DATA_AUDIT_TYPE
        ):
            raise ArtifactError(f"artifact {name!r} is a registered artifact: use register_artifact to change it")
        if not isinstance(retries, int) or retries < 0:
            raise ValueError(f"retries must be a non-negative int, got {retries!r}")
        prepared = prepare(
            name,
            artifact_object,
            preview=preview,
            auto_pickle=auto_pickle,
            extension_name=extension_name,
            serialization_function=serialization_function,
            delete_after_upload=delete_after_upload,
        )
        job = self._artifact_uploader().submit(_Job(prepared, _metadata(metadata), retries, self._artifact_target()))
        if wait_on_upload:
            job.done.wait()
            if job.error is not None:
                self._artifact_uploader().wait()  # consume the error
                terminal.warn(f"fstrack: artifact {name!r} was not stored: {job.error}", stacklevel=2)
                return False
        return True

    @property
    def artifacts(self) -> dict[str, Artifact]:
        """The task's artifacts by name (read-only). Waits for this object's pending uploads first."""
        uploader = self.__dict__.get("_fstrack_uploader")
        if uploader is not None and uploader._busy:
            uploader.wait()
            self.reload()
        records = self._data.get("artifacts") or {}
        return _ReadOnlyDict(
            {name: Artifact(record, self._db.store, task_id=self.id) for name, record in records.items()}
        )

    def _flush_artifacts(self, wait_for_uploads: bool = False) -> bool:
        """Sync registered artifacts; with ``wait_for_uploads`` wait until every upload is stored."""
        self._sync_registered()
        uploader = self.__dict__.get("_fstrack_uploader")
        if wait_for_uploads and uploader is not None:
            return uploader.wait()
        return True

    def _close_artifacts(self) -> None:
        """At close/exit: a last snapshot of registered artifacts, then wait for every upload."""
        try:
            self._sync_registered()
        finally:
            uploader = self.__dict__.get("_fstrack_uploader")
            if uploader is not None:
                uploader.wait()

    # -- registered artifacts ------------------------------------------------------------------------------
    def register_artifact(
        self, name: str, artifact: Any, metadata: Mapping | None = None, uniqueness_columns: bool | Sequence[str] = True
    ) -> None:
        """Watch a pandas DataFrame: it is stored now and again (if it changed) at every flush and at close."""
        _check_name(name)
        if not _module_instance(artifact, "pandas", "DataFrame"):
            raise ArtifactError("register_artifact supports pandas.DataFrame objects only")
        columns = list(artifact.columns) if uniqueness_columns is True else list(uniqueness_columns or [])
        self._registered()[name] = _Registered(artifact, dict(metadata) if metadata else None, columns)
        self._sync_registered(only=name)

    def unregister_artifact(self, name: str) -> None:
        """Stop watching ``name`` after storing its last snapshot; the artifact stays on the task."""
        if name in self._registered():
            self._sync_registered(only=name)
            self._registered().pop(name, None)

    def get_registered_artifacts(self) -> dict[str, Any]:
        """The watched DataFrames by name (modifying them is synced at the next flush)."""
        return {name: entry.frame for name, entry in self._registered().items()}

    def _sync_registered(self, only: str | None = None) -> None:
        registered = self._registered()
        names = [only] if only is not None else list(registered)
        if not names:
            return
        for name in names:
            entry = registered.get(name)
            if entry is None:
                continue
            folder, path = _temp_file(name, ".csv.gz")
            entry.frame.to_csv(path, index=False, compression={"method": "gzip", "mtime": 0})
            digest, _ = hash_file(path)
            if digest == entry.last_hash:
                shutil.rmtree(folder, ignore_errors=True)
                continue
            entry.last_hash = digest
            preview = _cut_preview(repr(entry.frame) + "\n\n" + _uniqueness_summary({name: entry}))
            prepared = _Prepared(
                name, DATA_AUDIT_TYPE, os.path.basename(path), "text/csv", preview, path=path, temporary=folder
            )
            self._artifact_uploader().submit(_Job(prepared, _metadata(entry.metadata), 2, self._artifact_target()))

    # -- editing the set of artifacts ------------------------------------------------------------------------
    def delete_artifacts(
        self, artifact_names: Sequence[str], raise_on_errors: bool = True, delete_from_storage: bool = True
    ) -> bool:
        """Remove artifacts from the task. Their bytes stay while any manifest (this task's history included),
        model or other task links them; ``fstrack gc`` reclaims them once the task is deleted."""
        names = [artifact_names] if isinstance(artifact_names, str) else list(artifact_names or [])
        if not names:
            return True
        uploader = self.__dict__.get("_fstrack_uploader")
        if uploader is not None:
            uploader.wait()
        for name in names:
            self._registered().pop(name, None)
        try:
            self._edit(lambda m: [m.setdefault("artifacts", {}).pop(n, None) for n in names], fields={"artifacts"})
        except Exception:
            if raise_on_errors:
                raise
            return False
        return True

    def set_artifacts(self, artifacts_list: Sequence[Artifact | Mapping] | None = None) -> list[Artifact]:
        """Add or replace artifacts by name from :class:`Artifact` objects (e.g. another task's) or records.

        An artifact whose content lives in another store than this task's is recorded by location, and pinned
        in that store so that its collector keeps it."""
        if not isinstance(artifacts_list, (list, tuple)) or not all(
            isinstance(a, (Artifact, Mapping)) for a in artifacts_list
        ):
            raise ValueError("set_artifacts expects a list of Artifact objects")
        own = self._db.store
        records: dict[str, dict] = {}
        pins: dict[str, dict[str, BlobId]] = {}
        for item in artifacts_list:
            if isinstance(item, Artifact):
                record, source = dict(item._record), item._store
            else:
                record, source = dict(item), own
            name = _check_name(record.get("name"))
            where = record.get("store") or (source.url if source is not None else own.url)
            if record.get("hash") and _normalise(where) != _normalise(own.url):
                record.update(object=None, store=_normalise(where))
                pins.setdefault(record["store"], {})[name] = BlobId(record["hash"])
            elif record.get("hash"):
                record.update(object=BlobId(record["hash"]), store=None)
                if not own.has(record["hash"]):
                    raise ArtifactError(f"artifact {name!r}: object {record['hash']} is not in store {own.url!r}")
            records[name] = record
        for url, pinned in pins.items():
            Refs(location_store(url, own)).append(
                f"{OUTPUTS_REF}/{self.id}", {"task": self.id, "artifacts": pinned, "time": time.time()}
            )
        self._edit(lambda m: m.setdefault("artifacts", {}).update(copy.deepcopy(records)), fields={"artifacts"})
        return list(self.artifacts.values())

    # -- deletion of the task ----------------------------------------------------------------------------------
    def _artifacts_before_delete(
        self, delete_artifacts: bool, callback: Callable[[str, str], bool] | None
    ) -> dict[str, Any]:
        """Decide per artifact whether its bytes go with the task (``callback(kind, url)`` if given, else
        ``delete_artifacts``); pin the kept ones in the task's own store before the task is tombstoned."""
        uploader = self.__dict__.get("_fstrack_uploader")
        if uploader is not None:
            uploader.wait()
        try:
            self.reload()
        except LookupError:  # already deleted: Task.delete reports it
            return {"external": {}}
        own = self._db.store
        kept_own: dict[str, BlobId] = {}
        external: dict[str, dict[str, BlobId]] = {}  # store url -> kept artifacts there
        for name, record in (self._data.get("artifacts") or {}).items():
            artifact = Artifact(record, own, task_id=self.id)
            delete = bool(callback("artifact", artifact.url or "")) if callback is not None else bool(delete_artifacts)
            if record.get("store"):
                kept = external.setdefault(record["store"], {})
                if not delete and record.get("hash"):
                    kept[name] = BlobId(record["hash"])
            elif not delete and record.get("hash"):
                kept_own[name] = BlobId(record["hash"])
        if kept_own:
            Refs(own).append(f"{OUTPUTS_REF}/{self.id}", {"task": self.id, "kept": kept_own, "time": time.time()})
        return {"external": external}

    def _artifacts_after_delete(self, plan: Mapping[str, Any]) -> None:
        """After the task's tombstone: tombstone its pins in other stores (keeping what was kept)."""
        for url, kept in (plan.get("external") or {}).items():
            try:
                Refs(location_store(url, self._db.store)).append(
                    f"{OUTPUTS_REF}/{self.id}", {"deleted": True, "time": time.time(), "kept": kept}
                )
            except Exception as exc:  # noqa: BLE001 - the task is deleted; the pins only delay reclaiming space
                terminal.warn(
                    f"fstrack: could not release the outputs of task {self.id} in {url} ({exc}); "
                    "their space is not reclaimed",
                    stacklevel=3,
                )


def _metadata(metadata: Mapping | None) -> dict[str, str]:
    if metadata is None:
        return {}
    if not isinstance(metadata, Mapping):
        raise TypeError(f"artifact metadata must be a dict, got {type(metadata).__name__}")
    return {str(k): str(v) for k, v in metadata.items()}


def _uniqueness_summary(registered: Mapping[str, _Registered]) -> str:
    """Row-uniqueness of each registered DataFrame over its uniqueness columns, and overlaps between them."""
    try:
        import pandas as pd
    except ImportError:  # pragma: no cover
        return ""
    rows = []
    for name, entry in registered.items():
        columns = [c for c in entry.columns if c in entry.frame.columns]
        if not columns:
            continue
        hashes = set(pd.util.hash_pandas_object(entry.frame[columns], index=False).tolist())
        rows.append((name, entry.frame.shape, hashes))
    lines = []
    for i, (name, shape, hashes) in enumerate(rows):
        share = 100.0 * len(hashes) / shape[0] if shape[0] else 0.0
        lines.append(f"[{name}]: shape={shape}, {len(hashes)} unique rows, {share:.1f}% uniqueness")
        for other, _shape, other_hashes in rows[i + 1 :]:
            common = len(hashes & other_hashes)
            share = 100.0 * common / len(other_hashes) if other_hashes else 0.0
            lines.append(f"\tIntersection with [{other}] {common} rows: {share:.1f}%")
    return "\n".join(lines)
