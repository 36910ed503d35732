"""Secrets in Kubernetes manifests: Secret values judged by what they are for (config payloads parsed),
literal env credentials on any container, ConfigMaps, last-applied copies, Helm values and Kustomize
generators; references, SealedSecrets, ExternalSecrets and SOPS are not leaks. Figures on
fixtures/kubernetes-secrets (`pytest -s` prints them)."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
import yaml

from scanner.engines import secrets
from scanner.model import Item
from scanner.rules.loader import load_rules

REPO = Path(__file__).resolve().parent.parent
FIXTURES = REPO / "fixtures" / "kubernetes-secrets"


@pytest.fixture(scope="module")
def compiled():
    return secrets.compile_rules([r for r in load_rules() if r.engine == "secrets" and not r.opt_in])


def scan(compiled, path: str, text: str):
    return [(f.line, f.rule_id, f.message) for f in secrets.scan_item(compiled, Item(path, text.encode()))]


def lines(found):
    return sorted({line for line, _, _ in found})


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def test_fixture_recall_and_false_alarms(compiled):
    labelled = {(e["path"], e["line"]) for e in yaml.safe_load((FIXTURES / "expected.yaml").read_text())["findings"]}
    reported = set()
    for path in sorted(FIXTURES.rglob("*")):
        rel = path.relative_to(FIXTURES).as_posix()
        if path.is_file() and rel != "expected.yaml":
            reported |= {(rel, f.line) for f in secrets.scan_item(compiled, Item(rel, path.read_bytes()))}
    missed, alarms = labelled - reported, reported - labelled
    print(f"\nkubernetes-secrets: recall {len(labelled - missed)}/{len(labelled)}, false alarms {len(alarms)}")
    assert not missed
    assert not alarms


SECRET = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: s\n"


def test_settings_in_a_secret_are_not_reported_credentials_are():
    data = {"LOG_LEVEL": "info", "PORT": "8080", "DB_HOST": "db.shop.svc", "API_TOKEN": "q8Xv2LmN4pR7tFAKE9wZ"}
    text = SECRET + "data:\n" + "".join(f"  {k}: {b64(v)}\n" for k, v in data.items())
    compiled_rules = secrets.compile_rules([r for r in load_rules() if r.engine == "secrets"])
    found = scan(compiled_rules, "s.yaml", text)
    assert [(line, rule) for line, rule, _ in found] == [(9, "kubernetes-secret-plaintext")]


def test_a_random_value_under_a_neutral_name_is_reported_a_short_word_is_not(compiled):
    text = SECRET + "stringData:\n  endpoint: Zq8Xv2LmN4pR7tY9wB3cFAKE\n  region: eu-west-1\n"
    assert lines(scan(compiled, "s.yaml", text)) == [6]


def test_grafana_ini_is_judged_by_its_own_keys(compiled):
    quiet = SECRET + "stringData:\n  grafana.ini: |\n    [date_formats]\n    default_timezone = UTC\n"
    assert scan(compiled, "s.yaml", quiet) == []
    loud = quiet + "    [security]\n    admin_user = admin\n    admin_password = Gr4f-FAKE-x8Qm2vLp\n"
    found = scan(compiled, "s.yaml", loud)
    assert [(line, rule) for line, rule, _ in found] == [(11, "kubernetes-secret-plaintext")]
    assert "grafana.ini: admin_password" in found[0][2]


def test_a_base64_alertmanager_config_is_reported_on_its_key_only_with_a_credential_inside(compiled):
    clean = "route:\n  receiver: default\nreceivers:\n  - name: default\n"
    assert scan(compiled, "s.yaml", SECRET + f"data:\n  alertmanager.yaml: {b64(clean)}\n") == []
    leaky = clean + "global:\n  slack_api_url: https://hooks.slack.com/services/T0FAKE123/B0FAKE456/q8Xv2LmN4pR7tY9wZ3bC6dF8\n"
    assert lines(scan(compiled, "s.yaml", SECRET + f"data:\n  alertmanager.yaml: {b64(leaky)}\n")) == [6]


def test_a_datasource_url_alone_is_not_a_secret(compiled):
    text = SECRET + ("stringData:\n  datasources.yaml: |\n    datasources:\n      - name: prometheus\n"
                     "        url: http://prometheus-k8s.monitoring.svc:9090\n")
    assert scan(compiled, "s.yaml", text) == []


POD = """\
apiVersion: v1
kind: Pod
metadata:
  name: p
