"""Git history as a source: every unique blob reachable from the chosen refs, read once.

    git log --raw <revs>  (one pass: every blob each commit introduced, with its path and commit)
    -> cat-file --batch-check (sizes)  ->  split the blob list into chunks
    -> (scanner/scan_history.py) N workers, each its own `cat-file --batch` + the secrets engine
    -> provenance folded in (see provenance.py) only for the blobs that produced findings

This module is the source: what to read and how to read it. The scan itself (engines, suppressions,
workers) is scanner/scan_history.py.

No `git log -p`, no tree walk per commit: each blob's bytes cross a pipe once, whatever number of
commits carry it. Blobs over the size limit are skipped by their size before being read; binaries
(text.py: NUL-heavy or a binary signature) after. Submodules (gitlinks) are not objects of this repository: skipped
with a note. A blob git cannot read (missing from a partial clone: git never fetches it, see
git.git_env) is a warning naming its path and id, counted like any file that was not fully scanned.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import NamedTuple

from scanner.model import Item, Problem, Provenance
from scanner.sources import text
from scanner.sources.git import GitError, Repo, open_repo, read_blobs, resolve_commit, run_git
from scanner.sources.provenance import Introductions, introductions
from scanner.sources.worktree import DEFAULT_MAX_FILE_SIZE


class Blob(NamedTuple):
    sha: str
    size: int
    path: str  # the path its oldest introducing commit gave it (see plan)


class Selection(NamedTuple):
    """What to scan: git rev-list arguments plus the provenance source name."""

    revs: tuple[str, ...]
    source: str  # "history" or "range"
    describe: str


def select(
    root: str, refs: Iterable[str] | None = None, since: str | None = None, range_: str | None = None,
    unpushed: str | None = None,
) -> Selection:
    """Turn --branch / --since-commit / --range / --unpushed into rev-list arguments (refs resolved up
    front, so a typo is a one-line usage error, never a git usage dump)."""
    refs = [r for r in (refs or ()) if r]
    if unpushed:  # what pushing REF would publish: its commits that no remote-tracking ref has
        return Selection((resolve_commit(root, unpushed), "--not", "--remotes"), "range", f"{unpushed} --not --remotes")
    if since and range_:
        raise GitError("--since-commit and --range cannot be combined", usage=True)
    if since:
        base = resolve_commit(root, since)
        head = resolve_commit(root, "HEAD")
        return Selection((head, f"^{base}"), "range", f"{since}..HEAD")
    if range_:
        sym = "..." in range_
        left, sep, right = range_.partition("..." if sym else "..")
        if not sep:
            raise GitError(f"--range expects A..B, got '{range_}'", usage=True)
        a = resolve_commit(root, left or "HEAD")
        b = resolve_commit(root, right or "HEAD")
        revs = (f"{a}...{b}",) if sym else (b, f"^{a}")
        return Selection(revs, "range", range_)
    if refs:
        return Selection(tuple(resolve_commit(root, r) for r in refs), "history", ", ".join(refs))
    return Selection(("--all",), "history", "all refs")


def blob_sizes(root: str, shas: list[str]) -> dict[str, int]:
    """sha -> size from one `cat-file --batch-check` (sizes only: no blob is inflated for this)."""
    if not shas:
        return {}
    out = run_git(
        root, "cat-file", "--batch-check=%(objectname) %(objecttype) %(objectsize)",
        stdin=("\n".join(shas) + "\n").encode(), check=False,  # a missing object fails the exit code only
    )  # fmt: skip
    if out.count(b"\n") < len(shas):
        # git 2.39-2.44 stop at the first object a partial clone lacks (they would fetch it, and
        # fetching is off): list the objects that are here instead. Absent ones are reported missing.
        out = run_git(
            root, "cat-file", "--batch-all-objects", "--batch-check=%(objectname) %(objecttype) %(objectsize)",
            check=False,
        )  # fmt: skip
    sizes: dict[str, int] = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[1] == b"blob":
            sizes[parts[0].decode()] = int(parts[2])
    return sizes


def missing_blob(path: str, sha: str) -> Problem:
    """A history blob git could not read: it may have held a secret, so the scan is not complete."""
    return Problem(
        path or sha,
        f"blob {sha} is missing from this repository (a partial clone?) and was not scanned: "
        "fetch it (e.g. 'git fetch --refetch' without a filter) to scan it",
        "warning",
    )


def is_binary(data: bytes) -> bool:
    """Binary by the same judgement as the work tree's (text.py): a stray NUL is not enough."""
    return text.encoding(data) is None


