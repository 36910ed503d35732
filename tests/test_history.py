"""Git history, ranges and the index as sources: real throwaway repositories built with git."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from scanner import scan_history as scan_history_module
from scanner.engines.secrets import compile_rules
from scanner.model import Problem
from scanner.rules.loader import load_pack
from scanner.scan_history import scan_history
from scanner.sources.git import GitError
from scanner.sources.history import history_items
from scanner.sources.staged import staged_items

PACK = Path(__file__).with_name("history_pack.yaml")
GH = "ghp_" + "R2d9Lk3mQ8vX1zT7bN4cW6yH0pJ5sF4O5C8o"  # realistic shape, not a real token
GH2 = "ghp_" + "Zq7Wm2Xc9Vb4Nn1Ll8Kk3Jj6Hh0Gg53SkwFh"
AWS = "AKIA4QWERTY7ZXCVB2NM"  # not AWS's documented example key
AWS2 = "AKIAJ3XK8L2MN7QP4RTV"

assert len(GH) == len(GH2) == 40 and len(AWS) == len(AWS2) == 20


@pytest.fixture(scope="module")
def compiled():
    return compile_rules(load_pack(PACK))


class Git:
    """A throwaway repository with deterministic commit dates."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.tick = 0
        path.mkdir(parents=True, exist_ok=True)
        self("init", "-q", "-b", "main")

    def __call__(self, *args: str, cwd: Path | None = None) -> str:
        env = dict(os.environ)
        self.tick += 1
        date = f"2024-01-{1 + self.tick // 24:02d}T{self.tick % 24:02d}:00:00+00:00"
        env.update(
            GIT_AUTHOR_NAME="Ada Lovelace", GIT_AUTHOR_EMAIL="ada@example.com", GIT_AUTHOR_DATE=date,
            GIT_COMMITTER_NAME="Ada Lovelace", GIT_COMMITTER_EMAIL="ada@example.com", GIT_COMMITTER_DATE=date,
            GIT_CONFIG_NOSYSTEM="1", HOME=str(self.path.parent),
        )  # fmt: skip
        out = subprocess.run(
            ["git", "-c", "protocol.file.allow=always", *args],
            cwd=cwd or self.path, env=env, capture_output=True, text=True, check=True,
        )  # fmt: skip
        return out.stdout.strip()

    def write(self, files: dict[str, str | bytes | None]) -> None:
        for name, content in files.items():
            target = self.path / name
            if content is None:
                target.unlink()
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(content, bytes):
                target.write_bytes(content)
            else:
                target.write_text(content)

    def commit(self, message: str, files: dict[str, str | bytes | None] | None = None) -> str:
        self.write(files or {})
        self("add", "-A")
        self("commit", "-q", "--allow-empty", "-m", message)
        return self("rev-parse", "HEAD")


def by_rule(findings):
    return sorted((f.rule_id, f.path) for f in findings)


def only(findings, rule_id):
    found = [f for f in findings if f.rule_id == rule_id]
    assert len(found) == 1, found
    return found[0]


def test_secret_added_then_removed_is_found_once_at_its_commit(tmp_path, compiled):
    repo = Git(tmp_path / "r")
    repo.commit("init", {"README.md": "hello\n"})
    added = repo.commit("add config", {"app/config.py": f"DEBUG = True\nTOKEN = '{GH}'\n"})
    repo.commit("edit config", {"app/config.py": f"DEBUG = False\nTOKEN = '{GH}'\n"})
    repo.commit("remove token", {"app/config.py": "DEBUG = False\nTOKEN = os.environ['TOKEN']\n"})

    result = scan_history(str(repo.path), compiled, jobs=1)
    finding = only(result.findings, "test-github-token")
    assert len(result.findings) == 1
    assert finding.path == "app/config.py" and finding.line == 2
    prov = finding.provenance
    assert prov.source == "history"
    assert prov.commit == added
    assert prov.author == "Ada Lovelace" and prov.email == "ada@example.com"
    assert prov.date.startswith("2024-01-")
    assert prov.present_at_head is False
    assert "remains in git history" in finding.message
    assert [c["commit"] for c in prov.commits][0] == added and len(prov.commits) == 2
    assert dict(finding.properties)["paths"] == ("app/config.py",)
    assert GH not in finding.evidence  # redacted


