"""Command line: `scanner scan`, `scanner rules list|show|test`.

Exit codes (ruff's convention): 0 nothing at or above --fail-on, 1 findings, 2 usage, configuration
or internal error. --exit-zero never hides a 2. No traceback reaches a user (SCANNER_DEBUG=1 shows it).
"""

from __future__ import annotations

import argparse
import os
import re
import stat
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from scanner import __version__, plural

if TYPE_CHECKING:
    from scanner.scan import ScanResult

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


def _split(values: Sequence[str] | None) -> list[str]:
    return [part.strip() for value in values or () for part in value.split(",") if part.strip()]


def did_you_mean(word: str, choices: Sequence[str]) -> str:
    """' (did you mean X?)' for the closest choice, or ''."""
    import difflib

    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]}?)" if close else ""


class _Parser(argparse.ArgumentParser):
    """argparse with "did you mean" for mistyped options and subcommands, and the usage of the
    subcommand the mistake was made in (not the top level's)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        choice = re.search(r"invalid choice: '([^']*)' \(choose from (.*)\)", message)
        if choice:
            message += did_you_mean(choice.group(1), re.findall(r"'([^']*)'", choice.group(2)))
        unknown = re.match(r"unrecognized arguments: (.*)", message)
        if unknown:
            options = [o for action in self._actions for o in action.option_strings]
            for word in unknown.group(1).split():
                if word.startswith("-"):
                    hint = did_you_mean(word.split("=", 1)[0], options)
                    if hint:
                        message += hint.replace(" (", f" ({word}: ", 1)
        self.print_usage(sys.stderr)
        self.exit(2, f"{self.prog}: error: {message}\n")

    def subcommand(self, args: argparse.Namespace) -> _Parser:
        """The (sub)parser of the command `args` ran: unrecognized arguments are reported by it."""
        parser: _Parser = self
        for dest in ("command", "rules_command", "baseline_command", "config_command"):
            name = getattr(args, dest, None)
            sub = next((a for a in parser._actions if isinstance(a, argparse._SubParsersAction)), None)
            if not name or sub is None or name not in sub.choices:
                break
            parser = sub.choices[name]
        return parser


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The command line's parser. `only="scan"`: with the scan subcommand alone (what a command line
    that starts with `scan` needs: every shard of a scan builds it, and the others cost ~20 ms)."""
    from scanner.model import SEVERITIES  # --fail-on's levels
    from scanner.reporters import FORMATS

    parser = _Parser(
        prog="scanner",
        description="Find plaintext secrets, root and privileged containers, missing network and pod security, "
        "overly broad IAM and deletion-protection gaps in repositories and manifests.",
    )
    parser.add_argument("--version", action="version", version=f"scanner {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    scan = sub.add_parser("scan", help="scan files (default: the current directory)")
    scan.add_argument("paths", nargs="*", default=["."], metavar="PATH",
                      help="files or folders (default: .); with --history, repositories: folders or URLs")
    scan.add_argument("-f", "--format", "--output-format", dest="format", choices=FORMATS, default="text",
                      help="report format (default: text)")
    scan.add_argument("-o", "--output", metavar="FILE", help="write the report to FILE instead of stdout")
    scan.add_argument(
        "--fail-on", choices=SEVERITIES, default=None,
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
    scan.add_argument("-j", "--jobs", type=int, default=0, help="worker processes (default: every core; history shards of one scan on one machine share "
                      "them, taking turns when they outnumber the cores; a history under 128 MB is scanned "
                      "in one process)")
    scan.add_argument("--no-inline-ignores", action="store_true", help="do not honour scanner:ignore comments")
    scan.add_argument(
        "--foreign-ignores", action=argparse.BooleanOptionalAction, default=None,
        help="honour other scanners' markers on secrets (gitleaks:allow, checkov:skip=CKV_SECRET_*, nosec, NOSONAR, "
        "trufflehog:ignore, kingfisher:ignore, ggignore); default: on, or the configuration's foreign-ignores",
    )  # fmt: skip
    scan.add_argument("-q", "--quiet", action="store_true", help="print findings only: no summary, no warnings, no progress")
    scan.add_argument("-v", "--verbose", action="store_true", help="also say which files were skipped and why")
    scan.add_argument("--no-color", action="store_true", help="no colour (also: NO_COLOR=1)")
    git = scan.add_argument_group("git (secrets rules only for history and ranges)")
    git.add_argument("--history", action="store_true", help="also scan every commit on every ref (each unique blob once)")
    git.add_argument("--branch", action="append", default=[], metavar="REF", help="with --history: only this ref's history (repeatable)")
    git.add_argument("--since-commit", metavar="REF", help="only what the commits in REF..HEAD introduced (PR gate)")
    git.add_argument("--range", dest="commit_range", metavar="A..B", help="only what the commits in A..B introduced")
    git.add_argument("--unpushed", nargs="?", const="HEAD", metavar="REF",
                     help="only what the commits of REF (default HEAD) that no remote has yet introduced (pre-push)")
    git.add_argument("--staged", action="store_true", help="scan the index (what is about to be committed), not the work tree")
    scan.add_argument("--shard", metavar="K/N", help="do part K of N of the scan (work tree by path, history by blob); "
                      "'scanner merge' joins the N JSON reports (also: SCANNER_SHARD=K/N, or SCANNER_SHARD_COUNT=N "
                      "with SCANNER_SHARD_INDEX or JOB_COMPLETION_INDEX, 0-based, or GitLab's CI_NODE_INDEX, 1-based)")
    if only == "scan":
        return parser

    _baseline_parsers(sub)
    _fix_parser(sub)
    from scanner.cli_shards import merge_parser

    merge_parser(sub)
    report = sub.add_parser("report", help="turn a saved JSON report into another format (html, sarif, text...)")
    report.add_argument("source", metavar="FILE", help="a report written by 'scanner scan --format json'")
    report.add_argument("-f", "--format", "--output-format", dest="format", choices=FORMATS, default="html",
                        help="report format (default: html)")
    report.add_argument("-o", "--output", metavar="FILE", help="write the report to FILE instead of stdout")
    report.add_argument("--rules", action="append", default=[], metavar="PATH",
                        help="rule packs the scan used besides the built-in ones (for rule descriptions)")
    report.add_argument("--no-color", action="store_true", help="no colour (also: NO_COLOR=1)")
    config = sub.add_parser("config", help="show the effective configuration")
    config_sub = config.add_subparsers(dest="config_command", metavar="ACTION", parser_class=_Parser)
    show = config_sub.add_parser("show", help="print the effective configuration (YAML)")
    show.add_argument("path", nargs="?", default=".", metavar="PATH", help="where to look for the configuration")
    show.add_argument("--config", metavar="FILE", help="this configuration file instead of the one found")

    rules = sub.add_parser("rules", help="list, show or test rules")
    rules_sub = rules.add_subparsers(dest="rules_command", metavar="ACTION", parser_class=_Parser)
    for name, helptext in (("list", "every rule: id, severity, pack, title"), ("show", "one rule in full, as YAML"),
                           ("test", "run every rule's good and bad examples (and fixes)"),
                           ("targets", "what policy rules can target: fields with example values, and relations")):
        p = rules_sub.add_parser(name, help=helptext)
        p.add_argument("--rules", action="append", default=[], metavar="PATH", help="extra rule pack file or folder")
        if name == "show":
            p.add_argument("rule_id", metavar="ID")
        if name == "test":
            p.add_argument("packs", nargs="*", metavar="PACK", help="pack files, folders or names (default: all)")
    return parser


def _warn(message: str) -> None:
    """One line on stderr, whatever the message quotes (a file name with an escape sequence)."""
    from scanner.reporters.terminal import printable

    print(f"scanner: {printable(message)}", file=sys.stderr)


def _warn_problems(problems: Sequence, verbose: bool) -> None:
    """One stderr line per file problem; notes (level info) only when verbose."""
    for problem in problems:
        if problem.level == "info" and not verbose:
            continue
        where = f"{problem.path}:{problem.line}" if problem.line else problem.path
        label = {"info": "note", "error": "error"}.get(problem.level, "warning")
        _warn(f"{label}: {problem.message}" if where == "." else f"{label}: {where}: {problem.message}")  # "." the whole scan


def _write_stdout(text: str) -> None:
    """A path that is not UTF-8 (kept as surrogate escapes) is shown as `\\udcXX`, never a crash."""
    try:
        sys.stdout.write(text)
    except UnicodeEncodeError:
        sys.stdout.flush()
        sys.stdout.buffer.write(text.encode(sys.stdout.encoding or "utf-8", "backslashreplace"))
        sys.stdout.flush()


def _write_atomically(target: str, text: str, private: bool = False, keep_mode: bool = False) -> None:
    """Temp file + rename, so a reader never sees half a report. Through a symlink to its target;
    straight into anything that is not a regular file (/dev/null, /dev/stdout, a FIFO), which a
    rename would replace with a file. The file gets the mode the user's umask gives a new file, or
    0600 when `private` (it holds unredacted secrets: --show-secrets), or the mode it had when
    `keep_mode` (`fix --write` edits the user's file: line endings are kept as given too)."""
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
        mode = stat.S_IMODE(os.stat(path).st_mode) if keep_mode else 0o600 if private else 0o666 & ~_umask()
        os.fchmod(fd, mode)  # mkstemp made it 0600 whatever the umask
        newline = "" if keep_mode else None
        with os.fdopen(fd, "w", encoding="utf-8", errors="backslashreplace", newline=newline) as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def _umask() -> int:
    mask = os.umask(0o077)  # read it the only way there is: set, then restore at once
    os.umask(mask)
    return mask


def _load_rules(extra: Sequence[str]) -> list:
    from scanner.engines import check_rules
    from scanner.rules.loader import load_rules

    return load_rules(extra, check=check_rules)  # checked per pack; passed packs are cached


def _report_rules(extra: Sequence[str], reports: Sequence[ScanResult], warn: bool = True) -> list:
    """The rules for rendering saved reports: the packs loaded (built-in and --rules), then what each
    report says about the rules of its findings that those packs lack (a user's pack not at hand)."""
    from scanner.reporters.json_report import described_rule, described_rules

    rules = _load_rules(extra)
    known = {r.id for r in rules}
    for report in reports:
        for rule in described_rules(report):
            if rule.id not in known:
                rules.append(rule)
                known.add(rule.id)
    unknown = {f.rule_id: f for report in reports for f in report.findings if f.rule_id not in known}
    if unknown and warn:
        _warn(f"warning: {plural.noun(len(unknown), 'rule')} {', '.join(sorted(unknown))} "
              f"{'is' if len(unknown) == 1 else 'are'} neither in the loaded packs nor described in the report "
              "(made by an older scanner): give the scans' packs with --rules for their titles and remediations")
    # still listed in every format (SARIF needs a rule per result), under their id alone
    rules += [described_rule(rid, {"severity": f.severity, "pack": f.pack, "description": f"Rule {rid} (not loaded)."})
              for rid, f in sorted(unknown.items())]
    ran = [set(report.meta["rules_run"]) for report in reports if (report.meta or {}).get("rules_run") is not None]
    if ran and len(ran) == len(reports):  # the rules the scans ran, not every rule loaded (--skip, opt-in rules)
        keep = set().union(*ran) | {f.rule_id for report in reports for f in report.findings}
        rules = [r for r in rules if r.id in keep]
    return rules


def _baseline_parsers(sub) -> None:  # noqa: ANN001 - argparse's private subparsers type
    from scanner.suppressions.baseline import DEFAULT_PATH

    baseline = sub.add_parser("baseline", help="accept today's findings so that only new ones fail")
    actions = baseline.add_subparsers(dest="baseline_command", metavar="ACTION", parser_class=_Parser)
    create = actions.add_parser("create", help="write every current finding's fingerprint to a baseline file")
    create.add_argument("-o", "--output", default=DEFAULT_PATH, metavar="FILE", help=f"default: {DEFAULT_PATH}")
    _selection_options(create, only="only these rule ids or packs", skip="skip these rule ids or packs")
    create.add_argument("--history", action="store_true", help="also baseline secrets in every commit")
    create.add_argument("--no-inline-ignores", action="store_true", help="baseline inline-ignored findings too")
    imp = actions.add_parser("import", help="convert a detect-secrets baseline (.secrets.baseline)")
    imp.add_argument("source", metavar="FILE", help="detect-secrets baseline")
    imp.add_argument("-o", "--output", default=DEFAULT_PATH, metavar="FILE", help=f"default: {DEFAULT_PATH}")


def _selection_options(parser: argparse.ArgumentParser, only: str, skip: str) -> None:
    """PATH, --config, --rules, --only, --skip, --exclude: what `baseline create` and `fix` share with scan."""
    parser.add_argument("paths", nargs="*", default=["."], metavar="PATH", help="files or folders (default: .)")
    parser.add_argument("--config", metavar="FILE", help="configuration file (default: the one found)")
    parser.add_argument("--rules", action="append", default=[], metavar="PATH", help="extra rule pack file or folder")
    parser.add_argument("--only", action="append", metavar="IDS", help=only)
    parser.add_argument("--skip", action="append", metavar="IDS", help=skip)
    parser.add_argument("--exclude", action="append", default=[], metavar="GLOB", help="skip paths matching GLOB")


def _fix_parser(sub) -> None:  # noqa: ANN001 - argparse's private subparsers type
    fix = sub.add_parser("fix", help="apply the mechanical remediations rules declare (--diff to review, --write to apply)")
    mode = fix.add_mutually_exclusive_group()
    mode.add_argument("--diff", action="store_true", help="print a unified diff and write nothing (the default)")
    mode.add_argument("--write", action="store_true", help="write the fixed files")
    _selection_options(fix, only="fix only these rule ids or packs", skip="do not fix these rule ids or packs")
    fix.add_argument("--baseline", metavar="FILE", help="leave findings in this baseline alone")
    fix.add_argument("--no-inline-ignores", action="store_true", help="fix inline-ignored findings too")
    fix.add_argument("--no-color", action="store_true", help="no colour (also: NO_COLOR=1)")


def _run_scan(args: argparse.Namespace, use_baseline: bool = True):  # noqa: ANN202 - (ScanResult, rules, stale)
    """Configuration, rule selection, the scan itself and the baseline: what `scan` and `baseline
    create` share."""
    from scanner import cli_shards
    from scanner import config as configuration
    from scanner.scan import ScanOptions, scan_worktree
    from scanner.sources.worktree import PatternError

    cfg = configuration.discover(args.config, args.paths)
    given_baseline, given_excludes, given_fail_on = args.baseline, list(args.exclude), args.fail_on
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
        shard=cli_shards.shard_of(args),
    )
    from scanner import progress

    try:
        with progress.shown(progress.wanted(getattr(args, "quiet", False)), getattr(args, "no_color", False)):
            if args.history and (len(args.paths) > 1 or cli_shards.any_url(args.paths)):
                result = cli_shards.scan_repositories(args, options, cfg, given_excludes)
            else:
                result = _scan_git(args, options) if _git_mode(args) else scan_worktree(options)
                result = cli_shards.described(result, options, args.paths[0] if args.paths else ".", _git_mode(args))
    except FileNotFoundError as exc:
        raise UsageError(str(exc)) from None
    except PatternError as exc:
        raise UsageError(str(exc)) from None
    result = result._replace(show_secrets=bool(args.show_secrets))
    if options.shard is None:  # a shard sees part of the findings: `scanner merge` runs it on them all
        result = _with_reuse(result, rules)
    stale: list = []
    if options.shard is not None:  # the baseline applies after the reuse rule, so in the merge too
        result = cli_shards.with_settings(result, cfg, given_baseline, given_fail_on)
        if given_baseline and not getattr(args, "quiet", False):
            _warn("note: --baseline applies when the shards are merged: 'scanner merge' applies it (the shards' reports name it)")
    elif use_baseline and args.baseline:
        result, stale = _with_baseline(result, args.baseline)
    return result, rules, stale


def _with_reuse(result, rules):  # noqa: ANN001, ANN202 - ScanResult, rules -> ScanResult
    """The whole-scan rules over every finding: one secret in two environments (engines/reuse.py);
    of several repositories, over each one's findings, labelled with it (one job per repository,
    merged, finds the same)."""
    from scanner.engines import reuse
    from scanner.model import by_repository, label, report_order

    roots = (result.meta or {}).get("roots") or {}  # of several repositories, each one's own folder
    reused = []
    for repository, findings in by_repository(result.findings).items():
        found = reuse.run(rules, findings, _reader(Path(roots[repository]) if repository in roots else result.root))
        reused += [label(f, repository) for f in found] if repository else found
    if not reused:
        return result
    return result._replace(findings=sorted(result.findings + reused, key=report_order))


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


def _with_baseline(result, path: str):  # noqa: ANN001, ANN202 - ScanResult -> (ScanResult, stale entries)
    """The findings in the baseline at `path` marked suppressed (what `scan` and `merge` share)."""
    from scanner.suppressions import baseline

    applied = baseline.apply(result.findings, baseline.load(path), Path(path).name)
    return result._replace(findings=applied.findings), applied.stale


def cmd_scan(args: argparse.Namespace) -> int:
    result, rules, stale = _run_scan(args)
    from scanner import interrupts

    # an interrupt whose KeyboardInterrupt Python swallowed (raised inside a __del__ or a callback, where
    # it is only printed as ignored) is still one; not at-fork hooks: forks defer signals (interrupts.forking)
    if interrupts.received():
        raise KeyboardInterrupt
    if not args.quiet:
        _warn_problems(result.problems, args.verbose)
        if stale and args.verbose and not (args.staged or args.since_commit or args.commit_range or args.unpushed):
            _warn(f"note: {len(stale)} baseline entries match no finding any more (remove them with "
                  "'scanner baseline create'):")
            for entry in stale:
                _warn(f"note: stale baseline entry: {entry.describe()}")
    return _report_and_verdict(args, result, rules, repositories=len(args.paths))


def _use_color() -> bool:
    """Colour on standard output (a terminal, NO_COLOR unset...): asked only of the text format, whose
    module the other formats do not import."""
    from scanner.reporters.text_report import use_color

    return use_color(sys.stdout.isatty())


def _report_and_verdict(args: argparse.Namespace, result, rules, repositories: int = 0) -> int:  # noqa: ANN001 - ScanResult, rules
    """Write the report; the exit code (what `scan` and `merge` share). Repositories that could not be
    scanned (`scan --history REPO...`, or a merge of its report) make it an error, whatever the
    findings, named on a line of their own (-q hides the warnings); `repositories`: how many the scan
    was given (0: a merge, which does not know)."""
    failed = (result.meta or {}).get("failed")
    code = _verdict(args, result, rules)
    if failed:
        counted = (f"{len(failed)} of {repositories} repositories" if repositories else
                   plural.count(len(failed), "repository", "repositories"))  # fmt: skip
        _warn(f"error: {counted} could not be scanned: {', '.join(failed)}")
        return EXIT_ERROR
    return code


def _verdict(args: argparse.Namespace, result, rules) -> int:  # noqa: ANN001 - ScanResult, rules
    from scanner.model import at_or_above
    from scanner.reporters import render

    color = args.format == "text" and not args.output and not args.no_color and _use_color()
    if args.quiet and args.format == "text":  # the findings only: no By rule table, no totals
        from scanner.reporters import text_report

        report = text_report.render(result, rules, color, summary=False)
    else:
        report = render(args.format, result, rules, color)
    if args.output:
        _write_atomically(args.output, report, private=result.show_secrets)
    else:
        _write_stdout(report)
    failing = [f for f in result.findings if f.suppression is None and at_or_above(f.severity, args.fail_on or "low")]
    if failing and not args.exit_zero:
        return EXIT_FINDINGS
    unscanned = {p.path for p in result.problems if p.incomplete}  # what --fail-on-parse-error fails on
    if args.fail_on_parse_error and unscanned and not args.exit_zero:
        if not args.quiet:
            _warn(f"error: {plural.count(len(unscanned), 'file')} could not be fully scanned (--fail-on-parse-error)")
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
    scan_args = build_parser("scan").parse_args(["scan"])  # every scan option at its default...
    for key, value in vars(args).items():  # ...then what `baseline create` was given
        setattr(scan_args, key, value)
    scan_args.baseline = None
    result, _, _ = _run_scan(scan_args, use_baseline=False)
    _warn_problems(result.problems, verbose=False)
    text = baseline.create(result.findings)
    _write_atomically(args.output, text)
    count = sum(1 for f in result.findings if f.suppression is None)
    _warn(f"wrote {args.output}: {plural.count(count, 'finding')} baselined; 'scanner scan --baseline {args.output}' now reports only new ones")
    return EXIT_OK


def cmd_report(args: argparse.Namespace) -> int:
    from scanner.reporters import json_report, render

    result = json_report.load(args.source)
    color = args.format == "text" and not args.output and not args.no_color and _use_color()
    text = render(args.format, result, _report_rules(args.rules, [result]), color)
    if args.output:
        _write_atomically(args.output, text, private=result.show_secrets)
    else:
        _write_stdout(text)
    return EXIT_OK


def cmd_fix(args: argparse.Namespace) -> int:
    import difflib

    from scanner import config as configuration
    from scanner import fixers

    scan_args = build_parser("scan").parse_args(["scan"])  # every scan option at its default...
    for key, value in vars(args).items():  # ...then what `fix` was given
        setattr(scan_args, key, value)
    result, rules, _ = _run_scan(scan_args)
    cfg = configuration.discover(args.config, args.paths)
    plans = fixers.plan(result.findings, result.root, rules, configuration.policy_options(cfg))
    changed = [p for p in plans if p.after != p.before]
    for plan in plans:
        if args.write and plan.after != plan.before:
            _write_atomically(str(result.root / plan.path), plan.after, keep_mode=True)
        elif plan.after != plan.before:
            diff = difflib.unified_diff(plan.before.splitlines(keepends=True), plan.after.splitlines(keepends=True),
                                        f"a/{plan.path}", f"b/{plan.path}")
            _write_stdout("".join(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n"
                                  for line in diff))
        for rule_id, label in plan.fixed:
            _warn(f"{'fixed' if args.write else 'would fix'}: {plan.path}: {rule_id}: {label}")
        for rule_id, label, why in plan.skipped:
            what = f"{rule_id}: {label}: " if rule_id else ""
            _warn(f"not fixed: {plan.path}: {what}{why}")
    fixed = sum(len(p.fixed) for p in plans)
    left = sum(len(p.skipped) for p in plans)
    verb = "fixed" if args.write else "would fix"
    summary = f"{verb} {plural.count(fixed, 'finding')} in {plural.count(len(changed), 'file')}"
    if left:
        summary += f"; {left} not fixed (see above)"
    if not args.write and changed:
        summary += "; run 'scanner fix --write' to apply"
    _warn(summary if fixed or left else "nothing to fix")
    if args.write:
        return EXIT_FINDINGS if left else EXIT_OK
    return EXIT_FINDINGS if changed or left else EXIT_OK


def cmd_config(args: argparse.Namespace) -> int:
    from scanner import config as configuration

    if args.config_command is None:
        raise UsageError("config needs an action: show (see 'scanner config --help')")
    scan_args = build_parser("scan").parse_args(["scan", args.path])
    scan_args.config = args.config
    cfg = configuration.discover(args.config, [args.path])
    configuration.merge_args(cfg, scan_args)
    sys.stdout.write(configuration.show(cfg, scan_args))
    return EXIT_OK


def _git_mode(args: argparse.Namespace) -> bool:
    return bool(args.history or args.branch or args.since_commit or args.commit_range or args.staged or args.unpushed)


def _scan_git(args: argparse.Namespace, options, target: str | None = None):  # noqa: ANN001, ANN202 - ScanOptions -> ScanResult
    from scanner.scan import scan_git
    from scanner.sources.git import GitError

    modes = [name for name, on in (("--history/--branch", args.history or args.branch), ("--staged", args.staged),
             ("--since-commit", args.since_commit), ("--range", args.commit_range),
             ("--unpushed", args.unpushed)) if on]  # fmt: skip
    if args.branch and not args.history:
        raise UsageError("--branch selects which history --history scans: add --history (scanner scan --history --branch REF)")
    if len(modes) > 1:
        raise UsageError(f"{' and '.join(modes)} cannot be combined: choose one")
    if len(args.paths) > 1 and target is None:
        raise UsageError(f"{modes[0]} scans one git repository: give one PATH (got {len(args.paths)})")
    if options.shard is not None and not (args.history or args.branch):
        raise UsageError(f"--shard splits a work tree or --history scan, not {modes[0]}: drop --shard")
    try:
        return scan_git(
            options, history=bool(args.history or args.branch), refs=args.branch, since=args.since_commit,
            range_=args.commit_range, staged=args.staged, unpushed=args.unpushed,
        )  # fmt: skip
    except GitError as exc:
        raise UsageError(str(exc)) from None


def cmd_rules(args: argparse.Namespace) -> int:
    if args.rules_command is None:
        raise UsageError("rules needs an action: list, show ID, test or targets (see 'scanner rules --help')")
    rules = _load_rules(args.rules)
    if args.rules_command == "list":
        width = max((len(r.id) for r in rules), default=10)
        for rule in sorted(rules, key=lambda r: (r.pack, r.id)):
            opt = " (opt-in)" if rule.opt_in else ""
            print(f"{rule.id:<{width}}  {rule.severity:<8}  {rule.pack:<14}  {rule.title}{opt}")
        print(f"{plural.count(len(rules), 'rule')} in {plural.count(len({r.pack for r in rules}), 'pack')}")
        return EXIT_OK
    if args.rules_command == "show":
        matches = [r for r in rules if r.id == args.rule_id]
        if not matches:
            hint = did_you_mean(args.rule_id, [r.id for r in rules])
            raise UsageError(f"no rule with id '{args.rule_id}'{hint} (see 'scanner rules list')")
        print(show_rule(matches[0]))
        return EXIT_OK
    if args.rules_command == "targets":
        from scanner.rules.targets import describe

        _write_stdout(describe(rules))
        return EXIT_OK
    from scanner.rules.examples import run_examples

    chosen = rules
    if args.packs:
        from scanner.engines import check_rules
        from scanner.rules.loader import load_pack, pack_files

        names = {p for p in args.packs if not Path(p).exists()}
        files = [f for p in args.packs if Path(p).exists() for f in pack_files(Path(p))]
        chosen = [r for r in rules if r.pack in names]
        defined = {r.id: r for r in rules}
        for file in files:
            for rule in load_pack(file, check_rules):
                first = defined.get(rule.id)
                if first is not None and Path(first.source).resolve() != Path(rule.source).resolve():
                    raise UsageError(f"{rule.source}:{rule.source_line}: id: rule id '{rule.id}' is already defined "
                                     f"at {first.source}:{first.source_line}")  # what `scan --rules` says too
                chosen.append(rule)
        unknown = names - {r.pack for r in rules}
        if unknown:
            raise UsageError(f"unknown {plural.noun(len(unknown), 'pack')}: {', '.join(sorted(unknown))}")
    failures = run_examples(chosen)
    for failure in failures:
        print(f"FAIL {failure}")
    examples = sum(len(r.bad) + len(r.good) for r in chosen)
    print(f"{examples - len(failures)} passed, {len(failures)} failed ({plural.count(len(chosen), 'rule')})")
    return EXIT_FINDINGS if failures else EXIT_OK


def rule_yaml(rule) -> str:  # noqa: ANN001 - Rule
    """The rule as written in its pack (comments and all): its list item, from `- id:` to the next."""
    try:
        lines = Path(rule.source).read_text(encoding="utf-8").splitlines()
    except OSError:
        return ""
    start = rule.source_line - 1
    if not (0 <= start < len(lines)) or "-" not in lines[start]:
        return ""
    dash = lines[start].index("-")
    end = start + 1
    while end < len(lines):
        text = lines[end]
        indent = len(text) - len(text.lstrip())
        if text.strip() and not text.lstrip().startswith("#") and indent <= dash:
            break
        end += 1
    while end > start + 1 and (not lines[end - 1].strip() or lines[end - 1].lstrip().startswith("#")):
        end -= 1  # comments just before the next rule belong to it
    return "\n".join(line[dash:] if line[:dash].strip() == "" else line for line in lines[start:end]) + "\n"


def show_rule(rule) -> str:  # noqa: ANN001 - Rule
    source = rule_yaml(rule)
    if source:
        return f"# {rule.id}: {rule.title}\n# defined in {rule.source}:{rule.source_line} (pack {rule.pack})\n{source}"
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
    """The program (`argv` None: the command line) or one in-process run (tests, embedding). SIGINT
    and SIGTERM end a run with exit 130 (scanner.interrupts); after the program's run, late signals
    are ignored so that exiting never turns into a traceback."""
    from scanner import interrupts

    previous = interrupts.install()
    try:
        code = _main(argv)
    except KeyboardInterrupt:  # one that landed outside _main's own handlers
        code = _interrupted()
    finally:
        if argv is None:
            interrupts.ignore()
        else:
            interrupts.restore(previous)
    if argv is None and code == EXIT_INTERRUPTED:
        interrupts.exit_now(code)
    return code


def _interrupted() -> int:
    from scanner import interrupts

    interrupts.sweep_children()  # nothing outlives the scanner: git, workers
    _warn("interrupted; results are incomplete")
    return EXIT_INTERRUPTED


def _main(argv: Sequence[str] | None) -> int:
    from scanner import interrupts

    words = sys.argv[1:] if argv is None else argv
    parser = build_parser("scan" if words and words[0] == "scan" else None)
    args, unknown = parser.parse_known_args(argv)
    if unknown:
        parser.subcommand(args).error(f"unrecognized arguments: {' '.join(unknown)}")
    if args.command is None:
        parser.print_help()
        return EXIT_ERROR
    from scanner.config import ConfigError
    from scanner.reporters.json_report import ReportError
    from scanner.rules.loader import PackError
    from scanner.suppressions.baseline import BaselineError

    try:
        if args.command == "scan":
            return cmd_scan(args)
        if args.command == "baseline":
            return cmd_baseline(args)
        if args.command == "config":
            return cmd_config(args)
        if args.command == "fix":
            return cmd_fix(args)
        if args.command == "report":
            return cmd_report(args)
        if args.command == "merge":
            from scanner.cli_shards import cmd_merge

            return cmd_merge(args)
        return cmd_rules(args)
    except KeyboardInterrupt:
        return _interrupted()
    except (UsageError, PackError, ConfigError, BaselineError, ReportError) as exc:
        if interrupts.received():  # e.g. a git that died of the same Ctrl-C
            return _interrupted()
        _warn(f"error: {exc}")
        return EXIT_ERROR
    except BrokenPipeError:
        return EXIT_OK
    except Exception as exc:  # noqa: BLE001 - the last line of defence: no traceback for users
        if interrupts.received():  # a worker pool broken by the same signal, say
            return _interrupted()
        if os.environ.get("SCANNER_DEBUG"):
            raise
        if isinstance(exc, OSError) and exc.strerror:  # e.g. --output in a folder we cannot write to
            _warn(f"error: {exc.filename or ''}{': ' if exc.filename else ''}{exc.strerror}")
            return EXIT_ERROR
        # An unexpected exception's message may quote the scanned content (a secret): only its type.
        _warn(f"internal error: {type(exc).__name__} (set SCANNER_DEBUG=1 for the message and a traceback)")
        return EXIT_ERROR
