"""Terraform documents and the terraform-aws pack: examples, fixtures (recall / false alarms), lines,
relations in both S3 shapes, plan JSON, suppressions inside blocks and parse problems."""

from __future__ import annotations

from pathlib import Path

import pytest

from scanner import documents as docs_mod
from scanner.engines import policy
from scanner.model import Item
from scanner.rules.loader import load_pack

ROOT = Path(__file__).resolve().parent.parent
PACK = ROOT / "policies" / "terraform-aws.yaml"
FIXTURES = ROOT / "fixtures" / "terraform"
RULES = load_pack(PACK)
BY_ID = {r.id: r for r in RULES}


def scan(files: dict[str, str | bytes], rules=RULES):
    all_docs, problems = [], []
    for path, content in files.items():
        data = content.encode() if isinstance(content, str) else content
        docs, probs = docs_mod.parse_item(Item(path, data))
        all_docs.extend(docs)
        problems.extend(probs)
    all_docs = docs_mod.finalize(all_docs)
    return policy.run(rules, all_docs, {}), problems


def _examples():
    for rule in RULES:
        for i, ex in enumerate(rule.bad):
            yield pytest.param(rule, ex, True, id=f"{rule.id}-bad{i}")
        for i, ex in enumerate(rule.good):
            yield pytest.param(rule, ex, False, id=f"{rule.id}-good{i}")


@pytest.mark.parametrize(("rule", "example", "bad"), list(_examples()))
def test_pack_examples(rule, example, bad):
    findings, problems = scan({example.filename or "main.tf": example.content}, [rule])
    assert not [p for p in problems if p.level != "info"], problems
    hits = [f for f in findings if f.rule_id == rule.id and f.suppression is None]
    if not bad:
        assert hits == [], [(f.line, f.message) for f in hits]
        return
    assert hits, f"{rule.id}: bad example produced no finding"
    if example.count is not None:
        assert len(hits) == example.count
    if example.line is not None:
        assert hits[0].line == example.line, [(f.line, f.message) for f in hits]


def test_pack_passes_shared_examples_runner():
    examples = pytest.importorskip("scanner.rules.examples")
    failures = examples.run_examples(RULES)
    assert failures == []


# -- fixtures: recall and false alarms ------------------------------------------------------------


def _fixture_files() -> dict[str, bytes]:
    return {
        str(p.relative_to(FIXTURES)): p.read_bytes()
        for p in sorted(FIXTURES.rglob("*"))
        if p.is_file() and p.name != "expected.yaml"
    }


def _enclosing(path: str, line: int) -> tuple[int, int]:
    """Line range of the top-level block holding `line` (HCL), else a window for JSON."""
    from scanner.documents.terraform_hcl import parse_hcl

    if path.endswith(".tf"):
        for block in parse_hcl((FIXTURES / path).read_text()):
            if block.line <= line <= block.end_line:
                return block.line, block.end_line
    return line, line + 20


def test_fixture_recall_and_false_alarms():
    import yaml

    from scanner.rules.loader import select_rules

    expected = yaml.safe_load((FIXTURES / "expected.yaml").read_text())
    rules = select_rules(RULES)  # default rules: opt-in ones off
    findings, problems = scan(_fixture_files(), rules)
    active = [f for f in findings if f.suppression is None]
    got = {(f.path, f.line, f.rule_id) for f in active}
    bad = {(e["path"], e["line"], e["rule"]) for e in expected["bad"]}
    found = bad & got
    recall = len(found) / len(bad)
    unexpected = sorted(got - bad)
    good_hits = []
    for e in expected["good"]:
        lo, hi = _enclosing(e["path"], e["line"])
        if any(f.path == e["path"] and f.rule_id == e["rule"] and lo <= f.line <= hi for f in active):
            good_hits.append(e)
    false_alarm_rate = (len(good_hits) + len(unexpected)) / len(expected["good"])
    print(
        f"\nterraform fixtures: recall {recall:.3f} ({len(found)}/{len(bad)} bad labels), "
        f"false alarms {false_alarm_rate:.3f} ({len(good_hits)} good labels hit, {len(unexpected)} unlabelled findings, "
        f"{len(expected['good'])} good labels)"
    )
    assert recall >= 0.95, sorted(bad - got)
    assert false_alarm_rate <= 0.05, (good_hits, unexpected)
    assert unexpected == [], unexpected  # every unlabelled finding is a false positive to fix or label
    assert [p.path for p in problems if p.level == "warning"] == ["broken/main.tf"]
