"""Configuration: .scanner.yaml or [tool.scanner], validated with file:line errors; flags override it."""

from __future__ import annotations

import json
import os

import pytest

from tests.conftest import FAKE_GH, MINIMAL_PACK

OTHER_GH = "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"


def _repo(tmp_path, config: str, name: str = ".scanner.yaml"):
    (tmp_path / ".git").mkdir()  # the repository root, for config discovery
    (tmp_path / name).write_text(config)
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "app.py").write_text(f'TOKEN = "{FAKE_GH}"\n')
    return tmp_path


BASE = f"rules: [{MINIMAL_PACK}]\nonly: [minimal]\n"


def test_yaml_config_sets_severity_and_fail_on(cli, tmp_path):
    tree = _repo(tmp_path, BASE + "severity: {test-github-token: medium}\nfail-on: high\n")
    run = cli("scan", "-f", "json", cwd=tree)
    assert run.code == 0, run.err  # medium is below fail-on: high
    (finding,) = json.loads(run.out)["findings"]
    assert (finding["rule"], finding["severity"], finding["path"], finding["line"]) == (
        "test-github-token", "medium", "src/app.py", 1)
    assert cli("scan", "--fail-on", "medium", cwd=tree).code == 1  # the flag overrides the file


def test_config_found_from_a_subfolder_and_exclude_applies(cli, tmp_path):
    tree = _repo(tmp_path, BASE + "exclude: ['src/generated/']\n")
    (tree / "src" / "generated").mkdir()
    (tree / "src" / "generated" / "x.py").write_text(f'T = "{OTHER_GH}"\n')
    run = cli("scan", "-f", "json", str(tree / "src"), cwd=tree / "src")
    paths = [f["path"] for f in json.loads(run.out)["findings"]]
    assert run.code == 1 and paths == ["app.py"], (paths, run.err)


def test_pyproject_tool_scanner(cli, tmp_path):
    tree = _repo(tmp_path, f'[project]\nname = "x"\n\n[tool.scanner]\nrules = ["{MINIMAL_PACK}"]\nonly = "minimal"\n'
                 '"fail-on" = "critical"\n', name="pyproject.toml")  # fmt: skip
    assert cli("scan", cwd=tree).code == 0  # high < critical
    assert cli("scan", "--fail-on", "low", cwd=tree).code == 1


def test_rules_paths_are_relative_to_the_config_file(cli, tmp_path):
    tree = _repo(tmp_path, "rules: [packs/minimal.yaml]\nonly: minimal\n")
    (tree / "packs").mkdir()
    (tree / "packs" / "minimal.yaml").write_text(MINIMAL_PACK.read_text())
    run = cli("scan", "--exclude", "packs/", "-f", "json", str(tree / "src"), cwd=tree / "src")
    assert run.code == 1, run.err
    assert [f["rule"] for f in json.loads(run.out)["findings"]] == ["test-github-token"]


def test_secrets_allow_and_stopwords(cli, tmp_path):
    tree = _repo(tmp_path, BASE + "secrets:\n  allow: ['^ghp_aB3d']\n")
    (tree / "src" / "other.py").write_text(f'T = "{OTHER_GH}"\n')
    run = cli("scan", "-f", "json", cwd=tree)
    assert [f["path"] for f in json.loads(run.out)["findings"]] == ["src/other.py"]
    (tree / ".scanner.yaml").write_text(BASE + "secrets:\n  stopwords: [E5GH7]\n")  # case-insensitive
    run = cli("scan", cwd=tree)
    assert run.code == 0, run.out


def test_enable_turns_on_an_opt_in_rule(cli, tmp_path):
    pack = tmp_path / "optin.yaml"
    pack.write_text(MINIMAL_PACK.read_text().replace("pack: minimal", "pack: optin")
                    .replace("id: test-github-token", "id: optin-token\n    opt_in: true"))  # fmt: skip
    (tmp_path / "repo").mkdir()
    tree = _repo(tmp_path / "repo", f"rules: ['{pack}']\nonly: [optin]\n")
    assert cli("scan", cwd=tree).code == 0  # opt-in: off even when its pack is selected
    (tree / ".scanner.yaml").write_text(f"rules: ['{pack}']\nonly: [optin]\nenable: [optin-token]\n")
    run = cli("scan", cwd=tree)
    assert run.code == 1 and "optin-token" in run.out


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("fail-on: hihg\n", ".scanner.yaml:1: fail-on: 'hihg' is not one of"),
        ("secrets:\n  allow-encrypted: 'no'\n", ".scanner.yaml:2: secrets.allow-encrypted: 'no' is not of type 'boolean'"),
        ("exclude: [a]\nsevrity: {}\n", ".scanner.yaml:1: (top level): Additional properties are not allowed ('sevrity'"),
        ("secrets:\n  allow:\n    - ok\n    - '(?=x)'\n", ".scanner.yaml:4: secrets.allow[1]: not a valid RE2 pattern"),
        ("severity:\n  no-such-rule: high\n", ".scanner.yaml:3: severity.no-such-rule: no rule with this id"),
        ("only: [minimal\n", ".scanner.yaml:"),
    ],
)
def test_bad_config_is_one_line_naming_file_line_and_field(cli, tmp_path, text, expected):
    tree = _repo(tmp_path, f"rules: [{MINIMAL_PACK}]\n" + text if "no-such" in text else text)
    run = cli("scan", cwd=tree)
    assert run.code == 2
    lines = run.err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in run.err
    assert expected in lines[0], lines[0]


