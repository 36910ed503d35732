"""Kubernetes across files: object identity, references that resolve in the right namespace and
environment, one missing-NetworkPolicy finding per namespace, and pod security enforced by labels,
Kyverno, Gatekeeper or a ValidatingAdmissionPolicy."""

from __future__ import annotations

import pytest

from tests.test_kubernetes import scan

WILD_ROLE = """\
apiVersion: rbac.authorization.k8s.io/v1
kind: {kind}
metadata:
  name: {name}
  namespace: {ns}
rules:
  - apiGroups: ["{group}"]
    resources: ["*"]
    verbs: ["*"]
"""

BINDING = """\
apiVersion: rbac.authorization.k8s.io/v1
kind: {kind}
metadata:
  name: {name}
  namespace: {ns}
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: {ref_kind}
  name: {ref}
subjects:
  - kind: Group
    name: devs
"""


def role(name="ops", kind="ClusterRole", ns="default", group="*"):
    return WILD_ROLE.format(kind=kind, name=name, ns=ns, group=group)


def binding(ref="ops", ref_kind="ClusterRole", kind="ClusterRoleBinding", name="ops", ns="default"):
    return BINDING.format(kind=kind, name=name, ns=ns, ref_kind=ref_kind, ref=ref)


def found(findings, rule_id):
    return sorted((f.path, f.line, f.evidence) for f in findings if f.rule_id == rule_id and not f.suppression)


# ------------------------------------------------------------------------------------------ identity


def test_same_named_cluster_roles_in_different_files_each_get_their_findings():
    files = {f"team-{i}/rbac.yaml": role() for i in range(3)}
    findings, _ = scan(files, ["k8s-rbac-wildcard"])
    assert found(findings, "k8s-rbac-wildcard") == [(f"team-{i}/rbac.yaml", 9, "ClusterRole/ops rule 1") for i in range(3)]
    assert len({f.fingerprint for f in findings}) == 3


def test_the_same_object_twice_in_one_file_is_two_objects_with_two_fingerprints():
    text = role(kind="Role", ns="shop") + "---\n" + role(kind="Role", ns="shop")
    findings, _ = scan({"rbac.yaml": text}, ["k8s-rbac-wildcard"])
    assert [f.line for f in findings] == [9, 19]
    assert len({f.fingerprint for f in findings}) == 2


def test_fingerprints_do_not_move_when_a_document_is_added_above():
    pod = "apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: x\n---\n"
    before, _ = scan({"rbac.yaml": role()}, ["k8s-rbac-wildcard"])
    after, _ = scan({"rbac.yaml": pod + role()}, ["k8s-rbac-wildcard"])
    assert [f.fingerprint for f in before] == [f.fingerprint for f in after]


def test_a_role_binding_resolves_the_role_of_its_own_namespace():
    files = {
        "payments/rbac.yaml": role("editor", "Role", "payments"),
        "search/rbac.yaml": role("editor", "Role", "search", group="apps") + "---\n"
        + binding("editor", "Role", "RoleBinding", "editors", "search"),
    }
    assert found(scan(files, ["k8s-cluster-admin-binding"])[0], "k8s-cluster-admin-binding") == []
    files["payments/rbac.yaml"] += "---\n" + binding("editor", "Role", "RoleBinding", "editors", "payments")
    assert found(scan(files, ["k8s-cluster-admin-binding"])[0], "k8s-cluster-admin-binding") == [
        ("payments/rbac.yaml", 11, "RoleBinding/editors")]


def test_environments_resolve_references_in_their_own_folder_and_say_which_definition():
    files = {
        "overlays/dev/rbac.yaml": role(group="apps") + "---\n" + binding(),
        "overlays/prod/rbac.yaml": role() + "---\n" + binding(),
    }
    findings, _ = scan(files, ["k8s-cluster-admin-binding"])
    assert found(findings, "k8s-cluster-admin-binding") == [("overlays/prod/rbac.yaml", 11, "ClusterRoleBinding/ops")]
    assert ("ClusterRole/ops is defined 2 times (overlays/dev/rbac.yaml:1, overlays/prod/rbac.yaml:1); "
            "used the one at overlays/prod/rbac.yaml:1") in findings[0].message


