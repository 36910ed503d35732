"""Hostile and broken input through every parser and engine entry point (issue 9, part 1).

For every input: findings where the content is valid, a one-line Problem where it is not, and never
an exception. `pipeline()` runs the parsers without the safety net the scan has, so a parser bug
fails here instead of hiding behind a generic "could not parse" problem.
"""

from __future__ import annotations

import json
import os
import string

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.hostile_helpers import pipeline

# HOSTILE_EXAMPLES=2000 for a deeper run than the suite's.
FUZZ = settings(max_examples=int(os.environ.get("HOSTILE_EXAMPLES", "60")), deadline=None, suppress_health_check=[HealthCheck.too_slow])

# -- generic building blocks ---------------------------------------------------------------------

_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.floats(allow_nan=True),
    st.text(max_size=20), st.sampled_from(["*", "0.0.0.0/0", "root", "0", "${var.x}", "true", "{{ .Values.x }}"]),
)  # fmt: skip
_json_values = st.recursive(
    _scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8) | st.sampled_from(
        ["resources", "values", "address", "type", "name", "mode", "child_modules", "root_module", "change",
         "actions", "after_unknown", "expressions", "references", "module_calls", "module", "configuration",
         "planned_values", "resource_changes", "kind", "spec", "containers", "securityContext", "metadata",
         "services", "image", "user", "privileged", "data", "stringData", "items", "Statement", "Action"]),
        children, max_size=5),
    max_leaves=25,
)  # fmt: skip


def _mutate(data: bytes, edits: list[tuple[int, int, bytes]]) -> bytes:
    """Delete/insert bytes at positions (mod length): turns valid text into realistic breakage."""
    out = bytearray(data)
    for pos, delete, insert in edits:
        at = pos % (len(out) + 1)
        out[at : at + delete] = insert
    return bytes(out)


_edits = st.lists(
    st.tuples(st.integers(0, 10_000), st.integers(0, 3),
              st.sampled_from([b"", b"{", b"}", b"[", b"]", b"\"", b"'", b"\n", b"\\", b"\\\n", b"\0", b"\xff\xfe",
                               b"${", b"<<EOF\n", b":", b"- ", b"&a ", b"*a", b"!!python/object:os.system ", b"\r\n",
                               b"\t", b"#", b"---\n", b"%{", b"=", b"\xe2\x80", b"\xc3("])),
    max_size=6,
)  # fmt: skip

# -- seeds: valid files each parser fully understands --------------------------------------------

K8S = b"""apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: default}
spec:
  template:
    spec:
      containers:
        - name: web
          image: nginx:1.25
          securityContext: {privileged: true, runAsUser: 0}
---
apiVersion: v1
kind: Secret
metadata: {name: s}
data:
  password: c3VwZXJzZWNyZXRwYXNzd29yZDEyMw==
"""
COMPOSE = b"""services:
  web:
    image: nginx
    privileged: true
    user: root
    environment:
      - PASSWORD=hunter2hunter2
"""
DOCKERFILE = b"""# syntax=docker/dockerfile:1
FROM alpine:3.19 AS build
ARG VERSION=1
ENV PATH=/usr/local/bin:$PATH
RUN apk add --no-cache curl \\
    && echo done
RUN <<EOF
echo hello
EOF
FROM scratch
COPY --from=build /bin/sh /bin/sh
USER root
"""
HCL = b"""resource "aws_s3_bucket" "b" {
  bucket = "my-${var.env}-bucket"
  lifecycle { prevent_destroy = false }
}
resource "aws_iam_policy" "p" {
  policy = jsonencode({
    Statement = [{ Effect = "Allow", Action = "*", Resource = "*" }]
  })
}
variable "env" { default = "prod" }
locals { doc = <<EOT
hello ${var.env}
EOT
}
"""
PLAN = json.dumps({
    "format_version": "1.2", "terraform_version": "1.7.0",
    "planned_values": {"root_module": {"resources": [
        {"address": "aws_db_instance.db", "mode": "managed", "type": "aws_db_instance", "name": "db",
         "values": {"deletion_protection": False, "engine": "postgres"}}]}},
    "resource_changes": [{"address": "aws_db_instance.db", "change": {"actions": ["create"], "after_unknown": {}}}],
    "configuration": {"root_module": {"resources": [{"address": "aws_db_instance.db", "expressions": {}}]}},
}).encode()  # fmt: skip

SEEDS = [
    ("deploy/app.yaml", K8S), ("docker-compose.yml", COMPOSE), ("Dockerfile", DOCKERFILE),
    ("infra/main.tf", HCL), ("plan.json", PLAN), ("infra/main.tf.json", json.dumps({"resource": {
        "aws_s3_bucket": {"b": {"bucket": "x"}}}}).encode()), ("prod.tfvars", b'region = "eu-west-1"\n'),
]  # fmt: skip


