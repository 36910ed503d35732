"""History at the floor (issue 19): the cheap walk lists the same blobs at the same paths as a
rename-aware walk, provenance worked out afterwards for a few blobs equals what the full rename-aware
`git log -M --diff-merges=combined` pass gives for them, and the storage-order read sees only what
the history holds. Real repositories built with git."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from scanner import scan_history as scan_history_module
from scanner.engines.secrets import compile_rules
from scanner.rules.loader import load_pack
from scanner.scan_history import scan_history
from scanner.sources import history
from scanner.sources.history import select, unique_blobs
from scanner.sources.provenance import Change, CommitIndex, changes_of
from tests.test_history import AWS, GH, GH2, PACK, Git, by_rule, only
from tests.test_history_lineage import BASE, _partial_clone, run


@pytest.fixture(scope="module")
def compiled():
    return compile_rules(load_pack(PACK))


LINES = "".join(f"setting_{n} = {n * 7}\n" for n in range(40))  # long enough for rename detection


def _tangled(path: Path) -> Git:
    """Renames with and without edits, a copy, deletions, a clean merge, a merge that resolves a
    rename on one side against an edit on the other (only rename detection links the edited file to
    the merge), a merge whose resolution is new content, an unmerged branch and a tag."""
    repo = Git(path)
    repo.commit("init", {"conf/app.ini": LINES, "notes.txt": "one\n", "keys.env": f"K={AWS}\n"})
    repo.commit("exact rename", {"conf/app.ini": None, "conf/main.ini": LINES})
    repo.commit("copy and delete", {"copy.env": f"K={AWS}\n", "notes.txt": None})
    repo("checkout", "-q", "-b", "topic")
    repo("mv", "conf/main.ini", "conf/renamed.ini")
    repo.commit("rename with an edit on the branch", {"conf/renamed.ini": LINES + f"token = {GH}\n"})
    repo("checkout", "-q", "main")
    repo.commit("edit the old name on main", {"conf/main.ini": LINES.replace("setting_3 =", "setting_3 := ") + "x = 1\n"})
    subprocess.run(["git", "merge", "-q", "--no-ff", "--no-commit", "topic"], cwd=repo.path, capture_output=True)
    repo.commit("merge topic, resolved", {"conf/renamed.ini": LINES + f"token = {GH}\nresolved = {GH2}\n"})
    repo("checkout", "-q", "-b", "side", "HEAD~1")
    repo.commit("side", {"side.txt": f"{AWS}\n", "keys.env": "K=${KEY}\n"})
    repo("checkout", "-q", "main")
    repo.commit("main moves", {"keys.env": f"K={AWS}\nREGION=eu\n"})
    subprocess.run(["git", "merge", "-q", "--no-ff", "--no-commit", "side"], cwd=repo.path, capture_output=True)
    repo.commit("evil merge", {"keys.env": f"K={AWS}\nB={GH2}\n"})
    repo("checkout", "-q", "-b", "spike")
    repo.commit("spike", {"spike.py": f"KEY = '{GH}'\n", "conf/renamed.ini": None})
    repo("checkout", "-q", "main")
    repo("tag", "-a", "-m", "v1", "v1", "HEAD~2")
    assert len(repo("rev-list", "--merges", "main").split()) == 2
    return repo


def commit(repo: Git, subject: str) -> str:
    """The commit with this subject."""
    [sha] = [line[:40] for line in repo("log", "--all", "--format=%H %s").splitlines() if line[41:] == subject]
    return sha


def _full_changes(root: str, revs: list[str], exact: bool = False) -> list[Change]:
    """What the full rename-aware pass over every commit gives (the listing before issue 19)."""
    order = subprocess.run(["git", "-C", root, "rev-list", "--topo-order", *revs], capture_output=True, text=True,
                           check=True).stdout.split()  # fmt: skip
    return changes_of(root, [(sha, i) for i, sha in enumerate(order)], exact_renames=exact)


def _first_paths(changes: list[Change]) -> dict[str, str]:
    """Each blob's path at its oldest introduction (the last such path in that commit)."""
    paths: dict[str, str] = {}
    for change in changes:  # newest first: the oldest introduction is met last
        if change.new and change.new not in change.olds:
            paths[change.new] = change.path
    return paths


