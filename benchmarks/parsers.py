"""Parser scaling and throughput on generated hostile shapes (issue 20, scope 6).

    python benchmarks/parsers.py [--scale 1]

For each shape: the input size, the CPU time to parse it at n and 4n (best of 3), MB/s at 4n and
the growth exponent log(t(4n)/t(n))/log(4) (1: linear, 2: quadratic). `--buildkit` adds BuildKit's
parser called directly on the same Dockerfiles (the quadratic cost this project works around).
The test suite runs the same shapes smaller (tests/test_parser_scaling.py); nothing here is asserted.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.test_parser_scaling import CASES, dockerfile_continued, dockerfile_heredoc  # noqa: E402


def measure(make, n, work, repeats=3):  # noqa: ANN001, ANN201
    work(make(2))
    out = []
    for size in (n, 4 * n):
        data = make(size)
        best = math.inf
        for _ in range(repeats):
            start = time.process_time()
            work(data)
            best = min(best, time.process_time() - start)
        out.append((len(data), best))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=4.0, help="multiply the test suite's sizes (default 4)")
    parser.add_argument("--buildkit", action="store_true", help="also time BuildKit's parser alone")
    args = parser.parse_args()
    cases = dict(CASES)
    if args.buildkit:
        import dockerfile

        def alone(data: bytes) -> object:
            return dockerfile.parse_string(data.decode())

        cases["buildkit-alone-continuation"] = (dockerfile_continued, 4000, alone)
        cases["buildkit-alone-heredoc"] = (dockerfile_heredoc, 4000, alone)
    print(f"{'shape':34} {'bytes at 4n':>12} {'t(n) s':>9} {'t(4n) s':>9} {'MB/s':>8} {'exponent':>9}")
    for name, (make, n, work) in cases.items():
        n = max(1, int(n * (1 if name.startswith("buildkit") else args.scale)))
        (_, t1), (size, t4) = measure(make, n, work)
        growth = math.log(max(t4, 1e-6) / max(t1, 1e-6)) / math.log(4)
        print(f"{name:34} {size:>12,} {t1:>9.3f} {t4:>9.3f} {size / 1e6 / max(t4, 1e-6):>8.1f} {growth:>9.2f}", flush=True)


if __name__ == "__main__":
    main()
