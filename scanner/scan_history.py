"""The history scan: every unique blob `scanner.sources.history` lists, read once by N workers (each
its own long-lived `git cat-file --batch`) and scanned by the secrets engine, inline ignores applied;
then provenance worked out only for the blobs that produced findings (`scanner.sources.provenance`).

The walk (`history.list_blobs`: which blobs, at which path each first appeared; shards side by side
share one, scanner/sources/listing_cache.py) comes first, then the reading (`history.read_order`). A whole history (`--all`, `--branch`) is read in the order git stores the blobs
(`history.StoredBlobs`): that costs what the floor costs (`cat-file --batch-all-objects
--unordered`), several times less than any history order, whose delta chains defeat cat-file's
cache. A range (usually a few commits) is read in the walk's order.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
from binascii import a2b_hex
from collections.abc import Callable, Iterable, Iterator, Sized
from typing import NamedTuple

from scanner import progress, shard_host, workers
from scanner.model import Finding, Item, Problem, Provenance
from scanner.rules import loader
from scanner.shard import HISTORY_RUN, Shard
from scanner.sources import history, listing_cache
from scanner.sources.git import Repo, head_tree, open_repo, read_blobs
from scanner.sources.history import CatFile, ReadOrder, Stored, StoredBlobs, is_binary, read_order, select
from scanner.sources.provenance import CommitIndex, changes_of
from scanner.sources.worktree import DEFAULT_MAX_FILE_SIZE

# --- parallel scanning -------------------------------------------------------------------------

_WORKER: dict = {}  # set before the pool forks: the workers inherit it
CHUNK = 256  # blobs per task (at most): small enough to balance the workers, big enough to cost nothing
CHUNK_BYTES = 8 << 20  # ... and about this many bytes, divided by the number of workers
# Under this many bytes to scan, the blobs are scanned in this process: a forked worker costs CPU
# (the fork, its own cat-file, the rules it compiles, its results pickled back), which a small
# history, or a shard's part of one, does not repay. Above it, one worker per half of it at most.
PARALLEL_MIN_BYTES = 128 << 20


def workers_for(jobs: int, total: int) -> int:
    """Worker processes for `total` bytes of blobs (0: not known) on at most `jobs`: 1 (this
    process) under PARALLEL_MIN_BYTES, else one per PARALLEL_MIN_BYTES / 2."""
    per_worker = PARALLEL_MIN_BYTES // 2
    if jobs <= 1 or not total or not per_worker:
        return max(1, jobs)
    if total < PARALLEL_MIN_BYTES:
        return 1
    return max(1, min(jobs, total // per_worker))


class ChunkResult(NamedTuple):
    found: list[tuple[str, list[Finding]]]  # (blob, findings) for the blobs with findings
    scanned: int  # text bytes scanned
    binaries: int
    missing: list[str]  # blobs git could not read
    big: list[tuple[str, int]]  # (blob, size) skipped for their size (when not known before)
    blobs: int = 0  # blobs in the chunk (the progress display counts them)


def _scan_chunk(chunk: list[tuple[str, str]]) -> ChunkResult:
    """Read one chunk of (blob, path) through this process's cat-file and scan the blobs."""
    from scanner.engines.secrets import scan_item
    from scanner.suppressions import inline

    compiled, show, source, use_inline = _WORKER["compiled"], _WORKER["show_secrets"], _WORKER["source"], _WORKER["inline"]
    paths = dict(chunk)
    found: list[tuple[str, list[Finding]]] = []
    scanned = binaries = 0
    missing: list[str] = []
    big: list[tuple[str, int]] = []
    for sha, size, data in _WORKER["reader"].read(list(paths), _WORKER["max_size"]):
        if data is None:
            if size < 0:
                missing.append(sha)
            else:
                big.append((sha, size))
            continue
        if is_binary(data):
            binaries += 1
            continue
        scanned += len(data)
        hits = scan_item(compiled, Item(paths[sha], data, Provenance(source, blob=sha)), show)
        if hits and use_inline:
            hits, _expired = inline.apply(hits, data)  # the blob's own scanner:ignore markers
        if hits:
            found.append((sha, hits))
    return ChunkResult(found, scanned, binaries, missing, big, len(chunk))


