"""The CLI contract of DESIGN.md section 1: findings, redaction, exit codes, formats, errors."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

from scanner.cli import main
from tests.conftest import FAKE_GH, FIXTURES, MINIMAL_PACK, REPO


def _tree(tmp_path: Path) -> Path:
    (tmp_path / "app.py").write_text(f'import os\nTOKEN = "{FAKE_GH}"\n')
    (tmp_path / "clean.py").write_text("print('hello')\n")
    return tmp_path


def test_finding_reported_with_path_line_rule_and_redacted(cli, tmp_path):
    run = cli("scan", ".", "--rules", str(MINIMAL_PACK), "--only", "minimal", cwd=_tree(tmp_path))
    assert run.code == 1
    assert "app.py" in run.out
    assert "2:10" in run.out and "test-github-token" in run.out
    assert FAKE_GH not in run.out + run.err
    assert "ghp_****" in run.out
    assert "1 finding (1 high) in 1 file" in run.out


def test_show_secrets_prints_the_value(cli, tmp_path):
    run = cli("scan", "--rules", str(MINIMAL_PACK), "--only", "minimal", "--show-secrets", cwd=_tree(tmp_path))
    assert FAKE_GH in run.out


def test_exit_codes_follow_fail_on_and_exit_zero(cli, tmp_path):
    tree = _tree(tmp_path)
    args = ("scan", "--rules", str(MINIMAL_PACK), "--only", "minimal")
    assert cli(*args, "--exit-zero", cwd=tree).code == 0
    assert cli(*args, "--fail-on", "critical", cwd=tree).code == 0
    assert cli(*args, "--fail-on", "high", cwd=tree).code == 1
    assert cli(*args, "--exit-zero", "no-such-dir", cwd=tree).code == 2  # --exit-zero never hides a 2


def test_clean_tree_exits_zero(cli, tmp_path):
    (tmp_path / "clean.py").write_text("print('hello')\n")
    run = cli("scan", "--rules", str(MINIMAL_PACK), "--only", "minimal", cwd=tmp_path)
    assert run.code == 0
    assert "No findings" in run.out


def test_inline_ignore_suppresses_and_is_counted(cli, tmp_path):
    (tmp_path / "a.py").write_text(f'T = "{FAKE_GH}"  # scanner:ignore=test-github-token fixture for docs\n')
    (tmp_path / "b.py").write_text(f'# scanner:ignore\nT = "{FAKE_GH}"\n')
    (tmp_path / "c.py").write_text(f'T = "{FAKE_GH}"  # pragma: allowlist secret\n')
    run = cli("scan", "--rules", str(MINIMAL_PACK), "--only", "minimal", cwd=tmp_path)
    assert run.code == 0, run.out
    assert "3 suppressed" in run.out


def test_ignore_for_another_rule_does_not_suppress(cli, tmp_path):
    (tmp_path / "a.py").write_text(f'T = "{FAKE_GH}"  # scanner:ignore=some-other-rule\n')
    assert cli("scan", "--rules", str(MINIMAL_PACK), "--only", "minimal", cwd=tmp_path).code == 1


def test_expired_ignore_stops_suppressing_and_warns(cli, tmp_path):
    (tmp_path / "a.py").write_text(f'T = "{FAKE_GH}"  # scanner:ignore=test-github-token until=2020-01-31 old\n')
    run = cli("scan", "--rules", str(MINIMAL_PACK), "--only", "minimal", cwd=tmp_path)
    assert run.code == 1
    assert "expired on 2020-01-31" in run.err


def test_no_inline_ignores(cli, tmp_path):
    (tmp_path / "a.py").write_text(f'T = "{FAKE_GH}"  # scanner:ignore\n')
    assert cli("scan", "--rules", str(MINIMAL_PACK), "--only", "minimal", "--no-inline-ignores", cwd=tmp_path).code == 1


def test_json_format(cli, tmp_path):
    run = cli("scan", "--rules", str(MINIMAL_PACK), "--only", "minimal", "--format", "json", cwd=_tree(tmp_path))
    doc = json.loads(run.out)
    [finding] = doc["findings"]
    assert (finding["path"], finding["line"], finding["rule"]) == ("app.py", 2, "test-github-token")
    assert FAKE_GH not in run.out
    assert doc["summary"]["findings"] == 1


def test_output_file_written_and_stdout_empty(cli, tmp_path):
    tree = _tree(tmp_path)
    out = tmp_path / "report.json"
    run = cli("scan", "app.py", "--rules", str(MINIMAL_PACK), "--only", "minimal", "-f", "json", "-o", str(out), cwd=tree)
    assert run.code == 1 and run.out == ""
    assert json.loads(out.read_text())["findings"][0]["path"] == "app.py"
    assert not list(tmp_path.glob(".report.json.*.tmp"))


def test_fingerprint_survives_lines_inserted_above(cli, tmp_path):
    tree = _tree(tmp_path)
    args = ("scan", "--rules", str(MINIMAL_PACK), "--only", "minimal", "-f", "json")
    before = json.loads(cli(*args, cwd=tree).out)["findings"][0]
    (tree / "app.py").write_text(f'import os\n\n\n# config\nTOKEN   =   "{FAKE_GH}"\n')
    after = json.loads(cli(*args, cwd=tree).out)["findings"][0]
    assert after["line"] == 5 and after["fingerprint"] == before["fingerprint"]


def test_missing_path_is_a_one_line_usage_error(cli, tmp_path):
    run = cli("scan", "does-not-exist", "--rules", str(MINIMAL_PACK), cwd=tmp_path)
    assert run.code == 2
    assert run.err.strip() == "scanner: error: does-not-exist: no such file or directory"


def test_broken_pack_names_file_line_and_field(cli, tmp_path):
    run = cli("scan", "--rules", str(FIXTURES / "packs" / "broken-field.yaml"), cwd=tmp_path)
    assert run.code == 2
    assert "broken-field.yaml:5: rules[0].severity: 'severe' is not one of" in run.err
    assert "Traceback" not in run.err
    run = cli("scan", "--rules", str(FIXTURES / "packs" / "broken-regex.yaml"), cwd=tmp_path)
    assert run.code == 2
    assert "broken-regex.yaml:10: lookbehind.pattern: not a valid RE2 pattern" in run.err


def test_bad_pattern_is_one_line_on_stderr_and_nothing_else(capfd, tmp_path, monkeypatch):
    """RE2 logs parse errors to the C stderr unless told not to: the user sees only our line."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".scanner.yaml").write_text("secrets:\n  allow:\n    - '(?<=x)y'\n")
    assert main(["scan", "--rules", str(FIXTURES / "packs" / "broken-regex.yaml"), "--config", "/dev/null", "."]) == 2
    assert main(["scan", "."]) == 2
    err = capfd.readouterr().err.splitlines()
    assert len(err) == 2, err
    assert "broken-regex.yaml:10: lookbehind.pattern: not a valid RE2 pattern" in err[0] and "b'" not in err[0]
    assert err[1] == (f"scanner: error: {tmp_path}/.scanner.yaml:3: secrets.allow[0]: not a valid RE2 pattern: "
                      "invalid perl operator: (?<=")


