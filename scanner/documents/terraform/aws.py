"""AWS-specific targets: IAM policy statements wherever AWS resources carry them, and security group
ingress rules.

- terraform.iam-statement  every statement of every IAM policy document, wherever it is written
                           [kind: the carrier, see _POLICY_ATTRS: identity policies (aws_iam_policy,
                           aws_iam_role_policy, aws_iam_user_policy, aws_iam_group_policy, aws_iam_role
                           inline_policy, aws_ssoadmin_permission_set_inline_policy), trust
                           (assume_role_policy), resource-based policies under the name of their
                           standalone resource (aws_s3_bucket_policy, aws_sqs_queue_policy,
                           aws_sns_topic_policy, aws_kms_key, aws_ecr_repository_policy,
                           aws_secretsmanager_secret_policy, aws_opensearch_domain_policy,
                           aws_efs_file_system_policy, aws_api_gateway_rest_api_policy, aws_glacier_vault,
                           aws_backup_vault_policy, aws_cloudwatch_log_resource_policy), and
                           aws_iam_policy_document when nothing in the scan attaches it ("trust" when its
                           only actions are sts:AssumeRole*)]; statement shape in iam.py
- terraform.ingress-rule   every ingress rule [aws_security_group, aws_default_security_group,
                           aws_security_group_rule (type "ingress"), aws_vpc_security_group_ingress_rule],
                           value: protocol, from_port, to_port, cidrs, public, all_ports, admin_ports
                           (22/3389 inside the range)
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any

from scanner.documents import Context, Document, Subject
from scanner.documents.terraform import iam
from scanner.documents.terraform.evaluate import block_list as _blocks
from scanner.documents.terraform.model import Model, Res, build, owner_of, subject_key, subject_of
from scanner.documents.tree import LDict, LList, Unknown

# Resource type -> (attribute holding a policy document, statement kind rules filter on). Identity
# policies keep their carrier's name; resource-based policies written inline on the resource take the
# name of the standalone policy resource, so one `kinds:` entry covers both shapes.
_POLICY_ATTRS: dict[str, tuple[tuple[str, str], ...]] = {
    # identity policies
    "aws_iam_policy": (("policy", "aws_iam_policy"),),
    "aws_iam_role_policy": (("policy", "aws_iam_role_policy"),),
    "aws_iam_user_policy": (("policy", "aws_iam_user_policy"),),
    "aws_iam_group_policy": (("policy", "aws_iam_group_policy"),),
    "aws_iam_role": (("assume_role_policy", "trust"), ("inline_policy", "aws_iam_role")),
    "aws_ssoadmin_permission_set_inline_policy": (("inline_policy", "aws_ssoadmin_permission_set_inline_policy"),),
    # resource-based policies
    "aws_s3_bucket_policy": (("policy", "aws_s3_bucket_policy"),),
    "aws_s3_bucket": (("policy", "aws_s3_bucket_policy"),),
    "aws_kms_key": (("policy", "aws_kms_key"),),
    "aws_kms_key_policy": (("policy", "aws_kms_key"),),
    "aws_sqs_queue_policy": (("policy", "aws_sqs_queue_policy"),),
    "aws_sqs_queue": (("policy", "aws_sqs_queue_policy"),),
    "aws_sns_topic_policy": (("policy", "aws_sns_topic_policy"),),
    "aws_sns_topic": (("policy", "aws_sns_topic_policy"),),
    "aws_ecr_repository_policy": (("policy", "aws_ecr_repository_policy"),),
    "aws_ecrpublic_repository_policy": (("policy", "aws_ecr_repository_policy"),),
    "aws_secretsmanager_secret_policy": (("policy", "aws_secretsmanager_secret_policy"),),
    "aws_secretsmanager_secret": (("policy", "aws_secretsmanager_secret_policy"),),
    "aws_opensearch_domain_policy": (("access_policies", "aws_opensearch_domain_policy"),),
    "aws_opensearch_domain": (("access_policies", "aws_opensearch_domain_policy"),),
    "aws_elasticsearch_domain_policy": (("access_policies", "aws_opensearch_domain_policy"),),
    "aws_elasticsearch_domain": (("access_policies", "aws_opensearch_domain_policy"),),
    "aws_efs_file_system_policy": (("policy", "aws_efs_file_system_policy"),),
    "aws_api_gateway_rest_api_policy": (("policy", "aws_api_gateway_rest_api_policy"),),
    "aws_api_gateway_rest_api": (("policy", "aws_api_gateway_rest_api_policy"),),
    "aws_glacier_vault": (("access_policy", "aws_glacier_vault"),),
    "aws_backup_vault_policy": (("policy", "aws_backup_vault_policy"),),
    "aws_cloudwatch_log_resource_policy": (("policy_document", "aws_cloudwatch_log_resource_policy"),),
    "aws_s3control_access_point_policy": (("policy", "aws_s3_bucket_policy"),),
    "aws_s3_access_point": (("policy", "aws_s3_bucket_policy"),),
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

    def emit(
        carrier: Res, source: Res, stmts: list[LDict], kind: str, what: str, part: str, first: int = 1
    ) -> None:
        """Subjects for `stmts`, numbered from `first` (their position in the whole document)."""
        for i, s in enumerate(stmts, first):
            sid = s.get("Sid")
            name = f" {sid}" if isinstance(sid, str) and sid else f" #{i}"
            out.append(
                Subject(
                    value=s,
                    path=source.path,
                    line=s.line or source.line,
                    label=f"{what} statement{name}",
                    key=subject_key(carrier.module, f"{carrier.address}:{what}:{i}"),
                    kind=kind,
                    doc=source.doc,
                    ignores=tuple(dict.fromkeys(carrier.ignores + source.ignores)),
                    owner=owner_of(source, f"{part}statement{name}"),
                )
            )

    for r in model.items:
        if r.mode != "resource" or r.type not in _POLICY_ATTRS:
            continue
        for attr, kind in _POLICY_ATTRS[r.type]:
            values: list[tuple[Any, int]] = []
            if attr == "inline_policy" and r.type == "aws_iam_role":
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
                                "",
                            )
                        continue
                stmts = iam.statements(value, line)
                if stmts:
                    emit(r, r, stmts, kind, f"{r.address}.{attr}", f"{attr} ")
    for module, docs in docs_by_module.items():
        for name, r in docs.items():
            if (module, name) in referenced:
                continue
            stmts = iam.statements_from_blocks(r.body)
            for i, s in enumerate(stmts, 1):  # one kind per statement, numbered within the document
                actions = s.get("Action")
                trust = (
                    isinstance(actions, LList)
                    and actions
                    and all(isinstance(a, str) and a.lower().startswith("sts:assumerole") for a in actions)
                    and "Principal" in s
                )
                emit(r, r, [s], "trust" if trust else "aws_iam_policy_document", r.address, "", first=i)
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
                    out.append(subject_of(r, v, part=f"ingress #{i + 1}", line=line, key=f":ingress:{i}"))
        elif r.type in _RULE_RESOURCES:
            if r.type == "aws_security_group_rule" and b.get("type") != "ingress":
                continue
            out.append(subject_of(r, _rule_value(b, *_RULE_RESOURCES[r.type], r.line)))
    return out


def _iam_target(documents: Sequence[Document], ctx: Context) -> Iterable[Subject]:
    if "terraform.iam" not in ctx.cache:
        ctx.cache["terraform.iam"] = _iam_subjects(build(documents, ctx))
    return list(ctx.cache["terraform.iam"])


def _ingress_target(documents: Sequence[Document], ctx: Context) -> Iterable[Subject]:
    if "terraform.ingress" not in ctx.cache:
        ctx.cache["terraform.ingress"] = _ingress_subjects(build(documents, ctx))
    return list(ctx.cache["terraform.ingress"])


TARGETS = {
    "terraform.iam-statement": _iam_target,
    "terraform.ingress-rule": _ingress_target,
}
