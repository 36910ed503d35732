"""Who brought a secret in, and when: provenance for the (few) blobs that produced findings.

The listing (history.list_blobs) walks the history once without rename detection, and writes a
`CommitIndex` as it goes: one line per commit, naming every blob its diff involves. After the scan,
the commits whose diff involves a blob with a finding are the candidates; only those are diffed
again the exact way (`changes_of`: `git log --no-walk -M --diff-merges=combined --raw`), which gives
every change each of them made to a path (`Change`: the blob(s) the parent(s) had there, the blob
after, the rename source). That is the same list of changes a full `git log -M
--diff-merges=combined` pass gives for those blobs, at the cost of a few commits instead of all:

- a non-merge commit's diff involves the same blobs with or without rename detection (a rename only
  pairs a deletion with an addition), so no candidate is missed;
- a merge's combined diff with renames can name, for a path absent from a parent, that parent's blob
  at the rename source; such merges (a path new to some parent, whose content differs from every
  parent) are marked in the index and are candidates whenever any blob has a finding.

Which commits matter for a secret is then decided per secret, not per blob (`secret_lineages`): a
commit *introduced* a secret into a path when the path's new blob holds it and no parent's blob there
did; it *removed* it when a parent's blob held it and the new one does not (edited out, or the file
deleted). An edit that keeps the secret is neither. A rename that keeps the secret links the new path
to the old one: one lineage, one finding listing both paths. Merges are read as combined diffs, so a
merge appears only where its result differs from every parent; with a parent that already held the
secret it introduces nothing, so a secret merged in from a branch is introduced by the branch commit,
and a merge counts only when its own resolution adds the secret.

Findings are then folded: one per (rule, secret, lineage), attributed to the oldest introducing
commit, listing the introducing commits and the removing ones, and marked present or not at HEAD.
"""

from __future__ import annotations

import functools
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator
from typing import IO, NamedTuple

from scanner.model import Finding, Provenance, fingerprint
from scanner.sources.git import TREE_WALK, git_stream

GITLINK = b"160000"
NULL_SHA = "0" * 40
NULL = NULL_SHA.encode()


class Change(NamedTuple):
    """One path changed by one commit, as `git log --raw` gives it."""

    order: int  # position in `git log --topo-order` output: higher is older
    commit: tuple[str, str, str, str]  # sha, author, email, date
    path: str
    old_path: str  # the rename source, "" when not a rename
    olds: tuple[str, ...]  # the blob at the path in each parent ("" where there was none)
    new: str  # the blob after the commit ("" when the commit deleted the path)


def raw_log(stream) -> Iterator[tuple[bytes, list[bytes]]]:  # noqa: ANN001
    """`git log -z --raw --format=%x01...` output as (token, paths): a commit header (b"\x01...", [])
    or a raw diff entry (b":mode... status", [path] or [source, destination] for a rename or copy)."""
    rest = b""
    want = 0
    meta = b""
    paths: list[bytes] = []
    while True:
        chunk = stream.read(1 << 20)
        if not chunk:
            break
        parts = (rest + chunk).split(b"\0")
        rest = parts.pop()
        for tok in parts:
            if want:  # a path token: taken raw
                paths.append(tok)
                want -= 1
                if not want:
                    yield meta, paths
                continue
            if tok[:1] == b"\n":
                tok = tok.lstrip(b"\n")
            if not tok:
                continue
            if tok[:1] == b"\x01":
                yield tok, []
            elif tok[:1] == b":":
                meta, paths = tok, []
                want = 2 if not tok.startswith(b"::") and tok.rsplit(b" ", 1)[-1][:1] in (b"R", b"C") else 1
    if rest.lstrip(b"\n")[:1] == b"\x01":
        yield rest.lstrip(b"\n"), []


