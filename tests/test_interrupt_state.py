"""Ctrl-C bookkeeping in one process: a run does not inherit an earlier run's interrupt, and a signal
swallowed during start-up still ends the program with 130."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator

import pytest

from scanner import interrupts
from scanner.cli import main
from tests.conftest import FAKE_GH, REPO

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")


@pytest.fixture
def handlers() -> Iterator[None]:
    """The scanner's handlers for the test, pytest's again after it."""
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
