"""The secrets engine: one keyword pass (RE2 set) over the whole blob, then only the rules whose
keywords occur run their RE2 pattern, then the small named filters of `filters.py` drop what is not
a leak. No per-line Python loop over every rule."""

from __future__ import annotations

import bisect
import hashlib
import itertools
import math
import operator
import re
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, NamedTuple

import re2

from scanner.engines import filters, prefilter
from scanner.model import Finding, Item, Location, fingerprint, utf8
from scanner.rules import messages
from scanner.rules.loader import PackError, Rule, quiet_re2_options

if TYPE_CHECKING:
    from scanner.sources.worktree import Patterns

MAX_EVIDENCE = 160
DOCUMENTED = "documented example value"  # the reason an `info` finding gives
PREFILTER_AFTER = 4 << 20  # bytes: below this, compiling the Hyperscan database costs more than it saves
PATHS_KEPT = 1 << 15  # paths whose answers from the rules' path filters are remembered


class Candidate(NamedTuple):
    """A possible secret, found by a pattern or produced by a decoder."""

    secret: str
    start: int  # byte offset of the secret in the item (for line/column); -1 if only `line` is known
    line: int = 0  # set by decoders that know the line
    context: str = ""  # the line of text the secret sits on (for filters and evidence)
    key: str = ""  # the name the value is assigned to, when known (pattern group `key`)
    raw: str = ""  # the text as written when `secret` was decoded from it (redacted in evidence too)


class CompiledRule(NamedTuple):
    rule: Rule
    regex: object | None
    allow: tuple[object, ...]
    filters: tuple[Callable[[Candidate, Rule], bool], ...]
    secret_groups: tuple[int, ...] = ()  # `secret`, then `secret2`, `secret_x`...: first that took part
    key_groups: tuple[int, ...] = ()  # `key`, `key2`...: the name the secret is assigned to


class Compiled(NamedTuple):
    keyword_owner: tuple[tuple[int, ...], ...]  # keyword index -> compiled rule indexes
    always: tuple[int, ...]  # rules without keywords
    rules: _LazyRules  # compiled on first use


def _options(case_sensitive: bool = True, latin1: bool = False) -> re2.Options:
    opts = quiet_re2_options()
    opts.case_sensitive = case_sensitive
    opts.max_mem = 256 << 20
    if latin1:  # byte for byte: keywords match ASCII-case-insensitively, as in the Hyperscan prefilter
        opts.encoding = re2.Options.Encoding.LATIN1
    return opts


def _spec(globs: Iterable[str]) -> Patterns | _Names | None:
    globs = list(globs)
    if not globs:
        return None
    if all(_NAME_GLOB.fullmatch(g) for g in globs):
        return _Names(globs)
    from scanner.sources.worktree import Patterns

    return Patterns(globs)  # pathspec, as --exclude matches (a file name that is not UTF-8 too)


# a gitignore pattern that is a name with `*` wildcards at most (`*.properties`, `Dockerfile.*`,
# .netrc: what the built-in packs use), and no slash, class, negation, escape or `**`
_NAME_GLOB = re.compile(r"(?:[A-Za-z0-9_.+@%=,~-]|\*(?!\*))+")


class _Names:
    """Gitignore's meaning of name patterns (any component of the path matches, a file's name or a
    folder's, and `*` stops at a slash) without importing pathspec: ~30 ms a process."""

    def __init__(self, globs: list[str]) -> None:
        names = "|".join("[^/]*".join(re.escape(part) for part in glob.split("*")) for glob in globs)
        self._regex = re.compile(f"(?:^|/)(?:{names})(?:/|$)")

    def match_file(self, path: str) -> bool:
        return self._regex.search(path) is not None


