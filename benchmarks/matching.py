"""The matching stage of a secrets scan alone, and the whole-history scan it is part of.

1. MB/s of the Hyperscan prefilter pass and of the whole per-blob secrets work (prefilter, the
   selected rules' own patterns, filters) on the text blobs of a repository, read into memory first
   (no git, no workers: CPU time of this process, best of N).
2. With --history: `scanner scan --history` of the repository end to end (wall and CPU of the
   process and its children, each the best of N) against the floor, `git cat-file
   --batch-all-objects --batch --unordered` (the same), and their ratios. --report keeps the JSON
   report of the last run (to compare findings before and after a change).

    python benchmarks/matching.py --repo /path/to/repo.git [--mb 200] [--runs 3] [--history] [--report FILE]

No assertion: figures to compare before and after a change to the secrets engine.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from scanner.engines import secrets  # noqa: E402
from scanner.model import Item  # noqa: E402
from scanner.rules.loader import load_rules  # noqa: E402
from scanner.sources.history import is_binary  # noqa: E402


def blobs(repo: Path, limit: int) -> list[tuple[str, bytes]]:
    """Up to `limit` bytes of the repository's text blobs, in storage order."""
    names = {}
    listing = subprocess.run(["git", "-C", str(repo), "rev-list", "--objects", "--all"], capture_output=True, check=True)
    for line in listing.stdout.splitlines():
        sha, _, path = line.partition(b" ")
        if path:
            names.setdefault(sha, path.decode("utf-8", "surrogateescape"))
    proc = subprocess.run(
        ["git", "-C", str(repo), "cat-file", "--batch-all-objects", "--batch", "--unordered"],
        capture_output=True, check=True,
    )  # fmt: skip
    out, at, total = proc.stdout, 0, 0
    got: list[tuple[str, bytes]] = []
    while at < len(out) and total < limit:
        head_end = out.index(b"\n", at)
        sha, kind, size = out[at:head_end].split(b" ")
        start = head_end + 1
        end = start + int(size)
        at = end + 1
        data = out[start:end]
        if kind == b"blob" and data and not is_binary(data):
            got.append((names.get(sha, "blob"), data))
            total += len(data)
    return got


def timed(cmd: list[str], runs: int, out: str = os.devnull) -> tuple[float, float]:
    """(best wall, best CPU) of `runs` runs of a command, its children included."""
    walls, cpus = [], []
    for _ in range(runs):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        with open(out, "wb") as sink:
            subprocess.run(cmd, stdout=sink, check=True)
        walls.append(time.perf_counter() - start)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return min(walls), min(cpus)


def end_to_end(repo: Path, runs: int, report: str) -> None:
    floor_wall, floor_cpu = timed(["git", "-C", str(repo), "cat-file", "--batch-all-objects", "--batch", "--unordered"], runs)
    scan = [sys.executable, "-m", "scanner", "scan", str(repo), "--history", "-f", "json", "-q", "--exit-zero"]
    subprocess.run(scan, stdout=subprocess.DEVNULL, check=True)  # warm: bytecode, rule and Hyperscan caches
    wall, cpu = timed(scan, runs, report)
    print(f"history scan of {repo} (best of {runs}; wall, CPU of the process and its children):")
    print(f"  {'cat-file floor':<18} wall {floor_wall:6.2f} s  cpu {floor_cpu:6.2f} s")
    print(f"  {'scanner --history':<18} wall {wall:6.2f} s  cpu {cpu:6.2f} s  "
          f"({wall / floor_wall:.2f}x the floor's wall, {cpu / floor_cpu:.2f}x its CPU)")  # fmt: skip


def best(runs: int, work) -> float:  # noqa: ANN001
    seconds = []
    for _ in range(runs):
        start = time.process_time()
        work()
        seconds.append(time.process_time() - start)
    return min(seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repo", type=Path, required=True)
    parser.add_argument("--mb", type=int, default=200, help="bytes of text blobs to scan (MB)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--history", action="store_true", help="also time the whole-history scan and the floor")
    parser.add_argument("--report", default=os.devnull, help="with --history: keep the scan's JSON report here")
    args = parser.parse_args()
    rules = [r for r in load_rules() if r.engine == "secrets" and not r.opt_in]
    compiled = secrets.compile_rules(rules)
    pre = compiled.rules.prefilter(1 << 40)
    if pre is None:
        sys.exit("no Hyperscan prefilter here (hyperscan not installed, or SCANNER_NO_HYPERSCAN set)")
    sample = blobs(args.repo, args.mb << 20)
    size = sum(len(d) for _, d in sample)
    items = [Item(path, data) for path, data in sample]
    print(f"{len(rules)} secrets rules ({len(compiled.keyword_owner)} keywords, "
          f"{len(compiled.rules.pattern_indexes())} patterns), {len(items)} blobs, {size / 1e6:.1f} MB, best of {args.runs} (CPU)")  # fmt: skip

    def prefilter_pass() -> None:
        for item in items:
            pre.scan(item.data)

    def whole() -> None:
        for item in items:
            secrets.scan_item(compiled, item)

    whole()  # compiles the rules the sample needs, once
    found = sum(len(secrets.scan_item(compiled, item)) for item in items)
    for label, work in (("prefilter pass", prefilter_pass), ("secrets matching", whole)):
        seconds = best(args.runs, work)
        print(f"  {label:<18} {seconds:7.2f} s  {size / 1e6 / seconds:8.1f} MB/s")
    print(f"  findings: {found}")
    if args.history:
        end_to_end(args.repo, args.runs, args.report)


if __name__ == "__main__":
    main()
