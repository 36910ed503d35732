"""Fixers: the one step that writes. `scanner fix` applies the remediations rules declare as data.

A rule's `fix` is a list of operations on its subject (the container, pod spec, Compose service,
Dockerfile stage or Terraform resource the rule fired on):

    fix:
      summary: set securityContext.runAsNonRoot to true
      ops:
        - {set: securityContext.runAsNonRoot, value: true}   # create what is missing
        - {add: securityContext.capabilities.drop, value: ALL}   # append to a list unless present
        - {remove: hostPort}

The scan runs first; only its unsuppressed findings of rules with a `fix` are touched. Each file is
then fixed one finding at a time: parse, find the subject the finding is about, splice the edit into
the text (yaml_edit, hcl_edit, dockerfile_edit), parse again and check that the file still parses and
that this rule no longer fires on this subject. An edit that fails either check is dropped and the
finding is reported as not fixed. Files that are not parsed as documents (Helm templates, broken
YAML, plan JSON) are never touched, nor the files of findings on objects the scan rendered itself
(`refused`, which the reports use to count what is fixable).
"""

from __future__ import annotations

import os
import stat
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

from scanner import documents
from scanner.engines import policy
from scanner.fixers import dockerfile_edit, hcl_edit, yaml_edit
from scanner.fixers.yaml_edit import CannotFix
from scanner.model import Finding, Item
from scanner.rules.loader import Rule

MAX_FIXES_PER_FILE = 500


class FileFix(NamedTuple):
    path: str  # relative to the scan root
    before: str
    after: str
    fixed: tuple[tuple[str, str], ...]  # (rule id, subject label)
    skipped: tuple[tuple[str, str, str], ...]  # (rule id, subject label or "", why)


def fixable(rules: Sequence[Rule]) -> list[Rule]:
    return sorted((r for r in rules if r.fixable), key=lambda r: r.id)


_IN_COMMITS = ("history", "range")  # findings in commits: only the working tree is edited


def refused(finding: Finding) -> str:
    """Why `scanner fix` never edits the file of this finding, or "" when it tries. The one place that
    decides it from a finding (the text and HTML reports count what is fixable with it)."""
    if finding.provenance is not None and finding.provenance.source in _IN_COMMITS:
        return "it is in a commit, not in the working tree"
    rendered_by = dict(finding.properties).get("rendered_by")
    if rendered_by:
        return f"the object was rendered by `{rendered_by}` from this file: fix the template or its values by hand"
    return ""


def edits(finding: Finding, rule: Rule | None) -> bool:
    """Whether `scanner fix --write` would try to fix this finding (its rule has a fix, its file is edited)."""
    return rule is not None and rule.fixable and not refused(finding)


def plan(findings: Sequence[Finding], root: Path, rules: Sequence[Rule], options: dict[str, Any]) -> list[FileFix]:
    """What `scanner fix` would change: one FileFix per file with a fixable finding."""
    by_id = {r.id: r for r in fixable(rules)}
    wanted: dict[str, set[str]] = {}
    not_edited: dict[str, str] = {}
    for finding in findings:
        if finding.suppression is None and finding.rule_id in by_id:
            why = refused(finding)
            if why:
                not_edited.setdefault(finding.path, why)
            else:
                wanted.setdefault(finding.path, set()).add(finding.fingerprint)
    plans = [fix_file(root, path, prints, rules, options) for path, prints in wanted.items()]
    plans += [FileFix(path, "", "", (), (("", "", why),))
              for path, why in not_edited.items() if path not in wanted]
    return sorted(plans, key=lambda p: p.path)


def _read(root: Path, path: str) -> str:
    full = root / path
    st = os.lstat(full)
    if not stat.S_ISREG(st.st_mode):
        raise CannotFix("not a regular file (symlinks are never followed)")
    data = full.read_bytes()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise CannotFix("not UTF-8 text") from None