spec:
  {field}:
    - name: c
      image: app:1.0
      env:
{env}
"""


@pytest.mark.parametrize("field", ["containers", "initContainers", "ephemeralContainers"])
@pytest.mark.parametrize("env, line", [
    ('        - name: DB_PASSWORD\n          value: "mG8vFAKEq2Lx7Rt"', 11),
    ('        - value: "mG8vFAKEq2Lx7Rt"\n          name: DB_PASSWORD', 10),
    ('        - {name: DB_PASSWORD, value: "mG8vFAKEq2Lx7Rt"}', 10),
    ('        - {name: MYSQL_ROOT_PASSWORD, value: password123}', 10),  # weak is still the credential
])
def test_literal_env_credentials_on_any_container(compiled, field, env, line):
    assert lines(scan(compiled, "pod.yaml", POD.format(field=field, env=env))) == [line]


@pytest.mark.parametrize("env", [
    "        - name: DB_PASSWORD\n          valueFrom:\n            secretKeyRef: {name: db, key: password}",
    "        - {name: API_TOKEN, value: $(TOKEN_FROM_FILE)}",
    "        - {name: API_TOKEN, value: '${API_TOKEN}'}",
    "        - {name: PASSWORD_MIN_LENGTH, value: '12'}",
    "        - {name: TOKEN_PATH, value: /var/run/secrets/tokens/api}",
    "        - {name: SECRET_NAME, value: api-credentials}",
    "        - {name: DB_PASSWORD, value: changeme}",
])
def test_references_and_settings_in_env_are_not_reported(compiled, env):
    assert scan(compiled, "pod.yaml", POD.format(field="containers", env=env)) == []


def test_configmaps_holding_credentials(compiled):
    text = ("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\ndata:\n  CACHE_TTL: '300'\n"
            "  REDIS_PASSWORD: rD5FAKEs9Xq2Lm7V\n  checksum: 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08\n"
            "  app.properties: |\n    server.port=8080\n    spring.datasource.password=Cat4FAKEq9Lx2Vm\n")
    assert lines(scan(compiled, "cm.yaml", text)) == [7, 11]


def test_a_secret_copied_into_the_last_applied_annotation(compiled):
    copy = '{"apiVersion":"v1","kind":"Secret","metadata":{"name":"smtp"},"stringData":{"SMTP_PASSWORD":"sMt9FAKEq2Lx7Vr","SMTP_HOST":"smtp.example.com"}}'
    text = ("apiVersion: v1\nkind: Secret\nmetadata:\n  name: smtp\n  annotations:\n"
            f"    kubectl.kubernetes.io/last-applied-configuration: |\n      {copy}\ntype: Opaque\n")
    found = scan(compiled, "s.yaml", text)
    assert [(line, rule) for line, rule, _ in found] == [(7, "kubernetes-secret-plaintext")]
    assert "last-applied copy" in found[0][2]


def test_sealed_external_and_sops_secrets_are_not_leaks(compiled):
    for name in ("traps/sealed.yaml", "traps/sops.yaml"):
        assert scan(compiled, name, (FIXTURES / name).read_text()) == []


def test_the_check_runs_through_the_cli(tmp_path):
    from scanner.cli import main

    (tmp_path / "pod.yaml").write_text(POD.format(field="containers", env='        - {name: API_KEY, value: "pk9FAKEa7Xq2Lm4Vn8Rt"}'))
    assert main(["scan", str(tmp_path), "--config", "/dev/null", "-q", "--only", "secrets"]) == 1
    assert main(["scan", str(tmp_path), "--config", "/dev/null", "-q", "--only", "secrets",
                 "--skip", "kubernetes-manifest-credential,generic-env-name-value"]) == 0


def test_a_hardened_monitoring_stack_has_no_secret_findings(compiled):
    """kube-prometheus-style Secrets (grafana.ini with a timezone, a datasource URL, an Alertmanager
    routing config) and ConfigMaps (blackbox exporter modules) hold no credential."""
    stack = REPO / "fixtures" / "kubernetes" / "monitoring"
    found = []
    for path in sorted(stack.glob("*.yaml")):
        found += [(path.name, f.line, f.rule_id) for f in secrets.scan_item(compiled, Item(path.name, path.read_bytes()))]
    assert found == []


def test_kustomize_generator_literals_are_judged_like_the_objects_they_make(compiled):
    text = ("secretGenerator:\n  - name: db\n    literals:\n      - DB_USER=shop\n      - DB_PASSWORD=admin123\n"
            "      - LOG_LEVEL=debug\nconfigMapGenerator:\n  - name: settings\n    literals:\n"
            "      - PASSWORD_POLICY=strong\n      - CACHE_TTL=300\n")
    found = scan(compiled, "kustomization.yaml", text)
    assert [(line, rule) for line, rule, _ in found] == [(5, "kubernetes-manifest-credential")]
    assert "secretGenerator db literal DB_PASSWORD" in found[0][2]
