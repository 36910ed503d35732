from __future__ import annotations

import subprocess
from pathlib import Path
from typing import NamedTuple

import pytest

from scanner.cli import main

REPO = Path(__file__).resolve().parent.parent
FIXTURES = REPO / "fixtures"
MINIMAL_PACK = FIXTURES / "packs" / "minimal.yaml"
# A well-formed but fake GitHub token (ghp_ + 36 base62 characters).
FAKE_GH = "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"


class Run(NamedTuple):
    code: int
    out: str
    err: str


@pytest.fixture
def cli(capsys, monkeypatch):
    """Run `scanner ARGS` in-process, in a given directory; returns (exit code, stdout, stderr)."""

    def run(*args: str, cwd: Path | None = None) -> Run:
        if cwd is not None:
            monkeypatch.chdir(cwd)
        monkeypatch.setenv("NO_COLOR", "1")
        code = main(list(args))
        captured = capsys.readouterr()
        return Run(code, captured.out, captured.err)

    return run


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-c", "user.name=Test User", "-c", "user.email=test@example.invalid", "-c", "init.defaultBranch=main",
         "-c", "commit.gpgsign=false", *args],
        cwd=cwd, check=True, capture_output=True, text=True,
    ).stdout
