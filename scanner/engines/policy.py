"""The policy engine: declarative conditions over structured documents.

A policy rule names a `target` (e.g. `kubernetes.container`, `terraform.resource`), optionally
`kinds` to narrow it, and a condition `when` that is true for a violation. Conditions:

    all: [cond, ...]        true when every cond is true
    any: [cond, ...]        true when one cond is true
    not: cond               negation
    field: PATH, op: OP, value: V
    related: NAME, params: {...}, where: cond    true when a related subject satisfies `where`

PATH is dotted (`spec.hostNetwork`), `[*]` for every item of a list, `[N]` for one item, or a list of
keys for keys with dots (`[metadata, annotations, "pod-security.kubernetes.io/enforce"]`). A path
with `[*]` is true when any item satisfies the operator.

Operators: exists, absent, is_empty, equals, not_equals, in, not_in, contains, not_contains,
matches, not_matches (RE2), gt, gte, lt, lte, unknown, literal (a value written out in the files, not
a reference: hard-coded credentials by position), and from engines/generic.py covers_port and
expression_matches (for any document kind, like the relation `items` of documents/items.py). A
missing field satisfies only `absent` and `is_empty`; negated operators (not_equals, ...) need the
field to be there (use `not:` otherwise).

Three-valued logic: a value only known at apply time (Terraform expression) or a relation whose
other side is outside the scan is *unknown*; unknown propagates through all/any/not, and a rule
fires only on a definite true. So a rule never fires on an unknown value unless it asks (`unknown`).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import Any

import re2

from scanner import documents as docs_mod
from scanner import workers
from scanner.documents import INSTANCE, Context, Document, Subject
from scanner.documents.items import items as items_relation
from scanner.documents.tree import Beyond, LDict, LList, Unknown, field_parts, parse_path, resolve
from scanner.engines import generic
from scanner.model import Finding, Location, Problem, Suppression, fingerprint
from scanner.rules import messages
from scanner.rules.loader import PackError, Rule, check_re2, quiet_re2_options


def _cmp(op: str, actual: Any, expected: Any) -> bool | None:
    if op in generic.OPERATORS:
        return generic.OPERATORS[op](actual, expected)
    if isinstance(actual, Unknown):
        return None
    if op == "equals":
        return _eq(actual, expected)
    if op == "not_equals":
        return not _eq(actual, expected)
    if op == "in":
        return any(_eq(actual, e) for e in expected)
    if op == "not_in":
        return not any(_eq(actual, e) for e in expected)
    if op in ("contains", "not_contains"):
        if isinstance(actual, (list, tuple)):
            if any(isinstance(a, Unknown) for a in actual) and not any(_eq(a, expected) for a in actual):
                return None
            hit = any(_eq(a, expected) for a in actual)
        elif isinstance(actual, dict):
            hit = expected in actual
        elif isinstance(actual, str):
            hit = str(expected) in actual
        else:
            return False
        return hit if op == "contains" else not hit
    if op in ("matches", "not_matches"):
        if not isinstance(actual, (str, int, float)) or isinstance(actual, bool):
            return False if op == "matches" else None
        hit = _regex(str(expected)).Match(str(actual)) is not None
        return hit if op == "matches" else not hit
    if op in ("gt", "gte", "lt", "lte"):
        number = _number(actual)
        if number is None:
            return False
        return {"gt": number > expected, "gte": number >= expected, "lt": number < expected, "lte": number <= expected}[op]
    raise PackError(f"unknown operator {op!r}")


def _eq(actual: Any, expected: Any) -> bool:
    if isinstance(expected, bool) or isinstance(actual, bool):
        if isinstance(actual, str) and isinstance(expected, bool):
            return actual.lower() == str(expected).lower()
        return actual is expected or (isinstance(actual, bool) and isinstance(expected, bool) and actual == expected)
    if isinstance(expected, (int, float)) and isinstance(actual, str):
        number = _number(actual)
        return number is not None and number == expected
    if isinstance(expected, str) and isinstance(actual, (int, float)):
        return str(actual) == expected
    return actual == expected


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return value
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


@lru_cache(maxsize=1024)
def _regex(pattern: str) -> Any:
    """A one-pattern RE2 Set: says whether the pattern matches anywhere, without the match object
    and offset translation a search builds (half the cost on the short texts rules look at)."""
    matcher = re2.Set.SearchSet(quiet_re2_options())
    matcher.Add(pattern)
    matcher.Compile()
    return matcher


def _leaf(cond: dict, subject: Subject) -> tuple[bool | None, int]:
    op = cond["op"]
    values = resolve(subject.value, field_parts(cond["field"]))
    seen = [(v, ln) for v, ln in values if not isinstance(v, Beyond)]
    if op in ("exists", "absent"):
        if seen:
            return op == "exists", seen[0][1]
        return (None, values[0][1]) if values else (op == "absent", 0)
    if op == "is_empty":
        for v, line in values:
            if isinstance(v, Unknown):
                return None, line
            if v not in ("", [], {}):
                return False, line
        return True, values[0][1] if values else 0
    if op == "unknown":
        for v, line in values:
            if isinstance(v, Unknown):
                return True, line
        return False, 0
    if op == "literal":
        return _literal(values)
    result: bool | None = False
    first_line = values[0][1] if values else 0
    for v, line in values:
        outcome = _cmp(op, v, cond.get("value"))
        if outcome:
            return True, line
        if outcome is None:
            result = None
    return result, first_line


def _literal(values: list[tuple[Any, int]]) -> tuple[bool | None, int]:
    """`op: literal`: the field holds a value written out in the files (directly, or through a variable
    default, tfvars or a module argument the document module resolved), not a reference or an
    expression known only at apply time. Empty values are not literal. The line is where the value is
    written (`origin`, when the document module knows it)."""
    result: bool | None = False
    for v, line in values:
        if isinstance(v, Unknown):
            if not isinstance(v, Beyond):
                result = None
            continue
        if isinstance(v, bool) or v in ("", [], {}) or (isinstance(v, str) and not v.strip()):
            continue
        if isinstance(v, (str, int, float)) or (isinstance(v, (dict, list)) and _known(v)):
            return True, getattr(v, "origin", None) or line
    return result, values[0][1] if values else 0


def _known(value: Any) -> bool:
    if isinstance(value, Unknown):
        return False
    if isinstance(value, dict):
        return all(_known(v) for v in value.values())
    if isinstance(value, list):
        return all(_known(v) for v in value)
    return True


def evaluate(cond: dict, subject: Subject, ctx: Context) -> tuple[bool | None, int]:
    """(True/False/None for unknown, line of the field that decided it or 0)."""
    if "all" in cond:
        line, unknown = 0, False
        for child in cond["all"]:
            result, child_line = evaluate(child, subject, ctx)
            if result is False:
                return False, 0
            if result is None:
                unknown = True
            line = line or child_line
        return (None, line) if unknown else (True, line)
    if "any" in cond:
        unknown = False
        for child in cond["any"]:
            result, child_line = evaluate(child, subject, ctx)
            if result:
                return True, child_line
            if result is None:
                unknown = True
        return (None, 0) if unknown else (False, 0)
    if "not" in cond:
        result, line = evaluate(cond["not"], subject, ctx)
        return (None if result is None else not result), line
    if "related" in cond:
        fn = docs_mod.relations().get(cond["related"])
        if fn is None:
            raise PackError(f"unknown relation {cond['related']!r}")
        related = fn(subject, ctx, dict(cond.get("params") or {}))
        if related is None:
            return None, 0
        where = cond.get("where")
        unknown = False
        for other in related:
            if where is None:
                return True, 0
            result, where_line = evaluate(where, other, ctx)
            if result:  # the parts of the subject itself (`items`) say which line decided it
                return True, where_line if fn is items_relation else 0
            if result is None:
                unknown = True
        return (None, 0) if unknown else (False, 0)
    return _leaf(cond, subject)


def check_rules(rules: Sequence[Rule]) -> None:
    """Targets and relations a policy rule names must exist: PackError naming the rule otherwise."""
    known_targets = docs_mod.targets()
    known_relations = docs_mod.relations()

    def walk(cond: Any, rule: Rule) -> None:
        for key in ("all", "any"):
            for child in cond.get(key, ()):
                walk(child, rule)
        if "not" in cond:
            walk(cond["not"], rule)
        if "where" in cond:
            walk(cond["where"], rule)
        if cond.get("op") in ("matches", "not_matches"):
            check_re2(str(cond.get("value")), f"{rule.source}:{rule.source_line}: {rule.id}.when: {cond.get('field')} {cond['op']}")
        if "related" in cond and cond["related"] not in known_relations:
            raise PackError(
                f"{rule.source}:{rule.source_line}: {rule.id}.when: unknown relation '{cond['related']}' "
                f"(known: {', '.join(sorted(known_relations)) or 'none'})"
            )

    for rule in rules:
        if rule.engine != "policy":
            continue
        if rule.target not in known_targets:
            raise PackError(
                f"{rule.source}:{rule.source_line}: {rule.id}.target: unknown target '{rule.target}' "
                f"(known: {', '.join(sorted(known_targets)) or 'none'})"
            )
        walk(rule.when, rule)


def _label(subject: Subject) -> str:
    """A subject's label; a document module may give it as a function, made only for findings."""
    label = subject.label
    return label if isinstance(label, str) else label()


