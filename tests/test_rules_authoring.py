"""Pack authoring from the CLI: `rules show` prints the rule as YAML, `rules targets` lists what a
condition can use, and `rules test` and `scan --rules` agree on duplicate ids."""

from __future__ import annotations

import pytest
import yaml

from tests.conftest import FIXTURES


def test_rules_show_prints_the_whole_rule_as_yaml(cli) -> None:
    run = cli("rules", "show", "k8s-run-as-root")
    assert run.code == 0
    body = yaml.safe_load("\n".join(ln for ln in run.out.splitlines() if not ln.startswith("#")))
    rule = body[0]
    assert rule["id"] == "k8s-run-as-root" and rule["target"] == "kubernetes.container"
    assert rule["when"]["any"][0] == {"field": "securityContext.runAsUser", "op": "equals", "value": 0}
    assert rule["fix"]["ops"] == [{"set": "securityContext.runAsNonRoot", "value": True}]
    assert rule["examples"]["bad"] and rule["examples"]["good"]
    assert "k8s-privileged" not in run.out  # the next rule is not included


def test_a_shown_rule_can_be_copied_into_a_pack(cli, tmp_path) -> None:
    shown = cli("rules", "show", "compose-privileged").out
    pack = tmp_path / "mine.yaml"
    pack.write_text("pack: mine\nrules:\n" + "".join(
        "  " + ln.replace("compose-privileged", "mine-privileged") + "\n" for ln in shown.splitlines()))
    run = cli("rules", "test", str(pack))
    assert run.code == 0, run.out + run.err
    assert run.out.strip().endswith("failed (1 rule)")


def test_rules_targets_lists_fields_with_examples_and_relations(cli) -> None:
    run = cli("rules", "targets")
    assert run.code == 0
    out = run.out
    for target in ("kubernetes.container", "kubernetes.workload", "compose.service", "dockerfile.final-stage",
                   "terraform.resource", "terraform.iam-statement"):
        assert f"\n{target}: " in "\n" + out
    container = out.split("kubernetes.container:")[1].split("\n\n")[0]
    assert "    securityContext.runAsNonRoot = " in container
    assert "    containerType = 'container'" in container or "    containerType = 'initContainer'" in container
    assert "relations (for `related: NAME` conditions):" in out
    assert "  networkpolicies-selecting: NetworkPolicies in the pod's namespace" in out


def test_rules_test_and_scan_agree_on_a_duplicate_builtin_id(cli, tmp_path) -> None:
    pack = tmp_path / "dup.yaml"
    pack.write_text((FIXTURES / "packs" / "minimal.yaml").read_text())
    text = pack.read_text()
    first_id = yaml.safe_load(text)["rules"][0]["id"]
    pack.write_text(text.replace(f"id: {first_id}", "id: k8s-run-as-root", 1))
    test_run = cli("rules", "test", str(pack))
    scan_run = cli("scan", str(tmp_path), "--rules", str(pack))
    assert test_run.code == scan_run.code == 2
    for run in (test_run, scan_run):
        assert "rule id 'k8s-run-as-root' is already defined at" in run.err
        assert "policies/kubernetes.yaml:" in run.err


def test_writing_rules_doc_worked_examples_pass_rules_test(cli, tmp_path) -> None:
    from tests.conftest import REPO

    doc = (REPO / "docs" / "writing-rules.md").read_text()
    packs = [part.split("```yaml\n", 1)[1].split("```", 1)[0] for part in doc.split("<!-- pack: ")[1:]]
    assert len(packs) == 3
    for i, pack in enumerate(packs):
        path = tmp_path / f"pack{i}.yaml"
        path.write_text(pack)
        run = cli("rules", "test", str(path))
        assert run.code == 0, run.out + run.err
        assert ", 0 failed (1 rule)" in run.out


POLICY_PACK = """\
pack: acme
rules:
  - id: acme-team-label
    title: Deployment without a team label
    severity: low
    description: Every Deployment names its team.
    remediation: Add metadata.labels.team.
    engine: policy
    target: kubernetes.object
    kinds: [Deployment]
    message: "MESSAGE"
    when: {field: [metadata, labels, team], op: absent}
    examples:
      bad:
        - content: "apiVersion: apps/v1\\nkind: Deployment\\nmetadata:\\n  name: checkout\\n"
          line: 1
      good:
        - "apiVersion: apps/v1\\nkind: Deployment\\nmetadata:\\n  name: checkout\\n  labels: {team: pay}\\n"
"""
DEPLOYMENT = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: checkout\n"


@pytest.mark.parametrize(
    ("message", "wrong"),
    [
        ("{label:a/b} has no team", "{label:a/b}: invalid format spec 'a/b' (label is text, and a count ({n:one/many}) needs a number)"),
        ("{label!x} has no team", "{label!x}: unknown conversion '!x' (!r, !s or !a)"),
        ("{label has no team", "expected '}' before end of string (write '{{' or '}}' for a literal brace)"),
        ("} has no team", "Single '}' encountered in format string (write '{{' or '}}' for a literal brace)"),
        ("{} has no team", "{}: fields are named ({label}, {kind}, {path})"),
        ("{label.upper} has no team", "{label.upper}: a field is a plain name, without attributes or indexes"),
        ("{replicas:zz} x", "{replicas:zz}: invalid format spec 'zz' for text or a number"),
    ],
)
def test_a_bad_message_template_fails_when_the_pack_loads(cli, tmp_path, message, wrong) -> None:
    pack = tmp_path / "acme.yaml"
    pack.write_text(POLICY_PACK.replace("MESSAGE", message))
    (tmp_path / "k8s").mkdir()
    (tmp_path / "k8s" / "app.yaml").write_text(DEPLOYMENT)
    for run in (cli("rules", "test", str(pack)), cli("scan", str(tmp_path / "k8s"), "--rules", str(pack))):
        assert run.code == 2
        assert run.err.strip().splitlines() == [f"scanner: error: {pack}:11: acme-team-label.message: {wrong}"]


def test_a_secrets_message_may_use_only_key(cli, tmp_path) -> None:
    pack = tmp_path / "p.yaml"
    pack.write_text((FIXTURES / "packs" / "minimal.yaml").read_text().replace(
        "    engine: secrets\n", "    engine: secrets\n    message: \"{label} is a GitHub token\"\n"))
    run = cli("rules", "test", str(pack))
    assert run.code == 2
    assert "test-github-token.message: {label}: unknown field (a secrets rule's message may use {key})" in run.err


@pytest.mark.parametrize(
    ("message", "said"),
    [
        ("{label:>21} has no team", "  Deployment/checkout has no team"),
        ("{label!r} has no team", "'Deployment/checkout' has no team"),
        ("{label} has no {{team}} label", "Deployment/checkout has no {team} label"),
        ("{label} has {nosuch:n/ns}", "Deployment/checkout has {nosuch:n/ns}"),  # not the subject's: as written
    ],
)
def test_valid_message_templates_render(cli, tmp_path, message, said) -> None:
    import json

    pack = tmp_path / "acme.yaml"
    pack.write_text(POLICY_PACK.replace("MESSAGE", message.replace('"', '\\"')))
    (tmp_path / "app.yaml").write_text(DEPLOYMENT)
    run = cli("scan", str(tmp_path), "--rules", str(pack), "--only", "acme-team-label", "-f", "json")
    assert run.code == 1, run.err
    assert [f["message"] for f in json.loads(run.out)["findings"]] == [said]
