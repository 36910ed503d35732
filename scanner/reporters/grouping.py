"""One secret value found in many places is one finding with many locations (text, JSON); SARIF and
the other machine formats keep one result per location, as code-scanning UIs expect.

A group is the findings of one rule whose secret has the same SHA-256 (the hash the secrets engine
records; the value itself is never compared or printed). Findings without a secret hash (policy
findings) are never grouped.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from scanner.model import Finding

SHOWN = 5  # locations listed after "also at:"


def group_key(finding: Finding) -> str:
    """A short stable id for the group this finding belongs to; "" when it cannot be grouped. A
    finding read back from a JSON report (`scanner merge`, `scanner report`) has no secret hash, only
    the group id the report gave it."""
    props = dict(finding.properties)
    sha = props.get("secret_sha256")
    if not sha:
        return str(props.get("group") or "")
    return hashlib.sha256(f"{finding.rule_id}\0{sha}".encode()).hexdigest()[:16]


def groups(findings: Sequence[Finding]) -> dict[str, list[Finding]]:
    """group id -> its findings in report order, for groups of two or more. Groups never span
    repositories (a scan or merge of several): the same value in two repositories is two findings."""
    by_id: dict[str, list[Finding]] = {}
    for finding in findings:
        if group_key(finding):
            by_id.setdefault(group_id(finding), []).append(finding)
    return {k: v for k, v in by_id.items() if len(v) > 1}


def group_id(finding: Finding) -> str:
    """The key of this finding's group in `groups()`: its group key, in its repository."""
    repository = finding.repository
    key = group_key(finding)
    return f"{repository}\0{key}" if repository else key


def shown_id(group: str) -> str:
    """The group id as reports show it (without the repository it is in)."""
    return group.rsplit("\0", 1)[-1]


def also_at(members: Sequence[Finding]) -> str:
    """`also at: b.py:9, c.py:3 (+N more)` for the members after the first."""
    rest = [f"{f.path}:{f.line}" if f.line else f.path for f in members[1:]]
    text = "also at: " + ", ".join(rest[:SHOWN])
    if len(rest) > SHOWN:
        text += f" (+{len(rest) - SHOWN} more)"
    return text
