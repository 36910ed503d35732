"""The combined prefilter: one Hyperscan pass over a file says which rule keywords occur in it and
which rule patterns may match it. Only those rules then run their own RE2 pattern (for positions,
groups and the exact match), so the result is the same as without the prefilter, only sooner.

- Keywords are literals matched ASCII-case-insensitively (as the RE2 keyword set does).
- Patterns are compiled in Hyperscan's prefilter mode: it may report a pattern that RE2 then does
  not match, never the other way round. That holds for bytes as RE2 reads them only when the file is
  ASCII (RE2 counts characters, Hyperscan bytes): for any other file the caller asks RE2.
- A pattern Hyperscan cannot compile is reported as "may match" in every file.

Compiling the database takes a few tenths of a second, so it is compiled once per set of rules, in a
child process (a compiler crash on a user's pattern cannot take the scan down; the scan then runs on
RE2 alone), and kept in the scanner's cache folder. Without the `hyperscan` package (a platform it
has no wheel for), or with SCANNER_NO_HYPERSCAN=1, there is no prefilter and RE2 does all the work.
"""

from __future__ import annotations

import codecs
import hashlib
import json
import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from scanner import interrupts
from scanner.engines.pattern_core import core
from scanner.rules import loader

_FORMAT = "scanner-prefilter-2"
_MEMO: dict[str, tuple[list[int], bytes] | None] = {}  # this process's compiles (when there is no cache folder)

# Run by `python -I -c` in a child: reads {"expressions": [...], "flags": [...]} on stdin, writes
# the indexes it had to drop (one JSON line) then the serialized database on stdout.
_COMPILER = r"""
import json, sys
job = json.loads(sys.stdin.buffer.read())
sys.path.insert(0, job["site"])  # where the parent found hyperscan (-I: nothing else, never the cwd)
import hyperscan as hs
exprs = [e.encode("latin-1") for e in job["expressions"]]
flags = job["flags"]
def compile_db(keep):
    db = hs.Database(mode=hs.HS_MODE_BLOCK)
    db.compile(expressions=[exprs[i] for i in keep], ids=list(keep), flags=[flags[i] for i in keep])
    return db
keep = list(range(len(exprs)))
try:
    db = compile_db(keep)
except hs.error:
    good = []
    for i in keep:
        try:
            compile_db([i])
            good.append(i)
        except hs.error:
            pass
    keep = good
    db = compile_db(keep) if keep else None
dropped = sorted(set(range(len(exprs))) - set(keep))
sys.stdout.buffer.write(json.dumps({"dropped": dropped, "empty": db is None}).encode() + b"\n")
if db is not None:
    sys.stdout.buffer.write(hs.dumpb(db))
"""


class Prefilter:
    """One compiled database: keyword indexes 0..K-1, then one id per pattern."""

    def __init__(
        self, db: Any, keyword_count: int, pattern_rules: Sequence[int], unfiltered: Sequence[int],
        ascii_only: Sequence[int] = (),
    ) -> None:
        self._db = db
        self._k = keyword_count
        self._rules = tuple(pattern_rules)
        self._unfiltered = frozenset(unfiltered)
        self._ascii_only = self._unfiltered | frozenset(ascii_only)  # unfiltered in non-ASCII text

    def scan(self, data: bytes) -> tuple[list[int], set[int] | None]:
        """(keyword indexes that occur, rule indexes whose pattern may match). The second is None
        when the file is not ASCII: then see patterns()."""
        hits: list[int] = []
        if self._db is not None:
            self._db.scan(data, match_event_handler=_on_match, context=hits)
        if not hits:
            return [], (set(self._unfiltered) if data.isascii() else None)
        k = self._k
        keywords = [h for h in hits if h < k]
        if not data.isascii():
            return keywords, None
        maybe = set(self._unfiltered)
        rules = self._rules
        maybe.update(rules[h - k] for h in hits if h >= k)
        return keywords, maybe

    def patterns(self, data: bytes) -> set[int] | None:
        """Rule indexes whose pattern may match a file that is not ASCII; None when it is not UTF-8
        either (then only RE2 can say). The text is scanned one byte per character, as RE2 counts."""
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            return None
        hits: list[int] = []
        if self._db is not None:
            self._db.scan(one_byte_per_char(text), match_event_handler=_on_match, context=hits)
        k = self._k
        maybe = set(self._ascii_only)
        maybe.update(self._rules[h - k] for h in hits if h >= k)
        return maybe


