"""Kubernetes manifests: objects, workloads, containers, and the relations between them.

(Past 600 lines because parsing, the object index and the relations share the index's private shape;
admission policies live in kubernetes_admission.py.)

Parsing
    Multi-document YAML and JSON (`kind: List` and typed `*List` kinds are flattened into their items),
    one `Document` per object, every node with its line. Rendered Helm output in the repository keeps
    its own (real) path and lines and names the template of its `# Source: chart/templates/x.yaml`
    comment in Document.meta ("template"), which findings' messages repeat; output we render ourselves
    from a chart folder maps each object to that template file. YAML without `apiVersion` and `kind` is not
    Kubernetes and yields nothing. Malformed YAML yields one Problem naming the line; the documents of
    the same file that do parse are still scanned.

    Folders that need rendering leave *marker* documents (kinds `kubernetes-chart`,
    `kubernetes-kustomization`, `kubernetes-unrendered`) that no target looks at. `render(documents,
    root)` is the whole-scan step that turns them into objects (`helm template`, `kubectl kustomize` /
    `kustomize build`, when on PATH, plugins disabled) or into one Problem per chart/overlay saying what
    was skipped. `finalize` drops Kustomize patch files (partial objects that would cry wolf).

Targets (Subject.kind is the object's kind everywhere)
    kubernetes.object     every object;
    kubernetes.workload   the pod spec of every workload kind, plus `metadata` (the pod template's)
                          and `workload` (kind, apiVersion, metadata of the owning object);
    kubernetes.container  containers, initContainers and ephemeralContainers, each with an *effective*
                          `securityContext` (pod-level fields inherited unless overridden, legacy
                          seccomp/AppArmor annotations folded in, every value keeping its own line),
                          `pod` (the workload view above) and `containerType`;
    kubernetes.rbac-rule  one subject per entry of a Role's/ClusterRole's `rules`, so a condition over
                          verbs and resources is about one entry, not two different ones;
    kubernetes.namespace  one subject per namespace that has workloads or a Namespace object in the scan,
                          on the Namespace object (else its first workload), with `name`, `defined`,
                          `workloads` (a count), `workloadList` and `files` (Kubernetes files scanned).

Identity: an object is its file, kind, namespace and name (and its occurrence in the file when one
file defines it twice); same-named objects in other files or namespaces are other objects, with their
own findings and fingerprints. A reference (roleRef, serviceAccountName, a namespace, a policy's
selector) resolves in the namespace it means; of several definitions, the nearest the referring file
wins, and a folder that holds one environment's copy of objects another folder defines too
(overlays/dev, overlays/prod) never answers references from outside it. A finding made through such
a choice says which definition it used (`note`).

Relations (None, i.e. unknown, when the other side may simply be outside the scan)
    networkpolicies-selecting   NetworkPolicies in the pod's namespace whose podSelector selects it
                                (unknown when the namespace has none: that is said once per namespace);
    networkpolicies-in-namespace  every NetworkPolicy in the subject's namespace (a Namespace object:
                                its own name); params `any-in-scan: false`: a definite answer even
                                when the scan holds no NetworkPolicy at all;
    pod-security-enforcers      Kyverno, Gatekeeper and ValidatingAdmissionPolicy objects enforcing a
                                Pod Security Standard on the namespace (kubernetes_admission.py);
    namespace                   the Namespace object of the subject's namespace;
    role-ref                    the Role/ClusterRole a binding's roleRef names (params `rules: true`:
                                that role's rbac-rule subjects instead);
    service-account             the ServiceAccount a pod runs as ([] when not in the scan: it is only
                                ever a mitigation).

    NetworkPolicy relations are unknown unless the scan holds at least one NetworkPolicy; the others
    unless their object is found. The option `kubernetes.cluster-complete: true` says the scan is the
    whole cluster: then a missing object is a definite "none".

Suppression: the annotation `scanner.io/ignore: "RULE-ID[,RULE-ID] reason"` on an object (or on a pod
template) applies to every subject of that object. Several entries may be separated by `;` or lines.
"""

from __future__ import annotations

import bisect
import os
import posixpath
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from scanner import plural
from scanner.documents import Context, Document, Owner, Subject
from scanner.documents.kubernetes_admission import enforcers, is_admission_object
from scanner.documents.tree import (
    LDict,
    LList,
    Unknown,
    YamlError,
    line_of,
    load_yaml_documents,
    load_yaml_stream,
)
from scanner.model import Item, Problem

KIND = "kubernetes"
CHART = "kubernetes-chart"
KUSTOMIZATION = "kubernetes-kustomization"
UNRENDERED = "kubernetes-unrendered"

IGNORE_ANNOTATION = "scanner.io/ignore"
CLUSTER_COMPLETE = "kubernetes.cluster-complete"
RENDER_TIMEOUT = 120  # seconds for one `helm template` / `kustomize build`

_SUFFIXES = (".yaml", ".yml", ".json")
_KUSTOMIZATION_NAMES = ("kustomization.yaml", "kustomization.yml", "Kustomization")
_SOURCE = re.compile(rb"(?m)^# Source: ([^\r\n]+?)[ \t]*\r?$")
_TEMPLATE_VALUE = re.compile(r"^\s*(?:\{\{.*\}\}|\$\{[^}]*\}|\$\([^)]*\))\s*$", re.S)
_IGNORE_ENTRY = re.compile(r"^\s*([A-Za-z0-9_.*-]+(?:\s*,\s*[A-Za-z0-9_.*-]+)*)\s*(.*?)\s*$")

POD_SPEC_PATHS: dict[str, tuple[str, ...]] = {
    "Pod": ("spec",),
    "PodTemplate": ("template", "spec"),
    "Deployment": ("spec", "template", "spec"),
    "StatefulSet": ("spec", "template", "spec"),
    "DaemonSet": ("spec", "template", "spec"),
    "ReplicaSet": ("spec", "template", "spec"),
    "ReplicationController": ("spec", "template", "spec"),
    "Job": ("spec", "template", "spec"),
    "CronJob": ("spec", "jobTemplate", "spec", "template", "spec"),
}
CONTAINER_FIELDS = (("containers", "container"), ("initContainers", "initContainer"),
                    ("ephemeralContainers", "ephemeralContainer"))
