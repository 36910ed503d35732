"""The progress display (issue 16): on a terminal, a scan's phases and counts show on stderr while it
runs and are erased before the report; the report is the same with or without them; nothing shows
when stderr is not a terminal, with --quiet, or for a short scan; Ctrl-C still ends the scan at once
and gives the terminal its cursor back.

The terminal is a real pseudo-terminal (pty) for the scanner's stderr (and stdout, in one test).
SCANNER_PROGRESS_DELAY=0 shows the display at once (the scans here are short);
SCANNER_FORCE_PROGRESS=1 draws it where stderr is not a terminal (the in-process tests)."""

from __future__ import annotations

import fcntl
import os
import pty
import re
import signal
import struct
import subprocess
import sys
import termios
import threading
import time
from pathlib import Path
from typing import NamedTuple

from tests.conftest import FAKE_GH, REPO, git
from tests.test_interrupts import fast_import_history

COLUMNS = 150
ERASE_LINE = b"\x1b[2K"
HIDE_CURSOR, SHOW_CURSOR = b"\x1b[?25l", b"\x1b[?25h"


class Run(NamedTuple):
    code: int
    out: bytes  # stdout (everything, when stdout is the terminal too)
    terminal: bytes  # what the terminal received (b"" when stderr is a pipe)
    err: bytes  # stderr when it is a pipe


