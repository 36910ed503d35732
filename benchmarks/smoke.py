"""CI smoke run of the benchmark suite on tiny workloads: proves the scripts work end to end (every
workload, the floors, the child-process measurement); figures are printed, never judged."""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="scanner-bench-smoke-") as cache:
        cmd = [sys.executable, str(HERE / "run.py"), "--small", "--cache", cache]
        print("$ run.py --small", flush=True)
        proc = subprocess.run(cmd)
        if proc.returncode != 0:
            print(f"benchmark smoke failed: {' '.join(cmd)}", file=sys.stderr)
            return proc.returncode
    cmd = [sys.executable, str(HERE / "recall.py"), "--no-peers"]
    print("$ recall.py --no-peers", flush=True)
    proc = subprocess.run(cmd)
    if proc.returncode != 0:
        print(f"recall smoke failed: {' '.join(cmd)}", file=sys.stderr)
    return proc.returncode


if __name__ == "__main__":
    raise SystemExit(main())
