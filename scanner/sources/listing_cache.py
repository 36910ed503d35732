"""One history listing for the shards of a scan that run side by side on one machine.

Every shard of a history scan needs the whole listing (history.list_blobs: each blob with the path
it came in with, and the CommitIndex provenance reads), and computing it is most of what a shard
repeats: `git log --raw` over every commit and its parsing, ~2 s of CPU per 50,000 commits. So a
shard keeps it in the cache folder (rules.loader.cache_dir: SCANNER_NO_CACHE=1 turns it off), under a
key naming everything the listing depends on: the repository, the revisions, every ref and HEAD, the
shallow and graft files, the rename mode and the scanner's own code. The first shard to come lists
the history while holding a lock on that key; the others wait for it and read its file instead
(the same listing, so the partition and provenance are unchanged). Shards on separate machines each
list for themselves, as before. Only the newest LISTINGS_KEPT listings are kept.

A shard also saves what read_order needs of the stored objects (`git cat-file --batch-all-objects`,
the other cost every shard repeats): the listed blobs in the order git stores them, with their sizes.
Not for a partial clone, whose blobs come and go: there each shard asks git.

Its parts: the shard that lists also saves, beside the listing, each of the N shards' part (the
blobs of its runs, Shard.owns_run) as read_order needs it: its stored blobs in storage order with
their sizes, then its blobs that are not stored. The others load their part instead of picking it
out of the whole listing and the whole stored order (`part`): the same blobs, the same order. A
part file that does not match (another N, another listing, cut short) is ignored: the shard picks
its part as a shard on its own machine does.

The file: a header line, the paths (NUL-separated), then per blob its 20-byte id and the index of
its path, in listing order, then the stored blobs (20-byte id, size), then the CommitIndex lines.
The header gives every part's size, the CommitIndex lines' in bytes: a file of another size (cut
short by a full disk or a damaged cache) is not used.
"""

from __future__ import annotations

import contextlib
import glob
import hashlib
import itertools
import os
import struct
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

from scanner import progress
from scanner.rules import loader
from scanner.shard import HISTORY_RUN, Shard, run_owner
from scanner.shard_host import locked
from scanner.sources.git import Repo, open_repo, run_git
from scanner.sources.history import Listing, Selection, Stored, list_blobs
from scanner.sources.provenance import CommitIndex

FORMAT = b"scanner-listing-4"
PARTS_FORMAT = b"scanner-parts-1"
LISTINGS_KEPT = 4
RECORD = struct.Struct(">20sI")  # a listed blob: id, index of its path
ORDER = struct.Struct(">20sQ")  # a stored blob: id, size


def listing(
    root: str, selection: Selection, *, exact_renames: bool, parts: int, shared: bool,
    stored: Callable[[], Stored] | None, key: str | None = None, shards: int = 0,
) -> tuple[Listing, CommitIndex, Stored | None]:
    """The listing and commit index of `selection` (history.list_blobs), and the stored objects
    (`stored()` starts listing them, beside the walk; None: not needed). `shared` (a shard): from
    the cache when another shard made them (waiting for one that is making them), else computed
    here and saved for the others. The saved stored objects are the listed blobs in the order git
    stores them, with their sizes (a partial clone's, whose blobs come and go, are not saved).
    `key`: listing_key(...) when the caller has it already. `shards`: the N of the shards (their
    parts are saved beside a listing made here, see `part`)."""
    directory = loader.cache_dir() if shared else None
    if directory is None:
        return _compute(root, selection, exact_renames, parts, stored)
    key = key or listing_key(open_repo(root), selection)
    target = directory / f"listing-{key[:40]}.bin"
    try:
        directory.mkdir(parents=True, exist_ok=True)
        lock = open(directory / f"listing-{key[:40]}.lock", "ab")  # noqa: SIM115 - held across the work
    except OSError:
        return _compute(root, selection, exact_renames, parts, stored)
    with lock, locked(lock):
        loaded = _load(target, key, want_order=stored is not None and not exact_renames)
        if loaded is not None:
            if exact_renames and stored is not None:  # a partial clone: which blobs are here, asked of git
                return loaded[0], loaded[1], stored()
            return loaded
        listing, index, objects = _compute(root, selection, exact_renames, parts, stored)
        if exact_renames:  # a partial clone: its stored objects are not saved
            _save(directory, target, key, listing, index, None)
            return listing, index, objects
        _save(directory, target, key, listing, index, objects)
        saved = _load(target, key, want_order=True) if objects is not None else None
        if saved is None:  # not saved: what was computed here
            return listing, index, objects
        index.close()
        objects.close()
        if shards > 1 and saved[2] is not None:
            _save_parts(directory, key, saved[0], saved[2], shards)
        return saved  # the same listing; the stored objects now only those listed


