"""Working-tree benchmark: scanner against the floor (reading every file once) and, optionally,
detect-secrets on the same tree.

    python benchmarks/worktree.py --path /some/large/tree            # a real tree
    python benchmarks/worktree.py --generate 20000                   # a synthetic tree of 20,000 files
    python benchmarks/worktree.py --path TREE --compare detect-secrets  # installs it in a throwaway venv

Prints bytes, wall time, MB/s, peak RSS and the ratio to the floor. No assertions: figures only.
"""

from __future__ import annotations

import argparse
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

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from scanner.sources import worktree  # noqa: E402

TEMPLATES = [
    'import os\n\nDEBUG = {b}\nDATABASE_URL = os.environ["DATABASE_URL"]\nTIMEOUT = {n}\n\n'
    "def handler(event, context):\n    return {{'status': {n}, 'body': '{w}'}}\n",
    "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {w}\nspec:\n  replicas: {n}\n  template:\n"
    "    spec:\n      containers:\n        - name: {w}\n          image: nginx:1.{n}\n",
    'resource "aws_s3_bucket" "{w}" {{\n  bucket = "{w}-logs"\n  tags = {{ Name = "{w}" }}\n}}\n',
    "FROM python:3.12-slim\nWORKDIR /app\nCOPY . .\nRUN pip install -r requirements.txt\nUSER 1000\n",
    "# {w}\n\nSome documentation about {w}. Set the password in the vault, never here.\n" * 3,
]


def generate(root: Path, files: int, seed: int = 7) -> None:
    rng = random.Random(seed)
    root.mkdir(parents=True, exist_ok=True)
    exts = [".py", ".yaml", ".tf", "", ".md"]
    for i in range(files):
        kind = i % len(TEMPLATES)
        word = "".join(rng.choices(string.ascii_lowercase, k=8))
        text = TEMPLATES[kind].format(w=word, n=rng.randint(1, 99), b=rng.choice(["True", "False"])) * rng.randint(1, 40)
        if i % 997 == 0:  # a few real-format fake secrets
            text += f'\nGITHUB_TOKEN = "ghp_{"".join(rng.choices(string.ascii_letters + string.digits, k=36))}"\n'
        sub = root / f"pkg{i % 200:03d}"
        sub.mkdir(exist_ok=True)
        name = "Dockerfile" if exts[kind] == "" else f"mod{i:05d}{exts[kind]}"
        (sub / (name if name != "Dockerfile" else f"svc{i:05d}.Dockerfile")).write_text(text)


def floor(path: Path) -> tuple[int, int, float]:
    entries, _, _ = worktree.list_files([str(path)])
    started = time.perf_counter()
    total = 0
    for entry in entries:
        try:
            with open(entry.abs, "rb") as handle:
                total += len(handle.read())
        except OSError:
            pass
    return len(entries), total, time.perf_counter() - started


def timed(cmd: list[str], cwd: Path | None = None) -> tuple[float, float, int]:
    """Wall seconds, peak RSS in MB of the child, exit code."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    started = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    wall = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    if proc.returncode not in (0, 1):
        print(f"  command failed ({proc.returncode}): {' '.join(cmd)}\n  {proc.stderr.decode()[-500:]}")
    return wall, max(peak, before) / 1024, proc.returncode


def compare_detect_secrets(path: Path) -> float | None:
    venv = Path(tempfile.mkdtemp(prefix="bench-ds-"))
    try:
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(venv / "bin" / "pip"), "install", "-q", "detect-secrets==1.5.0"], check=True)
        wall, rss, _ = timed([str(venv / "bin" / "detect-secrets"), "scan", "--all-files", str(path)], cwd=path)
        print(f"  detect-secrets:  {wall:8.2f} s  peak RSS {rss:7.1f} MB")
        return wall
    except (subprocess.CalledProcessError, OSError) as exc:
        print(f"  detect-secrets: could not run ({exc})")
        return None
    finally:
        shutil.rmtree(venv, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--path", type=Path, help="tree to scan (default: a generated one)")
    parser.add_argument("--generate", type=int, default=5000, metavar="FILES", help="files in the generated tree")
    parser.add_argument("--compare", action="append", default=[], choices=["detect-secrets"])
    parser.add_argument("--jobs", type=int, default=0)
    args = parser.parse_args()
    tmp = None
    path = args.path
    if path is None:
        tmp = Path(tempfile.mkdtemp(prefix="bench-tree-"))
        path = tmp / "tree"
        generate(path, args.generate)
    try:
        files, size, floor_s = floor(path)
        mb = size / 1e6
        print(f"workload: {path} - {files} files, {mb:.1f} MB, {os.cpu_count()} cores")
        print(f"  floor (read every file once): {floor_s:8.2f} s  {mb / max(floor_s, 1e-9):8.1f} MB/s")
        cmd = [sys.executable, "-m", "scanner", "scan", str(path), "-f", "json", "-o", os.devnull, "-q"]
        if args.jobs:
            cmd += ["--jobs", str(args.jobs)]
        env_path = str(REPO)
        os.environ["PYTHONPATH"] = env_path + os.pathsep + os.environ.get("PYTHONPATH", "")
        wall, rss, code = timed(cmd, cwd=path)
        print(f"  scanner:         {wall:8.2f} s  {mb / max(wall, 1e-9):8.1f} MB/s  peak RSS {rss:7.1f} MB  "
              f"ratio to floor {wall / max(floor_s, 1e-9):6.1f}x  (exit {code})")
        if "detect-secrets" in args.compare:
            other = compare_detect_secrets(path)
            if other:
                print(f"  scanner is {other / wall:.1f}x faster than detect-secrets on this tree")
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
