"""The ways people write credentials besides `name = value`: calls, command lines, HTTP headers, XML,
space-separated config, Groovy command syntax, PEM blocks in logs; and the filters that used to throw
real secrets away (UUID vendor keys, Mailgun's `key-`, long session tokens, word-like passwords)."""

from __future__ import annotations

import base64
import random
import string
from functools import lru_cache
from pathlib import Path

import pytest

from scanner.engines import secrets
from scanner.model import Item
from scanner.rules.loader import load_pack

PACK = Path(__file__).resolve().parent.parent / "policies" / "secrets.yaml"


@lru_cache(maxsize=1)
def compiled() -> secrets.Compiled:
    return secrets.compile_rules(r for r in load_pack(PACK) if not r.opt_in)


def rules_on(path: str, text: str) -> list[tuple[int, str]]:
    return [(f.line, f.rule_id) for f in secrets.scan_item(compiled(), Item(path, text.encode()))]


LEAKS = [
    # function calls: positional arguments, define(), setters, constructors
    ("wp-config.php", "define( 'DB_PASSWORD', 'px~XHNjrzSrqf-&fsYq' );", "generic-secret-call"),
    ("Mail.cs", 'var c = new NetworkCredential("noreply@corp.example", "Jm7vQ2xR9nKw");', "generic-secret-call"),
    ("Db.java", 'ds.setPassword("Rv8nQ3wX6zKt");', "generic-secret-call"),
    ("client.go", 'req.SetBasicAuth("reporting", "NbrnTP3fAbnF7uff")', "generic-secret-call"),
    ("client.go", 'req.Header.Set("X-Api-Key", "q6OLkTkx9NIQ0WobDWYlgAAC")', "generic-secret-call"),
    ("mail.py", 'smtp.login("reports@shop.example", "Tz2mK6vQ9xWn")', "generic-secret-call"),
    ("db.php", "$pdo = new PDO('mysql:host=db;dbname=shop', 'shop', 'uWiHI@*uMn.wWUl5O7O');", "generic-secret-call"),
    ("db.py", 'conn = connect(host, user, password="Wq4nT8xZ2vKm")', "generic-secret-assignment"),
    # command lines
    ("backup.sh", "mysqldump -h db -u backup -pJ4rWq9mZt2Lx shop > shop.sql", "generic-cli-password"),
    ("backup.sh", "mysqladmin -u root --password=Vq7nR2pLx9Kc flush-logs", "generic-cli-password"),
    ("backup.sh", "redis-cli -h cache -a 'Lp3xR8vN2qWz' ping", "generic-cli-password"),
    ("backup.sh", "redis-server /etc/redis.conf --requirepass mK4tP9wQx2Vb", "generic-cli-password"),
    ("backup.sh", "sshpass -p 'Zc6yH1nB8mQr' rsync -a out archive@host:/srv", "generic-cli-password"),
    ("backup.sh", "curl -fsS -u ops:Rt5vW8zK2nQp https://status.example/api", "generic-cli-password"),
    ("backup.sh", "PGPASSWORD=c8Hn2xQvT5wZ pg_dump -h db -U reporter reports", "generic-cli-password"),
    ("backup.sh", "docker login -u deploy -p Hq2mW7xZ4rTv registry.example", "generic-cli-password"),
    ("deploy.ps1", '$p = ConvertTo-SecureString "Tq8mX2vZ5nLw" -AsPlainText -Force', "generic-cli-password"),
    ("deploy.ps1", 'Invoke-Sqlcmd -ServerInstance sql-01 -Username deploy -Password "Hv9zL2qW6mXc"', "generic-cli-password"),
    # HTTP headers
    ("README.md", "curl -H 'X-Api-Key: Tn6wQ2xK9vRm4zLp' https://export.example/v1", "generic-http-credential"),
    ("orders.http", "Authorization: Bearer Pz3vN8qW2kXr7mTc5LbH9yJd", "generic-bearer-token"),
    ("access.log", '"GET /export?format=csv&api_key=Xw9vT2nQ6mKr4zLp HTTP/1.1" 200', "generic-http-credential"),
    # XML, properties, Gradle, INI, .env exports
    ("settings.xml", "<server>\n<password>Qp8vX3mK7zTn</password>\n</server>", "generic-xml-secret"),
    ("Web.config", '<network host="smtp" password="Gx5mR9wK2qTz" />', "generic-secret-assignment"),
    ("gradle.properties", "corpRepoPassword Tz7qW2nXk5Rm", "generic-secret-space-separated"),
    ("gradle.properties", "signing.password: Hn3vK8xQ2wLz", "generic-secret-config"),
    ("build.gradle", "credentials {\n    password 'Vx5nQ8wK3zTm'\n}", "generic-gradle-credential"),
    ("redis.conf", "port 6379\nrequirepass Wm7xQ2nT9vKr", "generic-secret-space-separated"),
    ("odbc.ini", "[warehouse]\nPassword    = Hq6vT2xN9wKz", "generic-secret-config"),
    (".env", "export DATABASE_PASSWORD=Kq9wX3vN7zTm", "generic-secret-config"),
    ("Makefile", "DB_PASSWORD ?= Wk3nT7xQ9vRm", "generic-secret-config"),
    ("values.yaml", "auth: { username: deploy, password: Qm2xW7nR4vKt }", "generic-secret-config"),
    ("cronjob.yaml", '- { name: EXPORT_API_TOKEN, value: "Fw2nK7xQ4vTm9rLp" }', "generic-env-name-value"),
    ("wsgi.py", 'app.config["SECRET_KEY"] = "Xq7vN2mK9wRt4zLp"', "generic-secret-assignment"),
    ("settings.py", "SECRET_KEY = os.environ.get('SECRET_KEY', 'dj4ng0-Qm2xW7nR4vKt9vLm3nRtZp')", "generic-secret-call"),
    ("deploy.rb", "set :password, 'Bq8vN3xK7wTm'", "generic-secret-call"),
    ("mailer.rb", "  :password => 'Ly4mQ9wX2nRt',", "generic-secret-call"),
    ("reports.xml", '<entry key="db.password">Gm8vK2xQ5nTw</entry>', "generic-xml-secret"),
    ("init.sql", "CREATE USER 'reporter'@'%' IDENTIFIED BY 'Jw5nR8xQ2vLt';", "generic-sql-password"),
    ("V7__roles.sql", "CREATE ROLE bi_reader WITH LOGIN PASSWORD 'Vr6tN2xK9wQm';", "generic-sql-password"),
    ("bootstrap.sh", "kubectl create secret generic db --from-literal=password=Hm4wX8qN2vTz --dry-run=client", "generic-cli-password"),
    ("ci.yml", 'run: echo "Vb7nQ2xK9wLt" | docker login registry.internal -u ci --password-stdin', "generic-cli-password"),
    ("compose.yml", 'test: ["CMD", "redis-cli", "-a", "Zr5mX9qT2wKn", "ping"]', "generic-cli-password"),
    (".pgpass", "reports.db.internal:5432:reports:reporter:Nx6vQ2wK8tLm", "pgpass-password"),
]


