"""Command line: `scanner scan`, `scanner rules list|show|test`.

Exit codes (ruff's convention): 0 nothing at or above --fail-on, 1 findings, 2 usage, configuration
or internal error. --exit-zero never hides a 2. No traceback reaches a user (SCANNER_DEBUG=1 shows it).
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from scanner import __version__

EXIT_OK, EXIT_FINDINGS, EXIT_ERROR, EXIT_INTERRUPTED = 0, 1, 2, 130


class UsageError(Exception):
    """A one-line message for the user; exit 2."""


def _size(text: str) -> int:
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kmg]?)i?b?\s*", text.lower())
    if not m:
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (examples: 500000, 512k, 10MB)")
    return int(float(m.group(1)) * {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3}[m.group(2)])


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r} (examples: 30, 2.5, 0 for no limit)")
    return value


def incomplete(problem) -> bool:  # noqa: ANN001 - Problem
    """A file the scan could not fully read or understand (what --fail-on-parse-error fails on): every
    warning except symlinks, which are deliberately not followed."""
    return problem.level != "info" and not problem.message.startswith("symlink")


def _split(values: Sequence[str] | None) -> list[str]:
    return [part.strip() for value in values or () for part in value.split(",") if part.strip()]


def build_parser() -> argparse.ArgumentParser:
    from scanner.reporters import FORMATS

    parser = argparse.ArgumentParser(
        prog="scanner",
        description="Find plaintext secrets, root and privileged containers, missing network and pod security, "
        "overly broad IAM and deletion-protection gaps in repositories and manifests.",
    )
    parser.add_argument("--version", action="version", version=f"scanner {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    scan = sub.add_parser("scan", help="scan files (default: the current directory)")
    scan.add_argument("paths", nargs="*", default=["."], metavar="PATH", help="files or folders (default: .)")
    scan.add_argument("-f", "--format", "--output-format", dest="format", choices=FORMATS, default="text",
                      help="report format (default: text)")
    scan.add_argument("-o", "--output", metavar="FILE", help="write the report to FILE instead of stdout")
    scan.add_argument(
        "--fail-on", choices=("low", "medium", "high", "critical"), default=None,
        help="exit 1 only for findings at or above this severity (default: low, i.e. any finding)",
    )
    scan.add_argument("--config", metavar="FILE", help="configuration file (default: .scanner.yaml or [tool.scanner] "
                      "in pyproject.toml, the first found from PATH up to the repository root)")
    scan.add_argument("--baseline", metavar="FILE", help="findings in this baseline are suppressed: only new ones fail")
    scan.add_argument("--exit-zero", action="store_true", help="exit 0 even with findings (errors still exit 2)")
    scan.add_argument(
        "--fail-on-parse-error", action="store_true",
        help="exit 1 also when a file could not be fully scanned (parse error, unreadable, --timeout)",
    )
    scan.add_argument(
        "--timeout", type=_seconds, default=30.0, metavar="SECONDS",
        help="give up on one file after this long and report it as not fully scanned (default: 30; 0: never)",
    )
    scan.add_argument("--rules", action="append", default=[], metavar="PATH", help="extra rule pack file or folder (repeatable)")
    scan.add_argument("--only", action="append", metavar="IDS", help="run only these rule ids or packs (comma-separated)")
    scan.add_argument("--skip", action="append", metavar="IDS", help="skip these rule ids or packs (comma-separated)")
    scan.add_argument("--show-secrets", action="store_true", help="print secrets in full (default: redacted)")
    scan.add_argument("--max-file-size", type=_size, default="10MB", metavar="SIZE", help="skip larger files (default: 10MB)")
    scan.add_argument("--exclude", action="append", default=[], metavar="GLOB", help="skip paths matching this gitignore-style glob (a path you name is scanned anyway)")
    scan.add_argument("-j", "--jobs", type=int, default=0, help="worker processes (default: every core)")
    scan.add_argument("--no-inline-ignores", action="store_true", help="do not honour scanner:ignore comments")
    scan.add_argument(
        "--foreign-ignores", action=argparse.BooleanOptionalAction, default=None,
        help="honour other scanners' markers on secrets (gitleaks:allow, checkov:skip=CKV_SECRET_*, nosec, NOSONAR, "
        "trufflehog:ignore, kingfisher:ignore, ggignore); default: on, or the configuration's foreign-ignores",
    )  # fmt: skip
    scan.add_argument("-q", "--quiet", action="store_true", help="print findings only: no summary, no warnings")
    scan.add_argument("-v", "--verbose", action="store_true", help="also say which files were skipped and why")
    scan.add_argument("--no-color", action="store_true", help="no colour (also: NO_COLOR=1)")
    git = scan.add_argument_group("git (secrets rules only for history and ranges)")
    git.add_argument("--history", action="store_true", help="also scan every commit on every ref (each unique blob once)")
    git.add_argument("--branch", action="append", default=[], metavar="REF", help="with --history: only this ref's history (repeatable)")
    git.add_argument("--since-commit", metavar="REF", help="only what the commits in REF..HEAD introduced (PR gate)")
    git.add_argument("--range", dest="commit_range", metavar="A..B", help="only what the commits in A..B introduced")
    git.add_argument("--staged", action="store_true", help="scan the index (what is about to be committed), not the work tree")

    _baseline_parsers(sub)
    config = sub.add_parser("config", help="show the effective configuration")
    config_sub = config.add_subparsers(dest="config_command", metavar="ACTION")
    show = config_sub.add_parser("show", help="print the effective configuration (YAML)")
    show.add_argument("path", nargs="?", default=".", metavar="PATH", help="where to look for the configuration")
    show.add_argument("--config", metavar="FILE", help="this configuration file instead of the one found")

    rules = sub.add_parser("rules", help="list, show or test rules")
    rules_sub = rules.add_subparsers(dest="rules_command", metavar="ACTION")
    for name, helptext in (("list", "every rule: id, severity, pack, title"), ("show", "one rule in full"),
                           ("test", "run every rule's good and bad examples")):
        p = rules_sub.add_parser(name, help=helptext)
        p.add_argument("--rules", action="append", default=[], metavar="PATH", help="extra rule pack file or folder")
        if name == "show":
            p.add_argument("rule_id", metavar="ID")
        if name == "test":
            p.add_argument("packs", nargs="*", metavar="PACK", help="pack files, folders or names (default: all)")
    return parser


def _warn(message: str) -> None:
    print(f"scanner: {message}", file=sys.stderr)


def _warn_problems(problems: Sequence, verbose: bool) -> None:
    """One stderr line per file problem; notes (level info) only when verbose."""
    for problem in problems:
        if problem.level == "info" and not verbose:
            continue
        where = f"{problem.path}:{problem.line}" if problem.line else problem.path
        _warn(f"{'note' if problem.level == 'info' else 'warning'}: {where}: {problem.message}")


def _write_stdout(text: str) -> None:
    """A path that is not UTF-8 (kept as surrogate escapes) is shown as `\\udcXX`, never a crash."""
    try:
        sys.stdout.write(text)
    except UnicodeEncodeError:
        sys.stdout.flush()
        sys.stdout.buffer.write(text.encode(sys.stdout.encoding or "utf-8", "backslashreplace"))
        sys.stdout.flush()


def _write_atomically(target: str, text: str) -> None:
    """Temp file + rename, so a reader never sees half a report. Through a symlink to its target;
    straight into anything that is not a regular file (/dev/null, /dev/stdout, a FIFO), which a
    rename would replace with a file."""
    path = Path(os.path.realpath(target))
    if path.exists() and not path.is_file():
        with open(path, "w", encoding="utf-8", errors="backslashreplace") as handle:
            handle.write(text)
        return
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:  # name the report the user asked for, not our temp file
        raise OSError(exc.errno, exc.strerror, target) from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8", errors="backslashreplace") as handle:  # non-UTF-8 file names
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def _load_rules(extra: Sequence[str]) -> list:
    from scanner.engines import check_rules
    from scanner.rules.loader import load_rules

    return load_rules(extra, check=check_rules)  # checked per pack; passed packs are cached


def _baseline_parsers(sub) -> None:  # noqa: ANN001 - argparse's private subparsers type
    from scanner.suppressions.baseline import DEFAULT_PATH

    baseline = sub.add_parser("baseline", help="accept today's findings so that only new ones fail")
    actions = baseline.add_subparsers(dest="baseline_command", metavar="ACTION")
    create = actions.add_parser("create", help="write every current finding's fingerprint to a baseline file")
    create.add_argument("paths", nargs="*", default=["."], metavar="PATH", help="files or folders (default: .)")
    create.add_argument("-o", "--output", default=DEFAULT_PATH, metavar="FILE", help=f"default: {DEFAULT_PATH}")
    create.add_argument("--config", metavar="FILE", help="configuration file (default: the one found)")
    create.add_argument("--rules", action="append", default=[], metavar="PATH", help="extra rule pack file or folder")
    create.add_argument("--only", action="append", metavar="IDS", help="only these rule ids or packs")
    create.add_argument("--skip", action="append", metavar="IDS", help="skip these rule ids or packs")
    create.add_argument("--exclude", action="append", default=[], metavar="GLOB", help="skip paths matching GLOB")
    create.add_argument("--history", action="store_true", help="also baseline secrets in every commit")
    create.add_argument("--no-inline-ignores", action="store_true", help="baseline inline-ignored findings too")
    imp = actions.add_parser("import", help="convert a detect-secrets baseline (.secrets.baseline)")
    imp.add_argument("source", metavar="FILE", help="detect-secrets baseline")
    imp.add_argument("-o", "--output", default=DEFAULT_PATH, metavar="FILE", help=f"default: {DEFAULT_PATH}")


def _run_scan(args: argparse.Namespace, use_baseline: bool = True):  # noqa: ANN202 - (ScanResult, rules, stale)
    """Configuration, rule selection, the scan itself and the baseline: what `scan` and `baseline
    create` share."""
    from scanner import config as configuration
    from scanner.scan import ScanOptions, scan_worktree

    cfg = configuration.discover(args.config, args.paths)
    configuration.merge_args(cfg, args)
    rules = configuration.select(cfg, _load_rules(args.rules), _split(args.only), _split(args.skip))
    from scanner.suppressions import inline

    foreign = getattr(args, "foreign_ignores", None)
    inline.FOREIGN_IGNORES = cfg.get("foreign-ignores", True) if foreign is None else foreign  # before workers fork
    options = ScanOptions(
        paths=tuple(args.paths),
        rules=tuple(rules),
        show_secrets=args.show_secrets,
        max_file_size=args.max_file_size,
        excludes=tuple(args.exclude),
        jobs=args.jobs,
        inline_ignores=not args.no_inline_ignores,
        policy_options=configuration.policy_options(cfg),
        timeout=args.timeout,
    )
    try:
        result = _scan_git(args, options) if _git_mode(args) else scan_worktree(options)
    except FileNotFoundError as exc:
        raise UsageError(str(exc)) from None
    from scanner.engines import reuse

    reused = reuse.run(rules, result.findings, _reader(result.root))  # one secret in two environments
    if reused:
        result = result._replace(findings=sorted(result.findings + reused, key=lambda f: f.sort_key()))
    stale: list = []
    if use_baseline and args.baseline:
        from scanner.suppressions import baseline

        applied = baseline.apply(result.findings, baseline.load(args.baseline), Path(args.baseline).name)
        result, stale = result._replace(findings=applied.findings), applied.stale
    return result, rules, stale


def _reader(root: Path):  # noqa: ANN202 - path -> bytes | None
    """Read a scanned file back (a manifest's namespace): inside the root only, no symlinks followed."""

    def read(path: str) -> bytes | None:
        target = root / path
        try:
            if target.is_symlink() or not target.resolve().is_relative_to(root.resolve()) or target.stat().st_size > 10 << 20:
                return None
            return target.read_bytes()
        except (OSError, ValueError):
            return None

    return read


def cmd_scan(args: argparse.Namespace) -> int:
    from scanner.model import at_or_above
    from scanner.reporters import render
    from scanner.reporters.text_report import use_color

    result, rules, stale = _run_scan(args)
    if not args.quiet:
        _warn_problems(result.problems, args.verbose)
        if stale and args.verbose and not (args.staged or args.since_commit or args.commit_range):
            _warn(f"note: {len(stale)} baseline entries match no finding any more (remove them with "
                  "'scanner baseline create'):")
            for entry in stale:
                _warn(f"note: stale baseline entry: {entry.describe()}")
    color = args.format == "text" and not args.output and not args.no_color and use_color(sys.stdout.isatty())
    report = render(args.format, result, rules, color)
    if args.quiet and args.format == "text":
        report = "\n".join(line for line in report.splitlines()[:-1]) + ("\n" if report.strip() else "")
        if not any(f.suppression is None for f in result.findings):
            report = ""
    if args.output:
        _write_atomically(args.output, report)
    else:
        _write_stdout(report)
    failing = [f for f in result.findings if f.suppression is None and at_or_above(f.severity, args.fail_on or "low")]
    if failing and not args.exit_zero:
        return EXIT_FINDINGS
    unscanned = {p.path for p in result.problems if incomplete(p)}
    if args.fail_on_parse_error and unscanned and not args.exit_zero:
        if not args.quiet:
            _warn(f"error: {len(unscanned)} file(s) could not be fully scanned (--fail-on-parse-error)")
        return EXIT_FINDINGS
    return EXIT_OK


def cmd_baseline(args: argparse.Namespace) -> int:
    from scanner.suppressions import baseline

    if args.baseline_command is None:
        raise UsageError("baseline needs an action: create or import FILE (see 'scanner baseline --help')")
    if args.baseline_command == "import":
        imported = baseline.import_detect_secrets(args.source)
        _write_atomically(args.output, baseline.dumps(imported.entries))
        _warn(f"wrote {args.output}: {len(imported.entries)} entries from {args.source} (audited as false positives); "
              f"{imported.kept} unaudited or real secrets stay findings")  # fmt: skip
        return EXIT_OK
    scan_args = build_parser().parse_args(["scan"])  # every scan option at its default...
    for key, value in vars(args).items():  # ...then what `baseline create` was given
        setattr(scan_args, key, value)
    scan_args.baseline = None
    result, _, _ = _run_scan(scan_args, use_baseline=False)
    _warn_problems(result.problems, verbose=False)
    text = baseline.create(result.findings)
    _write_atomically(args.output, text)
    count = sum(1 for f in result.findings if f.suppression is None)
    _warn(f"wrote {args.output}: {count} findings baselined; 'scanner scan --baseline {args.output}' now reports only new ones")
    return EXIT_OK


def cmd_config(args: argparse.Namespace) -> int:
    from scanner import config as configuration

    if args.config_command is None:
        raise UsageError("config needs an action: show (see 'scanner config --help')")
    scan_args = build_parser().parse_args(["scan", args.path])
    scan_args.config = args.config
    cfg = configuration.discover(args.config, [args.path])
    configuration.merge_args(cfg, scan_args)
    sys.stdout.write(configuration.show(cfg, scan_args))
    return EXIT_OK


def _git_mode(args: argparse.Namespace) -> bool:
    return bool(args.history or args.branch or args.since_commit or args.commit_range or args.staged)


def _scan_git(args: argparse.Namespace, options):  # noqa: ANN001, ANN202 - ScanOptions -> ScanResult
    from scanner.scan import scan_git
    from scanner.sources.git import GitError

    modes = [name for name, on in (("--history/--branch", args.history or args.branch), ("--staged", args.staged),
             ("--since-commit", args.since_commit), ("--range", args.commit_range)) if on]  # fmt: skip
    if len(modes) > 1:
        raise UsageError(f"{' and '.join(modes)} cannot be combined: choose one")
    if len(args.paths) > 1:
        raise UsageError(f"{modes[0]} scans one git repository: give one PATH (got {len(args.paths)})")
    try:
        return scan_git(
            options, history=bool(args.history or args.branch), refs=args.branch, since=args.since_commit,
            range_=args.commit_range, staged=args.staged,
        )  # fmt: skip
    except GitError as exc:
        raise UsageError(str(exc)) from None


def cmd_rules(args: argparse.Namespace) -> int:
    if args.rules_command is None:
        raise UsageError("rules needs an action: list, show ID or test (see 'scanner rules --help')")
    rules = _load_rules(args.rules)
    if args.rules_command == "list":
        width = max((len(r.id) for r in rules), default=10)
        for rule in sorted(rules, key=lambda r: (r.pack, r.id)):
            opt = " (opt-in)" if rule.opt_in else ""
            print(f"{rule.id:<{width}}  {rule.severity:<8}  {rule.pack:<14}  {rule.title}{opt}")
        print(f"{len(rules)} rules in {len({r.pack for r in rules})} packs")
        return EXIT_OK
    if args.rules_command == "show":
        matches = [r for r in rules if r.id == args.rule_id]
        if not matches:
            raise UsageError(f"no rule with id '{args.rule_id}' (see 'scanner rules list')")
        print(show_rule(matches[0]))
        return EXIT_OK
    from scanner.rules.examples import run_examples

    chosen = rules
    if args.packs:
        from scanner.engines import check_rules
        from scanner.rules.loader import load_pack, pack_files

        names = {p for p in args.packs if not Path(p).exists()}
        files = [f for p in args.packs if Path(p).exists() for f in pack_files(Path(p))]
        chosen = [r for r in rules if r.pack in names]
        for file in files:
            chosen.extend(load_pack(file, check_rules))
        unknown = names - {r.pack for r in rules}
        if unknown:
            raise UsageError(f"unknown pack(s): {', '.join(sorted(unknown))}")
    failures = run_examples(chosen)
    for failure in failures:
        print(f"FAIL {failure}")
    examples = sum(len(r.bad) + len(r.good) for r in chosen)
    print(f"{examples - len(failures)} passed, {len(failures)} failed ({len(chosen)} rules)")
    return EXIT_FINDINGS if failures else EXIT_OK


def show_rule(rule) -> str:  # noqa: ANN001 - Rule
    lines = [
        f"{rule.id}: {rule.title}",
        f"  severity: {rule.severity}    pack: {rule.pack}    engine: {rule.engine}"
        + (f"    target: {rule.target}" if rule.target else "")
        + ("    (opt-in)" if rule.opt_in else ""),
        f"  defined in: {rule.source}:{rule.source_line}",
        "",
        rule.description,
        "",
        "Remediation:",
        "  " + rule.remediation.replace("\n", "\n  "),
    ]
    if rule.tags:
        lines += ["", "Tags: " + ", ".join(rule.tags)]
    if rule.references:
        lines += ["", "References:"] + [f"  - {r}" for r in rule.references]
    for label, examples in (("Bad example", rule.bad), ("Good example", rule.good)):
        for example in examples:
            name = f" ({example.filename})" if example.filename else ""
            lines += ["", f"{label}{name}:"] + ["    " + ln for ln in example.content.rstrip("\n").splitlines()]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return EXIT_ERROR
    from scanner.config import ConfigError
    from scanner.rules.loader import PackError
    from scanner.suppressions.baseline import BaselineError

    try:
        if args.command == "scan":
            return cmd_scan(args)
        if args.command == "baseline":
            return cmd_baseline(args)
        if args.command == "config":
            return cmd_config(args)
        return cmd_rules(args)
    except (UsageError, PackError, ConfigError, BaselineError) as exc:
        _warn(f"error: {exc}")
        return EXIT_ERROR
    except KeyboardInterrupt:
        _warn("interrupted; results are incomplete")
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        return EXIT_OK
    except Exception as exc:  # noqa: BLE001 - the last line of defence: no traceback for users
        if os.environ.get("SCANNER_DEBUG"):
            raise
        if isinstance(exc, OSError) and exc.strerror:  # e.g. --output in a folder we cannot write to
            _warn(f"error: {exc.filename or ''}{': ' if exc.filename else ''}{exc.strerror}")
            return EXIT_ERROR
        # An unexpected exception's message may quote the scanned content (a secret): only its type.
        _warn(f"internal error: {type(exc).__name__} (set SCANNER_DEBUG=1 for the message and a traceback)")
        return EXIT_ERROR
