"""Terraform: HCL2 (`.tf`), JSON syntax (`.tf.json`), variable files (`.tfvars`) and plan JSON
(`terraform show -json plan.out`).

Every `.tf`/`.tf.json` file of a folder belongs to one module. Within a module, references to a
variable with a literal default (overridden by `terraform.tfvars` / `*.auto.tfvars` of the same
folder when present), to a literal local, and `data.aws_iam_policy.X.arn` with a literal `arn` are
resolved; every other expression stays `Unknown` and rules never fire on it. `module` blocks with a
local `source` are scanned as the files of that folder; remote sources are reported as an "info"
problem ("not scanned").

Targets (Subject.kind in brackets):

- terraform.resource       every resource [resource type], value = its attributes and nested blocks
                           (blocks as lists, `lifecycle` as a mapping); plan resources included
- terraform.data           data sources [data source type]
- terraform.provider       provider blocks [provider name]
- terraform.variable       variable blocks [variable]
- terraform.iam-statement  every statement of every IAM policy document [carrier: aws_iam_policy,
                           aws_iam_role_policy, aws_iam_user_policy, aws_iam_group_policy, aws_iam_role
                           (inline_policy), trust (assume_role_policy), aws_s3_bucket_policy (also the
                           v3 inline bucket `policy`), aws_kms_key, aws_sqs_queue_policy,
                           aws_sns_topic_policy, aws_ecr_repository_policy,
                           aws_secretsmanager_secret_policy, aws_iam_policy_document (not attached in
                           the scan; "trust" when its only actions are sts:AssumeRole*)]; statement
                           shape in scanner/documents/iam.py
- terraform.ingress-rule   every ingress rule [aws_security_group, aws_default_security_group,
                           aws_security_group_rule (type "ingress"), aws_vpc_security_group_ingress_rule],
                           value: protocol, from_port, to_port, cidrs, public, all_ports, admin_ports
                           (22/3389 inside the range)

Relations:

- referenced-by {type, attribute}: resources of `type` in the same module whose `attribute` refers to
  the subject (`aws_s3_bucket.logs.id`, `.bucket`, `.arn`, with or without an index, or the bucket's
  literal name/ARN); unknown when a candidate's attribute is an expression we cannot follow
- resource-in-scan {type}: every resource of `type` anywhere in the scan (account-wide settings such as
  aws_s3_account_public_access_block, aws_ebs_encryption_by_default)
"""

from __future__ import annotations

import copy
import json
import posixpath
import re
from collections.abc import Iterable, Sequence
from typing import Any, NamedTuple

from scanner.documents import Context, Document, Subject, iam
from scanner.documents.terraform_hcl import Block, HclError, json_blocks, parse_hcl
from scanner.documents.tree import LDict, LList, Unknown, YamlError, load_yaml_documents, wrap
from scanner.model import Item, Problem

_IGNORE = re.compile(r"(?:#|//|/\*)\s*scanner:ignore(?:=([\w.,\-]+))?[ \t:]*([^\n*]*)")


def claims(path: str, data: bytes) -> bool:
    name = path.rsplit("/", 1)[-1]
    if name.endswith((".tf", ".tofu", ".tf.json", ".tofu.json", ".tfvars", ".tfvars.json")):
        return True
    if name.endswith(".json"):
        return b'"format_version"' in data[:4096] and (
            b'"planned_values"' in data or b'"resource_changes"' in data
        )
    return False


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


# -- parsing ------------------------------------------------------------------------------------


def _ignores(text: str) -> list[tuple[int, str, str]]:
    out = []
    if "scanner:ignore" not in text:
        return out
    for m in _IGNORE.finditer(text):
        line = text.count("\n", 0, m.start()) + 1
        reason = m.group(2).strip().rstrip("*/").strip()
        for rule_id in (m.group(1) or "*").split(","):
            out.append((line, rule_id.strip(), reason))
    return out