def _compute(
    root: str, selection: Selection, exact_renames: bool, parts: int, stored: Callable[[], Stored] | None
) -> tuple[Listing, CommitIndex, Stored | None]:
    objects = stored() if stored is not None else None  # runs beside the walk
    index = CommitIndex()
    progress.phase("listing commits", unit="commits", poll=lambda: index.commits)
    try:
        return list_blobs(root, selection, index=index, exact_renames=exact_renames, parts=parts), index, objects
    except BaseException:
        index.close()
        if objects is not None:
            objects.close()
        raise


class StoredOrder:
    """The saved stored objects of a listing: (blob id, size) in the order git stores them."""

    def __init__(self, handle: IO[bytes], start: int, count: int) -> None:
        self._handle, self._start, self._count = handle, start, count

    def read_ids(self) -> Iterator[tuple[bytes, int]]:
        position, end = self._start, self._start + self._count * ORDER.size
        step = ORDER.size * 4096
        while position < end:
            self._handle.seek(position)  # the commit index reads the same file
            block = self._handle.read(min(step, end - position))
            if not block:
                return
            position += len(block)
            yield from ORDER.iter_unpack(block)

    def close(self) -> None:
        """The file is the commit index's: it closes it."""


def listing_key(repo: Repo, selection: Selection) -> str:
    """What names one listing: the repository, the revisions, every ref, every worktree's HEAD, the
    shallow and graft files, the rename mode (a partial clone's) and the scanner's own code (also
    what names one sharded scan on a machine, scanner.shard_host)."""
    from scanner.sources.remote import cloned_from

    common = os.path.realpath(repo.common_dir or repo.root)
    name = cloned_from(common) or common  # a URL's shards each clone it to a folder of their own: one history
    digest = hashlib.sha256(FORMAT + b"\0" + loader.code_fingerprint())
    digest.update("\0".join([name, selection.source, *selection.revs, str(repo.partial)]).encode("utf-8", "surrogateescape"))
    digest.update(run_git(repo.root, "for-each-ref", "--format=%(objectname) %(refname)"))
    digest.update(f"\0HEAD {repo.head}\n".encode())
    # `--all` also walks every worktree's HEAD: a commit on another worktree's detached HEAD is in the
    # history, and neither for-each-ref nor this worktree's HEAD sees it (their HEAD files do)
    heads = [os.path.join(common, "HEAD"), *sorted(glob.glob(os.path.join(glob.escape(common), "worktrees", "*", "HEAD")))]
    for head in heads:
        with contextlib.suppress(OSError):
            digest.update(f"\0{os.path.relpath(head, common)}\0".encode("utf-8", "surrogateescape") + Path(head).read_bytes())
    for extra in (os.path.join(common, "shallow"), os.path.join(common, "info", "grafts")):
        with contextlib.suppress(OSError):
            digest.update(Path(extra).read_bytes())
    return digest.hexdigest()


def tips(index: CommitIndex, head: str, selection: Selection) -> str:
    """What a sharded history's shards must agree on to be merged: the commits listed (the set, in
    any order: refs that name the same commits, or none of them new, are the same history), HEAD and
    the kind of selection. A branch pushed between two shards' fetches, or a shallow clone beside a
    full one, is another history."""
    text = f"{index.commits} {index.commit_sum:016x} {head} {selection.source}"
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def _load(target: Path, key: str, want_order: bool) -> tuple[Listing, CommitIndex, Stored | None] | None:
    try:
        handle = open(target, "rb")  # noqa: SIM115 - the commit index reads it until closed
    except OSError:
        return None
    try:
        head = handle.readline().split()
        if len(head) != 9 or head[0] != FORMAT or head[1] != key.encode():
            handle.close()
            return None
        path_bytes, blobs, commits, commit_sum, ordered = int(head[3]), int(head[4]), int(head[5]), int(head[6]), int(head[7])
        if want_order and ordered < 0:  # saved without its stored objects
            handle.close()
            return None
        names = handle.read(path_bytes).split(b"\0") if path_bytes else []
        body = handle.read(blobs * RECORD.size)
        if len(names) != int(head[2]) or len(body) != blobs * RECORD.size:
            handle.close()
            return None
        listing = Listing.from_table([name.decode("utf-8", "surrogateescape") for name in names],
                                     dict(RECORD.iter_unpack(body)))  # fmt: skip
        del body
        start = handle.tell()
        lines = start + max(ordered, 0) * ORDER.size
        if os.fstat(handle.fileno()).st_size != lines + int(head[8]):  # cut short, or more than written
            handle.close()
            return None
        objects = StoredOrder(handle, start, ordered) if want_order else None
        return listing, CommitIndex.reading(handle, lines, commits, commit_sum), objects
    except (ValueError, OSError):
        handle.close()
        return None


