"""Small named filters, detect-secrets style: each answers "is this candidate NOT a leak?".

A rule gets the default filters plus those it names in `filters:`.
"""

from __future__ import annotations

from collections.abc import Callable

import re2

from scanner.rules.loader import Rule

_TEMPLATE = re2.compile(
    r"^\s*(?:\$\{[^}]*\}|\$\([^)]*\)|\{\{.*\}\}|\$\{\{.*\}\}|%\([^)]*\)[sd]|<[^<>]+>|\$[A-Za-z_][A-Za-z0-9_]*|"
    r"#\{[^}]*\}|@[A-Za-z_]+@|%[A-Za-z_]+%)\s*$"
)
_PLACEHOLDER = re2.compile(
    r"(?i)^(?:x{3,}|\*{3,}|\.{3,}|-+|_+|#+|0+|changeme|change_me|replace_?me|replace-me|todo|tbd|fixme|"
    r"none|null|nil|true|false|empty|example|sample|dummy|redacted|placeholder|secret|password|passwd|"
    r"your[-_a-z]*|my[-_]?(?:password|secret|token)|insert[-_a-z]*|enter[-_a-z]*|<[^>]*>)$"
)


def is_template(candidate, rule: Rule) -> bool:  # noqa: ANN001 - Candidate lives in secrets.py
    return bool(_TEMPLATE.search(candidate.secret))


def is_placeholder(candidate, rule: Rule) -> bool:  # noqa: ANN001
    return bool(_PLACEHOLDER.search(candidate.secret.strip("'\"")))


DEFAULT: tuple[str, ...] = ("template", "placeholder")
FILTERS: dict[str, Callable] = {
    "template": is_template,
    "placeholder": is_placeholder,
}


def pipeline(rule: Rule) -> tuple[Callable, ...]:
    names = list(DEFAULT) + [n for n in rule.filters if n not in DEFAULT]
    unknown = [n for n in names if n not in FILTERS]
    if unknown:
        raise KeyError(f"{rule.source}:{rule.source_line}: {rule.id}.filters: unknown filter(s) {unknown}")
    return tuple(FILTERS[n] for n in names)
