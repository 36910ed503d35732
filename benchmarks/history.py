"""The synthetic repository of run.py's history workload, and its floor.

`build` generates it with `git fast-import` (seconds, not minutes): ~20k commits of realistic
source-like text, each changing one or two files, a few tags, unmerged branches and merges, and a few
dozen fake secrets added and later removed. `floor` times `git cat-file --batch-all-objects --batch`
(best of N, output to /dev/null); `unique_blob_bytes` counts the blobs every ref reaches.
"""

from __future__ import annotations

import random
import shutil
import string
import subprocess
import time
from pathlib import Path

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
        from scanner.engines.checksums import with_checksum  # a token GitHub's CRC32 check accepts

        return with_checksum("ghp_", "".join(rng.choice(alphabet) for _ in range(30)))
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


def unique_blob_bytes(repo: Path) -> tuple[int, int]:
    git = ["git", "-C", str(repo)]  # no shell: a --repo path may hold spaces or '$'
    objects = subprocess.run([*git, "rev-list", "--objects", "--all"], capture_output=True, check=True).stdout
    # %(rest) in the format makes cat-file read each 'sha path' line's first word as the name
    out = subprocess.run([*git, "cat-file", "--batch-check=%(objecttype) %(objectsize) %(rest)"], input=objects,
                         capture_output=True, check=True).stdout  # fmt: skip
    sizes = [int(line.split()[1]) for line in out.splitlines() if line.startswith(b"blob ")]
    return len(sizes), sum(sizes)
