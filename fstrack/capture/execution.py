"""The execution record: what ran, from where, with which packages, on which machine.

The Task layer calls these functions (usually from a background thread, right after
``Task.init``) and stores what they return. Nothing here touches the store.

* :func:`capture_script` -> the ClearML ``script`` section: ``repository`` (credentials
  stripped), ``branch``, ``version_num`` (commit), ``tag``, ``diff`` (uncommitted changes,
  untracked files included, as a patch ``git apply`` accepts on a clean checkout of
  ``version_num``), ``entry_point``, ``working_dir``, ``binary``, ``argv``, and ``code`` (the
  script text, when there is no repository or ``standalone=True``).
* :func:`capture_git` -> the repository part alone, for any folder (``Task.set_repo("./repo")``).
* :func:`capture_runtime` -> Python, OS, host, user, pid, cpus, process start time, cwd.
* :func:`capture_requirements` -> pip requirements text: the distributions of the imported
  modules (or of everything installed with ``freeze=True``), with added / ignored packages.
* :func:`seed_everything` -> ``Task.set_random_seed``: seeds ``random``, numpy and torch (those
  not imported yet are seeded when they are, instead of being imported by the call).

Cost and safety
---------------
Importing this module costs next to nothing: it imports only ``os`` and ``sys``; everything
else is imported inside the functions that need it. The capture functions keep no state, are
safe to run in several threads at once, never raise (a missing git, a folder that is not a
repository, an unreadable file, a slow git: each git call has a timeout; what went wrong is
in ``warnings``), and change nothing on disk: git runs with ``GIT_OPTIONAL_LOCKS=0`` (no index
refresh), and the one step that needs an index of its own (marking untracked files "intent
to add" so that ``git diff`` shows them) uses a copy of the index and a private object
directory in a temporary folder, removed afterwards. The small git commands run in parallel.
"""

from __future__ import annotations

import os
import sys

__all__ = [
    "DEFAULT_MAX_DIFF_BYTES",
    "DEFAULT_GIT_TIMEOUT",
    "DEFAULT_SEED",
    "capture_script",
    "capture_git",
    "capture_runtime",
    "capture_requirements",
    "seed_everything",
    "sanitize_url",
    "python_binary",
]

#: ``diff`` (and ``code``) larger than this are cut, at a file boundary, with a marker.
DEFAULT_MAX_DIFF_BYTES = 512 * 1024
#: Seconds any single git command may take before it is killed.
DEFAULT_GIT_TIMEOUT = 5.0
#: The seed ``Task.set_random_seed(True)`` stands for (ClearML's default).
DEFAULT_SEED = 1337

#: Untracked files larger than this are left out of ``diff`` (named in ``diff_omitted``).
MAX_UNTRACKED_FILE_BYTES = 64 * 1024
#: Untracked files (or folders) whose name matches one of these (case-insensitive) are never captured: they
#: usually hold credentials. ``FSTRACK_CAPTURE_UNTRACKED=0`` leaves every untracked file out.
SECRET_FILE_PATTERNS = (
    ".env",
    ".env.*",
    "*.env",
    "*.pem",
    "*.key",
    "*.p12",
    "*.pfx",
    "*.jks",
    "*.keystore",
    "*.kdbx",
    "*.asc",
    "*.gpg",
    "id_*",
    "*credential*",
    "*secret*",
    "*.token",
    "*_token",
    "token.json",
    "*password*",
    ".netrc",
    ".pgpass",
    ".npmrc",
    ".pypirc",
    ".htpasswd",
    ".git-credentials",
    ".ssh",
    ".aws",
    ".gnupg",
    ".docker",
    ".kube",
    "service-account*.json",
)

#: Marker starting the note appended to a cut diff; ``git apply`` skips such lines.
TRUNCATION_MARKER = "# fstrack: diff truncated"

# Environment variables that would point git at another repository than the one the script
# lives in (git hooks set GIT_DIR, for instance). Discovery is by path, so they are dropped.
_GIT_LOCATION_VARS = (
    "GIT_DIR",
    "GIT_WORK_TREE",
    "GIT_INDEX_FILE",
    "GIT_OBJECT_DIRECTORY",
    "GIT_COMMON_DIR",
    "GIT_ALTERNATE_OBJECT_DIRECTORIES",
    "GIT_NAMESPACE",
    "GIT_PREFIX",
)  # GIT_CEILING_DIRECTORIES and GIT_DISCOVERY_ACROSS_FILESYSTEM are the user's limits: kept


# --------------------------------------------------------------------------------------------
# small helpers
# --------------------------------------------------------------------------------------------


def python_binary() -> str:
    """``python3.11``-style name of the running interpreter (ClearML's ``script.binary``)."""
    return f"python{sys.version_info[0]}.{sys.version_info[1]}"


def sanitize_url(url: str) -> str:
    """A remote URL without credentials.

    ``https://user:token@host/x.git`` -> ``https://host/x.git`` (any user info is dropped for
    every scheme but ssh, since a lone "user" there is usually a token); ``ssh://git:pw@host/x``
    -> ``ssh://git@host/x``; scp-like ``git@host:x.git`` and local paths are kept as they are.
    """
    if not url:
        return ""
    url = url.strip()
    sep = url.find("://")
    if sep <= 0 or not url[:sep].replace("+", "").replace("-", "").replace(".", "").isalnum():
        return url  # scp-like "user@host:path" (no password possible) or a local path
    scheme = url[:sep].lower()
    rest = url[sep + 3 :]
    slash = rest.find("/")
    authority, path = (rest, "") if slash < 0 else (rest[:slash], rest[slash:])
    at = authority.rfind("@")
    if at < 0:
        return url
    userinfo, host = authority[:at], authority[at + 1 :]
    if scheme in ("ssh", "git+ssh", "ssh+git"):
        user = userinfo.split(":", 1)[0]
        return f"{url[:sep]}://{user + '@' if user else ''}{host}{path}"
    return f"{url[:sep]}://{host}{path}"


def _posix(path: str) -> str:
    return path.replace(os.sep, "/") if os.sep != "/" else path


def _realpath(path: str) -> str:
    try:
        return os.path.realpath(path)
    except (OSError, ValueError):
        return os.path.abspath(path)


def _is_within(path: str, root: str) -> bool:
    try:
        return os.path.commonpath([path, root]) == root
    except ValueError:  # different drives on Windows
        return False


def _read_text(path: str, limit: int) -> tuple[str, bool]:
    """(text, truncated): at most ``limit`` bytes of a file, decoded leniently."""
    with open(path, "rb") as f:
        data = f.read(limit + 1)
    truncated = len(data) > limit
    if truncated:
        data = data[:limit]
    return data.decode("utf-8", errors="replace"), truncated


class _GitError(Exception):
    pass


def _command_name(args: tuple[str, ...] | list[str]) -> str:
    it = iter(args)
    for arg in it:
        if arg == "-c":
            next(it, None)
        elif not arg.startswith("-"):
            return arg
    return "git"