def test_a_shared_base_role_is_visible_from_every_environment():
    files = {
        "base/role.yaml": role(),
        "overlays/dev/binding.yaml": binding(),
        "overlays/prod/binding.yaml": binding(),
    }
    assert len(found(scan(files, ["k8s-cluster-admin-binding"])[0], "k8s-cluster-admin-binding")) == 2


DEPLOY = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}
  namespace: {ns}
spec:
  template:
    metadata:
      labels: {{app: {name}}}
    spec:
      containers:
        - name: app
          image: app:1.0
"""

NETPOL = """\
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: {name}
  namespace: {ns}
spec:
  podSelector: {{matchLabels: {{app: {app}}}}}
  policyTypes: [Ingress]
"""


def test_a_same_named_network_policy_in_another_environment_does_not_select_this_one():
    files = {
        "env/dev/app.yaml": DEPLOY.format(name="web", ns="shop") + "---\n" + NETPOL.format(name="web", ns="shop", app="web"),
        "env/prod/app.yaml": DEPLOY.format(name="web", ns="shop") + "---\n" + NETPOL.format(name="web", ns="shop", app="web2"),
    }
    findings, _ = scan(files, ["k8s-networkpolicy-missing", "k8s-namespace-networkpolicy-missing"])
    assert [(f.rule_id, f.path) for f in findings] == [("k8s-networkpolicy-missing", "env/prod/app.yaml")]


# ---------------------------------------------------------------------------- missing NetworkPolicy

NAMESPACE = "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {name}\n  labels:\n    pod-security.kubernetes.io/enforce: restricted\n"
NP_RULES = ["k8s-networkpolicy-missing", "k8s-namespace-networkpolicy-missing", "k8s-namespace-default-deny"]


def test_one_finding_per_namespace_on_its_namespace_object_or_first_workload():
    files = {
        "shop/namespace.yaml": NAMESPACE.format(name="shop"),
        "shop/web.yaml": DEPLOY.format(name="web", ns="shop"),
        "shop/api.yaml": DEPLOY.format(name="api", ns="shop"),
        "billing/b.yaml": DEPLOY.format(name="invoices", ns="billing"),
        "billing/a.yaml": DEPLOY.format(name="ledger", ns="billing"),
    }
    findings, _ = scan(files, NP_RULES)
    assert [(f.rule_id, f.path, f.line, f.evidence) for f in findings] == [
        ("k8s-namespace-networkpolicy-missing", "billing/a.yaml", 1, "namespace billing"),
        ("k8s-namespace-networkpolicy-missing", "shop/namespace.yaml", 1, "Namespace/shop"),
    ]
    shop = findings[1].message
    assert "2 workloads in the scan (Deployment/api, Deployment/web)" in shop
    assert "no NetworkPolicy for namespace shop in the 5 Kubernetes files scanned" in shop
    assert len({f.fingerprint for f in findings}) == 2


def test_a_namespace_with_policies_reports_the_workloads_none_selects_not_the_namespace():
    files = {
        "ns.yaml": NAMESPACE.format(name="shop"),
        "web.yaml": DEPLOY.format(name="web", ns="shop"),
        "api.yaml": DEPLOY.format(name="api", ns="shop"),
        "np.yaml": NETPOL.format(name="web", ns="shop", app="web"),
    }
    findings, _ = scan(files, NP_RULES)
    assert sorted((f.rule_id, f.evidence) for f in findings) == [
        ("k8s-namespace-default-deny", "Namespace/shop"),
        ("k8s-networkpolicy-missing", "Deployment/api"),
    ]


def test_the_namespace_rule_can_be_skipped_for_repositories_that_manage_policies_elsewhere(tmp_path):
    from scanner.cli import main

    (tmp_path / "web.yaml").write_text(DEPLOY.format(name="web", ns="shop"))
    rc = main(["scan", str(tmp_path), "--config", "/dev/null", "-q", "--only", "k8s-namespace-networkpolicy-missing"])
    assert rc == 1
    rc = main(["scan", str(tmp_path), "--config", "/dev/null", "-q", "--only", "kubernetes",
               "--skip", "k8s-namespace-networkpolicy-missing,k8s-networkpolicy-missing"])
    assert rc == 1  # other rules still run ...
    rc = main(["scan", str(tmp_path), "--config", "/dev/null", "-q", "--only", "k8s-namespace-networkpolicy-missing",
               "--skip", "k8s-namespace-networkpolicy-missing"])
    assert rc == 0  # ... and this one is off


# ------------------------------------------------------------------------------------- pod security

PLAIN_NS = "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: shop\n  labels: {tier: apps}\n"

KYVERNO = """\
apiVersion: kyverno.io/v1
kind: {kind}
metadata:
  name: psa
  namespace: {ns}
