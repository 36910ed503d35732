"""History shards side by side on one machine share one listing of the history (issue 18: N shards
cost about one scan), and the listing a history scan keeps is compact and exact."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from scanner.sources import history, listing_cache
from scanner.sources.history import list_blobs, read_order, select
from tests.conftest import git
from tests.shard_repos import _crc_base62, build

PACK = Path(__file__).with_name("history_pack.yaml")
HISTORY_RULES = ["--rules", str(PACK), "--only", "history-test"]


def _findings(path: Path) -> list[dict]:
    return json.loads(path.read_text())["findings"]


def _merge(cli, tmp_path: Path, repo: Path, count: int, name: str) -> list[dict]:
    parts = []
    for k in range(1, count + 1):
        out = tmp_path / f"{name}-{k}.json"
        assert cli("scan", ".", "--history", "--shard", f"{k}/{count}", "-f", "json", "-o", str(out), "-q",
                   *HISTORY_RULES, cwd=repo).code in (0, 1)  # fmt: skip
        parts.append(str(out))
    merged = tmp_path / f"{name}-merged.json"
    cli("merge", *parts, "-f", "json", "-o", str(merged), cwd=repo)
    return _findings(merged)


def _whole(cli, tmp_path: Path, repo: Path, name: str) -> list[dict]:
    out = tmp_path / f"{name}.json"
    cli("scan", ".", "--history", "-f", "json", "-o", str(out), "-q", *HISTORY_RULES, cwd=repo)
    return _findings(out)


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    folder = tmp_path / "cache"
    monkeypatch.setenv("SCANNER_CACHE_DIR", str(folder))
    monkeypatch.delenv("SCANNER_NO_CACHE", raising=False)
    return folder


def test_shards_after_the_first_read_its_listing_and_merge_to_the_unsharded_findings(cli, tmp_path, cache, monkeypatch):
    repo = tmp_path / "repo"
    build(repo, commits=300, files=20, seed=5)
    expected = _whole(cli, tmp_path, repo, "whole")
    assert expected and not list(cache.glob("listing-*.bin"))  # an unsharded scan keeps no listing
    walks = []
    real = listing_cache.list_blobs

    def counting(*args, **kw):
        walks.append(1)
        return real(*args, **kw)

    monkeypatch.setattr(listing_cache, "list_blobs", counting)
    assert _merge(cli, tmp_path, repo, 3, "three") == expected
    assert len(walks) == 1 and len(list(cache.glob("listing-*.bin"))) == 1  # one walk for the three shards


def test_a_new_commit_is_a_new_listing_and_no_cache_lists_every_time(cli, tmp_path, cache, monkeypatch):
    repo = tmp_path / "repo"
    build(repo, commits=120, files=10, seed=6)
    before = _merge(cli, tmp_path, repo, 2, "before")
    body = "EXAMPLExxNOTxxLIVExxTOKENxx042"  # a fake with the checksum the scanner verifies
    token = "ghp_" + body + _crc_base62(body)
    (repo / "added.env").write_text(f"TOKEN={token}\n")
    git(repo, "add", "added.env")
    git(repo, "commit", "-q", "-m", "add a token")
    after = _merge(cli, tmp_path, repo, 2, "after")
    assert after == _whole(cli, tmp_path, repo, "whole")
    assert len(list(cache.glob("listing-*.bin"))) == 2  # the old listing was not reused for the new history
    assert {f["path"] for f in after} - {f["path"] for f in before} == {"added.env"}
    monkeypatch.setenv("SCANNER_NO_CACHE", "1")
    assert _merge(cli, tmp_path, repo, 2, "uncached") == after


def test_a_damaged_listing_file_is_listed_again(cli, tmp_path, cache):
    repo = tmp_path / "repo"
    build(repo, commits=120, files=10, seed=7)
    first = _merge(cli, tmp_path, repo, 2, "first")
    [saved] = cache.glob("listing-*.bin")
    saved.write_bytes(saved.read_bytes()[:200])  # cut short
    assert _merge(cli, tmp_path, repo, 2, "again") == first


def test_the_compact_listing_gives_every_blob_its_path_and_reads_in_storage_order(tmp_path):
    repo = tmp_path / "repo"
    build(repo, commits=150, files=12, seed=8)
    root = str(repo)
    listing = list_blobs(root, select(root))
    pairs = list(listing.items())
    assert len(pairs) == len(listing) == len({sha for sha, _ in pairs}) > 100
    reachable = "".join(line.split(" ")[0] + "\n" for line in git(repo, "rev-list", "--objects", "--all").splitlines())
    kinds = subprocess.run(["git", "-C", root, "cat-file", "--batch-check=%(objecttype) %(objectname)"],
                           input=reachable, capture_output=True, text=True, check=True).stdout.split()  # fmt: skip
    assert {sha for sha, _ in pairs} == {sha for kind, sha in zip(kinds[::2], kinds[1::2], strict=True) if kind == "blob"}
    sha, path = pairs[-1]
    assert sha in listing and listing.path(sha) == path and "0" * 40 not in listing and "nonsense" not in listing
    with history.StoredBlobs(root) as stored:
        order, gaps, big = read_order(listing, stored, 10**9, True)
    assert gaps == [] and big == []
    first, second = list(order), list(order)  # iterable again: the scan and its sizes both walk it
    assert first == second and {(s, p) for s, p, _ in first} == set(pairs)
    assert all(size == int(git(repo, "cat-file", "-s", s)) for s, _, size in first[:20])
    assert sha in order
    order.unread([sha])
    assert sha not in order


def test_only_the_newest_listings_are_kept_with_their_locks(cli, tmp_path, cache):
    repo = tmp_path / "repo"
    build(repo, commits=20, files=3, seed=8)
    for n in range(listing_cache.LISTINGS_KEPT + 2):  # each commit a new history, so a new listing
        (repo / "notes.txt").write_text(f"note {n}\n")
        git(repo, "add", "notes.txt")
        git(repo, "commit", "-q", "-m", f"note {n}")
        assert cli("scan", ".", "--history", "--shard", "1/2", "-f", "json", "-o", str(tmp_path / "part.json"),
                   "-q", *HISTORY_RULES, cwd=repo).code in (0, 1)  # fmt: skip
    listings = {p.stem for p in cache.glob("listing-*.bin")}
    assert len(listings) == listing_cache.LISTINGS_KEPT
    assert {p.stem for p in cache.glob("listing-*.lock")} == listings


def _counting_picks(monkeypatch) -> list[int]:
    picks: list[int] = []
    real = history.Listing.select_runs

    def counting(self, *args, **kw):
        picks.append(1)
        return real(self, *args, **kw)

    monkeypatch.setattr(history.Listing, "select_runs", counting)
    return picks


def test_the_shard_that_lists_saves_every_shards_part_and_the_others_read_theirs(cli, tmp_path, cache, monkeypatch):
    repo = tmp_path / "repo"
    build(repo, commits=300, files=20, seed=9)
    expected = _whole(cli, tmp_path, repo, "whole")
    picks = _counting_picks(monkeypatch)
    assert _merge(cli, tmp_path, repo, 3, "three") == expected
    assert len(list(cache.glob("listing-*.parts-3"))) == 1
    assert picks == []  # no shard picked its part out of the whole listing: each read its saved one


def test_shards_of_a_url_each_clone_it_and_share_one_listing(cli, tmp_path, cache, monkeypatch):
    """Each shard of `scan --history URL` clones the URL to a temporary folder of its own: the
    listing is named by the URL (and every ref), not by that folder, so one shard lists the history
    and the others read it, as for a local repository."""
    repo = tmp_path / "repo"
    build(repo, commits=200, files=15, seed=4)
    served = tmp_path / "served.git"
    subprocess.run(["git", "clone", "-q", "--bare", str(repo), str(served)], check=True)
    url = served.as_uri()
    whole = tmp_path / "whole.json"
    assert cli("scan", "--history", url, "-f", "json", "-o", str(whole), "-q", *HISTORY_RULES, cwd=tmp_path).code == 1
    walks = []
    real = listing_cache.list_blobs
    monkeypatch.setattr(listing_cache, "list_blobs", lambda *a, **kw: walks.append(1) or real(*a, **kw))
    parts = []
    for k in range(1, 4):
        out = tmp_path / f"url-{k}.json"
        assert cli("scan", "--history", url, "--shard", f"{k}/3", "-f", "json", "-o", str(out), "-q", *HISTORY_RULES,
                   cwd=tmp_path).code in (0, 1)  # fmt: skip
        parts.append(str(out))
    assert len(walks) == 1 and len(list(cache.glob("listing-*.bin"))) == 1  # listed once for the three clones
    merged = tmp_path / "url-merged.json"
    cli("merge", *parts, "-f", "json", "-o", str(merged), cwd=tmp_path)
    assert _findings(merged) == _findings(whole) and _findings(whole)


def _saved_by_a_first_merge(cli, tmp_path: Path, count: int, **history) -> tuple[Path, list[dict]]:
    """A generated history (tests.shard_repos.build), its unsharded findings, and a first sharded
    scan in `count` shards, merged, equal to them: its listing and parts are saved in the cache."""
    repo = tmp_path / "repo"
    build(repo, **history)
    expected = _whole(cli, tmp_path, repo, "whole")
    assert _merge(cli, tmp_path, repo, count, "first") == expected
    return repo, expected


def test_a_damaged_or_foreign_part_file_is_ignored(cli, tmp_path, cache, monkeypatch):
    repo, expected = _saved_by_a_first_merge(cli, tmp_path, 3, commits=300, files=20, seed=10)
    [parts] = cache.glob("listing-*.parts-3")
    whole = parts.read_bytes()
    picks = _counting_picks(monkeypatch)
    parts.write_bytes(whole[:-7])  # cut short
    assert _merge(cli, tmp_path, repo, 3, "cut") == expected
    assert len(picks) == 3  # each shard picked its part itself
    parts.write_bytes(whole.replace(b" 3 ", b" 2 ", 1))  # another N in the header
    assert _merge(cli, tmp_path, repo, 3, "foreign") == expected
    assert len(picks) == 6


def test_a_commit_on_another_worktrees_detached_head_is_a_new_listing(cli, tmp_path, cache):
    """`--all` walks every worktree's HEAD: a secret committed on a detached HEAD in a linked
    worktree is in the history, and a listing saved before it must not be reused."""
    repo = tmp_path / "repo"
    build(repo, commits=60, files=8, seed=9)
    other = tmp_path / "other"
    git(repo, "worktree", "add", "-q", "--detach", str(other))
    before = _merge(cli, tmp_path, repo, 2, "before")
    body = "EXAMPLExxNOTxxLIVExxTOKENxx077"  # a fake with the checksum the scanner verifies
    (other / "detached.env").write_text(f"TOKEN=ghp_{body}{_crc_base62(body)}\n")
    git(other, "add", "detached.env")
    git(other, "commit", "-q", "-m", "a token on a detached HEAD")
    after = _merge(cli, tmp_path, repo, 2, "after")
    assert after == _whole(cli, tmp_path, repo, "whole")
    assert {f["path"] for f in after} - {f["path"] for f in before} == {"detached.env"}


@pytest.mark.parametrize("cut", [0, 7])
def test_a_listing_cut_short_in_its_commit_index_is_not_used(cli, tmp_path, cache, cut):
    """A saved listing whose commit index lost its end (at a line's end, or in a line) is listed
    again: the shards' findings and provenance stay the unsharded scan's, and no shard fails."""
    repo, expected = _saved_by_a_first_merge(cli, tmp_path, 2, commits=120, files=10, seed=11)
    [saved] = cache.glob("listing-*.bin")
    data = saved.read_bytes()
    head = data.split(b"\n", 1)[0].split()
    path_bytes, blobs, ordered = int(head[3]), int(head[4]), int(head[7])
    lines = len(data.split(b"\n", 1)[0]) + 1 + path_bytes + blobs * listing_cache.RECORD.size + ordered * listing_cache.ORDER.size
    middle = data.index(b"\n", lines + (len(data) - lines) // 3) + 1  # a line's end in the first half of the index
    saved.write_bytes(data[: middle + cut])
    assert _merge(cli, tmp_path, repo, 2, "again") == expected


def test_shards_of_a_partial_clone_that_read_a_saved_listing_skip_the_blobs_that_are_not_here(cli, tmp_path, cache):
    """A partial clone's saved listing has no stored order (its blobs come and go): a shard that
    reads it asks git which blobs are here, as the shard that listed did, and never asks cat-file
    for a missing one (which would try the remote, here unreachable, and lose the rest of its
    chunk). Merged, the shards give the unsharded findings."""
    src = tmp_path / "src"
    build(src, commits=80, files=10, seed=12)
    git(src, "config", "uploadpack.allowFilter", "true")
    clone = tmp_path / "clone"
    subprocess.run(
        ["git", "-c", "protocol.file.allow=always", "clone", "-q", "--filter=blob:none", src.as_uri(), str(clone)],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    git(clone, "remote", "set-url", "origin", "https://127.0.0.1:9/none.git")
    expected = _whole(cli, tmp_path, clone, "whole")
    assert expected  # the secrets of the blobs the checkout fetched
    assert _merge(cli, tmp_path, clone, 3, "three") == expected
    # the notes too: one "N blobs of the history are not here" for the whole history, not one per shard
    notes = [json.loads((tmp_path / name).read_text())["problems"] for name in ("whole.json", "three-merged.json")]
    assert notes[1] == notes[0] and sum("not here and not scanned" in p["message"] for p in notes[0]) == 1
