"""The terraform-gcp and terraform-azure packs: every rule's examples, the GCP and Azure fixture
projects (recall on the labelled bad findings, no finding on the secure projects), the generic
`items` relation and the `covers_port` / `expression_matches` operators they rely on."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from scanner import documents as docs_mod
from scanner.engines import generic, policy
from scanner.model import Item
from scanner.rules.loader import load_pack, select_rules

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures" / "terraform"
PACKS = {name: load_pack(ROOT / "policies" / f"terraform-{name}.yaml") for name in ("gcp", "azure")}


def scan(files: dict[str, str | bytes], rules):
    all_docs, problems = [], []
    for path, content in files.items():
        data = content.encode() if isinstance(content, str) else content
        docs, probs = docs_mod.parse_item(Item(path, data))
        all_docs.extend(docs)
        problems.extend(probs)
    all_docs = docs_mod.finalize(all_docs)
    return policy.run(rules, all_docs, {}), problems


def _examples():
    for pack, rules in PACKS.items():
        for rule in rules:
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
    assert example.line is not None, f"{rule.id}: every bad example names its line"
    assert hits[0].line == example.line, [(f.line, f.message) for f in hits]


@pytest.mark.parametrize("pack", sorted(PACKS))
def test_every_rule_has_two_bad_and_two_good_examples_and_references(pack):
    for rule in PACKS[pack]:
        assert len(rule.bad) >= 2 and len(rule.good) >= 2, rule.id
        assert any("registry.terraform.io" in r for r in rule.references), rule.id
        assert any("cloud.google.com" in r or "learn.microsoft.com" in r for r in rule.references), rule.id


@pytest.mark.parametrize("pack", sorted(PACKS))
def test_pack_passes_shared_examples_runner(pack):
    from scanner.rules import examples

    assert examples.run_examples(PACKS[pack]) == []