def parse(item: Item) -> tuple[list[Document], list[Problem]]:
    name = item.path.rsplit("/", 1)[-1]
    text = item.data.decode("utf-8", "replace")
    if name.endswith((".tf", ".tofu", ".tfvars")):
        try:
            blocks = parse_hcl(text)
        except HclError as exc:
            msg = str(exc)
            found = re.match(r"line (\d+)", msg)
            line = int(found.group(1)) if found else 0
            return [], [Problem(item.path, f"cannot parse HCL: {msg}", "warning", line)]
        return _hcl_documents(item, blocks, text, "tfvars" if name.endswith(".tfvars") else "terraform")
    if name.endswith((".tf.json", ".tofu.json", ".tfvars.json")):
        root = _load_json(text)
        if root is None:
            return [], [Problem(item.path, "cannot parse Terraform JSON", "warning")]
        if name.endswith(".tfvars.json"):
            blocks = (
                [
                    Block(
                        "attribute", (k,), _one(root, k), root.key_lines.get(k, 1), root.key_lines.get(k, 1)
                    )
                    for k in root
                ]
                if isinstance(root, LDict)
                else []
            )
            return _hcl_documents(item, blocks, text, "tfvars")
        return _hcl_documents(item, json_blocks(root), text, "terraform")
    root = _load_json(text)
    if not isinstance(root, LDict):
        return [], [Problem(item.path, "cannot parse Terraform plan JSON", "warning")]
    return [Document("terraform-plan", item.path, root, 1, (("ignores", tuple(_ignores(text))),))], []


def _one(root: LDict, key: str) -> LDict:
    out = LDict(line=root.key_lines.get(key, 1))
    out[key] = root[key]
    out.key_lines[key] = root.key_lines.get(key, 1)
    return out


def _load_json(text: str) -> Any:
    try:
        docs = load_yaml_documents(text)
        if len(docs) == 1:
            return docs[0][0]
    except (YamlError, RecursionError):
        pass
    try:
        return wrap(json.loads(text), 1)
    except (ValueError, RecursionError):
        return None


_LOCAL_SOURCE = re.compile(r"^\.{1,2}(/|\\|$)")


def _hcl_documents(
    item: Item, blocks: list[Block], text: str, kind: str
) -> tuple[list[Document], list[Problem]]:
    problems = []
    for b in blocks:
        if b.type == "module":
            src = b.body.get("source")
            if isinstance(src, str) and not _LOCAL_SOURCE.match(src):
                problems.append(
                    Problem(
                        item.path,
                        f"module '{b.labels[0] if b.labels else '?'}' source {src} is remote: not scanned",
                        "info",
                        b.line,
                    )
                )
    meta = (("blocks", tuple(blocks)), ("ignores", tuple(_ignores(text))))
    return [Document(kind, item.path, LList(), 1, meta)], problems


# -- the model of the whole scan ------------------------------------------------------------------


def _meta(doc: Document, key: str, default: Any = ()) -> Any:
    for k, v in doc.meta:
        if k == key:
            return v
    return default


def _block_ignores(doc: Document, start: int, end: int) -> tuple[tuple[str, str], ...]:
    return tuple((rid, reason) for line, rid, reason in _meta(doc, "ignores") if start - 1 <= line <= end)


class Model(NamedTuple):
    items: list[Res]
    by_module: dict[str, list[Res]]
    iam: list[Subject]
    ingress: list[Subject]


_REF = re.compile(r"^\$?\{?\s*(var|local)\.([A-Za-z_][\w-]*)\s*\}?$")
_DATA_ARN = re.compile(r"^\$?\{?\s*data\.aws_iam_policy\.([A-Za-z_][\w-]*)\.arn\s*\}?$")


def _resolve(node: Any, scope: dict[str, Any], depth: int = 0) -> Any:
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
            node[k] = _resolve(node[k], scope, depth + 1)
    elif isinstance(node, LList):
        for i, v in enumerate(node):
            node[i] = _resolve(v, scope, depth + 1)
    return node


def _blocks(value: Any) -> list:
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


def _dynamic_unknowns(body: Any, depth: int = 0) -> Any:
    """A `dynamic "X"` block makes X unknown (unless literal X blocks are there too): a rule must
    not report "no versioning block" when versioning comes from a dynamic block."""
    if not isinstance(body, LDict) or depth > 20:
        return body
    for key, value in list(body.items()):
        if isinstance(value, LList):
            for item in value:
                _dynamic_unknowns(item, depth + 1)
        elif isinstance(value, LDict) and key == "lifecycle":
            _dynamic_unknowns(value, depth + 1)
    for dyn in _blocks(body.get("dynamic")):
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