# Pod-level securityContext fields a container inherits unless it sets them itself.
INHERITED = ("runAsNonRoot", "runAsUser", "runAsGroup", "seccompProfile", "appArmorProfile", "seLinuxOptions",
             "windowsOptions")
CLUSTER_SCOPED = frozenset((
    "Namespace", "Node", "PersistentVolume", "ClusterRole", "ClusterRoleBinding", "StorageClass",
    "CustomResourceDefinition", "PriorityClass", "IngressClass", "RuntimeClass", "APIService", "CSIDriver",
    "CSINode", "VolumeAttachment", "PodSecurityPolicy", "CertificateSigningRequest", "ClusterIssuer",
    "ValidatingWebhookConfiguration", "MutatingWebhookConfiguration", "ValidatingAdmissionPolicy",
    "ValidatingAdmissionPolicyBinding", "FlowSchema", "PriorityLevelConfiguration", "ClusterPolicy",
    "ConstraintTemplate", "AdmissionConfiguration", "PodSecurityConfiguration",
))
_SECCOMP_POD = "seccomp.security.alpha.kubernetes.io/pod"
_SECCOMP_CONTAINER = "container.seccomp.security.alpha.kubernetes.io/"
_APPARMOR_CONTAINER = "container.apparmor.security.beta.kubernetes.io/"


# ----------------------------------------------------------------------------------------- parsing


def _basename(path: str) -> str:
    return path.rsplit("/", 1)[-1]


def _dirname(path: str) -> str:
    return path.rsplit("/", 1)[0] if "/" in path else ""


def _join(base: str, rel: str) -> str:
    return posixpath.normpath(posixpath.join(base, rel)) if base else posixpath.normpath(rel)


def claims(path: str, data: bytes) -> bool:
    name = _basename(path)
    if name == "Chart.yaml" or name in _KUSTOMIZATION_NAMES:
        return True
    if not name.lower().endswith(_SUFFIXES):
        return False
    return b"apiVersion" in data and b"kind" in data


def _chart_root(path: str) -> str | None:
    """The folder holding `templates/` when `path` lies inside one (a Helm chart's templates)."""
    parts = path.split("/")
    for i, part in enumerate(parts[:-1]):
        if part == "templates":
            return "/".join(parts[:i])
    return None


def parse(item: Item) -> tuple[list[Document], list[Problem]]:
    name = _basename(item.path)
    if name == "Chart.yaml":
        return _marker(item, CHART)
    if name in _KUSTOMIZATION_NAMES:
        return _marker(item, KUSTOMIZATION)
    root = _chart_root(item.path)
    if root is not None and b"{{" in item.data:
        # A template before rendering: reported once per chart by render(), never as a parse error.
        return [Document(UNRENDERED, item.path, None, 1, (("chart", root),))], []
    return parse_text(item.data, item.path, json=name.lower().endswith(".json"))


def _marker(item: Item, kind: str) -> tuple[list[Document], list[Problem]]:
    try:
        loaded = load_yaml_documents(item.data)
    except YamlError as exc:
        return [], [_yaml_problem(item.path, exc, "")]
    value = loaded[0][0] if loaded and isinstance(loaded[0][0], LDict) else LDict(line=1)
    return [Document(kind, item.path, value, 1, (("dir", _dirname(item.path)),))], []


def _yaml_problem(path: str, error: YamlError, extra: str) -> Problem:
    message = str(error)
    hint = " (an unrendered template? scan the rendered output)" if "{{" in message else ""
    return Problem(path, f"malformed YAML, skipped by Kubernetes rules: {message}{hint}{extra}", "warning", error.line)


def parse_text(data: bytes, path: str, json: bool = False, source_base: str | None = None,
               meta: tuple[tuple[str, Any], ...] = ()) -> tuple[list[Document], list[Problem]]:
    """Kubernetes objects in one YAML/JSON stream. Rendered Helm output found in the repository keeps
    its own path and lines (they are real) and names the `# Source:` template in Document.meta;
    `source_base`: rendered by us, so `# Source:` paths are chart-relative
    (`name/templates/x.yaml` -> `<source_base>/templates/x.yaml`) and findings go to the template."""
    if json:
        data = data.replace(b"\t", b" ")  # JSON may indent with tabs; strings cannot hold raw tabs
    loaded, errors = load_yaml_stream(data)  # one broken document costs that document only
    total = len(loaded) + len(errors)
    problems = [_yaml_problem(path, e, f" (document {e.document} of {total}, from line {e.first_line}, skipped; "
                              "the others are checked)" if total > 1 else "") for e in errors]  # fmt: skip
    if b"{{" in data or b"${" in data or b"$(" in data:
        for value, _ in loaded:
            _mark_templates(value)
    sources = [(data.count(b"\n", 0, m.start()) + 1, m.group(1).decode("utf-8", "replace"))
               for m in _SOURCE.finditer(data)] if b"# Source:" in data else []
    source_lines = [line for line, _ in sources]
    docs: list[Document] = []
    previous_start = 0
    for value, start in loaded:
        doc_path, doc_meta = path, meta
        if sources:
            i = bisect.bisect_left(source_lines, start) - 1
            if i >= 0 and source_lines[i] > previous_start:
                template = _source_path(sources[i][1], source_base)
                if source_base is None:  # rendered output in the repo: it is what exists; name the template
                    doc_meta = tuple(sorted(meta + (("template", template),)))
                else:  # rendered by us from a chart on disk: the template is the file to fix
                    doc_path = template
                    doc_meta = tuple(sorted(meta + (("rendered", path), ("rendered_line", start))))
        previous_start = start
        for obj in _objects(value):
            docs.append(Document(KIND, doc_path, obj, line_of(obj) or start, doc_meta))
    return docs, problems