@pytest.mark.parametrize(("path", "data"), SEEDS, ids=[p for p, _ in SEEDS])
def test_seeds_are_understood(path, data):
    """The seeds parse cleanly, so the fuzzers below start from content each parser fully reads."""
    _, problems = pipeline(path, data)
    assert problems == []


@pytest.mark.parametrize(("path", "data"), SEEDS, ids=[p for p, _ in SEEDS])
@FUZZ
@given(edits=_edits)
def test_mutated_files_never_raise(path, data, edits):
    pipeline(path, _mutate(data, edits))


@FUZZ
@given(value=_json_values, name=st.sampled_from(["plan.json", "main.tf.json", "x.tfvars.json"]))
def test_json_of_any_shape_never_raises(value, name):
    """Plan JSON and .tf.json with wrong types where objects are expected (lists, strings, numbers)."""
    data = json.dumps(value, allow_nan=True).encode()
    if name == "plan.json":  # make sure the plan module claims it
        data = b'{"format_version": "1.0", "planned_values": ' + data + b', "resource_changes": ' + data + b"}"
    pipeline(name, data)


@FUZZ
@given(value=_json_values, key=st.sampled_from(["planned_values", "resource_changes", "configuration",
                                                "prior_state", "root_module"]))  # fmt: skip
def test_plan_with_wrong_types_in_known_places(value, key):
    plan = json.loads(PLAN)
    plan[key] = json.loads(json.dumps(value))
    if isinstance(plan.get("planned_values"), dict):
        plan["planned_values"]["root_module"] = json.loads(json.dumps(value))
    pipeline("plan.json", json.dumps(plan, allow_nan=True).encode())


@FUZZ
@given(value=_json_values, kind=st.sampled_from(["Pod", "Deployment", "CronJob", "Secret", "List",
                                                 "NetworkPolicy", "RoleBinding", "ClusterRole", "Namespace"]))  # fmt: skip
def test_kubernetes_objects_of_any_shape_never_raise(value, kind):
    doc = {"apiVersion": "v1", "kind": kind, "metadata": value, "spec": value, "data": value, "items": value,
           "rules": value, "subjects": value, "roleRef": value}  # fmt: skip
    pipeline("k8s/obj.yaml", yaml.safe_dump(doc).encode())


@FUZZ
@given(value=_json_values)
def test_compose_of_any_shape_never_raises(value):
    doc = {"services": {"web": value, "db": {"image": value, "user": value, "environment": value}}, "x": value}
    pipeline("compose.yaml", yaml.safe_dump(doc).encode())


_docker_words = st.sampled_from(
    ["FROM", "RUN", "USER", "ENV", "ARG", "COPY", "ADD", "EXPOSE", "HEALTHCHECK", "ONBUILD", "SHELL", "CMD",
     "ENTRYPOINT", "LABEL", "WORKDIR", "alpine", "scratch", "AS", "--from=0", "--mount=type=secret,id=x",
     "<<EOF", "<<-EOT", "EOF", "\\", "`", "[", "]", '"', "${X:-y}", "$X", "root", "0:0", "\0", "#", "# escape=`",
     "\r", "--chown=1:1", "--platform=$BUILDPLATFORM", "80/tcp"]
)  # fmt: skip


@FUZZ
@given(lines=st.lists(st.lists(_docker_words | st.text(string.printable, max_size=6), max_size=6), max_size=12))
def test_dockerfile_token_soup_never_raises(lines):
    pipeline("Dockerfile", "\n".join(" ".join(words) for words in lines).encode("utf-8", "surrogateescape"))


_hcl_words = st.sampled_from(
    ["resource", "data", "variable", "locals", "module", '"aws_s3_bucket"', '"b"', "{", "}", "[", "]", "(", ")",
     "=", '"', "${", "%{", "}", "<<EOT", "<<-EOT", "EOT", "jsonencode(", "var.x", "for", "in", ":", "=>", "?",
     "#", "//", "/*", "*/", ",", "\\", "true", "null", "1e999", "policy", "dynamic", "lifecycle"]
)  # fmt: skip


@FUZZ
@given(lines=st.lists(st.lists(_hcl_words | st.text(string.printable, max_size=5), max_size=8), max_size=12))
def test_hcl_token_soup_never_raises(lines):
    pipeline("main.tf", "\n".join(" ".join(words) for words in lines).encode())


@FUZZ
@given(data=st.binary(max_size=400), name=st.sampled_from(
    ["a.yaml", "Dockerfile", "main.tf", "plan.json", "compose.yaml", "x.tfvars", "kustomization.yaml", "Chart.yaml",
     "templates/x.yaml", "a.tf.json"]))  # fmt: skip
def test_random_bytes_with_text_extensions_never_raise(data, name):
    pipeline(name, b"apiVersion: v1\nkind: Pod\n" + data if name.endswith(".yaml") else data)
