"""Hard-coded credentials in Terraform: judged by position (a literal in a password attribute, whatever
it looks like), reported where the literal is written, reusable by any pack through `op: literal`;
and secrets hidden in base64 user_data or container environment pairs, through the secrets engine."""

from __future__ import annotations

import base64
import gzip
import json
from pathlib import Path

import pytest

from scanner import documents as docs_mod
from scanner.engines import policy
from scanner.model import Item
from scanner.rules.loader import load_pack

ROOT = Path(__file__).resolve().parent.parent
RULES = {r.id: r for r in load_pack(ROOT / "policies" / "terraform-aws.yaml")}
CREDENTIAL = RULES["tf-aws-hardcoded-credential"]


def run(files: dict[str, str], rules) -> list[tuple[str, int, str]]:
    docs = []
    for path, content in files.items():
        docs.extend(docs_mod.parse_item(Item(path, content.encode()))[0])
    return sorted((f.path, f.line, f.rule_id) for f in policy.run(rules, docs_mod.finalize(docs), {}))


@pytest.mark.parametrize("value", ['"Aa12345678"', '"AdminPassword123!"', '"changeme"', "12345678"])
def test_a_literal_password_is_a_finding_whatever_it_looks_like(value):
    content = f'resource "aws_db_instance" "db" {{\n  username = "app"\n  password = {value}\n}}\n'
    assert run({"main.tf": content}, [CREDENTIAL]) == [("main.tf", 3, "tf-aws-hardcoded-credential")]


@pytest.mark.parametrize(
    "value",
    [
        "random_password.db.result",
        "var.db_password",
        "data.aws_secretsmanager_secret_version.db.secret_string",
        '""',
        'jsondecode(data.aws_secretsmanager_secret_version.db.secret_string)["password"]',
    ],
)
def test_references_and_variables_without_a_literal_are_not(value):
    content = (
        'variable "db_password" {\n  type      = string\n  sensitive = true\n}\n'
        f'resource "aws_db_instance" "db" {{\n  password = {value}\n}}\n'
    )
    assert run({"main.tf": content}, [CREDENTIAL]) == []


def test_a_variable_default_is_reported_where_the_literal_is_written():
    files = {
        "variables.tf": 'variable "db_password" {\n  type    = string\n  default = "Winter2024!"\n}\n',
        "main.tf": 'resource "aws_rds_cluster" "db" {\n  master_password = var.db_password\n}\n',
    }
    assert run(files, [CREDENTIAL]) == [("variables.tf", 3, "tf-aws-hardcoded-credential")]


def test_a_tfvars_literal_is_reported_in_the_tfvars_file():
    files = {
        "variables.tf": 'variable "db_password" {\n  type      = string\n  sensitive = true\n}\n',
        "main.tf": 'resource "aws_db_instance" "db" {\n  password = var.db_password\n}\n',
        "terraform.tfvars": 'region      = "eu-west-1"\ndb_password = "Winter2024!"\n',
    }
    assert run(files, [CREDENTIAL]) == [("terraform.tfvars", 2, "tf-aws-hardcoded-credential")]


def test_a_literal_passed_to_a_module_is_reported_at_the_callers_argument():
    files = {
        "modules/db/main.tf": 'variable "password" {}\nresource "aws_db_instance" "this" {\n  password = var.password\n}\n',
        "main.tf": 'module "db" {\n  source   = "./modules/db"\n  password = "Aa12345678"\n}\n'
        'module "db2" {\n  source   = "./modules/db"\n  password = random_password.db.result\n}\n',
    }
    assert run(files, [CREDENTIAL]) == [("main.tf", 3, "tf-aws-hardcoded-credential")]


def test_provider_secret_key():
    rule = RULES["tf-aws-provider-hardcoded-credential"]
    content = 'provider "aws" {\n  region     = "eu-west-1"\n  secret_key = "not-a-real-format"\n}\n'
    assert run({"main.tf": content}, [rule]) == [("main.tf", 3, "tf-aws-provider-hardcoded-credential")]


