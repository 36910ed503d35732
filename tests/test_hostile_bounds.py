"""Hostile input, part 2: bombs, tags, huge and weird encodings, resource bounds, --timeout and the
exit-code contract for files that cannot be parsed (issue 9).

Timeouts in these tests are generous "does not hang" guards, never timing assertions."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from scanner.documents.tree import YamlError, load_yaml_documents
from tests.conftest import FAKE_GH, MINIMAL_PACK, REPO

GUARD = 180  # seconds: a hang, not slowness


def scan(tmp: Path, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """`python -m scanner scan ...` in a subprocess, so a hang fails the test instead of the suite."""
    env = dict(os.environ, NO_COLOR="1", PYTHONPATH=str(REPO))
    env.pop("SCANNER_DEBUG", None)
    return subprocess.run(
        [sys.executable, "-m", "scanner", "scan", *args], cwd=cwd or tmp, env=env, capture_output=True, text=True,
        timeout=GUARD,
    )  # fmt: skip


def billion_laughs(levels: int = 9) -> str:
    lines = ['l0: &l0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for i in range(1, levels):
        lines.append(f"l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 9) + "]")
    return "\n".join(lines) + "\n"


def merge_bomb(levels: int = 30) -> str:
    """Merge keys (<<) of aliases: PyYAML's flatten_mapping doubles a list per level before any node
    is built (2**30 pairs from 700 bytes)."""
    items = ["&m0 {k0: 1, k1: 2}"] + [f"&m{i} {{<<: [*m{i - 1}, *m{i - 1}]}}" for i in range(1, levels)]
    return "z: {<<: [" + ", ".join(items) + "]}\n"


PRIVILEGED_POD = """apiVersion: v1
kind: Pod
metadata:
  name: web
spec:
  containers:
    - name: web
      image: nginx:1.25
      securityContext:
        privileged: true
