"""Command line past one machine: `scan --shard K/N`, `scanner merge`, `scan --history REPO...`
(several repositories, URLs cloned). Kept apart from cli.py, which calls in here."""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence
from pathlib import Path

from scanner import __version__
from scanner.cli import (
    UsageError,
    _report_and_verdict,
    _report_rules,
    _scan_git,
    _warn,
    _warn_problems,
    _with_baseline,
    _with_reuse,
)


def merge_parser(sub) -> None:  # noqa: ANN001 - argparse's private subparsers type
    from scanner.model import SEVERITIES
    from scanner.reporters import FORMATS

    merge = sub.add_parser("merge", help="join JSON reports (the shards of a --shard scan, or scans of many "
                           "repositories) into one report; baseline and --fail-on apply to the result")
    merge.add_argument("reports", nargs="+", metavar="REPORT", help="reports written by 'scanner scan --format json'")
    merge.add_argument("-f", "--format", "--output-format", dest="format", choices=FORMATS, default="text",
                       help="report format (default: text)")
    merge.add_argument("-o", "--output", metavar="FILE", help="write the report to FILE instead of stdout")
    merge.add_argument("--fail-on", choices=SEVERITIES, default=None,
                       help="exit 1 only for findings at or above this severity (default: the one given to the "
                       "shards, else the configuration's fail-on, else low, i.e. any finding)")
    merge.add_argument("--baseline", metavar="FILE", help="findings in this baseline are suppressed: only new ones "
                       "fail (default: the one given to the shards, else the configuration's baseline)")
    merge.add_argument("--config", metavar="FILE", help="configuration file for fail-on and baseline (default: the "
                       "one the shards ran with, when it is here; else .scanner.yaml or [tool.scanner] in "
                       "pyproject.toml, the first found from here up to the repository root)")
    merge.add_argument("--exit-zero", action="store_true", help="exit 0 even with findings (errors still exit 2)")
    merge.add_argument("--fail-on-parse-error", action="store_true",
                       help="exit 1 also when a file could not be fully scanned in any report")
    merge.add_argument("--rules", action="append", default=[], metavar="PATH",
                       help="rule packs the scans used besides the built-in ones (for rule descriptions)")
    merge.add_argument("-q", "--quiet", action="store_true", help="print findings only: no summary, no warnings")
    merge.add_argument("-v", "--verbose", action="store_true", help="also show notes")
    merge.add_argument("--no-color", action="store_true", help="no colour (also: NO_COLOR=1)")


def shard_of(args: argparse.Namespace):  # noqa: ANN202 - Shard | None
    """--shard K/N, else the shard the environment names (scan only: not baseline create or fix)."""
    from scanner import shard

    if getattr(args, "command", None) != "scan":
        return None
    try:
        return shard.parse(args.shard) if args.shard is not None else shard.from_env()  # --shard "": an error, not unsharded
    except shard.ShardError as exc:
        raise UsageError(str(exc)) from None


def any_url(paths: Sequence[str]) -> bool:
    from scanner.sources.remote import is_url

    return any(is_url(p) for p in paths)


def described(result, options, target: str, git: bool = False):  # noqa: ANN001, ANN202 - ScanResult
    """The result with what a JSON report records about the scan: scanner version, rule-set digest,
    the repository (or folder) and, for a git or sharded scan, its HEAD commit (scanner.merge
    checks them; SARIF names them)."""
    from scanner.rules.digest import digest
    from scanner.sources import remote

    meta = dict(result.meta or {})
    meta.update(version=__version__, rules_digest=digest(options.rules, options.policy_options))
    if "repository" not in meta:
        meta["repository"] = remote.label(target)
    if (git or options.shard is not None) and "revision" not in meta:
        meta["revision"] = remote.revision(target if Path(target).is_dir() else str(Path(target).parent))
    if options.shard is not None and "shard" not in meta:
        # the scanned path seen from the folder paths are reported from, the excludes and the size
        # limit: every shard must have the same (scanner.merge), as history shards' records say
        prefix = os.path.relpath(Path(target).resolve(), Path(result.root).resolve()).replace(os.sep, "/")
        meta["shard"] = {"index": options.shard.index, "count": options.shard.count, "kind": "worktree", "prefix": prefix,
                         "excludes": list(options.excludes), "max_file_size": options.max_file_size}  # fmt: skip
    return result._replace(meta=meta)