def _save(
    directory: Path, target: Path, key: str, listing: Listing, index: CommitIndex, objects: Stored | None
) -> None:
    """Write the listing (loader.write_cache_file: atomically, a reader never sees half a file); a
    cache that cannot be written is only a slower shard. Older listings go with their lock and turn
    files."""

    def write(out: IO[bytes]) -> None:
        paths = listing.paths()
        names = b"\0".join(p.encode("utf-8", "surrogateescape") for p in paths)
        head = b"%s %s %d %d %d %d %d " % (FORMAT, key.encode(), len(paths), len(names), len(listing), index.commits,
                                            index.commit_sum)  # fmt: skip
        out.write(head + b"-0000000001 -0000000001\n")  # stored objects, index bytes: written at the end
        out.write(names)
        items = listing.records()
        while batch := b"".join(RECORD.pack(blob, pid) for blob, pid in itertools.islice(items, 1 << 14)):
            out.write(batch)
        ordered = -1
        if objects is not None:
            ordered = 0
            listed = listing.keys()
            mine = ((blob, size) for blob, size in objects.read_ids() if blob in listed)
            while batch := list(itertools.islice(mine, 1 << 14)):
                out.write(b"".join(ORDER.pack(blob, size) for blob, size in batch))
                ordered += len(batch)
        lines = out.tell()
        index.copy_to(out)
        size = out.tell() - lines
        out.seek(len(head))
        out.write((b"%011d" % ordered if ordered >= 0 else b"-0000000001") + b" %011d" % size)

    for old in loader.write_cache_file(target, write, "listing-*.bin", LISTINGS_KEPT) or ():
        for extra in directory.glob(f"{old.stem}.*"):  # its lock, turn and run files
            with contextlib.suppress(OSError):
                extra.unlink()


class PartOrder:
    """A shard's saved part (`part`): its stored blobs as (id, size), in storage order."""

    def __init__(self, ordered: list[tuple[bytes, int]]) -> None:
        self._ordered = ordered

    def read_ids(self) -> Iterator[tuple[bytes, int]]:
        return iter(self._ordered)

    def close(self) -> None:
        """Nothing to close: it is in memory."""


def _parts_file(directory: Path, key: str, shards: int) -> Path:
    return directory / f"listing-{key[:40]}.parts-{shards}"


def _save_parts(directory: Path, key: str, listing: Listing, objects: Stored, shards: int) -> None:
    """Every shard's part (the module docstring), in one file beside the listing: one pass over the
    listing and one over the stored order for all N, instead of one of each per shard."""
    owner: dict[bytes, int] = {}
    for path, number, blobs in listing.runs(HISTORY_RUN):
        k = run_owner(path, number, shards)
        for blob in blobs:
            owner[blob] = k
    ordered: list[list[bytes]] = [[] for _ in range(shards)]
    for blob, size in objects.read_ids():
        k = owner.pop(blob, None)
        if k is not None:
            ordered[k].append(ORDER.pack(blob, size))
    missing: list[list[bytes]] = [[] for _ in range(shards)]
    for blob, k in owner.items():  # listed, not stored
        missing[k].append(blob)
    counts = b" ".join(b"%d %d" % (len(ordered[k]), len(missing[k])) for k in range(shards))
    blob = b"%s %s %d %s\n" % (PARTS_FORMAT, key.encode(), shards, counts)
    blob += b"".join(b"".join(ordered[k]) + b"".join(missing[k]) for k in range(shards))
    loader.write_cache_file(_parts_file(directory, key, shards), blob, f"listing-{key[:40]}.parts-*", 2)


def part(key: str | None, shard: Shard) -> tuple[set[bytes], PartOrder] | None:
    """Shard `shard`'s saved part of the listing named `key`: (its blobs' ids, its stored blobs in
    storage order with their sizes); None when none is saved or the file does not match."""
    directory = loader.cache_dir()
    if key is None or directory is None or shard.count < 2:
        return None
    try:
        with open(_parts_file(directory, key, shard.count), "rb") as handle:
            head = handle.readline().split()
            if len(head) != 3 + 2 * shard.count or head[0] != PARTS_FORMAT or head[1] != key.encode():
                return None
            if int(head[2]) != shard.count:
                return None
            sizes = [int(n) * ORDER.size + int(m) * 20 for n, m in zip(head[3::2], head[4::2], strict=True)]
            k = shard.index - 1
            if os.fstat(handle.fileno()).st_size != handle.tell() + sum(sizes):
                return None
            handle.seek(sum(sizes[:k]), os.SEEK_CUR)
            stored, missing = int(head[3 + 2 * k]), int(head[4 + 2 * k])
            ordered = list(ORDER.iter_unpack(handle.read(stored * ORDER.size)))
            body = handle.read(missing * 20)
    except (OSError, ValueError):
        return None
    mine = {blob for blob, _ in ordered}
    mine.update(body[i : i + 20] for i in range(0, len(body), 20))
    return mine, PartOrder(ordered)