def _mark_templates(node: Any) -> None:
    """Whole-value templates (`{{ .Values.x }}`, `${VAR}`, `$(VAR)`) are only known at render time:
    Unknown, so no rule fires on them."""
    if isinstance(node, dict):
        for key, value in node.items():
            if isinstance(value, str):
                if _TEMPLATE_VALUE.match(value):
                    node[key] = Unknown(value)
            else:
                _mark_templates(value)
    elif isinstance(node, list):
        for i, value in enumerate(node):
            if isinstance(value, str):
                if _TEMPLATE_VALUE.match(value):
                    node[i] = Unknown(value)
            else:
                _mark_templates(value)


def _source_path(source: str, base: str | None) -> str:
    if base is None:
        return source
    rest = source.split("/", 1)[1] if "/" in source else source
    return _join(base, rest)


def _is_object(value: Any) -> bool:
    return isinstance(value, LDict) and isinstance(value.get("apiVersion"), str) and isinstance(value.get("kind"), str)


def _objects(value: Any) -> Iterable[LDict]:
    """The objects in one YAML document: itself, or the items of a List / typed `*List`."""
    if not _is_object(value):
        return
    kind = value["kind"]
    items = value.get("items")
    if kind.endswith("List") and isinstance(items, LList):
        item_kind = kind[:-4] if kind != "List" else ""
        for item in items:
            if isinstance(item, LDict) and item_kind and "kind" not in item:
                item = _with(item, apiVersion=value["apiVersion"], kind=item_kind)
            if _is_object(item):
                yield from _objects(item)
        return
    yield value


def _with(node: LDict, **fields: Any) -> LDict:
    out = node.copy()
    for key, val in fields.items():
        out[key] = val
        out.key_lines.setdefault(key, node.line)
    return out


# ----------------------------------------------------------------------------------------- subjects


def _d(value: Any) -> LDict:
    return value if isinstance(value, dict) else _EMPTY


_EMPTY = LDict()


def _meta(obj: LDict) -> LDict:
    return _d(obj.get("metadata"))


def namespace_of(obj: LDict) -> str:
    """The namespace an object lives in ("" for cluster-scoped kinds; "default" when not set)."""
    if obj.get("kind") in CLUSTER_SCOPED:
        return ""
    ns = _meta(obj).get("namespace")
    return str(ns) if ns not in (None, "") else "default"


def _name(obj: LDict) -> str:
    meta = _meta(obj)
    name = meta.get("name") or meta.get("generateName") or ""
    return name.text if isinstance(name, Unknown) else str(name)


def parse_ignores(annotations: Any) -> tuple[tuple[str, str], ...]:
    text = _d(annotations).get(IGNORE_ANNOTATION)
    if not isinstance(text, str):
        return ()
    out: list[tuple[str, str]] = []
    for entry in re.split(r"[;\n]", text):
        match = _IGNORE_ENTRY.match(entry)
        if not match or not entry.strip():
            continue
        reason = match.group(2) or f"{IGNORE_ANNOTATION} annotation"
        out.extend((rule_id.strip(), reason) for rule_id in match.group(1).split(","))
    return tuple(out)


def pod_template(obj: LDict) -> tuple[LDict, LDict, int] | None:
    """(pod spec, pod metadata, line of the pod spec) of a workload object, else None."""
    path = POD_SPEC_PATHS.get(obj.get("kind"))
    if path is None:
        return None
    node: Any = obj
    parent: Any = None
    for key in path:
        if not isinstance(node, LDict) or not isinstance(node.get(key), LDict):
            return None
        parent, node = node, node[key]
    meta = obj.get("metadata") if len(path) == 1 else parent.get("metadata")
    return node, _d(meta), line_of(parent, path[-1])


class _Object:
    """Everything derived from one object, computed once per scan."""

    __slots__ = ("doc", "obj", "kind", "namespace", "name", "key", "label", "ignores", "subject", "workload",
                 "containers", "pod_labels")

    def __init__(self, doc: Document, occurrence: int = 1) -> None:
        obj = doc.value
        self.doc, self.obj = doc, obj
        self.kind = str(obj.get("kind"))
        self.namespace = namespace_of(obj)
        self.name = _name(obj)
        # Identity: file (Subject.path, which the fingerprint adds), kind, namespace and name, and the
        # occurrence in its file when one file defines the same object twice (environments in one
        # stream), so neither hides the other. Not the document index itself: a document added above
        # must not change every fingerprint below it.
        self.key = f"{obj.get('apiVersion')}/{self.kind}/{self.namespace}/{self.name}"
        if occurrence > 1:
            self.key += f"#{occurrence}"
        self.label = f"{self.kind}/{self.name}" if self.name else self.kind
        meta = _meta(obj)
        self.ignores = parse_ignores(meta.get("annotations"))
        line = line_of(obj) or doc.line
        self.subject = Subject(obj, doc.path, line, self.label, self.key, self.kind, doc, self.ignores,
                               Owner(self.label, line))
        self.workload: Subject | None = None
        self.containers: list[Subject] = []
        self.pod_labels: LDict = _EMPTY
        template = pod_template(obj)
        if template is not None:
            self._workload(*template)

    def _workload(self, spec: LDict, pod_meta: LDict, spec_line: int) -> None:
        ignores = self.ignores
        if pod_meta is not _meta(self.obj):
            ignores = ignores + parse_ignores(pod_meta.get("annotations"))
        self.pod_labels = _d(pod_meta.get("labels"))
        view = spec.copy()
        view["metadata"] = pod_meta
        view["workload"] = LDict(kind=self.kind, apiVersion=self.obj.get("apiVersion"), metadata=_meta(self.obj),
                                 line=line_of(self.obj))
        line = spec_line or line_of(spec) or self.subject.line
        owner = Owner(self.label, self.subject.line)
        self.workload = Subject(view, self.doc.path, line, self.label, self.key + "/pod", self.kind, self.doc, ignores,
                                owner)
        # Legacy seccomp/AppArmor annotations belong on the pod template; manifests in the wild also
        # put them on the workload's own metadata, so both count (the template's win).
        annotations = _d(pod_meta.get("annotations"))
        own = _d(_meta(self.obj).get("annotations"))
        if own and own is not annotations:
            merged = own.copy()
            merged.update(annotations)
            merged.key_lines.update(getattr(annotations, "key_lines", {}))
            annotations = merged
        pod_sc = _d(spec.get("securityContext"))
        for field, ctype in CONTAINER_FIELDS:
            items = spec.get(field)
            if not isinstance(items, LList):
                continue
            for i, container in enumerate(items):
                if not isinstance(container, LDict):
                    continue
                cname = str(container.get("name", i))
                cline = line_of(items, i) or line
                value = container.copy()
                value.line = value.line or cline
                value["securityContext"] = effective_security_context(container, pod_sc, annotations, cname, cline)
                value.key_lines.setdefault("securityContext", cline)
                value["pod"] = view
                value["containerType"] = ctype
                suffix = "" if ctype == "container" else f" ({ctype})"
                part = f"container {cname}{suffix}"
                self.containers.append(Subject(
                    value, self.doc.path, cline, f"{self.label} {part}", f"{self.key}/{field}/{cname}", self.kind,
                    self.doc, ignores, owner._replace(part=part),
                ))


