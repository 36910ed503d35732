"""AWS IAM in Terraform: every resource-based policy checked for public principals, conditions that
restrict nothing, wildcard actions on variable resources, Identity Center permission sets, policies
on users, and one finding per problem."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from scanner import documents as docs_mod
from scanner.engines import policy
from scanner.model import Item
from scanner.rules.loader import load_pack, select_rules

ROOT = Path(__file__).resolve().parent.parent
RULES = select_rules(load_pack(ROOT / "policies" / "terraform-aws.yaml"))


def findings(content: str) -> list[tuple[int, str]]:
    docs, _ = docs_mod.parse_item(Item("main.tf", content.encode()))
    found = policy.run(RULES, docs_mod.finalize(docs), {})
    return sorted((f.line, f.rule_id) for f in found if f.rule_id.startswith(("tf-aws-iam", "tf-aws-resource", "tf-aws-s3-bucket-policy")))


def identity(statement: str) -> str:
    return (
        'resource "aws_iam_policy" "p" {\n  policy = jsonencode({\n    Version = "2012-10-17"\n'
        f"    Statement = [{{ {statement} }}]\n  }})\n}}\n"
    )


@pytest.mark.parametrize(
    ("statement", "rule"),
    [
        ('Effect = "Allow", Action = "*", Resource = "*"', "tf-aws-iam-admin"),
        ('Effect = "Allow", Action = "*", Resource = var.resources', "tf-aws-iam-admin"),
        ('Effect = "Allow", Action = ["*"], Resource = local.all', "tf-aws-iam-admin"),
        ('Effect = "Allow", Action = "*:*", Resource = "arn:aws:*:*:*:*"', "tf-aws-iam-admin"),
        ('Effect = "Allow", Action = "s3:*", Resource = "*"', "tf-aws-iam-service-wildcard"),
        ('Effect = "Allow", Action = "sqs:*", Resource = "*"', "tf-aws-iam-any-service-wildcard"),
        ('Effect = "Allow", Action = "*", Resource = aws_s3_bucket.b.arn', "tf-aws-iam-service-wildcard"),
        ('Effect = "Allow", Action = ["ec2:RunInstances"], Resource = "*"', "tf-aws-iam-write-any-resource"),
        ('Effect = "Allow", Action = "iam:PassRole", Resource = "*"', "tf-aws-iam-passrole-any"),
        ('Effect = "Allow", Action = "s3:GetObject", Resource = "*"', "tf-aws-iam-data-read-any-resource"),
    ],
)
def test_each_wildcard_statement_is_reported_once_by_the_rule_for_its_problem(statement, rule):
    assert findings(identity(statement)) == [(4, rule)]


def test_actions_that_only_support_resource_star_are_not_noise():
    statement = (
        'Effect = "Allow", Action = ["logs:CreateLogGroup", "logs:PutLogEvents", "cloudwatch:PutMetricData",'
        ' "ec2:DescribeInstances", "ecr:GetAuthorizationToken", "sts:GetCallerIdentity"], Resource = "*"'
    )
    assert findings(identity(statement)) == []


def resource_policy(rtype: str, attr: str, statement: str, extra: str = "") -> str:
    return (
        f'resource "{rtype}" "r" {{\n{extra}  {attr} = jsonencode({{\n'
        f"    Statement = [{{ {statement} }}]\n  }})\n}}\n"
    )


CARRIERS = [
    ("aws_s3_bucket_policy", "policy", "tf-aws-s3-bucket-policy-public"),
    ("aws_sqs_queue_policy", "policy", "tf-aws-resource-policy-public"),
    ("aws_sqs_queue", "policy", "tf-aws-resource-policy-public"),
    ("aws_sns_topic_policy", "policy", "tf-aws-resource-policy-public"),
    ("aws_sns_topic", "policy", "tf-aws-resource-policy-public"),
    ("aws_kms_key", "policy", "tf-aws-resource-policy-public"),
    ("aws_kms_key_policy", "policy", "tf-aws-resource-policy-public"),
    ("aws_ecr_repository_policy", "policy", "tf-aws-resource-policy-public"),
    ("aws_secretsmanager_secret_policy", "policy", "tf-aws-resource-policy-public"),
    ("aws_secretsmanager_secret", "policy", "tf-aws-resource-policy-public"),
    ("aws_opensearch_domain", "access_policies", "tf-aws-resource-policy-public"),
    ("aws_opensearch_domain_policy", "access_policies", "tf-aws-resource-policy-public"),
    ("aws_elasticsearch_domain_policy", "access_policies", "tf-aws-resource-policy-public"),
    ("aws_efs_file_system_policy", "policy", "tf-aws-resource-policy-public"),
    ("aws_api_gateway_rest_api", "policy", "tf-aws-resource-policy-public"),
    ("aws_api_gateway_rest_api_policy", "policy", "tf-aws-resource-policy-public"),
    ("aws_glacier_vault", "access_policy", "tf-aws-resource-policy-public"),
]


@pytest.mark.parametrize(("rtype", "attr", "rule"), CARRIERS)
def test_every_resource_based_policy_is_checked_for_a_public_principal(rtype, attr, rule):
    public = 'Effect = "Allow", Principal = { AWS = "*" }, Action = "*", Resource = "*"'
    assert (3, rule) in findings(resource_policy(rtype, attr, public))


@pytest.mark.parametrize(("rtype", "attr", "rule"), CARRIERS)
def test_a_real_condition_restricts_a_public_principal(rtype, attr, rule):
    restricted = (
        'Effect = "Allow", Principal = "*", Action = "*", Resource = "*",'
        ' Condition = { StringEquals = { "aws:PrincipalOrgID" = "o-a1b2c3d4e5" } }'
    )
    assert rule not in {r for _, r in findings(resource_policy(rtype, attr, restricted))}


@pytest.mark.parametrize(
    "condition",
    [
        '{ StringLike = { "aws:PrincipalArn" = "arn:aws:iam::*" } }',
        '{ StringEquals = { "aws:SourceAccount" = "*" } }',
        '{ StringLike = { "aws:PrincipalOrgID" = "o-*" } }',
        '{ IpAddress = { "aws:SourceIp" = ["0.0.0.0/0", "::/0"] } }',
        '{ StringNotEquals = { "aws:SourceAccount" = "123456789012" } }',
        '{ StringEqualsIfExists = { "aws:SourceVpce" = "vpce-0a1b2c3d" } }',
        '{ Bool = { "aws:SecureTransport" = "true" } }',
    ],
)
def test_a_condition_that_restricts_nothing_does_not_hide_a_public_principal(condition):
    statement = f'Effect = "Allow", Principal = "*", Action = "sqs:SendMessage", Resource = "*", Condition = {condition}'
    assert findings(resource_policy("aws_sqs_queue_policy", "policy", statement)) == [(3, "tf-aws-resource-policy-public")]


@pytest.mark.parametrize(
    "condition",
    [
        '{ ArnEquals = { "aws:SourceArn" = aws_sns_topic.t.arn } }',
        '{ StringEquals = { "aws:SourceAccount" = "123456789012" } }',
        '{ StringEquals = { "aws:SourceAccount" = var.account_id } }',
        '{ StringEquals = { "aws:SourceVpce" = "vpce-0a1b2c3d" } }',
        '{ IpAddress = { "aws:SourceIp" = ["203.0.113.0/24"] } }',
    ],
)
def test_conditions_naming_an_account_resource_endpoint_or_network_restrict(condition):
    statement = f'Effect = "Allow", Principal = "*", Action = "sqs:SendMessage", Resource = "*", Condition = {condition}'
    assert findings(resource_policy("aws_sqs_queue_policy", "policy", statement)) == []


def test_trust_policy_with_a_wildcard_principal_arn_condition_is_public():
    statement = (
        'Effect = "Allow", Principal = { AWS = "*" }, Action = "sts:AssumeRole",'
        ' Condition = { StringLike = { "aws:PrincipalArn" = "arn:aws:iam::*:role/ci" } }'
    )
    content = resource_policy("aws_iam_role", "assume_role_policy", statement)
    assert findings(content) == [(3, "tf-aws-iam-trust-public")]


def test_identity_center_permission_sets_with_administrator_access():
    content = (
        'resource "aws_ssoadmin_managed_policy_attachment" "a" {\n'
        '  managed_policy_arn = "arn:aws:iam::aws:policy/AdministratorAccess"\n'
        "  permission_set_arn = aws_ssoadmin_permission_set.ops.arn\n}\n"
        'resource "aws_ssoadmin_permission_set_inline_policy" "b" {\n'
        "  permission_set_arn = aws_ssoadmin_permission_set.ops.arn\n"
        '  inline_policy = jsonencode({ Statement = [{ Effect = "Allow", Action = "*", Resource = "*" }] })\n}\n'
    )
    assert findings(content) == [(2, "tf-aws-iam-admin-managed-policy"), (7, "tf-aws-iam-admin")]


@pytest.mark.parametrize(
    "block",
    [
        'resource "aws_iam_user_policy" "u" {\n  user   = aws_iam_user.ci.name\n  policy = data.aws_iam_policy_document.ci.json\n}\n',
        'resource "aws_iam_user_policy_attachment" "u" {\n  user       = aws_iam_user.ci.name\n  policy_arn = aws_iam_policy.ci.arn\n}\n',
        'resource "aws_iam_policy_attachment" "u" {\n  name       = "ci"\n  users      = [aws_iam_user.ci.name]\n  policy_arn = aws_iam_policy.ci.arn\n}\n',
        'resource "aws_iam_user_policy_attachments_exclusive" "u" {\n  user_name   = aws_iam_user.ci.name\n  policy_arns = [aws_iam_policy.ci.arn]\n}\n',
    ],
)
def test_policies_attached_to_users(block):
    assert "tf-aws-iam-user-policy" in {r for _, r in findings(block)}


def test_public_lambda_permission():
    from scanner.rules.loader import load_pack as load

    rule = {r.id: r for r in load(ROOT / "policies" / "terraform-aws.yaml")}["tf-aws-lambda-permission-public"]
    docs, _ = docs_mod.parse_item(
        Item("main.tf", b'resource "aws_lambda_permission" "p" {\n  action    = "lambda:InvokeFunction"\n  principal = "*"\n}\n')
    )
    assert [(f.line, f.rule_id) for f in policy.run([rule], docs, {})] == [(3, "tf-aws-lambda-permission-public")]


def test_admin_managed_policy_arn_built_with_the_partition():
    content = (
        'data "aws_partition" "current" {}\n'
        'resource "aws_iam_role_policy_attachment" "admin" {\n'
        "  role       = aws_iam_role.ci.name\n"
        '  policy_arn = "arn:${data.aws_partition.current.partition}:iam::aws:policy/AdministratorAccess"\n'
        "}\n"
    )
    assert findings(content) == [(4, "tf-aws-iam-admin-managed-policy")]


UNATTACHED = """data "aws_iam_policy_document" "ci" {
  statement {
    effect    = "Allow"
    actions   = ["s3:*"]
    resources = ["*"]
  }
%s}
"""
SECOND = """
  statement {
    effect    = "Allow"
    actions   = ["ec2:*"]
    resources = ["*"]
  }
