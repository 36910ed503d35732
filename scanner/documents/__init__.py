"""Documents say what the bytes mean: Kubernetes objects, Dockerfiles, Compose files, Terraform.

Each document module (kubernetes.py, dockerfile.py, compose.py, the terraform/ package, ...) exposes:

- `claims(path: str, data: bytes) -> bool`: cheap test whether the file is for this module;
- `parse(item: Item) -> tuple[list[Document], list[Problem]]`: never raises on bad input;
- `TARGETS: dict[str, TargetFn]`: named rule targets (e.g. "kubernetes.container") that turn the
  parsed documents of the whole scan into `Subject`s a policy condition is evaluated against;
- optionally `RELATIONS: dict[str, RelationFn]`: named relations between subjects
  (e.g. "networkpolicy-selecting") used by `related:` conditions;
- optionally `finalize(documents) -> list[Document]`: a whole-scan pass over the documents (e.g. Kubernetes
  drops the partial objects that Kustomize patch files hold);
- optionally `LOCAL_KINDS: frozenset[str]`: the document kinds it makes whose targets and relations
  never look past one document (a Dockerfile, a Compose file): the policy stage runs on them file by
  file, in the worker that parsed them, instead of once over the whole scan.

Register a module by adding its name to `MODULES` below.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable, Sequence
from functools import cache
from types import ModuleType
from typing import Any, NamedTuple

from scanner.model import Item, Problem, interruption

MODULES: tuple[str, ...] = ("compose", "kubernetes", "dockerfile", "terraform", "items")  # first claim wins


class Document(NamedTuple):
    kind: str  # "kubernetes", "dockerfile", "compose", "terraform", "terraform-plan"
    path: str  # path findings are reported against (Helm: the template named by "# Source:")
    value: Any  # LDict/LList tree
    line: int = 1
    meta: tuple[tuple[str, Any], ...] = ()  # module-specific facts (sorted pairs)


class Owner(NamedTuple):
    """The code object a subject is part of (a Kubernetes object, a Terraform resource, a Dockerfile
    stage, a Compose service): the text report lists a finding under it. `part` names the subject
    within it ("container nginx", "ingress #1", "RUN curl ..."); "" for the object itself."""

    label: str  # "Deployment/web", "aws_db_instance.main", "Compose service 'web'"
    line: int
    part: str | Callable[[], str] = ""  # a function when it costs to make, like Subject.label


INSTANCE = "\x1f"  # in Subject.key: what follows names one instance of the code object before it


class Subject(NamedTuple):
    """What one policy condition is evaluated against: a container, an object, a resource..."""

    value: Any  # LDict view; fields are looked up in it
    path: str
    line: int
    label: str | Callable[[], str]  # human name for messages, e.g. "Deployment/web container nginx";
    # a function when it costs to make (masking credentials in a command): called only for a finding
    key: str  # stable identity (fingerprint), e.g. "apps/v1/Deployment/default/web/containers/nginx";
    # "<code object>" INSTANCE "<instance>" when one code object yields several subjects (a Terraform
    # module's block reached through several calls): a rule reports one finding per code object and line
    kind: str  # what `kinds:` in a rule filters on (Kubernetes kind, Terraform type, instruction)
    doc: Document
    ignores: tuple[tuple[str, str], ...] = ()  # (rule id or "*", reason), e.g. from annotations
    owner: Owner | None = None  # the object it is part of, for reports; None: a subject of its own


class Context(NamedTuple):
    documents: Sequence[Document]
    options: dict[str, Any]
    cache: dict[str, Any]


TargetFn = Callable[[Sequence[Document], Context], Iterable[Subject]]
RelationFn = Callable[[Subject, Context, dict], "list[Subject] | None"]


@cache
def modules() -> tuple[ModuleType, ...]:
    found = []
    for name in MODULES:
        try:
            found.append(importlib.import_module(f"scanner.documents.{name}"))
        except ModuleNotFoundError as exc:  # a module not written yet
            if exc.name != f"scanner.documents.{name}":
                raise
    return tuple(found)


@cache
def local_kinds() -> frozenset[str]:
    out: set[str] = set()
    for module in modules():
        out.update(getattr(module, "LOCAL_KINDS", ()))
    return frozenset(out)


@cache
def local_targets() -> frozenset[str]:
    """Targets whose subjects come from one document of a local kind at a time."""
    out: set[str] = set()
    for module in modules():
        if getattr(module, "LOCAL_KINDS", ()):
            out.update(getattr(module, "TARGETS", {}))
    return frozenset(out)


@cache
def targets() -> dict[str, TargetFn]:
    out: dict[str, TargetFn] = {}
    for module in modules():
        out.update(getattr(module, "TARGETS", {}))
    return out


@cache
def relations() -> dict[str, RelationFn]:  # asked on every `related:` condition evaluated
    out: dict[str, RelationFn] = {}
    for module in modules():
        out.update(getattr(module, "RELATIONS", {}))
    return out


def parse_item(item: Item) -> tuple[list[Document], list[Problem]]:
    """The documents in one item (empty when no module claims it)."""
    for module in modules():
        if module.claims(item.path, item.data):
            try:
                return module.parse(item)
            except Exception as exc:  # a parser bug must not end the scan
                stop = interruption(exc)
                if stop is not None:  # a --timeout alarm or Ctrl-C inside a C/Go parser: not a parse error
                    raise stop from None
                return [], [Problem(item.path, f"could not parse ({type(exc).__name__}); file skipped by policy rules")]
    return [], []


def finalize(documents: list[Document]) -> list[Document]:
    for module in modules():
        fn = getattr(module, "finalize", None)
        if fn is not None:
            documents = fn(documents)
    return documents


def render(documents: list[Document], root: Any = None) -> tuple[list[Document], list[Problem]]:
    """Whole-scan rendering (Helm charts, Kustomize overlays) by modules that have a `render` step.
    `root` is the folder the documents' paths are relative to, or None when the documents do not come
    from files on disk (git history, staged blobs): then nothing is rendered, only reported."""
    problems: list[Problem] = []
    for module in modules():
        fn = getattr(module, "render", None)
        if fn is None:
            continue
        try:
            documents, more = fn(documents, root, worktree=root is not None)
        except Exception as exc:  # noqa: BLE001 - a rendering bug must not end the scan
            more = [Problem(".", f"rendering failed ({type(exc).__name__}); charts and overlays not rendered")]
        problems.extend(more)
    return documents, problems
