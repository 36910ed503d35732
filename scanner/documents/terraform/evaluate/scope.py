"""The values one module instance knows, and putting them into its blocks.

A module instance is a folder evaluated once: as a root module (variables from `terraform.tfvars` /
`*.auto.tfvars` of the folder, else their defaults) or as the child of a `module` call (variables
from the caller's arguments, else their defaults). `locals` are evaluated on first use; `each.key`,
`each.value` and `count.index` come from a `for_each` / `count` being expanded;
`data.aws_iam_policy.X.arn` is the literal `arn`, or the AWS managed policy named by `name`;
`data.aws_partition.X.partition` is "aws" (ARNs built with it still match rules for every partition).

Lines: a value set in another file than the block that uses it (a caller's argument, a child's
variable default, a container from locals.tf) keeps the line it was written on, as a `Line` that
also names its file, so a finding points at the line that sets the value. Within one root module a
scalar from a variable or a local is reported on the attribute that uses it.
"""

from __future__ import annotations

import copy
from typing import Any, NamedTuple

from scanner.documents.terraform.evaluate.expressions import (
    UNKNOWN,
    EvalError,
    evaluate,
    known,
    parse_node,
    traverse,
)
from scanner.documents.terraform.parse.fast import Template
from scanner.documents.tree import LDict, LList, Unknown


def clone(value: Any) -> Any:
    """A copy of a parsed value's containers (leaves are immutable and shared), lines kept. The
    evaluate step works on clones: the documents stay as parsed, so building the model twice (a
    second scan in one process, forked workers) gives the same result."""
    if isinstance(value, LDict):
        out = LDict(line=value.line)
        for k, v in value.items():
            out[k] = clone(v) if isinstance(v, (LDict, LList)) else v
        out.key_lines = dict(value.key_lines)
        return out
    if isinstance(value, LList):
        seq = LList((clone(v) if isinstance(v, (LDict, LList)) else v for v in value), line=value.line)
        seq.item_lines = list(value.item_lines)
        return seq
    return value


class Line(int):
    """A line in another file than the subject's: a finding there points at (path, line)."""

    path: str

    def __new__(cls, line: int, path: str) -> Line:
        obj = int.__new__(cls, line)
        obj.path = path
        return obj

    def __reduce__(self) -> tuple:
        return (Line, (int(self), self.path))


class Sourced(str):
    """A string from a variable or local: `origin` is the line (a Line when in another file) that
    writes it, so a rule on the literal itself (`op: literal`) points there."""

    origin: int

    def __new__(cls, text: str, origin: int) -> Sourced:
        obj = str.__new__(cls, text)
        obj.origin = origin
        return obj

    def __reduce__(self) -> tuple:
        return (Sourced, (str(self), self.origin))


class Binding(NamedTuple):
    """A variable's value and where it was set (file and line); path "" = nowhere (unknown)."""

    value: Any
    path: str
    line: int


class Scope:
    """What one module instance knows. `chain` is the module calls that reach it ("" for a root)."""

    def __init__(
        self,
        path_of_folder: str,
        variables: dict[str, Binding],
        locals_: dict[str, tuple[Any, str]],
        data_arns: dict[str, str],
        chain: tuple[str, ...] = (),
    ) -> None:
        self.folder = path_of_folder
        self.variables = variables
        self.locals_raw = locals_
        self.locals_done: dict[str, Any] = {}
        self.locals_busy: set[str] = set()
        self.data_arns = data_arns
        self.chain = chain
        self.each: tuple[Any, Any] | None = None
        self.count: Any = None

    def with_iteration(self, each: tuple[Any, Any] | None = None, count: Any = None) -> Scope:
        other = copy.copy(self)
        other.each, other.count = each, count
        return other

    # the lookup the expression evaluator calls for every reference
    def lookup(self, root: str, steps: tuple) -> Any:
        if root == "var" and steps and steps[0][0] == "attr":
            binding = self.variables.get(steps[0][1])
            if binding is None:
                return UNKNOWN
            return traverse(binding.value, steps[1:], self.lookup)
        if root == "local" and steps and steps[0][0] == "attr":
            return traverse(self.local(steps[0][1]), steps[1:], self.lookup)
        if root == "each" and self.each is not None and steps and steps[0][0] == "attr":
            name = steps[0][1]
            if name in ("key", "value"):
                return traverse(self.each[0] if name == "key" else self.each[1], steps[1:], self.lookup)
        if root == "count" and self.count is not None and steps == (("attr", "index"),):
            return self.count
        if root == "data" and len(steps) == 3 and steps[0] == ("attr", "aws_iam_policy") and steps[2] == ("attr", "arn"):
            arn = self.data_arns.get(steps[1][1])
            return arn if arn is not None else UNKNOWN
        if root == "data" and len(steps) == 3 and steps[0] == ("attr", "aws_partition") and steps[2] == ("attr", "partition"):
            # "arn:${data.aws_partition.current.partition}:iam::aws:policy/AdministratorAccess": rules
            # match every partition (arn:aws, arn:aws-cn, arn:aws-us-gov); the commercial one stands in
            return "aws"
        return UNKNOWN

    def local(self, name: str) -> Any:
        if name in self.locals_done:
            return self.locals_done[name]
        raw = self.locals_raw.get(name)
        if raw is None or name in self.locals_busy:
            return UNKNOWN
        self.locals_busy.add(name)
        try:
            value = value_of(clone(raw[0]), self)
        finally:
            self.locals_busy.discard(name)
        self.locals_done[name] = value
        return value

    def origin(self, node: tuple) -> tuple[str, int] | None:
        """Where the value of a bare `var.x` / `local.x` reference was set: (path, line), or None."""
        if node[0] == "tmpl" and len(node[1]) == 1 and isinstance(node[1][0], tuple):
            node = node[1][0]  # "${var.x}"
        if node[0] != "ref" or not node[2] or node[2][0][0] != "attr":
            return None
        if node[1] == "var":
            binding = self.variables.get(node[2][0][1])
            return (binding.path, binding.line) if binding is not None and binding.path else None
        if node[1] == "local":
            raw = self.locals_raw.get(node[2][0][1])
            return (raw[1], raw[2]) if raw is not None and len(raw) > 2 else None
        return None


