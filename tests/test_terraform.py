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
