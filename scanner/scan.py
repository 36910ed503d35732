"""The scan: sources -> documents -> engines -> findings -> suppressions, in that order.

Files are read and scanned for secrets (and parsed into documents) in worker processes when the
work is big enough to pay for them. Documents whose rules never look past one file (Dockerfile,
Compose: `LOCAL_KINDS`) are evaluated there too; the policy rules for the rest then run once over
every document of the scan, because relations (a NetworkPolicy selecting a Deployment) cross files.
Output order is sorted, so it does not depend on `--jobs`.
"""

from __future__ import annotations

import gc
import itertools
import os
import posixpath
import signal
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, NamedTuple

from scanner import documents, interrupts, progress, shard, workers
from scanner.engines import secrets
from scanner.model import Finding, Item, Location, Problem, interruption
from scanner.rules.loader import Rule
from scanner.sources import worktree
from scanner.suppressions import inline

PARALLEL_MIN_BYTES = 16 * 1024 * 1024
PARALLEL_MIN_FILES = 2000
# parsing and policy cost ~1 ms a file: this many infrastructure-looking files are worth the second core
PARALLEL_MIN_IAC_FILES = 300
_IAC_SUFFIXES = (".yaml", ".yml", ".json", ".tf", ".tofu", ".tfvars", "dockerfile", "containerfile")
DEFAULT_TIMEOUT = 30.0  # seconds per file (`--timeout`); 0: none


class ScanOptions(NamedTuple):
    paths: tuple[str, ...] = (".",)
    rules: tuple[Rule, ...] = ()
    show_secrets: bool = False
    max_file_size: int = worktree.DEFAULT_MAX_FILE_SIZE
    excludes: tuple[str, ...] = ()
    jobs: int = 0  # 0: every core
    inline_ignores: bool = True
    policy_options: tuple[tuple[str, Any], ...] = ()
    timeout: float = DEFAULT_TIMEOUT
    shard: Any = None  # scanner.shard.Shard: this process does one part of the scan (--shard K/N)
    base: str = ""  # the folder reported paths are relative to ("": worktree.display_base of the first path)


class ScanResult(NamedTuple):
    findings: list[Finding]
    problems: list[Problem]
    files: int
    bytes: int
    seconds: float
    root: Path
    show_secrets: bool = False  # evidence is unredacted: reports that keep it say so (HTML, JSON)
    meta: dict[str, Any] | None = None  # what a JSON report records besides findings (scanner.merge)


class ItemResult(NamedTuple):
    findings: list[Finding]
    problems: list[Problem]
    documents: list[documents.Document]
    data: bytes | None  # kept only for files that produced documents (policy suppressions)
    size: int
    files: int = 1  # files this result stands for (a batch's files with nothing to report: one result)
    policy: Sequence[Finding] = ()  # policy findings on documents of a local kind, made in the worker


_STATE: dict[str, Any] = {}


def _init_worker(
    rules: Sequence[Rule], show_secrets: bool, inline_ignores: bool, timeout: float = 0.0,
    policy_options: tuple[tuple[str, Any], ...] = (),
) -> None:
    if _STATE.get("rules") is not rules:  # a forked worker inherits what the parent compiled
        _STATE["compiled"] = secrets.compile_rules(rules)
        _STATE["rules"] = rules
    _STATE["show"] = show_secrets
    _STATE["inline"] = inline_ignores
    _STATE["policy"] = any(r.engine == "policy" for r in rules)
    _STATE["timeout"] = timeout
    _STATE["policy_options"] = dict(policy_options)
    _STATE["local_rules"] = []
    if _STATE["policy"]:
        documents.modules()  # import the parsers now: their import time is not the first file's --timeout
        _STATE["local_rules"] = _local_rules(rules)


def _local_rules(rules: Sequence[Rule]) -> list[Rule]:
    local = documents.local_targets()
    return [r for r in rules if r.engine == "policy" and r.target in local]


class FileTimeout(BaseException):  # noqa: N818 - BaseException: no parser's `except Exception` swallows it
    """One file took longer than --timeout."""


def _on_alarm(signum: int, frame: Any) -> None:
    raise FileTimeout


try:  # the C module: the same calls without the enum conversions `signal` adds to each (per file)
    import _signal as _raw_signal
except ImportError:  # pragma: no cover - not CPython
    _raw_signal = signal


_ALARM = hasattr(signal, "setitimer")


