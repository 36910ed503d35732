"""Run every rule's `examples`: a pack is its own test suite (`scanner rules test`, the test suite).

A bad example must produce at least one finding of its rule (exactly `count` if given, the first at
`line` if given); a good example must produce none of that rule (an `info` finding of a rule above info, such as a vendor's
documented example key, is reported for the record and fails nothing, so it counts for neither).
Each example is scanned with its
rule alone, plus the other rules of its engine for the specific-versus-generic dedupe, so a generic
rule's example is judged the way a real scan would judge it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

from scanner import plural
from scanner.model import Finding, Item
from scanner.rules.loader import Example, Rule

DEFAULT_FILENAME = {
    "secrets": "config.txt",
    "kubernetes": "example.yaml",
    "dockerfile": "Dockerfile",
    "compose": "docker-compose.yml",
    "terraform": "main.tf",
}


def _run_secrets(rule: Rule, example: Example, context: list[Rule]) -> list[Finding]:
    from scanner.engines import secrets

    compiled = _compiled(tuple(context) if rule in context else (*context, rule))
    item = Item(example.filename or DEFAULT_FILENAME["secrets"], example.content.encode("utf-8"))
    return [f for f in secrets.scan_item(compiled, item) if f.rule_id == rule.id]


_CACHE: dict[tuple, object] = {}


def _compiled(rules: tuple[Rule, ...]):  # noqa: ANN202
    from scanner.engines import secrets

    key = tuple(r.id for r in rules)
    if key not in _CACHE:
        _CACHE.clear()
        _CACHE[key] = secrets.compile_rules(rules)
    return _CACHE[key]


def _run_policy(rule: Rule, example: Example, context: list[Rule]) -> list[Finding]:
    """The real pipeline on one file: parse -> finalize -> policy engine, with the example's options."""
    from scanner import documents
    from scanner.engines import policy

    family = rule.target.split(".")[0]
    name = example.filename or DEFAULT_FILENAME.get(family, "example.yaml")
    docs, problems = documents.parse_item(Item(name, example.content.encode("utf-8")))
    broken = [p for p in problems if p.level != "info"]
    if broken:
        raise ValueError(f"example does not parse: {broken[0].message}")
    docs = documents.finalize(docs)
    found = policy.run([rule], docs, dict(example.options or {}))
    return [f for f in found if f.rule_id == rule.id and f.suppression is None]


_FILE_HEADER = re.compile(r"^-- (\S(?:.*\S)?) --$", re.MULTILINE)


def _run_reuse(rule: Rule, example: Example, context: list[Rule]) -> list[Finding]:
    """A whole-scan rule's example is several files, txtar style (`-- overlays/dev/.env --` before
    each): each file scanned by the built-in secrets rules, then the rule over all their findings."""
    from scanner.engines import reuse, secrets
    from scanner.rules.loader import load_rules

    heads = list(_FILE_HEADER.finditer(example.content))
    if not heads:
        raise ValueError("a reuse example needs files: '-- path --' lines before each file's content")
    compiled = _compiled(tuple(r for r in load_rules() if r.engine == "secrets" and not r.opt_in))
    found: list[Finding] = []
    for head, after in zip(heads, heads[1:] + [None], strict=True):
        text = example.content[head.end() + 1 : after.start() if after else len(example.content)]
        found.extend(secrets.scan_item(compiled, Item(head.group(1), text.encode("utf-8"))))  # type: ignore[arg-type]
    return reuse.run([rule], found)


# engine -> runner(rule, example, rules of that engine) -> findings of that rule.
RUNNERS: dict[str, Callable[[Rule, Example, list[Rule]], list[Finding]]] = {
    "secrets": _run_secrets,
    "policy": _run_policy,
    "reuse": _run_reuse,
}


def _where(rule: Rule, kind: str, index: int) -> str:
    return f"{rule.source}:{rule.source_line}: {rule.id}: {kind} example #{index + 1}"


def check_rule(rule: Rule, context: list[Rule] | None = None) -> list[str]:
    """Failures (one line each) of one rule's examples; [] when they all pass or the engine has no runner."""
    runner = RUNNERS.get(rule.engine)
    if runner is None:
        return []
    context = [r for r in (context or [rule]) if r.engine == rule.engine and not r.opt_in] or [rule]
    failures: list[str] = []
    for index, example in enumerate(rule.bad):
        try:
            found = [f for f in runner(rule, example, context) if f.severity != "info" or rule.severity == "info"]
        except Exception as exc:  # noqa: BLE001 - a broken example is a failure, not a crash
            failures.append(f"{_where(rule, 'bad', index)}: error: {exc}")
            continue
        if not found:
            failures.append(f"{_where(rule, 'bad', index)}: expected a finding, got none")
            continue
        if example.count is not None and len(found) != example.count:
            lines = ", ".join(str(f.line) for f in found)
            failures.append(
                f"{_where(rule, 'bad', index)}: expected {plural.count(example.count, 'finding')}, got {len(found)} (lines {lines})"
            )
        if example.line is not None and found[0].line != example.line:
            failures.append(
                f"{_where(rule, 'bad', index)}: expected line {example.line}, got line {found[0].line}"
            )
    for index, example in enumerate(rule.good):
        try:
            found = [f for f in runner(rule, example, context) if f.severity != "info" or rule.severity == "info"]
        except Exception as exc:  # noqa: BLE001
            failures.append(f"{_where(rule, 'good', index)}: error: {exc}")
            continue
        if found:
            lines = ", ".join(str(f.line) for f in found)
            failures.append(
                f"{_where(rule, 'good', index)}: expected no finding, got {len(found)} (lines {lines})"
            )
    return failures


def check_fix(rule: Rule) -> list[str]:
    """A rule's `fix` on its own bad examples: each fixed example still parses, no longer gets the
    rule's finding, and a second fix changes nothing; at least one bad example must be fixable."""
    if not rule.fix or rule.engine != "policy":
        return []
    from scanner.fixers import fix_text

    family = rule.target.split(".")[0]
    failures: list[str] = []
    fixed_any = False
    for index, example in enumerate(rule.bad):
        name = example.filename or DEFAULT_FILENAME.get(family, "example.yaml")
        options = dict(example.options or {})
        try:
            result = fix_text(name, example.content, [rule], options)
            if not result.fixed:
                continue
            fixed_any = True
            left = _run_policy(rule, example._replace(content=result.after), [rule])
            if left:
                failures.append(f"{_where(rule, 'bad', index)}: fix: the fixed file still gets {plural.count(len(left), 'finding')}")
            again = fix_text(name, result.after, [rule], options)
            if again.after != result.after:
                failures.append(f"{_where(rule, 'bad', index)}: fix: fixing twice changes the file again")
        except Exception as exc:  # noqa: BLE001 - a broken fix is a failure, not a crash
            failures.append(f"{_where(rule, 'bad', index)}: fix: error: {type(exc).__name__}: {exc}")
    if not fixed_any and not failures:
        failures.append(f"{rule.source}:{rule.source_line}: {rule.id}: fix: applies to none of the bad examples")
    return failures


def run_examples(rules: Iterable[Rule]) -> list[str]:
    """Every rule's examples; returns one line per failure ([] means all pass)."""
    rules = list(rules)
    failures: list[str] = []
    for rule in rules:
        failures.extend(check_rule(rule, rules))
        failures.extend(check_fix(rule))
    return failures
