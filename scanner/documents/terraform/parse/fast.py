"""A fast path for the common shape of HCL: bodies, blocks, attributes and literal values.

python-hcl2's Lark grammar costs ~20 ms per small file (a deep precedence ladder walked for every
token). This scanner handles what Terraform files are mostly made of and produces exactly what
`parse/hcl.py`'s `_Walker` produces; on anything it is not sure about it raises `Fallback` and the file
is parsed by python-hcl2 (which also produces the error message for broken files). Tests compare
both parsers on every fixture and pack example.
"""

from __future__ import annotations

import re
from typing import Any

from scanner.documents.tree import LDict, LList, Unknown


class Fallback(Exception):
    """Not sure: let python-hcl2 parse this file."""


class Template(Unknown):
    """A string template with interpolations (`"arn:${var.partition}:s3:::x"`, a heredoc): its text is
    the template body, not an expression, so the evaluate step reads it as a template."""

    __slots__ = ()

    def __reduce__(self) -> tuple:
        return (Template, (self.text,))


_TOKEN = re.compile(
    r"""
    (?P<ws>[ \t\r]+)
  | (?P<nl>\n)
  | (?P<comment>(?:\#|//)[^\n]*)
  | (?P<block_comment>/\*.*?\*/)
  | (?P<heredoc><<-?(?P<hid>[A-Za-z][A-Za-z0-9._-]*)\r?\n(?:.*?\n)??[ \t]*(?P=hid)\r?(?=\n))
  | (?P<number>\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)
  | (?P<ident>[A-Za-z_][A-Za-z0-9_-]*)
  | (?P<op>==|!=|<=|>=|&&|\|\||=>|\.\.\.|::|[{}\[\]()=,:.?!+\-*/%<>])
  | (?P<quote>")
    """,
    re.X | re.S,
)


class Tok:
    __slots__ = ("kind", "text", "line", "start", "end", "literal")

    def __init__(self, kind: str, text: str, line: int, start: int, end: int, literal: bool = True) -> None:
        self.kind, self.text, self.line, self.start, self.end, self.literal = (
            kind,
            text,
            line,
            start,
            end,
            literal,
        )


def _string_end(src: str, i: int) -> tuple[int, bool]:
    """Index after the closing quote of the string whose opening quote is at i-1; literal flag."""
    literal = True
    n = len(src)
    while i < n:
        c = src[i]
        if c == "\\":
            i += 2
            continue
        if c == '"':
            return i + 1, literal
        if c == "\n":
            raise Fallback("newline in string")
        if c in "$%" and src.startswith("{", i + 1):
            if src.startswith(c + c + "{", i - 1) or (i > 0 and src[i - 1] == c):
                i += 2
                continue
            literal = False
            i = template_end(src, i + 2)
            continue
        i += 1
    raise Fallback("unterminated string")


def template_end(src: str, i: int) -> int:
    depth = 1
    n = len(src)
    while i < n:
        c = src[i]
        if c == '"':
            i, _ = _string_end(src, i + 1)
            continue
        if c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    raise Fallback("unterminated interpolation")


def tokenize(src: str) -> list[Tok]:
    out: list[Tok] = []
    i, line, n = 0, 1, len(src)
    while i < n:
        m = _TOKEN.match(src, i)
        if m is None:
            raise Fallback(f"unexpected character at line {line}")
        kind = m.lastgroup  # the outer group: "heredoc", never its inner "hid"
        text = m.group(0)
        if kind == "quote":
            end, literal = _string_end(src, m.end())
            out.append(Tok("string", src[i:end], line, i, end, literal))
            i = end
            continue
        if kind == "block_comment":
            if "\n" in text:
                out.append(Tok("nl", "\n", line, i, m.end()))
        elif kind not in ("ws", "comment"):
            out.append(Tok(kind, text, line, i, m.end()))
        line += text.count("\n")
        i = m.end()
    return out


_ESCAPES = re.compile(r"\\(u[0-9a-fA-F]{4}|U[0-9a-fA-F]{8}|.)", re.S)
_SIMPLE = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\"}


def unescape(text: str) -> str:
    """HCL string escapes (shared with the python-hcl2 tree walk)."""
    def repl(m: re.Match) -> str:
        s = m.group(1)
        if s[0] in "uU" and len(s) > 1:
            return chr(int(s[1:], 16))
        return _SIMPLE.get(s, "\\" + s)

    return _ESCAPES.sub(repl, text) if "\\" in text else text


_OPEN = {"{": "}", "[": "]", "(": ")"}
_CONTINUE = frozenset("? : && || == != <= >= < > + - * / % ! = => , .".split())


