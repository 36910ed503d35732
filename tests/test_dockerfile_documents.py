"""Dockerfile and Compose documents: what files are claimed, how BuildKit syntax is understood
(heredocs, continuations, escape directive, stages, USER/ARG resolution), broken input, stable
finding identity, engine options and inline suppressions."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from scanner import documents
from scanner.documents import compose, dockerfile
from scanner.engines import policy
from scanner.model import Item
from scanner.rules.loader import load_pack

ROOT = Path(__file__).resolve().parent.parent
RULES = [
    r for p in ("dockerfile.yaml", "compose.yaml") for r in load_pack(ROOT / "policies" / p) if not r.opt_in
]


def run(text, name: str = "Dockerfile", options=None, rules=None):
    docs, problems = documents.parse_item(Item(name, text.encode() if isinstance(text, str) else text))
    findings = policy.run(rules or RULES, documents.finalize(docs), options or {})
    return [(f.rule_id, f.line) for f in findings], problems, findings


@pytest.mark.parametrize(
    "path, claimed",
    [
        ("Dockerfile", True),
        ("build/dockerfile", True),
        ("api.Dockerfile", True),
        ("Dockerfile.prod", True),
        ("deploy/Containerfile", True),
        ("Dockerfile.dev", True),
        (".dockerignore", False),
        ("dockerfile_test.py", False),
        ("docs/Dockerfiles.md", False),
    ],
)
def test_dockerfile_claims(path, claimed):
    assert dockerfile.claims(path, b"") is claimed


@pytest.mark.parametrize(
    "path, claimed",
    [
        ("docker-compose.yml", True),
        ("deploy/docker-compose.prod.yaml", True),
        ("compose.yaml", True),
        ("compose.override.yml", True),
        ("docker-compose-dev.yml", True),
        ("k8s/deployment.yaml", False),
        ("composer.json", False),
        ("composer.yaml", False),
    ],
)
def test_compose_claims(path, claimed):
    assert compose.claims(path, b"") is claimed


HEREDOC_AND_CONTINUATIONS = """\
# syntax=docker/dockerfile:1.7
ARG ALPINE=3.19
FROM alpine:${ALPINE} AS build
RUN apk add --no-cache \\
    # comments inside a continuation are dropped
    curl \\
    git