def _compile_rule(rule: Rule) -> CompiledRule:
    regex = re2.compile(rule.pattern.encode(), _options()) if rule.pattern else None
    names = {(k.decode() if isinstance(k, bytes) else k): v for k, v in (regex.groupindex if regex else {}).items()}
    secret_groups = tuple(
        sorted(
            (v for k, v in names.items() if k.startswith(rule.secret_group)),
            key=lambda v: (v != names.get(rule.secret_group), v),
        )
    )
    return CompiledRule(
        rule=rule,
        regex=regex,
        allow=tuple(re2.compile(a) for a in rule.allow),
        filters=filters.pipeline(rule),
        secret_groups=secret_groups,
        key_groups=tuple(sorted(v for k, v in names.items() if k.startswith("key"))),
    )


class _LazyRules(Sequence):
    """Compiled rules, each compiled the first time it is needed: a scan of a few files (pre-commit)
    compiles only the rules whose keywords occur in them. Also the passes that choose them: the
    Hyperscan prefilter, or without it the RE2 pattern Set (see warm())."""

    def __init__(self, rules: Sequence[Rule], keywords: Sequence[str] = ()) -> None:
        self._rules = tuple(rules)
        self._keywords = tuple(keywords)  # in keyword-set order
        self._done: list[CompiledRule | None] = [None] * len(self._rules)
        self._patterned: frozenset[int] | None = None
        self._set: object = False  # False: not built yet
        self._kw_set: object = False  # False: not built yet
        self._prefilter: object = False  # False: not built yet
        self._scanned = 0  # bytes this process scanned without the prefilter
        self._looked_in_cache = False
        self._specs: dict[int, tuple[Patterns | _Names | None, Patterns | _Names | None]] = {}
        self._limited = frozenset(i for i, r in enumerate(self._rules) if r.paths or r.exclude_paths)
        self._barred: dict[str, frozenset[int]] = {}  # path -> the limited rules it does not allow

    def __len__(self) -> int:
        return len(self._rules)

    def __getitem__(self, index):  # noqa: ANN001, ANN204 - int or slice, like a tuple
        if isinstance(index, slice):
            return tuple(self[i] for i in range(*index.indices(len(self))))
        done = self._done[index]
        if done is None:
            done = self._done[index] = _compile_rule(self._rules[index])
        return done

    def on_path(self, selected: set[int], path: str) -> set[int]:
        """The selected rules whose `paths` / `exclude_paths` allow this file (asked before a rule is
        compiled, and before the file is looked at again). Remembered per path: a history holds
        each path in many blobs."""
        if not selected & self._limited:
            return selected
        barred = self._barred.get(path)
        if barred is None:
            if len(self._barred) >= PATHS_KEPT:
                self._barred.clear()
            barred = self._barred[path] = frozenset(i for i in self._limited if not self._path_allows(i, path))
        return selected - barred if barred else selected

    def _path_allows(self, index: int, path: str) -> bool:
        rule = self._rules[index]
        specs = self._specs.get(index)
        if specs is None:
            specs = self._specs[index] = (_spec(rule.paths), _spec(rule.exclude_paths))
        include, exclude = specs
        return (include is None or include.match_file(path)) and (exclude is None or not exclude.match_file(path))

    def warm(self) -> None:
        """Before forking workers: the prefilter, loaded or compiled once here. Without one, every
        rule and the RE2 keyword and pattern Sets, compiled once here rather than in each worker; with one, each
        worker compiles the few rules it confirms, side by side (~30 ms less before the first file)."""
        filters.compile_all()
        if self.prefilter() is None:
            for index in range(len(self)):
                self[index]
            self.keyword_set()
            self.pattern_set()

    def prefilter(self, more: int = PREFILTER_AFTER) -> prefilter.Prefilter | None:
        """The Hyperscan prefilter; None without Hyperscan. Loaded from the cache at once (a few ms,
        less than compiling the RE2 sets); compiled, when not cached, only once this process has
        scanned PREFILTER_AFTER bytes (a pre-commit run over a few files never waits for it) or at
        warm()."""
        if self._prefilter is False:
            if not self._looked_in_cache:
                self._looked_in_cache = True
                cached = prefilter.build(
                    self._keywords, self._patterns(), compile_missing=False, unfiltered=self._by_path(), anchors=self._anchors()
                )
                if cached is not None:
                    self._prefilter = cached
                    return cached
            self._scanned += more
            if self._scanned < PREFILTER_AFTER:
                return None
            self._prefilter = prefilter.build(
                self._keywords, self._patterns(), unfiltered=self._by_path(), anchors=self._anchors()
            )
        return self._prefilter  # type: ignore[return-value]

    def _patterns(self) -> list[tuple[int, str]]:
        """Patterns for the Hyperscan pass: not those of rules limited to a few file names (`paths:`,
        e.g. *.properties, Dockerfile), which would cost every file a share of the pass; their
        keywords still select them, and their path test, first in _confirm, is cheaper."""
        by_path = set(self._by_path())
        return [(i, self._rules[i].pattern) for i in sorted(self.pattern_indexes()) if i not in by_path]

    def _anchors(self) -> dict[int, tuple[str, ...]]:
        """Each pattern rule's keywords: in the pass, its pattern starts at them where it can (a
        rule is selected only when one of them occurs, so the pass need not look anywhere else)."""
        return {i: self._rules[i].keywords for i in self.pattern_indexes() if self._rules[i].keywords}

    def _by_path(self) -> list[int]:
        return [i for i in sorted(self.pattern_indexes()) if self._rules[i].paths]

    def pattern_indexes(self) -> frozenset[int]:
        """Rules whose candidates come from their own pattern (not from a decoder) and whose pattern
        joins the prefilter pass (Hyperscan or the RE2 Set). A rule with `prefilter: keywords` (a vendor
        prefix such as gsk_ is its keyword) is selected by its keywords alone: each pattern in that
        pass costs every file a share of it (the pass slows down with the number of literals), while
        a rare keyword only costs the few files that contain it one run of the rule's own pattern."""
        if self._patterned is None:
            self._patterned = frozenset(
                i for i, r in enumerate(self._rules) if r.pattern and not r.decoder and r.prefilter != "keywords"
            )
        return self._patterned

    def keyword_set(self) -> object | None:
        """One RE2 Set of the keywords (in keyword order: Compiled.keyword_owner), for the scans
        without the Hyperscan prefilter; built when first needed (~4 ms, which a scan with the
        prefilter, a history shard's, never spends). None without keywords."""
        if self._kw_set is False:
            built = None
            if self._keywords:
                built = re2.Set.SearchSet(_options(case_sensitive=False, latin1=True))
                for kw in self._keywords:
                    built.Add(re2.escape(kw.encode()))
                built.Compile()
            self._kw_set = built
        return self._kw_set

    def pattern_set(self) -> tuple[object, tuple[int, ...]] | None:
        """One RE2 Set of every pattern rule: a single pass says which of them match anywhere in a
        file, so a file whose keywords selected several rules (`password` occurs in half of all source
        files and selects every generic rule) is read once, not once per rule; only the rules that
        match run their own pattern (for positions and groups). A Set's DFA never gives up on slow
        input (RE2 has no fallback for sets), so a rule it leaves out has no match. None when the Set
        cannot be built: then each rule runs on its own."""
        if self._set is False:
            order = tuple(sorted(self.pattern_indexes()))
            try:
                built = re2.Set.SearchSet(_options())
                for i in order:
                    built.Add(self._rules[i].pattern.encode())
                built.Compile()
                self._set = (built, order) if len(order) > 1 else None
            except re2.error:
                self._set = None
        return self._set  # type: ignore[return-value]


