"""Time from SIGINT/SIGTERM to exit, at seeded random instants of a real history scan.

    python benchmarks/interrupts.py [--commits 3000] [--instants 100] [--seed 1] [--repo PATH]

Builds a history with `git fast-import` (tests/test_interrupts.py: ~12 KB files, a fake token every
40th commit) unless --repo names one, times one whole `scanner scan . --history`, then starts it
again and again in its own process group and sends SIGINT or SIGTERM, to the process or to the
group, at a random instant of the run. Prints, per outcome, how many runs and the time from the
signal to the exit (median, worst), and any run that did not end with exit 130 (or its normal
result, when the signal came after the end), printed a traceback or left a process in its group.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.test_interrupts import STARTUP, _group_members, _start, fast_import_history  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--commits", type=int, default=3000)
    parser.add_argument("--instants", type=int, default=100)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--repo", help="scan this repository instead of a generated one")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="scanner-bench-interrupts-") as tmp:
        repo = Path(args.repo) if args.repo else Path(tmp) / "repo"
        if not args.repo:
            fast_import_history(repo, args.commits)
        env = dict(os.environ, NO_COLOR="1", PYTHONPATH=str(ROOT), SCANNER_CACHE_DIR=str(Path(tmp) / "cache"))
        started = time.monotonic()
        whole = _start(repo, env)
        whole.communicate()
        full = time.monotonic() - started
        print(f"whole scan: {full:.2f} s, exit {whole.returncode}")
        rng = random.Random(args.seed)
        times: dict[str, list[float]] = {"interrupted": [], "finished": []}
        bad = []
        for _ in range(args.instants):
            at = rng.uniform(STARTUP, full * 1.1)
            sig = rng.choice([signal.SIGINT, signal.SIGTERM])
            group = rng.random() < 0.5
            proc = _start(repo, env)
            time.sleep(at)
            sent = time.monotonic()
            try:
                (os.killpg if group else os.kill)(proc.pid, sig)
            except ProcessLookupError:
                pass
            try:
                _, err = proc.communicate(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.communicate()
                bad.append(f"hung: {sig.name} at {at:.2f}s")
                continue
            took = time.monotonic() - sent
            left = _group_members(proc.pid)
            outcome = "interrupted" if proc.returncode == 130 else "finished"
            times[outcome].append(took)
            if (proc.returncode not in (130, whole.returncode)) or b"Traceback" in err or left:
                bad.append(f"{sig.name} to {'group' if group else 'process'} at {at:.2f}s: exit {proc.returncode}, "
                           f"left {left}, {err.decode(errors='replace')[-200:]}")  # fmt: skip
        for outcome, values in times.items():
            if values:
                print(f"{outcome}: {len(values)} runs, time to exit median {statistics.median(values):.3f} s, "
                      f"worst {max(values):.3f} s")  # fmt: skip
        for line in bad:
            print(f"BAD {line}")
        return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