class _Pending:
    """A started git command: :meth:`wait` for its output (or kill it at its deadline)."""

    def __init__(self, proc, name: str, input: bytes | None, timeout: float):
        import time

        self.proc, self.name, self.input, self.timeout = proc, name, input, timeout
        self.deadline = time.monotonic() + timeout

    def wait(self, ok: tuple[int, ...] = (0,)) -> tuple[int, bytes]:
        import subprocess
        import time

        try:
            # a floor, so that a command that finished while we waited for another still counts
            remaining = max(min(0.05, self.timeout), self.deadline - time.monotonic())
            out, err = self.proc.communicate(self.input, timeout=remaining)
        except subprocess.TimeoutExpired:
            self.abandon()
            raise _GitError(f"`git {self.name}` took longer than {self.timeout:g} s and was stopped") from None
        if self.proc.returncode not in ok:
            msg = err.decode("utf-8", "replace").strip().splitlines()
            raise _GitError(f"`git {self.name}` failed ({self.proc.returncode}): {msg[-1] if msg else ''}".strip())
        return self.proc.returncode, out

    def abandon(self) -> None:
        if self.proc.returncode is None:
            if self.proc.poll() is None:
                self.proc.kill()
            try:
                self.proc.communicate(timeout=5)
            except Exception:  # noqa: BLE001
                pass


class _Git:
    """Runs git commands in one folder with a timeout; raises :class:`_GitError` on failure."""

    def __init__(self, cwd: str, timeout: float):
        self.cwd = cwd
        self.timeout = timeout
        env = {k: v for k, v in os.environ.items() if k not in _GIT_LOCATION_VARS}
        env.update(
            {
                "GIT_OPTIONAL_LOCKS": "0",  # never refresh / rewrite the index behind the user
                "GIT_TERMINAL_PROMPT": "0",
                "LC_ALL": "C",  # stable messages (we look for "not a git repository")
                "LANGUAGE": "C",
                "GIT_LITERAL_PATHSPECS": "1",  # file names are names, not globs
            }
        )
        self.env = env

    def _argv(self, args: list[str]) -> list[str]:
        return [
            "git",
            "-c",
            "core.quotePath=true",
            "-c",
            "diff.suppressBlankEmpty=false",
            "-c",
            "color.ui=never",
            "-c",
            "status.relativePaths=false",
            "-c",
            "diff.relative=false",
            *args,
        ]

    def spawn(self, *args: str, input: bytes | None = None, env: dict[str, str] | None = None) -> _Pending:
        """Start ``git args`` (several can run at once: git's start-up dominates small calls)."""
        import subprocess

        try:
            proc = subprocess.Popen(
                self._argv(list(args)),
                cwd=self.cwd,
                env=env or self.env,
                stdin=subprocess.PIPE if input is not None else subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
            )
        except FileNotFoundError as exc:
            raise _GitError("git is not installed (no `git` on PATH)") from exc
        except OSError as exc:
            raise _GitError(f"cannot run git: {exc}") from exc
        return _Pending(proc, _command_name(args), input, self.timeout)

    def run(
        self, *args: str, ok: tuple[int, ...] = (0,), input: bytes | None = None, env: dict[str, str] | None = None
    ) -> tuple[int, bytes]:
        return self.spawn(*args, input=input, env=env).wait(ok)

    def stream(self, *args: str, limit: int, env: dict[str, str] | None = None) -> tuple[bytes, bool]:
        """(at most ``limit + 1`` bytes of stdout, whether that is all of it)."""
        import subprocess
        import tempfile

        # stderr goes to a file: a pipe nobody reads while stdout is drained could fill and block
        errfile = tempfile.TemporaryFile()
        try:
            proc = subprocess.Popen(
                self._argv(list(args)),
                cwd=self.cwd,
                env=env or self.env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=errfile,
            )
        except FileNotFoundError as exc:
            errfile.close()
            raise _GitError("git is not installed (no `git` on PATH)") from exc
        except OSError as exc:
            errfile.close()
            raise _GitError(f"cannot run git: {exc}") from exc
        with errfile:
            return self._drain(proc, errfile, _command_name(args), limit)

    def _drain(self, proc, errfile, name: str, limit: int) -> tuple[bytes, bool]:
        import threading

        timed_out = threading.Event()

        def _kill() -> None:
            timed_out.set()
            proc.kill()

        timer = threading.Timer(self.timeout, _kill)
        timer.daemon = True
        timer.start()
        chunks: list[bytes] = []
        size = 0
        complete = True
        try:
            assert proc.stdout is not None
            while True:
                chunk = proc.stdout.read1(1 << 16)
                if not chunk:
                    break
                chunks.append(chunk)
                size += len(chunk)
                if size > limit:
                    complete = False
                    proc.kill()
                    break
            proc.stdout.close()
            proc.wait()
        finally:
            timer.cancel()
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        if timed_out.is_set():
            raise _GitError(f"`git {name}` took longer than {self.timeout:g} s and was stopped")
        if complete and proc.returncode != 0:
            errfile.seek(0)
            msg = errfile.read(1 << 16).decode("utf-8", "replace").strip().splitlines()
            raise _GitError(f"`git {name}` failed ({proc.returncode}): {msg[-1] if msg else ''}".strip())
        data = b"".join(chunks)
        return data, complete


# --------------------------------------------------------------------------------------------
# git
# --------------------------------------------------------------------------------------------

_DIFF_PASSES = 4  # a diff over the limit is continued (from the file it was cut in) at most this many times
_DIFF_ARGS = (
    "diff",
    "--binary",
    "--no-renames",
    "--no-color",
    "--no-ext-diff",
    "--no-textconv",
    "--src-prefix=a/",
    "--dst-prefix=b/",
    # a submodule's own uncommitted changes are not a patch of this repository: only a moved
    # submodule commit is (as "Subproject commit" lines, which `git apply` understands)
    "--ignore-submodules=dirty",
)


def _empty_git_result(**extra: object) -> dict:
    result = {
        "root": "",
        "repository": "",
        "remote": "",
        "branch": "",
        "version_num": "",
        "tag": "",
        "detached": False,
        "dirty": False,
        "diff": "",
        "diff_truncated": False,
        "diff_omitted": [],
        "warnings": [],
    }
    result.update(extra)
    return result