def check_rules(rules: Sequence[Rule]) -> None:
    """Filter and decoder names a secrets rule uses must exist: PackError naming the rule otherwise
    (at load, where a pack's other mistakes are reported, not at its first match)."""
    from scanner.engines.decoders import DECODERS

    for rule in rules:
        if rule.engine != "secrets":
            continue
        try:
            filters.pipeline(rule)
        except KeyError as exc:
            raise PackError(str(exc.args[0])) from None
        if rule.decoder and rule.decoder not in DECODERS:
            raise PackError(
                f"{rule.source}:{rule.source_line}: {rule.id}.decoder: unknown decoder '{rule.decoder}' "
                f"(known: {', '.join(sorted(DECODERS))})"
            )


def compile_rules(rules: Iterable[Rule]) -> Compiled:
    """Which rules each keyword selects now; the keyword and pattern passes, and each rule's own
    pattern, allow-list and path specs, when first used (_LazyRules)."""
    chosen: list[Rule] = []
    keywords: dict[str, list[int]] = {}
    always: list[int] = []
    for rule in rules:
        if rule.engine != "secrets":
            continue
        index = len(chosen)
        chosen.append(rule)
        if rule.keywords:
            for kw in rule.keywords:
                keywords.setdefault(kw.lower(), []).append(index)
        else:
            always.append(index)
    return Compiled(tuple(tuple(idx) for idx in keywords.values()), tuple(always), _LazyRules(chosen, tuple(keywords)))


