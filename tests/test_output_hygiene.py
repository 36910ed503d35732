"""Issue 20, scope 5: what a scanned repository controls reaches the terminal escaped; an inline
ignore covers one line, never two; report files get the mode a user expects."""

from __future__ import annotations

import json
import os
import random
import stat
import string
from xml.etree import ElementTree as ET

import pytest

from scanner.engines.checksums import with_checksum
from scanner.reporters.terminal import printable
from tests.conftest import FAKE_GH


def fake_gh(seed: int) -> str:
    rng = random.Random(seed)
    return with_checksum("ghp_", "".join(rng.choice(string.ascii_letters + string.digits) for _ in range(30)))


# --- terminal escaping ----------------------------------------------------------------------

EVIL = "evil\x1b]0;pwned\x07\x1b[2J\x1b[31m.env"
NEWLINE = "fake\nscanner: No findings.env"


def test_control_characters_in_file_names_are_escaped_in_the_text_report(cli, tmp_path):
    (tmp_path / EVIL).write_text(f"TOKEN={FAKE_GH}\n")
    (tmp_path / NEWLINE).write_text(f"TOKEN={fake_gh(1)}\n")
    run = cli("scan", ".", cwd=tmp_path)
    assert run.code == 1
    assert "\x1b" not in run.out and "\x07" not in run.out
    assert "evil\\x1b]0;pwned\\x07\\x1b[2J\\x1b[31m.env" in run.out
    assert "fake\\nscanner: No findings.env" in run.out
    assert not any(line.startswith("scanner: No findings") for line in run.out.splitlines())


def test_control_characters_in_warnings_are_escaped_on_stderr(cli, tmp_path):
    (tmp_path / "bad\x1b[1Aname.yaml").write_text("apiVersion: v1\nkind: Pod\nspec: [unclosed\n")
    (tmp_path / "line\nbreak.tf").write_text('resource "a" "b" {\n')
    run = cli("scan", ".", cwd=tmp_path)
    assert "\x1b" not in run.err
    assert "warning: bad\\x1b[1Aname.yaml:" in run.err
    assert "warning: line\\nbreak.tf" in run.err
    assert all(line.startswith("scanner: ") for line in run.err.splitlines())  # one line per warning


def test_json_and_sarif_keep_the_real_names_and_junit_stays_xml(cli, tmp_path):
    (tmp_path / EVIL).write_text(f"TOKEN={FAKE_GH}\n")
    data = json.loads(cli("scan", ".", "--format", "json", cwd=tmp_path).out)
    assert data["findings"][0]["path"] == EVIL
    sarif = json.loads(cli("scan", ".", "--format", "sarif", cwd=tmp_path).out)
    uri = sarif["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
    assert uri == "evil%1B%5D0;pwned%07%1B%5B2J%1B%5B31m.env"
    junit = cli("scan", ".", "--format", "junit", cwd=tmp_path).out
    case = ET.fromstring(junit).find(".//testcase[@file]")
    assert case is not None and case.get("file") == "evil\\x1b]0;pwned\\x07\\x1b[2J\\x1b[31m.env"


@pytest.mark.parametrize(
    "raw,shown",
    [("plain", "plain"), ("a\tb", "a\\tb"), ("\x1b[31m", "\\x1b[31m"), ("\x9b", "\\x9b"), ("abc\u202eexe.txt", "abc\\u202eexe.txt"),
     ("caf\udce9", "caf\\udce9"), ("été", "été")],
)  # fmt: skip
def test_printable(raw, shown):
    assert printable(raw) == shown


# --- inline ignores: one line, never two ----------------------------------------------------


def test_an_ignore_covers_its_own_line_when_trailing_and_the_next_when_alone(cli, tmp_path):
    tokens = [fake_gh(i) for i in range(6)]
    (tmp_path / "app.env").write_text(
        f"TOKEN_A={tokens[0]}  # scanner:ignore test fixture\n"  # 1: trailing: covers line 1 only
        f"TOKEN_B={tokens[1]}\n"  # 2: reported
        "# scanner:ignore=github-token rotated\n"  # 3: alone: covers line 4 only
        f"TOKEN_C={tokens[2]}\n"  # 4: suppressed
        f"TOKEN_D={tokens[3]}  # pragma: allowlist secret\n"  # 5: suppressed
        f"TOKEN_E={tokens[4]}\n"  # 6: reported
        "# pragma: allowlist nextline secret\n"  # 7
        f"TOKEN_F={tokens[5]}\n"  # 8: suppressed
    )
    data = json.loads(cli("scan", ".", "--format", "json", cwd=tmp_path).out)
    state = {f["line"]: f["suppressed"] is not None for f in data["findings"]}
    assert state == {1: True, 2: False, 4: True, 5: True, 6: False, 8: True}


def test_a_trailing_ignore_on_a_kubernetes_field_does_not_hide_the_next_field(cli, tmp_path):
    (tmp_path / "pod.yaml").write_text(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: web\nspec:\n  hostPID: true  # scanner:ignore node agent\n"
        "  hostNetwork: true\n  containers:\n    - name: app\n      image: nginx:1.25\n"
    )
    data = json.loads(cli("scan", ".", "--format", "json", cwd=tmp_path).out)
    by_line = {(f["line"], f["suppressed"] is not None) for f in data["findings"] if f["line"] in (6, 7)}
    assert (7, False) in by_line, data["findings"]
    assert (7, True) not in by_line


# --- output files ---------------------------------------------------------------------------


@pytest.fixture
def umask():
    previous = os.umask(0o022)
    yield lambda mask: os.umask(mask)
    os.umask(previous)


@pytest.mark.parametrize("mask,mode", [(0o022, 0o644), (0o002, 0o664), (0o077, 0o600)])
def test_output_files_follow_the_umask(cli, tmp_path, umask, mask, mode):
    (tmp_path / "app.env").write_text(f"TOKEN={FAKE_GH}\n")
    umask(mask)
    out = tmp_path / "report.json"
    assert cli("scan", "app.env", "--format", "json", "--output", str(out), cwd=tmp_path).code == 1
    assert stat.S_IMODE(out.stat().st_mode) == mode


def test_output_with_unredacted_secrets_is_private(cli, tmp_path, umask):
    (tmp_path / "app.env").write_text(f"TOKEN={FAKE_GH}\n")
    umask(0o022)
    out = tmp_path / "report.json"
    cli("scan", "app.env", "--format", "json", "--show-secrets", "--output", str(out), cwd=tmp_path)
    assert FAKE_GH in out.read_text()
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    cli("scan", "app.env", "--format", "json", "--output", str(out), cwd=tmp_path)  # redacted again
    assert stat.S_IMODE(out.stat().st_mode) == 0o644
