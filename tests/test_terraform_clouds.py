"""The terraform-gcp and terraform-azure packs: every rule's examples, the GCP and Azure fixture
projects (recall on the labelled bad findings, no finding on the secure projects), the generic
`items` relation and the `covers_port` / `expression_matches` operators they rely on."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from scanner import documents as docs_mod
from scanner.documents import items as items_mod
from scanner.engines import generic, policy
from scanner.model import Item
from scanner.rules.loader import load_pack, select_rules

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures" / "terraform"
PACKS = {name: load_pack(ROOT / "policies" / f"terraform-{name}.yaml") for name in ("gcp", "azure")}


def scan(files: dict[str, str | bytes], rules):
    all_docs, problems = [], []
    for path, content in files.items():
        data = content.encode() if isinstance(content, str) else content
        docs, probs = docs_mod.parse_item(Item(path, data))
        all_docs.extend(docs)
        problems.extend(probs)
    all_docs = docs_mod.finalize(all_docs)
    return policy.run(rules, all_docs, {}), problems


def _examples():
    for rules in PACKS.values():
        for rule in rules:
            for i, ex in enumerate(rule.bad):
                yield pytest.param(rule, ex, True, id=f"{rule.id}-bad{i}")
            for i, ex in enumerate(rule.good):
                yield pytest.param(rule, ex, False, id=f"{rule.id}-good{i}")


@pytest.mark.parametrize(("rule", "example", "bad"), list(_examples()))
def test_pack_examples(rule, example, bad):
    findings, problems = scan({example.filename or "main.tf": example.content}, [rule])
    assert not [p for p in problems if p.level != "info"], problems
    hits = [f for f in findings if f.rule_id == rule.id and f.suppression is None]
    if not bad:
        assert hits == [], [(f.line, f.message) for f in hits]
        return
    assert hits, f"{rule.id}: bad example produced no finding"
    if example.count is not None:
        assert len(hits) == example.count
    assert example.line is not None, f"{rule.id}: every bad example names its line"
    assert hits[0].line == example.line, [(f.line, f.message) for f in hits]


@pytest.mark.parametrize("pack", sorted(PACKS))
def test_every_rule_has_two_bad_and_two_good_examples_and_references(pack):
    for rule in PACKS[pack]:
        assert len(rule.bad) >= 2 and len(rule.good) >= 2, rule.id
        assert any("registry.terraform.io" in r for r in rule.references), rule.id
        assert any("cloud.google.com" in r or "learn.microsoft.com" in r for r in rule.references), rule.id


@pytest.mark.parametrize("pack", sorted(PACKS))
def test_pack_passes_shared_examples_runner(pack):
    from scanner.rules import examples

    assert examples.run_examples(PACKS[pack]) == []


# -- fixtures: a vulnerable and a secure project per cloud ----------------------------------------


def _project(cloud: str) -> dict[str, bytes]:
    base = FIXTURES / cloud
    return {str(p.relative_to(base)): p.read_bytes() for p in sorted(base.rglob("*.tf"))}


def _block_range(path: Path, line: int) -> tuple[int, int]:
    from scanner.documents.terraform.parse.hcl import parse_hcl

    for block in parse_hcl(path.read_text()):
        if block.line <= line <= block.end_line:
            return block.line, block.end_line
    raise AssertionError(f"{path}:{line} is not inside a block")


@pytest.mark.parametrize(("cloud", "pack"), [("gcp", "gcp"), ("azure", "azure")])
def test_fixture_recall_and_false_alarms(cloud, pack):
    expected = yaml.safe_load((FIXTURES / cloud / "expected.yaml").read_text())
    findings, problems = scan(_project(cloud), select_rules(PACKS[pack]))  # default rules: opt-in ones off
    active = [f for f in findings if f.suppression is None]
    got = {(f.path, f.line, f.rule_id) for f in active}
    bad = {(e["path"], e["line"], e["rule"]) for e in expected["bad"]}
    recall = len(bad & got) / len(bad)
    unexpected = sorted(got - bad)
    good_hits = []
    for e in expected["good"]:
        lo, hi = _block_range(FIXTURES / cloud / e["path"], e["line"])
        if any(f.path == e["path"] and f.rule_id == e["rule"] and lo <= f.line <= hi for f in active):
            good_hits.append(e)
    print(
        f"\n{cloud} fixtures: recall {recall:.3f} ({len(bad & got)}/{len(bad)}), "
        f"{len(good_hits)} of {len(expected['good'])} good labels hit, {len(unexpected)} unlabelled findings"
    )
    assert recall == 1.0, sorted(bad - got)
    assert good_hits == []
    assert unexpected == []
    assert [f for f in active if f.path.startswith("secure/")] == []
    assert [p for p in problems if p.level != "info"] == []
    rules_hit = {f.rule_id for f in active}
    default_ids = {r.id for r in select_rules(PACKS[pack])}
    assert len(rules_hit) >= 0.9 * len(default_ids), sorted(default_ids - rules_hit)


def test_fixture_labels_name_real_rules():
    ids = {r.id for rules in PACKS.values() for r in rules}
    for cloud in ("gcp", "azure"):
        expected = yaml.safe_load((FIXTURES / cloud / "expected.yaml").read_text())
        for e in expected["bad"] + expected["good"]:
            assert e["rule"] in ids, e


# -- generic operators and the items relation ------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "ports", "hit"),
    [
        ("22", [22], True),
        (22, [22, 3389], True),
        ("20-30", [22], True),
        ("30-20", [22], True),
        ("3300-3400", [22, 3389], True),
        ("23-3388", [22, 3389], False),
        ("*", [22], True),
        ("22,3389", [3389], True),
        ("443", [22, 3389], False),
        ("http", [22], False),
        (True, [22], False),
        ("0-65535", "all", True),
        ("1-65535", "all", True),
        ("*", "all", True),
        ("1024-65535", "all", False),
        ("22", "all", False),
    ],
)
def test_covers_port(spec, ports, hit):
    assert generic.covers_port(spec, ports) is hit


def test_covers_port_and_expression_matches_on_unknown_values():
    from scanner.documents.tree import Beyond, Unknown

    assert generic.covers_port(Unknown("var.port"), [22]) is None
    assert generic.expression_matches(Unknown("data.azurerm_subscription.current.id"), r"azurerm_subscription\.") is True
    assert generic.expression_matches(Unknown("azurerm_resource_group.main.id"), r"azurerm_subscription\.") is False
    assert generic.expression_matches("/subscriptions/0000", r"subscriptions") is False  # known values never
    assert generic.expression_matches(Beyond("dynamic block"), ".") is None


def test_items_relation_judges_one_block_at_a_time():
    """tcp/443 in one allow block and icmp in another is not "tcp on every port"; a dynamic allow block is
    unknown, so it is not reported either way."""
    rule = next(r for r in PACKS["gcp"] if r.id == "tf-gcp-firewall-all-ports-open")
    split = """
