"""Terraform evaluation: module calls pass their arguments into the child's variables, tfvars, locals,
count / for_each over known values, and the simple expressions that are evaluated when every input
is known. Findings in a child module point at the line that sets the value and name the call chain."""

from __future__ import annotations

from pathlib import Path

import pytest

from scanner import documents as docs_mod
from scanner.engines import policy
from scanner.model import Item
from scanner.rules.loader import load_pack

ROOT = Path(__file__).resolve().parent.parent
RULES = {r.id: r for r in load_pack(ROOT / "policies" / "terraform-aws.yaml")}


def scan(files: dict[str, str], *rule_ids: str):
    docs, problems = [], []
    for path, content in files.items():
        more, probs = docs_mod.parse_item(Item(path, content.encode()))
        docs.extend(more)
        problems.extend(probs)
    rules = [RULES[i] for i in rule_ids] if rule_ids else list(RULES.values())
    return policy.run(rules, docs_mod.finalize(docs), {}), problems


def hits(findings):
    return sorted((f.path, f.line, f.rule_id) for f in findings if f.suppression is None)


BUCKET_MODULE = {
    "modules/bucket/main.tf": 'resource "aws_s3_bucket" "this" {\n  bucket        = var.name\n  force_destroy = var.force_destroy\n}\n',
    "modules/bucket/variables.tf": 'variable "name" {}\n\nvariable "force_destroy" {\n  type    = bool\n  default = false\n}\n',
}


def test_force_destroy_passed_to_a_module_is_found_at_the_callers_argument():
    files = {
        **BUCKET_MODULE,
        "main.tf": 'module "uploads" {\n  source        = "./modules/bucket"\n  name          = "acme-uploads"\n  force_destroy = true\n}\n',
    }
    findings, problems = scan(files, "tf-aws-s3-force-destroy")
    assert problems == []
    assert hits(findings) == [("main.tf", 4, "tf-aws-s3-force-destroy")]
    assert "(via module.uploads)" in findings[0].message


def test_child_default_is_used_only_when_the_caller_does_not_set_it():
    files = {
        "modules/db/main.tf": 'resource "aws_db_instance" "this" {\n  storage_encrypted   = true\n'
        "  deletion_protection = var.deletion_protection\n}\n",
        "modules/db/variables.tf": 'variable "deletion_protection" {\n  default = false\n}\n',
        "main.tf": 'module "protected" {\n  source              = "./modules/db"\n  deletion_protection = true\n}\n'
        'module "default" {\n  source = "./modules/db"\n}\n',
    }
    findings, _ = scan(files, "tf-aws-rds-deletion-protection")
    # only the call that leaves the variable unset, reported at the child's default
    assert hits(findings) == [("modules/db/variables.tf", 2, "tf-aws-rds-deletion-protection")]
    assert "(via module.default)" in findings[0].message


def test_a_called_module_is_not_also_judged_alone_with_its_defaults():
    files = {
        **BUCKET_MODULE,
        "main.tf": 'module "uploads" {\n  source = "./modules/bucket"\n  name   = "x"\n}\n',
    }
    assert scan(files, "tf-aws-s3-force-destroy")[0] == []


def test_two_levels_of_module_calls_name_the_chain():
    files = {
        "modules/rds/main.tf": 'resource "aws_db_instance" "this" {\n  storage_encrypted   = true\n'
        "  deletion_protection = var.deletion_protection\n}\n",
        "modules/rds/variables.tf": 'variable "deletion_protection" {\n  default = true\n}\n',
        "modules/db/main.tf": 'module "rds" {\n  source              = "../rds"\n  deletion_protection = var.protect\n}\n',
        "modules/db/variables.tf": 'variable "protect" {\n  default = true\n}\n',
        "env/prod/main.tf": 'module "db" {\n  source  = "../../modules/db"\n  protect = false\n}\n',
    }
    findings, _ = scan(files, "tf-aws-rds-deletion-protection")
    assert hits(findings) == [("env/prod/main.tf", 3, "tf-aws-rds-deletion-protection")]
    assert "module.db → module.rds" in findings[0].message


def test_unknown_argument_stays_unknown_and_never_fires():
    files = {
        **BUCKET_MODULE,
        "main.tf": 'module "uploads" {\n  source        = "./modules/bucket"\n  name          = "x"\n'
        "  force_destroy = data.aws_ssm_parameter.fd.value\n}\n",
    }
    assert scan(files, "tf-aws-s3-force-destroy")[0] == []


