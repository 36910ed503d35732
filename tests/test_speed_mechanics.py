"""The speed mechanics change nothing a user sees: cached packs, the pattern Set gate, lazy rule
compilation, the rich-free clean report and the detect-secrets heuristics reimplemented."""

from __future__ import annotations

import random
import string
from pathlib import Path

import pytest

from scanner.engines import filters, secrets
from scanner.model import Item
from scanner.rules import loader
from scanner.scan import ScanResult

ROOT = Path(__file__).resolve().parent.parent
PACK = """\
pack: speedtest
description: test pack
rules:
  - id: speed-token
    title: Speed token
    severity: high
    description: A token.
    remediation: Rotate it.
    engine: secrets
    keywords: [spd_]
    pattern: '(?P<secret>spd_[a-z0-9]{16})'
    examples:
      bad: ['t = "spd_0123456789abcdef"']
      good: ['t = os.environ["T"]']
"""


@pytest.fixture()
def cache(tmp_path, monkeypatch):
    folder = tmp_path / "cache"
    monkeypatch.setenv("SCANNER_CACHE_DIR", str(folder))
    monkeypatch.delenv("SCANNER_NO_CACHE", raising=False)
    return folder


def test_pack_cache_hit_gives_the_same_rules(tmp_path, cache):
    pack = tmp_path / "p.yaml"
    pack.write_text(PACK)
    first = loader.load_pack(pack)
    assert list(cache.glob("pack-*.pickle"))
    assert loader.load_pack(pack) == first


def test_changed_or_broken_pack_is_never_served_from_the_cache(tmp_path, cache):
    pack = tmp_path / "p.yaml"
    pack.write_text(PACK)
    loader.load_pack(pack)
    pack.write_text(PACK.replace("severity: high", "severity: low"))
    assert loader.load_pack(pack)[0].severity == "low"
    pack.write_text(PACK.replace("severity: high", "severity: urgent"))
    with pytest.raises(loader.PackError, match="severity"):
        loader.load_pack(pack)


def test_check_failure_is_raised_and_not_cached(tmp_path, cache):
    pack = tmp_path / "p.yaml"
    pack.write_text(PACK)

    def refuse(rules):
        raise loader.PackError("refused")

    with pytest.raises(loader.PackError, match="refused"):
        loader.load_pack(pack, refuse)
    with pytest.raises(loader.PackError, match="refused"):
        loader.load_pack(pack, refuse)


def test_no_cache_switch(tmp_path, cache, monkeypatch):
    monkeypatch.setenv("SCANNER_NO_CACHE", "1")
    pack = tmp_path / "p.yaml"
    pack.write_text(PACK)
    loader.load_pack(pack)
    assert not cache.exists()


def _fixture_items() -> list[Item]:
    items = []
    for folder in ("secrets", "kubernetes", "terraform-secrets", "dockerfile", "compose"):
        for path in sorted((ROOT / "fixtures" / folder).rglob("*")):
            if path.is_file() and path.name != "expected.yaml":
                items.append(Item(str(path.relative_to(ROOT)), path.read_bytes()))
    return items


def test_pattern_set_gate_finds_exactly_what_each_rule_finds_alone():
    rules = loader.load_rules()
    gated = secrets.compile_rules(rules)
    alone = secrets.compile_rules(rules)
    alone.rules._patterned = frozenset()  # every selected rule runs its own pattern
    items = _fixture_items()
    assert items
    found = 0
    for item in items:
        a, b = secrets.scan_item(gated, item), secrets.scan_item(alone, item)
        assert a == b, item.path
        found += len(a)
    assert found > 0


def test_rules_compile_lazily(monkeypatch):
    monkeypatch.setenv("SCANNER_NO_HYPERSCAN", "1")
    compiled = secrets.compile_rules(loader.load_rules())
    assert all(done is None for done in compiled.rules._done)
    secrets.scan_item(compiled, Item("a.py", b'token = "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"\n'))
    assert any(done is None for done in compiled.rules._done)
    compiled.rules.warm()  # without a prefilter: every rule once, before workers fork
    assert all(done is not None for done in compiled.rules._done)


def test_with_a_prefilter_warm_loads_it_and_leaves_rules_to_the_workers():
    pytest.importorskip("hyperscan")
    compiled = secrets.compile_rules(loader.load_rules())
    compiled.rules.warm()
    assert compiled.rules._prefilter is not None and compiled.rules._prefilter is not False
    assert all(done is None for done in compiled.rules._done)
    found = secrets.scan_item(compiled, Item("a.py", b'token = "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"\n'))
    assert [f.rule_id for f in found] == ["github-token"]
    assert 0 < sum(done is not None for done in compiled.rules._done) < 5  # only what confirmed it


def test_clean_text_report_matches_rich():
    pytest.importorskip("rich")
    from rich.console import Console

    from scanner.reporters import text_report

    result = ScanResult([], [], 12, 3_456_789, 0.25, ROOT)
    plain = text_report.render(result, [], color=False)
    buffer = __import__("io").StringIO()
    Console(file=buffer, no_color=True, highlight=False, width=200, soft_wrap=True).print(text_report._summary(result, []))
    assert plain == buffer.getvalue()
    assert plain.startswith("No findings")


