"""The generic policy engine: paths, operators, three-valued logic, lines, relations, annotations."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scanner import documents
from scanner.documents import Document, Subject
from scanner.documents import tree as tree_mod
from scanner.documents.tree import LDict, Unknown, load_yaml_documents
from scanner.engines import policy
from scanner.rules.loader import PackError, Rule

POD = b"""\
apiVersion: v1
kind: Pod
metadata:
  name: web
  labels: {app: web}
spec:
  hostNetwork: true
  containers:
    - name: app
      image: nginx:1.25
      securityContext:
        privileged: true
        runAsUser: 0
    - name: sidecar
      image: envoy
      ports:
        - containerPort: 8080
"""


def _docs(text: bytes = POD) -> list[Document]:
    return [Document("test", "pod.yaml", value, line) for value, line in load_yaml_documents(text)]


def _containers(docs, ctx):
    for doc in docs:
        for i, c in enumerate(doc.value["spec"]["containers"]):
            ignores = tuple((r, "test") for r in c.get("ignore", "").split(",") if r)
            yield Subject(c, doc.path, doc.value["spec"]["containers"].item_lines[i], f"container {c['name']}",
                          f"{c['name']}", "Container", doc, ignores)


def _objects(docs, ctx):
    for doc in docs:
        yield Subject(doc.value, doc.path, doc.line, doc.value.get("kind", "?"), "obj", doc.value.get("kind", "?"), doc)


def _labelled(subject, ctx, params):
    """Every object whose labels include the subject's `app` label; None (unknown) if none carry labels."""
    others = [d for d in ctx.documents if "labels" in d.value.get("metadata", {})]
    if not others:
        return None
    app = subject.value.get("metadata", {}).get("labels", {}).get("app")
    return [s for s in _objects(others, ctx) if s.value["metadata"]["labels"].get("app") == app]


@pytest.fixture(autouse=True)
def registry(monkeypatch):
    monkeypatch.setattr(documents, "targets", lambda: {"test.container": _containers, "test.object": _objects})
    monkeypatch.setattr(documents, "relations", lambda: {"same-app": _labelled})


def _rule(when, target="test.container", **kw) -> Rule:
    return Rule(id=kw.pop("id", "r"), title="T", severity="high", description="d", remediation="r", engine="policy",
                pack="p", source="p.yaml", source_line=1, target=target, when=when, **kw)


def _lines(rule, text=POD):
    return [(f.location.line, f.message) for f in policy.run([rule], _docs(text))]


def test_equals_points_at_the_field_line():
    assert _lines(_rule({"field": "securityContext.privileged", "op": "equals", "value": True})) == [(12, "T: container app")]


def test_missing_field_points_at_the_subject():
    rule = _rule({"not": {"field": "securityContext.runAsNonRoot", "op": "equals", "value": True}})
    assert [ln for ln, _ in _lines(rule)] == [9, 14]


def test_wildcards_and_numbers():
    rule = _rule({"field": "ports[*].containerPort", "op": "gte", "value": 1024})
    assert [ln for ln, _ in _lines(rule)] == [17]
    rule = _rule({"field": "image", "op": "not_matches", "value": ":[^:/]+$"})
    assert [ln for ln, _ in _lines(rule)] == [15]


def test_all_any_and_list_paths():
    rule = _rule({"all": [{"field": ["securityContext", "runAsUser"], "op": "equals", "value": 0},
                          {"any": [{"field": "name", "op": "in", "value": ["app", "x"]}]}]})
    assert [ln for ln, _ in _lines(rule)] == [13]


def test_object_target_and_kinds_filter():
    rule = _rule({"field": "spec.hostNetwork", "op": "equals", "value": True}, target="test.object", kinds=("Pod",))
    assert [ln for ln, _ in _lines(rule)] == [7]
    assert _lines(rule._replace(kinds=("Deployment",))) == []


def test_unknown_never_fires_unless_asked():
    value = LDict({"acl": Unknown("var.acl"), "n": 1}, line=3)
    value.key_lines = {"acl": 4, "n": 5}
    doc = Document("test", "main.tf", value, 3)
    subject = Subject(value, "main.tf", 3, "bucket", "b", "Bucket", doc)
    ctx = documents.Context([doc], {}, {})
    assert policy.evaluate({"field": "acl", "op": "equals", "value": "public-read"}, subject, ctx)[0] is None
    assert policy.evaluate({"not": {"field": "acl", "op": "equals", "value": "private"}}, subject, ctx)[0] is None
    assert policy.evaluate({"field": "acl", "op": "unknown"}, subject, ctx) == (True, 4)
    assert policy.evaluate({"any": [{"field": "acl", "op": "equals", "value": "x"},
                                    {"field": "n", "op": "equals", "value": 1}]}, subject, ctx)[0] is True


