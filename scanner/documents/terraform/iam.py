"""IAM policy documents in one statement shape, whatever way Terraform wrote them.

Input shapes: a mapping (from `jsonencode({...})`), a JSON string (quoted or heredoc, with `${...}`
interpolations kept as unknown values), or the `statement` blocks of a `data "aws_iam_policy_document"`.
Output: one `LDict` per statement with

    Sid, Effect ("Allow" when omitted), Action / NotAction (lists), Resource / NotResource (lists),
    Principal / NotPrincipal ("*" or {"AWS": [...], "Service": [...], ...}), Condition
    ({operator: {key: [values]}})

and these derived facts (so rules stay declarative data):

    public_principal   true when Principal is "*" or has "*" among its identifiers
    restricted         true when a Condition really narrows who can use the statement: a key such as
                       source account, org id, source ARN/VPC/IP, external id or OIDC subject, under a
                       positive operator (not StringNotEquals, not ...IfExists), with a value that is
                       not itself a wildcard ("*", "arn:aws:iam::*", "o-*", 0.0.0.0/0 restrict nothing)
    resource_any       true when Resource is "*" (or an ARN of wildcards only, "arn:aws:*:*:*:*")
    has_write_action   true when an action in Action is write or permission management (by its verb:
                       not Get/List/Describe/...), leaving out actions that only support Resource "*"
                       or are conventionally granted on it (cloudwatch:PutMetricData, logs:CreateLogGroup,
                       ec2:CreateNetworkInterface for Lambda in a VPC, ...)
    write_actions      those actions
    has_specific_write true when a write action is left once "*", "service:*" and iam:PassRole are set
                       aside (they have rules of their own: a statement is reported once per problem)
    data_read_actions  actions that read data (objects, secrets, parameters, items, images: DATA_READ),
                       patterns such as "s3:Get*" included, "*" and "service:*" left out
"""

from __future__ import annotations

import json
import re
from typing import Any

from scanner.documents.tree import LDict, LList, Unknown, YamlError, load_yaml_documents, wrap

READ_VERBS = (
    "get",
    "list",
    "describe",
    "head",
    "search",
    "lookup",
    "view",
    "batchget",
    "query",
    "scan",
    "select",
    "filter",
    "detect",
    "preview",
    "estimate",
    "simulate",
    "validate",
    "check",
    "download",
    "read",
    "test",
)
# Write actions that do not support resource-level permissions, or that every runtime role needs on "*".
ONLY_STAR = frozenset(
    a.lower()
    for a in """
    cloudwatch:PutMetricData xray:PutTraceSegments xray:PutTelemetryRecords logs:CreateLogGroup
    logs:CreateLogStream logs:PutLogEvents logs:PutRetentionPolicy ec2:CreateNetworkInterface ec2:DeleteNetworkInterface
    ec2:AssignPrivateIpAddresses ec2:UnassignPrivateIpAddresses ec2:CreateTags kms:CreateKey kms:GenerateRandom
    sts:GetCallerIdentity sts:GetSessionToken sts:DecodeAuthorizationMessage s3:ListAllMyBuckets
    ecr:GetAuthorizationToken ssm:UpdateInstanceInformation ssmmessages:CreateControlChannel
    ssmmessages:CreateDataChannel ssmmessages:OpenControlChannel ssmmessages:OpenDataChannel
    ec2messages:AcknowledgeMessage ec2messages:DeleteMessage ec2messages:FailMessage ec2messages:SendReply
    ec2messages:GetEndpoint ec2messages:GetMessages ds:CreateComputer ses:SendEmail ses:SendRawEmail
    cloudwatch:PutMetricAlarm autoscaling:CompleteLifecycleAction
    """.split()
)
RESTRICTIVE_KEYS = frozenset(
    k.lower()
    for k in """
    aws:SourceArn aws:SourceAccount aws:SourceOwner aws:PrincipalOrgID aws:PrincipalOrgPaths aws:PrincipalAccount
    aws:PrincipalArn aws:SourceVpc aws:SourceVpce aws:SourceIp aws:VpcSourceIp aws:userid aws:username
    aws:SourceOrgID aws:SourceOrgPaths aws:ResourceOrgID aws:PrincipalServiceName sts:ExternalId
    kms:CallerAccount kms:ViaService s3:DataAccessPointAccount s3:DataAccessPointArn aws:CalledVia
    cognito-identity.amazonaws.com:aud token.actions.githubusercontent.com:sub
    """.split()
)
# Read actions that return data rather than metadata and support resource-level permissions: on
# Resource "*" they read every object, secret, parameter, item or image in the account.
DATA_READ = tuple(
    """s3:GetObject s3:GetObjectVersion s3:GetObjectAcl
    secretsmanager:GetSecretValue ssm:GetParameter dynamodb:GetRecords athena:GetQueryResults
    ssm:GetParameters ssm:GetParametersByPath ssm:GetParameterHistory dynamodb:GetItem dynamodb:BatchGetItem
    dynamodb:Query dynamodb:Scan dynamodb:ExportTableToPointInTime ecr:BatchGetImage ecr:GetDownloadUrlForLayer
    logs:GetLogEvents logs:FilterLogEvents kinesis:GetRecords rds:DownloadDBLogFilePortion
    lambda:GetFunction glacier:GetJobOutput backup:GetBackupVaultAccessPolicy""".lower().split()
)
_OIDC_KEY = re.compile(r"^[a-z0-9.\-/]+:(sub|aud|amr)$")