class _Cand:
    def __init__(self, secret: str) -> None:
        self.secret = secret
        self.key = ""  # no name: a UUID is then an identifier, as detect-secrets says


def test_heuristics_behave_like_detect_secrets():
    heuristic = pytest.importorskip("detect_secrets.filters.heuristic")
    rng = random.Random(3)
    alphabet = string.ascii_letters + string.digits + "{}<>$-/=+"
    samples = ["", "$", "${a}", "$a", "{a}", "<a>", "abcdef", "123456", "ABCDEF0123", "XYZ=/",
               "550e8400-e29b-41d4-a716-446655440000"]  # fmt: skip
    samples += ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 8))) for _ in range(3000)]
    for s in samples:
        assert filters.is_templated(_Cand(s), None) == heuristic.is_templated_secret(s), s
        assert filters.is_sequential(_Cand(s), None) == heuristic.is_sequential_string(s), s
        assert filters.is_uuid(_Cand(s), None) == heuristic.is_potential_uuid(s), s


def test_forked_workers_find_exactly_what_one_process_finds(monkeypatch):
    """Every fixture document, every built-in policy rule: targets shared out to two forked workers
    give the same findings and problems as one process."""
    from scanner import documents as docs_mod
    from scanner.engines import policy

    root = ROOT / "fixtures"
    docs = []
    for path in sorted(root.rglob("*")):
        if path.is_file():
            docs.extend(docs_mod.parse_item(Item(str(path.relative_to(root)), path.read_bytes()))[0])
    docs = docs_mod.finalize(docs)
    rules = loader.load_rules()
    alone_problems: list = []
    alone = policy.run(rules, docs, {}, alone_problems, jobs=1)
    monkeypatch.setattr(policy, "PARALLEL_MIN_DOCUMENTS", 1)
    forked_problems: list = []
    forked = policy.run(rules, docs, {}, forked_problems, jobs=2)
    assert len(alone) > 200
    assert forked == alone
    assert sorted(forked_problems, key=str) == sorted(alone_problems, key=str)


def test_dockerfile_and_compose_rules_run_in_the_workers_with_the_same_findings(monkeypatch, tmp_path):
    """Documents of a local kind (Dockerfile, Compose) are evaluated file by file where they were
    parsed; the scan reports exactly what evaluating them with the whole scan reports, inline
    ignores and their expiry warnings included."""
    import shutil

    from scanner import documents as docs_mod
    from scanner import scan

    for area in ("dockerfile", "compose", "kubernetes"):
        shutil.copytree(ROOT / "fixtures" / area, tmp_path / area)
    (tmp_path / "ignored.Dockerfile").write_text(
        "FROM python:3.12-slim@sha256:" + "a" * 64 + "\n"
        "# scanner:ignore=dockerfile-root-user a build helper, root by design\n"
        "USER root\n"
        "# scanner:ignore=dockerfile-sudo until=2020-01-01 expired\n"
        "RUN sudo apt-get update\n"
    )
    options = scan.ScanOptions(paths=[str(tmp_path)], rules=loader.load_rules(), jobs=1)
    here = scan.scan_worktree(options)
    assert docs_mod.local_kinds() == {"dockerfile", "compose"}
    monkeypatch.setattr(docs_mod, "local_kinds", lambda: frozenset())
    monkeypatch.setattr(docs_mod, "local_targets", lambda: frozenset())
    whole = scan.scan_worktree(options)
    assert len([f for f in here.findings if f.rule_id.startswith(("dockerfile-", "compose-"))]) > 40
    assert any(f.suppression is not None and f.path.endswith("ignored.Dockerfile") for f in here.findings)
    assert any("expired" in p.message or "2020-01-01" in p.message for p in here.problems)
    assert here.findings == whole.findings
    assert here.problems == whole.problems


def test_rule_paths_that_are_names_match_as_gitignore_does_without_pathspec():
    """Rules limited to file names (`*.properties`, `Dockerfile.*`, `.netrc`) are matched without
    importing pathspec, with gitignore's meaning: any component of the path, `*` within one."""
    import pathspec

    globs = sorted({g for r in loader.load_rules([]) if r.engine == "secrets" for v in (r.paths, r.exclude_paths) if v
                    for g in v})  # fmt: skip
    assert len(globs) > 20
    paths = ["Dockerfile", "a/Dockerfile", "Dockerfile.d/x.txt", "x/Dockerfile.prod", "src/app.py", "src/app.pyc",
             "a.py/b.txt", ".netrc", "home/.netrc", "x.netrc", "pgpass.conf", "etc/pgpass.conf.bak", "a/b/c.properties",
             "c.properties.orig", "ci/Jenkinsfile", "my.Jenkinsfile", "dir.c/readme", ".c", "c", "z.gox", "_netrc"]  # fmt: skip
    for glob in [*globs, "*", "a*b*c"]:
        names, spec = secrets._spec([glob]), pathspec.GitIgnoreSpec.from_lines([glob])
        assert isinstance(names, secrets._Names)
        assert [names.match_file(p) for p in paths] == [spec.match_file(p) for p in paths], glob
    for other in ["conf/*.yaml", "**/x", "!x", "[ab].c", "a?c"]:  # anything more: pathspec itself
        assert not isinstance(secrets._spec([other]), secrets._Names)
