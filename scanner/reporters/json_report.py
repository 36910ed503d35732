"""JSON: every finding with its full provenance (history: the commits that introduced the secret
into a path of the file's lineage, then the one(s) that removed it; see README).

`load` reads such a report back into a ScanResult, so `scanner report` can render a saved scan in
any other format (a CI job keeps one JSON artifact and publishes the page from it)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from scanner import __version__
from scanner.model import SEVERITIES, Finding, Location, Problem, Provenance, Suppression
from scanner.reporters import grouping
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
    out.update({k: v for k, v in finding.properties if not k.startswith("secret_sha")})
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
    grouped = {id(f): key for key, members in grouping.groups(result.findings).items() for f in members}
    doc = {
        "tool": "scanner",
        "version": __version__,
        "root": str(result.root.resolve()),
        "show_secrets": result.show_secrets,
        "summary": summary(result),
        "findings": [finding_dict(f, grouped.get(id(f), "")) for f in result.findings],
        "problems": [p._asdict() for p in result.problems],
    }
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"


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
                          bool(doc.get("show_secrets", False)))
    except (KeyError, TypeError, ValueError) as exc:
        raise ReportError(f"{path}: a finding or problem has the wrong shape ({type(exc).__name__}: {exc})") from None
