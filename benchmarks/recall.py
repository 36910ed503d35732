"""Recall and false alarms on the labelled fixtures: the scanner next to detect-secrets and checkov.

    python benchmarks/recall.py                                    # peers installed under --cache
    python benchmarks/recall.py --checkov ~/ck/bin/checkov --detect-secrets ~/ds/bin/detect-secrets

Each tool runs once per fixture folder (cwd = that folder, so reported paths are relative to it); the
figures are printed, never judged (like the other scripts here). Labels come from
fixtures/<area>/expected.yaml, whose format differs per area (see the loaders below); the expected.yaml
files themselves are never scored.

The scanner runs as `python -m scanner scan . -f json --config /dev/null --exit-zero --only PACK` (the pack
that the area labels), with helm, kubectl and kustomize hidden as in tests/test_kubernetes_corpus.py: the
Kubernetes labels are for the files as written, not for rendered charts or overlays.

Secrets (areas secrets, terraform-secrets and kubernetes-secrets), against `detect-secrets scan --all-files .` (its default
plugins and filters): scored by (path, line) only, since a peer has no rule ids. recall = labelled
(path, line) pairs reported / labelled pairs; false alarms = reported (path, line) pairs that are not
labelled, and how many of them are on known non-leaks (files under traps/; the 'good' lines of
terraform-secrets).

IaC (areas kubernetes, terraform, dockerfile, compose), against `checkov --framework kubernetes terraform
terraform_plan dockerfile` (terraform_plan for the labelled plan JSON; checkov has no Compose framework):
recall per labelled finding (two rules on one line are two labels), total reported issues per tool. The
scanner is scored exactly: a finding on the label's path and line, any rule (to be symmetric with
checkov; the stricter rule-level recall is printed too). checkov is scored leniently, an upper bound that
is fair to it: a label is found when any failed check is in that file and its line range contains the
labelled line (or the check has no range, [0, 0], or covers the whole file, e.g. a Dockerfile without
HEALTHCHECK). Kubernetes labels have no line: 'RULE @ Kind/name [container C | rule N]' is located as the
line span of the object Kind/name, found by a scanner finding inside it or a checkov range overlapping
it; the scanner's strict figure there is same rule and subject, as in tests/test_kubernetes_corpus.py.
checkov runs more checks than the labels cover, so its extra failed checks are counted as reported
issues, never as false alarms (no false-alarm figure is given for IaC).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import NamedTuple

import yaml

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))

from run import CHECKOV_ENV, peer, scanner_env, warm_scanner  # noqa: E402

FIXTURES = ROOT / "fixtures"
SECRET_AREAS = ("secrets", "terraform-secrets", "kubernetes-secrets")
IAC_AREAS = {
    "kubernetes": "kubernetes",
    "terraform": "terraform-aws",
    "dockerfile": "dockerfile",
    "compose": "compose",
}

# `python -m scanner` with helm, kubectl and kustomize hidden (what tests/test_kubernetes_corpus.py does)
SCANNER = """
import shutil, sys
sys.path[:] = [p for p in sys.path if p not in ("", ".")]
which = shutil.which
shutil.which = lambda cmd, *a, **k: None if cmd in ("helm", "kubectl", "kustomize") else which(cmd, *a, **k)
from scanner.cli import main
raise SystemExit(main(sys.argv[1:]))
"""


SECRETS_NOTE = """
secrets: scored by (path, line). false alarms: reported lines not labelled; (non-leaks): those of them on
  known non-leaks (files under traps/, the 'good' lines of terraform-secrets). scanner: --only secrets.
  detect-secrets {version}: `scan --all-files .`, otherwise its defaults (its plugins, and its filters
  that skip lock files, swagger files, templated and indirect values, ...)."""
IAC_NOTE = """
IaC: recall per labelled finding. scanner: same path and line, any rule; strict: same rule too (Kubernetes:
  same rule and subject). checkov: LENIENT upper bound, mapped by line range: a failed check in that file
  whose range contains the line, or with no range or a whole-file one (e.g. no HEALTHCHECK in a
  Dockerfile). Kubernetes labels have no line: each is located as its object's line span.
  checkov {version}: --framework kubernetes terraform terraform_plan dockerfile (it has no Compose
  framework). Its checks cover more than the labelled rules: its other failed checks are counted as
  reported issues, not as false alarms (no false-alarm figure for IaC)."""


class Label(NamedTuple):
    path: str
    first: int  # the lines the label covers: one line, or a Kubernetes object
    last: int
    rule: str
    subject: str = ""  # Kubernetes: 'Kind/name container C' as the scanner's evidence says it


class Hit(NamedTuple):
    path: str
    first: int
    last: int
    rule: str = ""
    subject: str = ""
    whole_file: bool = False


class Output(NamedTuple):
    stdout: str
    seconds: float
    error: str  # "" when the tool ran to the end


# --- running the tools ---------------------------------------------------------------------------------


def run_tool(cmd: list[str], cwd: Path, env: dict[str, str], timeout: float) -> Output:
    """Runs a command in its own process group (a peer's workers are stopped with it on timeout)."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)  # fmt: skip
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        return Output("", time.perf_counter() - start, f"timed out after {timeout:.0f} s")
    seconds = time.perf_counter() - start
    try:
        json.loads(out)
    except ValueError:
        tail = err.strip().splitlines()[-1:] or [f"exit {proc.returncode}"]
        return Output("", seconds, f"no JSON report ({tail[0][:200]})")
    return Output(out, seconds, "")


def run_scanner(area: Path, pack: str, env: dict[str, str], timeout: float) -> tuple[list[Hit], Output]:
    cmd = [sys.executable, "-c", SCANNER, "scan", ".", "-f", "json", "--config", os.devnull, "--exit-zero",
           "-q", "--only", pack]  # fmt: skip
    out = run_tool(cmd, area, env, timeout)
    findings = json.loads(out.stdout)["findings"] if out.stdout else []
    # a finding the file itself suppresses (scanner:ignore, a scanner.io/ignore annotation) fails nothing
    hits = [Hit(f["path"], f["line"], f["line"], f["rule"], f.get("evidence", "")) for f in findings
            if not f.get("suppressed") and not (f.get("severity") == "info" and f.get("reason"))]
    # a finding lowered to info with its reason (a documented example value) is for the record; a rule
    # that is info itself (a deliberate service account token) is what its label asks for
    return [h for h in hits if h.path != "expected.yaml"], out


def run_detect_secrets(exe: Path, area: Path, timeout: float) -> tuple[list[Hit], Output]:
    out = run_tool([str(exe), "scan", "--all-files", "."], area, dict(os.environ), timeout)
    results = json.loads(out.stdout)["results"] if out.stdout else {}
    hits = [Hit(path.removeprefix("./"), s["line_number"], s["line_number"], s["type"])
            for path, found in results.items() for s in found]  # fmt: skip
    return [h for h in hits if h.path != "expected.yaml"], out


def run_checkov(exe: Path, area: Path, timeout: float) -> tuple[list[Hit], Output]:
    frameworks = ["kubernetes", "terraform", "terraform_plan", "dockerfile"]
    cmd = [str(exe), "-d", ".", "--framework", *frameworks, "--output", "json", "--quiet", "--compact",
           "--skip-download", "--download-external-modules", "false"]  # fmt: skip
    out = run_tool(cmd, area, dict(os.environ, **CHECKOV_ENV), timeout)
    data = json.loads(out.stdout) if out.stdout else []
    hits = []
    # one report per framework (a dict when only one ran); no "results" when nothing was found
    for report in data if isinstance(data, list) else [data]:
        for check in report.get("results", {}).get("failed_checks", []):
            path = check["file_path"].lstrip("/")
            first, last = check.get("file_line_range") or (0, 0)
            whole = (first, last) == (0, 0) or (first <= 1 and last >= line_count(area / path))
            hits.append(Hit(path, first, last, check["check_id"], whole_file=whole))
    return hits, out


@cache
def line_count(path: Path) -> int:
    try:
        return len(path.read_bytes().splitlines())
    except OSError:
        return 0


def version(exe: Path | None) -> str:
    if exe is None:
        return "(not run)"
    try:
        out = subprocess.run([str(exe), "--version"], capture_output=True, text=True, timeout=60).stdout
    except (OSError, subprocess.TimeoutExpired):
        return "?"
    return out.strip().splitlines()[-1] if out.strip() else "?"


# --- labels --------------------------------------------------------------------------------------------


def expected(area: str) -> dict:
    return yaml.safe_load((FIXTURES / area / "expected.yaml").read_text())


def secret_labels(area: str) -> tuple[set[tuple[str, int]], Callable[[str, int], bool]]:
    """The labelled (path, line) pairs, and which other lines are known non-leaks."""
    data = expected(area)
    if area in ("secrets", "kubernetes-secrets"):  # findings: [{path, line[, rule]}]; traps/ expects nothing
        labelled = {(e["path"], e["line"]) for e in data["findings"]}
        return labelled, lambda path, line: path.startswith("traps/")
    # terraform-secrets: bad: [lines], good: [lines] of the folder's one file
    (name,) = [p.name for p in (FIXTURES / area).iterdir() if p.name != "expected.yaml"]
    good = set(data["good"])
    return {(name, line) for line in data["bad"]}, lambda path, line: path == name and line in good


def iac_labels(area: str) -> list[Label]:
    data = expected(area)
    if area == "terraform":  # bad: [{path, line, rule}] (good: the traps)
        return [Label(e["path"], e["line"], e["line"], e["rule"]) for e in data["bad"]]
    if area in ("dockerfile", "compose"):  # files: {path: [{rule, line}]} (compose's secrets: lines aside)
        files = data["files"].items()
        return [Label(path, e["line"], e["line"], e["rule"]) for path, found in files for e in found or []]
    # kubernetes: paths: {path: {bad: ['RULE @ subject'], good: [...]}}, no lines
    paths = data["paths"].items()
    return [kubernetes_label(path, text) for path, spec in paths for text in spec.get("bad") or []]


def kubernetes_label(path: str, text: str) -> Label:
    """'RULE @ Kind/name ...' located as the line span of object Kind/name (else: the whole file)."""
    rule, _, subject = (part.strip() for part in text.partition("@"))
    first, last = 1, line_count(FIXTURES / "kubernetes" / path)
    wanted = subject.split(" ")[0]
    for offset, node in yaml_documents((FIXTURES / "kubernetes" / path).read_text()):
        for kind, name, obj in kubernetes_objects(node):
            if f"{kind}/{name}" == wanted:
                first, last = span(obj, offset)
    return Label(path, first, last, rule, subject)


def yaml_documents(text: str) -> list[tuple[int, yaml.Node]]:
    """Each '---' document composed on its own (a malformed one is skipped), with its first line."""
    chunks, lines, start = [], [], 0
    for number, line in enumerate(text.splitlines(keepends=True)):
        if line.startswith("---"):
            chunks.append((start, "".join(lines)))
            lines, start = [], number + 1
        else:
            lines.append(line)
    chunks.append((start, "".join(lines)))
    documents = []
    for start, chunk in chunks:
        try:
            node = yaml.compose(chunk, Loader=yaml.SafeLoader)
        except yaml.YAMLError:
            continue
        if node is not None:
            documents.append((start, node))
    return documents


def child(node: yaml.Node | None, key: str) -> yaml.Node | None:
    if isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            if isinstance(k, yaml.ScalarNode) and k.value == key:
                return v
    return None


def kubernetes_objects(node: yaml.Node) -> list[tuple[str, str, yaml.Node]]:
    """(kind, name, node) of an object, or of every object of a List's items."""
    kind, items = child(node, "kind"), child(node, "items")
    if isinstance(items, yaml.SequenceNode):
        return [obj for item in items.value for obj in kubernetes_objects(item)]
    name = child(child(node, "metadata"), "name")
    return [(kind.value, name.value, node)] if kind is not None and name is not None else []


def span(node: yaml.Node, offset: int) -> tuple[int, int]:
    """1-based first and last line of a node in its file."""
    end = node.end_mark.line + (1 if node.end_mark.column else 0)
    return offset + node.start_mark.line + 1, offset + max(end, node.start_mark.line + 1)


# --- scoring -------------------------------------------------------------------------------------------


def found(label: Label, hits: list[Hit], strict: bool = False) -> bool:
    """A hit in the label's file whose lines overlap the label's (one line: contain it); a checkov check
    with no range or a whole-file range counts. strict: the same rule too (Kubernetes: same rule and
    subject, wherever the line)."""
    for hit in hits:
        if hit.path != label.path:
            continue
        if strict and label.subject:  # the subject names the place, as in tests/test_kubernetes_corpus.py
            if (hit.rule, hit.subject) == (label.rule, label.subject):
                return True
        elif hit.whole_file or (hit.first <= label.last and label.first <= hit.last):
            if not strict or hit.rule == label.rule:
                return True
    return False


def percent(part: int, whole: int) -> str:
    return f"{100 * part / whole:5.1f}%" if whole else "    -"


def secrets_section(args: argparse.Namespace, env: dict[str, str], detect_secrets: Path | None) -> None:
    print(SECRETS_NOTE.format(version=version(detect_secrets)))
    print(f"  {'area':<18} {'tool':<15} {'labelled':>8} {'found':>6} {'recall':>7} {'false alarms':>13} "
          f"{'(non-leaks)':>11} {'wall s':>7}")  # fmt: skip
    for area in SECRET_AREAS:
        labelled, non_leak = secret_labels(area)
        runs = {"scanner": run_scanner(FIXTURES / area, "secrets", env, args.peer_timeout)}
        if detect_secrets:
            runs["detect-secrets"] = run_detect_secrets(detect_secrets, FIXTURES / area, args.peer_timeout)
        missed_by_all = set(labelled)
        for tool, (hits, out) in runs.items():
            if out.error:
                print(f"  {area:<18} {tool:<15} {out.error}")
                continue
            reported = {(h.path, h.first) for h in hits}
            alarms = reported - labelled
            missed_by_all &= labelled - reported
            print(f"  {area:<18} {tool:<15} {len(labelled):>8} {len(reported & labelled):>6} "
                  f"{percent(len(reported & labelled), len(labelled)):>7} {len(alarms):>13} "
                  f"{sum(non_leak(*a) for a in alarms):>11} {out.seconds:>7.2f}")  # fmt: skip
        if missed_by_all:
            print(
                f"  {area}: labelled lines no tool that ran reports: "
                + ", ".join(f"{p}:{n}" for p, n in sorted(missed_by_all))
            )


def iac_section(args: argparse.Namespace, env: dict[str, str], checkov: Path | None) -> None:
    print(IAC_NOTE.format(version=version(checkov)))
    print(f"  {'area':<11} {'tool':<8} {'labels':>6} {'found':>6} {'recall':>7} {'strict':>7} "
          f"{'reported':>8} {'wall s':>7}")  # fmt: skip
    for area, pack in IAC_AREAS.items():
        labels = iac_labels(area)
        runs = {"scanner": run_scanner(FIXTURES / area, pack, env, args.peer_timeout)}
        if checkov:
            runs["checkov"] = run_checkov(checkov, FIXTURES / area, args.peer_timeout)
        missed_by_all = list(labels)
        for tool, (hits, out) in runs.items():
            if out.error:
                print(f"  {area:<11} {tool:<8} {out.error}")
                continue
            hit = [label for label in labels if found(label, hits)]
            missed_by_all = [label for label in missed_by_all if label not in hit]
            strict = (
                percent(sum(found(label, hits, strict=True) for label in labels), len(labels))
                if tool == "scanner"
                else "-"
            )
            recall = percent(len(hit), len(labels))
            print(f"  {area:<11} {tool:<8} {len(labels):>6} {len(hit):>6} {recall:>7} {strict:>7} "
                  f"{len(hits):>8} {out.seconds:>7.2f}")  # fmt: skip
        for label in missed_by_all:
            lines = f"{label.first}" if label.first == label.last else f"{label.first}-{label.last}"
            print(
                f"  {area}: no tool that ran finds {label.path}:{lines} {label.rule} {label.subject}".rstrip()
            )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkov", type=Path, help="checkov executable (default: installed under --cache)")
    parser.add_argument(
        "--detect-secrets", type=Path, help="detect-secrets executable (default: installed under --cache)"
    )
    parser.add_argument("--no-peers", action="store_true", help="the scanner alone")
    parser.add_argument(
        "--peer-timeout",
        type=float,
        default=600.0,
        metavar="SECONDS",
        help="per run of a tool on a folder (the scanner too)",
    )
    parser.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "scanner-bench")
    args = parser.parse_args(argv)
    detect_secrets = checkov = None
    if not args.no_peers:
        args.cache.mkdir(parents=True, exist_ok=True)
        detect_secrets = args.detect_secrets or peer("detect-secrets", args.cache)
        checkov = args.checkov or peer("checkov", args.cache)
    env = scanner_env()
    warm_scanner(env)
    load = " ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"machine: {os.cpu_count()} cores, python {sys.version.split()[0]}, load average {load}; "
          "one run per tool and folder (wall seconds)")  # fmt: skip
    secrets_section(args, env, detect_secrets)
    iac_section(args, env, checkov)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