class CommitIndex:
    """What each commit of a listing touched, on disk (bounded memory): one line per commit, in
    listing order (`git log --topo-order --reverse`: oldest first), naming the blobs its diff
    involves, with a mark for the merges whose exact diff may name more (see the module docstring)."""

    def __init__(self) -> None:
        self._file: IO[bytes] = tempfile.TemporaryFile()
        self._start = 0  # where the lines begin in _file
        self._lines: list[bytes] = []
        self.commits = 0
        self.commit_sum = 0  # the listed commits' ids summed (first 64 bits, mod 2**64): which commits, in any order

    @classmethod
    def reading(cls, handle: IO[bytes], start: int, commits: int, commit_sum: int = 0) -> CommitIndex:
        """The index another listing wrote: its lines from `start` to the end of `handle` (kept open
        until `close`)."""
        index = cls.__new__(cls)
        index._file, index._start, index._lines, index.commits = handle, start, [], commits
        index.commit_sum = commit_sum
        return index

    def copy_to(self, out: IO[bytes]) -> None:
        """Write the lines to `out` (listing_cache saves them)."""
        self.flush()
        self._file.seek(self._start)
        shutil.copyfileobj(self._file, out, 1 << 20)

    def add(self, commit: bytes, blobs: Iterable[bytes], marked: bool) -> None:
        self._lines.append(commit + (b" *" if marked else b" -") + b"".join(b" " + b for b in blobs) + b"\n")
        self.commits += 1
        self.commit_sum = (self.commit_sum + int(commit[:16], 16)) & 0xFFFF_FFFF_FFFF_FFFF
        if len(self._lines) >= 4096:
            self.flush()

    def flush(self) -> None:
        if self._lines:
            self._file.seek(0, 2)
            self._file.write(b"".join(self._lines))
            self._lines = []
            self._file.flush()

    def candidates(self, blobs: set[str]) -> list[tuple[str, int]]:
        """(commit, order) of every commit whose diff may involve one of `blobs`, newest first;
        order is the commit's position in `git log --topo-order` (0: newest)."""
        if not blobs:
            return []
        self.flush()
        self._file.seek(self._start)
        wanted = {b.encode() for b in blobs}
        found: list[tuple[str, int]] = []
        last = self.commits - 1
        for position, line in enumerate(self._file):
            fields = line.split()
            if fields[1] == b"*" or not wanted.isdisjoint(fields[2:]):
                found.append((fields[0].decode(), last - position))
        found.reverse()
        return found

    def close(self) -> None:
        self._file.close()


def changes_of(root: str, commits: list[tuple[str, int]], exact_renames: bool = False) -> list[Change]:
    """Every change (`git log -M --diff-merges=combined --raw`) the given (commit, order) made,
    newest first as given; submodule entries left out.

    `exact_renames`: follow only renames that kept the content (-M100%), which git finds from the
    object ids alone. A partial clone needs it: finding a rename with edits reads both blobs, and a
    missing one would stop git (it is never fetched)."""
    if not commits:
        return []
    orders = {sha: order for sha, order in commits}
    args = [
        *TREE_WALK, "log", "--no-walk=unsorted", "--stdin", "--no-color", "-z", "--raw", "--no-abbrev",
        "-M100%" if exact_renames else "-M", "--diff-merges=combined", "--no-textconv", "--no-ext-diff",
        "--format=%x01%H%x02%an%x02%ae%x02%aI",
    ]  # fmt: skip
    changes: list[Change] = []
    commit = ("", "", "", "")
    order = -1
    with tempfile.TemporaryFile() as listing:
        listing.write("".join(f"{sha}\n" for sha, _ in commits).encode())
        listing.seek(0)
        with git_stream(root, *args, stdin=listing) as out:
            for meta, paths in raw_log(out):
                if meta[:1] == b"\x01":
                    commit = tuple(meta[1:].decode("utf-8", "replace").split("\x02"))  # type: ignore[assignment]
                    order = orders[commit[0]]
                else:
                    change = _change(meta, paths, order, commit)
                    if change is not None:
                        changes.append(change)
    return changes


def _change(meta: bytes, paths: list[bytes], order: int, commit: tuple[str, str, str, str]) -> Change | None:
    colons = len(meta) - len(meta.lstrip(b":"))
    fields = meta[colons:].split(b" ")
    modes, shas = fields[: colons + 1], fields[colons + 1 : 2 * colons + 2]
    if modes[-1] == GITLINK:
        return None
    olds = tuple("" if s == NULL_SHA else s for s in (s.decode() for s in shas[:-1]))
    new = shas[-1].decode()
    new_path = paths[-1].decode("utf-8", "surrogateescape")
    old_path = ""
    if colons == 1 and len(paths) == 2 and fields[-1][:1] == b"R":
        old_path = paths[0].decode("utf-8", "surrogateescape")
    return Change(order, commit, new_path, old_path, olds, "" if new == NULL_SHA else new)


# --- which commits introduced and removed a secret, per lineage ----------------------------------

Key = tuple[str, str]  # (rule id, secret id)


