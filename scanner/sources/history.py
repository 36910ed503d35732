"""Git history as a source: every unique blob reachable from the chosen refs, read once.

    git log --raw <revs>  (one pass: every blob each commit introduced, with its path and commit)
    -> cat-file --batch-check (sizes)  ->  split the blob list into chunks
    -> N workers, each its own `cat-file --batch` + the secrets engine
    -> provenance folded in (see provenance.py) only for the blobs that produced findings

No `git log -p`, no tree walk per commit: each blob's bytes cross a pipe once, whatever number of
commits carry it. Blobs over the size limit are skipped by their size before being read; binaries
(a NUL in the first 8 KB) after. Submodules (gitlinks) are not objects of this repository: skipped
with a note.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Iterable, Iterator
from typing import NamedTuple

from scanner.model import Finding, Item, Problem, Provenance
from scanner.sources.git import GitError, Repo, open_repo, read_blobs, resolve_commit, run_git
from scanner.sources.provenance import Introductions, introductions

DEFAULT_MAX_SIZE = 2 * 1024 * 1024
BINARY_SNIFF = 8192


class Blob(NamedTuple):
    sha: str
    size: int
    path: str  # one path the blob has on the scanned refs (the first rev-list reports)


class Selection(NamedTuple):
    """What to scan: git rev-list arguments plus the provenance source name."""

    revs: tuple[str, ...]
    source: str  # "history" or "range"
    describe: str


def select(
    root: str, refs: Iterable[str] | None = None, since: str | None = None, range_: str | None = None
) -> Selection:
    """Turn --branch / --since-commit / --range into rev-list arguments (refs resolved up front, so a
    typo is a one-line usage error, never a git usage dump)."""
    refs = [r for r in (refs or ()) if r]
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
    out = run_git(root, "cat-file", "--batch-check=%(objectname) %(objecttype) %(objectsize)", stdin=("\n".join(shas) + "\n").encode())
    sizes: dict[str, int] = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[1] == b"blob":
            sizes[parts[0].decode()] = int(parts[2])
    return sizes


def _is_binary(data: bytes) -> bool:
    return data.find(b"\0", 0, BINARY_SNIFF) != -1


class Plan(NamedTuple):
    blobs: list[Blob]  # to read and scan
    problems: list[Problem]
    total_bytes: int
    intro: Introductions  # every blob's introducing commits (provenance comes from here later)


def plan(repo: Repo, selection: Selection, max_size: int = DEFAULT_MAX_SIZE) -> Plan:
    """The blobs to read, and the notes a user should see (shallow clone, submodules, big blobs).

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
    intro = introductions(repo.root, selection.revs, None)
    shas = list(intro.events)  # newest first: close to pack order, good for cat-file's delta cache
    sizes = blob_sizes(repo.root, shas)
    blobs: list[Blob] = []
    big: list[Blob] = []
    total = 0
    submodules = False
    for sha in shas:
        if sha not in sizes:
            continue  # missing (partial clone): nothing to read
        blob = Blob(sha, sizes[sha], intro.events[sha][-1].path)  # the path it came in with
        if blob.path == ".gitmodules" or blob.path.endswith("/.gitmodules"):
            submodules = True
        if blob.size > max_size:
            big.append(blob)
            continue
        blobs.append(blob)
        total += blob.size
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
    max_size: int = DEFAULT_MAX_SIZE,
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
    for sha, data in read_blobs(root, [b.sha for b in planned.blobs]):
        if _is_binary(data):
            continue
        yield Item(paths[sha], data, Provenance(selection.source, blob=sha))


# --- parallel scanning -------------------------------------------------------------------------

_WORKER: dict = {}


def _init_worker(root: str, compiled: object, show_secrets: bool, source: str, inline_ignores: bool = True) -> None:
    _WORKER.update(root=root, compiled=compiled, show_secrets=show_secrets, source=source, inline=inline_ignores)


def _init_pool_worker(*init: object) -> None:
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle: no worker tracebacks
    _init_worker(*init)  # type: ignore[arg-type]


def _scan_chunk(chunk: list[tuple[str, str]]) -> tuple[list[tuple[str, list[Finding]]], int, int]:
    """Read one chunk of blobs through its own cat-file and scan them: (sha, findings) for blobs with
    findings, plus the bytes scanned and the number of binaries skipped."""
    from scanner.engines.secrets import scan_item
    from scanner.suppressions import inline

    root, compiled = _WORKER["root"], _WORKER["compiled"]
    show, source = _WORKER["show_secrets"], _WORKER["source"]
    paths = dict(chunk)
    out: list[tuple[str, list[Finding]]] = []
    scanned = binaries = 0
    for sha, data in read_blobs(root, [sha for sha, _ in chunk]):
        if data.find(b"\0", 0, BINARY_SNIFF) != -1:
            binaries += 1
            continue
        scanned += len(data)
        found = scan_item(compiled, Item(paths[sha], data, Provenance(source, blob=sha)), show)
        if found and _WORKER["inline"]:
            found, _expired = inline.apply(found, data)  # the blob's own scanner:ignore markers
        if found:
            out.append((sha, found))
    return out, scanned, binaries


