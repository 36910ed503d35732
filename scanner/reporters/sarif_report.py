"""SARIF 2.1.0 as GitHub code scanning accepts it: unique rule ids, descriptions and help,
`security-severity` and tags, %SRCROOT%-relative URIs, our own partialFingerprints key."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any
from urllib.parse import quote

from scanner import __version__
from scanner.model import Finding
from scanner.rules.loader import Rule
from scanner.scan import ScanResult

SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
INFO_URI = "https://github.com/scanner-project/scanner"
FINGERPRINT_KEY = "scanner/v1"
SECURITY_SEVERITY = {"critical": "9.5", "high": "8.0", "medium": "5.5", "low": "3.0"}
LEVEL = {"critical": "error", "high": "error", "medium": "warning", "low": "note"}


def uri(path: str) -> str:
    """A relative URI reference: percent-encoded, '/'-separated (paths with spaces, '#', newlines...)."""
    return quote(path.encode("utf-8", "surrogateescape"), safe="/-._~!$&'()*+,;=@")


def rule_descriptor(rule: Rule) -> dict[str, Any]:
    refs = "".join(f"\n- {r}" for r in rule.references)
    markdown = f"**{rule.title}**\n\n{rule.description}\n\n**Remediation:** {rule.remediation}"
    if refs:
        markdown += f"\n\n**References:**{refs}"
    text = f"{rule.description}\n\nRemediation: {rule.remediation}"
    descriptor: dict[str, Any] = {
        "id": rule.id,
        "name": "".join(part.capitalize() for part in rule.id.replace(".", "-").replace("_", "-").split("-")),
        "shortDescription": {"text": rule.title},
        "fullDescription": {"text": rule.description},
        "help": {"text": text, "markdown": markdown},
        "defaultConfiguration": {"level": LEVEL[rule.severity]},
        "properties": {
            "tags": ["security", rule.pack, *rule.tags],
            "security-severity": SECURITY_SEVERITY[rule.severity],
            "precision": "high",
            "problem.severity": "error" if rule.severity in ("high", "critical") else "warning",
        },
    }
    if rule.references and rule.references[0].startswith("http"):
        descriptor["helpUri"] = rule.references[0]
    return descriptor


def _result(finding: Finding, rule_index: int) -> dict[str, Any]:
    loc = finding.location
    physical: dict[str, Any] = {"artifactLocation": {"uri": uri(loc.path), "uriBaseId": "%SRCROOT%"}}
    if loc.line >= 1:
        region: dict[str, Any] = {"startLine": loc.line, "startColumn": max(1, loc.column)}
        if loc.end_line >= loc.line and loc.end_column > 0:
            region["endLine"] = loc.end_line
            region["endColumn"] = max(loc.end_column, region["startColumn"]) if loc.end_line == loc.line else loc.end_column
        if finding.evidence:
            region["snippet"] = {"text": finding.evidence}
        physical["region"] = region
    result: dict[str, Any] = {
        "ruleId": finding.rule_id,
        "ruleIndex": rule_index,
        "level": LEVEL[finding.severity],
        "message": {"text": finding.message},
        "locations": [{"physicalLocation": physical}],
        "partialFingerprints": {FINGERPRINT_KEY: finding.fingerprint},
    }
    props: dict[str, Any] = {"severity": finding.severity}
    props.update({k: v for k, v in finding.properties if not k.startswith("secret_sha")})
    prov = finding.provenance
    if prov is not None and prov.source != "worktree":
        props.update(
            {
                "source": prov.source,
                "commit": prov.commit,
                "author": prov.author,
                "email": prov.email,
                "date": prov.date,
                "presentAtHead": prov.present_at_head,
                "commitCount": len(prov.commits),
            }
        )
    result["properties"] = props
    if finding.suppression is not None:
        result["suppressions"] = [
            {"kind": finding.suppression.kind, "justification": finding.suppression.reason or finding.suppression.how}
        ]
    return result


def build(result: ScanResult, rules: Sequence[Rule]) -> dict[str, Any]:
    by_id = {r.id: r for r in rules}
    used = sorted({f.rule_id for f in result.findings})
    descriptors = [rule_descriptor(by_id[rid]) for rid in used if rid in by_id]
    index = {d["id"]: i for i, d in enumerate(descriptors)}
    notifications = [
        {
            "level": "warning" if p.level != "info" else "note",
            "message": {"text": p.message},
            "locations": [{"physicalLocation": {"artifactLocation": {"uri": uri(p.path), "uriBaseId": "%SRCROOT%"}}}],
        }
        for p in result.problems
        if p.level != "info" and p.path
    ]
    root_uri = result.root.resolve().as_uri().rstrip("/") + "/"
    return {
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "scanner",
                        "version": __version__,
                        "semanticVersion": __version__,
                        "informationUri": INFO_URI,
                        "rules": descriptors,
                    }
                },
                "automationDetails": {"id": "scanner/"},
                "originalUriBaseIds": {"%SRCROOT%": {"uri": root_uri}},
                "invocations": [{"executionSuccessful": True, "toolExecutionNotifications": notifications}],
                "results": [_result(f, index[f.rule_id]) for f in result.findings if f.rule_id in index],
            }
        ],
    }


def render(result: ScanResult, rules: Sequence[Rule], color: bool = False) -> str:
    return json.dumps(build(result, rules), indent=2, ensure_ascii=False) + "\n"
