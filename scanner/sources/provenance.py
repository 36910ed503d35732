"""Who brought a secret in, and when: provenance for the (few) blobs that produced findings.

One `git log --raw` pass over the scanned refs records every change each commit made to a path
(`Change`: the blob(s) the parent(s) had there, the blob after, the rename source). The same pass
enumerates the blobs to scan: a commit *introduces* a blob at a path when the blob is new there
(see history.plan).

Which commits matter for a secret is then decided per secret, not per blob (`secret_lineages`, kept
apart so that another listing can feed it): a commit *introduced* a secret into a path when the
path's new blob holds it and no parent's blob there did; it *removed* it when a parent's blob held
it and the new one does not (edited out, or the file deleted). An edit that keeps the secret is
neither. A rename that keeps the secret links the new path to the old one: one lineage, one finding
listing both paths. Merges are read as combined diffs, so a merge appears only where its result
differs from every parent; with a parent that already held the secret it introduces nothing, so a
secret merged in from a branch is introduced by the branch commit, and a merge counts only when its
own resolution adds the secret.

Findings are then folded: one per (rule, secret, lineage), attributed to the oldest introducing
commit, listing the introducing commits and the removing ones, and marked present or not at HEAD.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Iterator
from typing import NamedTuple

from scanner.model import Finding, Provenance, fingerprint
from scanner.sources.git import git_stream, head_tree

GITLINK = b"160000"
NULL_SHA = "0" * 40


class Event(NamedTuple):
    order: int  # position in `git log --topo-order` output: higher is older
    commit: str
    author: str
    email: str
    date: str
    path: str
    blob: str


class Change(NamedTuple):
    """One path changed by one commit, as `git log --raw` gives it."""

    order: int  # position in `git log --topo-order` output: higher is older
    commit: tuple[str, str, str, str]  # sha, author, email, date
    path: str
    old_path: str  # the rename source, "" when not a rename
    olds: tuple[str, ...]  # the blob at the path in each parent ("" where there was none)
    new: str  # the blob after the commit ("" when the commit deleted the path)


class Introductions(NamedTuple):
    events: dict[str, list[Event]]  # blob sha -> the commits that introduced it, newest first
    changes: list[Change]  # every change to a (non-submodule) path, newest first


def _tokens(stream, size: int = 1 << 20) -> Iterator[bytes]:
    rest = b""
    while True:
        chunk = stream.read(size)
        if not chunk:
            break
        parts = (rest + chunk).split(b"\0")
        rest = parts.pop()
        yield from parts
    if rest:
        yield rest


def introductions(root: str, revs: Iterable[str], exact_renames: bool = False) -> Introductions:
    """The commits on `revs` that introduced each blob, the paths they had there, and every change
    to a path. This one pass also enumerates every blob of the history: each blob reachable from
    `revs` is introduced by some commit on them.

    `exact_renames`: follow only renames that kept the content (-M100%), which git finds from the
    object ids alone. A partial clone needs it: finding a rename with edits reads both blobs, and a
    missing one would stop git (it is never fetched)."""
    events: dict[str, list[Event]] = {}
    changes: list[Change] = []
    args = [
        "log", *revs, "--topo-order", "--no-color", "-z", "--raw", "--no-abbrev", "-M100%" if exact_renames else "-M",
        "--diff-merges=combined", "--no-textconv", "--no-ext-diff",
        "--format=%x01%H%x02%an%x02%ae%x02%aI", "--",
    ]  # fmt: skip
    order = -1
    commit = ("", "", "", "")
    meta: bytes = b""
    want = 0
    paths: list[bytes] = []
    with git_stream(root, *args) as out:
        for tok in _tokens(out):
            if want:  # a path token: taken raw
                paths.append(tok)
                want -= 1
                if want:
                    continue
                _record(meta, paths, order, commit, events, changes)
                continue
            tok = tok.lstrip(b"\n")
            if not tok:
                continue
            if tok[:1] == b"\x01":
                order += 1
                commit = tuple(tok[1:].decode("utf-8", "replace").split("\x02"))  # type: ignore[assignment]
            elif tok[:1] == b":":
                meta, paths = tok, []
                status = tok.rsplit(b" ", 1)[-1]
                want = 2 if not tok.startswith(b"::") and status[:1] in (b"R", b"C") else 1
    return Introductions(events, changes)


def _record(meta, paths, order, commit, events, changes) -> None:  # noqa: ANN001
    colons = len(meta) - len(meta.lstrip(b":"))
    fields = meta[colons:].split(b" ")
    modes, shas = fields[: colons + 1], fields[colons + 1 : 2 * colons + 2]
    if modes[-1] == GITLINK:
        return
    olds = tuple("" if s == NULL_SHA else s for s in (s.decode() for s in shas[:-1]))
    new = shas[-1].decode()
    new_path = paths[-1].decode("utf-8", "surrogateescape")
    old_path = ""
    if colons == 1 and len(paths) == 2 and fields[-1][:1] == b"R":
        old_path = paths[0].decode("utf-8", "surrogateescape")
    changes.append(Change(order, commit, new_path, old_path, olds, "" if new == NULL_SHA else new))
    if new != NULL_SHA and new not in olds:
        sha, author, email, date = commit
        events.setdefault(new, []).append(Event(order, sha, author, email, date, new_path, new))


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
    root: str,
    head: str,
    source: str,
    by_blob: dict[str, list[Finding]],
    scanned: set[str],
    rescan: Callable[[str, str], list[Finding]],
    shallow_roots: set[str],
    intro: Introductions,
) -> list[Finding]:
    """Fold per-blob findings into one finding per (rule, secret, path lineage), with commit provenance.

    `scanned` are the blob ids that were read; `rescan(sha, path)` scans a HEAD blob that was not
    (a --branch or --range scan), to tell whether a secret is still present at HEAD. `intro`: the
    changes of the history (the history scan's enumeration pass).

    The finding is the one in the blob of the oldest introduction, at the path it had there; its
    fingerprint is rule + that path + the secret, so every version and rename of the file gives the
    same identity. `provenance.commits` lists the introducing commits, then the removing ones
    (`change`: "introduced" / "removed"), each once, oldest first."""
    tree = head_tree(root, head)
    at_head: set[tuple[str, str]] = set()
    for sha in set(tree.values()) & set(by_blob):
        at_head.update((f.rule_id, secret_id(f)) for f in by_blob[sha])
    rescanned: dict[str, set[tuple[str, str]]] = {}

    def present(rule_id: str, secret: str, paths: Iterable[str]) -> bool:
        if (rule_id, secret) in at_head:
            return True
        for path in paths:
            sha = tree.get(path)
            if sha and sha not in scanned:
                if sha not in rescanned:
                    rescanned[sha] = {(f.rule_id, secret_id(f)) for f in rescan(sha, path)}
                if (rule_id, secret) in rescanned[sha]:
                    return True
        return False

    return fold(source, by_blob, intro.changes, present, shallow_roots)


def relevant_changes(changes: Iterable[Change], blobs: Iterable[str]) -> Iterator[tuple[int, Change]]:
    """The changes that touch one of `blobs` (as the new blob or a parent's), with their position:
    all the lineages of the secrets in those blobs need."""
    wanted = set(blobs)
    return ((i, c) for i, c in enumerate(changes) if c.new in wanted or any(o in wanted for o in c.olds))


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
    relevant = (change for _, change in relevant_changes(changes, keys))
    lineages = secret_lineages(relevant, lambda sha: keys.get(sha, empty))

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