def test_secret_still_at_head_is_marked_present(tmp_path, compiled):
    repo = Git(tmp_path / "r")
    first = repo.commit("add", {".env": f"AWS_ACCESS_KEY_ID={AWS}\n"})
    repo.commit("more", {".env": f"AWS_ACCESS_KEY_ID={AWS}\nREGION=eu-west-1\n"})
    finding = only(scan_history(str(repo.path), compiled, jobs=1).findings, "test-aws-access-key-id")
    assert finding.provenance.commit == first
    assert finding.provenance.present_at_head is True
    assert "remains in git history" not in finding.message


def test_renamed_file_is_one_finding_at_the_original_path(tmp_path, compiled):
    repo = Git(tmp_path / "r")
    added = repo.commit("add", {"old/settings.ini": f"[gh]\ntoken={GH}\n", "keys.txt": f"id={AWS}\n"})
    (repo.path / "new").mkdir()
    repo("mv", "old/settings.ini", "new/settings.ini")
    repo.commit("rename")
    # rename with a small edit too: a new blob, same secret, same lineage
    repo("mv", "keys.txt", "aws-keys.txt")
    repo.commit("rename and edit", {"aws-keys.txt": f"id={AWS}\nregion=us-east-1\n"})

    findings = scan_history(str(repo.path), compiled, jobs=1).findings
    assert by_rule(findings) == [
        ("test-aws-access-key-id", "keys.txt"),
        ("test-github-token", "old/settings.ini"),
    ]
    for finding in findings:
        assert finding.provenance.commit == added
        assert finding.provenance.present_at_head is True
    aws = only(findings, "test-aws-access-key-id")
    assert dict(aws.properties)["paths"] == ("aws-keys.txt", "keys.txt")


def test_merged_branch_is_attributed_to_the_branch_commit_not_the_merge(tmp_path, compiled):
    repo = Git(tmp_path / "r")
    repo.commit("init", {"README.md": "hi\n"})
    repo("checkout", "-q", "-b", "feature")
    on_branch = repo.commit("feature work", {"deploy.sh": f"export GITHUB_TOKEN={GH}\n"})
    repo("checkout", "-q", "main")
    repo.commit("main work", {"main.txt": "main\n"})
    repo("merge", "-q", "--no-ff", "--no-edit", "feature")
    merge = repo("rev-parse", "HEAD")
    finding = only(scan_history(str(repo.path), compiled, jobs=1).findings, "test-github-token")
    assert finding.provenance.commit == on_branch != merge
    assert [c["commit"] for c in finding.provenance.commits] == [on_branch]


def test_secret_added_while_resolving_a_merge_is_attributed_to_the_merge(tmp_path, compiled):
    repo = Git(tmp_path / "r")
    repo.commit("init", {"conf.txt": "base\n"})
    repo("checkout", "-q", "-b", "other")
    repo.commit("other", {"conf.txt": "other\n"})
    repo("checkout", "-q", "main")
    repo.commit("mine", {"conf.txt": "mine\n"})
    subprocess.run(["git", "merge", "-q", "other"], cwd=repo.path, capture_output=True)  # conflicts
    merge = repo.commit("merge other", {"conf.txt": f"resolved key={AWS}\n"})
    finding = only(scan_history(str(repo.path), compiled, jobs=1).findings, "test-aws-access-key-id")
    assert finding.provenance.commit == merge


