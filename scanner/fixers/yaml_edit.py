"""Fix operations on YAML files (Kubernetes manifests, Compose files), as text splices.

ruamel.yaml's round-trip composer gives every node of the file with its exact start and end
(line, column, offset), comments and flow/block style included. The edits are spliced into the
original text at those offsets instead of dumping the whole tree again: a no-op load and dump with
ruamel.yaml changes 24 of the 28 YAML fixture files (sequence indentation, `---` markers), while a
splice leaves every byte outside the edit as it was. New content follows the file's own indentation
and is written in flow style for lists (`drop: [ALL]`), which reads the same in every indent style.

A subject (a container, a pod spec, a Compose service) is found by the line the policy engine gives
it: the line of a list item (`- name: app`) or of the key whose value it is (`spec:`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any, NamedTuple

from ruamel.yaml import YAML
from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode


class CannotFix(Exception):
    """This fix cannot be applied here safely; str() says why."""


class Edit(NamedTuple):
    start: int
    end: int
    text: str


# where a target's subject sits: as a list item, as the value of a key, or as a document's root
SUBJECT_PLACES: dict[str, tuple[str, ...]] = {
    "kubernetes.container": ("item",),
    "kubernetes.workload": ("value",),
    "kubernetes.object": ("root", "item"),
    "kubernetes.rbac-rule": ("item",),
    "compose.service": ("value",),
}


def compose(text: str) -> list[Node]:
    return [n for n in YAML(typ="rt").compose_all(text) if n is not None]


def _index(roots: Sequence[Node]) -> dict[tuple[int, str], MappingNode]:
    """(1-based line, place) -> mapping node, for every mapping in the file."""
    out: dict[tuple[int, str], MappingNode] = {}
    stack: list[tuple[Node, str, int]] = []
    for root in roots:
        if isinstance(root, MappingNode) and root.value:
            stack.append((root, "root", root.value[0][0].start_mark.line + 1))
        else:
            stack.append((root, "", 0))
    while stack:  # iterative: nesting depth is the file's to choose
        node, place, line = stack.pop()
        if isinstance(node, MappingNode):
            if place:
                out.setdefault((line, place), node)
            for key, value in node.value:
                stack.append((value, "value", key.start_mark.line + 1))
        elif isinstance(node, SequenceNode):
            for item in node.value:
                stack.append((item, "item", item.start_mark.line + 1))
    return out


def find_subject(roots: Sequence[Node], target: str, line: int) -> MappingNode:
    index = _index(roots)
    for place in SUBJECT_PLACES.get(target, ("item", "value", "root")):
        node = index.get((line, place))
        if node is not None:
            return node
    raise CannotFix(f"no mapping found at line {line}")


def _scalar_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, (int, float)):
        return str(value)
    text = str(value)
    special = text.lower() in ("true", "false", "yes", "no", "on", "off", "null", "~", "y", "n", "")
    if re.fullmatch(r"[A-Za-z_/][A-Za-z0-9_./-]*", text) and not special:
        return text
    return json.dumps(text)


def _flow(value: Any) -> str:
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_scalar_text(k)}: {_flow(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_flow(v) for v in value) + "]"
    return _scalar_text(value)


def _block(key: str, value: Any, indent: int, step: int) -> str:
    """`key: value` as block YAML lines at `indent` (nested mappings `step` deeper; lists in flow)."""
    pad = " " * indent
    if isinstance(value, dict) and value:
        body = "".join(_block(str(k), v, indent + step, step) for k, v in value.items())
        return f"{pad}{_scalar_text(key)}:\n{body}"
    return f"{pad}{_scalar_text(key)}: {_flow(value)}\n"


def _nest(path: Sequence[str], value: Any) -> Any:
    for key in reversed(path[1:]):
        value = {key: value}
    return value


def _step(roots: Sequence[Node]) -> int:
    """The file's mapping indentation: the first nested block mapping's offset from its parent key."""
    stack = list(roots)
    while stack:
        node = stack.pop()
        if isinstance(node, MappingNode):
            for key, value in node.value:
                if isinstance(value, MappingNode) and not value.flow_style and value.value:
                    step = value.value[0][0].start_mark.column - key.start_mark.column
                    if step > 0:
                        return step
                stack.append(value)
        elif isinstance(node, SequenceNode):
            stack.extend(node.value)
    return 2


def _line_end(text: str, index: int) -> int:
    """Index just after the newline that ends the line holding `index` (or the end of the text)."""
    newline = text.find("\n", index)
    return len(text) if newline < 0 else newline + 1


def _after(text: str, node: Node) -> int:
    """Where a new line goes after `node`'s content. A block collection's end mark is where the next
    token starts (often the next key, further down): the last scalar or flow collection inside it
    ends exactly where the content does."""
    while not getattr(node, "flow_style", False) and isinstance(node, (MappingNode, SequenceNode)) and node.value:
        last = node.value[-1]
        node = last[1] if isinstance(last, tuple) else last
    end = node.end_mark
    if end.column == 0 and end.index > 0:
        return end.index
    return _line_end(text, max(end.index - 1, 0))


def replace_value(text: str, start: int, end: int, new: str) -> Edit:
    """Replace text[start:end] with `new`, keeping a trailing comment in its column where the spaces
    before it allow (`false   # why` -> `true    # why`)."""
    rest = text[end : _line_end(text, end)]
    spaces = len(rest) - len(rest.lstrip(" "))
    if rest.lstrip(" ").startswith(("#", "//")) and spaces:
        width = max(1, spaces + (end - start) - len(new))
        return Edit(start, end + spaces, new + " " * width)
    return Edit(start, end, new)


def _get(mapping: MappingNode, key: str) -> tuple[ScalarNode, Node] | None:
    for k, v in mapping.value:
        if isinstance(k, ScalarNode) and k.value == key:
            return k, v
    return None


def _same(node: Node, value: Any) -> bool:
    if not isinstance(node, ScalarNode) or isinstance(value, (dict, list)):
        return False
    if isinstance(value, bool):
        return node.value.lower() == ("true" if value else "false")
    return node.value == str(value)


def _insert_key(text: str, mapping: MappingNode, key: str, value: Any, step: int) -> Edit:
    if mapping.flow_style:
        entry = f"{_scalar_text(key)}: {_flow(value)}"
        close = mapping.end_mark.index - 1
        if text[close] != "}":
            raise CannotFix("unexpected flow mapping")
        return Edit(close, close, (", " if mapping.value else "") + entry)
    if not mapping.value:
        raise CannotFix("empty block mapping")
    column = mapping.value[0][0].start_mark.column
    last = mapping.value[-1][1]
    at = _after(text, last)
    if at > 0 and text[at - 1] != "\n":  # the file ends without a newline
        return Edit(at, at, "\n" + _block(key, value, column, step).rstrip("\n"))
    return Edit(at, at, _block(key, value, column, step))


def _replace_empty(text: str, node: Node, key_node: ScalarNode, value: Any) -> Edit:
    """`key:` with no value (null) or `key: ~`: the value in flow style on the same line."""
    if not isinstance(node, ScalarNode) or node.value not in ("", "~", "null", "Null", "NULL"):
        raise CannotFix(f"'{key_node.value}' holds something else")
    if node.start_mark.index == node.end_mark.index:  # `key:` with nothing after the colon
        colon = text.find(":", key_node.end_mark.index)
        return Edit(colon + 1, colon + 1, " " + _flow(value))
    return Edit(node.start_mark.index, node.end_mark.index, _flow(value))


def op_set(text: str, mapping: MappingNode, path: Sequence[str], value: Any, step: int) -> Edit | None:
    """Set `path` (keys below `mapping`) to `value`; None when it already is."""
    node: MappingNode = mapping
    for depth, key in enumerate(path):
        pair = _get(node, key)
        if pair is None:
            return _insert_key(text, node, key, _nest(path[depth:], value), step)
        key_node, child = pair
        if depth == len(path) - 1:
            if _same(child, value):
                return None
            if isinstance(child, ScalarNode) and not isinstance(value, (dict, list)) and child.value not in ("", "~"):
                return replace_value(text, child.start_mark.index, child.end_mark.index, _scalar_text(value))
            if isinstance(child, ScalarNode):
                return _replace_empty(text, child, key_node, value)
            raise CannotFix(f"'{key}' is not a plain value")
        if isinstance(child, MappingNode):
            node = child
            continue
        return _replace_empty(text, child, key_node, _nest(path[depth:], value))
    return None


def op_add(text: str, mapping: MappingNode, path: Sequence[str], value: Any, step: int) -> Edit | None:
    """Add `value` to the list at `path` unless it is there; a missing list is created."""
    node: MappingNode = mapping
    for depth, key in enumerate(path[:-1]):
        pair = _get(node, key)
        if pair is None:
            return _insert_key(text, node, key, _nest(path[depth:], [value]), step)
        if not isinstance(pair[1], MappingNode):
            return _replace_empty(text, pair[1], pair[0], _nest(path[depth:], [value]))
        node = pair[1]
    pair = _get(node, path[-1])
    if pair is None:
        return _insert_key(text, node, path[-1], [value], step)
    key_node, seq = pair
    if not isinstance(seq, SequenceNode):
        return _replace_empty(text, seq, key_node, [value])
    if any(_same(item, value) for item in seq.value):
        return None
    if seq.flow_style:
        close = seq.end_mark.index - 1
        if text[close] != "]":
            raise CannotFix("unexpected flow sequence")
        return Edit(close, close, (", " if seq.value else "") + _flow(value))
    last = seq.value[-1]
    line_start = text.rfind("\n", 0, last.start_mark.index) + 1
    dash = text.rfind("-", line_start, last.start_mark.index)
    if dash < 0:
        raise CannotFix("unexpected sequence layout")
    at = _after(text, last)
    prefix = "" if text[at - 1] == "\n" else "\n"
    return Edit(at, at, f"{prefix}{' ' * (dash - line_start)}- {_flow(value)}\n")


def op_remove(text: str, mapping: MappingNode, path: Sequence[str]) -> Edit | None:
    """Delete the key at `path` (its whole lines); None when it is not there."""
    node: Node = mapping
    for key in path[:-1]:
        pair = _get(node, key) if isinstance(node, MappingNode) else None
        if pair is None:
            return None
        node = pair[1]
    pair = _get(node, path[-1]) if isinstance(node, MappingNode) else None
    if pair is None:
        return None
    key_node, value = pair
    if node.flow_style or len(node.value) == 1:
        raise CannotFix(f"'{path[-1]}' is the only key or in a flow mapping")
    start = text.rfind("\n", 0, key_node.start_mark.index) + 1
    if text[start:key_node.start_mark.index].strip():
        raise CannotFix(f"'{path[-1]}' shares its line with other content")
    return Edit(start, _after(text, value), "")


def op_path(op: dict, verb: str) -> list[str]:
    """An op's path: dotted text, or a list of keys (for keys that contain dots)."""
    path = op[verb]
    return [str(p) for p in path] if isinstance(path, list) else str(path).split(".")


def apply(text: str, mapping: MappingNode, ops: Sequence[dict], roots: Sequence[Node]) -> str:
    """Apply a fix's ops to the subject `mapping`, one splice at a time (each op re-reads the file)."""
    step = _step(roots)
    start = mapping.start_mark.index
    for op in ops:
        if "set" in op:
            edit = op_set(text, mapping, op_path(op, "set"), op["value"], step)
        elif "add" in op:
            edit = op_add(text, mapping, op_path(op, "add"), op["value"], step)
        else:
            edit = op_remove(text, mapping, op_path(op, "remove"))
        if edit is None:
            continue
        text = text[: edit.start] + edit.text + text[edit.end :]
        mapping = _remap(compose(text), start)
    return text


def _remap(roots: Sequence[Node], start: int) -> MappingNode:
    """The mapping that starts at `start` after an edit inside it (edits never move its start)."""
    stack = list(roots)
    while stack:
        node = stack.pop()
        if isinstance(node, MappingNode):
            if node.start_mark.index == start:
                return node
            stack.extend(v for _, v in node.value)
        elif isinstance(node, SequenceNode):
            stack.extend(node.value)
    raise CannotFix("the edit moved the subject")
