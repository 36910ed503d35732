"""Engines evaluate rules over items (secrets) and documents (policy)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from scanner.rules.loader import Rule


def check_rules(rules: Sequence[Rule]) -> None:
    """What the pack schema cannot check, for every engine: names a rule uses (filters, decoders,
    targets, relations) must exist and its RE2 patterns compile. PackError naming the rule otherwise."""
    from scanner.engines import policy, secrets

    secrets.check_rules(rules)
    policy.check_rules(rules)