def _message(rule: Rule, subject: Subject, notes: Sequence[str] = (), label: str | None = None) -> str:
    """The finding's message; with `label`, the same message about the subject named that way,
    without the template it came from (said with the object)."""
    name = _label(subject) if label is None else label
    if rule.message:
        text = messages.render(rule.message, subject.value, label=name, kind=subject.kind, path=subject.path)
    else:
        text = f"{rule.title}: {name}" if name else rule.title
    if notes:  # what a relation chose among several definitions (overlays, environments)
        text = f"{text} ({'; '.join(notes)})"
    if label is not None:  # "{label}: runs privileged" about the object itself: "runs privileged"
        return text.lstrip(": ")
    return text + _from_template(subject)


def _from_template(subject: Subject, how: str = " (from template {})") -> str:
    template = dict(subject.doc.meta).get("template")
    return how.format(template) if template else ""


def _object(rule: Rule, subject: Subject, notes: Sequence[str], path: str) -> tuple[tuple[str, Any], ...]:
    """The finding's `object`, `object_line` and `object_message` (the message without the object's
    name: "container nginx runs privileged" under "Deployment/web"), when it is in the object's file."""
    owner = subject.owner
    if owner is None or path != subject.path:
        return ()
    part = owner.part if isinstance(owner.part, str) else owner.part()
    return (("object", owner.label + _from_template(subject, " from template {}")), ("object_line", owner.line),
            ("object_message", _message(rule, subject, notes, part)))


