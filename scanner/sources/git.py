"""Running git safely: one place that builds every git command line the sources use.

Git is always run with hooks, fsmonitor, external diff and textconv disabled and with terminal
prompts off, so scanning a repository never executes anything that repository (or its config) names.
Failures become `GitError`, whose str() is one line fit for a user; a git killed by the user's
Ctrl-C or SIGTERM is an interrupt (KeyboardInterrupt), never a git failure.

Every git process has its output drained: `run_git` collects both streams (subprocess.communicate),
`git_stream` hands stdout over as it comes and sends stderr to a temporary file, so no pipe can fill
while the other is waited on. Streaming children are tracked (scanner.interrupts) and killed when the
reader stops early or is interrupted.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any, NamedTuple

from scanner import interrupts

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

# For the gits that read a whole history (history.py, provenance.py): at most 64 MB of pack files
# mapped at once, in 16 MB windows. git's default maps whole packs (up to 32 TB), so every page it
# touches stays in its resident memory, which then grows with the repository (a 200,000-commit
# history: hundreds of MB); windows cost no measurable time when reading in storage order.
BOUNDED_PACKS = ("-c", "core.packedGitWindowSize=16m", "-c", "core.packedGitLimit=64m")
# ... and for those that read trees, object headers or a few blobs (the listing, the stored
# objects, provenance's few commits): a 16 MB delta base cache, not 96 MB.
TREE_WALK = (*BOUNDED_PACKS, "-c", "core.deltaBaseCacheLimit=16m")
# ... and for the listing of every object's id and size (`cat-file --batch-all-objects
# --batch-check`, which reads object headers in pack order): 1 MB windows, 8 MB at most, else its
# resident memory follows the pack up to 64 MB (a 50,000-commit history: 90 MB peak, 49 MB so,
# in the same CPU time).
HEADER_READ = ("-c", "core.packedGitWindowSize=1m", "-c", "core.packedGitLimit=8m", "-c", "core.deltaBaseCacheLimit=16m")
# ... and for the blob readers: 32 MB, not 96 MB (reading in storage order, the delta bases a blob
# needs were read just before it: a 50,000-commit history reads in the same CPU time either way).
BLOB_READ = (*BOUNDED_PACKS, "-c", "core.deltaBaseCacheLimit=32m")


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
    if interrupts.killed_by_interrupt(proc.returncode):
        raise KeyboardInterrupt
    if check and proc.returncode != 0:
        raise GitError(f"git {args[0]} failed: {first_line(proc.stderr)}")
    return proc.stdout


@contextlib.contextmanager
def git_stream(root: str | Path, *args: str, stdin: Any = subprocess.DEVNULL, check: bool = True) -> Iterator[IO[bytes]]:
    """Run git and yield its stdout to read while it runs. stderr goes to a temporary file (never a
    pipe nobody reads). Leaving the block kills git if it is still running because the reader
    stopped early or raised (Ctrl-C included); otherwise git is waited for and, with `check`, a
    failure raises GitError with git's first line. A git killed by SIGINT/SIGTERM raises
    KeyboardInterrupt."""
    with tempfile.TemporaryFile() as err:
        try:
            proc = interrupts.track(
                subprocess.Popen(
                    git_command(root, *args), stdin=stdin, stdout=subprocess.PIPE, stderr=err, env=git_env(),
                    bufsize=1 << 20,
                )  # fmt: skip
            )
        except FileNotFoundError:
            raise GitError("git is not installed or not on PATH") from None
        assert proc.stdout is not None
        try:
            yield proc.stdout
        except BaseException:
            proc.stdout.close()
            interrupts.finish(proc, kill=True)
            raise
        drained = proc.stdout.read(1) == b""
        proc.stdout.close()
        code = interrupts.finish(proc, kill=not drained)
        if interrupts.killed_by_interrupt(code):
            raise KeyboardInterrupt
        if check and drained and code != 0:
            err.seek(0)
            raise GitError(f"git {args[0]} failed: {first_line(err.read(1 << 16))}")


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
    partial: bool = False  # a partial clone (promisor remote): blobs may be missing, never fetched
    git_dir: str = ""  # absolute
    common_dir: str = ""  # absolute: the repository's own folder, shared by its worktrees
    origin: str = ""  # remote.origin.url, "" when there is none
    top: str = ""  # the work tree's top folder, "" for a bare repository


def open_repo(root: str | Path) -> Repo:
    """Check that `root` is inside a git repository (work tree, worktree or bare) and describe it: two
    or three git processes (what it is and its HEAD; its config; a work tree's top folder), whose
    answers the scan passes on rather than asking git again."""
    root = str(root)
    if not Path(root).is_dir():
        raise GitError(f"{root}: no such directory", usage=True)
    out = run_git(
        root, "rev-parse", "--is-bare-repository", "--is-shallow-repository", "--path-format=absolute",
        "--absolute-git-dir", "--git-common-dir", "--verify", "--quiet", "HEAD^{commit}", check=False,
    )  # fmt: skip
    lines = out.decode("utf-8", "surrogateescape").splitlines()
    if len(lines) < 4:  # not a repository (or a git too old for these options): git's own words
        try:
            run_git(root, "rev-parse", "--is-bare-repository")
        except GitError as exc:
            detail = "" if "not a git repository" in str(exc) else f" ({exc})"  # git's own words, unless they say it again
            raise GitError(f"{root}: not a git repository{detail}", usage=True) from None
        raise GitError(f"{root}: git could not describe this repository (git 2.31 or later is needed)", usage=True)
    bare, shallow = (line.strip() == "true" for line in lines[:2])
    git_dir, common_dir = lines[2], lines[3]
    head = lines[4].strip() if len(lines) > 4 else ""
    config = run_git(
        root, "config", "--get-regexp", r"^(remote\..*\.promisor|extensions\.partialclone|remote\.origin\.url)$",
        check=False,
    )  # fmt: skip
    partial = False
    origin = ""
    for line in config.splitlines():
        name, _, value = line.partition(b" ")
        if name.lower() == b"remote.origin.url":
            origin = value.strip().decode("utf-8", "replace")
        if name.lower().startswith(b"extensions.") or (name.lower().endswith(b".promisor") and value.strip().lower() == b"true"):
            partial = True
    top = "" if bare else toplevel(root)
    return Repo(root, bare, shallow, head, partial, git_dir, common_dir, origin, top)


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


def read_blobs(root: str | Path, shas: list[str], *, tmpdir: str | None = None, missing: list[str] | None = None):
    """Yield (sha, data) for each sha through one `git cat-file --batch`. A sha git cannot read (not in
    the repository: a partial clone's gap) is not yielded; it is appended to `missing` when given.

    The sha list goes in through a temporary file, so neither side of the pipe can block the other
    and memory holds one blob at a time.
    """
    if not shas:
        return
    with tempfile.TemporaryFile(dir=tmpdir) as listing:
        listing.write(("\n".join(shas) + "\n").encode())
        listing.seek(0)
        with git_stream(root, "cat-file", "--batch", stdin=listing, check=False) as out:
            readline, read = out.readline, out.read
            for index, sha in enumerate(shas):
                header = readline()
                if not header:  # git ended early: every sha not read yet is unreadable
                    if missing is not None:
                        missing.extend(shas[index:])
                    break
                parts = header.split()
                if len(parts) < 3:  # "<sha> missing" / "ambiguous"
                    if missing is not None:
                        missing.append(sha)
                    continue
                size = int(parts[2])
                data = read(size)
                read(1)
                yield parts[0].decode(), data


def toplevel(root: str | Path) -> str:
    """The work tree's top folder ("" for a bare repository): what history paths are relative to."""
    out = run_git(root, "rev-parse", "--show-toplevel", check=False).strip()
    return out.decode("utf-8", "surrogateescape")