def _scrub(problem: Problem) -> Problem:
    """A parser's message may quote the text it choked on: a secret found in it is redacted (belt
    and braces; parsers should not quote content)."""
    if _STATE.get("show"):
        return problem
    message = problem.message.encode("utf-8", "surrogateescape")
    spans = [(f.location.column - 1, f.location.end_column - 1)
             for f in secrets.scan_item(_STATE["compiled"], Item(problem.path, message))]  # fmt: skip
    if not spans:
        return problem
    for start, end in sorted(spans, reverse=True):
        message = message[:start] + b"********" + message[max(end, start + 1) :]
    return problem._replace(message=message.decode("utf-8", "replace"))


def process_item(item: Item, role: str = shard.FULL) -> ItemResult:
    """Secrets findings (suppressions applied) and parsed documents for one item. A file that takes
    longer than the timeout keeps the findings made so far and gets a "not fully scanned" Problem.
    `role` (a sharded scan, scanner.shard): a file whose documents go to the whole-scan policy stage
    is the policy shard's (POLICY), any other file its own shard's (OWN); another shard's file is
    left alone (an empty result, not counted)."""
    if role != shard.FULL and (role == shard.POLICY) != _whole_scan_file(item):
        return ItemResult([], [], [], None, 0, 0)
    found: list[Finding] = []
    problems: list[Problem] = []
    docs: list[documents.Document] = []
    policy_found: list[Finding] = []
    timeout = _STATE.get("timeout", 0.0)
    timer = timeout > 0 and _ALARM and threading.current_thread() is threading.main_thread()
    try:
        # SIGALRM interval timer (no thread per file), set inline: a context manager per file costs
        # more than the timer; only in a main thread, where signals are delivered
        if timer:
            # a one-time cost of the scan (compiling the Hyperscan database once enough bytes were
            # read) is paid here, before this file's clock starts: else it is charged to one file,
            # cut short by its alarm, and tried again, and cut again, on every file after it
            _STATE["compiled"].rules.prefilter(len(item.data))
            previous = _raw_signal.signal(signal.SIGALRM, _on_alarm)
            _raw_signal.setitimer(signal.ITIMER_REAL, timeout)
        try:
            found = secrets.scan_item(_STATE["compiled"], item, _STATE["show"])
            found += _embedded_secrets(item, found)
            if found and _STATE["inline"]:
                found, problems = inline.apply(found, item.data)
            if _STATE["policy"]:
                docs, parse_problems = documents.parse_item(item)
                problems = problems + [_scrub(p) for p in parse_problems]
                if docs and _STATE["local_rules"]:
                    docs, policy_found, problems = _local_policy(item, docs, problems)
        finally:
            if timer:
                _raw_signal.setitimer(signal.ITIMER_REAL, 0)
                _raw_signal.signal(signal.SIGALRM, previous)
    except FileTimeout:
        docs, policy_found = [], []
        problems = problems + [_timed_out(item, timeout)]
    except Exception as exc:  # noqa: BLE001 - the guard of one file: a bug on it costs that file only
        stop = interruption(exc)
        if isinstance(stop, FileTimeout):  # the alarm went off inside a C or Go extension
            docs, policy_found = [], []
            problems = problems + [_timed_out(item, timeout)]
        elif stop is not None:
            raise stop from None
        elif os.environ.get("SCANNER_DEBUG"):
            raise
        else:
            docs, policy_found = [], []
            problems = problems + [Problem(item.path, f"not fully scanned: internal error ({type(exc).__name__}; "
                                           "SCANNER_DEBUG=1 shows it)", kind="error")]  # fmt: skip
    return ItemResult(found, problems, docs, item.data if docs else None, len(item.data), 1, policy_found)


def _whole_scan_file(item: Item) -> bool:
    """Whether the module that claims this file makes documents for the whole-scan policy stage
    (Kubernetes, Terraform), not only documents of a local kind (Dockerfile, Compose)."""
    for module in documents.modules():
        if module.claims(item.path, item.data):
            return not getattr(module, "LOCAL_KINDS", ())
    return False


def _timed_out(item: Item, timeout: float) -> Problem:
    return Problem(item.path, f"not fully scanned: took longer than --timeout {timeout:g} s", kind="timeout")


