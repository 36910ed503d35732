"""Baselines: accept today's findings, fail only on new ones; identities survive edits and rebases."""

from __future__ import annotations

import hashlib
import json

from tests.conftest import FAKE_GH, MINIMAL_PACK, git

OTHER_GH = "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"
NEW_GH = "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"
SCAN = ("--rules", str(MINIMAL_PACK), "--only", "minimal")


def _tree(tmp_path):
    (tmp_path / "app.py").write_text(f'import os\nTOKEN = "{FAKE_GH}"\n')
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "ci.env").write_text(f"GH={OTHER_GH}\nOTHER={FAKE_GH}\n")
    return tmp_path


def test_create_then_scan_exits_zero_and_new_secret_fails_alone(cli, tmp_path):
    tree = _tree(tmp_path)
    run = cli("baseline", "create", *SCAN, cwd=tree)
    assert run.code == 0 and "3 findings baselined" in run.err
    text = (tree / ".scanner-baseline.json").read_text()
    for secret in (FAKE_GH, OTHER_GH):
        assert secret not in text and secret[:12] not in text
    doc = json.loads(text)
    assert {(e["rule"], e["path"]) for e in doc["findings"]} == {("test-github-token", "app.py"),
                                                                   ("test-github-token", "conf/ci.env")}  # fmt: skip
    assert all(set(e) == {"rule", "path", "fingerprint"} for e in doc["findings"])  # no line numbers

    run = cli("scan", *SCAN, "--baseline", ".scanner-baseline.json", cwd=tree)
    assert run.code == 0, run.out
    assert "3 suppressed" in run.out

    (tree / "new.py").write_text(f'K = "{NEW_GH}"\n')
    run = cli("scan", *SCAN, "--baseline", ".scanner-baseline.json", "-f", "json", cwd=tree)
    assert run.code == 1
    active = [f for f in json.loads(run.out)["findings"] if f["suppressed"] is None]
    assert [(f["path"], f["line"], f["rule"]) for f in active] == [("new.py", 1, "test-github-token")]
    suppressed = [f["suppressed"] for f in json.loads(run.out)["findings"] if f["suppressed"]]
    assert suppressed and all(s["kind"] == "external" and s["how"] == "baseline" for s in suppressed)


def test_create_is_deterministic_and_writes_nothing_else(cli, tmp_path):
    tree = _tree(tmp_path)
    before = {p: p.read_bytes() for p in tree.rglob("*") if p.is_file()}
    cli("baseline", "create", *SCAN, "--output", "b1.json", cwd=tree)
    cli("baseline", "create", *SCAN, "--output", "b2.json", cwd=tree)
    assert (tree / "b1.json").read_bytes() == (tree / "b2.json").read_bytes()
    after = {p: p.read_bytes() for p in tree.rglob("*") if p.is_file() and p.name not in ("b1.json", "b2.json")}
    assert after == before


def test_survives_edits_above_reformatting_and_rebase(cli, tmp_path):
    tree = _tree(tmp_path)
    git(tree, "init", "-q")
    git(tree, "add", ".")
    git(tree, "commit", "-qm", "one")
    cli("baseline", "create", *SCAN, cwd=tree)
    # edits above, the line reformatted (quotes, spacing, another key name)
    (tree / "app.py").write_text(f'"""Docs."""\n\nimport os\n\n\nGITHUB_TOKEN   =   \'{FAKE_GH}\'   # legacy\n')
    # a rebase: the same content lands on top of another history
    git(tree, "checkout", "-q", "--orphan", "rebased")
    git(tree, "add", ".")
    git(tree, "commit", "-qm", "rebased")
    run = cli("scan", *SCAN, "--baseline", ".scanner-baseline.json", cwd=tree)
    assert run.code == 0, run.out
    # the same secret moved to another file is a new finding there
    (tree / "moved.py").write_text(f"T = '{FAKE_GH}'\n")
    run = cli("scan", *SCAN, "--baseline", ".scanner-baseline.json", cwd=tree)
    assert run.code == 1 and "moved.py" in run.out and "app.py" not in run.out


