"""The secrets engine and the built-in `secrets` pack: families, traps, labelled fixtures, redaction,
fingerprints, the Kubernetes Secret decoder, SOPS / SealedSecret handling and every rule's examples."""

from __future__ import annotations

import base64
import subprocess
import sys
from functools import lru_cache
from pathlib import Path

import pytest
import yaml

from scanner.engines import filters, secrets
from scanner.model import Item
from scanner.rules.examples import run_examples
from scanner.rules.loader import Rule, load_pack

ROOT = Path(__file__).resolve().parent.parent
PACK = ROOT / "policies" / "secrets.yaml"
PACKS = sorted((ROOT / "policies").glob("secrets*.yaml"))  # the `secrets` pack is split across files
FIXTURES = ROOT / "fixtures" / "secrets"


@lru_cache(maxsize=1)
def pack() -> tuple[Rule, ...]:
    return tuple(rule for path in PACKS for rule in load_pack(path))


@lru_cache(maxsize=2)
def compiled(with_opt_in: bool = False) -> secrets.Compiled:
    return secrets.compile_rules(r for r in pack() if with_opt_in or not r.opt_in)


def scan(path: str, text: str, show_secrets: bool = False, with_opt_in: bool = False):
    return secrets.scan_item(compiled(with_opt_in), Item(path, text.encode()), show_secrets)


def expected() -> list[dict]:
    return yaml.safe_load((FIXTURES / "expected.yaml").read_text())["findings"]


@lru_cache(maxsize=1)
def fixture_findings() -> dict[tuple[str, int], list]:
    got: dict[tuple[str, int], list] = {}
    for file in sorted(FIXTURES.rglob("*")):
        if not file.is_file() or file.name == "expected.yaml":
            continue
        rel = file.relative_to(FIXTURES).as_posix()
        for finding in secrets.scan_item(compiled(), Item(rel, file.read_bytes())):
            got.setdefault((rel, finding.line), []).append(finding)
    return got


# ---------------------------------------------------------------------------------------- the pack


def test_every_rule_example_passes():
    assert run_examples(pack()) == []


def test_every_rule_is_documented_and_has_keywords():
    for rule in pack():
        assert rule.pack == "secrets"
        assert rule.description and rule.remediation and rule.references and rule.tags, rule.id
        assert rule.bad and rule.good, rule.id
        assert rule.keywords, f"{rule.id}: no keywords, the prefilter cannot skip it"


def test_example_runner_reports_failures_and_skips_policy_rules():
    rule = next(r for r in pack() if r.id == "github-token")
    broken = rule._replace(bad=(rule.good[0],), good=(rule.bad[0],))
    failures = run_examples([broken])
    assert len(failures) == 2 and "expected a finding" in failures[0] and "expected no finding" in failures[1]
    policy = rule._replace(id="some-policy", engine="policy", bad=rule.good)
    # policy examples run through the policy pipeline too: a rule without a target is a failure, not a pass
    assert run_examples([policy]) and all("some-policy" in f for f in run_examples([policy]))


# ---------------------------------------------------------------------------------------- fixtures


def test_fixtures_precision_and_recall():
    labels = {(e["path"], e["line"]) for e in expected()}
    got = set(fixture_findings())
    tp = len(labels & got)
    precision = tp / len(got) if got else 0.0
    recall = tp / len(labels)
    print(
        f"\nsecrets fixtures: {len(labels)} labelled, {len(got)} reported, precision {precision:.3f}, recall {recall:.3f}"
    )
    assert precision >= 0.95, sorted(got - labels)
    assert recall >= 0.95, sorted(labels - got)


@pytest.mark.parametrize("label", expected(), ids=lambda e: f"{e['path']}:{e['line']}")
def test_each_family_reports_its_rule_on_its_line(label):
    found = fixture_findings().get((label["path"], label["line"]), [])
    assert [f.rule_id for f in found] == [label["rule"]]


def test_every_rule_fires_somewhere_in_the_fixtures():
    fired = {f.rule_id for found in fixture_findings().values() for f in found}
    expected_rules = {e["rule"] for e in expected()}
    assert expected_rules <= fired
    silent = {r.id for r in pack() if not r.opt_in} - fired
    # rules only exercised by their own examples (kept small on purpose)
    assert silent <= {"stripe-test-key", "huggingface-token", "databricks-token", "netrc-password"}, silent


TRAPS = sorted(p.relative_to(FIXTURES).as_posix() for p in (FIXTURES / "traps").rglob("*") if p.is_file())


