"""Evaluate step: where a value is resolved.

- evaluate/modules.py      which folders are root modules and which are reached through `module`
                           calls; the variables of each instance (caller's arguments, tfvars, defaults);
                           `count` / `for_each` over known values
- evaluate/scope.py        what one module instance knows (variables, locals, each, count) and putting
                           it into a block, with the line (and file) that sets each value
- evaluate/expressions.py  HCL expressions: parsed and evaluated when every input is known
- evaluate/functions.py    the Terraform functions it knows (merge, lookup, format...) and value helpers
- here                     `dynamic "X"` blocks make X unknown

Anything not known stays `Unknown`, and rules never fire on it unless they ask.
"""

from __future__ import annotations

from typing import Any

from scanner.documents.terraform.evaluate.modules import File, Instance, instances, iterations
from scanner.documents.terraform.evaluate.scope import Line, Scope, clone, evaluate_body
from scanner.documents.tree import LDict, LList, Unknown

__all__ = [
    "File",
    "Instance",
    "Line",
    "Scope",
    "UnknownBlock",
    "block_list",
    "clone",
    "dynamic_unknowns",
    "evaluate",
    "instances",
    "iterations",
]


def block_list(value: Any) -> list:
    return value if isinstance(value, list) else []


class UnknownBlock(LDict):
    """The content of a `dynamic` block: every field is there and unknown."""

    __slots__ = ()

    def __contains__(self, key: object) -> bool:
        return True

    def __missing__(self, key: Any) -> Unknown:
        return Unknown(f"dynamic block field {key}")

    def get(self, key: Any, default: Any = None) -> Any:
        return self[key]


def dynamic_unknowns(body: Any, depth: int = 0) -> Any:
    """A `dynamic "X"` block makes X unknown (unless literal X blocks are there too): a rule must
    not report "no versioning block" when versioning comes from a dynamic block."""
    if not isinstance(body, LDict) or depth > 20:
        return body
    for key, value in list(body.items()):
        if isinstance(value, LList):
            for item in value:
                dynamic_unknowns(item, depth + 1)
        elif isinstance(value, LDict) and key == "lifecycle":
            dynamic_unknowns(value, depth + 1)
    for dyn in block_list(body.get("dynamic")):
        label = dyn.get("_label") if isinstance(dyn, LDict) else None
        if isinstance(label, str) and label not in body:
            seq = LList([UnknownBlock(line=dyn.line)], line=dyn.line)
            seq.item_lines = [dyn.line]
            body[label] = seq
            body.key_lines[label] = dyn.line
    return body


def evaluate(body: LDict, scope: Scope, path: str) -> LDict:
    """A resource/data/provider/module body with what the scope knows put in (in place)."""
    return dynamic_unknowns(evaluate_body(body, scope, path))
