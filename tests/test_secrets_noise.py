"""Less noise from the secrets engine: documented example values at `info` (never a failure), one
value found in many places reported once with its other locations, and other scanners' inline markers
honoured (visibly) behind one switch."""

from __future__ import annotations

import json
from pathlib import Path

from scanner.model import Finding, Location, at_or_above
from scanner.suppressions import inline

PASSWORD = "Qm2xW7nR4vKt"


def _docs_tree(tmp_path: Path) -> Path:
    (tmp_path / "creds.ini").write_text(
        "aws_access_key_id = AKIAIOSFODNN7EXAMPLE\naws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\n"
    )
    return tmp_path


def test_documented_example_keys_are_info_with_their_reason_and_fail_nothing(cli, tmp_path):
    run = cli("scan", ".", "--config", "/dev/null", cwd=_docs_tree(tmp_path))
    assert run.code == 0
    assert "INFO" in run.out and "aws-access-key-id" in run.out and "documented example value" in run.out
    assert "No findings" in run.out and "2 info" in run.out
    doc = json.loads(cli("scan", ".", "--config", "/dev/null", "-f", "json", cwd=tmp_path).out)
    assert {(f["rule"], f["severity"], f["reason"]) for f in doc["findings"]} == {
        ("aws-access-key-id", "info", "documented example value"),
        ("aws-secret-access-key", "info", "documented example value"),
    }
    sarif = json.loads(cli("scan", ".", "--config", "/dev/null", "-f", "sarif", cwd=tmp_path).out)
    assert {r["level"] for r in sarif["runs"][0]["results"]} == {"note"}


def test_info_is_below_every_fail_on_threshold():
    assert not at_or_above("info", "low")
    assert at_or_above("low", "low")


def test_a_documented_example_next_to_a_real_key_still_fails(cli, tmp_path):
    _docs_tree(tmp_path)
    (tmp_path / "real.env").write_text("AWS_ACCESS_KEY_ID=AKIAZ7QW4FAKE2KX3M5N\n")
    run = cli("scan", ".", "--config", "/dev/null", cwd=tmp_path)
    assert run.code == 1
    assert "1 finding (1 high)" in run.out


def _many_places(tmp_path: Path, copies: int = 8) -> Path:
    for i in range(copies):
        (tmp_path / f"m{i}.py").write_text(f'import os\nDB_PASSWORD = "{PASSWORD}"\n')
    (tmp_path / "other.py").write_text('API_TOKEN = "Zx8vN2qLw5Tr"\n')
    return tmp_path


def test_one_value_in_many_places_is_one_finding_with_its_other_locations(cli, tmp_path):
    run = cli("scan", ".", "--config", "/dev/null", cwd=_many_places(tmp_path))
    assert run.code == 1
    listed = run.out.split("\nBy rule\n")[0]
    assert listed.count("generic-secret-assignment") == 2  # the shared password once, the other token once
    assert "    2  generic-secret-assignment\n" in run.out  # and they are 2 findings of that rule
    assert "also at: m1.py:2, m2.py:2, m3.py:2, m4.py:2, m5.py:2 (+2 more)" in run.out
    assert "2 findings (2 high) at 9 locations in 9 files" in run.out
    assert PASSWORD not in run.out


def test_json_carries_the_group_and_sarif_keeps_one_result_per_location(cli, tmp_path):
    _many_places(tmp_path)
    doc = json.loads(cli("scan", ".", "--config", "/dev/null", "-f", "json", cwd=tmp_path).out)
    groups = {f["path"]: f.get("group") for f in doc["findings"]}
    shared = {groups[f"m{i}.py"] for i in range(8)}
    assert len(shared) == 1 and shared != {None}
    assert groups["other.py"] is None
    sarif = json.loads(cli("scan", ".", "--config", "/dev/null", "-f", "sarif", cwd=tmp_path).out)
    assert len(sarif["runs"][0]["results"]) == 9


MARKED = [
    f'DB_PASSWORD = "{PASSWORD}"  # gitleaks:allow',
    f'DB_PASSWORD = "{PASSWORD}1"  # nosec',
    f'DB_PASSWORD = "{PASSWORD}2"  #nosec B105',
    f'API_TOKEN = "{PASSWORD}3"  # checkov:skip=CKV_SECRET_6 reviewed with security',
    f'API_TOKEN = "{PASSWORD}4"  // NOSONAR',
    f'API_TOKEN = "{PASSWORD}5"  # trufflehog:ignore',
    f'API_TOKEN = "{PASSWORD}6"  # kingfisher:ignore',
]
NOT_MARKED = [
    f'DB_PASSWORD = "{PASSWORD}7"  # nosec B602',  # another bandit check: not about credentials
    f'API_TOKEN = "{PASSWORD}8"  # checkov:skip=CKV_AWS_20',  # an IaC check, not a secrets one
]