@pytest.mark.parametrize("path", TRAPS)
def test_trap_files_produce_nothing(path):
    findings = [f for (p, _), fs in fixture_findings().items() if p == path for f in fs]
    assert findings == []


# ---------------------------------------------------------------------------------------- traps inline

TRAP_LINES = [
    ("config.env", "DB_PASSWORD=${DB_PASSWORD}"),
    ("config.env", "API_TOKEN=$(cat /run/secrets/token)"),
    ("app.py", 'password = os.environ["DB_PASSWORD"]'),
    ("app.py", "password = os.getenv('DB_PASSWORD')"),
    ("app.js", "const password = process.env.DB_PASSWORD;"),
    ("values.yaml", 'password: "{{ .Values.db.password }}"'),
    ("ci.yml", "token: ${{ secrets.DEPLOY_TOKEN }}"),
    ("app.ini", "password = %(db_password)s"),
    ("app.py", 'dsn = "password=%(pw)s"'),
    ("config.env", "API_TOKEN=<token>"),
    ("config.env", "PASSWORD=REPLACE_ME"),
    ("config.env", "SECRET=xxxxxxxxxxxx"),
    ("config.env", "SECRET=************"),
    ("config.env", "PASSWORD=changeme"),
    ("config.env", "KEYSTORE_PASSWORD=changeit"),
    ("config.env", "AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE"),
    ("config.env", "AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"),
    ("config.yaml", "commit_token_sha: 4f9c2d81a7b3e6f0c5d49a8e2b1f7c3d6e9a0b25"),
    ("config.yaml", "api_key: 7d3e9c41-58a2-4b6f-9e0d-2c1a7f8b3e64"),
    (
        "style.css",
        "a { background: url(data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAABAAAAAQeyJhbGciOiJIUzI1NiJ9) }",
    ),
    ("id.pub", "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQC7q8Xv2LmN4pR7sT0uW3yZ6bC9dF1g deploy@acme"),
    (
        "values.yaml",
        "password: ENC[AES256_GCM,data:7rT2kQ9xWm4vL8pZ3nF6,iv:Zt4nP9qL2wX7vB0c=,tag:kT9xq2v7Lm==,type:str]",
    ),
    ("values.yaml", "password: vault:secret/data/orders/db#password"),
    ("pod.yaml", 'vault.hashicorp.com/agent-inject-secret-db: "database/creds/orders"'),
    ("pod.yaml", '{{- with secret "database/creds/orders" -}}{{ .Data.password }}{{- end }}'),
    ("app.py", "password = get_password()"),
    ("app.py", "password=settings.DB_PASSWORD"),
    ("deploy.yaml", "secretName: orders-tls"),
    ("deploy.yaml", "password_file: /run/secrets/db_password"),
    ("settings.yaml", "max_tokens: 4096"),
    ("settings.yaml", "token_url: https://auth.example.com/oauth/token"),
    ("settings.yaml", "password: db-password"),
    ("main.tf", "password = random_password.db.result"),
    ("main.tf", 'password = "${var.db_password}"'),
]


@pytest.mark.parametrize(("path", "line"), TRAP_LINES)
def test_trap_lines_are_not_leaks(path, line):
    assert scan(path, line + "\n") == []


def test_secret_key_ref_is_not_a_leak():
    text = "env:\n  - name: DB_PASSWORD\n    valueFrom:\n      secretKeyRef:\n        name: db\n        key: password\n"
    assert scan("deploy.yaml", text) == []


def test_lock_files_are_skipped():
    line = 'DB_PASSWORD="Xk9#mQ2vL7FAKE"\n'
    assert scan("config.env", line)
    for name in (
        "package-lock.json",
        "yarn.lock",
        "poetry.lock",
        "Cargo.lock",
        "go.sum",
        "sub/pnpm-lock.yaml",
    ):
        assert scan(name, line) == []


# ---------------------------------------------------------------------------------------- findings

SECRET = "ghp_" + "q8Xv2LmN4pR7sT0uW3yZ6bC9dF1gH509oOXR"


def test_redaction_never_shows_the_secret_unless_asked():
    text = f"GITHUB_TOKEN={SECRET}\nDB_PASSWORD=Xk9mQ2vL7FAKEpw\n"
    redacted = scan("config.env", text)
    assert [f.rule_id for f in redacted] == ["github-token", "generic-secret-config"]
    for finding in redacted:
        assert SECRET not in finding.evidence and "Xk9mQ2vL7FAKEpw" not in finding.evidence
        assert SECRET not in finding.message
        assert all(SECRET not in str(v) for _, v in finding.properties)
    shown = scan("config.env", text, show_secrets=True)
    assert SECRET in shown[0].evidence and "Xk9mQ2vL7FAKEpw" in shown[1].evidence


