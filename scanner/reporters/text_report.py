"""The human report: findings grouped by file, then by the object they are about (a Kubernetes object,
a Terraform resource, a Dockerfile stage, a Compose service); secrets redacted; each rule's fix said
once; a summary by rule and by severity at the end."""

from __future__ import annotations

import io
import os
import re
import shutil
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from scanner.model import SEVERITIES, SEVERITY_RANK, Finding
from scanner.plural import count
from scanner.reporters import grouping
from scanner.reporters.terminal import printable

if TYPE_CHECKING:  # for the annotations only: a report needs neither module at run time
    from scanner.rules.loader import Rule
    from scanner.scan import ScanResult

STYLE = {"critical": "bold white on red", "high": "bold red", "medium": "yellow", "low": "cyan", "info": "dim"}
FIX_WIDTH = 110  # characters of a rule's remediation shown on its `fix:` line
RULES_LISTED = 25  # rows of the summary by rule; the rest are counted on one line


def _provenance_line(finding: Finding) -> str:
    prov = finding.provenance
    if prov is None or prov.source == "worktree" or not prov.commit:
        return ""
    text = f"commit {prov.commit[:8]} by {prov.author} on {prov.date[:10]}"
    introduced = sum(1 for c in prov.commits if c.get("change", "introduced") == "introduced")
    removed = [c["commit"] for c in prov.commits if c.get("change") == "removed"]
    if introduced > 1:
        text += f" (introduced by {count(introduced, 'commit')})"
    if removed:
        text += f", removed in {', '.join(sha[:8] for sha in removed)}"
    return text


def fix_line(remediation: str, width: int = FIX_WIDTH) -> str:
    """A remediation's first sentence (of its first line), cut to at most `width` characters: at a `;`
    when it has one far enough in, else at a word, outside `code spans` and parentheses unless that
    leaves too little."""
    lines = remediation.strip().splitlines()
    text = " ".join(lines[0].split()) if lines else ""
    for end in _SENTENCE_END.finditer(text):
        if not text[: end.start()].endswith(("e.g.", "i.e.")):
            text = text[: end.start()]
            break
    if len(text) <= width:
        return text
    clause = text[:width].rfind("; ")
    if clause > width // 2:
        return text[:clause]
    cut = text = text[: width - 2].rsplit(" ", 1)[0]
    while text.count("`") % 2 or text.count("(") > text.count(")"):
        text = text[: max(text.rfind("`") if text.count("`") % 2 else -1, text.rfind("("))]
    if len(text) < width // 2:  # a long code span early on: cut inside it, and close it
        return cut + ("…`" if cut.count("`") % 2 else "…")
    return _DANGLING.sub("", text.rstrip(" ,;:")) + "…"


_DANGLING = re.compile(r",?\s+(?:e\.g\.|i\.e\.|such as|like|with|and|or|the|a|an|to)$")  # nothing after them
_SENTENCE_END = re.compile(r"(?<=[.!?])(?=\s+[A-Z`(])|(?<=[.!?])$")


def _object(finding: Finding) -> tuple[str, int] | None:
    """The object the finding is about (its name and line), None for a finding of its own (a secret)."""
    props = dict(finding.properties)
    name = props.get("object")
    return (str(name), int(props.get("object_line") or 0)) if name else None


def _files(findings: Sequence[Finding]) -> Iterator[tuple[str, list[Finding]]]:
    """(heading, its findings) in report order: the file, after its repository in a multi-repository scan."""
    current, run = "", []
    for finding in findings:
        heading = finding.shown_path
        if run and heading != current:
            yield current, run
            run = []
        current = heading
        run.append(finding)
    if run:
        yield current, run


def _blocks(findings: Sequence[Finding]) -> list[tuple[tuple[str, int] | None, list[Finding]]]:
    """A file's findings by object, each object where its first finding is; a finding without one
    (a secret) is a block of its own, in line order."""
    blocks: list[tuple[tuple[str, int] | None, list[Finding]]] = []
    index: dict[tuple[str, int], list[Finding]] = {}
    for finding in findings:
        obj = _object(finding)
        if obj is None:
            blocks.append((None, [finding]))
        elif obj in index:
            index[obj].append(finding)
        else:
            index[obj] = [finding]
            blocks.append((obj, index[obj]))
    return blocks