def _profile(annotation: Any, line: int) -> LDict | None:
    """A legacy seccomp/AppArmor annotation value as a profile mapping (with the annotation's line)."""
    if not isinstance(annotation, str):
        return None
    text = annotation.strip()
    if text in ("runtime/default", "docker/default"):
        value = LDict(type="RuntimeDefault", line=line)
    elif text.startswith("localhost/"):
        value = LDict(type="Localhost", localhostProfile=text[len("localhost/"):], line=line)
    elif text == "unconfined":
        value = LDict(type="Unconfined", line=line)
    else:
        value = LDict(type=text, line=line)
    value.key_lines = {key: line for key in value}
    return value


def effective_security_context(container: LDict, pod_sc: LDict, annotations: LDict, name: str, line: int) -> LDict:
    """The securityContext a container runs with, lowest precedence first: pod annotation, pod field,
    container annotation, container field. Each value keeps the line it came from."""
    own = _d(container.get("securityContext"))
    out = LDict(line=line_of(own) or line)

    def put(key: str, value: Any, value_line: int) -> None:
        if value is not None:
            out[key] = value
            out.key_lines[key] = value_line or line

    def put_profile(key: str, annotation: str) -> None:
        profile = _profile(annotations.get(annotation), line_of(annotations, annotation))
        if profile is not None:
            put(key, profile, profile.line)

    if annotations:
        put_profile("seccompProfile", _SECCOMP_POD)
    for key in INHERITED:
        if key in pod_sc:
            put(key, pod_sc[key], line_of(pod_sc, key))
    if annotations:
        for prefix, key in ((_SECCOMP_CONTAINER, "seccompProfile"), (_APPARMOR_CONTAINER, "appArmorProfile")):
            put_profile(key, prefix + name)
    for key, value in own.items():
        put(key, value, line_of(own, key))
    return out


def _as_list(value: Any) -> list:
    """A list field as a list, whatever a broken manifest put there (a scalar is a one-item list)."""
    if isinstance(value, LList):
        return value
    return [] if value is None or isinstance(value, LDict) else [value]


def _rbac_rules(entry: _Object) -> list[Subject]:
    rules = entry.obj.get("rules")
    if entry.kind not in ("Role", "ClusterRole") or not isinstance(rules, LList):
        return []
    out = []
    for i, rule in enumerate(rules):
        if not isinstance(rule, LDict):
            continue
        value = rule.copy()
        value["role"] = entry.obj
        identity = "|".join(",".join(str(v) for v in _as_list(rule.get(k))) for k in
                            ("apiGroups", "resources", "verbs", "resourceNames", "nonResourceURLs"))
        out.append(Subject(value, entry.doc.path, line_of(rules, i) or entry.subject.line,
                           f"{entry.label} rule {i + 1}", f"{entry.key}/rules/{identity}", entry.kind, entry.doc,
                           entry.ignores, Owner(entry.label, entry.subject.line, f"rule {i + 1}")))
    return out


class Index:
    """The objects of one scan, indexed for targets and relations (kept in Context.cache)."""

    def __init__(self, documents: Sequence[Document]) -> None:
        self.objects: list[_Object] = []
        seen: dict[tuple[str, str, str, str], int] = {}
        for doc in documents:
            if doc.kind == KIND and _is_object(doc.value):
                ident = (doc.path, str(doc.value.get("kind")), namespace_of(doc.value), _name(doc.value))
                seen[ident] = seen.get(ident, 0) + 1
                self.objects.append(_Object(doc, seen[ident]))
        self.netpols: dict[str, list[_Object]] = {}
        self.namespaces: dict[str, list[_Object]] = {}
        self.roles: dict[tuple[str, str, str], list[_Object]] = {}
        self.service_accounts: dict[tuple[str, str], list[_Object]] = {}
        self.workloads: dict[str, list[_Object]] = {}
        self._rules: dict[int, list[Subject]] = {}
        self._selectors: dict[str, list[tuple[_Object, tuple | None]]] = {}
        for entry in self.objects:
            if entry.kind == "NetworkPolicy":
                self.netpols.setdefault(entry.namespace, []).append(entry)
            elif entry.kind == "Namespace":
                self.namespaces.setdefault(entry.name, []).append(entry)
            elif entry.kind in ("Role", "ClusterRole"):
                self.roles.setdefault((entry.kind, entry.namespace, entry.name), []).append(entry)
            elif entry.kind == "ServiceAccount":
                self.service_accounts.setdefault((entry.namespace, entry.name), []).append(entry)
            if entry.workload is not None:
                self.workloads.setdefault(entry.namespace, []).append(entry)
        self.by_doc = {id(entry.doc): entry for entry in self.objects}
        self.admission = [entry for entry in self.objects if is_admission_object(entry)]
        self.environments = _environment_roots(self.objects)
        self._enforcers: dict[str, list[_Object]] = {}

    def enforcers(self, namespace: str, labels: dict[str, str], path: str) -> list[Subject]:
        """Admission policies in the scan that enforce a Pod Security Standard on the namespace (those of
        another environment's folder than `path` aside)."""
        found = self._enforcers.get(namespace)
        if found is None:
            found = self._enforcers[namespace] = [e.entry for e in enforcers(self.admission, namespace, labels)]
        return [e.subject for e in found if not self.environments or visible(self, e, path)]

    def selectors(self, namespace: str) -> list[tuple[_Object, tuple | None]]:
        """The NetworkPolicies of a namespace with their compiled podSelector."""
        found = self._selectors.get(namespace)
        if found is None:
            found = self._selectors[namespace] = [
                (np, compile_selector(_d(np.obj.get("spec")).get("podSelector"))) for np in self.netpols.get(namespace, ())]
        return found

    def rules_of(self, entry: _Object) -> list[Subject]:
        found = self._rules.get(id(entry))
        if found is None:
            found = self._rules[id(entry)] = _rbac_rules(entry)
        return found