def _env(**extra: str) -> dict[str, str]:
    """The environment of a scanner run: no SCANNER_ setting of ours but `extra` (the rules cache
    stays where the in-process runs keep it: warm)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCANNER_") or k == "SCANNER_CACHE_DIR"}
    env.update(PYTHONPATH=str(REPO), TERM="xterm-256color", COLUMNS=str(COLUMNS), NO_COLOR="1", **extra)
    return env


def scanner(args: list[str], cwd: Path, env: dict[str, str], terminal: str = "stderr") -> Run:
    """Run `scanner ARGS` with stderr on a pty (`terminal`: "stderr"), stdout and stderr on the same
    pty ("both"), or no terminal at all ("none")."""
    if terminal == "none":
        proc = subprocess.run([sys.executable, "-m", "scanner", *args], cwd=cwd, env=env, capture_output=True,
                              stdin=subprocess.DEVNULL, timeout=60)  # fmt: skip
        return Run(proc.returncode, proc.stdout, b"", proc.stderr)
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, COLUMNS, 0, 0))
    proc = subprocess.Popen(
        [sys.executable, "-m", "scanner", *args], cwd=cwd, env=env, stdin=subprocess.DEVNULL,
        stdout=slave if terminal == "both" else subprocess.PIPE, stderr=slave,
    )  # fmt: skip
    os.close(slave)
    received = _drain(master)
    out = proc.stdout.read() if proc.stdout is not None else b""
    proc.wait(timeout=60)
    received.join(timeout=10)
    os.close(master)
    screen = b"".join(received.chunks)  # type: ignore[attr-defined]
    return Run(proc.returncode, screen if terminal == "both" else out, screen, b"")


def _drain(master: int) -> threading.Thread:
    """Read the pty as the scanner writes (a full pty would block it) until it is closed."""
    chunks: list[bytes] = []

    def read() -> None:
        while True:
            try:
                data = os.read(master, 1 << 16)
            except OSError:  # EIO: every writer closed it
                return
            if not data:
                return
            chunks.append(data)

    thread = threading.Thread(target=read, daemon=True)
    thread.chunks = chunks  # type: ignore[attr-defined]
    thread.start()
    return thread


def plain(screen: bytes) -> str:
    """What a terminal shows of these bytes, roughly: escape sequences and carriage returns out."""
    text = re.sub(rb"\x1b\[[0-9;?]*[A-Za-z]", b"", screen).replace(b"\r", b"")
    return text.decode("utf-8", "replace")


def same_report(report: bytes) -> str:
    """A text report with its timing (the one thing that differs run to run) masked."""
    return re.sub(r"in \d+(\.\d+)? s\b", "in X s", report.replace(b"\r\n", b"\n").decode())


def _worktree(root: Path) -> Path:
    root.mkdir()
    for n in range(30):
        (root / f"mod{n:02d}.py").write_text(f"VALUE_{n} = {n}\n" * 20)
    (root / "deploy.sh").write_text(f"export GITHUB_TOKEN={FAKE_GH}\n")
    return root


def test_worktree_scan_on_a_terminal_shows_files_scanned_then_erases_it_before_the_same_report(cli, tmp_path):
    root = _worktree(tmp_path / "tree")
    shown = scanner(["scan", ".", "--no-color"], root, _env(SCANNER_PROGRESS_DELAY="0"), terminal="both")
    without = cli("scan", ".", "--no-color", cwd=root)  # stderr is not a terminal: no progress

    assert without.code == shown.code == 1
    assert "scanning files" not in without.err and "\x1b" not in without.err
    drawn = plain(shown.terminal)
    assert "scanning files" in drawn
    assert "31/31 files" in drawn and "MB/s" in drawn
    # the display is erased (and the cursor shown again) before the first byte of the report: what
    # follows the last erase is exactly the report the scan prints without a terminal
    last = shown.terminal.rindex(ERASE_LINE) + len(ERASE_LINE)
    assert SHOW_CURSOR in shown.terminal[: last]
    assert same_report(shown.terminal[last:]) == same_report(without.out.encode())
    assert "github-token" in without.out


def test_history_scan_on_a_terminal_shows_its_phases_with_counts_and_stdout_holds_the_same_report(cli, tmp_path):
    repo = tmp_path / "repo"
    secrets = fast_import_history(repo, 80)
    args = ["scan", "--history", ".", "--jobs", "2"]
    shown = scanner(args, repo, _env(SCANNER_PROGRESS_DELAY="0"), terminal="stderr")
    without = cli(*args, cwd=repo)

    assert without.code == shown.code == 1
    assert same_report(shown.out) == same_report(without.out.encode())
    assert "\x1b" not in without.err and "scanning blobs" not in without.err
    drawn = plain(shown.terminal)
    commits = int(git(repo, "rev-list", "--count", "--all"))
    stored = git(repo, "cat-file", "--batch-all-objects", "--batch-check=%(objecttype)").split()
    blobs = stored.count("blob")  # every one is in the history (fast-import writes no other)
    assert "listing commits" in drawn and f"{commits:,} commits" in drawn
    assert f"{blobs:,}/{blobs:,} blobs" in drawn  # the blobs scanned, all of them by the end
    assert "MB/s" in drawn
    assert "working out provenance" in drawn and "blobs with findings" in drawn
    assert "scanning files" in drawn  # --history scans the work tree too
    assert secrets and "github-token" in shown.out.decode()


def test_a_short_scan_on_a_terminal_draws_nothing(tmp_path):
    root = _worktree(tmp_path / "tree")
    # a delay no short scan reaches, even on a loaded machine (the default, 1 s, can be)
    run = scanner(["scan", "deploy.sh", "mod01.py"], root, _env(SCANNER_PROGRESS_DELAY="60"))
    assert run.code == 1
    assert HIDE_CURSOR not in run.terminal and b"scanning" not in run.terminal
    assert b"github-token" in run.out


def test_progress_of_several_repositories_of_a_shard_and_none_with_quiet(cli, tmp_path, monkeypatch):
    monkeypatch.setenv("SCANNER_FORCE_PROGRESS", "1")  # stderr is pytest's: no terminal
    monkeypatch.setenv("SCANNER_PROGRESS_DELAY", "0")
    repos = []
    for name in ("one", "two"):
        repo = tmp_path / name
        repo.mkdir()
        git(repo, "init", "-q")
        (repo / "env.sh").write_text(f"export GITHUB_TOKEN={FAKE_GH}\n" if name == "two" else "X=1\n")
        git(repo, "add", ".")
        git(repo, "commit", "-qm", "start")
        repos.append(str(repo))
    both = cli("scan", "--history", *repos, "--jobs", "1")
    assert both.code == 1
    drawn = plain(both.err.encode())
    assert "repository 2/2:" in drawn and "two" in drawn and "scanning blobs" in drawn

    shard = cli("scan", "--history", repos[1], "--shard", "1/2", "--format", "json", "--jobs", "1")
    assert shard.code in (0, 1)
    assert "scanning blobs" in plain(shard.err.encode()) and shard.out.lstrip().startswith("{")

    quiet = cli("scan", "--history", repos[1], "--quiet", "--jobs", "1")  # --quiet wins over even this
    assert quiet.code == 1 and quiet.err == ""


def _interrupt_during_the_display(repo: Path) -> tuple[int, float, bytes]:
    """Scan `repo`'s history with the display on a pty, Ctrl-C once it shows; (exit code, seconds from
    the signal to the exit, what the terminal received)."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, COLUMNS, 0, 0))
    proc = subprocess.Popen(
        [sys.executable, "-m", "scanner", "scan", "--history", ".", "--format", "json"], cwd=repo,
        env=_env(SCANNER_PROGRESS_DELAY="0"), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
        stderr=slave, start_new_session=True,
    )  # fmt: skip
    os.close(slave)
    received = _drain(master)
    deadline = time.monotonic() + 60
    while b"listing commits" not in b"".join(received.chunks) and time.monotonic() < deadline:  # type: ignore[attr-defined]
        time.sleep(0.02)
    if proc.poll() is None:  # never signal a process already reaped: its group id may be another's now
        os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C in a terminal does: the whole group
    sent = time.monotonic()
    proc.communicate(timeout=60)
    took = time.monotonic() - sent
    received.join(timeout=10)
    os.close(master)
    return proc.returncode, took, b"".join(received.chunks)  # type: ignore[attr-defined]


def test_ctrl_c_during_the_display_ends_the_scan_and_gives_the_cursor_back(tmp_path):
    for commits in (200, 3000):  # a larger history when the scan ended before the signal
        repo = tmp_path / f"repo-{commits}"
        fast_import_history(repo, commits)
        code, took, screen = _interrupt_during_the_display(repo)
        if code != 1:  # 1: the scan was done before the signal (findings)
            break
    assert code == 130, f"exit {code}: {plain(screen)[-400:]}"
    assert took < 3.0
    assert b"Traceback" not in screen
    after = screen[screen.rindex(HIDE_CURSOR):]
    assert SHOW_CURSOR in after  # the cursor is back
    assert "interrupted; results are incomplete" in plain(after)