"""


@pytest.mark.parametrize("bomb", [billion_laughs(), merge_bomb()], ids=["billion-laughs", "merge-keys"])
def test_yaml_bombs_are_refused_by_the_loader(bomb):
    with pytest.raises(YamlError, match="alias"):
        load_yaml_documents(bomb.encode())


@pytest.mark.parametrize("bomb", [billion_laughs(), merge_bomb()], ids=["billion-laughs", "merge-keys"])
def test_yaml_bombs_through_every_consumer(tmp_path, bomb):
    """Kubernetes documents, the Secret decoder of the secrets engine, Compose, .tf.json: each refuses the
    bomb with a one-line warning, and the valid files of the same scan are still scanned."""
    (tmp_path / "secret.yaml").write_text("apiVersion: v1\nkind: Secret\nmetadata: {name: s}\n" + bomb)
    (tmp_path / "k8s.yaml").write_text("apiVersion: v1\nkind: Pod\n" + bomb)
    (tmp_path / "docker-compose.yml").write_text("services:\n  web: {image: nginx}\n" + bomb)
    (tmp_path / "main.tf.json").write_text(bomb)
    (tmp_path / "pod.yaml").write_text(PRIVILEGED_POD)
    (tmp_path / "app.env").write_text(f"TOKEN={FAKE_GH}\n")
    done = scan(tmp_path, "--format", "json")
    assert done.returncode == 1, done.stderr
    report = json.loads(done.stdout)
    rules = {(f["path"], f["rule"]) for f in report["findings"]}
    assert ("app.env", "github-token") in rules
    assert any(path == "pod.yaml" for path, _ in rules), rules
    problems = {p["path"]: p["message"] for p in report["problems"]}
    for name in ("k8s.yaml", "docker-compose.yml"):
        assert "alias" in problems[name], problems
    assert "Traceback" not in done.stderr
    assert all("\n" not in line for line in problems.values())


@pytest.mark.parametrize("where", ["rules", "config"])
def test_yaml_bomb_in_a_rule_pack_or_config_is_a_configuration_error(tmp_path, where):
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text(billion_laughs())
    args = ["--rules", str(bomb)] if where == "rules" else ["--config", str(bomb)]
    done = scan(tmp_path, *args)
    assert done.returncode == 2
    assert "bomb.yaml" in done.stderr and "Traceback" not in done.stderr


TAGS = [
    "!!python/object/apply:os.system ['touch {marker}']",
    "!!python/object/apply:subprocess.call [['touch', '{marker}']]",
    "!!python/object/new:os.system ['touch {marker}']",
    "!!python/name:os.system",
    "!!python/module:os",
]


def test_python_tags_never_execute_and_the_rest_is_still_scanned(tmp_path):
    marker = tmp_path.parent / f"{tmp_path.name}-MARKER"
    tags = "\n".join(f"    t{i}: {tag.format(marker=marker)}" for i, tag in enumerate(TAGS))
    pod = PRIVILEGED_POD.replace("metadata:\n  name: web\n", "metadata:\n  name: web\n  annotations:\n" + tags + "\n")
    (tmp_path / "pod.yaml").write_text(pod)
    (tmp_path / "docker-compose.yml").write_text(f"services:\n  web:\n    image: {TAGS[0].format(marker=marker)}\n")
    pack = tmp_path / "pack.yaml"
    pack.write_text(f"pack: evil\nrules: {TAGS[0].format(marker=marker)}\n")
    (tmp_path / ".scanner.yaml").write_text(f"exclude: {TAGS[0].format(marker=marker)}\n")
    done = scan(tmp_path, "--format", "json", "--config", "/dev/null")
    scan(tmp_path, "--rules", str(pack))
    scan(tmp_path)
    assert not marker.exists()
    findings = json.loads(done.stdout)["findings"] if done.stdout else []
    assert any(f["path"] == "pod.yaml" for f in findings), done.stderr


def test_duplicate_keys_do_not_hide_either_value(tmp_path):
    other = "ghp_" + "Zz9" * 10 + "0wbWHC"  # with its checksum
    (tmp_path / "config.yaml").write_text(f"token: {FAKE_GH}\ntoken: {other}\n")
    done = scan(tmp_path, "--format", "json")
    secrets = {f["line"] for f in json.loads(done.stdout)["findings"] if f["rule"] == "github-token"}
    assert secrets == {1, 2}


def test_ten_megabyte_single_line(tmp_path):
    """A 10 MB line (minified JSON, a data URI): the secret at its end is found, on line 1."""
    filler = "x" * (10 * 1024 * 1024)
    (tmp_path / "huge.yaml").write_text(f'apiVersion: v1\nkind: ConfigMap\ndata: {{blob: "{filler} {FAKE_GH}"}}\n')
    (tmp_path / "huge.json").write_text('{"a": "' + filler + '", "token": "' + FAKE_GH + '"}')
    done = scan(tmp_path, "--format", "json", "--max-file-size", "11MB")
    found = {(f["path"], f["line"]) for f in json.loads(done.stdout)["findings"] if f["rule"] == "github-token"}
    assert found == {("huge.yaml", 3), ("huge.json", 1)}, done.stderr


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("deep.yaml", "apiVersion: v1\nkind: Pod\nspec: " + "[" * 50_000 + "]" * 50_000 + "\n"),
        ("deep2.yaml", "apiVersion: v1\nkind: Pod\nspec:\n" + "".join(" " * i + "a:\n" for i in range(3000))),
        ("plan.json", '{"format_version": "1.0", "planned_values": ' + "[" * 50_000 + "]" * 50_000 + "}"),
        ("main.tf.json", '{"resource": ' + '{"a": ' * 20_000 + "1" + "}" * 20_001),
        ("main.tf", "locals { x = " + "[" * 20_000 + "]" * 20_000 + " }\n"),
        ("Dockerfile", "FROM alpine\nRUN " + "$(" * 20_000 + "\n"),
    ],
    ids=["yaml-flow", "yaml-block", "plan", "tf-json", "hcl", "dockerfile"],
)
def test_deep_nesting_is_a_problem_not_a_crash(tmp_path, name, text):
    (tmp_path / name).write_text(text)
    (tmp_path / "app.env").write_text(f"TOKEN={FAKE_GH}\n")
    done = scan(tmp_path, "--format", "json")
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr and "internal error" not in done.stderr
    findings = json.loads(done.stdout)["findings"]
    assert "app.env" in {f["path"] for f in findings}
    assert all(f["path"] == "Dockerfile" for f in findings if f["path"] != "app.env")  # valid: may have findings


def test_crlf_files_keep_their_lines(tmp_path):
    (tmp_path / "pod.yaml").write_bytes(PRIVILEGED_POD.replace("\n", "\r\n").encode())
    (tmp_path / "app.env").write_bytes(f"A=1\r\nB=2\r\nTOKEN={FAKE_GH}\r\n".encode())
    (tmp_path / "Dockerfile").write_bytes(b"FROM alpine\r\nRUN apk add \\\r\n    curl\r\nUSER root\r\n")
    done = scan(tmp_path, "--format", "json")
    report = json.loads(done.stdout)
    assert report["problems"] == []
    found = {(f["path"], f["line"]) for f in report["findings"]}
    assert ("app.env", 3) in found
    assert ("pod.yaml", 10) in found or any(p == "pod.yaml" for p, _ in found)
    assert any(p == "Dockerfile" for p, _ in found)
    token = next(f for f in report["findings"] if f["path"] == "app.env")
    assert "\r" not in token["evidence"]


def test_utf16_with_bom_is_scanned(tmp_path):
    text = f"# config\nTOKEN={FAKE_GH}\n"
    (tmp_path / "le.env").write_bytes(b"\xff\xfe" + text.encode("utf-16-le"))
    (tmp_path / "be.env").write_bytes(b"\xfe\xff" + text.encode("utf-16-be"))
    (tmp_path / "pod.yaml").write_bytes(b"\xff\xfe" + PRIVILEGED_POD.encode("utf-16-le"))
    (tmp_path / "odd.env").write_bytes(b"\xff\xfe" + text.encode("utf-16-le") + b"\x00")  # odd length
    done = scan(tmp_path, "--format", "json", "--verbose")
    found = {(f["path"], f["line"]) for f in json.loads(done.stdout)["findings"]}
    assert {("le.env", 2), ("be.env", 2)} <= found
    assert any(p == "pod.yaml" for p, _ in found)
    assert "Traceback" not in done.stderr


def test_invalid_utf8_and_binary_with_text_extensions(tmp_path):
    (tmp_path / "latin1.env").write_bytes(b"NAME=Ren\xe9\nTOKEN=" + FAKE_GH.encode() + b" \xff\xfe\xfd\n")
    (tmp_path / "pod.yaml").write_bytes(PRIVILEGED_POD.encode() + b"      note: \xc3\x28 \xa0\xa1\n")
    (tmp_path / "image.yaml").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + FAKE_GH.encode() + bytes(range(256)))
    (tmp_path / "main.tf").write_bytes(b'resource "x" "y" {\n  name = "\xff\xfe"\n}\n')
    (tmp_path / "Dockerfile").write_bytes(b"FROM alpine\nRUN echo \x00\x01 \xff\nUSER root\n")
    done = scan(tmp_path, "--format", "json", "--verbose")
    assert "Traceback" not in done.stderr and "internal error" not in done.stderr
    report = json.loads(done.stdout)
    found = {(f["path"], f["line"]) for f in report["findings"]}
    assert ("latin1.env", 2) in found
    assert not any(p == "image.yaml" for p, _ in found)  # binary: skipped (--verbose says so)
    assert "binary" in {p["path"]: p["message"] for p in report["problems"]}["image.yaml"]
    for problem in report["problems"]:
        assert "\n" not in problem["message"]


CATASTROPHIC_PACK = """pack: adversarial
rules:
  - id: nested-quantifier
    title: Catastrophic backtracking in a backtracking engine
    severity: low
    description: ([a-z0-9]+)+$ takes exponential time in a backtracking engine, linear in RE2.
    remediation: None.
    engine: secrets
    keywords: [k=]
    pattern: 'k=(?P<secret>([a-z0-9]+)+$)'
    examples:
      bad: ["k=q8v3n2m7x1z9w4r6"]
      good: ["b"]
  - id: nested-alternation
    title: Another classic
    severity: low
    description: (a|aa)*c against a long run of a.
    remediation: None.
    engine: secrets
    keywords: [k=]
    pattern: 'k=(?P<secret>(a|aa)*c)'
    examples:
      bad: ["k=aac"]
      good: ["b"]