@pytest.mark.parametrize(("path", "text", "rule"), LEAKS)
def test_each_shape_is_reported_on_its_line(path, text, rule):
    want = 2 if "\n" in text else 1  # the multi-line shapes carry the secret on their second line
    assert rules_on(path, text + "\n") == [(want, rule)]


def test_positional_secret_in_a_multi_line_call_is_reported_on_its_own_line():
    text = 'creds := credentials.NewStaticCredentials(\n\t"AKIANTE537Z4AXK5Z3ZI",\n\t"Yg32o0DtYobmv39rPz/I8h/l9qgBUuMGyKqTa7IU",\n\t"",\n)\n'
    assert rules_on("storage.go", text) == [(2, "aws-access-key-id"), (3, "generic-secret-call")]


def test_basic_authorization_is_decoded_and_its_password_judged():
    real = base64.b64encode(b"svc-export:Fy6Tq9Lw2Xn4Vk8R").decode()
    assert rules_on("README.md", f'curl -H "Authorization: Basic {real}" https://x.example\n') == [(1, "generic-basic-auth")]
    for weak in (b"admin:admin", b"user:changeme", b"username:password", b"ci:${TOKEN}", b"no-colon-here"):
        value = base64.b64encode(weak).decode()
        assert rules_on("README.md", f'curl -H "Authorization: Basic {value}" https://x.example\n') == [], weak


