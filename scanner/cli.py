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
    scan.add_argument("-f", "--format", "--output-format", dest="format", choices=FORMATS, default="text")
    scan.add_argument("-o", "--output", metavar="FILE", help="write the report to FILE instead of stdout")
    scan.add_argument(
        "--fail-on", choices=("low", "medium", "high", "critical"), default="low",
        help="exit 1 only for findings at or above this severity (default: low, i.e. any finding)",
    )
    scan.add_argument("--exit-zero", action="store_true", help="exit 0 even with findings (errors still exit 2)")
    scan.add_argument("--rules", action="append", default=[], metavar="PATH", help="extra rule pack file or folder (repeatable)")
    scan.add_argument("--only", action="append", metavar="IDS", help="run only these rule ids or packs (comma-separated)")
    scan.add_argument("--skip", action="append", metavar="IDS", help="skip these rule ids or packs (comma-separated)")
    scan.add_argument("--show-secrets", action="store_true", help="print secrets in full (default: redacted)")
    scan.add_argument("--max-file-size", type=_size, default="10MB", metavar="SIZE", help="skip larger files (default: 10MB)")
    scan.add_argument("--exclude", action="append", default=[], metavar="GLOB", help="skip paths matching this gitignore-style glob")
    scan.add_argument("-j", "--jobs", type=int, default=0, help="worker processes (default: every core)")
    scan.add_argument("--no-inline-ignores", action="store_true", help="do not honour scanner:ignore comments")
    scan.add_argument("-q", "--quiet", action="store_true", help="print findings only: no summary, no warnings")
    scan.add_argument("-v", "--verbose", action="store_true", help="also say which files were skipped and why")
    scan.add_argument("--no-color", action="store_true", help="no colour (also: NO_COLOR=1)")

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


def _write_atomically(target: str, text: str) -> None:
    path = Path(target)
    directory = path.parent if str(path.parent) else Path(".")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def _load_rules(extra: Sequence[str]) -> list:
    from scanner.engines import policy
    from scanner.rules.loader import load_rules

    rules = load_rules(extra)
    policy.check_rules(rules)
    return rules


def cmd_scan(args: argparse.Namespace) -> int:
    from scanner.model import at_or_above
    from scanner.reporters import render
    from scanner.reporters.text_report import use_color
    from scanner.rules.loader import select_rules
    from scanner.scan import ScanOptions, scan_worktree

    rules = select_rules(_load_rules(args.rules), _split(args.only), _split(args.skip))
    options = ScanOptions(
        paths=tuple(args.paths),
        rules=tuple(rules),
        show_secrets=args.show_secrets,
        max_file_size=args.max_file_size,
        excludes=tuple(args.exclude),
        jobs=args.jobs,
        inline_ignores=not args.no_inline_ignores,
    )
    try:
        result = scan_worktree(options)
    except FileNotFoundError as exc:
        raise UsageError(str(exc)) from None
    if not args.quiet:
        for problem in result.problems:
            if problem.level == "info" and not args.verbose:
                continue
            where = f"{problem.path}:{problem.line}" if problem.line else problem.path
            _warn(f"{'note' if problem.level == 'info' else 'warning'}: {where}: {problem.message}")
    color = args.format == "text" and not args.output and not args.no_color and use_color(sys.stdout.isatty())
    report = render(args.format, result, rules, color)
    if args.quiet and args.format == "text":
        report = "\n".join(line for line in report.splitlines()[:-1]) + ("\n" if report.strip() else "")
        if not any(f.suppression is None for f in result.findings):
            report = ""
    if args.output:
        _write_atomically(args.output, report)
    else:
        sys.stdout.write(report)
    failing = [f for f in result.findings if f.suppression is None and at_or_above(f.severity, args.fail_on)]
    if failing and not args.exit_zero:
        return EXIT_FINDINGS
    return EXIT_OK


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
        from scanner.rules.loader import load_pack, pack_files

        names = {p for p in args.packs if not Path(p).exists()}
        files = [f for p in args.packs if Path(p).exists() for f in pack_files(Path(p))]
        chosen = [r for r in rules if r.pack in names]
        for file in files:
            chosen.extend(load_pack(file))
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
    from scanner.rules.loader import PackError

    try:
        if args.command == "scan":
            return cmd_scan(args)
        return cmd_rules(args)
    except (UsageError, PackError) as exc:
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
        _warn(f"internal error: {type(exc).__name__}: {exc} (set SCANNER_DEBUG=1 for a traceback)")
        return EXIT_ERROR
