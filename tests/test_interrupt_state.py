"""Ctrl-C bookkeeping in one process: a run does not inherit an earlier run's interrupt, a signal
swallowed during start-up still ends the program with 130, and a signal that arrives while workers
fork (our own pool, and the executor of the work tree scan) is neither lost nor leaves a worker behind.

The fork tests replace os.fork with one that sends SIGINT to the parent just after forking: the
moment when, without interrupts.forking, the KeyboardInterrupt would be raised before the parent has
recorded the child it must end."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from scanner import interrupts, scan, workers
from scanner.cli import main
from tests.conftest import FAKE_GH, REPO

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")


@pytest.fixture
def handlers(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The scanner's handlers for the test, pytest's again after it, and no interrupt left received
    (code that checks `received()` outside a run, scan_history's readers, would raise)."""
    monkeypatch.setitem(interrupts._state, "received", 0)
    previous = interrupts.install()
    try:
        yield
    finally:
        interrupts.restore(previous)


def _interrupt_now() -> None:
    os.kill(os.getpid(), signal.SIGINT)
    for _ in range(1000):  # bytecode: the handler runs here at the latest
        pass


def test_a_run_after_an_interrupted_one_is_not_interrupted(handlers, capsys, tmp_path):
    with pytest.raises(KeyboardInterrupt):
        _interrupt_now()
    assert interrupts.received() == signal.SIGINT
    (tmp_path / "deploy.sh").write_text(f"export GITHUB_TOKEN={FAKE_GH}\n")
    code = main(["scan", str(tmp_path), "--no-color"])  # the handlers are still ours: a new run all the same
    out, err = capsys.readouterr()
    assert code == 1 and "github-token" in out
    assert "interrupted" not in err


SWALLOWED = """
import os, runpy, signal, sys
from scanner import interrupts
interrupts.install()  # what scanner/__init__ does under `python -m scanner`

class Dropped:
    def __del__(self):  # a KeyboardInterrupt raised here is printed as ignored, not raised
        os.kill(os.getpid(), signal.SIGINT)
        for _ in range(1000):
            pass

Dropped()
sys.argv = ["scanner", "scan", "."]
runpy.run_module("scanner", run_name="__main__")
"""


def test_a_signal_swallowed_before_the_cli_starts_still_ends_with_130(tmp_path):
    (tmp_path / "app.py").write_text("X = 1\n")
    env = dict(os.environ, PYTHONPATH=str(REPO))
    done = subprocess.run([sys.executable, "-c", SWALLOWED], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=120)  # fmt: skip
    assert done.returncode == 130, done.stderr
    assert "interrupted; results are incomplete" in done.stderr


@contextlib.contextmanager
def _fork_then_interrupt() -> Iterator[list[int]]:
    """In the block, os.fork sends SIGINT to the parent right after forking; yields the pids forked."""
    real_fork = os.fork
    forked: list[int] = []

    def fork() -> int:
        pid = real_fork()
        if pid:
            forked.append(pid)
            if len(forked) == 1:
                _interrupt_now()
        return pid

    os.fork = fork
    try:
        yield forked
    finally:
        os.fork = real_fork


def _left_running(pids: list[int]) -> list[int]:
    """The pids not yet reaped after a few seconds; those are killed and reaped here."""
    deadline = time.monotonic() + 10
    alive = list(pids)
    while alive and time.monotonic() < deadline:
        alive = [pid for pid in alive if not workers._reaped(pid)]
        time.sleep(0.02)
    for pid in alive:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    return alive


def _double(n: int) -> int:
    return 2 * n


def test_a_signal_while_the_forked_pool_forks_ends_every_worker(handlers):
    with _fork_then_interrupt() as forked, pytest.raises(KeyboardInterrupt), workers.forked_pool(2) as pool:
        list(pool.imap(_double, range(20)))
    assert interrupts.received() == signal.SIGINT  # delivered, once the fork was over
    assert forked and _left_running(forked) == []


def _sizes(batch: list[int]) -> list[scan.ItemResult]:
    return []


def test_a_signal_while_the_executor_forks_ends_every_worker(handlers):
    batches = [[n] for n in range(6)]
    with _fork_then_interrupt() as forked, pytest.raises(KeyboardInterrupt):
        list(scan.map_items(_sizes, batches, (), scan.ScanOptions(jobs=2), parallel=True))
    assert interrupts.received() == signal.SIGINT
    assert forked and _left_running(forked) == []
