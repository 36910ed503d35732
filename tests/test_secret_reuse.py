"""The same secret in two environments: reported once, by hash, naming the places; not within one
environment, not for paths that name no environment."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from scanner.engines.reuse import environment_of

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "secrets" / "environments"
SHARED = "Lq7vX2nR9wKt"  # the DB password dev and prod share in the fixture


def _scan(cli, tree: Path, fmt: str = "json"):
    return cli("scan", ".", "--config", "/dev/null", "--only", "secrets,secret-reuse", "-f", fmt, cwd=tree)


def _copy(tmp_path):  # noqa: ANN001, ANN202 - a writable copy of the environments fixture
    tree = tmp_path / "repo"
    shutil.copytree(FIXTURE, tree)
    return tree


def _reused(findings: list[dict], under: str) -> list[dict]:
    return [f for f in findings if f["rule"] == "secret-reused-across-environments" and f["path"].startswith(under)]


def test_a_password_shared_by_dev_and_prod_is_one_finding_naming_both(cli, tmp_path):
    tree = _copy(tmp_path)
    run = _scan(cli, tree)
    assert run.code == 1
    reused = [f for f in json.loads(run.out)["findings"] if f["rule"] == "secret-reused-across-environments"]
    reused = [f for f in reused if not f["path"].startswith("k8s/")]  # (namespaces: the next test)
    assert len(reused) == 1  # the payments key is shared too, but only inside prod
    finding = reused[0]
    assert (finding["path"], finding["line"], finding["severity"]) == ("overlays/dev/secrets.env", 4, "high")
    assert finding["environments"] == ["dev", "prod"]
    assert finding["locations"] == ["overlays/dev/secrets.env:4", "overlays/prod/secrets.env:4"]
    assert "dev (overlays/dev/secrets.env:4), prod (overlays/prod/secrets.env:4)" in finding["message"]
    assert SHARED not in run.out
    sarif = json.loads(_scan(cli, tree, "sarif").out)
    assert [r["ruleId"] for r in sarif["runs"][0]["results"]].count("secret-reused-across-environments") == 2  # overlays, k8s


def test_a_manifest_namespace_names_the_environment(cli, tmp_path):
    tree = _copy(tmp_path)
    findings = json.loads(_scan(cli, tree).out)["findings"]
    reused = _reused(findings, "k8s/")
    assert [(f["path"], f["line"], f["environments"]) for f in reused] == [
        ("k8s/reports-api.yaml", 18, ["prod", "staging"])
    ]
    manifest = tree / "k8s" / "reports-api.yaml"
    manifest.write_text(manifest.read_text().replace("namespace: reports-staging", "namespace: reports-prod"))
    findings = json.loads(_scan(cli, tree).out)["findings"]
    assert not _reused(findings, "k8s/")


def test_distinct_secrets_per_environment_are_not_this_finding(cli, tmp_path):
    tree = _copy(tmp_path)
    dev = tree / "overlays" / "dev" / "secrets.env"
    dev.write_text(dev.read_text().replace(SHARED, "Wd5nK2xQ8vRm"))
    findings = json.loads(_scan(cli, tree).out)["findings"]
    assert not _reused(findings, "overlays/")


def test_an_inline_ignore_on_one_side_leaves_one_environment(cli, tmp_path):
    tree = _copy(tmp_path)
    dev = tree / "overlays" / "dev" / "secrets.env"
    dev.write_text(dev.read_text().replace(SHARED, SHARED + "  # scanner:ignore local throwaway"))
    findings = json.loads(_scan(cli, tree).out)["findings"]
    assert not _reused(findings, "overlays/")


def test_environment_spellings_and_what_is_not_an_environment():
    assert environment_of("k8s/overlays/prd/secret.yaml") == "prod"
    assert environment_of("config/.env.production") == "prod"
    assert environment_of("appsettings.Development.json") == "dev"
    assert environment_of("helm/values-stg.yaml") == "staging"
    assert environment_of("deploy/pre-prod/app.env") == "preprod"
    assert environment_of("environments/uat/terraform.tfvars") == "uat"
    assert environment_of("config/test.yml") == "test"
    assert environment_of("tests/unit/.env") == ""  # test code, not a test environment
    assert environment_of("scripts/copy-prod-to-dev.sh") == ""  # two environments: neither
    assert environment_of("src/app.py") == ""
