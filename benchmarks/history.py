"""The synthetic repository of run.py's history workload, and its floor.

`build` generates it with `git fast-import` (a few minutes for 30k commits, most of it the final
repack): realistic source-like text in files of ~20 KB on average (about what a public project's
blobs weigh), a main line where most work lands through short branches forked a few commits back
and merged with merge commits (GitHub-style: some merges resolve a conflict with new content, a few
bring a secret in the resolution), direct commits, files renamed (with and without edits), deleted
and added, a few unmerged branches and tags, and fake secrets that come in on main or on a branch,
move with renames, and are edited out or deleted with their file. `floor` times `git cat-file
--batch-all-objects --batch --unordered` (best of N, output to /dev/null); `unique_blob_bytes`
counts the blobs every ref reaches.
"""

from __future__ import annotations

import collections
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


class _Writer:
    """fast-import commands for one stream: commits with marks, deterministic dates and authors."""

    AUTHORS = ("Ada Lovelace <ada@example.com>", "Alan Turing <alan@example.com>", "Grace Hopper <grace@example.com>",
               "Edsger Dijkstra <edsger@example.com>", "Barbara Liskov <barbara@example.com>")  # fmt: skip

    def __init__(self, out, rng: random.Random) -> None:  # noqa: ANN001
        self.out, self.rng, self.mark, self.ts = out, rng, 0, 1_500_000_000

    def commit(self, ref: str, ops: list[tuple], parents: list[int], msg: str) -> int:
        """ops: ("M", path, text) | ("D", path) | ("R", old, new)."""
        self.mark += 1
        self.ts += self.rng.randint(60, 7200)
        who = self.rng.choice(self.AUTHORS)
        body = msg.encode()
        head = [f"commit {ref}", f"mark :{self.mark}", f"author {who} {self.ts} +0000",
                f"committer {who} {self.ts} +0000", f"data {len(body)}"]  # fmt: skip
        parts = [("\n".join(head) + "\n").encode(), body, b"\n"]
        if parents:
            parts.append(f"from :{parents[0]}\n".encode())
            parts.extend(f"merge :{p}\n".encode() for p in parents[1:])
        for op in ops:
            if op[0] == "M":
                data = op[2].encode()
                parts.append(f"M 100644 inline {op[1]}\ndata {len(data)}\n".encode() + data + b"\n")
            elif op[0] == "D":
                parts.append(f"D {op[1]}\n".encode())
            else:
                parts.append(f"R {op[1]} {op[2]}\n".encode())
        parts.append(b"\n")
        self.out.write(b"".join(parts))
        return self.mark


