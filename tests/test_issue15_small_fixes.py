"""Small fixes found with the Kubernetes work: an image behind an unset registry ARG is still untagged,
KMS signing keys are not asked to rotate, and `service:*` on `*` is one finding, not two."""

from __future__ import annotations

import json

import pytest

from scanner.cli import main


def findings(tmp_path, capsys, name, text, only):
    (tmp_path / name).write_text(text)
    main(["scan", str(tmp_path), "--config", "/dev/null", "-f", "json", "--only", only, "--exit-zero"])
    return [(f["rule"], f["line"]) for f in json.loads(capsys.readouterr().out)["findings"]]


@pytest.mark.parametrize("text, expected", [
    ("ARG REGISTRY\nFROM ${REGISTRY}/ubuntu\n", [("dockerfile-image-unpinned", 2)]),
    ("ARG REGISTRY\nFROM $REGISTRY/library/ubuntu:latest\n", [("dockerfile-image-unpinned", 2)]),
    ("ARG REGISTRY\nFROM ${REGISTRY}/ubuntu:22.04\n", []),
    ("ARG REGISTRY\nARG TAG\nFROM ${REGISTRY}/ubuntu:${TAG}\n", []),
    ("ARG BASE\nFROM ${BASE}\n", []),
])
def test_unset_registry_arg(tmp_path, capsys, text, expected):
    assert findings(tmp_path, capsys, "Dockerfile", text, "dockerfile-image-unpinned") == expected


def test_kms_rotation_ignores_sign_verify_keys(tmp_path, capsys):
    text = ('resource "aws_kms_key" "sign" {\n  key_usage = "SIGN_VERIFY"\n}\n'
            'resource "aws_kms_key" "data" {\n  description = "data"\n}\n')
    assert findings(tmp_path, capsys, "main.tf", text, "tf-aws-kms-rotation") == [("tf-aws-kms-rotation", 4)]


@pytest.mark.parametrize("action, rule", [
    ("sqs:*", "tf-aws-iam-any-service-wildcard"),
    ("s3:*", "tf-aws-iam-service-wildcard"),
])
def test_service_wildcard_on_every_resource_is_reported_once(tmp_path, capsys, action, rule):
    text = ('resource "aws_iam_policy" "p" {\n  name = "p"\n  policy = jsonencode({\n    Version = "2012-10-17"\n'
            f'    Statement = [{{\n      Effect   = "Allow"\n      Action   = "{action}"\n      Resource = "*"\n    }}]\n'
            '  })\n}\n')
    assert findings(tmp_path, capsys, "main.tf", text, "terraform-aws") == [(rule, 7)]
