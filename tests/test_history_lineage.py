"""History correctness (issue 20): one finding per secret per file lineage, the commits that
introduced and removed it, merges, and partial-clone gaps. Real repositories built with git."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from scanner.cli import main
from scanner.sources.provenance import Change, secret_lineages
from tests.test_history import AWS, GH, GH2, PACK, Git

BASE = ["--rules", str(PACK), "--only", "history-test"]


def run(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def scan_json(capsys, repo: Path, *extra: str) -> tuple[int, dict, str]:
    code, out, err = run(capsys, "scan", str(repo), "--history", "-f", "json", *BASE, *extra)
    return code, json.loads(out), err


# --- renames ---------------------------------------------------------------------------------


@pytest.mark.parametrize("removed", [False, True], ids=["at-head", "removed-at-head"])
def test_renamed_file_is_one_finding_listing_both_paths(tmp_path, capsys, monkeypatch, removed):
    repo = Git(tmp_path / "r")
    added = repo.commit("add", {"a.env": f"GITHUB_TOKEN={GH}\n"})
    for n in range(3):
        repo.commit(f"edit {n}", {"a.env": f"GITHUB_TOKEN={GH}\nN={n}\n"})
    (repo.path / "config").mkdir()
    repo("mv", "a.env", "config/b.env")
    repo.commit("move")
    repo.commit("edit after the move", {"config/b.env": f"GITHUB_TOKEN={GH}\nN=9\nREGION=eu\n"})
    last = repo.commit("remove", {"config/b.env": "GITHUB_TOKEN=${TOKEN}\n"}) if removed else ""
    monkeypatch.chdir(repo.path)

    code, doc, _ = scan_json(capsys, repo.path)
    assert code == 1
    [finding] = doc["findings"]  # not one per path: the rename is followed
    assert finding["paths"] == ["a.env", "config/b.env"]
    prov = finding["provenance"]
    assert prov["commit"] == added and prov["present_at_head"] is (not removed)
    assert [(c["commit"], c["change"]) for c in prov["commits"]] == (
        [(added, "introduced"), (last, "removed")] if removed else [(added, "introduced")]
    )
    if removed:  # history only: where it came in, with the lineage's fingerprint
        assert finding["path"] == "a.env" and prov["commits"][1]["path"] == "config/b.env"
    else:  # still in the work tree: the finding is where to fix it now, with the work tree identity
        assert finding["path"] == "config/b.env"
        code, plain, _ = run(capsys, "scan", ".", "-f", "json", *BASE)
        assert json.loads(plain)["findings"][0]["fingerprint"] == finding["fingerprint"]

    code, out, _ = run(capsys, "scan", ".", "--history", "-f", "sarif", *BASE)
    [result] = json.loads(out)["runs"][0]["results"]
    assert result["properties"]["commitCount"] == (2 if removed else 1)
    assert result["properties"]["paths"] == ["a.env", "config/b.env"]


def test_fingerprint_is_the_same_whichever_version_of_the_lineage_is_scanned(tmp_path, capsys):
    repo = Git(tmp_path / "r")
    repo.commit("add", {"keys.txt": f"id={AWS}\n"})
    repo("mv", "keys.txt", "aws.txt")
    repo.commit("rename and edit", {"aws.txt": f"id={AWS}\nregion=us-east-1\n"})
    repo.commit("drop", {"aws.txt": None})
    _, full, _ = scan_json(capsys, repo.path)
    _, branch_only, _ = scan_json(capsys, repo.path, "--branch", "HEAD")
    [a], [b] = full["findings"], branch_only["findings"]
    assert a["fingerprint"] == b["fingerprint"] and a["paths"] == ["aws.txt", "keys.txt"]
    assert [c["change"] for c in a["provenance"]["commits"]] == ["introduced", "removed"]


def test_a_rename_that_drops_the_secret_removes_it_and_a_later_copy_is_a_new_lineage(tmp_path, capsys):
    repo = Git(tmp_path / "r")
    added = repo.commit("add", {"one.ini": "[a]\nx=1\ny=2\nz=3\n" + f"token={GH}\n"})
    repo("mv", "one.ini", "two.ini")
    moved = repo.commit("rename, token out", {"two.ini": "[a]\nx=1\ny=2\nz=3\ntoken=${T}\n"})
    again = repo.commit("paste it elsewhere", {"three.ini": f"token={GH}\n"})
    _, doc, _ = scan_json(capsys, repo.path)
    by_path = {f["path"]: f for f in doc["findings"]}
    assert sorted(by_path) == ["one.ini", "three.ini"]
    assert [(c["commit"], c["change"]) for c in by_path["one.ini"]["provenance"]["commits"]] == [
        (added, "introduced"), (moved, "removed")
    ]  # fmt: skip
    assert [c["commit"] for c in by_path["three.ini"]["provenance"]["commits"]] == [again]
    assert by_path["one.ini"]["fingerprint"] != by_path["three.ini"]["fingerprint"]


# --- introducing commits ---------------------------------------------------------------------


def test_commits_are_the_introducing_ones_and_the_removal_not_every_edit(tmp_path, capsys):
    repo = Git(tmp_path / "r")
    first = repo.commit("add", {"settings.py": f"DEBUG = True\nGH = '{GH}'\n"})
    for n in range(15):  # 15 edits that keep the secret: none of them introduced it
        repo.commit(f"tweak {n}", {"settings.py": f"DEBUG = True\nGH = '{GH}'\nLEVEL = {n}\n"})
    gone = repo.commit("remove", {"settings.py": "DEBUG = True\nGH = os.environ['GH']\n"})
    back = repo.commit("oops", {"settings.py": f"DEBUG = True\nGH = '{GH}'\n"})
    repo.commit("other secret, same file", {"settings.py": f"DEBUG = True\nGH = '{GH}'\nB = '{GH2}'\n"})

    code, doc, _ = scan_json(capsys, repo.path)
    assert code == 1
    mine = [f for f in doc["findings"] if f["line"] == 2]
    [finding] = mine
    commits = finding["provenance"]["commits"]
    assert [(c["commit"], c["change"]) for c in commits] == [
        (first, "introduced"), (back, "introduced"), (gone, "removed")
    ]  # fmt: skip
    assert {c["path"] for c in commits} == {"settings.py"}
    code, out, _ = run(capsys, "scan", str(repo.path), "--history", *BASE)
    assert "introduced by 2 commits" in out and f"removed in {gone[:8]}" in out


def test_secret_merged_from_a_branch_is_introduced_by_the_branch_commit(tmp_path, capsys):
    repo = Git(tmp_path / "r")
    repo.commit("init", {"deploy.sh": "#!/bin/sh\nset -e\n\n\n\necho deploy\n"})
    repo("checkout", "-q", "-b", "feature")
    on_branch = repo.commit("token on the branch", {"deploy.sh": f"#!/bin/sh\nexport GITHUB_TOKEN={GH}\nset -e\n\n\n\necho deploy\n"})
    repo("checkout", "-q", "main")
    repo.commit("main edits the same file", {"deploy.sh": "#!/bin/sh\nset -e\n\n\n\necho deploy now\n"})
    repo("merge", "-q", "--no-ff", "--no-edit", "feature")  # clean merge, result differs from both parents
    merge = repo("rev-parse", "HEAD")
    assert GH in (repo.path / "deploy.sh").read_text()

    _, doc, _ = scan_json(capsys, repo.path)
    [finding] = doc["findings"]
    assert finding["provenance"]["commit"] == on_branch
    assert [c["commit"] for c in finding["provenance"]["commits"]] == [on_branch]
    assert merge not in json.dumps(doc["findings"])  # (the report's "revision" is HEAD: the merge)


def test_secret_lineages_is_a_pure_function_of_changes(tmp_path):
    """The lineage logic takes any listing of changes (for a faster listing later, issue 19)."""
    commit = ("c", "a", "e", "d")
    key = ("rule", "secret")
    changes = [  # newest first, as git log lists them
        Change(0, commit, "c.env", "", ("b2",), ""),  # deleted
        Change(1, commit, "c.env", "b.env", ("b1",), "b2"),  # renamed with an edit, secret kept
        Change(2, commit, "b.env", "", ("a1",), "b1"),  # edited, secret added
        Change(3, commit, "b.env", "", ("",), "a1"),  # added, clean
    ]
    holds = {"b1": frozenset({key}), "b2": frozenset({key})}
    [lineage] = secret_lineages(changes, lambda sha: holds.get(sha, frozenset()))
    assert [c.order for c in lineage.introduced] == [2] and [c.order for c in lineage.removed] == [0]
    assert lineage.paths == {"b.env", "c.env"}


# --- partial clones --------------------------------------------------------------------------


def _partial_clone(tmp_path: Path) -> tuple[Path, str, str]:
    src = Git(tmp_path / "src")
    src.commit("clean", {"README.md": "# app\n"})
    src.commit("secret", {"app.env": f"AWS_ACCESS_KEY_ID={AWS}\n"})
    src.commit("lines", {"notes.txt": "one\ntwo\nthree\nfour\nfive\nsix\n"})
    src("mv", "notes.txt", "docs.txt")
    src.commit("rename with an edit", {"docs.txt": "one\ntwo\nthree\nfour\nfive\nsix\nseven\n"})
    src.commit("gone", {"app.env": "AWS_ACCESS_KEY_ID=${KEY}\n"})
    blob = src("rev-parse", "HEAD~1:app.env")
    src("config", "uploadpack.allowFilter", "true")
    clone = tmp_path / "clone"
    subprocess.run(
        ["git", "-c", "protocol.file.allow=always", "clone", "-q", "--filter=blob:none", (src.path).as_uri(), str(clone)],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    return clone, blob, src("rev-parse", "HEAD")


def test_partial_clone_gaps_are_warnings_naming_path_and_blob(tmp_path, capsys):
    clone, blob, _ = _partial_clone(tmp_path)
    missing = subprocess.run(
        ["git", "-C", str(clone), "cat-file", "-e", blob], capture_output=True, env={"GIT_NO_LAZY_FETCH": "1"}
    )  # fmt: skip
    assert missing.returncode != 0  # the secret's blob really is not in the clone

    code, out, err = run(capsys, "scan", str(clone), "--history", *BASE)
    assert code == 0  # nothing found, and by default a gap does not fail the build...
    assert f"app.env: blob {blob} is missing" in err and "Traceback" not in err
    assert "not fully scanned" in out.splitlines()[-1]  # ...but the summary says the scan is not complete

    code, doc, _ = scan_json(capsys, clone)
    assert doc["findings"] == []
    gaps = [p for p in doc["problems"] if blob in p["message"]]
    assert [(p["path"], p["level"]) for p in gaps] == [("app.env", "warning")]
    assert doc["summary"]["problems"] >= 1

    code, out, _ = run(capsys, "scan", str(clone), "--history", "-f", "sarif", *BASE)
    notes = json.loads(out)["runs"][0]["invocations"][0]["toolExecutionNotifications"]
    assert any(blob in n["message"]["text"] and n["level"] == "warning" for n in notes)

    code, _, err = run(capsys, "scan", str(clone), "--history", "--fail-on-parse-error", *BASE)
    assert code == 1 and "could not be fully scanned" in err


def test_partial_clone_never_fetches_and_never_hangs(tmp_path):
    clone, blob, _ = _partial_clone(tmp_path)
    # the promisor remote is unreachable now: a fetch attempt would fail or hang, not just be slow
    subprocess.run(["git", "-C", str(clone), "remote", "set-url", "origin", "https://127.0.0.1:9/none.git"], check=True)
    import os
    import sys

    done = subprocess.run(
        [sys.executable, "-m", "scanner", "scan", ".", "--history", *BASE],
        cwd=clone, capture_output=True, timeout=60, env=dict(os.environ, NO_COLOR="1"),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert f"blob {blob} is missing".encode() in done.stderr
    assert b"Traceback" not in done.stderr
    still = subprocess.run(["git", "-C", str(clone), "cat-file", "-e", blob], capture_output=True,
                           env={"GIT_NO_LAZY_FETCH": "1", "PATH": os.environ["PATH"]})  # fmt: skip
    assert still.returncode != 0  # nothing was fetched
