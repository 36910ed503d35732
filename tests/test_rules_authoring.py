"""Pack authoring from the CLI: `rules show` prints the rule as YAML, `rules targets` lists what a
condition can use, and `rules test` and `scan --rules` agree on duplicate ids."""

from __future__ import annotations

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
