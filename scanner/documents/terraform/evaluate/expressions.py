"""HCL expressions: parsed from their source text and evaluated when every input is known.

What is evaluated: literals, string templates (`"${...}"`, heredocs), `var.`, `local.`, `each.`,
`count.index`, attribute and index access, conditionals, comparison, logic and arithmetic operators,
tuples and objects, and the functions in FUNCTIONS (merge, concat, lookup, jsonencode, tostring,
tobool, tonumber, lower, upper, format, coalesce, try, ...). Everything else (resource attributes,
`for` expressions, splats, template directives, other functions) is `Unknown`, and so is any
expression with an unknown input. Nothing is executed: this is a small interpreter over values.

`jsonencode(x)` evaluates to the value of `x` itself, as the parse step already does for a literal
argument, so a policy document keeps its structure (and its lines) whichever way it was written.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from typing import Any

from scanner.documents.terraform.evaluate.functions import (
    FUNCTIONS,
    UNKNOWN,
    EvalError,
    known,
    to_number,
    to_string,
)
from scanner.documents.terraform.parse.fast import (
    Fallback,
    Template,
    Tok,
    heredoc_value,
    template_end,
    tokenize,
    unescape,
)
from scanner.documents.tree import LDict, LList, Unknown

# -- parsing -------------------------------------------------------------------------------------
# An expression is a tuple tree: ("lit", v), ("tmpl", parts), ("ref", name, steps), ("call", f, args),
# ("cond", c, a, b), ("bin", op, a, b), ("un", op, a), ("tuple", items), ("obj", pairs), ("unk",).

_BINARY = (("||",), ("&&",), ("==", "!="), ("<", ">", "<=", ">="), ("+", "-"), ("*", "/", "%"))
_NOPE = ("unk",)


class _Parser:
    def __init__(self, toks: list[Tok]) -> None:
        self.toks = [t for t in toks if t.kind != "nl"]
        self.i = 0

    def peek(self) -> Tok | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def take(self, text: str | None = None) -> Tok:
        tok = self.peek()
        if tok is None or (text is not None and tok.text != text):
            raise Fallback("unexpected token")
        self.i += 1
        return tok

    def at(self, text: str) -> bool:
        tok = self.peek()
        return tok is not None and tok.kind == "op" and tok.text == text

    def whole(self) -> tuple:
        node = self.expr()
        if self.peek() is not None:
            raise Fallback("trailing tokens")
        return node

    def expr(self) -> tuple:
        cond = self.binary(0)
        if self.at("?"):
            self.take()
            a = self.expr()
            self.take(":")
            b = self.expr()
            return ("cond", cond, a, b)
        return cond

    def binary(self, level: int) -> tuple:
        if level == len(_BINARY):
            return self.unary()
        left = self.binary(level + 1)
        while True:
            tok = self.peek()
            if tok is None or tok.kind != "op" or tok.text not in _BINARY[level]:
                return left
            self.take()
            left = ("bin", tok.text, left, self.binary(level + 1))

    def unary(self) -> tuple:
        if self.at("!") or self.at("-"):
            op = self.take().text
            return ("un", op, self.unary())
        return self.postfix(self.primary())

    def postfix(self, node: tuple) -> tuple:
        while True:
            if self.at("."):
                self.take()
                tok = self.take()
                if tok.kind == "ident":
                    node = _step(node, ("attr", tok.text))
                elif tok.kind == "number" and tok.text.isdigit():
                    node = _step(node, ("index", ("lit", int(tok.text))))
                else:  # .* splat
                    return _NOPE if tok.text == "*" else self._fail()
            elif self.at("["):
                self.take()
                if self.at("*"):
                    return _NOPE
                index = self.expr()
                self.take("]")
                node = _step(node, ("index", index))
            else:
                return node

    def _fail(self) -> tuple:
        raise Fallback("bad traversal")

    def primary(self) -> tuple:
        tok = self.take()
        if tok.kind == "number":
            return ("lit", float(tok.text) if any(c in tok.text for c in ".eE") else int(tok.text))
        if tok.kind == "string":
            raw = tok.text[1:-1]
            if tok.literal:
                return ("lit", unescape(raw).replace("$${", "${").replace("%%{", "%{"))
            return template(unescape(raw))
        if tok.kind == "heredoc":
            value = heredoc_value(tok.text.split("\n")[1:-1], tok.text.startswith("<<-"))
            return template(value.text) if isinstance(value, Unknown) else ("lit", value)
        if tok.kind == "ident":
            if tok.text in ("true", "false", "null"):
                return ("lit", {"true": True, "false": False, "null": None}[tok.text])
            if self.at("("):
                return self.call(tok.text)
            return ("ref", tok.text, ())
        if tok.kind == "op" and tok.text == "(":
            node = self.expr()
            self.take(")")
            return node
        if tok.kind == "op" and tok.text == "[":
            return self.sequence()
        if tok.kind == "op" and tok.text == "{":
            return self.object_()
        raise Fallback("unexpected token")

    def call(self, name: str) -> tuple:
        self.take("(")
        args = []
        while not self.at(")"):
            args.append(self.expr())
            if self.at("..."):
                self.take()
                return self._skip_call()
            if not self.at(")"):
                self.take(",")
        self.take(")")
        return ("call", name, tuple(args))

    def _skip_call(self) -> tuple:
        self.take(")")
        return _NOPE

    def sequence(self) -> tuple:
        tok = self.peek()
        if tok is not None and tok.kind == "ident" and tok.text == "for":
            return self._skip_to("]")
        items = []
        while not self.at("]"):
            items.append(self.expr())
            if not self.at("]"):
                self.take(",")
        self.take("]")
        return ("tuple", tuple(items))

    def object_(self) -> tuple:
        tok = self.peek()
        if tok is not None and tok.kind == "ident" and tok.text == "for":
            return self._skip_to("}")
        pairs = []
        while not self.at("}"):
            key_tok = self.peek()
            if key_tok is not None and key_tok.kind == "ident" and self.toks[self.i + 1].text in ("=", ":"):
                self.take()
                key: tuple = ("lit", key_tok.text)
            else:
                key = self.expr()
            sep = self.take()
            if sep.text not in ("=", ":"):
                raise Fallback("object element")
            pairs.append((key, self.expr()))
            if self.at(","):
                self.take()
        self.take("}")
        return ("obj", tuple(pairs))

    def _skip_to(self, close: str) -> tuple:
        depth = 1
        while depth:
            tok = self.take()
            if tok.kind == "op" and tok.text in "([{":
                depth += 1
            elif tok.kind == "op" and tok.text in ")]}":
                depth -= 1
        return _NOPE


def _step(node: tuple, step: tuple) -> tuple:
    if node[0] == "ref":
        return ("ref", node[1], node[2] + (step,))
    return ("get", node, step)


def template(body: str) -> tuple:
    """A template body (escapes already read) -> ("tmpl", parts): strings and expression nodes."""
    parts: list[Any] = []
    buf: list[str] = []
    i, n = 0, len(body)
    while i < n:
        c = body[i]
        if c in "$%" and body.startswith("{", i + 1):
            if body.startswith(c + c + "{", i):  # $${ and %%{ are literal
                buf.append(c + "{")
                i += 3
                continue
            if c == "%":
                return _NOPE  # template directives (%{ if }, %{ for }) are not evaluated
            end = template_end(body, i + 2)
            inner = body[i + 2 : end - 1].strip().strip("~").strip()
            if buf:
                parts.append("".join(buf))
                buf = []
            parts.append(parse_expression(inner))
            i = end
            continue
        buf.append(c)
        i += 1
    if buf:
        parts.append("".join(buf))
    return ("tmpl", tuple(parts))


@lru_cache(maxsize=8192)
def parse_expression(text: str) -> tuple:
    """The expression tree of `text`; ("unk",) when it is not an expression this module reads."""
    try:
        return _Parser(tokenize(text)).whole()
    except (Fallback, IndexError, RecursionError, ValueError):
        return _NOPE


@lru_cache(maxsize=8192)
def parse_template(text: str) -> tuple:
    try:
        return template(text)
    except (Fallback, IndexError, RecursionError, ValueError):
        return _NOPE


def parse_node(value: Unknown) -> tuple:
    """The expression tree of an Unknown leaf from the parse step (a template or an expression)."""
    return parse_template(value.text) if isinstance(value, Template) else parse_expression(value.text.strip())


# -- evaluation ----------------------------------------------------------------------------------

Lookup = Callable[[str, tuple], Any]  # (root name, steps) -> value, UNKNOWN, or raises EvalError


def evaluate(node: tuple, lookup: Lookup, depth: int = 0) -> Any:
    """The value of an expression tree, UNKNOWN (or a container holding unknowns) when an input is not
    known; raises EvalError on a wrong expression."""
    if depth > 64:
        return UNKNOWN
    kind = node[0]
    if kind == "lit":
        return node[1]
    if kind == "ref":
        return lookup(node[1], node[2])
    if kind == "get":
        return traverse(evaluate(node[1], lookup, depth + 1), (node[2],), lookup)
    if kind == "tmpl":
        return _template_value(node[1], lookup, depth)
    if kind == "tuple":
        out = LList(evaluate(x, lookup, depth + 1) for x in node[1])
        out.item_lines = [0] * len(out)
        return out
    if kind == "obj":
        obj = LDict()
        for k, v in node[1]:
            key = evaluate(k, lookup, depth + 1)
            if not isinstance(key, (str, int, float)) or isinstance(key, bool):
                return UNKNOWN
            obj[str(key) if not isinstance(key, str) else key] = evaluate(v, lookup, depth + 1)
        return obj
    if kind == "cond":
        cond = evaluate(node[1], lookup, depth + 1)
        if isinstance(cond, bool):
            return evaluate(node[2] if cond else node[3], lookup, depth + 1)
        if isinstance(cond, Unknown):
            a, b = evaluate(node[2], lookup, depth + 1), evaluate(node[3], lookup, depth + 1)
            return a if known(a) and _same(a, b) else UNKNOWN
        raise EvalError("condition is not a bool")
    if kind == "un":
        value = evaluate(node[2], lookup, depth + 1)
        if isinstance(value, Unknown):
            return UNKNOWN
        if node[1] == "!":
            if isinstance(value, bool):
                return not value
            raise EvalError("! needs a bool")
        number = to_number(value)
        return -number
    if kind == "bin":
        return _binary(node[1], evaluate(node[2], lookup, depth + 1), evaluate(node[3], lookup, depth + 1))
    if kind == "call":
        if node[1] == "try":
            return _try(node[2], lookup, depth)
        fn = FUNCTIONS.get(node[1])
        if fn is None:
            return UNKNOWN
        if node[1] == "try":
            return _try(node[2], lookup, depth)
        args = [evaluate(a, lookup, depth + 1) for a in node[2]]
        return fn(*args)
    return UNKNOWN


def traverse(value: Any, steps: tuple, lookup: Lookup) -> Any:
    for step in steps:
        if isinstance(value, Unknown):
            return UNKNOWN
        key = step[1] if step[0] == "attr" else evaluate(step[1], lookup)
        if isinstance(key, Unknown):
            return UNKNOWN
        if isinstance(value, dict):
            if key not in value:
                raise EvalError(f"no key {key!r}")
            value = value[key]
        elif isinstance(value, list) and isinstance(key, (int, float)) and not isinstance(key, bool):
            index = int(key)
            if not 0 <= index < len(value):
                raise EvalError("index out of range")
            value = value[index]
        elif isinstance(value, list) and isinstance(key, str) and key.isdigit():
            return traverse(value, (("index", ("lit", int(key))),), lookup)
        else:
            raise EvalError("cannot index this value")
    return value


def _template_value(parts: tuple, lookup: Lookup, depth: int) -> Any:
    out: list[str] = []
    unknown = resolved = False
    for part in parts:
        if isinstance(part, str):
            out.append(part)
            continue
        value = evaluate(part, lookup, depth + 1)
        text = to_string(value)
        if text is None:
            if not isinstance(value, Unknown) and known(value):
                raise EvalError("a template interpolates a collection")
            unknown = True
            out.append("${" + _source(part) + "}")
        else:
            resolved = True
            out.append(text)
    if not unknown:
        return "".join(out)
    # partly known: the known parts filled in; nothing known: unknown (the caller keeps the source)
    return Template("".join(out)) if resolved else UNKNOWN


def _source(node: tuple) -> str:
    """Enough of the expression's text to keep a partly known template readable."""
    if node[0] == "ref":
        text = node[1]
        for step in node[2]:
            text += f".{step[1]}" if step[0] == "attr" else "[...]"
        return text
    return "..."