def shannon_entropy(text: str) -> float:
    if not text:
        return 0.0
    counts = Counter(text)
    n = len(text)
    return -sum(c / n * math.log2(c / n) for c in counts.values())


def redact(secret: str) -> str:
    """Enough to recognise a secret you own, never enough to use it."""
    if len(secret) >= 16:
        return secret[:4] + "*" * 8
    return "*" * 8


class _Lines:
    """Line lookups on demand: newline offsets are computed once per item, only if there is a hit."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self._starts: list[int] | None = None

    def starts(self) -> list[int]:
        if self._starts is None:
            # line i starts after the lengths of lines 0..i-1 and i newlines: C iterators, no Python loop
            lengths = map(len, self.data.split(b"\n"))
            starts = list(map(operator.add, itertools.accumulate(lengths, initial=0), itertools.count()))
            starts.pop()  # the offset past the end
            self._starts = starts
        return self._starts

    def locate(self, offset: int) -> tuple[int, int]:
        starts = self.starts()
        index = bisect.bisect_right(starts, offset) - 1
        return index + 1, offset - starts[index] + 1

    def text(self, line: int) -> str:
        starts = self.starts()
        if line < 1 or line > len(starts):
            return ""
        end = starts[line] - 1 if line < len(starts) else len(self.data)
        return self.data[starts[line - 1] : end].decode("utf-8", "replace").rstrip("\r")


def _candidates(crule: CompiledRule, item: Item, lines: _Lines) -> Iterable[Candidate]:
    rule = crule.rule
    if rule.decoder:
        from scanner.engines.decoders import DECODERS

        yield from DECODERS[rule.decoder](item, lines)
        return
    data = item.data
    for match in crule.regex.finditer(data):  # type: ignore[union-attr]
        start, end = match.span()
        for group in crule.secret_groups:
            gstart, gend = match.span(group)
            if gstart >= 0:
                start, end = gstart, gend
                break
        key = ""
        for group in crule.key_groups:
            kstart, kend = match.span(group)
            if kstart >= 0:
                key = data[kstart:kend].decode("utf-8", "replace")
                break
        secret = data[start:end].decode("utf-8", "replace")
        line, _ = lines.locate(start)
        yield Candidate(secret, start, line, lines.text(line), key)


# Files whose secrets are encrypted (SOPS) and objects that only reference or encrypt secrets: by
# default nothing in them is a finding (rules tagged `encrypted-secret` are the opt-in exception).
ALLOW_ENCRYPTED = True
ENCRYPTED_TAG = "encrypted-secret"
_SOPS_FILE = re2.compile(rb"(?m)^sops:[ \t]*$|^[ \t]*\"sops\"[ \t]*:[ \t]*\{|^sops_mac=|^\[sops\]")
_DOC_SPLIT = re2.compile(rb"(?m)^---")
_INDIRECT_KIND = re2.compile(
    rb"(?m)^kind:[ \t]*[\"']?(?:SealedSecret|ExternalSecret|ClusterExternalSecret|SecretStore|"
    rb"ClusterSecretStore|PushSecret|VaultStaticSecret|VaultDynamicSecret|OnePasswordItem|SecretProviderClass|"
    rb"InfisicalSecret|DopplerSecret)[\"']?[ \t]*$"
)


def is_sops_file(data: bytes) -> bool:
    return b"sops" in data and b"ENC[" in data and bool(_SOPS_FILE.search(data))


def _indirect_spans(data: bytes) -> list[tuple[int, int]]:
    """Byte ranges of YAML documents whose kind only encrypts or references secrets (SealedSecret,
    ExternalSecret, SecretStore, ...)."""
    if not (b"Secret" in data or b"OnePasswordItem" in data or b"SecretProviderClass" in data):
        return []
    if not _INDIRECT_KIND.search(data):
        return []
    bounds = [0] + [m.start() for m in _DOC_SPLIT.finditer(data)] + [len(data)]
    spans = []
    for start, end in zip(bounds, bounds[1:], strict=False):
        if _INDIRECT_KIND.search(data[start:end]):
            spans.append((start, end))
    return spans


def scan_item(compiled: Compiled, item: Item, show_secrets: bool = False) -> list[Finding]:
    """All secrets findings for one item, in file order."""
    data = item.data
    if filters.is_lock_file(item.path):
        return []
    selected: set[int] = set(compiled.always)
    rules = compiled.rules
    pre = rules.prefilter(len(data))
    if pre is not None:
        keywords, maybe = pre.scan(data)
        for kw_index in keywords:
            selected.update(compiled.keyword_owner[kw_index])
        if maybe is None and selected & rules.pattern_indexes():
            maybe = pre.patterns(data)  # not ASCII: scanned again, one byte per character
        if selected and maybe is not None:
            selected -= (selected & rules.pattern_indexes()) - maybe  # small sets, not every pattern rule
            selected = rules.on_path(selected, item.path)
            return _confirm(compiled, item, selected, show_secrets) if selected else []
    elif (keyword_set := rules.keyword_set()) is not None:
        for kw_index in keyword_set.Match(data) or ():  # type: ignore[attr-defined]
            selected.update(compiled.keyword_owner[kw_index])
    selected = rules.on_path(selected, item.path)
    if not selected:
        return []
    patterned = selected & rules.pattern_indexes()
    if len(patterned) > 1:
        built = rules.pattern_set()
        if built is not None:
            pattern_set, order = built
            matching = {order[i] for i in pattern_set.Match(data) or ()}  # type: ignore[attr-defined]
            selected -= patterned - matching  # no match anywhere: skip their passes
            if not selected:
                return []
    return _confirm(compiled, item, selected, show_secrets)


def _confirm(compiled: Compiled, item: Item, selected: set[int], show_secrets: bool) -> list[Finding]:
    """Run the selected rules' own patterns (or decoders) and filters: the findings. The rules are
    those the file's path allows (_LazyRules.on_path)."""
    data = item.data
    lines = _Lines(data)
    found: list[tuple[Finding, int, bool]] = []
    encrypted_file: bool | None = None
    indirect: list[tuple[int, int]] | None = None
    for index in sorted(selected):
        crule = compiled.rules[index]
        rule = crule.rule
        exempt = ENCRYPTED_TAG in rule.tags
        for cand in _candidates(crule, item, lines):
            if not exempt:
                if encrypted_file is None:
                    encrypted_file = is_sops_file(data)
                    indirect = _indirect_spans(data)
                if encrypted_file:
                    break
                if indirect and cand.start >= 0 and any(a <= cand.start < b for a, b in indirect):
                    continue
            secret = cand.secret
            if rule.min_length and len(secret) < rule.min_length:
                continue
            documented = filters.is_documented_example(cand, rule)
            if documented:
                pass  # a vendor's published example: reported at info, whatever the allow-list and filters say
            elif any(a.search(secret) for a in crule.allow):  # type: ignore[attr-defined]
                continue
            elif any(f(cand, rule) for f in crule.filters):
                continue
            if not documented and rule.entropy and shannon_entropy(secret) < rule.entropy:
                continue
            if cand.start >= 0:
                line, column = lines.locate(cand.start)
            else:
                line, column = cand.line, 1
            context = cand.context or lines.text(line)
            shown = secret if show_secrets else redact(secret)
            evidence = _evidence(context, secret, cand.raw, shown, show_secrets)
            message = messages.render(rule.message, key=cand.key or "value") if rule.message else rule.title
            extra: tuple[tuple[str, str], ...] = ()
            if documented:
                message += f" ({DOCUMENTED})"
                extra = (("reason", DOCUMENTED),)
            finding = Finding(
                rule_id=rule.id,
                severity="info" if documented else rule.severity,
                location=Location(item.path, line, column, line, column + len(secret)),
                message=message,
                evidence=evidence,
                fingerprint=fingerprint(rule.id, item.path, hashlib.sha256(utf8(secret)).hexdigest()),
                pack=rule.pack,
                provenance=item.provenance,
                properties=extra
                + (
                    ("secret_sha1", hashlib.sha1(utf8(secret)).hexdigest()),  # detect-secrets baselines
                    ("secret_sha256", hashlib.sha256(utf8(secret)).hexdigest()),
                ),
            )
            found.append((finding, index, "generic" in rule.tags))
    return _dedupe(found)


