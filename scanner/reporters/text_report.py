"""The human report: findings grouped by file, secrets redacted, a summary at the end."""

from __future__ import annotations

import io
import os
import re
import shutil
from collections.abc import Sequence

from scanner.model import SEVERITIES, Finding
from scanner.reporters import grouping
from scanner.rules.loader import Rule
from scanner.scan import ScanResult

STYLE = {"critical": "bold white on red", "high": "bold red", "medium": "yellow", "low": "cyan", "info": "dim"}


def _provenance_line(finding: Finding) -> str:
    prov = finding.provenance
    if prov is None or prov.source == "worktree" or not prov.commit:
        return ""
    text = f"commit {prov.commit[:8]} by {prov.author} on {prov.date[:10]}"
    if len(prov.commits) > 1:
        text += f" (in {len(prov.commits)} commits)"
    return text


def render(result: ScanResult, rules: Sequence[Rule], color: bool = False) -> str:
    if not color and all(f.suppression is not None for f in result.findings):
        # Nothing to list (the common pre-commit run): the summary is our own words and numbers only,
        # so it is written without importing rich (~60 ms of a hook's start-up).
        return _TAG.sub("", _summary(result, [])) + "\n"
    from rich.console import Console
    from rich.markup import escape

    buffer = io.StringIO()
    width = shutil.get_terminal_size((120, 24)).columns if color else 200
    console = Console(file=buffer, force_terminal=color, no_color=not color, highlight=False, width=width, soft_wrap=True)
    active = [f for f in result.findings if f.suppression is None]
    grouped = grouping.groups(active)
    later = {id(f) for members in grouped.values() for f in members[1:]}  # shown under the first
    current = None
    for finding in active:
        if id(finding) in later:
            continue
        if finding.path != current:
            if current is not None:
                console.print()
            current = finding.path
            console.print(f"[bold underline]{escape(finding.path)}[/]")
        loc = finding.location
        where = f"{loc.line}:{loc.column}" if loc.line else "-"
        sev = finding.severity.upper()
        console.print(
            f"  {where:<8} [{STYLE[finding.severity]}]{sev:<8}[/] [magenta]{escape(finding.rule_id)}[/]  "
            f"{escape(finding.message)}"
        )
        if finding.evidence and finding.evidence not in finding.message:
            console.print(f"           [dim]{escape(finding.evidence)}[/]")
        prov = _provenance_line(finding)
        if prov:
            console.print(f"           [blue]{escape(prov)}[/]")
        members = grouped.get(grouping.group_key(finding))
        if members:
            console.print(f"           [dim]{escape(grouping.also_at(members))}[/]")
    if active:
        console.print()
    console.print(_summary(result, active))
    return buffer.getvalue()


_TAG = re.compile(r"\[/?[a-z ]*\]")


def _summary(result: ScanResult, active: list[Finding]) -> str:
    """The last line, as rich markup."""
    info = [f for f in active if f.severity == "info"]  # for the record: not findings that fail anything
    located = [f for f in active if f.severity != "info"]
    later = {id(f) for members in grouping.groups(located).values() for f in members[1:]}
    shown = [f for f in located if id(f) not in later]  # one value in many places is one finding
    counts = {s: sum(1 for f in shown if f.severity == s) for s in reversed(SEVERITIES)}
    files_with = len({f.path for f in located})
    breakdown = ", ".join(f"{n} {s}" for s, n in counts.items() if n)
    suppressed = len(result.findings) - len(active)
    problems = sum(1 for p in result.problems if p.level != "info")
    if shown:
        where = f" at {len(located)} locations" if len(located) != len(shown) else ""
        head = f"[bold]{len(shown)} finding{'s' if len(shown) != 1 else ''}[/] ({breakdown}){where} in {files_with} file{'s' if files_with != 1 else ''}"
    else:
        head = "[bold green]No findings[/]"
    parts = [head]
    if info:
        parts.append(f"{len(info)} info (documented example values and other notes)")
    if suppressed:
        parts.append(f"{suppressed} suppressed")
    if problems:
        parts.append(f"{problems} file problem{'s' if problems != 1 else ''} (see above)")
    parts.append(f"{result.files} file{'s' if result.files != 1 else ''} ({result.bytes / 1e6:.1f} MB) scanned in {result.seconds:.2f} s")
    return " · ".join(parts)


def use_color(stream_isatty: bool) -> bool:
    return stream_isatty and not os.environ.get("NO_COLOR") and os.environ.get("TERM") != "dumb"
