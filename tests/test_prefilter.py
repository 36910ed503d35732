"""The Hyperscan prefilter changes nothing a user sees: with it or without it (RE2 alone), every file
gives the same findings, ASCII or not, valid UTF-8 or not. It is compiled once and cached; a broken
cache, a pattern Hyperscan cannot compile or a crashing compiler only mean less speed."""

from __future__ import annotations

import functools
import platform
import subprocess
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scanner.engines import pattern_core, prefilter, secrets
from scanner.model import Item
from scanner.rules import loader

ROOT = Path(__file__).resolve().parent.parent
HAS_WHEEL = platform.machine().lower() in {"x86_64", "amd64", "aarch64", "arm64"}

pytestmark = pytest.mark.skipif(
    not HAS_WHEEL and not prefilter.available(), reason="no hyperscan wheel for this platform: RE2 alone"
)


@pytest.fixture(autouse=True)
def _no_memo(monkeypatch):
    monkeypatch.setattr(prefilter, "_MEMO", {})  # each test compiles or loads for itself


@pytest.fixture(scope="module")
def engines():
    """(with the prefilter, RE2 alone) over the built-in rules."""
    rules = loader.load_rules()
    fast = secrets.compile_rules(rules)
    fast.rules.warm()
    assert isinstance(fast.rules.prefilter(), prefilter.Prefilter), "hyperscan is a dependency here"
    slow = secrets.compile_rules(rules)
    slow.rules._prefilter = None  # never built: RE2 keyword set, then RE2 pattern set
    return fast, slow


def _fixture_items() -> list[Item]:
    items = []
    for path in sorted((ROOT / "fixtures").rglob("*")):
        if path.is_file():
            items.append(Item(str(path.relative_to(ROOT)), path.read_bytes()))
    return items


def test_every_fixture_gives_the_same_findings(engines):
    fast, slow = engines
    found = 0
    for item in _fixture_items():
        a = secrets.scan_item(fast, item)
        assert a == secrets.scan_item(slow, item), item.path
        found += len(a)
    assert found > 100  # the fixtures are full of (fake) secrets: the comparison compared something


def test_rule_examples_in_text_that_is_not_ascii(engines):
    """Each example inside non-ASCII text (accents, CJK, the two characters that case-fold to
    ASCII, a no-break space), and with those characters inside it."""
    fast, slow = engines
    examples = [e for e in _rule_example_texts() if e]
    assert len(examples) > 100
    found = 0
    for i, text in enumerate(examples):
        for variant in (
            f"# café 中文 \u212aey\n{text}\n",
            text.replace("=", "=\u00e9", 1),
            text.replace('"', '"\u4e2d', 1),
            text.replace("k", "\u212a").replace("s", "\u017f"),
            f"ﬁ {text}\u00a0ok",
        ):
            item = Item(f"ex{i}.txt", variant.encode())
            a = secrets.scan_item(fast, item)
            assert a == secrets.scan_item(slow, item), variant
            found += len(a)
    assert found > 100


@functools.lru_cache(maxsize=1)
def _rule_example_texts() -> list[str]:
    texts = []
    for rule in loader.load_rules():
        if rule.engine != "secrets":
            continue
        texts.extend(example.content for example in rule.bad + rule.good)
    return texts


PIECES = st.sampled_from(
    ["password = ", "secret: ", "token=", '"', "'", "\n", " ", "=", ":", "é", "中", "\u212a", "\u017f", "\u00a0",
     "AKIA", "ghp_", "sk_live_", "xoxb-", "-----BEGIN RSA PRIVATE KEY-----", "https://user:", "@host/db", "\xff"]
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.one_of(PIECES, st.text(min_size=1, max_size=40)), max_size=30), st.data())
def test_random_text_gives_the_same_findings(engines, parts, data):
    fast, slow = engines
    examples = _rule_example_texts()
    parts = parts + [data.draw(st.sampled_from(examples)) for _ in range(data.draw(st.integers(0, 3)))]
    text = "".join(data.draw(st.permutations(parts)))
    raw = text.encode("utf-8", "surrogatepass")
    if data.draw(st.booleans()):
        raw = raw.replace(b"\xc3\xa9", b"\xe9")  # latin-1 bytes in a UTF-8 file: not UTF-8 at all
    item = Item("random.env", raw)
    assert secrets.scan_item(fast, item) == secrets.scan_item(slow, item)


def test_database_is_cached_and_reused(tmp_path, monkeypatch):
    monkeypatch.setenv("SCANNER_CACHE_DIR", str(tmp_path))
    monkeypatch.delenv("SCANNER_NO_CACHE", raising=False)
    patterns = [(0, r"(?P<secret>tok_[a-z0-9]{16})"), (1, r"(?U)pw=\S+")]  # (?U): RE2 only
    first = prefilter.build(["tok_"], patterns)
    assert first is not None and len(list(tmp_path.glob("hyperscan-*.db"))) == 1

    def no_compiler(*args, **kwargs):
        raise AssertionError("compiled again instead of loading the cache")

    monkeypatch.setattr(subprocess, "run", no_compiler)
    again = prefilter.build(["tok_"], patterns)
    keywords, maybe = again.scan(b"x = tok_0123456789abcdef\n")
    assert keywords == [0] and maybe == {0, 1}  # rule 1: Hyperscan cannot compile (?U), so always "may"
    assert again.scan(b"nothing here\n") == ([], {1})