spec:
  {action}
  rules:
    - name: pss
      match:
        any:
          - resources:
              kinds: [{kinds}]
              {scope}
      {exclude}
      validate:
        {rule_action}
        podSecurity:
          level: {level}
"""


def kyverno(kind="ClusterPolicy", ns="kyverno", action="validationFailureAction: Enforce", kinds="Pod", scope="",
            exclude="", rule_action="", level="restricted"):
    return KYVERNO.format(kind=kind, ns=ns, action=action, kinds=kinds, scope=scope, exclude=exclude,
                          rule_action=rule_action, level=level)


GATEKEEPER = """\
apiVersion: constraints.gatekeeper.sh/v1beta1
kind: {kind}
metadata:
  name: c
spec:
  {action}
  match:
    kinds:
      - apiGroups: [""]
        kinds: [{kinds}]
    {scope}
"""


def gatekeeper(kind="K8sPSPPrivilegedContainer", action="", kinds="Pod", scope=""):
    return GATEKEEPER.format(kind=kind, action=action, kinds=kinds, scope=scope)


VAP = """\
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicy
metadata:
  name: pss
spec:
  matchConstraints:
    resourceRules:
      - apiGroups: [""]
        apiVersions: [v1]
        operations: [CREATE, UPDATE]
        resources: [{resources}]
  validations:
    - expression: "{expression}"
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicyBinding
metadata:
  name: pss-binding
spec:
  policyName: pss
  validationActions: [{actions}]
  matchResources:
    namespaceSelector:
      matchLabels: {{tier: {tier}}}
