"""Parse step, plan JSON: `terraform show -json` output -> resources with their final values.

The plan is the fully resolved path: every value there is what Terraform computed; values known only
after apply (`after_unknown`) become Unknown; resources being deleted are left out; `configuration`
gives the references each attribute was written with (for relations such as referenced-by).
"""

from __future__ import annotations

import re
from typing import Any, NamedTuple

from scanner.documents.tree import LDict, LList, Unknown


class PlanResource(NamedTuple):
    mode: str  # "resource" or "data"
    type: str
    name: str
    values: LDict
    line: int
    module: str  # module address ("" = root)
    address: str
    refs: tuple[tuple[str, tuple[str, ...]], ...]  # attribute -> configuration references

def _obj(value: Any) -> LDict:
    """`value` when it is a mapping, else an empty one: plan JSON from a hostile or broken file may put
    any type where an object is expected."""
    return value if isinstance(value, LDict) else LDict()


def _seq(value: Any) -> list:
    return value if isinstance(value, LList) else []


def _plan_modules(node: Any, out: list[LDict], depth: int = 0) -> None:
    if not isinstance(node, LDict) or depth > 100:
        return
    for r in _seq(node.get("resources")):
        if isinstance(r, LDict):
            out.append(r)
    for child in _seq(node.get("child_modules")):
        _plan_modules(child, out, depth + 1)


# aws_s3_bucket blocks that AWS provider v4+ moved to their own resources: the bucket still reports
# them as computed (unknown in the plan). Not written in the configuration, they are not the user's
# setting, so a rule on the bucket sees them absent and looks for the split resource instead.
_S3_SPLIT = frozenset(
    """versioning server_side_encryption_configuration logging acl grant policy lifecycle_rule cors_rule
    website replication_configuration object_lock_configuration acceleration_status request_payer""".split()
)


def _configured(doc: LDict) -> dict[str, frozenset[str]]:
    """address -> the attributes its configuration writes."""
    out: dict[str, frozenset[str]] = {}

    def walk(mod: Any, prefix: str, depth: int = 0) -> None:
        if not isinstance(mod, LDict) or depth > 100:
            return
        for r in _seq(mod.get("resources")):
            if isinstance(r, LDict) and isinstance(r.get("address"), str):
                out[prefix + r["address"]] = frozenset(_obj(r.get("expressions")))
        for name, call in _obj(mod.get("module_calls")).items():
            if isinstance(call, LDict):
                walk(call.get("module"), f"{prefix}module.{name}.", depth + 1)

    walk(_obj(doc.get("configuration")).get("root_module"), "")
    return out


def _config_refs(doc: LDict) -> dict[str, dict[str, tuple[str, ...]]]:
    """address (module path + type.name) -> attribute -> references, from the configuration section."""
    out: dict[str, dict[str, tuple[str, ...]]] = {}

    def walk(mod: Any, prefix: str, depth: int = 0) -> None:
        if not isinstance(mod, LDict) or depth > 100:
            return
        for r in _seq(mod.get("resources")):
            if not isinstance(r, LDict) or not isinstance(r.get("address"), str):
                continue
            attrs: dict[str, tuple[str, ...]] = {}
            for attr, expr in _obj(r.get("expressions")).items():
                if isinstance(expr, LDict) and isinstance(expr.get("references"), list):
                    attrs[attr] = tuple(str(x) for x in expr["references"])
            out[prefix + r["address"]] = attrs
        for name, call in _obj(mod.get("module_calls")).items():
            if isinstance(call, LDict):
                walk(call.get("module"), f"{prefix}module.{name}.", depth + 1)

    walk(_obj(doc.get("configuration")).get("root_module"), "")
    return out


def _mark_unknown(values: Any, unknown: Any) -> None:
    """Put Unknown where resource_changes says the value is known only after apply."""
    if not isinstance(unknown, (LDict, LList)) or not isinstance(values, (LDict, LList)):
        return
    pairs = unknown.items() if isinstance(unknown, LDict) else enumerate(unknown)
    for key, flag in pairs:
        if flag is True:
            if isinstance(values, LDict):
                values[key] = Unknown("known after apply")
                values.key_lines.setdefault(key, values.line)
            elif isinstance(key, int) and key < len(values):
                values[key] = Unknown("known after apply")
        elif isinstance(flag, (LDict, LList)):
            try:
                _mark_unknown(values[key], flag)
            except (KeyError, IndexError, TypeError):
                pass


def plan_resources(root: Any) -> list[PlanResource]:
    root = _obj(root)
    resources: list[LDict] = []
    _plan_modules(_obj(root.get("planned_values")).get("root_module"), resources)
    changes: dict[str, LDict] = {}
    for rc in _seq(root.get("resource_changes")):
        if isinstance(rc, LDict) and isinstance(rc.get("address"), str):
            changes[rc["address"]] = rc
    refs = _config_refs(root)
    configured = _configured(root)
    out = []
    for r in resources:
        address = r.get("address")
        rtype, rname = r.get("type"), r.get("name")
        if not all(isinstance(x, str) for x in (address, rtype, rname)):
            continue
        values = r.get("values")
        values = values if isinstance(values, LDict) else LDict(line=r.line)
        change = changes.get(address)
        if change is not None:
            actions = _seq(_obj(change.get("change")).get("actions"))
            if "delete" in actions and "create" not in actions:
                continue
            _mark_unknown(values, _obj(change.get("change")).get("after_unknown"))
        values["lifecycle"] = Unknown("lifecycle is not in the plan")
        base_address = re.sub(r"\[[^\]]*\]", "", address)
        if rtype == "aws_s3_bucket":
            for key in _S3_SPLIT - configured.get(base_address, frozenset()):
                if isinstance(values.get(key), Unknown):
                    del values[key]
        mode = "data" if r.get("mode") == "data" else "resource"
        base = re.sub(r"\[[^\]]*\]", "", address)
        module = base.rsplit(f"{'data.' if mode == 'data' else ''}{rtype}.{rname}", 1)[0]
        out.append(
            PlanResource(
                mode, rtype, rname, values, r.line or 1, module, address, tuple(sorted(refs.get(base, {}).items()))
            )
        )
    return out
