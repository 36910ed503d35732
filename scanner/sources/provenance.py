"""Who brought a secret in, and when: provenance for the (few) blobs that produced findings.

One `git log --raw` pass over the scanned refs lists, for every blob, the commits that introduced
it (the same pass enumerates the blobs to scan: see history.plan). A commit *introduces* a blob at
a path when the blob is new there (added, modified into it, renamed-with-changes); a pure rename (same blob) is not an
introduction but links the new path to the old one. Merges are diffed as combined diffs, so a merge
counts only when its result differs from every parent (a conflict resolution that adds a secret),
never for what it brings in from a branch.

Findings are then folded: one per (rule, secret, path lineage), attributed to the oldest introducing
commit, listing every introducing commit, and marked present or not at HEAD.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterable, Iterator
from typing import NamedTuple

from scanner.model import Finding, Provenance, fingerprint
from scanner.sources.git import GitError, first_line, git_command, git_env, head_tree

GITLINK = b"160000"


class Event(NamedTuple):
    order: int  # position in `git log --topo-order` output: higher is older
    commit: str
    author: str
    email: str
    date: str
    path: str
    blob: str


class Introductions(NamedTuple):
    events: dict[str, list[Event]]  # blob sha -> the commits that introduced it, newest first
    renamed_from: dict[str, str]  # new path -> old path, for renames of interesting blobs


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


def introductions(root: str, revs: Iterable[str]) -> Introductions:
    """The commits on `revs` that introduced each blob, and the paths they had there. This one pass
    also enumerates every blob of the history: each blob reachable from `revs` is introduced by some
    commit on them."""
    events: dict[str, list[Event]] = {}
    renamed: dict[str, str] = {}
    args = [
        "log", *revs, "--topo-order", "--no-color", "-z", "--raw", "--no-abbrev", "-M",
        "--diff-merges=combined", "--no-textconv", "--no-ext-diff",
        "--format=%x01%H%x02%an%x02%ae%x02%aI", "--",
    ]  # fmt: skip
    proc = subprocess.Popen(
        git_command(root, *args),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=git_env(),
    )
    order = -1
    commit = ("", "", "", "")
    meta: bytes = b""
    want = 0
    paths: list[bytes] = []
    try:
        for tok in _tokens(proc.stdout):
            if want:  # a path token: taken raw
                paths.append(tok)
                want -= 1
                if want:
                    continue
                _record(meta, paths, order, commit, events, renamed)
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
    finally:
        err = proc.stderr.read()  # type: ignore[union-attr]
        proc.stdout.close()  # type: ignore[union-attr]
        proc.stderr.close()  # type: ignore[union-attr]
        if proc.wait() != 0:
            raise GitError(f"git log failed: {first_line(err)}")
    return Introductions(events, renamed)


def _record(meta, paths, order, commit, events, renamed) -> None:  # noqa: ANN001
    colons = len(meta) - len(meta.lstrip(b":"))
    fields = meta[colons:].split(b" ")
    modes, shas = fields[: colons + 1], fields[colons + 1 : 2 * colons + 2]
    if modes[-1] == GITLINK:
        return
    new = shas[-1].decode()
    new_path = paths[-1].decode("utf-8", "surrogateescape")
    if colons == 1 and len(paths) == 2 and fields[-1][:1] == b"R":
        renamed.setdefault(new_path, paths[0].decode("utf-8", "surrogateescape"))
    if all(s.decode() != new for s in shas[:-1]):
        sha, author, email, date = commit
        events.setdefault(new, []).append(Event(order, sha, author, email, date, new_path, new))


def _lineage(path: str, renamed: dict[str, str]) -> list[str]:
    """path, the path it was renamed from, and so on back (cycles stop)."""
    chain = [path]
    while chain[-1] in renamed and renamed[chain[-1]] not in chain:
        chain.append(renamed[chain[-1]])
    return chain


def secret_id(finding: Finding) -> str:
    return dict(finding.properties).get("secret_sha256") or finding.fingerprint


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
    """Fold per-blob findings into one finding per (rule, secret, path), with commit provenance.

    `scanned` are the blob ids that were read; `rescan(sha, path)` scans a HEAD blob that was not
    (a --branch or --range scan), to tell whether a secret is still present at HEAD. `intro`: the
    introductions computed for every blob (the history scan's enumeration pass)."""
    tree = head_tree(root, head)
    at_head: set[tuple[str, str]] = set()
    for sha in set(tree.values()) & set(by_blob):
        at_head.update((f.rule_id, secret_id(f)) for f in by_blob[sha])

    groups: dict[tuple[str, str, str], list[tuple[Event | None, Finding]]] = {}
    for sha in sorted(by_blob):
        events = intro.events.get(sha) or [None]
        for event in events:
            for finding in by_blob[sha]:
                path = event.path if event else finding.location.path
                key = (finding.rule_id, secret_id(finding), _lineage(path, intro.renamed_from)[-1])
                groups.setdefault(key, []).append((event, finding))

    rescanned: dict[str, set[tuple[str, str]]] = {}

    def present(rule_id: str, secret: str, paths: set[str]) -> bool:
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

    out: list[Finding] = []
    for (rule_id, secret, _), members in groups.items():
        members.sort(key=lambda m: (-(m[0].order if m[0] else -1), m[1].location.path))
        first_event, first = members[0]
        commits: list[dict] = []
        seen: set[tuple[str, str]] = set()
        for event, _finding in members:
            if event and (event.commit, event.path) not in seen:
                seen.add((event.commit, event.path))
                commits.append(
                    {"commit": event.commit, "path": event.path, "author": event.author, "email": event.email,
                     "date": event.date, "blob": event.blob}
                )  # fmt: skip
        path = first_event.path if first_event else first.location.path
        paths = {path} | {c["path"] for c in commits}
        lineage = set()
        for p in paths:
            lineage.update(_lineage(p, intro.renamed_from))
        lineage |= {new for new, old in intro.renamed_from.items() if old in lineage}
        is_present = present(rule_id, secret, lineage)
        message = first.message
        if not is_present:
            message += " (removed at HEAD, but it remains in git history: rotate it, and purge the history)"
        props = dict(first.properties)  # commit, author, date, present at HEAD live in `provenance`
        props["paths"] = tuple(sorted(paths))
        if first_event and first_event.commit in shallow_roots:
            props["history_truncated"] = True
        provenance = Provenance(
            source=source,
            commit=first_event.commit if first_event else "",
            author=first_event.author if first_event else "",
            email=first_event.email if first_event else "",
            date=first_event.date if first_event else "",
            present_at_head=is_present,
            commits=tuple(commits),
            blob=first_event.blob if first_event else (first.provenance.blob if first.provenance else ""),
        )
        out.append(
            first._replace(
                location=first.location._replace(path=path),
                message=message,
                fingerprint=fingerprint(rule_id, path, secret),
                provenance=provenance,
                properties=tuple(sorted(props.items())),
            )
        )
    out.sort(key=Finding.sort_key)
    return out