def _dirs(path: str) -> list[str]:
    return path.split("/")[:-1]


# kinds whose copies in two folders mean two environments (a ConfigMap named `config` in two apps does not)
_ENVIRONMENT_KINDS = frozenset(("Namespace", "NetworkPolicy", "Role", "ClusterRole", "RoleBinding",
                                "ClusterRoleBinding", "ServiceAccount", "ClusterPolicy", "Policy",
                                "ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding"))


def _environment_roots(objects: Sequence[_Object]) -> frozenset[str]:
    """Folders that hold one environment's copy of objects another folder defines too (overlays/dev
    and overlays/prod, clusters/eu and clusters/us): where two files define the same object, the
    first folder in which their paths part is the root of each copy."""
    paths: dict[str, set[str]] = {}
    for entry in objects:
        if entry.kind in _ENVIRONMENT_KINDS or entry.workload is not None:
            paths.setdefault(entry.key.split("#", 1)[0], set()).add(entry.doc.path)
    roots: set[str] = set()
    for found in paths.values():
        if len(found) < 2:
            continue
        ordered = sorted(found)
        first = _dirs(ordered[0])
        for other in ordered[1:]:
            second = _dirs(other)
            common = 0
            while common < min(len(first), len(second)) and first[common] == second[common]:
                common += 1
            for parts in (first, second):
                if len(parts) > common:
                    roots.add("/".join(parts[:common + 1]))
    return frozenset(roots)


def visible(idx: Index, entry: _Object, path: str) -> bool:
    """Whether an object may answer a reference from `path`: not when it belongs to another
    environment's folder than the one `path` is in."""
    for root in idx.environments:
        if _under(entry.doc.path, root) and not _under(path, root):
            return False
    return True


def index(documents: Sequence[Document], ctx: Context) -> Index:
    found = ctx.cache.get("kubernetes.index")
    if found is None or found[0] is not documents:
        found = (documents, Index(documents))
        ctx.cache["kubernetes.index"] = found
    return found[1]


def _objects_target(documents: Sequence[Document], ctx: Context) -> Iterable[Subject]:
    return [entry.subject for entry in index(documents, ctx).objects]


def _workloads_target(documents: Sequence[Document], ctx: Context) -> Iterable[Subject]:
    return [entry.workload for entry in index(documents, ctx).objects if entry.workload is not None]


def _containers_target(documents: Sequence[Document], ctx: Context) -> Iterable[Subject]:
    return [c for entry in index(documents, ctx).objects for c in entry.containers]


def _rbac_rules_target(documents: Sequence[Document], ctx: Context) -> Iterable[Subject]:
    idx = index(documents, ctx)
    return [rule for entry in idx.objects for rule in idx.rules_of(entry)]


SCOPE_KEY = "namespaceScope"  # in a namespace-scope subject's value: the namespace it stands for
_LISTED = 5  # workloads named in a namespace-scope subject before "+N more"


def _scope_subject(idx: Index, name: str, k8s_files: int) -> Subject | None:
    """One subject for a namespace: on its Namespace object when the scan defines one, else on the first
    of its workloads. Its value says what the scan holds there (rules' messages repeat it)."""
    workloads = sorted(idx.workloads.get(name, ()), key=lambda e: (e.doc.path, e.subject.line))
    defined = idx.namespaces.get(name) or []
    anchor = defined[0] if defined else (workloads[0] if workloads else None)
    if anchor is None:
        return None
    listed = ", ".join(w.label for w in workloads[:_LISTED])
    if len(workloads) > _LISTED:
        listed += f", +{len(workloads) - _LISTED} more"
    value = LDict(line=anchor.subject.line)
    value[SCOPE_KEY] = name
    value["name"] = name
    value["defined"] = bool(defined)
    value["workloads"] = len(workloads)
    value["workloadList"] = listed or "none"
    value["files"] = k8s_files
    value["metadata"] = _meta(defined[0].obj) if defined else LDict()
    label = f"Namespace/{name}" if defined else f"namespace {name}"
    ignores = defined[0].ignores if defined else ()
    return Subject(value, anchor.doc.path, anchor.subject.line, label, f"namespace-scope/{name}", "Namespace",
                   anchor.doc, ignores, Owner(label, anchor.subject.line))


def _namespaces_target(documents: Sequence[Document], ctx: Context) -> Iterable[Subject]:
    idx = index(documents, ctx)
    k8s_files = len({entry.doc.path for entry in idx.objects})
    names = sorted(set(idx.workloads) | set(idx.namespaces))
    return [s for s in (_scope_subject(idx, name, k8s_files) for name in names) if s is not None]


TARGETS = {
    "kubernetes.object": _objects_target,
    "kubernetes.workload": _workloads_target,
    "kubernetes.container": _containers_target,
    "kubernetes.rbac-rule": _rbac_rules_target,
    "kubernetes.namespace": _namespaces_target,
}


# ----------------------------------------------------------------------------------------- relations


def cluster_complete(options: dict[str, Any]) -> bool:
    if CLUSTER_COMPLETE in options:
        return options[CLUSTER_COMPLETE] is True
    nested = options.get("kubernetes")
    return isinstance(nested, dict) and nested.get("cluster-complete") is True


