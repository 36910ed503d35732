"""JUnit and GitLab reports, SARIF at GitHub's scale limits, suppressions visible in every format."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from scanner.model import Finding, Location, Suppression
from scanner.reporters import FORMATS, sarif_report
from scanner.rules.loader import load_pack
from scanner.scan import ScanResult
from tests.conftest import FAKE_GH, MINIMAL_PACK

SCAN = ("--rules", str(MINIMAL_PACK), "--only", "minimal")
SECOND_PACK = """pack: extra
description: a second pack with a rule that finds nothing here
rules:
  - id: extra-slack-token
    title: Slack token
    severity: medium
    description: A Slack token.
    remediation: Revoke it.
    engine: secrets
    keywords: [xoxb-]
    pattern: '(?P<secret>xoxb-[0-9]{10,13}-[A-Za-z0-9]{24})'
    examples:
      bad: ["t = xoxb-1234567890-abcdefghijklmnopqrstuvwx"]
      good: ["t = os.environ['SLACK']"]
"""


def _tree(tmp_path):
    (tmp_path / "app.py").write_text(f'import os\nT = "{FAKE_GH}"\n')
    (tmp_path / "docs.md").write_text("Example: `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`  <!-- scanner:ignore=test-github-token docs -->\n")
    (tmp_path / "extra.yaml").write_text(SECOND_PACK)
    return tmp_path


def test_formats_registered():
    assert {"junit", "gitlab"} <= set(FORMATS)


def test_junit(cli, tmp_path):
    tree = _tree(tmp_path)
    run = cli("scan", *SCAN, "--rules", "extra.yaml", "--only", "extra", "--exclude", "extra.yaml", "-f", "junit", cwd=tree)
    assert run.code == 1
    root = ET.fromstring(run.out)
    suites = {s.get("name"): s for s in root.iter("testsuite")}
    assert set(suites) == {"minimal", "extra"}
    failing = [c for c in suites["minimal"].iter("testcase") if c.find("failure") is not None]
    assert len(failing) == 1
    failure = failing[0].find("failure")
    assert failure.get("message").startswith("app.py:2: test-github-token: ")
    assert failing[0].get("file") == "app.py" and failing[0].get("line") == "2"
    assert FAKE_GH not in run.out
    skipped = [c for c in suites["minimal"].iter("testcase") if c.find("skipped") is not None]
    assert len(skipped) == 1 and "suppressed (inline: docs)" in skipped[0].find("skipped").get("message")
    passing = [c.get("name") for c in suites["extra"].iter("testcase")]
    assert passing == ["extra-slack-token"] and suites["extra"].get("failures") == "0"
    assert (root.get("tests"), root.get("failures"), root.get("skipped")) == ("3", "1", "1")


# Required fields of GitLab's secret-detection report schema (security-report-schemas 15.x,
# dist/secret-detection-report-format.json) for the parts we emit.
SEVERITIES = {"Info", "Unknown", "Low", "Medium", "High", "Critical"}
TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}$")


def check_gitlab_report(doc: dict) -> None:
    assert {"version", "vulnerabilities", "scan"} <= set(doc)
    assert re.fullmatch(r"\d+\.\d+\.\d+", doc["version"])
    scan = doc["scan"]
    assert {"analyzer", "scanner", "type", "start_time", "end_time", "status"} <= set(scan)
    for tool in (scan["analyzer"], scan["scanner"]):
        assert {"id", "name", "version", "vendor"} <= set(tool) and tool["vendor"]["name"]
    assert scan["type"] == "secret_detection" and scan["status"] in ("success", "failure")
    assert TIME.match(scan["start_time"]) and TIME.match(scan["end_time"])
    ids = set()
    for vuln in doc["vulnerabilities"]:
        assert {"id", "identifiers", "location"} <= set(vuln)
        assert vuln["id"] and vuln["id"] not in ids
        ids.add(vuln["id"])
        assert vuln["severity"] in SEVERITIES
        assert len(vuln["name"]) <= 255 and vuln["description"] and vuln["category"]
        assert vuln["identifiers"] and all({"type", "name", "value"} <= set(i) and all(i.values()) for i in vuln["identifiers"])
        loc = vuln["location"]
        assert loc["file"] and loc["commit"]["sha"]  # secret detection requires a commit
        assert isinstance(loc["start_line"], int) and loc["end_line"] >= loc["start_line"]


def test_gitlab(cli, tmp_path, monkeypatch):
    tree = _tree(tmp_path)
    monkeypatch.setenv("CI_COMMIT_SHA", "a" * 40)
    run = cli("scan", *SCAN, "-f", "gitlab", cwd=tree)
    assert run.code == 1
    doc = json.loads(run.out)
    check_gitlab_report(doc)
    (vuln,) = doc["vulnerabilities"]  # the suppressed one is left out
    assert (vuln["location"]["file"], vuln["location"]["start_line"], vuln["severity"]) == ("app.py", 2, "High")
    assert vuln["identifiers"][0]["value"] == "test-github-token" and vuln["category"] == "secret_detection"
    assert vuln["location"]["commit"]["sha"] == "a" * 40
    assert FAKE_GH not in run.out
    again = json.loads(cli("scan", *SCAN, "-f", "gitlab", cwd=tree).out)
    assert again["vulnerabilities"][0]["id"] == vuln["id"]  # stable across runs


def test_suppressions_visible_in_text_json_and_sarif(cli, tmp_path):
    tree = _tree(tmp_path)
    (tree / "old.py").write_text('K = "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"\n')
    cli("baseline", "create", *SCAN, "--exclude", "app.py", cwd=tree)
    base = ("--baseline", ".scanner-baseline.json")
    assert "2 suppressed" in cli("scan", *SCAN, *base, cwd=tree).out
    assert json.loads(cli("scan", *SCAN, *base, "-f", "json", cwd=tree).out)["summary"]["suppressed"] == 2
    results = json.loads(cli("scan", *SCAN, *base, "-f", "sarif", cwd=tree).out)["runs"][0]["results"]
    kinds = {r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]: [s["kind"] for s in r.get("suppressions", [])]
             for r in results}  # fmt: skip
    assert kinds == {"app.py": [], "docs.md": ["inSource"], "old.py": ["external"]}


def _findings(count: int) -> list[Finding]:
    severities = ("low", "medium", "high", "critical")
    return [
        Finding(f"rule-{i % 3}", severities[i % 4], Location(f"f{i:05d}.py", 1), "m", fingerprint=f"{i:032x}", pack="p")
        for i in range(count)
    ]


def _rules(tmp_path):
    pack = tmp_path / "p.yaml"
    text = MINIMAL_PACK.read_text().replace("pack: minimal", "pack: p")
    body = text.split("rules:\n", 1)[1]
    pack.write_text(text.split("rules:\n", 1)[0] + "rules:\n" + "".join(
        body.replace("test-github-token", f"rule-{i}") for i in range(3)))  # fmt: skip
    return load_pack(pack)


def test_sarif_capped_at_25000_results_keeping_highest_severities(tmp_path, capsys):
    findings = _findings(25_010)
    findings[0] = findings[0]._replace(suppression=Suppression("external", "baseline"))  # a low one, suppressed
    result = ScanResult(findings, [], 25_010, 0, 0.0, Path(tmp_path))
    doc = json.loads(sarif_report.render(result, _rules(tmp_path)))
    run = doc["runs"][0]
    assert len(run["results"]) == 25_000
    assert run["properties"] == {"scanner/resultsTotal": 25_010, "scanner/resultsCut": 10}
    kept = {r["partialFingerprints"]["scanner/v1"] for r in run["results"]}
    cut = [f for f in findings if f.fingerprint not in kept]
    assert len(cut) == 10 and all(f.severity == "low" for f in cut) and findings[0] in cut
    ids = [r["id"] for r in run["tool"]["driver"]["rules"]]
    assert len(ids) == len(set(ids)) == 3
    assert "10 of 25010 results left out" in capsys.readouterr().err
    notes = run["invocations"][0]["toolExecutionNotifications"]
    assert any("10 of 25010 results left out" in n["message"]["text"] for n in notes)
    assert run["tool"]["driver"]["name"] == "scanner" and run["automationDetails"]["id"] == "scanner/"


def test_sarif_capped_by_gzipped_size(tmp_path, capsys):
    import gzip

    result = ScanResult(_findings(3000), [], 3000, 0, 0.0, Path(tmp_path))
    text = sarif_report.render(result, _rules(tmp_path), max_gzip_bytes=8_000)
    assert len(gzip.compress(text.encode())) <= 8_000
    run = json.loads(text)["runs"][0]
    assert 0 < len(run["results"]) < 3000
    assert run["properties"]["scanner/resultsCut"] == 3000 - len(run["results"])
    assert "left out" in capsys.readouterr().err
    from tests.test_sarif import official_schema

    pytest.importorskip("jsonschema").Draft4Validator(official_schema()).validate(json.loads(text))


def test_sarif_uncapped_has_no_truncation_marks(cli, tmp_path):
    run = cli("scan", *SCAN, "-f", "sarif", cwd=_tree(tmp_path))
    assert "properties" not in json.loads(run.out)["runs"][0] and "left out" not in run.err


@pytest.mark.parametrize("fmt", ["junit", "gitlab", "sarif", "json", "text"])
def test_every_format_redacts(cli, tmp_path, fmt):
    run = cli("scan", *SCAN, "-f", fmt, cwd=_tree(tmp_path))
    assert run.code == 1 and FAKE_GH not in run.out and FAKE_GH[4:20] not in run.out


def test_saved_report_renders_its_custom_rules_without_the_pack(cli, tmp_path):
    """A JSON report made with a user's pack renders in every format later without that pack: the
    report describes its findings' rules; a report without them still lists every finding."""
    tree = _tree(tmp_path)
    (tree / "docs.md").unlink()
    saved = tree / "scan.json"
    assert cli("scan", *SCAN, "--exclude", "extra.yaml", "-f", "json", "-o", str(saved), cwd=tree).code == 1
    described = json.loads(saved.read_text())["rules"]
    assert set(described) == {"test-github-token"} and described["test-github-token"]["remediation"] == "Revoke it."
    run = cli("report", str(saved), "--format", "sarif", cwd=tree)
    sarif = json.loads(run.out)["runs"][0]
    assert [r["ruleId"] for r in sarif["results"]] == ["test-github-token"]
    assert sarif["tool"]["driver"]["rules"][0]["help"]["text"].endswith("Remediation: Revoke it.")
    assert "warning" not in run.err
    gitlab = json.loads(cli("report", str(saved), "--format", "gitlab", cwd=tree).out)
    assert [v["identifiers"][0]["value"] for v in gitlab["vulnerabilities"]] == ["test-github-token"]
    old = json.loads(saved.read_text())
    del old["rules"]  # a report from before reports described their rules
    saved.write_text(json.dumps(old))
    run = cli("report", str(saved), "--format", "sarif", cwd=tree)
    assert [r["ruleId"] for r in json.loads(run.out)["runs"][0]["results"]] == ["test-github-token"]
    assert "rule test-github-token is neither in the loaded packs nor described in the report" in run.err
