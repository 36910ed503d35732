"""Reporters turn a scan result into text, JSON, SARIF, JUnit or GitLab output. They decide nothing."""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:  # for the annotations only: a report needs neither module at run time
    from scanner.rules.loader import Rule
    from scanner.scan import ScanResult


FORMATS = ("text", "json", "sarif", "junit", "gitlab", "gitlab-sast", "html")


class Reporter(Protocol):
    def __call__(self, result: ScanResult, rules: Sequence[Rule], color: bool) -> str: ...


def render(fmt: str, result: ScanResult, rules: Sequence[Rule], color: bool = False) -> str:
    module = importlib.import_module(f"scanner.reporters.{fmt.replace('-', '_')}_report")
    return module.render(result, rules, color)
