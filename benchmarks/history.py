"""Benchmark: history scanning against the floor of merely reading the same objects with git.

    python benchmarks/history.py                      # build a synthetic repo (cached) and measure
    python benchmarks/history.py --repo PATH          # measure an existing repository
    python benchmarks/history.py --commits 20000 --files 1500

The synthetic repository is generated with `git fast-import` (seconds, not minutes): ~20k commits of
realistic source-like text, each changing one or two files, a few tags, unmerged branches and merges,
and a few dozen fake secrets added and later removed. It prints: unique blob bytes, the floor time
of `git cat-file --batch-all-objects --batch` (best of N, output to /dev/null), the scanner's time
(best of N, `scan_history` on all cores, in a child process), MB/s, the ratio to the floor, the
findings count and the peak RSS of the largest process of the scanner's tree.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import string
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

WORDS = (
    "request response client server handler config value result error context buffer index offset "
    "length record stream parser token cache session user account order item price total count "
    "queue worker task job event message payload header status timeout retry limit window batch"
).split()
TEMPLATES = [
    "    {a}_{b} = self.{c}.get('{d}', {n})",
    "    if {a} is None or {b} > {n}:",
    "        return {a}({b}, {c}={d})",
    "def {a}_{b}({c}, {d}=None):",
    "    # {a} the {b} before the {c} is {d}",
    "    for {a} in {b}.{c}():",
    "        {a}.append({b}[{n}])",
    "class {A}{B}({C}):",
    '    logger.debug("{a} %s {b} %d", {c}, {n})',
    "    {a} = {A}{B}({c}={n}, {d}=True)",
    "    raise {A}Error(f'{a} {{{b}}} failed')",
    "",
]


def _line(rng: random.Random) -> str:
    a, b, c, d = (rng.choice(WORDS) for _ in range(4))
    return rng.choice(TEMPLATES).format(
        a=a, b=b, c=c, d=d, A=a.title(), B=b.title(), C=c.title(), n=rng.randint(0, 9999)
    )


def _secret(rng: random.Random) -> str:
    alphabet = string.ascii_letters + string.digits
    if rng.random() < 0.5:
        return "ghp_" + "".join(rng.choice(alphabet) for _ in range(36))
    return "AKIA" + "".join(rng.choice(string.ascii_uppercase + string.digits) for _ in range(16))


def build(path: Path, commits: int, files: int, seed: int = 7) -> None:
    """Generate the repository with git fast-import."""
    rng = random.Random(seed)
    if path.exists():
        shutil.rmtree(path)
    subprocess.run(["git", "init", "-q", "--bare", str(path)], check=True)
    proc = subprocess.Popen(
        ["git", "-C", str(path), "fast-import", "--quiet", "--depth=50"], stdin=subprocess.PIPE
    )
    out = proc.stdin
    assert out is not None
    names = [
        f"{rng.choice(['src', 'lib', 'app', 'pkg'])}/{rng.choice(WORDS)}/{rng.choice(WORDS)}_{i}.py"
        for i in range(files)
    ]
    content: dict[str, list[str]] = {}
    secrets_live: list[tuple[str, int]] = []
    ts = 1_500_000_000
    mark = 0

    def emit(ref: str, changes: dict[str, str], parents: list[int], msg: str) -> int:
        nonlocal mark, ts
        mark += 1
        ts += rng.randint(60, 7200)
        who = rng.choice(["Ada Lovelace <ada@example.com>", "Alan Turing <alan@example.com>", "Grace Hopper <grace@example.com>"])
        body = msg.encode()
        head = [f"commit {ref}", f"mark :{mark}", f"author {who} {ts} +0000", f"committer {who} {ts} +0000", f"data {len(body)}"]
        out.write(("\n".join(head) + "\n").encode() + body + b"\n")
        if parents:
            out.write(f"from :{parents[0]}\n".encode())
            for p in parents[1:]:
                out.write(f"merge :{p}\n".encode())
        for name, text in changes.items():
            data = text.encode()
            out.write(f"M 100644 inline {name}\ndata {len(data)}\n".encode() + data + b"\n")
        out.write(b"\n")
        return mark

    def mutate(name: str) -> str:
        lines = content.get(name)
        if lines is None:
            lines = [_line(rng) for _ in range(int(rng.lognormvariate(5.3, 0.6)) + 20)]
        else:
            for _ in range(rng.randint(1, 6)):
                op = rng.random()
                pos = rng.randrange(len(lines) + 1)
                if op < 0.6 and lines:
                    lines[min(pos, len(lines) - 1)] = _line(rng)
                elif op < 0.9:
                    lines[pos:pos] = [_line(rng) for _ in range(rng.randint(1, 8))]
                elif len(lines) > 30:
                    del lines[pos : pos + rng.randint(1, 4)]
        content[name] = lines
        return "\n".join(lines) + "\n"

    main = emit("refs/heads/main", {n: mutate(n) for n in names}, [], "initial import")
    for n in range(1, commits):
        changes = {}
        for name in rng.sample(names, rng.choice([1, 1, 2, 3])):
            changes[name] = mutate(name)
        if rng.random() < 0.002:  # a secret comes in ...
            name = rng.choice(names)
            content.setdefault(name, [_line(rng)])
            pos = rng.randrange(len(content[name]))
            content[name].insert(pos, f"    api_key = '{_secret(rng)}'")
            changes[name] = "\n".join(content[name]) + "\n"
            secrets_live.append((name, pos))
        elif secrets_live and rng.random() < 0.002:  # ... and goes (still in history)
            name, _ = secrets_live.pop(0)
            content[name] = [line for line in content[name] if "api_key = '" not in line]
            changes[name] = "\n".join(content[name]) + "\n"
        if n % 1000 == 500:  # a short branch: merged back or left unmerged
            branch = main
            for k in range(5):
                name = rng.choice(names)
                branch = emit(f"refs/heads/topic-{n}", {name: mutate(name)}, [branch], f"topic {n} step {k}")
            if n % 2000 == 500:
                main = emit("refs/heads/main", {}, [main, branch], f"Merge topic-{n}")
                continue
        main = emit("refs/heads/main", changes, [main], f"change {n}")
        if n % 2500 == 0:
            out.write(f"tag v{n // 2500}.0\nfrom :{main}\ntagger Ada Lovelace <ada@example.com> {ts} +0000\ndata 7\nrelease\n".encode())
    out.close()
    if proc.wait() != 0:
        raise SystemExit("git fast-import failed")
    subprocess.run(["git", "-C", str(path), "symbolic-ref", "HEAD", "refs/heads/main"], check=True)
    # fast-import deltas each blob against the previous one in the stream (another file): repack as
    # git would, so delta chains follow each file's history like in a real repository
    subprocess.run(["git", "-C", str(path), "repack", "-a", "-d", "-f", "-q", "--window=10", "--depth=50"], check=True)


def floor(repo: Path, runs: int) -> float:
    best = float("inf")
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(
            ["git", "-C", str(repo), "cat-file", "--batch-all-objects", "--batch"],
            stdout=subprocess.DEVNULL, check=True,
        )  # fmt: skip
        best = min(best, time.perf_counter() - start)
    return best


CHILD = """
import json, sys, time
sys.path.insert(0, {root!r})
from pathlib import Path
from scanner.engines.secrets import compile_rules
from scanner.rules.loader import load_rules
from scanner.scan_history import scan_history
packs = {packs!r}
rules = load_rules(packs, builtin=not packs)
compiled = compile_rules(rules)
start = time.perf_counter()
result = scan_history({repo!r}, compiled, jobs={jobs!r})
elapsed = time.perf_counter() - start
print(json.dumps({{"seconds": elapsed, "findings": len(result.findings), "rules": len(compiled.rules), **result.stats}}))
"""


def scan(repo: Path, packs: list[str], jobs: int | None) -> tuple[dict, float]:
    code = CHILD.format(root=str(ROOT), repo=str(repo), packs=packs, jobs=jobs)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(proc.stderr)
    rss_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return json.loads(proc.stdout.strip().splitlines()[-1]), rss_mb


def unique_blob_bytes(repo: Path) -> tuple[int, int]:
    out = subprocess.run(
        f"git -C {repo} rev-list --objects --all | git -C {repo} cat-file --batch-check='%(objecttype) %(objectsize) %(rest)'",
        shell=True, capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    sizes = [int(line.split()[1]) for line in out.splitlines() if line.startswith("blob ")]
    return len(sizes), sum(sizes)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repo", help="scan this repository instead of a generated one")
    parser.add_argument("--commits", type=int, default=20000)
    parser.add_argument("--files", type=int, default=1500)
    parser.add_argument("--cache", default=os.path.join(tempfile.gettempdir(), "scanner-bench-history.git"))
    parser.add_argument("--rebuild", action="store_true")
    parser.add_argument("--pack", action="append", default=[], help="rule pack(s); default: built-in packs")
    parser.add_argument("--jobs", type=int, default=None)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()

    if args.repo:
        repo = Path(args.repo)
    else:
        repo = Path(args.cache)
        if args.rebuild or not (repo / "HEAD").exists():
            start = time.perf_counter()
            build(repo, args.commits, args.files)
            print(f"built {repo} in {time.perf_counter() - start:.1f} s")
    packs = args.pack
    if not packs and not any((ROOT / "policies").glob("*.y*ml")):
        packs = [str(ROOT / "tests" / "history_pack.yaml")]  # no built-in secrets pack yet

    commits = subprocess.run(["git", "-C", str(repo), "rev-list", "--all", "--count"], capture_output=True, text=True).stdout.strip()
    blobs, total = unique_blob_bytes(repo)
    floor(repo, 1)  # warm the page cache
    floor_s = floor(repo, args.runs)
    best: dict | None = None
    rss = 0.0
    for _ in range(args.runs):
        result, rss = scan(repo, packs, args.jobs)
        if best is None or result["seconds"] < best["seconds"]:
            best = result
    assert best is not None
    mb = total / 1e6
    print(f"repository        {repo}")
    print(f"commits           {commits}")
    print(f"unique blobs      {blobs} ({mb:.1f} MB; scanned {best['bytes'] / 1e6:.1f} MB in {best['blobs']} blobs)")
    print(f"rules             {best['rules']} secrets rules ({'built-in' if not packs else ', '.join(packs)})")
    print(f"floor             {floor_s:.2f} s  git cat-file --batch-all-objects --batch > /dev/null ({mb / floor_s:.0f} MB/s)")
    print(f"scanner           {best['seconds']:.2f} s  scan_history, jobs={args.jobs or os.cpu_count()} ({mb / best['seconds']:.0f} MB/s)")
    print(f"ratio             {best['seconds'] / floor_s:.2f}x the floor")
    print(f"findings          {best['findings']}")
    print(f"peak RSS          {rss:.0f} MB (largest process of the scanner's tree)")


if __name__ == "__main__":
    main()
