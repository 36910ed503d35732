"""HCL2 text -> line-aware values (`LDict`/`LList`) for the Terraform document module.

`parse_hcl` first tries the hand-written scanner in parse/fast.py (about 14x faster on the
fixtures), which covers the common shape of Terraform files and raises `Fallback` on anything else;
only then is the file parsed by python-hcl2 below (`parse_hcl_lark`), the reference that also writes
the error message for a broken file. Both give the same blocks (tests/test_terraform.py compares them).

python-hcl2 8.x no longer returns line metadata from `hcl2.load`, so this walks the raw Lark parse
tree of `hcl2.parses_to_tree` (every token and subtree carries its line). The grammar rule names
walked here are those of python-hcl2 >= 8.1, < 9 (pin it so).

Literal values (strings without interpolation, numbers, bools, null, tuples and objects of literals,
heredocs without `${`) become plain Python values; `jsonencode(x)` becomes the value of `x`; every
other expression (references, function calls, conditionals, `for` expressions, interpolations,
operators) becomes `Unknown(source text)`. Nothing from the scanned file is ever evaluated.
"""

from __future__ import annotations

import re
from typing import Any, NamedTuple

from scanner.documents.terraform.parse.fast import Fallback, Template, heredoc_value, parse_fast
from scanner.documents.terraform.parse.fast import unescape as _unescape
from scanner.documents.tree import LDict, LList, Unknown


class Block(NamedTuple):
    type: str  # resource, data, variable, locals, module, provider, output, terraform
    labels: tuple[str, ...]
    body: LDict
    line: int
    end_line: int


class HclError(ValueError):
    """Unparsable HCL: str() is 'line N: what'."""


# Nested blocks that are always written as blocks; used to turn the JSON syntax (`.tf.json`) objects
# into the same one-item lists HCL blocks give.
KNOWN_BLOCKS = frozenset(
    """versioning server_side_encryption_configuration rule apply_server_side_encryption_by_default
    ingress egress point_in_time_recovery lifecycle statement principals not_principals condition
    versioning_configuration root_block_device ebs_block_device inline_policy logging default_action
    access_control_policy grant grantee owner content dynamic""".split()
)
# Blocks that occur at most once and are easier to address as a mapping (`lifecycle.prevent_destroy`).
SINGLE_BLOCKS = frozenset({"lifecycle"})

def _line(node: Any) -> int:
    line = getattr(node, "line", None)  # Token
    if isinstance(line, int):
        return line
    meta = getattr(node, "meta", None)
    return getattr(meta, "line", 0) if meta is not None and not getattr(meta, "empty", True) else 0


def _end_line(node: Any) -> int:
    end = getattr(node, "end_line", None)
    if isinstance(end, int):
        return end
    meta = getattr(node, "meta", None)
    return getattr(meta, "end_line", 0) if meta is not None and not getattr(meta, "empty", True) else 0


