"""Issue 20, scope 1 and 3: one bad item costs one warning naming it, and the scan goes on; nothing
that was not fully scanned is silent. Every hostile input is generated here, in tmp_path."""

from __future__ import annotations

import base64
import json
import os
import random
import sqlite3
import string
import zipfile
from xml.etree import ElementTree as ET

import pytest

from scanner import documents, scan
from scanner.engines.checksums import with_checksum
from scanner.model import Item, Problem, fingerprint
from scanner.sources import text
from tests.conftest import FAKE_GH, git

FORMATS = ["text", "json", "sarif", "junit", "gitlab"]


def fake_gh(seed: int) -> str:
    """A well-formed fake GitHub token (ghp_ + 36 base62 characters), different for each seed."""
    rng = random.Random(seed)
    return with_checksum("ghp_", "".join(rng.choice(string.ascii_letters + string.digits) for _ in range(30)))


def findings(run) -> set[tuple[str, int]]:
    return {(f["path"], f["line"]) for f in json.loads(run.out)["findings"]}


def report(run) -> dict:
    return json.loads(run.out)


# --- one item costs one warning ---------------------------------------------------------------


def _deep_chain(root: str, depth: int, leaf: str, content: str) -> None:
    """`depth` nested folders under root, made relative to each other (the path grows past PATH_MAX)."""
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for _ in range(depth):
            os.mkdir("d", dir_fd=fd)
            step = os.open("d", os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
            os.close(fd)
            fd = step
        handle = os.open(leaf, os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd)
        os.write(handle, content.encode())
        os.close(handle)
    finally:
        os.close(fd)


def _cut_chain(root, parts: int = 400) -> None:
    """Move the chain's folders up in segments, so that pytest's (recursive) cleanup can remove them."""
    current, number = root, 0
    while os.path.isdir(os.path.join(current, *["d"] * parts)):
        segment = os.path.join(root, f"segment{number}")
        os.rename(os.path.join(current, *["d"] * parts), segment)
        current, number = segment, number + 1


@pytest.mark.parametrize("in_git", [False, True], ids=["folder", "git-work-tree"])
def test_three_thousand_nested_folders_are_walked_and_the_secret_at_the_bottom_is_found(cli, tmp_path, in_git):
    """Outside git: our walk (it recursed: RecursionError). In a work tree git cannot list past
    PATH_MAX and says so in a warning cut short: those files are walked here, not silently lost."""
    repo = tmp_path / "repo"
    repo.mkdir()
    if in_git:
        git(repo, "init", "-q")
    (repo / "top.env").write_text(f"TOKEN={FAKE_GH}\n")
    _deep_chain(str(repo), 3000, "deep.env", f"A=1\nTOKEN={fake_gh(1)}\n")
    try:
        run = cli("scan", ".", "--format", "json", cwd=repo)
    finally:
        _cut_chain(str(repo))
    assert run.code == 1, run.err
    got = findings(run)
    assert ("top.env", 1) in got
    assert ("d/" * 3000 + "deep.env", 2) in got  # 6,000 characters: past PATH_MAX, read with openat
    assert report(run)["problems"] == [] and "Traceback" not in run.err


def test_an_invalid_gitignore_line_is_one_warning_and_the_other_lines_still_apply(cli, tmp_path):
    (tmp_path / ".gitignore").write_text("# build output\n\\\n*.log\n")
    (tmp_path / "app.env").write_text(f"TOKEN={FAKE_GH}\n")
    (tmp_path / "debug.log").write_text(f"TOKEN={fake_gh(2)}\n")  # ignored by line 3
    run = cli("scan", ".", "--format", "json", cwd=tmp_path)
    assert run.code == 1
    assert findings(run) == {("app.env", 1)}
    assert "warning: .gitignore:2: invalid ignore pattern '\\\\' skipped; the other lines apply" in run.err
    problem = report(run)["problems"][0]
    assert (problem["path"], problem["line"], problem["kind"]) == (".gitignore", 2, "notice")
    # it made nothing less scanned: not a "could not be fully scanned" failure
    (tmp_path / "app.env").unlink()
    assert cli("scan", ".", "--fail-on-parse-error", cwd=tmp_path).code == 0


def test_an_invalid_exclude_is_a_usage_error(cli, tmp_path):
    run = cli("scan", ".", "--exclude", "\\", cwd=tmp_path)
    assert run.code == 2 and "--exclude '\\\\': not a valid gitignore pattern" in run.err


PLAN = {
    "format_version": "1.2",
    "planned_values": {"root_module": {"resources": [{
        "address": "aws_s3_bucket.logs\ud800", "mode": "managed", "type": "aws_s3_bucket", "name": "logs\ud800",
        "values": {"bucket": "logs-\ud800-bucket", "tags": {"Name": "\udfff"}},
    }]}},
    "resource_changes": [],
    "configuration": {},
}  # fmt: skip


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_lone_surrogate_in_a_plan_is_fingerprinted_and_reported_in_every_format(cli, tmp_path, fmt):
    (tmp_path / "tfplan.json").write_text(json.dumps(PLAN))  # json.dumps writes the \ud800 escapes
    assert "\\ud800" in (tmp_path / "tfplan.json").read_text()
    (tmp_path / "app.env").write_text(f"TOKEN={FAKE_GH}\n")
    run = cli("scan", ".", "--format", fmt, cwd=tmp_path)
    assert run.code == 1, run.err
    assert "internal error" not in run.err and "Traceback" not in run.err
    if fmt in ("json", "sarif", "gitlab"):
        json.loads(run.out)
    if fmt == "json":
        paths = {f["path"] for f in report(run)["findings"]}
        assert paths == {"app.env", "tfplan.json"}  # the bucket's policy findings are there too
    if fmt == "junit":
        ET.fromstring(run.out.encode("utf-8", "backslashreplace"))
    if fmt == "text":
        assert "\\ud800" in run.out and "\ud800" not in run.out


def test_fingerprints_hash_bytes_whatever_the_str_holds():
    assert fingerprint("r", "p", "a\ud800") != fingerprint("r", "p", "a\udfff")
    name = os.fsdecode(b"caf\xe9.env")  # a file name that is not UTF-8: kept as a surrogate escape
    assert fingerprint("r", name, "x") == fingerprint("r", name, b"x")


def test_a_scanner_bug_on_one_file_costs_that_file_only(cli, tmp_path, monkeypatch):
    from scanner.engines import secrets

    (tmp_path / "a.env").write_text(f"TOKEN={FAKE_GH}\n")
    (tmp_path / "b.env").write_text(f"TOKEN={fake_gh(3)}\n")
    real = secrets.scan_item

    def flaky(compiled, item, *args, **kwargs):
        if item.path == "b.env":
            raise RuntimeError("boom: " + item.data.decode())  # its message could quote a secret
        return real(compiled, item, *args, **kwargs)

    monkeypatch.setattr(secrets, "scan_item", flaky)
    monkeypatch.delenv("SCANNER_DEBUG", raising=False)
    run = cli("scan", ".", "--format", "json", cwd=tmp_path)
    assert run.code == 1 and findings(run) == {("a.env", 1)}
    assert "warning: b.env: not fully scanned: internal error (RuntimeError" in run.err
    assert "boom" not in run.err + run.out
    assert report(run)["summary"]["not_fully_scanned"] == 1
    (tmp_path / "a.env").unlink()
    assert cli("scan", ".", cwd=tmp_path).code == 0
    assert cli("scan", ".", "--fail-on-parse-error", cwd=tmp_path).code == 1


def test_a_timeout_inside_a_c_or_go_parser_is_reported_as_a_timeout(monkeypatch):
    """The alarm going off inside an extension surfaces as SystemError (its cause: our timeout)."""

    def interrupted(item):
        try:
            raise scan.FileTimeout
        except scan.FileTimeout as exc:
            raise SystemError("<built-in function parse_string> returned a result with an exception set") from exc

    monkeypatch.setattr(documents, "parse_item", interrupted)
    scan._init_worker((), False, True, timeout=3.0)
    scan._STATE["policy"] = True
    result = scan.process_item(Item("Dockerfile", b"FROM alpine\n"))
    assert [p.message for p in result.problems] == ["not fully scanned: took longer than --timeout 3 s"]
    assert result.problems[0].kind == "timeout"
    with pytest.raises(KeyboardInterrupt):  # Ctrl-C inside an extension is still Ctrl-C
        def ctrl_c(item):
            try:
                raise KeyboardInterrupt
            except KeyboardInterrupt as exc:
                raise SystemError("interrupted") from exc

        monkeypatch.setattr(documents, "parse_item", ctrl_c)
        scan.process_item(Item("Dockerfile", b"FROM alpine\n"))


# --- nothing silent -------------------------------------------------------------------------


def test_a_200_mb_file_skipped_is_said_by_default_counted_and_can_fail_the_build(cli, tmp_path):
    with open(tmp_path / "dump.sql", "wb") as handle:  # sparse: 200 MB on paper, nothing on disk
        handle.truncate(200 * 1000 * 1000)
    (tmp_path / "README.md").write_text("nothing here\n")
    run = cli("scan", ".", cwd=tmp_path)
    assert run.code == 0  # the README's contract: problems do not change the exit code by default
    assert "warning: dump.sql: not scanned: 200.0 MB is over --max-file-size 10.5 MB" in run.err
    assert "1 file not fully scanned (see above)" in run.out.splitlines()[-1]
    data = report(cli("scan", ".", "--format", "json", cwd=tmp_path))
    assert data["summary"]["not_fully_scanned"] == 1
    assert [(p["path"], p["kind"], p["level"]) for p in data["problems"]] == [("dump.sql", "oversized", "warning")]
    sarif = json.loads(cli("scan", ".", "--format", "sarif", cwd=tmp_path).out)
    notes = sarif["runs"][0]["invocations"][0]["toolExecutionNotifications"]
    assert [(n["properties"]["kind"], n["properties"]["notFullyScanned"]) for n in notes] == [("oversized", True)]
    assert notes[0]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "dump.sql"
    assert cli("scan", ".", "--fail-on-parse-error", cwd=tmp_path).code == 1


def test_binaries_and_symlinks_stay_quiet_and_uncounted(cli, tmp_path):
    (tmp_path / "logo.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + FAKE_GH.encode() + bytes(range(256)))
    (tmp_path / "link.env").symlink_to(tmp_path / "logo.png")
    run = cli("scan", ".", "--fail-on-parse-error", cwd=tmp_path)
    assert run.code == 0 and run.err == ""
    assert "not fully scanned" not in run.out


SECRET_DOC = """apiVersion: v1
kind: Secret
metadata:
  name: registry-creds
type: Opaque
data:
  token: {b64}
"""
PRIVILEGED = """apiVersion: v1
kind: Pod
metadata:
  name: web
spec:
  containers:
    - name: app
      image: nginx:1.25
      securityContext:
        privileged: true
"""


def test_a_broken_yaml_document_does_not_stop_the_next_ones_and_the_warning_names_it(cli, tmp_path):
    b64 = base64.b64encode(FAKE_GH.encode()).decode()
    broken = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: half\ndata: [unclosed\n"
    (tmp_path / "all.yaml").write_text(PRIVILEGED + "---\n" + broken + "---\n" + SECRET_DOC.format(b64=b64))
    run = cli("scan", ".", "--format", "json", cwd=tmp_path)
    assert run.code == 1
    data = report(run)
    rules = {(f["rule"], f["line"]) for f in data["findings"]}
    secret_line = 10 + 1 + 5 + 1 + 7  # the token line of document 3
    assert any(line == secret_line for _, line in rules), rules  # the Secret (document 3) is checked
    assert any(rule.startswith("k8s-") and line < 11 for rule, line in rules)  # document 1 too
    [problem] = data["problems"]
    assert problem["line"] == 16 and "document 2 of 3, from line 11, skipped" in problem["message"]
    assert "the others are checked" in problem["message"]
    text_run = cli("scan", ".", cwd=tmp_path)
    assert "warning: all.yaml:16: malformed YAML" in text_run.err
    assert "1 file not fully scanned" in text_run.out
    assert cli("scan", ".", "--fail-on-parse-error", "--exit-zero", cwd=tmp_path).code == 0


ENV = f"# settings\nNAME=Ren\u00e9\nTOKEN={FAKE_GH}\n"


@pytest.mark.parametrize(
    "encoded",
    [
        ENV.encode("utf-16-le"), ENV.encode("utf-16-be"), b"\xff\xfe" + ENV.encode("utf-16-le"),
        b"\xfe\xff" + ENV.encode("utf-16-be"), ENV.encode("utf-32-le"), ENV.encode("utf-32-be"),
        b"\xff\xfe\x00\x00" + ENV.encode("utf-32-le"), b"\x00\x00\xfe\xff" + ENV.encode("utf-32-be"),
        ENV.encode("latin-1"), b"\xef\xbb\xbf" + ENV.encode(), ENV.replace("NAME", "NA\0ME").encode(),
    ],
    ids=["utf16le", "utf16be", "utf16le-bom", "utf16be-bom", "utf32le", "utf32be", "utf32le-bom", "utf32be-bom",
         "latin1", "utf8-bom", "one-nul"],
)  # fmt: skip
def test_text_in_any_encoding_is_scanned_at_the_right_line(cli, tmp_path, encoded):
    (tmp_path / "app.env").write_bytes(encoded)
    run = cli("scan", ".", "--format", "json", cwd=tmp_path)
    assert findings(run) == {("app.env", 3)}, run.err
    assert report(run)["findings"][0]["evidence"] == "TOKEN=ghp_********"


def test_a_utf16_manifest_without_bom_is_parsed_for_policy_rules(cli, tmp_path):
    (tmp_path / "pod.yaml").write_bytes(PRIVILEGED.encode("utf-16-le"))
    run = cli("scan", ".", "--format", "json", cwd=tmp_path)
    assert any(f["path"] == "pod.yaml" and f["line"] == 10 for f in report(run)["findings"]), run.out


def _sqlite(path) -> None:
    db = sqlite3.connect(path)
    db.execute("create table settings (key text, value text)")
    db.execute("insert into settings values ('token', ?)", (FAKE_GH,))
    db.commit()
    db.close()


def test_real_binaries_are_still_skipped_even_with_a_token_inside(cli, tmp_path):
    (tmp_path / "logo.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + FAKE_GH.encode() + os.urandom(512))
    (tmp_path / "tool").write_bytes(b"\x7fELF\x02\x01\x01" + b"\0" * 57 + FAKE_GH.encode() + b"\0" * 300)
    with zipfile.ZipFile(tmp_path / "bundle.jar", "w", zipfile.ZIP_STORED) as archive:
        archive.writestr("config.env", f"TOKEN={FAKE_GH}\n")
    _sqlite(tmp_path / "app.db")
    (tmp_path / "blob.bin").write_bytes(os.urandom(4096) + FAKE_GH.encode() + os.urandom(4096))
    run = cli("scan", ".", "--format", "json", "--verbose", cwd=tmp_path)
    assert run.code == 0, run.out
    binaries = {p["path"] for p in report(run)["problems"] if p["kind"] == "binary"}
    assert binaries >= {"logo.png", "tool", "bundle.jar", "app.db"}


@pytest.mark.parametrize(
    "data,expected",
    [
        (b"plain ascii\n", "utf-8"), (b"A=1\nB=\x00\nC=3\n", "utf-8"), (b"\x00\x01\x02" + b"x" * 40, None),
        (b"\x89PNG\r\n\x1a\n\x00\x00", None), (b"PK\x03\x04\x14\x00", None), (b"SQLite format 3\x00", None),
        ("x = 1\n".encode("utf-16-le") * 20, "utf-16-le"), ("x = 1\n".encode("utf-32-be") * 20, "utf-32-be"),
        (bytes(range(256)) * 16, None), (b"\x01\x00\x02\x00" * 100, None),  # 16-bit numbers, not UTF-16 text
    ],
)  # fmt: skip
def test_encoding_judgement(data, expected):
    assert text.encoding(data) == expected


def test_latin1_bytes_inside_utf8_text_keep_the_utf8_characters():
    assert text.decode("café ".encode() + b"\xe9t\xe9") == "café été".encode()


def test_problem_kinds_say_what_counts():
    assert Problem("a", "x").incomplete and Problem("a", "x", kind="oversized").incomplete
    assert not Problem("a", "x", "info", kind="binary").incomplete
    assert not Problem("a", "x", kind="notice").incomplete and not Problem("a", "x", kind="symlink").incomplete


def test_a_timeout_on_one_file_does_not_make_every_later_file_time_out(tmp_path):
    """The Hyperscan database is compiled once enough bytes were read; that one-time cost is not the
    file's --timeout (it was: cut short by the alarm, compiled again and cut again on every file)."""
    import subprocess
    import sys

    from tests.conftest import REPO

    doc = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: big}\ndata:\n"
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "a-big.yaml").write_text(doc + "".join(f"  k{i}: {{a: 1, b: [1, 2, 3]}}\n" for i in range(300_000)))
    (repo / "b.env").write_text(f"TOKEN={FAKE_GH}\n")
    (repo / "c-pod.yaml").write_text(PRIVILEGED)
    env = dict(os.environ, NO_COLOR="1", PYTHONPATH=str(REPO), SCANNER_CACHE_DIR=str(tmp_path / "cache"))
    env.pop("SCANNER_NO_CACHE", None)
    done = subprocess.run([sys.executable, "-m", "scanner", "scan", ".", "--format", "json", "--timeout", "0.5",
                           "--jobs", "1"], cwd=repo, env=env, capture_output=True, text=True, timeout=300)  # fmt: skip
    data = json.loads(done.stdout)
    assert {p["path"] for p in data["problems"]} == {"a-big.yaml"}, data["problems"]
    assert {f["path"] for f in data["findings"]} >= {"b.env", "c-pod.yaml"}


def test_a_bug_reading_one_file_costs_that_file_only(cli, tmp_path, monkeypatch):
    from scanner.sources import worktree

    (tmp_path / "a.env").write_text(f"TOKEN={FAKE_GH}\n")
    (tmp_path / "b.env").write_text(f"TOKEN={fake_gh(4)}\n")
    real = worktree.read_entry

    def flaky(entry, *args, **kwargs):
        if entry.path == "b.env":
            raise ValueError("odd file system")
        return real(entry, *args, **kwargs)

    monkeypatch.setattr(worktree, "read_entry", flaky)
    monkeypatch.delenv("SCANNER_DEBUG", raising=False)
    run = cli("scan", ".", "--format", "json", cwd=tmp_path)
    assert run.code == 1 and findings(run) == {("a.env", 1)}
    assert [(p["path"], p["kind"]) for p in report(run)["problems"]] == [("b.env", "error")]


def test_staged_files_get_the_same_encodings_and_size_warnings(cli, tmp_path):
    git(tmp_path, "init", "-q")
    (tmp_path / "app.env").write_bytes(ENV.encode("utf-16-le"))  # no byte-order mark
    (tmp_path / "dump.env").write_text("X=" + "x" * 4000 + f"\nTOKEN={fake_gh(5)}\n")
    git(tmp_path, "add", "app.env", "dump.env")
    run = cli("scan", ".", "--staged", "--max-file-size", "2k", "--format", "json", cwd=tmp_path)
    assert findings(run) == {("app.env", 3)}
    assert [(p["path"], p["kind"], p["level"]) for p in report(run)["problems"]] == [("dump.env", "oversized", "warning")]
    assert "warning: dump.env: not scanned" in run.err