class Plan(NamedTuple):
    blobs: list[Blob]  # to read and scan
    problems: list[Problem]
    total_bytes: int
    intro: Introductions  # every blob's introducing commits (provenance comes from here later)


def plan(
    repo: Repo, selection: Selection, max_size: int = DEFAULT_MAX_FILE_SIZE,
    keep: Callable[[str, str], bool] | None = None,
) -> Plan:
    """The blobs to read, and the notes a user should see (shallow clone, submodules, big blobs).
    `keep(blob id, path)`, called in listing order: only those blobs (a shard's part,
    scanner.shard.Shard.history_part); the listing is still whole.

    One `git log --raw` pass over the selected commits enumerates the blobs: every blob of the
    history is introduced by some commit, and that pass is also where provenance comes from, so the
    trees are walked once for both."""
    problems: list[Problem] = []
    if repo.shallow:
        problems.append(
            Problem(
                ".",
                "shallow clone: history is truncated, only the fetched commits were scanned "
                "(fetch full history with 'git fetch --unshallow', or fetch-depth: 0 in CI)",
                "warning",
            )
        )
    intro = introductions(repo.root, selection.revs, exact_renames=repo.partial)
    shas = list(intro.events)  # newest first: close to pack order, good for cat-file's delta cache
    if keep is not None:  # --shard: this shard's blobs only (sized, read and scanned)
        shas = [sha for sha in shas if keep(sha, intro.events[sha][-1].path)]
    sizes = blob_sizes(repo.root, shas)
    blobs: list[Blob] = []
    big: list[Blob] = []
    total = 0
    submodules = False
    for sha in shas:
        if sha not in sizes:  # missing (partial clone): cannot be read, so cannot be vouched for
            problems.append(missing_blob(intro.events[sha][-1].path, sha))
            continue
        blob = Blob(sha, sizes[sha], intro.events[sha][-1].path)  # the path it came in with
        if blob.path == ".gitmodules" or blob.path.endswith("/.gitmodules"):
            submodules = True
        if blob.size > max_size:
            big.append(blob)
            continue
        blobs.append(blob)
        total += blob.size
    gaps = sum(1 for p in problems if p.message.startswith("blob ") and " is missing " in p.message)
    if repo.partial:
        problems.append(
            Problem(
                ".",
                f"partial clone: {gaps} blob(s) of the history are not here and were not scanned (they are never "
                "fetched while scanning); renames are followed only where the content did not change",
                "info",  # each missing blob is its own warning
            )
        )
    if submodules:
        problems.append(
            Problem(
                ".gitmodules",
                "submodules are not scanned with this repository's history (they are other repositories): scan each one separately",
                "warning",
            )
        )
    if big:
        biggest = max(big, key=lambda b: b.size)
        problems.append(
            Problem(
                biggest.path or biggest.sha,
                f"{len(big)} blob(s) in history larger than the size limit ({max_size} bytes) were skipped, "
                f"the largest {biggest.size} bytes (blob {biggest.sha[:12]})",
                "info",
            )
        )
    return Plan(blobs, problems, total, intro)


def history_items(
    root: str,
    refs: Iterable[str] | None = None,
    *,
    since: str | None = None,
    range_: str | None = None,
    max_size: int = DEFAULT_MAX_FILE_SIZE,
    problems: list[Problem] | None = None,
) -> Iterator[Item]:
    """Every unique text blob on the selected refs as an Item (path: one repo-relative path it has).

    Sequential and simple; `scan_history` is the fast path (parallel, provenance, dedupe)."""
    repo = open_repo(root)
    selection = select(root, refs, since, range_)
    planned = plan(repo, selection, max_size)
    if problems is not None:
        problems.extend(planned.problems)
    paths = {b.sha: b.path for b in planned.blobs}
    missing: list[str] = []
    for sha, data in read_blobs(root, [b.sha for b in planned.blobs], missing=missing):
        if is_binary(data):
            continue
        yield Item(paths[sha], data, Provenance(selection.source, blob=sha))
    if problems is not None:
        problems.extend(missing_blob(paths[sha], sha) for sha in missing)


def shallow_roots(root: str) -> set[str]:
    """Commits a shallow clone was cut at (its history before them is not here)."""
    from pathlib import Path

    path = run_git(root, "rev-parse", "--path-format=absolute", "--git-path", "shallow").strip().decode()
    try:
        return set(Path(path).read_text().split())
    except OSError:
        return set()