def test_relations_are_three_valued():
    rule = _rule({"not": {"related": "same-app"}}, target="test.object")
    # the pod is the only labelled object: it relates to itself, so nothing fires
    assert _lines(rule) == []
    no_labels = POD.replace(b"  labels: {app: web}\n", b"")
    # no labelled object in the scan at all: unknown, so the rule stays quiet instead of crying wolf
    assert _lines(rule, no_labels) == []


def test_annotation_style_ignores_mark_findings_suppressed():
    text = POD.replace(b"    - name: app\n", b"    - name: app\n      ignore: r\n")
    [finding] = [f for f in policy.run([_rule({"field": "securityContext.privileged", "op": "equals", "value": True})],
                                       _docs(text))]
    assert finding.suppression is not None and finding.suppression.how == "annotation"


def test_fingerprint_is_line_independent():
    rule = _rule({"field": "securityContext.privileged", "op": "equals", "value": True})
    before = policy.run([rule], _docs())[0]
    after = policy.run([rule], _docs(b"# a comment\n\n" + POD))[0]
    assert after.location.line == before.location.line + 2 and after.fingerprint == before.fingerprint


def test_check_rules_names_unknown_targets_and_relations():
    with pytest.raises(PackError, match="unknown target 'nope'"):
        policy.check_rules([_rule({"field": "a", "op": "exists"}, target="nope")])
    with pytest.raises(PackError, match="unknown relation 'nope'"):
        policy.check_rules([_rule({"related": "nope"})])


def test_check_rules_rejects_a_matches_pattern_re2_cannot_compile():
    with pytest.raises(PackError, match=r"^p\.yaml:1: r\.when: image matches: not a valid RE2 pattern"):
        policy.check_rules([_rule({"any": [{"field": "image", "op": "matches", "value": "(?<=x)y"}]})])
    policy.check_rules([_rule({"field": "image", "op": "not_matches", "value": ":latest$"})])  # a valid one passes


def test_a_path_through_an_unknown_value_is_unknown_not_missing():
    value = LDict({"versioning": Unknown("dynamic block"), "tags": LDict({"a": 1}, line=6)}, line=3)
    value.key_lines = {"versioning": 4, "tags": 6}
    doc = Document("test", "main.tf", value, 3)
    subject = Subject(value, "main.tf", 3, "bucket", "b", "Bucket", doc)
    ctx = documents.Context([doc], {}, {})
    assert policy.evaluate({"field": "versioning.enabled", "op": "absent"}, subject, ctx)[0] is None
    assert policy.evaluate({"field": "versioning.enabled", "op": "exists"}, subject, ctx)[0] is None
    assert policy.evaluate({"not": {"field": "versioning.enabled", "op": "equals", "value": True}}, subject, ctx)[0] is None
    assert policy.evaluate({"field": "tags.b", "op": "absent"}, subject, ctx) == (True, 0)
    assert policy.evaluate({"field": "versioning", "op": "exists"}, subject, ctx) == (True, 4)


# -- resolve(): the single-chain fast path agrees with the general walk -----------------------------


def _ldict(items: dict, line: int) -> tree_mod.LDict:
    out = tree_mod.LDict(line=line)
    for i, (k, v) in enumerate(items.items()):
        out[k] = v
        out.key_lines[k] = line + i + 1
    return out


def _llist(items: list, line: int) -> tree_mod.LList:
    out = tree_mod.LList(line=line)
    for i, v in enumerate(items):
        out.append(v)
        out.item_lines.append(line + i + 1)
    return out


_KEYS = st.sampled_from(["a", "b", "c"])
_LEAVES = st.one_of(
    st.none(), st.integers(0, 3), st.sampled_from(["x", ""]),
    st.builds(tree_mod.Unknown, st.just("${var.x}")), st.builds(tree_mod.Beyond, st.just("${each.value}")),
)
_TREES = st.recursive(_LEAVES, lambda inner: st.one_of(
    st.builds(_ldict, st.dictionaries(_KEYS, inner, max_size=3), st.integers(1, 50)),
    st.builds(_llist, st.lists(inner, max_size=3), st.integers(1, 50)),
), max_leaves=12)  # fmt: skip


def _shape(found: list) -> list:
    return [(type(v).__name__, v.text if isinstance(v, tree_mod.Unknown) else id(v) if isinstance(v, (dict, list)) else v,
             line) for v, line in found]  # fmt: skip


@settings(max_examples=500, deadline=None)
@given(_TREES, st.lists(st.one_of(_KEYS, st.integers(-3, 3)), max_size=4).map(tuple))
def test_resolve_fast_path_matches_the_general_walk(value, parts):
    assert _shape(tree_mod._resolve_one(value, parts)) == _shape(tree_mod._resolve_all(value, parts))
