"""Secrets in Kubernetes manifests, judged by what each value is for (decoders of the secrets engine).

A Secret holds settings as well as credentials: `LOG_LEVEL: info`, a port, a user name, a Grafana
`grafana.ini` that only sets the timezone are not leaks, and reporting them is noise. So:

- `kubernetes_secret` (rule kubernetes-secret-plaintext): each `data` (base64, decoded) and
  `stringData` entry of a Secret, and of a Secret copied into a `kubectl.kubernetes.io/last-applied-
  configuration` annotation, is reported when
  - its key names a credential (DB_PASSWORD, api-key, client_secret: `filters.is_secret_key`), or a
    credential file (`tls.key`, `ssh-privatekey`, `.dockerconfigjson`, `*.pem`...);
  - or its value is one: a private key, a URL with a password, a known token format, or a long random
    string (entropy);
  - a config file payload (`*.ini`, `*.conf`, `*.yaml`, `*.json`, `*.properties`, `*.env`, `*.toml`,
    or any multi-line value that parses as one) is parsed and judged by its own keys and values
    (`admin_password = ...` in grafana.ini, `smtp_auth_password` or a Slack webhook in an
    Alertmanager config, `basicAuthPassword` in a Grafana datasource), on the payload's own line
    when it is written in plain text.
- `kubernetes_values` (rule kubernetes-manifest-credential): literal `env` values with credential
  names on any container (init and ephemeral too) of any workload kind, in any key order or flow style;
  Kustomize `secretGenerator` literals (judged like a Secret's entries) and `configMapGenerator` ones;
  ConfigMap entries (and config payloads in them) holding credentials, by name or by value format
  (no entropy guess: ConfigMaps hold checksums and ids); the same inside a last-applied annotation.

References are not leaks: `valueFrom`/`secretKeyRef`, `$(VAR)`, `${VAR}`, `{{ .Values.x }}` (the
engine's template filters), SealedSecret `encryptedData` and ExternalSecret (not Secrets), SOPS files
(skipped by the engine).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterator
from typing import Any

import re2

from scanner.documents.tree import LDict, LList, YamlError, line_of, load_yaml_documents
from scanner.engines.filters import is_secret_key
from scanner.engines.secrets import Candidate, shannon_entropy
from scanner.model import Item

LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
_KIND_LINE = re2.compile(rb"""(?m)^[ \t]*["']?kind["']?[ \t]*:[ \t]*["']?(Secret|ConfigMap)["']?[ \t]*,?[ \t]*$""")
# a `kind` key (YAML block or flow style, JSON) or a Kustomize generator: what kubernetes_values judges
_VALUES_HINT = re2.compile(rb"""(?m)(?:^[ \t-]*|[{,][ \t]*)["']?(?:kind|secretGenerator|configMapGenerator)["']?[ \t]*:""")
_CREDENTIAL_FILES = re2.compile(
    r"(?i)^(?:tls\.key|ssh-privatekey|id_(?:rsa|dsa|ecdsa|ed25519)|\.dockerconfigjson|\.dockercfg|\.netrc|\.pgpass|"
    r"\.git-credentials|credentials(?:\.json)?|service-account(?:-key)?\.json|sa\.json|key\.json|.*\.(?:pem|key|p12|pfx|jks))$")
_CONFIG_FILE = re2.compile(r"(?i)\.(?:ini|conf|cfg|cnf|yaml|yml|json|properties|env|toml)$")
_PRIVATE_KEY = re2.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY( BLOCK)?-----")
_URL_PASSWORD = re2.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^/\s:@]+:([^/\s@]{3,})@")
_TOKEN_FORMATS = re2.compile(
    r"(?:gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{40,}|glpat-[A-Za-z0-9_-]{20}|xox[abprs]-[A-Za-z0-9-]{10,}|"
    r"https://hooks\.slack\.com/services/[A-Za-z0-9/]{20,}|[sr]k_live_[A-Za-z0-9]{20,}|(?:AKIA|ASIA)[A-Z0-9]{16}|"
    r"AIza[0-9A-Za-z_-]{35}|SG\.[A-Za-z0-9_-]{16,}\.[A-Za-z0-9_-]{16,}|npm_[A-Za-z0-9]{36}|pypi-[A-Za-z0-9_-]{50,}|"
    r"hf_[A-Za-z0-9]{30,}|sk-ant-[A-Za-z0-9_-]{20,}|sk-(?:proj-)?[A-Za-z0-9_-]{32,}|"
    r"https://[0-9a-f]{32}@[^/\s]+\.ingest\.sentry\.io/|eyJ[A-Za-z0-9_-]{10,}\.eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,})")
