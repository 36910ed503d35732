"""Kubernetes documents: parsing, targets, inheritance, relations (both shapes), rendering, the pack."""

from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path

import pytest

from scanner import documents
from scanner.documents import Context, kubernetes
from scanner.documents.tree import line_of
from scanner.engines import policy
from scanner.model import Item
from scanner.rules.loader import load_pack

REPO = Path(__file__).resolve().parent.parent
PACK = REPO / "policies" / "kubernetes.yaml"
RULES = {rule.id: rule for rule in load_pack(PACK)}


def parse(text: str, path: str = "m.yaml"):
    return kubernetes.parse(Item(path, text.encode()))


def scan(files: dict[str, str], rule_ids=None, options=None, root: Path | None = None):
    """Findings of the pack (or of `rule_ids`) over in-memory files, the way the scan runs them."""
    docs, problems = [], []
    for path, text in files.items():
        got, more = documents.parse_item(Item(path, text.encode()))
        docs += got
        problems += more
    docs = documents.finalize(docs)
    docs, more = kubernetes.render(docs, root)
    problems += more
    rules = [RULES[i] for i in rule_ids] if rule_ids else list(RULES.values())
    return policy.run(rules, docs, options or {}), problems


def fired(findings, rule_id=None):
    return sorted((f.path, f.line, f.evidence) for f in findings if rule_id in (None, f.rule_id) and not f.suppression)


def subjects(text: str, target: str, options=None):
    docs, _ = parse(text)
    return list(kubernetes.TARGETS[target](docs, Context(docs, options or {}, {})))


POD = """\
apiVersion: v1
kind: Pod
metadata:
  name: web
  labels: {app: web}
spec:
  containers:
    - name: app
      image: nginx:1.25
"""

NETPOL = """\
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: {name}
spec:
  podSelector: {selector}
"""

# ------------------------------------------------------------------------------------------- parsing


def test_claims_is_a_cheap_byte_test():
    assert kubernetes.claims("a/pod.yaml", POD.encode())
    assert kubernetes.claims("pod.JSON", b'{"apiVersion": "v1", "kind": "Pod"}')
    assert not kubernetes.claims("pod.txt", POD.encode())
    assert not kubernetes.claims("values.yaml", b"image: nginx\n")
    assert kubernetes.claims("chart/Chart.yaml", b"apiVersion: v2\nname: x\n")
    assert kubernetes.claims("overlay/kustomization.yaml", b"resources: [a.yaml]\n")


def test_multi_document_yaml_keeps_lines():
    docs, problems = parse(POD + "---\n" + POD.replace("web", "api"))
    assert problems == []
    assert [(d.value["metadata"]["name"], d.line) for d in docs] == [("web", 1), ("api", 11)]
    containers = docs[1].value["spec"]["containers"]
    assert line_of(containers, 0) == 18 and line_of(containers[0], "image") == 19


def test_yaml_that_is_not_kubernetes_is_not_a_target():
    docs, problems = parse("name: ci\non:\n  push: {}\njobs:\n  build:\n    kind: x\n    apiVersion: y\n", ".github/workflows/ci.yml")
    assert docs == [] and problems == []


def test_list_and_typed_list_items_become_objects():
    text = """\
apiVersion: v1
kind: List
items:
  - apiVersion: v1
    kind: Pod
    metadata: {name: a}
  - apiVersion: v1
    kind: Service
    metadata: {name: b}
---
apiVersion: apps/v1
kind: DeploymentList
items:
  - metadata: {name: c}
    spec: {}
"""
    docs, _ = parse(text)
    assert [(d.value["kind"], d.value["metadata"]["name"], d.line) for d in docs] == [
        ("Pod", "a", 4), ("Service", "b", 7), ("Deployment", "c", 14)]
    assert docs[2].value["apiVersion"] == "apps/v1"


