"""The working-tree source: what git sees, .gitignore outside git, and hostile file systems."""

from __future__ import annotations

import os

import pytest

from tests.conftest import FAKE_GH, MINIMAL_PACK, git

ARGS = ("scan", "--rules", str(MINIMAL_PACK), "--only", "minimal", "-f", "json")


def _paths(run) -> list[str]:
    import json

    return sorted({f["path"] for f in json.loads(run.out)["findings"]})


def test_git_repo_scans_tracked_and_untracked_but_not_ignored(cli, tmp_path):
    git(tmp_path, "init", "-q")
    (tmp_path / ".gitignore").write_text("build/\n*.log\n")
    (tmp_path / "tracked.py").write_text(f"T='{FAKE_GH}'\n")
    git(tmp_path, "add", ".")
    git(tmp_path, "commit", "-qm", "init")
    (tmp_path / "untracked.py").write_text(f"T='{FAKE_GH}'\n")
    (tmp_path / "build").mkdir()
    (tmp_path / "build" / "out.py").write_text(f"T='{FAKE_GH}'\n")
    (tmp_path / "debug.log").write_text(f"T='{FAKE_GH}'\n")
    assert _paths(cli(*ARGS, cwd=tmp_path)) == ["tracked.py", "untracked.py"]


def test_plain_folder_honours_nested_gitignore(cli, tmp_path):
    (tmp_path / ".gitignore").write_text("secret-dir/\n")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / ".gitignore").write_text("local.env\n")
    for rel in ("a.env", "secret-dir/b.env", "sub/local.env", "sub/kept.env"):
        (tmp_path / rel).parent.mkdir(exist_ok=True)
        (tmp_path / rel).write_text(f"TOKEN={FAKE_GH}\n")
    assert _paths(cli(*ARGS, cwd=tmp_path)) == ["a.env", "sub/kept.env"]


def test_symlink_out_of_root_is_not_followed(cli, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "creds.env").write_text(f"TOKEN={FAKE_GH}\n")
    root = tmp_path / "root"
    root.mkdir()
    (root / "link.env").symlink_to(outside / "creds.env")
    (root / "dirlink").symlink_to(outside, target_is_directory=True)
    (root / "loop").symlink_to(root / "loop")
    run = cli(*ARGS, cwd=root)
    assert run.code == 0 and _paths(run) == []
    assert "link.env: symlink points outside the scanned root; not followed" in run.err
    assert "loop: symlink not followed" in run.err
    assert "Traceback" not in run.err


def test_binary_unreadable_fifo_and_size_limit(cli, tmp_path):
    (tmp_path / "blob.bin").write_bytes(b"\0\1\2" + FAKE_GH.encode())
    (tmp_path / "big.env").write_text("x" * 5000 + f"\nTOKEN={FAKE_GH}\n")
    (tmp_path / "ok.env").write_text(f"TOKEN={FAKE_GH}\n")
    os.mkfifo(tmp_path / "pipe.env")
    unreadable = tmp_path / "locked.env"
    unreadable.write_text(f"TOKEN={FAKE_GH}\n")
    unreadable.chmod(0)
    run = cli(*ARGS, "--max-file-size", "2k", "--verbose", cwd=tmp_path)
    paths = _paths(run)
    assert "ok.env" in paths and "blob.bin" not in paths and "big.env" not in paths
    assert "big.env: not scanned" in run.err and "blob.bin: binary file skipped" in run.err
    assert "pipe.env: not a regular file" in run.err
    if os.geteuid() != 0:  # root reads everything
        assert "locked.env: cannot read" in run.err


def test_invalid_utf8_utf16_crlf_and_huge_lines_are_scanned(cli, tmp_path):
    (tmp_path / "latin1.env").write_bytes(b"NAME=caf\xe9\nTOKEN=" + FAKE_GH.encode() + b"\n")
    (tmp_path / "utf16.env").write_bytes(("\ufeffX=1\r\nTOKEN=" + FAKE_GH + "\r\n").encode("utf-16-le"))
    (tmp_path / "crlf.env").write_bytes(b"A=1\r\nTOKEN=" + FAKE_GH.encode() + b"\r\n")
    (tmp_path / "min.js").write_text("var a=1;" * 200_000 + f'var t="{FAKE_GH}";')
    import json

    findings = json.loads(cli(*ARGS, cwd=tmp_path).out)["findings"]
    got = {(f["path"], f["line"]) for f in findings}
    assert got == {("latin1.env", 2), ("utf16.env", 2), ("crlf.env", 2), ("min.js", 1)}
    minified = next(f for f in findings if f["path"] == "min.js")
    assert len(minified["evidence"]) < 200


