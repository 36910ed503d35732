"""Inline suppressions: `scanner:ignore` in a comment on the finding's line or the line before.

    password = "..."  # scanner:ignore=generic-password test fixture, not a real credential
    # scanner:ignore=aws-access-key-id,github-token until=2027-01-31 rotated, purge pending
    token = "..."     # pragma: allowlist secret      (detect-secrets' marker, secrets rules only)

A marker after code on its line covers that line only; a marker on a line of its own (a comment
line) covers the next line only; never both, so a trailing marker cannot hide a different finding
on the line below. `pragma: allowlist nextline secret` always covers the next line.

Without `=RULE-ID` every rule is ignored on that line. `until=YYYY-MM-DD` makes the ignore expire:
after that date it no longer suppresses and a warning says so.

Other scanners' markers, so that a repository moving here keeps the decisions it has reviewed
(configuration `foreign-ignores: false` or `--no-foreign-ignores` turns them off; default on). Each
suppresses secrets findings on its own line only, as in the tool that defined it, and the suppression
names the marker (they are counted as suppressed, never silently dropped):

    gitleaks:allow                       gitleaks
    trufflehog:ignore                    TruffleHog
    kingfisher:ignore                    Kingfisher
    checkov:skip=CKV_SECRET_6            checkov (its secrets checks, CKV_SECRET_*, only)
    # nosec  /  #nosec  /  # nosec B105  bandit (bare, or naming B105/B106/B107) and gosec (G101)
    NOSONAR                              SonarQube
    ggignore                             GitGuardian
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

import re2

from scanner.model import Finding, Problem, Suppression

if TYPE_CHECKING:
    import datetime as _dt  # imported where a marker is read: every process that scans imports this module

_MARKER = re2.compile(
    rb"scanner:ignore(?:=([A-Za-z0-9_.,-]+))?(?:[ \t]+until=([^ \t\r\n]*))?([^\r\n]*)"
)
_PRAGMA = re2.compile(rb"pragma:[ \t]*allowlist[ \t]+(nextline[ \t]+)?secret")
_COMMENT_END = re2.compile(r"\s*(?:-->|\*/|#\}|%\}|\}\})\s*$")
# a line that is only a comment (or only the marker): #, //, /*, * (inside a block comment), --, ;,
# <!--, Jinja {# and Helm {{/* comments, %, REM and :: (batch files)
_COMMENT_LINE = re2.compile(rb"(?i)^[ \t]*(?:#|//|/\*|\*|--|;|<!--|\{#|\{\{-?[ \t]*/\*|%|rem\b|::|scanner:ignore|pragma:)")
FOREIGN_IGNORES = True  # set from the configuration before workers fork (cli._run_scan)
_FOREIGN = re2.compile(
    rb"(gitleaks:allow|trufflehog:ignore|kingfisher:ignore|ggignore|NOSONAR)|checkov:skip=(CKV_SECRET_[0-9]+)|"
    rb"#[ \t]*(nosec)\b([ \t]*[:]?[ \t]*[BG][0-9]{3}(?:[ \t]*,[ \t]*[BG][0-9]{3})*)?"
)
_SECRET_CHECKS = frozenset({b"B105", b"B106", b"B107", b"G101"})  # bandit's and gosec's hardcoded-credential checks
_CHECK_ID = re2.compile(rb"[BG][0-9]{3}")
_FOREIGN_WORDS = (b"gitleaks:", b"trufflehog:", b"kingfisher:", b"ggignore", b"NOSONAR", b"checkov:skip", b"nosec")


def _foreign(line: bytes) -> str:
    """The other scanner's marker on this line that covers secrets ("" if none)."""
    for m in _FOREIGN.finditer(line):
        if m.group(1):
            return m.group(1).decode()
        if m.group(2):
            return "checkov:skip=" + m.group(2).decode()
        checks = _CHECK_ID.findall(m.group(4) or b"")
        if not checks or _SECRET_CHECKS.intersection(checks):
            return "nosec" + (" " + ",".join(c.decode() for c in checks) if checks else "")
    return ""


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
        until = _COMMENT_END.sub("", (m.group(2) or b"").decode("utf-8", "replace"))  # `until=...-->`
        if m.group(2) is not None and not until:
            until = "?"  # `until=` with nothing after it: a date that is not one
        return Ignore(rules, until, reason, next_line=_alone(line))
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
    findings: list[Finding], data: bytes, today: _dt.date | None = None, foreign: bool | None = None
) -> tuple[list[Finding], list[Problem]]:
    """Mark findings suppressed by markers in `data` (the content the findings point into); other
    scanners' markers too unless `foreign` (default: FOREIGN_IGNORES) is False."""
    if not findings:
        return findings, []
    foreign = FOREIGN_IGNORES if foreign is None else foreign
    if foreign and any(word in data for word in _FOREIGN_WORDS):
        findings = _apply_foreign(findings, _lines(data))
    if b"scanner:ignore" not in data and b"allowlist" not in data:
        return findings, []
    import datetime as _dt

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
                                f"scanner:ignore has an invalid date 'until={ignore.until}' (expected YYYY-MM-DD, "
                                "a real calendar date); the finding is reported"
                                if expires is None
                                else f"scanner:ignore expired on {ignore.until}; the finding is reported again",
                                "error" if expires is None else "warning",
                                candidate,
                                kind="notice",
                            )
                        )
                    continue
            suppression = Suppression("inSource", "inline", ignore.reason)
            break
        out.append(finding._replace(suppression=suppression) if suppression else finding)
    return out, problems


def _apply_foreign(findings: list[Finding], lines: list[bytes]) -> list[Finding]:
    out = []
    for finding in findings:
        line_no = finding.location.line
        secret = any(k == "secret_sha256" for k, _ in finding.properties)
        if finding.suppression is None and secret and 1 <= line_no <= len(lines):
            marker = _foreign(lines[line_no - 1])
            if marker:
                finding = finding._replace(
                    suppression=Suppression("inSource", "inline", f"{marker} (another scanner's marker)")
                )
        out.append(finding)
    return out