_RANDOM = re2.compile(r"^[A-Za-z0-9+/=_\-.~!@#$%^&*]{20,}$")
_MIN_ENTROPY = 4.0
_MAX_MANIFEST = 4 << 20  # bytes: bigger files are not parsed by kubernetes_values
_MAX_BLOB = 1 << 20  # bytes: a bigger value is not parsed or judged here (the text rules still see it)
_TRAILING_COMMENT = re2.compile(r"\s+[#;].*$")
_INI_LINE = re2.compile(r"^\s*(?:export\s+)?([A-Za-z0-9_.\-\[\]]+)\s*(?:=|:)\s*(.*?)\s*$")


def _decode(raw: str) -> str | None:
    compact = "".join(raw.split())
    try:
        return base64.b64decode(compact, validate=True).decode("utf-8", "replace")
    except (binascii.Error, ValueError):
        return None


def value_is_credential(value: str, entropy: bool = True) -> bool:
    """A private key, a URL with a password, a known token format or (with `entropy`) a long random
    string without spaces."""
    if len(value) > _MAX_BLOB:
        return False
    if _PRIVATE_KEY.search(value) or _URL_PASSWORD.search(value) or _TOKEN_FORMATS.search(value):
        return True
    if not entropy or "\n" in value.strip():
        return False
    text = value.strip()
    return (bool(_RANDOM.match(text)) and shannon_entropy(text) >= _MIN_ENTROPY
            and any(c.isdigit() for c in text) and any(c.isalpha() for c in text))


# ------------------------------------------------------------------------------------ config payloads


def _walk(node: Any, path: str = "") -> Iterator[tuple[str, str, str]]:
    """(leaf key, dotted path, scalar) of a parsed YAML/JSON payload."""
    if isinstance(node, dict):
        for key, value in node.items():
            sub = f"{path}.{key}" if path else str(key)
            if isinstance(value, (dict, list)):
                yield from _walk(value, sub)
            elif isinstance(value, (str, int, float)) and not isinstance(value, bool):
                yield str(key), sub, str(value)
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _walk(value, f"{path}[{i}]")


def _lines_payload(text: str) -> Iterator[tuple[str, str, str]]:
    """INI, .properties and .env lines: `key = value`, `key: value`, `export KEY=value`."""
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or stripped[0] in "#;!" or (stripped.startswith("[") and stripped.endswith("]")):
            continue
        match = _INI_LINE.match(line)
        if match:
            value = _TRAILING_COMMENT.sub("", match.group(2)).strip().strip("'\"")
            yield match.group(1), match.group(1), value


def payload_entries(name: str, text: str) -> list[tuple[str, str, str]] | None:
    """The (key, path, value) settings of a config file payload, or None when `text` is not one."""
    if len(text) > _MAX_BLOB:
        return None
    is_config = bool(_CONFIG_FILE.search(name))
    if not is_config and "\n" not in text.strip():
        return None
    lowered = name.lower()
    if lowered.endswith((".yaml", ".yml", ".json")) or (not is_config and text.lstrip()[:1] in "{["):
        try:
            docs = load_yaml_documents(text.encode("utf-8", "replace"))
        except YamlError:
            docs = []
        found = [entry for value, _ in docs for entry in _walk(value)]
        if found or lowered.endswith((".yaml", ".yml", ".json")):
            return found
    entries = list(_lines_payload(text))
    return entries if entries or is_config else None


def _plain(value: str) -> bool:
    """Not a value at all: empty, or a template or reference the engine's filters also know."""
    text = value.strip().strip("'\"")
    return not text or text.startswith(("${", "$(", "{{", "ENC[", "vault:", "ref+"))


def judge(name: str, value: str, entropy: bool = True) -> Iterator[tuple[str, str]]:
    """(what, secret) for each credential in one Secret/ConfigMap entry (`what`: the key, or
    `key: inner.path` inside a config payload)."""
    if _plain(value):
        return
    entries = payload_entries(name, value) if not _CREDENTIAL_FILES.match(name) else None
    if entries is not None:
        for key, path, inner in entries:
            if _plain(inner):
                continue
            if is_secret_key(key) or value_is_credential(inner, entropy=False):
                yield f"{name}: {path}", inner
        return
    if name.lower() in (".dockerconfigjson", ".dockercfg"):
        try:
            config = json.loads(value)
        except ValueError:
            config = None
        for key, path, inner in _walk(config):
            if key in ("auth", "password", "identitytoken", "registrytoken") and not _plain(inner):
                yield f"{name}: {path}", inner
                return
        return
    if _CREDENTIAL_FILES.match(name) or is_secret_key(name) or value_is_credential(value, entropy):
        yield name, value


