"""GitLab security report (secret detection schema 15.x): `--format gitlab`, uploaded as
`artifacts: reports: secret_detection`. Suppressed findings are left out (GitLab has no place for
them); secrets stay redacted (no `raw_source_code_extract`).

The schema requires a commit for every secret-detection location: the finding's own commit for
history scans, else `$CI_COMMIT_SHA` (set by GitLab CI), else a placeholder of zeros.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import uuid
from collections.abc import Sequence
from typing import Any

from scanner import __version__
from scanner.model import Finding
from scanner.rules.loader import Rule
from scanner.scan import ScanResult

SCHEMA_VERSION = "15.2.1"
SEVERITY = {"critical": "Critical", "high": "High", "medium": "Medium", "low": "Low", "info": "Info"}
VENDOR = {"name": "scanner"}
TOOL = {"id": "scanner", "name": "scanner", "version": __version__, "vendor": VENDOR}
_NAMESPACE = uuid.UUID("6f1d3c7e-2b0a-4f7e-9a51-3c2d8e4b9f10")


def _time(moment: _dt.datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S")  # the schema's pattern: no fraction, no zone


def vulnerability(finding: Finding, rule: Rule | None) -> dict[str, Any]:
    prov = finding.provenance
    commit: dict[str, Any] = {"sha": (prov.commit if prov and prov.commit else "") or os.environ.get("CI_COMMIT_SHA") or "0" * 40}
    if prov and prov.commit:
        commit.update({k: v for k, v in (("author", prov.author), ("date", prov.date)) if v})
    location: dict[str, Any] = {"file": finding.path, "commit": commit}
    if finding.line:
        location["start_line"] = finding.line
        location["end_line"] = max(finding.location.end_line, finding.line)
    secret = any(k == "secret_sha256" for k, _ in finding.properties)
    title = rule.title if rule else finding.message
    description = rule.description if rule else finding.message
    if rule and rule.remediation:
        description += f"\n\nRemediation: {rule.remediation}"
    identifiers = [{"type": "scanner_rule_id", "name": f"scanner rule {finding.rule_id}", "value": finding.rule_id}]
    if rule and rule.references and rule.references[0].startswith("http"):
        identifiers[0]["url"] = rule.references[0]
    out: dict[str, Any] = {
        "id": str(uuid.uuid5(_NAMESPACE, f"{finding.fingerprint}:{commit['sha']}")),
        "category": "secret_detection" if secret else "sast",
        "name": title[:255],
        "message": f"{finding.message} ({finding.path}:{finding.line})" if finding.line else finding.message,
        "description": description[:1_000_000],
        "severity": SEVERITY[finding.severity],
        "identifiers": identifiers,
        "location": location,
    }
    if finding.evidence:
        out["details"] = {"evidence": {"type": "text", "name": "Evidence (redacted)", "value": finding.evidence}}
    return out


def build(result: ScanResult, rules: Sequence[Rule], now: _dt.datetime | None = None) -> dict[str, Any]:
    by_id = {r.id: r for r in rules}
    end = now or _dt.datetime.now(_dt.timezone.utc)
    start = end - _dt.timedelta(seconds=result.seconds)
    return {
        "version": SCHEMA_VERSION,
        "vulnerabilities": [vulnerability(f, by_id.get(f.rule_id)) for f in result.findings if f.suppression is None],
        "scan": {
            "analyzer": TOOL,
            "scanner": TOOL,
            "type": "secret_detection",
            "status": "success",
            "start_time": _time(start),
            "end_time": _time(end),
        },
    }


def render(result: ScanResult, rules: Sequence[Rule], color: bool = False) -> str:
    return json.dumps(build(result, rules), indent=2, ensure_ascii=False) + "\n"