def test_op_literal_is_available_to_any_pack(tmp_path):
    """How the Azure and GCP packs name their credential attributes: a condition, no Python."""
    pack = tmp_path / "azure-creds.yaml"
    pack.write_text(
        "pack: azure-creds-test\nrules:\n"
        "  - id: test-azure-admin-password\n    title: t\n    severity: high\n    description: d\n"
        "    remediation: r\n    engine: policy\n    target: terraform.resource\n"
        "    kinds: [azurerm_linux_virtual_machine, azurerm_mssql_server]\n"
        "    when:\n      any:\n        - {field: admin_password, op: literal}\n"
        "        - {field: administrator_login_password, op: literal}\n"
        "    examples:\n      bad: ['resource \"azurerm_mssql_server\" \"s\" { administrator_login_password = \"P@ssw0rd\" }']\n"
        "      good: ['resource \"azurerm_mssql_server\" \"s\" { administrator_login_password = azurerm_key_vault_secret.s.value }']\n"
    )
    rules = load_pack(pack)
    content = (
        'resource "azurerm_linux_virtual_machine" "vm" {\n  admin_username = "azureuser"\n  admin_password = "Aa12345678"\n}\n'
        'resource "azurerm_mssql_server" "sql" {\n  administrator_login_password = random_password.sql.result\n}\n'
    )
    assert run({"main.tf": content}, rules) == [("main.tf", 3, "test-azure-admin-password")]


# -- through the secrets engine: user_data and container environments --------------------------------

GITHUB = "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"
SCRIPT = f"#!/bin/bash\nexport GITHUB_TOKEN={GITHUB}\nyum install -y nginx\n"


def scan_secrets(cli, tmp_path, content: str) -> list[tuple[int, str, str]]:
    (tmp_path / "main.tf").write_text(content)
    out = cli("scan", "--only", "secrets", "-f", "json", cwd=tmp_path).out
    return sorted((f["line"], f["rule"], f["message"]) for f in json.loads(out)["findings"])


@pytest.mark.parametrize(
    "attribute",
    [
        'user_data_base64 = "{b64}"',
        'user_data        = "{b64}"',
        'user_data        = base64decode("{b64}")',
        'user_data_base64 = "{gz}"',
    ],
)
def test_base64_user_data_is_decoded_for_the_secrets_engine(cli, tmp_path, attribute):
    b64 = base64.b64encode(SCRIPT.encode()).decode()
    gz = base64.b64encode(gzip.compress(SCRIPT.encode())).decode()
    content = 'resource "aws_instance" "web" {\n  ami = "ami-0abcdef1234567890"\n  ' + attribute.format(b64=b64, gz=gz) + "\n}\n"
    found = scan_secrets(cli, tmp_path, content)
    assert [(line, rule) for line, rule, _ in found] == [(3, "github-token")]
    assert "user_data" in found[0][2]
    assert GITHUB not in json.dumps(found)


def test_base64encode_of_a_multiline_literal_is_read_with_its_escapes(cli, tmp_path):
    literal = SCRIPT.replace("\n", "\\n")
    content = f'resource "aws_launch_template" "web" {{\n  user_data = base64encode("{literal}")\n}}\n'
    assert [(line, rule) for line, rule, _ in scan_secrets(cli, tmp_path, content)] == [(2, "github-token")]


def test_container_environment_pairs_with_credential_names(cli, tmp_path):
    content = (
        'resource "aws_ecs_task_definition" "app" {\n'
        "  container_definitions = jsonencode([{\n"
        '    name  = "app"\n'
        "    environment = [\n"
        '      { name = "DB_PASSWORD", value = "Xk82jdLq0pW7" },\n'
        '      { name = "LOG_LEVEL", value = "info" },\n'
        "    ]\n"
        '    secrets = [{ name = "API_TOKEN", valueFrom = aws_secretsmanager_secret.api.arn }]\n'
        "  }])\n"
        "}\n"
        'resource "aws_ecs_task_definition" "json" {\n'
        "  container_definitions = <<DEFS\n"
        '[{"name": "worker", "environment": [{"value": "q9Wm2FAKEtoken7Zx", "name": "STRIPE_API_KEY"}]}]\n'
        "DEFS\n"
        "}\n"
    )
    found = scan_secrets(cli, tmp_path, content)
    assert [line for line, _, _ in found] == [5, 13]
    assert all("container environment" in message for _, _, message in found)