def test_stale_entries_listed_with_verbose(cli, tmp_path):
    tree = _tree(tmp_path)
    cli("baseline", "create", *SCAN, cwd=tree)
    (tree / "app.py").write_text("import os\nTOKEN = os.environ['GH']\n")  # fixed
    run = cli("scan", *SCAN, "--baseline", ".scanner-baseline.json", "--verbose", cwd=tree)
    assert run.code == 0
    assert "1 baseline entries match no finding" in run.err
    assert "stale baseline entry: app.py: test-github-token" in run.err
    assert "stale" not in cli("scan", *SCAN, "--baseline", ".scanner-baseline.json", cwd=tree).err


def test_baseline_from_config_and_bad_baseline_is_exit_2(cli, tmp_path):
    tree = _tree(tmp_path)
    (tree / "tools").mkdir()
    cli("baseline", "create", *SCAN, "--output", "tools/accepted.json", cwd=tree)
    (tree / ".scanner.yaml").write_text(f"rules: [{MINIMAL_PACK}]\nonly: minimal\nbaseline: tools/accepted.json\n")
    assert cli("scan", cwd=tree).code == 0
    (tree / "tools" / "accepted.json").write_text("{not json")
    run = cli("scan", cwd=tree)
    assert run.code == 2 and "accepted.json: not a JSON baseline" in run.err and "Traceback" not in run.err


def test_inline_ignored_findings_are_not_baselined_so_an_expiry_brings_them_back(cli, tmp_path):
    (tmp_path / "a.py").write_text(f'T = "{FAKE_GH}"  # scanner:ignore until=2999-01-01 rotating\n')
    cli("baseline", "create", *SCAN, cwd=tmp_path)
    assert json.loads((tmp_path / ".scanner-baseline.json").read_text())["findings"] == []


def test_import_detect_secrets_baseline(cli, tmp_path):
    tree = _tree(tmp_path)
    ds = {
        "version": "1.5.0",
        "plugins_used": [{"name": "GitHubTokenDetector"}],
        "filters_used": [],
        "results": {
            "app.py": [{"type": "GitHub Token", "filename": "app.py", "hashed_secret":
                        hashlib.sha1(FAKE_GH.encode()).hexdigest(), "is_verified": False, "line_number": 2}],
            "conf/ci.env": [{"type": "GitHub Token", "filename": "conf/ci.env", "hashed_secret":
                             hashlib.sha1(OTHER_GH.encode()).hexdigest(), "is_verified": False, "line_number": 1}],
        },
        "generated_at": "2024-01-01T00:00:00Z",
    }  # fmt: skip
    (tree / ".secrets.baseline").write_text(json.dumps(ds))
    run = cli("baseline", "import", ".secrets.baseline", cwd=tree)
    assert run.code == 0 and "2 entries" in run.err
    entries = json.loads((tree / ".scanner-baseline.json").read_text())["findings"]
    assert all(set(e) == {"rule", "path", "secret_sha1", "origin"} for e in entries)  # no line numbers
    run = cli("scan", *SCAN, "--baseline", ".scanner-baseline.json", "-f", "json", cwd=tree)
    active = [(f["path"], f["line"]) for f in json.loads(run.out)["findings"] if f["suppressed"] is None]
    assert active == [("conf/ci.env", 2)]  # FAKE_GH in ci.env was not in detect-secrets' baseline
    assert run.code == 1
    # a detect-secrets baseline given to --baseline directly: told how to convert it
    run = cli("scan", *SCAN, "--baseline", ".secrets.baseline", cwd=tree)
    assert run.code == 2 and "scanner baseline import" in run.err


def test_secret_hashes_never_reach_reports(cli, tmp_path):
    tree = _tree(tmp_path)
    out = cli("scan", *SCAN, "-f", "json", cwd=tree).out + cli("scan", *SCAN, "-f", "sarif", cwd=tree).out
    for secret in (FAKE_GH, OTHER_GH):
        assert hashlib.sha1(secret.encode()).hexdigest() not in out
        assert hashlib.sha256(secret.encode()).hexdigest() not in out