def _embedded_secrets(item: Item, found: list[Finding]) -> list[Finding]:
    """Secrets in text a file holds encoded or in pieces (Terraform user_data in base64, container
    environment name/value pairs), reported on the line of the value that holds them (once: not
    again where the plain text already showed them)."""
    out: list[Finding] = []
    from scanner.documents.terraform.embedded import embedded_items  # a work tree's, not a history's

    seen = {(f.rule_id, f.fingerprint, f.line) for f in found}
    for sub in embedded_items(item):
        for f in secrets.scan_item(_STATE["compiled"], sub.item, _STATE["show"]):
            if (f.rule_id, f.fingerprint, sub.line) not in seen:
                seen.add((f.rule_id, f.fingerprint, sub.line))
                out.append(f._replace(location=Location(item.path, sub.line), message=f"{f.message} ({sub.what})"))
    return out


def _local_policy(
    item: Item, docs: list[documents.Document], problems: list[Problem]
) -> tuple[list[documents.Document], list[Finding], list[Problem]]:
    """The policy stage for this file's documents of a local kind (Dockerfile, Compose), here: their
    findings go back instead of the documents. The documents left need the whole scan."""
    kinds = documents.local_kinds()
    local = [d for d in docs if d.kind in kinds]
    if not local:
        return docs, [], problems
    problems = list(problems)
    from scanner.engines import policy  # documents only (a history scan has none)

    found = policy.run(_STATE["local_rules"], local, _STATE["policy_options"], problems)
    if found and _STATE["inline"]:
        found, more = inline.apply(found, item.data)
        problems.extend(more)
    return [d for d in docs if d.kind not in kinds], found, problems


def _process_entries(
    entries: Iterable[worktree.Entry], root: str, max_size: int, part: shard.Shard | None = None
) -> list[ItemResult]:
    """Results of files with something to report, plus one result counting the quiet ones (what
    crosses back from a worker is small). With `part`, each file in the role the shard gives it."""
    out = []
    quiet = quiet_bytes = 0
    for entry in entries:
        role = shard.FULL if part is None else part.role(entry.path)
        try:
            got = worktree.read_entry(entry, root, max_size)
        except Exception as exc:  # noqa: BLE001 - the guard of one file's reading, as process_item's of its scan
            if os.environ.get("SCANNER_DEBUG"):
                raise
            got = Problem(entry.path, f"not read: internal error ({type(exc).__name__})", kind="error")
        if got is None:
            continue
        if isinstance(got, Problem):
            if role != shard.POLICY:  # the file's own shard says why it was not read
                out.append(ItemResult([], [got], [], None, 0))
            continue
        result = process_item(got, role)
        if result.findings or result.problems or result.documents or result.policy:
            out.append(result)
        elif result.size:
            quiet += 1
            quiet_bytes += result.size
    if quiet:
        out.append(ItemResult([], [], [], None, quiet_bytes, quiet))
    return out



def map_items(
    work: Callable[..., list[ItemResult]], batches: Iterable[Sequence[Any]], extra: tuple, options: ScanOptions, parallel: bool
) -> Iterable[ItemResult]:
    """Run `work(batch, *extra)` over batches, in worker processes when `parallel`; results in order.
    Batches may be a generator: each goes to a worker as soon as it is made."""
    init = (options.rules, options.show_secrets, options.inline_ignores, options.timeout, options.policy_options)
    if not parallel:
        _init_worker(*init)
        for batch in batches:
            done = work(batch, *extra)
            _advance(len(batch), done)
            yield from done
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    # Load the prefilter (or compile the rules) and import the document modules once, here: forked
    # workers inherit them instead of each doing it again.
    _init_worker(*init)
    _STATE["compiled"].rules.warm()
    context = multiprocessing.get_context("fork") if workers.can_fork() else None
    pool = ProcessPoolExecutor(
        max_workers=workers.jobs_for(options.jobs), initializer=workers.child_init, initargs=(_init_worker, *init),
        mp_context=context,
    )
    try:
        futures, counts = [], []
        for batch in batches:
            with interrupts.forking():  # the first submit forks the workers: see interrupts.forking
                futures.append(pool.submit(work, batch, *extra))
            counts.append(len(batch))
            progress.expect(len(batch))  # the listing goes on as batches are handed out
        for count, future in zip(counts, futures, strict=True):
            done = future.result()
            _advance(count, done)
            yield from done
        pool.shutdown(wait=True)
    except BaseException:  # Ctrl-C: drop queued work and end the workers at once (no traceback there)
        workers.stop_executor(pool)
        raise


def _advance(count: int, results: list[ItemResult]) -> None:
    """The progress display counts a batch's `count` files (skipped ones too) and bytes: per batch,
    never per file."""
    progress.advance(count, sum(r.size for r in results))