def one_byte_per_char(text: str) -> bytes:
    """Each character as one byte, so that Hyperscan (bytes) counts as RE2 (characters) does:
    ASCII as it is, U+0080-U+00FF as latin-1, anything above as 0x80. Every class an ASCII-only
    pattern has that takes a non-ASCII character (negated ones, `.`, `\\S`, `\\W`) takes those bytes
    too; the two characters that case-fold to ASCII letters (KELVIN SIGN, LONG S) become them."""
    if "\u212a" in text or "\u017f" in text:
        text = text.replace("\u212a", "K").replace("\u017f", "s")
    return text.encode("latin-1", "scanner-one-byte")


def _one_byte(error: UnicodeError) -> tuple[bytes, int]:
    assert isinstance(error, UnicodeEncodeError)
    return b"\x80" * (error.end - error.start), error.end


codecs.register_error("scanner-one-byte", _one_byte)


_NOT_ASCII_SAFE = re.compile(r"[^\x00-\x7f]|\\[pPxuUC0-9]|\[:")  # non-ASCII literals, \p{..}, \x.., [[:..:]]


def ascii_safe(pattern: str) -> bool:
    """True when the pattern names no character outside ASCII (so one_byte_per_char keeps its
    matches); False is only ever slower."""
    return _NOT_ASCII_SAFE.search(pattern) is None


def _on_match(ident: int, start: int, end: int, flags: int, hits: list[int]) -> None:
    hits.append(ident)


def available() -> bool:
    if os.environ.get("SCANNER_NO_HYPERSCAN"):
        return False
    try:
        import hyperscan  # noqa: F401
    except ImportError:  # no wheel for this platform: RE2 alone
        return False
    return True


def build(
    keywords: Sequence[str], patterns: Sequence[tuple[int, str]], compile_missing: bool = True,
    unfiltered: Sequence[int] = (), anchors: Mapping[int, Sequence[str]] | None = None,
) -> Prefilter | None:
    """A prefilter for these keywords and (rule index, RE2 pattern) pairs; None when Hyperscan is
    not available or cannot compile them, or, with compile_missing=False, when it is not cached yet.
    `unfiltered`: rule indexes left out of the database, reported as "may match" in every file.
    `anchors`: each rule's keywords, where its pattern may start in the pass (pattern_core.core)."""
    if not available() or not (keywords or patterns):
        return None
    import hyperscan as hs

    site = os.path.dirname(os.path.dirname(os.path.abspath(hs.__file__)))
    anchors = {r: tuple(anchors[r]) for r, _ in patterns if anchors and anchors.get(r)}
    # the key is of what goes in (cutting the patterns costs ~0.1 s: only a compile does it), and of
    # the scanner's code, pattern_core's among it
    inputs = json.dumps(
        {"keywords": list(keywords), "patterns": [[r, p] for r, p in patterns], "anchors": sorted(anchors.items()), "site": site},
        sort_keys=True,
    )
    key = hashlib.sha256(f"{_FORMAT}\0{hs.__version__}\0{inputs}".encode() + loader.code_fingerprint()).hexdigest()[:40]
    if key in _MEMO:  # compiled (or failed to) in this process already
        db = _load(hs, _MEMO[key])
    else:
        cached = _cached(key)
        if cached is _FAILED:  # this rule set did not compile before: RE2 alone, without trying again
            _MEMO[key] = None
            return None
        db = _load(hs, cached)
        if db is None and not compile_missing:
            return None
        if db is None:  # not cached yet, or cached for another CPU or version
            _MEMO[key] = _compile(_job(hs, keywords, patterns, anchors, site), key)
            db = _load(hs, _MEMO[key])
    if db is None:
        return None
    dropped, db = db
    k = len(keywords)
    if any(d < k for d in dropped):
        return None  # a keyword that cannot be a literal: let RE2 do it all
    ascii_only = [r for r, p in patterns if not ascii_safe(p)]
    return Prefilter(db, k, [r for r, _ in patterns], [patterns[d - k][0] for d in dropped] + list(unfiltered), ascii_only)


