"""The execution record (fstrack.capture.execution): git state, entry point, requirements, runtime, seeds.

Everything runs against real git repositories in temporary folders and, where the answer
depends on how Python was started, against real ``python ...`` subprocesses.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import random
import shutil
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

from fstrack.capture import execution
from fstrack.capture.execution import (
    TRUNCATION_MARKER,
    capture_git,
    capture_requirements,
    capture_runtime,
    capture_script,
    sanitize_url,
    seed_everything,
)

EXECUTION_PY = Path(execution.__file__).resolve()
HAVE_GIT = shutil.which("git") is not None
needs_git = pytest.mark.skipif(not HAVE_GIT, reason="git is not installed")

SECRET = "s3cr3tT0ken"
REMOTE = f"https://alice:{SECRET}@git.example.com/team/proj.git"
CLEAN_REMOTE = "https://git.example.com/team/proj.git"

# A subprocess prints the script record; it imports the package the way users do.
PRINT_SCRIPT = (
    "import json\nfrom fstrack.capture.execution import capture_script\nprint(json.dumps(capture_script()))\n"
)

# Loads execution.py on its own (not the fstrack package, which imports msgpack, fsspec, ...),
# so that a subprocess's sys.modules holds only what the test imports.
LOAD_ALONE = textwrap.dedent(f"""
    import importlib.util, sys
    _spec = importlib.util.spec_from_file_location("fstrack_execution_alone", {str(EXECUTION_PY)!r})
    ex = importlib.util.module_from_spec(_spec)
    sys.modules[_spec.name] = ex
    _spec.loader.exec_module(ex)