def _model(documents: Sequence[Document], ctx: Context) -> Model:
    """Every resource of the scan, grouped per module folder; built once per scan (ctx.cache)."""
    if "terraform.model" in ctx.cache:
        return ctx.cache["terraform.model"]
    folders: dict[str, list[Document]] = {}
    for doc in documents:
        if doc.kind in ("terraform", "tfvars"):
            folders.setdefault(posixpath.dirname(doc.path), []).append(doc)
    items: list[Res] = []
    for folder, docs in sorted(folders.items()):
        scope: dict[str, Any] = {}
        tfvars: dict[str, Any] = {}
        for doc in docs:
            for b in _meta(doc, "blocks"):
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
                elif b.type == "attribute" and doc.kind == "tfvars":
                    name = doc.path.rsplit("/", 1)[-1]
                    if name.startswith("terraform.tfvars") or ".auto.tfvars" in name:
                        v = b.body.get(b.labels[0])
                        if _literal(v):
                            tfvars[f"var.{b.labels[0]}"] = v
        scope.update(tfvars)
        for doc in docs:
            if doc.kind != "terraform":
                continue
            for b in _meta(doc, "blocks"):
                if b.type not in ("resource", "data", "provider", "variable", "module"):
                    continue
                body = _dynamic_unknowns(_resolve(b.body, scope)) if b.type != "variable" else b.body
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
                items.append(
                    Res(
                        b.type,
                        rtype,
                        rname,
                        body,
                        doc.path,
                        b.line,
                        folder,
                        address,
                        doc,
                        _block_ignores(doc, b.line, b.end_line),
                    )
                )
    for doc in documents:
        if doc.kind == "terraform-plan":
            items.extend(_plan_items(doc))
    by_module: dict[str, list[Res]] = {}
    for r in items:
        by_module.setdefault(r.module, []).append(r)
    model = Model(items, by_module, [], [])
    model.iam.extend(_iam_subjects(model))
    model.ingress.extend(_ingress_subjects(model))
    ctx.cache["terraform.model"] = model
    return model


# -- plan JSON ------------------------------------------------------------------------------------


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


def _plan_items(doc: Document) -> list[Res]:
    root = _obj(doc.value)
    resources: list[LDict] = []
    _plan_modules(_obj(root.get("planned_values")).get("root_module"), resources)
    changes: dict[str, LDict] = {}
    for rc in _seq(root.get("resource_changes")):
        if isinstance(rc, LDict) and isinstance(rc.get("address"), str):
            changes[rc["address"]] = rc
    refs = _config_refs(root)
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
        mode = "data" if r.get("mode") == "data" else "resource"
        base = re.sub(r"\[[^\]]*\]", "", address)
        module = base.rsplit(f"{'data.' if mode == 'data' else ''}{rtype}.{rname}", 1)[0]
        out.append(
            Res(
                mode,
                rtype,
                rname,
                values,
                doc.path,
                r.line or 1,
                f"plan:{doc.path}:{module}",
                address,
                doc,
                _block_ignores(doc, r.line, r.line),
                tuple(sorted(refs.get(base, {}).items())),
            )
        )
    return out


# -- subjects -------------------------------------------------------------------------------------


def _subject(
    r: Res,
    value: Any = None,
    label: str | None = None,
    line: int | None = None,
    key: str = "",
) -> Subject:
    return Subject(
        value=r.body if value is None else value,
        path=r.path,
        line=r.line if line is None else line,
        label=label or r.address,
        key=f"{r.module}:{r.address}{key}",
        kind=r.type,
        doc=r.doc,
        ignores=r.ignores,
    )


def _by_mode(mode: str) -> Any:
    def target(documents: Sequence[Document], ctx: Context) -> Iterable[Subject]:
        for r in _model(documents, ctx).items:
            if r.mode == mode:
                yield _subject(r)

    return target


_POLICY_ATTRS: dict[str, tuple[tuple[str, str], ...]] = {
    "aws_iam_policy": (("policy", "aws_iam_policy"),),
    "aws_iam_role_policy": (("policy", "aws_iam_role_policy"),),
    "aws_iam_user_policy": (("policy", "aws_iam_user_policy"),),
    "aws_iam_group_policy": (("policy", "aws_iam_group_policy"),),
    "aws_iam_role": (("assume_role_policy", "trust"), ("inline_policy", "aws_iam_role")),
    "aws_s3_bucket_policy": (("policy", "aws_s3_bucket_policy"),),
    "aws_s3_bucket": (("policy", "aws_s3_bucket_policy"),),
    "aws_kms_key": (("policy", "aws_kms_key"),),
    "aws_sqs_queue_policy": (("policy", "aws_sqs_queue_policy"),),
    "aws_sns_topic_policy": (("policy", "aws_sns_topic_policy"),),
    "aws_ecr_repository_policy": (("policy", "aws_ecr_repository_policy"),),
    "aws_secretsmanager_secret_policy": (("policy", "aws_secretsmanager_secret_policy"),),
}
_DOC_REF = re.compile(
    r"^\$?\{?\s*data\.aws_iam_policy_document\.([A-Za-z_][\w-]*)(?:\[[^\]]*\])?\.(?:minified_)?json\s*\}?$"
)


