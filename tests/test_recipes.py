"""The recipes in docs/recipes (issue 18): they parse, the Kubernetes manifests validate against the
Kubernetes schema offline, and every `scanner` command they run is accepted by the CLI and does what
the recipe says when run as the engine would run it (N shards on a small repository, then merge)."""

from __future__ import annotations

import glob
import json
import os
import re
import shlex
import subprocess
from pathlib import Path

import pytest
import yaml

from scanner.cli import build_parser
from tests.conftest import REPO, git
from tests.test_history import AWS, GH

RECIPES = REPO / "docs" / "recipes"
GITHUB = RECIPES / "github-actions-sharded-scan.yml"
GITLAB = RECIPES / "gitlab-ci-sharded-scan.yml"
KUBERNETES = sorted((RECIPES / "kubernetes").glob("*.yaml"))


def _load(path: Path) -> dict:
    doc = yaml.safe_load(path.read_text())
    assert isinstance(doc, dict)
    return doc


def _scanner_lines(lines: list[str]) -> list[str]:
    return [line.strip() for line in lines if line.strip().startswith("scanner ")]


def _accepted(argv: list[str]) -> None:
    """The CLI's parser takes the command as written (an unknown option would exit 2)."""
    args = build_parser().parse_args(argv)
    assert args.command in ("scan", "merge")