def finish(
    results: Iterable[ItemResult], options: ScanOptions, root: Path, started: float, extra_problems: Iterable[Problem] = (),
    render_root: Path | None = None,
) -> ScanResult:
    """Collect item results, run the policy engine over the documents that need the whole scan,
    sort everything."""
    findings: list[Finding] = []
    problems: list[Problem] = []
    docs: list[documents.Document] = []
    local_policy: list[Finding] = []  # made in the workers (documents of a local kind)
    texts: dict[str, bytes] = {}
    files = total = 0
    for result in results:
        findings.extend(result.findings)
        problems.extend(result.problems)
        local_policy.extend(result.policy)
        if result.size or result.findings or result.documents or result.policy:
            files += result.files
            total += result.size
        docs.extend(result.documents)
        if result.data is not None:
            for doc in result.documents:
                texts.setdefault(doc.path, result.data)
    problems.extend(extra_problems)  # after the results: a streamed listing adds to them as it goes
    docs.sort(key=_doc_path)  # file order, whatever order the workers finished in
    policy_findings: list[Finding] = []
    if docs:
        progress.phase("checking policies across files", detail=lambda: f"{len(docs):,} documents")
        docs, rendered_problems = documents.render(docs, render_root)
        problems.extend(rendered_problems)
        try:
            docs = documents.finalize(docs)
        except Exception as exc:  # noqa: BLE001 - a document-module bug must not end the scan
            problems.append(Problem(".", f"documents could not be grouped across files ({type(exc).__name__})"))
        local = {r.id for r in _local_rules(options.rules)}  # already run in the workers
        whole_scan_rules = [r for r in options.rules if r.id not in local]
        from scanner.engines import policy

        policy_findings = policy.run(whole_scan_rules, docs, dict(options.policy_options), problems, workers.jobs_for(options.jobs))
        if options.inline_ignores and policy_findings:
            by_path: dict[str, list[Finding]] = {}
            for finding in policy_findings:
                by_path.setdefault(finding.path, []).append(finding)
            policy_findings = []
            for path, group in by_path.items():
                data = texts.get(path)
                if data is None:
                    data = _read_quietly(root / path)
                marked, more = inline.apply(group, data) if data else (group, [])
                policy_findings.extend(marked)
                problems.extend(more)
    if docs or local_policy:
        findings = one_report_per_secret(findings, policy_findings + local_policy, options.rules)
    findings.sort(key=Finding.sort_key)
    problems = sorted(set(problems), key=problem_order)
    return ScanResult(findings, problems, files, total, time.monotonic() - started, root)


def _doc_path(doc: documents.Document) -> str:
    return doc.path


def one_report_per_secret(
    secret_findings: list[Finding], policy_findings: list[Finding], rules: Sequence[Rule]
) -> list[Finding]:
    """A secret on a line that a policy rule tagged `secrets` also flags (Dockerfile ENV, RUN with
    credentials) is reported once: by the secrets rule when it recognises the token's format, by the
    policy rule (better remediation: build secrets, not ENV) when the secrets rule is only generic."""
    tags = {rule.id: rule.tags for rule in rules}
    secret_at = {(f.path, f.line): f for f in secret_findings}
    drop_secret: set[int] = set()
    kept: list[Finding] = []
    for finding in policy_findings:
        other = secret_at.get((finding.path, finding.line)) if "secrets" in tags.get(finding.rule_id, ()) else None
        if other is None:
            kept.append(finding)
        elif "generic" in tags.get(other.rule_id, ()):
            drop_secret.add(id(other))
            kept.append(finding)
    return [f for f in secret_findings if id(f) not in drop_secret] + kept


def _read_quietly(path: Path) -> bytes:
    try:
        return path.read_bytes() if path.is_file() and not path.is_symlink() else b""
    except OSError:
        return b""


_FROZEN = False


def tune_gc() -> None:
    """A scan makes millions of small acyclic objects (documents, findings): with the default
    thresholds the cyclic collector runs every 700 allocations and costs 15-25% of an IaC scan. Rare
    collections, and what exists at start-up (modules, rules) frozen out of them."""
    global _FROZEN
    if not _FROZEN:  # once per process: a long-lived caller (a test run) does not keep freezing more
        gc.freeze()
        _FROZEN = True
    gen0, gen1, gen2 = gc.get_threshold()
    if gen0:  # 0: collection switched off by the embedding program; leave it so
        gc.set_threshold(max(gen0, 50_000), max(gen1, 50), max(gen2, 100))


