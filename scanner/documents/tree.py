"""Plain Python values that remember their lines.

Every structured document (YAML, JSON, HCL, Dockerfile) is turned into `LDict`/`LList` trees: a dict
or list that also knows the line it starts on and the line of each key or item. Scalars stay plain
Python values; their line is asked of the container that holds them (`line_of`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from functools import lru_cache
from typing import Any


class _Yaml:
    """PyYAML, imported when first used: the values below (LDict, Unknown) are also what cached rule
    packs are made of, and a scan that only unpickles them (a history scan) needs no YAML loader."""

    def __getattr__(self, name: str) -> Any:
        import yaml as module

        globals()["yaml"] = module
        return getattr(module, name)


yaml: Any = _Yaml()


def _Loader(text: str | bytes) -> Any:  # noqa: N802 - stands for the loader class
    """The C loader (an order of magnitude faster); the pure one is the fallback."""
    loader = getattr(yaml, "CSafeLoader", None) or yaml.SafeLoader
    return loader(text)


MAX_NODES = 2_000_000  # alias expansion cap ("billion laughs")
MAX_DEPTH = 500
# Without aliases a node takes at least two bytes of text, so a stream may build at most
# NODES_PER_BYTE nodes per byte (and MIN_NODES in any case): work stays linear in the input size.
NODES_PER_BYTE = 16
MIN_NODES = 200_000
_MERGE = "tag:yaml.org,2002:merge"
# libyaml's composer (the C loader) recurses on the C stack: ~25,000 nested `[` crash the process
# (SIGSEGV) before Python sees anything. Nesting costs at least a byte a level, so texts shorter
# than this cannot get there; longer ones have their depth measured on the (iterative) event
# stream first.
DEPTH_CHECK_BYTES = 8192


class LDict(dict):
    """A dict that knows its own line and the line of each key."""

    __slots__ = ("line", "key_lines")

    def __init__(self, *args: Any, line: int = 0, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.line = line
        self.key_lines: dict[Any, int] = {}

    def copy(self) -> LDict:
        """A shallow copy that keeps the lines (dict.copy() would return a plain dict without them)."""
        out = LDict(self, line=self.line)
        out.key_lines = dict(self.key_lines)
        return out

    def __reduce_ex__(self, protocol: Any) -> tuple:
        # documents parsed in a worker cross back to the parent pickled: items streamed, no state dict
        # per node (a third of the default's pickling time)
        return _new_ldict, (self.line, self.key_lines), None, None, iter(dict.items(self))


class LList(list):
    """A list that knows its own line and the line of each item."""

    __slots__ = ("line", "item_lines")

    def __init__(self, *args: Any, line: int = 0) -> None:
        super().__init__(*args)
        self.line = line
        self.item_lines: list[int] = []

    def __reduce_ex__(self, protocol: Any) -> tuple:
        return _new_llist, (self.line, self.item_lines), None, iter(self), None


def _new_ldict(line: int, key_lines: dict[Any, int]) -> LDict:
    node = dict.__new__(LDict)
    node.line = line
    node.key_lines = key_lines
    return node


def _new_llist(line: int, item_lines: list[int]) -> LList:
    node = list.__new__(LList)
    node.line = line
    node.item_lines = item_lines
    return node


def line_of(container: Any, key: Any = None) -> int:
    """The line of `container[key]` (or of the container itself when key is None); 0 if unknown."""
    if key is None:
        return getattr(container, "line", 0)
    if isinstance(container, LDict):
        return container.key_lines.get(key, container.line)
    if isinstance(container, LList) and isinstance(key, int) and 0 <= key < len(container.item_lines):
        return container.item_lines[key]
    return getattr(container, "line", 0)


def line_at(root: Any, path: Iterable[Any]) -> int:
    """The line of the deepest node along `path` (keys and indexes) that exists below `root`."""
    node, line = root, line_of(root)
    for key in path:
        if not isinstance(node, (LDict, LList)):
            break
        try:
            line = line_of(node, key) or line
            node = node[key]
        except (KeyError, IndexError, TypeError):
            break
    return line


def field_name(path: Iterable[Any]) -> str:
    """`rules[3].pattern` for the path ("rules", 3, "pattern"), as error messages name a field."""
    out = ""
    for key in path:
        out += f"[{key}]" if isinstance(key, int) else (f".{key}" if out else str(key))
    return out or "(top level)"


def wrap(value: Any, line: int = 0) -> Any:
    """Turn plain dicts/lists (e.g. from json.loads) into LDict/LList, every line set to `line`.
    Iterative (a stack of containers still to fill): any depth json.loads accepted."""
    if not isinstance(value, _CONTAINERS):
        return value
    root = _empty_like(value, line)
    stack: list[tuple[Any, Any]] = [(value, root)]
    while stack:
        source, target = stack.pop()
        if isinstance(source, dict):
            for k, v in source.items():
                if isinstance(v, _CONTAINERS):
                    child = _empty_like(v, line)
                    stack.append((v, child))
                    v = child
                target[k] = v
        else:
            for v in source:
                if isinstance(v, _CONTAINERS):
                    child = _empty_like(v, line)
                    stack.append((v, child))
                    v = child
                target.append(v)
    return root


def _empty_like(value: dict | list, line: int) -> LDict | LList:
    if isinstance(value, dict):
        return _new_ldict(line, dict.fromkeys(value, line))
    return _new_llist(line, [line] * len(value))


_CONTAINERS = (dict, list)


class YamlError(ValueError):
    """Malformed YAML: the message names the line ("line 3: ..."), and so does `line` (0: unknown).
    From load_yaml_stream, `document` is which document of the stream (from 1) and `first_line` the
    line it starts on."""

    def __init__(self, message: str, line: int = 0, document: int = 0, first_line: int = 0) -> None:
        super().__init__(message)
        self.line = line
        self.document = document
        self.first_line = first_line


class _Builder:
    def __init__(self, loader: Any, budget: int = MAX_NODES, offset: int = 0) -> None:
        self.loader = loader
        self.count = 0
        self.budget = budget
        self.first = offset + 1  # line numbers: the mark's line (from 0) + this

    def charge(self, nodes: int) -> None:
        self.count += nodes
        if self.count > self.budget:
            raise YamlError(f"more than {self.budget} nodes after alias expansion (alias bomb?)")

    def pairs(self, node: yaml.MappingNode, depth: int) -> list[tuple[yaml.Node, yaml.Node]]:
        """The mapping's (key, value) nodes with YAML merge keys (`<<`) expanded, earlier sources
        winning. Unlike PyYAML's flatten_mapping this charges every merged pair to the budget, so
        nested merges of aliases cannot grow exponentially before a single node is built."""
        if depth > MAX_DEPTH:
            raise YamlError(f"nesting deeper than {MAX_DEPTH} levels")
        merged: list[tuple[yaml.Node, yaml.Node]] = []
        own: list[tuple[yaml.Node, yaml.Node]] = []
        for key_node, value_node in node.value:
            if key_node.tag != _MERGE:
                own.append((key_node, value_node))
                continue
            sources = value_node.value if isinstance(value_node, yaml.SequenceNode) else [value_node]
            for source in reversed(sources):
                if isinstance(source, yaml.MappingNode):
                    merged.extend(self.pairs(source, depth + 1))
                    self.charge(len(source.value))
        return merged + own

    def build(self, node: yaml.Node, depth: int = 0) -> Any:
        self.charge(1)
        if depth > MAX_DEPTH:
            raise YamlError(f"nesting deeper than {MAX_DEPTH} levels")
        first = self.first
        line = node.start_mark.line + first
        if isinstance(node, yaml.MappingNode):
            out = LDict(line=line)
            for key_node, value_node in self.pairs(node, depth):
                key = self.build(key_node, depth + 1)
                if isinstance(key, (dict, list)):
                    key = str(key)
                out[key] = self.build(value_node, depth + 1)
                out.key_lines[key] = key_node.start_mark.line + first
            return out
        if isinstance(node, yaml.SequenceNode):
            seq = LList(line=line)
            for item in node.value:
                seq.append(self.build(item, depth + 1))
                seq.item_lines.append(item.start_mark.line + first)
            return seq
        try:
            return self.loader.construct_object(node)
        except Exception:  # unknown tags (!Ref, !!python/object...) keep their text, never run
            return node.value


def _check_depth(text: str | bytes, offset: int = 0) -> None:
    """YamlError when the stream nests deeper than MAX_DEPTH (read as events: no recursion)."""
    parser = _Loader(text)
    try:
        depth = 0
        while parser.check_event():
            event = parser.get_event()
            if isinstance(event, (yaml.SequenceStartEvent, yaml.MappingStartEvent)):
                depth += 1
                if depth > MAX_DEPTH:
                    line = event.start_mark.line + 1 + offset if event.start_mark is not None else 0
                    raise YamlError(f"line {line}: nesting deeper than {MAX_DEPTH} levels", line)
            elif isinstance(event, (yaml.SequenceEndEvent, yaml.MappingEndEvent)):
                depth -= 1
    finally:
        parser.dispose()


def load_yaml_documents(text: str | bytes, offset: int = 0) -> list[tuple[Any, int]]:
    """Parse a (multi-document) YAML or JSON stream into (value, first_line) pairs; `offset`: lines
    before the text (a part of a larger file).

    Raises YamlError with a one-line message naming the line on malformed input.
    """
    loader = _Loader(text)
    builder = _Builder(loader, min(MAX_NODES, max(MIN_NODES, NODES_PER_BYTE * len(text))), offset)
    docs: list[tuple[Any, int]] = []
    try:
        if len(text) > DEPTH_CHECK_BYTES:
            _check_depth(text, offset)
        while loader.check_node():
            node = loader.get_node()
            if node is None:
                continue
            docs.append((builder.build(node), node.start_mark.line + 1 + offset))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 + offset if mark is not None else 0
        where = f"line {line}: " if line else ""
        raise YamlError(f"{where}{exc.problem or exc.context or 'invalid YAML'}", line) from None
    except yaml.YAMLError as exc:
        raise YamlError(str(exc).splitlines()[0] if str(exc) else "invalid YAML") from None
    except RecursionError:
        raise YamlError("nesting too deep") from None
    finally:
        loader.dispose()
    return docs


# a document marker: `---` at the start of a line, alone or followed by a space (YAML 1.2, 9.1.2).
# Inside a block or quoted scalar such a line is not allowed either, so it always starts a document.
_DOCUMENT_START = re.compile(rb"(?m)^---(?=[ \t]|\r?$)")


def load_yaml_stream(text: bytes) -> tuple[list[tuple[Any, int]], list[YamlError]]:
    """Like load_yaml_documents, but one broken document costs that document only: the documents
    that parse, and one YamlError per document that does not (`document`: which one, from 1;
    `first_line`: where it starts). Linear: a broken stream is cut at its `---` lines and each part
    is parsed once, its lines offset to the file's."""
    try:
        return load_yaml_documents(text), []
    except YamlError as exc:
        whole_error = exc
    starts = [0] + [m.start() for m in _DOCUMENT_START.finditer(text) if m.start() > 0]
    if len(starts) < 2:
        whole_error.document, whole_error.first_line = 1, 1
        return [], [whole_error]
    docs: list[tuple[Any, int]] = []
    errors: list[YamlError] = []
    offset = 0
    for i, begin in enumerate(starts):
        part = text[begin : starts[i + 1] if i + 1 < len(starts) else len(text)]
        lines = part.count(b"\n")
        try:
            docs.extend(load_yaml_documents(part, offset))
        except YamlError as exc:
            last = offset + max(lines, 1)
            if exc.line > last:  # noticed where the next document starts: the error is this one's end
                message = str(exc).replace(f"line {exc.line}: ", f"line {last}: ", 1) + " (at the end of the document)"
                exc = YamlError(message, last)
            exc.document, exc.first_line = len(docs) + len(errors) + 1, offset + 1
            errors.append(exc)
        offset += lines
    return docs, errors


