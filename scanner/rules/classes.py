"""The mission's five classes of finding, read off a rule: what the HTML report's summary, charts and
filters group by. A rule may say its class with a tag `class:NAME`; otherwise its engine, tags and id
decide, in this order (first match wins)."""

from __future__ import annotations

import re

from scanner.rules.loader import Rule

CLASSES = ("secrets", "containers", "network and pod security", "IAM", "deletion protection", "other")

_BY_WORD: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("IAM", re.compile(r"\biam\b|iam-|rbac|cluster-admin|least-privilege|role-|permission-set|principal")),
    ("secrets", re.compile(r"\bsecrets\b|secret-|credential|password|cwe-798")),
    ("deletion protection", re.compile(r"deletion|prevent-destroy|force-destroy|versioning|snapshot|backup|pitr|"
                                       r"termination|purge|soft-delete|\block\b")),
    ("network and pod security", re.compile(r"networkpolic|network-policy|\bnetwork\b|psa|pod-security|seccomp|"
                                            r"apparmor|namespace|default-deny|sg-|firewall|nsg|public|ingress")),
    ("containers", re.compile(r"k8s-|compose-|dockerfile-|container|privileged|root|capabilit|host-")),
)


def rule_class(rule: Rule) -> str:
    for tag in rule.tags:
        if tag.startswith("class:") and tag[6:] in CLASSES:
            return tag[6:]
    if rule.engine == "secrets":
        return "secrets"
    text = " ".join((rule.id, *rule.tags)).lower()
    for name, pattern in _BY_WORD:
        if pattern.search(text):
            return name
    return "other"
