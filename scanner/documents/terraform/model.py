"""Model step: every resource, data source, provider, variable and module call of the scan, with its
evaluated body (evaluate.py) and where it came from; built once per scan. Also the generic targets
(`terraform.resource`, `.data`, `.provider`, `.variable`) and the relations between resources.
Cloud-specific targets live in a module per cloud (aws.py).

Targets (Subject.kind in brackets):

- terraform.resource       every resource [resource type], value = its attributes and nested blocks
                           (blocks as lists, `lifecycle` as a mapping); plan resources included
- terraform.data           data sources [data source type]
- terraform.provider       provider blocks [provider name]
- terraform.variable       variable blocks [variable]

Relations:

- referenced-by {type, attribute}: resources of `type` in the same module whose `attribute` refers to
  the subject (`aws_s3_bucket.logs.id`, `.bucket`, `.arn`, with or without an index, or the bucket's
  literal name/ARN); unknown when a candidate's attribute is an expression we cannot follow
- resource-in-scan {type}: every resource of `type` anywhere in the scan (account-wide settings such as
  aws_s3_account_public_access_block, aws_ebs_encryption_by_default)
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterable, Sequence
from typing import Any, NamedTuple

from scanner.documents import INSTANCE, Context, Document, Owner, Subject
from scanner.documents.terraform.evaluate import File, Instance, clone, evaluate, instances, iterations
from scanner.documents.terraform.parse.plan import plan_resources
from scanner.documents.tree import LDict, Unknown


class Res(NamedTuple):
    """One resource/data/provider/variable, from HCL or from a plan."""

    mode: str  # "resource", "data", "provider", "variable", "module"
    type: str
    name: str
    body: Any
    path: str
    line: int
    module: str  # folder for HCL; module address for plans ("" = root)
    address: str
    doc: Document
    ignores: tuple[tuple[str, str], ...] = ()
    refs: tuple[tuple[str, tuple[str, ...]], ...] = ()  # plan: attribute -> configuration references
    chain: tuple[str, ...] = ()  # the module calls that reach this resource ("module.db", "module.rds"),
    # after the root module folder when more than one root reaches it ("examples/basic", "module.eks")



def _meta(doc: Document, key: str, default: Any = ()) -> Any:
    for k, v in doc.meta:
        if k == key:
            return v
    return default


def _block_ignores(doc: Document, start: int, end: int) -> tuple[tuple[str, str], ...]:
    return tuple((rid, reason) for line, rid, reason in _meta(doc, "ignores") if start - 1 <= line <= end)


_MODES = ("resource", "data", "provider", "variable", "module")


def _res(
    b: Any, body: Any, doc: Document, inst: Instance, suffix: str, first_only: bool = False, shared_roots: bool = False
) -> Res:
    rtype = b.labels[0] if b.labels else b.type
    rname = b.labels[1] if len(b.labels) > 1 else (b.labels[0] if b.labels else "")
    if b.type == "resource":
        address = f"{rtype}.{rname}"
    elif b.type == "data":
        address = f"data.{rtype}.{rname}"
    elif b.type == "variable":
        rtype, address = "variable", f"var.{rname}"
    elif b.type == "module":
        rtype, address = "module", f"module.{rname}"
    else:
        alias = b.body.get("alias")
        address = f"provider.{rtype}" + (f".{alias}" if isinstance(alias, str) else "")
    return Res(
        b.type,
        rtype,
        rname,
        body,
        doc.path,
        b.line,
        inst.folder if first_only else inst.key,
        address + suffix,
        doc,
        _block_ignores(doc, b.line, b.end_line),
        (),
        () if first_only or not inst.chain else ((inst.root, *inst.chain) if shared_roots else inst.chain),
    )


class Model(NamedTuple):
    items: list[Res]
    by_module: dict[str, list[Res]]


def build(documents: Sequence[Document], ctx: Context) -> Model:
    """Every resource of the scan, per module instance (evaluate/modules.py); built once per scan."""
    if "terraform.model" in ctx.cache:
        return ctx.cache["terraform.model"]
    folders: dict[str, list[Document]] = {}
    for doc in documents:
        if doc.kind in ("terraform", "tfvars"):
            folders.setdefault(posixpath.dirname(doc.path), []).append(doc)
    files = {name: [File(d.path, d.kind, _meta(d, "blocks")) for d in docs] for name, docs in folders.items()}
    every = list(instances(files))
    roots: dict[str, set[str]] = {}
    for inst in every:
        roots.setdefault(inst.folder, set()).add(inst.root)
    seen: set[str] = set()
    items: list[Res] = []
    for inst in every:
        first = inst.folder not in seen
        seen.add(inst.folder)
        for doc in folders[inst.folder]:
            if doc.kind != "terraform":
                continue
            for b in _meta(doc, "blocks"):
                if b.type not in _MODES:
                    continue
                if b.type == "variable":
                    if first:
                        items.append(_res(b, b.body, doc, inst, "", first_only=True))
                    continue
                runs = iterations(b.body, inst.scope) if b.type in ("resource", "data", "module") else [(inst.scope, "")]
                for scope, suffix in runs:
                    body = clone(b.body)
                    shared = len(roots[inst.folder]) > 1
                    items.append(_res(b, evaluate(body, scope, doc.path), doc, inst, suffix, shared_roots=shared))
    for doc in documents:
        if doc.kind == "terraform-plan":
            for pr in plan_resources(doc.value):
                items.append(
                    Res(
                        pr.mode,
                        pr.type,
                        pr.name,
                        pr.values,
                        doc.path,
                        pr.line,
                        f"plan:{doc.path}:{pr.module}",
                        pr.address,
                        doc,
                        _block_ignores(doc, pr.line, pr.line),
                        pr.refs,
                    )
                )
    by_module: dict[str, list[Res]] = {}
    for r in items:
        by_module.setdefault(r.module, []).append(r)
    model = Model(items, by_module)
    ctx.cache["terraform.model"] = model
    return model


# -- subjects -------------------------------------------------------------------------------------


def subject_key(module: str, rest: str) -> str:
    """A subject's key: "<folder>:<address...>", then INSTANCE "<root>:<call chain>" for a module
    instance reached through calls. The part before INSTANCE names the block in the code: the policy
    engine reports a rule once per block and line, however many module calls reach it the same way."""
    folder, _, instance = module.partition("#")
    return f"{folder}:{rest}{INSTANCE}{instance}" if instance else f"{module}:{rest}"


def owner_of(r: Res, part: str = "") -> Owner:
    """The block as the object a subject is part of (`part`: "ingress #1", "" for the block itself)."""
    return Owner(f"{r.address} (via {' → '.join(r.chain)})" if r.chain else r.address, r.line, part)


def subject_of(
    r: Res,
    value: Any = None,
    part: str = "",
    line: int | None = None,
    key: str = "",
) -> Subject:
    owner = owner_of(r, part)
    return Subject(
        value=r.body if value is None else value,
        path=r.path,
        line=r.line if line is None else line,
        label=f"{r.address} {part}" if part else owner.label,
        key=subject_key(r.module, f"{r.address}{key}"),
        kind=r.type,
        doc=r.doc,
        ignores=r.ignores,
        owner=owner,
    )


def _by_mode(mode: str) -> Any:
    def target(documents: Sequence[Document], ctx: Context) -> Iterable[Subject]:
        for r in build(documents, ctx).items:
            if r.mode == mode:
                yield subject_of(r)

    return target


TARGETS = {
    "terraform.resource": _by_mode("resource"),
    "terraform.data": _by_mode("data"),
    "terraform.provider": _by_mode("provider"),
    "terraform.variable": _by_mode("variable"),
}


# -- relations ------------------------------------------------------------------------------------


def _find(subject: Subject, ctx: Context) -> Res | None:
    model = build(ctx.documents, ctx)
    index = ctx.cache.get("terraform.by_key")
    if index is None:
        index = {subject_key(r.module, r.address): r for r in model.items}
        ctx.cache["terraform.by_key"] = index
    return index.get(subject.key)


def _names(r: Res) -> set[str]:
    """Literal names a resource can be referred to by (bucket name and ARN)."""
    out = set()
    for key in ("bucket", "name", "id", "arn"):
        v = r.body.get(key) if isinstance(r.body, LDict) else None
        if isinstance(v, str) and v:
            out.add(v)
            if key == "bucket":
                out.add(f"arn:aws:s3:::{v}")
    return out


def _refers(value: Any, r: Res, names: set[str], plan_refs: tuple[str, ...] | None) -> bool | None:
    base = f"{r.type}.{r.name}" if r.mode == "resource" else f"data.{r.type}.{r.name}"
    if plan_refs:
        return any(
            ref == base or ref.startswith(base + ".") or ref.startswith(base + "[") for ref in plan_refs
        )
    if isinstance(value, Unknown):
        text = value.text
        if re.search(rf"(?<![\w.-]){re.escape(base)}(?![\w-])", text):
            return True
        if re.fullmatch(r"\$?\{?\s*([a-z][a-z0-9]*_[\w-]+)\.[\w-]+(\[[^\]]*\])?\.[\w.\[\]\"-]+\s*\}?", text.strip()):
            return False  # a plain reference to another resource
        return None
    if isinstance(value, str):
        return value in names
    if isinstance(value, list):  # e.g. aws_backup_selection.resources
        found = [_refers(v, r, names, None) for v in value]
        return True if any(found) else (None if None in found else False)
    return False


def referenced_by(subject: Subject, ctx: Context, params: dict) -> list[Subject] | None:
    me = _find(subject, ctx)
    if me is None:
        return []
    rtype, attr = params.get("type"), params.get("attribute", "bucket")
    types = rtype if isinstance(rtype, list) else [rtype]
    names = _names(me)
    unknown = False
    found = []
    for other in build(ctx.documents, ctx).by_module.get(me.module, ()):
        if other.mode != "resource" or other.type not in types or not isinstance(other.body, LDict):
            continue
        plan_refs = dict(other.refs).get(attr)
        result = _refers(other.body.get(attr), me, names, plan_refs)
        if result:
            found.append(subject_of(other))
        elif result is None:
            unknown = True
    if found:
        return found
    return None if unknown else []


def resource_in_scan(subject: Subject, ctx: Context, params: dict) -> list[Subject] | None:
    rtype = params.get("type")
    types = rtype if isinstance(rtype, list) else [rtype]
    by_type = ctx.cache.get("terraform.by_type")
    if by_type is None:
        by_type = {}
        for r in build(ctx.documents, ctx).items:
            if r.mode == "resource":
                by_type.setdefault(r.type, []).append(r)
        ctx.cache["terraform.by_type"] = by_type
    return [subject_of(r) for t in types for r in by_type.get(t, ())]


RELATIONS = {
    "referenced-by": referenced_by,
    "resource-in-scan": resource_in_scan,
}