def problem_order(problem: Problem) -> tuple[str, int, str]:
    return (problem.path, problem.line, problem.message)


def scan_worktree(options: ScanOptions) -> ScanResult:
    """`scanner scan PATH...`: the working tree."""
    started = time.monotonic()
    tune_gc()
    problems: list[Problem] = []
    listing, root = worktree.iter_files(options.paths, options.excludes, problems, base=options.base)
    targets = [Path(p).resolve() for p in options.paths]
    scan_root = os.path.commonpath([str(t if t.is_dir() else t.parent) for t in targets]) if targets else str(root)
    if options.shard is not None:  # the files this shard has a role for (scanner.shard)
        part = options.shard
        listing = (entry for entry in listing if part.role(entry.path) != shard.SKIP)
    jobs = workers.jobs_for(options.jobs)
    head, parallel = _enough_for_workers(listing, options.max_file_size) if jobs > 1 else ([], False)
    # in parallel, batches go to the workers while the rest of the tree is still being listed
    rest = itertools.chain(head, listing)
    # in parallel the total grows as batches are handed out (map_items); else the (small) listing is
    # all in `head`, or, with --jobs 1, files are listed as they are scanned (no total)
    total = 0 if parallel else len(head) if jobs > 1 else None
    progress.phase("scanning files", unit="files", total=total, rate=True)
    batches = _batches(rest)
    extra = (scan_root, options.max_file_size, options.shard)
    results = map_items(_process_entries, batches, extra, options, parallel)
    return finish(results, options, root, started, problems, render_root=root)


def _enough_for_workers(listing: Iterator[worktree.Entry], cap: int) -> tuple[list[worktree.Entry], bool]:
    """The entries listed until it is clear that worker processes pay (2,000 files, 16 MB, or 300
    infrastructure files: decided as soon as one is reached, the listing goes on in parallel), or
    the whole (small) listing and False."""
    head: list[worktree.Entry] = []
    size = iac = 0
    for entry in listing:
        head.append(entry)
        if entry.path.lower().endswith(_IAC_SUFFIXES):
            iac += 1
        try:
            size += min(os.lstat(entry.abs).st_size, cap)
        except OSError:
            pass
        if len(head) >= PARALLEL_MIN_FILES or size >= PARALLEL_MIN_BYTES or iac >= PARALLEL_MIN_IAC_FILES:
            return head, True
    return head, False


def _batches(entries: Iterable[Any], size: int = 64) -> Iterator[list[Any]]:
    batch: list[Any] = []
    for entry in entries:
        batch.append(entry)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def scan_items(items: Iterable[Item], options: ScanOptions, root: Path | None = None) -> ScanResult:
    """Scan items that are already in memory (rule examples, tests, git blobs read elsewhere)."""
    started = time.monotonic()
    batch = list(items)
    return finish(map_items(_process_items, [batch], (), options, False), options, root or Path.cwd(), started)


def _process_items(items: Sequence[Item]) -> list[ItemResult]:
    return [process_item(item) for item in items]