def test_a_cached_database_loads_without_cutting_the_patterns_again(tmp_path, monkeypatch):
    """Cutting every built-in pattern (pattern_core) takes ~0.1 s: a pre-commit run that finds the
    database cached must not pay it; new keywords (another cut) compile a new database."""
    monkeypatch.setenv("SCANNER_CACHE_DIR", str(tmp_path))
    monkeypatch.delenv("SCANNER_NO_CACHE", raising=False)
    patterns = [(0, r"(?i)(?:host|user|uid)=[^;]*;(?P<key>password|pwd)=(?P<secret>\S+)")]
    assert prefilter.build(["password"], patterns, anchors={0: ("password", "pwd")}) is not None
    prefilter._MEMO.clear()  # as a new process

    def no_cutting(*args, **kwargs):
        raise AssertionError("cut the patterns again instead of loading the cache")

    monkeypatch.setattr(prefilter, "core", no_cutting)
    again = prefilter.build(["password"], patterns, anchors={0: ("password", "pwd")})
    assert again is not None and again.scan(b"uid=a;password=hunter22\n") == ([0], {0})
    with pytest.raises(AssertionError, match="cut the patterns again"):
        prefilter.build(["password"], patterns, anchors={0: ("pwd",)})


def test_without_a_cache_folder_it_is_compiled_once_per_process(monkeypatch):
    monkeypatch.setenv("SCANNER_NO_CACHE", "1")
    calls = []
    real = subprocess.run

    def counting(*args, **kwargs):
        calls.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(subprocess, "run", counting)
    assert prefilter.build(["tok_"], [(0, r"tok_[a-z]+")]) is not None
    assert prefilter.build(["tok_"], [(0, r"tok_[a-z]+")]) is not None
    assert len(calls) == 1


def test_damaged_cache_is_compiled_again(tmp_path, monkeypatch):
    monkeypatch.setenv("SCANNER_CACHE_DIR", str(tmp_path))
    monkeypatch.delenv("SCANNER_NO_CACHE", raising=False)
    assert prefilter.build(["tok_"], [(0, r"tok_[a-z]+")]) is not None
    (db,) = tmp_path.glob("hyperscan-*.db")
    db.write_bytes(db.read_bytes()[:100])
    built = prefilter.build(["tok_"], [(0, r"tok_[a-z]+")])
    assert built is not None and built.scan(b"tok_abc") == ([0], {0})


def test_a_compiler_crash_means_re2_alone_and_is_not_retried(tmp_path, monkeypatch):
    monkeypatch.setenv("SCANNER_CACHE_DIR", str(tmp_path))
    monkeypatch.delenv("SCANNER_NO_CACHE", raising=False)
    monkeypatch.setattr(prefilter, "_COMPILER", "import os; os.abort()")
    assert prefilter.build(["tok_"], [(0, r"tok_[a-z]+")]) is None
    calls = []
    monkeypatch.setattr(subprocess, "run", lambda *a, **k: calls.append(a) or subprocess.CompletedProcess(a, 1, b"", b""))
    monkeypatch.setattr(prefilter, "_MEMO", {})  # a new process: only the cache folder remembers
    assert prefilter.build(["tok_"], [(0, r"tok_[a-z]+")]) is None
    assert calls == []  # the next run does not wait for the compiler again
    assert prefilter.build(["tok_"], [(0, r"tok_[a-z]+"), (1, r"pw=\S+")]) is None  # a new rule set tries
    assert len(calls) == 1