def capture_git(
    path: str | os.PathLike | None = None,
    *,
    diff: bool = True,
    max_diff_bytes: int = DEFAULT_MAX_DIFF_BYTES,
    timeout: float = DEFAULT_GIT_TIMEOUT,
    include: list[str] | None = None,
) -> dict:
    """The git state of the repository holding ``path`` (a file or folder; default: cwd).

    Returns ``root`` (local path of the work tree; "" when not in a repository),
    ``repository`` (URL of the branch's upstream remote, else ``origin``, else the first remote;
    credentials stripped; "" without remotes), ``remote`` (its name), ``branch`` (the upstream
    branch's name on that remote, else the local branch; "" on a detached HEAD), ``detached``,
    ``version_num`` (HEAD's commit; "" before the first commit), ``tag`` (a tag pointing at HEAD),
    ``dirty``, ``diff`` (see :func:`capture_script`; only with ``diff=True``), ``diff_truncated``,
    ``diff_omitted`` (paths with changes that are not in ``diff``) and ``warnings``.

    ``include``: extra files (absolute paths inside the work tree) to put in the diff as new
    files when git does not track them even though they are ignored (the running script, when
    it sits in an ignored folder). Never raises: problems end up in ``warnings``.
    """
    start = os.fspath(path) if path is not None else _safe_getcwd()
    if not start:
        return _empty_git_result(warnings=["the current directory no longer exists"])
    start = _realpath(start)
    if not os.path.isdir(start):
        start = os.path.dirname(start)
    if not os.path.isdir(start):
        return _empty_git_result()
    try:
        return _storable(_capture_git(start, diff, max_diff_bytes, timeout, include or []))
    except _GitError as exc:
        return _empty_git_result(warnings=[_clean_text(str(exc))])
    except Exception as exc:  # noqa: BLE001 - a capture must never break the user's run
        return _empty_git_result(warnings=[_clean_text(f"git capture failed: {type(exc).__name__}: {exc}")])


def _capture_git(start: str, want_diff: bool, max_bytes: int, timeout: float, include: list[str]) -> dict:
    git = _Git(start, timeout)
    # Every metadata command starts at once from `start` (git's start-up, not its work, is
    # what small calls cost, so together they take about as long as one).
    includes = [p for p in (_realpath(x) for x in include) if os.path.isfile(p)]
    pending: list[_Pending] = []
    try:
        revparse = git.spawn("rev-parse", "--show-toplevel", "--git-path", "index", "--git-path", "objects")
        pending.append(revparse)
        status = git.spawn("status", "--porcelain=v2", "--branch", "-z", "--untracked-files=all", "--no-renames")
        pending.append(status)
        config = git.spawn("config", "-z", "--get-regexp", r"^(remote\..*\.url|branch\..*\.(remote|merge))$")
        pending.append(config)
        tag = git.spawn("tag", "--points-at", "HEAD")
        pending.append(tag)
        lsfiles = None
        if includes:
            lsfiles = git.spawn("ls-files", "-z", "--", *(os.path.relpath(p, start) for p in includes))
            pending.append(lsfiles)
        return _read_git(git, start, want_diff, max_bytes, includes, revparse, status, config, tag, lsfiles)
    finally:
        for job in pending:
            job.abandon()


def _read_git(
    git: _Git,
    start: str,
    want_diff: bool,
    max_bytes: int,
    includes: list[str],
    revparse: _Pending,
    status: _Pending,
    config: _Pending,
    tag: _Pending,
    lsfiles: _Pending | None,
) -> dict:
    try:
        _, out = revparse.wait()
    except _GitError as exc:
        text = str(exc)
        if "not a git repository" in text or "must be run in a work tree" in text:
            return _empty_git_result()
        raise
    lines = out.decode("utf-8", "surrogateescape").splitlines()
    root = _realpath(lines[0])
    index_path = os.path.join(start, lines[1])
    objects_path = os.path.join(start, lines[2])
    result = _empty_git_result(root=root)
    warnings: list[str] = result["warnings"]
    git.cwd = root

    # one status call: HEAD commit, branch, ahead/behind, changed and untracked paths
    _, out = status.wait()
    head_oid = head_name = ""
    ahead = 0
    changed = False
    untracked: list[str] = []
    for entry in out.split(b"\0"):
        if not entry:
            continue
        text = entry.decode("utf-8", "surrogateescape")
        if text.startswith("# branch.oid "):
            value = text[len("# branch.oid ") :]
            head_oid = "" if value == "(initial)" else value
        elif text.startswith("# branch.head "):
            head_name = text[len("# branch.head ") :]
        elif text.startswith("# branch.ab "):
            try:
                ahead = int(text.split()[2].lstrip("+"))
            except (IndexError, ValueError):
                pass
        elif text.startswith("? "):
            untracked.append(text[2:])
        elif text[:2] in ("1 ", "2 ", "u "):
            changed = True
    detached = head_name == "(detached)"
    result["detached"] = detached
    result["version_num"] = head_oid
    local_branch = "" if detached else head_name

    # remotes and the branch's upstream, in one config call
    try:
        _, out = config.wait(ok=(0, 1))
    except _GitError as exc:
        warnings.append(f"remotes not read: {exc}")
        out = b""
    remotes: dict[str, str] = {}
    branch_cfg: dict[tuple[str, str], str] = {}
    for entry in (out or b"").split(b"\0"):
        if not entry:
            continue
        key, _, value = entry.decode("utf-8", "surrogateescape").partition("\n")
        section, _, rest = key.partition(".")
        name, _, var = rest.rpartition(".")
        if section == "remote" and var == "url":
            remotes.setdefault(name, value)
        elif section == "branch":
            branch_cfg[(name, var)] = value
    upstream_remote = branch_cfg.get((local_branch, "remote"), "") if local_branch else ""
    if upstream_remote in remotes:
        remote = upstream_remote
    elif "origin" in remotes:
        remote = "origin"
    else:
        remote = min(remotes) if remotes else ""
    result["remote"] = _clean_text(remote)
    result["repository"] = _clean_text(sanitize_url(remotes.get(remote, "")))
    merge = branch_cfg.get((local_branch, "merge"), "") if local_branch else ""
    if remote and upstream_remote == remote and merge.startswith("refs/heads/"):
        result["branch"] = _clean_text(merge[len("refs/heads/") :])
    else:
        result["branch"] = _clean_text(local_branch)
    if not remotes and out is not None:
        warnings.append("the repository has no remote: version_num exists only in this local clone")
    elif ahead > 0:
        warnings.append(
            f"{ahead} local commit(s) are not pushed to the upstream branch: version_num may not exist on the remote"
        )
    if head_oid:
        try:
            _, out = tag.wait()
        except _GitError as exc:
            warnings.append(f"tags not read: {exc}")
            out = b""
        tags = out.decode("utf-8", "replace").split()
        result["tag"] = _clean_text(tags[0]) if tags else ""

    # files the caller wants in the diff that git ignores (e.g. a script in an ignored folder)
    forced: list[str] = []
    if lsfiles is not None:
        try:
            _, out = lsfiles.wait()
            tracked = {_realpath(os.path.join(start, os.fsdecode(p))) for p in out.split(b"\0") if p}
        except _GitError as exc:
            warnings.append(f"cannot tell whether the script is tracked: {exc}")
            tracked = set(includes)
        for path in includes:
            rel = _posix(os.path.relpath(path, root))
            if path in tracked or rel.startswith("../") or rel in untracked:
                continue
            forced.append(rel)
            warnings.append(f"{rel} is ignored by git; it is stored in the diff as a new file")
    result["dirty"] = bool(changed or untracked or forced)
    if want_diff and result["dirty"]:
        try:
            diff, omitted = _diff(git, root, head_oid, untracked, forced, index_path, objects_path, max_bytes, warnings)
        except (_GitError, OSError) as exc:  # the rest of the record stays good
            warnings.append(f"uncommitted changes not captured: {exc}")
            result["diff_truncated"] = True
        else:
            result["diff"] = diff
            result["diff_omitted"] = omitted
            result["diff_truncated"] = bool(omitted)
    return result


