"""An inline ignore with a date that is not a real YYYY-MM-DD date does not suppress anything, and the
warning names the file, the line and what is wrong (not "expired")."""

from __future__ import annotations

import pytest

from tests.conftest import FAKE_GH, MINIMAL_PACK

SCAN = ("scan", "--rules", str(MINIMAL_PACK), "--only", "minimal")


@pytest.mark.parametrize("date", ["2099-13-45", "2027/01/31", "31-01-2027", "soon"])
def test_an_invalid_until_date_is_named_with_its_file_and_line(cli, tmp_path, date):
    (tmp_path / "settings.py").write_text(f'DEBUG = False\nT = "{FAKE_GH}"  # scanner:ignore=test-github-token until={date} rotated\n')
    run = cli(*SCAN, cwd=tmp_path)
    assert run.code == 1, run.err  # not suppressed: the finding is reported
    assert f"settings.py:2: scanner:ignore has an invalid date 'until={date}'" in run.err
    assert "expected YYYY-MM-DD" in run.err and "expired" not in run.err


def test_a_valid_future_date_still_suppresses(cli, tmp_path):
    (tmp_path / "settings.py").write_text(f'T = "{FAKE_GH}"  # scanner:ignore=test-github-token until=2099-12-31 rotated\n')
    run = cli(*SCAN, cwd=tmp_path)
    assert run.code == 0 and "1 suppressed" in run.out and "invalid date" not in run.err
