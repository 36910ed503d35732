"""A rule set's digest: what decides findings (ids, severities, patterns, conditions, targets...),
not what only explains them (titles, descriptions, remediations, references, examples, where a pack
file lies). Reports of one scan split across jobs must agree on it to be merged (scanner merge)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from typing import Any

from scanner.rules.loader import Rule

_EXPLAINS = frozenset({"title", "description", "remediation", "references", "source", "source_line", "bad", "good"})


def digest(rules: Sequence[Rule], policy_options: Iterable[tuple[str, Any]] = ()) -> str:
    rows = sorted(
        json.dumps({k: v for k, v in rule._asdict().items() if k not in _EXPLAINS}, sort_keys=True, default=repr)
        for rule in rules
    )
    options = json.dumps(sorted(policy_options), sort_keys=True, default=repr)
    text = "\n".join([*rows, options])
    return "sha256:" + hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()
