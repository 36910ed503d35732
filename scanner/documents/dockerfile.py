"""Dockerfiles (and Containerfiles) as line-aware trees of stages and instructions.

Parsing uses BuildKit's own parser (the `dockerfile` package): line continuations, the `# escape=`
directive, heredocs, JSON and shell forms and flags are handled exactly as `docker build` does. On
top of it this module works out what rules need and what a rule language cannot compute itself:

- stages (`FROM ... AS name`), the base of each (an image, `scratch`, or an earlier stage),
  the image reference split into registry, repository, tag and digest after `ARG` substitution;
- the effective `USER` at the end of each stage (inherited from an earlier stage used as base,
  `${VAR}` resolved from `ARG` defaults and `ENV`; a value that cannot be resolved is `Unknown`);
- per instruction: flags, `--mount` specs, the script a `RUN` executes (continuations joined,
  heredoc bodies included), `COPY`/`ADD` sources, `EXPOSE` ports, `ENV`/`ARG`/`LABEL` pairs.

The document value is

    {escape, args_before_from: [instruction], stages: [stage]}
    stage = {index, name?, final, line, from, image, base, parent?, registry, repository, tag?,
             digest?, platform?, user?, user_name?, user_group?, instructions: [instruction]}
    instruction = {cmd, line, end_line, text, args, json, flags, mounts, heredocs, sub_cmd? (ONBUILD),
                   script?, sources?, dest?, from? (COPY/ADD --from), ports?, vars?, user?, stage?,
                   stage_index?}   (stage and stage_index: not on ARGs before the first FROM)

Targets: `dockerfile.stage` (kind "final" or "intermediate"), `dockerfile.final-stage`,
`dockerfile.instruction` (kind = the instruction, e.g. RUN), `dockerfile.variable` (one subject per
`ENV`/`ARG` name, kind ENV or ARG). Relation `dockerfile.items` (params `{field}`) turns each item of
a list field of the subject (e.g. `sources`) into a subject, so a rule can say "some source whose
name matches X and not Y".

Engine options read here: `dockerfile.allowed-registries` (list; sets `registry_allowed` on stages
when given) and `dockerfile.nonroot-base-images` (list of image prefixes the user vouches default to
a non-root user; sets `base_nonroot`).
"""

from __future__ import annotations

import functools
import hashlib
import re
from collections.abc import Iterable, Sequence
from typing import Any

from scanner.documents import Context, Document, Owner, Subject
from scanner.documents.dockerfile_lines import parse_commands
from scanner.documents.tree import LDict, LList, Unknown, field_parts, resolve, wrap
from scanner.model import Item, Problem

KIND = "dockerfile"
LOCAL_KINDS = frozenset({KIND})  # every target and relation stays inside one file
MAX_BYTES = 4 << 20

_VAR = re.compile(r"\$(?:\{([A-Za-z_][A-Za-z0-9_]*)(?::?([-+?])([^}]*))?\}|([A-Za-z_][A-Za-z0-9_]*))")
_ESCAPE_DIRECTIVE = re.compile(r"^#\s*escape\s*=\s*(\S)\s*$", re.IGNORECASE)
# what to mask in labels (labels become evidence; secrets are never shown)
_MASKS = (
    (re.compile(r"(://[^\s/:@]+:)[^\s/@]+@"), r"\1***@"),
    (re.compile(r"((?:^|\s)(?:-u|--user)\s*['\"]?[^\s:'\"]+:)[^\s'\"]+"), r"\1***"),
    (
        re.compile(
            r"(?i)((?:password|passwd|token|secret|api[-_]?key|_authToken|access[-_]?key)[^\s=:]*[\s=:]+['\"]?)[^\s'\"]+"
        ),
        r"\1***",
    ),
)
_MASKS += ((re.compile(r"([A-Za-z0-9_.-]+:)[^\s:'\"]+(['\"]?\s*\|\s*(?:sudo\s+)?chpasswd)"), r"\1***\2"),)
_MASKS += ((re.compile(r"(\bdocker\s+login\b[^|;&]*\s-p\s*['\"]?)[^\s'\"]+"), r"\1***"),)
_MASKS += ((re.compile(r"(?i)(\b(?:bearer|basic)\s+)[^\s'\"]+"), r"\1***"),)
_MASKS += ((re.compile(r"(?i)(\bmachine\s+\S+\s+login\s+\S+\s+password\s+)\S+"), r"\1***"),)
_MASKS += ((re.compile(r"(\b(?:mysql\w*|sshpass)\b[^|;&]*\s-p)[^\s'\"]+"), r"\1***"),)
_MASK_HINTS = (
    "://",
    "-u",
    "--user",
    "pass",
    "pwd",
    "token",
    "secret",
    "key",
    "auth",
    "login",
    "bearer",
    "basic",
    "mysql",
    "sshpass",
)
PLATFORM_ARGS = (
    "BUILDPLATFORM",
    "BUILDOS",
    "BUILDARCH",
    "BUILDVARIANT",
    "TARGETPLATFORM",
    "TARGETOS",
    "TARGETARCH",
    "TARGETVARIANT",
)


