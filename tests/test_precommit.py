"""The pre-commit hooks, as a user gets them: `pre-commit try-repo`, `pre-commit install` + `git commit`
with the README's snippet, and the pre-push stage.

pre-commit installs the hook's package into a fresh virtualenv: `try-repo` does so on every call (it
uses a throw-away store), `install`/`run` once per PRE_COMMIT_HOME (shared by the module). To keep
the module fast, pip is pointed at this interpreter's site-packages for the dependencies, so only the
project itself is built and installed; SCANNER_TEST_FULL_HOOK_ENV=1 lets pip fetch everything.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import FAKE_GH, REPO, git

PRE_COMMIT = [sys.executable, "-m", "pre_commit"]
pytest.importorskip("pre_commit")
if shutil.which("git") is None:  # pragma: no cover
    pytest.skip("git is needed", allow_module_level=True)

SHIPPED = ("scanner", "policies", "pyproject.toml", "README.md", ".pre-commit-hooks.yaml")


def _pre_commit(cwd: Path, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([*PRE_COMMIT, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def hooks(tmp_path_factory):
    """A committed copy of this project (what a user's `rev:` points at) and a pre-commit home."""
    project = tmp_path_factory.mktemp("project")
    for name in SHIPPED:
        source = REPO / name
        if source.is_dir():
            shutil.copytree(source, project / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(source, project / name)
    git(project, "init", "-q")
    git(project, "add", ".")
    git(project, "commit", "-qm", "scanner")
    rev = git(project, "rev-parse", "HEAD").strip()
    own = ("GIT_CONFIG_GLOBAL", "GIT_CONFIG_NOSYSTEM")  # the suite's git configuration (conftest), not the user's
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PRE_COMMIT", "GIT_", "PYTHONPATH")) or k in own}
    if not os.environ.get("SCANNER_TEST_FULL_HOOK_ENV"):
        import sysconfig

        paths = dict.fromkeys([sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]])
        env.update(PYTHONPATH=os.pathsep.join(paths), PIP_NO_BUILD_ISOLATION="0", PIP_NO_INDEX="1")
    env.update(PRE_COMMIT_HOME=str(tmp_path_factory.mktemp("pre-commit-home")), NO_COLOR="1",
               GIT_AUTHOR_NAME="T", GIT_AUTHOR_EMAIL="t@example.invalid", GIT_COMMITTER_NAME="T",
               GIT_COMMITTER_EMAIL="t@example.invalid")  # fmt: skip
    return project, rev, env


def _user_repo(path: Path) -> Path:
    path.mkdir()
    git(path, "init", "-q")
    (path / "README.md").write_text("# app\n")
    git(path, "add", "README.md")
    git(path, "commit", "-qm", "init")
    return path


def test_manifest_validates():
    run = subprocess.run([*PRE_COMMIT, "validate-manifest", str(REPO / ".pre-commit-hooks.yaml")],
                         capture_output=True, text=True)  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr


def test_try_repo_staged_secret_blocks_with_file_line_rule_redacted(hooks, tmp_path):
    project, rev, env = hooks
    repo = _user_repo(tmp_path / "app")
    (repo / "settings.py").write_text(f'import os\n\nGITHUB_TOKEN = "{FAKE_GH}"\n')
    git(repo, "add", "settings.py")
    (repo / "settings.py").write_text("import os\n\nGITHUB_TOKEN = os.environ['GH']\n")  # unstaged fix: not committed
    blocked = _pre_commit(repo, "try-repo", str(project), "scanner", "--ref", rev, env=env)
    out = blocked.stdout + blocked.stderr
    assert blocked.returncode == 1, out
    assert "settings.py" in out and "3:17" in out and "github-token" in out
    assert FAKE_GH not in out and FAKE_GH[4:16] not in out


def test_readme_snippet_installed_hook_blocks_git_commit(hooks, tmp_path):
    project, rev, env = hooks
    repo = _user_repo(tmp_path / "app")
    snippet = (REPO / "README.md").read_text().split("<!-- pre-commit-config -->")[1].split("```yaml\n")[1].split("```")[0]
    assert "id: scanner" in snippet
    config = snippet.replace("https://github.com/scanner-project/scanner", str(project))
    config = "\n".join(ln if "rev:" not in ln else ln.split("rev:")[0] + f"rev: {rev}" for ln in config.splitlines())
    (repo / ".pre-commit-config.yaml").write_text(config + "\n")
    git(repo, "add", ".pre-commit-config.yaml")
    install = _pre_commit(repo, "install", "--hook-type", "pre-commit", "--hook-type", "pre-push", env=env)
    assert install.returncode == 0, install.stderr
    (repo / "deploy.env").write_text(f"REGION=eu-west-1\nGH_TOKEN={FAKE_GH}\n")
    git(repo, "add", "deploy.env")
    commit = subprocess.run(["git", "commit", "-m", "add deploy env"], cwd=repo, env=env, capture_output=True, text=True)
    out = commit.stdout + commit.stderr
    assert commit.returncode != 0, out
    assert "deploy.env" in out and "2:" in out and "github-token" in out and FAKE_GH not in out
    assert git(repo, "rev-list", "--count", "HEAD").strip() == "1"  # nothing was committed

    git(repo, "rm", "-q", "--cached", "deploy.env")
    (repo / "deploy.env").write_text("REGION=eu-west-1\nGH_TOKEN=${GH_TOKEN}\n")
    git(repo, "add", "deploy.env")
    commit = subprocess.run(["git", "commit", "-m", "add deploy env"], cwd=repo, env=env, capture_output=True, text=True)
    assert commit.returncode == 0, commit.stdout + commit.stderr


def test_pre_push_scans_the_pushed_range(hooks, tmp_path):
    project, rev, env = hooks
    repo = _user_repo(tmp_path / "app")
    (repo / ".pre-commit-config.yaml").write_text(
        f"repos:\n  - repo: {project}\n    rev: {rev}\n    hooks:\n      - id: scanner-pre-push\n"
    )
    git(repo, "add", ".pre-commit-config.yaml")
    git(repo, "commit", "-qm", "hooks")
    pushed = git(repo, "rev-parse", "HEAD").strip()
    (repo / "old.py").write_text("X = 1\n")
    git(repo, "add", "old.py")
    git(repo, "commit", "-qm", "clean")
    args = ("run", "--hook-stage", "pre-push", "--from-ref", pushed)
    run = _pre_commit(repo, *args, "--to-ref", "HEAD", env=env)
    assert run.returncode == 0, run.stdout + run.stderr
    (repo / "ci.sh").write_text(f"#!/bin/sh\ncurl -H 'Authorization: token {FAKE_GH}' https://api.github.com/user\n")
    git(repo, "add", "ci.sh")
    git(repo, "commit", "-qm", "ci")
    git(repo, "rm", "-q", "ci.sh")
    git(repo, "commit", "-qm", "oops, remove it")  # deleted at the tip, still in the pushed commits
    run = _pre_commit(repo, *args, "--to-ref", "HEAD", env=env)
    out = run.stdout + run.stderr
    assert run.returncode == 1, out
    assert "ci.sh" in out and "github-token" in out and FAKE_GH not in out


def test_first_push_to_an_empty_remote_is_blocked_by_a_deleted_secret(hooks, tmp_path):
    """No remote has anything yet: every commit being pushed is scanned, not only the working tree."""
    project, rev, env = hooks
    remote = tmp_path / "remote.git"
    subprocess.run(["git", "init", "-q", "--bare", str(remote)], check=True)
    repo = _user_repo(tmp_path / "app")
    git(repo, "remote", "add", "origin", str(remote))
    (repo / ".pre-commit-config.yaml").write_text(
        f"repos:\n  - repo: {project}\n    rev: {rev}\n    hooks:\n      - id: scanner-pre-push\n"
    )
    git(repo, "add", ".pre-commit-config.yaml")
    git(repo, "commit", "-qm", "hooks")
    assert _pre_commit(repo, "install", "--hook-type", "pre-push", env=env).returncode == 0
    (repo / "deploy.env").write_text(f"REGION=eu-west-1\nGH_TOKEN={FAKE_GH}\n")
    git(repo, "add", "deploy.env")
    git(repo, "commit", "-qm", "deploy env")
    git(repo, "rm", "-q", "deploy.env")
    git(repo, "commit", "-qm", "remove it again")  # clean at the tip and in the working tree
    push = subprocess.run(["git", "push", "-q", "origin", "HEAD:main"], cwd=repo, env=env, capture_output=True, text=True)
    out = push.stdout + push.stderr
    assert push.returncode != 0, out
    assert "deploy.env" in out and "github-token" in out and FAKE_GH not in out
    assert "no remote has yet" in out  # the hook is verbose: pre-commit shows what it scanned
    assert subprocess.run(["git", "rev-parse", "-q", "--verify", "refs/heads/main"], cwd=remote).returncode != 0
