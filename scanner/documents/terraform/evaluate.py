"""Evaluate step: where a value is resolved. Within one module folder, references to a variable
with a literal default (overridden by `terraform.tfvars` / `*.auto.tfvars` of the same folder), to a
literal local, and `data.aws_iam_policy.X.arn` with a literal `arn` (or an AWS managed policy looked
up by `name`) are replaced by their values; every other expression stays `Unknown`, and rules never
fire on it. `dynamic "X"` blocks make X unknown.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Sequence
from typing import Any

from scanner.documents.terraform.parse.hcl import Block
from scanner.documents.tree import LDict, LList, Unknown

_REF = re.compile(r"^\$?\{?\s*(var|local)\.([A-Za-z_][\w-]*)\s*\}?$")
_DATA_ARN = re.compile(r"^\$?\{?\s*data\.aws_iam_policy\.([A-Za-z_][\w-]*)\.arn\s*\}?$")


def resolve(node: Any, scope: dict[str, Any], depth: int = 0) -> Any:
    if isinstance(node, Unknown):
        m = _REF.match(node.text.strip()) or _DATA_ARN.match(node.text.strip())
        if m:
            key = f"{m.group(1)}.{m.group(2)}" if m.re is _REF else f"data_arn.{m.group(1)}"
            if key in scope:
                return copy.deepcopy(scope[key])
        return node
    if depth > 50:
        return node
    if isinstance(node, LDict):
        for k in list(node):
            node[k] = resolve(node[k], scope, depth + 1)
    elif isinstance(node, LList):
        for i, v in enumerate(node):
            node[i] = resolve(v, scope, depth + 1)
    return node


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


def _literal(value: Any) -> bool:
    if isinstance(value, Unknown):
        return False
    if isinstance(value, dict):
        return all(_literal(v) for v in value.values())
    if isinstance(value, list):
        return all(_literal(v) for v in value)
    return True



def module_scope(files: Sequence[tuple[str, str, Sequence[Block]]]) -> dict[str, Any]:
    """The known values of one module folder: (path, document kind, blocks) of each of its files."""
    scope: dict[str, Any] = {}
    tfvars: dict[str, Any] = {}
    for path, kind, blocks in files:
        for b in blocks:
            if b.type == "variable" and b.labels and "default" in b.body and _literal(b.body["default"]):
                scope[f"var.{b.labels[0]}"] = b.body["default"]
            elif b.type == "locals":
                for k, v in b.body.items():
                    if _literal(v):
                        scope[f"local.{k}"] = v
            elif b.type == "data" and b.labels[:1] == ("aws_iam_policy",) and len(b.labels) > 1:
                if isinstance(b.body.get("arn"), str):
                    scope[f"data_arn.{b.labels[1]}"] = b.body["arn"]
                elif isinstance(b.body.get("name"), str):  # an AWS managed policy looked up by name
                    scope[f"data_arn.{b.labels[1]}"] = f"arn:aws:iam::aws:policy/{b.body['name']}"
            elif b.type == "attribute" and kind == "tfvars":
                name = path.rsplit("/", 1)[-1]
                if name.startswith("terraform.tfvars") or ".auto.tfvars" in name:
                    v = b.body.get(b.labels[0])
                    if _literal(v):
                        tfvars[f"var.{b.labels[0]}"] = v
    scope.update(tfvars)
    return scope


def evaluate(body: LDict, scope: dict[str, Any]) -> LDict:
    """A resource/data/provider/module body with what the scope knows put in (in place)."""
    return dynamic_unknowns(resolve(body, scope))