def scan_repositories(args: argparse.Namespace, options, cfg, given_excludes: Sequence[str]):  # noqa: ANN001, ANN202
    """`scan --history REPO...`: each repository (a path or a URL, cloned for the scan) in turn, with
    its own provenance; findings labelled with their repository (scanner.merge). `cfg`: the
    configuration; `given_excludes`: the command line's --exclude (of several repositories, each
    one's excludes are made for it)."""
    from scanner import merge
    from scanner.sources import remote

    several = len(args.paths) > 1
    if options.shard is not None and several:
        raise UsageError("--shard splits the scan of one repository: run one sharded scan per repository "
                         "and merge them all with 'scanner merge'")
    from scanner import config as configuration
    from scanner import progress
    from scanner.model import Problem
    from scanner.reporters.terminal import printable
    from scanner.scan import ScanResult
    from scanner.sources.git import GitError, toplevel

    results = []
    failed: list[Problem] = []
    # a repository that cannot be scanned is reported; the others still are
    for number, target in enumerate(args.paths, 1):
        if several:
            progress.section(f"repository {number}/{len(args.paths)}: {printable(remote.redact(target))}")
        try:
            if remote.is_url(target):
                progress.phase("cloning")
                with remote.cloned(target) as path:
                    one = _scan_git(args, options._replace(paths=(path,), base=path), path)
                    one = described(one, options._replace(paths=(path,)), path, True)
                one = one._replace(meta=dict(one.meta or {}, repository=remote.redact(target)), root=Path("."))
            elif several:
                # each one's paths are relative to its top folder (as its own job's are, run in its
                # checkout, and as its SARIF run's %SRCROOT% says), not to this folder; the
                # configuration's excludes rebased for it
                top = toplevel(target) or os.path.abspath(target)  # a bare repository: itself (scan_git opens it)
                excludes = configuration.excludes_for(cfg, given_excludes, Path(top))
                alone = options._replace(paths=(target,), base=top, excludes=tuple(excludes))
                one = _scan_git(args, alone, target)
                one = described(one, alone, target, True)
            else:
                one = _scan_git(args, options._replace(paths=(target,)), target)
                one = described(one, options._replace(paths=(target,)), target, True)
        except (GitError, UsageError) as exc:
            if not several:
                raise UsageError(str(exc)) from None
            shown = remote.redact(target)
            reason = str(exc).removeprefix(f"{target}: ").removeprefix(f"{shown}: ")
            failed.append(Problem(shown, f"repository not scanned: {reason}", kind="error"))
            continue
        results.append((target, _own_label(one, target, results)))
    if not results:
        raise UsageError(f"no repository could be scanned ({failed[0].path}: {failed[0].message})")
    # each repository that could not be scanned is a repository of the report with its error and no
    # findings (its own SARIF run, its own entry in a merge), and the run exits 2 (cmd_scan)
    first = results[0][1].meta or {}
    for problem in failed:
        meta = {"version": first.get("version"), "rules_digest": first.get("rules_digest"), "repository": problem.path,
                "failed": [problem.path]}  # fmt: skip
        results.append((problem.path, ScanResult([], [problem], 0, 0, 0.0, Path("."), meta=meta)))
    try:
        result = merge.merge(results, several=True) if several else results[0][1]
    except merge.MergeError as exc:
        raise UsageError(str(exc)) from None
    return result


def _own_label(result, target: str, earlier: Sequence[tuple[str, object]]):  # noqa: ANN001, ANN202 - ScanResult
    """The result labelled so that no other repository of the same call has its label: a repository is
    named by its origin URL (the same name in every job of a CI matrix), and two clones of one origin
    (a mirror and a working copy, two forks' checkouts) are two repositories here: the later one is
    named `ORIGIN (FOLDER)`. The same repository given twice, however spelled (a path inside it, a
    relative or an absolute path), keeps its name."""
    label = (result.meta or {}).get("repository", "")
    namesakes = [other_target for other_target, other in earlier if (other.meta or {}).get("repository") == label]  # type: ignore[attr-defined]
    if not namesakes:  # the usual case: no git process asked which repository it is
        return result
    where = _whereabouts(target)
    if all(_whereabouts(other_target) == where for other_target in namesakes):
        return result
    return result._replace(meta={**result.meta, "repository": f"{label} ({where})"})


