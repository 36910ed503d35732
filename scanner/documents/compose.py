"""Compose files (`docker-compose*.yml`, `compose*.yaml`) as line-aware trees, one subject per service.

The document value is the Compose file as written (LDict/LList from the line-aware YAML loader).
Target `compose.service` yields each service under `services:` (or, for the legacy version-1 format
without `services:`, each top-level mapping that has `image` or `build`); kind "service", fields are
the service's own keys (`privileged`, `user`, `cap_add`, `volumes`, `security_opt`, ...).
Variable interpolation (`${VAR}`, `${VAR:-default}`) is left as written: rules compare literal values,
so an interpolated value never matches a literal like `true` or `host`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from scanner.documents import Context, Document, Owner, Subject
from scanner.documents.tree import LDict, YamlError, load_yaml_documents
from scanner.model import Item, Problem

KIND = "compose"
LOCAL_KINDS = frozenset({KIND})  # every target and relation stays inside one file
MAX_BYTES = 8 << 20
_NAME = re.compile(r"^(docker-)?compose([._-][^/]*)?\.ya?ml$", re.IGNORECASE)
_V1_KEYS = ("image", "build")


def claims(path: str, data: bytes) -> bool:
    return _NAME.match(path.rsplit("/", 1)[-1]) is not None


def parse(item: Item) -> tuple[list[Document], list[Problem]]:
    if len(item.data) > MAX_BYTES:
        return [], [
            Problem(item.path, f"Compose file larger than {MAX_BYTES >> 20} MiB; skipped by policy rules")
        ]
    try:
        loaded = load_yaml_documents(item.data)
    except YamlError as exc:
        return [], [Problem(item.path, f"invalid YAML: {exc}", line=exc.line)]
    docs = []
    problems = []
    for value, line in loaded:
        if value is None:
            continue
        if not isinstance(value, LDict):
            problems.append(
                Problem(item.path, f"line {line}: a Compose file is a mapping; document skipped", line=line)
            )
            continue
        docs.append(Document(KIND, item.path, value, line))
    return docs, problems


def _services(value: LDict) -> Iterable[tuple[str, LDict, int]]:
    services = value.get("services")
    if isinstance(services, LDict):
        for name, service in services.items():
            if isinstance(service, LDict):
                yield str(name), service, services.key_lines.get(name, service.line)
        return
    if services is None:
        for name, service in value.items():  # legacy v1: services at the top level
            if isinstance(service, LDict) and any(k in service for k in _V1_KEYS):
                yield str(name), service, value.key_lines.get(name, service.line)


def service_subjects(documents: Sequence[Document], ctx: Context) -> Iterable[Subject]:
    for doc in documents:
        if doc.kind != KIND:
            continue
        for name, service, line in _services(doc.value):
            yield Subject(
                value=service,
                path=doc.path,
                line=line,
                label=f"Compose service '{name}'",
                key=f"{doc.path}#services/{name}",
                kind="service",
                doc=doc,
                owner=Owner(f"service '{name}'", line),
            )


TARGETS = {"compose.service": service_subjects}