def test_pem_block_in_timestamped_log_lines_is_a_private_key():
    body = "".join(random.Random(3).choices(string.ascii_letters + string.digits, k=64))
    log = (
        "2024-03-11T08:14:07.450Z WARN  loading client key\n"
        "2024-03-11T08:14:07.451Z WARN  -----BEGIN RSA PRIVATE KEY-----\n"
        f"2024-03-11T08:14:07.451Z WARN  {body}\n"
        "2024-03-11T08:14:07.451Z WARN  -----END RSA PRIVATE KEY-----\n"
    )
    assert rules_on("gateway.log", log) == [(2, "private-key")]


NOT_LEAKS = [
    ("deploy.sh", "mysql -h db -u root -p shop"),
    ("deploy.sh", "psql -h db -p 5432 -U app -d app"),
    ("deploy.sh", "ssh -p 2222 deploy@host"),
    ("deploy.sh", "docker run -p 8080:80 -p 5432:5432 postgres:16"),
    ("deploy.sh", 'PGPASSWORD="$(cat /run/secrets/pg)" pg_dump -h db app'),
    ("deploy.sh", 'redis-cli -h cache -a "$REDIS_PASSWORD" ping'),
    ("deploy.sh", "export EXPORT_API_KEY=<your key>"),
    ("deploy.sh", 'echo "$TOKEN" | docker login ghcr.io -u ci --password-stdin'),
    ("deploy.sh", "mytool --password-file /run/secrets/pw"),
    ("deploy.ps1", "$s = ConvertTo-SecureString $env:SVC_PASSWORD -AsPlainText -Force"),
    ("deploy.ps1", "Invoke-Sqlcmd -Username $User -Password $Password"),
    ("Mail.cs", "var c = new NetworkCredential(user, password);"),
    ("Client.java", 'String h = getPasswordHint("reporter");'),
    ("Client.java", 'boolean ok = validatePassword("Summer2024!");'),
    ("settings.py", 'client_secret = read_secret("oauth/client-secret")'),
    ("settings.php", "define('DB_PASSWORD', getenv('DB_PASSWORD'));"),
    ("settings.php", "define('AUTH_KEY', 'put your unique phrase here');"),
    ("README.md", "X-Api-Key: YOUR_API_KEY"),
    ("README.md", "curl -H 'X-Api-Key: {{api_key}}' https://api.example.com"),
    ("App.config", "<password>&lt;password&gt;</password>"),
    ("App.config", '<add key="ClientSecret" value="__ClientSecret__" />'),
    ("redis.conf", "# requirepass foobared"),
    ("gradle.properties", "corpRepoPassword ${CORP_REPO_PASSWORD}"),
    ("forms.yaml", "password: required"),
    ("forms.yaml", "password: string"),
    ("forms.yaml", "password: true"),
    ("forms.yaml", "password: ${X}"),
    ("forms.yaml", 'password: "password"'),
    ("en.yaml", 'password: "Password"'),
    ("en.yaml", 'password_prompt: "Enter your password"'),
    ("settings.py", 'password = os.environ["DB_PASSWORD"]'),
    ("settings.py", "password = os.getenv('DB_PASSWORD')"),
    ("Windows.cmd", "set DB_PASSWORD=%DB_PASSWORD%"),
    ("resource.py", "https://example.com/protected?access_token=kjfch2345sdf   # Query"),  # RFC 2606 host
    ("settings.py", "CSRF_SECRET = os.environ.get('CSRF_SECRET', 'dev-csrf-secret')"),
    ("cronjob.yaml", "- { name: DB_PASSWORD, valueFrom: { secretKeyRef: { name: db, key: password } } }"),
    ("schema.yaml", "links: { password: required, token: string }"),
    ("roles.sql", "ALTER ROLE legacy_etl WITH PASSWORD NULL;"),
    ("init.sql", "CREATE USER 'app'@'%' IDENTIFIED BY '${APP_DB_PASSWORD}';"),
    ("Makefile", "API_TOKEN ?= $(shell cat .api-token)"),
    ("deploy.sh", 'helm upgrade --install app ./chart --set db.password=${{ secrets.DB_PASSWORD }}'),
    ("deploy.sh", 'echo "$CI_REGISTRY_PASSWORD" | docker login -u ci --password-stdin'),
    (".pgpass", "localhost:5432:*:postgres:postgres"),
]


