"""The CLI corrects people: "did you mean", the usage of the subcommand they typed, errors that say the fix."""

from __future__ import annotations

import pytest

from scanner.cli import main
from tests.conftest import FIXTURES


def _run(capsys, *args: str) -> tuple[int, str]:
    try:
        code = main(list(args))
    except SystemExit as exc:  # argparse exits
        code = exc.code
    return code, capsys.readouterr().err


def test_mistyped_option_gets_the_subcommand_usage_and_a_suggestion(capsys) -> None:
    code, err = _run(capsys, "scan", "--formt", "json", str(FIXTURES / "packs"))
    assert code == 2
    assert err.startswith("usage: scanner scan ")
    assert "unrecognized arguments: --formt (--formt: did you mean --format?)" in err


def test_mistyped_subcommands(capsys) -> None:
    code, err = _run(capsys, "scna", ".")
    assert code == 2 and "(did you mean scan?)" in err
    code, err = _run(capsys, "rules", "tset")
    assert code == 2 and err.startswith("usage: scanner rules ") and "(did you mean test?)" in err


@pytest.mark.parametrize("args", [("scan", ".", "--only", "k8s-priviledged"), ("rules", "show", "k8s-run-as-rot")])
def test_mistyped_rule_id(capsys, args) -> None:  # noqa: ANN001
    code, err = _run(capsys, *args)
    assert code == 2
    assert "did you mean k8s-privileged?" in err or "did you mean k8s-run-as-root?" in err
    assert len(err.strip().splitlines()) == 1


def test_branch_without_history_says_what_to_add(capsys, tmp_path) -> None:
    code, err = _run(capsys, "scan", str(tmp_path), "--branch", "main")
    assert code == 2
    assert err.strip() == "scanner: error: --branch selects which history --history scans: add --history " \
                          "(scanner scan --history --branch REF)"


def test_no_suggestion_for_nonsense(capsys) -> None:
    code, err = _run(capsys, "scan", "--zzzzzz")
    assert code == 2 and "did you mean" not in err