def test_tags_and_unmerged_branches_are_scanned_and_branch_limits(tmp_path, compiled):
    repo = Git(tmp_path / "r")
    repo.commit("init", {"README.md": "hi\n"})
    repo("checkout", "-q", "-b", "spike")
    spike = repo.commit("spike", {"spike.py": f"KEY = '{AWS}'\n"})
    repo("checkout", "-q", "-b", "release", "main")
    tagged = repo.commit("release", {"release.cfg": f"token: {GH}\n"})
    repo("tag", "-a", "-m", "v1", "v1.0")
    repo("checkout", "-q", "main")
    repo("branch", "-q", "-D", "release")  # now only the tag reaches it

    findings = scan_history(str(repo.path), compiled, jobs=1).findings
    assert by_rule(findings) == [("test-aws-access-key-id", "spike.py"), ("test-github-token", "release.cfg")]
    assert only(findings, "test-aws-access-key-id").provenance.commit == spike
    assert only(findings, "test-github-token").provenance.commit == tagged
    assert all(f.provenance.present_at_head is False for f in findings)

    assert scan_history(str(repo.path), compiled, refs=["main"], jobs=1).findings == []
    limited = scan_history(str(repo.path), compiled, refs=["v1.0"], jobs=1).findings
    assert by_rule(limited) == [("test-github-token", "release.cfg")]


def test_same_secret_in_two_files_is_two_findings_and_copies_across_commits_one(tmp_path, compiled):
    repo = Git(tmp_path / "r")
    first = repo.commit("a", {"dev.env": f"T={GH}\n"})
    for n in range(3):
        repo.commit(f"edit {n}", {"dev.env": f"T={GH}\n# edit {n}\n"})
    repo.commit("b", {"prod.env": f"T={GH}\n"})
    findings = scan_history(str(repo.path), compiled, jobs=1).findings
    assert by_rule(findings) == [("test-github-token", "dev.env"), ("test-github-token", "prod.env")]
    dev = [f for f in findings if f.path == "dev.env"][0]
    # edits that keep the secret did not introduce it: one commit did (issue 20: it listed all 4)
    assert [c["commit"] for c in dev.provenance.commits] == [first]
    assert len({f.fingerprint for f in findings}) == 2


def _history_with_removed_and_current_secret(path: Path) -> tuple[Git, str, str]:
    repo = Git(path)
    repo.commit("old", {"old.txt": f"{AWS}\n"})
    repo.commit("drop", {"old.txt": None})
    for n in range(3):
        repo.commit(f"c{n}", {f"f{n}.txt": f"{n}\n"})
    last = repo.commit("current", {"cur.txt": f"{GH}\n"})
    return repo, repo("rev-parse", "HEAD~1"), last


def test_shallow_clone_scans_what_is_there_and_says_history_is_truncated(tmp_path, compiled):
    origin, _, last = _history_with_removed_and_current_secret(tmp_path / "origin")
    subprocess.run(
        ["git", "clone", "-q", "--depth", "1", f"file://{origin.path}", str(tmp_path / "shallow")],
        check=True, capture_output=True,
    )  # fmt: skip
    result = scan_history(str(tmp_path / "shallow"), compiled, jobs=1)
    assert any("history is truncated" in p.message for p in result.problems)
    finding = only(result.findings, "test-github-token")
    assert len(result.findings) == 1  # the removed AWS key is in history that was not fetched
    assert finding.provenance.commit == last
    assert dict(finding.properties)["history_truncated"] is True


def test_bare_repository_and_worktree(tmp_path, compiled):
    origin, _, last = _history_with_removed_and_current_secret(tmp_path / "origin")
    expected = by_rule(scan_history(str(origin.path), compiled, jobs=1).findings)
    assert expected == [("test-aws-access-key-id", "old.txt"), ("test-github-token", "cur.txt")]

    subprocess.run(["git", "clone", "-q", "--bare", str(origin.path), str(tmp_path / "bare.git")], check=True)
    bare = scan_history(str(tmp_path / "bare.git"), compiled, jobs=1).findings
    assert by_rule(bare) == expected
    assert only(bare, "test-github-token").provenance.present_at_head is True

    origin("worktree", "add", "-q", str(tmp_path / "wt"), "-b", "wt")
    assert by_rule(scan_history(str(tmp_path / "wt"), compiled, jobs=1).findings) == expected


