"""AWS service rules whose verdict depends on another resource or on a default: both shapes of each
relation (inline block and split resource), unfollowable references, and defaults that count."""

from __future__ import annotations

from pathlib import Path

from scanner import documents as docs_mod
from scanner.engines import policy
from scanner.model import Item
from scanner.rules.loader import load_pack

ROOT = Path(__file__).resolve().parent.parent
RULES = {r.id: r for r in load_pack(ROOT / "policies" / "terraform-aws.yaml")}


def run(content: str, rule_id: str) -> list[int]:
    docs, problems = docs_mod.parse_item(Item("main.tf", content.encode()))
    assert problems == []
    return sorted(f.line for f in policy.run([RULES[rule_id]], docs, {}))


BUCKET = 'resource "aws_s3_bucket" "data" {\n  bucket = "acme-data"\n}\n'


def test_s3_access_logging_inline_v3_and_split_v4_shapes():
    inline = 'resource "aws_s3_bucket" "data" {\n  bucket = "acme-data"\n  logging {\n    target_bucket = "acme-logs"\n  }\n}\n'
    split = BUCKET + 'resource "aws_s3_bucket_logging" "data" {\n  bucket        = aws_s3_bucket.data.id\n  target_bucket = "acme-logs"\n}\n'
    by_name = BUCKET + 'resource "aws_s3_bucket_logging" "data" {\n  bucket        = "acme-data"\n  target_bucket = "acme-logs"\n}\n'
    assert run(BUCKET, "tf-aws-s3-access-logging") == [1]
    assert run(inline, "tf-aws-s3-access-logging") == []
    assert run(split, "tf-aws-s3-access-logging") == []
    assert run(by_name, "tf-aws-s3-access-logging") == []


def test_s3_access_logging_unfollowable_reference_and_log_target_buckets_are_not_reported():
    unfollowable = BUCKET + 'resource "aws_s3_bucket_logging" "x" {\n  bucket        = var.bucket_id\n  target_bucket = "acme-logs"\n}\n'
    log_target = (
        'resource "aws_s3_bucket" "logs" {\n  bucket = "acme-logs"\n}\n'
        'resource "aws_s3_bucket_logging" "other" {\n  bucket        = var.other\n  target_bucket = aws_s3_bucket.logs.id\n}\n'
    )
    trail_target = (
        'resource "aws_s3_bucket" "trail" {\n  bucket = "acme-trail"\n}\n'
        'resource "aws_cloudtrail" "t" {\n  s3_bucket_name = aws_s3_bucket.trail.id\n}\n'
    )
    assert run(unfollowable, "tf-aws-s3-access-logging") == []
    assert run(log_target, "tf-aws-s3-access-logging") == []
    assert run(trail_target, "tf-aws-s3-access-logging") == []


def test_vpc_flow_logs_relation():
    vpc = 'resource "aws_vpc" "main" {\n  cidr_block = "10.0.0.0/16"\n}\n'
    with_log = vpc + 'resource "aws_flow_log" "f" {\n  vpc_id       = aws_vpc.main.id\n  traffic_type = "ALL"\n}\n'
    other_vpc = vpc + 'resource "aws_flow_log" "f" {\n  vpc_id = aws_vpc.other.id\n}\n'
    assert run(vpc, "tf-aws-vpc-flow-logs") == [1]
    assert run(with_log, "tf-aws-vpc-flow-logs") == []
    assert run(other_vpc, "tf-aws-vpc-flow-logs") == [1]


def test_efs_backup_policy_must_be_enabled():
    efs = 'resource "aws_efs_file_system" "fs" {\n  encrypted = true\n}\n'
    disabled = efs + (
        'resource "aws_efs_backup_policy" "fs" {\n  file_system_id = aws_efs_file_system.fs.id\n'
        '  backup_policy {\n    status = "DISABLED"\n  }\n}\n'
    )
    enabled = disabled.replace('"DISABLED"', '"ENABLED"')
    assert run(efs, "tf-aws-efs-backup") == [1]
    assert run(disabled, "tf-aws-efs-backup") == [1]
    assert run(enabled, "tf-aws-efs-backup") == []


def test_imdsv2_missing_metadata_options_is_a_finding_and_unknown_is_not():
    missing = 'resource "aws_instance" "web" {\n  instance_type = "t3.micro"\n}\n'
    optional = 'resource "aws_instance" "web" {\n  metadata_options {\n    http_tokens = "optional"\n  }\n}\n'
    from_var = 'resource "aws_instance" "web" {\n  metadata_options {\n    http_tokens = var.http_tokens\n  }\n}\n'
    assert run(missing, "tf-aws-ec2-imdsv2") == [1]
    assert run(optional, "tf-aws-ec2-imdsv2") == [3]
    assert run(from_var, "tf-aws-ec2-imdsv2") == []


def test_eks_endpoint_public_by_default_and_private_or_restricted_is_fine():
    base = 'resource "aws_eks_cluster" "c" {{\n  name = "c"\n  vpc_config {{\n{}  }}\n}}\n'
    assert run(base.format("    subnet_ids = var.subnets\n"), "tf-aws-eks-public-endpoint") == [1]
    assert run(base.format("    endpoint_public_access = false\n"), "tf-aws-eks-public-endpoint") == []
    assert run(base.format('    public_access_cidrs = ["198.51.100.0/24"]\n'), "tf-aws-eks-public-endpoint") == []
    assert run(base.format("    public_access_cidrs = var.cidrs\n"), "tf-aws-eks-public-endpoint") == []


def test_eks_secrets_encryption_and_logs_through_a_module_call():
    files = {
        "modules/eks/main.tf": 'resource "aws_eks_cluster" "this" {\n  name = var.name\n'
        "  enabled_cluster_log_types = var.log_types\n"
        '  dynamic "encryption_config" {\n    for_each = var.kms_key_arn == null ? [] : [1]\n'
        '    content {\n      resources = ["secrets"]\n    }\n  }\n}\n',
        "modules/eks/variables.tf": 'variable "name" {}\nvariable "log_types" {\n  default = []\n}\n'
        'variable "kms_key_arn" {\n  default = null\n}\n',
        "main.tf": 'module "eks" {\n  source    = "./modules/eks"\n  name      = "prod"\n'
        '  log_types = ["api", "audit", "authenticator", "controllerManager", "scheduler"]\n}\n',
    }
    docs = []
    for path, content in files.items():
        docs.extend(docs_mod.parse_item(Item(path, content.encode()))[0])
    found = policy.run([RULES["tf-aws-eks-control-plane-logs"], RULES["tf-aws-eks-secrets-encryption"]], docs, {})
    # the caller's log types count; the dynamic encryption_config stays unknown and is not reported
    assert found == []


def test_skip_final_snapshot_covers_redshift_docdb_and_neptune():
    for rtype in ("aws_redshift_cluster", "aws_docdb_cluster", "aws_neptune_cluster"):
        content = f'resource "{rtype}" "x" {{\n  skip_final_snapshot = true\n}}\n'
        assert run(content, "tf-aws-rds-skip-final-snapshot") == [2], rtype


def test_plan_bucket_without_split_versioning_is_reported():
    """In a v4+ plan the bucket's own `versioning` is computed (unknown): the split resource decides."""
    findings = policy.run(
        [RULES["tf-aws-s3-versioning"]],
        docs_mod.parse_item(Item("plan.json", (ROOT / "fixtures/terraform/plan/plan.json").read_bytes()))[0],
        {},
    )
    assert [f.message.split(":")[0] for f in findings] == ["aws_s3_bucket.tmp"]
