"""Running git safely: one place that builds every git command line the sources use.

Git is always run with hooks, fsmonitor, external diff and textconv disabled and with terminal
prompts off, so scanning a repository never executes anything that repository (or its config) names.
Failures become `GitError`, whose str() is one line fit for a user.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import NamedTuple

SAFE_CONFIG = (
    "-c", "core.hooksPath=/dev/null",
    "-c", "core.fsmonitor=false",
    "-c", "safe.directory=*",
    "-c", "core.quotePath=false",
    "-c", "diff.external=",
    "-c", "diff.renames=true",
    "-c", "log.showSignature=false",
    "-c", "protocol.allow=never",
)  # fmt: skip


class GitError(Exception):
    """A git failure, one line. `usage` is True when the user asked for something that does not exist
    (a bad ref, not a repository): the CLI exits 2 either way."""

    def __init__(self, message: str, usage: bool = False) -> None:
        super().__init__(message)
        self.usage = usage


def git_env() -> dict[str, str]:
    env = dict(os.environ)
    env["GIT_TERMINAL_PROMPT"] = "0"
    env["GIT_OPTIONAL_LOCKS"] = "0"
    env["GIT_NO_LAZY_FETCH"] = "1"  # partial clones: never fetch from a promisor remote while scanning
    env["LC_ALL"] = "C"
    env.pop("GIT_EXTERNAL_DIFF", None)
    return env


def git_command(root: str | Path, *args: str) -> list[str]:
    return ["git", "-C", str(root), *SAFE_CONFIG, *args]


def run_git(root: str | Path, *args: str, check: bool = True, stdin: bytes | None = None) -> bytes:
    """Run git to completion and return stdout; a failure raises GitError with git's own first line."""
    try:
        proc = subprocess.run(
            git_command(root, *args),
            input=stdin,
            stdin=None if stdin is not None else subprocess.DEVNULL,
            capture_output=True,
            env=git_env(),
            check=False,
        )
    except FileNotFoundError:
        raise GitError("git is not installed or not on PATH") from None
    if check and proc.returncode != 0:
        raise GitError(f"git {args[0]} failed: {first_line(proc.stderr)}")
    return proc.stdout


def first_line(stderr: bytes) -> str:
    for line in stderr.decode("utf-8", "replace").splitlines():
        line = line.strip()
        if line and not line.startswith("hint:"):
            return line.removeprefix("fatal: ").removeprefix("error: ")
    return "unknown error"


class Repo(NamedTuple):
    root: str  # what git -C is given (work tree, subfolder, or bare repository)
    bare: bool
    shallow: bool
    head: str  # full sha of HEAD, "" on an unborn branch


def open_repo(root: str | Path) -> Repo:
    """Check that `root` is inside a git repository (work tree, worktree or bare) and describe it."""
    root = str(root)
    if not Path(root).is_dir():
        raise GitError(f"{root}: no such directory", usage=True)
    try:
        out = run_git(root, "rev-parse", "--is-bare-repository", "--is-shallow-repository")
    except GitError as exc:
        detail = "" if "not a git repository" in str(exc) else f" ({exc})"  # git's own words, unless they say it again
        raise GitError(f"{root}: not a git repository{detail}", usage=True) from None
    bare, shallow = (line.strip() == b"true" for line in out.splitlines()[:2])
    head = run_git(root, "rev-parse", "--verify", "--quiet", "HEAD^{commit}", check=False).strip().decode()
    return Repo(root, bare, shallow, head)


def resolve_commit(root: str | Path, ref: str) -> str:
    """The full sha `ref` names, or a usage GitError naming the ref."""
    if not ref or ref.startswith("-"):
        raise GitError(f"not a valid git revision: {ref!r}", usage=True)
    out = run_git(
        root, "rev-parse", "--verify", "--quiet", "--end-of-options", f"{ref}^{{commit}}", check=False
    )
    sha = out.strip().decode()
    if not sha:
        raise GitError(
            f"unknown git revision '{ref}' (is it fetched? try 'git fetch' or a full sha)", usage=True
        )
    return sha


def head_tree(root: str | Path, commit: str) -> dict[str, str]:
    """path -> blob sha for every file in `commit`'s tree (one tree walk, at the end only)."""
    if not commit:
        return {}
    out = run_git(root, "ls-tree", "-r", "-z", "--full-tree", commit)
    tree: dict[str, str] = {}
    for entry in out.split(b"\0"):
        if not entry:
            continue
        meta, _, path = entry.partition(b"\t")
        mode, kind, sha = meta.split()
        if kind == b"blob":
            tree[path.decode("utf-8", "surrogateescape")] = sha.decode()
    return tree


def read_blobs(root: str | Path, shas: list[str], *, tmpdir: str | None = None):
    """Yield (sha, data) for each sha through one `git cat-file --batch`; missing objects are skipped.

    The sha list goes in through a temporary file, so neither side of the pipe can block the other
    and memory holds one blob at a time.
    """
    import tempfile

    if not shas:
        return
    with tempfile.TemporaryFile(dir=tmpdir) as listing:
        listing.write(("\n".join(shas) + "\n").encode())
        listing.seek(0)
        proc = subprocess.Popen(
            git_command(root, "cat-file", "--batch"),
            stdin=listing,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=git_env(),
            bufsize=1 << 20,
        )
        try:
            readline, read = proc.stdout.readline, proc.stdout.read  # type: ignore[union-attr]
            for _ in range(len(shas)):
                header = readline()
                if not header:
                    break
                parts = header.split()
                if len(parts) < 3:  # "<sha> missing" / "ambiguous"
                    continue
                size = int(parts[2])
                data = read(size)
                read(1)
                yield parts[0].decode(), data
        finally:
            proc.stdout.close()  # type: ignore[union-attr]
            proc.wait()


def toplevel(root: str | Path) -> str:
    """The work tree's top folder ("" for a bare repository): what history paths are relative to."""
    out = run_git(root, "rev-parse", "--show-toplevel", check=False).strip()
    return out.decode("utf-8", "surrogateescape")