resource "google_compute_firewall" "web" {
  name          = "web"
  network       = "default"
  source_ranges = ["0.0.0.0/0"]
  allow {
    protocol = "tcp"
    ports    = ["443"]
  }
  allow {
    protocol = "udp"
    ports    = ["53"]
  }
}
resource "google_compute_firewall" "dyn" {
  name          = "dyn"
  network       = "default"
  source_ranges = ["0.0.0.0/0"]
  dynamic "allow" {
    for_each = var.rules
    content {
      protocol = allow.value.protocol
      ports    = allow.value.ports
    }
  }
}
resource "google_compute_firewall" "udp_any" {
  name          = "udp-any"
  network       = "default"
  source_ranges = ["0.0.0.0/0"]
  allow {
    protocol = "udp"
  }
}
"""
    findings, _ = scan({"fw.tf": split}, [rule])
    assert [(f.line, f.message) for f in findings] == [(32, "google_compute_firewall.udp_any: every port open to the internet")]


def test_unknown_relation_or_operator_is_a_pack_error(tmp_path):
    from scanner.rules.loader import PackError

    pack = tmp_path / "p.yaml"
    pack.write_text(
        "pack: p\nrules:\n  - id: x\n    title: t\n    severity: low\n    description: d\n    remediation: r\n"
        "    engine: policy\n    target: terraform.resource\n    when: {field: a, op: covers_ports, value: 22}\n"
        "    examples: {bad: [], good: []}\n"
    )
    with pytest.raises(PackError):
        load_pack(pack)


# -- focused behaviour ----------------------------------------------------------------------------


def _ids(findings):
    return sorted((f.path, f.line, f.rule_id) for f in findings if f.suppression is None)


def test_nsg_port_ranges_lists_and_sources():
    rules = [r for r in PACKS["azure"] if r.id.startswith("tf-az-nsg")]
    tf = """