def _start_reader() -> None:
    """In each worker: its own cat-file, for every chunk it is given, closed when the worker ends."""
    reader = CatFile(_WORKER["root"])
    _WORKER["reader"] = reader
    workers.at_worker_exit(reader.close)


def _chunks(blobs: Iterable[tuple[str, str, int]], parts: int) -> Iterator[list[tuple[str, str]]]:
    """Runs of consecutive (blob, path) (consecutive keeps each cat-file's delta cache warm) of at
    most CHUNK blobs and about CHUNK_BYTES/parts bytes (sizes 0 when not known), made as they are
    taken (never the whole history's at once)."""
    chunk: list[tuple[str, str]] = []
    acc = 0
    for sha, path, size in blobs:
        chunk.append((sha, path))
        acc += size + 200  # per-object overhead counts too
        if len(chunk) >= CHUNK or acc >= CHUNK_BYTES // max(parts, 1):
            yield chunk
            chunk, acc = [], 0
    if chunk:
        yield chunk


def scan_blobs(
    root: str,
    blobs: Iterable[tuple[str, str, int]],
    compiled: object,
    *,
    source: str,
    show_secrets: bool = False,
    jobs: int | None = None,
    inline_ignores: bool = True,
    max_size: int = DEFAULT_MAX_FILE_SIZE,
    shared: str = "",
) -> list[ChunkResult]:
    """Scan (blob, path, size) in this order with the secrets engine on `jobs` processes (sizes may
    be 0: unknown; `blobs` is iterated twice unless a ReadOrder, which knows its total). A history
    under PARALLEL_MIN_BYTES (or of unknown size, under 2 chunks) is scanned in this process; a
    bigger one on `workers_for(jobs, total)` processes. `shared`: how this shard shares the machine
    (shown with the progress)."""
    jobs = workers.jobs_for(jobs or 0)
    _WORKER.update(root=root, compiled=compiled, show_secrets=show_secrets, source=source, inline=inline_ignores,
                   max_size=max_size)  # fmt: skip
    total = blobs.total if isinstance(blobs, ReadOrder) else sum(size for _, _, size in blobs)
    jobs = workers_for(jobs, total)
    shown = ", ".join(part for part in (shared, f"{jobs} worker processes" if jobs > 1 else "") if part)
    progress.phase("scanning blobs", unit="blobs", total=len(blobs) if isinstance(blobs, Sized) else None, rate=True,
                   detail=(lambda: shown) if shown else None)  # fmt: skip
    chunks = _chunks(blobs, jobs)
    first = list(itertools.islice(chunks, 2))
    small = total < PARALLEL_MIN_BYTES if total else len(first) < 2
    chunks = itertools.chain(first, chunks)
    if jobs <= 1 or small or not workers.can_fork():
        _WORKER["reader"] = reader = CatFile(root)
        try:
            return _counted(_scan_chunk(chunk) for chunk in chunks)
        finally:
            reader.close()
    # fork: workers inherit the compiled rules (RE2 objects do not pickle); the chunks go to them as
    # they are made (the pool's pipe holds a few at a time). On Ctrl-C
    # the pool is terminated at once (workers.forked_pool).
    warm = getattr(getattr(compiled, "rules", None), "warm", None)
    if warm is not None:
        warm()  # the prefilter loaded once, here, rather than in each worker
    with workers.forked_pool(jobs, initializer=_start_reader) as pool:
        return _counted(pool.imap_unordered(_scan_chunk, chunks))


def _counted(results: Iterable[ChunkResult]) -> list[ChunkResult]:
    """The results, each chunk counted by the progress display as it comes (per chunk, in this process)."""
    out = []
    for result in results:
        progress.advance(result.blobs, result.scanned)
        out.append(result)
    return out


# --- the whole history scan --------------------------------------------------------------------