class _Writer:
    """Prints findings as rich markup; says each rule's fix once, at its first finding."""

    def __init__(self, console: Any, rules: Sequence[Rule], grouped: dict[str, list[Finding]]) -> None:
        self.console, self.grouped = console, grouped
        self.rules = {rule.id: rule for rule in rules}
        self.fixes_said: set[str] = set()

    def finding(self, finding: Finding, indent: str, rule_width: int, message: str) -> None:
        loc = finding.location
        where = f"{loc.line}:{loc.column}" if loc.line else "-"
        sev = finding.severity.upper()
        rule_id = _escape(finding.rule_id)
        pad = " " * max(0, rule_width - len(rule_id))
        self.console.print(
            f"{indent}{where:<8} [{STYLE[finding.severity]}]{sev:<8}[/] [magenta]{rule_id}[/]{pad}  "
            f"{_escape(message)}"
        )
        below = indent + " " * 9
        if finding.evidence and finding.evidence not in finding.message:
            self.console.print(f"{below}[dim]{_escape(finding.evidence)}[/]")
        prov = _provenance_line(finding)
        if prov:
            self.console.print(f"{below}[blue]{_escape(prov)}[/]")
        members = self.grouped.get(grouping.group_id(finding))
        if members:
            self.console.print(f"{below}[dim]{_escape(grouping.also_at(members))}[/]")
        rule = self.rules.get(finding.rule_id)
        if rule is not None and rule.remediation and rule.id not in self.fixes_said:
            self.fixes_said.add(rule.id)
            self.console.print(f"{below}[green]fix:[/] {_escape(fix_line(rule.remediation))}")

    def file(self, heading: str, findings: Sequence[Finding]) -> None:
        self.console.print(f"[bold underline]{_escape(heading)}[/]")
        for obj, members in _blocks(findings):
            if obj is None:
                self.finding(members[0], "  ", 0, members[0].message)
                continue
            name, line = obj
            self.console.print(f"  [bold]{_escape(name)}[/]" + (f" [dim](line {line})[/]" if line else ""))
            width = max(len(_escape(f.rule_id)) for f in members)
            for finding in members:
                message = str(dict(finding.properties).get("object_message") or finding.message)
                self.finding(finding, "    ", width, message)


def render(result: ScanResult, rules: Sequence[Rule], color: bool = False, summary: bool = True) -> str:
    """The findings under their files and objects, then (`summary`) the By rule table and the totals."""
    if all(f.suppression is not None for f in result.findings):  # nothing to list
        if not summary:
            return ""
        if not color:
            # The common pre-commit run: the summary is our own words and numbers only, so it is
            # written without importing rich (~60 ms of a hook's start-up).
            return _TAG.sub("", _summary(result, [])) + "\n"
    from rich.console import Console

    buffer = io.StringIO()
    width = shutil.get_terminal_size((120, 24)).columns if color else 200
    console = Console(file=buffer, force_terminal=color, no_color=not color, highlight=False, width=width, soft_wrap=True)
    active = [f for f in result.findings if f.suppression is None]
    grouped = grouping.groups(active)
    shown = _shown(active, grouped)  # the others are shown under the first of their group
    writer = _Writer(console, rules, grouped)
    for i, (heading, findings) in enumerate(_files(shown)):
        if i:
            console.print()
        writer.file(heading, findings)
    if not summary:
        return buffer.getvalue()
    if active:
        console.print()
        for line in _by_rule(shown, rules):
            console.print(line)
    console.print(_summary(result, active))
    return buffer.getvalue()


def _shown(findings: Sequence[Finding], grouped: dict[str, list[Finding]] | None = None) -> list[Finding]:
    """One finding per secret value found in many places (the first), every other finding
    (`grouped`: `grouping.groups(findings)` when the caller has it)."""
    grouped = grouping.groups(findings) if grouped is None else grouped
    later = {id(f) for members in grouped.values() for f in members[1:]}
    return [f for f in findings if id(f) not in later]


