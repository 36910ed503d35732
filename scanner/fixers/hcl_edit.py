"""Fix operations on Terraform (HCL) files, as text edits inside one block.

The block is found with the Terraform parser's own tokenizer (strings, heredocs and comments are
tokens, so a `}` inside a string never closes a block). `set: a.b` on a resource either rewrites
the literal value of an existing `a { b = ... }`, or inserts the missing attribute (or nested block)
just before the block's closing brace, indented like the block's other attributes. An existing value
that is an expression (`var.x`, a conditional) is never rewritten: the rule did not fire on it anyway.
Only `set` is supported for HCL.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

from scanner.documents.terraform.parse.fast import Fallback, Tok, tokenize
from scanner.fixers.yaml_edit import CannotFix, Edit, op_path, replace_value

_LITERAL_KINDS = ("string", "number", "ident")


def _tokens(text: str) -> list[Tok]:
    try:
        return tokenize(text)
    except Fallback as exc:
        raise CannotFix(f"HCL the fixer does not read ({exc})") from None


def _close(toks: Sequence[Tok], open_at: int) -> int:
    depth = 0
    for i in range(open_at, len(toks)):
        if toks[i].kind == "op" and toks[i].text in "{[(":
            depth += 1
        elif toks[i].kind == "op" and toks[i].text in "}])":
            depth -= 1
            if depth == 0:
                return i
    raise CannotFix("unbalanced braces")


def _block_at(toks: Sequence[Tok], line: int) -> tuple[int, int]:
    """(index of `{`, index of the matching `}`) of the block whose header is on `line`."""
    for i, tok in enumerate(toks):
        if tok.line == line and tok.kind == "op" and tok.text == "{":
            return i, _close(toks, i)
        if tok.line > line:
            break
    raise CannotFix(f"no block starts at line {line}")


def _members(toks: Sequence[Tok], open_at: int, close_at: int) -> dict[str, tuple[str, int, int]]:
    """Direct members of a block body: name -> ("attr", index of the first value token, index of the
    token after the value) or ("block", index of `{`, index of `}`)."""
    out: dict[str, tuple[str, int, int]] = {}
    i = open_at + 1
    while i < close_at:
        tok = toks[i]
        if tok.kind == "ident" and (i == open_at + 1 or toks[i - 1].kind == "nl"):
            nxt = toks[i + 1] if i + 1 < close_at else None
            if nxt is not None and nxt.kind == "op" and nxt.text == "=":
                end = i + 2
                while end < close_at and toks[end].kind != "nl":
                    if toks[end].kind == "op" and toks[end].text in "{[(":
                        end = _close(toks, end)
                    end += 1
                out.setdefault(tok.text, ("attr", i + 2, end))
                i = end
                continue
            j = i + 1
            while j < close_at and toks[j].kind in ("string", "ident"):
                j += 1
            if j < close_at and toks[j].kind == "op" and toks[j].text == "{":
                end = _close(toks, j)
                out.setdefault(tok.text, ("block", j, end))
                i = end + 1
                continue
        if tok.kind == "op" and tok.text in "{[(":
            i = _close(toks, i)
        i += 1
    return out


def _literal(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    return json.dumps(str(value))


def _indent_of(text: str, index: int) -> str:
    start = text.rfind("\n", 0, index) + 1
    line = text[start:index]
    return line[: len(line) - len(line.lstrip())]


def _insert(text: str, toks: Sequence[Tok], open_at: int, close_at: int, path: Sequence[str], value: Any) -> Edit:
    """Insert `a { b = v }` (path a.b) before the block's closing brace."""
    members = _members(toks, open_at, close_at)
    open_tok, close_tok = toks[open_at], toks[close_at]
    if open_tok.line == close_tok.line:
        raise CannotFix("one-line block")
    body = [t for t in toks[open_at + 1 : close_at] if t.kind != "nl"]
    if members and body:
        indent = _indent_of(text, body[0].start)
    else:
        indent = _indent_of(text, open_tok.start) + "  "
    step = len(indent) - len(_indent_of(text, open_tok.start)) or 2
    lines = []
    for depth, key in enumerate(path[:-1]):
        lines.append(f"{indent}{' ' * step * depth}{key} {{")
    lines.append(f"{indent}{' ' * step * (len(path) - 1)}{path[-1]}{_gap(text, close_tok.start, indent, path)}= "
                 f"{_literal(value)}")
    for depth in reversed(range(len(path) - 1)):
        lines.append(f"{indent}{' ' * step * depth}}}")
    at = text.rfind("\n", 0, close_tok.start) + 1
    if text[at:close_tok.start].strip():  # `}` shares its line with content: put ours on a line of its own
        return Edit(close_tok.start, close_tok.start, "\n" + "\n".join(lines) + "\n" + _indent_of(text, open_tok.start))
    return Edit(at, at, "\n".join(lines) + "\n")


def _gap(text: str, before: int, indent: str, path: Sequence[str]) -> str:
    """Spaces before `=` for a new top-level attribute: aligned with the attribute on the line above
    when it is aligned `terraform fmt` style and the new name fits, else one."""
    if len(path) != 1:
        return " "
    start = text.rfind("\n", 0, text.rfind("\n", 0, before) + 1 - 1) + 1
    above = text[start : text.rfind("\n", 0, before) + 1]
    m = re.match(r"([ \t]*)([A-Za-z_][A-Za-z0-9_-]*)([ \t]*)=", above)
    if m and m.group(1) == indent and len(m.group(2)) + len(m.group(3)) > len(path[0]):
        return " " * (len(m.group(2)) + len(m.group(3)) - len(path[0]))
    return " "


def op_set(text: str, block_line: int, path: Sequence[str], value: Any) -> Edit | None:
    toks = _tokens(text)
    open_at, close_at = _block_at(toks, block_line)
    for depth, key in enumerate(path):
        member = _members(toks, open_at, close_at).get(key)
        last = depth == len(path) - 1
        if member is None:
            return _insert(text, toks, open_at, close_at, path[depth:], value)
        kind, a, b = member
        if last and kind == "attr":
            if b - a != 1 or toks[a].kind not in _LITERAL_KINDS or not toks[a].literal:
                raise CannotFix(f"'{key}' is an expression")
            new = _literal(value)
            return None if toks[a].text == new else replace_value(text, toks[a].start, toks[a].end, new)
        if not last and kind == "block":
            open_at, close_at = a, b
            continue
        raise CannotFix(f"'{key}' is {'a block' if kind == 'block' else 'an attribute'} here")
    return None


def apply(text: str, block_line: int, ops: Sequence[dict]) -> str:
    for op in ops:
        if "set" not in op:
            raise CannotFix("only 'set' fixes apply to Terraform")
        edit = op_set(text, block_line, op_path(op, "set"), op["value"])
        if edit is not None:
            text = text[: edit.start] + edit.text + text[edit.end :]
    return text