_PLACEHOLDER = "__tfexpr{}__"
_INTERP = re.compile(r"(?<![$%])\$\{(?:[^{}]|\{[^{}]*\})*\}")
_PH = re.compile(r"__tfexpr(\d+)__")


def _shift(node: Any, offset: int) -> Any:
    if isinstance(node, LDict):
        node.line += offset
        for k in node.key_lines:
            node.key_lines[k] += offset
        for v in node.values():
            _shift(v, offset)
    elif isinstance(node, LList):
        node.line += offset
        node.item_lines = [ln + offset for ln in node.item_lines]
        for v in node:
            _shift(v, offset)
    return node


def _restore(node: Any, exprs: list[str]) -> Any:
    if isinstance(node, str) and "__tfexpr" in node:
        return Unknown(_PH.sub(lambda m: exprs[int(m.group(1))], node))
    if isinstance(node, LDict):
        for k in list(node):
            node[k] = _restore(node[k], exprs)
    elif isinstance(node, LList):
        for i, v in enumerate(node):
            node[i] = _restore(v, exprs)
    return node


def load_json_text(text: str, line: int) -> Any:
    """A JSON policy string (maybe with `${...}`) -> LDict with lines (first text line = `line`)."""
    exprs: list[str] = []

    def sub(m: re.Match) -> str:
        exprs.append(m.group(0))
        return _PLACEHOLDER.format(len(exprs) - 1)

    body = _INTERP.sub(sub, text)
    for candidate in (body, re.sub(r"(?<![\"\w])(__tfexpr\d+__)(?![\"\w])", r'"\1"', body)):
        try:
            docs = load_yaml_documents(candidate)
        except (YamlError, RecursionError):
            docs = []
            try:
                docs = [(wrap(json.loads(candidate)), 1)]
            except ValueError:
                continue
        if len(docs) == 1 and isinstance(docs[0][0], LDict):
            return _restore(_shift(docs[0][0], line - 1), exprs)
    return None


def _as_list(value: Any, line: int) -> Any:
    if value is None or (isinstance(value, Unknown) and not _RESOURCE_REF.match(value.text.strip())):
        return value
    if isinstance(value, LList):
        return value
    out = LList([value], line=line)
    out.item_lines = [line]
    return out


def _set(out: LDict, key: str, value: Any, line: int) -> None:
    if value is None:
        return
    out[key] = value
    out.key_lines[key] = line