def test_json_with_tabs_parses_with_lines():
    text = '{\n\t"apiVersion": "v1",\n\t"kind": "Pod",\n\t"metadata": {"name": "p"},\n\t"spec": {"hostPID": true}\n}\n'
    docs, problems = parse(text, "pod.json")
    assert problems == [] and docs[0].value["spec"]["hostPID"] is True
    assert line_of(docs[0].value["spec"], "hostPID") == 5


def test_malformed_yaml_is_one_problem_with_the_line_and_the_rest_is_scanned():
    text = POD + "---\napiVersion: v1\nkind: ConfigMap\ndata:\n  k: [unclosed\n  j: v\n---\n" + POD.replace("web", "api")
    docs, problems = parse(text)
    assert [d.value["metadata"]["name"] for d in docs] == ["web", "api"]
    assert len(problems) == 1 and problems[0].line in (14, 15) and problems[0].level == "warning"
    assert "malformed YAML" in problems[0].message and "document 2 of 3, from line 10, skipped" in problems[0].message


def test_malformed_single_document():
    docs, problems = parse("apiVersion: v1\nkind: Pod\nspec: [\n")
    assert docs == [] and len(problems) == 1 and problems[0].line > 0


def test_helm_source_comments_map_documents_to_templates():
    text = "---\n# Source: web/templates/sa.yaml\napiVersion: v1\nkind: ServiceAccount\nmetadata: {name: s}\n" \
           "---\n# Source: web/templates/pod.yaml\n" + POD + "---\napiVersion: v1\nkind: Namespace\nmetadata: {name: n}\n"
    docs, _ = parse(text, "out/rendered.yaml")
    # the rendered file is what exists in the repository: its path and lines stay, the template is named
    assert [d.path for d in docs] == ["out/rendered.yaml"] * 3
    assert [dict(d.meta).get("template") for d in docs] == ["web/templates/sa.yaml", "web/templates/pod.yaml", None]
    findings, _ = scan({"out/rendered.yaml": text}, ["k8s-privilege-escalation"])
    assert fired(findings) == [("out/rendered.yaml", 15, "Pod/web container app")]
    assert findings[0].message.endswith("(from template web/templates/pod.yaml)")


def test_unrendered_chart_templates_are_reported_once_per_chart_not_as_parse_errors(monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda *a, **k: None)
    tpl = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {{ .Release.Name }}\nspec:\n  {{- if .Values.x }}\n"
    files = {"charts/web/Chart.yaml": "apiVersion: v2\nname: web\nversion: 0.1.0\n",
             "charts/web/templates/a.yaml": tpl, "charts/web/templates/b.yaml": tpl,
             "charts/web/charts/sub/Chart.yaml": "apiVersion: v2\nname: sub\nversion: 0.1.0\n",
             "charts/web/charts/sub/templates/c.yaml": tpl,
             "loose/templates/d.yaml": tpl}
    findings, problems = scan(files)
    assert findings == []
    by_path = {p.path: p for p in problems}
    assert set(by_path) == {"charts/web/Chart.yaml", "loose/templates"}
    chart = by_path["charts/web/Chart.yaml"]
    assert chart.level == "warning" and "helm is not on PATH" in chart.message and "3 templated files" in chart.message
    assert "helm template" in chart.message


def test_rendering_with_helm_when_on_path(tmp_path, monkeypatch):
    chart = tmp_path / "charts" / "web"
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text("apiVersion: v2\nname: web\nversion: 0.1.0\n")
    (chart / "templates" / "pod.yaml").write_text("apiVersion: v1\nkind: Pod\nmetadata:\n  name: {{ .Release.Name }}\n")
    rendered = tmp_path / "rendered.yaml"
    rendered.write_text("---\n# Source: web/templates/pod.yaml\n" + POD.replace("containers:", "hostPID: true\n  containers:"))
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "helm"
    fake.write_text(f'#!/bin/sh\necho "$@" > "{tmp_path}/argv"\necho "$HELM_PLUGINS" > "{tmp_path}/plugins"\ncat "{rendered}"\n')
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    files = {p.relative_to(tmp_path).as_posix(): p.read_text() for p in chart.rglob("*") if p.is_file()}
    findings, problems = scan(files, ["k8s-host-pid"], root=tmp_path)
    assert problems == []
    assert fired(findings) == [("charts/web/templates/pod.yaml", 9, "Pod/web")]
    assert (tmp_path / "argv").read_text().split()[:2] == ["template", "release"]
    assert "scanner-noplugins" in (tmp_path / "plugins").read_text()  # user plugins disabled