""")


# ------------------------------------------------------------------------------------------
# fixtures and helpers
# ------------------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _isolated_git(tmp_path, monkeypatch):
    """No user/system git config, and no repository discovery above the test folder."""
    config = tmp_path / "gitconfig"
    config.write_text(
        "[user]\n\tname = Test\n\temail = test@example.com\n[init]\n\tdefaultBranch = main\n"
        "[core]\n\tautocrlf = false\n[advice]\n\tdetachedHead = false\n"
    )
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(config))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    for var in ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE"):
        monkeypatch.delenv(var, raising=False)


def git(cwd: Path, *args: str, input: bytes | None = None) -> str:
    proc = subprocess.run(["git", *args], cwd=cwd, input=input, capture_output=True, check=False)
    assert proc.returncode == 0, f"git {' '.join(args)}: {proc.stderr.decode()}"
    return proc.stdout.decode("utf-8", "surrogateescape")


def make_repo(path: Path, files: dict[str, str | bytes] | None = None, remote: str | None = REMOTE) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    git(path, "init", "-q")
    write_files(path, files or {"README.md": "hello\n"})
    git(path, "add", "-A")
    git(path, "commit", "-q", "-m", "first")
    if remote:
        git(path, "remote", "add", "origin", remote)
    return path


def write_files(root: Path, files: dict[str, str | bytes]) -> None:
    for name, content in files.items():
        target = root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            target.write_bytes(content)
        else:
            target.write_text(content)


def tree_snapshot(root: Path) -> dict[str, tuple[str, bytes]]:
    """path -> (kind+mode, content) for every non-ignored file of a work tree (.git excluded)."""
    listed = git(root, "ls-files", "-z", "--cached", "--others", "--exclude-standard").split("\0")
    snap = {}
    for rel in filter(None, listed):
        p = root / rel
        if p.is_symlink():
            snap[rel] = ("link", os.readlink(p).encode())
        elif p.is_file():
            snap[rel] = ("exec" if os.access(p, os.X_OK) else "file", p.read_bytes())
    return snap


def git_dir_state(root: Path) -> dict[str, tuple[int, int]]:
    """(size, mtime_ns) of every file in .git: must not change during a capture."""
    state = {}
    for p in (root / ".git").rglob("*"):
        if p.is_file():
            st = p.stat()
            state[str(p.relative_to(root))] = (st.st_size, st.st_mtime_ns)
    return state


def apply_on_fresh_clone(repo: Path, version: str, diff: str, dest: Path) -> Path:
    """Clone ``repo``, check out ``version`` and ``git apply`` the diff; returns the clone."""
    subprocess.run(["git", "clone", "-q", str(repo), str(dest)], check=True)
    git(dest, "checkout", "-q", version)
    if diff:
        patch = dest.parent / (dest.name + ".patch")
        patch.write_text(diff, encoding="utf-8")
        git(dest, "apply", "--index", str(patch))
    return dest


def run_python(
    args: list[str], cwd: Path, extra_env: dict[str, str] | None = None, stdin: str | None = None
) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env.update(extra_env or {})
    proc = subprocess.run(
        [sys.executable, *args], cwd=cwd, env=env, input=stdin, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    return proc


def last_json(stdout: str) -> dict:
    return json.loads([line for line in stdout.splitlines() if line.startswith("{")][-1])


# ------------------------------------------------------------------------------------------
# URLs
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url, clean",
    [
        (REMOTE, CLEAN_REMOTE),
        ("https://ghp_abcdef@github.com/o/r.git", "https://github.com/o/r.git"),
        ("https://oauth2:tok@gitlab.com:8443/g/r.git", "https://gitlab.com:8443/g/r.git"),
        ("http://u:p%40ss@host/r", "http://host/r"),
        ("https://host/r.git", "https://host/r.git"),
        ("ssh://git:pw@host:22/r.git", "ssh://git@host:22/r.git"),
        ("ssh://git@host/r.git", "ssh://git@host/r.git"),
        ("git@github.com:o/r.git", "git@github.com:o/r.git"),
        ("/srv/git/r.git", "/srv/git/r.git"),
        ("file:///srv/git/r.git", "file:///srv/git/r.git"),
        ("", ""),
    ],
)
def test_sanitize_url(url, clean):
    assert sanitize_url(url) == clean


# ------------------------------------------------------------------------------------------
# the diff round trip
# ------------------------------------------------------------------------------------------


@needs_git
def test_diff_round_trip_reproduces_the_work_tree(tmp_path):
    repo = make_repo(
        tmp_path / "repo",
        {
            "README.md": "hello\n",
            "src/model.py": "def f():\n    return 1\n",
            "src/gone.py": "x = 1\n",
            "run.sh": "echo hi\n",
            "data/blob.bin": bytes(range(256)) * 4,
            ".gitignore": "*.log\nbuild/\n",
        },
    )
    git(repo, "commit", "-q", "--allow-empty", "-m", "second")
    version = git(repo, "rev-parse", "HEAD").strip()
    # every kind of uncommitted change
    write_files(
        repo,
        {
            "src/model.py": "def f():\n    return 2  # tuned\n",  # modified, unstaged
            "README.md": "hello\nworld\n",  # modified, staged below
            "src/new_module.py": "import os\n",  # untracked
            "notes/deep/dir/todo.txt": "no newline at end",  # untracked, nested, no EOL
            "with space ü.txt": "unicode name\n",  # untracked, odd name
            "weights.bin": bytes(range(255, -1, -1)) * 3 + b"\0",  # untracked binary
            "data/blob.bin": bytes(range(256)) * 3 + b"changed",  # modified binary
            "latin1.txt": "caf\xe9\n".encode("latin-1"),  # not UTF-8
            "train.log": "ignored\n",  # ignored
            "build/out.o": b"ignored too",  # ignored folder
        },
    )
    git(repo, "add", "README.md")
    (repo / "src" / "gone.py").unlink()  # deleted
    os.chmod(repo / "run.sh", 0o755)  # mode change
    os.symlink("src/model.py", repo / "link_to_model")  # untracked symlink
    write_files(repo, {"staged_new.py": "y = 2\n"})
    git(repo, "add", "staged_new.py")  # staged new file

    status_before = git(repo, "status", "--porcelain")  # (this refreshes the index: before the snapshot)
    before = git_dir_state(repo)
    record = capture_script([str(repo / "src" / "model.py")], cwd=str(repo))
    assert git_dir_state(repo) == before, "capture must not write into .git"
    assert git(repo, "status", "--porcelain") == status_before

    assert record["kind"] == "script"
    assert record["repository"] == CLEAN_REMOTE
    assert SECRET not in json.dumps(record)
    assert record["branch"] == "main"
    assert record["version_num"] == version
    assert record["diff_truncated"] is False and record["diff_omitted"] == []
    assert record["code"] == ""
    assert "train.log" not in record["diff"] and "build/out.o" not in record["diff"]
    json.dumps(record).encode("utf-8")  # storable as is

    clone = apply_on_fresh_clone(repo, version, record["diff"], tmp_path / "clone")
    assert tree_snapshot(clone) == tree_snapshot(repo)


@needs_git
def test_clean_repo_has_empty_diff_and_tag(tmp_path):
    repo = make_repo(tmp_path / "repo")
    git(repo, "tag", "v1.0")
    info = capture_git(repo)
    assert info["root"] == str(repo.resolve())
    assert info["diff"] == "" and info["dirty"] is False
    assert info["tag"] == "v1.0"
    assert info["version_num"] == git(repo, "rev-parse", "HEAD").strip()


@needs_git
def test_untracked_only_round_trip_and_intent_to_add_leaves_no_object(tmp_path):
    repo = make_repo(tmp_path / "repo")
    write_files(repo, {"empty.txt": "", "a/b.py": "print('b')\n"})
    objects_before = sorted(p.name for p in (repo / ".git" / "objects").rglob("*"))
    info = capture_git(repo)
    assert sorted(p.name for p in (repo / ".git" / "objects").rglob("*")) == objects_before
    assert "a/b.py" in info["diff"] and "empty.txt" in info["diff"]
    clone = apply_on_fresh_clone(repo, info["version_num"], info["diff"], tmp_path / "clone")
    assert tree_snapshot(clone) == tree_snapshot(repo)


@needs_git
def test_same_size_edit_right_after_commit_is_seen(tmp_path):
    # "racily clean" index entries: an edit that keeps the size, made in the same instant as
    # the commit, is only visible by content. The private index copy must not hide it.
    for i in range(12):
        repo = make_repo(tmp_path / f"repo{i}", {"a.py": "a = 1\n"})
        write_files(repo, {"a.py": "a = 2\n", "untracked.txt": "u\n"})
        info = capture_git(repo)
        assert "+a = 2" in info["diff"], i


@needs_git
def test_submodule_commit_moves_round_trip(tmp_path):
    lib = make_repo(tmp_path / "lib", {"lib.py": "v = 1\n"}, remote=None)
    repo = make_repo(tmp_path / "repo")
    git(repo, "-c", "protocol.file.allow=always", "submodule", "add", "-q", str(lib), "lib")
    git(repo, "commit", "-q", "-m", "add lib")
    sub = repo / "lib"
    write_files(sub, {"lib.py": "v = 2\n"})
    git(sub, "commit", "-q", "-am", "v2")
    new_commit = git(sub, "rev-parse", "HEAD").strip()
    write_files(sub, {"scratch.txt": "inside the submodule: not part of this repository's patch\n"})
    info = capture_git(repo)
    assert f"+Subproject commit {new_commit}" in info["diff"]
    assert "-dirty" not in info["diff"] and "scratch.txt" not in info["diff"]
    clone = apply_on_fresh_clone(repo, info["version_num"], info["diff"], tmp_path / "clone")
    assert new_commit in git(clone, "ls-files", "-s", "lib")


def test_undecodable_argv_is_stored_as_valid_text(tmp_path):
    script = tmp_path / "s.py"
    script.write_text("pass\n")
    record = capture_script([str(script), "--name", "caf\udce9"])
    assert record["argv"][2] == "caf\ufffd"
    record_bytes = json.dumps(record, ensure_ascii=False).encode("utf-8")  # no lone surrogates
    assert b"caf" in record_bytes


@needs_git
def test_worktree_round_trip(tmp_path):
    repo = make_repo(tmp_path / "repo", {"x.py": "x = 1\n"})
    wt = tmp_path / "wt"
    git(repo, "worktree", "add", "-q", "-b", "feature", str(wt))
    write_files(wt, {"x.py": "x = 2\n", "new.py": "n = 1\n"})
    info = capture_git(wt)
    assert info["root"] == str(wt.resolve())
    assert info["branch"] == "feature"
    clone = apply_on_fresh_clone(repo, info["version_num"], info["diff"], tmp_path / "clone")
    assert tree_snapshot(clone) == tree_snapshot(wt)


@needs_git
def test_unborn_repository(tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q")
    write_files(repo, {"staged.py": "s = 1\n", "loose.py": "l = 1\n"})
    git(repo, "add", "staged.py")
    info = capture_git(repo)
    assert info["version_num"] == "" and info["branch"] == "main" and info["repository"] == ""
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    git(fresh, "init", "-q")
    patch = tmp_path / "p.patch"
    patch.write_text(info["diff"])
    git(fresh, "apply", str(patch))
    assert (fresh / "staged.py").read_text() == "s = 1\n" and (fresh / "loose.py").read_text() == "l = 1\n"


@needs_git
def test_huge_diff_is_cut_at_file_boundaries_and_still_applies(tmp_path):
    repo = make_repo(tmp_path / "repo", {"a_small.py": "a = 1\n", "m_big.txt": "line\n" * 10, "z_small.py": "z = 1\n"})
    write_files(
        repo,
        {
            "a_small.py": "a = 2\n",
            "m_big.txt": "changed line\n" * 2000,  # ~26 kB of diff: over the limit
            "z_small.py": "z = 2\n",
            "huge_untracked.dat": os.urandom(50_000),  # bigger than the whole budget: never read
            "b_untracked.py": "b = 1\n",
        },
    )
    info = capture_git(repo, max_diff_bytes=4096)
    assert info["diff_truncated"] is True
    assert set(info["diff_omitted"]) == {"m_big.txt", "huge_untracked.dat"}
    assert TRUNCATION_MARKER in info["diff"]
    assert "m_big.txt" in info["diff"].split(TRUNCATION_MARKER)[1]
    assert len(info["diff"].split(TRUNCATION_MARKER)[0].encode()) <= 4096
    assert any("truncated" in w for w in info["warnings"])

    clone = apply_on_fresh_clone(repo, info["version_num"], info["diff"], tmp_path / "clone")
    assert (clone / "a_small.py").read_text() == "a = 2\n"
    assert (clone / "z_small.py").read_text() == "z = 2\n"
    assert (clone / "b_untracked.py").read_text() == "b = 1\n"
    assert (clone / "m_big.txt").read_text() == "line\n" * 10  # left out: unchanged
    assert not (clone / "huge_untracked.dat").exists()


@needs_git
def test_diff_cut_mid_stream(tmp_path):
    # many files, all small, together far over the limit: the stream is stopped early
    repo = make_repo(tmp_path / "repo", {f"f{i:03}.txt": "0\n" for i in range(200)})
    write_files(repo, {f"f{i:03}.txt": f"{i}\n" * 20 for i in range(200)})
    info = capture_git(repo, max_diff_bytes=3000)
    kept = [f"f{i:03}.txt" for i in range(200) if f"b/f{i:03}.txt" in info["diff"].split(TRUNCATION_MARKER)[0]]
    assert kept and len(kept) < 200
    assert sorted(kept + info["diff_omitted"]) == [f"f{i:03}.txt" for i in range(200)]
    clone = apply_on_fresh_clone(repo, info["version_num"], info["diff"], tmp_path / "clone")
    for name in kept:
        assert (clone / name).read_text() == (repo / name).read_text()


# ------------------------------------------------------------------------------------------
# branch, remote, HEAD states
# ------------------------------------------------------------------------------------------


@needs_git
def test_detached_head(tmp_path):
    repo = make_repo(tmp_path / "repo")
    first = git(repo, "rev-parse", "HEAD").strip()
    git(repo, "commit", "-q", "--allow-empty", "-m", "two")
    git(repo, "checkout", "-q", first)
    info = capture_git(repo)
    assert info["detached"] is True
    assert info["branch"] == ""
    assert info["version_num"] == first
    assert info["repository"] == CLEAN_REMOTE


@needs_git
def test_no_remote(tmp_path):
    repo = make_repo(tmp_path / "repo", remote=None)
    info = capture_git(repo)
    assert info["repository"] == "" and info["remote"] == ""
    assert info["version_num"]
    assert any("no remote" in w for w in info["warnings"])


@needs_git
def test_upstream_remote_and_branch_are_preferred(tmp_path):
    repo = make_repo(tmp_path / "repo")
    git(repo, "remote", "add", "fork", "https://bob:pw@example.org/fork.git")
    git(repo, "checkout", "-q", "-b", "local-name")
    git(repo, "config", "branch.local-name.remote", "fork")
    git(repo, "config", "branch.local-name.merge", "refs/heads/remote-name")
    info = capture_git(repo)
    assert info["remote"] == "fork"
    assert info["repository"] == "https://example.org/fork.git"
    assert info["branch"] == "remote-name"


@needs_git
def test_not_a_repository(tmp_path):
    plain = tmp_path / "plain"
    plain.mkdir()
    info = capture_git(plain)
    assert info["root"] == "" and info["version_num"] == "" and info["diff"] == ""
    assert info["warnings"] == []
    assert capture_git(tmp_path / "missing" / "dir")["root"] == ""


@needs_git
def test_git_timeout_is_reported_not_raised(tmp_path):
    repo = make_repo(tmp_path / "repo")
    info = capture_git(repo, timeout=1e-6)
    assert info["version_num"] == ""
    assert any("longer than" in w for w in info["warnings"])


@needs_git
def test_a_failing_diff_keeps_the_rest(tmp_path, monkeypatch):
    repo = make_repo(tmp_path / "repo")
    write_files(repo, {"README.md": "changed\n"})

    def broken(*args, **kwargs):
        raise execution._GitError("`git diff` took longer than 5 s and was stopped")

    monkeypatch.setattr(execution, "_diff", broken)
    info = capture_git(repo)
    assert info["version_num"] and info["repository"] == CLEAN_REMOTE
    assert info["diff"] == "" and info["diff_truncated"] is True and info["dirty"] is True
    assert any("not captured" in w for w in info["warnings"])


def test_git_not_installed(tmp_path, monkeypatch):
    script = tmp_path / "alone.py"
    script.write_text("print('hi')\n")
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    record = capture_script([str(script), "--x"])
    assert record["repository"] == "" and record["version_num"] == ""
    assert any("git is not installed" in w for w in record["warnings"])
    # without git we cannot link a repository, so the script text is kept
    assert record["code"] == "print('hi')\n" and record["entry_point"] == "alone.py"


# ------------------------------------------------------------------------------------------
# entry point / working dir / argv from real processes
# ------------------------------------------------------------------------------------------


@pytest.fixture
def project(tmp_path):
    """A repository with a script in a subfolder and a package runnable with -m."""
    return make_repo(
        tmp_path / "proj",
        {
            "sub/train.py": PRINT_SCRIPT,
            "pkg/__init__.py": "",
            "pkg/mod.py": PRINT_SCRIPT,
            "pkg/__main__.py": PRINT_SCRIPT,
            "other/.keep": "",
        },
    )


@needs_git
def test_script_run_from_repo_root(project):
    out = last_json(run_python(["sub/train.py", "--lr", "0.1"], cwd=project).stdout)
    assert out["kind"] == "script"
    assert out["entry_point"] == "sub/train.py"
    assert out["working_dir"] == "."
    assert out["script_path"] == "sub/train.py"
    assert out["argv"] == ["sub/train.py", "--lr", "0.1"]
    assert out["repository"] == CLEAN_REMOTE and out["branch"] == "main"
    assert out["version_num"] == git(project, "rev-parse", "HEAD").strip()
    assert out["binary"] == f"python{sys.version_info[0]}.{sys.version_info[1]}"
    assert out["code"] == "" and out["diff"] == ""


@needs_git
def test_script_run_from_its_folder_and_from_a_sibling(project):
    out = last_json(run_python(["train.py", "--lr", "0.1"], cwd=project / "sub").stdout)
    assert (out["working_dir"], out["entry_point"]) == ("sub", "train.py")
    assert out["argv"] == ["train.py", "--lr", "0.1"]
    out = last_json(run_python(["../sub/train.py"], cwd=project / "other").stdout)
    assert (out["working_dir"], out["entry_point"]) == ("other", "../sub/train.py")
    assert out["script_path"] == "sub/train.py"


@needs_git
def test_script_run_from_outside_the_repo(project, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    out = last_json(run_python([str(project / "sub" / "train.py"), "-v"], cwd=elsewhere).stdout)
    assert (out["working_dir"], out["entry_point"]) == (".", "sub/train.py")
    assert out["version_num"] and out["code"] == ""


@needs_git
def test_dirty_script_diff_from_a_real_run(project, tmp_path):
    (project / "sub" / "train.py").write_text(PRINT_SCRIPT + "# local tweak\n")
    out = last_json(run_python(["sub/train.py"], cwd=project).stdout)
    assert "+# local tweak" in out["diff"]
    clone = apply_on_fresh_clone(project, out["version_num"], out["diff"], tmp_path / "clone")
    assert (clone / "sub" / "train.py").read_text() == PRINT_SCRIPT + "# local tweak\n"


@needs_git
def test_python_dash_m_module(project):
    out = last_json(run_python(["-m", "pkg.mod", "--lr", "0.1"], cwd=project).stdout)
    assert out["kind"] == "module"
    assert out["entry_point"] == "-m pkg.mod"
    assert out["module"] == "pkg.mod"
    assert out["working_dir"] == "."
    assert out["script_path"] == "pkg/mod.py"
    assert out["argv"][1:] == ["--lr", "0.1"]
    assert out["version_num"]
    out = last_json(run_python(["-m", "pkg"], cwd=project).stdout)
    assert (out["entry_point"], out["module"]) == ("-m pkg", "pkg")


@needs_git
def test_script_outside_any_repo_stores_its_text(tmp_path):
    plain = tmp_path / "plain"
    plain.mkdir()
    (plain / "script.py").write_text(PRINT_SCRIPT)
    out = last_json(run_python(["script.py", "--lr", "0.1"], cwd=plain).stdout)
    assert out["code"] == PRINT_SCRIPT
    assert out["entry_point"] == "script.py"
    assert out["working_dir"] == "."
    assert out["repository"] == "" and out["version_num"] == "" and out["diff"] == ""
    assert out["argv"] == ["script.py", "--lr", "0.1"]


@needs_git
def test_repo_without_a_remote_also_stores_the_script_text(tmp_path):
    """Nothing to clone from elsewhere: the text is kept too, so an agent on another machine can run it."""
    local = make_repo(tmp_path / "local", {"sub/train.py": PRINT_SCRIPT}, remote=None)
    out = last_json(run_python(["sub/train.py"], cwd=local).stdout)
    assert out["repository"] == "" and out["version_num"] == git(local, "rev-parse", "HEAD").strip()
    assert out["code"] == PRINT_SCRIPT and out["entry_point"] == "sub/train.py"
    assert any("no remote" in w for w in out["warnings"])


@needs_git
def test_standalone_in_a_repo(project):
    script = (
        "import json\nfrom fstrack.capture.execution import capture_script\n"
        "print(json.dumps(capture_script(standalone=True)))\n"
    )
    (project / "sub" / "alone.py").write_text(script)
    out = last_json(run_python(["sub/alone.py"], cwd=project).stdout)
    assert out["code"] == script and out["entry_point"] == "alone.py" and out["working_dir"] == "."
    assert out["repository"] == "" and out["version_num"] == "" and out["diff"] == ""


@needs_git
def test_dash_c_command(project):
    code = "import json; from fstrack.capture.execution import capture_script; print(json.dumps(capture_script()))"
    out = last_json(run_python(["-c", code, "a", "b"], cwd=project / "sub").stdout)
    assert out["kind"] == "command"
    assert out["code"] == code
    assert out["entry_point"] == "" and out["argv"] == ["-c", "a", "b"]
    assert out["working_dir"] == "sub" and out["version_num"]


@needs_git
def test_interactive_repl_and_stdin(project):
    lines = "import json\nfrom fstrack.capture.execution import capture_script\nprint(json.dumps(capture_script()))\n"
    out = last_json(run_python(["-q", "-i"], cwd=project, stdin=lines).stdout)
    assert out["kind"] == "interactive"
    assert out["entry_point"] == "" and out["code"] == "" and out["version_num"]
    out = last_json(run_python(["-", "x"], cwd=project, stdin=lines).stdout)
    assert out["kind"] == "stdin" and out["argv"] == ["-", "x"] and out["entry_point"] == ""


@needs_git
def test_ignored_script_goes_into_the_diff(project, tmp_path):
    (project / ".gitignore").write_text("scratch/\n")
    git(project, "add", ".gitignore")
    git(project, "commit", "-q", "-m", "ignore scratch")
    write_files(project, {"scratch/try.py": "print('try')\n"})
    record = capture_script([str(project / "scratch" / "try.py")], cwd=str(project))
    assert record["entry_point"] == "scratch/try.py"
    assert any("ignored" in w for w in record["warnings"])
    clone = apply_on_fresh_clone(project, record["version_num"], record["diff"], tmp_path / "clone")
    assert (clone / "scratch" / "try.py").read_text() == "print('try')\n"


@needs_git
def test_explicit_argv_forms(project):
    record = capture_script(["-m", "pkg.mod", "--x"], cwd=str(project / "sub"))
    assert (record["kind"], record["entry_point"], record["working_dir"]) == ("module", "-m pkg.mod", "sub")
    assert record["argv"] == ["-m", "pkg.mod", "--x"]
    record = capture_script([""], cwd=str(project))
    assert record["kind"] == "interactive" and record["version_num"]
    record = capture_script([str(project / "nope.py")], cwd=str(project))
    assert record["entry_point"] == "" and any("does not exist" in w for w in record["warnings"])


@needs_git
def test_concurrent_captures_agree(project):
    write_files(project, {"sub/train.py": PRINT_SCRIPT + "# edit\n", "new.txt": "n\n"})
    results: list = []

    def work():
        results.append(capture_script([str(project / "sub" / "train.py")], cwd=str(project)))
        results.append(capture_requirements())

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    scripts = [r for r in results if isinstance(r, dict)]
    reqs = [r for r in results if isinstance(r, str)]
    assert len(scripts) == 8 and all(s == scripts[0] for s in scripts)
    assert "+# edit" in scripts[0]["diff"]
    assert all(r == reqs[0] for r in reqs)


# ------------------------------------------------------------------------------------------
# requirements
# ------------------------------------------------------------------------------------------


def requirements_in_subprocess(tmp_path: Path, body: str) -> str:
    """Run ``body`` in a fresh interpreter where ``ex`` is execution.py loaded on its own."""
    script = tmp_path / "reqs_probe.py"
    script.write_text(LOAD_ALONE + textwrap.dedent(body))
    return run_python([str(script)], cwd=tmp_path).stdout


def parse(text: str) -> dict[str, str]:
    out = {}
    for line in text.splitlines():
        name, _, version = line.partition("==")
        out[name] = version
    return out


def test_requirements_list_imported_distributions_only(tmp_path):
    text = requirements_in_subprocess(
        tmp_path,
        """
        import msgpack
        print(ex.capture_requirements(), end="")
    """,
    )
    reqs = parse(text)
    assert reqs.get("msgpack") == importlib.metadata.version("msgpack")
    for not_imported in ("pandas", "numpy", "pytest", "fsspec"):
        assert not_imported not in {k.lower() for k in reqs}
    assert "setuptools" not in reqs  # imported by a .pth at startup, not by the code
    assert text.splitlines() == sorted(text.splitlines(), key=str.lower)


def test_requirements_freeze_lists_everything(tmp_path):
    text = requirements_in_subprocess(
        tmp_path,
        """
        print(ex.capture_requirements(freeze=True), end="")
    """,
    )
    reqs = {k.lower(): v for k, v in parse(text).items()}
    for name in ("pandas", "numpy", "msgpack", "pytest"):
        assert reqs[name] == importlib.metadata.version(name)
    installed = {d.metadata["Name"].lower().replace("_", "-") for d in importlib.metadata.distributions()}
    assert {k.replace("_", "-") for k in reqs} == installed


def test_requirements_namespace_packages_are_split(tmp_path):
    pytest.importorskip("google.protobuf")
    text = requirements_in_subprocess(
        tmp_path,
        """
        import google.protobuf
        print(ex.capture_requirements(), end="")
    """,
    )
    reqs = parse(text)
    assert "protobuf" in reqs
    assert "google-auth" not in reqs and "google-cloud-storage" not in reqs


def test_requirements_added_ignored_and_scanned(tmp_path):
    (tmp_path / "main.py").write_text("import msgpack\n\ndef later():\n    import pandas\n")
    text = requirements_in_subprocess(
        tmp_path,
        """
        import msgpack
        print(ex.capture_requirements(
            added={"torch": "2.4.0", "PyArrow": None, "foo_bar": ">=1.2", "plain": "", "msgpack": "1.0.0",
                   "not-installed-pkg": None},
            ignored={"Plain"},
            scan_files=["main.py"],
        ), end="")
    """,
    )
    lines = text.splitlines()
    assert "torch==2.4.0" in lines
    assert f"pyarrow=={importlib.metadata.version('pyarrow')}" in lines
    assert "foo_bar>=1.2" in lines
    assert "msgpack==1.0.0" in lines  # added replaces the detected version
    assert "not-installed-pkg" in lines  # None and not installed: bare name
    assert not any(line.lower().startswith("plain") for line in lines)  # ignored wins
    assert f"pandas=={importlib.metadata.version('pandas')}" in lines  # found by scanning main.py
    assert lines == sorted(lines, key=lambda s: s.lower().replace("_", "-"))


def test_requirements_ignored_removes_detected():
    import msgpack  # noqa: F401

    assert "msgpack==" in capture_requirements()
    assert "msgpack" not in capture_requirements(ignored={"MsgPack"})
    assert "msgpack" not in capture_requirements(freeze=True, ignored={"msgpack"})


def test_requirements_include_the_package_itself_when_imported():
    reqs = parse(capture_requirements())
    assert reqs.get("fstrack") == importlib.metadata.version("fstrack")


# ------------------------------------------------------------------------------------------
# runtime, seeds, import cost
# ------------------------------------------------------------------------------------------


def test_capture_runtime():
    info = capture_runtime()
    assert info["python_version"] == ".".join(map(str, sys.version_info[:3]))
    assert info["implementation"] == "CPython" or sys.implementation.name != "cpython"
    assert info["pid"] == os.getpid()
    assert info["cwd"] == os.getcwd()
    assert info["cpu_count"] == os.cpu_count()
    assert 1 <= info["cpu_available"] <= info["cpu_count"]
    assert info["hostname"] and info["user"] and info["platform"] and info["os"] == sys.platform
    assert info["executable"] == sys.executable
    assert info["start_time"] <= info["captured_at"]
    psutil = pytest.importorskip("psutil")
    assert abs(info["start_time"] - psutil.Process().create_time()) < 1.5
    json.dumps(info)


def test_seed_everything_seeds_random_and_numpy():
    np = pytest.importorskip("numpy")
    assert "numpy" in seed_everything(123)
    a = (random.random(), np.random.rand())
    seeded = seed_everything(123)
    assert (random.random(), np.random.rand()) == a
    assert seeded[:2] == ["random", "numpy"]
    seed_everything(124)
    assert random.random() != a[0]
    seed_everything(2**40)  # numpy's limit is 2**32: reduced, not an error
    seed_everything(True)
    b = random.random()
    random.seed(1337)
    assert random.random() == b


def test_seed_everything_edge_cases():
    assert seed_everything(None) == [] and seed_everything(False) == []
    with pytest.raises(ValueError, match="-1"):
        seed_everything(-1)
    with pytest.raises(TypeError, match="1.5"):
        seed_everything(1.5)
    try:
        import torch  # noqa: F401
    except ImportError:
        assert "torch" not in seed_everything(1)  # a missing library is not an error
        assert "torch" not in seed_everything(1, import_missing=True)


def test_seed_waits_for_the_import(tmp_path):
    pytest.importorskip("numpy")
    out = requirements_in_subprocess(
        tmp_path,
        """
        done = ex.seed_everything(7)
        print(done[:2], "numpy" in sys.modules)
        import numpy                       # imported after the seed call: seeded on import
        a = numpy.random.rand()
        numpy.random.seed(7)
        print(a == numpy.random.rand(), numpy.__loader__ is numpy.__spec__.loader,
              type(numpy.__loader__).__name__)
        print(ex.seed_everything(8, import_missing=True)[:2])
    """,
    )
    first, second, third = out.splitlines()
    assert first == "['random', 'numpy@import'] False"  # cheap: numpy not imported by the call
    assert second == "True True SourceFileLoader"  # the real loader is back on the module
    assert third == "['random', 'numpy']"


def test_seed_none_cancels_a_waiting_seed(tmp_path):
    pytest.importorskip("numpy")
    out = requirements_in_subprocess(
        tmp_path,
        """
        ex.seed_everything(7)
        ex.seed_everything(None)
        import numpy
        a = numpy.random.rand()
        numpy.random.seed(7)
        print(a == numpy.random.rand())
    """,
    )
    assert out.strip() == "False"


def test_seed_import_missing_imports_now(tmp_path):
    pytest.importorskip("numpy")
    out = requirements_in_subprocess(
        tmp_path,
        """
        print(ex.seed_everything(3, import_missing=True)[:2], "numpy" in sys.modules)
    """,
    )
    assert out.strip() == "['random', 'numpy'] True"


def test_import_is_cheap(tmp_path):
    probe = tmp_path / "probe.py"
    probe.write_text(
        "import importlib.util, sys, time\nbefore = set(sys.modules)\nt = time.perf_counter()\n"
        + LOAD_ALONE
        + "took = time.perf_counter() - t\n"
        "print(sorted(set(sys.modules) - before - {'fstrack_execution_alone'}), took)\n"
    )
    new, took = run_python([str(probe)], cwd=tmp_path).stdout.rsplit(" ", 1)
    assert new == "[]", f"importing execution.py pulled in {new}"
    assert float(took) < 0.5  # compiling included: this environment may not write .pyc files
