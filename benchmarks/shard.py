"""Sharded history scans (issue 18): CPU of N shards side by side against one scan, memory as
history grows, and that merging the shards gives the unsharded findings.

    python benchmarks/shard.py --cache /work/bench-shard            # 10k, 30k, 50k commits; N = 2, 3, 7
    python benchmarks/shard.py --commits 10000 --shards 2 --shards 7 --repeat 5
    python benchmarks/shard.py --repo ~/src/big-repo                 # a real repository (not rebuilt)

For each repository (generated once with benchmarks/history.py's `git fast-import` generator and
cached under --cache): the unsharded `scanner scan REPO --history --format json`, then the N shards
`--shard K/N` run side by side, then `scanner merge` of their reports. Every run uses the scanner's
default --jobs (what a user gets: shards on one machine share its cores) unless --jobs is given, and
a private cache folder (SCANNER_CACHE_DIR under --cache), warmed by one scan first: the rule packs
and the Hyperscan database are cached, as on any machine after its first scan. Each set of shards
starts without a saved listing (scanner/sources/listing_cache.py), as the first sharded scan of a
history does: of N shards side by side, one lists the history and the others read its listing.

Then a shard of a 1/1000 part (the listing and the parts saved by a first one), best of 5 or
--repeat: what one more shard costs whatever its part (start-up, the packs, reading the saved
listing and its part, its git processes), and so the least N shards can cost.

Per run: wall time, CPU time (user+sys of the whole process tree: the scanner, its workers, git),
the peak RSS of the largest process of the tree (wait4), and the peak RSS of the tree summed
(sampled every 50 ms from /proc). Each figure is the best of --repeat runs (CPU: the run with the
least total CPU). Figures only, no assertion; the merged findings are compared with the unsharded
ones (every field, provenance included) and the result printed.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import NamedTuple

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from history import unique_blob_bytes  # noqa: E402


class Usage(NamedTuple):
    wall: float
    cpu: float
    rss_max_mb: float  # the largest process of the tree
    rss_tree_mb: float  # the tree summed, sampled
    code: int


def _tree_rss_kb(root: int) -> int:
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        pid, ppid = int(entry), int(fields[1])
        children.setdefault(ppid, []).append(pid)
        rss[pid] = int(fields[21]) * (os.sysconf("SC_PAGE_SIZE") // 1024)
    total, stack = 0, [root]
    while stack:
        pid = stack.pop()
        total += rss.get(pid, 0)
        stack.extend(children.get(pid, ()))
    return total


def run_all(commands: list[list[str]], env: dict[str, str] | None = None) -> list[Usage]:
    """Start every command at once (side by side), wait for all; each one's usage."""
    started = time.perf_counter()
    procs = [subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env) for cmd in commands]
    peaks = [0] * len(procs)
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            for i, proc in enumerate(procs):
                if proc.returncode is None:
                    peaks[i] = max(peaks[i], _tree_rss_kb(proc.pid))
            time.sleep(0.05)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out: list[Usage | None] = [None] * len(procs)
    left = {proc.pid: i for i, proc in enumerate(procs)}
    while left:
        pid, status, usage = os.wait4(-1, 0)
        if pid not in left:
            continue
        i = left.pop(pid)
        procs[i].returncode = os.waitstatus_to_exitcode(status)
        out[i] = Usage(time.perf_counter() - started, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024,
                       peaks[i] / 1024, procs[i].returncode)  # fmt: skip
    done.set()
    sampler.join()
    for proc, usage in zip(procs, out, strict=True):
        assert usage is not None
        if usage.code not in (0, 1):
            err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
            raise SystemExit(f"{' '.join(proc.args)} failed ({usage.code}): {err.strip()[-500:]}")
    return [u for u in out if u is not None]


def findings(path: Path) -> list[dict]:
    return json.loads(path.read_text())["findings"]


def forget_listings(directory: Path) -> None:
    """Drop the history listings side-by-side shards share (scanner/sources/listing_cache.py): each
    set of shards starts from none, as the first sharded scan of a history does."""
    for entry in directory.glob("listing-*"):
        entry.unlink(missing_ok=True)


def best(runs: list[list[Usage]]) -> list[Usage]:
    """The set of runs with the least total CPU."""
    return min(runs, key=lambda usages: sum(u.cpu for u in usages))