def _label_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def compile_selector(selector: Any) -> tuple | None:
    """A label selector as ((key, value) pairs, (key, operator, values) expressions); None never matches."""
    if selector is None:
        return (), ()
    if not isinstance(selector, dict):
        return None
    match_labels = selector.get("matchLabels") or {}
    expressions = selector.get("matchExpressions") or []
    if not isinstance(match_labels, dict) or not isinstance(expressions, list):
        return None
    pairs = tuple((str(k), _label_value(v)) for k, v in match_labels.items())
    exprs = []
    for expr in expressions:
        if not isinstance(expr, dict) or expr.get("operator") not in ("In", "NotIn", "Exists", "DoesNotExist"):
            return None
        values = expr.get("values") or ()
        exprs.append((str(expr.get("key")), expr["operator"],
                      frozenset(_label_value(v) for v in (values if isinstance(values, list) else ()))))
    return pairs, tuple(exprs)


def normalize_labels(labels: Any) -> dict[str, str]:
    return {str(k): _label_value(v) for k, v in labels.items()} if isinstance(labels, dict) else {}


def matches(compiled: tuple | None, have: dict[str, str]) -> bool:
    if compiled is None:
        return False
    pairs, exprs = compiled
    for key, value in pairs:
        if have.get(key) != value:
            return False
    for key, op, values in exprs:
        if op == "In":
            ok = key in have and have[key] in values
        elif op == "NotIn":
            ok = key not in have or have[key] not in values
        elif op == "Exists":
            ok = key in have
        else:
            ok = key not in have
        if not ok:
            return False
    return True


def selects(selector: Any, labels: Any) -> bool:
    """Kubernetes label-selector semantics: matchLabels AND matchExpressions; `{}` selects everything."""
    return matches(compile_selector(selector), normalize_labels(labels))


def _entry(subject: Subject, ctx: Context) -> _Object | None:
    return index(ctx.documents, ctx).by_doc.get(id(subject.doc))


def _closeness(a: str, b: str) -> tuple[int, int]:
    """How near two files are: same file first, then the most folders in common."""
    if a == b:
        return (1, 1 << 20)
    common = 0
    for x, y in zip(a.split("/")[:-1], b.split("/")[:-1], strict=False):
        if x != y:
            break
        common += 1
    return (0, common)


def closest(candidates: Sequence[_Object], path: str) -> _Object:
    """Of several definitions of one object (overlays, one folder per environment), the one nearest
    the file that refers to it; the first in the scan on a tie."""
    best = candidates[0]
    if len(candidates) == 1:
        return best
    best_score = _closeness(best.doc.path, path)
    for other in candidates[1:]:
        score = _closeness(other.doc.path, path)
        if score > best_score:
            best, best_score = other, score
    return best


def note(ctx: Context, text: str) -> None:
    """Tell the policy engine what a relation chose; a finding its rule makes repeats it."""
    notes = ctx.cache.get("relation-notes")
    if isinstance(notes, list) and text not in notes:
        notes.append(text)


def _resolve(candidates: Sequence[_Object] | None, path: str, ctx: Context, what: str) -> _Object | None:
    """The definition a reference means, saying which one when several files define it."""
    if not candidates:
        return None
    idx = index(ctx.documents, ctx)
    places = [f"{c.doc.path}:{c.subject.line}" for c in candidates]
    candidates = [c for c in candidates if visible(idx, c, path)] if idx.environments else candidates
    if not candidates:
        return None
    chosen = closest(candidates, path)
    if len(places) > 1:
        note(ctx, f"{what} is defined {len(places)} times ({', '.join(places)}); used the one at "
                  f"{chosen.doc.path}:{chosen.subject.line}")
    return chosen


def _netpols(idx: Index, namespace: str, path: str, ctx: Context | None = None) -> list[tuple[_Object, tuple | None]]:
    """The NetworkPolicies of a namespace that apply to a pod defined in `path`: of several
    definitions of one policy (overlays, environments), only the nearest counts."""
    pairs = idx.selectors(namespace)
    if idx.environments:
        pairs = [(np, sel) for np, sel in pairs if visible(idx, np, path)]
    names: dict[str, list[_Object]] = {}
    for np, _ in pairs:
        names.setdefault(np.name, []).append(np)
    if all(len(found) == 1 for found in names.values()):
        return pairs
    chosen: set[int] = set()
    for name, found in names.items():
        best = closest(found, path)
        chosen.add(id(best))
        if len(found) > 1 and ctx is not None:
            places = ", ".join(f"{np.doc.path}:{np.subject.line}" for np in found)
            note(ctx, f"NetworkPolicy/{name} in namespace {namespace} is defined {len(found)} times ({places}); "
                      f"used the one at {best.doc.path}:{best.subject.line}")
    return [(np, sel) for np, sel in pairs if id(np) in chosen]


def _networkpolicies_selecting(subject: Subject, ctx: Context, params: dict) -> list[Subject] | None:
    idx = index(ctx.documents, ctx)
    entry = _entry(subject, ctx)
    if entry is None or entry.workload is None:
        return []
    if not idx.netpols.get(entry.namespace) and not cluster_complete(ctx.options):
        # no policy at all in the namespace: k8s-namespace-networkpolicy-missing says it once for the namespace
        return None
    have = normalize_labels(entry.pod_labels)
    return [np.subject for np, selector in _netpols(idx, entry.namespace, entry.doc.path, ctx) if matches(selector, have)]


def _subject_namespace(subject: Subject, entry: _Object | None) -> str | None:
    scope = subject.value.get(SCOPE_KEY) if isinstance(subject.value, dict) else None
    if isinstance(scope, str):
        return scope
    if entry is None:
        return None
    return entry.name if entry.kind == "Namespace" else entry.namespace


def _networkpolicies_in_namespace(subject: Subject, ctx: Context, params: dict) -> list[Subject] | None:
    idx = index(ctx.documents, ctx)
    namespace = _subject_namespace(subject, _entry(subject, ctx))
    if namespace is None:
        return []
    # `any-in-scan: false`: this namespace's policies, none being a definite none; by default a scan
    # without any NetworkPolicy says nothing about network policy (unknown)
    if params.get("any-in-scan") is not False and not idx.netpols and not cluster_complete(ctx.options):
        return None
    return [np.subject for np, _ in _netpols(idx, namespace, subject.path)]