class Parser:
    def __init__(self, src: str) -> None:
        self.src = src
        self.toks = tokenize(src)
        self.i = 0

    def peek(self, offset: int = 0) -> Tok | None:
        j = self.i + offset
        return self.toks[j] if j < len(self.toks) else None

    def skip_nl(self) -> None:
        while self.i < len(self.toks) and self.toks[self.i].kind == "nl":
            self.i += 1

    # -- bodies ------------------------------------------------------------------------------------
    def top(self, block_cls: Any) -> list[Any]:
        blocks = []
        while True:
            self.skip_nl()
            tok = self.peek()
            if tok is None:
                return blocks
            if tok.kind != "ident":
                raise Fallback("top level")
            nxt = self.peek(1)
            if nxt is not None and nxt.text == "=":
                key, value, line, end = self.attribute()
                body = LDict(line=line)
                body[key] = value
                body.key_lines[key] = line
                blocks.append(block_cls("attribute", (key,), body, line, end))
                continue
            btype, labels, body, line, end = self.block()
            blocks.append(block_cls(btype, labels, body, line, end))

    def attribute(self) -> tuple[str, Any, int, int]:
        key_tok = self.toks[self.i]
        self.i += 2  # name =
        start = self.i
        end = self.expr_end(stop_on_comma=False)
        if end == start:
            raise Fallback("empty expression")
        value = self.value(start, end)
        self.i = end
        tok = self.peek()
        if tok is not None and tok.kind != "nl" and tok.text != "}":
            raise Fallback("junk after attribute")
        return key_tok.text, value, key_tok.line, self.toks[end - 1].line

    def block(self) -> tuple[str, tuple[str, ...], LDict, int, int]:
        first = self.toks[self.i]
        names = []
        while True:
            tok = self.peek()
            if tok is None:
                raise Fallback("eof in block header")
            if tok.kind == "ident":
                names.append(tok.text)
            elif tok.kind == "string" and tok.literal:
                names.append(unescape(tok.text[1:-1]))
            elif tok.text == "{":
                break
            else:
                raise Fallback("block header")
            self.i += 1
        self.i += 1  # {
        body = self.body(first.line)
        close = self.toks[self.i - 1]
        return names[0], tuple(names[1:]), body, first.line, close.line

    def body(self, line: int) -> LDict:
        out = LDict(line=line)
        while True:
            self.skip_nl()
            tok = self.peek()
            if tok is None:
                raise Fallback("eof in body")
            if tok.text == "}":
                self.i += 1
                return out
            if tok.kind != "ident":
                raise Fallback("body item")
            nxt = self.peek(1)
            if nxt is not None and nxt.text == "=":
                key, value, kline, _ = self.attribute()
                if key in out and not isinstance(out[key], LList):
                    raise Fallback("duplicate attribute")
                out[key] = value
                out.key_lines[key] = kline
                continue
            btype, labels, value, bline, _ = self.block()
            if labels:
                value["_label"] = labels[0]
                value.key_lines["_label"] = bline
            if btype == "lifecycle":
                out[btype] = value
                out.key_lines[btype] = bline
                continue
            seq = out.get(btype)
            if not isinstance(seq, LList):
                seq = LList(line=bline)
                out[btype] = seq
                out.key_lines[btype] = bline
            seq.append(value)
            seq.item_lines.append(bline)

    # -- expressions -------------------------------------------------------------------------------
    def expr_end(self, stop_on_comma: bool) -> int:
        """Index of the token after the expression starting at self.i."""
        j, depth, n = self.i, 0, len(self.toks)
        while j < n:
            t = self.toks[j]
            if t.kind == "op":
                if t.text in _OPEN:
                    depth += 1
                elif t.text in ("}", "]", ")"):
                    if depth == 0:
                        break
                    depth -= 1
                elif depth == 0 and t.text == "," and stop_on_comma:
                    break
            elif t.kind == "nl" and depth == 0:
                break
            j += 1
        if depth:
            raise Fallback("unbalanced")
        if j > self.i and self.toks[j - 1].kind == "op" and self.toks[j - 1].text in _CONTINUE:
            raise Fallback("expression continues on the next line")
        return j

    def text(self, start: int, end: int) -> str:
        return self.src[self.toks[start].start : self.toks[end - 1].end].strip()

    def value(self, start: int, end: int) -> Any:
        toks = self.toks
        first = toks[start]
        count = end - start
        if count == 1:
            if first.kind == "string":
                raw = first.text[1:-1]
                if first.literal:
                    return unescape(raw).replace("$${", "${").replace("%%{", "%{")
                return Template(unescape(raw))
            if first.kind == "number":
                return float(first.text) if any(c in first.text for c in ".eE") else int(first.text)
            if first.kind == "ident":
                return {"true": True, "false": False, "null": None}.get(first.text, Unknown(first.text))
            if first.kind == "heredoc":
                return _heredoc(first.text)
            raise Fallback("odd single token")
        if count == 2 and first.text == "-" and toks[start + 1].kind == "number":
            v = self.value(start + 1, end)
            return -v
        if first.text == "(" and self.matching(start) == end - 1:
            a, b = start + 1, end - 1
            while a < b and toks[a].kind == "nl":
                a += 1
            while b > a and toks[b - 1].kind == "nl":
                b -= 1
            return self.value(a, b) if b > a else Unknown(self.text(start, end))
        if first.text in ("[", "{") and self.matching(start) == end - 1:
            j = start + 1
            while j < end and toks[j].kind == "nl":
                j += 1
            if j < end and toks[j].kind == "ident" and toks[j].text == "for":
                return Unknown(self.text(start, end))
            return self.tuple_(start, end) if first.text == "[" else self.object_(start, end)
        if (
            first.kind == "ident"
            and first.text in ("jsonencode", "tolist", "toset", "tomap")
            and toks[start + 1].text == "("
            and self.matching(start + 1) == end - 1
        ):
            saved = self.i
            self.i = start + 2
            self.skip_nl()
            a = self.i
            b = self.expr_end(stop_on_comma=True)
            self.i = b
            self.skip_nl()
            single = self.i == end - 1
            self.i = saved
            if single and b > a:
                return self.value(a, b)
        return Unknown(self.text(start, end))

    def matching(self, start: int) -> int:
        depth = 0
        for j in range(start, len(self.toks)):
            t = self.toks[j].text
            if self.toks[j].kind != "op":
                continue
            if t in _OPEN:
                depth += 1
            elif t in ("}", "]", ")"):
                depth -= 1
                if depth == 0:
                    return j
        raise Fallback("unmatched")

    def items(self, start: int, end: int) -> list[tuple[int, int]]:
        """Element token ranges inside brackets (start and end-1 are the brackets)."""
        out = []
        saved = self.i
        self.i = start + 1
        while True:
            self.skip_nl()
            if self.i >= end - 1:
                break
            a = self.i
            b = self.expr_end(stop_on_comma=True)
            if b > end - 1:
                b = end - 1
            if b == a:
                raise Fallback("empty element")
            out.append((a, b))
            self.i = b
            self.skip_nl()
            if self.i < end - 1 and self.toks[self.i].text == ",":
                self.i += 1
        self.i = saved
        return out

    def tuple_(self, start: int, end: int) -> LList:
        out = LList(line=self.toks[start].line)
        for a, b in self.items(start, end):
            out.append(self.value(a, b))
            out.item_lines.append(self.toks[a].line)
        return out

    def object_(self, start: int, end: int) -> LDict:
        out = LDict(line=self.toks[start].line)
        for a, b in self.items(start, end):
            # key (= | :) value
            k = self.toks[a]
            sep = a + 1
            if k.text == "(":
                sep = self.matching(a) + 1
            if sep >= b or self.toks[sep].text not in ("=", ":"):
                raise Fallback("object element")
            if k.kind == "ident" and sep == a + 1:
                key: Any = k.text
            elif k.kind == "string" and k.literal and sep == a + 1:
                key = unescape(k.text[1:-1])
            else:
                key = self.text(a, sep)
            out[key] = self.value(sep + 1, b)
            out.key_lines[key] = k.line
        return out


def _heredoc(raw: str) -> Any:
    return heredoc_value(raw.split("\n")[1:-1], raw.startswith("<<-"))


def heredoc_value(body: list[str], trim: bool) -> Any:
    """A heredoc's body lines as a value (shared with the python-hcl2 walk): `<<-` strips the common
    indent; an interpolation makes it Unknown; `$${` and `%%{` are literal escapes."""
    body = [ln.rstrip("\r") for ln in body]
    if trim:
        indents = [len(ln) - len(ln.lstrip()) for ln in body if ln.strip()]
        cut = min(indents) if indents else 0
        body = [ln[cut:] for ln in body]
    text = "\n".join(body) + ("\n" if body else "")
    if re.search(r"(?<![$%])[$%]\{", text):
        return Template(text)
    return text.replace("$${", "${").replace("%%{", "%{")


def parse_fast(src: str, block_cls: Any) -> list[Any]:
    """Top-level blocks, or Fallback."""
    try:
        return Parser(src if src.endswith("\n") else src + "\n").top(block_cls)
    except (IndexError, RecursionError, ValueError) as exc:
        raise Fallback(str(exc)) from None