def _evidence(context: str, secret: str, raw: str, shown: str, show_secrets: bool) -> str:
    """The line, secret redacted, cut to a window around the secret."""
    evidence = context.strip()
    at = -1
    for text in (secret, raw):
        if text and len(text) >= 1 and text in evidence:
            at = evidence.index(text) if at < 0 else min(at, evidence.index(text))
            evidence = evidence.replace(text, shown)
    if len(evidence) > MAX_EVIDENCE:
        begin = max(0, at - 60) if at >= 0 else 0
        evidence = ("..." if begin else "") + evidence[begin : begin + MAX_EVIDENCE] + "..."
    if (
        not show_secrets
        and secret
        and (secret in evidence or (len(secret) >= 12 and secret[:12] in evidence))
    ):
        evidence = shown  # belt and braces
    return evidence


def _dedupe(found: list[tuple[Finding, int, bool]]) -> list[Finding]:
    """One finding per secret occurrence: where two findings on one line overlap, a specific rule wins
    over a generic one, and among equals the first rule in pack order wins."""
    found = sorted(found, key=lambda t: (t[2], t[1]))  # specific first, then rule order
    kept: dict[int, list[tuple[int, int]]] = {}
    out = []
    for finding, _, _ in found:
        loc = finding.location
        start, end = loc.column, max(loc.end_column, loc.column + 1)
        spans = kept.setdefault(loc.line, [])
        if any(start < e and s < end for s, e in spans):
            continue
        spans.append((start, end))
        out.append(finding)
    out.sort(key=Finding.sort_key)
    return out


def with_encrypted_rules(
    all_rules: Iterable[Rule], selected: list[Rule], allow_encrypted: bool | None = None
) -> list[Rule]:
    """Configuration `secrets.allow-encrypted: false` turns SOPS files and SealedSecrets into (low)
    findings: the opt-in rules tagged `encrypted-secret` join the selection. Default: ALLOW_ENCRYPTED."""
    if ALLOW_ENCRYPTED if allow_encrypted is None else allow_encrypted:
        return selected
    have = {r.id for r in selected}
    return selected + [r for r in all_rules if ENCRYPTED_TAG in r.tags and r.id not in have]
