"""Baselines: the findings a team has accepted, so that only new ones fail a build.

    scanner baseline create [--output .scanner-baseline.json]
    scanner scan --baseline .scanner-baseline.json
    scanner baseline import .secrets.baseline      # detect-secrets

An entry is a finding's identity, never its secret and never its line: the rule, the path and the
fingerprint (rule + path + hash of the secret or of the policy subject), so it survives edits above
the finding, reformatting of the line and rebases. Entries imported from detect-secrets carry the
SHA-1 of the secret (detect-secrets' `hashed_secret`) and match any secrets finding on that path
whose secret has that SHA-1. Baselined findings are kept, marked suppressed (kind `external`), so
reports still count them.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, NamedTuple

from scanner.model import Finding, Suppression

DEFAULT_PATH = ".scanner-baseline.json"
FORMAT_VERSION = 1


class BaselineError(Exception):
    """A baseline file that cannot be used (one line: file: what is wrong)."""


class Entry(NamedTuple):
    rule: str  # "" for imported detect-secrets entries (their types are not our rule ids)
    path: str
    fingerprint: str = ""
    secret_sha1: str = ""  # detect-secrets' hashed_secret
    origin: str = ""  # e.g. "detect-secrets:AWS Access Key"

    def key(self) -> tuple:
        return (self.path, self.rule, self.fingerprint, self.secret_sha1)

    def describe(self) -> str:
        if self.secret_sha1:
            return f"{self.path}: {self.origin or 'detect-secrets'} (sha1 {self.secret_sha1[:12]})"
        return f"{self.path}: {self.rule} (fingerprint {self.fingerprint[:12]})"


def entry_for(finding: Finding) -> Entry:
    return Entry(finding.rule_id, finding.path, finding.fingerprint)


def dumps(entries: Iterable[Entry]) -> str:
    """Deterministic JSON: sorted, unique, no timestamps (a re-run on the same tree is byte-identical)."""
    unique = sorted({e.key(): e for e in entries}.values(), key=Entry.key)
    rows = []
    for e in unique:
        row: dict[str, Any] = {"rule": e.rule, "path": e.path}
        if e.fingerprint:
            row["fingerprint"] = e.fingerprint
        if e.secret_sha1:
            row["secret_sha1"] = e.secret_sha1
        if e.origin:
            row["origin"] = e.origin
        rows.append(row)
    doc = {
        "version": FORMAT_VERSION,
        "generated_by": "scanner baseline",
        "note": "Accepted findings: rule, path and fingerprint (no secrets, no line numbers). "
        "Regenerate with 'scanner baseline create'.",
        "findings": rows,
    }
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"


def create(findings: Iterable[Finding]) -> str:
    """A baseline of every finding not already suppressed (an inline ignore that expires must come back)."""
    return dumps(entry_for(f) for f in findings if f.suppression is None)


def _read_json(path: Path, missing: str, what: str) -> Any:
    """The file's JSON, or a one-line BaselineError naming the file."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BaselineError(f"{path}: {missing}") from None
    except OSError as exc:
        raise BaselineError(f"{path}: cannot read {what}: {exc.strerror}") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise BaselineError(f"{path}: not a JSON {what}: {exc}") from None


def load(path: str | Path) -> list[Entry]:
    path = Path(path)
    doc = _read_json(path, "no such baseline file (create one with 'scanner baseline create')", "baseline")
    if isinstance(doc, dict) and "results" in doc and "generated_at" in doc:
        raise BaselineError(f"{path}: this is a detect-secrets baseline: convert it with 'scanner baseline import {path}'")
    if not isinstance(doc, dict) or not isinstance(doc.get("findings"), list):
        raise BaselineError(f"{path}: not a scanner baseline (expected an object with a 'findings' list)")
    if doc.get("version") != FORMAT_VERSION:
        raise BaselineError(f"{path}: baseline version {doc.get('version')!r} is not supported (expected {FORMAT_VERSION})")
    entries = []
    for index, row in enumerate(doc["findings"]):
        if not isinstance(row, dict) or not isinstance(row.get("path"), str) or not (
            row.get("fingerprint") or row.get("secret_sha1")
        ):
            raise BaselineError(f"{path}: findings[{index}]: needs 'path' and 'fingerprint' (or 'secret_sha1')")
        entries.append(
            Entry(str(row.get("rule", "")), row["path"], str(row.get("fingerprint", "")),
                  str(row.get("secret_sha1", "")).lower(), str(row.get("origin", "")))
        )  # fmt: skip
    return entries