def _clean_text(value: str) -> str:
    """Text safe to store (valid UTF-8): undecodable bytes become U+FFFD."""
    return value.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def _split_sections(data: bytes) -> list[bytes]:
    """Split ``git diff`` output into one chunk per file (each starting with ``diff --git``)."""
    if not data:
        return []
    starts = [0] if data.startswith(b"diff --git ") else []
    pos = data.find(b"\ndiff --git ")
    while pos >= 0:
        starts.append(pos + 1)
        pos = data.find(b"\ndiff --git ", pos + 1)
    if not starts or starts[0] != 0:
        starts.insert(0, 0)
    return [data[a:b] for a, b in zip(starts, starts[1:] + [len(data)])]


def _looks_secret(relative_path: str) -> bool:
    """Whether any part of an untracked path matches :data:`SECRET_FILE_PATTERNS`."""
    import fnmatch

    return any(
        fnmatch.fnmatch(part, pattern) for part in relative_path.lower().split("/") for pattern in SECRET_FILE_PATTERNS
    )


def _diff(
    git: _Git,
    root: str,
    head_oid: str,
    untracked: list[str],
    forced: list[str],
    index_path: str,
    objects_path: str,
    max_bytes: int,
    warnings: list[str],
) -> tuple[str, list[str]]:
    """(patch text, omitted paths) for HEAD -> work tree, untracked files as new files."""
    import shutil
    import tempfile

    omitted: list[tuple[str, str]] = []  # (path, why)
    # untracked files: include the small ones that do not look like secrets, in order, while they fit the budget
    budget = max_bytes
    add: list[str] = []
    capture_untracked = os.environ.get("FSTRACK_CAPTURE_UNTRACKED", "1").strip().lower() not in ("0", "false", "no")
    for rel in untracked:
        if not capture_untracked:
            omitted.append((rel, "untracked (FSTRACK_CAPTURE_UNTRACKED=0)"))
            continue
        if _looks_secret(rel):
            omitted.append((rel, "untracked, may hold credentials"))
            continue
        try:
            size = os.lstat(os.path.join(root, rel)).st_size
        except OSError:
            continue
        if size > min(budget, MAX_UNTRACKED_FILE_BYTES):
            omitted.append((rel, f"untracked, {size} bytes"))
            continue
        budget -= size
        add.append(rel)
    base = head_oid or _empty_tree(git)

    tmp = tempfile.mkdtemp(prefix="fstrack-git-")
    try:
        env = dict(git.env)
        if add or forced:
            # a private index (copy of the real one, so stat info stays valid) and a private
            # object directory: `git add -N` writes the empty blob, and must not do it in the repo
            tmp_index = os.path.join(tmp, "index")
            tmp_objects = os.path.join(tmp, "objects")
            os.mkdir(tmp_objects)
            try:
                # copy2 keeps the mtime: git uses it to spot "racily clean" entries, which a newer
                # index file would make it trust (and miss a same-size edit made in the same instant)
                shutil.copy2(index_path, tmp_index)
            except FileNotFoundError:
                pass
            env.update(
                {
                    "GIT_INDEX_FILE": tmp_index,
                    "GIT_OBJECT_DIRECTORY": tmp_objects,
                    "GIT_ALTERNATE_OBJECT_DIRECTORIES": os.path.abspath(objects_path),
                }
            )
            try:
                if add:
                    git.run(
                        "add",
                        "--intent-to-add",
                        "--pathspec-from-file=-",
                        "--pathspec-file-nul",
                        input=b"\0".join(p.encode("utf-8", "surrogateescape") for p in add),
                        env=env,
                    )
                if forced:
                    git.run(
                        "add",
                        "--intent-to-add",
                        "--force",
                        "--pathspec-from-file=-",
                        "--pathspec-file-nul",
                        input=b"\0".join(p.encode("utf-8", "surrogateescape") for p in forced),
                        env=env,
                    )
            except _GitError as exc:
                warnings.append(f"untracked files left out of the diff: {exc}")
                omitted.extend((p, "untracked") for p in add + forced)
                env = dict(git.env)
        kept: list[bytes] = []
        size = 0
        names: list[str] | None = None  # every changed path, in diff order (asked for only if needed)
        todo: list[str] | None = None  # the paths of this pass (None: all of them)
        for attempt in range(_DIFF_PASSES):
            data, complete = git.stream(*_DIFF_ARGS, base, "--", *(todo or ()), limit=max_bytes - size, env=env)
            sections = _split_sections(data)
            if not complete:
                sections.pop()  # the last one was cut mid-way
            if names is None and (not complete or not all(_is_utf8(x) for x in sections)):
                names = _diff_names(git, base, env)
            pass_names = todo if todo is not None else names
            if pass_names is not None and len(pass_names) < len(sections):
                pass_names = None  # should not happen; then we cannot name what we leave out
            for i, section in enumerate(sections):
                name = pass_names[i] if pass_names is not None else "?"
                if not _is_utf8(section):
                    # a text file that is not UTF-8: store it as a binary patch instead
                    binary = _binary_section(git, base, name, env, tmp, max_bytes) if pass_names else None
                    if binary is None:
                        omitted.append((name, "not UTF-8"))
                        continue
                    section = binary
                if size + len(section) > max_bytes:
                    omitted.append((name, "over the size limit"))
                    continue
                kept.append(section)
                size += len(section)
            if complete:
                break
            if pass_names is None:
                omitted.append(("...", "over the size limit"))
                break
            # the stream stopped in the middle of a file: if it was the first of this pass it is
            # alone over the budget and is left out; else it is retried, with those after it, in
            # another pass (with what is left of the budget)
            if sections:
                todo = pass_names[len(sections) :]
            else:
                omitted.append((pass_names[0], "over the size limit"))
                todo = pass_names[1:]
            if not todo:
                break
            if attempt == _DIFF_PASSES - 1 or size >= max_bytes or len(todo) > 2000:
                omitted.extend((n, "over the size limit") for n in todo)
                break
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    text = b"".join(kept).decode("utf-8")
    paths = [_clean_text(p) for p, _ in omitted]
    if omitted:
        if text and not text.endswith("\n"):
            text += "\n"
        note = [
            f"{TRUNCATION_MARKER}: {len(omitted)} changed path(s) are not in it "
            f"(limit {max_bytes} bytes); what is above applies on its own:"
        ]
        note += [f"#   {_one_line(p)} ({why})" for p, why in omitted]
        text += "\n".join(note) + "\n"
        warnings.append(f"diff truncated: {len(omitted)} changed path(s) left out (limit {max_bytes} bytes)")
    return text, paths


