"""The human report: findings grouped by file, secrets redacted, a summary at the end."""

from __future__ import annotations

import io
import os
import re
import shutil
from collections.abc import Sequence

from scanner.model import SEVERITIES, Finding
from scanner.reporters import grouping
from scanner.reporters.terminal import printable
from scanner.rules.loader import Rule
from scanner.scan import ScanResult

STYLE = {"critical": "bold white on red", "high": "bold red", "medium": "yellow", "low": "cyan", "info": "dim"}


def _provenance_line(finding: Finding) -> str:
    prov = finding.provenance
    if prov is None or prov.source == "worktree" or not prov.commit:
        return ""
    text = f"commit {prov.commit[:8]} by {prov.author} on {prov.date[:10]}"
    introduced = sum(1 for c in prov.commits if c.get("change", "introduced") == "introduced")
    removed = [c["commit"] for c in prov.commits if c.get("change") == "removed"]
    if introduced > 1:
        text += f" (introduced by {introduced} commits)"
    if removed:
        text += f", removed in {', '.join(sha[:8] for sha in removed)}"
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
        repository = dict(finding.properties).get("repository")  # a scan or merge of several repositories
        heading = f"{repository}: {finding.path}" if repository else finding.path
        if heading != current:
            if current is not None:
                console.print()
            current = heading
            console.print(f"[bold underline]{escape(printable(heading))}[/]")
        loc = finding.location
        where = f"{loc.line}:{loc.column}" if loc.line else "-"
        sev = finding.severity.upper()
        console.print(
            f"  {where:<8} [{STYLE[finding.severity]}]{sev:<8}[/] [magenta]{escape(printable(finding.rule_id))}[/]  "
            f"{escape(printable(finding.message))}"
        )
        if finding.evidence and finding.evidence not in finding.message:
            console.print(f"           [dim]{escape(printable(finding.evidence))}[/]")
        prov = _provenance_line(finding)
        if prov:
            console.print(f"           [blue]{escape(printable(prov))}[/]")
        members = grouped.get(grouping.group_id(finding))
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
    from scanner.documents.kubernetes import unrendered

    not_rendered = unrendered(result.problems)  # charts and overlays: said here, not only with --verbose
    gaps = sum(n for by_reason in not_rendered.values() for n in by_reason.values())
    unscanned = max(0, len({p.path for p in result.problems if p.incomplete}) - gaps)
    notices = sum(1 for p in result.problems if p.level != "info" and not p.incomplete)
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
    if unscanned:  # said by default: a skipped file may hold what the scan is for
        parts.append(f"[bold yellow]{unscanned} file{'s' if unscanned != 1 else ''} not fully scanned[/] (see above)")
    if notices:
        parts.append(f"{notices} warning{'s' if notices != 1 else ''} (see above)")
    if not_rendered:
        said, reasons = [], []
        for what, by_reason in sorted(not_rendered.items()):
            count = sum(by_reason.values())
            said.append(f"{count} {what}{'s' if count != 1 else ''}")
            reasons.extend(reason for reason in sorted(by_reason) if reason not in reasons)
        parts.append(f"{' and '.join(said)} not rendered ({'; '.join(reasons)}; see above)")
    parts.append(f"{result.files} file{'s' if result.files != 1 else ''} ({result.bytes / 1e6:.1f} MB) scanned in {result.seconds:.2f} s")
    return " · ".join(parts)


def use_color(stream_isatty: bool) -> bool:
    return stream_isatty and not os.environ.get("NO_COLOR") and os.environ.get("TERM") != "dumb"