def test_range_catches_a_secret_added_and_removed_inside_it(tmp_path, compiled):
    repo = Git(tmp_path / "r")
    repo.commit("before", {"legacy.txt": f"{GH2}\n"})  # before the range: not reported
    base = repo.commit("base", {"README.md": "x\n"})
    added = repo.commit("add", {"ci.yml": f"key: {AWS}\n"})
    repo.commit("remove", {"ci.yml": "key: ${{ secrets.KEY }}\n"})

    for kwargs in ({"since": base}, {"range_": f"{base}..HEAD"}, {"range_": "HEAD~2..HEAD"}):
        result = scan_history(str(repo.path), compiled, jobs=1, **kwargs)
        finding = only(result.findings, "test-aws-access-key-id")
        assert len(result.findings) == 1, kwargs
        assert finding.provenance.source == "range"
        assert finding.provenance.commit == added and finding.path == "ci.yml"
        assert finding.provenance.present_at_head is False

    whole = scan_history(str(repo.path), compiled, jobs=1).findings
    assert by_rule(whole) == [("test-aws-access-key-id", "ci.yml"), ("test-github-token", "legacy.txt")]


def test_range_present_at_head_when_head_was_not_scanned(tmp_path, compiled):
    repo = Git(tmp_path / "r")
    base = repo.commit("base", {"README.md": "x\n"})
    repo("checkout", "-q", "-b", "pr")
    repo.commit("pr", {"k.txt": f"{AWS}\n"})
    tip = repo("rev-parse", "HEAD")
    repo("checkout", "-q", "main")
    repo.commit("main moves on", {"k.txt": f"{AWS}\nmore\n"})  # HEAD has it too, in another blob
    finding = only(
        scan_history(str(repo.path), compiled, range_=f"{base}..{tip}", jobs=1).findings,
        "test-aws-access-key-id",
    )
    assert finding.provenance.present_at_head is True


def test_bad_refs_and_non_repositories_are_one_line_usage_errors(tmp_path, compiled):
    repo = Git(tmp_path / "r")
    repo.commit("init", {"a.txt": "a\n"})
    for kwargs in (
        {"refs": ["no-such-branch"]},
        {"since": "nope"},
        {"range_": "main..nope"},
        {"range_": "main"},
    ):
        with pytest.raises(GitError) as info:
            scan_history(str(repo.path), compiled, jobs=1, **kwargs)
        assert info.value.usage and "\n" not in str(info.value)
    with pytest.raises(GitError) as info:
        scan_history(str(tmp_path / "r" / "a.txt"), compiled)
    assert info.value.usage
    (tmp_path / "plain").mkdir()
    with pytest.raises(GitError) as info:
        scan_history(str(tmp_path / "plain"), compiled)
    assert info.value.usage and "not a git repository" in str(info.value)


def test_empty_repository_has_no_findings(tmp_path, compiled):
    repo = Git(tmp_path / "r")
    result = scan_history(str(repo.path), compiled, jobs=1)
    assert result.findings == [] and result.problems == []


def test_big_binary_and_submodule_blobs_are_skipped_with_notes(tmp_path, compiled):
    repo = Git(tmp_path / "r")
    repo.write(
        {
            "big.txt": f"{GH}\n" + "x" * 5000,
            "blob.bin": b"\0\1\2" + AWS.encode(),
            ".gitmodules": "[submodule]\n",
        }
    )
    repo("add", "-A")
    repo("update-index", "--add", "--cacheinfo", f"160000,{'1' * 40},vendor/lib")
    repo("commit", "-q", "-m", "mixed")
    problems: list[Problem] = []
    result = scan_history(str(repo.path), compiled, jobs=1, max_size=1000)
    assert result.findings == []
    messages = " | ".join(p.message for p in result.problems)
    assert "larger than the size limit" in messages and "submodules are not scanned" in messages
    items = list(history_items(str(repo.path), problems=problems))
    assert sorted(i.path for i in items) == [".gitmodules", "big.txt"]  # the binary is skipped
    assert all(i.provenance.source == "history" and len(i.provenance.blob) == 40 for i in items)


