"""JSON: every finding with its full provenance (history: every commit and path that carries it)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from scanner import __version__
from scanner.model import SEVERITIES, Finding
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
    }


def render(result: ScanResult, rules: Sequence[Rule], color: bool = False) -> str:
    grouped = {id(f): key for key, members in grouping.groups(result.findings).items() for f in members}
    doc = {
        "tool": "scanner",
        "version": __version__,
        "summary": summary(result),
        "findings": [finding_dict(f, grouped.get(id(f), "")) for f in result.findings],
        "problems": [p._asdict() for p in result.problems],
    }
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"
