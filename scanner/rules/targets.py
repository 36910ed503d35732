"""`scanner rules targets`: what a policy rule can name, read off the running code and the packs.

For each target: what a subject is, the `kinds:` values seen, and the fields a `when:` condition can
use, each with one example value. The fields are not a hand-kept list: they are collected by running
the target over every loaded rule's examples, so what is printed is what a condition really sees.
Relations are listed with what they return.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from scanner import documents
from scanner.documents.tree import Unknown
from scanner.model import Item
from scanner.rules.examples import DEFAULT_FILENAME
from scanner.rules.loader import Rule

MAX_DEPTH = 4
MAX_FIELDS = 80

ABOUT = {
    "kubernetes.object": "every Kubernetes object (kinds: its kind)",
    "kubernetes.workload": "the pod spec of every workload kind, plus `metadata` (the pod template's) and "
                           "`workload` (the owning object's kind, apiVersion, metadata)",
    "kubernetes.container": "containers, initContainers and ephemeralContainers of every workload, with the "
                            "effective `securityContext` (pod-level defaults folded in), `pod` and `containerType`",
    "kubernetes.rbac-rule": "one entry of a Role's or ClusterRole's `rules`",
    "compose.service": "one service of a Compose file",
    "dockerfile.stage": "every build stage (kinds: final, intermediate)",
    "dockerfile.final-stage": "the final build stage",
    "dockerfile.instruction": "every instruction (kinds: RUN, COPY, ENV...)",
    "dockerfile.variable": "every variable an ENV or ARG sets (kinds: ENV, ARG)",
    "terraform.resource": "every resource (kinds: its type, e.g. aws_s3_bucket)",
    "terraform.data": "every data source (kinds: its type)",
    "terraform.provider": "every provider block (kinds: the provider name)",
    "terraform.variable": "every input variable",
    "terraform.iam-statement": "one statement of any IAM policy document (kinds: the resource type holding it, "
                               "or `trust` for an assume-role policy)",
    "terraform.ingress-rule": "one ingress rule of a security group, inline or separate",
}
RELATIONS_ABOUT = {
    "networkpolicies-selecting": "NetworkPolicies in the pod's namespace whose podSelector selects it",
    "networkpolicies-in-namespace": "every NetworkPolicy in the subject's namespace",
    "namespace": "the Namespace object of the subject's namespace",
    "role-ref": "the Role/ClusterRole a binding's roleRef names (params {rules: true}: its rbac-rule subjects)",
    "service-account": "the ServiceAccount a pod runs as",
    "referenced-by": "resources of params.type whose params.attribute references the subject",
    "resource-in-scan": "every resource of params.type in the scan",
    "dockerfile.items": "each item of the list at params.field, as a subject of its own",
    "items": "each item of the list at params.field, as a subject of its own (any document kind)",
}


def _flatten(value: Any, prefix: str, out: dict[str, Any], depth: int) -> None:
    if isinstance(value, dict) and depth < MAX_DEPTH and value:
        for key, child in value.items():
            _flatten(child, f"{prefix}.{key}" if prefix else str(key), out, depth + 1)
        return
    if isinstance(value, list) and depth < MAX_DEPTH and value and isinstance(value[0], dict):
        _flatten(value[0], f"{prefix}[*]", out, depth + 1)
        return
    out.setdefault(prefix, value)


def _show(value: Any) -> str:
    if isinstance(value, Unknown):
        return "(known only at apply time)"
    if isinstance(value, dict):
        return "{...}" if value else "{}"
    text = repr(value) if isinstance(value, str) else str(value).lower() if isinstance(value, bool) else str(value)
    if isinstance(value, list):
        text = "[" + ", ".join(_show(v) for v in value[:3]) + (", ...]" if len(value) > 3 else "]")
    return text if len(text) <= 50 else text[:47] + "..."


def collect(rules: Sequence[Rule]) -> dict[str, tuple[dict[str, Any], set[str]]]:
    """target -> (field path -> one example value, kinds seen), from the rules' examples."""
    from scanner.documents import Context

    targets = documents.targets()
    out: dict[str, tuple[dict[str, Any], set[str]]] = {name: ({}, set()) for name in targets}
    for rule in rules:
        if rule.engine != "policy" or rule.target not in targets:
            continue
        fields, kinds = out[rule.target]
        family = rule.target.split(".")[0]
        for example in (*rule.bad, *rule.good):
            name = example.filename or DEFAULT_FILENAME.get(family, "example.yaml")
            try:
                docs, _ = documents.parse_item(Item(name, example.content.encode("utf-8")))
                docs = documents.finalize(docs)
                subjects = list(targets[rule.target](docs, Context(docs, dict(example.options or {}), {})))
            except Exception:  # noqa: BLE001 - a listing, not a check: `rules test` reports broken examples
                continue
            for subject in subjects:
                kinds.add(str(subject.kind))
                _flatten(subject.value, "", fields, 0)
    return out


def describe(rules: Sequence[Rule]) -> str:
    lines: list[str] = []
    for name, (fields, kinds) in sorted(collect(rules).items()):
        lines.append(f"{name}: {ABOUT.get(name, '(no description)')}")
        if kinds:
            shown = sorted(kinds)
            lines.append(f"  kinds seen: {', '.join(shown[:12])}{', ...' if len(shown) > 12 else ''}")
        lines.append("  fields (path = example value):" if fields else "  fields: none seen in the packs' examples")
        for path in sorted(fields)[:MAX_FIELDS]:
            lines.append(f"    {path} = {_show(fields[path])}")
        if len(fields) > MAX_FIELDS:
            lines.append(f"    ... and {len(fields) - MAX_FIELDS} more")
        lines.append("")
    lines.append("relations (for `related: NAME` conditions):")
    for name in sorted(documents.relations()):
        lines.append(f"  {name}: {RELATIONS_ABOUT.get(name, '(no description)')}")
    return "\n".join(lines) + "\n"