def test_unknown_filter_in_a_pack_is_one_line_at_load_not_an_internal_error(cli, tmp_path):
    pack = tmp_path / "p.yaml"
    pack.write_text(
        "pack: p\ndescription: d\nrules:\n  - id: tok\n    title: T\n    severity: high\n    description: d\n"
        "    remediation: r\n    engine: secrets\n    keywords: [tok_]\n    pattern: 'tok_[a-z]{8}'\n"
        "    filters: [nope]\n    examples:\n      bad: ['t = tok_abcdefgh']\n      good: ['t = 1']\n"
    )
    (tmp_path / "a.env").write_text("t = tok_abcdefgh\n")
    for args in (("scan", "--rules", str(pack), "--config", os.devnull, "."), ("rules", "test", str(pack))):
        run = cli(*args, cwd=tmp_path)
        assert run.code == 2, args
        assert run.err.strip().startswith(f"scanner: error: {pack}:4: tok.filters: unknown filter nope (known: "), args
        assert "internal error" not in run.err and len(run.err.strip().splitlines()) == 1


def test_unknown_only_is_a_usage_error(cli, tmp_path):
    run = cli("scan", "--only", "no-such-rule", cwd=tmp_path)
    assert run.code == 2 and "unknown rule id or pack name: no-such-rule" in run.err


