"""Charts and overlays without `helm` / `kubectl`: the summary line says how many were not rendered
and why, `--fail-on-parse-error` fails on them, and an unrendered chart is still scanned as text for
secrets (values and templates)."""

from __future__ import annotations

import shutil

import pytest

from scanner.cli import main

CHART = {
    "charts/shop/Chart.yaml": "apiVersion: v2\nname: shop\nversion: 4.2.0\n",
    "charts/shop/values.yaml": "postgresql:\n  auth:\n    username: shop\n    password: pG4FAKEq8Lx2Vm7R\n",
    "charts/shop/templates/secret.yaml": (
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: {{ .Release.Name }}\nstringData:\n"
        "  DATABASE_PASSWORD: {{ .Values.postgresql.auth.password | quote }}\n"
        "  REDIS_URL: \"redis://:rD5FAKEs9Xq2Lm7V@shop-redis-master:6379/0\"\n"),
}
OVERLAY = {
    "deploy/base/kustomization.yaml": "resources:\n  - deployment.yaml\n",
    "deploy/base/deployment.yaml": "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: shop\nspec:\n"
                                   "  template:\n    spec:\n      containers:\n        - name: shop\n          image: shop:1.0\n",
    "deploy/prod/kustomization.yaml": "resources:\n  - ../base\n",
}


@pytest.fixture
def no_renderers(monkeypatch):
    which = shutil.which
    monkeypatch.setattr(shutil, "which", lambda cmd, *a, **k: None if cmd in ("helm", "kubectl", "kustomize") else which(cmd, *a, **k))


def write(root, files):
    for path, text in files.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(text)


def test_the_summary_line_says_what_was_not_rendered_and_why(tmp_path, no_renderers, capsys):
    write(tmp_path, {**CHART, **OVERLAY})
    main(["scan", str(tmp_path), "--config", "/dev/null", "--no-color"])
    summary = capsys.readouterr().out.strip().splitlines()[-1]
    assert ("1 Helm chart and 1 Kustomize overlay not rendered (helm is not on PATH; neither kustomize nor kubectl "
            "is on PATH; see above)") in summary
    assert "file problem" not in summary  # not counted twice


@pytest.mark.parametrize("files", [CHART, OVERLAY], ids=["chart", "overlay"])
def test_fail_on_parse_error_fails_on_an_unrendered_chart_or_overlay(tmp_path, no_renderers, files):
    write(tmp_path, files)
    args = ["scan", str(tmp_path), "--config", "/dev/null", "-q", "--only", "k8s-privileged"]
    assert main(args) == 0
    assert main([*args, "--fail-on-parse-error"]) == 1


def test_an_unrendered_chart_is_still_scanned_as_text_for_secrets(tmp_path, no_renderers, capsys):
    import json

    write(tmp_path, CHART)
    assert main(["scan", str(tmp_path), "--config", "/dev/null", "-f", "json", "--only", "secrets"]) == 1
    found = {(f["path"], f["line"]) for f in json.loads(capsys.readouterr().out)["findings"]}
    assert found == {("charts/shop/values.yaml", 4), ("charts/shop/templates/secret.yaml", 7)}


def test_findings_on_objects_helm_rendered_are_not_counted_as_fixable(cli, tmp_path, monkeypatch):
    """`scanner fix` never edits a chart template, so the report does not count those findings as
    fixable; the same objects in a committed `helm template` output are fixed and counted."""
    import os
    import stat

    from tests.conftest import FIXTURES

    rendered = FIXTURES / "kubernetes" / "helm-rendered" / "rendered.yaml"
    shutil.copytree(FIXTURES / "kubernetes" / "charts" / "webapp", tmp_path / "charts" / "webapp")
    helm = tmp_path / "bin" / "helm"
    helm.parent.mkdir()
    helm.write_text(f'#!/bin/sh\ncat "{rendered}"\n')
    helm.chmod(helm.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{helm.parent}{os.pathsep}{os.environ['PATH']}")

    run = cli("scan", "charts", "--config", "/dev/null", cwd=tmp_path)
    assert "k8s-privileged" in run.out and "from template" not in run.out
    assert "fixable" not in run.out
    html = cli("scan", "charts", "--config", "/dev/null", "-f", "html", cwd=tmp_path).out
    assert "k8s-privileged" in html and "<b>Fix</b> <code>scanner fix " not in html  # no `scanner fix` line
    run = cli("fix", "charts", "--config", "/dev/null", cwd=tmp_path)
    assert "would fix 0 findings in 0 files" in run.err
    assert "not fixed: charts/webapp/templates/deployment.yaml: the object was rendered by `helm template`" in run.err

    run = cli("scan", str(rendered), "--config", "/dev/null")
    assert "from template webapp/templates/deployment.yaml" in run.out
    assert "11 fixable by `scanner fix --write`" in run.out
    assert "<b>Fix</b> <code>scanner fix " in cli("scan", str(rendered), "--config", "/dev/null", "-f", "html").out
    run = cli("fix", str(rendered), "--config", "/dev/null")
    assert "would fix 11 findings in 1 file" in run.err