# ------------------------------------------------------------------------------------------ positions


def _locate(lines: Any, first_line: int, needle: str) -> tuple[int, int]:
    """(line, byte offset) of `needle` at or after `first_line` (within the next 400 lines), else the
    first line's start."""
    starts = lines.starts()
    probe = needle.split("\n", 1)[0][:80]
    if probe:
        for line in range(max(first_line, 1), min(first_line + 400, len(starts)) + 1):
            text = lines.text(line)
            col = text.find(probe)
            if col >= 0:
                return line, starts[line - 1] + len(text[:col].encode("utf-8"))
    line = max(first_line, 1)
    return line, starts[line - 1] if line <= len(starts) else 0


def _candidate(lines: Any, line: int, secret: str, raw: str, key: str) -> Candidate:
    at, start = _locate(lines, line, raw if raw else secret)
    return Candidate(secret=secret.strip(), start=start, line=at, context=lines.text(at), key=key,
                     raw=raw if raw and raw != secret else "")


# ------------------------------------------------------------------------------------------- objects


def _objects(value: Any) -> Iterator[LDict]:
    if not isinstance(value, LDict):
        return
    kind = value.get("kind")
    if isinstance(kind, str) and kind.endswith("List") and isinstance(value.get("items"), LList):
        for item in value["items"]:
            yield from _objects(item)
    elif isinstance(kind, str):
        yield value


_PARSED: list[Any] = [None, []]  # (the last text parsed, its documents): both decoders of one file parse it once


def _documents(item: Item) -> list[Any]:
    if _PARSED[0] is item.data:
        return _PARSED[1]
    try:
        docs = [value for value, _ in load_yaml_documents(item.data)]
    except YamlError:
        docs = []  # a template or broken file: the documents step reports parse problems
    _PARSED[0], _PARSED[1] = item.data, docs
    return docs


def _last_applied(obj: LDict) -> tuple[Any, int, str] | None:
    annotations = obj.get("metadata", {}).get("annotations") if isinstance(obj.get("metadata"), dict) else None
    text = annotations.get(LAST_APPLIED) if isinstance(annotations, dict) else None
    if not isinstance(text, str) or not text.strip().startswith("{"):
        return None
    try:
        copy = json.loads(text)
    except ValueError:
        return None
    return (copy, line_of(annotations, LAST_APPLIED), text) if isinstance(copy, dict) else None


def _entries(obj: Any, secret: bool) -> Iterator[tuple[str, str, str, str, int]]:
    """(field, key, value, raw as written, line) of a Secret's data/stringData or a ConfigMap's data."""
    fields = (("data", True), ("stringData", False)) if secret else (("data", False),)
    for field, encoded in fields:
        values = obj.get(field) if isinstance(obj, dict) else None
        if not isinstance(values, dict):
            continue
        for key, raw in values.items():
            if raw is None or isinstance(raw, (dict, list)) or isinstance(raw, bool):
                continue
            raw = str(raw)
            value = raw
            if encoded:
                decoded = _decode(raw)
                if decoded is None:
                    continue
                value = decoded
            yield field, str(key), value, raw, line_of(values, key) if isinstance(values, LDict) else 0


_USER_KEY = re2.compile(r"(?i)(?:^|[_.-])(?:user(?:name)?|login)$")


def _credentials(obj: Any, secret: bool, entropy: bool) -> list[tuple[str, str, int, str, str]]:
    """(field, raw, line, what, secret) of each credential entry; in a Secret that holds one, its user
    name entries too (half of the credential)."""
    entries = list(_entries(obj, secret))
    found = [(field, raw, line, what, value) for field, key, decoded, raw, line in entries
             for what, value in judge(key, decoded, entropy)]
    if secret and found:
        taken = {(f, ln) for f, _, ln, _, _ in found}
        found += [(field, raw, line, key, decoded) for field, key, decoded, raw, line in entries
                  if _USER_KEY.search(key) and (field, line) not in taken and not _plain(decoded)]
    return found


