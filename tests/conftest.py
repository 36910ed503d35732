"""Shared helpers, and the environment every test runs in: the same in CI and on a developer's machine.

- The scanner's on-disk cache (rules, prefilter, listings) is a folder of this run's own, removed at
  the end: never the user's ~/.cache/scanner, never another pytest run's (two runs side by side).
- git reads a configuration of the suite's (GIT_CONFIG_GLOBAL): an identity, `main` as the first
  branch, no signing; not the user's ~/.gitconfig nor the system's.
- Variables the scanner, rich or git read and that change what a test sees are removed: SCANNER_*
  (but SCANNER_TEST_*, which steer the suite), CI's (CI, CI_*, JOB_COMPLETION_INDEX: shards, GitLab
  reports), pre-commit's, colour and terminal size (NO_COLOR, FORCE_COLOR, COLUMNS...), GIT_*.
- Hypothesis runs the same examples every time (`derandomize`, no example database) and no deadline;
  `--hypothesis-profile=explore` draws new ones.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from typing import NamedTuple

import pytest
from hypothesis import HealthCheck, settings
from hypothesis.errors import InvalidArgument

from scanner.cli import main

REPO = Path(__file__).resolve().parent.parent
FIXTURES = REPO / "fixtures"
MINIMAL_PACK = FIXTURES / "packs" / "minimal.yaml"
# A well-formed but fake GitHub token (ghp_ + 36 base62 characters).
FAKE_GH = "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"

try:
    settings.get_profile("explore")
except InvalidArgument:  # the first import only: test modules import this file again
    settings.register_profile("explore", deadline=None, suppress_health_check=[HealthCheck.too_slow])
    settings.register_profile("default", derandomize=True, database=None, deadline=None,
                              suppress_health_check=[HealthCheck.too_slow])  # fmt: skip
    settings.load_profile("default")  # --hypothesis-profile=NAME loads another one after this

_STRIPPED = ("CI", "JOB_COMPLETION_INDEX", "NO_COLOR", "FORCE_COLOR", "CLICOLOR", "CLICOLOR_FORCE", "TTY_COMPATIBLE",
             "TTY_INTERACTIVE", "COLUMNS", "LINES", "XDG_CACHE_HOME")  # fmt: skip
_STRIPPED_PREFIXES = ("SCANNER_", "CI_", "PRE_COMMIT", "GIT_")
GITCONFIG = """\
[user]
\tname = Test User
\temail = test@example.invalid
[init]
\tdefaultBranch = main
[commit]
\tgpgsign = false
[tag]
\tgpgsign = false
"""
_private: list[str] = []


def pytest_configure(config: pytest.Config) -> None:  # noqa: ARG001 - hook signature
    for name in list(os.environ):
        if name in _STRIPPED or (name.startswith(_STRIPPED_PREFIXES) and not name.startswith("SCANNER_TEST_")):
            del os.environ[name]
    private = tempfile.mkdtemp(prefix="scanner-tests-")
    _private.append(private)
    os.environ["SCANNER_CACHE_DIR"] = os.path.join(private, "cache")
    gitconfig = Path(private, "gitconfig")
    gitconfig.write_text(GITCONFIG)
    os.environ["GIT_CONFIG_GLOBAL"] = str(gitconfig)
    os.environ["GIT_CONFIG_NOSYSTEM"] = "1"


def pytest_unconfigure(config: pytest.Config) -> None:  # noqa: ARG001 - hook signature
    while _private:
        shutil.rmtree(_private.pop(), ignore_errors=True)


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


def handlers_installed(pid: int) -> bool:
    """The scanner's SIGINT/SIGTERM handlers are in place in process `pid` (Linux: SigCgt in
    /proc/PID/status names the signals with a handler; Python catches SIGINT from its start, SIGTERM
    only once scanner.interrupts installed its handlers, SIGINT's first)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    caught = next((int(line.split()[1], 16) for line in status.splitlines() if line.startswith("SigCgt:")), 0)
    return bool(caught & (1 << (signal.SIGTERM - 1)))


def wait_for_handlers(proc: subprocess.Popen, timeout: float = 60.0) -> bool:
    """Wait until `proc` handles SIGINT and SIGTERM (True) or has ended (False); polls every ms."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if handlers_installed(proc.pid):
            return True
        if proc.poll() is not None:
            return False
        time.sleep(0.001)
    raise AssertionError(f"the scanner (pid {proc.pid}) did not install its signal handlers in {timeout:.0f} s")