resource "azurerm_network_security_rule" "a" {
  direction               = "Inbound"
  access                  = "Allow"
  protocol                = "Tcp"
  destination_port_ranges = ["80", "443", "20-30"]
  source_address_prefix   = "Internet"
}
resource "azurerm_network_security_rule" "b" {
  direction               = "Inbound"
  access                  = "Allow"
  protocol                = "Icmp"
  destination_port_range  = "*"
  source_address_prefix   = "*"
}
resource "azurerm_network_security_rule" "c" {
  direction               = "Inbound"
  access                  = "Allow"
  protocol                = "Udp"
  destination_port_range  = "3389"
  source_address_prefixes = ["10.0.0.0/8", "AzureLoadBalancer"]
}
resource "azurerm_network_security_rule" "d" {
  direction               = "Inbound"
  access                  = "Allow"
  protocol                = "Tcp"
  destination_port_range  = var.port
  source_address_prefix   = "*"
}
"""
    findings, _ = scan({"nsg.tf": tf}, rules)
    assert _ids(findings) == [("nsg.tf", 6, "tf-az-nsg-admin-ports-open")]


def test_referenced_by_follows_azure_references_and_names():
    """A network-rules resource that refers to the account by id (v3+) or by name (v2) with Deny keeps the
    account unreported; one for another account does not; one whose reference cannot be followed (a
    module output) leaves it unknown, so unreported."""
    rule = next(r for r in PACKS["azure"] if r.id == "tf-az-storage-public-network")
    account = """
resource "azurerm_storage_account" "{name}" {{
  name                     = "{name}"
  account_tier             = "Standard"
  account_replication_type = "LRS"
}}
"""
    tf = account.format(name="byid") + account.format(name="byname") + account.format(name="open") + """
resource "azurerm_storage_account_network_rules" "byid" {
  storage_account_id = azurerm_storage_account.byid.id
  default_action     = "Deny"
}
resource "azurerm_storage_account_network_rules" "byname" {
  storage_account_name = azurerm_storage_account.byname.name
  resource_group_name  = "rg"
  default_action       = "Deny"
}
"""
    findings, _ = scan({"main.tf": tf}, [rule])
    assert [f.message.split(":")[0] for f in findings] == ["azurerm_storage_account.open"]
    unknown = account.format(name="x") + """
resource "azurerm_storage_account_network_rules" "x" {
  storage_account_id = module.storage.account_id
  default_action     = "Deny"
}
"""
    assert scan({"main.tf": unknown}, [rule])[0] == []


def test_management_lock_rule_direct_and_covering_locks():
    rule = next(r for r in PACKS["azure"] if r.id == "tf-az-management-lock")
    assert rule in select_rules(PACKS["azure"])
    vault = 'resource "azurerm_key_vault" "kv" {\n  name     = "kv"\n  sku_name = "standard"\n}\n'
    assert _ids(scan({"main.tf": vault}, [rule])[0]) == [("main.tf", 1, "tf-az-management-lock")]
    direct = vault + 'resource "azurerm_management_lock" "kv" {\n  scope      = azurerm_key_vault.kv.id\n  lock_level = "ReadOnly"\n}\n'
    assert scan({"main.tf": direct}, [rule])[0] == []
    subscription = vault + 'resource "azurerm_management_lock" "sub" {\n  scope      = "/subscriptions/0000"\n  lock_level = "CanNotDelete"\n}\n'
    assert scan({"main.tf": subscription}, [rule])[0] == []


def test_literal_password_through_tfvars_and_not_through_sensitive_variable():
    rule = next(r for r in PACKS["azure"] if r.id == "tf-az-literal-password")
    main = """