class Unknown:
    """A value only known at apply/render time (a Terraform expression, a template). Rules never fire
    on it unless they ask with `op: unknown`."""

    __slots__ = ("text",)

    def __init__(self, text: str = "") -> None:
        self.text = text

    def __repr__(self) -> str:
        return f"Unknown({self.text!r})"

    def __reduce__(self) -> tuple:
        return (Unknown, (self.text,))


# --- paths into trees (rules' `field:`) ---------------------------------------------------------

_PART = re.compile(r"([^.\[\]]+)|\[(\*|-?\d+)\]")


@lru_cache(maxsize=4096)
def parse_path(path: str) -> tuple[Any, ...]:
    """`spec.containers[*].name` -> ("spec", "containers", "*", "name")."""
    parts: list[Any] = []
    for name, index in _PART.findall(path):
        if name:
            parts.append(name)
        else:
            parts.append("*" if index == "*" else int(index))
    return tuple(parts)


def field_parts(field: Any) -> tuple[Any, ...]:
    """A rule's `field:` (dotted string, or a list of keys for keys with dots) as path parts."""
    if isinstance(field, str):
        return parse_path(field)
    out: list[Any] = []
    for part in field:
        out.append("*" if part == "[*]" else part)
    return tuple(out)


class Beyond(Unknown):
    """What lies below an unknown value (`dynamic` block, templated map): it may or may not exist."""

    __slots__ = ()

    def __reduce__(self) -> tuple:
        return (Beyond, (self.text,))


