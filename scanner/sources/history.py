"""Git history as a source: every unique blob reachable from the chosen refs, read once.

    git log --topo-order --reverse --raw (no rename detection)  ->  list_blobs(): each blob once,
        with the path it first appeared at (a compact Listing in memory, a CommitIndex on disk)
    -> read_order(): the blobs to read, in the order git stores them (a file, not a table)
    -> (scanner/scan_history.py) N workers, each its own long-lived `cat-file --batch` + the secrets engine
    -> provenance (see provenance.py) worked out afterwards, only for the blobs that produced findings

This module is the source: what to read and how to read it. The scan itself (engines, suppressions,
workers) is scanner/scan_history.py.

No `git log -p`, no tree walk per commit, no rename detection or combined merge diff over the whole
history (they cost several times the walk): each blob's bytes cross a pipe once, whatever number of
commits carry it. Blobs over the size limit are skipped by the size cat-file announces, never kept in
memory; binaries (text.py: NUL-heavy or a binary signature) after reading. Submodules (gitlinks) are
not objects of this repository: skipped with a note. A blob git cannot read (missing from a partial
clone: git never fetches it, see git.git_env) is a warning naming its path and id, counted like any
file that was not fully scanned.
"""

from __future__ import annotations

import binascii
import contextlib
import itertools
import struct
import subprocess
import tempfile
import threading
from binascii import a2b_hex
from collections.abc import Callable, Collection, Container, Iterable, Iterator
from typing import IO, NamedTuple, Protocol

from scanner import interrupts, plural
from scanner.model import Item, Problem, Provenance
from scanner.sources import git, text
from scanner.sources.git import GitError, Repo, git_stream, open_repo, resolve_commit, run_git
from scanner.sources.provenance import GITLINK, NULL, CommitIndex, raw_log
from scanner.sources.worktree import DEFAULT_MAX_FILE_SIZE


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


class Listing:
    """The unique blobs of a walk, in listing order, each with the path it came in with, kept compact:
    the blob id as 20 bytes, the path as an index into one table of paths (a history has far fewer
    paths than blobs). About 100 bytes a blob instead of ~350 for a dict of strings, and the only
    per-blob state a history scan keeps in memory (what to read is in a file, see read_order)."""

    def __init__(self) -> None:
        self._blobs: dict[bytes, int] = {}  # blob id (binary) -> index into _paths
        self._paths: list[str] = []
        self._path_ids: dict[bytes, int] = {}

    @classmethod
    def from_table(cls, paths: list[str], blobs: dict[bytes, int]) -> Listing:
        """A listing from its parts as `paths()` and `records()` give them (a saved listing)."""
        listing = cls()
        listing._paths = paths
        listing._path_ids = {path.encode("utf-8", "surrogateescape"): pid for pid, path in enumerate(paths)}
        listing._blobs = blobs
        return listing

    def add(self, sha: bytes, path: bytes) -> None:
        """A blob (hex, as git writes it) not listed yet, at `path` (as git writes it)."""
        pid = self._path_ids.get(path)
        if pid is None:
            pid = self._path_ids[path] = len(self._paths)
            self._paths.append(path.decode("utf-8", "surrogateescape"))
        self._blobs[a2b_hex(sha)] = pid

    def keys(self) -> Collection[bytes]:
        """The binary ids of the listed blobs (a view: `key in listing.keys()` is a dict lookup)."""
        return self._blobs.keys()

    def paths(self) -> list[str]:
        """The table of paths the records index."""
        return self._paths

    def records(self) -> Iterator[tuple[bytes, int]]:
        """(binary blob id, index of its path in `paths()`), in listing order."""
        return iter(self._blobs.items())

    def __len__(self) -> int:
        return len(self._blobs)

    def __contains__(self, sha: object) -> bool:
        return isinstance(sha, str) and len(sha) == 40 and self._key(sha) in self._blobs

    @staticmethod
    def _key(sha: str) -> bytes | None:
        try:
            return a2b_hex(sha)
        except (ValueError, binascii.Error):
            return None

    def path(self, sha: str, default: str = "") -> str:
        """The path `sha` came in with (`default` for a blob not listed)."""
        pid = self._blobs.get(self._key(sha))  # type: ignore[arg-type]
        return default if pid is None else self._paths[pid]

    def path_of_key(self, key: bytes) -> str | None:
        """The path of a binary blob id, None when not listed (the read order's lookups)."""
        pid = self._blobs.get(key)
        return None if pid is None else self._paths[pid]

    def select(self, keep: Callable[[str, str], bool]) -> set[bytes]:
        """The binary ids of the blobs `keep(sha, path)` accepts, asked in listing order."""
        paths = self._paths
        return {key for key, pid in self._blobs.items() if keep(key.hex(), paths[pid])}

    def select_runs(self, keep_run: Callable[[str, int], bool], run: int) -> set[bytes]:
        """The binary ids of the blobs in the runs `keep_run(path, run number)` accepts: in listing
        order, the blobs that came in at one path cut into runs of `run` (asked once per run, not
        once per blob)."""
        chosen: set[bytes] = set()
        for path, number, keys in self.runs(run):
            if keep_run(path, number):
                chosen.update(keys)
        return chosen

    def runs(self, run: int) -> Iterator[tuple[str, int, list[bytes]]]:
        """(path, run number, binary ids): the blobs that came in at each path, in listing order, cut
        into runs of `run` (what a shard owns, scanner.shard)."""
        by_path: list[list[bytes]] = [[] for _ in self._paths]
        for key, pid in self._blobs.items():
            by_path[pid].append(key)
        for path, keys in zip(self._paths, by_path, strict=True):
            for number, start in enumerate(range(0, len(keys), run)):
                yield path, number, keys[start : start + run]

    def blobs_at(self, is_path: Callable[[str], bool]) -> list[tuple[str, str]]:
        """(blob sha, path) of the blobs that came in at a path `is_path` accepts, in listing order."""
        pids = {pid for pid, path in enumerate(self._paths) if is_path(path)}
        return [(key.hex(), self._paths[pid]) for key, pid in self._blobs.items() if pid in pids] if pids else []

    def items(self) -> Iterator[tuple[str, str]]:
        """(blob sha, path), in listing order."""
        paths = self._paths
        for key, pid in self._blobs.items():
            yield key.hex(), paths[pid]


