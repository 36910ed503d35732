"""SARIF 2.1.0 as GitHub code scanning accepts it: unique rule ids, descriptions and help,
`security-severity` and tags, %SRCROOT%-relative URIs, our own partialFingerprints key."""

from __future__ import annotations

import gzip
import json
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from scanner import __version__
from scanner.model import SEVERITY_RANK, Finding, Problem

if TYPE_CHECKING:  # for the annotations only: a report needs neither module at run time
    from scanner.rules.loader import Rule
    from scanner.scan import ScanResult

SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
INFO_URI = "https://github.com/scanner-project/scanner"
FINGERPRINT_KEY = "scanner/v1"
SECURITY_SEVERITY = {"critical": "9.5", "high": "8.0", "medium": "5.5", "low": "3.0", "info": "0.0"}
LEVEL = {"critical": "error", "high": "error", "medium": "warning", "low": "note", "info": "note"}
# GitHub code scanning rejects runs over 25,000 results and uploads over 10 MB gzipped, and reads at
# most 20 tags per rule: https://docs.github.com/en/code-security/code-scanning/integrating-with-code-scanning/sarif-support-for-code-scanning
MAX_RESULTS = 25_000
MAX_GZIP_BYTES = 10 * 1024 * 1024
MAX_TAGS = 20
MAX_RUNS = 20  # per file: a report of more repositories has more runs, and GitHub rejects it


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
            "tags": list(dict.fromkeys(["security", rule.pack, *rule.tags]))[:MAX_TAGS],
            "security-severity": SECURITY_SEVERITY[rule.severity],
            "precision": "high",
            "problem.severity": "error" if rule.severity in ("high", "critical") else "recommendation" if rule.severity == "info" else "warning",
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
                "commitCount": len(prov.commits),  # commits that introduced it, plus the one that removed it
            }
        )
    result["properties"] = props
    if finding.suppression is not None:
        result["suppressions"] = [
            {"kind": finding.suppression.kind, "justification": finding.suppression.reason or finding.suppression.how}
        ]
    return result


def _notification(problem: Problem) -> dict[str, Any]:
    """A file the scan could not fully read or understand, or a warning about one: its kind
    (`oversized`, `timeout`, `unreadable`...; none for a parse error) and whether it is a gap in
    what was scanned, in the properties."""
    physical: dict[str, Any] = {"artifactLocation": {"uri": uri(problem.path), "uriBaseId": "%SRCROOT%"}}
    if problem.line >= 1:
        physical["region"] = {"startLine": problem.line}
    properties: dict[str, Any] = {"notFullyScanned": problem.incomplete}
    if problem.kind:
        properties["kind"] = problem.kind
    return {
        "level": "error" if problem.level == "error" else "warning",
        "message": {"text": problem.message},
        "locations": [{"physicalLocation": physical}],
        "properties": properties,
    }


def _keep(findings: Sequence[Finding], limit: int) -> list[Finding]:
    """At most `limit` findings: unsuppressed before suppressed, highest severity first; file order kept."""
    if len(findings) <= limit:
        return list(findings)
    order = sorted(
        range(len(findings)), key=lambda i: (findings[i].suppression is not None, -SEVERITY_RANK[findings[i].severity], i)
    )
    return [findings[i] for i in sorted(order[: max(0, limit)])]


def build(result: ScanResult, rules: Sequence[Rule], limit: int = MAX_RESULTS) -> dict[str, Any]:
    """One run; or, for a scan or merge of several repositories (findings labelled with their
    `repository`), one run per repository, each naming it in versionControlProvenance."""
    meta = result.meta or {}
    repositories = [r for r in meta.get("repositories") or () if isinstance(r, dict) and r.get("repository")]
    if not repositories:
        described = {"repository": meta.get("repository", ""), "revision": meta.get("revision", "")}
        return _document([_run(result, rules, limit, described if meta.get("revision") else None)])
    from scanner.model import by_repository, problems_by_repository

    failed = set(meta.get("failed") or ())  # repositories that could not be scanned: their runs say so
    names = [str(repo["repository"]) for repo in repositories]
    # one pass each, not one per repository's run
    findings, problems = by_repository(result.findings), problems_by_repository(result.problems, names)
    runs = []
    for name, repo in zip(names, repositories, strict=True):
        part = result._replace(findings=findings.get(name, []), problems=problems.get(name, []))
        runs.append(_run(part, rules, limit, repo, category=f"scanner/{name}/", successful=name not in failed))
    return _document(runs)


def _document(runs: list[dict[str, Any]]) -> dict[str, Any]:
    return {"$schema": SCHEMA, "version": "2.1.0", "runs": runs}