def _by_rule(shown: Sequence[Finding], rules: Sequence[Rule]) -> list[str]:
    """The findings (one per secret value) counted by rule, most severe first, with what `scanner fix` can
    fix (rich markup)."""
    from scanner.fixers import edits  # (imports the editors: only when there are findings)

    by_id = {rule.id: rule for rule in rules}
    counts: dict[str, list[Any]] = {}  # rule id -> [severity, findings, fixable findings]
    for finding in shown:
        row = counts.setdefault(finding.rule_id, [finding.severity, 0, 0])
        row[1] += 1
        row[2] += edits(finding, by_id.get(finding.rule_id))
    order = sorted(counts.items(), key=lambda kv: (-SEVERITY_RANK[kv[1][0]], -kv[1][1], kv[0]))
    listed, rest = order[:RULES_LISTED], order[RULES_LISTED:]
    width = max(len(_escape(rule_id)) for rule_id, _ in listed)
    lines = ["[bold]By rule[/]"]
    for rule_id, (severity, n, fixed) in listed:
        rule = f"[magenta]{_escape(rule_id)}[/]"
        if fixed:
            rule += " " * (width - len(_escape(rule_id))) + ("  [green]fixable[/]" if fixed == n else f"  [green]{fixed} fixable[/]")
        lines.append(f"  [{STYLE[severity]}]{severity.upper():<8}[/] {n:>5}  {rule}")
    if rest:
        left_fixable = sum(row[2] for _, row in rest)
        more = f" ({left_fixable} fixable)" if left_fixable else ""
        lines.append(f"  … {count(len(rest), 'more rule')} with {count(sum(row[1] for _, row in rest), 'finding')}{more}")
    total = sum(row[2] for row in counts.values())
    if total:
        lines.append(f"[green]{total} fixable by `scanner fix --write`[/] (`scanner fix` shows the edits first)")
    return lines


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(printable(text))


_TAG = re.compile(r"\[/?[a-z ]*\]")


def _summary(result: ScanResult, active: list[Finding]) -> str:
    """The last line, as rich markup."""
    info = [f for f in active if f.severity == "info"]  # for the record: not findings that fail anything
    located = [f for f in active if f.severity != "info"]
    shown = _shown(located)  # one value in many places is one finding
    counts = {s: sum(1 for f in shown if f.severity == s) for s in reversed(SEVERITIES)}
    files_with = len({f.shown_path for f in located})  # per repository, of several
    breakdown = ", ".join(f"{n} {s}" for s, n in counts.items() if n)
    suppressed = len(result.findings) - len(active)
    from scanner.documents.kubernetes import unrendered

    not_rendered = unrendered(result.problems)  # charts and overlays: said here, not only with --verbose
    gaps = sum(n for by_reason in not_rendered.values() for n in by_reason.values())
    unscanned = max(0, len({p.path for p in result.problems if p.incomplete}) - gaps)
    errors = sum(1 for p in result.problems if p.level == "error" and not p.incomplete)
    notices = sum(1 for p in result.problems if p.level == "warning" and not p.incomplete)
    if shown:
        where = f" at {count(len(located), 'location')}" if len(located) != len(shown) else ""
        head = f"[bold]{count(len(shown), 'finding')}[/] ({breakdown}){where} in {count(files_with, 'file')}"
    else:
        head = "[bold green]No findings[/]"
    parts = [head]
    if info:
        parts.append(f"{len(_shown(info))} info (documented example values and other notes)")
    if suppressed:
        parts.append(f"{suppressed} suppressed")
    if unscanned:  # said by default: a skipped file may hold what the scan is for
        parts.append(f"[bold yellow]{count(unscanned, 'file')} not fully scanned[/] (see above)")
    if errors:
        parts.append(f"[bold red]{count(errors, 'error')}[/] (see above)")
    if notices:
        parts.append(f"{count(notices, 'warning')} (see above)")
    if not_rendered:
        said, reasons = [], []
        for what, by_reason in sorted(not_rendered.items()):
            said.append(count(sum(by_reason.values()), what))
            reasons.extend(reason for reason in sorted(by_reason) if reason not in reasons)
        parts.append(f"{' and '.join(said)} not rendered ({'; '.join(reasons)}; see above)")
    parts.append(f"{count(result.files, 'file')} ({result.bytes / 1e6:.1f} MB) scanned in {result.seconds:.2f} s")
    return " · ".join(parts)


def use_color(stream_isatty: bool) -> bool:
    return stream_isatty and not os.environ.get("NO_COLOR") and os.environ.get("TERM") != "dumb"