"""


def test_statements_of_an_unattached_policy_document_are_numbered_and_fingerprinted_apart(cli, tmp_path):
    (tmp_path / "main.tf").write_text(UNATTACHED % SECOND)
    run = cli("scan", ".", "-f", "json", cwd=tmp_path)
    found = [f for f in json.loads(run.out)["findings"] if f["rule"] == "tf-aws-iam-service-wildcard"]
    assert [(f["line"], f["evidence"]) for f in found] == [
        (4, "data.aws_iam_policy_document.ci statement #1"),
        (10, "data.aws_iam_policy_document.ci statement #2"),
    ]
    assert len({f["fingerprint"] for f in found}) == 2


def test_a_baselined_statement_does_not_hide_a_new_one_in_the_same_document(cli, tmp_path):
    (tmp_path / "main.tf").write_text(UNATTACHED % "")
    assert cli("baseline", "create", ".", cwd=tmp_path).code == 0
    (tmp_path / "main.tf").write_text(UNATTACHED % SECOND)
    run = cli("scan", ".", "--baseline", ".scanner-baseline.json", "-f", "json", cwd=tmp_path)
    active = [(f["line"], f["rule"]) for f in json.loads(run.out)["findings"] if f["suppressed"] is None]
    assert run.code == 1 and active == [(10, "tf-aws-iam-service-wildcard")]