def _relevant(changes: list[Change], blob: str) -> list[Change]:
    return [c for c in changes if c.new == blob or blob in c.olds]


@pytest.mark.parametrize("parts", [1, 3])
@pytest.mark.parametrize("revs", [["--all"], ["main"], ["main", "^main~3"], ["spike", "--not", "main"]])
def test_walk_lists_the_blobs_and_first_paths_the_rename_aware_walk_gives(tmp_path, monkeypatch, revs, parts):
    monkeypatch.setattr(history, "MIN_COMMITS_PER_PART", 1)  # git processes side by side, even here
    repo = _tangled(tmp_path / "r")
    root = str(repo.path)
    source = "range" if any(r.startswith("^") or r == "--not" for r in revs) else "history"
    resolved = [r if r.startswith(("-", "^")) else repo("rev-parse", r) for r in revs]
    index = CommitIndex()
    try:
        listed = list(unique_blobs(root, select(root)._replace(revs=tuple(resolved), source=source), index=index,
                                   parts=parts))  # fmt: skip
        assert index.commits == len(repo("rev-list", *resolved).split())
    finally:
        index.close()
    assert len(listed) == len({sha for sha, _ in listed})  # each blob once
    assert dict(listed) == _first_paths(_full_changes(root, resolved))


def test_exact_rename_and_copy_keep_the_path_the_blob_came_in_with(tmp_path):
    repo = _tangled(tmp_path / "r")
    root = str(repo.path)
    paths = dict(unique_blobs(root, select(root)))
    assert paths[repo("rev-parse", commit(repo, "exact rename") + ":conf/main.ini")] == "conf/app.ini"
    assert paths[repo("rev-parse", commit(repo, "copy and delete") + ":copy.env")] == "keys.env"


def test_provenance_of_any_blob_equals_the_full_rename_aware_pass(tmp_path):
    repo = _tangled(tmp_path / "r")
    root = str(repo.path)
    index = CommitIndex()
    try:
        blobs = [sha for sha, _ in unique_blobs(root, select(root), index=index)]
        full = _full_changes(root, ["--all"])
        for blob in blobs:  # as if only this blob had a finding
            later = changes_of(root, index.candidates({blob}))
            assert _relevant(later, blob) == _relevant(full, blob), blob
        # the merge that resolved the rename against main's edit names main's blob only through
        # rename detection: it is a candidate nonetheless
        edited = repo("rev-parse", commit(repo, "edit the old name on main") + ":conf/main.ini")
        merge = commit(repo, "merge topic, resolved")
        assert any(c.commit[0] == merge for c in _relevant(full, edited))
        assert merge in [sha for sha, _ in index.candidates({edited})]
        # a blob with nothing to say costs no commit
        assert index.candidates(set()) == []
    finally:
        index.close()


def test_tangled_history_findings_and_commits(tmp_path, compiled):
    repo = _tangled(tmp_path / "r")
    result = scan_history(str(repo.path), compiled, jobs=1)
    merge = commit(repo, "merge topic, resolved")
    evil = commit(repo, "evil merge")
    resolved = [f for f in result.findings if f.path == "conf/renamed.ini" and f.provenance.commit == merge]
    assert len(resolved) == 1  # GH2 came in with the merge's own resolution
    assert only([f for f in result.findings if f.path == "keys.env"], "test-github-token").provenance.commit == evil
    assert ("test-github-token", "spike.py") in by_rule(result.findings)


def test_objects_no_ref_reaches_are_not_scanned(tmp_path, compiled):
    repo = Git(tmp_path / "r")
    repo.commit("init", {"a.txt": f"{AWS}\n"})
    dangling = tmp_path / "dangling.txt"
    dangling.write_text(f"token = {GH}\n")
    subprocess.run(["git", "-C", str(repo.path), "hash-object", "-w", str(dangling)], check=True, capture_output=True)
    result = scan_history(str(repo.path), compiled, jobs=1)
    assert by_rule(result.findings) == [("test-aws-access-key-id", "a.txt")]
    assert result.stats["blobs"] == 1


