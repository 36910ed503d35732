"""History shards side by side on one machine share its cores (issue 18: N shards cost about one
scan): with the default --jobs each takes its share of the cores, and when they outnumber the cores
they take turns; an explicit --jobs is used as given. What a user sees: the progress line of the
scanning phase, and a shard that waits while the others hold every turn."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from scanner import shard_host
from tests.shard_repos import build

REPO = Path(__file__).resolve().parent.parent
PACK = Path(__file__).with_name("history_pack.yaml")
HISTORY_RULES = ["--rules", str(PACK), "--only", "history-test"]
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")

pytestmark = pytest.mark.skipif(not hasattr(os, "sched_setaffinity") or os.name != "posix", reason="needs Linux")


def _cores() -> set[int]:
    """Two of the cores this test may use (one on a one-core machine): what the shards see."""
    return set(sorted(os.sched_getaffinity(0))[:2])


def _env(cache: Path) -> dict[str, str]:
    env = dict(os.environ, PYTHONPATH=str(REPO), SCANNER_CACHE_DIR=str(cache), SCANNER_FORCE_PROGRESS="1",
               SCANNER_PROGRESS_DELAY="0", NO_COLOR="1", COLUMNS="200")  # fmt: skip
    for name in ("SCANNER_NO_CACHE", "SCANNER_SHARD", "SCANNER_SHARD_COUNT", "SCANNER_DEBUG"):
        env.pop(name, None)
    return env


def _shard(repo: Path, cache: Path, shard: str, out: Path, *extra: str) -> subprocess.Popen:
    cores = _cores()
    return subprocess.Popen(
        [sys.executable, "-m", "scanner", "scan", str(repo), "--history", "--shard", shard, "-f", "json", "-o", str(out),
         *HISTORY_RULES, *extra],
        env=_env(cache), stdout=subprocess.PIPE, stderr=subprocess.PIPE, preexec_fn=lambda: os.sched_setaffinity(0, cores),
        cwd=repo.parent,
    )  # fmt: skip


def _finish(proc: subprocess.Popen) -> str:
    _, err = proc.communicate(timeout=120)
    assert proc.returncode in (0, 1), err.decode(errors="replace")
    return ANSI.sub("", err.decode(errors="replace"))


@pytest.fixture
def scan(tmp_path: Path):  # noqa: ANN201 - (repo, cache, key of its listing, peers)
    repo = tmp_path / "repo.git"
    build(repo, commits=150, files=8, seed=11, bare=True)
    cache = tmp_path / "cache"
    first = _finish(_shard(repo, cache, "1/3", tmp_path / "first.json"))  # lists the history: its key
    assert "shards here" not in first  # alone on the machine: nothing to share
    [listing] = cache.glob("listing-*.bin")
    peers: list[subprocess.Popen] = []
    yield repo, cache, listing.stem.removeprefix("listing-"), peers
    for peer in peers:
        peer.kill()
        peer.wait()


def _peer(cache: Path, key: str, peers: list[subprocess.Popen]) -> Path:
    """Another shard of the same scan running on this machine: a live process with a run file."""
    proc = subprocess.Popen(["sleep", "60"])
    peers.append(proc)
    run = cache / f"listing-{key}.{shard_host.host()}.{proc.pid}.run"
    run.write_bytes(b"")
    return run


def test_shards_side_by_side_share_the_cores_and_forget_the_shards_that_are_gone(scan, tmp_path):
    repo, cache, key, peers = scan
    live = [_peer(cache, key, peers) for _ in range(2)]
    gone = subprocess.Popen(["true"])
    gone.wait()
    stale = cache / f"listing-{key}.{shard_host.host()}.{gone.pid}.run"  # a shard killed before it could clean up
    stale.write_bytes(b"")
    shown = _finish(_shard(repo, cache, "2/3", tmp_path / "two.json"))
    cores = len(_cores())
    expected = f"3 shards here share {cores} cores: 1 worker each" + (f", {cores} at a time" if cores < 3 else "")
    assert expected in shown
    assert not stale.exists() and all(run.exists() for run in live)
    assert not list(cache.glob(f"listing-{key}.*.{os.getpid()}.run"))
    assert len(list(cache.glob("listing-*.run"))) == 2  # the shard's own run file went with it
    # an explicit --jobs is used as given: no share of the cores
    explicit = _finish(_shard(repo, cache, "2/3", tmp_path / "two-j.json", "--jobs", "2"))
    assert "scanning blobs" in explicit and "shards here" not in explicit


def test_shards_that_outnumber_the_cores_take_turns(scan, tmp_path):
    repo, cache, key, peers = scan
    cores = len(_cores())
    for _ in range(cores):  # every core already has a shard of this scan: no turn is free
        _peer(cache, key, peers)
    holders = [shard_host.Here(cache, key) for _ in range(cores)]
    turns = [holder.turn(cores) for holder in holders]
    for turn in turns:
        turn.__enter__()
    try:
        waiting = _shard(repo, cache, "3/3", tmp_path / "three.json")
        time.sleep(3)
        assert waiting.poll() is None  # it waits for a turn, it does not scan beside the others
    finally:
        for turn in turns:
            turn.__exit__(None, None, None)
    shown = _finish(waiting)
    assert "waiting for a turn" in shown and f"{cores} at a time" in shown
    whole = tmp_path / "whole.json"
    subprocess.run([sys.executable, "-m", "scanner", "scan", str(repo), "--history", "-f", "json", "-o", str(whole),
                    "--shard", "3/3", "--jobs", "1", *HISTORY_RULES], env=_env(cache), capture_output=True, check=False,
                   cwd=tmp_path)  # fmt: skip
    assert json.loads((tmp_path / "three.json").read_text())["findings"] == json.loads(whole.read_text())["findings"]


@pytest.mark.skipif(len(_cores()) < 2, reason="needs two cores: two turns")
def test_a_waiting_shard_takes_whichever_turn_comes_free(scan, tmp_path):
    repo, cache, key, peers = scan
    cores = len(_cores())
    for _ in range(cores):
        _peer(cache, key, peers)
    holders = [shard_host.Here(cache, key) for _ in range(cores)]
    turns = [holder.turn(cores) for holder in holders]
    for turn in turns:
        turn.__enter__()  # holder i holds turn file i
    try:
        waiting = _shard(repo, cache, "3/3", tmp_path / "three.json")
        time.sleep(2)
        assert waiting.poll() is None
        # the turn that shard 3 would have queued on before ((3 - 1) mod cores) stays taken; another comes free
        freed = (2 % cores + 1) % cores
        turns[freed].__exit__(None, None, None)
        shown = _finish(waiting)  # it scans now, while the other turns are still held
        assert "waiting for a turn" in shown
        assert json.loads((tmp_path / "three.json").read_text())["findings"]
    finally:
        for i, turn in enumerate(turns):
            if i != freed:
                turn.__exit__(None, None, None)


def test_three_shards_side_by_side_merge_to_the_unsharded_findings(tmp_path):
    repo = tmp_path / "repo.git"
    build(repo, commits=200, files=10, seed=12, bare=True)
    cache = tmp_path / "cache"
    parts = [tmp_path / f"part-{k}.json" for k in range(1, 4)]
    running = [_shard(repo, cache, f"{k}/3", part) for k, part in enumerate(parts, 1)]
    for proc in running:
        _finish(proc)
    merged, whole = tmp_path / "merged.json", tmp_path / "whole.json"
    env = _env(cache)
    subprocess.run([sys.executable, "-m", "scanner", "merge", *map(str, parts), "-f", "json", "-o", str(merged)],
                   env=env, capture_output=True, check=False, cwd=tmp_path)  # fmt: skip
    subprocess.run([sys.executable, "-m", "scanner", "scan", str(repo), "--history", "-f", "json", "-o", str(whole),
                    *HISTORY_RULES], env=env, capture_output=True, check=False, cwd=tmp_path)  # fmt: skip
    expected = json.loads(whole.read_text())["findings"]
    assert expected and json.loads(merged.read_text())["findings"] == expected
    assert not list(cache.glob("listing-*.run"))  # every shard removed its run file