class Applied(NamedTuple):
    findings: list[Finding]
    matched: int
    stale: list[Entry]


def apply(findings: Sequence[Finding], entries: Sequence[Entry], name: str = DEFAULT_PATH) -> Applied:
    """Mark baselined findings suppressed (external); return them with the entries nothing matched."""
    by_fingerprint: dict[str, Entry] = {e.fingerprint: e for e in entries if e.fingerprint}
    by_sha1: dict[tuple[str, str], Entry] = {(e.path, e.secret_sha1): e for e in entries if e.secret_sha1}
    used: set[tuple] = set()
    out = []
    matched = 0
    for finding in findings:
        entry = by_fingerprint.get(finding.fingerprint)
        if entry is not None and entry.rule and entry.rule != finding.rule_id:
            entry = None
        if entry is None and by_sha1:
            sha1 = dict(finding.properties).get("secret_sha1")
            if sha1:
                entry = by_sha1.get((finding.path, sha1))
        if entry is None:
            out.append(finding)
            continue
        used.add(entry.key())
        if finding.suppression is None:
            finding = finding._replace(suppression=Suppression("external", "baseline", f"in baseline {name}"))
            matched += 1
        out.append(finding)
    stale = [e for e in entries if e.key() not in used]
    return Applied(out, matched, stale)


class Imported(NamedTuple):
    entries: list[Entry]  # audited false positives: suppressions
    kept: int  # entries that stay findings (unaudited, or audited as real secrets)


def import_detect_secrets(path: str | Path) -> Imported:
    """The audited false positives (`is_secret: false`) of a detect-secrets `.secrets.baseline`, read by
    detect-secrets itself (its upgrades of older baseline versions included). Unaudited entries and
    real secrets stay findings. The baseline's plugin and filter settings are not applied: a custom
    plugin there is code from the repository, which the scanner never runs."""
    path = Path(path)
    try:
        from detect_secrets.core import baseline as ds_baseline
        from detect_secrets.core.secrets_collection import SecretsCollection
    except ImportError:  # pragma: no cover - a runtime dependency
        raise BaselineError(f"{path}: reading detect-secrets baselines needs the detect-secrets package") from None
    doc = _read_json(path, "no such file", "detect-secrets baseline")
    if not isinstance(doc, dict) or not isinstance(doc.get("results"), dict):
        raise BaselineError(f"{path}: not a detect-secrets baseline (no 'results' object)")
    try:
        collection = SecretsCollection.load_from_baseline(ds_baseline.upgrade({"version": "1.5.0", **doc}))
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise BaselineError(f"{path}: not a detect-secrets baseline this version of detect-secrets reads ({exc!r})") from None
    entries, kept = [], 0
    for file, secret in collection:
        hashed = str(secret.secret_hash or "")
        if len(hashed) != 40 or any(c not in "0123456789abcdefABCDEF" for c in hashed):
            raise BaselineError(f"{path}: results[{file!r}]: no 40-hex 'hashed_secret'")
        if secret.is_secret is False:  # audited: not a secret
            entries.append(Entry("", file.replace("\\", "/"), "", hashed.lower(), f"detect-secrets:{secret.type}"))
        else:
            kept += 1
    return Imported(entries, kept)