class Lineage(NamedTuple):
    """One secret's life in one file lineage (a path and the paths it was renamed to or from)."""

    key: Key
    introduced: list[Change]  # oldest first
    removed: list[Change]  # oldest first
    paths: frozenset[str]  # every path the secret had in this lineage


def _find(parent: dict[str, str], path: str) -> str:
    """Union-find over paths: the representative of `path`'s lineage."""
    root = path
    while parent.get(root, root) != root:
        root = parent[root]
    while path != root:  # path compression
        parent[path], path = root, parent[path]
    return root


def secret_lineages(changes: Iterable[Change], keys_in: Callable[[str], frozenset[Key]]) -> list[Lineage]:
    """The lineages of every secret, from the changes of a history and `keys_in(blob)`: the secrets a
    blob holds (empty for a blob not scanned or without findings). Pure: no git here.

    A change introduces key k at its path when k is in the new blob and in no parent's blob; removes
    it when it was in a parent's blob and is not in the new one; a rename that keeps k links the two
    paths into one lineage. Lineages without an introduction (a removal whose introduction lies
    outside the scanned range) are dropped."""
    intro: dict[Key, list[Change]] = {}
    gone: dict[Key, list[Change]] = {}
    links: dict[Key, list[tuple[str, str]]] = {}
    for change in changes:
        new = keys_in(change.new) if change.new else frozenset()
        had: frozenset[Key] = frozenset()
        for old in change.olds:
            if old:
                had = had | keys_in(old)
        if not new and not had:
            continue
        for key in new - had:
            intro.setdefault(key, []).append(change)
        for key in had - new:
            gone.setdefault(key, []).append(change)
        if change.old_path:
            for key in new & had:
                links.setdefault(key, []).append((change.old_path, change.path))
    out: list[Lineage] = []
    for key, introduced in intro.items():
        parent: dict[str, str] = {}
        for a, b in links.get(key, ()):
            ra, rb = _find(parent, a), _find(parent, b)
            if ra != rb:
                parent[rb] = ra
        find = functools.partial(_find, parent)
        groups: dict[str, tuple[list[Change], list[Change]]] = {}
        for change in introduced:
            groups.setdefault(find(change.path), ([], []))[0].append(change)
        for change in gone.get(key, ()):
            root = find(change.old_path or change.path)
            if root in groups:
                groups[root][1].append(change)
        members: dict[str, set[str]] = {}
        for path in list(parent) + [c.path for c in introduced]:
            members.setdefault(find(path), set()).add(path)
        for root, (ins, outs) in groups.items():
            ins.sort(key=lambda c: (-c.order, c.path))
            outs.sort(key=lambda c: (-c.order, c.path))
            out.append(Lineage(key, ins, outs, frozenset(members.get(root, {root}))))
    return out


def secret_id(finding: Finding) -> str:
    return dict(finding.properties).get("secret_sha256") or finding.fingerprint


def _commit_entry(change: Change, action: str) -> dict:
    sha, author, email, date = change.commit
    return {"commit": sha, "path": change.path if action == "introduced" else (change.old_path or change.path),
            "author": author, "email": email, "date": date, "blob": change.new, "change": action}  # fmt: skip


def attach_provenance(
    tree: dict[str, str],
    source: str,
    by_blob: dict[str, list[Finding]],
    scanned: set[str],
    rescan: Callable[[str, str], list[Finding]],
    shallow_roots: set[str],
    changes: Iterable[Change],
) -> list[Finding]:
    """Fold per-blob findings into one finding per (rule, secret, path lineage), with commit provenance.

    `scanned` are the blob ids that were read; `rescan(sha, path)` scans a HEAD blob that was not
    (a --branch or --range scan), to tell whether a secret is still present at HEAD. `changes`: the
    changes of the history that involve blobs with findings (`changes_of`; others are ignored).

    The finding is the one in the blob of the oldest introduction, at the path it had there; its
    fingerprint is rule + that path + the secret, so every version and rename of the file gives the
    same identity. `provenance.commits` lists the introducing commits, then the removing ones
    (`change`: "introduced" / "removed"), each once, oldest first. `tree`: HEAD's files
    (git.head_tree)."""
    at_head: set[tuple[str, str]] = set()
    for sha in set(tree.values()) & set(by_blob):
        at_head.update((f.rule_id, secret_id(f)) for f in by_blob[sha])

    # per (blob, path): what a blob holds depends on its path too (rules' `paths` / `exclude_paths`),
    # and one HEAD blob can sit at two paths
    rescanned: dict[tuple[str, str], set[tuple[str, str]]] = {}

    def present(rule_id: str, secret: str, paths: Iterable[str]) -> bool:
        if (rule_id, secret) in at_head:
            return True
        for path in paths:
            sha = tree.get(path)
            if sha and sha not in scanned:
                if (sha, path) not in rescanned:
                    rescanned[sha, path] = {(f.rule_id, secret_id(f)) for f in rescan(sha, path)}
                if (rule_id, secret) in rescanned[sha, path]:
                    return True
        return False

    return fold(source, by_blob, changes, present, shallow_roots)