def test_blobs_over_the_limit_are_skipped_and_the_rest_of_their_chunk_read(tmp_path, compiled):
    repo = Git(tmp_path / "r")
    base = repo.commit("base", {"README.md": "x\n"})
    repo.commit("big, then small", {"a-big.txt": f"{GH2}\n" + "y" * 4000, "b-small.txt": f"{AWS}\n"})
    for kwargs in ({}, {"since": base}):  # storage order (sizes known before) and walk order (sizes as read)
        result = scan_history(str(repo.path), compiled, jobs=1, max_size=1000, **kwargs)
        assert by_rule(result.findings) == [("test-aws-access-key-id", "b-small.txt")], kwargs
        assert any("larger than the size limit" in p.message and p.path == "a-big.txt" for p in result.problems)


def _git_children_of(root: str) -> list[str]:
    found = []
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if "cat-file" in cmdline and root in cmdline:
                found.append(cmdline)
    return found


@pytest.mark.skipif(not Path("/proc/self/cmdline").exists(), reason="needs /proc")
def test_parallel_scan_leaves_no_git_process_behind(tmp_path, monkeypatch, compiled):
    repo = Git(tmp_path / "r")
    for n in range(6):
        repo.commit(f"c{n}", {f"f{n}.txt": f"line {n}\n" * 40 + (f"{AWS}\n" if n == 0 else "")})
    monkeypatch.setattr(scan_history_module, "PARALLEL_MIN_BYTES", 0)
    monkeypatch.setattr(scan_history_module, "CHUNK", 2)
    result = scan_history(str(repo.path), compiled, jobs=2)
    assert len(result.findings) == 1 and result.stats["blobs"] == 6
    import time

    deadline = time.monotonic() + 30  # the readers end as their workers do: a loaded machine takes its time
    while _git_children_of(str(repo.path)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _git_children_of(str(repo.path)) == []


@pytest.mark.parametrize("jobs", [1, 2])
def test_empty_repository_and_empty_range_with_any_number_of_workers(tmp_path, compiled, jobs):
    empty = tmp_path / "empty.git"
    subprocess.run(["git", "init", "-q", "--bare", str(empty)], check=True)
    result = scan_history(str(empty), compiled, jobs=jobs)
    assert result.findings == [] and result.problems == [] and result.stats["blobs"] == 0
    repo = Git(tmp_path / "r")
    repo.commit("init", {"a.txt": f"{AWS}\n"})
    assert scan_history(str(repo.path), compiled, jobs=jobs, since="HEAD").findings == []


def test_a_range_of_a_partial_clone_reads_what_is_here_and_names_what_is_not(tmp_path, capsys):

    clone, blob, _ = _partial_clone(tmp_path)
    first = subprocess.run(["git", "-C", str(clone), "rev-list", "--max-parents=0", "HEAD"], capture_output=True,
                           text=True, check=True).stdout.strip()  # fmt: skip
    code, out, err = run(capsys, "scan", str(clone), "-f", "json", *BASE, "--since-commit", first, "--jobs", "1")
    assert "Traceback" not in err
    doc = json.loads(out)
    gaps = [p for p in doc["problems"] if " is missing " in p["message"]]
    assert blob in " ".join(p["message"] for p in gaps)
    here = subprocess.run(["git", "-C", str(clone), "rev-parse", "HEAD:app.env"], capture_output=True, text=True,
                          check=True).stdout.strip()  # fmt: skip
    assert here not in " ".join(p["message"] for p in gaps)  # the blob at HEAD was fetched by the clone


def test_lock_files_are_not_read(tmp_path, compiled, monkeypatch):
    repo = Git(tmp_path / "r")
    repo.commit("init", {"package-lock.json": f'{{"token": "{GH}"}}\n', "app.env": f"K={AWS}\n"})
    read: list[str] = []
    original = scan_history_module.CatFile.read

    def spy(self, shas, max_size=10 << 20):
        read.extend(shas)
        return original(self, shas, max_size)

    monkeypatch.setattr(scan_history_module.CatFile, "read", spy)
    result = scan_history(str(repo.path), compiled, jobs=1)
    assert by_rule(result.findings) == [("test-aws-access-key-id", "app.env")]
    assert read == [repo("rev-parse", "HEAD:app.env")]
