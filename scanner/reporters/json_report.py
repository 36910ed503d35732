"""JSON: every finding with its full provenance (history: the commits that introduced the secret
into a path of the file's lineage, then the one(s) that removed it; see README).

`load` reads such a report back into a ScanResult, so `scanner report` can render a saved scan in
any other format (a CI job keeps one JSON artifact and publishes the page from it)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scanner import __version__
from scanner.model import SEVERITIES, Finding, Location, Problem, Provenance, Suppression
from scanner.reporters import grouping

if TYPE_CHECKING:  # for the annotations only: a report needs neither module at run time
    from scanner.rules.loader import Rule
    from scanner.scan import ScanResult


def finding_dict(finding: Finding, group: str = "") -> dict[str, Any]:
    loc = finding.location
    out: dict[str, Any] = {
        "rule": finding.rule_id,
        "pack": finding.pack,
        "severity": finding.severity,
        "path": loc.path,
        "line": loc.line,
        "column": loc.column,
        "end_line": loc.end_line,
        "end_column": loc.end_column,
        "message": finding.message,
        "evidence": finding.evidence,
        "fingerprint": finding.fingerprint,
        "suppressed": None,
    }
    if finding.suppression is not None:
        out["suppressed"] = finding.suppression._asdict()
    if finding.provenance is not None:
        out["provenance"] = {k: (list(v) if isinstance(v, tuple) else v) for k, v in finding.provenance._asdict().items()}
    out.update({k: v for k, v in finding.properties if not k.startswith("secret_sha") and k != "group"})
    if group:
        out["group"] = group  # the same secret value, found elsewhere too: the findings sharing this id
    return out


def summary(result: ScanResult) -> dict[str, Any]:
    active = [f for f in result.findings if f.suppression is None]
    return {
        "findings": len(active),
        "suppressed": len(result.findings) - len(active),
        "by_severity": {s: sum(1 for f in active if f.severity == s) for s in reversed(SEVERITIES)},
        "files_scanned": result.files,
        "bytes_scanned": result.bytes,
        "seconds": round(result.seconds, 3),
        "problems": sum(1 for p in result.problems if p.level != "info"),
        "not_fully_scanned": len({p.path for p in result.problems if p.incomplete}),
    }


def render(result: ScanResult, rules: Sequence[Rule], color: bool = False) -> str:
    grouped = {id(f): grouping.shown_id(key) for key, members in grouping.groups(result.findings).items() for f in members}
    meta = result.meta or {}
    used = {f.rule_id for f in result.findings}
    doc = {
        "tool": "scanner",
        "version": meta.get("version") or __version__,
        "rules_digest": meta.get("rules_digest") or rules_digest(rules),
        "root": str(result.root.resolve()),
        "show_secrets": result.show_secrets,
    }
    doc.update({key: meta[key] for key in ("repository", "revision", "repositories", "failed") if meta.get(key)})
    doc.update({
        "summary": summary(result),
        # a shard's report keeps the secrets' hashes: the merge groups one value found in several shards
        "findings": [(_full_dict if meta.get("shard") else finding_dict)(f, grouped.get(id(f), "")) for f in result.findings],
        "problems": [p._asdict() for p in result.problems],
        # what a later `scanner report` or `scanner merge` shows for each rule without its pack at hand
        "rules": {r.id: rule_dict(r) for r in rules if r.id in used},
        # which rules ran (JUnit lists each as a test, GitLab SAST resolves what they no longer find)
        "rules_run": sorted({r.id for r in rules}),
    })  # fmt: skip
    if meta.get("shard"):  # what `scanner merge` needs besides the findings (scanner.shard)
        doc["shard"] = meta["shard"]
        if meta.get("history_record") is not None:
            rec = dict(meta["history_record"])
            rec["blobs"] = {sha: [_full_dict(f) for f in found] for sha, found in rec["blobs"].items()}
            doc["history"] = {"record": rec, "path_prefix": meta.get("path_prefix", "."),
                              "excludes": list(meta.get("excludes") or ())}  # fmt: skip
            worktree = meta.get("worktree_findings")
            doc["history"]["worktree_findings"] = None if worktree is None else [_full_dict(f) for f in worktree]
            # the record is for `scanner merge`, and most of the report: one line, by json's C encoder
            # (with indent, json encodes in Python: ~0.2 s for a 50,000-commit history's shard)
            history, doc["history"] = doc["history"], _PLACEHOLDER
            text = json.dumps(doc, indent=2, ensure_ascii=False)
            before, placeholder, after = text.rpartition(json.dumps(_PLACEHOLDER))
            return before + json.dumps(history, ensure_ascii=False, separators=(",", ":")) + after + "\n"
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"


_PLACEHOLDER = "\0history record\0"


def _full_dict(finding: Finding, group: str = "") -> dict[str, Any]:
    """finding_dict plus the secret's hash (a shard's record: the merge matches secrets by it)."""
    out = finding_dict(finding, group)
    out.update({k: v for k, v in finding.properties if k.startswith("secret_sha")})
    return out


def rule_dict(rule: Rule) -> dict[str, Any]:
    """The words about a rule a report needs (its title, severity, why and how to fix), not its logic."""
    return {"title": rule.title, "severity": rule.severity, "engine": rule.engine, "pack": rule.pack,
            "description": rule.description, "remediation": rule.remediation,
            "references": list(rule.references), "tags": list(rule.tags)}  # fmt: skip


def described_rules(result: ScanResult) -> list[Rule]:
    """The rules a loaded report describes (`rules` in the report), as Rule values for the reporters."""
    described = (result.meta or {}).get("rules") or {}
    return [described_rule(str(rule_id), d) for rule_id, d in described.items()
            if isinstance(d, dict) and d.get("severity") in SEVERITIES]  # fmt: skip


def described_rule(rule_id: str, d: dict[str, Any]) -> Rule:
    """A Rule for the reporters from what is said about it (`rule_dict`'s keys; the id stands for a
    missing title), without its logic."""
    from scanner.rules.loader import Rule

    return Rule(id=rule_id, title=str(d.get("title") or rule_id), severity=str(d.get("severity") or "medium"),
                description=str(d.get("description") or ""), remediation=str(d.get("remediation") or ""),
                engine=str(d.get("engine") or ""), pack=str(d.get("pack") or ""), source="", source_line=0,
                references=tuple(str(r) for r in d.get("references") or ()),
                tags=tuple(str(t) for t in d.get("tags") or ()))  # fmt: skip


def rules_digest(rules: Sequence[Rule]) -> str:
    """A digest of what decides findings in a rule set (ids, patterns, conditions, severities...;
    not titles, descriptions or examples): reports made with different rule sets are not merged."""
    from scanner.rules.digest import digest

    return digest(rules)


class ReportError(Exception):
    """A saved report that cannot be read: one line naming the file."""


_FINDING_KEYS = {"rule", "pack", "severity", "path", "line", "column", "end_line", "end_column", "message", "evidence",
                 "fingerprint", "suppressed", "provenance"}


def _finding(raw: dict[str, Any]) -> Finding:
    prov = raw.get("provenance")
    sup = raw.get("suppressed")
    return Finding(
        rule_id=str(raw["rule"]),
        severity=str(raw["severity"]),
        location=Location(str(raw["path"]), int(raw.get("line") or 0), int(raw.get("column") or 1),
                          int(raw.get("end_line") or 0), int(raw.get("end_column") or 0)),
        message=str(raw.get("message", "")),
        evidence=str(raw.get("evidence", "")),
        fingerprint=str(raw.get("fingerprint", "")),
        pack=str(raw.get("pack", "")),
        provenance=None if not isinstance(prov, dict) else Provenance(**{
            **prov, "commits": tuple(prov.get("commits") or ())}),
        suppression=None if not isinstance(sup, dict) else Suppression(**sup),
        properties=tuple(sorted((k, v) for k, v in raw.items() if k not in _FINDING_KEYS)),
    )


def load(path: str) -> ScanResult:
    """A report written by `render` (this format) back as a ScanResult."""
    from scanner.scan import ScanResult

    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise ReportError(f"{path}: cannot read: {exc.strerror}") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ReportError(f"{path}: not a JSON report ({exc})") from None
    if not isinstance(doc, dict) or doc.get("tool") != "scanner" or not isinstance(doc.get("findings"), list):
        raise ReportError(f"{path}: not a report written by 'scanner scan --format json'")
    try:
        findings = [_finding(f) for f in doc["findings"]]
        problems = [Problem(**p) for p in doc.get("problems", ())]
        summary = doc.get("summary") or {}
        return ScanResult(findings, problems, int(summary.get("files_scanned", 0)), int(summary.get("bytes_scanned", 0)),
                          float(summary.get("seconds", 0.0)), Path(str(doc.get("root", "."))),
                          bool(doc.get("show_secrets", False)), _meta(doc))
    except (KeyError, TypeError, ValueError, AttributeError, OverflowError) as exc:  # OverflowError: int(1e999)
        raise ReportError(f"{path}: damaged report: a finding, a problem or the shard's record has the wrong shape "
                          f"({type(exc).__name__}: {exc})") from None


def _meta(doc: dict[str, Any]) -> dict[str, Any]:
    """What the report says besides findings and problems (scanner version, rule-set digest,
    repository, a shard's record), as ScanResult.meta."""
    meta: dict[str, Any] = {key: doc[key] for key in ("version", "rules_digest", "repository", "revision", "repositories")
                            if doc.get(key)}  # fmt: skip
    ran = doc.get("rules_run")
    if isinstance(ran, list) and all(isinstance(rule_id, str) for rule_id in ran):
        meta["rules_run"] = ran
    failed = doc.get("failed")  # scan --history REPO...: the repositories that could not be scanned
    if isinstance(failed, list) and all(isinstance(name, str) for name in failed) and failed:
        meta["failed"] = failed
    if isinstance(doc.get("rules"), dict):
        meta["rules"] = doc["rules"]
    shard = doc.get("shard")
    if isinstance(shard, dict):
        meta["shard"] = {"index": int(shard["index"]), "count": int(shard["count"]), "kind": str(shard["kind"])}
        if shard.get("max_file_size") is not None:
            meta["shard"]["max_file_size"] = int(shard["max_file_size"])
        for setting in ("configuration", "baseline", "baseline_given"):  # what decides the verdict (scanner merge)
            if isinstance(shard.get(setting), str):
                meta["shard"][setting] = shard[setting]
        if shard.get("fail_on") is not None:
            if shard["fail_on"] not in SEVERITIES:
                raise ValueError(f"shard.fail_on: {str(shard['fail_on'])[:20]!r} is not a severity")
            meta["shard"]["fail_on"] = shard["fail_on"]
        if meta["shard"]["kind"] == "worktree" and "prefix" in shard:  # what merge checks the shards agree on
            meta["path_prefix"] = str(shard["prefix"])
            meta["excludes"] = [str(e) for e in shard["excludes"]]
            meta["shard"].update(prefix=meta["path_prefix"], excludes=meta["excludes"])
        history = doc.get("history")
        if meta["shard"]["kind"] == "history" and not isinstance(history, dict):
            raise ValueError("a history shard's report without its 'history' record, which merge folds")
        if isinstance(history, dict):
            from scanner.sources.shard_record import checked

            meta["history_record"] = checked(history["record"], _finding)
            meta["path_prefix"] = str(history.get("path_prefix") or ".")
            meta["excludes"] = [str(e) for e in history.get("excludes") or ()]
            worktree = history.get("worktree_findings")
            meta["worktree_findings"] = None if worktree is None else [_finding(f) for f in worktree]
    return meta
