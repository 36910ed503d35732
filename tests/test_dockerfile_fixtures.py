"""Labelled fixtures (fixtures/dockerfile, fixtures/compose): recall on bad files and false alarms on
good ones for the categories the issue measures (root user, secrets, unpinned images), printed, plus
an exact comparison of every finding with the labels."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from scanner import documents
from scanner.engines import policy
from scanner.model import Item
from scanner.rules.loader import builtin_pack_dir, load_pack

ROOT = Path(__file__).resolve().parent.parent
CATEGORIES = {
    "root": {"dockerfile-root-user"},
    "secrets": {"dockerfile-secret-env", "dockerfile-secret-file-copied", "dockerfile-run-credentials"},
    "images": {"dockerfile-image-unpinned"},
}


def _scan_folder(folder: Path, packs: list[str], options=None):
    rules = [r for p in packs for r in load_pack(ROOT / "policies" / p) if not r.opt_in]
    labels = yaml.safe_load((folder / "expected.yaml").read_text())["files"]
    docs, problems = [], []
    for rel in labels:
        d, p = documents.parse_item(Item(rel, (folder / rel).read_bytes()))
        docs.extend(d)
        problems.extend(p)
    found = {(f.path, f.rule_id, f.line) for f in policy.run(rules, documents.finalize(docs), options or {})}
    expected = {(path, e["rule"], e["line"]) for path, items in labels.items() for e in items or ()}
    return labels, found, expected, problems


def test_every_fixture_file_is_labelled():
    for area in ("dockerfile", "compose"):
        folder = ROOT / "fixtures" / area
        labels = yaml.safe_load((folder / "expected.yaml").read_text())["files"]
        on_disk = {
            str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file() and p.name != "expected.yaml"
        }
        assert on_disk == set(labels), on_disk ^ set(labels)


def test_dockerfile_recall_and_false_alarms():
    labels, found, expected, problems = _scan_folder(ROOT / "fixtures" / "dockerfile", ["dockerfile.yaml"])
    assert problems == []
    good = [p for p in labels if p.startswith("good/")]
    report = []
    for name, rules in CATEGORIES.items():
        want = {e for e in expected if e[1] in rules}
        got = {f for f in found if f[1] in rules}
        recall = len(want & got) / len(want)
        noisy = {f[0] for f in got if f[0] in good}
        false_alarm_rate = len(noisy) / len(good)
        report.append((name, recall, len(want & got), len(want), false_alarm_rate, len(noisy), len(good)))
        print(
            f"\n{name:8s} recall {recall:.2f} ({len(want & got)}/{len(want)})  "
            f"false alarms {false_alarm_rate:.2%} ({len(noisy)}/{len(good)} good files)"
        )
    for name, recall, _, _, rate, _, _ in report:
        assert recall >= 0.95, name
        assert rate <= 0.05, name
    # beyond the targets: every finding is labelled and every label is found
    assert found - expected == set(), "unexpected findings"
    assert expected - found == set(), "missed findings"


def test_compose_fixtures():
    labels, found, expected, problems = _scan_folder(ROOT / "fixtures" / "compose", ["compose.yaml"])
    assert problems == []
    print(f"\ncompose  found {len(found & expected)}/{len(expected)}, unexpected {len(found - expected)}")
    assert found == expected


def test_compose_environment_secrets_reported_once_by_secrets_pack():
    """Secrets in `environment:` are the secrets engine's job: each line is reported (once)."""
    if not (builtin_pack_dir() / "secrets.yaml").exists():
        pytest.skip("secrets pack not there yet")
    from scanner.rules.loader import load_rules
    from scanner.scan import ScanOptions, scan_items

    folder = ROOT / "fixtures" / "compose"
    want = yaml.safe_load((folder / "expected.yaml").read_text())["secrets"]
    rules = tuple(load_rules())
    for rel, lines in want.items():
        result = scan_items([Item(rel, (folder / rel).read_bytes())], ScanOptions(rules=rules))
        secret_lines = [f.line for f in result.findings if f.pack != "compose"]
        assert sorted(set(secret_lines)) == sorted(lines), result.findings