def list_blobs(
    root: str, selection: Selection, *, index: CommitIndex | None = None, exact_renames: bool = False,
    parts: int = 1,
) -> Listing:
    """Every unique blob the selected commits introduce, once each, with the path it first appeared
    at: the blobs sharding and scanning iterate (filter this by blob id to split the work).

    The path is the one the blob had where it first appeared: its oldest introduction in
    `--topo-order` (a commit introduces a blob at a path when the blob is new there, in no parent at
    that path), the last such path within that commit. The walk runs oldest first, so a blob is
    final once its first commit is read.

    A whole history (no negative revision) is walked without rename detection: renames cost several
    times the walk, and there they do not change the result. Every blob reachable from the refs is
    introduced by some commit of the walk, and an introduction that rename detection would not count
    (an unchanged file under a new name) has the blob in a parent already, so an older one exists.
    A range (`A..B`, `--not --remotes`) is walked with rename detection (`exact_renames`: only those
    that kept the content, for partial clones): there that older commit may lie outside the range.

    `parts` > 1: the commits' diffs are computed by that many git processes side by side, each over
    a run of consecutive commits (the walk's order), written to temporary files, then read in order;
    otherwise one `git log` streams. `index` records what each commit touched, for provenance
    afterwards (provenance.CommitIndex)."""
    diff = ("-M100%" if exact_renames else "-M") if selection.source == "range" else "--no-renames"
    show = ["--no-color", "-z", "--raw", "--no-abbrev", diff, "--diff-merges=combined", "--no-textconv",
            "--no-ext-diff", "--format=%x01%H"]  # fmt: skip
    listing = Listing()
    if parts <= 1:
        with git_stream(root, *git.TREE_WALK, "log", *selection.revs, "--topo-order", "--reverse", *show, "--") as out:
            _introduced(raw_log(out), listing, index)
        return listing
    for out in _segments(root, selection.revs, show, parts):
        _introduced(raw_log(out), listing, index)
    return listing


def unique_blobs(
    root: str, selection: Selection, *, index: CommitIndex | None = None, exact_renames: bool = False,
    parts: int = 1,
) -> Iterator[tuple[str, str]]:
    """(blob sha, path) of `list_blobs`, in listing order."""
    yield from list_blobs(root, selection, index=index, exact_renames=exact_renames, parts=parts).items()


MIN_COMMITS_PER_PART = 2000