def test_rules_list_and_show(cli, tmp_path):
    run = cli("rules", "list", "--rules", str(MINIMAL_PACK), cwd=tmp_path)
    assert run.code == 0 and "test-github-token" in run.out and "minimal" in run.out
    run = cli("rules", "show", "test-github-token", "--rules", str(MINIMAL_PACK), cwd=tmp_path)
    assert run.code == 0 and "  remediation:" in run.out and "  examples:" in run.out  # the rule as YAML
    assert cli("rules", "show", "nope", cwd=tmp_path).code == 2


def test_python_dash_m_is_the_same_program(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "scanner", "--version"], capture_output=True, text=True, cwd=REPO)
    assert proc.returncode == 0 and proc.stdout.startswith("scanner ")


def test_rules_test_runs_every_builtin_example(cli, tmp_path):
    run = cli("rules", "test", cwd=tmp_path)
    assert run.code == 0, run.out
    assert " 0 failed" in run.out


def test_rules_test_fails_on_a_broken_example(cli, tmp_path):
    pack = tmp_path / "p.yaml"
    pack.write_text(MINIMAL_PACK.read_text().replace("good: [\"token = os.environ['GH']\"]",
                                                     f"good: [\"token = {FAKE_GH}\"]"))
    run = cli("rules", "test", str(pack), cwd=tmp_path)
    assert run.code == 1
    assert "test-github-token: good example #1: expected no finding, got 1" in run.out


def test_helm_chart_without_helm_is_reported_not_silently_skipped(cli, tmp_path, monkeypatch):
    import scanner.documents.kubernetes as kubernetes

    monkeypatch.setattr(kubernetes.shutil, "which", lambda name: None)
    templates = tmp_path / "chart" / "templates"
    templates.mkdir(parents=True)
    (tmp_path / "chart" / "Chart.yaml").write_text("apiVersion: v2\nname: web\nversion: 0.1.0\n")
    (templates / "deploy.yaml").write_text(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {{ .Release.Name }}\n"
        "spec:\n  template:\n    spec:\n      containers:\n      - name: app\n        image: {{ .Values.image }}\n"
    )
    run = cli("scan", ".", cwd=tmp_path)
    assert run.code == 0
    assert "chart/Chart.yaml: Helm chart 'web' not rendered (helm is not on PATH)" in run.err
    assert "helm template" in run.err


def test_output_to_a_device_or_through_a_symlink_is_written_not_replaced(cli, tmp_path):
    tree = _tree(tmp_path)
    fifo_like = tmp_path / "devnull-link"
    fifo_like.symlink_to(os.devnull)
    run = cli("scan", "app.py", "--rules", str(MINIMAL_PACK), "--only", "minimal", "-o", str(fifo_like), cwd=tree)
    assert run.code == 1
    assert stat.S_ISCHR(os.stat(os.devnull).st_mode), "the scanner replaced /dev/null with a file"
    report = tmp_path / "reports" / "scan.txt"
    report.parent.mkdir()
    report.write_text("old")
    link = tmp_path / "latest.txt"
    link.symlink_to(report)
    cli("scan", "app.py", "--rules", str(MINIMAL_PACK), "--only", "minimal", "-o", str(link), cwd=tree)
    assert link.is_symlink() and "test-github-token" in report.read_text()


def test_readme_rule_pack_example_loads_and_its_examples_pass(cli, tmp_path):
    readme = (REPO / "README.md").read_text()
    section = readme.split("## Rule packs", 1)[1]
    example = section.split("```yaml\n", 1)[1].split("```", 1)[0]
    pack = tmp_path / "acme.yaml"
    pack.write_text(example)
    run = cli("rules", "test", str(pack), cwd=tmp_path)
    assert run.code == 0, run.out
    assert "2 passed, 0 failed (1 rule)" in run.out