def _judged(lines: Any, obj: Any, secret: bool, entropy: bool, at: int = 0, text: str = "") -> Iterator[Candidate]:
    for field, raw, line, what, found in _credentials(obj, secret, entropy):
        if at:  # a copy inside an annotation: on the annotation's line where the value is written
            escaped = json.dumps(found)[1:-1]
            needle = escaped if escaped in text else (raw if field == "data" else found)
            yield _candidate(lines, at, found, needle if needle != found else "", f"{field}.{what} (last-applied copy)")
        elif field == "data" and secret:  # base64: the key's line
            line_text = lines.text(line)
            col = line_text.find(raw[:40]) if raw else -1
            start = lines.starts()[line - 1] + (len(line_text[:col].encode("utf-8")) if col >= 0 else 0)
            yield Candidate(found.strip(), start, line, line_text, f"{field}.{what}", raw)
        else:
            yield _candidate(lines, line, found, "", f"{field}.{what}")


def kubernetes_secret(item: Item, lines: Any) -> Iterator[Candidate]:
    """The credentials of every Secret (and of Secrets copied into last-applied annotations)."""
    if not _KIND_LINE.search(item.data) and LAST_APPLIED.encode() not in item.data:
        return
    for doc in _documents(item):
        for obj in _objects(doc):
            if obj.get("kind") == "Secret":
                yield from _judged(lines, obj, True, True)
            copy = _last_applied(obj)
            if copy is not None and copy[0].get("kind") == "Secret":
                yield from _judged(lines, copy[0], True, True, at=copy[1], text=copy[2])


def _env_candidates(lines: Any, obj: Any, at: int = 0, text: str = "") -> Iterator[Candidate]:
    from scanner.documents.kubernetes import CONTAINER_FIELDS, POD_SPEC_PATHS

    path = POD_SPEC_PATHS.get(obj.get("kind"))
    spec: Any = obj
    for key in path or ():
        spec = spec.get(key) if isinstance(spec, dict) else None
    if not isinstance(spec, dict):
        return
    for field, _ in CONTAINER_FIELDS:
        for container in spec.get(field) or ():
            if not isinstance(container, dict) or not isinstance(container.get("env"), list):
                continue
            for var in container["env"]:
                if not isinstance(var, dict) or "valueFrom" in var:
                    continue
                name, value = var.get("name"), var.get("value")
                if not isinstance(name, str) or not isinstance(value, (str, int, float)) or isinstance(value, bool):
                    continue
                value = str(value)
                if _plain(value) or not is_secret_key(name):
                    continue
                what = f"env {name} of container {container.get('name', '?')}"
                if at:
                    yield _candidate(lines, at, value, json.dumps(value)[1:-1] if json.dumps(value)[1:-1] in text else "",
                                     what + " (last-applied copy)")
                else:
                    yield _candidate(lines, line_of(var, "value") or line_of(var), value, "", what)


def _generator_literals(lines: Any, doc: Any) -> Iterator[Candidate]:
    """Kustomize `secretGenerator` / `configMapGenerator` literals (`KEY=value`): the Secret or ConfigMap
    the build will create, judged like one."""
    for field, secret in (("secretGenerator", True), ("configMapGenerator", False)):
        generators = doc.get(field) if isinstance(doc, dict) else None
        for generator in generators if isinstance(generators, list) else ():
            literals = generator.get("literals") if isinstance(generator, dict) else None
            if not isinstance(literals, LList):
                continue
            for i, literal in enumerate(literals):
                if not isinstance(literal, str) or "=" not in literal:
                    continue
                key, _, value = literal.partition("=")
                for what, found in judge(key.strip(), value.strip().strip("'\""), entropy=secret):
                    name = generator.get("name", "?")
                    yield _candidate(lines, line_of(literals, i), found, "", f"{field} {name} literal {what}")


def kubernetes_values(item: Item, lines: Any) -> Iterator[Candidate]:
    """Literal credentials in container env, in ConfigMaps, in Kustomize generator literals, and in
    last-applied copies of objects."""
    if len(item.data) > _MAX_MANIFEST:  # a data dump, not a manifest someone wrote: the text rules see it
        return
    if not _VALUES_HINT.search(item.data):  # no `kind:` key, no generator: nothing to judge, no YAML to parse
        return
    for doc in _documents(item):
        yield from _generator_literals(lines, doc)
        for obj in _objects(doc):
            kind = obj.get("kind")
            if kind == "ConfigMap":
                yield from _judged(lines, obj, False, False)
            else:
                yield from _env_candidates(lines, obj)
            copy = _last_applied(obj)
            if copy is None:
                continue
            if copy[0].get("kind") == "ConfigMap":
                yield from _judged(lines, copy[0], False, False, at=copy[1], text=copy[2])
            elif copy[0].get("kind") != "Secret":
                yield from _env_candidates(lines, copy[0], at=copy[1], text=copy[2])


__all__ = ["kubernetes_secret", "kubernetes_values", "judge", "value_is_credential", "payload_entries"]