def build(path: Path, commits: int, files: int, seed: int = 7, secrets: int = 40) -> None:
    """Generate the repository with git fast-import: a main line where most work lands through short
    branches merged with a merge commit (GitHub-style; some merges resolve a conflict with new
    content, a few also bring a secret in the resolution), direct commits, files renamed (with and
    without edits), deleted and added, a few unmerged branches and tags, and fake secrets that come
    in on main or on a branch, move with renames, and are edited out or deleted with their file."""
    rng = random.Random(seed)
    if path.exists():
        shutil.rmtree(path)
    subprocess.run(["git", "init", "-q", "--bare", str(path)], check=True)
    proc = subprocess.Popen(["git", "-C", str(path), "fast-import", "--quiet", "--depth=50"], stdin=subprocess.PIPE)
    assert proc.stdin is not None
    git = _Writer(proc.stdin, rng)
    serial = iter(range(10**9))

    def new_name() -> str:
        return f"{rng.choice(['src', 'lib', 'app', 'pkg'])}/{rng.choice(WORDS)}/{rng.choice(WORDS)}_{next(serial)}.py"

    def text(lines: list[str]) -> str:
        return "\n".join(lines) + "\n"

    def fresh() -> list[str]:
        return [_line(rng) for _ in range(int(rng.lognormvariate(6.0, 0.7)) + 20)]

    def edit(lines: list[str]) -> list[str]:
        lines = list(lines)
        for _ in range(rng.randint(1, 6)):
            op, pos = rng.random(), rng.randrange(len(lines) + 1)
            if op < 0.6 and lines:
                lines[min(pos, len(lines) - 1)] = _line(rng)
            elif op < 0.9:
                lines[pos:pos] = [_line(rng) for _ in range(rng.randint(1, 8))]
            elif len(lines) > 30:
                del lines[pos : pos + rng.randint(1, 4)]
        return lines

    def with_secret(lines: list[str]) -> list[str]:
        lines = list(lines)
        lines.insert(rng.randrange(len(lines) + 1), f"    api_key = '{_secret(rng)}'")
        return lines

    def work(tree: dict[str, list[str]], secret_rate: float) -> list[tuple]:
        """One commit's worth of changes to `tree` (updated in place): the fast-import ops."""
        ops: list[tuple] = []
        roll = rng.random()
        if roll < 0.03 and len(tree) > 10:  # a rename, half of them with an edit
            old = rng.choice(sorted(tree))
            name = new_name()
            tree[name] = tree.pop(old)
            ops.append(("R", old, name))
            if rng.random() < 0.5:
                tree[name] = edit(tree[name])
                ops.append(("M", name, text(tree[name])))
            return ops
        if roll < 0.04 and len(tree) > 10:  # a file deleted
            old = rng.choice(sorted(tree))
            del tree[old]
            return [("D", old)]
        if roll < 0.07:  # a file added
            name = new_name()
            tree[name] = fresh()
            return [("M", name, text(tree[name]))]
        for name in rng.sample(sorted(tree), rng.choice([1, 1, 2, 3])):
            tree[name] = edit(tree[name])
            if rng.random() < secret_rate:  # a secret comes in ...
                tree[name] = with_secret(tree[name])
            elif rng.random() < secret_rate and any("api_key = '" in x for x in tree[name]):  # ... and goes
                tree[name] = [x for x in tree[name] if "api_key = '" not in x]
            ops.append(("M", name, text(tree[name])))
        return ops

    main: dict[str, list[str]] = {new_name(): fresh() for _ in range(files)}
    head = git.commit("refs/heads/main", [("M", n, text(c)) for n, c in main.items()], [], "initial import")
    states = collections.deque([(head, dict(main))], maxlen=60)  # main's recent commits: where branches fork
    made = 1
    rate = secrets / max(commits, 1)  # default: a secret comes in about every 1,000 commits
    while made < commits:
        if rng.random() < 0.6:  # a branch of 1-4 commits forked a while ago, merged (or, rarely, left unmerged)
            fork, base = states[-1 - min(len(states) - 1, int(rng.expovariate(1 / 8)))]
            branch, tip = dict(base), fork
            for k in range(rng.randint(1, 4)):
                tip = git.commit("refs/heads/wip", work(branch, rate), [tip], f"topic {made} step {k}")
                made += 1
            if rng.random() < 0.02:  # an unmerged branch: its ref stays
                proc.stdin.write(f"reset refs/heads/spike-{made}\nfrom :{tip}\n\n".encode())
                continue
            merge_ops: list[tuple] = []
            changed = {n for n in branch if branch[n] is not base.get(n)} | {n for n in base if n not in branch}
            for name in sorted(changed):
                if name not in branch:  # deleted or renamed away on the branch
                    if name in main:
                        del main[name]
                        merge_ops.append(("D", name))
                    continue
                if name in main and main[name] is not base.get(name):  # changed on both sides: resolved
                    resolved = branch[name] + [f"    # resolved: {_line(rng).strip()}"]
                    main[name] = with_secret(resolved) if rng.random() < 0.03 else resolved
                else:
                    main[name] = branch[name]
                merge_ops.append(("M", name, text(main[name])))
            head = git.commit("refs/heads/main", merge_ops, [head, tip], f"Merge topic-{made}")
        else:
            head = git.commit("refs/heads/main", work(main, rate), [head], f"change {made}")
        made += 1
        states.append((head, dict(main)))
        if made % 2500 < 5 and rng.random() < 0.5:
            proc.stdin.write(f"tag v{made}\nfrom :{head}\ntagger Ada Lovelace <ada@example.com> {git.ts} +0000\ndata 7\nrelease\n".encode())
    proc.stdin.close()
    if proc.wait() != 0:
        raise SystemExit("git fast-import failed")
    subprocess.run(["git", "-C", str(path), "symbolic-ref", "HEAD", "refs/heads/main"], check=True)
    subprocess.run(["git", "-C", str(path), "update-ref", "-d", "refs/heads/wip"], check=True)  # merged branches are gone
    # fast-import deltas each blob against the previous one in the stream (another file): repack as
    # git would, so delta chains follow each file's history like in a real repository
    subprocess.run(["git", "-C", str(path), "repack", "-a", "-d", "-f", "-q", "--window=10", "--depth=50"], check=True)


def floor(repo: Path, runs: int) -> float:
    best = float("inf")
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(
            ["git", "-C", str(repo), "cat-file", "--batch-all-objects", "--batch", "--unordered"],
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
