"""SIGINT and SIGTERM at any moment of a real history scan (issue 20): exit 130 with the "results are
incomplete" note, no traceback, no process left behind, within seconds of the signal.

The history is a few thousand commits made with `git fast-import` (secrets in some blobs). The
scanner runs in its own process group; the signal goes to the process alone (`kill PID`, what a
supervisor does) or to the whole group (`kill -PGID`, what Ctrl-C in a terminal does), at seeded
random instants spread over a whole scan: start-up, the `git log` listing, reading and scanning
blobs in the workers, provenance, the work tree scan and the report.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from scanner.engines.checksums import with_checksum
from tests.conftest import REPO, wait_for_handlers

SEED = 20
INSTANTS = 24  # x (SIGINT, SIGTERM) x (process, group), mixed
EXIT_WITHIN = 2.0  # seconds from the signal to the exit (the issue asks for one; CI machines are shared)
# The interpreter's own start-up (site, .pth files) runs before any line of the scanner can handle a
# signal: there a signal ends Python by its default action, with no child to leave behind. The
# instants count from the moment the handlers are in place (the package's first line, scanner/__init__),
# seen in /proc (tests.conftest.wait_for_handlers), not from the start: a loaded machine can take
# longer than any fixed allowance to get there.
BASE62 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"


def fast_import_history(root: Path, commits: int, seed: int = 7) -> int:
    """A repository of `commits` commits on main (plus a merged branch every 500), each changing a
    ~12 KB file; every 40th adds a fake GitHub token, every 120th removes one. Returns the number of
    secrets written."""
    rng = random.Random(seed)
    words = ["alpha", "beta", "gamma", "delta", "config", "value", "server", "port", "name", "retry"]
    out: list[bytes] = []
    secrets = 0

    def blob(text: str) -> None:
        data = text.encode()
        out.append(b"data %d\n%s\n" % (len(data), data))

    def body(n: int) -> str:
        lines = [f"{rng.choice(words)}_{i} = {rng.choice(words)}-{n}-{rng.randrange(1 << 30)}" for i in range(300)]
        return "\n".join(lines) + "\n"

    when = 1_700_000_000
    for n in range(1, commits + 1):
        out.append(b"commit refs/heads/main\n")
        out.append(b"mark :%d\n" % n)
        out.append(b"committer Dev <dev@example.invalid> %d +0000\n" % (when + n * 60))
        blob(f"change {n}")
        if n > 1:
            out.append(b"from :%d\n" % (n - 1))
        out.append(b"M 100644 inline src/mod%d/file%d.txt\n" % (n % 40, n % 200))
        blob(body(n))
        if n % 40 == 0:
            token = with_checksum("ghp_", "".join(rng.choice(BASE62) for _ in range(30)))
            out.append(b"M 100644 inline deploy/env%d.sh\n" % (n % 7))
            blob(f"#!/bin/sh\nexport GITHUB_TOKEN={token}\n")
            secrets += 1
        if n % 120 == 0:
            out.append(b"D deploy/env%d.sh\n" % ((n // 40) % 7))
    subprocess.run(["git", "init", "-q", "-b", "main", str(root)], check=True)
    subprocess.run(["git", "-C", str(root), "fast-import", "--quiet"], input=b"".join(out), check=True)
    subprocess.run(["git", "-C", str(root), "checkout", "-q", "-f", "main"], check=True)
    return secrets


def _group_members(pgid: int) -> list[str]:
    """Live (non-zombie) processes in process group `pgid`, from /proc: no psutil."""
    alive = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_bytes()
        except OSError:
            continue
        fields = stat[stat.rfind(b")") + 2 :].split()
        if len(fields) > 2 and int(fields[2]) == pgid and fields[0] != b"Z":
            alive.append(f"{entry} {stat[: stat.rfind(b')') + 1].decode(errors='replace')}")
    return alive


def _report_findings(out: bytes) -> int:
    try:
        return json.loads(out)["summary"]["findings"]
    except (ValueError, KeyError, TypeError):
        return -1


# `python -m scanner`, with the history's blobs read and scanned in forked workers as a history over
# PARALLEL_MIN_BYTES is (a few thousand commits are scanned in-process otherwise): the workers, their
# own git readers and the pool's shutdown are what a signal must find and end.
FORKED_WORKERS = (
    "import runpy, scanner.scan_history as h; h.PARALLEL_MIN_BYTES = 0; runpy.run_module('scanner', run_name='__main__')"
)


def _start(repo: Path, env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", FORKED_WORKERS, "scan", ".", "--history", "--jobs", "2", "--format", "json"],
        cwd=repo, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
    )  # fmt: skip


@pytest.mark.skipif(not Path("/proc/self/stat").exists() or os.name != "posix", reason="needs /proc")
def test_sigint_and_sigterm_at_random_instants_of_a_history_scan(tmp_path):
    repo = tmp_path / "repo"
    secrets = fast_import_history(repo, 3000)
    env = dict(os.environ, NO_COLOR="1", PYTHONPATH=str(REPO), SCANNER_CACHE_DIR=str(tmp_path / "cache"))
    env.pop("SCANNER_DEBUG", None)
    cold = _start(repo, env)  # fills the caches (rules, listing): the runs below are warm, as this one is not
    out, err = cold.communicate(timeout=120)
    assert cold.returncode == 1, err  # findings: the secrets
    complete = json.loads(out)["summary"]["findings"]
    assert out.count(b'"rule": "github-token"') >= secrets // 7  # one per lineage, removed ones included
    whole = _start(repo, env)
    assert wait_for_handlers(whole)
    started = time.monotonic()
    out, err = whole.communicate(timeout=120)
    full = time.monotonic() - started  # a warm run, from its handlers to its exit
    assert whole.returncode == 1 and _report_findings(out) == complete, err
    # the instants: seeded, uniform over the whole run and a little past it
    rng = random.Random(SEED)
    plan = [(rng.uniform(0.0, full * 1.1), sig, group) for sig, group in
            [(s, g) for s in (signal.SIGINT, signal.SIGTERM) for g in (False, True)] * (INSTANTS // 4)]  # fmt: skip
    rng.shuffle(plan)

    worst = 0.0
    interrupted = finished = 0
    failures = []
    for at, sig, group in plan:
        proc = _start(repo, env)
        wait_for_handlers(proc)
        time.sleep(at)
        sent = time.monotonic()
        if proc.poll() is None:  # not yet reaped (a zombie still holds its pid): never another's process
            try:
                if group:
                    os.killpg(proc.pid, sig)
                else:
                    proc.send_signal(sig)
            except ProcessLookupError:
                pass
        try:
            out, err = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            failures.append(f"hung: {sig!r} to {'group' if group else 'process'} at {at:.2f}s")
            continue
        took = time.monotonic() - sent
        worst = max(worst, took)
        leftover = _group_members(proc.pid)
        what = f"{signal.Signals(sig).name} to the {'group' if group else 'process'} at {at:.2f}s"
        text = err.decode("utf-8", "replace")
        if proc.returncode == 130:
            interrupted += 1
            if "results are incomplete" not in text:
                failures.append(f"{what}: no incomplete note: {text[-300:]}")
        elif proc.returncode == 1 and _report_findings(out) == complete:
            finished += 1  # it was done before the signal: the whole, normal result
        else:
            failures.append(f"{what}: exit {proc.returncode}: {text[-400:]}")
        if "Traceback" in text:
            failures.append(f"{what}: traceback: {text[-600:]}")
        if took > EXIT_WITHIN:
            failures.append(f"{what}: exit took {took:.2f}s")
        if leftover:
            for member in leftover:
                try:
                    os.kill(int(member.split()[0]), signal.SIGKILL)
                except OSError:
                    pass
            failures.append(f"{what}: left processes behind: {leftover}")
    print(f"\n{len(plan)} instants over a {full:.2f}s scan: {interrupted} interrupted, {finished} already "
          f"finished; worst time from signal to exit {worst:.3f}s")  # fmt: skip
    assert not failures, "\n".join(failures)
    assert interrupted >= len(plan) // 2