def test_exclude_glob(cli, tmp_path):
    (tmp_path / "vendor").mkdir()
    (tmp_path / "vendor" / "x.env").write_text(f"TOKEN={FAKE_GH}\n")
    (tmp_path / "y.env").write_text(f"TOKEN={FAKE_GH}\n")
    assert _paths(cli(*ARGS, "--exclude", "vendor/", cwd=tmp_path)) == ["y.env"]


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_many_files_same_result_whatever_the_jobs(cli, tmp_path, jobs, monkeypatch):
    import scanner.scan as scan_mod

    monkeypatch.setattr(scan_mod, "PARALLEL_MIN_FILES", 10)
    for i in range(40):
        (tmp_path / f"f{i:02d}.env").write_text("A=1\n" * (i % 3) + f"TOKEN={FAKE_GH}\n")
    import json

    findings = json.loads(cli(*ARGS, "--jobs", jobs, cwd=tmp_path).out)["findings"]
    assert [(f["path"], f["line"]) for f in findings] == [(f"f{i:02d}.env", i % 3 + 1) for i in range(40)]


def test_folder_ignored_by_the_enclosing_repo_is_walked_when_named(cli, tmp_path):
    git(tmp_path, "init", "-q")
    (tmp_path / ".gitignore").write_text("/vendor\n")
    (tmp_path / "vendor" / "lib").mkdir(parents=True)
    (tmp_path / "vendor" / "lib" / "conf.env").write_text(f"TOKEN={FAKE_GH}\n")
    assert _paths(cli(*ARGS, cwd=tmp_path)) == []  # the repo's view: ignored
    assert _paths(cli(*ARGS, "vendor", cwd=tmp_path)) == ["vendor/lib/conf.env"]  # named explicitly: scanned


def test_unreadable_folder_is_a_warning_outside_git(cli, tmp_path, monkeypatch):
    (tmp_path / "locked").mkdir()
    (tmp_path / "locked" / "x.env").write_text(f"TOKEN={FAKE_GH}\n")
    (tmp_path / "ok.env").write_text(f"TOKEN={FAKE_GH}\n")
    real_scandir = os.scandir

    def scandir(path="."):  # root reads every folder, so simulate chmod 000 the way os.walk meets it
        if os.fspath(path).endswith("locked"):
            raise PermissionError(13, "Permission denied", os.fspath(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    run = cli(*ARGS, cwd=tmp_path)
    assert _paths(run) == ["ok.env"]
    assert "locked: cannot list folder: Permission denied" in run.err


def test_a_named_path_is_scanned_even_if_an_exclude_covers_it(cli, tmp_path):
    (tmp_path / "fixtures").mkdir()
    (tmp_path / "fixtures" / "leak.env").write_text(f"TOKEN={FAKE_GH}\n")
    (tmp_path / "app.env").write_text(f"TOKEN={FAKE_GH}\n")
    assert _paths(cli(*ARGS, "--exclude", "/fixtures/", cwd=tmp_path)) == ["app.env"]
    assert _paths(cli(*ARGS, "fixtures", "--exclude", "/fixtures/", cwd=tmp_path)) == ["fixtures/leak.env"]
    assert _paths(cli(*ARGS, "fixtures/leak.env", "--exclude", "/fixtures/", cwd=tmp_path)) == ["fixtures/leak.env"]


def test_exclude_and_gitignore_patterns_match_file_names_that_are_not_utf8(cli, tmp_path):
    """A file name that is not UTF-8 (Latin-1 `\\xff`): --exclude and .gitignore patterns are
    matched against it (its undecodable byte as U+FFFD) instead of stopping the scan with an
    internal error, in the work tree and in the history."""
    repo = tmp_path / "r"
    (repo / "conf").mkdir(parents=True)
    git(repo, "init", "-q")
    odd = os.fsencode(repo / "conf") + b"/ren\xff.env"
    with open(odd, "wb") as handle:
        handle.write(f"TOKEN={FAKE_GH}\n".encode())
    (repo / "conf" / "kept.env").write_text(f"TOKEN={FAKE_GH}\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "two env files")
    for history in ((), ("--history",)):
        run = cli("scan", ".", *history, "-f", "json", cwd=repo)
        assert run.code == 1, run.err
        assert len(set(_paths(run))) == 2
        run = cli("scan", ".", *history, "--exclude", "conf/ren*.env", "-f", "json", cwd=repo)
        assert run.code == 1 and "internal error" not in run.err, run.err
        assert set(_paths(run)) == {"conf/kept.env"}
    plain = tmp_path / "plain"  # not a repository: its .gitignore is read by the scanner
    (plain / "conf").mkdir(parents=True)
    with open(os.fsencode(plain / "conf") + b"/ren\xff.env", "wb") as handle:
        handle.write(f"TOKEN={FAKE_GH}\n".encode())
    (plain / "conf" / "kept.env").write_text(f"TOKEN={FAKE_GH}\n")
    (plain / ".gitignore").write_text("conf/ren*.env\n")
    run = cli("scan", ".", "-f", "json", cwd=plain)
    assert run.code == 1 and "internal error" not in run.err, run.err
    assert set(_paths(run)) == {"conf/kept.env"}