def fix_file(root: Path, path: str, prints: set[str], rules: Sequence[Rule], options: dict[str, Any]) -> FileFix:
    try:
        before = _read(root, path)
    except (OSError, CannotFix) as exc:
        why = exc.strerror if isinstance(exc, OSError) else str(exc)
        return FileFix(path, "", "", (), (("", "", why),))
    return fix_text(path, before, rules, options, prints)


def fix_text(path: str, before: str, rules: Sequence[Rule], options: dict[str, Any],
             prints: set[str] | None = None) -> FileFix:
    """Fix one file's text (`path` says what kind of file it is). With `prints`, only the findings
    with those fingerprints; without, every subject the rules fire on."""
    rules = fixable(rules)
    text = before
    fixed: list[tuple[str, str]] = []
    skipped: list[tuple[str, str, str]] = []
    tried: set[tuple[str, str]] = set()
    docs, problems = documents.parse_item(Item(path, text.encode("utf-8")))
    problems = [p for p in problems if p.level != "info"]
    if problems or not any(d.kind in EDITORS for d in docs):
        why = "it does not parse" if problems else "it is not a manifest the fixer edits (a Helm template?)"
        return FileFix(path, before, before, (), (("", "", why),))
    for _ in range(MAX_FIXES_PER_FILE):
        pending = _next(docs, rules, prints, tried, options)
        if pending is None:
            break
        rule, subject = pending
        tried.add((rule.id, subject.key))
        name = policy.label(subject)
        try:
            candidate = EDITORS[subject.doc.kind](text, rule, subject)
        except CannotFix as exc:
            skipped.append((rule.id, name, str(exc)))
            continue
        new_docs, new_problems = documents.parse_item(Item(path, candidate.encode("utf-8")))
        if [p for p in new_problems if p.level != "info"] or len(new_docs) != len(docs):
            skipped.append((rule.id, name, "the edit would break the file"))
            continue
        if any(s.key == subject.key for s in policy.failing_subjects(rule, new_docs, options)):
            skipped.append((rule.id, name, "the fix does not resolve it here (fix by hand)"))
            continue
        text, docs = candidate, new_docs
        fixed.append((rule.id, name))
    return FileFix(path, before, text, tuple(fixed), tuple(skipped))


def _next(docs: Sequence[documents.Document], rules: Sequence[Rule], prints: set[str] | None, tried: set[tuple[str, str]],
          options: dict[str, Any]) -> tuple[Rule, documents.Subject] | None:
    for rule in rules:
        for subject in policy.failing_subjects(rule, docs, options):
            if (rule.id, subject.key) in tried:
                continue
            if prints is None or policy.subject_fingerprint(rule, subject) in prints:
                return rule, subject
    return None


def _yaml(text: str, rule: Rule, subject: documents.Subject) -> str:
    from ruamel.yaml.error import YAMLError

    try:
        roots = yaml_edit.compose(text)
        node = yaml_edit.find_subject(roots, rule.target, subject.line)
        return yaml_edit.apply(text, node, rule.fix["ops"], roots)
    except YAMLError:
        raise CannotFix("the edit would break the file") from None


def _hcl(text: str, rule: Rule, subject: documents.Subject) -> str:
    if not subject.path.endswith((".tf", ".tofu")):
        raise CannotFix("only .tf files are edited (not JSON or plans)")
    if documents.INSTANCE in subject.key:  # a module's block, as one caller instantiates it
        raise CannotFix("it is set through a module call: fix the caller's argument or the module by hand")
    return hcl_edit.apply(text, subject.line, rule.fix["ops"])


def _dockerfile(text: str, rule: Rule, subject: documents.Subject) -> str:
    return dockerfile_edit.apply(text, subject.value, rule.fix["ops"], final=subject.kind == "final")


EDITORS = {"kubernetes": _yaml, "compose": _yaml, "dockerfile": _dockerfile, "terraform": _hcl}
