"""What one shard of a history scan records, so that `scanner merge` folds the shards into exactly
the findings of the unsharded scan, provenance included.

A secret's provenance is decided across blobs (provenance.py: a commit introduced it at a path when
the new blob holds it and no parent's blob did; renames link paths into one lineage), and the blobs
of one file's history fall into different shards. So a shard does not fold on its own: it records
the inputs of the fold for its blobs, and the merge folds the union of the records.

- `blobs`: its blobs that produced findings, with their findings (per blob, before folding);
- `changes`: the changes of the commit listing that touch one of those blobs. The union over the
  shards is every change that touches a blob with findings: what the unsharded fold reads;
- `at_head`: the (rule, secret) keys of its blobs that are in HEAD's tree, and `head_extra`: the
  keys of HEAD files whose blob is outside the scanned history (a --branch scan), by path; together
  they say whether a secret is still present at HEAD;
- `shallow`: the commits a shallow clone was cut at (among the commits of `changes`);
- `tips`: a digest of the commits listed (as a set), HEAD and the selection: the history it listed,
  which every shard of one scan must have listed alike (a branch pushed between two shards'
  fetches would lose the other shards' findings of it);
- `notes`: what its closing notes counted (a partial clone's blobs not here, blobs over the size
  limit and the largest of them), which the merge adds up into the notes of the whole history.

The fold runs on the records' union (`fold_records`) with provenance.fold, the function the unsharded
scan runs too.
"""

from __future__ import annotations

from collections.abc import Callable, Container, Iterable, Sequence
from typing import Any

from scanner.model import Finding, Problem
from scanner.sources.history import largest, partial_note, size_note
from scanner.sources.provenance import Change, fold, relevant_changes, secret_id

Key = tuple[str, str]


def record(
    tree: dict[str, str],
    source: str,
    by_blob: dict[str, list[Finding]],
    listed: Container[str],
    changes: list[Change],
    rescan: Callable[[str, str], list[Finding]],
    shallow_roots: set[str],
    owns_blob: Callable[[str], bool],
    tips: str,
    notes: dict[str, Any],
) -> dict[str, Any]:
    """This shard's part of the fold's inputs (see the module docstring). Findings stay Finding
    objects: the JSON reporter writes them. `tree`: HEAD's files (git.head_tree)."""
    at_head = sorted({(f.rule_id, secret_id(f)) for sha in set(tree.values()) & set(by_blob) for f in by_blob[sha]})
    head_extra: dict[str, list[Key]] = {}
    for path, sha in sorted(tree.items()):
        if sha not in listed and owns_blob(sha):  # not in the scanned history: scanned here, once
            keys = sorted({(f.rule_id, secret_id(f)) for f in rescan(sha, path)})
            if keys:
                head_extra[path] = keys
    changes = relevant_changes(changes, by_blob)
    commits = {c.commit[0] for c in changes}
    return {
        "source": source,
        "blobs": {sha: list(found) for sha, found in sorted(by_blob.items())},
        "changes": [_change_row(c) for c in changes],
        "at_head": [list(k) for k in at_head],
        "head_extra": {path: [list(k) for k in keys] for path, keys in head_extra.items()},
        "shallow": sorted(shallow_roots & commits),
        "tips": tips,
        "notes": notes,
    }


def _change_row(change: Change) -> list[Any]:
    return [change.order, list(change.commit), change.path, change.old_path, list(change.olds), change.new]


def _change(row: Sequence[Any]) -> Change:
    order, commit, path, old_path, olds, new = row
    return Change(int(order), tuple(str(x) for x in commit), str(path), str(old_path),  # type: ignore[arg-type]
                            tuple(str(o) for o in olds), str(new))


def checked(rec: Any, finding: Callable[[Any], Finding]) -> dict[str, Any]:
    """A record read back from a shard's JSON report, its findings made by `finding`, every part of
    the shape `record` writes; ValueError, TypeError or KeyError when a part is missing or is not
    (a report edited by hand or by a script), before anything is folded."""
    if not isinstance(rec, dict):
        raise TypeError("the shard's history record is not an object")
    pairs = lambda keys: [[str(r), str(s)] for r, s in keys]  # noqa: E731 - (rule, secret) keys
    return {
        "source": str(rec.get("source") or "history"),
        "blobs": {str(sha): [finding(f) for f in found] for sha, found in dict(rec["blobs"]).items()},
        "changes": [_change_row(_change(row)) for row in rec["changes"]],
        "at_head": pairs(rec["at_head"]),
        "head_extra": {str(path): pairs(keys) for path, keys in dict(rec["head_extra"]).items()},
        "shallow": [str(commit) for commit in rec.get("shallow") or ()],
        "tips": str(rec.get("tips") or ""),
        **({"notes": _checked_notes(rec["notes"])} if rec.get("notes") is not None else {}),
    }


def _checked_notes(notes: Any) -> dict[str, Any]:
    largest = notes["largest"]
    if largest is not None:
        sha, path, size = largest
        largest = [str(sha), str(path), int(size)]
    return {"partial": bool(notes["partial"]), "gaps": int(notes["gaps"]), "big": int(notes["big"]),
            "max_size": int(notes["max_size"]), "largest": largest}  # fmt: skip


def closing_notes(records: Iterable[dict[str, Any]]) -> tuple[set[Problem], list[Problem]]:
    """The closing notes each shard wrote of its part (history.closing_notes: a partial clone's blobs
    not here, blobs over the size limit), and the notes of the whole history that replace them."""
    own: set[Problem] = set()
    partial, gaps, big, max_size = False, 0, 0, 0
    biggest: list[tuple[str, str, int]] = []
    for rec in records:
        notes = rec.get("notes")
        if not notes:
            continue
        if notes["partial"]:
            partial, gaps = True, gaps + notes["gaps"]
            own.add(partial_note(notes["gaps"]))
        if notes["big"] and notes["largest"]:
            mine = tuple(notes["largest"])
            own.add(size_note(notes["big"], mine, notes["max_size"]))  # type: ignore[arg-type]
            big, max_size = big + notes["big"], notes["max_size"]
            biggest.append(mine)  # type: ignore[arg-type]
    whole = [partial_note(gaps)] if partial else []
    if big:
        whole.append(size_note(big, largest(biggest), max_size))
    return own, whole


def fold_records(records: Iterable[dict[str, Any]]) -> list[Finding]:
    """The unsharded history findings (paths relative to the repository) from every shard's record."""
    source = "history"
    by_blob: dict[str, list[Finding]] = {}
    changes: set[Change] = set()
    at_head: set[Key] = set()
    head_extra: dict[str, set[Key]] = {}
    shallow: set[str] = set()
    for rec in records:
        source = rec.get("source") or source
        for sha, found in rec["blobs"].items():
            by_blob.setdefault(sha, list(found))
        for row in rec["changes"]:
            changes.add(_change(row))
        at_head.update((str(r), str(s)) for r, s in rec["at_head"])
        for path, keys in rec["head_extra"].items():
            head_extra.setdefault(path, set()).update((str(r), str(s)) for r, s in keys)
        shallow.update(rec.get("shallow", ()))

    def present(rule_id: str, secret: str, paths: Iterable[str]) -> bool:
        key = (rule_id, secret)
        return key in at_head or any(key in head_extra.get(path, ()) for path in paths)

    return fold(source, by_blob, changes, present, shallow)