def repository_uri(label: str) -> str:
    """A report's repository name as an absolute URI (SARIF versionControlDetails.repositoryUri)."""
    from pathlib import PurePosixPath

    if "://" in label:
        return label
    if label.startswith("/"):
        return PurePosixPath(label).as_uri()
    host, sep, path = label.partition(":")  # what is left of git@host:owner/repo once redacted
    return f"ssh://{host}/{path.lstrip('/')}" if sep else f"urn:scanner:repository:{quote(label)}"


def _run(
    result: ScanResult, rules: Sequence[Rule], limit: int, repository: dict[str, Any] | None,
    category: str = "scanner/", successful: bool = True,
) -> dict[str, Any]:  # fmt: skip
    by_id = {r.id: r for r in rules}
    used = sorted({f.rule_id for f in result.findings})
    descriptors = [rule_descriptor(by_id[rid]) for rid in used if rid in by_id]
    index = {d["id"]: i for i, d in enumerate(descriptors)}
    notifications = [_notification(p) for p in result.problems if p.level != "info" and p.path]
    kept = _keep(result.findings, limit)
    cut = len(result.findings) - len(kept)
    run_properties: dict[str, Any] = {}
    if cut:
        run_properties = {"scanner/resultsTotal": len(result.findings), "scanner/resultsCut": cut}
        notifications.append(
            {
                "level": "warning",
                "message": {
                    "text": f"{cut} of {len(result.findings)} results left out to stay within GitHub's limits "
                    f"(25,000 results per run, 10 MB gzipped); the highest severities were kept. "
                    "Use --format json for every finding."
                },
            }
        )
    root_uri = result.root.resolve().as_uri().rstrip("/") + "/"
    driver = {"name": "scanner", "version": __version__, "semanticVersion": __version__, "informationUri": INFO_URI,
              "rules": descriptors}  # fmt: skip
    run: dict[str, Any] = {
        "tool": {"driver": driver},
        "automationDetails": {"id": category},
        "originalUriBaseIds": {"%SRCROOT%": {"uri": root_uri}},
        "invocations": [{"executionSuccessful": successful, "toolExecutionNotifications": notifications}],
        "results": [_result(f, index[f.rule_id]) for f in kept if f.rule_id in index],
    }
    if repository is not None:  # the repository (and commit) the run's %SRCROOT% paths are in
        repo_uri = repository_uri(str(repository["repository"]))
        details: dict[str, Any] = {"repositoryUri": repo_uri, "mappedTo": {"uriBaseId": "%SRCROOT%"}}
        if repository.get("revision"):
            details["revisionId"] = str(repository["revision"])
        run["versionControlProvenance"] = [details]
        if category != "scanner/":  # one run of several: %SRCROOT% is this repository's top folder
            base = {"uri": repo_uri.rstrip("/") + "/"} if repo_uri.startswith("file:") else {
                "description": {"text": f"the top folder of {repository['repository']}"}}
            run["originalUriBaseIds"] = {"%SRCROOT%": base}
    if run_properties:
        run["properties"] = run_properties
    return run


def render(
    result: ScanResult, rules: Sequence[Rule], color: bool = False, max_results: int = MAX_RESULTS,
    max_gzip_bytes: int = MAX_GZIP_BYTES,
) -> str:  # fmt: skip
    """The SARIF text; results are cut (highest severities kept, a warning on stderr) to fit GitHub's limits."""
    limit = min(max_results, len(result.findings))
    while True:
        doc = build(result, rules, limit)
        text = json.dumps(doc, indent=2, ensure_ascii=False) + "\n"
        size = len(gzip.compress(text.encode("utf-8", "backslashreplace"), compresslevel=6))
        if size <= max_gzip_bytes or limit == 0:
            break
        limit = min(limit - 1, int(limit * max_gzip_bytes / size * 0.95))
    if len(doc["runs"]) > MAX_RUNS:
        print(
            f"scanner: warning: SARIF: {len(doc['runs'])} runs, one per repository: GitHub code scanning rejects "
            f"a file of more than {MAX_RUNS} runs (merge at most {MAX_RUNS} repositories per SARIF file, or upload "
            "each repository's own)",
            file=sys.stderr,
        )
    cut = sum(run.get("properties", {}).get("scanner/resultsCut", 0) for run in doc["runs"])
    if cut:
        print(
            f"scanner: warning: SARIF: {cut} of {len(result.findings)} results left out to stay within GitHub's "
            "limits (25,000 results per run, 10 MB gzipped); the highest severities were kept",
            file=sys.stderr,
        )
    return text