def test_other_scanners_markers_suppress_secrets_visibly(cli, tmp_path):
    (tmp_path / "app.py").write_text("\n".join(MARKED + NOT_MARKED) + "\n")
    doc = json.loads(cli("scan", ".", "--config", "/dev/null", "-f", "json", cwd=tmp_path).out)
    by_line = {f["line"]: f["suppressed"] for f in doc["findings"]}
    assert len(by_line) == len(MARKED) + len(NOT_MARKED)
    for line in range(1, len(MARKED) + 1):
        assert by_line[line] is not None and "another scanner's marker" in by_line[line]["reason"], line
    assert by_line[1]["reason"].startswith("gitleaks:allow")
    assert by_line[4]["reason"].startswith("checkov:skip=CKV_SECRET_6")
    assert by_line[len(MARKED) + 1] is None and by_line[len(MARKED) + 2] is None
    run = cli("scan", ".", "--config", "/dev/null", cwd=tmp_path)
    assert run.code == 1 and f"{len(MARKED)} suppressed" in run.out


def test_one_switch_turns_other_scanners_markers_off(cli, tmp_path):
    (tmp_path / "app.py").write_text("\n".join(MARKED) + "\n")
    assert cli("scan", ".", "--config", "/dev/null", cwd=tmp_path).code == 0
    assert cli("scan", ".", "--config", "/dev/null", "--no-foreign-ignores", cwd=tmp_path).code == 1
    (tmp_path / ".scanner.yaml").write_text("foreign-ignores: false\n")
    run = cli("scan", ".", cwd=tmp_path)
    assert run.code == 1 and f"{len(MARKED)} findings" in run.out
    assert cli("scan", ".", "--foreign-ignores", cwd=tmp_path).code == 0


def test_foreign_markers_leave_policy_findings_alone():
    policy = Finding("k8s-run-as-root", "high", Location("pod.yaml", 1), "runs as root")
    marked, _ = inline.apply([policy], b"kind: Pod  # NOSONAR\n", foreign=True)
    assert marked[0].suppression is None


def test_info_in_junit_is_skipped_and_in_gitlab_is_info(cli, tmp_path):
    _docs_tree(tmp_path)
    junit = cli("scan", ".", "--config", "/dev/null", "-f", "junit", cwd=tmp_path).out
    assert "<failure" not in junit and "info (documented example value)" in junit
    gitlab = json.loads(cli("scan", ".", "--config", "/dev/null", "-f", "gitlab", cwd=tmp_path).out)
    assert {v["severity"] for v in gitlab["vulnerabilities"]} == {"Info"}


def test_a_weak_default_percent_encoded_in_a_url_is_not_a_leak(cli, tmp_path):
    """A test suite's proxy URL writes `P@SSWORD` as `P%40SSWORD`; a composed password, encoded the
    same way, is still reported."""
    (tmp_path / "test_proxy.py").write_text(
        'os.environ["http_proxy"] = "http://john%40corp.test:P%40SSWORD@localhost:3128/"\n'
        'os.environ["https_proxy"] = "http://john%40corp.test:Qm2x%40W7nR4vKt@localhost:3128/"\n'
    )
    doc = json.loads(cli("scan", ".", "--config", "/dev/null", "-f", "json", cwd=tmp_path).out)
    assert [(f["rule"], f["line"]) for f in doc["findings"]] == [("connection-url-password", 2)]


def test_an_ellipsis_for_a_password_in_prose_is_not_a_leak(cli, tmp_path):
    (tmp_path / "README.md").write_text(
        "Connect with a JDBC URL (jdbc:mysql://db/app?user=app&password=..., jdbc:sqlserver://db;password=...).\n"
        "Or an ODBC string (Server=db;User Id=app;Password=...).\n\nNext: jdbc:mysql://db/app?password=...\n"
    )
    assert cli("scan", ".", "--config", "/dev/null", cwd=tmp_path).code == 0
    (tmp_path / "README.md").write_text("Use jdbc:mysql://db/app?user=app&password=Hq7...Lz2ck9 here.\n")
    run = cli("scan", ".", "--config", "/dev/null", cwd=tmp_path)
    assert run.code == 1 and "jdbc-password" in run.out


def test_the_scanners_own_reports_in_the_tree_raise_no_failing_finding(cli, tmp_path):
    """The saved SARIF and JSON reports describe every rule, with its prose examples: a second scan of a
    tree holding them must not report those descriptions as leaks."""
    (tmp_path / "app.env").write_text(
        "ORDERS_URL=jdbc:sqlserver://sql.acme.example:1433;databaseName=orders;user=svc;password=Pz8!qFAKE77\n"
        'LEGACY_DSN="Server=sql.acme.example;User Id=svc;Password=Hq7vLz2ckFAKE9;"\n'
    )
    for fmt, name in (("sarif", "scan.sarif"), ("json", "scan.json")):
        assert cli("scan", ".", "--config", "/dev/null", "-f", fmt, "-o", name, cwd=tmp_path).code == 1
    doc = json.loads(cli("scan", ".", "--config", "/dev/null", "-f", "json", cwd=tmp_path).out)
    failing = {(f["path"], f["rule"]) for f in doc["findings"] if f["severity"] != "info"}
    assert {path for path, _ in failing} == {"app.env"}
