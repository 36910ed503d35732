"""What the progress display costs (issue 16): the same scan with the display drawn on a terminal
and without it, side by side, best of N.

    python benchmarks/progress.py                      # both workloads, 5 runs each way
    python benchmarks/progress.py --runs 9 --copies 40 --commits 6000
    python benchmarks/progress.py --workload history --repo ~/src/big-repo

Workloads: `worktree`, `scanner scan` of this repository's own tree copied --copies times; `history`,
`scanner scan --history` of a history of --commits commits made with `git fast-import`
(tests/test_interrupts.py: ~12 KB files, a fake token every 40th commit), or of --repo.

"on": the scanner's stderr is a pseudo-terminal (read as it is written, as a terminal would) and
SCANNER_PROGRESS_DELAY=0 (or --delay), so the display is drawn from the first instant of the scan (the
worst case: by default it waits a second, and a shorter scan draws nothing). "off": stderr is a pipe, nothing is drawn (what CI and pre-commit see).
The report goes to /dev/null either way. Runs alternate on and off; per way, the best and median wall
time and CPU time (user+sys of the scanner and its workers, wait4) are printed, and the difference of
the bests in %. First, the display alone: its CPU time while the main thread only sleeps, once and
per second (on a shared machine, the steadiest figure). Figures only, no assertion.
"""

from __future__ import annotations

import argparse
import os
import pty
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.test_interrupts import fast_import_history  # noqa: E402


def _env(**extra: str) -> dict[str, str]:
    """No SCANNER_ setting of the caller's but the rules cache; a terminal 120 columns wide."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCANNER_") or k == "SCANNER_CACHE_DIR"}
    env.update(PYTHONPATH=str(ROOT), TERM="xterm-256color", COLUMNS="120", **extra)
    return env


def run_once(args: list[str], cwd: Path, on: bool, delay: str = "0") -> tuple[float, float, int]:
    """(wall seconds, CPU seconds, bytes drawn on the terminal) of one scan."""
    env = _env(SCANNER_PROGRESS_DELAY=delay) if on else _env()
    if on:
        master, slave = pty.openpty()
        stderr: int = slave
    else:
        master = slave = -1
        stderr = subprocess.PIPE
    drawn = [0]
    started = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "scanner", *args], cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=stderr)  # fmt: skip
    if on:
        os.close(slave)
        reader = threading.Thread(target=_drain, args=(master, drawn), daemon=True)
    else:
        assert proc.stderr is not None
        reader = threading.Thread(target=_drain, args=(proc.stderr.fileno(), drawn), daemon=True)
    reader.start()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    reader.join(timeout=10)
    if on:
        os.close(master)
    elif proc.stderr is not None:
        proc.stderr.close()
    if proc.returncode not in (0, 1):
        raise SystemExit(f"scanner {' '.join(args)} exited {proc.returncode}")
    return wall, usage.ru_utime + usage.ru_stime, drawn[0] if on else 0


ALONE = """
import sys, time
from scanner import progress
seconds = float(sys.argv[1])
cpu = time.process_time()
with progress.shown(True):
    progress.phase("listing commits", unit="commits", poll=lambda: 12345, detail=lambda: "67,890 blobs")
    progress.phase("scanning blobs", unit="blobs", total=100_000, rate=True)
    for _ in range(int(seconds * 20)):
        time.sleep(0.05)
        progress.advance(120, 1_500_000)