def _principal(value: Any, line: int) -> Any:
    if isinstance(value, LDict):
        out = LDict(line=value.line or line)
        for k, v in value.items():
            _set(out, k, _as_list(v, value.key_lines.get(k, line)), value.key_lines.get(k, line))
        return out
    return value


def statements_from_json(doc: Any, line: int) -> list[LDict]:
    """Statements of a JSON-shaped policy document (mapping)."""
    if not isinstance(doc, LDict):
        return []
    raw = doc.get("Statement")
    if isinstance(raw, LDict):
        raw_items = [(raw, doc.key_lines.get("Statement", line))]
    elif isinstance(raw, LList):
        raw_items = [
            (s, raw.item_lines[i] if i < len(raw.item_lines) else raw.line) for i, s in enumerate(raw)
        ]
    else:
        return []
    out = []
    for stmt, sline in raw_items:
        if not isinstance(stmt, LDict):
            continue
        s = LDict(line=stmt.line or sline)
        kl = stmt.key_lines
        for key in ("Sid", "Effect"):
            if key in stmt:
                _set(s, key, stmt[key], kl.get(key, s.line))
        for key in ("Action", "NotAction", "Resource", "NotResource"):
            if key in stmt:
                _set(s, key, _as_list(stmt[key], kl.get(key, s.line)), kl.get(key, s.line))
        for key in ("Principal", "NotPrincipal"):
            if key in stmt:
                _set(s, key, _principal(stmt[key], kl.get(key, s.line)), kl.get(key, s.line))
        if "Condition" in stmt:
            _set(s, "Condition", stmt["Condition"], kl.get("Condition", s.line))
        out.append(finish(s))
    return out


def statements_from_blocks(body: LDict) -> list[LDict]:
    """Statements of a `data "aws_iam_policy_document"` body (`statement` blocks)."""
    out = []
    stmts = body.get("statement")
    for stmt in stmts if isinstance(stmts, list) else ():
        if not isinstance(stmt, LDict):
            continue
        s = LDict(line=stmt.line)
        kl = stmt.key_lines
        for src, dst in (("sid", "Sid"), ("effect", "Effect")):
            if src in stmt:
                _set(s, dst, stmt[src], kl.get(src, s.line))
        for src, dst in (
            ("actions", "Action"),
            ("not_actions", "NotAction"),
            ("resources", "Resource"),
            ("not_resources", "NotResource"),
        ):
            if src in stmt:
                _set(s, dst, _as_list(stmt[src], kl.get(src, s.line)), kl.get(src, s.line))
        for src, dst in (("principals", "Principal"), ("not_principals", "NotPrincipal")):
            blocks = stmt.get(src)
            if not isinstance(blocks, LList):
                continue
            pr = LDict(line=kl.get(src, s.line))
            star = False
            for b in blocks:
                if not isinstance(b, LDict):
                    continue
                ptype, ids = b.get("type"), _as_list(b.get("identifiers"), b.line)
                if ptype == "*" and isinstance(ids, LList) and "*" in ids:
                    star = True
                key = ptype if isinstance(ptype, str) else "?"
                existing = pr.get(key)
                if isinstance(existing, LList) and isinstance(ids, LList):
                    existing.extend(ids)
                    existing.item_lines.extend(ids.item_lines)
                else:
                    _set(pr, key, ids, b.line)
            _set(s, dst, "*" if star else pr, kl.get(src, s.line))
        conds = stmt.get("condition")
        if isinstance(conds, LList):
            cond = LDict(line=kl.get("condition", s.line))
            for c in conds:
                if not isinstance(c, LDict):
                    continue
                test, var = c.get("test"), c.get("variable")
                tkey = test if isinstance(test, str) else "?"
                inner = cond.get(tkey)
                if not isinstance(inner, LDict):
                    inner = LDict(line=c.line)
                    _set(cond, tkey, inner, c.line)
                _set(inner, var if isinstance(var, str) else "?", _as_list(c.get("values"), c.line), c.line)
            _set(s, "Condition", cond, kl.get("condition", s.line))
        out.append(finish(s))
    return out


