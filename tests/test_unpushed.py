"""`scanner scan --unpushed [REF]` and the pre-push hook without a known range: the commits no remote has."""

from __future__ import annotations

import subprocess
from pathlib import Path

from scanner import hook
from tests.conftest import FAKE_GH, git


def _repo_with_remote(tmp_path: Path) -> tuple[Path, Path]:
    remote = tmp_path / "remote.git"
    subprocess.run(["git", "init", "-q", "--bare", str(remote)], check=True)
    repo = tmp_path / "app"
    repo.mkdir()
    git(repo, "init", "-q")
    git(repo, "remote", "add", "origin", str(remote))
    (repo / "README.md").write_text("# app\n")
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "init")
    return repo, remote


def _commit(repo: Path, name: str, text: str | None, message: str) -> None:
    if text is None:
        git(repo, "rm", "-q", name)
    else:
        (repo / name).write_text(text)
        git(repo, "add", name)
    git(repo, "commit", "-qm", message)


def test_unpushed_scans_every_commit_no_remote_has(cli, tmp_path: Path) -> None:
    repo, _ = _repo_with_remote(tmp_path)
    _commit(repo, "old.env", f"GH_TOKEN={FAKE_GH}\n", "old secret")
    _commit(repo, "old.env", None, "removed")
    run = cli("scan", "--unpushed", "--format", "json", cwd=repo)
    assert run.code == 1, run.err
    assert '"path": "old.env"' in run.out and '"github-token"' in run.out
    git(repo, "push", "-q", "origin", "HEAD:main")  # now the remote has them: nothing left to push
    git(repo, "fetch", "-q", "origin")
    run = cli("scan", "--unpushed", cwd=repo)
    assert run.code == 0, run.out + run.err
    _commit(repo, "new.sh", f"curl -H 'Authorization: token {FAKE_GH}' https://api.github.com/user\n", "new")
    run = cli("scan", "--unpushed", "HEAD", "--format", "json", cwd=repo)
    assert run.code == 1 and '"path": "new.sh"' in run.out and '"path": "old.env"' not in run.out


def test_pre_push_hook_with_zero_from_ref_scans_unpushed_commits(monkeypatch, capsys, tmp_path: Path) -> None:
    repo, _ = _repo_with_remote(tmp_path)
    _commit(repo, "deploy.env", f"GH_TOKEN={FAKE_GH}\n", "secret")
    _commit(repo, "deploy.env", None, "gone")
    monkeypatch.chdir(repo)
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setenv("PRE_COMMIT_FROM_REF", "0" * 40)
    monkeypatch.setenv("PRE_COMMIT_TO_REF", git(repo, "rev-parse", "HEAD").strip())
    assert hook.main(["pre-push"]) == 1
    out = capsys.readouterr()
    assert "deploy.env" in out.out and "github-token" in out.out and FAKE_GH not in out.out + out.err
    assert "no remote has yet" in out.err


def test_unpushed_cannot_be_combined_and_bad_ref_is_one_line(cli, tmp_path: Path) -> None:
    repo, _ = _repo_with_remote(tmp_path)
    run = cli("scan", "--unpushed", "--history", cwd=repo)
    assert run.code == 2 and "cannot be combined" in run.err
    run = cli("scan", "--unpushed", "no-such-branch", cwd=repo)
    assert run.code == 2 and "no-such-branch" in run.err and len(run.err.strip().splitlines()) == 1
