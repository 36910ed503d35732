"""CI smoke run of the benchmarks on tiny workloads: proves the scripts work; figures are not judged."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

RUNS = [
    [sys.executable, str(HERE / "worktree.py"), "--generate", "300"],
]


def main() -> int:
    for cmd in RUNS:
        print("$", " ".join(Path(c).name if c.endswith(".py") else c for c in cmd[1:]), flush=True)
        proc = subprocess.run(cmd)
        if proc.returncode != 0:
            print(f"benchmark smoke failed: {cmd}", file=sys.stderr)
            return proc.returncode
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
