"""`scanner merge`: one report from the JSON reports of a scan split across jobs (`--shard K/N`), or
from scans of many repositories.

- Reports must come from this scanner's version and one rule set (`rules_digest`): a merge of
  anything else would mix verdicts that do not compare. Refused with one line (MergeError).
- Reports are grouped by repository (the `repository` each names). The shards of one repository
  must all be there (1..N of the same N, one scan of the same commit, from the same folder with the
  same excludes); a shard given twice counts once.
  - work tree shards: each file was reported by exactly one shard (scanner.shard): their findings
    are put together;
  - history shards: the shards' records are folded into the unsharded findings, provenance included
    (scanner.sources.shard_record), then merged with the work tree findings as the scan does.
- A finding reported twice (the same report given twice, reports of overlapping scans) is one
  finding; for history findings the oldest introduction wins and the commit lists are united.
- With more than one repository every finding is labelled with its `repository` (JSON, SARIF).

Baselines and --fail-on apply to the merged result (scanner.cli), as they do to one scan.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from scanner import __version__, plural
from scanner.model import Finding, Problem, by_repository, label, problems_by_repository, report_order
from scanner.scan import ScanResult, history_findings, problem_order
from scanner.sources.shard_record import closing_notes, fold_records


class MergeError(Exception):
    """Reports that cannot be merged: one line."""


def merge(reports: Sequence[tuple[str, ScanResult]], several: bool = False) -> ScanResult:
    """`reports`: (file name, loaded report) pairs, in the order given. `several`: label findings with
    their repository even when the reports are of one (`scan --history A B` where B failed)."""
    if not reports:
        raise MergeError("nothing to merge: give one or more JSON reports")
    started = time.monotonic()
    first_name, first = reports[0]
    version = __version__
    digest = _meta(first).get("rules_digest", "")
    for name, result in reports:
        meta = _meta(result)
        if meta.get("version", "") != version:  # another version's shard records need not fold as this one's do
            raise MergeError(f"{name} was written by scanner {meta.get('version') or '(unknown)'}, and this is scanner "
                             f"{version}: merge reports with the version that made them (or re-run the scans with this one)")
        if not meta.get("rules_digest"):
            raise MergeError(f"{name}: the report names no rule set (rules_digest): re-run the scan with scanner {__version__}")
        if meta["rules_digest"] != digest:
            raise MergeError(f"{name} and {first_name} were made with different rule sets (rules_digest differs): "
                             "run every shard with the same rules, --only/--skip and configuration")
    groups: dict[str, list[tuple[str, ScanResult]]] = {}
    for name, result in (part for report in reports for part in _per_repository(*report)):
        groups.setdefault(_meta(result).get("repository") or str(result.root), []).append((name, result))
    findings: list[Finding] = []
    problems: set[Problem] = set()
    counts: dict[str, tuple[int, int]] = {}  # files and bytes scanned, by repository
    for repository, members in groups.items():
        unique = _by_index(members)
        counts[repository] = _counted(members, unique)
        found = dedupe(_group_findings(repository, members, unique))
        if len(groups) > 1 or several:
            found = [label(f, repository) for f in found]
        findings.extend(found)
        shards_notes, whole_notes = _closing_notes(unique)
        kept = [p for _, result in members for p in result.problems if p not in shards_notes] + whole_notes
        problems.update(kept if len(groups) == 1 and not several else  # of several, each problem names its own
                        (p if p.path == repository else p._replace(message=f"{repository}: {p.message}") for p in kept))
    findings.sort(key=report_order)
    meta: dict[str, Any] = {"version": version, "rules_digest": digest}
    if all(_meta(result).get("rules_run") is not None for _, result in reports):  # one rule set: the same
        meta["rules_run"] = _meta(first)["rules_run"]
    failed = sorted({name for _, result in reports for name in _meta(result).get("failed") or ()})
    if failed:  # repositories that could not be scanned: the merged verdict is an error too
        meta["failed"] = failed
    if len(groups) == 1 and not several:
        meta.update({k: v for k, v in _meta(first).items() if k in ("repository", "revision")})
    else:
        meta["repositories"] = [{"repository": repo, "revision": _meta(members[0][1]).get("revision", ""),
                                 "files": counts[repo][0], "bytes": counts[repo][1]}
                                for repo, members in groups.items()]  # fmt: skip
        roots = {repo: members[0][1].root for repo, members in groups.items() if str(members[0][1].root) != "."}
        if roots:  # where each one's files are, for the rules that read them back (reuse: a manifest's namespace)
            meta["roots"] = {repo: str(root) for repo, root in roots.items()}
    roots = {result.root for _, result in reports}
    return ScanResult(
        findings,
        sorted(problems, key=problem_order),
        sum(files for files, _ in counts.values()),
        sum(size for _, size in counts.values()),
        max((r.seconds for _, r in reports), default=0.0) + time.monotonic() - started,
        first.root if len(roots) == 1 else Path("."),
        any(r.show_secrets for _, r in reports),
        meta,
    )


def _per_repository(name: str, result: ScanResult) -> list[tuple[str, ScanResult]]:
    """A report that is itself a merge of several repositories, as one report per repository (so
    that merging it again keeps every finding with its own repository); any other report as it is."""
    repositories = [r for r in _meta(result).get("repositories") or () if isinstance(r, dict) and r.get("repository")]
    if not repositories:
        return [(name, result)]
    out = []
    findings = by_repository(result.findings)
    problems = problems_by_repository(result.problems, [str(entry["repository"]) for entry in repositories])
    for i, entry in enumerate(repositories):
        repo = str(entry["repository"])
        prefix = f"{repo}: "
        meta = {**_meta(result), "repository": repo, "revision": entry.get("revision", "")}
        meta.pop("repositories")
        out.append((f"{name} ({repo})", result._replace(
            findings=findings.get(repo, []),
            problems=[p._replace(message=p.message.removeprefix(prefix)) for p in problems.get(repo, [])],
            # each one's own counts (a report merged by an older scanner: all on the first)
            files=_count(entry, "files", result.files if i == 0 else 0), bytes=_count(entry, "bytes", result.bytes if i == 0 else 0),
            meta=meta,
        )))  # fmt: skip
    return out


def _count(entry: dict[str, Any], key: str, default: int) -> int:
    value = entry.get(key)
    return value if isinstance(value, int) and value >= 0 else default


def _meta(result: ScanResult) -> dict[str, Any]:
    return result.meta or {}


def _by_index(members: list[tuple[str, ScanResult]]) -> dict[int, tuple[str, ScanResult]]:
    """One repository's shard reports by shard index, each index once: the first given (a shard's
    report given twice, a retried job, is one shard)."""
    out: dict[int, tuple[str, ScanResult]] = {}
    for name, result in members:
        shard = _meta(result).get("shard")
        if shard:
            out.setdefault(shard["index"], (name, result))
    return out


def _counted(members: list[tuple[str, ScanResult]], shards: dict[int, tuple[str, ScanResult]]) -> tuple[int, int]:
    """Files and bytes scanned in one repository's reports: its shards summed (`shards`: each index
    once), or its largest unsharded report when that is more (the same report given twice, under two
    names or not, or the whole scan beside its shards)."""
    whole = max(((r.files, r.bytes) for _, r in members if not _meta(r).get("shard")), default=(0, 0))
    parts = (sum(r.files for _, r in shards.values()), sum(r.bytes for _, r in shards.values()))
    return max(parts, whole)


def _group_findings(
    repository: str, members: list[tuple[str, ScanResult]], unique: dict[int, tuple[str, ScanResult]]
) -> list[Finding]:
    """The findings of one repository's reports: shards put back together (`unique`: each index
    once, after every report given was checked), other reports as they are."""
    shards = [(name, r) for name, r in members if _meta(r).get("shard")]
    found = [f for name, r in members if not _meta(r).get("shard") for f in r.findings]
    if not shards:
        return found
    kinds = {(_meta(r)["shard"]["kind"], _meta(r)["shard"]["count"]) for _, r in shards}
    if len(kinds) > 1:
        described = ", ".join(sorted(f"{k} scans in {plural.count(n, 'shard')}" for k, n in kinds))
        raise MergeError(f"{repository}: the shard reports are of different scans ({described}): merge one sharded scan at a time")
    (kind, count), = kinds
    revisions = {_meta(r).get("revision", "") for _, r in shards}
    if len(revisions) > 1:
        raise MergeError(f"{repository}: the shards scanned different commits ({', '.join(sorted(r or '(none)' for r in revisions))}): "
                         "run every shard on the same checkout")
    listed = {(_meta(r).get("history_record") or {}).get("tips", "") for _, r in shards}
    if kind == "history" and "" in listed:  # no such record before 2026-12: not this build's shard report
        lacking = next(name for name, r in shards if not (_meta(r).get("history_record") or {}).get("tips"))
        raise MergeError(f"{lacking}: the shard report does not say which history it listed (an earlier build of "
                         f"scanner {__version__} made it): re-run every shard with the same build")
    if len(listed) > 1:  # the same HEAD, not the same commits: one's findings of the others would be lost
        raise MergeError(f"{repository}: the shards listed different sets of commits (a branch pushed between their fetches, "
                         "or a shallow clone): run every shard on the same fetch of the repository, all of it")
    prefixes = {_meta(r).get("path_prefix", ".") for _, r in shards}
    if len(prefixes) > 1:  # their findings' paths would be relative to different folders
        raise MergeError(f"{repository}: the shards were run from different folders (paths relative to "
                         f"{', '.join(sorted(prefixes))}): run every shard with the same command from the same folder")
    excludes = {tuple(_meta(r).get("excludes", ())) for _, r in shards}
    if len(excludes) > 1:
        raise MergeError(f"{repository}: the shards were run with different --exclude or configuration excludes: "
                         "run every shard with the same options")
    sizes = {_meta(r)["shard"].get("max_file_size") for _, r in shards}
    if len(sizes) > 1:  # each skipped other files
        raise MergeError(f"{repository}: the shards were run with different --max-file-size "
                         f"({', '.join(sorted(str(n) for n in sizes if n is not None))}): run every shard with the same options")
    shards = list(unique.values())
    lacking = [str(k) for k in range(1, count + 1) if k not in unique]
    if lacking:
        raise MergeError(f"{repository}: {plural.noun(len(lacking), 'shard')} {', '.join(lacking)} of {count} missing: the merged report would "
                         "be incomplete (give every shard's report)")
    if kind != "history":
        return found + [f for _, r in shards for f in r.findings]
    metas = [_meta(r) for _, r in shards]
    folded = fold_records(m["history_record"] for m in metas)
    worktree = [m.get("worktree_findings") for m in metas]
    current = None if any(w is None for w in worktree) else [f for w in worktree for f in w or ()]
    return found + history_findings(folded, metas[0].get("path_prefix", "."), metas[0].get("excludes", ()), current)


def _closing_notes(shards: dict[int, tuple[str, ScanResult]]) -> tuple[set[Problem], list[Problem]]:
    """Of one repository's history shards (each index once), the notes each wrote of its part (blobs
    over the size limit, a partial clone's blobs not here) and the whole history's in their place."""
    return closing_notes(_meta(r)["history_record"] for _, r in shards.values() if _meta(r).get("history_record"))


def _history(finding: Finding) -> bool:
    return finding.provenance is not None and finding.provenance.source in ("history", "range") and bool(finding.provenance.commit)


def dedupe(findings: list[Finding]) -> list[Finding]:
    """One finding per identity: (rule, location, fingerprint) for the work tree; (rule, fingerprint)
    for history (the fingerprint is of the secret and its lineage's path: the same in a shard's
    report, which also keeps the secret's hash, and in a whole scan's, which does not), where the
    oldest introduction wins and the commit lists are united."""
    out: dict[tuple, Finding] = {}
    for finding in findings:
        if _history(finding):
            key: tuple = ("history", finding.rule_id, finding.fingerprint)
        else:
            loc = finding.location
            key = ("tree", finding.rule_id, loc.path, loc.line, loc.column, finding.fingerprint)
        seen = out.get(key)
        out[key] = finding if seen is None else (_older(seen, finding) if key[0] == "history" else seen)
    return list(out.values())


def _older(a: Finding, b: Finding) -> Finding:
    """The finding whose introduction is older, with both commit lists (each entry once, oldest first)."""
    pa, pb = a.provenance, b.provenance
    assert pa is not None and pb is not None
    keep, other = (b, a) if (pb.date, pb.commit) < (pa.date, pa.commit) else (a, b)
    kp, op = keep.provenance, other.provenance
    assert kp is not None and op is not None
    entries: dict[tuple, dict] = {}
    for entry in (*kp.commits, *op.commits):
        entries.setdefault((entry.get("commit"), entry.get("path"), entry.get("change")), entry)
    order = {"introduced": 0, "removed": 1}
    commits = sorted(entries.values(), key=lambda e: (order.get(str(e.get("change")), 2), str(e.get("date", ""))))
    present = bool(kp.present_at_head) or bool(op.present_at_head)
    return keep._replace(provenance=kp._replace(commits=tuple(commits), present_at_head=present))