def scan_git(
    options: ScanOptions,
    *,
    history: bool = False,
    refs: Sequence[str] = (),
    since: str | None = None,
    range_: str | None = None,
    staged: bool = False,
    unpushed: str | None = None,
) -> ScanResult:
    """`--staged` (the index instead of the work tree), `--history [--branch REF]` (the work tree plus
    every unique blob of the history), `--since-commit REF` / `--range A..B` (only what those commits
    introduced). Raises GitError (one line; `.usage` for a bad ref or not a repository)."""
    from scanner import scan_history as githistory
    from scanner.sources import git as gitsrc
    from scanner.sources import staged as gitstaged

    started = time.monotonic()
    tune_gc()
    target = options.paths[0] if options.paths else "."
    repo = gitsrc.open_repo(target)
    top = repo.top
    if options.base:
        base = Path(options.base).resolve()
    else:
        base = worktree.display_base(Path(target)) if top else Path(target).resolve()

    prefix = os.path.relpath(top, base).replace(os.sep, "/") if top else "."
    shown = shown_paths(prefix)  # repo-relative -> relative to the base the work tree scan reports
    excluded = worktree.exclude_spec(options.excludes)
    if staged:
        problems: list[Problem] = []
        items = [i._replace(path=shown(i.path)) for i in gitstaged.staged_items(target, options.max_file_size, problems)]
        items = [i for i in items if excluded is None or not excluded.match_file(i.path)]
        result = scan_items(items, options, base)
        return result._replace(problems=sorted([*result.problems, *problems], key=problem_order))

    hist = githistory.scan_history(
        target, secrets.compile_rules(options.rules), refs=refs or None, since=since, range_=range_, unpushed=unpushed,
        max_size=options.max_file_size, jobs=options.jobs, show_secrets=options.show_secrets,
        inline_ignores=options.inline_ignores, shard=options.shard, repo=repo,
    )  # fmt: skip
    problems = list(hist.problems)
    files, total = hist.stats.get("blobs", 0), hist.stats.get("bytes", 0)
    current = None
    if history and not repo.bare and not (since or range_ or unpushed):
        current = scan_worktree(options)
        problems += current.problems
        files, total = files + current.files, total + current.bytes
    worktree_found = current.findings if current is not None else None
    if hist.head is not None:  # a bare repository: its HEAD files stand in for a work tree
        worktree_found = [f for f in hist.head if excluded is None or not excluded.match_file(f.path)]
        problems += [p for p in hist.head_problems if excluded is None or not excluded.match_file(p.path)]
    found = history_findings(hist.findings, prefix, options.excludes, worktree_found)
    problems.sort(key=problem_order)
    from scanner.sources import remote

    meta = {"repository": remote.label_of(repo), "revision": repo.head}  # what the report says of the repository
    if options.shard is not None:  # what `scanner merge` needs to fold every shard's history
        meta |= {"shard": {"index": options.shard.index, "count": options.shard.count, "kind": "history",
                           "max_file_size": options.max_file_size},
                "history_record": hist.record, "path_prefix": prefix, "excludes": list(options.excludes),
                "worktree_findings": worktree_found}  # fmt: skip
    return ScanResult(found, problems, files, total, time.monotonic() - started, base, meta=meta)


def shown_paths(prefix: str) -> Callable[[str], str]:
    """Repository-relative path -> the path reported (relative to the scan's base, `prefix` being
    the repository's top seen from there)."""
    if prefix in ("", "."):
        return str
    return lambda path: posixpath.normpath(posixpath.join(prefix, path))


def history_findings(
    folded: list[Finding], prefix: str, excludes: Sequence[str], current: list[Finding] | None
) -> list[Finding]:
    """Folded history findings (repository-relative) as the scan reports them: paths shown from the
    base, --exclude applied, merged with the work tree's findings (`current`, None when the work
    tree was not scanned). `scanner merge` of history shards ends the same way."""
    shown = shown_paths(prefix)
    excluded = worktree.exclude_spec(tuple(excludes))
    found = [_shown_paths(f, shown) for f in folded]
    found = [f for f in found if excluded is None or not excluded.match_file(f.path)]
    if current is not None:  # in path order: of two files holding one secret of one lineage, which one takes its
        # provenance must not depend on how the work tree was read (shards' findings come shard by shard)
        found = _merge_history(sorted(current, key=Finding.sort_key), found)
    found.sort(key=Finding.sort_key)
    return found


def _shown_paths(finding: Finding, shown: Callable[[str], str]) -> Finding:
    props = dict(finding.properties)
    if props.get("paths"):
        props["paths"] = tuple(sorted(shown(p) for p in props["paths"]))
    return finding._replace(location=finding.location._replace(path=shown(finding.path)), properties=tuple(sorted(props.items())))


def _merge_history(current: list[Finding], history: list[Finding]) -> list[Finding]:
    """A secret both in the work tree and in history is one finding: the work tree's location (where
    to fix it now) with the history's provenance (who brought it in, and when)."""

    def key(f: Finding, path: str) -> tuple[str, str, str]:
        return (f.rule_id, dict(f.properties).get("secret_sha256", f.fingerprint), path)

    by_key: dict[tuple[str, str, str], Finding] = {}
    for f in history:  # every path of the file's lineage (renames): the work tree has the newest
        for path in dict(f.properties).get("paths") or (f.path,):
            by_key.setdefault(key(f, path), f)
    merged = []
    for finding in current:
        past = by_key.get(key(finding, finding.path))
        if past is not None:
            for path in dict(past.properties).get("paths") or (past.path,):
                by_key.pop(key(past, path), None)
        if past is not None:
            props = dict(past.properties) | dict(finding.properties)
            finding = finding._replace(provenance=past.provenance, properties=tuple(sorted(props.items())))
        merged.append(finding)
    left = {id(f): f for f in by_key.values()}
    return merged + list(left.values())