def _resolve_one(value: Any, parts: Sequence[Any]) -> list[tuple[Any, int]]:
    """resolve() for a path without `*` (most rule fields): one chain, and the line looked up only
    for the node it ends on."""
    node, parent, key = value, None, None
    for part in parts:
        if isinstance(node, Unknown):  # the path runs into it: what lies below may or may not exist
            node = node if isinstance(node, Beyond) else Beyond(node.text)
            break
        if isinstance(part, int):
            if not (isinstance(node, list) and -len(node) <= part < len(node)):
                return []
            parent, key, node = node, part % len(node), node[part]
        elif isinstance(node, dict) and part in node:
            parent, key, node = node, part, node[part]
        else:
            return []
    if node is None:
        return []
    return [(node, line_of(value) if parent is None else line_of(parent, key))]


def resolve(value: Any, parts: Sequence[Any]) -> list[tuple[Any, int]]:
    """Every value at `parts` below `value`, with its line. A path that runs into an unknown value
    resolves to `Beyond` there, so "missing" is never concluded from what cannot be seen."""
    return _resolve_one(value, parts) if "*" not in parts else _resolve_all(value, parts)


def _resolve_all(value: Any, parts: Sequence[Any]) -> list[tuple[Any, int]]:
    current: list[tuple[Any, int]] = [(value, line_of(value))]
    for part in parts:
        nxt: list[tuple[Any, int]] = []
        for node, line in current:
            if isinstance(node, Unknown):
                nxt.append((node if isinstance(node, Beyond) else Beyond(node.text), line))
            elif part == "*":
                if isinstance(node, list):
                    nxt.extend((item, line_of(node, i)) for i, item in enumerate(node))
                elif isinstance(node, dict):
                    nxt.extend((item, line_of(node, k)) for k, item in node.items())
            elif isinstance(part, int):
                if isinstance(node, list) and -len(node) <= part < len(node):
                    nxt.append((node[part], line_of(node, part % len(node))))
            elif isinstance(node, dict) and part in node:
                nxt.append((node[part], line_of(node, part)))
        current = nxt
        if not current:
            break
    return [(v, ln) for v, ln in current if v is not None]