@pytest.fixture
def small_repo(tmp_path) -> Path:
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q")
    for n in range(12):
        (repo / f"app{n}.env").write_text(f"GITHUB_TOKEN={GH}\n" if n % 3 == 0 else f"N={n}\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "first")
    (repo / "app0.env").write_text(f"AWS_ACCESS_KEY_ID={AWS}\n")
    git(repo, "commit", "-qam", "second")
    return repo


def _unsharded(repo: Path) -> list[tuple[str, str]]:
    done = _run(["scan", str(repo), "--history", "-f", "json"], repo)
    # not the info notes (the SARIF the recipe wrote quotes AWS's documented example key in a rule's help)
    found = sorted((f["rule"], f["path"]) for f in json.loads(done.stdout)["findings"] if f["severity"] != "info")
    assert len(found) == 5  # the token in four files (one of them edited out later), the AWS key
    return found


def _run(argv: list[str], cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    full = {**os.environ, **(env or {}), "NO_COLOR": "1"}
    return subprocess.run(["python", "-m", "scanner", *argv], cwd=cwd, env=full, capture_output=True, text=True)


def _expand(argv: list[str], cwd: Path) -> list[str]:
    out: list[str] = []
    for arg in argv:
        matches = sorted(glob.glob(arg, root_dir=cwd)) if "*" in arg else []
        out.extend(matches or [arg])
    return out


def test_github_actions_recipe(small_repo):
    doc = _load(GITHUB)
    scan, merge = doc["jobs"]["scan"], doc["jobs"]["merge"]
    shards = scan["strategy"]["matrix"]["shard"]
    assert merge["needs"] == "scan" and merge["permissions"]["security-events"] == "write"
    assert any(step.get("uses", "").startswith("github/codeql-action/upload-sarif") for step in merge["steps"])
    checkout = next(s for s in scan["steps"] if s.get("uses", "").startswith("actions/checkout"))
    assert checkout["with"]["fetch-depth"] == 0  # the history scan needs every commit
    # the merge reads the repository's .scanner.yaml (its baseline and fail-on): it checks out too
    assert merge["steps"][0]["uses"].startswith("actions/checkout")
    [scan_cmd] = _scanner_lines([s.get("run", "") for s in scan["steps"]])
    merges = _scanner_lines([s.get("run", "") for s in merge["steps"]])
    assert f"--shard ${{{{ matrix.shard }}}}/{len(shards)}" in scan_cmd
    (small_repo / "parts").mkdir()
    for k in shards:  # as the matrix runs it, then the merge job with the artifacts in parts/
        argv = shlex.split(scan_cmd.replace("${{ matrix.shard }}", str(k)))[1:]
        _accepted(argv)
        done = _run(argv, small_repo)
        assert done.returncode == 0, done.stderr  # --exit-zero: a shard never decides
        out = argv[argv.index("--output") + 1]
        (small_repo / out).rename(small_repo / "parts" / out)
    sarif_cmd, verdict_cmd = merges
    argv = _expand(shlex.split(sarif_cmd)[1:], small_repo)
    _accepted(argv)
    assert _run(argv, small_repo).returncode == 0
    sarif = json.loads((small_repo / "scanner.sarif").read_text())
    results = sarif["runs"][0]["results"]
    expected = _unsharded(small_repo)
    assert sorted((r["ruleId"], r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]) for r in results) == expected
    argv = _expand(shlex.split(verdict_cmd)[1:], small_repo)
    _accepted(argv)
    assert _run(argv, small_repo).returncode == 1  # the AWS key is critical: the merged verdict fails


def test_gitlab_ci_recipe(small_repo):
    doc = _load(GITLAB)
    shard_job, merge_job = doc["scanner-shard"], doc["scanner-merge"]
    count = shard_job["parallel"]
    assert shard_job["variables"]["SCANNER_SHARD_COUNT"] == str(count)
    assert merge_job["needs"][0]["job"] == "scanner-shard" and shard_job["variables"]["GIT_DEPTH"] == "0"
    # included into the user's pipeline: nothing at the top level that would replace or change theirs
    # (an included `stages:` replaces the pipeline's, `variables:` apply to every job), the default stage
    assert not {"stages", "variables", "default"} & set(doc)
    assert doc[".scanner"]["stage"] == "test" and {"stage"}.isdisjoint(shard_job) and {"stage"}.isdisjoint(merge_job)
    [scan_cmd] = _scanner_lines(shard_job["script"])
    for index in range(1, count + 1):  # GitLab sets CI_NODE_INDEX 1..N in each parallel job
        env = {"CI_NODE_INDEX": str(index), "CI_NODE_TOTAL": str(count), **shard_job["variables"]}
        argv = shlex.split(re.sub(r"\$(\w+)", lambda m, env=env: env[m.group(1)], scan_cmd))[1:]
        _accepted(argv)
        done = _run(argv, small_repo, env)
        assert done.returncode == 0, done.stderr
        assert json.loads((small_repo / f"scanner-part-{index}.json").read_text())["shard"]["index"] == index
    *reports, verdict_cmd = _scanner_lines(merge_job["script"])
    for cmd, code in [*((c, 0) for c in reports), (verdict_cmd, 1)]:
        argv = _expand(shlex.split(cmd)[1:], small_repo)
        _accepted(argv)
        done = _run(argv, small_repo)
        assert done.returncode == code, done.stderr
    declared = merge_job["artifacts"]["reports"]
    secrets = json.loads((small_repo / declared["secret_detection"]).read_text())
    # not the info notes: each shard ran in this one folder and saw the earlier shards' reports, whose
    # rule descriptions quote AWS's documented example key
    assert len([v for v in secrets["vulnerabilities"] if v["severity"] != "Info"]) == len(_unsharded(small_repo))
    assert json.loads((small_repo / declared["sast"]).read_text())["vulnerabilities"] == []  # no IaC here


@pytest.mark.parametrize("path", KUBERNETES, ids=lambda p: p.name)
def test_kubernetes_manifests_validate_offline(path):
    kubernetes_validate = pytest.importorskip("kubernetes_validate")
    for doc in yaml.safe_load_all(path.read_text()):
        kubernetes_validate.validate(doc, "1.30", strict=True)  # raises on an invalid or unknown field


def test_kubernetes_indexed_job_and_merge_job_run_the_commands_they_name(small_repo, tmp_path):
    job = _load(RECIPES / "kubernetes" / "indexed-job.yaml")
    merge = _load(RECIPES / "kubernetes" / "merge-job.yaml")
    spec = job["spec"]
    assert spec["completionMode"] == "Indexed" and spec["completions"] == spec["parallelism"]
    [container] = spec["template"]["spec"]["containers"]
    env = {e["name"]: e for e in container["env"]}
    assert env["SCANNER_SHARD_COUNT"]["value"] == str(spec["completions"])
    volume = {v["name"]: v for v in spec["template"]["spec"]["volumes"]}["reports"]
    merge_pod = merge["spec"]["template"]["spec"]
    assert {v["name"]: v for v in merge_pod["volumes"]}["reports"] == volume  # the same claim
    claim = _load(RECIPES / "kubernetes" / "reports-volume.yaml")
    assert volume["persistentVolumeClaim"]["claimName"] == claim["metadata"]["name"]
    # each pod as Kubernetes runs it: JOB_COMPLETION_INDEX set, $(SHARD_INDEX) expanded; the
    # repository URL pointed at a local copy (file://), the shared volume at a folder
    served = tmp_path / "served.git"
    subprocess.run(["git", "clone", "-q", "--bare", str(small_repo), str(served)], check=True)
    reports = tmp_path / "reports"
    reports.mkdir()

    def local(arg: str, index: int) -> str:
        arg = arg.replace("$(SHARD_INDEX)", str(index)).replace("/reports/", f"{reports}/")
        return served.as_uri() if arg.startswith("https://") else arg

    for index in range(spec["completions"]):
        argv = [local(a, index) for a in container["args"]]
        _accepted(argv)
        done = _run(argv, tmp_path, {"JOB_COMPLETION_INDEX": str(index), "SCANNER_SHARD_COUNT": "4"})
        assert done.returncode == 0, done.stderr
    [sarif] = merge_pod["initContainers"]
    [verdict] = merge_pod["containers"]
    for container, code in ((sarif, 0), (verdict, 1)):
        argv = [local(a, 0) for a in container["args"]]
        _accepted(argv)
        done = _run(argv, tmp_path)
        assert done.returncode == code, done.stderr
    merged = json.loads((reports / "merged.json").read_text())
    assert sorted((f["rule"], f["path"]) for f in merged["findings"]) == _unsharded(served)
    assert merged["repository"] == served.as_uri()


def test_recipes_install_this_project_not_the_pypi_package_of_the_same_name():
    """`pip install scanner` gets another project from PyPI (a C string scanner): every recipe
    installs this one the way the README does."""
    readme = (REPO / "README.md").read_text()
    source = re.search(r'pip install "(scanner @ git\+https://[^"]+)"', readme).group(1)
    files = [GITHUB, GITLAB, RECIPES / "kubernetes" / "Containerfile"]
    installs = [line for path in files for line in path.read_text().splitlines() if "pip install" in line]
    assert len(installs) == 4 and all(f'"{source}"' in line for line in installs), installs