def test_explicit_config_overrides_discovery_and_missing_file_is_exit_2(cli, tmp_path):
    tree = _repo(tmp_path, "fail-on: [broken\n")
    (tmp_path / "ci.yaml").write_text(BASE)
    assert cli("scan", "--config", str(tmp_path / "ci.yaml"), cwd=tree).code == 1
    run = cli("scan", "--config", "nope.yaml", cwd=tree)
    assert run.code == 2 and "nope.yaml: no such configuration file" in run.err


def test_policy_options_reach_the_engine(tmp_path, monkeypatch):
    from scanner import config

    path = tmp_path / ".scanner.yaml"
    path.write_text("dockerfile:\n  allowed-registries: [registry.example.com]\nkubernetes:\n  cluster-complete: true\n")
    assert dict(config.policy_options(config.load(path))) == {
        "dockerfile.allowed-registries": ("registry.example.com",),
        "kubernetes.cluster-complete": True,
    }
    seen = {}
    import scanner.engines.policy as policy

    real = policy.run
    monkeypatch.setattr(policy, "run", lambda rules, docs, options, *rest: seen.update(options) or real(rules, docs, options, *rest))
    (tmp_path / "Dockerfile").write_text("FROM docker.io/library/python:3.12\nUSER app\n")
    from scanner.cli import main

    monkeypatch.chdir(tmp_path)
    main(["scan", "-q", "--exit-zero"])
    assert seen.get("dockerfile.allowed-registries") == ("registry.example.com",)
    assert seen.get("kubernetes.cluster-complete") is True


def test_config_show_prints_the_effective_configuration(cli, tmp_path):
    yaml = pytest.importorskip("yaml")
    tree = _repo(tmp_path, BASE + "fail-on: high\nsecrets: {allow-encrypted: false, stopwords: [example]}\n")
    run = cli("config", "show", cwd=tree)
    assert run.code == 0, run.err
    assert run.out.startswith(f"# effective configuration; file: {tree / '.scanner.yaml'}")
    shown = yaml.safe_load(run.out)
    assert shown["fail-on"] == "high" and shown["only"] == ["minimal"]
    assert shown["rules"] == [str(MINIMAL_PACK)]
    assert shown["secrets"] == {"allow-encrypted": False, "allow": [], "stopwords": ["example"]}


def test_vouched_nonroot_base_image_from_config(cli, tmp_path):
    (tmp_path / "Dockerfile").write_text(
        "FROM gcr.io/distroless/static:nonroot@sha256:" + "a" * 64 + "\nCOPY app /app\nENTRYPOINT [\"/app\"]\n"
    )

    def rules() -> set[str]:
        return {f["rule"] for f in json.loads(cli("scan", "-f", "json", cwd=tmp_path).out)["findings"]}

    assert "dockerfile-root-user" in rules()
    (tmp_path / ".scanner.yaml").write_text("dockerfile:\n  nonroot-base-images: [gcr.io/distroless/static:nonroot]\n")
    assert "dockerfile-root-user" not in rules()


def test_config_dev_null_means_no_configuration(cli, tmp_path):
    (tmp_path / ".scanner.yaml").write_text("skip: [test-github-token]\n")
    (tmp_path / "a.env").write_text(f"TOKEN={FAKE_GH}\n")
    args = ("scan", "--rules", str(MINIMAL_PACK), "--only", "minimal")
    assert cli(*args, cwd=tmp_path).code == 0  # the repo's config skips the rule
    assert cli(*args, "--config", os.devnull, cwd=tmp_path).code == 1  # no configuration: it runs