def _rendered(subject: Subject) -> tuple[tuple[str, Any], ...]:
    """`rendered_by` ("helm template", "kustomize") when the scan rendered the object itself: the
    finding's file is the chart template or the kustomization, which `scanner fix` never edits."""
    how = dict(subject.doc.meta).get("rendered_by")
    return (("rendered_by", how),) if how else ()


def _ignored(rule: Rule, subject: Subject) -> Suppression | None:
    for rule_id, reason in subject.ignores:
        if rule_id in (rule.id, "*", rule.pack):
            return Suppression("inSource", "annotation", reason)
    return None


def _subjects(fn: Any, documents: Sequence[Document], ctx: Context, problems: list[Problem] | None) -> list[Subject]:
    """A target's subjects. With `problems` (a scan), a target that fails on some hostile document is
    retried one document at a time, so only the documents it fails on are lost, each with a Problem."""
    if problems is None:
        return list(fn(documents, ctx))
    try:
        return list(fn(documents, ctx))
    except Exception:  # noqa: BLE001 - a document-module bug must not end the scan
        pass
    out: list[Subject] = []
    for doc in documents:
        try:
            out.extend(fn([doc], Context([doc], ctx.options, {})))
        except Exception as exc:  # noqa: BLE001
            problems.append(Problem(doc.path, f"policy rules could not read this file ({type(exc).__name__})"))
    return out


def subject_fingerprint(rule: Rule, subject: Subject) -> str:
    return fingerprint(rule.id, subject.path, subject.key)


def label(subject: Subject) -> str:
    return _label(subject)


def failing_subjects(rule: Rule, documents: Sequence[Document], options: dict[str, Any] | None = None) -> list[Subject]:
    """The subjects `rule` fires on and that no annotation suppresses: what `scanner fix` edits."""
    ctx = Context(documents, dict(options or {}), {})
    out = []
    for subject in _subjects(docs_mod.targets()[rule.target], documents, ctx, []):
        if rule.kinds and subject.kind not in rule.kinds:
            continue
        if evaluate(rule.when, subject, ctx)[0] is True and _ignored(rule, subject) is None:
            out.append(subject)
    return out


PARALLEL_MIN_DOCUMENTS = 2000  # below this, forking costs more than the second core gives