print(time.process_time() - cpu)
"""


def alone(runs: int) -> None:
    """The display by itself, on a pty, while the main thread only sleeps and counts: its CPU time
    for 1 and for 6 seconds (best of `runs`), hence its cost once (start: rich's import) and per second."""
    cpu = {}
    for seconds in (1.0, 6.0):
        times = []
        for _ in range(runs):
            master, slave = pty.openpty()
            proc = subprocess.Popen([sys.executable, "-c", ALONE, str(seconds)], env=_env(SCANNER_PROGRESS_DELAY="0"),
                                    stdout=subprocess.PIPE,
                                    stderr=slave)  # fmt: skip
            os.close(slave)
            reader = threading.Thread(target=_drain, args=(master, [0]), daemon=True)
            reader.start()
            out, _ = proc.communicate()
            reader.join(timeout=10)
            os.close(master)
            times.append(float(out))
        cpu[seconds] = min(times)
    per_second = (cpu[6.0] - cpu[1.0]) / 5
    print(f"\nthe display alone (best of {runs}): {1000 * cpu[1.0]:.0f} ms CPU for 1 s, {1000 * cpu[6.0]:.0f} ms for 6 s: "
          f"{1000 * (cpu[1.0] - per_second):.0f} ms once (rich's import, the console), then "
          f"{1000 * per_second:.1f} ms a second ({per_second * 100:.2f}% of one core)")


def _drain(fd: int, drawn: list[int]) -> None:
    """Read `fd` as a terminal would, until every writer closed it; drawn[0] counts the bytes."""
    while True:
        try:
            data = os.read(fd, 1 << 16)
        except OSError:  # EIO: a pty whose writers are gone
            return
        if not data:
            return
        drawn[0] += len(data)


def compare(name: str, args: list[str], cwd: Path, runs: int, delay: str) -> None:
    run_once(args, cwd, False)  # warm: the rules cache, the page cache
    results: dict[bool, list[tuple[float, float, int]]] = {True: [], False: []}
    for n in range(runs):
        for on in ((True, False) if n % 2 else (False, True)):
            results[on].append(run_once(args, cwd, on, delay))
    print(f"\n{name}: scanner {' '.join(args)}  ({runs} runs each way, alternating)")
    best = {}
    for on in (False, True):
        walls = sorted(r[0] for r in results[on])
        cpus = sorted(r[1] for r in results[on])
        best[on] = (walls[0], cpus[0])
        drawn = max(r[2] for r in results[on])
        extra = f", {drawn / 1024:.0f} KB drawn" if on else ""
        print(f"  display {'on ' if on else 'off'}: wall best {walls[0]:.3f} s (median {statistics.median(walls):.3f}, "
              f"spread {walls[-1] - walls[0]:.3f}); CPU best {cpus[0]:.3f} s (median {statistics.median(cpus):.3f}){extra}")
    wall_pct = 100 * (best[True][0] - best[False][0]) / best[False][0]
    cpu_pct = 100 * (best[True][1] - best[False][1]) / best[False][1]
    print(f"  cost of the display: wall {wall_pct:+.1f}%, CPU {cpu_pct:+.1f}% (best against best)")


def worktree(tmp: Path, copies: int) -> Path:
    """This repository's tracked files, `copies` times over."""
    files = subprocess.run(["git", "-C", str(ROOT), "ls-files", "-z"], capture_output=True, check=True).stdout
    tree = tmp / "tree"
    for name in filter(None, files.decode().split("\0")):
        source = ROOT / name
        if not source.is_file() or source.is_symlink():
            continue
        for n in range(copies):
            target = tree / f"copy{n:03d}" / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, target)
    return tree


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workload", choices=("worktree", "history", "both"), default="both")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--copies", type=int, default=20, help="copies of this repository's tree (worktree)")
    parser.add_argument("--commits", type=int, default=3000, help="commits of the generated history")
    parser.add_argument("--repo", help="scan this repository's history instead of a generated one")
    parser.add_argument("--delay", default="0", help="SCANNER_PROGRESS_DELAY of the runs with the display "
                        "(default 0: drawn from the start, the worst case; the scanner's own default is 1)")
    args = parser.parse_args()
    alone(args.runs)
    with tempfile.TemporaryDirectory(prefix="scanner-bench-progress-") as name:
        tmp = Path(name)
        if args.workload in ("worktree", "both"):
            tree = worktree(tmp, args.copies)
            count = sum(1 for p in tree.rglob("*") if p.is_file())
            compare(f"worktree ({count} files)", ["scan", ".", "-o", os.devnull], tree, args.runs, args.delay)
        if args.workload in ("history", "both"):
            repo = Path(args.repo) if args.repo else tmp / "repo"
            if not args.repo:
                fast_import_history(repo, args.commits)
            label = args.repo or f"generated, {args.commits} commits"
            compare(f"history ({label})", ["scan", "--history", ".", "-o", os.devnull], repo, args.runs, args.delay)
    return 0


if __name__ == "__main__":
    sys.exit(main())
