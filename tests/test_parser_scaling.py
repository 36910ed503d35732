"""Issue 20, scope 6: every parser in linear time. Each input shape is parsed at sizes n and 4n; the
work (CPU time of this process with the garbage collector off, the best of three runs of each size,
taken in turn, after a warm-up run) may grow like n log n, never like n^2. No absolute threshold:
only the growth exponent, log(t(4n) / t(n)) / log(4), which is 1 for linear work and 2 for quadratic,
is checked against 1.5. Sizes are chosen so each case takes well under a second in total.

Measured on a loaded 2-core machine (a full pytest run alongside): the linear cases 0.9-1.2, the
quadratic control 1.7-2.0 (best of five; best of three gave 1.6-1.95)."""

from __future__ import annotations

import gc
import json
import math
import time
from collections.abc import Callable

import pytest

from scanner import documents
from scanner.documents import dockerfile_lines
from scanner.documents.terraform.parse.hcl import parse_hcl_lark
from scanner.documents.tree import load_yaml_stream
from scanner.engines import secrets
from scanner.model import Item
from tests.hostile_helpers import compiled_secrets

MAX_EXPONENT = 1.5


def k8s(n: int) -> bytes:
    return "".join(
        f"---\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web{i}\nspec:\n  template:\n    spec:\n"
        f"      containers:\n        - name: app\n          image: nginx:1.{i}\n          securityContext:\n"
        "            privileged: true\n"
        for i in range(n)
    ).encode()


def k8s_broken(n: int) -> bytes:
    """Every tenth document broken: the per-document isolation path."""
    docs = k8s(n).split(b"---\n")
    return b"---\n".join(b"kind: [broken\n" if i % 10 == 5 else d for i, d in enumerate(docs))


def compose(n: int) -> bytes:
    return ("services:\n" + "".join(
        f"  svc{i}:\n    image: nginx:1.{i}\n    privileged: true\n    environment:\n      A: b{i}\n" for i in range(n)
    )).encode()  # fmt: skip


def dockerfile_many(n: int) -> bytes:
    return ("FROM alpine:3.19\n" + "".join(f"RUN echo {i} && apk add curl{i}\n" for i in range(n)) + "USER root\n").encode()


def dockerfile_continued(n: int) -> bytes:
    """One RUN of n `\\`-continued lines: quadratic in BuildKit's parser as it is."""
    return ("FROM alpine:3.19\nRUN " + " \\\n  ".join(f"echo {i}" for i in range(n)) + "\nUSER root\n").encode()


def dockerfile_heredoc(n: int) -> bytes:
    return ("FROM alpine:3.19\nRUN <<EOF\n" + "".join(f"echo {i}\n" for i in range(n)) + "EOF\nUSER root\n").encode()


def hcl(n: int) -> bytes:
    return "".join(
        f'resource "aws_s3_bucket" "b{i}" {{\n  bucket = "bucket-{i}"\n  tags = {{\n    Name = "b{i}"\n  }}\n}}\n'
        for i in range(n)
    ).encode()


def plan(n: int) -> bytes:
    resources = [
        {"address": f"aws_s3_bucket.b{i}", "mode": "managed", "type": "aws_s3_bucket", "name": f"b{i}",
         "values": {"bucket": f"b{i}", "tags": {"Name": f"b{i}"}}}
        for i in range(n)
    ]  # fmt: skip
    doc = {"format_version": "1.2", "planned_values": {"root_module": {"resources": resources}},
           "resource_changes": [], "configuration": {}}  # fmt: skip
    return json.dumps(doc).encode()


def env(n: int) -> bytes:
    return "".join(f'password{i} = "Zx9{i:06d}qW!e8rT"\napi_key = "{i:08x}a1b2c3d4e5f6"\n' for i in range(n)).encode()


def parse(path: str) -> Callable[[bytes], object]:
    return lambda data: documents.parse_item(Item(path, data))


CASES = {
    "kubernetes": (k8s, 80, parse("all.yaml")),
    "kubernetes-broken-documents": (k8s_broken, 80, parse("all.yaml")),
    "yaml-stream-broken-documents": (k8s_broken, 80, load_yaml_stream),
    "compose": (compose, 150, parse("docker-compose.yml")),
    "dockerfile-instructions": (dockerfile_many, 400, parse("Dockerfile")),
    "dockerfile-continuation": (dockerfile_continued, 4000, parse("Dockerfile")),
    "dockerfile-heredoc": (dockerfile_heredoc, 20000, parse("Dockerfile")),
    "hcl": (hcl, 150, parse("main.tf")),
    "hcl-python-hcl2": (hcl, 30, lambda data: parse_hcl_lark(data.decode())),
    "plan-json": (plan, 120, parse("tfplan.json")),
    "secrets-text": (env, 120, lambda data: secrets.scan_item(compiled_secrets(), Item("app.env", data))),
}


def _cpu_seconds(work: Callable[[bytes], object], data: bytes) -> float:
    """One run's CPU time, with the garbage collector off: in a long pytest process a collection walks
    every object the earlier tests left, a cost that grows with what was allocated, not with the
    parser's work, and flattens the curve (CI once measured 1.48 for the quadratic control below)."""
    gc.collect()
    gc.disable()
    try:
        start = time.process_time()
        work(data)
        return time.process_time() - start
    finally:
        gc.enable()


def exponent(make: Callable[[int], bytes], n: int, work: Callable[[bytes], object], repeats: int = 3) -> float:
    small, large = make(n), make(4 * n)
    work(small)  # warm: imports, grammars, compiled rules, caches
    best = [math.inf, math.inf]
    for _ in range(repeats):  # the two sizes in turn: a busy spell of the machine slows both alike
        for which, data in enumerate((small, large)):
            best[which] = min(best[which], _cpu_seconds(work, data))
    return math.log(max(best[1], 1e-4) / max(best[0], 1e-4)) / math.log(4)


@pytest.mark.parametrize("case", sorted(CASES))
def test_parser_work_grows_linearly(case):
    make, n, work = CASES[case]
    growth = exponent(make, n, work)
    if growth >= MAX_EXPONENT:  # one retry: another process may have taken the core for a while
        growth = exponent(make, n, work)
    assert growth < MAX_EXPONENT, f"{case}: work grows like n^{growth:.2f}"


def test_the_check_catches_a_quadratic_parser(monkeypatch):
    """BuildKit's parser alone on one long continued RUN: the same check fails it."""
    monkeypatch.setattr(dockerfile_lines, "LONG_LINES", 10**9)
    growth = exponent(dockerfile_continued, 4000, parse("Dockerfile"), repeats=5)  # the small run is short
    if growth <= MAX_EXPONENT:  # one retry, as above: a busy core slows the small run and flattens the curve
        growth = max(growth, exponent(dockerfile_continued, 4000, parse("Dockerfile"), repeats=5))
    assert growth > MAX_EXPONENT, f"BuildKit's parser alone grew like n^{growth:.2f}"