def _iam_subjects(model: Model) -> list[Subject]:
    out: list[Subject] = []
    referenced: set[tuple[str, str]] = set()
    docs_by_module: dict[str, dict[str, Res]] = {}
    for r in model.items:
        if r.mode == "data" and r.type == "aws_iam_policy_document":
            docs_by_module.setdefault(r.module, {})[r.name] = r

    def emit(carrier: Res, source: Res, stmts: list[LDict], kind: str, what: str) -> None:
        for i, s in enumerate(stmts, 1):
            sid = s.get("Sid")
            name = f" {sid}" if isinstance(sid, str) and sid else f" #{i}"
            out.append(
                Subject(
                    value=s,
                    path=source.path,
                    line=s.line or source.line,
                    label=f"{what} statement{name}",
                    key=f"{carrier.module}:{carrier.address}:{what}:{i}",
                    kind=kind,
                    doc=source.doc,
                    ignores=tuple(dict.fromkeys(carrier.ignores + source.ignores)),
                )
            )

    for r in model.items:
        if r.mode != "resource" or r.type not in _POLICY_ATTRS:
            continue
        for attr, kind in _POLICY_ATTRS[r.type]:
            values: list[tuple[Any, int]] = []
            if attr == "inline_policy":
                for block in _blocks(r.body.get("inline_policy")):
                    if isinstance(block, LDict) and "policy" in block:
                        values.append((block["policy"], block.key_lines.get("policy", block.line)))
            elif attr in r.body:
                values.append(
                    (
                        r.body[attr],
                        r.body.key_lines.get(attr, r.line) if isinstance(r.body, LDict) else r.line,
                    )
                )
            for value, line in values:
                if isinstance(value, Unknown):
                    m = _DOC_REF.match(value.text.strip())
                    if m:
                        target = docs_by_module.get(r.module, {}).get(m.group(1))
                        if target is not None:
                            referenced.add((target.module, target.name))
                            emit(
                                r,
                                target,
                                iam.statements_from_blocks(target.body),
                                kind,
                                f"{r.address}.{attr} ({target.address})",
                            )
                        continue
                stmts = iam.statements(value, line)
                if stmts:
                    emit(r, r, stmts, kind, f"{r.address}.{attr}")
    for module, docs in docs_by_module.items():
        for name, r in docs.items():
            if (module, name) in referenced:
                continue
            stmts = iam.statements_from_blocks(r.body)
            for s in stmts:
                actions = s.get("Action")
                trust = (
                    isinstance(actions, LList)
                    and actions
                    and all(isinstance(a, str) and a.lower().startswith("sts:assumerole") for a in actions)
                    and "Principal" in s
                )
                emit(r, r, [s], "trust" if trust else "aws_iam_policy_document", r.address)
    return out


# -- security group ingress -----------------------------------------------------------------------

_PUBLIC = ("0.0.0.0/0", "::/0")
_ADMIN_PORTS = (22, 3389)


def _port(v: Any) -> Any:
    if isinstance(v, bool) or v is None:
        return None
    if isinstance(v, (int, float)):
        return int(v)
    if isinstance(v, str):
        try:
            return int(v)
        except ValueError:
            return None
    return v  # Unknown


def _rule_value(src: LDict, protocol_key: str, cidr_keys: tuple[str, str], line: int) -> LDict:
    """The ingress-rule value of one rule body; the three rule shapes differ only in key names."""
    protocol, from_port, to_port = src.get(protocol_key), src.get("from_port"), src.get("to_port")
    cidrs = _cidr_items(src, cidr_keys)
    out = LDict(line=line)

    def put(k: str, v: Any, ln: int) -> None:
        out[k] = v
        out.key_lines[k] = ln

    kl = src.key_lines
    put("protocol", protocol, kl.get("protocol", kl.get("ip_protocol", line)))
    put("from_port", from_port, kl.get("from_port", line))
    put("to_port", to_port, kl.get("to_port", line))
    cl = LList(line=line)
    unknown_cidr = False
    public_line = 0
    for c, ln in cidrs:
        cl.append(c)
        cl.item_lines.append(ln)
        if isinstance(c, Unknown):
            unknown_cidr = True
        elif isinstance(c, str) and c.strip() in _PUBLIC and not public_line:
            public_line = ln
    put("cidrs", cl, cl.item_lines[0] if cl.item_lines else line)
    put("public", True if public_line else (Unknown("cidr") if unknown_cidr else False), public_line or line)
    proto = str(protocol).lower() if isinstance(protocol, (str, int)) else None
    lo, hi = _port(from_port), _port(to_port)
    if isinstance(protocol, Unknown):
        all_ports, admin = Unknown("protocol"), Unknown("protocol")
    elif proto in ("-1", "all"):
        all_ports, admin = True, LList(_ADMIN_PORTS, line=line)
        admin.item_lines = [line] * len(admin)
    elif proto in ("tcp", "6", "udp", "17"):
        if isinstance(lo, Unknown) or isinstance(hi, Unknown):
            all_ports, admin = Unknown("port"), Unknown("port")
        else:
            lo = 0 if lo is None else lo
            hi = 65535 if hi is None else hi
            if hi < lo:
                lo, hi = hi, lo
            all_ports = lo <= 1 and hi >= 65535
            admin = LList([p for p in _ADMIN_PORTS if lo <= p <= hi], line=line)
            admin.item_lines = [kl.get("from_port", line)] * len(admin)
    else:  # icmp and others: no ports
        all_ports, admin = False, LList(line=line)
    put("all_ports", all_ports, kl.get("protocol", kl.get("ip_protocol", line)))
    put("admin_ports", admin, kl.get("from_port", line))
    return out


