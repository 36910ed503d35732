"""Rule packs: YAML data, validated against the shipped JSON Schema, loaded the same way for built-in
and user packs. A broken pack is a `PackError` naming the file, the line and the field."""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from functools import lru_cache
from pathlib import Path
from typing import IO, Any, NamedTuple

import re2

from scanner.rules import messages

SCHEMA_PATH = Path(__file__).with_name("pack.schema.json")


class PackError(Exception):
    """A rule pack that cannot be used. str() is one line: file:line: field: what is wrong."""


class Example(NamedTuple):
    content: str
    filename: str = ""
    count: int | None = None
    line: int | None = None
    options: Any = None  # engine options to scan the example with (policy rules), or None


class Rule(NamedTuple):
    id: str
    title: str
    severity: str
    description: str
    remediation: str
    engine: str
    pack: str
    source: str  # pack file
    source_line: int
    references: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    message: str = ""
    opt_in: bool = False
    # secrets engine
    keywords: tuple[str, ...] = ()
    prefilter: str = "pattern"  # or "keywords": the keywords alone select the rule (see pack.schema.json)
    pattern: str = ""
    secret_group: str = "secret"
    entropy: float = 0.0
    min_length: int = 0
    allow: tuple[str, ...] = ()
    filters: tuple[str, ...] = ()
    decoder: str = ""
    paths: tuple[str, ...] = ()
    exclude_paths: tuple[str, ...] = ()
    # policy engine
    target: str = ""
    kinds: tuple[str, ...] = ()
    when: Any = None
    fix: Any = None  # {"summary": str, "ops": [{"set"|"add"|"remove": path, "value": v}]}: see scanner/fixers
    # examples
    bad: tuple[Example, ...] = ()
    good: tuple[Example, ...] = ()

    @property
    def fixable(self) -> bool:
        """`scanner fix` can fix its findings: a policy rule with a `fix` (scanner/fixers)."""
        return bool(self.fix) and self.engine == "policy"


def builtin_pack_dir() -> Path:
    """Built-in packs: inside the package when installed from a wheel, else the repo's policies/."""
    inside = Path(__file__).resolve().parent.parent / "policies"
    if inside.is_dir():
        return inside
    return Path(__file__).resolve().parent.parent.parent / "policies"


@lru_cache(maxsize=1)
def _validator() -> Any:
    import jsonschema

    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    return jsonschema.Draft202012Validator(schema)






def _examples(raw: Any) -> tuple[Example, ...]:
    out = []
    for item in raw or ():
        if isinstance(item, str):
            out.append(Example(content=item))
        else:
            out.append(
                Example(item["content"], item.get("filename", ""), item.get("count"), item.get("line"), item.get("options"))
            )
    return tuple(out)


def _plain(value: Any) -> Any:
    """A pack's YAML subtree as plain dicts, lists and scalars (fix values are written into files)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def quiet_re2_options() -> re2.Options:
    """RE2 options that report a bad pattern only by the exception (RE2 would also log it to stderr)."""
    options = re2.Options()
    options.log_errors = False
    return options


def re2_error_text(exc: Exception) -> str:
    detail = exc.args[0] if exc.args else exc
    return detail.decode("utf-8", "replace") if isinstance(detail, bytes) else str(detail)


def check_re2(pattern: str, where: str) -> None:
    """PackError `where: not a valid RE2 pattern ...` unless the pattern compiles."""
    try:
        re2.compile(pattern, quiet_re2_options())
    except re2.error as exc:
        raise PackError(
            f"{where}: not a valid RE2 pattern (no backreferences or look-arounds): {re2_error_text(exc)}"
        ) from None


def load_pack(path: Path, check: Callable[[Sequence[Rule]], None] | None = None) -> list[Rule]:
    """Load and validate one pack file (and run `check` on its rules, e.g. the policy engine's check
    that targets exist). A pack that passed before, byte for byte with the same scanner code, comes
    from the cache instead: parsing and schema validation are most of a small scan's start-up."""
    try:
        text = path.read_bytes()
    except OSError as exc:
        raise PackError(f"{path}: cannot read rule pack: {exc.strerror}") from None
    key = _cache_key(path, text, check)
    cached = _cache_get(path, key)
    if cached is not None:
        return cached
    rules = _parse_pack(path, text)
    if check is not None:
        check(rules)
    _cache_put(path, key, rules)
    return rules


# --- cache of validated packs -------------------------------------------------------------------------
# Key: the pack's bytes, the path as given, the check that ran and a fingerprint of the scanner's own
# code (any change to the schema, the loader or a document module invalidates everything). Only packs
# that passed are stored; a broken pack is always parsed and reported. SCANNER_NO_CACHE=1 turns the
# cache off; SCANNER_CACHE_DIR moves it (default: $XDG_CACHE_HOME/scanner or ~/.cache/scanner).
_CACHE_FORMAT = b"scanner-packs-1"
CACHE_ENTRIES = 64


