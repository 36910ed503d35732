"""The `items` relation, for every document kind (a module of no file type: it claims no file).

`related: items` with `params: {field: PATH}` gives each item of the list (or block list) at PATH of
the subject as a subject of its own, so a `where` condition holds for ONE item at a time. A firewall
with an `allow` block for tcp/443 and another for icmp is not "tcp on every port": with
`allow[*].protocol` and `allow[*].ports` the two leaves could be satisfied by different blocks. A
finding decided inside an item points at the line of the item's field (engines/policy.py). An item
that is not a mapping is wrapped as `{value: ITEM}`; a list only known at apply time makes the
relation unknown.
"""

from __future__ import annotations

from scanner.documents import Context, Subject
from scanner.documents.tree import LDict, Unknown, field_parts, resolve
from scanner.model import Item, Problem


def claims(path: str, data: bytes) -> bool:
    return False


def parse(item: Item) -> tuple[list, list[Problem]]:
    return [], []


def items(subject: Subject, ctx: Context, params: dict) -> list[Subject] | None:
    """Each item of the list at `params.field`; a dynamic block's unknown content is one item."""
    field = params.get("field")
    if not field:
        return []
    out = []
    for value, line in resolve(subject.value, field_parts(field)):
        if isinstance(value, Unknown):
            return None
        seq = value if isinstance(value, list) else [value]
        for i, item in enumerate(seq):
            if not isinstance(item, dict):
                wrapped = LDict(line=line)
                wrapped["value"] = item
                wrapped.key_lines["value"] = line
                item = wrapped
            out.append(subject._replace(value=item, key=f"{subject.key}/{field}[{i}]"))
    return out


TARGETS: dict = {}
RELATIONS = {"items": items}
