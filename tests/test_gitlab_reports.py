"""GitLab reports (issue 20): secrets in the secret-detection report, policy (IaC) findings in the
SAST report, each validated against GitLab's report schema 15.2.1 (pinned: tests/gitlab_schemas.py,
written to a file by this module's setup, never fetched)."""

from __future__ import annotations

import json
import shutil

import jsonschema
import pytest

from tests import gitlab_schemas
from tests.conftest import FAKE_GH, FIXTURES, git

DEPLOYMENT = """apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: shop
spec:
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
        - name: web
          image: registry.example.com/shop/web:1.4.2
          securityContext:
            runAsUser: 0
            privileged: true
"""


@pytest.fixture(scope="module")
def validators(tmp_path_factory):
    files = gitlab_schemas.write(tmp_path_factory.mktemp("gitlab-schemas"))
    out = {}
    for kind, path in files.items():
        schema = json.loads(path.read_text())
        jsonschema.Draft7Validator.check_schema(schema)
        out[kind] = jsonschema.Draft7Validator(schema)
    return out


def errors(validator, doc) -> list[str]:
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(doc)]


@pytest.fixture
def project(tmp_path):
    (tmp_path / "deploy").mkdir()
    (tmp_path / "deploy" / "web.yaml").write_text(DEPLOYMENT)
    (tmp_path / "ci.env").write_text(f"GITHUB_TOKEN={FAKE_GH}\n")
    shutil.copy(FIXTURES / "dockerfile" / "bad" / sorted(p.name for p in (FIXTURES / "dockerfile" / "bad").iterdir())[0],
                tmp_path / "Dockerfile")  # fmt: skip
    return tmp_path


def test_secrets_go_to_secret_detection_and_policy_findings_to_sast(cli, project, validators, monkeypatch):
    monkeypatch.setenv("CI_COMMIT_SHA", "c" * 40)
    everything = json.loads(cli("scan", ".", "-f", "json", cwd=project).out)["findings"]
    secrets = {(f["rule"], f["path"]) for f in everything if f["pack"].startswith("secrets")}
    policy = {(f["rule"], f["path"]) for f in everything if not f["pack"].startswith("secrets")}
    assert secrets and policy and any(p == "deploy/web.yaml" for _, p in policy)

    run = cli("scan", ".", "-f", "gitlab", cwd=project)
    assert run.code == 1
    secret_doc = json.loads(run.out)
    assert errors(validators["secret_detection"], secret_doc) == []
    assert secret_doc["scan"]["type"] == "secret_detection"
    got = {(v["identifiers"][0]["value"], v["location"]["file"]) for v in secret_doc["vulnerabilities"]}
    assert got == secrets  # no policy finding in the secret-detection report
    assert {v["category"] for v in secret_doc["vulnerabilities"]} == {"secret_detection"}
    assert all(v["location"]["commit"]["sha"] == "c" * 40 for v in secret_doc["vulnerabilities"])
    assert FAKE_GH not in run.out

    run = cli("scan", ".", "-f", "gitlab-sast", cwd=project)
    assert run.code == 1  # the exit code is the scan's, whichever report is written
    sast = json.loads(run.out)
    assert errors(validators["sast"], sast) == []
    assert sast["scan"]["type"] == "sast"
    got = {(v["identifiers"][0]["value"], v["location"]["file"]) for v in sast["vulnerabilities"]}
    assert got == policy  # and no secret in the SAST report
    assert FAKE_GH not in run.out and FAKE_GH[4:16] not in run.out
    root = [v for v in sast["vulnerabilities"] if v["location"]["file"] == "deploy/web.yaml"]
    assert root and all(v["solution"] and v["location"]["start_line"] >= 1 for v in root)
    assert all(v["category"] == "sast" and "commit" not in v["location"] for v in sast["vulnerabilities"])
    ids = [v["id"] for v in sast["vulnerabilities"]]
    assert len(ids) == len(set(ids))
    primary = {i["value"] for i in sast["scan"]["primary_identifiers"]}
    assert {r for r, _ in policy} <= primary and not {r for r, _ in secrets} & primary


def test_history_secret_detection_report_carries_the_introducing_commit(cli, tmp_path, validators):
    git(tmp_path, "init", "-q")
    (tmp_path / "ci.env").write_text(f"GITHUB_TOKEN={FAKE_GH}\n")
    git(tmp_path, "add", ".")
    git(tmp_path, "commit", "-qm", "add")
    sha = git(tmp_path, "rev-parse", "HEAD").strip()
    (tmp_path / "ci.env").write_text("GITHUB_TOKEN=${TOKEN}\n")
    git(tmp_path, "commit", "-qam", "remove")
    doc = json.loads(cli("scan", ".", "--history", "-f", "gitlab", cwd=tmp_path).out)
    assert errors(validators["secret_detection"], doc) == []
    [vuln] = doc["vulnerabilities"]
    assert vuln["location"]["commit"]["sha"] == sha and vuln["location"]["file"] == "ci.env"


def test_the_pinned_schemas_reject_what_gitlab_rejects(validators):
    """The validation is not vacuous: the faults GitLab's parser reports are faults here too."""
    good = {
        "version": "15.2.1",
        "scan": {"analyzer": {"id": "a", "name": "a", "version": "1", "vendor": {"name": "v"}},
                 "scanner": {"id": "a", "name": "a", "version": "1", "vendor": {"name": "v"}},
                 "type": "secret_detection", "status": "success",
                 "start_time": "2024-01-01T00:00:00", "end_time": "2024-01-01T00:00:01"},
        "vulnerabilities": [{"id": "1", "identifiers": [{"type": "t", "name": "n", "value": "v"}],
                             "severity": "High", "location": {"file": "a", "commit": {"sha": "0" * 40}}}],
    }  # fmt: skip
    assert errors(validators["secret_detection"], good) == []
    no_commit = json.loads(json.dumps(good))
    del no_commit["vulnerabilities"][0]["location"]["commit"]
    assert errors(validators["secret_detection"], no_commit)
    wrong_type = json.loads(json.dumps(good))
    assert errors(validators["sast"], wrong_type)  # a secret-detection report is not a SAST report
    for path, value in ((("scan", "start_time"), "2024-01-01T00:00:00Z"), (("vulnerabilities", 0, "severity"), "high"),
                        (("version",), "15.2")):  # fmt: skip
        bad = json.loads(json.dumps(good))
        target = bad
        for step in path[:-1]:
            target = target[step]
        target[path[-1]] = value
        assert errors(validators["secret_detection"], bad), path
