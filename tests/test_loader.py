"""Rule packs: schema errors name file, line and field; ids are unique; --only/--skip/opt-in."""

from __future__ import annotations

import pytest

from scanner.rules.loader import PackError, load_pack, load_rules, select_rules
from tests.conftest import MINIMAL_PACK

RULE = """\
  - id: {id}
    title: Example
    severity: low
    description: d
    remediation: r
    engine: secrets
    keywords: [abc]
    pattern: 'abc[0-9]+'
    opt_in: {opt_in}
    examples:
      bad: ["abc123"]
      good: ["abd"]
"""


def _pack(tmp_path, name, *rules, opt_in="false"):
    path = tmp_path / f"{name}.yaml"
    path.write_text(f"pack: {name}\nrules:\n" + "".join(RULE.format(id=r, opt_in=opt_in) for r in rules))
    return path


def test_minimal_pack_loads():
    [rule] = load_pack(MINIMAL_PACK)
    assert (rule.id, rule.pack, rule.severity, rule.source_line) == ("test-github-token", "minimal", "high", 4)


def test_missing_required_field_names_the_rule_line(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text("pack: p\nrules:\n  - id: x\n    title: t\n    severity: low\n")
    with pytest.raises(PackError, match=r"p\.yaml:3: rules\[0\]: 'description' is a required property"):
        load_pack(path)


def test_not_yaml_and_not_a_mapping(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("pack: [unclosed\n")
    with pytest.raises(PackError, match=r"bad\.yaml: line \d+"):
        load_pack(bad)
    bad.write_text("- just a list\n")
    with pytest.raises(PackError, match="a rule pack is one YAML mapping"):
        load_pack(bad)


def test_duplicate_ids_across_packs(tmp_path):
    a = _pack(tmp_path, "a", "dup-rule")
    b = _pack(tmp_path, "b", "dup-rule")
    with pytest.raises(PackError, match=r"b\.yaml:3: id: rule id 'dup-rule' is already defined at .*a\.yaml:3"):
        load_rules([a, b], builtin=False)


def test_folder_of_packs_and_missing_path(tmp_path):
    _pack(tmp_path, "a", "one")
    _pack(tmp_path, "b", "two")
    assert [r.id for r in load_rules([tmp_path], builtin=False)] == ["one", "two"]
    with pytest.raises(PackError, match="no such rule pack"):
        load_rules([tmp_path / "nope.yaml"], builtin=False)


def test_select_only_skip_and_opt_in(tmp_path):
    rules = load_rules([_pack(tmp_path, "a", "one", "two"), _pack(tmp_path, "b", "three", opt_in="true")], builtin=False)
    assert [r.id for r in select_rules(rules)] == ["one", "two"]  # opt-in rules are off by default
    assert [r.id for r in select_rules(rules, only=["b"])] == []  # naming the pack does not enable them
    assert [r.id for r in select_rules(rules, only=["three"])] == ["three"]
    assert [r.id for r in select_rules(rules, skip=["one"])] == ["two"]
    with pytest.raises(PackError, match="unknown rule id or pack name: zzz"):
        select_rules(rules, only=["zzz"])


def test_builtin_packs_are_valid():
    rules = load_rules()
    assert len({r.id for r in rules}) == len(rules)


def test_a_cache_write_removes_the_temporary_files_killed_writers_left(tmp_path, monkeypatch):
    """A writer killed mid-write (SIGKILL, out of memory) leaves its `.XXXX.tmp` (a listing's can be
    tens of MB); the next cache write removes the ones an hour old, and leaves a live writer's."""
    import os
    import time

    from scanner.rules import loader

    cache = tmp_path / "cache"
    cache.mkdir()
    abandoned, live = cache / ".k1ll3d.tmp", cache / ".wr1t1ng.tmp"
    abandoned.write_bytes(b"x" * 4096)
    live.write_bytes(b"y")
    hours_ago = time.time() - 2 * 3600
    os.utime(abandoned, (hours_ago, hours_ago))
    monkeypatch.setenv("SCANNER_CACHE_DIR", str(cache))
    monkeypatch.delenv("SCANNER_NO_CACHE", raising=False)
    loader.load_rules()  # the packs are cached: cache writes
    assert any(cache.glob("pack-*.pickle"))
    assert not abandoned.exists() and live.exists()