# ----------------------------------------------------------------------------------------- claims


# `Dockerfile.<suffix>` names a variant (Dockerfile.dev, Dockerfile.alpine, Dockerfile.j2); these
# suffixes name a different kind of file that merely talks about Dockerfiles (dockerfile.py, .yaml...).
NOT_DOCKERFILE_SUFFIXES = frozenset(
    "py pyc pyi yaml yml json toml ini cfg md rst txt html xml sh bash ps1 go rs js mjs ts java rb php lock "
    "orig rej bak swp patch diff log csv".split()
)


def claims(path: str, data: bytes) -> bool:
    name = path.rsplit("/", 1)[-1].lower()
    if name in ("dockerfile", "containerfile") or name.endswith((".dockerfile", ".containerfile")):
        return True
    if name.startswith(("dockerfile.", "containerfile.")):
        return name.rsplit(".", 1)[-1] not in NOT_DOCKERFILE_SUFFIXES
    return False


# ------------------------------------------------------------------------------------------ parse


def _lset(d: LDict, key: str, value: Any, line: int) -> None:
    d[key] = value
    d.key_lines[key] = line


def _llist(items: Iterable[Any], line: int) -> LList:
    out = LList(line=line)
    for item in items:
        out.append(item)
        out.item_lines.append(getattr(item, "line", line) or line)
    return out


def substitute(text: str, env: dict[str, Any]) -> Any:
    """`$VAR`, `${VAR}`, `${VAR:-default}`, `${VAR:+alt}` from env; Unknown when a name is unknown."""
    unknown = False

    def repl(m: re.Match) -> str:
        nonlocal unknown
        name = m.group(1) or m.group(4)
        op, word = m.group(2), m.group(3) or ""
        value = env.get(name)
        if isinstance(value, Unknown):
            unknown = True
            return ""
        if op == "-":
            if value:
                return value
            fallback = substitute(word, env)
            if isinstance(fallback, Unknown):
                unknown = True
                return ""
            return fallback
        if op == "+":
            return word if value else ""
        if value is None:
            unknown = True
            return ""
        return value

    out = _VAR.sub(repl, text)
    return Unknown(text) if unknown else out


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        inner = value[1:-1]
        return inner.replace('\\"', '"') if value[0] == '"' else inner
    return value


def _is_literal(value: str) -> bool:
    """A value written out in the Dockerfile (not empty, no variable reference)."""
    return bool(value.strip()) and _VAR.search(value) is None


def _known_tail(raw: str, env: dict[str, Any]) -> dict[str, Any] | None:
    """The tag and digest of an image whose only unknown variables are in its registry or path
    (`${REGISTRY}/ubuntu`, `$MIRROR/library/node:20`); None when the last path part is unknown too."""
    marker = "\x00"

    def repl(m: re.Match) -> str:
        value = substitute(m.group(0), env)
        return marker if isinstance(value, Unknown) else value

    text = _VAR.sub(repl, raw)
    if "/" not in text or marker not in text or marker in text.rsplit("/", 1)[1]:
        return None
    return parse_image(text.replace(marker, "unknown"))