def test_remote_module_is_noted_once_per_call_and_not_a_failure():
    files = {
        "main.tf": 'module "vpc" {\n  source = "terraform-aws-modules/vpc/aws"\n}\n'
        'module "eks" {\n  source = "git::https://example.com/eks.git?ref=v1"\n}\n',
    }
    _, problems = scan(files)
    assert [(p.line, p.level) for p in problems] == [(1, "info"), (4, "info")]
    assert all("not scanned" in p.message for p in problems)


def test_count_zero_from_tfvars_drops_the_resource_and_for_each_expands_known_keys():
    files = {
        "main.tf": 'variable "create" {\n  default = true\n}\nvariable "teams" {\n  default = []\n}\n'
        'resource "aws_s3_bucket" "maybe" {\n  count         = var.create ? 1 : 0\n  force_destroy = true\n}\n'
        'resource "aws_kms_key" "team" {\n  for_each            = toset(var.teams)\n'
        '  enable_key_rotation = each.key != "sandbox"\n}\n',
        "terraform.tfvars": 'create = false\nteams  = ["payments", "sandbox"]\n',
    }
    findings, _ = scan(files, "tf-aws-s3-force-destroy", "tf-aws-kms-rotation")
    assert hits(findings) == [("main.tf", 13, "tf-aws-kms-rotation")]
    assert findings[0].message.startswith('aws_kms_key.team["sandbox"]')


def test_locals_and_auto_tfvars_feed_expressions():
    files = {
        "main.tf": 'variable "env" {\n  default = "dev"\n}\nvariable "trail" {\n  default = {}\n}\n'
        'locals {\n  prod = var.env == "prod"\n  protect = local.prod || var.env == "staging"\n}\n'
        'resource "aws_db_instance" "db" {\n  storage_encrypted   = true\n  deletion_protection = local.protect\n}\n'
        'resource "aws_cloudtrail" "t" {\n  is_multi_region_trail = lookup(var.trail, "multi", true)\n}\n',
        "env.auto.tfvars": 'env = "staging"\ntrail = {\n  multi = false\n}\n',
    }
    findings, _ = scan(files, "tf-aws-rds-deletion-protection", "tf-aws-cloudtrail-single-region")
    assert hits(findings) == [("main.tf", 16, "tf-aws-cloudtrail-single-region")]


# -- the expression evaluator ---------------------------------------------------------------------


def _eval(text: str, variables: dict | None = None):
    from scanner.documents.terraform.evaluate.expressions import evaluate, parse_expression
    from scanner.documents.terraform.evaluate.scope import Binding, Scope
    from scanner.documents.tree import wrap

    scope = Scope("", {k: Binding(wrap(v, 1), "vars.tf", 1) for k, v in (variables or {}).items()}, {}, {})
    return evaluate(parse_expression(text), scope.lookup)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('"${var.name}-logs"', "acme-logs"),
        ('var.env == "prod" ? true : false', False),
        ('merge(var.tags, { Team = "data" })', {"Owner": "ops", "Team": "data"}),
        ("concat(var.list, [3])", [1, 2, 3]),
        ('lookup(var.tags, "Owner", "none")', "ops"),
        ('lookup(var.tags, "Missing", "none")', "none"),
        ("jsonencode({ Effect = var.effect })", {"Effect": "Allow"}),
        ("tostring(var.n)", "5"),
        ('tobool("true")', True),
        ('tonumber("42")', 42),
        ("lower(var.mixed)", "dev"),
        ("upper(var.env)", "DEV"),
        ('format("%s-%d", var.big, var.n)', "DEV-5"),
        ("var.n * 2 + 1", 11),
        ("!var.flag && var.n > 3", True),
        ("var.list[1]", 2),
        ('try(var.tags.Missing, "fallback")', "fallback"),
        ("coalesce(var.none, var.big)", "DEV"),
    ],
)
def test_expressions_are_evaluated_when_every_input_is_known(text, expected):
    variables = {"name": "acme", "env": "dev", "mixed": "Dev", "big": "DEV", "tags": {"Owner": "ops"},
                 "list": [1, 2], "effect": "Allow", "n": 5, "flag": False, "none": None}
    assert _eval(text, variables) == expected


@pytest.mark.parametrize(
    "text",
    [
        "aws_s3_bucket.logs.id",
        '"${aws_s3_bucket.logs.arn}/*"',
        "var.missing",
        "[for s in var.list : s]",
        "var.list[*]",
        "timestamp()",
        "var.unknown ? 1 : 2",
    ],
)
def test_everything_else_is_unknown(text):
    from scanner.documents.tree import Unknown

    assert isinstance(_eval(text, {"list": [1]}), Unknown)