def _eval_leaf(value: Unknown, scope: Scope) -> tuple[Any, tuple | None]:
    node = parse_node(value)
    if node == ("unk",):
        return value, None
    try:
        result = evaluate(node, scope.lookup)
    except EvalError:
        return value, None
    except Exception:  # noqa: BLE001 - an evaluator bug on hostile input leaves the value unknown
        return value, None
    if isinstance(result, Template) and isinstance(value, Template):
        return result, None  # partly known: the known parts are filled in
    if isinstance(result, Unknown):
        return value, None
    return result, node


def value_of(node: Any, scope: Scope, depth: int = 0) -> Any:
    """`node` (a parsed value: literals, containers, Unknown leaves) with what the scope knows put in.
    Containers are changed in place; the new value is returned."""
    if isinstance(node, Unknown):
        return _eval_leaf(node, scope)[0]
    if depth > 50:
        return node
    if isinstance(node, LDict):
        for k in list(node):
            v = node[k]
            if isinstance(v, Unknown):
                node[k] = _placed(v, scope, node.key_lines.get(k, node.line), "", False)[0]
            elif isinstance(v, (LDict, LList)):
                value_of(v, scope, depth + 1)
    elif isinstance(node, LList):
        for i, v in enumerate(node):
            if isinstance(v, Unknown):
                node[i] = _placed(v, scope, _item_line(node, i), "", False)[0]
            elif isinstance(v, (LDict, LList)):
                value_of(v, scope, depth + 1)
    return node


def _item_line(node: LList, i: int) -> int:
    return node.item_lines[i] if i < len(node.item_lines) else node.line


def _placed(value: Unknown, scope: Scope, line: int, path: str, through_call: bool) -> tuple[Any, int]:
    """The value of an Unknown leaf written at `line` of `path`, and the line to record for it."""
    result, node = _eval_leaf(value, scope)
    if node is None:
        return result, line
    origin = scope.origin(node)
    if origin is not None:
        where = Line(origin[1], origin[0]) if origin[0] != path else origin[1]
        if isinstance(result, (LDict, LList)):
            result = relocate(clone(result), origin[0], path)
        elif isinstance(result, str) and origin[1]:
            result = Sourced(result, where)
        return result, (where if through_call else line)
    if isinstance(result, (LDict, LList)):
        return stamp(clone(result), line), line
    return result, line


def evaluate_body(body: LDict, scope: Scope, path: str) -> LDict:
    """A block body (resource, data, provider, module call) with what the scope knows put in, in place.
    In a module reached through a call, a scalar from `var.x` is reported where it was set."""
    _body(body, scope, path, bool(scope.chain), 0)
    return body


def _body(node: Any, scope: Scope, path: str, through_call: bool, depth: int) -> None:
    if depth > 50:
        return
    if isinstance(node, LDict):
        for k in list(node):
            v = node[k]
            if isinstance(v, Unknown):
                node[k], line = _placed(v, scope, node.key_lines.get(k, node.line), path, through_call)
                node.key_lines[k] = line
            elif isinstance(v, (LDict, LList)):
                _body(v, scope, path, through_call, depth + 1)
    elif isinstance(node, LList):
        for i, v in enumerate(node):
            if isinstance(v, Unknown):
                node[i], line = _placed(v, scope, _item_line(node, i), path, through_call)
                if i < len(node.item_lines):
                    node.item_lines[i] = line
            elif isinstance(v, (LDict, LList)):
                _body(v, scope, path, through_call, depth + 1)


def relocate(value: Any, origin: str, here: str) -> Any:
    """Lines of a container written in `origin` become Lines naming that file (in place)."""
    if origin == here:
        return value
    if isinstance(value, LDict):
        value.line = Line(value.line, origin) if value.line else value.line
        value.key_lines = {k: (Line(v, origin) if v and not isinstance(v, Line) else v) for k, v in value.key_lines.items()}
        for v in value.values():
            relocate(v, origin, here)
    elif isinstance(value, LList):
        value.line = Line(value.line, origin) if value.line else value.line
        value.item_lines = [Line(v, origin) if v and not isinstance(v, Line) else v for v in value.item_lines]
        for v in value:
            relocate(v, origin, here)
    return value


def stamp(value: Any, line: int) -> Any:
    """Lines a computed container lacks (0) become `line`, the attribute that computed it (in place)."""
    if isinstance(value, LDict):
        value.line = value.line or line
        for k in value:
            value.key_lines[k] = value.key_lines.get(k) or line
            stamp(value[k], line)
    elif isinstance(value, LList):
        value.line = value.line or line
        lines = list(value.item_lines) + [0] * (len(value) - len(value.item_lines))
        value.item_lines = [ln or line for ln in lines[: len(value)]]
        for v in value:
            stamp(v, line)
    return value


def literal(value: Any) -> bool:
    return known(value)