def _namespace(subject: Subject, ctx: Context, params: dict) -> list[Subject] | None:
    namespace = _subject_namespace(subject, _entry(subject, ctx))
    if namespace is None:
        return []
    found = _resolve(index(ctx.documents, ctx).namespaces.get(namespace), subject.path, ctx, f"Namespace/{namespace}")
    if found is not None:
        return [found.subject]
    return [] if cluster_complete(ctx.options) else None


def _role_ref(subject: Subject, ctx: Context, params: dict) -> list[Subject] | None:
    entry = _entry(subject, ctx)
    if entry is None or entry.kind not in ("RoleBinding", "ClusterRoleBinding"):
        return []
    ref = _d(entry.obj.get("roleRef"))
    kind, name = ref.get("kind"), str(ref.get("name", ""))
    idx = index(ctx.documents, ctx)
    if kind == "ClusterRole":
        role = _resolve(idx.roles.get(("ClusterRole", "", name)), entry.doc.path, ctx, f"ClusterRole/{name}")
    elif kind == "Role" and entry.kind == "RoleBinding":  # a Role in the binding's own namespace
        role = _resolve(idx.roles.get(("Role", entry.namespace, name)), entry.doc.path, ctx,
                        f"Role/{name} in namespace {entry.namespace}")
    else:
        return []
    if role is None:
        return [] if cluster_complete(ctx.options) else None
    return idx.rules_of(role) if params.get("rules") else [role.subject]


def _service_account(subject: Subject, ctx: Context, params: dict) -> list[Subject] | None:
    entry = _entry(subject, ctx)
    if entry is None or entry.workload is None:
        return []
    spec = entry.workload.value
    name = str(spec.get("serviceAccountName") or spec.get("serviceAccount") or "default")
    found = _resolve(index(ctx.documents, ctx).service_accounts.get((entry.namespace, name)), entry.doc.path, ctx,
                     f"ServiceAccount/{name} in namespace {entry.namespace}")
    return [found.subject] if found is not None else []


def _pod_security_enforcers(subject: Subject, ctx: Context, params: dict) -> list[Subject]:
    """Kyverno, Gatekeeper and ValidatingAdmissionPolicy objects enforcing a Pod Security Standard on the
    subject's namespace (a definite [] when none: what is not in the scan does not enforce anything we
    can show)."""
    entry = _entry(subject, ctx)
    namespace = _subject_namespace(subject, entry)
    if namespace is None:
        return []
    idx = index(ctx.documents, ctx)
    if not idx.admission:
        return []
    defined = idx.namespaces.get(namespace)
    labels = normalize_labels(_meta(closest(defined, subject.path).obj).get("labels")) if defined else {}
    return idx.enforcers(namespace, labels, subject.path)


RELATIONS = {
    "pod-security-enforcers": _pod_security_enforcers,
    "networkpolicies-selecting": _networkpolicies_selecting,
    "networkpolicies-in-namespace": _networkpolicies_in_namespace,
    "namespace": _namespace,
    "role-ref": _role_ref,
    "service-account": _service_account,
}


# ----------------------------------------------------------------------------------------- whole scan


def _kustomization_refs(doc: Document, fields: Sequence[str]) -> list[str]:
    """Local paths a kustomization names in `fields` (strings or `{path: ...}` entries)."""
    base = _dirname(doc.path)
    out = []
    for field in fields:
        for ref in doc.value.get(field) or ():
            if isinstance(ref, dict):
                ref = ref.get("path")
            if isinstance(ref, str) and ref and not _is_remote(ref):
                out.append(_join(base, ref))
    return out


def _is_remote(ref: str) -> bool:
    return "://" in ref or ref.startswith(("git@", "github.com/", "gitlab.com/", "bitbucket.org/")) or "?ref=" in ref


_PATCH_FIELDS = ("patchesStrategicMerge", "patches", "patchesJson6902")
_RESOURCE_FIELDS = ("resources", "bases", "components")


def finalize(documents: list[Document]) -> list[Document]:
    """Drop Kustomize patch files: partial objects, not what runs."""
    patches = {p for doc in documents if doc.kind == KUSTOMIZATION for p in _kustomization_refs(doc, _PATCH_FIELDS)}
    if not patches:
        return documents
    return [doc for doc in documents if not (doc.kind == KIND and doc.path in patches)]


def _tool_env() -> dict[str, str]:
    env = dict(os.environ)
    empty = tempfile.mkdtemp(prefix="scanner-noplugins-")
    env["HELM_PLUGINS"] = empty  # helm: no plugins (downloaders, post-renderers) from the user's setup
    env["KUSTOMIZE_PLUGIN_HOME"] = empty  # kustomize: no legacy exec/Go plugins
    env["XDG_CONFIG_HOME"] = empty
    return env