class HistoryResult(NamedTuple):
    findings: list[Finding]
    problems: list[Problem]
    stats: dict[str, int]
    record: dict | None = None  # a shard's part of the provenance fold (scanner.sources.shard_record)
    head: list[Finding] | None = None  # a bare repository's: its HEAD files' findings (at_head)
    head_problems: tuple[Problem, ...] = ()  # and the warnings of their expired inline ignores


def at_head(
    root: str, tree: dict[str, str], again: Callable[[str, str], bool], compiled: object, show_secrets: bool,
    inline_ignores: bool, max_size: int,
) -> tuple[list[Finding], list[Problem]]:
    """A bare repository's stand-in for a work tree (a URL is cloned bare): the files of HEAD,
    scanned at their path in HEAD, as a checkout's work tree scan finds them: the same paths, lines
    and fingerprints (a secret renamed since it came in is where it is now, and a baseline made in a
    checkout matches), merged with the history findings the same way, with the warnings of expired
    inline ignores. Read again are the (path, blob) pairs `again` names: a blob with findings, or one
    that came in at another path (a rule may apply at one path and not at the other); the others
    were scanned at this very path already, and found nothing. A shard has its own blobs', so the
    shards' parts add up to the whole."""
    from scanner.engines.secrets import scan_item
    from scanner.suppressions import inline

    paths: dict[str, list[str]] = {}
    for path, sha in tree.items():  # head_tree(root, HEAD)
        if again(path, sha):
            paths.setdefault(sha, []).append(path)
    found: list[Finding] = []
    problems: list[Problem] = []
    for sha, data in read_blobs(root, sorted(paths)):
        if len(data) > max_size or is_binary(data):
            continue
        for path in paths[sha]:
            hits = scan_item(compiled, Item(path, data), show_secrets)  # type: ignore[arg-type]
            if hits and inline_ignores:
                hits, expired = inline.apply(hits, data)
                problems.extend(expired)
            found.extend(hits)
    return found, problems


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
    repo: Repo | None = None,
) -> HistoryResult:
    """Secrets in every unique blob of the selected history, one finding per (rule, secret, path),
    each attributed to the commit that introduced it. `compiled` is `compile_rules(...)` output (or
    an iterable of rules). `repo`: open_repo(root), when the caller has it. Raises GitError (one
    line) for a bad ref or a broken repository."""
    from scanner.engines.secrets import Compiled, compile_rules, scan_item
    from scanner.sources.provenance import attach_provenance  # noqa: I001
    from scanner.sources.shard_record import fold_records, record

    if not isinstance(compiled, Compiled):
        compiled = compile_rules(compiled)  # type: ignore[arg-type]
    root = str(root)
    repo = repo or open_repo(root)
    selection = select(root, refs, since, range_, unpushed)
    index: CommitIndex | None = None
    # storage order for a whole history; a partial clone's range needs to know what is here too
    storage_order = selection.source == "history"
    start_stored = functools.partial(StoredBlobs, root) if storage_order or repo.partial else None
    stored: Stored | None = None
    # --shard: the listing stays whole (shards side by side on one machine share it, and their cores:
    # scanner.shard_host), and this shard's blobs only are read and scanned
    directory = loader.cache_dir() if shard is not None else None
    key = listing_cache.listing_key(repo, selection) if directory is not None else None
    try:
        with shard_host.joined(directory, key) as here:
            listed, index, stored = listing_cache.listing(
                root, selection, exact_renames=repo.partial, parts=jobs or workers.cores(), shared=shard is not None,
                stored=start_stored, key=key, shards=shard.count if shard is not None else 0,
            )  # fmt: skip
            # this shard's part as the shard that listed saved it, else picked out of the whole listing
            saved = listing_cache.part(key, shard) if shard is not None and storage_order and not repo.partial else None
            if saved is not None:
                mine, own_order = saved
                order, gaps, big = read_order(listed, own_order, max_size, storage_order, mine)
            else:
                mine = listed.select_runs(shard.owns_run, HISTORY_RUN) if shard is not None else None
                if stored is not None:
                    progress.phase("listing stored blobs")
                order, gaps, big = read_order(listed, stored, max_size, storage_order, mine)
            if stored is not None:
                stored.close()
            # the default --jobs: this machine's cores shared with the other shards of the scan on it
            share = shard_host.share(here.shards(), workers.cores()) if here is not None and not jobs else None
            taking_turns = share is not None and share.at_once < share.shards
            with here.turn(share.at_once) if taking_turns else contextlib.nullcontext():  # type: ignore[union-attr]
                results = scan_blobs(
                    root, order, compiled, source=selection.source, show_secrets=show_secrets,
                    jobs=share.workers if share is not None else jobs, inline_ignores=inline_ignores,
                    max_size=max_size, shared=share.describe() if share is not None else "",
                )  # fmt: skip
        by_blob: dict[str, list[Finding]] = {}
        stats = {"blobs": 0, "bytes": 0, "binaries": 0}
        unread: set[str] = set()
        for result in results:
            stats["bytes"] += result.scanned
            stats["binaries"] += result.binaries
            gaps.extend(result.missing)
            big.extend(result.big)
            unread.update(result.missing, (sha for sha, _ in result.big))
            by_blob.update(result.found)
        progress.phase("working out provenance", detail=lambda: f"{len(by_blob):,} blobs with findings")
        changes = changes_of(root, index.candidates(set(by_blob)), exact_renames=repo.partial)
    finally:
        if index is not None:
            index.close()
        if stored is not None:
            stored.close()
    order.close()
    order.unread(unread)
    scanned = order  # `sha in order`: read and scanned
    stats["blobs"] = len(order) - len(unread)
    gaps = sorted(set(gaps))
    unreadable = set(gaps)
    submodules = any(
        sha not in unreadable and (mine is None or a2b_hex(sha) in mine)
        for sha, _ in listed.blobs_at(history.is_submodule_config)
    )
    problems = [*history.notes(repo), *(history.missing_blob(listed.path(sha), sha) for sha in gaps)]
    skipped = [(s, listed.path(s), n) for s, n in big]
    problems += history.closing_notes(repo, len(gaps), submodules, skipped, max_size)

    def rescan(sha: str, path: str) -> list[Finding]:
        for _sha, data in read_blobs(root, [sha]):
            if len(data) <= max_size and not is_binary(data):
                return scan_item(
                    compiled, Item(path, data, Provenance(selection.source, blob=sha)), show_secrets
                )
        return []

    shallow = history.shallow_roots(root) if repo.shallow else set()
    head: list[Finding] | None = None
    head_problems: list[Problem] = []
    stand_in = repo.bare and bool(repo.head) and selection.source == "history"  # no work tree: HEAD's files
    tree = head_tree(root, repo.head)  # HEAD's files, listed once: the stand-in, the record or the fold reads them
    if stand_in:

        def again(path: str, sha: str) -> bool:
            return sha in by_blob or (sha in scanned and listed.path(sha) != path)

        head, head_problems = at_head(root, tree, again, compiled, show_secrets, inline_ignores, max_size)
    if shard is not None:  # the fold needs every shard's blobs: this shard records its part
        # what its closing notes counted, which `scanner merge` adds up into the whole history's
        notes = {"partial": repo.partial, "gaps": len(gaps), "big": len(skipped), "max_size": max_size,
                 "largest": list(history.largest(skipped)) if skipped else None}  # fmt: skip
        tips = listing_cache.tips(index, repo.head, selection) if index is not None else ""  # what merge compares
        rec = record(tree, selection.source, by_blob, listed, changes, rescan, shallow, shard.owns_blob, tips, notes)
        findings = fold_records([rec])  # this shard's own view; `scanner merge` folds them all
        stats["findings"] = len(findings)
        return HistoryResult(findings, problems, stats, rec, head, tuple(head_problems))
    findings = attach_provenance(
        tree,
        selection.source,
        by_blob,
        scanned,
        rescan,
        shallow,
        changes,
    )
    stats["findings"] = len(findings)
    return HistoryResult(findings, problems, stats, head=head, head_problems=tuple(head_problems))
