"""`scanner baseline import .secrets.baseline`: read through detect-secrets itself; entries audited as
false positives become suppressions, the others stay findings; the baseline's plugin settings (a
custom plugin is code from the repository) are never run."""

from __future__ import annotations

import hashlib
import json

from scanner.engines.checksums import with_checksum
from tests.conftest import FAKE_GH, MINIMAL_PACK

SCAN = ("--rules", str(MINIMAL_PACK), "--only", "minimal")
OTHER_GH = with_checksum("ghp_", "Zq9" * 10)


def _entry(path: str, secret: str, line: int, **audit) -> dict:
    return {"type": "GitHub Token", "filename": path, "hashed_secret": hashlib.sha1(secret.encode()).hexdigest(),
            "is_verified": False, "line_number": line, **audit}  # fmt: skip


def _tree(tmp_path, results: dict, version: str = "1.5.0", **extra):
    (tmp_path / "a.py").write_text(f'TOKEN = "{FAKE_GH}"\n')
    (tmp_path / "b.py").write_text(f'TOKEN = "{OTHER_GH}"\n')
    (tmp_path / "c.py").write_text(f'TOKEN = "{FAKE_GH}"\n')
    doc = {"version": version, "plugins_used": [{"name": "GitHubTokenDetector"}], "filters_used": [],
           "results": results, "generated_at": "2024-01-01T00:00:00Z", **extra}  # fmt: skip
    (tmp_path / ".secrets.baseline").write_text(json.dumps(doc))
    return tmp_path


def _active(cli, tree) -> list[str]:
    run = cli("scan", *SCAN, "--baseline", ".scanner-baseline.json", "-f", "json", cwd=tree)
    return sorted(f["path"] for f in json.loads(run.out)["findings"] if f["suppressed"] is None)


def test_only_audited_false_positives_become_suppressions(cli, tmp_path):
    tree = _tree(tmp_path, {
        "a.py": [_entry("a.py", FAKE_GH, 1, is_secret=False)],   # audited: not a secret
        "b.py": [_entry("b.py", OTHER_GH, 1, is_secret=True)],   # audited: a real secret
        "c.py": [_entry("c.py", FAKE_GH, 1)],                    # never audited
    })  # fmt: skip
    run = cli("baseline", "import", ".secrets.baseline", cwd=tree)
    assert run.code == 0
    assert "1 entries" in run.err and "2 unaudited or real secrets stay findings" in run.err
    assert _active(cli, tree) == ["b.py", "c.py"]


def test_an_older_baseline_version_is_upgraded_by_detect_secrets(cli, tmp_path):
    tree = _tree(tmp_path, {"a.py": [_entry("a.py", FAKE_GH, 1, is_secret=False)]}, version="0.14.3",
                 exclude={"files": None, "lines": None}, word_list={"file": None, "hash": None})  # fmt: skip
    assert cli("baseline", "import", ".secrets.baseline", cwd=tree).code == 0
    assert _active(cli, tree) == ["b.py", "c.py"]


def test_custom_plugins_in_the_baseline_are_never_run(cli, tmp_path):
    marker = tmp_path / "ran"
    (tmp_path / "evil_plugin.py").write_text(f"open({str(marker)!r}, 'w').write('x')\n")
    tree = _tree(tmp_path, {"a.py": [_entry("a.py", FAKE_GH, 1, is_secret=False)]},
                 plugins_used=[{"name": "Evil", "path": f"file://{tmp_path / 'evil_plugin.py'}"}])  # fmt: skip
    assert cli("baseline", "import", ".secrets.baseline", cwd=tree).code == 0
    assert not marker.exists()


def test_a_broken_baseline_is_one_clear_line(cli, tmp_path):
    (tmp_path / ".secrets.baseline").write_text('{"results": {"a.py": [{"type": "X"}]}}')
    run = cli("baseline", "import", ".secrets.baseline", cwd=tmp_path)
    assert run.code == 2 and ".secrets.baseline" in run.err and "Traceback" not in run.err
    (tmp_path / ".secrets.baseline").write_text("not json")
    run = cli("baseline", "import", ".secrets.baseline", cwd=tmp_path)
    assert run.code == 2 and "Traceback" not in run.err