def test_rfc_6749_basic_credentials_are_a_documented_example():
    found = secrets.scan_item(compiled(), Item("base.py", b"Authorization: Basic czZCaGRSa3F0MzpnWDFmQmF0M2JW\n"))
    assert [(f.rule_id, f.severity) for f in found] == [("generic-basic-auth", "info")]


@pytest.mark.parametrize(("path", "line"), NOT_LEAKS)
def test_templates_references_and_placeholders_are_not_leaks(path, line):
    assert rules_on(path, line + "\n") == []


# ------------------------------------------------------------------ filters that threw real secrets away


def test_a_uuid_under_a_vendor_key_name_is_that_vendors_key():
    assert rules_on(".env", 'HEROKU_API_KEY="5b1e9f3c-2d47-4a8e-9c61-0f2d8e7b3a14"\n') == [(1, "generic-secret-assignment")]
    assert rules_on("app.yaml", "snykToken: 5b1e9f3c-2d47-4a8e-9c61-0f2d8e7b3a14\n") == [(1, "generic-secret-config")]
    # no vendor named: an identifier as far as anyone can tell
    assert rules_on("app.yaml", 'apiKey: "5b1e9f3c-2d47-4a8e-9c61-0f2d8e7b3a14"\n') == []
    assert rules_on("app.yaml", 'request_token: "5b1e9f3c-2d47-4a8e-9c61-0f2d8e7b3a14"\n') == []


def test_mailgun_key_prefix_is_a_format_not_a_placeholder():
    assert rules_on(".env", "MAILGUN_API_KEY=key-3b8f2a7c9d1e4f6a0b5c8d2e7f1a4b9c\n") == [(1, "generic-secret-config")]
    assert rules_on(".env", "SIGNING_KEY_NAME=key-signing-primary\n") == []


def test_long_session_tokens_are_not_cut_by_a_global_maximum_length():
    token = "FwoGZXIvYXdzEBYaDH" + "".join(random.Random(1).choices(string.ascii_letters + string.digits + "/+", k=600))
    assert rules_on("creds.py", f'aws_session_token = "{token}"\n') == [(1, "generic-secret-assignment")]
    assert rules_on(".env", f"AWS_SESSION_TOKEN={token}\n") == [(1, "generic-secret-config")]


@pytest.mark.parametrize("password", ["Summer.Breeze2024", "Tr0ub4dor&3", "Blue.Horse.Battery9"])
def test_a_word_like_password_under_a_password_key_is_a_password(password):
    assert rules_on("values.yaml", f'password: "{password}"\n') == [(1, "generic-secret-assignment")]
    assert rules_on("database.php", f"'password' => '{password}',\n") == [(1, "generic-secret-assignment")]


def test_a_dotted_name_is_still_a_reference():
    assert rules_on("settings.py", 'password = "settings.DB_PASSWORD"\n') == []
    assert rules_on("app.yaml", 'api_token: "Config.Token2024"\n') == []