"""


def test_user_pack_with_catastrophic_backtracking_pattern_runs_in_linear_time(tmp_path):
    pack = tmp_path / "pack.yaml"
    pack.write_text(CATASTROPHIC_PACK)
    work = tmp_path / "work"
    work.mkdir()
    (work / "adversarial.txt").write_text("k=" + "a" * 100_000 + "!\n" + "k=" + "a" * 100_000 + "!")
    (work / "match.txt").write_text("k=q8v3n2m7x1z9w4r6")  # `$`: end of text
    done = scan(work, "--rules", str(pack), "--only", "adversarial", "--format", "json")  # completes: RE2
    assert done.returncode == 1, done.stderr
    assert {f["path"] for f in json.loads(done.stdout)["findings"]} == {"match.txt"}


@pytest.mark.parametrize("pattern", [r"(a)\1", r"(?=a)b", r"(?<!x)y", r"a++"])
def test_user_pack_with_non_re2_pattern_is_rejected_at_load(tmp_path, pattern):
    pack = tmp_path / "pack.yaml"
    pack.write_text(CATASTROPHIC_PACK.replace("'k=(?P<secret>([a-z0-9]+)+$)'", "'(?P<secret>" + pattern + ")'"))
    done = scan(tmp_path, "--rules", str(pack))
    assert done.returncode == 2
    assert "pack.yaml" in done.stderr and "RE2" in done.stderr and "Traceback" not in done.stderr


def test_base64_inside_base64_is_decoded_once_and_bounded(tmp_path):
    """A Secret value that is base64 of base64 of ... (30 levels, ~300 KB): decoded one level (what
    Kubernetes does), reported once, no blow-up."""
    value = b"s3cr3t-Pa55word-" + b"x" * 24
    for _ in range(30):
        value = base64.b64encode(value)
    (tmp_path / "secret.yaml").write_bytes(
        b"apiVersion: v1\nkind: Secret\nmetadata: {name: s}\ndata:\n  password: " + value + b"\n"
    )
    done = scan(tmp_path, "--format", "json")
    findings = json.loads(done.stdout)["findings"]
    assert [(f["path"], f["line"]) for f in findings if f["rule"] == "kubernetes-secret-plaintext"] == [("secret.yaml", 5)]
    assert value.decode()[:40] not in done.stdout


def _slow_yaml(path: Path) -> None:
    """~8 MB of small YAML mappings: seconds of parsing, far beyond a 0.5 s --timeout."""
    doc = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: big}\ndata:\n"
    path.write_text(doc + "".join(f"  k{i}: {{a: 1, b: [1, 2, 3]}}\n" for i in range(300_000)))


def test_timeout_reports_the_file_as_not_fully_scanned(tmp_path):
    _slow_yaml(tmp_path / "big.yaml")
    (tmp_path / "app.env").write_text(f"TOKEN={FAKE_GH}\n")
    (tmp_path / "pod.yaml").write_text(PRIVILEGED_POD)
    done = scan(tmp_path, "--format", "json", "--timeout", "0.5")
    report = json.loads(done.stdout)
    assert {p["path"]: p["message"] for p in report["problems"]}["big.yaml"].startswith("not fully scanned")
    assert {f["path"] for f in report["findings"]} >= {"app.env", "pod.yaml"}
    assert done.returncode == 1
    assert scan(tmp_path, "--timeout", "0.5", "--fail-on-parse-error", "--only", "nothing-matches-this").returncode in (1, 2)


def test_timeout_works_in_worker_processes(tmp_path):
    for i in range(3):  # > 16 MB in total: the scan runs in worker processes
        _slow_yaml(tmp_path / f"big{i}.yaml")
    (tmp_path / "app.env").write_text(f"TOKEN={FAKE_GH}\n")
    done = scan(tmp_path, "--format", "json", "--timeout", "0.5", "--jobs", "2")
    report = json.loads(done.stdout)
    timed_out = {p["path"] for p in report["problems"] if p["message"].startswith("not fully scanned")}
    assert timed_out == {"big0.yaml", "big1.yaml", "big2.yaml"}
    assert "app.env" in {f["path"] for f in report["findings"]}


def test_parse_problems_do_not_change_the_exit_code_unless_asked(tmp_path):
    (tmp_path / "broken.yaml").write_text("apiVersion: v1\nkind: Pod\nspec: [unclosed\n")
    (tmp_path / "main.tf").write_text('resource "a" "b" {\n')
    (tmp_path / "Dockerfile").write_text("FROM alpine\nRUN <<EOF\necho never closed\n")
    (tmp_path / "README.md").write_text("nothing here\n")
    plain = scan(tmp_path)
    assert plain.returncode == 0, plain.stderr
    assert plain.stderr.count("warning:") == 3
    strict = scan(tmp_path, "--fail-on-parse-error")
    assert strict.returncode == 1
    assert "3 files could not be fully scanned" in strict.stderr
    assert scan(tmp_path, "--fail-on-parse-error", "--exit-zero").returncode == 0
    (tmp_path / "broken.yaml").unlink()
    (tmp_path / "main.tf").unlink()
    (tmp_path / "Dockerfile").unlink()
    assert scan(tmp_path, "--fail-on-parse-error").returncode == 0


@pytest.mark.parametrize("bad", [["--timeout", "-1"], ["--timeout", "nan"], ["--jobs", "x"], ["--fail-on", "x"]])
def test_usage_errors_exit_2(tmp_path, bad):
    done = scan(tmp_path, *bad)
    assert done.returncode == 2 and "Traceback" not in done.stderr


def test_a_module_failing_on_one_document_costs_only_that_document(tmp_path, cli, monkeypatch):
    """Defence in depth: a document-module bug on one hostile file becomes a Problem for that file;
    the same target's subjects in the other files are still checked."""
    from scanner import documents

    (tmp_path / "a.yaml").write_text(PRIVILEGED_POD)
    (tmp_path / "b.yaml").write_text(PRIVILEGED_POD.replace("name: web\n", "name: evil\n", 1))
    targets = documents.targets()
    real = targets["kubernetes.container"]

    def flaky(docs, ctx):
        if any(d.path == "b.yaml" for d in docs):
            raise RuntimeError("boom")
        return real(docs, ctx)

    monkeypatch.setattr(documents, "targets", lambda: {**targets, "kubernetes.container": flaky})
    run = cli("scan", ".", "--format", "json", "--rules", str(MINIMAL_PACK), cwd=tmp_path)
    report = json.loads(run.out)
    assert "a.yaml" in {f["path"] for f in report["findings"]}
    assert any(p["path"] == "b.yaml" and "RuntimeError" in p["message"] for p in report["problems"])
    assert "boom" not in run.out + run.err
