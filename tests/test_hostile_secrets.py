"""Secret hygiene (issue 9, part 4): no secret value in any output format, log line, problem or error
message unless --show-secrets. Every value is also checked to be *found*, so a test that greps
outputs for a secret the scanner never saw cannot pass by accident."""

from __future__ import annotations

import base64
import subprocess
from pathlib import Path

import pytest

from tests.conftest import FAKE_GH, REPO, git

# Well-formed fakes (random, not vendors' documentation examples, which allowlists may drop).
AWS_ID = "AKIAQ3EGRZ5XNP7MK2TW"
AWS_SECRET = "q8Vn2Mx7Lp4Rt9Wz1Ks6Jd3Hf5Gb0Yc8Ne2Ua7T"
SLACK = "xoxb-482915736021-5830172946381-Qm7Vx2Lp9Rt4Wz8Ks1Jd6HfB"
STRIPE = "sk_live_51Hq8ZpLk2Vd9XwQm3Rt7YbNcXe4Fa6"
DB_PASSWORD = "Zq7-Vw4m-Rx9k-Tp2n"
PRIVATE_KEY_BODY = base64.b64encode(bytes((i * 37 + 11) % 256 for i in range(600))).decode()
PRIVATE_KEY = (
    "-----BEGIN RSA PRIVATE KEY-----\n"
    + "\n".join(PRIVATE_KEY_BODY[i : i + 64] for i in range(0, len(PRIVATE_KEY_BODY), 64))
    + "\n-----END RSA PRIVATE KEY-----\n"
)
K8S_PASSWORD = "mK8-rQ2v-Lx7p-Wn4z"

CORPUS = {
    "app/settings.py": f'GITHUB_TOKEN = "{FAKE_GH}"\nSLACK_BOT_TOKEN = "{SLACK}"\n',
    "deploy/.env": f"AWS_ACCESS_KEY_ID={AWS_ID}\nAWS_SECRET_ACCESS_KEY={AWS_SECRET}\nSTRIPE_KEY={STRIPE}\n",
    "config/database.yml": f"production:\n  url: postgres://app:{DB_PASSWORD}@db.internal:5432/app\n",
    "keys/id_rsa": PRIVATE_KEY,
    "k8s/secret.yaml": "apiVersion: v1\nkind: Secret\nmetadata: {name: db}\ndata:\n  password: "
    + base64.b64encode(K8S_PASSWORD.encode()).decode() + "\n",
    # broken files whose parse error sits right at a secret
    "broken/main.tf": f'locals {{\n  token = 1 "{FAKE_GH}"\n  x = {SLACK} ${{\n}}\n',
    "broken/pod.yaml": f'apiVersion: v1\nkind: Pod\nx: "{AWS_SECRET}\n  y: [{STRIPE}\n',
    "broken/Dockerfile": f"FROM alpine\nENV {FAKE_GH}\nRUN <<{SLACK}\n",
    "broken/docker-compose.yml": f"services:\n  web: {STRIPE}\n  x: [\n",
}
# what must never be printed: the raw values and any long piece of them
RAW = [FAKE_GH, AWS_ID, AWS_SECRET, SLACK, STRIPE, DB_PASSWORD, PRIVATE_KEY_BODY[:40], K8S_PASSWORD]
FORMATS = ["text", "json", "sarif", "junit", "gitlab"]


def write_corpus(root: Path) -> None:
    for name, text in CORPUS.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def leaks(text: str) -> list[str]:
    return [raw for raw in RAW if raw in text or raw[4:24] in text]


def run(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    env = {"PATH": "/usr/bin:/bin", "NO_COLOR": "1", "PYTHONPATH": str(REPO), "HOME": str(cwd)}
    return subprocess.run([__import__("sys").executable, "-m", "scanner", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)  # fmt: skip


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("corpus")
    write_corpus(root)
    return root


def test_every_secret_of_the_corpus_is_found(corpus):
    done = run(corpus, "scan", ".", "--format", "json", "--show-secrets")
    for raw in RAW:
        if raw == PRIVATE_KEY_BODY[:40]:  # reported by its BEGIN line
            assert '"rule": "private-key"' in done.stdout
            continue
        assert raw in done.stdout, f"{raw} not reported: the hygiene tests below would prove nothing"


@pytest.mark.parametrize("fmt", FORMATS)
def test_no_secret_in_any_format_or_log(corpus, tmp_path, fmt):
    to_stdout = run(corpus, "scan", ".", "--format", fmt, "--verbose")
    assert to_stdout.returncode == 1, to_stdout.stderr
    out = tmp_path / f"report.{fmt}"
    to_file = run(corpus, "scan", ".", "--format", fmt, "--verbose", "--output", str(out))
    assert to_file.returncode == 1
    for text in (to_stdout.stdout, to_stdout.stderr, to_file.stdout, to_file.stderr, out.read_text()):
        assert leaks(text) == []
    assert "warning:" in to_stdout.stderr  # the broken files were reported (and their messages checked)


def test_show_secrets_is_the_only_way_to_see_them(corpus):
    shown = run(corpus, "scan", ".", "--format", "text", "--show-secrets")
    assert FAKE_GH in shown.stdout


def test_no_secret_in_history_and_staged_outputs(tmp_path):
    git(tmp_path, "init", "-q")
    git(tmp_path, "commit", "-q", "--allow-empty", "-m", "start")
    write_corpus(tmp_path)
    git(tmp_path, "add", "-A")
    git(tmp_path, "commit", "-qm", "add")
    git(tmp_path, "rm", "-rq", "app", "deploy")
    git(tmp_path, "commit", "-qm", "remove")
    (tmp_path / "staged.env").write_text(f"TOKEN={FAKE_GH}\n")
    git(tmp_path, "add", "staged.env")
    for mode in (["--history"], ["--staged"], ["--since-commit", "HEAD~2"]):
        for fmt in FORMATS:
            done = run(tmp_path, "scan", ".", *mode, "--format", fmt, "--verbose")
            assert done.returncode == 1, (mode, done.stderr)
            assert leaks(done.stdout + done.stderr) == [], (mode, fmt)
    history = run(tmp_path, "scan", ".", "--history", "--format", "json", "--show-secrets")
    assert AWS_SECRET in history.stdout  # deleted at HEAD, still found in history


def test_internal_error_message_never_carries_content(tmp_path, cli, monkeypatch):
    """An unexpected exception's text may quote a scanned file: only its type is printed."""
    import scanner.scan

    (tmp_path / "a.env").write_text(f"TOKEN={FAKE_GH}\n")

    def explode(*args, **kwargs):
        raise ValueError(f"cannot handle {FAKE_GH!r} at line 1")

    monkeypatch.setattr(scanner.scan, "finish", explode)
    result = cli("scan", ".", "--format", "json", cwd=tmp_path)
    assert result.code == 2
    assert "internal error: ValueError" in result.err
    assert FAKE_GH not in result.out + result.err
    assert "Traceback" not in result.err
