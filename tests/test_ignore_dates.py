"""An inline ignore with a date that is not a real YYYY-MM-DD date does not suppress anything, and the
error names the file, the line and what is wrong (not "expired")."""

from __future__ import annotations

import pytest

from tests.conftest import FAKE_GH, MINIMAL_PACK

SCAN = ("scan", "--rules", str(MINIMAL_PACK), "--only", "minimal")


@pytest.mark.parametrize("date", ["2099-13-45", "2027/01/31", "31-01-2027", "soon"])
def test_an_invalid_until_date_is_named_with_its_file_and_line(cli, tmp_path, date):
    (tmp_path / "settings.py").write_text(f'DEBUG = False\nT = "{FAKE_GH}"  # scanner:ignore=test-github-token until={date} rotated\n')
    run = cli(*SCAN, cwd=tmp_path)
    assert run.code == 1, run.err  # not suppressed: the finding is reported
    assert f"error: settings.py:2: scanner:ignore has an invalid date 'until={date}'" in run.err
    assert "expected YYYY-MM-DD" in run.err and "expired" not in run.err


def test_a_valid_future_date_still_suppresses(cli, tmp_path):
    (tmp_path / "settings.py").write_text(f'T = "{FAKE_GH}"  # scanner:ignore=test-github-token until=2099-12-31 rotated\n')
    run = cli(*SCAN, cwd=tmp_path)
    assert run.code == 0 and "1 suppressed" in run.out and "invalid date" not in run.err


def test_an_invalid_date_is_an_error_in_the_summary_and_in_sarif(cli, tmp_path):
    (tmp_path / "settings.py").write_text(f'T = "{FAKE_GH}"  # scanner:ignore=test-github-token until=2099-13-45 x\n')
    assert "1 finding (1 high) in 1 file · 1 error (see above)" in cli(*SCAN, cwd=tmp_path).out
    import json

    sarif = json.loads(cli(*SCAN, "-f", "sarif", cwd=tmp_path).out)
    [note] = sarif["runs"][0]["invocations"][0]["toolExecutionNotifications"]
    assert note["level"] == "error" and note["locations"][0]["physicalLocation"]["region"]["startLine"] == 1
