"""The types every step shares: severities, sources' output, findings and problems.

Data flows one way (DESIGN.md section 2):
sources -> documents -> engines (+ rule packs) -> findings -> suppressions -> reporters.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from typing import Any, NamedTuple

SEVERITIES = ("info", "low", "medium", "high", "critical")  # info: said, never failing by default (--fail-on low)
SEVERITY_RANK = {name: rank for rank, name in enumerate(SEVERITIES)}


class Provenance(NamedTuple):
    """Where a blob came from when it is not simply a working-tree file."""

    source: str  # "worktree", "history", "staged", "range"
    commit: str = ""  # full sha of the (first) commit that introduced the blob
    author: str = ""
    email: str = ""
    date: str = ""  # ISO 8601
    present_at_head: bool | None = None
    commits: tuple[dict[str, Any], ...] = ()  # every commit/path that carries the blob (history)
    blob: str = ""  # git blob sha


class Item(NamedTuple):
    """One unit a source yields: a path (relative to the scan root, POSIX) and its bytes."""

    path: str
    data: bytes
    provenance: Provenance | None = None


class Location(NamedTuple):
    path: str
    line: int  # 1-based; 0 when the finding concerns the whole file
    column: int = 1
    end_line: int = 0
    end_column: int = 0


class Suppression(NamedTuple):
    kind: str  # "inSource" (comment, annotation) or "external" (baseline, config)
    how: str  # "inline", "annotation", "baseline", "config"
    reason: str = ""


class Finding(NamedTuple):
    rule_id: str
    severity: str
    location: Location
    message: str
    evidence: str = ""  # already redacted unless --show-secrets
    fingerprint: str = ""
    pack: str = ""
    provenance: Provenance | None = None
    suppression: Suppression | None = None
    properties: tuple[tuple[str, Any], ...] = ()  # extra facts for reporters (sorted pairs)

    @property
    def path(self) -> str:
        return self.location.path

    @property
    def line(self) -> int:
        return self.location.line

    @property
    def repository(self) -> str:
        """The repository the finding is in, in a scan or merge of several ("" otherwise)."""
        return str(dict(self.properties).get("repository", ""))

    @property
    def shown_path(self) -> str:
        """Its path as reports name it: after `REPOSITORY: ` in a report of several repositories."""
        return in_repository(self.repository, self.location.path)

    def sort_key(self) -> tuple:
        return (self.location.path, self.location.line, self.location.column, self.rule_id, self.fingerprint)


# Problem.kind: what happened to the unit named ("": a document module's parse problem, or unsorted).
#   not fully scanned (counted in the summary, fails --fail-on-parse-error): "", "unreadable",
#     "oversized", "timeout", "error" (a scanner bug on this unit), "missing-blob" (history);
#   deliberately not scanned or not a coverage gap: "binary", "symlink", "special" (FIFO, device),
#     "notice" (an expired inline ignore, an invalid .gitignore line).
COVERED_KINDS = frozenset({"binary", "symlink", "special", "notice"})


class Problem(NamedTuple):
    """Something that kept (part of) a unit (a file, a document, a blob) from being scanned, or that
    the user should know about: one per unit, never an exception."""

    path: str
    message: str
    level: str = "warning"  # "warning" and "error" (the user's own input is wrong): shown always; "info": with --verbose
    line: int = 0
    kind: str = ""  # see COVERED_KINDS above

    @property
    def incomplete(self) -> bool:
        """The unit was not fully scanned (what the summary counts and --fail-on-parse-error fails on)."""
        return self.level != "info" and self.kind not in COVERED_KINDS and not self.message.startswith("symlink")


def in_repository(repository: str, path: str) -> str:
    """`path`, after `REPOSITORY: ` when there is one (reports of several repositories)."""
    return f"{repository}: {path}" if repository else path


def label(finding: Finding, repository: str) -> Finding:
    props = dict(finding.properties)
    props["repository"] = repository
    return finding._replace(properties=tuple(sorted(props.items())))


def by_repository(findings: Iterable[Finding]) -> dict[str, list[Finding]]:
    """Findings by repository ("" for none), in one pass (a report of 1,000 repositories is 1,000
    runs or parts, and the reuse rule runs within each)."""
    out: dict[str, list[Finding]] = {}
    for finding in findings:
        out.setdefault(finding.repository, []).append(finding)
    return out


def problems_by_repository(problems: Iterable[Problem], names: Sequence[str]) -> dict[str, list[Problem]]:
    """The problems of a report of several repositories, by repository, in one pass: a problem is a
    repository's when its path is the repository (it could not be scanned) or its message starts
    `REPOSITORY: `."""
    known = set(names)
    out: dict[str, list[Problem]] = {}
    for problem in problems:
        owner = problem.path if problem.path in known else None
        at = problem.message.find(": ")
        while owner is None and at >= 0:  # a name may hold ": " itself (a URL's scheme does not)
            if problem.message[:at] in known:
                owner = problem.message[:at]
            at = problem.message.find(": ", at + 1)
        if owner is not None:
            out.setdefault(owner, []).append(problem)
    return out


def report_order(finding: Finding) -> tuple:
    """The order of a report's findings: by repository (of several), then by place."""
    return (finding.repository, *finding.sort_key())


def fingerprint(rule_id: str, path: str, content: str | bytes) -> str:
    """Stable identity of a finding: rule + path + hash of the matched content, never the line."""
    digest = hashlib.sha256(b"\0".join([utf8(rule_id), utf8(path), utf8(content)]))
    return digest.hexdigest()[:32]


def utf8(text: str | bytes) -> bytes:
    """Bytes for hashing any str the scan can hold: file names that are not UTF-8 (surrogate escapes)
    and lone surrogates from JSON escapes (`"\\ud800"` in a plan) alike, never an exception. A
    file name's escapes give back its own bytes, so its fingerprints are those of earlier versions."""
    if isinstance(text, bytes):
        return text
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogateescape" if _only_escapes(text) else "surrogatepass")


def _only_escapes(text: str) -> bool:
    return all(not 0xD800 <= ord(c) <= 0xDFFF or 0xDC80 <= ord(c) <= 0xDCFF for c in text)


def interruption(exc: BaseException) -> BaseException | None:
    """The interrupt (Ctrl-C, a --timeout alarm: anything that is not an Exception) behind `exc`, if
    any. A C or Go extension interrupted mid-call turns it into a SystemError whose cause it is; the
    catch-all guards re-raise it instead of reporting the unit as broken."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if not isinstance(current, Exception):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


def at_or_above(severity: str, threshold: str) -> bool:
    return SEVERITY_RANK[severity] >= SEVERITY_RANK[threshold]
