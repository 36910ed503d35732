"""GitLab security reports (schema 15.x), one per kind of finding, as GitLab's own analyzers split them:

- `--format gitlab`: secret detection (`secret_detection-report-format`), for `artifacts: reports:
  secret_detection`. Secrets findings only.
- `--format gitlab-sast`: SAST (`sast-report-format`), for `artifacts: reports: sast`: the policy
  findings (Kubernetes, Dockerfile, Compose, Terraform), like GitLab's own IaC scanning (KICS).

Each report leaves out the other kind (run the scanner once per report, see the README), and
suppressed findings (GitLab has no place for them); secrets stay redacted (no
`raw_source_code_extract`). The secret-detection schema requires a commit for every location: the
finding's own commit for history scans, else `$CI_COMMIT_SHA` (set by GitLab CI), else zeros.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from scanner import __version__
from scanner.model import Finding

if TYPE_CHECKING:  # for the annotations only: a report needs neither module at run time
    from scanner.rules.loader import Rule
    from scanner.scan import ScanResult

SCHEMA_VERSION = "15.2.1"
SEVERITY = {"critical": "Critical", "high": "High", "medium": "Medium", "low": "Low", "info": "Info"}
VENDOR = {"name": "scanner"}
TOOL = {"id": "scanner", "name": "scanner", "version": __version__, "vendor": VENDOR}
_NAMESPACE = uuid.UUID("6f1d3c7e-2b0a-4f7e-9a51-3c2d8e4b9f10")
SECRET_DETECTION, SAST = "secret_detection", "sast"


def _time(moment: _dt.datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S")  # the schema's pattern: no fraction, no zone


def is_secret(finding: Finding, rule: Rule | None) -> bool:
    """A secrets-engine finding (secret detection); everything else is a policy finding (SAST/IaC)."""
    if rule is not None:
        return rule.engine == "secrets"
    return any(k == "secret_sha256" for k, _ in finding.properties)


def _identifier(rule_id: str, rule: Rule | None) -> dict[str, Any]:
    identifier = {"type": "scanner_rule_id", "name": f"scanner rule {rule_id}", "value": rule_id}
    if rule and rule.references and rule.references[0].startswith(("http://", "https://")):
        identifier["url"] = rule.references[0]
    return identifier


def vulnerability(finding: Finding, rule: Rule | None, kind: str = SECRET_DETECTION) -> dict[str, Any]:
    prov = finding.provenance
    location: dict[str, Any] = {"file": finding.path}
    commit_sha = ""
    if kind == SECRET_DETECTION:
        commit_sha = (prov.commit if prov and prov.commit else "") or os.environ.get("CI_COMMIT_SHA") or "0" * 40
        commit: dict[str, Any] = {"sha": commit_sha}
        if prov and prov.commit:
            commit.update({k: v for k, v in (("author", prov.author), ("date", prov.date)) if v})
        location["commit"] = commit
    if finding.line:
        location["start_line"] = finding.line
        location["end_line"] = max(finding.location.end_line, finding.line)
    title = rule.title if rule else finding.message
    description = rule.description if rule else finding.message
    if kind == SECRET_DETECTION and rule and rule.remediation:
        description += f"\n\nRemediation: {rule.remediation}"
    seed = f"{finding.fingerprint}:{commit_sha}" if commit_sha else finding.fingerprint
    # of several repositories (scan --history REPO..., a merge): a fork's finding is its own
    repository = finding.repository
    out: dict[str, Any] = {
        "id": str(uuid.uuid5(_NAMESPACE, f"{repository}\0{seed}" if repository else seed)),
        "category": kind,
        "name": title[:255],
        "message": f"{finding.message} ({finding.shown_path}:{finding.line})" if finding.line else finding.message,
        "description": description[:1_000_000],
        "severity": SEVERITY[finding.severity],
        "identifiers": [_identifier(finding.rule_id, rule)],
        "location": location,
    }
    if kind == SAST and rule:
        if rule.remediation:
            out["solution"] = rule.remediation[:7000]
        links = [{"url": ref} for ref in rule.references if ref.startswith(("http://", "https://"))]
        if links:
            out["links"] = links
    if finding.evidence:
        out["details"] = {"evidence": {"type": "text", "name": "Evidence (redacted)", "value": finding.evidence}}
    return out


def build(
    result: ScanResult, rules: Sequence[Rule], now: _dt.datetime | None = None, kind: str = SECRET_DETECTION
) -> dict[str, Any]:
    by_id = {r.id: r for r in rules}
    end = now or _dt.datetime.now(_dt.timezone.utc)
    start = end - _dt.timedelta(seconds=result.seconds)
    wanted = kind == SECRET_DETECTION
    failed = list((result.meta or {}).get("failed") or ())  # repositories that could not be scanned
    scan: dict[str, Any] = {
        "analyzer": TOOL,
        "scanner": TOOL,
        "type": kind,
        "status": "failure" if failed else "success",
        "start_time": _time(start),
        "end_time": _time(end),
    }
    if failed:
        reasons = {p.path: p.message for p in result.problems if p.path in failed}
        scan["messages"] = [{"level": "fatal", "value": f"{name}: {reasons.get(name, 'repository not scanned')}"}
                            for name in failed]  # fmt: skip
    if kind == SAST:  # what this scan could have found: GitLab resolves what it no longer reports
        scan["primary_identifiers"] = [_identifier(r.id, r) for r in sorted(rules, key=lambda r: r.id) if r.engine != "secrets"]
    return {
        "version": SCHEMA_VERSION,
        "vulnerabilities": [
            vulnerability(f, by_id.get(f.rule_id), kind)
            for f in result.findings
            if f.suppression is None and is_secret(f, by_id.get(f.rule_id)) == wanted
        ],
        "scan": scan,
    }


def render(result: ScanResult, rules: Sequence[Rule], color: bool = False) -> str:
    return json.dumps(build(result, rules), indent=2, ensure_ascii=False) + "\n"