def test_parallel_scan_gives_the_same_result_as_sequential(tmp_path, compiled, monkeypatch):
    repo = Git(tmp_path / "r")
    for n in range(12):
        repo.commit(
            f"c{n}", {f"f{n % 4}.txt": f"line {n}\n" * 50 + (f"{GH}\n" if n % 3 == 0 else f"{AWS}\n")}
        )
    sequential = scan_history(str(repo.path), compiled, jobs=1)
    monkeypatch.setattr(scan_history_module, "PARALLEL_MIN_BYTES", 0)
    parallel = scan_history(str(repo.path), compiled, jobs=2)
    assert parallel.findings == sequential.findings and len(sequential.findings) == 8
    assert parallel.stats["bytes"] == sequential.stats["bytes"] > 0


def test_parallel_scan_honours_no_inline_ignores(tmp_path, compiled, monkeypatch):
    repo = Git(tmp_path / "r")
    for n in range(6):
        repo.commit(f"c{n}", {f"f{n}.txt": f"line {n}\n" * 50 + f"TOKEN={GH}  # scanner:ignore test fixture\n"})
    monkeypatch.setattr(scan_history_module, "PARALLEL_MIN_BYTES", 0)
    honoured = scan_history(str(repo.path), compiled, jobs=2)
    assert len(honoured.findings) == 6 and all(f.suppression is not None for f in honoured.findings)
    ignored = scan_history(str(repo.path), compiled, jobs=2, inline_ignores=False)
    assert len(ignored.findings) == 6 and not any(f.suppression is not None for f in ignored.findings)


def test_staged_content_is_judged_not_the_working_copy(tmp_path, compiled):
    from scanner.engines.secrets import scan_item

    repo = Git(tmp_path / "r")
    assert list(staged_items(str(repo.path))) == []  # unborn branch, nothing staged
    repo.write({"staged.env": f"TOKEN={GH}\n", "clean.env": "TOKEN=from-vault\n"})
    repo("add", "staged.env", "clean.env")
    repo.write({"staged.env": "TOKEN=from-vault\n", "clean.env": f"TOKEN={GH}\n"})  # working copy flips
    items = sorted(staged_items(str(repo.path)), key=lambda i: i.path)
    assert [i.path for i in items] == ["clean.env", "staged.env"]
    assert all(i.provenance.source == "staged" for i in items)
    found = [f for item in items for f in scan_item(compiled, item)]
    assert by_rule(found) == [("test-github-token", "staged.env")]

    repo("commit", "-q", "-m", "first")
    assert list(staged_items(str(repo.path))) == []  # nothing staged after the commit
    repo("rm", "-q", "--cached", "clean.env")
    repo.write({"sub/new.txt": f"{AWS}\n"})
    repo("add", "sub/new.txt")
    assert [i.path for i in staged_items(str(repo.path / "sub"))] == [
        "sub/new.txt"
    ]  # repo-relative, deletions skipped