def _one_line(path: str) -> str:
    """A path for a comment line of the patch (a newline in a file name must not end it)."""
    return _clean_text(path).replace("\\", "\\\\").replace("\n", "\\n").replace("\r", "\\r")


def _is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _empty_tree(git: _Git) -> str:
    _, out = git.run("hash-object", "-t", "tree", os.devnull)
    return out.decode().strip()


def _diff_names(git: _Git, base: str, env: dict[str, str]) -> list[str]:
    _, out = git.run(*_DIFF_ARGS, "--name-only", "-z", base, "--", env=env)
    return [p.decode("utf-8", "surrogateescape") for p in out.split(b"\0") if p]


def _binary_section(git: _Git, base: str, name: str, env: dict[str, str], tmp: str, limit: int) -> bytes | None:
    """The diff of one path as a git binary patch (for text that is not UTF-8)."""
    attributes = os.path.join(tmp, "attributes")
    quoted = name.replace("\\", "\\\\").replace('"', '\\"')
    with open(attributes, "w", encoding="utf-8", errors="surrogateescape") as f:
        f.write(f'"{quoted}" -diff\n')
    try:
        data, complete = git.stream(
            "-c", f"core.attributesFile={attributes}", *_DIFF_ARGS, base, "--", name, limit=limit, env=env
        )
    except _GitError:
        return None
    if not complete or not data or not _is_utf8(data):
        return None
    return data


# --------------------------------------------------------------------------------------------
# script
# --------------------------------------------------------------------------------------------


def _safe_getcwd() -> str:
    try:
        return os.getcwd()
    except OSError:
        return ""


def _process_cwd() -> str:
    """The directory the run started from (Hydra changes the cwd; ask it for the original)."""
    hydra = sys.modules.get("hydra")
    if hydra is not None:
        try:
            from hydra.utils import get_original_cwd

            return get_original_cwd()
        except Exception:  # noqa: BLE001 - hydra not initialised
            pass
    return _safe_getcwd()


def _describe_invocation(argv: list[str] | None) -> tuple[str, str, str, str, list[str]]:
    """(kind, script path, module name, inline code, argv) for this process or a given argv.

    kind: ``script`` (``python file.py``), ``module`` (``python -m pkg.mod``), ``command``
    (``python -c ...``), ``stdin`` (``python - < file``), ``interactive`` (the REPL) or
    ``notebook`` (IPython / Jupyter).
    """
    if argv is not None:
        argv = [os.fspath(a) for a in argv]
        first = argv[0] if argv else ""
        if first == "-m" and len(argv) > 1:
            return "module", "", argv[1], "", argv
        if first == "-c":
            return "command", "", "", "", argv
        if first in ("", "-"):
            return ("stdin" if first == "-" else "interactive"), "", "", "", argv
        return "script", first, "", "", argv

    argv = list(sys.argv)
    first = argv[0] if argv else ""
    main = sys.modules.get("__main__")
    if "IPython" in sys.modules and _in_ipython():
        return ("notebook" if "ipykernel" in sys.modules else "interactive"), "", "", "", argv
    spec = getattr(main, "__spec__", None)
    main_file = getattr(main, "__file__", None) or ""
    if spec is not None and getattr(spec, "name", None) not in (None, "__main__"):
        module = spec.name
        if module.endswith(".__main__"):
            module = module[: -len(".__main__")]
        return "module", main_file or getattr(spec, "origin", "") or "", module, "", argv
    if first == "-c":
        return "command", "", "", _inline_code(), argv
    if first == "-":
        return "stdin", "", "", "", argv
    if not first:
        interactive = bool(getattr(sys, "ps1", None)) or bool(sys.flags.interactive)
        return ("interactive" if interactive else "stdin"), "", "", "", argv
    return "script", main_file or first, "", "", argv


def _in_ipython() -> bool:
    try:
        return sys.modules["IPython"].get_ipython() is not None
    except Exception:  # noqa: BLE001
        return False


def _inline_code() -> str:
    """The code of ``python -c CODE`` (``sys.orig_argv`` keeps it; ``sys.argv`` does not)."""
    orig = getattr(sys, "orig_argv", None) or []
    for i, arg in enumerate(orig[1:], start=1):
        if arg == "-c" and i + 1 < len(orig):
            return orig[i + 1]
        if arg.startswith("-c") and len(arg) > 2:
            return arg[2:]
    return ""


def capture_script(
    argv: list[str] | None = None,
    *,
    standalone: bool = False,
    cwd: str | None = None,
    max_diff_bytes: int = DEFAULT_MAX_DIFF_BYTES,
    timeout: float = DEFAULT_GIT_TIMEOUT,
) -> dict:
    """What ran, ClearML ``script``-shaped. Never raises; problems go to ``warnings``.

    ``argv``: this process's when None; else ``sys.argv``-shaped (``[path, *args]``,
    ``["-c", *args]``, ``[""]`` for the REPL) or ``["-m", "pkg.mod", *args]`` for a module.
    ``standalone``: store the script text in ``code`` instead of linking the repository
    (``Task.force_store_standalone_script``). ``cwd``: the launch directory (default: the
    current one, or Hydra's original one).

    Fields (all always present):

    * ``kind``: ``script`` | ``module`` | ``command`` | ``stdin`` | ``interactive`` | ``notebook``
    * ``repository``, ``branch``, ``version_num``, ``tag``: see :func:`capture_git` (empty
      outside a repository, with ``standalone=True``, without git).
    * ``diff``: the uncommitted changes (staged, unstaged, and untracked files that are not
      ignored) as a patch that ``git apply`` accepts on a clean checkout of ``version_num``.
      Over ``max_diff_bytes`` whole files are left out, a ``# fstrack: diff truncated`` note
      listing them is appended (``git apply`` ignores it), ``diff_truncated`` is True and
      ``diff_omitted`` lists their paths.
    * ``working_dir``: the launch directory relative to the repository root (``.`` at the root
      or outside the repository); ``.`` without a repository.
    * ``entry_point``: what to run from ``working_dir``, as ClearML has it: the script path
      relative to ``working_dir`` (``train.py``, ``../tools/x.py``), ``-m pkg.mod`` for a
      module, the file name when ``code`` holds the script, "" when there is no file
      (``-c``, REPL, stdin, notebook).
    * ``script_path``: the script (or module file) relative to the repository root ("" if none).
    * ``module``: the module name for ``python -m`` ("" otherwise).
    * ``code``: the script text when it is not linked to a repository (no repository, or
      ``standalone``), or the ``-c`` command text; "" otherwise. ``code_truncated`` if it was
      cut at ``max_diff_bytes``.
    * ``binary``: ``python3.11``; ``argv``: the arguments as ``sys.argv`` has them.
    * ``detached``: HEAD is detached; ``warnings``: list of human-readable notes.
    """
    try:
        return _storable(_capture_script(argv, standalone, cwd, max_diff_bytes, timeout))
    except Exception as exc:  # noqa: BLE001 - a capture must never break the user's run
        result = _script_result()
        result["argv"] = [os.fspath(a) for a in (sys.argv if argv is None else argv)]
        result["warnings"].append(f"script capture failed: {type(exc).__name__}: {exc}")
        return _storable(result)