def test_redaction_covers_every_fixture_finding():
    for file in sorted(FIXTURES.rglob("*")):
        if not file.is_file() or file.name == "expected.yaml":
            continue
        rel = file.relative_to(FIXTURES).as_posix()
        item = Item(rel, file.read_bytes())
        for plain, shown in zip(
            secrets.scan_item(compiled(), item),
            secrets.scan_item(compiled(), item, show_secrets=True),
            strict=True,
        ):
            assert plain.fingerprint == shown.fingerprint
            assert "********" in plain.evidence or plain.evidence != shown.evidence, (rel, plain.line)


def test_long_lines_are_cut_around_the_secret():
    text = "x = 1; " * 60 + f'token = "{SECRET}"; ' + "y = 2; " * 60 + "\n"
    (finding,) = scan("big.txt", text)
    assert len(finding.evidence) <= secrets.MAX_EVIDENCE + 6
    assert "ghp_********" in finding.evidence


def test_fingerprint_is_stable_when_lines_are_inserted_above():
    text = f"GITHUB_TOKEN={SECRET}\n"
    before = scan("config.env", text)
    after = scan("config.env", "# a comment\n\nOTHER=1\n" + text)
    assert before[0].line == 1 and after[0].line == 4
    assert before[0].fingerprint == after[0].fingerprint
    assert scan("other.env", text)[0].fingerprint != before[0].fingerprint


def test_specific_rule_wins_over_generic_on_the_same_spot():
    findings = scan("config.env", f"GITHUB_TOKEN={SECRET}\n")
    assert [f.rule_id for f in findings] == ["github-token"]
    url = scan("config.env", "DATABASE_PASSWORD=postgres://app:Qx7vN2pL9FAKE@db:5432/app\n")
    assert [f.rule_id for f in url] == ["connection-url-password"]


# ---------------------------------------------------------------------------------------- Kubernetes


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def test_kubernetes_secret_data_is_decoded_and_reported_on_its_key_line():
    encoded = b64("S3cr3t-FAKE-pw")
    text = (
        "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: Secret\n  metadata:\n    name: db\n"
        f"  data:\n    password: {encoded}\n    empty: ''\n  stringData:\n    token: q9Wm2FAKEtoken7Zx\n"
    )
    findings = scan("list.yaml", text)
    assert [(f.rule_id, f.line) for f in findings] == [
        ("kubernetes-secret-plaintext", 9),
        ("kubernetes-secret-plaintext", 12),
    ]
    assert (
        "data.password" in findings[0].message and "base64 is encoding, not encryption" in findings[0].message
    )
    assert encoded not in findings[0].evidence and "S3cr3t" not in findings[0].evidence
    assert "stringData.token" in findings[1].message


def test_kubernetes_secret_certificates_and_templates_are_not_reported():
    cert = b64(
        "-----BEGIN CERTIFICATE-----\nMIIDdzCCAl+gAwIBAgIEAgAAuTANBgkqhkiG9w0BAQUFADBa\n-----END CERTIFICATE-----\n"
    )
    text = (
        f"kind: Secret\napiVersion: v1\ndata:\n  ca.crt: {cert}\nstringData:\n  password: ${{DB_PASSWORD}}\n"
    )
    assert scan("s.yaml", text) == []


def test_broken_yaml_does_not_crash_the_decoder():
    assert scan("s.yaml", "kind: Secret\ndata:\n  password: [unclosed\n") == []


# ---------------------------------------------------------------------------------------- encrypted

SOPS = (FIXTURES / "traps" / "secrets" / "prod.enc.yaml").read_text()
SEALED = (FIXTURES / "traps" / "k8s" / "sealed-secret.yaml").read_text()


def test_encrypted_files_are_not_findings_by_default():
    assert scan("prod.enc.yaml", SOPS) == []
    assert scan("sealed.yaml", SEALED) == []