class _Walker:
    def __init__(self, text: str) -> None:
        self.text = text

    def source(self, node: Any) -> str:
        start = getattr(node, "start_pos", None)
        end = getattr(node, "end_pos", None)
        if start is None:
            meta = getattr(node, "meta", None)
            if meta is None or getattr(meta, "empty", True):
                return ""
            start, end = meta.start_pos, meta.end_pos
        return self.text[start:end].strip()

    # -- names ---------------------------------------------------------------------------------
    def name(self, node: Any) -> str:
        """identifier / keyword / literal_value / string used as a name or label."""
        if hasattr(node, "data"):
            if node.data == "string":
                value = self.string(node)
                return value if isinstance(value, str) else self.source(node)
            if node.data == "expr_term" and len(node.children) == 1:
                return self.name(node.children[0])
            return "".join(str(t) for t in node.scan_values(lambda _t: True))
        return str(node)

    # -- bodies --------------------------------------------------------------------------------
    def top(self, tree: Any) -> list[Block]:
        body = tree.children[0] if tree.data == "start" else tree
        blocks = []
        for child in body.children:
            if getattr(child, "data", None) == "block":
                btype, labels, inner = self.block_parts(child)
                blocks.append(Block(btype, labels, self.body(inner), _line(child), _end_line(child)))
            elif getattr(child, "data", None) == "attribute":  # terraform.tfvars
                blocks.append(
                    Block(
                        "attribute",
                        (self.name(child.children[0]),),
                        self.body_of([child]),
                        _line(child),
                        _end_line(child),
                    )
                )
        return blocks

    def block_parts(self, node: Any) -> tuple[str, tuple[str, ...], Any]:
        names, inner = [], None
        for child in node.children:
            data = getattr(child, "data", None)
            if data == "body":
                inner = child
            elif data in ("identifier", "keyword", "literal_value", "string", "int_lit", "float_lit"):
                names.append(self.name(child))
        return names[0], tuple(names[1:]), inner

    def body(self, node: Any) -> LDict:
        return self.body_of(node.children if node is not None else [], _line(node) if node is not None else 0)

    def body_of(self, children: list, line: int = 0) -> LDict:
        out = LDict(line=line)
        for child in children:
            data = getattr(child, "data", None)
            if data == "attribute":
                key = self.name(child.children[0])
                out[key] = self.expr(child.children[-1])
                out.key_lines[key] = _line(child)
            elif data == "block":
                btype, labels, inner = self.block_parts(child)
                value = self.body(inner)
                value.line = _line(child)
                if labels:
                    value["_label"] = labels[0]
                    value.key_lines["_label"] = _line(child)
                if btype in SINGLE_BLOCKS:
                    out[btype] = value
                    out.key_lines[btype] = _line(child)
                    continue
                seq = out.get(btype)
                if not isinstance(seq, LList):
                    seq = LList(line=_line(child))
                    out[btype] = seq
                    out.key_lines[btype] = _line(child)
                seq.append(value)
                seq.item_lines.append(_line(child))
        if not out.line and out.key_lines:
            out.line = min(out.key_lines.values())
        return out

    # -- expressions ---------------------------------------------------------------------------
    def expr(self, node: Any) -> Any:
        data = getattr(node, "data", None)
        if data is None:  # a bare token
            return Unknown(str(node))
        if data == "expr_term":
            kids = [c for c in node.children if getattr(c, "data", None) != "new_line_or_comment"]
            if len(kids) == 1:
                return self.expr(kids[0])
            if len(kids) == 3 and str(kids[0]) == "(":
                return self.expr(kids[1])
            return Unknown(self.source(node))
        if data == "literal_value":
            word = str(node.children[0])
            return {"true": True, "false": False, "null": None}.get(word, Unknown(word))
        if data == "int_lit":
            return int(str(node.children[0]))
        if data == "float_lit":
            return float(str(node.children[0]))
        if data == "unary_op":
            sign, operand = node.children[0], self.expr(node.children[1])
            if str(sign) == "-" and isinstance(operand, (int, float)) and not isinstance(operand, bool):
                return -operand
            if str(sign) == "!" and isinstance(operand, bool):
                return not operand
            return Unknown(self.source(node))
        if data == "string":
            return self.string(node)
        if data in ("heredoc_template", "heredoc_template_trim"):
            return self.heredoc(str(node.children[0]), data.endswith("trim"))
        if data == "tuple":
            out = LList(line=_line(node))
            for child in node.children:
                if hasattr(child, "data") and child.data != "new_line_or_comment":
                    out.append(self.expr(child))
                    out.item_lines.append(_line(child) or out.line)
            return out
        if data == "object":
            obj = LDict(line=_line(node))
            for elem in node.children:
                if getattr(elem, "data", None) != "object_elem":
                    continue
                key_node = elem.children[0]
                key_inner = key_node.children[0] if key_node.children else key_node
                key = self.expr(key_inner)
                if not isinstance(key, str):
                    key = self.name(key_inner)
                obj[key] = self.expr(elem.children[-1])
                obj.key_lines[key] = _line(elem) or obj.line
            return obj
        if data == "function_call":
            fname = self.name(node.children[0])
            args = [c for c in node.children if getattr(c, "data", None) == "arguments"]
            argv = (
                [c for c in args[0].children if hasattr(c, "data") and c.data != "new_line_or_comment"]
                if args
                else []
            )
            if fname in ("jsonencode", "tolist", "toset", "tomap") and len(argv) == 1:
                return self.expr(argv[0])
            return Unknown(self.source(node))
        if data == "identifier":
            return Unknown(str(node.children[0]))
        return Unknown(self.source(node))  # references, conditionals, operators, for, splats

    def string(self, node: Any) -> Any:
        parts = []
        literal = True
        for part in node.children:
            if getattr(part, "data", None) != "string_part":
                continue
            inner = part.children[0]
            if hasattr(inner, "data"):  # interpolation or template directive
                literal = False
                parts.append(self.source(inner))
            elif inner.type in ("ESCAPED_INTERPOLATION", "ESCAPED_DIRECTIVE"):
                parts.append(str(inner)[1:])
            else:
                parts.append(_unescape(str(inner)))
        text = "".join(parts)
        return text if literal else Template(text)

    def heredoc(self, raw: str, trim: bool) -> Any:
        lines = raw.split("\n")
        return heredoc_value(lines[1:-2] if len(lines) >= 3 else [], trim)


