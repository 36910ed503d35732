"""The text report as a newcomer reads it: findings under the object they are about, each rule's fix
said once, a summary by rule that says what `scanner fix --write` can fix, and real plurals."""

from __future__ import annotations

import json
import re
from pathlib import Path

from scanner.model import Finding, Location, Provenance
from scanner.reporters import text_report
from scanner.rules.loader import load_rules
from scanner.scan import ScanResult
from tests.conftest import FAKE_GH

DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}
  namespace: shop
spec:
  template:
    spec:
      automountServiceAccountToken: false
      containers:
        - name: app
          image: nginx:1.25.3
          securityContext:
            runAsNonRoot: true
            runAsUser: 10001
            allowPrivilegeEscalation: false
            seccompProfile: {{type: RuntimeDefault}}
            readOnlyRootFilesystem: {readonly}
"""

COMPOSE = """\
services:
  runner:
    image: gitlab/gitlab-runner:v16.10.0
    privileged: true
    volumes:
      - /var/run/docker.sock:/var/run/docker.sock
"""

DOCKERFILE = """\
FROM ubuntu:20.04
RUN chmod -R 777 /opt
USER nobody
"""

TERRAFORM = """\
resource "aws_db_instance" "main" {
  engine              = "postgres"
  instance_class      = "db.t3.micro"
  publicly_accessible = true
  storage_encrypted   = false
}
"""


def scan(cli, root: Path, *args: str) -> str:
    run = cli("scan", ".", "--config", "/dev/null", *args, cwd=root)
    assert run.code == 1, run.err
    return run.out


def listing(out: str) -> str:
    """The findings part of the report (before the summary by rule)."""
    return out.split("\nBy rule\n")[0]


def by_rule(out: str) -> list[str]:
    return out.split("\nBy rule\n")[1].splitlines()


def test_kubernetes_findings_are_listed_under_their_object_without_repeating_its_name(cli, tmp_path):
    (tmp_path / "web.yaml").write_text(DEPLOYMENT.format(name="web", readonly="false"))
    out = listing(scan(cli, tmp_path, "--only", "k8s-writable-root-fs,k8s-capabilities-not-dropped,k8s-host-pid"))
    lines = out.splitlines()
    assert lines[0] == "web.yaml"
    assert lines[1] == "  Deployment/web (line 1)"  # the object once, with its line
    rule_lines = [line for line in lines if re.match(r"    \d+:\d+ ", line)]
    assert [line.split()[2] for line in rule_lines] == ["k8s-capabilities-not-dropped", "k8s-writable-root-fs"]
    assert rule_lines[0].endswith("container app does not drop ALL capabilities")
    assert rule_lines[1].endswith("container app does not set readOnlyRootFilesystem: true")
    assert out.count("Deployment/web") == 1


def test_terraform_dockerfile_and_compose_findings_are_grouped_too(cli, tmp_path):
    (tmp_path / "db.tf").write_text(TERRAFORM)
    (tmp_path / "Dockerfile").write_text(DOCKERFILE)
    (tmp_path / "docker-compose.yml").write_text(COMPOSE)
    out = listing(scan(cli, tmp_path, "--only", "terraform-aws,dockerfile,compose"))
    assert "\n  aws_db_instance.main (line 1)\n    " in out
    assert re.search(r"\n    4:1 +HIGH +tf-aws-rds-public +publicly_accessible = true\n", out)
    assert "\n  stage 0: FROM ubuntu:20.04 (line 1)\n" in out
    assert re.search(r"\n    2:1 +MEDIUM +dockerfile-chmod-777 +RUN chmod -R 777 /opt: makes files world-writable", out)
    assert "\n  service 'runner' (line 2)\n" in out
    assert re.search(r"\n    4:1 +CRITICAL compose-privileged +runs privileged\n", out)
    assert "Compose service 'runner'" not in out and "aws_db_instance.main:" not in out


def test_secrets_keep_one_line_each_with_their_evidence(cli, tmp_path):
    (tmp_path / "app.env").write_text(f"GH_TOKEN={FAKE_GH}\n")
    out = scan(cli, tmp_path)
    assert "app.env\n  1:10     CRITICAL github-token  GitHub token\n           GH_TOKEN=ghp_********\n" in out
    assert FAKE_GH not in out


def test_each_rules_fix_is_said_once_at_its_first_finding(cli, tmp_path):
    for name in ("api", "web"):
        (tmp_path / f"{name}.yaml").write_text(DEPLOYMENT.format(name=name, readonly="false"))
    out = listing(scan(cli, tmp_path, "--only", "k8s-writable-root-fs"))
    lines = out.splitlines()
    fixes = [i for i, line in enumerate(lines) if line.strip().startswith("fix:")]
    assert len(fixes) == 1
    assert "k8s-writable-root-fs" in lines[fixes[0] - 1] and lines[fixes[0] - 2] == "  Deployment/api (line 1)"
    assert lines[fixes[0]] == (
        "             fix: Set `securityContext.readOnlyRootFilesystem: true` and mount `emptyDir` volumes where the process needs…")
    assert "Deployment/web" in out  # the second one is listed, without the fix again


def test_summary_counts_by_rule_and_says_what_scanner_fix_can_fix(cli, tmp_path):
    for name in ("api", "web"):
        (tmp_path / f"{name}.yaml").write_text(DEPLOYMENT.format(name=name, readonly="false"))
    (tmp_path / "docker-compose.yml").write_text(COMPOSE)
    out = scan(cli, tmp_path, "--only", "k8s-capabilities-not-dropped,compose-privileged,compose-docker-socket")
    rows = by_rule(out)
    assert rows[:3] == [  # most severe first; the rules `scanner fix` has a fix for say so
        "  CRITICAL     1  compose-docker-socket",
        f"  CRITICAL     1  {'compose-privileged':<28}  fixable",
        "  LOW          2  k8s-capabilities-not-dropped  fixable",
    ]
    assert rows[3] == "3 fixable by `scanner fix --write` (`scanner fix` shows the edits first)"
    assert rows[4].startswith("4 findings (2 critical, 2 low) in 3 files · ")  # the totals line stays last


def test_findings_in_history_are_not_counted_fixable():
    rules = load_rules()
    now = Finding("k8s-capabilities-not-dropped", "low", Location("web.yaml", 11), "Deployment/web container app ...")
    past = now._replace(location=Location("old.yaml", 11), provenance=Provenance("history", "a" * 40, "Dev", "", "2024-01-01"))
    result = ScanResult([now, past], [], 2, 100, 0.1, Path("."))
    out = text_report.render(result, rules)
    assert "  LOW          2  k8s-capabilities-not-dropped  1 fixable\n1 fixable by `scanner fix --write`" in out
    assert "commit aaaaaaaa by Dev on 2024-01-01" in out  # provenance still said


def test_plurals_in_the_summary_and_in_rule_messages(cli, tmp_path):
    (tmp_path / "web.yaml").write_text(DEPLOYMENT.format(name="web", readonly="false"))
    one = scan(cli, tmp_path, "--only", "k8s-writable-root-fs,k8s-namespace-networkpolicy-missing")
    assert "has 1 workload in the scan (Deployment/web) and no NetworkPolicy for namespace shop in the 1 Kubernetes file scanned" in one
    assert "\n2 findings (1 medium, 1 low) in 1 file · 1 file (0.0 MB) scanned" in one
    (tmp_path / "api.yaml").write_text(DEPLOYMENT.format(name="api", readonly="true"))
    two = scan(cli, tmp_path, "--only", "k8s-namespace-networkpolicy-missing")
    assert "has 2 workloads in the scan (Deployment/api, Deployment/web) and no NetworkPolicy for namespace shop in the 2 Kubernetes files" in two
    assert "\n1 finding (1 medium) in 1 file · 2 files (0.0 MB) scanned" in two
    assert "(s)" not in one + two


def test_json_carries_the_object_and_a_saved_report_reads_the_same(cli, tmp_path):
    (tmp_path / "web.yaml").write_text(DEPLOYMENT.format(name="web", readonly="false"))
    (tmp_path / "app.env").write_text(f"GH_TOKEN={FAKE_GH}\n")
    cli("scan", ".", "--config", "/dev/null", "-f", "json", "-o", "scan.json", cwd=tmp_path)
    findings = json.loads((tmp_path / "scan.json").read_text())["findings"]
    policy = next(f for f in findings if f["rule"] == "k8s-writable-root-fs")
    assert (policy["object"], policy["object_line"]) == ("Deployment/web", 1)
    assert policy["object_message"] == "container app does not set readOnlyRootFilesystem: true"
    assert policy["message"] == "Deployment/web container app does not set readOnlyRootFilesystem: true"  # as before
    assert "object" not in next(f for f in findings if f["rule"] == "github-token")
    direct = scan(cli, tmp_path, "--exclude", "scan.json")
    saved = cli("report", "scan.json", "--format", "text", cwd=tmp_path).out
    assert listing(saved) == listing(direct)


def test_nothing_listed_keeps_the_one_line_summary():
    result = ScanResult([], [], 1, 10, 0.01, Path("."))
    assert text_report.render(result, load_rules()) == "No findings · 1 file (0.0 MB) scanned in 0.01 s\n"


def test_fix_line_is_the_first_sentence_cut_at_a_word_outside_code():
    assert text_report.fix_line("Remove `hostPID: true`. Then redeploy.") == "Remove `hostPID: true`."
    assert text_report.fix_line("Create a user, e.g. `RUN adduser app`, then `USER app`.") == (
        "Create a user, e.g. `RUN adduser app`, then `USER app`.")
    long = "Set `securityContext.readOnlyRootFilesystem: true` and mount volumes " + "where it writes " * 10
    cut = text_report.fix_line(long, 60)
    assert len(cut) <= 60 and cut.endswith("…") and cut.count("`") % 2 == 0


def test_info_counted_once_per_value_like_the_by_rule_table(cli, tmp_path):
    """One documented example value in three files is one info line (with 'also at'), counted once."""
    for name in ("a.ini", "b.ini", "c.ini"):
        (tmp_path / name).write_text("aws_access_key_id = AKIAIOSFODNN7EXAMPLE\n")
    run = cli("scan", ".", "--config", "/dev/null", cwd=tmp_path)
    assert run.code == 0 and "also at: b.ini:1, c.ini:1" in run.out
    assert "  INFO         1  aws-access-key-id" in run.out
    assert run.out.rstrip().splitlines()[-1].startswith("No findings · 1 info (documented example values")


def test_quiet_lists_the_findings_only(cli, tmp_path):
    """`-q`: the findings under their objects, each rule's fix line; no By rule table, no totals."""
    (tmp_path / "app.py").write_text(f'T = "{FAKE_GH}"\n')
    (tmp_path / "Dockerfile").write_text("FROM python:3.12-slim\nCOPY . /app\nCMD [\"python\", \"/app/app.py\"]\n")
    full = cli("scan", ".", "--config", "/dev/null", cwd=tmp_path)
    quiet = cli("scan", ".", "--config", "/dev/null", "-q", cwd=tmp_path)
    assert full.code == quiet.code == 1
    assert "By rule" in full.out and "By rule" not in quiet.out and "finding" not in quiet.out.splitlines()[-1]
    assert quiet.out == full.out[: full.out.index("\nBy rule")]
    assert "dockerfile-root-user" in quiet.out and "github-token" in quiet.out and "fix:" in quiet.out
    clean = tmp_path / "clean"
    clean.mkdir()
    (clean / "ok.py").write_text("print('hello')\n")
    assert cli("scan", ".", "--config", "/dev/null", "-q", cwd=clean).out == ""
