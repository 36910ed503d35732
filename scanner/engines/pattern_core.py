"""The part of a rule's pattern the Hyperscan prefilter pass needs: the pattern without the leading
context that only bounds a match (`(?:^|[^A-Za-z0-9])`, `\\b`, `[A-Za-z0-9_.-]*` before a key word,
a single `<`), so that each alternative starts at its first run of two or more literal characters.

Dropping leading items of a sequence can only widen what matches: wherever the whole pattern matches,
its core matches (inside the same span). The prefilter may say "maybe" a little more often, never
less, and RE2 still runs the whole pattern for the findings. Hyperscan then starts its work at a
rare literal instead of at every character a leading class or boundary accepts: the generic
`key = "value"` rules cost the pass 3 to 4 times less.

Only the syntax every built-in pattern uses is taken apart (escapes, classes, groups, quantifiers);
anything else (`\\Q...\\E`, flags set inside the pattern) leaves the pattern as it is.
"""

from __future__ import annotations

import re

_LEADING_FLAGS = re.compile(r"\(\?[a-zA-Z]+\)")
_INNER_FLAGS = re.compile(r"\(\?[a-zA-Z-]+[):]")  # (?i) or (?i:...) inside: scopes we do not move
_QUANTIFIER = re.compile(r"(?:[*+?]|\{\d+(?:,\d*)?\})\??")
_OPEN = re.compile(r"\((?:\?:|\?P<\w+>)?")  # a group we may look into: plain, non-capturing, named

Item = tuple[str, str]  # (atom, its quantifier or "")


def core(pattern: str) -> str:
    """The pattern with each top-level alternative's leading context dropped (see the module doc);
    the pattern itself when there is nothing to drop or its syntax is not one taken apart here."""
    lead = _LEADING_FLAGS.match(pattern)
    flags = lead.group(0) if lead else ""
    body = pattern[len(flags) :]
    if "\\Q" in body or _INNER_FLAGS.search(body):
        return pattern
    try:
        cut = "|".join(_core_of(alternative) for alternative in _alternatives(body))
    except ValueError:  # a syntax this parser does not know: the pattern as it is
        return pattern
    return pattern if cut == body else flags + cut


def _core_of(sequence: str) -> str:
    items = _items(sequence)
    dropped = False
    while items and _literal_run(items) < 2:
        atom, quantifier = items[0]
        inner = None if quantifier else _group_body(atom)
        inner_items = _items(inner) if inner is not None and len(_alternatives(inner)) == 1 else None
        if inner_items:  # an unrepeated group without alternatives: its items join the sequence
            items = inner_items + items[1:]
            continue
        items = items[1:]
        dropped = True
    if not items or not dropped:  # no run of two literals to start at: leave it whole
        return sequence
    return "".join(atom + quantifier for atom, quantifier in items)


def _literal_run(items: list[Item]) -> int:
    """How many literal characters every match of these items starts with."""
    run = 0
    for atom, quantifier in items:
        if quantifier[:1] in ("*", "?") or quantifier.startswith("{0"):
            return run
        if atom.startswith("("):
            body = _group_body(atom)
            if body is None:
                return run
            alternatives = [_items(a) for a in _alternatives(body)]
            if not all(alternatives):
                return run
            return run + min(_literal_run(a) for a in alternatives)
        if atom.startswith("\\"):
            if atom[1:2].isalnum():  # \b, \d, \w, \x41...: not a plain literal
                return run
        elif atom in ("^", "$", ".") or atom.startswith("["):
            return run
        run += 1
        if quantifier:  # a+, a{2}: the first one is certain
            return run
    return run


def _group_body(atom: str) -> str | None:
    """The inside of a plain, non-capturing or named group; None for any other atom."""
    if not atom.startswith("("):
        return None
    opened = _OPEN.match(atom)
    if opened is None or (atom.startswith("(?") and opened.end() == 1):  # lookaround, flags...
        return None
    return atom[opened.end() : -1]


def _items(sequence: str) -> list[Item]:
    """Atoms with their quantifiers, in order, of a sequence without top-level alternation."""
    items: list[Item] = []
    at = 0
    while at < len(sequence):
        if sequence[at] in "|)*+?":
            raise ValueError(sequence)
        end = _atom_end(sequence, at)
        quantified = _QUANTIFIER.match(sequence, end)
        quantifier = quantified.group(0) if quantified else ""
        items.append((sequence[at:end], quantifier))
        at = end + len(quantifier)
    return items


def _alternatives(sequence: str) -> list[str]:
    """The top-level alternatives of a sequence."""
    parts: list[str] = []
    depth = start = at = 0
    while at < len(sequence):
        char = sequence[at]
        if char == "\\":
            at += 2
            continue
        if char == "[":
            at = _atom_end(sequence, at)
            continue
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif char == "|" and depth == 0:
            parts.append(sequence[start:at])
            start = at + 1
        at += 1
    parts.append(sequence[start:])
    return parts


def _atom_end(text: str, at: int) -> int:
    """Where the atom starting at `at` ends: an escape, a class, a group or one character."""
    char = text[at]
    if char == "\\":
        if at + 1 >= len(text):
            raise ValueError(text)
        return at + 2
    if char == "[":
        end = at + 1
        if text.startswith("^", end):
            end += 1
        if text.startswith("]", end):
            end += 1
        while end < len(text) and text[end] != "]":
            if text[end] == "\\":
                end += 1
            elif text.startswith("[:", end):
                close = text.find(":]", end + 2)
                if close < 0:
                    raise ValueError(text)
                end = close + 1
            end += 1
        if end >= len(text):
            raise ValueError(text)
        return end + 1
    if char == "(":
        depth, end = 0, at
        while end < len(text):
            if text[end] == "\\":
                end += 2
                continue
            if text[end] == "[":
                end = _atom_end(text, end)
                continue
            if text[end] == "(":
                depth += 1
            elif text[end] == ")":
                depth -= 1
                if depth == 0:
                    return end + 1
            end += 1
        raise ValueError(text)
    return at + 1
