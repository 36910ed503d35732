"""Configuration: `.scanner.yaml` at the repository root, or `[tool.scanner]` in `pyproject.toml`.

The first found wins, looking from the scanned path up to the repository root; `--config FILE`
overrides the search. Validated against `config.schema.json` (shipped in the package); a bad file is
one line, `file:line: field: message`, exit 2. Command-line flags override the file: `--only`,
`--skip` and `--fail-on` replace its values, `--exclude` and `--rules` add to them.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any, NamedTuple

import re2

from scanner.rules.loader import Rule, quiet_re2_options, re2_error_text, select_rules
from scanner.sources.worktree import display_base

SCHEMA_PATH = Path(__file__).with_name("config.schema.json")
YAML_NAMES = (".scanner.yaml", ".scanner.yml")
ENCRYPTED_RULE = "encrypted-secret-in-repo"


class ConfigError(Exception):
    """A configuration that cannot be used. str() is one line: file:line: field: what is wrong."""


class Config(NamedTuple):
    path: Path | None = None  # None: no configuration file
    data: Any = None  # the validated mapping (LDict for YAML: remembers lines)

    def get(self, key: str, default: Any = None) -> Any:
        return (self.data or {}).get(key, default)

    def section(self, key: str) -> dict[str, Any]:
        return dict(self.get(key) or {})

    @property
    def base(self) -> Path:
        return self.path.parent if self.path else Path(".")

    def where(self, *keys: Any) -> str:
        """`file:line` of a key path (line omitted when unknown, e.g. TOML)."""
        from scanner.documents.tree import line_at

        line = line_at(self.data, keys)
        return f"{self.path}:{line}" if line else str(self.path)

    def names(self, key: str) -> list[str]:
        return _names(self.get(key))

    def relative(self, value: str) -> str:
        path = Path(value).expanduser()
        return str(path if path.is_absolute() else self.base / path)


def _names(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        value = value.split(",")
    return [v.strip() for v in value if v and v.strip()]


@lru_cache(maxsize=1)
def _validator() -> Any:
    import jsonschema

    return jsonschema.Draft202012Validator(json.loads(SCHEMA_PATH.read_text(encoding="utf-8")))


def _read_toml(path: Path) -> dict[str, Any] | None:
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib  # type: ignore[no-redef]
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    tool = doc.get("tool")
    if not isinstance(tool, dict) or "scanner" not in tool:
        return None
    return tool["scanner"]


def load(path: Path) -> Config:
    """Load and validate one configuration file (YAML, or pyproject.toml's [tool.scanner])."""
    from scanner.documents.tree import LDict, YamlError, field_name, load_yaml_documents  # with a file only

    if path.name == "pyproject.toml" or path.suffix == ".toml":
        data = _read_toml(path)
        if data is None:
            raise ConfigError(f"{path}: no [tool.scanner] table")
    else:
        try:
            text = path.read_bytes()
        except OSError as exc:
            raise ConfigError(f"{path}: cannot read configuration: {exc.strerror}") from None
        try:
            docs = load_yaml_documents(text)
        except YamlError as exc:
            message = str(exc)
            if message.startswith("line "):
                number, _, rest = message[5:].partition(": ")
                raise ConfigError(f"{path}:{number}: {rest}") from None
            raise ConfigError(f"{path}: {message}") from None
        if not docs or docs[0][0] is None:
            data = LDict(line=1)
        elif len(docs) != 1 or not isinstance(docs[0][0], dict):
            raise ConfigError(f"{path}:1: (top level): the configuration is one YAML mapping")
        else:
            data = docs[0][0]
    config = Config(path, data)
    errors = list(_validator().iter_errors(data))
    if errors:
        import jsonschema.exceptions

        err = jsonschema.exceptions.best_match(errors)
        where = list(err.absolute_path)
        message = err.message
        if err.validator == "additionalProperties" and where == []:
            message += " (known keys: " + ", ".join(_validator().schema["properties"]) + ")"
        raise ConfigError(f"{config.where(*where)}: {field_name(where)}: {message}")
    for index, pattern in enumerate(config.section("secrets").get("allow") or ()):
        try:
            re2.compile(pattern, quiet_re2_options())
        except re2.error as exc:
            raise ConfigError(
                f"{config.where('secrets', 'allow', index)}: secrets.allow[{index}]: not a valid RE2 pattern: "
                f"{re2_error_text(exc)}"
            ) from None
    return config


def repo_root(start: Path) -> Path | None:
    for directory in (start, *start.parents):
        if (directory / ".git").exists():
            return directory
    return None


def find(start: str | Path = ".") -> Path | None:
    """The configuration for a scan of `start`: the first `.scanner.yaml` or `pyproject.toml` with
    [tool.scanner], from `start` up to the repository root (only `start` outside a repository)."""
    begin = Path(start).resolve()
    if not begin.is_dir():
        begin = begin.parent
    top = repo_root(begin)
    for directory in (begin, *begin.parents):
        for name in YAML_NAMES:
            if (directory / name).is_file():
                return directory / name
        pyproject = directory / "pyproject.toml"
        if pyproject.is_file():
            try:
                if _read_toml(pyproject) is not None:
                    return pyproject
            except ConfigError:
                return pyproject  # broken pyproject: report it rather than ignore it
        if top is None or directory == top:
            break
    return None


def discover(explicit: str | None, paths: Sequence[str] = (".",)) -> Config:
    if explicit:
        path = Path(explicit)
        if os.path.devnull == explicit:
            return Config()  # `--config /dev/null`: no configuration at all, not even the repo's
        if not path.is_file():
            raise ConfigError(f"{explicit}: no such configuration file")
        return load(path)
    found = find(paths[0] if paths else ".")
    return load(found) if found else Config()


# --- applying the configuration -------------------------------------------------------------------


def _rebase(pattern: str, config_dir: Path, base: Path) -> str:
    """A gitignore-style exclude written relative to the config file, made relative to `base`.
    Unanchored patterns (`*.min.js`, `vendor/`) match at any depth and stay as they are; an anchored
    one that cannot match under `base` becomes ''."""
    negate, body = ("!", pattern[1:]) if pattern.startswith("!") else ("", pattern)
    if "/" not in body.rstrip("/") or body.startswith("**/") or config_dir == base:
        return pattern
    body = body.lstrip("/")
    try:
        inner = base.relative_to(config_dir).as_posix()
        if body.startswith(inner + "/"):
            return negate + "/" + body[len(inner) + 1 :]
        return ""
    except ValueError:
        try:
            outer = config_dir.relative_to(base).as_posix()
        except ValueError:
            return ""
        return negate + "/" + outer + "/" + body


def merge_args(config: Config, args: Any) -> None:
    """Fill the scan arguments (a `scanner scan` namespace) the command line left unset from the
    configuration (in place)."""
    if not args.only and config.get("only") is not None:
        args.only = config.names("only")
    if not args.skip and config.get("skip") is not None:
        args.skip = config.names("skip")
    verdict_args(config, args)
    args.exclude = excludes_for(config, args.exclude, display_base(Path((args.paths or ["."])[0])))
    args.rules = [config.relative(r) for r in config.get("rules", ())] + list(args.rules)


def verdict_args(config: Config, args: Any) -> None:
    """`fail-on` and `baseline` the command line left unset, from the configuration (in place): what
    `scanner scan` and `scanner merge` both decide their verdict with."""
    if args.fail_on is None:
        args.fail_on = config.get("fail-on", "low")
    if not args.baseline and config.get("baseline"):
        args.baseline = config.relative(config.get("baseline"))


def excludes_for(config: Config, given: Sequence[str], base: Path) -> list[str]:
    """The configuration's excludes made relative to `base` (the folder reported paths are relative
    to), then the command line's."""
    rebased = [_rebase(p, config.base.resolve(), base.resolve()) for p in config.get("exclude", ())]
    return [*(p for p in rebased if p), *given]


def select(config: Config, rules: list[Rule], only: Sequence[str], skip: Sequence[str]) -> list[Rule]:
    """--only/--skip selection, plus the configuration's opt-in rules, severities and secrets allowlist."""
    chosen = select_rules(rules, only, skip)
    enable = set(config.names("enable"))
    if config.section("secrets").get("allow-encrypted") is False and any(r.id == ENCRYPTED_RULE for r in rules):
        enable.add(ENCRYPTED_RULE)
    known = {r.id for r in rules} | {r.pack for r in rules}
    unknown = sorted(set(config.names("enable")) - known)
    if unknown:
        raise ConfigError(f"{config.where('enable')}: enable: unknown rule id or pack: {', '.join(unknown)}")
    if enable:
        have = {r.id for r in chosen}
        skipped = set(skip)
        for rule in rules:
            if rule.id in have or rule.id in skipped or rule.pack in skipped:
                continue
            if rule.id in enable or rule.pack in enable:
                chosen.append(rule)
                have.add(rule.id)
    overrides = config.section("severity")
    by_id = {r.id for r in rules}
    for rule_id in overrides:
        if rule_id not in by_id:
            raise ConfigError(f"{config.where('severity', rule_id)}: severity.{rule_id}: no rule with this id")
    secrets = config.section("secrets")
    allow = tuple(secrets.get("allow") or ()) + tuple(
        "(?i)" + re2.escape(word) for word in secrets.get("stopwords") or ()
    )
    out = []
    for rule in chosen:
        if rule.id in overrides:
            rule = rule._replace(severity=overrides[rule.id])
        if allow and rule.engine == "secrets":
            rule = rule._replace(allow=rule.allow + allow)
        out.append(rule)
    return out


def policy_options(config: Config) -> tuple[tuple[str, Any], ...]:
    """Engine options for the policy rules (ScanOptions.policy_options)."""
    out: list[tuple[str, Any]] = []
    for key in ("allowed-registries", "nonroot-base-images"):
        values = config.section("dockerfile").get(key)
        if values is not None:
            out.append((f"dockerfile.{key}", tuple(values)))
    complete = config.section("kubernetes").get("cluster-complete")
    if complete is not None:
        out.append(("kubernetes.cluster-complete", bool(complete)))
    return tuple(out)


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def effective(config: Config, args: Any) -> dict[str, Any]:
    """The configuration in effect after command-line flags, as `scanner config show` prints it."""
    secrets = config.section("secrets")
    return {
        "only": list(args.only or []),
        "skip": list(args.skip or []),
        "enable": config.names("enable"),
        "severity": _plain(config.section("severity")),
        "exclude": list(args.exclude),
        "rules": list(args.rules),
        "fail-on": args.fail_on,
        "baseline": args.baseline,
        "foreign-ignores": config.get("foreign-ignores", True) if getattr(args, "foreign_ignores", None) is None else args.foreign_ignores,
        "secrets": {
            "allow-encrypted": secrets.get("allow-encrypted", True),
            "allow": list(secrets.get("allow") or []),
            "stopwords": list(secrets.get("stopwords") or []),
        },
        "dockerfile": {
            key: _plain(config.section("dockerfile").get(key)) for key in ("allowed-registries", "nonroot-base-images")
        },
        "kubernetes": {"cluster-complete": bool(config.section("kubernetes").get("cluster-complete", False))},
    }


def show(config: Config, args: Any) -> str:
    import yaml

    header = f"# effective configuration; file: {config.path}\n" if config.path else (
        "# effective configuration; no configuration file found (defaults)\n"
    )
    return header + yaml.safe_dump(effective(config, args), sort_keys=False, default_flow_style=False)