variable "admin_password" {
  type      = string
  sensitive = true
}
resource "azurerm_linux_virtual_machine" "vm" {
  name           = "vm"
  admin_username = "azureuser"
  admin_password = var.admin_password
}
"""
    assert scan({"infra/main.tf": main}, [rule])[0] == []
    findings, _ = scan({"infra/main.tf": main, "infra/terraform.tfvars": 'admin_password = "Summer2024!"\n'}, [rule])
    assert _ids(findings) == [("infra/main.tf", 9, "tf-az-literal-password")]
    assert "Summer2024" not in findings[0].message and "Summer2024" not in findings[0].evidence


def test_plan_json_is_judged_like_hcl():
    import json

    plan = {
        "format_version": "1.2",
        "planned_values": {"root_module": {"resources": [
            {"address": "azurerm_storage_container.media", "mode": "managed", "type": "azurerm_storage_container",
             "name": "media", "values": {"name": "media", "container_access_type": "blob"}},
            {"address": "google_storage_bucket_iam_member.pub", "mode": "managed",
             "type": "google_storage_bucket_iam_member", "name": "pub",
             "values": {"bucket": "b", "role": "roles/storage.objectViewer", "member": "allUsers"}},
        ]}},
        "resource_changes": [],
    }
    rules = PACKS["azure"] + PACKS["gcp"]
    findings, _ = scan({"plan.json": json.dumps(plan, indent=1)}, rules)
    assert {f.rule_id for f in findings} == {"tf-az-storage-container-public", "tf-gcp-iam-public-member"}


def test_ignore_comment_inside_block_suppresses_one_rule():
    rule = next(r for r in PACKS["gcp"] if r.id == "tf-gcp-iam-public-member")
    tf = """
resource "google_cloud_run_service_iam_member" "public" {
  # scanner:ignore=tf-gcp-iam-public-member public marketing site, reviewed in SEC-42
  service = "www"
  role    = "roles/run.invoker"
  member  = "allUsers"
}
"""
    findings, _ = scan({"run.tf": tf}, [rule])
    assert len(findings) == 1 and findings[0].suppression is not None


def test_cli_scan_of_the_vulnerable_projects(cli):
    import json

    run = cli("scan", str(FIXTURES / "azure" / "vulnerable"), str(FIXTURES / "gcp" / "vulnerable"),
              "--only", "terraform-gcp,terraform-azure", "--format", "json")
    assert run.code == 1
    report = json.loads(run.out)
    packs = {f["pack"] for f in report["findings"]}
    assert packs == {"terraform-gcp", "terraform-azure"}
    found = json.dumps(report["findings"])  # (the rules' descriptions quote "Aa12345678" as a weak password)
    assert "Aa12345678" not in found and "FAKE8Q~TEST" not in found
    clean = cli("scan", str(FIXTURES / "azure" / "secure"), str(FIXTURES / "gcp" / "secure"),
                "--only", "terraform-gcp,terraform-azure")
    assert clean.code == 0, clean.out


def test_items_is_a_registered_relation_for_every_document_kind():
    """`rules targets` and pack checks see it like any other relation; a list of scalars is wrapped as
    {value: ITEM}; a list only known at apply time makes the relation unknown."""
    from scanner.documents import Context, Subject
    from scanner.documents.tree import LDict, LList, Unknown

    assert docs_mod.relations()["items"] is items_mod.items
    value = LDict(line=1)
    value["ports"] = LList(["22", "443"], line=3)
    value.key_lines["ports"] = 3
    value["later"] = Unknown("var.ports")
    subject = Subject(value, "x.tf", 1, "x", "k", "t", None)
    ctx = Context([], {}, {})
    parts = items_mod.items(subject, ctx, {"field": "ports"})
    assert [(p.value["value"], p.key) for p in parts] == [("22", "k/ports[0]"), ("443", "k/ports[1]")]
    assert items_mod.items(subject, ctx, {"field": "later"}) is None
    assert items_mod.items(subject, ctx, {"field": "missing"}) == []