def _same(a: Any, b: Any) -> bool:
    return type(a) is type(b) and a == b


def _binary(op: str, a: Any, b: Any) -> Any:
    if op == "&&":
        if a is False or b is False:
            return False
        if isinstance(a, Unknown) or isinstance(b, Unknown):
            return UNKNOWN
        if isinstance(a, bool) and isinstance(b, bool):
            return a and b
        raise EvalError("&& needs bools")
    if op == "||":
        if a is True or b is True:
            return True
        if isinstance(a, Unknown) or isinstance(b, Unknown):
            return UNKNOWN
        if isinstance(a, bool) and isinstance(b, bool):
            return a or b
        raise EvalError("|| needs bools")
    if not known(a) or not known(b):
        return UNKNOWN
    if op == "==":
        return _equal(a, b)
    if op == "!=":
        return not _equal(a, b)
    x, y = to_number(a), to_number(b)
    if op in ("<", ">", "<=", ">="):
        return {"<": x < y, ">": x > y, "<=": x <= y, ">=": x >= y}[op]
    if op == "+":
        return x + y
    if op == "-":
        return x - y
    if op == "*":
        return x * y
    if y == 0:
        raise EvalError("division by zero")
    if op == "/":
        result = x / y
        return int(result) if isinstance(result, float) and result.is_integer() else result
    return x % y


def _equal(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == b
    return type(a) is type(b) and a == b or (isinstance(a, dict) and isinstance(b, dict) and a == b)


def _try(args: tuple, lookup: Lookup, depth: int) -> Any:
    for arg in args:
        try:
            value = evaluate(arg, lookup, depth + 1)
        except EvalError:
            continue
        return value if known(value) else UNKNOWN
    raise EvalError("no try() argument could be evaluated")