def _whereabouts(target: str) -> str:
    """Which repository `target` is: a URL without credentials, else its top folder (or git folder)."""
    from scanner.sources import remote
    from scanner.sources.git import GitError, open_repo

    if remote.is_url(target):
        return remote.redact(target)
    try:
        repo = open_repo(target)
    except GitError:
        return os.path.realpath(target)
    return os.path.realpath(repo.top or repo.common_dir or repo.root)


def with_settings(result, cfg, baseline: str | None, fail_on: str | None):  # noqa: ANN001, ANN202 - ScanResult, Config
    """A shard's result naming the configuration file it ran with ("" for none), and the baseline
    (absolute, and as given) and `--fail-on` given on its command line: `scanner merge`, run
    elsewhere (the parent folder, a merge job), decides its verdict with them, as the unsharded scan
    would have."""
    shard = dict((result.meta or {}).get("shard") or {})
    shard["configuration"] = str(Path(cfg.path).resolve()) if cfg.path is not None else ""
    if baseline:
        shard["baseline"] = str(Path(baseline).resolve())
        shard["baseline_given"] = baseline
    if fail_on:
        shard["fail_on"] = fail_on
    return result._replace(meta={**(result.meta or {}), "shard": shard})


def _merge_settings(args: argparse.Namespace, loaded: Sequence[tuple[str, object]]) -> str | None:
    """What decides the merge's verdict, as it decided the unsharded scan's, from the shards' reports
    that say (a report of an older build says nothing): in `args`, the baseline and `--fail-on` given
    to the shards, unless the merge is given its own; returned, the configuration they ran with (the
    file, os.devnull for none, None to find one from here). A baseline the shards were given that is
    not here, or different baselines or --fail-on, are one-line errors, as a missing baseline is to a
    scan."""
    shards = [((report.meta or {}).get("shard") or {}) for _, report in loaded]  # type: ignore[attr-defined]
    shards = [s for s in shards if "configuration" in s]
    if not args.baseline:
        given = {s.get("baseline") for s in shards}  # the file, resolved: however each shard spelled it
        if len(given) > 1:
            raise UsageError("the shards were given different --baseline files: give 'scanner merge' the one to apply (--baseline)")
        if given and (absolute := next(iter(given))):
            here = [p for p in (absolute, *(s.get("baseline_given") for s in shards)) if p and Path(p).is_file()]
            if not here:
                raise UsageError(f"{absolute}: the baseline the shards were given is not here: give 'scanner merge' --baseline")
            args.baseline = here[0]
    if args.fail_on is None:
        levels = {s.get("fail_on") for s in shards}
        if len(levels) > 1:
            raise UsageError("the shards were given different --fail-on levels: give 'scanner merge' the one to apply (--fail-on)")
        if levels:
            args.fail_on = next(iter(levels))
    if args.config:
        return args.config
    named = {s["configuration"] for s in shards}
    if len(named) > 1 and not args.quiet:  # the same file in other checkouts (CI jobs), or not
        _warn(f"note: the shards ran with {len(named)} configuration files: using the one found from here, if any")
    if len(named) != 1:
        return None
    (configuration,) = named
    if configuration == "":
        return os.devnull  # the shards ran without one: so does the merge
    if Path(configuration).is_file():
        return configuration
    if not args.quiet:
        _warn(f"note: {configuration}, the shards' configuration, is not here: using the one found from here, if any")
    return None


def cmd_merge(args: argparse.Namespace) -> int:
    from scanner import config as configuration
    from scanner import merge
    from scanner.reporters import json_report

    loaded = [(path, json_report.load(path)) for path in args.reports]
    configuration.verdict_args(configuration.discover(_merge_settings(args, loaded)), args)
    try:
        result = merge.merge(loaded)
    except merge.MergeError as exc:
        raise UsageError(str(exc)) from None
    rules = _report_rules(args.rules, [report for _, report in loaded], warn=not args.quiet)
    if any((report.meta or {}).get("shard") for _, report in loaded):  # the shards skipped whole-scan rules
        result = _with_reuse(result, rules)
    if args.baseline:
        result, _ = _with_baseline(result, args.baseline)
    if not args.quiet:
        _warn_problems(result.problems, args.verbose)
    return _report_and_verdict(args, result, rules)