def parse_image(ref: str) -> dict[str, Any]:
    """Split an image reference: registry, repository, tag, digest (docker.io when no registry)."""
    out: dict[str, Any] = {}
    rest = ref
    if "@" in rest:
        rest, digest = rest.split("@", 1)
        out["digest"] = digest
    first, _, remainder = rest.partition("/")
    if remainder and ("." in first or ":" in first or first == "localhost"):
        out["registry"] = first.lower()
        rest = remainder
    else:
        out["registry"] = "docker.io"
        if "/" not in rest:
            rest = "library/" + rest
    name, sep, tag = rest.rpartition(":")
    if sep and "/" not in tag:
        out["repository"], out["tag"] = name, tag
    else:
        out["repository"] = rest
    return out


def _mounts(flags: Sequence[str]) -> list[dict[str, Any]]:
    mounts = []
    for flag in flags:
        if not flag.startswith("--mount="):
            continue
        spec: dict[str, Any] = {}
        for part in flag[len("--mount=") :].split(","):
            key, eq, value = part.partition("=")
            spec[key.strip().lower()] = value.strip() if eq else True
        spec.setdefault("type", "bind")
        mounts.append(spec)
    return mounts


def _flags(flags: Sequence[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for flag in flags:
        key, eq, value = flag.lstrip("-").partition("=")
        key = key.lower()
        if key == "mount":
            continue
        out[key] = value if eq else True
    return out


def _pairs(cmd: str, values: Sequence[str]) -> list[dict[str, Any]]:
    """ENV/LABEL values come as (k, v, k, v...); ARG as ("K=v", "K", ...)."""
    out = []
    if cmd == "ARG":
        for raw in values:
            name, eq, value = raw.partition("=")
            item: dict[str, Any] = {"name": name}
            if eq:
                value = _unquote(value)
                item["value"] = value
                item["literal"] = _is_literal(value)
            out.append(item)
    else:
        for i in range(0, len(values) - 1, 2):
            value = _unquote(values[i + 1])
            out.append({"name": values[i], "value": value, "literal": _is_literal(value)})
    return out


def _label_text(text: str, limit: int = 80) -> str:
    text = " ".join(text.split())
    low = text.lower()
    if any(hint in low for hint in _MASK_HINTS):
        for pattern, repl in _MASKS:
            text = pattern.sub(repl, text)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _instruction(cmd: Any) -> LDict:
    """One instruction as a tree whose every node is on the instruction's first line."""
    values = list(cmd.value)
    ins: dict[str, Any] = {
        "cmd": cmd.cmd.upper(),
        "line": cmd.start_line,
        "end_line": cmd.end_line,
        "text": cmd.original.split("\n", 1)[0],
        "args": values,
        "json": bool(cmd.json),
        "flags": _flags(cmd.flags),
        "mounts": _mounts(cmd.flags),
        "heredocs": [{"name": h.name, "content": h.content} for h in cmd.heredocs],
    }
    if cmd.sub_cmd:
        ins["sub_cmd"] = cmd.sub_cmd.upper()
    effective = (cmd.sub_cmd or cmd.cmd).upper()
    if effective in ("RUN", "CMD", "ENTRYPOINT", "SHELL"):
        script = " ".join(values) if cmd.json else (values[0] if values else "")
        if cmd.heredocs and effective == "RUN":
            script = "\n".join([script] + [h.content for h in cmd.heredocs])
        ins["script"] = script
    elif effective in ("COPY", "ADD"):
        paths = [v for v in values if not (cmd.heredocs and v.startswith("<<"))]
        if len(paths) >= 1:
            ins["dest"] = paths[-1]
        ins["sources"] = [
            {
                "path": src,
                "name": src.rstrip("/").rsplit("/", 1)[-1],
                "remote": bool(re.match(r"(?i)^(https?|git|ssh)://|^git@", src)),
                "dest": paths[-1],
            }
            for src in paths[:-1]
        ]
        if "from" in ins["flags"]:
            ins["from"] = ins["flags"]["from"]
    elif effective == "EXPOSE":
        ports = []
        for raw in values:
            port, _, proto = raw.partition("/")
            ports.append(
                {
                    "port": int(port) if port.isdigit() else Unknown(port) if "$" in port else port,
                    "protocol": (proto or "tcp").lower(),
                }
            )
        ins["ports"] = ports
    elif effective in ("ENV", "ARG", "LABEL"):
        ins["vars"] = _pairs(effective, values)
    elif effective == "USER" and values:
        ins["user"] = values[0]
    return wrap(ins, cmd.start_line)


def _escape_char(text: str) -> str:
    for raw in text.splitlines():
        line = raw.strip()
        if not line.startswith("#"):
            break
        m = _ESCAPE_DIRECTIVE.match(line)
        if m:
            return m.group(1)
    return "\\"


def _structural_problems(path: str, text: str, escape: str) -> list[Problem]:
    problems = []
    lines = text.splitlines()
    for number in range(len(lines), 0, -1):
        line = lines[number - 1].strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith(escape):
            problems.append(
                Problem(
                    path,
                    f"line {number}: line continuation '{escape}' at end of file; the last instruction is incomplete",
                    line=number,
                )
            )
        break
    return problems


def _heredoc_line(text: str) -> int:
    found = 0
    for number, line in enumerate(text.splitlines(), 1):
        if "<<" in line and not line.lstrip().startswith("#"):
            found = number
    return found


def parse(item: Item) -> tuple[list[Document], list[Problem]]:
    path = item.path
    if len(item.data) > MAX_BYTES:
        return [], [Problem(path, f"Dockerfile larger than {MAX_BYTES >> 20} MiB; skipped by policy rules")]
    nul = item.data.find(b"\0")
    if nul >= 0:
        line = item.data.count(b"\n", 0, nul) + 1
        return [], [
            Problem(path, f"line {line}: NUL byte; not a text Dockerfile, skipped by policy rules", line=line)
        ]
    text = item.data.decode("utf-8", "replace")
    if text.startswith("\ufeff"):
        text = text[1:]
    try:
        import dockerfile as bk
    except ImportError:  # pragma: no cover - the wheel is a declared dependency
        return [], [
            Problem(
                path, "the 'dockerfile' package is not installed; Dockerfile rules skipped", level="error"
            )
        ]
    escape = _escape_char(text)
    try:
        commands = parse_commands(text, escape)  # BuildKit's parser, long instructions made short: linear
    except bk.GoParseError as exc:
        message = str(exc) or "invalid Dockerfile"
        line = _heredoc_line(text) if "heredoc" in message else 0
        where = f"line {line}: " if line else ""
        return [], [Problem(path, f"{where}{message}; file skipped by policy rules", line=line)]
    problems = _structural_problems(path, text, escape)
    try:
        tree = build_tree(commands, escape)
    except (
        ValueError,
        TypeError,
        IndexError,
        KeyError,
        AttributeError,
    ) as exc:  # a bug here must not end the scan
        return [], problems + [
            Problem(path, f"could not interpret the Dockerfile ({type(exc).__name__}: {exc})")
        ]
    return [Document(KIND, path, tree, 1)], problems


def _split_from(values: Sequence[str]) -> tuple[str, str | None]:
    image = values[0] if values else ""
    name = None
    if len(values) >= 3 and values[1].lower() == "as":
        name = values[2]
    return image, name


def _user_parts(user: Any) -> tuple[Any, Any]:
    if isinstance(user, Unknown):
        return user, user
    name, _, group = str(user).partition(":")
    return name, group or None


def build_tree(commands: Sequence[Any], escape: str = "\\") -> LDict:
    root = LDict(line=1)
    _lset(root, "escape", escape, 1)
    global_args: dict[str, Any] = {name: Unknown(name) for name in PLATFORM_ARGS}
    before: list[LDict] = []
    stages: list[LDict] = []
    stage: LDict | None = None
    env: dict[str, Any] = {}
    user: Any = None
    user_line = 0
    by_name: dict[str, LDict] = {}
    stage_env: dict[int, dict[str, Any]] = {}

    def close() -> None:
        if stage is None:
            return
        if user is not None:
            name, group = _user_parts(user)
            _lset(stage, "user", user, user_line)
            _lset(stage, "user_name", name, user_line)
            if group is not None:
                _lset(stage, "user_group", group, user_line)
        stage_env[stage["index"]] = dict(env)

    for cmd in commands:
        if not cmd.cmd:
            continue
        ins = _instruction(cmd)
        name = ins["cmd"]
        if name == "FROM":
            close()
            line = ins["line"]
            raw, alias = _split_from(list(cmd.value))
            stage = LDict(line=line)
            index = len(stages)
            _lset(stage, "index", index, line)
            if alias:
                _lset(stage, "name", alias.lower(), line)
            _lset(stage, "final", False, line)
            _lset(stage, "line", line, line)
            _lset(stage, "from", raw, line)
            platform = ins["flags"].get("platform")
            if platform is not None:
                _lset(stage, "platform", platform, line)
            image = substitute(raw, global_args)
            _lset(stage, "image", image, line)
            env, user, user_line = {}, None, 0
            known_tail = _known_tail(raw, global_args) if isinstance(image, Unknown) else None
            if known_tail is not None:  # `${REGISTRY}/ubuntu`: whatever the registry, no tag and no digest
                _lset(stage, "base", "image", line)
                for key in ("registry", "repository"):
                    _lset(stage, key, image, line)
                for key in ("tag", "digest"):
                    if key in known_tail:
                        _lset(stage, key, known_tail[key], line)
            elif isinstance(image, Unknown):
                _lset(stage, "base", "unknown", line)
                for key in ("registry", "repository", "tag", "digest"):
                    _lset(stage, key, image, line)
            elif image.lower() == "scratch":
                _lset(stage, "base", "scratch", line)
            elif image.lower() in by_name:
                parent = by_name[image.lower()]
                _lset(stage, "base", "stage", line)
                _lset(stage, "parent", image.lower(), line)
                env = dict(stage_env.get(parent["index"], {}))
                if "user" in parent:
                    user, user_line = parent["user"], line
            else:
                _lset(stage, "base", "image", line)
                for key, value in parse_image(image).items():
                    _lset(stage, key, value, line)
            _lset(stage, "instructions", _llist([], line), line)
            _lset(ins, "stage", stage.get("name", str(index)), line)
            _lset(ins, "stage_index", index, line)
            stage["instructions"].append(ins)
            stage["instructions"].item_lines.append(line)
            stages.append(stage)
            if alias:
                by_name[alias.lower()] = stage
            by_name[str(index)] = stage
            continue
        if stage is None:
            if name == "ARG":
                for var in ins["vars"]:
                    global_args[var["name"]] = var.get("value", Unknown(var["name"]))
            before.append(ins)
            continue
        line = ins["line"]
        _lset(ins, "stage", stage.get("name", str(stage["index"])), line)
        _lset(ins, "stage_index", stage["index"], line)
        stage["instructions"].append(ins)
        stage["instructions"].item_lines.append(line)
        if name == "ARG":
            for var in ins["vars"]:
                if "value" in var:
                    value = substitute(var["value"], env)
                else:
                    value = env.get(var["name"], global_args.get(var["name"], Unknown(var["name"])))
                env[var["name"]] = value
        elif name == "ENV":
            for var in ins["vars"]:
                env[var["name"]] = substitute(var["value"], env)
        elif name == "USER" and "user" in ins:
            user, user_line = substitute(ins["user"], env), line
    close()
    if stages:
        stages[-1]["final"] = True
    _lset(root, "args_before_from", _llist(before, 1), 1)
    _lset(root, "stages", _llist(stages, stages[0].line if stages else 1), 1)
    return root


# ---------------------------------------------------------------------------------------- targets


def _dockerfiles(documents: Sequence[Document]) -> Iterable[Document]:
    return (d for d in documents if d.kind == KIND)


def _matches_prefix(value: str, prefixes: Iterable[str]) -> bool:
    for prefix in prefixes:
        prefix = str(prefix).rstrip("/")
        if (
            value == prefix
            or value.startswith(prefix + "/")
            or value.startswith(prefix + ":")
            or value.startswith(prefix + "@")
        ):
            return True
    return False


def _stage_view(stage: LDict, ctx: Context) -> LDict:
    allowed = ctx.options.get("dockerfile.allowed-registries")
    nonroot = ctx.options.get("dockerfile.nonroot-base-images")
    if not allowed and not nonroot:
        return stage
    view = stage.copy()
    line = stage.line
    image = stage.get("image")
    if stage.get("base") == "image" and isinstance(image, str):
        registry, repository = stage["registry"], stage["repository"]
        full = f"{registry}/{repository}"
        short = (
            repository[len("library/") :]
            if registry == "docker.io" and repository.startswith("library/")
            else None
        )
        names = [full, image] + ([short, f"docker.io/{short}"] if short else [])
        if allowed:
            if isinstance(allowed, str):
                allowed = [allowed]
            ok = registry in [str(a).rstrip("/").lower() for a in allowed] or any(
                _matches_prefix(n, allowed) for n in names
            )
            _lset(view, "registry_allowed", ok, line)
        if nonroot:
            if isinstance(nonroot, str):
                nonroot = [nonroot]
            _lset(view, "base_nonroot", any(_matches_prefix(image, [p]) or image == p for p in nonroot), line)
    elif isinstance(image, Unknown) and allowed:  # base "unknown", or an image with an unset registry
        _lset(view, "registry_allowed", image, line)
    return view


def _stage_name(stage: LDict) -> str:
    name = stage.get("name")
    which = f"stage '{name}'" if name else f"stage {stage['index']}"
    return f"final {which}" if stage.get("final") and name else which


def _stage_label(stage: LDict) -> str:
    return f"Dockerfile {_stage_name(stage)} (FROM {_label_text(stage['from'], 60)}, line {stage.line})"


def _stage_owner(stage: LDict) -> Owner:
    """`stage 0: FROM python:3.12-slim`, `final stage 'app': FROM base` at the FROM line."""
    return Owner(f"{_stage_name(stage)}: FROM {_label_text(stage['from'], 60)}", stage.line)


def _stage_key(doc: Document, stage: LDict) -> str:
    return f"{doc.path}#stage[{stage.get('name', stage['index'])}]"


def _stage_subject(doc: Document, stage: LDict, ctx: Context) -> Subject:
    return Subject(
        value=_stage_view(stage, ctx),
        path=doc.path,
        line=stage.line,
        label=_stage_label(stage),
        key=_stage_key(doc, stage),
        kind="final" if stage.get("final") else "intermediate",
        doc=doc,
        owner=_stage_owner(stage),
    )


def stage_subjects(documents: Sequence[Document], ctx: Context) -> Iterable[Subject]:
    for doc in _dockerfiles(documents):
        for stage in doc.value.get("stages", ()):
            yield _stage_subject(doc, stage, ctx)


def final_stage_subjects(documents: Sequence[Document], ctx: Context) -> Iterable[Subject]:
    for doc in _dockerfiles(documents):
        stages = doc.value.get("stages", ())
        if stages:
            yield _stage_subject(doc, stages[-1], ctx)


def _where(ins: LDict) -> str:
    stage = ins.get("stage")  # a stage's name, or its index as text; absent before the first FROM
    if stage is None:
        return ""
    return f"stage {stage} " if str(stage).isdigit() else f"stage '{stage}' "


def _instructions(doc: Document) -> Iterable[tuple[LDict, Owner | None]]:
    """Each instruction with the stage it is in (None: an ARG before the first FROM)."""
    for ins in doc.value.get("args_before_from", ()):
        yield ins, None
    for stage in doc.value.get("stages", ()):
        owner = _stage_owner(stage)
        for ins in stage.get("instructions", ()):
            yield ins, owner


def _digest(text: str) -> str:
    return hashlib.sha256(" ".join(text.split()).encode("utf-8", "surrogateescape")).hexdigest()[:12]


def _occurrence_key(seen: dict[str, int], base: str) -> str:
    """A line-independent subject key: `base`, then `base/2`, `base/3`... for repeats in one file."""
    seen[base] = seen.get(base, 0) + 1
    return base if seen[base] == 1 else f"{base}/{seen[base]}"


def _instruction_label(ins: LDict) -> str:
    return f"Dockerfile {_where(ins)}line {ins.line}: {_label_text(ins['text'])}"


def _instruction_text(ins: LDict) -> str:
    return _label_text(ins["text"])


def instruction_subjects(documents: Sequence[Document], ctx: Context) -> Iterable[Subject]:
    for doc in _dockerfiles(documents):
        seen: dict[str, int] = {}
        for ins, owner in _instructions(doc):
            body = ins["text"] + "".join(h["content"] for h in ins["heredocs"])
            base = f"{doc.path}#{ins.get('stage', '-')}/{ins['cmd']}/{_digest(body)}"
            key = _occurrence_key(seen, base)
            yield Subject(
                value=ins,
                path=doc.path,
                line=ins.line,
                label=functools.partial(_instruction_label, ins),  # made only for a finding
                key=key,
                kind=ins["cmd"],
                doc=doc,
                owner=owner and owner._replace(part=functools.partial(_instruction_text, ins)),
            )


def variable_subjects(documents: Sequence[Document], ctx: Context) -> Iterable[Subject]:
    for doc in _dockerfiles(documents):
        seen: dict[str, int] = {}
        for ins, owner in _instructions(doc):
            if ins["cmd"] not in ("ENV", "ARG"):
                continue
            for var in ins["vars"]:
                base = f"{doc.path}#{ins.get('stage', '-')}/{ins['cmd']}/{var['name']}"
                key = _occurrence_key(seen, base)
                view = var.copy()  # var.line is ins.line
                _lset(view, "cmd", ins["cmd"], ins.line)
                _lset(view, "stage", ins.get("stage"), ins.line)
                yield Subject(
                    value=view,
                    path=doc.path,
                    line=ins.line,
                    label=f"Dockerfile {_where(ins)}line {ins.line}: {ins['cmd']} {var['name']}",
                    key=key,
                    kind=ins["cmd"],
                    doc=doc,
                    owner=owner and owner._replace(part=f"{ins['cmd']} {var['name']}"),
                )


TARGETS = {
    "dockerfile.stage": stage_subjects,
    "dockerfile.final-stage": final_stage_subjects,
    "dockerfile.instruction": instruction_subjects,
    "dockerfile.variable": variable_subjects,
}


# -------------------------------------------------------------------------------------- relations


def items(subject: Subject, ctx: Context, params: dict) -> list[Subject] | None:
    """Each item of the list at `params.field` of the subject, as a subject of its own."""
    field = params.get("field")
    if not field:
        return []
    out = []
    for value, line in resolve(subject.value, field_parts(field)):
        seq = value if isinstance(value, list) else [value]
        for i, item in enumerate(seq):
            if not isinstance(item, dict):
                wrapped = LDict(line=line)
                _lset(wrapped, "value", item, line)
                item = wrapped
            out.append(subject._replace(value=item, key=f"{subject.key}/{field}[{i}]"))
    return out


RELATIONS = {"dockerfile.items": items}