def test_encrypted_secret_rule_is_opt_in():
    rule = next(r for r in pack() if r.id == "encrypted-secret-in-repo")
    assert rule.opt_in and rule.severity == "low"
    sops = scan("prod.enc.yaml", SOPS, with_opt_in=True)
    assert [(f.rule_id, f.line) for f in sops] == [("encrypted-secret-in-repo", 5)]
    sealed = scan("sealed.yaml", SEALED, with_opt_in=True)
    assert [(f.rule_id, f.line) for f in sealed] == [("encrypted-secret-in-repo", 2)]


def test_allow_encrypted_switch_adds_the_opt_in_rules():
    selected = [r for r in pack() if not r.opt_in]
    assert secrets.with_encrypted_rules(pack(), selected) == selected
    more = secrets.with_encrypted_rules(pack(), selected, allow_encrypted=False)
    assert [r.id for r in more[len(selected) :]] == ["encrypted-secret-in-repo"]


def test_plain_secret_next_to_a_sealed_secret_is_still_reported():
    text = (
        SEALED
        + "---\napiVersion: v1\nkind: Secret\nmetadata:\n  name: x\nstringData:\n  password: Xk9mQ2vL7FAKEpw\n"
    )
    findings = scan("mixed.yaml", text)
    assert [f.rule_id for f in findings] == ["kubernetes-secret-plaintext"]


# ---------------------------------------------------------------------------------------- filters


@pytest.mark.parametrize(
    ("key", "secret"),
    [
        ("DB_PASSWORD", True),
        ("clientSecret", True),
        ("api-key", True),
        ("AWS_SESSION_TOKEN", True),
        ("db_pass", True),
        ("secretName", False),
        ("password_file", False),
        ("max_tokens", False),
        ("token_url", False),
        ("existingSecret", False),
        ("passport", False),
        ("forgot_password", False),
        ("private_key_id", False),
        # real-world names: fused words, suffixes that keep the secret, words that describe it
        ("dbpassword", True),
        ("DB_PASSWORD_PROD", True),
        ("client_secret_value", True),
        ("SECRET_KEY_BASE", True),
        ("GITHUB_TOKEN_FOR_CI", True),
        ("private_key_pem", True),
        ("pass_phrase", True),
        ("nexttoken", False),
        ("input_token", False),
        ("PaginationToken", False),
        ("token.markup", False),
        ("Token.Number", False),
        ("_core_token_compound", False),
        ("EncryptionKeyCheckValue", False),
        ("CustomerMasterKeySpec", False),
        ("publicKeyToken", False),
        ("fake_secret_token", False),
        ("bypass", False),
    ],
)
def test_secret_key_names(key, secret):
    assert filters.is_secret_key(key) is secret