"""


def vap(resources="pods", expression="!has(object.spec.hostPID) || object.spec.hostPID == false", actions="Deny",
        tier="apps"):
    return VAP.format(resources=resources, expression=expression, actions=actions, tier=tier)


@pytest.mark.parametrize("policy_text, enforced", [
    (kyverno(), True),
    (kyverno(level="baseline", kinds="Pod, Deployment"), True),
    (kyverno(action="validationFailureAction: enforce"), True),
    (kyverno(action="validationFailureAction: Audit"), False),
    (kyverno(action=""), False),  # Kyverno's default is Audit
    (kyverno(action="validationFailureAction: Audit", rule_action="failureAction: Enforce"), True),
    (kyverno(rule_action="failureAction: Audit"), False),  # the rule's own action wins
    (kyverno(level="privileged"), False),
    (kyverno(kinds="Service"), False),
    (kyverno(scope="namespaces: [shop-*, shop]"), True),
    (kyverno(scope="namespaces: [billing]"), False),
    (kyverno(scope="namespaceSelector: {matchLabels: {tier: apps}}"), True),
    (kyverno(scope="namespaceSelector: {matchLabels: {tier: lab}}"), False),
    (kyverno(exclude="exclude: {any: [{resources: {namespaces: [shop]}}]}"), False),
    (kyverno(action="validationFailureAction: Enforce\n  validationFailureActionOverrides:\n"
                    "    - {action: Audit, namespaces: [shop]}"), False),
    (kyverno(kind="Policy", ns="shop"), True),
    (kyverno(kind="Policy", ns="billing"), False),  # a namespaced Policy covers its own namespace only
    (gatekeeper(), True),
    (gatekeeper(kind="K8sPSPHostNamespace", action="enforcementAction: deny"), True),
    (gatekeeper(action="enforcementAction: dryrun"), False),
    (gatekeeper(action="enforcementAction: warn"), False),
    (gatekeeper(scope="excludedNamespaces: [kube-system, sh*]"), False),
    (gatekeeper(scope="namespaces: [shop]"), True),
    (gatekeeper(kinds="Service"), False),
    (gatekeeper(kind="K8sRequiredLabels"), False),  # not a pod security constraint
    (vap(), True),
    (vap(actions="Warn, Audit"), False),
    (vap(tier="lab"), False),
    (vap(resources="services"), False),
    (vap(expression="object.metadata.labels.team != ''"), False),  # checks no pod security field
])
def test_namespace_pod_security_enforced_by_an_admission_policy(policy_text, enforced):
    findings, _ = scan({"ns.yaml": PLAIN_NS, "policy.yaml": policy_text}, ["k8s-namespace-psa"])
    assert bool(found(findings, "k8s-namespace-psa")) is not enforced


def test_the_psa_finding_names_what_would_satisfy_it():
    findings, _ = scan({"ns.yaml": PLAIN_NS}, ["k8s-namespace-psa"])
    message = findings[0].message
    for what in ("pod-security.kubernetes.io/enforce", "Kyverno", "Gatekeeper", "ValidatingAdmissionPolicy"):
        assert what in message


def test_workloads_in_a_namespace_the_scan_does_not_define_are_judged_at_low_severity():
    files = {"web.yaml": DEPLOY.format(name="web", ns="shop")}
    findings, _ = scan(files, ["k8s-namespace-psa", "k8s-namespace-psa-no-manifest"])
    assert [(f.rule_id, f.severity, f.evidence) for f in findings] == [
        ("k8s-namespace-psa-no-manifest", "low", "namespace shop")]
    assert "no Namespace manifest in the scan" in findings[0].message
    files["kyverno.yaml"] = kyverno()
    assert scan(files, ["k8s-namespace-psa-no-manifest"])[0] == []
    files["kyverno.yaml"] = kyverno(scope="namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: shop}}")
    assert scan(files, ["k8s-namespace-psa-no-manifest"])[0] == []
    files["ns.yaml"] = PLAIN_NS
    del files["kyverno.yaml"]
    assert [f.rule_id for f in scan(files, ["k8s-namespace-psa", "k8s-namespace-psa-no-manifest"])[0]] == [
        "k8s-namespace-psa"]


ADMISSION_CONFIG = """\
apiVersion: apiserver.config.k8s.io/v1
kind: AdmissionConfiguration
plugins:
  - name: PodSecurity
    configuration:
      apiVersion: pod-security.admission.config.k8s.io/v1
      kind: PodSecurityConfiguration
      defaults:
        enforce: {level}
        enforce-version: latest
      exemptions:
        namespaces: [{exempt}]
"""


@pytest.mark.parametrize("level, exempt, enforced", [
    ("baseline", "kube-system", True),
    ("restricted", "kube-system", True),
    ("privileged", "kube-system", False),
    ("baseline", "shop", False),  # exempted
])
def test_api_server_pod_security_defaults_count(level, exempt, enforced):
    files = {"ns.yaml": PLAIN_NS, "cluster/admission.yaml": ADMISSION_CONFIG.format(level=level, exempt=exempt)}
    findings, _ = scan(files, ["k8s-namespace-psa"])
    assert bool(found(findings, "k8s-namespace-psa")) is not enforced


def test_system_namespaces_are_not_asked_for_a_namespace_manifest():
    files = {"cni.yaml": DEPLOY.format(name="coredns", ns="kube-system")}
    assert scan(files, ["k8s-namespace-psa-no-manifest"])[0] == []
