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
    """A short stable id for the group this finding belongs to; "" when it cannot be grouped."""
    sha = dict(finding.properties).get("secret_sha256")
    if not sha:
        return ""
    return hashlib.sha256(f"{finding.rule_id}\0{sha}".encode()).hexdigest()[:16]


def groups(findings: Sequence[Finding]) -> dict[str, list[Finding]]:
    """group id -> its findings in report order, for groups of two or more."""
    by_key: dict[str, list[Finding]] = {}
    for finding in findings:
        key = group_key(finding)
        if key:
            by_key.setdefault(key, []).append(finding)
    return {k: v for k, v in by_key.items() if len(v) > 1}


def also_at(members: Sequence[Finding]) -> str:
    """`also at: b.py:9, c.py:3 (+N more)` for the members after the first."""
    rest = [f"{f.path}:{f.line}" if f.line else f.path for f in members[1:]]
    text = "also at: " + ", ".join(rest[:SHOWN])
    if len(rest) > SHOWN:
        text += f" (+{len(rest) - SHOWN} more)"
    return text
