"""The part of a rule's pattern the Hyperscan prefilter pass needs: the pattern without the leading
context that only bounds a match (`(?:^|[^A-Za-z0-9])`, `\\b`, `[A-Za-z0-9_.-]*` before a key word,
a single `<`), so that each alternative starts at its first run of two or more literal characters.

Dropping leading items of a sequence can only widen what matches: wherever the whole pattern matches,
its core matches (inside the same span). The prefilter may say "maybe" a little more often, never
less, and RE2 still runs the whole pattern for the findings. Hyperscan then starts its work at a
rare literal instead of at every character a leading class or boundary accepts: the generic
`key = "value"` rules cost the pass 3 to 4 times less.

With the rule's keywords, a weak start (`==`, `server|host|user|uid|...`) gives way to the
keywords (see core()). A group with its own flags, (?i:ab), is taken apart as (?i:a)(?i:b), and
[Pp] counts as a literal character.

Only the syntax every built-in pattern uses is taken apart (escapes, classes, groups, quantifiers);
anything else (`\\Q...\\E`, flags set in the middle of the pattern without a group of their own)
leaves the pattern as it is.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

_LEADING_FLAGS = re.compile(r"\(\?[a-zA-Z]+\)")
_INNER_FLAGS = re.compile(r"\(\?[a-zA-Z-]+\)")  # (?i) inside: a scope we do not move ((?i:...) we take apart)
_SCOPED = re.compile(r"\(\?[a-zA-Z-]+:")  # a group with its own flags: (?i:...)
_QUANTIFIER = re.compile(r"(?:[*+?]|\{\d+(?:,\d*)?\})\??")
_OPEN = re.compile(r"\((?:\?:|\?P<\w+>|\?[a-zA-Z-]+:)?")  # a group we may look into: plain, non-capturing, named, scoped flags

Item = tuple[str, str]  # (atom, its quantifier or "")


def core(pattern: str, keywords: Sequence[str] = ()) -> str:
    """The pattern with each top-level alternative's leading context dropped (see the module doc);
    the pattern itself when there is nothing to drop or its syntax is not one taken apart here.

    With the rule's keywords, an alternative starts, where it can, at the first item whose every
    way of starting is a literal that is one of the keywords or begins one, when the first run of
    two literals starts weakly (_rarer): connection-string-password starts at `password|pwd`, not at
    `server|host|user|uid|...` that text holds everywhere, so the pass wakes up only where the rule's
    own trigger words are."""
    lead = _LEADING_FLAGS.match(pattern)
    flags = lead.group(0) if lead else ""
    body = pattern[len(flags) :]
    if "\\Q" in body or _INNER_FLAGS.search(body):
        return pattern
    words = tuple(k.lower() for k in keywords if len(k) >= 2)
    try:
        cut = "|".join(_core_of(alternative, words) for alternative in _alternatives(body))
    except ValueError:  # a syntax this parser does not know: the pattern as it is
        return pattern
    return pattern if cut == body else flags + cut


def _core_of(sequence: str, keywords: tuple[str, ...] = ()) -> str:
    whole = _items(sequence)
    cut = _cut(whole, lambda items: _literal_run(items) >= 2)
    if keywords:
        anchored = _cut(whole, lambda items: _starts_with_keyword(items, keywords))
        if anchored is not None and (cut is None or _rarer(anchored or sequence, cut or sequence)):
            return anchored or sequence
    return cut or sequence


def _rarer(keyworded: str, cut: str) -> bool:
    """Whether to start at the keywords rather than at the first run of two literals: when that run
    starts weakly, with a literal of three characters or less (`==`, `://`) or in many ways
    (`server|host|user|uid|...`), which text holds everywhere. `machine`, `variable`, `name=|key=`
    are kept: they are rarer than `password`, `pass|pw|token|...`."""
    starts = _leading_literals(_items(cut))
    return bool(_leading_literals(_items(keyworded))) and (not starts or min(map(len, starts)) <= 3 or len(starts) > 3)


def _cut(items: list[Item], good: Callable[[list[Item]], bool]) -> str | None:
    """The items from the first place where `good` holds (entering unrepeated groups without
    alternatives); "" when it holds at the start (nothing to drop), None when it holds nowhere."""
    dropped = False
    while items and not good(items):
        atom, quantifier = items[0]
        inner = None if quantifier else _inside(atom)
        if inner:  # an unrepeated group without alternatives: its items join the sequence
            items = inner + items[1:]
            continue
        items = items[1:]
        dropped = True
    if not items:
        return None
    return "".join(atom + quantifier for atom, quantifier in items) if dropped else ""


def _inside(atom: str) -> list[Item] | None:
    """The items of an unrepeated group without alternatives, each in the group's own flags when it
    has some ((?i:ab) is (?i:a)(?i:b)); None for any other atom."""
    body = _group_body(atom)
    if body is None or len(_alternatives(body)) != 1:
        return None
    items = _items(body)
    scoped = _SCOPED.match(atom)
    if scoped:
        if len(items) == 1 and not items[0][1]:  # (?i:(?P<key>...)): the inner group's items, in the scope
            inner = _inside(items[0][0])
            if inner is None:
                return None
            items = inner
        items = [(f"{scoped.group(0)}{a})", q) for a, q in items]
    return items


def _starts_with_keyword(items: list[Item], keywords: tuple[str, ...]) -> bool:
    """Every match of the items starts with a literal of two characters or more that is a keyword
    or the start of one (lower case)."""
    starts = _leading_literals(items)
    return bool(starts) and all(
        len(s) >= 2 and any(s.startswith(k) or k.startswith(s) for k in keywords) for s in starts
    )


def _leading_literals(items: list[Item]) -> list[str]:
    """The literal text each match of the items starts with, one string per way to start (lower
    case); [] when some way starts with no literal."""
    starts, _ = _literal_prefixes(items)
    return starts if all(starts) else []


def _literal_prefixes(items: list[Item]) -> tuple[list[str], bool]:
    """(the literal prefixes of the ways the items start, whether each is the whole of its way)."""
    texts = [""]
    for atom, quantifier in items:
        if quantifier[:1] in ("*", "?") or quantifier.startswith("{0"):
            return texts, False
        char = _literal_char(atom)
        if char is not None:
            texts = [t + char for t in texts]
            if quantifier:
                return texts, False
            continue
        body = _group_body(atom)
        if body is None:
            return texts, False
        ways = [_literal_prefixes(_items(a)) for a in _alternatives(body)]
        texts = [t + w for t in texts for starts, _ in ways for w in starts]
        if quantifier or not all(whole for _, whole in ways) or len(texts) > 64:
            return texts, False
    return texts, True


def _literal_char(atom: str) -> str | None:
    """The character an atom stands for (lower case) when it is a plain literal; else None."""
    if atom.startswith("\\"):
        return None if atom[1:2].isalnum() else atom[1:2]
    if _case_pair(atom):
        return atom[1].lower()
    if atom in ("^", "$", ".") or atom.startswith(("[", "(")):
        return None
    return atom.lower()


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
        if _literal_char(atom) is None:  # \b, \d, \x41, ^, ., a class: not a plain literal
            return run
        run += 1
        if quantifier:  # a+, a{2}: the first one is certain
            return run
    return run


def _case_pair(atom: str) -> bool:
    """[Pp] or [pP]: one letter in either case (a literal to the pass, as a caseless one is)."""
    return len(atom) == 4 and atom[0] == "[" and atom[3] == "]" and atom[1] != atom[2] and atom[1].isascii() \
        and atom[1].isalpha() and atom[1].lower() == atom[2].lower()


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