RUN <<EOF sh
set -e
curl -fsSL https://example.com/get.sh | sh
EOF
COPY <<-CONF /etc/app.conf
\tlisten=8080
\tCONF
FROM build
RUN chmod 777 /srv
"""


def test_heredocs_and_continuations_parse_with_lines():
    found, problems, _ = run(HEREDOC_AND_CONTINUATIONS)
    assert problems == []
    # curl|sh inside the heredoc body is reported at the RUN line; the final stage inherits no USER
    assert ("dockerfile-curl-pipe-shell", 8) in found
    assert ("dockerfile-chmod-777", 16) in found
    assert ("dockerfile-root-user", 15) in found
    doc = documents.parse_item(Item("Dockerfile", HEREDOC_AND_CONTINUATIONS.encode()))[0][0]
    build = doc.value["stages"][0]
    assert build["tag"] == "3.19" and build["name"] == "build"
    runs = [i for i in build["instructions"] if i["cmd"] == "RUN"]
    assert [(i["line"], i["end_line"]) for i in runs] == [(4, 7), (8, 11)]
    copy = [i for i in build["instructions"] if i["cmd"] == "COPY"][0]
    assert copy["dest"] == "/etc/app.conf" and list(copy["sources"]) == []
    assert doc.value["stages"][1]["base"] == "stage"


def test_escape_directive_backtick():
    text = "# escape=`\nFROM mcr.microsoft.com/windows/nanoserver:ltsc2022\nRUN echo a `\n    && echo b\nUSER ContainerUser\n"
    found, problems, _ = run(text)
    assert problems == [] and found == []
    doc = documents.parse_item(Item("Dockerfile", text.encode()))[0][0]
    run_ins = doc.value["stages"][0]["instructions"][1]
    assert (run_ins["line"], run_ins["end_line"]) == (3, 4)
    assert doc.value["escape"] == "`"


@pytest.mark.parametrize(
    "text, where",
    [
        ("FROM alpine:3.19\nRUN <<EOF\necho never closed\n", "line 2"),
        ("FROM alpine:3.19\nRUN echo a \\\n", "line 2"),
        ("FROM alpine:3.19\0\nUSER app\n", "line 1"),
    ],
)
def test_broken_input_is_a_problem_naming_the_line(text, where):
    _, problems, _ = run(text)
    assert len(problems) == 1 and where in problems[0].message and problems[0].path == "Dockerfile"


def test_random_bytes_never_crash():
    rng = random.Random(5)
    alphabet = [
        b"FROM ",
        b"RUN ",
        b"USER ",
        b"<<EOF",
        b"EOF",
        b"\\",
        b"\n",
        b"${X:-",
        b"}",
        b"AS ",
        b"\xff",
        b" ",
    ]
    alphabet += [b"# escape=`\n", b"--mount=type=secret", b"COPY --from=0 ", b"ENV A=", b'["x",']
    for _ in range(300):
        data = b"".join(rng.choice(alphabet) for _ in range(rng.randint(0, 40)))
        docs, problems = dockerfile.parse(Item("Dockerfile", data))
        policy.run(RULES, docs, {})


@pytest.mark.parametrize(
    "text, root",
    [
        ("FROM node:20\nUSER node\nFROM node:20\n", True),  # an earlier stage's USER does not carry over
        ("FROM node:20 AS base\nUSER node\nFROM base\n", False),  # ... unless the final stage builds on it
        ("FROM node:20\nUSER node\nUSER root\n", True),
        ("FROM node:20\nUSER 0:0\n", True),
        ("FROM node:20\nUSER 1000:0\n", False),  # group root is not user root
        ("ARG U=app\nFROM node:20\nARG U\nUSER $U\n", False),
        ("ARG U=root\nFROM node:20\nARG U\nUSER ${U}\n", True),
        ("FROM node:20\nARG U\nUSER ${U}\n", False),  # unknown stays unknown: never fires
        ("FROM node:20\nARG U=app\nUSER ${U:-root}\n", False),
        ("FROM node:20\nENV U=0\nUSER $U\n", True),
        ("ARG U=app\nFROM node:20\nUSER $U\n", False),  # global ARG not redeclared: out of scope, unknown
        ("FROM scratch\nCOPY app /app\n", True),
    ],
)
def test_effective_user(text, root):
    found, problems, _ = run(text)
    assert problems == []
    assert any(r == "dockerfile-root-user" for r, _ in found) is root


def test_nonroot_base_images_option():
    text = "FROM gcr.io/distroless/static-debian12:nonroot\nCOPY app /app\n"
    assert ("dockerfile-root-user", 1) in run(text)[0]
    options = {
        "dockerfile.nonroot-base-images": ["gcr.io/distroless/static-debian12:nonroot", "cgr.dev/chainguard"]
    }
    assert run(text, options=options)[0] == []
    assert run("FROM cgr.dev/chainguard/node:latest\n", options=options)[0] == [
        ("dockerfile-image-unpinned", 1)
    ]
    # a configured base, but an explicit USER root still counts
    assert ("dockerfile-root-user", 3) in run(text + "USER root\n", options=options)[0]


def test_allowed_registries_option():
    text = "FROM python:3.12\nFROM docker.io/library/node:20\nFROM quay.io/prometheus/node-exporter:v1.7.0\nUSER 1\n"
    rules = [r for r in RULES if r.id == "dockerfile-registry-not-allowed"]
    assert run(text, rules=rules)[0] == []  # inactive until configured
    found = run(text, rules=rules, options={"dockerfile.allowed-registries": ["quay.io"]})[0]
    assert found == [("dockerfile-registry-not-allowed", 1), ("dockerfile-registry-not-allowed", 2)]
    found = run(text, rules=rules, options={"dockerfile.allowed-registries": ["docker.io"]})[0]
    assert found == [("dockerfile-registry-not-allowed", 3)]
    found = run(text, rules=rules, options={"dockerfile.allowed-registries": ["docker.io/library/python"]})[0]
    assert [line for _, line in found] == [2, 3]


def test_secret_values_never_appear_in_messages():
    text = (
        "FROM alpine:3.19\n"
        "ENV DB_PASSWORD=Sup3rS3cret\n"
        "RUN curl -u deploy:Tr0ub4dor3 https://x.example.com/a\n"
        "RUN git clone https://bot:glpat-Zx81kQ@gitlab.example.com/a.git\n"
        "RUN echo 'root:screencast' | chpasswd\n"
        "USER 1\n"
    )
    found, _, findings = run(text)
    assert {r for r, _ in found} == {"dockerfile-secret-env", "dockerfile-run-credentials"}
    for f in findings:
        for secret in ("Sup3rS3cret", "Tr0ub4dor3", "glpat-Zx81kQ", "screencast"):
            assert secret not in f.message and secret not in f.evidence


def test_fingerprints_survive_edits_above():
    text = "FROM ubuntu\nENV API_TOKEN=abcdef123456\nRUN sudo true\n"
    _, _, before = run(text)
    _, _, after = run("# a new comment\n\n" + text.replace("FROM ubuntu", "FROM ubuntu\nLABEL a=b"))
    assert len(before) == len(after) == 4
    assert sorted(f.fingerprint for f in before) == sorted(f.fingerprint for f in after)
    assert [f.line for f in before] != [f.line for f in after]


def test_secret_mounts_are_never_flagged():
    text = (
        "FROM node:20\n"
        "RUN --mount=type=secret,id=npmrc,target=/root/.npmrc npm ci\n"
        "RUN --mount=type=secret,id=aws,target=/root/.aws/credentials aws s3 cp s3://b/k /tmp/k\n"
        "RUN --mount=type=ssh git clone git@github.com:example/private.git\n"
        "RUN --mount=type=secret,id=t curl -u ci:$(cat /run/secrets/t) https://x.example.com/a\n"
        "USER node\n"
    )
    assert run(text)[0] == []


def test_compose_problems_and_legacy_format():
    _, problems, _ = run("services:\n  web:\n    image: [unclosed\n", name="docker-compose.yml")
    assert len(problems) == 1 and "line" in problems[0].message
    legacy = "web:\n  image: nginx:1.25\n  privileged: true\ndb:\n  image: postgres:16\n"
    assert run(legacy, name="docker-compose.yml")[0] == [("compose-privileged", 3)]


def test_inline_suppression_in_dockerfile_and_compose():
    from scanner.scan import ScanOptions, scan_items

    dockerfile_text = (
        "# scanner:ignore=dockerfile-root-user a build helper image, runs as root by design\n"
        "FROM ubuntu:22.04\n"
        "# scanner:ignore=dockerfile-sudo legacy script\n"
        "RUN apt-get update && \\\n"
        "    sudo true\n"
        "ENV API_TOKEN=abc123def456\n"
        "# scanner:ignore=dockerfile-secret-env test token, revoked\n"
        "ENV SECOND_TOKEN=abc123def456\n"
    )
    compose_text = (
        "services:\n"
        "  dind:\n"
        "    image: docker:25-dind\n"
        "    # scanner:ignore=compose-privileged docker-in-docker for CI only\n"
        "    privileged: true\n"
        "    user: root\n"
    )
    items = [Item("Dockerfile", dockerfile_text.encode()), Item("docker-compose.yml", compose_text.encode())]
    result = scan_items(items, ScanOptions(rules=tuple(RULES)))
    state = {(f.path, f.rule_id, f.line): f.suppression is not None for f in result.findings}
    assert state[("Dockerfile", "dockerfile-root-user", 2)] is True
    assert state[("Dockerfile", "dockerfile-sudo", 4)] is True
    assert state[("Dockerfile", "dockerfile-secret-env", 6)] is False
    assert state[("Dockerfile", "dockerfile-secret-env", 8)] is True
    assert state[("docker-compose.yml", "compose-privileged", 5)] is True
    assert state[("docker-compose.yml", "compose-root-user", 6)] is False


@pytest.mark.parametrize(
    ("name", "claimed"),
    [("Dockerfile", True), ("build/Dockerfile.prod", True), ("api.Dockerfile", True), ("Containerfile", True),
     ("Dockerfile.j2", True), ("scanner/documents/dockerfile.py", False), ("policies/dockerfile.yaml", False),
     ("docs/Dockerfile.md", False), ("dockerfile_test.go", False)],
)
def test_which_files_are_dockerfiles(name, claimed):
    from scanner.documents import dockerfile

    assert dockerfile.claims(name, b"FROM alpine:3.20\n") is claimed