def test_failed_helm_render_is_reported(tmp_path, monkeypatch):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "helm"
    fake.write_text("#!/bin/sh\necho 'Error: found in Chart.yaml, but missing in charts/ directory: db' >&2\nexit 1\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", str(bin_dir))
    (tmp_path / "Chart.yaml").write_text("apiVersion: v2\nname: web\nversion: 0.1.0\n")
    _, problems = scan({"Chart.yaml": "apiVersion: v2\nname: web\nversion: 0.1.0\n"}, root=tmp_path)
    assert len(problems) == 1 and "missing in charts/ directory" in problems[0].message


KUSTOMIZE = {
    "base/kustomization.yaml": "resources:\n  - deployment.yaml\n",
    "base/deployment.yaml": "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: shop\nspec:\n  selector:\n"
                            "    matchLabels: {app: shop}\n  template:\n    metadata:\n      labels: {app: shop}\n"
                            "    spec:\n      containers:\n        - name: shop\n          image: shop:1.0\n",
    "overlay/kustomization.yaml": "namespace: prod\nresources:\n  - ../base\npatches:\n  - path: patch.yaml\n",
    "overlay/patch.yaml": "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: shop\nspec:\n  template:\n"
                          "    spec:\n      hostPID: true\n",
}


def test_kustomize_without_a_tool_scans_resources_drops_patches_and_says_so(monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda *a, **k: None)
    findings, problems = scan(KUSTOMIZE, ["k8s-host-pid", "k8s-seccomp"])
    assert fired(findings) == [("base/deployment.yaml", 13, "Deployment/shop container shop")]  # patch not an object
    assert [(p.path, p.level) for p in problems] == [("overlay/kustomization.yaml", "warning")]
    assert "kubectl kustomize overlay" in problems[0].message


@pytest.mark.skipif(not (shutil.which("kubectl") or shutil.which("kustomize")), reason="needs kubectl or kustomize")
def test_kustomize_overlay_is_rendered_when_a_tool_is_on_path(tmp_path):
    for path, text in KUSTOMIZE.items():
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text(text)
    findings, problems = scan(KUSTOMIZE, ["k8s-host-pid", "k8s-seccomp"], root=tmp_path)
    assert problems == []
    assert fired(findings) == [("overlay/kustomization.yaml", 1, "Deployment/shop"),
                               ("overlay/kustomization.yaml", 1, "Deployment/shop container shop")]


def test_remote_kustomize_bases_are_never_fetched(tmp_path):
    files = {"kustomization.yaml": "resources:\n  - https://github.com/example/app//deploy?ref=v1\n"}
    _, problems = scan(files, root=tmp_path)
    assert len(problems) == 1 and "never fetched" in problems[0].message


def test_history_scans_do_not_render(monkeypatch):
    docs, _ = kubernetes.parse(Item("c/Chart.yaml", b"apiVersion: v2\nname: c\n"))
    monkeypatch.setattr(shutil, "which", lambda name, *a, **k: "/usr/bin/" + name)
    _, problems = kubernetes.render(docs, "/repo", worktree=False)
    assert "not a working-tree scan" in problems[0].message


# ------------------------------------------------------------------------------------------- targets