def test_a_compiler_that_hangs_is_stopped(tmp_path, monkeypatch):
    monkeypatch.setenv("SCANNER_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(prefilter, "_COMPILER", "import time; time.sleep(30)")
    monkeypatch.setattr(prefilter, "COMPILE_TIMEOUT", 0.5)
    assert prefilter.build(["tok_"], [(0, r"tok_[a-z]+")]) is None


def test_switch_off(monkeypatch):
    monkeypatch.setenv("SCANNER_NO_HYPERSCAN", "1")
    assert prefilter.build(["tok_"], [(0, r"tok_[a-z]+")]) is None


def test_one_byte_per_character():
    assert prefilter.one_byte_per_char("aé中\u212a\u017f") == b"a\xe9\x80Ks"
    assert prefilter.ascii_safe(r"(?i)pass(?:word)?\s*=\s*[^\s'\"]{8,64}")
    assert not prefilter.ascii_safe(r"\pL{8}") and not prefilter.ascii_safe("mot de passe é")


def test_a_cached_database_is_used_at_once_and_a_missing_one_not_compiled_for_a_small_scan(tmp_path, monkeypatch):
    monkeypatch.setenv("SCANNER_CACHE_DIR", str(tmp_path))
    monkeypatch.delenv("SCANNER_NO_CACHE", raising=False)
    rules = loader.load_rules()
    item = Item("app.env", b"GITHUB_TOKEN=ghp_" + b"aB3dE5gH7jK9mN1pQ3rS5tU7vW9xY14LYAlj" + b"\n")
    first = secrets.compile_rules(rules)
    found = secrets.scan_item(first, item)
    assert [f.rule_id for f in found] == ["github-token"]
    assert first.rules._prefilter is False and not list(tmp_path.glob("hyperscan-*.db"))  # not compiled for 1 file
    first.rules.warm()  # a large scan compiles and caches it
    assert list(tmp_path.glob("hyperscan-*.db"))
    second = secrets.compile_rules(rules)
    assert secrets.scan_item(second, item) == found
    assert isinstance(second.rules._prefilter, prefilter.Prefilter)  # loaded from the cache for one file


def test_the_pass_gets_each_pattern_without_its_leading_context():
    """pattern_core drops what only bounds a match ((?:^|[^A-Za-z0-9]), \\b, a [A-Za-z0-9_.-]* before
    the key words): it matches wherever the whole pattern does, on every example and fixture."""
    import re2

    rules = [r for r in loader.load_rules() if r.engine == "secrets" and r.pattern and not r.decoder]
    texts = [t.encode() for t in _rule_example_texts()] + [item.data for item in _fixture_items()]
    shortened = 0
    for rule in rules:
        for cut in {pattern_core.core(rule.pattern), pattern_core.core(rule.pattern, rule.keywords)}:
            if cut == rule.pattern:
                continue
            shortened += 1
            whole, part = re2.compile(rule.pattern.encode()), re2.compile(cut.encode())
            for text in texts:
                if whole.search(text):
                    assert part.search(text), (rule.id, cut, text[:200])
    assert shortened > 100
    generic = next(r for r in rules if r.id == "generic-secret-assignment")
    assert pattern_core.core(generic.pattern).startswith("(?im)(?:pass|pw|secret|token|")


@pytest.mark.parametrize(
    ("pattern", "cut"),
    [
        (r"\b(?P<secret>ghp_[A-Za-z0-9]{36})\b", r"(?P<secret>ghp_[A-Za-z0-9]{36})\b"),
        (r"\bAKIA[0-9A-Z]{16}", r"AKIA[0-9A-Z]{16}"),
        (r"(?i)(?:^|[^a-z])(?P<key>[a-z_]*(?:token|secret))=x|<(?P<k2>[a-z]*pass)>", r"(?i)(?:token|secret)=x|pass>"),
        (r"[a-z]{3}[0-9]Q~[a-z]{31}", r"Q~[a-z]{31}"),
    ],
)
def test_pattern_core_shapes(pattern, cut):
    assert pattern_core.core(pattern) == cut


def test_the_pass_starts_the_generic_rules_at_their_own_trigger_words():
    """connection-string-password starts at password|pwd (its keywords), not at the server=, host=,
    user= that most files hold; generic-secret-call's `:token =>` form starts at the secret word,
    not at every `:`; a rule whose first literal is rarer than its keywords keeps it."""
    rules = {r.id: r for r in loader.load_rules() if r.engine == "secrets"}
    connection = rules["connection-string-password"]
    assert pattern_core.core(connection.pattern, connection.keywords).startswith("(?i)(?P<key>password|pwd)[ \\t]*=")
    call = rules["generic-secret-call"]
    assert "|(?i:(?:pass|pw|secret|token|" in pattern_core.core(call.pattern, call.keywords)
    terraform = rules["generic-terraform-variable-default"]
    assert pattern_core.core(terraform.pattern, terraform.keywords).startswith('(?i)variable[ \\t]+"')


@pytest.mark.parametrize(
    ("pattern", "keywords", "cut"),
    [
        (r"(?i)(?:server|host|user|uid)=[^;]*;(?P<key>password|pwd)=\S+", ("password", "pwd"), r"(?i)(?P<key>password|pwd)=\S+"),
        (r"(?i)variable (?P<key>[a-z]*(?:pass|token))=x", ("pass", "token"), r"(?i)variable (?P<key>[a-z]*(?:pass|token))=x"),
        (r"(?:^|\s):(?P<key>(?i:[a-z]*(?:pass|token)))=\S+", (":pass",), r"(?i:(?:pass|token))=\S+"),
        (r"[A-Za-z_]\w*(?:[Pp]ass|[Tt]oken)\(x\)", (), r"(?:[Pp]ass|[Tt]oken)\(x\)"),
    ],
)
def test_pattern_core_with_keywords(pattern, keywords, cut):
    assert pattern_core.core(pattern, keywords) == cut


@pytest.mark.parametrize(
    "pattern",
    [
        r"AKIA[0-9A-Z]{16}",  # starts with a literal run already
        r"(?P<key>[a-z]*(?i)pass)=\S+",  # flags set inside: their scope is not moved
        r"[a-z]+\Q.*\E",  # \Q...\E: not taken apart
        r"[a-z]*(x",  # not a pattern at all
        r"(?:^|\s)[0-9a-f]{40}",  # no run of two literals to start at
    ],
)
def test_pattern_core_leaves_what_it_does_not_take_apart(pattern):
    assert pattern_core.core(pattern) == pattern