def _job(hs: Any, keywords: Sequence[str], patterns: Sequence[tuple[int, str]], anchors: Mapping[int, Sequence[str]],
         site: str) -> str:  # fmt: skip
    """What the compiler child reads: the expressions (each pattern cut by pattern_core.core), their
    flags, and where hyperscan is."""
    # JSON carries each expression's UTF-8 bytes as latin-1 text; each pattern without its leading
    # context (pattern_core: it matches wherever the pattern does, and costs the pass less)
    expressions = [_literal(k) for k in keywords] + [
        core(p, anchors.get(r, ())).encode().decode("latin-1") for r, p in patterns
    ]
    flags = [hs.HS_FLAG_CASELESS | hs.HS_FLAG_SINGLEMATCH] * len(keywords) + [
        hs.HS_FLAG_SINGLEMATCH | hs.HS_FLAG_PREFILTER | hs.HS_FLAG_ALLOWEMPTY
    ] * len(patterns)
    return json.dumps({"expressions": expressions, "flags": flags, "site": site}, sort_keys=True)


def _literal(keyword: str) -> str:
    """A keyword as a Hyperscan literal pattern over its UTF-8 bytes (passed as latin-1 text)."""
    raw = keyword.lower().encode()
    return "".join(chr(b) if chr(b).isalnum() and b < 128 else f"\\x{b:02x}" for b in raw)


def _load(hs: Any, got: tuple[list[int], bytes] | None) -> tuple[list[int], Any] | None:
    """(dropped expression indexes, database or None when every expression was dropped)."""
    if got is None:
        return None
    dropped, blob = got
    if not blob:
        return dropped, None
    try:
        try:
            db = hs.loadb(blob, hs.HS_MODE_BLOCK)
        except TypeError:  # older bindings take no mode
            db = hs.loadb(blob)
        db.scratch = hs.Scratch(db)  # a loaded database has none
    except hs.error:
        return None
    return dropped, db


def _cache_path(key: str) -> str | None:
    directory = loader.cache_dir()
    return None if directory is None else os.path.join(directory, f"hyperscan-{key}.db")


def _cached(key: str) -> tuple[list[int], bytes] | None:
    path = _cache_path(key)
    if path is None:
        return None
    try:
        with open(path, "rb") as handle:
            blob = handle.read()
    except OSError:
        return None
    return _split(blob)


_FAILED: Any = object()  # cached: the compiler failed (crashed, or took longer than COMPILE_TIMEOUT)
COMPILE_TIMEOUT = 60.0  # seconds; our packs compile in ~0.4 s
DATABASES_KEPT = 8


def _split(blob: bytes) -> tuple[list[int], bytes] | None:
    head, sep, body = blob.partition(b"\n")
    try:
        meta = json.loads(head)
        if meta.get("failed") is True:
            return _FAILED
        dropped = [int(d) for d in meta["dropped"]]
    except (ValueError, KeyError, TypeError, AttributeError):
        return None
    if not sep or (not body and not meta.get("empty")):
        return None
    return dropped, body


def _compile(job: str, key: str) -> tuple[list[int], bytes] | None:
    """Compile in a child process (a crash there only means no prefilter) and cache the result, or
    the failure (so that the next run does not wait for it again; a new rule set tries again)."""
    path = _cache_path(key)
    try:
        proc = subprocess.run(
            [sys.executable, "-I", "-c", _COMPILER], input=job.encode(), capture_output=True,
            timeout=COMPILE_TIMEOUT, check=False, cwd=tempfile.gettempdir(),
        )
        if interrupts.killed_by_interrupt(proc.returncode):
            raise KeyboardInterrupt  # the user's Ctrl-C reached the compiler too: not a failure to cache
        got = _split(proc.stdout) if proc.returncode == 0 else None
    except subprocess.TimeoutExpired:
        got = None
    except (OSError, subprocess.SubprocessError):
        return None  # could not even start the child: nothing learnt about the rules
    if got is None or got is _FAILED:
        if path is not None:
            _store(path, b'{"failed": true}\n')
        return None
    if path is not None:
        _store(path, proc.stdout)
    return got


def _store(path: str, blob: bytes) -> None:
    # one database per rule set in use (built-in packs, a repository's own packs...): keep the newest
    loader.write_cache_file(Path(path), blob, "hyperscan-*.db", DATABASES_KEPT)