def test_cli_history_json_sarif_and_errors(tmp_path, capsys, monkeypatch):
    import json

    from scanner.cli import main

    repo = Git(tmp_path / "r")
    added = repo.commit("add", {"deploy.sh": f"export GITHUB_TOKEN={GH}\n"})
    repo.commit("remove", {"deploy.sh": "export GITHUB_TOKEN=$TOKEN\n"})
    monkeypatch.chdir(repo.path)
    base = ["scan", ".", "--rules", str(PACK), "--only", "history-test"]

    assert main(base) == 0  # the work tree is clean
    capsys.readouterr()
    assert main([*base, "--history", "-f", "json"]) == 1
    doc = json.loads(capsys.readouterr().out)
    [finding] = doc["findings"]
    assert finding["path"] == "deploy.sh" and finding["provenance"]["commit"] == added
    assert finding["provenance"]["present_at_head"] is False and GH not in json.dumps(doc)

    assert main([*base, "--history", "-f", "sarif"]) == 1
    [result] = json.loads(capsys.readouterr().out)["runs"][0]["results"]
    props = result["properties"]
    assert props["commit"] == added and props["presentAtHead"] is False and props["author"] == "Ada Lovelace"

    assert main([*base, "--history"]) == 1
    text = capsys.readouterr().out
    assert added[:8] in text and "Ada Lovelace" in text and "remains in git history" in text

    assert main([*base, "--since-commit", "HEAD~1"]) == 0  # the last commit only removed it
    capsys.readouterr()
    assert main([*base, "--history", "--branch", "no-such-ref"]) == 2
    assert main([*base, "--staged", "--history"]) == 2
    err = capsys.readouterr().err
    assert "unknown git revision 'no-such-ref'" in err and "Traceback" not in err

    repo.write({"deploy.sh": f"export GITHUB_TOKEN={GH}\n"})
    repo("add", "deploy.sh")
    repo.write({"deploy.sh": "export GITHUB_TOKEN=$TOKEN\n"})
    assert main([*base, "--staged"]) == 1  # staged content has it, the working copy does not


def test_excludes_apply_to_history_and_staged_scans(tmp_path, monkeypatch):
    from tests.conftest import git

    monkeypatch.chdir(tmp_path)
    git(tmp_path, "init", "-q")
    (tmp_path / "fixtures").mkdir()
    (tmp_path / "fixtures" / "fake.env").write_text(f"TOKEN={GH}\n")
    (tmp_path / "app.env").write_text(f"AWS_ACCESS_KEY_ID={AWS}\n")
    git(tmp_path, "add", ".")
    git(tmp_path, "commit", "-qm", "both")
    git(tmp_path, "rm", "-q", "fixtures/fake.env", "app.env")
    git(tmp_path, "commit", "-qm", "gone")
    (tmp_path / "fixtures" / "staged.env").parent.mkdir(exist_ok=True)
    (tmp_path / "fixtures" / "staged.env").write_text(f"TOKEN={GH}\n")
    git(tmp_path, "add", "fixtures/staged.env")
    import json

    from scanner.cli import main

    for mode in ("--history", "--staged"):
        out = tmp_path / f"report{mode}.json"
        main(["scan", ".", mode, "--exclude", "/fixtures/", "-f", "json", "-o", str(out)])
        paths = {f["path"] for f in json.loads(out.read_text())["findings"]}
        assert not any(p.startswith("fixtures/") for p in paths), (mode, paths)
        assert paths == ({"app.env"} if mode == "--history" else set())


def test_a_shallow_clone_is_one_warning_not_a_file_left_unscanned(tmp_path, cli):
    """CI checkouts are shallow by default: the scan says so once, counts it as a warning (not as
    "1 file not fully scanned") and --fail-on-parse-error does not fail on it."""
    origin = Git(tmp_path / "origin")
    origin.commit("one", {"README.md": "hello\n"})
    origin.commit("two", {"README.md": "hello again\n"})
    subprocess.run(
        ["git", "clone", "-q", "--depth", "1", f"file://{origin.path}", str(tmp_path / "shallow")],
        check=True, capture_output=True,
    )  # fmt: skip
    run = cli("scan", "--history", "--fail-on-parse-error", str(tmp_path / "shallow"))
    assert run.code == 0
    assert run.err.splitlines() == [
        "scanner: warning: shallow clone: history is truncated, only the fetched commits were scanned "
        "(fetch full history with 'git fetch --unshallow', or fetch-depth: 0 in CI)"
    ]
    summary = run.out.splitlines()[-1]
    assert "1 warning (see above)" in summary and "not fully scanned" not in summary