WORKLOADS = {
    "Pod": "spec:\n  {spec}",
    "PodTemplate": "template:\n  spec:\n    {spec}",
    "Deployment": "spec:\n  template:\n    spec:\n      {spec}",
    "StatefulSet": "spec:\n  template:\n    spec:\n      {spec}",
    "DaemonSet": "spec:\n  template:\n    spec:\n      {spec}",
    "ReplicaSet": "spec:\n  template:\n    spec:\n      {spec}",
    "ReplicationController": "spec:\n  template:\n    spec:\n      {spec}",
    "Job": "spec:\n  template:\n    spec:\n      {spec}",
    "CronJob": "spec:\n  jobTemplate:\n    spec:\n      template:\n        spec:\n          {spec}",
}


@pytest.mark.parametrize("kind", sorted(WORKLOADS))
def test_every_workload_kind_yields_its_pod_and_containers(kind):
    spec = "containers: [{name: app, image: 'a:1', securityContext: {privileged: true}}]"
    text = f"apiVersion: x/v1\nkind: {kind}\nmetadata:\n  name: w\n" + WORKLOADS[kind].format(spec=spec) + "\n"
    [workload] = subjects(text, "kubernetes.workload")
    assert workload.kind == kind and workload.value["containers"][0]["name"] == "app"
    [container] = subjects(text, "kubernetes.container")
    assert container.label == f"{kind}/w container app"
    assert container.key == f"x/v1/{kind}/default/w/containers/app"
    findings, _ = scan({"w.yaml": text}, ["k8s-privileged"])
    assert len(fired(findings)) == 1


def test_init_and_ephemeral_containers_are_containers():
    text = POD + "  initContainers:\n    - name: init\n      image: b:1\n  ephemeralContainers:\n    - name: dbg\n      image: c:1\n"
    found = subjects(text, "kubernetes.container")
    assert [s.label for s in found] == ["Pod/web container app", "Pod/web container init (initContainer)",
                                        "Pod/web container dbg (ephemeralContainer)"]
    assert [s.value["containerType"] for s in found] == ["container", "initContainer", "ephemeralContainer"]
    assert [s.line for s in found] == [8, 11, 14]


def test_keys_do_not_depend_on_lines():
    before = [s.key for s in subjects(POD, "kubernetes.container")]
    after = [s.key for s in subjects("# a comment\n\n" + POD, "kubernetes.container")]
    assert before == after == ["v1/Pod/default/web/containers/app"]


def test_pod_security_context_is_inherited_unless_overridden_with_lines():
    text = """\
apiVersion: v1
kind: Pod
metadata:
  name: web
  annotations:
    container.seccomp.security.alpha.kubernetes.io/b: localhost/prof.json
    container.apparmor.security.beta.kubernetes.io/a: unconfined
spec:
  hostNetwork: true
  securityContext:
    runAsNonRoot: true
    runAsUser: 1000
    seccompProfile: {type: RuntimeDefault}
    fsGroup: 2000
  containers:
    - name: a
      image: a:1
      securityContext:
        runAsUser: 0
    - name: b
      image: b:1
"""
    a, b = subjects(text, "kubernetes.container")
    sa, sb = a.value["securityContext"], b.value["securityContext"]
    assert sa["runAsUser"] == 0 and line_of(sa, "runAsUser") == 19
    assert sa["runAsNonRoot"] is True and line_of(sa, "runAsNonRoot") == 11
    assert sa["seccompProfile"]["type"] == "RuntimeDefault" and line_of(sa, "seccompProfile") == 13
    assert sa["appArmorProfile"]["type"] == "Unconfined" and line_of(sa, "appArmorProfile") == 7
    assert "fsGroup" not in sa  # pod-only field
    assert sb["runAsUser"] == 1000 and sb["seccompProfile"]["type"] == "Localhost" and line_of(sb, "seccompProfile") == 6
    assert a.value["pod"]["hostNetwork"] is True  # pod-level facts for container rules
    assert a.value["pod"]["metadata"]["name"] == "web"


