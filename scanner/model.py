"""The types every step shares: severities, sources' output, findings and problems.

Data flows one way (DESIGN.md section 2):
sources -> documents -> engines (+ rule packs) -> findings -> suppressions -> reporters.
"""

from __future__ import annotations

import hashlib
from typing import Any, NamedTuple

# `info`: reported for the record, never a failure (--fail-on starts at low), shown with its reason:
# e.g. a vendor's documented example key. Rules themselves start at low.
SEVERITIES = ("info", "low", "medium", "high", "critical")
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

    def sort_key(self) -> tuple:
        return (self.location.path, self.location.line, self.location.column, self.rule_id, self.fingerprint)


class Problem(NamedTuple):
    """Something that kept (part of) a file from being scanned: parse error, unreadable, skipped."""

    path: str
    message: str
    level: str = "warning"  # "warning": shown always; "info": shown with --verbose (cli.incomplete: what fails)
    line: int = 0


def fingerprint(rule_id: str, path: str, content: str | bytes) -> str:
    """Stable identity of a finding: rule + path + hash of the matched content, never the line."""
    if isinstance(content, str):
        content = content.encode("utf-8", "surrogateescape")
    digest = hashlib.sha256(b"\0".join([rule_id.encode(), path.encode("utf-8", "surrogateescape"), content]))
    return digest.hexdigest()[:32]


def at_or_above(severity: str, threshold: str) -> bool:
    return SEVERITY_RANK[severity] >= SEVERITY_RANK[threshold]
