"""Admission policies that enforce a Pod Security Standard on a namespace, besides the built-in Pod
Security Admission labels (which kubernetes.yaml's rules read from the Namespace object itself).

A namespace counts as enforced when the scanned files hold, applying to Pods in it and rejecting
(not auditing or warning):

- Kyverno: a `ClusterPolicy` (every namespace its `match`/`exclude` leave) or a `Policy` (its own
  namespace) with a rule `validate.podSecurity.level: baseline|restricted` and the failure action
  `Enforce`: `validate.failureAction` (Kyverno 1.13+) or else `spec.validationFailureAction`, less
  the namespaces a `validationFailureActionOverrides`/`failureActionOverrides` entry sets to Audit.
- Gatekeeper: a constraint of the Pod Security Policy library (`constraints.gatekeeper.sh`, kinds
  `K8sPSP...` such as K8sPSPPrivilegedContainer, or a kind a scanned ConstraintTemplate named
  `k8spsp...` defines) whose `enforcementAction` is `deny` (the default) or a `scoped` deny, and whose
  `match` (kinds, namespaces, excludedNamespaces with `*` globs, namespaceSelector) covers Pods there.
- A `ValidatingAdmissionPolicy` whose validations read pod security fields (privileged, host
  namespaces, hostPath, capabilities, runAsNonRoot, seccomp...) on pods or pod controllers, bound by
  a `ValidatingAdmissionPolicyBinding` with `validationActions: [Deny]` whose namespaceSelector (and
  the policy's) selects the namespace.

- The API server's own Pod Security Admission defaults: an `AdmissionConfiguration` whose `PodSecurity`
  plugin configuration (or a standalone `PodSecurityConfiguration`) sets `defaults.enforce` to
  baseline or restricted, for every namespace not in its `exemptions.namespaces` (a namespace's own
  `enforce` label still wins, and k8s-namespace-psa reads that first).

A namespace the scan does not define has only the label every namespace carries,
`kubernetes.io/metadata.name`, for selectors to match.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Sequence
from typing import Any, NamedTuple

import re2

LEVELS = ("baseline", "restricted")
_POD_KINDS = {"Pod", "Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "ReplicationController", "Job",
              "CronJob", "*"}
_POD_RESOURCES = {"pods", "deployments", "statefulsets", "daemonsets", "replicasets", "replicationcontrollers",
                  "jobs", "cronjobs", "*"}
_PSS_FIELDS = re2.compile(
    r"privileged|hostNetwork|hostPID|hostIPC|hostPath|hostPort|capabilities|runAsNonRoot|runAsUser|"
    r"allowPrivilegeEscalation|seccompProfile|appArmorProfile|procMount|sysctls|seLinuxOptions")


class Enforcer(NamedTuple):
    entry: Any  # the kubernetes._Object of the policy or constraint
    how: str  # e.g. "Kyverno ClusterPolicy/psa (podSecurity restricted, Enforce)"


def _d(value: Any) -> dict:
    return value if isinstance(value, dict) else {}


def _l(value: Any) -> list:
    return value if isinstance(value, list) else []


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _glob_in(namespace: str, patterns: Iterable[Any]) -> bool:
    return any(isinstance(p, str) and fnmatch.fnmatchcase(namespace, p) for p in patterns)


def _selects(selector: Any, labels: dict[str, str]) -> bool:
    from scanner.documents.kubernetes import selects

    return selector is None or selects(selector, labels)


# ------------------------------------------------------------------------------------------- Kyverno


def _kyverno_resources(block: Any) -> list[dict]:
    """The `resources` filters of a match/exclude block (its own, and those of any/all entries)."""
    block = _d(block)
    out = [_d(block.get("resources"))] if "resources" in block else []
    for key in ("any", "all"):
        out.extend(_d(_d(item).get("resources")) for item in _l(block.get(key)))
    return out


def _kyverno_filter_hits(res: dict, namespace: str, labels: dict[str, str], need_kinds: bool = True) -> bool:
    """Whether one `resources` filter covers Pods in the namespace (an exclude filter may leave kinds out)."""
    kinds = [str(k).rsplit("/", 1)[-1] for k in _l(res.get("kinds"))]
    if (kinds or need_kinds) and not any(k in _POD_KINDS for k in kinds):
        return False
    if "namespaces" in res and not _glob_in(namespace, _l(res.get("namespaces"))):
        return False
    return _selects(res.get("namespaceSelector"), labels)


def _kyverno_action(action: Any, overrides: Any, namespace: str, labels: dict[str, str]) -> str:
    for override in _l(overrides):
        override = _d(override)
        if _glob_in(namespace, _l(override.get("namespaces"))) or (
                "namespaceSelector" in override and _selects(override.get("namespaceSelector"), labels)):
            return _text(override.get("action")).lower()
    return _text(action).lower()


def _kyverno(entry: Any, namespace: str, labels: dict[str, str]) -> str | None:
    obj = entry.obj
    if entry.kind == "Policy" and entry.namespace != namespace:
        return None
    spec = _d(obj.get("spec"))
    for rule in _l(spec.get("rules")):
        rule = _d(rule)
        validate = _d(rule.get("validate"))
        level = _text(_d(validate.get("podSecurity")).get("level")).lower()
        if level not in LEVELS:
            continue
        if "failureAction" in validate:
            action = _kyverno_action(validate.get("failureAction"), validate.get("failureActionOverrides"), namespace,
                                     labels)
        else:
            action = _kyverno_action(spec.get("validationFailureAction", "Audit"),
                                     spec.get("validationFailureActionOverrides"), namespace, labels)
        if action != "enforce":
            continue
        if not any(_kyverno_filter_hits(res, namespace, labels) for res in _kyverno_resources(rule.get("match"))):
            continue
        if any(_kyverno_filter_hits(res, namespace, labels, need_kinds=False)
               for res in _kyverno_resources(rule.get("exclude"))):
            continue
        return f"Kyverno {entry.label} (podSecurity {level}, Enforce)"
    return None


# ---------------------------------------------------------------------------------------- Gatekeeper


def _gatekeeper_denies(spec: dict) -> bool:
    action = _text(spec.get("enforcementAction") or "deny").lower()
    if action == "deny":
        return True
    if action == "scoped":
        return any(_text(_d(s).get("action")).lower() == "deny" for s in _l(spec.get("scopedEnforcementActions")))
    return False


def _gatekeeper(entry: Any, namespace: str, labels: dict[str, str], psp_kinds: set[str]) -> str | None:
    obj = entry.obj
    if not (entry.kind.startswith("K8sPSP") or entry.kind in psp_kinds):
        return None
    spec = _d(obj.get("spec"))
    if not _gatekeeper_denies(spec):
        return None
    match = _d(spec.get("match"))
    kinds = _l(match.get("kinds"))
    if kinds and not any(k in _POD_KINDS for item in kinds for k in _l(_d(item).get("kinds"))):
        return None
    if "namespaces" in match and not _glob_in(namespace, _l(match.get("namespaces"))):
        return None
    if _glob_in(namespace, _l(match.get("excludedNamespaces"))):
        return None
    if not _selects(match.get("namespaceSelector"), labels):
        return None
    return f"Gatekeeper {entry.label} (deny)"


# ----------------------------------------------------------------------- ValidatingAdmissionPolicy


def _vap_checks_pods(policy: Any) -> bool:
    spec = _d(policy.obj.get("spec"))
    rules = _l(_d(spec.get("matchConstraints")).get("resourceRules"))
    if not any(r in _POD_RESOURCES for rule in rules for r in _l(_d(rule).get("resources"))):
        return False
    expressions = [_text(_d(v).get("expression")) for v in _l(spec.get("validations"))]
    return any(_PSS_FIELDS.search(e) for e in expressions)


def _vap(binding: Any, policies: dict[str, Sequence[Any]], namespace: str, labels: dict[str, str]) -> str | None:
    spec = _d(binding.obj.get("spec"))
    if "Deny" not in [str(a) for a in _l(spec.get("validationActions"))]:
        return None
    name = _text(spec.get("policyName"))
    from scanner.documents.kubernetes import closest

    found = policies.get(name)
    if not found:
        return None
    policy = closest(found, binding.doc.path)
    if not _vap_checks_pods(policy):
        return None
    if not _selects(_d(spec.get("matchResources")).get("namespaceSelector"), labels):
        return None
    if not _selects(_d(_d(policy.obj.get("spec")).get("matchConstraints")).get("namespaceSelector"), labels):
        return None
    return f"{policy.label} bound by {binding.label} (Deny)"


# ------------------------------------------------------------------- API server PodSecurity defaults


def _psa_defaults(entry: Any, namespace: str) -> str | None:
    obj = entry.obj
    configs = [obj] if entry.kind == "PodSecurityConfiguration" else [
        _d(plugin).get("configuration") for plugin in _l(obj.get("plugins")) if _d(plugin).get("name") == "PodSecurity"]
    for config in configs:
        config = _d(config)
        level = _text(_d(config.get("defaults")).get("enforce")).lower()
        if level in LEVELS and namespace not in [str(n) for n in _l(_d(config.get("exemptions")).get("namespaces"))]:
            return f"{entry.kind} {entry.name or entry.doc.path} (PodSecurity defaults.enforce: {level})"
    return None


# -------------------------------------------------------------------------------------------- all


def enforcers(objects: Sequence[Any], namespace: str, labels: dict[str, str]) -> list[Enforcer]:
    """The admission policies in `objects` that enforce a Pod Security Standard on `namespace`."""
    labels = {"kubernetes.io/metadata.name": namespace, **labels}
    psp_kinds = {_text(_d(_d(_d(_d(e.obj.get("spec")).get("crd")).get("spec")).get("names")).get("kind"))
                 for e in objects if e.kind == "ConstraintTemplate" and e.name.lower().startswith("k8spsp")}
    policies: dict[str, list[Any]] = {}
    for e in objects:
        if e.kind == "ValidatingAdmissionPolicy":
            policies.setdefault(e.name, []).append(e)
    out = []
    for e in objects:
        api = _text(e.obj.get("apiVersion"))
        how = None
        if api.startswith("kyverno.io/") and e.kind in ("ClusterPolicy", "Policy"):
            how = _kyverno(e, namespace, labels)
        elif api.startswith("constraints.gatekeeper.sh/"):
            how = _gatekeeper(e, namespace, labels, psp_kinds)
        elif e.kind == "ValidatingAdmissionPolicyBinding" and api.startswith("admissionregistration.k8s.io/"):
            how = _vap(e, policies, namespace, labels)
        elif e.kind in ("AdmissionConfiguration", "PodSecurityConfiguration"):
            how = _psa_defaults(e, namespace)
        if how:
            out.append(Enforcer(e, how))
    return out


ADMISSION_KINDS = frozenset(("ClusterPolicy", "Policy", "ValidatingAdmissionPolicyBinding", "AdmissionConfiguration",
                             "PodSecurityConfiguration"))


def is_admission_object(entry: Any) -> bool:
    """Whether an object may enforce pod security (cheap test, to index only these)."""
    api = _text(entry.obj.get("apiVersion"))
    return (entry.kind in ADMISSION_KINDS or entry.kind == "ValidatingAdmissionPolicy"
            or entry.kind == "ConstraintTemplate" or api.startswith("constraints.gatekeeper.sh/"))


__all__ = ["enforcers", "is_admission_object", "Enforcer", "LEVELS"]
