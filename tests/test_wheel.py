"""Built-in packs are found from an installed wheel, not only from the source tree."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile

import pytest

from tests.conftest import FAKE_GH, REPO


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    if shutil.which("git") is None:
        pytest.skip("git missing")
    out = tmp_path_factory.mktemp("dist")
    src = tmp_path_factory.mktemp("src") / "scanner-src"
    # build from a copy so the build never writes into the work tree
    shutil.copytree(REPO, src, ignore=shutil.ignore_patterns(".git", ".ci", "*.egg-info", "__pycache__", ".venv", "build", "dist"))
    proc = subprocess.run([sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(out), str(src)],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    [whl] = list(out.glob("scanner-*.whl"))
    return whl


def test_wheel_ships_the_packs_and_schema(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    assert "scanner/rules/pack.schema.json" in names
    assert any(n.startswith("scanner/policies/") and n.endswith(".yaml") for n in names)


def test_installed_wheel_scans_with_builtin_packs(wheel, tmp_path):
    target = tmp_path / "site"
    proc = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(target), str(wheel)],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    work = tmp_path / "work"
    work.mkdir()
    (work / "settings.env").write_text(f"GITHUB_TOKEN={FAKE_GH}\n")
    env = dict(os.environ, PYTHONPATH=str(target), NO_COLOR="1")
    where = subprocess.run([sys.executable, "-c", "import scanner; print(scanner.__file__)"], env=env, cwd=work,
                           capture_output=True, text=True)
    assert where.stdout.startswith(str(target)), where.stdout + where.stderr
    listed = subprocess.run([sys.executable, "-m", "scanner", "rules", "list"], env=env, cwd=work, capture_output=True, text=True)
    assert listed.returncode == 0, listed.stderr
    assert " secrets " in listed.stdout
    scan = subprocess.run([sys.executable, "-m", "scanner", "scan", ".", "-f", "json"], env=env, cwd=work,
                          capture_output=True, text=True)
    assert scan.returncode == 1, scan.stderr
    findings = json.loads(scan.stdout)["findings"]
    assert any(f["path"] == "settings.env" and f["line"] == 1 for f in findings)
