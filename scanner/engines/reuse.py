"""The same secret in two environments: one secret value (compared by the SHA-256 the secrets engine
records, never by the value) found under paths of different environments (`overlays/dev/` and
`overlays/prod/`, `.env.staging` and `.env.production`, `values-stg.yaml` and `values-prd.yaml`,
`appsettings.Development.json` and `appsettings.Production.json`) is one finding naming the places.
Teams are told to use a different secret per environment: a dev secret that also opens production
makes every dev machine, CI job and staging cluster a way into production.

A Kubernetes manifest whose path names no environment takes it from its document's
`metadata.namespace` (`namespace: shop-prod`, `namespace: staging`), read back from the working tree.

This engine runs after the secrets engine, on its findings for the whole scan (rules with `engine:
reuse`). A value reused within one environment, or in files whose path names no environment (or two),
is not this finding. `info` findings (documented example values) and findings already suppressed
inline are left out.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence

from scanner.model import Finding, Location, fingerprint
from scanner.rules.loader import Rule

# spellings -> the environment they name
ENVIRONMENTS = {
    "dev": "dev", "develop": "dev", "development": "dev", "devel": "dev",
    "staging": "staging", "stage": "staging", "stg": "staging",
    "prod": "prod", "production": "prod", "prd": "prod",
    "qa": "qa", "uat": "uat", "preprod": "preprod",
    "test": "test", "testing": "test",
}  # fmt: skip
# `test` names an environment only as a file name part or under one of these folders: a `tests/`
# folder is test code, not a test environment
ENV_PARENTS = frozenset(
    "overlays environments environment envs env stages clusters deploy deployments config configs settings values "
    "namespaces tenants inventories inventory group_vars".split()
)
_PREPROD = re.compile(r"pre[-_.]?prod(?:uction)?")
_SPLIT = re.compile(r"[^a-z0-9]+")
SHOWN = 6


def environment_of(path: str) -> str:
    """The one environment a path names ("" if none, or more than one)."""
    parts = _PREPROD.sub("preprod", path.lower()).split("/")
    found = set()
    for index, part in enumerate(parts):
        last = index == len(parts) - 1
        for token in _SPLIT.split(part):
            env = ENVIRONMENTS.get(token)
            if env is None:
                continue
            if env == "test" and not (last or (index > 0 and parts[index - 1] in ENV_PARENTS)):
                continue
            found.add(env)
    return found.pop() if len(found) == 1 else ""


_NAMESPACE = re.compile(rb"^[ \t]*namespace:[ \t]*[\"']?([A-Za-z0-9][A-Za-z0-9.-]*)")
_DOC_START = re.compile(rb"^---")


def namespace_environment(data: bytes, line: int) -> str:
    """The environment named by the `namespace:` of the YAML document that holds `line` ("" if none)."""
    lines = data.split(b"\n")
    if not 1 <= line <= len(lines):
        return ""
    start = line - 1
    while start > 0 and not _DOC_START.match(lines[start]):
        start -= 1
    end = line
    while end < len(lines) and not _DOC_START.match(lines[end]):
        end += 1
    for text in lines[start:end]:
        m = _NAMESPACE.match(text)
        if m:
            return environment_of(m.group(1).decode("ascii", "replace").replace(".", "-"))
    return ""


def run(
    rules: Sequence[Rule], findings: Iterable[Finding], read: Callable[[str], bytes | None] | None = None
) -> list[Finding]:
    """One finding per secret value found in two or more environments, for each `reuse` rule. `read`
    (path -> the file's bytes, or None) lets a manifest's namespace name the environment."""
    rules = [r for r in rules if r.engine == "reuse"]
    if not rules:
        return []
    places: dict[str, list[tuple[str, Finding]]] = {}
    texts: dict[str, bytes | None] = {}
    for finding in findings:
        if finding.suppression is not None or finding.severity == "info":
            continue
        sha = dict(finding.properties).get("secret_sha256")
        if not sha:
            continue
        env = environment_of(finding.path)
        worktree = finding.provenance is None or finding.provenance.source == "worktree"
        if not env and read is not None and worktree and finding.path.endswith((".yaml", ".yml")):
            if finding.path not in texts:
                texts[finding.path] = read(finding.path)
            data = texts[finding.path]
            env = namespace_environment(data, finding.line) if data else ""
        if env:
            places.setdefault(sha, []).append((env, finding))
    out = []
    for sha, found in places.items():
        envs = sorted({env for env, _ in found})
        if len(envs) < 2:
            continue
        found.sort(key=lambda pair: pair[1].sort_key())
        first = found[0][1]
        seen = []
        for env, finding in found:
            where = f"{env} ({finding.path}:{finding.line})"
            if where not in seen:
                seen.append(where)
        named = ", ".join(seen[:SHOWN]) + (f" (+{len(seen) - SHOWN} more)" if len(seen) > SHOWN else "")
        for rule in rules:
            message = f"The same secret is used in {len(envs)} environments ({', '.join(envs)}): {named}"
            out.append(
                Finding(
                    rule_id=rule.id,
                    severity=rule.severity,
                    location=Location(first.path, first.line, first.location.column, first.location.end_line,
                                      first.location.end_column),  # fmt: skip
                    message=message,
                    evidence=first.evidence,
                    fingerprint=fingerprint(rule.id, "", sha),  # the value's identity, wherever it moves
                    pack=rule.pack,
                    provenance=first.provenance,
                    properties=(("environments", envs), ("locations", [f"{f.path}:{f.line}" for _, f in found])),
                )
            )
    out.sort(key=Finding.sort_key)
    return out