def _cidr_items(body: LDict, keys: tuple[str, ...]) -> list[tuple[Any, int]]:
    out: list[tuple[Any, int]] = []
    for key in keys:
        v = body.get(key)
        ln = body.key_lines.get(key, body.line)
        if isinstance(v, LList):
            out.extend((c, v.item_lines[i] if i < len(v.item_lines) else ln) for i, c in enumerate(v))
        elif v is not None:
            out.append((v, ln))
    return out


_INGRESS_KEYS = ("protocol", ("cidr_blocks", "ipv6_cidr_blocks"))
_RULE_RESOURCES = {  # one ingress rule per resource: protocol key and CIDR keys
    "aws_security_group_rule": _INGRESS_KEYS,
    "aws_vpc_security_group_ingress_rule": ("ip_protocol", ("cidr_ipv4", "cidr_ipv6")),
}


def _ingress_subjects(model: Model) -> list[Subject]:
    out: list[Subject] = []
    for r in model.items:
        if r.mode != "resource" or not isinstance(r.body, LDict):
            continue
        b = r.body
        if r.type in ("aws_security_group", "aws_default_security_group"):
            for i, rule in enumerate(_blocks(b.get("ingress"))):
                if isinstance(rule, LDict):
                    line = rule.line or r.line
                    v = _rule_value(rule, *_INGRESS_KEYS, line)
                    label = f"{r.address} ingress #{i + 1}"
                    out.append(_subject(r, v, label=label, line=line, key=f":ingress:{i}"))
        elif r.type in _RULE_RESOURCES:
            if r.type == "aws_security_group_rule" and b.get("type") != "ingress":
                continue
            out.append(_subject(r, _rule_value(b, *_RULE_RESOURCES[r.type], r.line)))
    return out


def _iam_target(documents: Sequence[Document], ctx: Context) -> Iterable[Subject]:
    return list(_model(documents, ctx).iam)


def _ingress_target(documents: Sequence[Document], ctx: Context) -> Iterable[Subject]:
    return list(_model(documents, ctx).ingress)


TARGETS = {
    "terraform.resource": _by_mode("resource"),
    "terraform.data": _by_mode("data"),
    "terraform.provider": _by_mode("provider"),
    "terraform.variable": _by_mode("variable"),
    "terraform.iam-statement": _iam_target,
    "terraform.ingress-rule": _ingress_target,
}


# -- relations ------------------------------------------------------------------------------------


def _find(subject: Subject, ctx: Context) -> Res | None:
    model = _model(ctx.documents, ctx)
    index = ctx.cache.get("terraform.by_key")
    if index is None:
        index = {f"{r.module}:{r.address}": r for r in model.items}
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
            return False  # a plain reference to another resource (any provider: aws_, azurerm_, google_...)
        return None
    if isinstance(value, str):
        return value in names
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
    for other in _model(ctx.documents, ctx).by_module.get(me.module, ()):
        if other.mode != "resource" or other.type not in types or not isinstance(other.body, LDict):
            continue
        plan_refs = dict(other.refs).get(attr)
        result = _refers(other.body.get(attr), me, names, plan_refs)
        if result:
            found.append(_subject(other))
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
        for r in _model(ctx.documents, ctx).items:
            if r.mode == "resource":
                by_type.setdefault(r.type, []).append(r)
        ctx.cache["terraform.by_type"] = by_type
    return [_subject(r) for t in types for r in by_type.get(t, ())]


RELATIONS = {
    "referenced-by": referenced_by,
    "resource-in-scan": resource_in_scan,
}
