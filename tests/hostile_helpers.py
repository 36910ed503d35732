"""Shared helpers for the hostile-input tests: run one file through every step a scan runs."""

from __future__ import annotations

from functools import lru_cache

from scanner import documents
from scanner.engines import policy, secrets
from scanner.model import Finding, Item, Problem
from scanner.rules.loader import load_rules


@lru_cache(maxsize=1)
def builtin_rules() -> tuple:
    return tuple(load_rules([]))


@lru_cache(maxsize=1)
def compiled_secrets():
    return secrets.compile_rules(builtin_rules())


def check_problem(problem: Problem) -> None:
    """A problem is a one-line message naming its file."""
    assert isinstance(problem, Problem), problem
    assert problem.path
    assert problem.message and "\n" not in problem.message, problem
    assert "Traceback" not in problem.message


def pipeline(path: str, data: bytes) -> tuple[list[Finding], list[Problem]]:
    """Every step a scan runs on one file, with no safety net: a parser bug raises here.

    (documents.parse_item turns a parser exception into a Problem so a user's scan goes on; these tests
    want to see the bug itself.)"""
    item = Item(path, data)
    findings = secrets.scan_item(compiled_secrets(), item)
    problems: list[Problem] = []
    docs: list[documents.Document] = []
    for module in documents.modules():
        if module.claims(path, data):
            got, probs = module.parse(item)
            docs.extend(got)
            problems.extend(probs)
            break
    for problem in problems:
        check_problem(problem)
    if docs:
        docs = documents.finalize(docs)
        findings.extend(policy.run(builtin_rules(), docs, {}))
    return findings, problems
