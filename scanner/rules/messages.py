"""A rule's `message` template: how it is rendered for a finding, and the check that a pack's
template can be rendered, made when the pack is loaded (docs/writing-rules.md, Messages).

Fields are named: the engine's own (`label`, `kind`, `path` for policy rules, `key` for secrets
rules, all text) and, for policy rules, the subject's top-level values (`{workloads}`, `{name}`).
A whole number takes a noun to count, `{files:file/files}` ("1 file", "6 files"); other format specs
are Python's (`{label:>20}`). A field the subject does not have is left as written.
"""

from __future__ import annotations

import string
import sys
from typing import Any

from scanner import plural

ENGINE_FIELDS = {"policy": ("label", "kind", "path"), "secrets": ("key",)}  # all text


class _Count(int):
    """A number in a message template: `{workloads:workload/workloads}` says "1 workload", "6 workloads"."""

    def __format__(self, spec: str) -> str:
        if "/" in spec:
            one, _, many = spec.partition("/")
            return plural.count(int(self), one, many)
        try:
            return super().__format__(spec)
        except ValueError:  # a subject's value is a number here, text elsewhere: a text spec
            return str(int(self))


class _Text(str):
    """A subject's text value: a spec only a number takes (a count) shows the text as it is."""

    def __format__(self, spec: str) -> str:
        try:
            return super().__format__(spec)
        except ValueError:
            return str(self)


class _Absent(str):
    """A field the subject does not have: left as written, format spec included."""

    def __format__(self, spec: str) -> str:
        return "{" + self + (":" + spec if spec else "") + "}"


class _Fields(dict):
    def __init__(self, subject_value: Any, fields: dict[str, str]) -> None:
        super().__init__(fields)
        self.subject_value = subject_value

    def __missing__(self, key: str) -> Any:
        value = self.subject_value.get(key) if isinstance(self.subject_value, dict) else None
        if isinstance(value, int) and not isinstance(value, bool) and not _unknown(value):
            return _Count(value)
        if isinstance(value, (str, int, float)) and not _unknown(value):
            return _Text(value)
        return _Absent(key)


def _unknown(value: Any) -> bool:
    """A documents.tree.Unknown (only documents make them: without the module loaded, none exists,
    and a secrets scan need not import YAML for the question)."""
    tree = sys.modules.get("scanner.documents.tree")
    return tree is not None and isinstance(value, tree.Unknown)


def render(template: str, subject_value: Any = None, **fields: str) -> str:
    """The message of one finding (`template` passed `problem` when its pack was loaded)."""
    return template.format_map(_Fields(subject_value, fields))


def problem(template: str, engine: str) -> str:
    """What is wrong with a `message` template of a rule of `engine`, or "" when it renders."""
    own = ENGINE_FIELDS.get(engine, ())
    try:
        parts = list(string.Formatter().parse(template))
    except ValueError as exc:  # a lone '{' or '}'
        return f"{exc} (write '{{{{' or '}}}}' for a literal brace)"
    for _, name, spec, conversion in parts:
        if name is None:
            continue
        field = "{" + name + (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else "") + "}"
        if not name or name.isdigit():
            return f"{field}: fields are named ({', '.join('{' + f + '}' for f in own)})"
        if not name.isidentifier():
            return f"{field}: a field is a plain name, without attributes or indexes"
        if conversion not in (None, "r", "s", "a"):
            return f"{field}: unknown conversion '!{conversion}' (!r, !s or !a)"
        if "{" in spec:
            return f"{field}: no fields inside a format spec"
        if engine != "policy" and name not in own:
            return f"{field}: unknown field (a {engine} rule's message may use {', '.join('{' + f + '}' for f in own)})"
        text_only = name in own or conversion is not None
        if _formats("text", spec):
            continue
        if text_only:
            what = f"{name} is text" if name in own else f"!{conversion} makes text"
            plural_hint = ", and a count ({n:one/many}) needs a number" if "/" in spec else ""
            return f"{field}: invalid format spec '{spec}' ({what}{plural_hint})"
        if "/" not in spec and not _formats(2, spec):  # `/`: a count (any number of a subject takes one)
            return f"{field}: invalid format spec '{spec}' for text or a number"
    return ""


def _formats(value: Any, spec: str) -> bool:
    try:
        format(value, spec)
    except ValueError:
        return False
    return True
