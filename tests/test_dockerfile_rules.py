"""Every rule of the dockerfile and compose packs: its bad examples fire (at `line:`, `count:` times),
its good examples stay silent, scanned through the real pipeline (parse -> finalize -> policy)."""

from __future__ import annotations

from pathlib import Path

import pytest

from scanner import documents
from scanner.engines import policy
from scanner.model import Item
from scanner.rules.loader import load_pack

ROOT = Path(__file__).resolve().parent.parent
PACKS = [ROOT / "policies" / "dockerfile.yaml", ROOT / "policies" / "compose.yaml"]
DEFAULT_NAME = {"dockerfile": "Dockerfile", "compose": "docker-compose.yml"}


def scan(files: dict[str, str], rules, options=None):
    docs, problems = [], []
    for path, text in files.items():
        d, p = documents.parse_item(Item(path, text.encode()))
        docs.extend(d)
        problems.extend(p)
    docs = documents.finalize(docs)
    return policy.run(rules, docs, options or {}), problems


def _cases():
    for pack in PACKS:
        for rule in load_pack(pack):
            for i, ex in enumerate(rule.bad):
                yield pytest.param(rule, ex, True, id=f"{rule.id}-bad{i}")
            for i, ex in enumerate(rule.good):
                yield pytest.param(rule, ex, False, id=f"{rule.id}-good{i}")


@pytest.mark.parametrize("rule, example, bad", list(_cases()))
def test_examples(rule, example, bad):
    name = example.filename or DEFAULT_NAME[rule.target.split(".")[0]]
    findings, problems = scan({name: example.content}, [rule], example.options)
    assert not problems, problems
    hits = [f for f in findings if f.rule_id == rule.id]
    if not bad:
        assert hits == [], [f.message for f in hits]
        return
    assert hits, f"{rule.id} did not fire on:\n{example.content}"
    if example.count is not None:
        assert len(hits) == example.count, [f.message for f in hits]
    if example.line is not None:
        assert hits[0].line == example.line, [(f.line, f.message) for f in hits]


def test_packs_load_and_targets_exist():
    rules = [r for pack in PACKS for r in load_pack(pack)]
    policy.check_rules(rules)
    assert len({r.id for r in rules}) == len(rules)
