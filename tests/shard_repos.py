"""Generated git histories for the sharding tests (git fast-import: a few hundred commits in well
under a second): secrets that come in and go, in files that are deleted, renamed (with and without
edits), copied, on branches merged back or left unmerged, and one added by a merge's own resolution.

Secrets have the formats of tests/history_pack.yaml (GitHub classic token, AWS access key id), drawn
at random: realistic shapes, never live."""

from __future__ import annotations

import random
import string
import subprocess
import zlib
from pathlib import Path

WORDS = "alpha beta gamma delta cache queue worker client server token record stream parser".split()
PEOPLE = ["Ada Lovelace <ada@example.com>", "Alan Turing <alan@example.com>", "Grace Hopper <grace@example.com>"]


BASE62 = string.digits + string.ascii_uppercase + string.ascii_lowercase


def _crc_base62(body: str) -> str:
    """GitHub's token checksum: CRC32 of the 30 random characters, base62, 6 characters."""
    number, digits = zlib.crc32(body.encode()), ""
    while number:
        number, rest = divmod(number, 62)
        digits = BASE62[rest] + digits
    return digits.rjust(6, "0")


def fake_secret(rng: random.Random) -> str:
    if rng.random() < 0.5:  # a classic token with a valid checksum (the scanner verifies it)
        body = "".join(rng.choice(BASE62) for _ in range(30))
        return "ghp_" + body + _crc_base62(body)
    return "AKIA" + "".join(rng.choice(string.ascii_uppercase + string.digits) for _ in range(16))


def build(path: Path, commits: int = 400, files: int = 30, seed: int = 1, bare: bool = False) -> None:
    """A repository at `path` (a work tree checked out at main unless `bare`)."""
    rng = random.Random(seed)
    subprocess.run(["git", "init", "-q", *(["--bare"] if bare else []), str(path)], check=True)
    proc = subprocess.Popen(["git", "-C", str(path), "fast-import", "--quiet"], stdin=subprocess.PIPE)
    out = proc.stdin
    assert out is not None
    names = [f"{rng.choice(['src', 'conf', 'deploy'])}/{rng.choice(WORDS)}_{i}.{rng.choice(['py', 'env', 'yaml'])}"
             for i in range(files)]  # fmt: skip
    content: dict[str, list[str]] = {}
    secrets: list[str] = []
    mark = 0
    ts = 1_600_000_000

    def line() -> str:
        return f"{rng.choice(WORDS)}_{rng.choice(WORDS)} = {rng.randint(0, 9999)}"

    def text(name: str) -> str:
        return "\n".join(content[name]) + "\n"

    def emit(ref: str, parents: list[int], ops: list[str], msg: str) -> int:
        nonlocal mark, ts
        mark += 1
        ts += rng.randint(60, 3600)
        who = rng.choice(PEOPLE)
        out.write(f"commit {ref}\nmark :{mark}\nauthor {who} {ts} +0000\ncommitter {who} {ts} +0000\n".encode())
        out.write(f"data {len(msg)}\n{msg}\n".encode())
        if parents:
            out.write(f"from :{parents[0]}\n".encode())
            for p in parents[1:]:
                out.write(f"merge :{p}\n".encode())
        for op in ops:
            out.write(op.encode())
        out.write(b"\n")
        return mark

    def modify(name: str) -> str:
        data = text(name).encode()
        return f"M 100644 inline {name}\ndata {len(data)}\n".encode().decode() + data.decode() + "\n"

    for name in names:
        content[name] = [line() for _ in range(rng.randint(5, 30))]
    main = emit("refs/heads/main", [], [modify(n) for n in names], "initial")
    for n in range(1, commits):
        ops: list[str] = []
        live = [x for x in names if x in content]
        name = rng.choice(live)
        roll = rng.random()
        if roll < 0.12:  # a secret comes in (sometimes one already seen: the same secret in two files)
            secret = rng.choice(secrets) if secrets and rng.random() < 0.3 else fake_secret(rng)
            secrets.append(secret)
            content[name].insert(rng.randrange(len(content[name]) + 1), f"api_key = '{secret}'")
            ops.append(modify(name))
        elif roll < 0.2:  # a secret is edited out
            holders = [x for x in live if any("api_key" in ln for ln in content[x])]
            if holders:
                name = rng.choice(holders)
                content[name] = [ln for ln in content[name] if "api_key" not in ln]
                ops.append(modify(name))
        elif roll < 0.25 and len(live) > 10:  # a file is deleted (its secrets stay in history)
            del content[name]
            ops.append(f"D {name}\n")
        elif roll < 0.32:  # a rename, half of them with an edit in the same commit
            new = f"{rng.choice(['src', 'conf', 'lib'])}/{rng.choice(WORDS)}_r{n}.{name.rsplit('.', 1)[-1]}"
            content[new] = content.pop(name)
            names.append(new)
            ops.append(f"R {name} {new}\n")
            if rng.random() < 0.5:
                content[new].append(line())
                ops.append(modify(new))
        elif roll < 0.36:  # a copy: the same secrets, a second lineage
            new = f"copies/{rng.choice(WORDS)}_c{n}.env"
            content[new] = list(content[name])
            names.append(new)
            ops.append(modify(new))
        else:
            content[name][rng.randrange(len(content[name]))] = line()
            ops.append(modify(name))
        if n % 60 == 30:  # a branch: merged back (every other one with a secret of its own resolution)
            branch = main
            saved = {k: list(v) for k, v in content.items()}
            for k in range(3):
                target = rng.choice([x for x in names if x in content])
                content[target].insert(0, f"token = '{fake_secret(rng)}'" if k == 1 else line())
                branch = emit(f"refs/heads/topic-{n}", [branch], [modify(target)], f"topic {n} step {k}")
            if n % 120 == 30:
                resolution = [modify(x) for x in content if content[x] != saved.get(x)]
                if n % 240 == 30:
                    target = rng.choice([x for x in names if x in content])
                    content[target].append(f"merge_key = '{fake_secret(rng)}'")
                    resolution.append(modify(target))
                main = emit("refs/heads/main", [main, branch], resolution, f"Merge topic-{n}")
            else:  # left unmerged: main goes on without it
                content = saved
            continue
        main = emit("refs/heads/main", [main], ops, f"change {n}")
    out.close()
    if proc.wait() != 0:
        raise RuntimeError("git fast-import failed")
    subprocess.run(["git", "-C", str(path), "symbolic-ref", "HEAD", "refs/heads/main"], check=True)
    if not bare:
        subprocess.run(["git", "-C", str(path), "reset", "-q", "--hard", "main"], check=True)
