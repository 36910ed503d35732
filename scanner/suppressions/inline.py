"""Inline suppressions: `scanner:ignore` in a comment on the finding's line or the line before.

    password = "..."  # scanner:ignore=generic-password test fixture, not a real credential
    # scanner:ignore=aws-access-key-id,github-token until=2027-01-31 rotated, purge pending
    token = "..."     # pragma: allowlist secret      (detect-secrets' marker, secrets rules only)

A marker after code on its line covers that line only; a marker on a line of its own (a comment
line) covers the next line only; never both, so a trailing marker cannot hide a different finding
on the line below. `pragma: allowlist nextline secret` always covers the next line.

Without `=RULE-ID` every rule is ignored on that line. `until=YYYY-MM-DD` makes the ignore expire:
after that date it no longer suppresses and a warning says so.
"""

from __future__ import annotations

import datetime as _dt
from typing import NamedTuple

import re2

from scanner.model import Finding, Problem, Suppression

_MARKER = re2.compile(
    rb"scanner:ignore(?:=([A-Za-z0-9_.,-]+))?(?:[ \t]+until=(\d{4}-\d{2}-\d{2}))?([^\r\n]*)"
)
_PRAGMA = re2.compile(rb"pragma:[ \t]*allowlist[ \t]+(nextline[ \t]+)?secret")
_COMMENT_END = re2.compile(r"\s*(?:-->|\*/|#\}|%\}|\}\})\s*$")
# a line that is only a comment (or only the marker): #, //, /*, * (inside a block comment), --, ;,
# <!--, Jinja {# and Helm {{/* comments, %, REM and :: (batch files)
_COMMENT_LINE = re2.compile(rb"(?i)^[ \t]*(?:#|//|/\*|\*|--|;|<!--|\{#|\{\{-?[ \t]*/\*|%|rem\b|::|scanner:ignore|pragma:)")


class Ignore(NamedTuple):
    rules: frozenset[str]  # empty: every rule
    until: str
    reason: str
    secrets_only: bool = False
    next_line: bool = False  # covers the line below (a comment line, or `allowlist nextline`), not its own


def _parse(line: bytes) -> Ignore | None:
    m = _MARKER.search(line)
    if m:
        rules = frozenset(r for r in (m.group(1) or b"").decode().split(",") if r)
        reason = _COMMENT_END.sub("", (m.group(3) or b"").decode("utf-8", "replace")).strip(" -:")
        return Ignore(rules, (m.group(2) or b"").decode(), reason, next_line=_alone(line))
    m = _PRAGMA.search(line)
    if m:
        return Ignore(frozenset(), "", "pragma: allowlist secret", True, bool(m.group(1)) or _alone(line))
    return None


def _alone(line: bytes) -> bool:
    """The marker is on a line of its own: only a comment, no code before it."""
    return _COMMENT_LINE.search(line) is not None


def _lines(data: bytes) -> list[bytes]:
    return data.split(b"\n")


def apply(
    findings: list[Finding], data: bytes, today: _dt.date | None = None
) -> tuple[list[Finding], list[Problem]]:
    """Mark findings suppressed by markers in `data` (the content the findings point into)."""
    if not findings or (b"scanner:ignore" not in data and b"allowlist" not in data):
        return findings, []
    today = today or _dt.date.today()
    lines = _lines(data)
    out: list[Finding] = []
    problems: list[Problem] = []
    warned: set[int] = set()
    for finding in findings:
        if finding.suppression is not None:
            out.append(finding)
            continue
        suppression = None
        line_no = finding.location.line
        for candidate in (line_no, line_no - 1):
            if candidate < 1 or candidate > len(lines):
                continue
            text = lines[candidate - 1]
            ignore = _parse(text)
            if ignore is None:
                continue
            if ignore.next_line == (candidate == line_no):
                continue  # its own line when trailing code, the next line when alone: never both
            if ignore.secrets_only and not any(k == "secret_sha256" for k, _ in finding.properties):
                continue
            if ignore.rules and finding.rule_id not in ignore.rules and finding.pack not in ignore.rules:
                continue
            if ignore.until:
                try:
                    expires = _dt.date.fromisoformat(ignore.until)
                except ValueError:
                    expires = None
                if expires is None or expires < today:
                    if candidate not in warned:
                        warned.add(candidate)
                        problems.append(
                            Problem(
                                finding.location.path,
                                f"scanner:ignore expired on {ignore.until}; the finding is reported again",
                                "warning",
                                candidate,
                                kind="notice",
                            )
                        )
                    continue
            suppression = Suppression("inSource", "inline", ignore.reason)
            break
        out.append(finding._replace(suppression=suppression) if suppression else finding)
    return out, problems
