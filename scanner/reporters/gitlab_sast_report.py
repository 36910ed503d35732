"""GitLab SAST report (`--format gitlab-sast`), for `artifacts: reports: sast`: the policy findings
(infrastructure as code), as GitLab's own IaC scanning reports them. See gitlab_report.py."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING

from scanner.reporters.gitlab_report import SAST, build

if TYPE_CHECKING:  # for the annotations only: a report needs neither module at run time
    from scanner.rules.loader import Rule
    from scanner.scan import ScanResult


def render(result: ScanResult, rules: Sequence[Rule], color: bool = False) -> str:
    return json.dumps(build(result, rules, kind=SAST), indent=2, ensure_ascii=False) + "\n"