def _storable(record: dict) -> dict:
    """Every string valid UTF-8 (argv and file names may hold undecodable bytes)."""
    for key, value in record.items():
        if isinstance(value, str):
            record[key] = _clean_text(value)
        elif isinstance(value, list):
            record[key] = [_clean_text(v) if isinstance(v, str) else v for v in value]
    return record


def _script_result() -> dict:
    return {
        "kind": "",
        "repository": "",
        "branch": "",
        "version_num": "",
        "tag": "",
        "detached": False,
        "diff": "",
        "diff_truncated": False,
        "diff_omitted": [],
        "entry_point": "",
        "working_dir": ".",
        "script_path": "",
        "module": "",
        "code": "",
        "code_truncated": False,
        "binary": python_binary(),
        "argv": [],
        "warnings": [],
    }


def _capture_script(argv: list[str] | None, standalone: bool, cwd: str | None, max_bytes: int, timeout: float) -> dict:
    kind, script, module, inline, argv = _describe_invocation(argv)
    result = _script_result()
    result.update(kind=kind, module=module, argv=list(argv))
    warnings: list[str] = result["warnings"]
    launch = _realpath(cwd) if cwd else _realpath(_process_cwd() or ".")
    if script and not os.path.isabs(script):
        script = os.path.join(launch, script)
    script = _realpath(script) if script else ""
    if script and not os.path.isfile(script):
        warnings.append(f"the script file {script} does not exist")
        script = ""

    if kind == "command":
        result["code"] = _clean_text(inline)

    git = None
    if not standalone:
        git = capture_git(
            os.path.dirname(script) if script else launch,
            max_diff_bytes=max_bytes,
            timeout=timeout,
            include=[script] if script else None,
        )
        warnings.extend(git["warnings"])
        if not git["root"]:
            git = None
        elif script and not _is_within(script, git["root"]):
            git = None  # the script is outside the repository we are in: store it standalone

    if git is not None:
        root = git["root"]
        for key in ("repository", "branch", "version_num", "tag", "detached", "diff", "diff_truncated", "diff_omitted"):
            result[key] = git[key]
        workdir = launch if _is_within(launch, root) else root
        result["working_dir"] = _posix(os.path.relpath(workdir, root))
        if script:
            result["script_path"] = _posix(os.path.relpath(script, root))
        if kind == "module":
            result["entry_point"] = f"-m {module}"
        elif kind == "script" and script:
            result["entry_point"] = _posix(os.path.relpath(script, workdir))
            if not result["repository"]:  # no remote to clone from: an agent elsewhere runs the text instead
                _store_code(result, script, max_bytes)
        return result

    # no repository (or standalone): the script text itself is the record
    result["working_dir"] = "."
    if script:
        result["entry_point"] = os.path.basename(script)
        _store_code(result, script, max_bytes)
    return result


def _store_code(result: dict, script: str, max_bytes: int) -> None:
    """Put the script's text (at most ``max_bytes``) into ``result["code"]``."""
    try:
        code, truncated = _read_text(script, max_bytes)
    except OSError as exc:
        result["warnings"].append(f"cannot read the script {script}: {exc}")
    else:
        result["code"] = code
        result["code_truncated"] = truncated
        if truncated:
            result["warnings"].append(f"script text truncated to {max_bytes} bytes")


# --------------------------------------------------------------------------------------------
# runtime
# --------------------------------------------------------------------------------------------


def capture_runtime() -> dict:
    """The machine and process: ``python_version``, ``implementation``, ``executable``,
    ``prefix``, ``virtualenv``, ``os`` (``sys.platform``), ``platform`` (``Linux-6.1.0-x86_64``),
    ``machine``, ``hostname``, ``user``, ``pid``, ``cpu_count``, ``cpu_available`` (cpus this
    process may use), ``start_time`` (process start, epoch seconds), ``captured_at``, ``cwd``.
    Never raises and runs no subprocess (unlike ``platform.platform()``).
    """
    import time

    now = time.time()
    info: dict = {
        "python_version": "{}.{}.{}".format(*sys.version_info[:3]),
        "implementation": _implementation(),
        "executable": sys.executable or "",
        "prefix": sys.prefix,
        "virtualenv": sys.prefix != getattr(sys, "base_prefix", sys.prefix),
        "os": sys.platform,
        "platform": "",
        "machine": "",
        "hostname": "",
        "user": user_name(),
        "pid": os.getpid(),
        "cpu_count": os.cpu_count() or 0,
        "cpu_available": 0,
        "start_time": _process_start_time(now),
        "captured_at": now,
        "cwd": _safe_getcwd(),
    }
    uname = getattr(os, "uname", None)
    if uname is not None:
        u = uname()
        info.update(platform=f"{u.sysname}-{u.release}-{u.machine}", machine=u.machine, hostname=u.nodename)
    else:  # Windows
        import platform

        info.update(
            platform=f"{platform.system()}-{platform.release()}-{platform.machine()}",
            machine=platform.machine(),
            hostname=platform.node(),
        )
    try:
        info["cpu_available"] = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        info["cpu_available"] = info["cpu_count"]
    return _storable(info)


def _implementation() -> str:
    name = sys.implementation.name
    return {
        "cpython": "CPython",
        "pypy": "PyPy",
        "ironpython": "IronPython",
        "jython": "Jython",
        "graalpy": "GraalVM",
    }.get(name, name)


def user_name() -> str:
    """The name of the user running this process (the numeric uid where there is no passwd entry)."""
    try:
        import getpass

        return getpass.getuser()
    except Exception:  # noqa: BLE001 - no passwd entry (containers) and no USER variable
        getuid = getattr(os, "getuid", None)
        return str(getuid()) if getuid else ""


def _process_start_time(now: float) -> float:
    """When this process started (epoch seconds), from /proc on Linux; else ``now``."""
    try:
        with open("/proc/self/stat", "rb") as f:
            stat = f.read().decode("ascii", "replace")
        with open("/proc/uptime", "rb") as f:
            uptime = float(f.read().split()[0])
        ticks = int(stat[stat.rfind(")") + 2 :].split()[19])  # field 22: starttime, in clock ticks
        return round(now - (uptime - ticks / os.sysconf("SC_CLK_TCK")), 3)
    except (OSError, ValueError, IndexError, AttributeError):
        pass
    psutil = sys.modules.get("psutil")  # only if the user already imported it
    if psutil is not None:
        try:
            return float(psutil.Process().create_time())
        except Exception:  # noqa: BLE001
            pass
    return now