def test_detect_secrets_is_imported_lazily():
    """A clean run (traps only, filtered by the cheap filters) never imports detect_secrets."""
    code = (
        "import sys\n"
        "from pathlib import Path\n"
        "from scanner.rules.loader import load_pack\n"
        "from scanner.engines import secrets\n"
        "from scanner.model import Item\n"
        f"c = secrets.compile_rules(load_pack(Path({str(PACK)!r})))\n"
        "secrets.scan_item(c, Item('a.py', b'print(1)\\n' * 100))\n"
        "secrets.scan_item(c, Item('b.env', b'DB_PASSWORD=${DB_PASSWORD}\\nTOKEN=changeme\\nsecretName: x-y\\n'))\n"
        "print('detect_secrets' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# ---------------------------------------------------------------------------------------- real-world shapes

# Found by scanning Python's stdlib and site-packages (botocore, cfnlint, awscli, pygments...) and
# popular sdists (ansible-core, celery, oauthlib, sentry-sdk, fastapi, flask...): none is a leak.
REAL_WORLD_TRAPS = [
    ("paginators-1.json", '"input_token": "NextToken",'),
    ("paginators-1.json", '"output_token": "next_marker",'),
    ("providers.py", '"AWS::ApiGateway::ApiKey": "48205d4ffd7feba3",'),
    ("theme.py", "Token.Keyword: '#ansigreen',"),
    ("theme.py", "Token: '#dddddd',"),
    ("tokens.py", 'token_range = "%d,%d-%d,%d:" % (token.start + token.end)'),
    ("tokens.py", 'new_token = f"{group}@{stream}"'),
    ("npm.py", "re.compile(r'//.+/:_authToken=\\s*((npm_.+)|([A-Fa-f0-9-]{36})).*'),"),
    ("entry_points.txt", "detect-secrets = detect_secrets.main:main"),
    ("schema.json", '"MasterUserPassword": false,'),
    ("create-user.rst", "    --password MyExamplePassword1! \\"),
    ("get-user.rst", "    --access-token eyJra456defEXAMPLE"),
    ("prose.py", "# information can be provided via the --username and --password options"),
    ("iterables.py", "remaining in their original positions--pass `strict=False`. To produce a"),
    ("create-login.rst", '"Password": "PassWord1",'),
    ("paging.rst", '"PurchaseToken": "eyJ2IjoiMSIsInMiOjEsImMiOi...",'),
    ("cluster.rst", "--kerberos-attributes Realm=EC2.INTERNAL,KdcAdminPassword=123,CrossRealmTrustPrincipalPassword=123"),
    ("test_netrc.py", "machine host.domain.com login log password pass1 account acct"),
    ("users.yml", 'password: "$6$rounds=656000$tgK3gYTyRLUmhyv2$lAFrYUQwn7E6VsjPOwQwoSx30lmpiU9r"'),
    ("test_scrubber.py", '{"password": "[Filtered]", "baz": "qux"},'),
    ("test_jwt.py", 'token = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.e30."'),
    ("compose.yml", "SQL_ALCHEMY_CONN: postgresql+psycopg2://airflow:airflow@postgres/airflow"),
    ("docs.rst", "CELERY_RESULT_DBURI = 'oracle://scott:tiger@127.0.0.1:1521/sidname'"),
    ("redis.py", "redis://[[username]:[password]]@localhost:6379/0"),
    ("README.md", "[![codecov](https://codecov.io/gh/acme/app/graph/badge.svg?token=yenl5fzxxr)](https://codecov.io)"),
    ("cloud.ini.template", "aws_secret_key: @SECRET_KEY"),
    ("chime.py", '"password": "T00000000?token=XXXXXXXXXXXXXXXXXXXXXXXX",'),
    ("oauth.md", '"access_token": "2YotnFZFEjr1zCsicMWpAA",'),
    ("settings.py", 'client_key = b"dGhlIHNhbXBsZSBub25jZQ=="'),
    ("pexpect.py", 'events = {"(?i)password": "secret\\n"}'),
    ("create-channel.rst", '"passphrase": "AB1C2defGHijkLMNo3PqQRstUvwxyz",'),
    ("mediapackage.rst", '"Password": "generatedwebdavpassword1",'),
    (
        "credential.py",
        ":param private_key: The URL-encoded private key, e.g. `-----BEGIN RSA PRIVATE KEY-----"
        "MIIEpQIBAAKCAQEAuyf/lNrH9ck8DmNyo3fGgvCI1l9s+cmBY3WIz+cUDqmxiieR\\\\n.-----END RSA PRIVATE KEY-----`",
    ),
    ("url.py", "msg=\"{{ lookup('url', 'https://some.site/file.txt', username='bob', password='hunter2') }}\""),
    # Ansible collections: ARM expressions, rST escapes, OpenSSL ciphertext, Postgres hashes, encoded words
    ("azure_rm_deployment.py", "adminPassword: \"[parameters('adminPassword')]\""),
    ("ome_user.rst", "Example: export OME\\_X\\_AUTH\\_TOKEN=x\\_auth\\_token"),
    ("defaults/main.yml", 'pwd: "U2FsdGVkX19eY7P3qRyyjaFsQgjoSQE71IX6IeBRios="'),
    ("pg_user.yml", "rolpassword: 'md59543f1d4c3a0b8f7b1e5f2a6c7d8e9f0'"),
    ("connection_string.yml", 'encoded_api_key: "ZXhhbXBsZS1lbmNvZGVk"'),
    ("test_ipa_otptoken.py", "'secretkey': 'VGVzdFNlY3JldDE=',"),
    ("gitlab_variable.yml", "SECRET_ACCESS_KEY: 321cba"),
    ("telegram.yml", "telegram_token: xxx-update"),
    ("test_credential.py", '"token": "myApiKey",'),
    ("netbox_provider.yml", 'netbox_token: "0123456789abcdef0123456789abcdef01234567"'),
    ("grid_audit.py", 'auth_token: "01234567-5678-9abc-78de-9fgabc123def"'),
    ("create-stage.rst", '"token": "a1b2c3d4567890ab",'),
    ("test_secretsmanager.py", '"secret-2": "value-2",'),
    ("junos_module.rst", "<password>$9$kq5Ftu1cSe</password>"),
    ("impl.yml", "account_key: account-ec384"),
    ("gateway.py", 'CREATE_ENCRYPTION_KEY = "v1/objects/encryption-keys"'),
    ("guide_aws.rst", 'aws_access_key: "--REMOVED--"'),
    ("60_sf.yml", 'connection_string: "account=myacct;user=myuser;password=mypass;warehouse=mywh"'),
    ("vm_customization.py", "_password = vim.vm.customization.Password()"),
    ("README.md", "secondary_cluster_password: passw0rd"),
    ("guide_attributes.rst", "password: PasswordForDefaultDC"),
    ("test_utils.py", "url_user = 'redis://user:p,a@ss@localhost:6379/0'"),
    ("instance_group.yml", 'bearer_token: "asdf1234"'),
    ("edit_smtp_com.py", 'server_password: "1234qwer!@#$"'),
    ("fortios_bookmark.py", 'sso_credential: "sslvpn-login"'),
    # the word password itself however spelt, hashes being built, jwt.io's token, a cut-short docs key
    ("models.py", 'credentials = {"username": "admin", "password": "P@55w0rd!"}'),
    ("ejabberd_user.yml", "password: pa$$w0rd"),
    ("postgresql_user.py", "hashed_password = 'md5{0}'.format(md5(password + user).hexdigest())"),
    (
        "azure_rm_accesstoken_info.py",
        "sample: eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2"
        "MjM5MDIyfQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c",
    ),
    ("quickstart.rst", "app.secret_key = b'_5#y2L\"F4Q8z\\n\\xec]/'"),
    ("test_auth.py", "'password': 'GR?XGR?XGR?XGR?X'"),
]


@pytest.mark.parametrize(("path", "line"), REAL_WORLD_TRAPS)
def test_real_world_traps_are_not_leaks(path, line):
    assert scan(path, line + "\n") == []


# ... and what must still be reported next to them
REAL_WORLD_LEAKS = [
    ("settings.py", 'SECRET_KEY = "u95e#xr$t3!vdux)fj11!*q*^w^^r#kiyrvt3kjui-t_k%m3op"', "generic-secret-assignment"),
    ("settings.py", 'dbpassword = "Lq4!vZ8x#Tm2FAKE"', "generic-secret-assignment"),
    ("models.py", 'credentials = {"username": "admin", "password": "S3cr3tP@ss!"}', "generic-secret-assignment"),
    ("login.json", '"Password": "h]7EszR}vF*mK2!q",', "generic-secret-assignment"),
    ("config.rst", "aws sns confirm-subscription --token 2336412f37fb687f5d51e6e241d7700ae02f7124d8268910b8", "generic-cli-password"),
    ("test_roles.py", "src = 'https://gitlab+deploy-token-31:_aJQ9c3HWzmRR4knBNyx@gitlab.com/acme/demo'", "connection-url-password"),
    ("deploy.yaml", "ansible_become_pass: 'N4v!q2Lx#FAKE8r'", "generic-secret-assignment"),
    # composed passwords are reported however weak: only the word password itself is a placeholder
    (".env", "DB_PASSWORD=SuperSecret123!", "generic-secret-config"),
    ("example_redshift.py", 'DB_PASS = "MyAmazonPassword1"', "generic-secret-assignment"),
    # EXAMPLE hidden inside random letters is a shaped fake, not a vendor's documentation marker
    ("compose.yml", "AWS_SECRET_ACCESS_KEY: 9drTJvcXLB89EXAMPLEKEYwJalrXUtnFEMIK7MDEN", "generic-secret-config"),
]


@pytest.mark.parametrize(("path", "line", "rule"), REAL_WORLD_LEAKS)
def test_real_world_leaks_are_reported(path, line, rule):
    assert [f.rule_id for f in scan(path, line + "\n")] == [rule]


def test_unknown_filter_or_decoder_is_a_pack_error_at_load():
    from scanner.rules.loader import PackError

    base = dict(title="T", severity="high", description="d", remediation="r", engine="secrets", pack="p",
                source="p.yaml", source_line=3, keywords=("tok_",), pattern="tok_[a-z]+")  # fmt: skip
    secrets.check_rules([Rule(id="ok", filters=("generic",), **base)])
    with pytest.raises(PackError, match=r"^p\.yaml:3: bad\.filters: unknown filter nope \(known: .*placeholder"):
        secrets.check_rules([Rule(id="bad", filters=("nope",), **base)])
    with pytest.raises(PackError, match=r"^p\.yaml:3: dec\.decoder: unknown decoder 'nope' \(known: kubernetes-secret"):
        secrets.check_rules([Rule(id="dec", decoder="nope", **base)])

