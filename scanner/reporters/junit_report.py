"""JUnit XML for Jenkins, Azure Pipelines and GitLab's test reports: one testsuite per pack, one
failing testcase per finding (message `path:line: rule: message`), a skipped testcase per suppressed
finding, and one passing testcase per enabled rule without a finding, so the dashboards list what
was checked, not only what failed."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING
from xml.etree import ElementTree as ET

from scanner.model import Finding
from scanner.reporters.terminal import printable

if TYPE_CHECKING:  # for the annotations only: a report needs neither module at run time
    from scanner.rules.loader import Rule
    from scanner.scan import ScanResult


def _where(finding: Finding) -> str:
    """`path:line`, after `REPOSITORY: ` in a report of several repositories (a fork's findings
    would otherwise be testcases of the same name, which dashboards fold into one)."""
    return f"{finding.shown_path}:{finding.line}" if finding.line else finding.shown_path


def _testcase(suite: ET.Element, pack: str, name: str, finding: Finding | None = None) -> ET.Element:
    case = ET.SubElement(suite, "testcase", classname=f"scanner.{pack}", name=name, time="0")
    if finding is not None:
        case.set("file", finding.path)
        if finding.line:
            case.set("line", str(finding.line))
    return case


def build(result: ScanResult, rules: Sequence[Rule]) -> ET.Element:
    packs: dict[str, dict[str, Rule | None]] = {}
    for rule in rules:
        packs.setdefault(rule.pack, {})[rule.id] = rule
    by_rule: dict[str, list[Finding]] = {}
    for finding in result.findings:
        by_rule.setdefault(finding.rule_id, []).append(finding)
        packs.setdefault(finding.pack or "scanner", {}).setdefault(finding.rule_id, None)
    root = ET.Element("testsuites", name="scanner")
    totals = {"tests": 0, "failures": 0, "skipped": 0}
    for pack in sorted(packs):
        suite = ET.SubElement(root, "testsuite", name=pack)
        counts = {"tests": 0, "failures": 0, "skipped": 0}
        for rule_id in sorted(packs[pack]):
            rule = packs[pack][rule_id]
            findings = by_rule.get(rule_id, [])
            if not findings:
                _testcase(suite, pack, rule_id)
                counts["tests"] += 1
                continue
            for finding in findings:
                case = _testcase(suite, pack, f"{rule_id} {_where(finding)}", finding)
                counts["tests"] += 1
                message = f"{_where(finding)}: {rule_id}: {finding.message}"
                if finding.suppression is not None or finding.severity == "info":
                    if finding.suppression is not None:
                        how = finding.suppression.how + (f": {finding.suppression.reason}" if finding.suppression.reason else "")
                        note = f"suppressed ({how})"
                    else:  # reported for the record, never a failure
                        note = f"info ({dict(finding.properties).get('reason', 'not a failure')})"
                    ET.SubElement(case, "skipped", message=f"{note}: {message}")
                    counts["skipped"] += 1
                    continue
                failure = ET.SubElement(case, "failure", message=message, type=finding.severity)
                details = [message, f"severity: {finding.severity}"]
                if finding.evidence:
                    details.append(f"evidence: {finding.evidence}")
                if rule is not None and rule.remediation:
                    details.append(f"remediation: {rule.remediation}")
                failure.text = "\n".join(details)
                counts["failures"] += 1
        suite.set("tests", str(counts["tests"]))
        suite.set("failures", str(counts["failures"]))
        suite.set("errors", "0")
        suite.set("skipped", str(counts["skipped"]))
        suite.set("time", "0")
        for key in totals:
            totals[key] += counts[key]
    problems = [p for p in result.problems if p.level != "info"]
    if problems:
        err = ET.SubElement(root[0] if len(root) else ET.SubElement(root, "testsuite", name="scanner"), "system-err")
        err.text = "\n".join(f"{p.path}:{p.line}: {p.message}" if p.line else f"{p.path}: {p.message}" for p in problems)
    root.set("tests", str(totals["tests"]))
    root.set("failures", str(totals["failures"]))
    root.set("errors", "0")
    root.set("skipped", str(totals["skipped"]))
    root.set("time", f"{result.seconds:.3f}")
    return root


# characters XML 1.0 cannot hold, even escaped (a file name with an escape sequence, a lone surrogate)
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def render(result: ScanResult, rules: Sequence[Rule], color: bool = False) -> str:
    root = build(result, rules)
    ET.indent(root)
    text = ET.tostring(root, encoding="unicode")
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + _NOT_XML.sub(lambda m: printable(m.group()), text) + "\n"