# --------------------------------------------------------------------------------------------
# requirements
# --------------------------------------------------------------------------------------------

# Top-level modules that say nothing about what the user's code needs: the main module, and
# what site-packages ``.pth`` files import at startup (setuptools' distutils shim).
_NOT_REQUIREMENTS = frozenset({"__main__", "__mp_main__", "_distutils_hack"})


def _normalize(name: str) -> str:
    """PEP 503 name: ``Foo.Bar_baz`` -> ``foo-bar-baz``."""
    out = []
    dash = False
    for ch in name.strip().lower():
        if ch in "-_.":
            if not dash:
                out.append("-")
            dash = True
        else:
            out.append(ch)
            dash = False
    return "".join(out)


_RECORD_FIRST = r"^([^/,\r\n]+)([/,])"  # first path component of a RECORD line, and what follows it


class _Dist:
    __slots__ = ("name", "version", "path")

    def __init__(self, name: str, version: str, path: str):
        self.name, self.version, self.path = name, version, path

    def _read(self, filename: str) -> str | None:
        try:
            with open(os.path.join(self.path, filename), encoding="utf-8", errors="replace") as f:
                return f.read()
        except OSError:
            return None

    def top_level(self) -> set[str]:
        """Importable top-level names (top_level.txt, else inferred from RECORD)."""
        if not os.path.isdir(self.path):
            return {_normalize(self.name).replace("-", "_")}
        text = self._read("top_level.txt")
        if text is not None:
            names = {line.strip().replace("/", ".").split(".")[0] for line in text.splitlines()}
            names.discard("")
            if names:
                return names
        names = set()
        for first, rest in self._first_components():
            if not rest:  # a top-level file: module.py / module.cpython-311-x86_64-linux-gnu.so
                if first.endswith((".py", ".so", ".pyd", ".pyc")) and not first.startswith("__editable__"):
                    names.add(first.split(".", 1)[0])
            elif not first.endswith((".dist-info", ".data", ".egg-info")) and first not in ("..", "__pycache__"):
                names.add(first)
        return names or {_normalize(self.name).replace("-", "_")}

    def _first_components(self) -> set[tuple[str, str]]:
        """{(first path component, "/" or "")} of the RECORD paths (a regex: RECORDs are long)."""
        text = self._read("RECORD")
        if text is None:
            return set()
        if text.startswith('"') or '\n"' in text:  # a quoted path somewhere: parse properly
            return {p.partition("/")[:2] for p in self.files()}
        import re

        return {(first, "/" if sep == "/" else "") for first, sep in re.findall(_RECORD_FIRST, text, re.MULTILINE)}

    def files(self) -> list[str]:
        """Paths listed in RECORD (its first CSV column; quoted only when a path has a comma)."""
        text = self._read("RECORD")
        if text is None:
            return []
        paths = []
        for line in text.splitlines():
            if line.startswith('"'):
                import csv

                row = next(csv.reader([line]), None)
                if row:
                    paths.append(row[0])
            elif line:
                paths.append(line.partition(",")[0])
        return paths


def _read_metadata_header(path: str) -> tuple[str, str]:
    """(Name, Version) from the first lines of a METADATA / PKG-INFO file."""
    name = version = ""
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            for line in f:
                if not line.strip():
                    break  # end of headers
                if line.startswith("Name:"):
                    name = line[5:].strip()
                elif line.startswith("Version:"):
                    version = line[8:].strip()
                if name and version:
                    break
    except OSError:
        pass
    return name, version


def _installed() -> dict[str, _Dist]:
    """normalized name -> distribution, for every distribution on ``sys.path`` (first wins)."""
    found: dict[str, _Dist] = {}
    seen_dirs: set[str] = set()
    for entry in list(sys.path):
        folder = entry or _safe_getcwd()
        if not folder or folder in seen_dirs:
            continue
        seen_dirs.add(folder)
        try:
            with os.scandir(folder) as it:
                candidates = sorted(e.name for e in it if e.name.endswith((".dist-info", ".egg-info")))
        except OSError:
            continue
        for entry_name in candidates:
            path = os.path.join(folder, entry_name)
            if entry_name.endswith(".dist-info"):
                name, version = _read_metadata_header(os.path.join(path, "METADATA"))
            elif os.path.isdir(path):
                name, version = _read_metadata_header(os.path.join(path, "PKG-INFO"))
            else:
                name, version = _read_metadata_header(path)
            if not name:
                stem = entry_name.rsplit(".", 1)[0]
                name, _, rest = stem.partition("-")
                version = version or rest.split("-")[0]
            key = _normalize(name)
            if key and key not in found:
                found[key] = _Dist(name, version, path)
    return found


def _imports_in_files(paths: list[str]) -> set[str]:
    """Absolute module names imported anywhere in these Python files (static, via ``ast``)."""
    import ast

    names: set[str] = set()
    for path in paths:
        try:
            with open(path, "rb") as f:
                tree = ast.parse(f.read(), filename=str(path))
        except (OSError, SyntaxError, ValueError):
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module)
                names.update(f"{node.module}.{alias.name}" for alias in node.names if alias.name != "*")
    return names


def _requirement_line(name: str, version: str | None) -> str:
    version = (version or "").strip()
    if not version:
        return name
    if version[0].isdigit():
        return f"{name}=={version}"
    if version.startswith("@"):
        return f"{name} {version}"
    return f"{name}{version}"  # ">=2.4", "~=1.0", "!=3", "[extra]>=1", "; python_version<'3.12'"