def cache_dir() -> Path | None:
    if os.environ.get("SCANNER_NO_CACHE"):
        return None
    explicit = os.environ.get("SCANNER_CACHE_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "scanner" if os.path.isabs(base) else None


@lru_cache(maxsize=1)
def code_fingerprint() -> bytes:
    """Names, sizes and mtimes of the scanner's own .py/.json files (stat only: ~1 ms): part of the key of
    everything the cache folder holds (packs, Hyperscan databases, history listings), so a changed
    scanner never reads what an older one wrote."""
    package = Path(__file__).resolve().parent.parent
    digest = hashlib.sha256(_CACHE_FORMAT)
    for folder, dirs, files in os.walk(package):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        for name in sorted(files):
            if name.endswith((".py", ".json")):
                full = os.path.join(folder, name)
                try:
                    st = os.stat(full)
                except OSError:
                    continue
                digest.update(f"{full}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return digest.digest()


def _cache_key(path: Path, text: bytes, check: Callable | None) -> str:
    digest = hashlib.sha256(code_fingerprint())
    where = f"{getattr(check, '__module__', '')}.{getattr(check, '__qualname__', '')}\0{path}\0{path.resolve()}"
    digest.update(where.encode("utf-8", "surrogateescape"))
    digest.update(text)
    return digest.hexdigest()


def _cache_file(directory: Path, path: Path, key: str) -> Path:
    where = hashlib.sha256(str(path.resolve()).encode("utf-8", "surrogateescape")).hexdigest()[:16]
    return directory / f"pack-{where}-{key[:32]}.pickle"


def _cache_get(path: Path, key: str) -> list[Rule] | None:
    directory = cache_dir()
    if directory is None:
        return None
    try:
        blob = _cache_file(directory, path, key).read_bytes()
    except OSError:
        return None
    head, _, body = blob.partition(b"\n")
    if head != _CACHE_FORMAT + b" " + key.encode():
        return None
    try:
        rules = pickle.loads(body)
    except Exception:  # noqa: BLE001 - a damaged cache entry is only a miss
        return None
    return rules if isinstance(rules, list) and all(isinstance(r, Rule) for r in rules) else None


def _cache_put(path: Path, key: str, rules: list[Rule]) -> None:
    directory = cache_dir()
    if directory is None:
        return
    target = _cache_file(directory, path, key)
    try:
        blob = _CACHE_FORMAT + b" " + key.encode() + b"\n" + pickle.dumps(rules, protocol=pickle.HIGHEST_PROTOCOL)
    except (pickle.PicklingError, TypeError, AttributeError):
        return
    try:
        for old in directory.glob(target.name.rsplit("-", 1)[0] + "-*.pickle"):  # older versions of this pack
            old.unlink(missing_ok=True)
    except OSError:
        pass
    # packs written by tests and one-off runs: keep the newest
    write_cache_file(target, blob, "pack-*.pickle", CACHE_ENTRIES)


def write_cache_file(
    target: Path, blob: bytes | Callable[[IO[bytes]], None], family: str, keep: int
) -> list[Path] | None:
    """Write `blob` (bytes, or a function that writes them to an open file) to `target` in the cache
    folder atomically (a reader never sees half a file), then keep only the `keep` newest files of
    the folder matching the glob `family`. The files removed, or None when nothing was written: a
    cache that cannot be written is only a slower next run, errors are ignored. The one writer of
    the cache folder's files (packs, Hyperscan databases, history listings)."""
    tmp = None
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".", suffix=".tmp", dir=target.parent)
        with os.fdopen(fd, "wb") as handle:
            if callable(blob):
                blob(handle)
            else:
                handle.write(blob)
        os.replace(tmp, target)
        tmp = None
        _drop_abandoned(target.parent)
        return prune_cache(target.parent, family, keep)
    except OSError:
        return None
    finally:
        if tmp is not None:
            try:
                os.unlink(tmp)
            except OSError:
                pass


ABANDONED_AFTER = 3600.0  # seconds: a temporary file nobody wrote to for this long was left by a killed writer


def _drop_abandoned(directory: Path) -> None:
    """Remove the temporary files of writers that were killed mid-write (SIGKILL, out of memory:
    their `finally` never ran), which no pruning family matches: a listing's can be tens of MB."""
    now = time.time()
    for entry in directory.glob(".*.tmp"):
        try:
            if now - entry.stat().st_mtime > ABANDONED_AFTER:
                entry.unlink()
        except OSError:
            pass


def prune_cache(directory: Path, family: str, keep: int) -> list[Path]:
    """Keep only the `keep` newest files of `directory` matching the glob `family`; the files removed
    (OSError is the caller's)."""
    entries = list(directory.glob(family))
    if len(entries) <= keep:
        return []
    entries.sort(key=lambda e: e.stat().st_mtime)
    removed = entries[: len(entries) - keep]
    for old in removed:
        old.unlink(missing_ok=True)
    return removed


def _parse_pack(path: Path, text: bytes) -> list[Rule]:
    # the YAML loader only when a pack is parsed: a scan whose packs come from the cache needs none
    from scanner.documents.tree import LDict, YamlError, field_name, line_at, line_of, load_yaml_documents

    try:
        docs = load_yaml_documents(text)
    except YamlError as exc:
        raise PackError(f"{path}: {exc}") from None
    if len(docs) != 1 or not isinstance(docs[0][0], LDict):
        raise PackError(f"{path}:1: a rule pack is one YAML mapping with 'pack' and 'rules'")
    root = docs[0][0]
    errors = sorted(_validator().iter_errors(root), key=lambda e: (len(e.absolute_path), str(e.absolute_path)))
    if errors:
        import jsonschema.exceptions

        err = jsonschema.exceptions.best_match(errors)
        where = list(err.absolute_path)
        raise PackError(f"{path}:{line_at(root, where)}: {field_name(where)}: {err.message}")
    rules = []
    for index, raw in enumerate(root["rules"]):
        line = line_of(root["rules"], index)
        where = f"{path}:{line}: rules[{index}] ({raw['id']})"
        if raw.get("pattern"):
            check_re2(raw["pattern"], f"{path}:{line_at(root, ['rules', index, 'pattern'])}: {raw['id']}.pattern")
        for j, allow in enumerate(raw.get("allow", ())):
            check_re2(allow, f"{path}:{line_at(root, ['rules', index, 'allow', j])}: {raw['id']}.allow[{j}]")
        wrong = messages.problem(raw.get("message", ""), raw["engine"])
        if wrong:
            raise PackError(f"{path}:{line_at(root, ['rules', index, 'message'])}: {raw['id']}.message: {wrong}")
        try:
            rules.append(
                Rule(
                    id=raw["id"],
                    title=raw["title"],
                    severity=raw["severity"],
                    description=raw["description"].strip(),
                    remediation=raw["remediation"].strip(),
                    engine=raw["engine"],
                    pack=root["pack"],
                    source=str(path),
                    source_line=line,
                    references=tuple(raw.get("references", ())),
                    tags=tuple(raw.get("tags", ())),
                    message=raw.get("message", ""),
                    opt_in=bool(raw.get("opt_in", False)),
                    keywords=tuple(raw.get("keywords", ())),
                    prefilter=raw.get("prefilter", "pattern"),
                    pattern=raw.get("pattern", ""),
                    secret_group=raw.get("secret_group", "secret"),
                    entropy=float(raw.get("entropy", 0.0)),
                    min_length=int(raw.get("min_length", 0)),
                    allow=tuple(raw.get("allow", ())),
                    filters=tuple(raw.get("filters", ())),
                    decoder=raw.get("decoder", ""),
                    paths=tuple(raw.get("paths", ())),
                    exclude_paths=tuple(raw.get("exclude_paths", ())),
                    target=raw.get("target", ""),
                    kinds=tuple(raw.get("kinds", ())),
                    when=raw.get("when"),
                    fix=_plain(raw.get("fix")),
                    bad=_examples(raw["examples"]["bad"]),
                    good=_examples(raw["examples"]["good"]),
                )
            )
        except (KeyError, TypeError, ValueError) as exc:  # schema should prevent this
            raise PackError(f"{where}: {exc}") from None
    return rules


def pack_files(location: Path) -> list[Path]:
    """A pack path is a file or a folder of *.yaml / *.yml packs."""
    if location.is_dir():
        return sorted(p for p in location.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file())
    if location.is_file():
        return [location]
    raise PackError(f"{location}: no such rule pack file or folder")


def load_rules(
    extra: Iterable[str | Path] = (), builtin: bool = True, check: Callable[[Sequence[Rule]], None] | None = None
) -> list[Rule]:
    """Built-in packs plus user packs; rule ids must be unique across all of them. `check` runs on
    each pack's rules (see load_pack)."""
    files: list[Path] = pack_files(builtin_pack_dir()) if builtin else []
    for location in extra:
        files.extend(pack_files(Path(location)))
    rules: list[Rule] = []
    seen: dict[str, Rule] = {}
    for file in files:
        for rule in load_pack(file, check):
            if rule.id in seen:
                first = seen[rule.id]
                raise PackError(
                    f"{rule.source}:{rule.source_line}: id: rule id '{rule.id}' is already defined at "
                    f"{first.source}:{first.source_line}"
                )
            seen[rule.id] = rule
            rules.append(rule)
    return rules


def select_rules(rules: list[Rule], only: Iterable[str] = (), skip: Iterable[str] = ()) -> list[Rule]:
    """--only / --skip take rule ids or pack names. Opt-in rules run only when named by --only."""
    only_set, skip_set = set(only), set(skip)
    known = {r.id for r in rules} | {r.pack for r in rules}
    unknown = sorted((only_set | skip_set) - known)
    if unknown:
        import difflib

        hints = [f"{u} (did you mean {m[0]}?)" if (m := difflib.get_close_matches(u, sorted(known), n=1, cutoff=0.6)) else u
                 for u in unknown]
        raise PackError(f"unknown rule id or pack name: {', '.join(hints)} (see 'scanner rules list')")
    out = []
    for rule in rules:
        if rule.id in skip_set or rule.pack in skip_set:
            continue
        if only_set:
            if rule.id in only_set or (rule.pack in only_set and not rule.opt_in):
                out.append(rule)
        elif not rule.opt_in:
            out.append(rule)
    return out