def _segments(root: str, revs: tuple[str, ...], show: list[str], parts: int) -> Iterator[IO[bytes]]:
    """`git log --no-walk --stdin` over `parts` runs of the walk's commits at once, each into a
    temporary file; each file in the walk's order, as soon as its git has finished (the first is
    read while the others still run). Leaving early ends the gits still running."""
    commits = run_git(root, "rev-list", "--topo-order", "--reverse", *revs, "--")
    lines = commits.count(b"\n")
    if not lines:  # an empty repository or range (given no commit, git log would take HEAD)
        return
    parts = max(1, min(parts, lines // MIN_COMMITS_PER_PART))
    bounds = [0]
    for k in range(1, parts):
        cut = commits.find(b"\n", len(commits) * k // parts)
        bounds.append(cut + 1 if cut >= 0 else len(commits))
    bounds.append(len(commits))
    with contextlib.ExitStack() as stack:
        procs: list[tuple[subprocess.Popen, IO[bytes], IO[bytes]]] = []
        try:
            for start, end in zip(bounds, bounds[1:], strict=False):
                feed, out, err = (stack.enter_context(tempfile.TemporaryFile()) for _ in range(3))
                feed.write(commits[start:end])
                feed.seek(0)
                try:
                    proc = subprocess.Popen(
                        git.git_command(root, *git.TREE_WALK, "log", "--no-walk=unsorted", "--stdin", *show), stdin=feed, stdout=out,
                        stderr=err, env=git.git_env(),
                    )  # fmt: skip
                except FileNotFoundError:
                    raise GitError("git is not installed or not on PATH") from None
                procs.append((interrupts.track(proc), out, err))
            for proc, out, err in procs:
                code = interrupts.finish(proc)
                if interrupts.killed_by_interrupt(code):
                    raise KeyboardInterrupt
                if code != 0:
                    err.seek(0)
                    raise GitError(f"git log failed: {git.first_line(err.read(1 << 16))}")
                out.seek(0)
                yield out
        finally:
            for proc, _, _ in procs:
                interrupts.finish(proc, kill=True)


def _introduced(entries: Iterator[tuple[bytes, list[bytes]]], listing: Listing, index: CommitIndex | None) -> None:
    """Add to `listing` the blobs first introduced by the commits of one `git log --raw` output (see
    list_blobs)."""
    pending: dict[bytes, bytes] = {}  # blob -> path, for the commit being read
    involved: list[bytes] = []
    commit = b""
    marked = False
    known = listing.keys()
    for meta, paths in itertools.chain(entries, [(b"\x01", [])]):  # a last header closes the last commit
        if meta[:1] == b"\x01":
            if commit:
                if index is not None:
                    index.add(commit, involved, marked)
                for sha, path in pending.items():
                    listing.add(sha, path)
            commit, marked, involved, pending = meta[1:], False, [], {}
            continue
        colons = len(meta) - len(meta.lstrip(b":"))
        fields = meta[colons:].split(b" ")
        shas = fields[colons + 1 : 2 * colons + 2]
        new = shas[-1]
        involved.extend(s for s in shas if s != NULL)
        if fields[colons] == GITLINK or new == NULL:
            continue
        olds = shas[:-1]
        if colons > 1 and NULL in olds:
            marked = True  # a path new to some parent: its exact diff may name a rename source
        if new not in olds and (new in pending or a2b_hex(new) not in known):
            pending[new] = paths[-1]


class Stored(Protocol):
    """What read_order needs of the stored objects: StoredBlobs, or a listing's saved copy
    (listing_cache.StoredOrder)."""

    def read_ids(self) -> Iterator[tuple[bytes, int]]: ...

    def close(self) -> None: ...


class StoredBlobs:
    """(sha, size) of every object stored in the repository (loose, packed, alternates; the listing says
    which are blobs), in the
    order git stores them: reading blobs in that order keeps each delta base in cat-file's cache and
    costs what the floor costs (`cat-file --batch-all-objects --unordered`), several times less than
    any history order. Only what is here: a partial clone's missing blobs are not listed.

    git starts listing at once, into a temporary file, so it runs beside the history walk;
    `read()` waits for it. Use as a context manager (git is ended if the scan stops first)."""

    def __init__(self, root: str) -> None:
        self._out = tempfile.TemporaryFile()
        self._err = tempfile.TemporaryFile()
        try:
            self._proc = interrupts.track(
                subprocess.Popen(
                    git.git_command(root, *git.HEADER_READ, "cat-file", "--batch-all-objects", "--unordered",
                                    "--batch-check=%(objectname) %(objectsize)"),
                    stdin=subprocess.DEVNULL, stdout=self._out, stderr=self._err, env=git.git_env(),
                )  # fmt: skip
            )
        except FileNotFoundError:
            self._proc = None
            self.close()
            raise GitError("git is not installed or not on PATH") from None

    def read(self) -> Iterator[tuple[str, int]]:
        for key, size in self.read_ids():
            yield key.hex(), size

    def read_ids(self) -> Iterator[tuple[bytes, int]]:
        """(object id as 20 bytes, size): `read` without the hex strings. Every object, not only
        blobs: asking git for the type walks each delta chain back to its base (with bounded pack
        windows, a 200,000-commit pack took minutes instead of 3 s); the listing says which are
        blobs."""
        assert self._proc is not None
        code = interrupts.finish(self._proc)
        if interrupts.killed_by_interrupt(code):
            raise KeyboardInterrupt
        if code != 0:
            self._err.seek(0)
            raise GitError(f"git cat-file failed: {git.first_line(self._err.read(1 << 16))}")
        self._out.seek(0)
        for line in self._out:
            sha, size = line.split()
            yield a2b_hex(sha), int(size)

    def close(self) -> None:
        proc, self._proc = getattr(self, "_proc", None), None
        if proc is not None:
            interrupts.finish(proc, kill=True)
        self._out.close()
        self._err.close()

    def __enter__(self) -> StoredBlobs:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class ReadOrder:
    """The blobs to read, in order, as (blob sha, path, size): kept in a temporary file, 32 bytes a
    blob (id, path index, size) rather than as Python tuples, and iterable any number of times.
    `blob in order`: the blob is one to read, and was read (`unread` names those that were not)."""

    RECORD = struct.Struct(">20sIQ")

    def __init__(self, listing: Listing, wanted: Container[bytes] | None) -> None:
        self._listing, self._wanted = listing, wanted
        self._file = tempfile.TemporaryFile()
        self._pending: list[bytes] = []
        self._skipped: set[str] = set()  # listed and wanted, but not read: missing, or over the size limit
        self.count = 0
        self.total = 0  # bytes, 0 when the sizes are not known

    def _append(self, key: bytes, pid: int, size: int) -> None:
        self._pending.append(self.RECORD.pack(key, pid, size))
        self.count += 1
        self.total += size
        if len(self._pending) >= 4096:
            self._flush()

    def _flush(self) -> None:
        self._file.write(b"".join(self._pending))
        self._pending = []

    def __len__(self) -> int:
        return self.count

    def __iter__(self) -> Iterator[tuple[str, str, int]]:
        self._flush()
        self._file.seek(0)
        paths = self._listing._paths
        step = self.RECORD.size * 4096
        while block := self._file.read(step):
            for key, pid, size in self.RECORD.iter_unpack(block):
                yield key.hex(), paths[pid], size

    def unread(self, shas: Iterable[str]) -> None:
        self._skipped.update(shas)

    def __contains__(self, sha: object) -> bool:
        from scanner.engines.filters import is_lock_file

        if not isinstance(sha, str) or sha in self._skipped or sha not in self._listing:
            return False
        key = a2b_hex(sha)
        return (self._wanted is None or key in self._wanted) and not is_lock_file(self._listing.path(sha))

    def close(self) -> None:
        self._file.close()


def read_order(
    listing: Listing, stored: Stored | None, max_size: int, storage_order: bool,
    wanted: Collection[bytes] | None = None,
) -> tuple[ReadOrder, list[str], list[tuple[str, int]]]:
    """The listed blobs to read (those in `wanted`, binary ids of listed blobs, when given), in order; the blobs
    that are not here (a partial clone's); (blob, size) of those over max_size. In storage order, or
    as listed; without `stored`, sizes are unknown (0: cat-file says them as it reads). Lock files
    are not read at all: the secrets engine skips them by their path (filters.is_lock_file), which
    is known here. One pass over the stored objects, no table of their sizes."""
    from scanner.engines.filters import is_lock_file

    order = ReadOrder(listing, wanted)
    blobs, paths = listing._blobs, listing._paths
    lock = [is_lock_file(path) for path in paths]
    mine = blobs if wanted is None else wanted
    big: list[tuple[str, int]] = []

    def take(key: bytes, pid: int, size: int) -> None:
        if lock[pid]:
            return
        if size > max_size:
            big.append((key.hex(), size))
        else:
            order._append(key, pid, size)

    if stored is None:
        for key, pid in blobs.items():
            if key in mine:
                take(key, pid, 0)
        return order, [], big
    here: set[bytes] | None = None
    if storage_order:
        found = 0
        for key, size in stored.read_ids():
            if key in mine:  # a shard's part first: most of the listing is other shards'
                pid = blobs.get(key)
                if pid is not None:
                    found += 1
                    take(key, pid, size)
        if found < len(mine):  # some blobs are not here (a partial clone): which ones
            here = {key for key, _ in stored.read_ids()}
    else:
        sizes = {key: size for key, size in stored.read_ids() if key in blobs}
        for key, pid in blobs.items():
            if key in mine and key in sizes:
                take(key, pid, sizes[key])
        here = set(sizes)
    gaps = [] if here is None else [key.hex() for key in blobs if key in mine and key not in here]
    order.unread(gaps)
    order.unread(sha for sha, _ in big)
    return order, gaps, big


def notes(repo: Repo) -> list[Problem]:
    """What a user should know before reading the findings of a history scan of `repo`."""
    if not repo.shallow:
        return []
    return [
        Problem(
            ".",
            "shallow clone: history is truncated, only the fetched commits were scanned "
            "(fetch full history with 'git fetch --unshallow', or fetch-depth: 0 in CI)",
            "warning",
            kind="notice",  # no file went unscanned: a warning, not a coverage gap (--fail-on-parse-error)
        )
    ]


def is_submodule_config(path: str) -> bool:
    return path == ".gitmodules" or path.endswith("/.gitmodules")


def closing_notes(
    repo: Repo, gaps: int, submodules: bool, big: list[tuple[str, str, int]], max_size: int
) -> list[Problem]:
    """The notes that follow from what the scan met: a partial clone's gaps, submodules, blobs
    skipped for their size (big: (sha, path, size))."""
    problems: list[Problem] = []
    if repo.partial:
        problems.append(partial_note(gaps))
    if submodules:
        problems.append(
            Problem(
                ".gitmodules",
                "submodules are not scanned with this repository's history (they are other repositories): scan each one separately",
                "warning",
            )
        )
    if big:
        problems.append(size_note(len(big), largest(big), max_size))
    return problems


def largest(big: Iterable[tuple[str, str, int]]) -> tuple[str, str, int]:
    """Of blobs over the size limit, (sha, path, size), the one the note names: the largest (then the sha)."""
    return max(big, key=lambda b: (b[2], b[0]))


def partial_note(gaps: int) -> Problem:
    """A partial clone's note: `gaps` blobs of the history were not here (each also has its own warning)."""
    return Problem(
        ".",
        f"partial clone: {plural.count(gaps, 'blob')} of the history {'is' if gaps == 1 else 'are'} not here and not scanned (never "
        "fetched while scanning); renames are followed only where the content did not change",
        "info",
    )


def size_note(count: int, biggest: tuple[str, str, int], max_size: int) -> Problem:
    """`count` blobs over the size limit were skipped; `biggest`: (sha, path, size) of the largest."""
    sha, path, size = biggest
    return Problem(
        path or sha,
        f"{plural.count(count, 'blob')} in history larger than the size limit ({max_size} bytes) "
        f"{'was' if count == 1 else 'were'} skipped, the largest {size} bytes (blob {sha[:12]})",
        "info",
    )


class CatFile:
    """One long-lived `git cat-file --batch`: `read(shas)` yields (sha, size, data) in order, data None
    for a blob over `max_size` (its bytes are drained, never kept) and size -1 for a blob git cannot
    read. The shas go in from a thread, so neither side of the pipes can block the other."""

    def __init__(self, root: str) -> None:
        self.root = root
        self.proc: subprocess.Popen | None = None

    def _start(self) -> subprocess.Popen:
        try:
            proc = subprocess.Popen(
                git.git_command(self.root, *git.BLOB_READ, "cat-file", "--batch"), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL, env=git.git_env(), bufsize=1 << 20,
            )  # fmt: skip
        except FileNotFoundError:
            raise GitError("git is not installed or not on PATH") from None
        _widen(proc.stdout)
        return interrupts.track(proc)

    def read(self, shas: list[str], max_size: int = DEFAULT_MAX_FILE_SIZE) -> Iterator[tuple[str, int, bytes | None]]:
        if not shas:
            return
        if self.proc is None:
            self.proc = self._start()
        proc = self.proc
        assert proc.stdin is not None and proc.stdout is not None
        request = "".join(f"{sha}\n" for sha in shas).encode()
        writer = threading.Thread(target=_send, args=(proc.stdin, request), daemon=True)
        writer.start()
        readline, read = proc.stdout.readline, proc.stdout.read
        try:
            for index, sha in enumerate(shas):
                header = readline()
                if not header:  # git ended (a partial clone it cannot fetch for): the rest is unread
                    self.close()
                    for rest in shas[index:]:
                        yield rest, -1, None
                    return
                parts = header.split()
                if len(parts) < 3:  # "<sha> missing" / "ambiguous"
                    yield sha, -1, None
                    continue
                size = int(parts[2])
                if size > max_size:
                    left = size + 1  # drained a MB at a time, never held
                    while left:
                        got = len(read(min(left, 1 << 20)))
                        if not got:
                            break
                        left -= got
                    yield sha, size, None
                    continue
                data = read(size)
                read(1)
                yield sha, size, data
        except BaseException:
            self.close()
            raise
        finally:
            writer.join()

    def close(self) -> None:
        proc, self.proc = self.proc, None
        if proc is not None:
            for stream in (proc.stdin, proc.stdout):
                try:
                    stream.close()  # type: ignore[union-attr]
                except OSError:
                    pass
            interrupts.finish(proc, kill=True)


F_SETPIPE_SZ = 1031  # Linux


def _widen(stream, size: int = 1 << 20) -> None:  # noqa: ANN001
    """A 1 MB pipe instead of 64 KB (Linux, best effort): git writes a blob or more ahead of the
    reader, and both sides make fewer, larger copies (about 10% less time to read a history)."""
    try:
        import fcntl

        fcntl.fcntl(stream.fileno(), F_SETPIPE_SZ, size)
    except (ImportError, OSError, ValueError):  # another system, or over /proc/sys/fs/pipe-max-size
        pass


def _send(stream, request: bytes) -> None:  # noqa: ANN001
    try:
        stream.write(request)
        stream.flush()
    except (OSError, ValueError):  # git ended, or the reader closed it: the reader reports
        pass


def history_items(
    root: str,
    refs: Iterable[str] | None = None,
    *,
    since: str | None = None,
    range_: str | None = None,
    max_size: int = DEFAULT_MAX_FILE_SIZE,
    problems: list[Problem] | None = None,
) -> Iterator[Item]:
    """Every unique text blob on the selected refs as an Item (path: the path it first appeared at).

    Sequential and simple; `scan_history` is the fast path (parallel, provenance, dedupe)."""
    repo = open_repo(root)
    selection = select(root, refs, since, range_)
    found = list(notes(repo))
    listed = list(unique_blobs(root, selection, exact_renames=repo.partial))
    if repo.partial:
        with StoredBlobs(root) as stored:
            have: set[str] | None = {sha for sha, _ in stored.read()}
    else:
        have = None
    paths = dict(listed)
    wanted = [sha for sha, _ in listed if have is None or sha in have]
    gaps = [sha for sha, _ in listed if have is not None and sha not in have]
    big: list[tuple[str, str, int]] = []
    reader = CatFile(root)
    try:
        for sha, size, data in reader.read(wanted, max_size):
            if size < 0:
                gaps.append(sha)
            elif data is None:
                big.append((sha, paths[sha], size))
            elif not is_binary(data):
                yield Item(paths[sha], data, Provenance(selection.source, blob=sha))
    finally:
        reader.close()
    if problems is not None:
        submodules = any(is_submodule_config(p) for s, p in listed if s not in gaps)
        problems.extend([*found, *(missing_blob(paths[s], s) for s in gaps)])
        problems.extend(closing_notes(repo, len(gaps), submodules, big, max_size))


def shallow_roots(root: str) -> set[str]:
    """Commits a shallow clone was cut at (its history before them is not here)."""
    from pathlib import Path

    path = run_git(root, "rev-parse", "--path-format=absolute", "--git-path", "shallow").strip().decode()
    try:
        return set(Path(path).read_text().split())
    except OSError:
        return set()