def _run(argv: list[str], timeout: int) -> tuple[bytes | None, str]:
    env = _tool_env()
    try:
        done = subprocess.run(argv, capture_output=True, timeout=timeout, env=env, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        return None, f"timed out after {timeout}s"
    except OSError as exc:
        return None, exc.strerror or str(exc)
    finally:
        shutil.rmtree(env["HELM_PLUGINS"], ignore_errors=True)
    if done.returncode != 0:
        lines = [ln for ln in done.stderr.decode("utf-8", "replace").splitlines() if ln.strip()]
        return None, (lines[-1] if lines else f"exit code {done.returncode}")[:300]
    return done.stdout, ""


def _under(path: str, folder: str) -> bool:
    return not folder or path == folder or path.startswith(folder + "/")


def _flatten_lines(value: Any) -> Any:
    """Forget lines (output of a tool: its lines are not lines of any file in the scan)."""
    if isinstance(value, LDict):
        value.line, value.key_lines = 0, {}
        for child in value.values():
            _flatten_lines(child)
    elif isinstance(value, LList):
        value.line, value.item_lines = 0, []
        for child in value:
            _flatten_lines(child)
    return value


def render(documents: list[Document], root: str | Path | None, timeout: int = RENDER_TIMEOUT,
           worktree: bool = True) -> tuple[list[Document], list[Problem]]:
    """Render Helm charts and Kustomize overlays found in the scan, or say why not (once per chart or
    overlay). `root`: the folder the documents' paths are relative to; `worktree=False` (git history,
    staged blobs) never renders, since the files on disk are not the ones scanned."""
    charts = [d for d in documents if d.kind == CHART]
    kusts = [d for d in documents if d.kind == KUSTOMIZATION]
    unrendered = [d for d in documents if d.kind == UNRENDERED]
    if not (charts or kusts or unrendered):
        return documents, []
    root_path = Path(root) if root is not None and worktree else None
    problems: list[Problem] = []
    drop: set[str] = set()  # folders whose direct documents a rendering replaces
    drop_files: set[str] = set()
    added: list[Document] = []

    chart_dirs = sorted({_dirname(d.path) for d in charts})
    top_charts = [c for c in charts if not any(
        other != _dirname(c.path) and _under(_dirname(c.path), other) for other in chart_dirs)]
    helm = shutil.which("helm")
    for chart in top_charts:
        folder = _dirname(chart.path)
        inside = [d for d in unrendered if _under(d.path, folder)]
        name = str(chart.value.get("name") or folder or "chart")
        if helm and root_path is not None:
            out, why = _run([helm, "template", "release", str(root_path / folder or "."), "--namespace", "default"],
                            timeout)
            if out is not None:
                docs, more = parse_text(out, chart.path, source_base=folder,
                                        meta=(("chart", folder), ("rendered_by", "helm template")))
                added.extend(docs)
                problems.extend(more)
                drop.add(folder)
                continue
            reason = f"`helm template` failed: {why}"
        elif helm:
            reason = "not a working-tree scan"
        else:
            reason = "helm is not on PATH"
        problems.append(Problem(
            chart.path,
            f"Helm chart '{name}' not rendered ({reason}); {plural.count(len(inside), 'templated file')} skipped by Kubernetes "
            f"rules. Render it (helm template {folder or '.'} > rendered.yaml) and scan the output.",
            "warning" if inside else "info"))

    covered = [_dirname(c.path) for c in charts]
    orphans: dict[str, int] = {}
    for doc in unrendered:
        if not any(_under(doc.path, folder) for folder in covered):
            chart = dict(doc.meta).get("chart", "")
            orphans[chart] = orphans.get(chart, 0) + 1
    for folder, count in sorted(orphans.items()):
        where = f"{folder}/templates" if folder else "templates"
        problems.append(Problem(
            where, f"{plural.count(count, 'templated YAML file')} in {where}/ skipped by Kubernetes rules (not valid YAML before "
            "rendering, and no Chart.yaml in the scan). Render them and scan the output.", "warning"))

    kust_dirs = {_dirname(k.path) for k in kusts}
    referenced = {ref for k in kusts for ref in _kustomization_refs(k, _RESOURCE_FIELDS)}
    tool = shutil.which("kustomize")
    argv_base = [tool, "build"] if tool else None
    if argv_base is None and shutil.which("kubectl"):
        argv_base = [shutil.which("kubectl") or "kubectl", "kustomize"]
    for kust in kusts:
        folder = _dirname(kust.path)
        if folder in referenced:  # a base or component: rendered as part of the overlays using it
            continue
        remote = [r for f in _RESOURCE_FIELDS for r in kust.value.get(f) or () if isinstance(r, str) and _is_remote(r)]
        if remote:
            reason = f"it names remote resources ({remote[0]}), which are never fetched"
        elif argv_base is None:
            reason = "neither kustomize nor kubectl is on PATH"
        elif root_path is None:
            reason = "not a working-tree scan"
        else:
            out, why = _run(argv_base + [str(root_path / folder if folder else root_path)], timeout)
            if out is not None:
                docs, more = parse_text(out, kust.path, meta=(("rendered_by", "kustomize"),))
                added.extend(Document(d.kind, d.path, _flatten_lines(d.value), 1, d.meta) for d in docs)
                problems.extend(more)
                drop_files.update(_resource_files(kust, kusts, kust_dirs))
                continue
            reason = f"rendering failed: {why}"
        problems.append(Problem(
            kust.path,
            f"Kustomize overlay not rendered ({reason}); its resources were scanned as written, without patches. "
            f"Render it (kubectl kustomize {folder or '.'}) and scan the output.", "warning"))

    kept = [d for d in documents if d.kind != UNRENDERED and not (
        d.kind == KIND and (d.path in drop_files or any(_under(d.path, f) for f in drop)))]
    return kept + added, problems


_UNRENDERED = re.compile(r"^(Helm chart '[^']*'|Kustomize overlay) not rendered \((.+?)\); ")


def unrendered(problems: Iterable[Problem]) -> dict[str, dict[str, int]]:
    """The charts and overlays a scan left unrendered: {"Helm chart": {reason: count}, ...} (for the
    summary line)."""
    out: dict[str, dict[str, int]] = {}
    for problem in problems:
        match = _UNRENDERED.match(problem.message)
        if match and problem.level != "info":
            what = "Helm chart" if match.group(1).startswith("Helm") else "Kustomize overlay"
            reason = re.split(r"[:(]", match.group(2), maxsplit=1)[0].strip()
            counts = out.setdefault(what, {})
            counts[reason] = counts.get(reason, 0) + 1
    return out


def _resource_files(kust: Document, kusts: list[Document], kust_dirs: set[str]) -> set[str]:
    """Files an overlay's rendering includes (its resources and, recursively, those of its bases)."""
    by_dir = {_dirname(k.path): k for k in kusts}
    out: set[str] = set()
    todo, seen = [kust], set()
    while todo:
        current = todo.pop()
        if current.path in seen:
            continue
        seen.add(current.path)
        for ref in _kustomization_refs(current, _RESOURCE_FIELDS):
            if ref in kust_dirs:
                todo.append(by_dir[ref])
            else:
                out.add(ref)
    return out


__all__ = ["claims", "parse", "parse_text", "finalize", "render", "selects", "effective_security_context",
           "TARGETS", "RELATIONS", "CLUSTER_COMPLETE", "IGNORE_ANNOTATION"]