def test_a_partly_known_template_fills_in_the_known_parts():
    from scanner.documents.terraform.evaluate.expressions import evaluate, parse_template
    from scanner.documents.terraform.evaluate.scope import Binding, Scope
    from scanner.documents.tree import Unknown

    scope = Scope("", {"bucket": Binding("acme-data", "v.tf", 1)}, {}, {})
    value = evaluate(parse_template("arn:aws:s3:::${var.bucket}/${aws_s3_object.o.key}"), scope.lookup)
    assert isinstance(value, Unknown) and value.text.startswith("arn:aws:s3:::acme-data/${")


def test_a_module_shared_by_several_examples_reports_a_child_default_once_and_caller_values_each():
    """The shape of a module repository: the module at the root, examples calling "../..". A finding
    decided by the module's own default is one finding; one decided by an example's argument is
    reported at that argument."""
    files = {
        "main.tf": 'locals {\n  create = var.create && true\n}\n'
        'resource "aws_eks_cluster" "this" {\n  count = local.create ? 1 : 0\n  name  = var.name\n'
        "  vpc_config {\n    endpoint_public_access = var.public\n    public_access_cidrs    = var.public_cidrs\n  }\n}\n",
        "variables.tf": 'variable "create" {\n  default = true\n}\nvariable "name" {}\n'
        'variable "public" {\n  default = true\n}\nvariable "public_cidrs" {\n  default = ["0.0.0.0/0"]\n}\n',
        "examples/basic/main.tf": 'module "eks" {\n  source = "../.."\n  name   = "basic"\n}\n',
        "examples/complete/main.tf": 'module "eks" {\n  source = "../.."\n  name   = "complete"\n}\n',
        "examples/private/main.tf": 'module "eks" {\n  source = "../.."\n  name   = "private"\n  public = false\n}\n',
        "examples/office/main.tf": 'module "eks" {\n  source       = "../.."\n  name         = "office"\n'
        '  public_cidrs = ["0.0.0.0/0", "203.0.113.0/24"]\n}\n',
        "examples/disabled/main.tf": 'module "eks" {\n  source = "../.."\n  name   = "off"\n  create = false\n}\n',
    }
    findings, problems = scan(files, "tf-aws-eks-public-endpoint")
    assert problems == []
    assert hits(findings) == [
        ("examples/office/main.tf", 4, "tf-aws-eks-public-endpoint"),
        ("variables.tf", 9, "tf-aws-eks-public-endpoint"),
    ]
    office = next(f for f in findings if f.path.startswith("examples/office"))
    assert "examples/office → module.eks" in office.message


def test_cycles_and_hostile_expressions_stay_unknown_without_failing():
    deep = "(" * 400 + "var.x" + ")" * 400
    files = {
        "a/main.tf": 'module "b" {\n  source = "../b"\n}\nlocals {\n  p = local.q\n  q = local.p\n}\n'
        f'resource "aws_s3_bucket" "x" {{\n  force_destroy = local.p\n  bucket = {deep}\n}}\n',
        "b/main.tf": 'module "a" {\n  source = "../a"\n}\n'
        'resource "aws_s3_bucket" "y" {\n  for_each      = { for i in range(100000) : i => i }\n  force_destroy = true\n}\n',
    }
    findings, problems = scan(files, "tf-aws-s3-force-destroy")
    assert [p for p in problems if p.level != "info"] == []
    assert hits(findings) == [("b/main.tf", 6, "tf-aws-s3-force-destroy")]


def test_evaluation_leaves_the_documents_as_parsed():
    """A second scan of the same documents (a long-lived process, forked workers) finds the same."""
    files = {
        **BUCKET_MODULE,
        "main.tf": 'module "uploads" {\n  source        = "./modules/bucket"\n  name          = "x"\n  force_destroy = var.fd\n}\n'
        'variable "fd" {\n  default = true\n}\n',
    }
    docs = []
    for path, content in files.items():
        docs.extend(docs_mod.parse_item(Item(path, content.encode()))[0])
    first = policy.run([RULES["tf-aws-s3-force-destroy"]], docs, {})
    second = policy.run([RULES["tf-aws-s3-force-destroy"]], docs, {})
    assert first == second and [(f.path, f.line) for f in first] == [("main.tf", 7)]


def test_a_module_whose_only_call_has_count_zero_is_not_created():
    files = {
        **BUCKET_MODULE,
        "modules/bucket/variables.tf": 'variable "name" {}\n\nvariable "force_destroy" {\n  default = true\n}\n',
        "main.tf": 'module "uploads" {\n  source = "./modules/bucket"\n  count  = 0\n  name   = "x"\n}\n',
    }
    assert scan(files, "tf-aws-s3-force-destroy")[0] == []