def parse_hcl(text: str) -> list[Block]:
    """Top-level blocks of one HCL file. Raises HclError ('line N: ...') on a syntax error."""
    try:
        return parse_fast(text, Block)
    except Fallback:
        pass  # parsed below, outside the handler: a python-hcl2 error is not chained to Fallback
    return parse_hcl_lark(text)


def parse_hcl_lark(text: str) -> list[Block]:
    """The reference parser: python-hcl2's Lark tree, walked. Slow (~20 ms per small file)."""
    import hcl2
    from lark.exceptions import LarkError, UnexpectedInput

    try:
        tree = hcl2.parses_to_tree(text)
    except UnexpectedInput as exc:
        token = getattr(exc, "token", None)
        if token is not None:
            text = str(token).strip() or str(token)
            # quote short tokens (punctuation, keywords); never a long literal, which may be a secret
            what = "end of file" if token.type == "$END" else repr(text) if len(text) <= 12 else f"{token.type.lower()}"
        else:
            what = repr(getattr(exc, "char", "?"))
        raise HclError(
            f"line {getattr(exc, 'line', 0)}, column {getattr(exc, 'column', 0)}: unexpected {what}"
        ) from None
    except (LarkError, RecursionError, ValueError) as exc:
        raise HclError(f"line 0: {type(exc).__name__}") from None  # its text may quote the file
    return _Walker(text).top(tree)


# -- JSON syntax (.tf.json) ---------------------------------------------------------------------

_INTERP = re.compile(r"(?<![$%])[$%]\{")


def json_value(value: Any, key: str = "") -> Any:
    """A `.tf.json` value: strings with `${...}` become Unknown; known block names become lists."""
    if isinstance(value, str):
        return Template(value) if _INTERP.search(value) else value.replace("$${", "${")
    if isinstance(value, LDict):
        out = LDict(line=value.line)
        for k, v in value.items():
            out[k] = json_value(v, k)
            out.key_lines[k] = value.key_lines.get(k, value.line)
        if key in KNOWN_BLOCKS and key not in SINGLE_BLOCKS:
            seq = LList([out], line=value.line)
            seq.item_lines = [value.line]
            return seq
        return out
    if isinstance(value, LList):
        out_l = LList((json_value(v, key) for v in value), line=value.line)
        out_l.item_lines = list(value.item_lines)
        if key in KNOWN_BLOCKS:  # a list of blocks: flatten [[{}]] made by the recursion
            flat = LList(line=value.line)
            for item, ln in zip(out_l, out_l.item_lines, strict=False):
                if isinstance(item, LList):
                    flat.extend(item)
                    flat.item_lines.extend([ln] * len(item))
                else:
                    flat.append(item)
                    flat.item_lines.append(ln)
            return flat
        return out_l
    return value


def json_blocks(root: Any) -> list[Block]:
    """Top-level blocks of a `.tf.json` file (already loaded with lines)."""
    blocks: list[Block] = []
    if not isinstance(root, LDict):
        return blocks
    depth = {
        "resource": 2,
        "data": 2,
        "variable": 1,
        "module": 1,
        "provider": 1,
        "output": 1,
        "locals": 0,
        "terraform": 0,
    }
    for btype, levels in depth.items():
        node = root.get(btype)
        if node is None:
            continue
        items = node if isinstance(node, LList) else [node]
        for item in items:
            for labels, body in _json_levels(item, levels):
                bodies = body if isinstance(body, LList) else [body]
                for b in bodies:
                    if isinstance(b, LDict):
                        value = json_value(b)
                        blocks.append(Block(btype, labels, value, b.line, _last_line(b)))
    return blocks


def _json_levels(node: Any, levels: int, labels: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], Any]]:
    if levels == 0:
        return [(labels, node)]
    out = []
    if isinstance(node, LDict):
        for k, v in node.items():
            out.extend(_json_levels(v, levels - 1, labels + (str(k),)))
    return out


def _last_line(node: Any) -> int:
    line = getattr(node, "line", 0)
    if isinstance(node, LDict):
        for k, v in node.items():
            line = max(line, node.key_lines.get(k, 0), _last_line(v))
    elif isinstance(node, LList):
        for ln, v in zip(node.item_lines, node, strict=False):
            line = max(line, ln, _last_line(v))
    return line