def is_write(action: str) -> bool:
    a = action.strip().lower()
    if a == "*":
        return True
    if ":" not in a:
        return False
    verb = a.split(":", 1)[1]
    if verb.startswith("*") or verb == "":
        return True
    stem = verb.split("*", 1)[0]
    if any(stem.startswith(v) for v in READ_VERBS):
        return False
    if "*" in verb and not stem:
        return True
    return a not in ONLY_STAR


def _pattern(action: str) -> re.Pattern:
    return re.compile("^" + re.escape(action.strip().lower()).replace("\\*", ".*").replace("\\?", ".") + "$")


def reads_data(action: str) -> bool:
    """True when the action (a pattern such as "s3:Get*") covers a data read of DATA_READ."""
    if action.strip() in ("*", "*:*"):
        return False  # that is administrator access: its own rule
    pattern = _pattern(action)
    return any(pattern.match(a) for a in DATA_READ)


def _principal_public(p: Any) -> Any:
    if p is None:
        return False
    if isinstance(p, Unknown):
        return None
    if isinstance(p, str):
        return p.strip() == "*"
    if isinstance(p, LDict):
        unknown = False
        for v in p.values():
            items = v if isinstance(v, list) else [v]
            for item in items:
                if isinstance(item, Unknown):
                    unknown = True
                elif isinstance(item, str) and item.strip() == "*":
                    return True
        return None if unknown else False
    return False


_NEGATED = re.compile(r"(?i)^(ForAnyValue:|ForAllValues:)?(StringNot|ArnNot|NotIpAddress|Null)")
_ACCOUNT_KEYS = frozenset(
    k.lower()
    for k in """aws:SourceAccount aws:SourceOwner aws:PrincipalAccount aws:PrincipalOrgID aws:PrincipalOrgPaths
    aws:SourceOrgID aws:SourceOrgPaths aws:ResourceOrgID kms:CallerAccount aws:SourceVpc aws:SourceVpce
    s3:DataAccessPointAccount""".split()
)


def _wildcard(key: str, value: Any) -> bool:
    """A condition value that matches anyone: it restricts nothing."""
    if not isinstance(value, str):
        return False  # unknown (a reference, a variable): taken as a real restriction
    v = value.strip()
    if not v or re.fullmatch(r"[*?]+", v):
        return True
    if key in ("aws:sourceip", "aws:vpcsourceip"):
        return v in ("0.0.0.0/0", "::/0")
    if key in _ACCOUNT_KEYS:
        return "*" in v
    if v.lower().startswith("arn:"):
        parts = v.split(":")
        if len(parts) < 5:
            return "*" in v
        account, resource = parts[4], ":".join(parts[5:])
        # any account ("arn:aws:iam::*:root"), or every resource of an account-less ARN ("arn:aws:s3:::*")
        return "*" in account or (account == "" and resource.strip("*/") == "")
    return False


def _restricted(cond: Any) -> Any:
    if cond is None:
        return False
    if not isinstance(cond, LDict):
        return None
    for op, inner in cond.items():
        if not isinstance(inner, LDict):
            return None
        if not isinstance(op, str) or _NEGATED.match(op) or op.lower().endswith("ifexists"):
            continue
        for key, values in inner.items():
            k = str(key).lower()
            if not (k in RESTRICTIVE_KEYS or _OIDC_KEY.match(k)):
                continue
            if isinstance(values, Unknown):
                return True
            items = values if isinstance(values, list) else [values]
            if items and not all(_wildcard(k, v) for v in items):
                return True
    return False


_ANY_ARN = re.compile(r"^arn:(\*|aws[\w-]*)(:\*)+$|^arn:(\*|aws[\w-]*):\*:\*?:\*?:\*?:\*$")


def _resource_any(resources: Any) -> Any:
    if resources is None:
        return False
    if isinstance(resources, Unknown):
        return None
    unknown = False
    for r in resources if isinstance(resources, list) else [resources]:
        if isinstance(r, str) and (r.strip() == "*" or _ANY_ARN.match(r.strip())):
            return True
        if isinstance(r, Unknown) and not r.text.strip().lower().startswith("arn:"):
            unknown = True  # a variable or expression; "arn:aws:s3:::${var.bucket}/*" names a resource
    return None if unknown else False