def test_pod_annotation_seccomp_is_lowest_precedence():
    text = POD.replace("  labels: {app: web}\n", "  annotations:\n    seccomp.security.alpha.kubernetes.io/pod: runtime/default\n")
    [c] = subjects(text, "kubernetes.container")
    assert c.value["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
    findings, _ = scan({"p.yaml": text}, ["k8s-seccomp"])
    assert fired(findings) == []


def test_legacy_annotations_on_the_workload_metadata_count_too():
    text = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  annotations:
    seccomp.security.alpha.kubernetes.io/pod: runtime/default
spec:
  template:
    metadata:
      annotations:
        prometheus.io/scrape: "true"
        container.seccomp.security.alpha.kubernetes.io/b: unconfined
    spec:
      containers:
        - {name: a, image: a:1}
        - {name: b, image: b:1}
"""
    assert fired(scan({"d.yaml": text}, ["k8s-seccomp"])[0]) == [("d.yaml", 12, "Deployment/web container b")]


def test_ignore_annotation_on_object_and_pod_template():
    text = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  annotations:
    scanner.io/ignore: "k8s-host-pid,k8s-privileged node agent, reviewed"
spec:
  template:
    metadata:
      annotations:
        scanner.io/ignore: k8s-writable-root-fs
    spec:
      hostPID: true
      containers:
        - name: app
          image: a:1
          securityContext: {privileged: true}
"""
    findings, _ = scan({"d.yaml": text}, ["k8s-host-pid", "k8s-privileged", "k8s-writable-root-fs", "k8s-seccomp"])
    status = {f.rule_id: f.suppression for f in findings}
    assert status["k8s-host-pid"].reason == "node agent, reviewed" and status["k8s-host-pid"].how == "annotation"
    assert status["k8s-privileged"].reason == "node agent, reviewed"
    assert status["k8s-writable-root-fs"] is not None and status["k8s-seccomp"] is None


def test_parse_ignores_accepts_several_entries():
    assert kubernetes.parse_ignores({"scanner.io/ignore": "A, B why; C\nD because"}) == (
        ("A", "why"), ("B", "why"), ("C", "scanner.io/ignore annotation"), ("D", "because"))
    assert kubernetes.parse_ignores({}) == ()


def test_rbac_rule_subjects_are_per_entry():
    text = "apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata: {name: r, namespace: n}\nrules:\n" \
           "  - {apiGroups: [''], resources: [secrets], verbs: [create]}\n  - {apiGroups: [''], resources: [pods], verbs: [get]}\n"
    found = subjects(text, "kubernetes.rbac-rule")
    assert [(s.label, s.line) for s in found] == [("Role/r rule 1", 5), ("Role/r rule 2", 6)]
    assert found[0].key.startswith("rbac.authorization.k8s.io/v1/Role/n/r/rules/")


# ------------------------------------------------------------------------------------------- relations


@pytest.mark.parametrize("selector, labels, expected", [
    ({}, {}, True),
    (None, {"app": "web"}, True),
    ({"matchLabels": {"app": "web"}}, {"app": "web", "tier": "x"}, True),
    ({"matchLabels": {"app": "web"}}, {"app": "api"}, False),
    ({"matchLabels": {"app": "web"}}, {}, False),
    ({"matchExpressions": [{"key": "tier", "operator": "In", "values": ["a", "b"]}]}, {"tier": "b"}, True),
    ({"matchExpressions": [{"key": "tier", "operator": "In", "values": ["a"]}]}, {}, False),
    ({"matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["a"]}]}, {}, True),
    ({"matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["a"]}]}, {"tier": "a"}, False),
    ({"matchExpressions": [{"key": "tier", "operator": "Exists"}]}, {"tier": ""}, True),
    ({"matchExpressions": [{"key": "tier", "operator": "Exists"}]}, {}, False),
    ({"matchExpressions": [{"key": "tier", "operator": "DoesNotExist"}]}, {}, True),
    ({"matchExpressions": [{"key": "tier", "operator": "DoesNotExist"}]}, {"tier": "a"}, False),
    ({"matchLabels": {"app": "web"}, "matchExpressions": [{"key": "tier", "operator": "Exists"}]}, {"app": "web"}, False),
    ({"matchLabels": {"v": "1"}}, {"v": 1}, True),
    ({"matchExpressions": [{"key": "t", "operator": "Bogus"}]}, {"t": "a"}, False),
])
def test_label_selectors(selector, labels, expected):
    assert kubernetes.selects(selector, labels) is expected


def _netpol(name, selector, namespace=None, extra=""):
    text = NETPOL.format(name=name, selector=selector) + extra
    return text.replace("metadata:\n", f"metadata:\n  namespace: {namespace}\n") if namespace else text


@pytest.mark.parametrize("policy_text, fires", [
    (_netpol("all", "{}"), False),
    (_netpol("web", "{matchLabels: {app: web}}"), False),
    (_netpol("web", "{matchExpressions: [{key: app, operator: In, values: [web]}]}"), False),
    (_netpol("db", "{matchLabels: {app: db}}"), True),
    (_netpol("egress", "{}", extra="  policyTypes: [Egress]\n"), True),
    (_netpol("both", "{}", extra="  policyTypes: [Egress, Ingress]\n"), False),
])
def test_missing_networkpolicy_both_shapes(policy_text, fires):
    findings, _ = scan({"pod.yaml": POD, "np.yaml": policy_text}, ["k8s-networkpolicy-missing"])
    assert fired(findings) == ([("pod.yaml", 6, "Pod/web")] if fires else [])


def test_no_policy_in_the_namespace_is_one_namespace_finding_not_one_per_workload():
    rules = ["k8s-networkpolicy-missing", "k8s-namespace-networkpolicy-missing"]
    elsewhere = _netpol("web", "{matchLabels: {app: web}}", namespace="other")
    for files in ({"pod.yaml": POD}, {"pod.yaml": POD, "np.yaml": elsewhere}):
        findings, _ = scan(files, rules)
        assert [(f.rule_id, f.path, f.line, f.evidence) for f in findings] == [
            ("k8s-namespace-networkpolicy-missing", "pod.yaml", 1, "namespace default")]
        assert "has 1 workload in the scan (Pod/web)" in findings[0].message
    # cluster-complete: the scan is the whole cluster, so each workload is definitely unselected too
    for options in ({"kubernetes.cluster-complete": True}, {"kubernetes": {"cluster-complete": True}}):
        assert fired(scan({"pod.yaml": POD}, ["k8s-networkpolicy-missing"], options)[0]) == [("pod.yaml", 6, "Pod/web")]


NAMESPACE = "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: shop\n"


@pytest.mark.parametrize("spec, default_deny", [
    ("  podSelector: {}\n  policyTypes: [Ingress]\n", True),
    ("  podSelector: {}\n", True),
    ("  podSelector: {matchLabels: {}}\n  policyTypes: [Ingress, Egress]\n  ingress: []\n", True),
    ("  podSelector: {}\n  ingress:\n    - {}\n", False),
    ("  podSelector: {matchLabels: {app: web}}\n  policyTypes: [Ingress]\n", False),
    ("  podSelector: {}\n  policyTypes: [Egress]\n", False),
])
def test_default_deny_detection(spec, default_deny):
    policy_text = "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata:\n  name: p\n  namespace: shop\nspec:\n" + spec
    findings, _ = scan({"ns.yaml": NAMESPACE, "np.yaml": policy_text}, ["k8s-namespace-default-deny"])
    assert bool(fired(findings)) is not default_deny


def test_default_deny_is_judged_where_the_namespace_has_policies():
    other = "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata:\n  name: p\n  namespace: other\nspec:\n  podSelector: {}\n"
    # a default deny in another namespace does not count, and a namespace without any policy is
    # k8s-namespace-networkpolicy-missing's (once, when it has workloads): not reported twice
    assert fired(scan({"ns.yaml": NAMESPACE, "np.yaml": other}, ["k8s-namespace-default-deny"])[0]) == []
    allow = other.replace("other", "shop") + "  ingress:\n    - {}\n"
    assert fired(scan({"ns.yaml": NAMESPACE, "np.yaml": allow}, ["k8s-namespace-default-deny"])[0]) == [
        ("ns.yaml", 1, "Namespace/shop")]


def _relation(name, files, subject_kind, options=None, params=None):
    docs = []
    for path, text in files.items():
        docs += kubernetes.parse(Item(path, text.encode()))[0]
    ctx = Context(docs, options or {}, {})
    subject = next(s for s in kubernetes.TARGETS["kubernetes.object"](docs, ctx) if s.kind == subject_kind)
    return kubernetes.RELATIONS[name](subject, ctx, params or {})


def test_namespace_relation():
    pod = POD.replace("  name: web\n", "  name: web\n  namespace: shop\n")
    assert [s.label for s in _relation("namespace", {"p.yaml": pod, "n.yaml": NAMESPACE}, "Pod")] == ["Namespace/shop"]
    assert _relation("namespace", {"p.yaml": pod}, "Pod") is None  # outside the scan: unknown
    assert _relation("namespace", {"p.yaml": pod}, "Pod", {"kubernetes.cluster-complete": True}) == []


BINDING = """\
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: b, namespace: ci}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: {kind}, name: r}
subjects: [{kind: ServiceAccount, name: ci, namespace: ci}]
"""
ROLE = "apiVersion: rbac.authorization.k8s.io/v1\nkind: {kind}\nmetadata: {{name: r{ns}}}\nrules:\n  - {{apiGroups: ['*'], resources: ['*'], verbs: ['*']}}\n"


@pytest.mark.parametrize("ref_kind, role_kind, ns, found", [
    ("ClusterRole", "ClusterRole", "", True),
    ("Role", "Role", ", namespace: ci", True),
    ("Role", "Role", ", namespace: other", False),  # a Role elsewhere is not this binding's
    ("ClusterRole", "Role", ", namespace: ci", False),
])
def test_role_ref_relation_both_ways(ref_kind, role_kind, ns, found):
    files = {"b.yaml": BINDING.replace("{kind}", ref_kind), "r.yaml": ROLE.format(kind=role_kind, ns=ns)}
    related = _relation("role-ref", files, "RoleBinding")
    assert (related is not None and len(related) == 1) is found
    findings, _ = scan(files, ["k8s-cluster-admin-binding"])
    assert bool(fired(findings)) is found
    if not found:  # outside the scan: unknown, unless the scan is the whole cluster (then: no such role)
        assert related is None
        assert _relation("role-ref", files, "RoleBinding", {"kubernetes.cluster-complete": True}) == []


def test_role_ref_rules_param_returns_rule_entries():
    files = {"b.yaml": BINDING.replace("{kind}", "ClusterRole"), "r.yaml": ROLE.format(kind="ClusterRole", ns="")}
    assert [s.label for s in _relation("role-ref", files, "RoleBinding", params={"rules": True})] == ["ClusterRole/r rule 1"]


def test_service_account_relation_and_automount():
    sa = "apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: web}\nautomountServiceAccountToken: false\n"
    pod = POD.replace("spec:\n", "spec:\n  serviceAccountName: web\n")
    assert fired(scan({"p.yaml": pod, "sa.yaml": sa}, ["k8s-sa-token-automount"])[0]) == []
    assert len(fired(scan({"p.yaml": pod}, ["k8s-sa-token-automount"])[0])) == 1  # SA not in scan: a mitigation we cannot see
    default_pod = fired(scan({"p.yaml": POD, "sa.yaml": sa}, ["k8s-sa-token-automount"])[0])
    assert default_pod == [("p.yaml", 6, "Pod/web")]  # runs as "default", not as "web"


# ------------------------------------------------------------------------------------------- the pack


def _example_cases():
    for rule in RULES.values():
        for label, examples in (("bad", rule.bad), ("good", rule.good)):
            for i, example in enumerate(examples):
                yield pytest.param(rule.id, label, example, id=f"{rule.id}-{label}-{i}")


@pytest.mark.parametrize("rule_id, label, example", list(_example_cases()))
def test_pack_examples(rule_id, label, example):
    findings, problems = scan({example.filename or "example.yaml": example.content}, [rule_id])
    assert problems == []
    found = [f for f in findings if not f.suppression]
    if label == "good":
        assert found == []
        return
    assert found, "bad example produced no finding"
    if example.count is not None:
        assert len(found) == example.count
    if example.line is not None:
        assert found[0].line == example.line


def test_every_rule_has_references_and_tags_and_the_pack_checks():
    policy.check_rules(list(RULES.values()))
    for rule in RULES.values():
        assert rule.references and rule.tags and rule.target.startswith("kubernetes.")
        assert any(t.startswith(("pss:", "cis-k8s:", "nsa-cisa:")) for t in rule.tags) or rule.id == "k8s-image-tag"


def test_relation_rules_document_their_scope():
    assert "kubernetes.cluster-complete" in RULES["k8s-networkpolicy-missing"].description
    assert "--skip k8s-namespace-networkpolicy-missing" in RULES["k8s-namespace-networkpolicy-missing"].description


@pytest.mark.parametrize("field, rule_id", [
    ("securityContext: {privileged: '{{ .Values.p }}'}", "k8s-privileged"),
    ("securityContext: {runAsNonRoot: true, runAsUser: '{{ .Values.uid }}'}", "k8s-run-as-root"),
    ("securityContext: {runAsNonRoot: '${NON_ROOT}'}", "k8s-run-as-root"),
])
def test_template_values_are_unknown_and_never_fire(field, rule_id):
    text = POD.replace("image: nginx:1.25", "image: nginx:1.25\n      " + field)
    assert fired(scan({"p.yaml": text}, [rule_id])[0]) == []


def test_templated_image_is_unknown_but_a_templated_tag_is_a_tag():
    for image in ("'${IMAGE}'", "'{{ .Values.image }}'", "'nginx:{{ .Values.tag }}'", "registry/app:${TAG}"):
        text = POD.replace("image: nginx:1.25", f"image: {image}")
        assert fired(scan({"p.yaml": text}, ["k8s-image-tag"])[0]) == [], image


def test_hostile_shapes_never_crash():
    """Every example of the pack with fields replaced by values of the wrong type: no exception."""
    import copy
    import random

    import yaml

    weird = [None, 1, 0, True, "x", "", [], {}, [1, None, "a"], {"a": None}, [[]], {"matchLabels": [1]}, "*"]
    base = [d for rule in RULES.values() for ex in rule.bad + rule.good for d in yaml.safe_load_all(ex.content) if d]

    def mutate(node, rng):
        if isinstance(node, dict) and node:
            key = rng.choice(list(node))
            if rng.random() < 0.4:
                node[key] = copy.deepcopy(rng.choice(weird))
            else:
                mutate(node[key], rng)
        elif isinstance(node, list) and node:
            i = rng.randrange(len(node))
            if rng.random() < 0.4:
                node[i] = copy.deepcopy(rng.choice(weird))
            else:
                mutate(node[i], rng)

    rng = random.Random(4)
    for _ in range(300):
        stream = [copy.deepcopy(rng.choice(base)) for _ in range(3)]
        for doc in stream:
            for _ in range(rng.randint(1, 3)):
                mutate(doc, rng)
        files = {"f.yaml": yaml.safe_dump_all(stream)}
        scan(files, options={"kubernetes.cluster-complete": rng.random() < 0.5})
