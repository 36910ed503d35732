"""Module instances: which folders are root modules, which are reached through `module` calls, and
with what variables.

Every folder of `.tf` files is a module. A folder no other folder calls (with a local `source =
"./…"` or `"../…"`) is a root: its variables come from its `terraform.tfvars` / `*.auto.tfvars`, else
their defaults. A folder that is called is evaluated once per call (and per `count` / `for_each`
instance of the call), with the caller's arguments as its variables; a child's default counts only
when the caller does not set the variable. Remote sources (registry, git, http) are not fetched: the
parse step notes each such call once. Call cycles and chains deeper than MAX_DEPTH stop there.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterator, Sequence
from typing import Any, NamedTuple

from scanner.documents.terraform.evaluate.expressions import UNKNOWN, EvalError, evaluate, parse_node
from scanner.documents.terraform.evaluate.scope import Binding, Scope, clone, value_of
from scanner.documents.terraform.parse.hcl import Block
from scanner.documents.tree import LDict, LList, Unknown

MAX_DEPTH = 16
MAX_ITERATIONS = 64  # count / for_each instances expanded per block; more are judged as one unknown
MAX_INSTANCES = 512  # module instances per scan; calls past it are not followed
LOCAL_SOURCE = re.compile(r"^\.{1,2}(/|\\|$)")
META_ARGUMENTS = frozenset({"source", "version", "count", "for_each", "providers", "depends_on"})


class File(NamedTuple):
    path: str
    kind: str  # "terraform" or "tfvars"
    blocks: Sequence[Block]


class Folder(NamedTuple):
    """What a module folder declares, gathered once."""

    defaults: dict[str, Binding]  # variables with a default (None included); others are unknown
    declared: frozenset[str]
    locals_: dict[str, tuple[Any, str, int]]  # name -> (raw value, path, line)
    data_arns: dict[str, str]
    tfvars: dict[str, Binding]
    calls: list[tuple[Block, str]]  # module blocks with a local source, and their file


class Instance(NamedTuple):
    folder: str
    key: str  # the folder for a root module; folder + "#" + root + ":" + chain for a called one
    chain: tuple[str, ...]  # "module.db", "module.rds": the calls that reach it
    root: str  # the root module folder the chain starts from
    scope: Scope


def _tfvars_file(path: str) -> bool:
    name = path.rsplit("/", 1)[-1]
    return name.startswith("terraform.tfvars") or ".auto.tfvars" in name


def gather(files: Sequence[File]) -> Folder:
    defaults: dict[str, Binding] = {}
    declared: set[str] = set()
    locals_: dict[str, tuple[Any, str, int]] = {}
    data_arns: dict[str, str] = {}
    tfvars: dict[str, Binding] = {}
    calls: list[tuple[Block, str]] = []
    for f in files:
        for b in f.blocks:
            if b.type == "variable" and b.labels:
                declared.add(b.labels[0])
                if "default" in b.body:
                    defaults[b.labels[0]] = Binding(b.body["default"], f.path, b.body.key_lines.get("default", b.line))
            elif b.type == "locals":
                for k, v in b.body.items():
                    locals_[k] = (v, f.path, b.body.key_lines.get(k, b.line))
            elif b.type == "data" and b.labels[:1] == ("aws_iam_policy",) and len(b.labels) > 1:
                if isinstance(b.body.get("arn"), str):
                    data_arns[b.labels[1]] = b.body["arn"]
                elif isinstance(b.body.get("name"), str):  # an AWS managed policy looked up by name
                    data_arns[b.labels[1]] = f"arn:aws:iam::aws:policy/{b.body['name']}"
            elif b.type == "module" and b.labels:
                source = b.body.get("source")
                if isinstance(source, str) and LOCAL_SOURCE.match(source):
                    calls.append((b, f.path))
            elif b.type == "attribute" and f.kind == "tfvars" and _tfvars_file(f.path):
                name = b.labels[0]
                tfvars[name] = Binding(b.body.get(name), f.path, b.line)
    return Folder(defaults, frozenset(declared), locals_, data_arns, tfvars, calls)


def _child_folder(folder: str, source: str) -> str:
    joined = posixpath.normpath(posixpath.join(folder, source.replace("\\", "/")))
    return "" if joined == "." else joined


def iterations(body: LDict, scope: Scope) -> list[tuple[Scope, str]]:
    """The instances a `count` / `for_each` makes, as (scope, address suffix): none when the count is
    known to be 0 or the collection known to be empty; one with unknown each/count when not known."""
    if "for_each" in body:
        value = _value(body["for_each"], scope)
        if isinstance(value, (dict, list)) and len(value) > MAX_ITERATIONS:
            return [(scope.with_iteration(each=(UNKNOWN, UNKNOWN)), "")]
        if isinstance(value, dict):
            return [(scope.with_iteration(each=(k, v)), f'["{k}"]') for k, v in value.items()]
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return [(scope.with_iteration(each=(v, v)), f'["{v}"]') for v in dict.fromkeys(value)]
        return [(scope.with_iteration(each=(UNKNOWN, UNKNOWN)), "")]
    if "count" in body:
        value = _value(body["count"], scope)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            if value <= 0:
                return []
            return [(scope.with_iteration(count=0 if value == 1 else UNKNOWN), "")]
        return [(scope.with_iteration(count=UNKNOWN), "")]
    return [(scope, "")]


def _value(raw: Any, scope: Scope) -> Any:
    if isinstance(raw, Unknown):
        node = parse_node(raw)
        try:
            return evaluate(node, scope.lookup)
        except EvalError:
            return UNKNOWN
        except Exception:  # noqa: BLE001 - an evaluator bug on hostile input leaves the value unknown
            return UNKNOWN
    if isinstance(raw, (LDict, LList)):
        return value_of(clone(raw), scope)
    return raw


def _argument(raw: Any, scope: Scope, path: str, line: int) -> Binding:
    """A module call's argument as the child's variable: its value and where it was set."""
    if isinstance(raw, Unknown):
        node = parse_node(raw)
        # a variable passed on was set further up; anything else is set here, by this argument
        origin = scope.origin(node) if node[0] == "ref" and node[1] == "var" else None
        value = _value(raw, scope)
        if origin is not None and not isinstance(value, Unknown):
            return Binding(value, origin[0], origin[1])
        return Binding(value, path if not isinstance(value, Unknown) else "", line)
    return Binding(_value(raw, scope), path, line)


def instances(folders: dict[str, Sequence[File]]) -> Iterator[Instance]:
    """Every module instance of the scan: roots first, each followed by the modules it calls."""
    gathered = {name: gather(files) for name, files in sorted(folders.items())}
    called: set[str] = set()
    for name, folder in gathered.items():
        for block, _ in folder.calls:
            child = _child_folder(name, block.body["source"])
            if child in gathered and child != name:
                called.add(child)
    done: set[str] = set()
    done_instances: list[str] = []

    def instantiate(
        name: str, variables: dict[str, Binding], chain: tuple[str, ...], seen: tuple[str, ...]
    ) -> Iterator[Instance]:
        folder = gathered[name]
        done.add(name)
        scope = Scope(name, variables, folder.locals_, folder.data_arns, chain)
        root = seen[0] if seen else name
        key = name if not chain else f"{name}#{root}:{'.'.join(chain)}"
        yield Instance(name, key, chain, root, scope)
        if len(chain) >= MAX_DEPTH or len(done_instances) >= MAX_INSTANCES:
            return
        done_instances.append(key)
        for block, path in folder.calls:
            child = _child_folder(name, block.body["source"])
            if child not in gathered or child in seen or child == name:
                continue
            target = gathered[child]
            for call_scope, suffix in iterations(block.body, scope):
                args = {
                    k: _argument(v, call_scope, path, block.body.key_lines.get(k, block.line))
                    for k, v in block.body.items()
                    if k not in META_ARGUMENTS
                }
                child_vars = {
                    var: args.get(var) or target.defaults.get(var) or Binding(UNKNOWN, "", 0)
                    for var in target.declared
                }
                yield from instantiate(child, child_vars, (*chain, f"module.{block.labels[0]}{suffix}"), (*seen, name))

    for name, folder in gathered.items():
        if name in called:
            continue
        variables = {var: folder.tfvars.get(var) or folder.defaults.get(var) or Binding(UNKNOWN, "", 0) for var in folder.declared}
        yield from instantiate(name, variables, (), ())
    reachable = {name for name in gathered if name not in called}  # from the roots, whatever the counts
    frontier = list(reachable)
    while frontier:
        current = frontier.pop()
        for block, _ in gathered[current].calls:
            child = _child_folder(current, block.body["source"])
            if child in gathered and child not in reachable:
                reachable.add(child)
                frontier.append(child)
    for name, folder in gathered.items():  # only in a call cycle no root reaches; a module whose
        if name not in done and name not in reachable:  # calls all have count = 0 is not created

            variables = {var: folder.defaults.get(var) or Binding(UNKNOWN, "", 0) for var in folder.declared}
            yield from instantiate(name, variables, (), ())
