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

The file: a header line, the paths (NUL-separated), then per blob its 20-byte id and the index of
its path, in listing order, then the CommitIndex lines.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import os
import struct
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from scanner.rules import loader
from scanner.sources.git import run_git
from scanner.sources.history import Listing, Selection, list_blobs
from scanner.sources.provenance import CommitIndex

FORMAT = b"scanner-listing-1"
LISTINGS_KEPT = 4
RECORD = struct.Struct(">20sI")


def listing(
    root: str, selection: Selection, *, exact_renames: bool, parts: int, shared: bool
) -> tuple[Listing, CommitIndex]:
    """The listing and commit index of `selection` (history.list_blobs). `shared` (a shard): from the
    cache when another shard made them (waiting for one that is making them), else computed here and
    saved for the others."""
    directory = loader.cache_dir() if shared else None
    if directory is None:
        return _compute(root, selection, exact_renames, parts)
    key = _key(root, selection, exact_renames)
    target = directory / f"listing-{key[:40]}.bin"
    try:
        directory.mkdir(parents=True, exist_ok=True)
        lock = open(directory / f"listing-{key[:40]}.lock", "ab")  # noqa: SIM115 - held across the work
    except OSError:
        return _compute(root, selection, exact_renames, parts)
    with lock, _locked(lock):
        loaded = _load(target, key)
        if loaded is not None:
            return loaded
        listing, index = _compute(root, selection, exact_renames, parts)
        _save(directory, target, key, listing, index)
        return listing, index


def _compute(root: str, selection: Selection, exact_renames: bool, parts: int) -> tuple[Listing, CommitIndex]:
    index = CommitIndex()
    try:
        return list_blobs(root, selection, index=index, exact_renames=exact_renames, parts=parts), index
    except BaseException:
        index.close()
        raise


@contextlib.contextmanager
def _locked(handle: IO[bytes]) -> Iterator[None]:
    try:
        import fcntl
    except ImportError:  # not a POSIX system: each shard lists for itself (the file is written atomically)
        yield
        return
    fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
    try:
        yield
    finally:
        fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _key(root: str, selection: Selection, exact_renames: bool) -> str:
    git_dir, common = run_git(root, "rev-parse", "--absolute-git-dir", "--git-common-dir").decode().splitlines()[:2]
    common = os.path.realpath(os.path.join(git_dir, common))
    digest = hashlib.sha256(FORMAT + b"\0" + loader._code_fingerprint())
    digest.update("\0".join([common, selection.source, *selection.revs, str(exact_renames)]).encode("utf-8", "surrogateescape"))
    digest.update(run_git(root, "for-each-ref", "--format=%(objectname) %(refname)"))
    digest.update(run_git(root, "rev-parse", "--verify", "-q", "HEAD", check=False))
    for extra in (os.path.join(common, "shallow"), os.path.join(common, "info", "grafts")):
        with contextlib.suppress(OSError):
            digest.update(Path(extra).read_bytes())
    return digest.hexdigest()


def _load(target: Path, key: str) -> tuple[Listing, CommitIndex] | None:
    try:
        handle = open(target, "rb")  # noqa: SIM115 - the commit index reads it until closed
    except OSError:
        return None
    try:
        head = handle.readline().split()
        if len(head) != 6 or head[0] != FORMAT or head[1] != key.encode():
            handle.close()
            return None
        path_bytes, blobs, commits = int(head[3]), int(head[4]), int(head[5])
        listing = Listing()
        names = handle.read(path_bytes).split(b"\0") if path_bytes else []
        for name in names:
            listing._path_ids[name] = len(listing._paths)
            listing._paths.append(name.decode("utf-8", "surrogateescape"))
        body = handle.read(blobs * RECORD.size)
        if len(names) != int(head[2]) or len(body) != blobs * RECORD.size:
            handle.close()
            return None
        listing._blobs = dict(RECORD.iter_unpack(body))
        del body
        return listing, CommitIndex.reading(handle, handle.tell(), commits)
    except (ValueError, OSError):
        handle.close()
        return None


def _save(directory: Path, target: Path, key: str, listing: Listing, index: CommitIndex) -> None:
    """Write the listing atomically (a reader never sees half a file); a cache that cannot be written
    is only a slower shard."""
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(prefix=".listing-", suffix=".tmp", dir=directory)
        with os.fdopen(fd, "wb") as out:
            names = b"\0".join(p.encode("utf-8", "surrogateescape") for p in listing._paths)
            out.write(b"%s %s %d %d %d %d\n" % (FORMAT, key.encode(), len(listing._paths), len(names),
                                                 len(listing), index.commits))  # fmt: skip
            out.write(names)
            items = iter(listing._blobs.items())
            while batch := b"".join(RECORD.pack(blob, pid) for blob, pid in itertools.islice(items, 1 << 14)):
                out.write(batch)
            index.copy_to(out)
        os.replace(tmp, target)
        tmp = None
        entries = sorted(directory.glob("listing-*.bin"), key=lambda e: e.stat().st_mtime)
        for old in entries[: max(0, len(entries) - LISTINGS_KEPT)]:
            old.unlink(missing_ok=True)
            old.with_suffix(".lock").unlink(missing_ok=True)
    except OSError:
        pass
    finally:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