def _chunks(blobs: list[Blob], parts: int) -> list[list[tuple[str, str]]]:
    """Consecutive runs of about equal bytes (consecutive keeps each cat-file's delta cache warm)."""
    total = sum(b.size for b in blobs) or 1
    target = max(total // parts, 1)
    chunks: list[list[tuple[str, str]]] = [[]]
    acc = 0
    for blob in blobs:
        if acc >= target and chunks[-1]:
            chunks.append([])
            acc = 0
        chunks[-1].append((blob.sha, blob.path))
        acc += blob.size + 200  # per-object overhead counts too
    return chunks


def default_jobs() -> int:
    try:
        return max(len(os.sched_getaffinity(0)), 1)
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


PARALLEL_MIN_BYTES = 4 << 20


def scan_blobs(
    root: str,
    blobs: list[Blob],
    compiled: object,
    *,
    source: str,
    show_secrets: bool = False,
    jobs: int | None = None,
    total_bytes: int | None = None,
    inline_ignores: bool = True,
) -> tuple[dict[str, list[Finding]], dict[str, int]]:
    """Scan blobs with the secrets engine on `jobs` processes. Returns blob sha -> findings, and stats."""
    jobs = jobs or default_jobs()
    total = sum(b.size for b in blobs) if total_bytes is None else total_bytes
    results: dict[str, list[Finding]] = {}
    stats = {"blobs": len(blobs), "bytes": 0, "binaries": 0}
    init = (root, compiled, show_secrets, source, inline_ignores)
    _init_worker(*init)
    if jobs <= 1 or total < PARALLEL_MIN_BYTES or "fork" not in multiprocessing.get_all_start_methods():
        outputs: Iterable = [_scan_chunk([(b.sha, b.path) for b in blobs])]
        pool = None
    else:
        # fork: workers inherit the compiled rules (RE2 objects do not pickle). The pool forks its
        # workers before it starts its own threads.
        warm = getattr(getattr(compiled, "rules", None), "warm", None)
        if warm is not None:
            warm()  # every rule compiled once, here, rather than on first use in each worker
        pool = multiprocessing.get_context("fork").Pool(
            jobs, _init_worker, (root, compiled, show_secrets, source)
        )
        outputs = pool.imap(_scan_chunk, _chunks(blobs, jobs * 8))
    try:
        for found, scanned, binaries in outputs:
            stats["bytes"] += scanned
            stats["binaries"] += binaries
            for sha, findings in found:
                results[sha] = findings
    except BaseException:
        if pool is not None:
            pool.terminate()
            pool = None
        raise
    finally:
        if pool is not None:
            pool.close()
            pool.join()
    return results, stats


# --- the whole history scan --------------------------------------------------------------------


class HistoryResult(NamedTuple):
    findings: list[Finding]
    problems: list[Problem]
    stats: dict[str, int]


def _shallow_roots(root: str) -> set[str]:
    from pathlib import Path

    path = run_git(root, "rev-parse", "--path-format=absolute", "--git-path", "shallow").strip().decode()
    try:
        return set(Path(path).read_text().split())
    except OSError:
        return set()


def scan_history(
    root: str,
    compiled: object,
    *,
    refs: Iterable[str] | None = None,
    since: str | None = None,
    range_: str | None = None,
    max_size: int = DEFAULT_MAX_SIZE,
    jobs: int | None = None,
    show_secrets: bool = False,
    inline_ignores: bool = True,
) -> HistoryResult:
    """Secrets in every unique blob of the selected history, one finding per (rule, secret, path),
    each attributed to the commit that introduced it. `compiled` is `compile_rules(...)` output (or
    an iterable of rules). Raises GitError (one line) for a bad ref or a broken repository."""
    from scanner.engines.secrets import Compiled, compile_rules, scan_item
    from scanner.sources.provenance import attach_provenance  # noqa: I001

    if not isinstance(compiled, Compiled):
        compiled = compile_rules(compiled)  # type: ignore[arg-type]
    root = str(root)
    repo = open_repo(root)
    selection = select(root, refs, since, range_)
    planned = plan(repo, selection, max_size)
    by_blob, stats = scan_blobs(
        root, planned.blobs, compiled, source=selection.source, show_secrets=show_secrets, jobs=jobs,
        total_bytes=planned.total_bytes, inline_ignores=inline_ignores,
    )  # fmt: skip

    def rescan(sha: str, path: str) -> list[Finding]:
        for _sha, data in read_blobs(root, [sha]):
            if len(data) <= max_size and not _is_binary(data):
                return scan_item(
                    compiled, Item(path, data, Provenance(selection.source, blob=sha)), show_secrets
                )
        return []

    findings = attach_provenance(
        root,
        repo.head,
        selection.revs,
        selection.source,
        by_blob,
        {b.sha for b in planned.blobs},
        rescan,
        _shallow_roots(root) if repo.shallow else set(),
        planned.intro,
    )
    stats["findings"] = len(findings)
    return HistoryResult(findings, planned.problems, stats)
