"""Filesystem safety (issue 9, part 3) and interrupts (part 5): links, FIFOs, weird names, broken
.git, no writes into the scanned tree, atomic outputs, never executing repository content, Ctrl-C."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from scanner.sources import worktree
from tests.conftest import FAKE_GH, REPO, git, wait_for_handlers

FORMATS = ["text", "json", "sarif", "junit", "gitlab"]


def run(cwd: Path, *args: str, timeout: int = 180) -> subprocess.CompletedProcess:
    env = dict(os.environ, NO_COLOR="1", PYTHONPATH=str(REPO))
    env.pop("SCANNER_DEBUG", None)
    return subprocess.run([sys.executable, "-m", "scanner", *args], cwd=cwd, env=env, capture_output=True,
                          timeout=timeout)  # fmt: skip


def snapshot(root: Path) -> dict[str, tuple[int, int]]:
    out = {}
    for current, dirs, files in os.walk(root):
        for name in dirs + files:
            path = os.path.join(current, name)
            st = os.lstat(path)
            out[os.path.relpath(path, root)] = (st.st_mtime_ns, st.st_size)
    return out


def test_links_fifos_and_loops_never_hang_or_escape(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.env").write_text(f"TOKEN={FAKE_GH}\n")
    root = tmp_path / "repo"
    root.mkdir()
    (root / "out.env").symlink_to(outside / "secret.env")
    (root / "outdir").symlink_to(outside)
    (root / "loop1").symlink_to(root / "loop2")
    (root / "loop2").symlink_to(root / "loop1")
    (root / "self").symlink_to(root)
    (root / "dangling").symlink_to(root / "nope")
    os.mkfifo(root / "pipe.yaml")  # reading it would block forever
    (root / "dev.env").symlink_to("/dev/zero")
    (root / "ok.env").write_text(f"TOKEN={FAKE_GH}\n")
    done = run(root, "scan", ".", "--format", "json", "--verbose")
    report = json.loads(done.stdout)
    assert [f["path"] for f in report["findings"]] == ["ok.env"]  # nothing from outside the root
    problems = {p["path"]: p["message"] for p in report["problems"]}
    assert "outside" in problems["out.env"]
    assert "pipe.yaml" in problems
    assert b"Traceback" not in done.stderr


@pytest.mark.parametrize("name", ["new\nline.env", "tab\tand space.env", "caf\xe9.env", "100%.env", "#hash?.env"])
def test_weird_file_names_in_every_format(tmp_path, name):
    raw = os.fsencode(name) if "\xe9" not in name else b"caf\xe9.env"  # not valid UTF-8
    with open(os.path.join(os.fsencode(tmp_path), raw), "w") as handle:
        handle.write(f"TOKEN={FAKE_GH}\n")
    for fmt in FORMATS:
        done = run(tmp_path, "scan", ".", "--format", fmt)
        assert done.returncode == 1, (fmt, done.stderr)
        assert b"Traceback" not in done.stderr and b"internal error" not in done.stderr
    sarif = json.loads(run(tmp_path, "scan", ".", "--format", "sarif").stdout)
    uri = sarif["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
    assert all(c not in uri for c in "\n\t #?") and " " not in uri
    from urllib.parse import unquote_to_bytes

    assert unquote_to_bytes(uri) == raw


@pytest.mark.parametrize("kind", ["gitfile-to-nowhere", "corrupt-dir", "empty-dir"])
def test_broken_dot_git_still_scans_the_files(tmp_path, kind):
    if kind == "gitfile-to-nowhere":  # a worktree whose main repository is gone
        (tmp_path / ".git").write_text("gitdir: /nonexistent/repo/.git/worktrees/x\n")
    else:
        (tmp_path / ".git").mkdir()
        if kind == "corrupt-dir":
            (tmp_path / ".git" / "HEAD").write_text("garbage\n")
            (tmp_path / ".git" / "config").write_text("[core\n\tbroken = \n")
    (tmp_path / "app.env").write_text(f"TOKEN={FAKE_GH}\n")
    done = run(tmp_path, "scan", ".", "--format", "json")
    assert done.returncode == 1, done.stderr
    assert [f["path"] for f in json.loads(done.stdout)["findings"]] == ["app.env"]
    history = run(tmp_path, "scan", ".", "--history")
    assert history.returncode == 2 and b"Traceback" not in history.stderr  # not a usable repository


def test_vanished_and_grown_files(tmp_path):
    gone = worktree.Entry("gone.env", str(tmp_path / "gone.env"))
    assert worktree.read_entry(gone, str(tmp_path)) is None
    big = tmp_path / "big.env"
    big.write_text("x" * 100)
    got = worktree.read_entry(worktree.Entry("big.env", str(big)), str(tmp_path), max_size=10)
    assert got.level == "warning" and got.kind == "oversized" and "max-file-size" in got.message


def test_unreadable_files_and_folders_are_reported_and_the_scan_goes_on(tmp_path):
    if os.geteuid() != 0 or not Path("/usr/bin/setpriv").exists():
        pytest.skip("needs root to drop to an unprivileged user")
    root = tmp_path / "tree"
    (root / "locked").mkdir(parents=True)
    (root / "locked" / "a.env").write_text(f"TOKEN={FAKE_GH}\n")
    (root / "secret.env").write_text(f"TOKEN={FAKE_GH}\n")
    (root / "ok.env").write_text(f"TOKEN={FAKE_GH}\n")
    os.chmod(root / "secret.env", 0)
    os.chmod(root / "locked", 0)
    for p in (tmp_path, root):
        os.chmod(p, 0o755)
    env = dict(os.environ, NO_COLOR="1", PYTHONPATH=str(REPO), HOME=str(tmp_path))
    done = subprocess.run(
        ["/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", sys.executable, "-m", "scanner",
         "scan", ".", "--format", "json"], cwd=root, env=env, capture_output=True, timeout=180,
    )  # fmt: skip
    if b"Permission denied" in done.stderr and not done.stdout:
        pytest.skip("the venv or repository is not readable by an unprivileged user")
    report = json.loads(done.stdout)
    assert [f["path"] for f in report["findings"]] == ["ok.env"]
    assert "secret.env" in {p["path"] for p in report["problems"]}
    assert b"Traceback" not in done.stderr


def test_no_writes_inside_the_scanned_tree(tmp_path):
    git(tmp_path, "init", "-q")
    (tmp_path / "app.env").write_text(f"TOKEN={FAKE_GH}\n")
    (tmp_path / "pod.yaml").write_text("apiVersion: v1\nkind: Pod\nspec: {containers: [{name: a, image: b}]}\n")
    git(tmp_path, "add", "-A")
    git(tmp_path, "commit", "-qm", "x")
    (tmp_path / "untracked.env").write_text(f"TOKEN={FAKE_GH}\n")
    before = snapshot(tmp_path)
    time.sleep(0.01)
    for fmt in FORMATS:
        run(tmp_path, "scan", ".", "--format", fmt)
    for mode in (["--history"], ["--staged"], ["--since-commit", "HEAD"]):
        run(tmp_path, "scan", ".", "--format", "sarif", *mode)
    assert snapshot(tmp_path) == before


def test_output_is_written_atomically_and_no_temp_file_is_left(tmp_path):
    (tmp_path / "app.env").write_text(f"TOKEN={FAKE_GH}\n")
    out = tmp_path / "reports"
    out.mkdir()
    (out / "r.json").write_text("previous")
    run(tmp_path, "scan", ".", "--format", "json", "--output", str(out / "r.json"))
    assert json.loads((out / "r.json").read_text())["findings"]
    assert sorted(p.name for p in out.iterdir()) == ["r.json"]
    missing = run(tmp_path, "scan", ".", "--output", str(tmp_path / "no" / "such" / "dir" / "r.json"))
    assert missing.returncode == 2 and b"Traceback" not in missing.stderr


def _hostile_repo(root: Path, marker: Path) -> None:
    """A repository whose hooks, config and attributes would run `touch marker` if git obeyed them."""
    git(root, "init", "-q")
    touch = f"touch {marker}"
    hook = f"#!/bin/sh\n{touch}\n"
    for name in ("pre-commit", "post-checkout", "post-index-change", "reference-transaction", "fsmonitor-watchman"):
        (root / ".git" / "hooks" / name).write_text(hook)
        os.chmod(root / ".git" / "hooks" / name, 0o755)
    script = root.parent / f"{root.name}-evil.sh"
    script.write_text(f"#!/bin/sh\n{touch}\ncat\n")
    os.chmod(script, 0o755)
    for key, value in (("filter.evil.smudge", str(script)), ("filter.evil.clean", str(script)),
                       ("filter.evil.process", str(script)), ("diff.evil.textconv", str(script)),
                       ("diff.external", str(script)), ("core.fsmonitor", str(script)), ("core.pager", str(script)),
                       ("gpg.program", str(script)), ("log.showSignature", "true"), ("core.sshCommand", str(script)),
                       ("core.askPass", str(script))):  # fmt: skip
        git(root, "config", key, value)
    (root / ".gitattributes").write_text("* filter=evil diff=evil\n")
    for module in ("yaml", "re2", "hyperscan", "pathspec", "json", "rich"):  # `python -m` puts the cwd on sys.path
        (root / f"{module}.py").write_text(f"import pathlib\npathlib.Path({str(marker)!r}).touch()\n")
    (root / "app.env").write_text(f"TOKEN={FAKE_GH}\n")
    env = dict(os.environ, GIT_CONFIG_COUNT="2", GIT_CONFIG_KEY_0="core.hooksPath", GIT_CONFIG_VALUE_0="/dev/null",
               GIT_CONFIG_KEY_1="core.fsmonitor", GIT_CONFIG_VALUE_1="false")  # fmt: skip
    for args in (["add", "-A"], ["commit", "-qm", "x"]):  # set up without triggering it ourselves
        subprocess.run(["git", "-c", "filter.evil.clean=cat", "-c", "filter.evil.smudge=cat",
                        "-c", "filter.evil.process=", "-c", "user.name=T", "-c", "user.email=t@e.invalid", *args],
                       cwd=root, env=env, check=True, capture_output=True)  # fmt: skip
    (root / "app.env").write_text(f"TOKEN={FAKE_GH}\nMORE=1\n")  # a modified file: status/diff would run filters
    subprocess.run(["git", "-c", "filter.evil.clean=cat", "-c", "filter.evil.process=", "add", "app.env"], cwd=root,
                   env=env, check=True, capture_output=True)  # fmt: skip
    if marker.exists():
        marker.unlink()


def test_repository_content_is_never_executed(tmp_path):
    root = tmp_path / "repo"
    root.mkdir()
    marker = tmp_path / "MARKER"
    _hostile_repo(root, marker)
    for mode in ([], ["--history"], ["--staged"], ["--since-commit", "HEAD"], ["--range", "HEAD~0..HEAD"]):
        done = run(root, "scan", ".", "--format", "json", *mode)
        assert b"Traceback" not in done.stderr, mode
        assert not marker.exists(), f"scanner {' '.join(mode)} ran repository content"
    assert run(root, "scan", ".").returncode == 1  # and it still scanned


# -- interrupts -----------------------------------------------------------------------------------


def _tree(root: Path, files: int) -> None:
    for i in range(files):
        folder = root / f"d{i % 50}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"f{i}.yaml").write_text(
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata:\n"
            + "".join(f"  k{j}: value-{j}-{i}\n" for j in range(400)) + f"  token: {FAKE_GH}\n"
        )  # fmt: skip


@pytest.mark.parametrize("mode", [["--jobs", "1"], ["--jobs", "2"], ["--history", "--jobs", "2"]],
                         ids=["serial", "jobs2", "history"])  # fmt: skip
def test_ctrl_c_exits_130_without_traceback_or_temp_files(tmp_path, mode):
    root = tmp_path / "tree"
    out = tmp_path / "out"
    out.mkdir()
    files = 3000
    for _attempt in range(4):
        _tree(root, files)
        if "--history" in mode and not (root / ".git").exists():
            git(root, "init", "-q")
        if "--history" in mode:
            git(root, "add", "-A")
            git(root, "commit", "-qm", f"{files}")
        env = dict(os.environ, NO_COLOR="1", PYTHONPATH=str(REPO))
        proc = subprocess.Popen(
            [sys.executable, "-m", "scanner", "scan", ".", "--format", "sarif", "--output", str(out / "r.sarif"), *mode],
            cwd=root, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )  # fmt: skip
        wait_for_handlers(proc)  # before its handler, SIGINT is Python's KeyboardInterrupt and a traceback
        time.sleep(1.5)
        if proc.poll() is None:
            break
        proc.communicate()
        files *= 2  # finished before the interrupt: a larger tree
    else:
        pytest.fail("could not make a scan that runs longer than 1.5 s")
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stderr
    assert b"interrupted" in stderr and b"incomplete" in stderr
    assert b"Traceback" not in stderr + stdout
    assert list(out.iterdir()) == []  # no report, no .r.sarif.*.tmp