def capture_requirements(
    *,
    freeze: bool = False,
    added: dict[str, str | None] | None = None,
    ignored: set[str] | None = None,
    scan_files: list[str | os.PathLike] | None = None,
) -> str:
    """pip requirements text, one ``name==version`` line per distribution, sorted by name.

    Default: the distributions providing the modules this process has imported (top-level names
    of ``sys.modules`` mapped to distributions; a namespace shared by several distributions,
    such as ``google``, counts only the distributions whose files hold an imported submodule),
    plus those providing the imports found statically in ``scan_files`` (e.g. the main script,
    whose later imports have not run yet when ``Task.init`` is called). Standard-library and
    local (not installed) modules are not listed.
    ``freeze=True``: every distribution installed on ``sys.path`` (``Task.force_requirements_env_freeze``).
    ``added``: name -> version (``Task.add_requirements``): None = the installed version (bare
    name if not installed), "" = no version, ``"2.4.0"`` -> ``==2.4.0``, ``">=2.4"`` as given;
    added entries replace the detected line. ``ignored``: names removed at the end
    (``Task.ignore_requirements``), even if added. Names compare case-, ``-_.``-insensitively.
    """
    installed = _installed()
    chosen: dict[str, tuple[str, str]] = {}  # normalized -> (name, version)
    if freeze:
        for key, dist in installed.items():
            chosen[key] = (dist.name, dist.version)
    else:
        modules: set[str] = set()
        for _ in range(3):
            try:
                modules = set(sys.modules)
                break
            except RuntimeError:  # changed size during iteration (an import in another thread)
                continue
        if scan_files:
            modules |= _imports_in_files([os.fspath(p) for p in scan_files])
        stdlib = set(getattr(sys, "stdlib_module_names", ())) | set(sys.builtin_module_names)
        # second-level names imported under each top-level name (to split namespaces)
        imported: dict[str, set[str]] = {}
        for mod in modules:
            top, _, rest = mod.partition(".")
            if not top or top in stdlib or top in _NOT_REQUIREMENTS or top.startswith("__editable__"):
                continue
            subs = imported.setdefault(top, set())
            if rest:
                subs.add(rest.split(".", 1)[0])
        providers: dict[str, list[str]] = {}
        for key, dist in installed.items():
            for top in dist.top_level():
                if top in imported:
                    providers.setdefault(top, []).append(key)
        for top, keys in providers.items():
            if len(keys) > 1:
                keys = [k for k in keys if _provides_any(installed[k], top, imported[top])]
            for key in keys:
                chosen[key] = (installed[key].name, installed[key].version)

    for name, version in (added or {}).items():
        key = _normalize(name)
        if version is None:
            known = installed.get(key)
            chosen[key] = (known.name, known.version) if known else (name, "")
        else:
            chosen[key] = (chosen.get(key, (name, ""))[0], version)
    for name in ignored or ():
        chosen.pop(_normalize(name), None)

    lines = [_requirement_line(name, version) for _, (name, version) in sorted(chosen.items())]
    return "".join(line + "\n" for line in lines)


def _provides_any(dist: _Dist, top: str, subs: set[str]) -> bool:
    """Whether ``dist`` holds any of ``top.<sub>`` (for namespaces several distributions share)."""
    files = dist.files()
    if not files or not subs:
        return True  # cannot tell: keep it
    for path in files:
        parts = path.split("/")
        if len(parts) >= 2 and parts[0] == top:
            stem = parts[1].split(".", 1)[0]
            if stem in subs:
                return True
    return False


# --------------------------------------------------------------------------------------------
# random seed
# --------------------------------------------------------------------------------------------


def seed_everything(seed: int | bool | None, *, import_missing: bool = False) -> list[str]:
    """Seed ``random``, numpy and torch with ``seed`` (``Task.set_random_seed``).

    ``None`` or ``False``: seed nothing (and cancel seeds still waiting for an import).
    ``True``: :data:`DEFAULT_SEED`. Libraries already imported are seeded now. One not imported
    yet is, by default, seeded the moment the process imports it (a one-shot import hook on
    ``sys.meta_path``), so this call stays cheap (importing torch takes seconds) and a
    ``Task.init`` placed before ``import numpy`` still seeds numpy. ``import_missing=True``
    imports them now instead (ClearML's way). A library that is not installed or fails to
    import is skipped. numpy gets ``seed mod 2**32`` (its limit), torch ``seed mod 2**64``.

    Returns what was done: ``"random"``, ``"numpy"``, ``"torch"`` for libraries seeded now,
    ``"numpy@import"`` / ``"torch@import"`` for those that will be seeded when imported.
    """
    if seed is None or seed is False:
        _SeedOnImport.cancel()
        return []
    if seed is True:
        seed = DEFAULT_SEED
    import operator

    try:
        seed = operator.index(seed)
    except TypeError:
        raise TypeError(f"random seed must be an int, True, False or None, got {seed!r}") from None
    if seed < 0:
        raise ValueError(f"random seed must be a non-negative int, got {seed}")

    import random

    random.seed(seed)
    done = ["random"]
    for name in _SEEDERS:
        module = sys.modules.get(name)
        if module is None and import_missing:
            try:
                import importlib

                module = importlib.import_module(name)
            except Exception:  # noqa: BLE001 - missing or broken: not an error
                continue
        if module is not None:
            _SeedOnImport.forget(name)
            if _seed_library(name, seed):
                done.append(name)
        else:
            _SeedOnImport.arm(name, seed)
            done.append(f"{name}@import")
    return done


def _seed_numpy(seed: int) -> None:
    import importlib

    importlib.import_module("numpy.random").seed(seed % 2**32)


def _seed_torch(seed: int) -> None:
    sys.modules["torch"].manual_seed(seed % 2**64)  # CPU and every CUDA device


_SEEDERS = {"numpy": _seed_numpy, "torch": _seed_torch}


def _seed_library(name: str, seed: int) -> bool:
    try:
        _SEEDERS[name](seed)
        return True
    except Exception:  # noqa: BLE001 - a broken install is skipped like a missing one
        return False


class _SeedOnImport:
    """``sys.meta_path`` hook: seeds numpy / torch right after their first import.

    It only answers for the armed names (a dict lookup for every other import), lets the
    other finders find the module, and wraps that spec's loader for one ``exec_module``; the
    module's ``__loader__`` and ``__spec__.loader`` are the original loader again before its
    code runs. Installed once, on the first deferred seed.
    """

    _pending: dict[str, int] = {}
    _installed: _SeedOnImport | None = None

    @classmethod
    def arm(cls, name: str, seed: int) -> None:
        cls._pending[name] = seed
        if cls._installed is None:
            cls._installed = cls()
            sys.meta_path.insert(0, cls._installed)

    @classmethod
    def forget(cls, name: str) -> None:
        cls._pending.pop(name, None)

    @classmethod
    def cancel(cls) -> None:
        cls._pending.clear()

    def find_spec(self, fullname: str, path=None, target=None):
        if fullname not in self._pending:
            return None
        for finder in sys.meta_path:
            find = getattr(finder, "find_spec", None)
            if finder is self or find is None:
                continue
            spec = find(fullname, path, target)
            if spec is not None:
                break
        else:
            return None
        seed = self._pending.pop(fullname, None)
        if seed is not None and spec.loader is not None and hasattr(spec.loader, "exec_module"):
            spec.loader = _SeedingLoader(spec.loader, fullname, seed)
        return spec

    def invalidate_caches(self) -> None:
        pass


class _SeedingLoader:
    def __init__(self, loader, name: str, seed: int):
        self._loader, self._name, self._seed = loader, name, seed

    def __getattr__(self, attr: str):
        return getattr(self._loader, attr)

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module) -> None:
        # put the real loader back before the module's code runs (and can look at it)
        module.__loader__ = self._loader
        if getattr(module, "__spec__", None) is not None:
            module.__spec__.loader = self._loader
        self._loader.exec_module(module)
        _seed_library(self._name, self._seed)
