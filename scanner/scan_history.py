"""The history scan: the blobs `scanner.sources.history` plans, read by N workers (each its own
`git cat-file --batch`), scanned by the secrets engine, inline ignores applied, then provenance
attached only to the blobs that produced findings (`scanner.sources.provenance`)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

from scanner import workers
from scanner.model import Finding, Item, Problem, Provenance
from scanner.scan import jobs_for
from scanner.shard import Shard
from scanner.sources.git import open_repo, read_blobs
from scanner.sources.history import Blob, is_binary, missing_blob, plan, select, shallow_roots
from scanner.sources.worktree import DEFAULT_MAX_FILE_SIZE

# --- parallel scanning -------------------------------------------------------------------------

_WORKER: dict = {}  # set by scan_blobs before the pool forks: the workers inherit it


def _scan_chunk(chunk: list[tuple[str, str]]) -> tuple[list[tuple[str, list[Finding]]], int, int, list[str]]:
    """Read one chunk of blobs through its own cat-file and scan them: (sha, findings) for blobs with
    findings, plus the bytes scanned, the number of binaries skipped and the blobs git could not read."""
    from scanner.engines.secrets import scan_item
    from scanner.suppressions import inline

    root, compiled = _WORKER["root"], _WORKER["compiled"]
    show, source = _WORKER["show_secrets"], _WORKER["source"]
    paths = dict(chunk)
    out: list[tuple[str, list[Finding]]] = []
    scanned = binaries = 0
    missing: list[str] = []
    for sha, data in read_blobs(root, [sha for sha, _ in chunk], missing=missing):
        if is_binary(data):
            binaries += 1
            continue
        scanned += len(data)
        found = scan_item(compiled, Item(paths[sha], data, Provenance(source, blob=sha)), show)
        if found and _WORKER["inline"]:
            found, _expired = inline.apply(found, data)  # the blob's own scanner:ignore markers
        if found:
            out.append((sha, found))
    return out, scanned, binaries, missing


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
    missing: list[str] | None = None,
) -> tuple[dict[str, list[Finding]], dict[str, int]]:
    """Scan blobs with the secrets engine on `jobs` processes. Returns blob sha -> findings, and stats;
    blobs git could not read are appended to `missing`."""
    jobs = jobs or jobs_for(0)
    total = sum(b.size for b in blobs) if total_bytes is None else total_bytes
    results: dict[str, list[Finding]] = {}
    stats = {"blobs": len(blobs), "bytes": 0, "binaries": 0}
    _WORKER.update(root=root, compiled=compiled, show_secrets=show_secrets, source=source, inline=inline_ignores)
    unread: list[str] = missing if missing is not None else []

    def collect(outputs: Iterable) -> None:
        for found, scanned, binaries, gaps in outputs:
            stats["bytes"] += scanned
            stats["binaries"] += binaries
            unread.extend(gaps)
            for sha, findings in found:
                results[sha] = findings

    if jobs <= 1 or total < PARALLEL_MIN_BYTES or not workers.can_fork():
        collect([_scan_chunk([(b.sha, b.path) for b in blobs])])
        return results, stats
    # fork: workers inherit the compiled rules (RE2 objects do not pickle). The pool forks its
    # workers before it starts its own threads; on Ctrl-C it is terminated at once (workers.forked_pool).
    warm = getattr(getattr(compiled, "rules", None), "warm", None)
    if warm is not None:
        warm()  # every rule compiled once, here, rather than on first use in each worker
    with workers.forked_pool(jobs) as pool:
        collect(pool.imap(_scan_chunk, _chunks(blobs, jobs * 8)))
    return results, stats


# --- the whole history scan --------------------------------------------------------------------


class HistoryResult(NamedTuple):
    findings: list[Finding]
    problems: list[Problem]
    stats: dict[str, int]
    record: dict | None = None  # a shard's part of the provenance fold (scanner.sources.shard_record)


def scan_history(
    root: str,
    compiled: object,
    *,
    refs: Iterable[str] | None = None,
    since: str | None = None,
    range_: str | None = None,
    unpushed: str | None = None,
    max_size: int = DEFAULT_MAX_FILE_SIZE,
    jobs: int | None = None,
    show_secrets: bool = False,
    inline_ignores: bool = True,
    shard: Shard | None = None,
) -> HistoryResult:
    """Secrets in every unique blob of the selected history, one finding per (rule, secret, path),
    each attributed to the commit that introduced it. `compiled` is `compile_rules(...)` output (or
    an iterable of rules). Raises GitError (one line) for a bad ref or a broken repository."""
    from scanner.engines.secrets import Compiled, compile_rules, scan_item
    from scanner.sources.provenance import attach_provenance  # noqa: I001
    from scanner.sources.shard_record import fold_records, record

    if not isinstance(compiled, Compiled):
        compiled = compile_rules(compiled)  # type: ignore[arg-type]
    root = str(root)
    repo = open_repo(root)
    selection = select(root, refs, since, range_, unpushed)
    planned = plan(repo, selection, max_size, keep=shard.history_part() if shard else None)
    missing: list[str] = []
    by_blob, stats = scan_blobs(
        root, planned.blobs, compiled, source=selection.source, show_secrets=show_secrets, jobs=jobs,
        total_bytes=planned.total_bytes, inline_ignores=inline_ignores, missing=missing,
    )  # fmt: skip
    paths = {b.sha: b.path for b in planned.blobs}
    problems = [*planned.problems, *(missing_blob(paths.get(sha, ""), sha) for sha in missing)]

    def rescan(sha: str, path: str) -> list[Finding]:
        for _sha, data in read_blobs(root, [sha]):
            if len(data) <= max_size and not is_binary(data):
                return scan_item(
                    compiled, Item(path, data, Provenance(selection.source, blob=sha)), show_secrets
                )
        return []

    if shard is not None:  # the fold needs every shard's blobs: this shard records its part
        rec = record(root, repo.head, selection.source, by_blob, planned.intro, rescan,
                     shallow_roots(root) if repo.shallow else set(), shard.owns_blob)  # fmt: skip
        findings = fold_records([rec])  # this shard's own view; `scanner merge` folds them all
        stats["findings"] = len(findings)
        return HistoryResult(findings, problems, stats, rec)
    findings = attach_provenance(
        root,
        repo.head,
        selection.source,
        by_blob,
        {b.sha for b in planned.blobs},
        rescan,
        shallow_roots(root) if repo.shallow else set(),
        planned.intro,
    )
    stats["findings"] = len(findings)
    return HistoryResult(findings, problems, stats)