def measure(repo: Path, shard_counts: list[int], jobs: int, repeat: int, work: Path, cache: Path) -> dict:
    env = dict(os.environ, SCANNER_CACHE_DIR=str(cache))
    env.pop("SCANNER_NO_CACHE", None)
    scanner = [sys.executable, "-m", "scanner", "scan", str(repo), "--history", "-f", "json", "-q", "--exit-zero",
               *(["-j", str(jobs)] if jobs else [])]  # fmt: skip
    whole = work / "whole.json"
    run_all([[*scanner, "-o", str(whole)]], env)  # warms the private cache: packs, Hyperscan database
    [one] = best([run_all([[*scanner, "-o", str(whole)]], env) for _ in range(repeat)])
    row: dict = {"unsharded": one._asdict(), "shards": {}}
    expected = findings(whole)
    row["findings"] = len(expected)
    for count in shard_counts:
        parts = [work / f"part-{k}-of-{count}.json" for k in range(1, count + 1)]
        tries = []
        for _ in range(repeat):
            forget_listings(cache)
            tries.append(run_all([[*scanner, "--shard", f"{k}/{count}", "-o", str(p)] for k, p in enumerate(parts, 1)], env))
        usages = best(tries)
        merged = work / f"merged-{count}.json"
        [merge] = run_all([[sys.executable, "-m", "scanner", "merge", *map(str, parts), "-f", "json", "-o", str(merged),
                            "--exit-zero"]], env)  # fmt: skip
        row["shards"][count] = {
            "wall": max(u.wall for u in usages),
            "cpu": sum(u.cpu for u in usages),
            "cpu_ratio": sum(u.cpu for u in usages) / one.cpu,
            "cpu_ratios": [round(sum(u.cpu for u in t) / one.cpu, 3) for t in tries],
            "rss_max_mb": max(u.rss_max_mb for u in usages),
            "rss_tree_mb": max(u.rss_tree_mb for u in usages),
            "merge_wall": merge.wall,
            "merge_rss_mb": merge.rss_max_mb,
            "merged_equal": findings(merged) == expected,
        }
    # what one more shard costs whatever its part: a 1/1000 part, with the listing and the parts
    # saved by a first such shard (start-up, the packs, reading the listing and its part, its git
    # processes): N shards of this history cannot take less than one scan plus N - 1 times this
    tiny = [*scanner, "--shard", "1/1000", "-o", str(work / "part-1-of-1000.json")]
    forget_listings(cache)
    run_all([tiny], env)
    start = min((run_all([tiny], env)[0] for _ in range(max(repeat, 5))), key=lambda u: u.cpu)
    row["shard_start_cpu"] = start.cpu
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--commits", type=int, action="append", help="generated repository sizes (repeatable)")
    parser.add_argument("--files", type=int, default=400, help="files in the generated repositories")
    parser.add_argument("--shards", type=int, action="append", help="shard counts (repeatable; default 2, 3, 7)")
    parser.add_argument("--jobs", type=int, default=0, help="--jobs of every scanner run (default: the scanner's own)")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each measurement; the best is shown (default 3)")
    parser.add_argument("--repo", type=Path, help="a repository to use instead of generated ones")
    parser.add_argument("--cache", type=Path, default=Path(os.environ.get("TMPDIR", "/tmp")) / "scanner-bench-shard")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    counts = args.shards or [2, 3, 7]
    repos: list[tuple[str, Path]] = []
    if args.repo:
        repos.append((args.repo.name, args.repo))
    else:
        for commits in args.commits or [10_000, 30_000, 50_000]:
            path = args.cache / f"history-{commits}.git"
            if not (path / "refs" / "heads" / "main").exists() and not (path / "packed-refs").exists():
                started = time.perf_counter()
                path.parent.mkdir(parents=True, exist_ok=True)
                # in a child: a big parent would lend its peak RSS to every scan forked later (Linux
                # keeps the high-water mark across exec, and wait4 reports it)
                code = f"from history import build; from pathlib import Path; build(Path({str(path)!r}), {commits}, {args.files})"
                subprocess.run([sys.executable, "-c", code], cwd=HERE, check=True)
                print(f"built {path} ({commits} commits) in {time.perf_counter() - started:.0f} s", file=sys.stderr)
            repos.append((f"{commits} commits", path))
    # byte-compiled, as an installed scanner is (PYTHONDONTWRITEBYTECODE would have every process of
    # every shard compile the scanner's modules again: a fixed cost of ~0.4 s each, not the scanner's)
    compile_code = "import compileall, os, scanner; compileall.compile_dir(os.path.dirname(scanner.__file__), quiet=1)"
    subprocess.run([sys.executable, "-c", compile_code], check=True)
    figures = {}
    load = os.getloadavg()
    print(f"load average at the start: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    print(f"{'repository':<16} {'blobs':>8} {'MB':>7}  {'run':<12} {'wall s':>7} {'CPU s':>7} {'CPU x':>6} "
          f"{'RSS MB (largest)':>16} {'RSS MB (tree)':>13}  merged = unsharded")  # fmt: skip
    for name, repo in repos:
        blobs, size = unique_blob_bytes(repo)
        work = args.cache / f"work-{repo.name}"
        work.mkdir(parents=True, exist_ok=True)
        row = measure(repo, counts, args.jobs, max(1, args.repeat), work, args.cache / "scanner-cache")
        row.update(blobs=blobs, bytes=size)
        figures[name] = row
        one = row["unsharded"]
        print(f"{name:<16} {blobs:>8} {size / 1e6:>7.0f}  {'unsharded':<12} {one['wall']:>7.1f} {one['cpu']:>7.1f} "
              f"{1.0:>6.2f} {one['rss_max_mb']:>16.0f} {one['rss_tree_mb']:>13.0f}  ({row['findings']} findings)")  # fmt: skip
        for count, s in row["shards"].items():
            label = f"{count} shards"
            print(f"{'':<16} {'':>8} {'':>7}  {label:<12} {s['wall']:>7.1f} {s['cpu']:>7.1f} {s['cpu_ratio']:>6.2f} "
                  f"{s['rss_max_mb']:>16.0f} {s['rss_tree_mb']:>13.0f}  {s['merged_equal']}")  # fmt: skip
        fixed = row["shard_start_cpu"] / one["cpu"]
        floors = " / ".join(f"{1 + (count - 1) * fixed:.2f}" for count in row["shards"])
        print(f"{'':<16} {'':>8} {'':>7}  one more shard: {row['shard_start_cpu']:.2f} s of CPU whatever its part "
              f"({fixed:.1%} of one scan): N = {' / '.join(map(str, row['shards']))} cannot go under {floors}")  # fmt: skip
    load = os.getloadavg()
    print(f"load average at the end: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} ({os.cpu_count()} cores; best of {args.repeat})")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