_OWN_RULES = re.compile(r"(?i)^(\*|\*:\*|[a-z0-9-]+:\*|iam:(PassRole|Pass\*|P\*))$")


_RESOURCE_REF = re.compile(
    r"^(?:\$\{)?\s*(?:data\.)?aws_[\w-]+\.[\w-]+(?:\[[^\]]*\])?\.(?:arn|id|bucket|name)\s*\}?(?:/.*)?$"
)


def _known_arns(values: Any) -> None:
    """`aws_s3_bucket.x.arn` (or "${aws_s3_bucket.x.arn}/*") is a specific ARN: never "*"."""
    if isinstance(values, LList):
        for i, v in enumerate(values):
            if isinstance(v, Unknown) and _RESOURCE_REF.match(v.text.strip()):
                text = v.text.strip()
                values[i] = text if text.startswith("${") else "${" + text + "}"


def finish(s: LDict) -> LDict:
    """Default Effect and the derived facts."""
    for key in ("Resource", "NotResource"):
        value = s.get(key)
        if isinstance(value, Unknown) and _RESOURCE_REF.match(value.text.strip()):
            s[key] = _as_list(value, s.key_lines.get(key, s.line))  # one resource's ARN, not a list
    _known_arns(s.get("Resource"))
    _known_arns(s.get("NotResource"))
    if "Effect" not in s:
        _set(s, "Effect", "Allow", s.line)
    aline = s.key_lines.get("Action", s.line)
    actions = s.get("Action")
    writes = LList(line=aline)
    unknown = isinstance(actions, Unknown)
    for i, a in enumerate(actions if isinstance(actions, LList) else ()):
        if isinstance(a, str):
            if is_write(a):
                writes.append(a)
                writes.item_lines.append(actions.item_lines[i] if i < len(actions.item_lines) else aline)
        else:
            unknown = True
    _set(s, "write_actions", writes, aline)
    _set(s, "has_write_action", True if writes else (Unknown("actions") if unknown else False), aline)
    pub = _principal_public(s.get("Principal"))
    _set(
        s,
        "public_principal",
        Unknown("principal") if pub is None else pub,
        s.key_lines.get("Principal", s.line),
    )
    res = _restricted(s.get("Condition"))
    _set(s, "restricted", Unknown("condition") if res is None else res, s.key_lines.get("Condition", s.line))
    rline = s.key_lines.get("Resource", s.line)
    any_resource = _resource_any(s.get("Resource"))
    _set(s, "resource_any", Unknown("resource") if any_resource is None else any_resource, rline)
    specific = any(isinstance(a, str) and not _OWN_RULES.match(a.strip()) for a in writes)
    reads = LList(line=aline)
    for i, a in enumerate(actions if isinstance(actions, LList) else ()):
        if isinstance(a, str) and not _OWN_RULES.match(a.strip()) and reads_data(a):
            reads.append(a)
            reads.item_lines.append(actions.item_lines[i] if i < len(actions.item_lines) else aline)
    _set(s, "data_read_actions", reads, aline)
    _set(s, "has_specific_write", True if specific else (Unknown("actions") if unknown else False), aline)
    return s


def statements(value: Any, line: int) -> list[LDict] | None:
    """Statements of a policy attribute value; None when the value is not a policy we can read."""
    if isinstance(value, LDict):
        return statements_from_json(value, line)
    text = value.text if isinstance(value, Unknown) else value
    if not isinstance(text, str) or "Statement" not in text:
        return None
    stripped = text.lstrip()
    if not stripped.startswith("{"):
        return None
    first = line + 1 if "\n" in text.strip() else line  # a heredoc body starts below its attribute
    doc = load_json_text(text, first)
    if doc is None:
        return None
    return statements_from_json(doc, line)