def relevant_changes(changes: Iterable[Change], blobs: Iterable[str]) -> list[Change]:
    """The changes that touch one of `blobs` (as the new blob or a parent's), in a canonical order
    (newest commit first, then by path): all the lineages of the secrets in those blobs need, and
    the same list whichever shard or scan computed them."""
    wanted = set(blobs)
    found = [c for c in changes if c.new in wanted or any(o in wanted for o in c.olds)]
    return sorted(found, key=lambda c: (c.order, c.path, c.old_path, c.olds, c.new))


def fold(
    source: str,
    by_blob: dict[str, list[Finding]],
    changes: Iterable[Change],
    present: Callable[[str, str, Iterable[str]], bool],
    shallow_roots: set[str],
) -> list[Finding]:
    """The fold itself, without git: per-blob findings and the history's changes (those touching the
    blobs with findings are enough) into one finding per (rule, secret, path lineage). `present(rule,
    secret, paths)`: whether the secret is still at HEAD. `scanner merge` folds sharded scans with it."""
    keys: dict[str, frozenset[Key]] = {
        sha: frozenset((f.rule_id, secret_id(f)) for f in found) for sha, found in by_blob.items()
    }
    empty: frozenset[Key] = frozenset()
    lineages = secret_lineages(relevant_changes(changes, keys), lambda sha: keys.get(sha, empty))

    def finding_in(sha: str, key: Key) -> Finding | None:
        for finding in by_blob.get(sha, ()):
            if (finding.rule_id, secret_id(finding)) == key:
                return finding
        return None

    out: list[Finding] = []
    covered: set[Key] = set()
    for lineage in lineages:
        first_change = lineage.introduced[0]
        first = finding_in(first_change.new, lineage.key)
        if first is None:
            continue
        covered.add(lineage.key)
        commits: list[dict] = []
        seen: set[tuple[str, str, str]] = set()
        for action, changes in (("introduced", lineage.introduced), ("removed", lineage.removed)):
            for change in changes:
                entry = _commit_entry(change, action)
                if (entry["commit"], entry["path"], action) not in seen:
                    seen.add((entry["commit"], entry["path"], action))
                    commits.append(entry)
        out.append(
            _folded(first, lineage.key, first_change, commits, sorted(lineage.paths), source,
                    present(*lineage.key, lineage.paths), first_change.commit[0] in shallow_roots)
        )  # fmt: skip
    for sha in sorted(by_blob):  # a secret no listed change introduced (should not happen): as found
        for finding in by_blob[sha]:
            key = (finding.rule_id, secret_id(finding))
            if key in covered:
                continue
            covered.add(key)
            out.append(
                _folded(finding, key, None, [], [finding.location.path], source,
                        present(*key, [finding.location.path]), False)
            )  # fmt: skip
    out.sort(key=Finding.sort_key)
    return out


def _folded(
    first: Finding, key: Key, change: Change | None, commits: list[dict], paths: list[str], source: str,
    is_present: bool, truncated: bool,
) -> Finding:
    rule_id, secret = key
    path = change.path if change else first.location.path
    message = first.message
    if not is_present:
        message += " (removed at HEAD, but it remains in git history: rotate it, and purge the history)"
    props = dict(first.properties)  # commit, author, date, present at HEAD live in `provenance`
    props["paths"] = tuple(paths)
    if truncated:
        props["history_truncated"] = True
    sha, author, email, date = change.commit if change else ("", "", "", "")
    provenance = Provenance(
        source=source,
        commit=sha,
        author=author,
        email=email,
        date=date,
        present_at_head=is_present,
        commits=tuple(commits),
        blob=change.new if change else (first.provenance.blob if first.provenance else ""),
    )
    return first._replace(
        location=first.location._replace(path=path),
        message=message,
        fingerprint=fingerprint(rule_id, path, secret),
        provenance=provenance,
        properties=tuple(sorted(props.items())),
    )
