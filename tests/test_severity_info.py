"""The `info` severity: a deliberate setting worth seeing (an explicit automountServiceAccountToken:
true) is reported, but never fails a scan unless asked with --fail-on info."""

from __future__ import annotations

import json

from scanner.cli import main

EXPORTER = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: kube-state-metrics
spec:
  template:
    spec:
      automountServiceAccountToken: true
      containers:
        - name: kube-state-metrics
          image: registry.k8s.io/kube-state-metrics/kube-state-metrics:v2.10.1
"""
DEFAULTED = EXPORTER.replace("      automountServiceAccountToken: true\n", "")
RULES = "k8s-sa-token-automount,k8s-sa-token-automount-requested"


def test_an_explicit_token_request_is_info_with_its_reason_and_does_not_fail(tmp_path, capsys):
    (tmp_path / "exporter.yaml").write_text(EXPORTER)
    args = ["scan", str(tmp_path), "--config", "/dev/null", "--only", RULES, "-f", "json"]
    assert main(args) == 0
    (finding,) = json.loads(capsys.readouterr().out)["findings"]
    assert (finding["rule"], finding["severity"], finding["line"]) == ("k8s-sa-token-automount-requested", "info", 8)
    assert "asked for a service account token" in finding["message"]
    assert main([*args, "--fail-on", "info"]) == 1


def test_the_implicit_default_is_still_low_and_fails(tmp_path, capsys):
    (tmp_path / "app.yaml").write_text(DEFAULTED)
    assert main(["scan", str(tmp_path), "--config", "/dev/null", "--only", RULES, "-f", "json"]) == 1
    (finding,) = json.loads(capsys.readouterr().out)["findings"]
    assert (finding["rule"], finding["severity"]) == ("k8s-sa-token-automount", "low")


def test_info_in_sarif_and_gitlab(tmp_path, capsys):
    (tmp_path / "exporter.yaml").write_text(EXPORTER)
    main(["scan", str(tmp_path), "--config", "/dev/null", "--only", RULES, "-f", "sarif"])
    result = json.loads(capsys.readouterr().out)["runs"][0]["results"][0]
    assert result["level"] == "note"
    main(["scan", str(tmp_path), "--config", "/dev/null", "--only", RULES, "-f", "gitlab-sast"])
    assert json.loads(capsys.readouterr().out)["vulnerabilities"][0]["severity"] == "Info"


def test_info_is_not_a_junit_failure(tmp_path, capsys):
    import xml.etree.ElementTree as ET

    (tmp_path / "exporter.yaml").write_text(EXPORTER)
    main(["scan", str(tmp_path), "--config", "/dev/null", "--only", RULES, "-f", "junit"])
    root = ET.fromstring(capsys.readouterr().out.split("\n", 1)[1])
    assert root.get("failures") == "0"
    assert "asked for a service account token" in "".join(e.text or "" for e in root.iter("system-out"))