def run(
    rules: Sequence[Rule], documents: Sequence[Document], options: dict[str, Any] | None = None,
    problems: list[Problem] | None = None, jobs: int = 1,
) -> list[Finding]:
    """Evaluate every policy rule over the documents of the whole scan. Given a `problems` list, a
    failure on one document becomes a Problem there instead of an exception. With `jobs` > 1 and
    many documents, the targets (`kubernetes.container`, `terraform.resource`...) are shared out to
    forked workers, which inherit the documents instead of receiving them; the findings are the same."""
    by_target: dict[str, list[Rule]] = {}
    for rule in rules:
        if rule.engine == "policy":
            by_target.setdefault(rule.target, []).append(rule)
    if not by_target or not documents:
        return []
    options = dict(options or {})
    if jobs > 1 and len(by_target) > 1 and len(documents) >= PARALLEL_MIN_DOCUMENTS and workers.can_fork():
        findings, more = _run_forked(by_target, documents, options, problems is not None, jobs)
        if problems is not None:
            problems.extend(more)
    else:
        ctx = Context(documents, options, {})
        findings = []
        for target, group in by_target.items():
            findings.extend(_run_target(target, group, documents, ctx, problems))
    findings.sort(key=Finding.sort_key)
    return findings


def _run_target(
    target: str, rules: Sequence[Rule], documents: Sequence[Document], ctx: Context, problems: list[Problem] | None
) -> list[Finding]:
    subjects = _subjects(docs_mod.targets()[target], documents, ctx, problems)
    findings: list[Finding] = []
    for rule in rules:
        seen: set[tuple] = set()
        for subject in subjects:
            if rule.kinds and subject.kind not in rule.kinds:
                continue
            notes: list[str] = []
            ctx.cache["relation-notes"] = notes  # relations say here which of several definitions they used
            if problems is None:
                result, line = evaluate(rule.when, subject, ctx)
            else:
                try:
                    result, line = evaluate(rule.when, subject, ctx)
                except Exception as exc:  # noqa: BLE001 - as above
                    problems.append(Problem(subject.path, f"rule {rule.id} could not be evaluated ({type(exc).__name__})"))
                    continue
            if result is not True:
                continue
            line = line or subject.line
            # one finding per code object and line: the same Terraform block reached through several
            # module calls (Subject.key "<block>" INSTANCE "<call chain>") the same way is one problem
            once = (getattr(line, "path", None), int(line), subject.path, subject.kind, subject.key.partition(INSTANCE)[0])
            if once in seen:
                continue
            seen.add(once)
            path = getattr(line, "path", None) or subject.path  # a value set in another file (a module
            # caller's argument) carries that file
            findings.append(
                Finding(
                    rule_id=rule.id,
                    severity=rule.severity,
                    location=Location(path, int(line)),
                    message=_message(rule, subject, notes),
                    evidence=_label(subject),
                    fingerprint=subject_fingerprint(rule, subject),
                    pack=rule.pack,
                    suppression=_ignored(rule, subject),
                    properties=tuple(sorted(_object(rule, subject, notes, path) + _rendered(subject))),
                )
            )
    return findings


_FORKED: dict[str, Any] = {}  # what forked workers inherit: rules by target, documents, options


def _forked_target(target: str) -> tuple[list[Finding], list[Problem]]:
    state = _FORKED
    problems: list[Problem] | None = [] if state["collect"] else None
    if "ctx" not in state:  # one per worker: relations cache their indexes in it
        state["ctx"] = Context(state["documents"], state["options"], {})
    ctx = state["ctx"]
    found = _run_target(target, state["by_target"][target], state["documents"], ctx, problems)
    return found, problems or []


def _run_forked(
    by_target: dict[str, list[Rule]], documents: Sequence[Document], options: dict[str, Any], collect: bool, jobs: int
) -> tuple[list[Finding], list[Problem]]:
    _FORKED.clear()
    _FORKED.update(by_target=by_target, documents=documents, options=options, collect=collect)
    findings: list[Finding] = []
    problems: list[Problem] = []
    try:
        with workers.forked_pool(min(jobs, len(by_target))) as pool:
            # largest groups first, one target at a time: the workers balance themselves
            order = sorted(by_target, key=lambda t: -len(by_target[t]))
            for found, more in pool.imap_unordered(_forked_target, order):
                findings.extend(found)
                problems.extend(more)
    finally:
        _FORKED.clear()
    return findings, problems


__all__ = ["run", "failing_subjects", "evaluate", "resolve", "check_rules", "parse_path", "LDict", "LList"]
