"""Many repositories (issue 18): `scan --history REPO...` scans each in turn with its own provenance
and labels each finding with its repository; the same through `merge` of one job per repository;
URLs cloned (GitPython) into a temporary bare repository with the hardened git environment, from
file:// and from a `git daemon` on 127.0.0.1; SARIF with one run per repository, valid."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from tests.conftest import git
from tests.test_history import AWS, GH

PACK = Path(__file__).with_name("history_pack.yaml")
RULES = ["--rules", str(PACK), "--only", "history-test"]


def _repo(path: Path, files: dict[str, str], later: dict[str, str] | None = None) -> Path:
    path.mkdir(parents=True)
    git(path, "init", "-q")
    for name, text in files.items():
        (path / name).write_text(text)
    git(path, "add", "-A")
    git(path, "commit", "-qm", "first")
    if later:
        for name, text in later.items():
            (path / name).write_text(text)
        git(path, "add", "-A")
        git(path, "commit", "-qm", "second")
    return path


@pytest.fixture
def two_repos(tmp_path) -> tuple[Path, Path]:
    a = _repo(tmp_path / "alpha", {"app.env": f"GITHUB_TOKEN={GH}\n"}, {"app.env": "GITHUB_TOKEN=${TOKEN}\n"})
    b = _repo(tmp_path / "beta", {"ci.env": f"GITHUB_TOKEN={GH}\nAWS_ACCESS_KEY_ID={AWS}\n"})
    return a, b


def _by_repo(doc: dict) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for finding in doc["findings"]:
        out.setdefault(finding["repository"], []).append(finding)
    return out


def test_history_of_several_repositories_each_with_its_own_provenance(cli, two_repos):
    a, b = two_repos
    run = cli("scan", "--history", str(a), str(b), "-f", "json", *RULES)
    assert run.code == 1, run.err
    doc = json.loads(run.out)
    found = _by_repo(doc)
    assert set(found) == {str(a), str(b)}
    [in_a] = found[str(a)]  # the same token in both repositories: one finding in each
    assert in_a["path"] == "app.env" and in_a["provenance"]["present_at_head"] is False
    assert in_a["provenance"]["commit"] == git(a, "rev-list", "--max-parents=0", "HEAD").strip()
    assert sorted(f["rule"] for f in found[str(b)]) == ["test-aws-access-key-id", "test-github-token"]
    assert all(f["provenance"]["commit"] == git(b, "rev-parse", "HEAD").strip() for f in found[str(b)])
    assert [r["repository"] for r in doc["repositories"]] == [str(a), str(b)]


def test_one_job_per_repository_then_merge_is_the_same(cli, tmp_path, two_repos):
    a, b = two_repos
    together = json.loads(cli("scan", "--history", str(a), str(b), "-f", "json", *RULES).out)
    parts = []
    for repo in (a, b):
        out = tmp_path / f"{repo.name}.json"
        cli("scan", "--history", str(repo), "-f", "json", "-o", str(out), *RULES)
        parts.append(str(out))
    run = cli("merge", *parts, "-f", "json")
    assert run.code == 1
    merged = json.loads(run.out)
    assert merged["findings"] == together["findings"]
    # and SARIF: one run per repository, each saying which repository its results are in
    run = cli("merge", *parts, "-f", "sarif")  # rules outside the built-in packs: the reports describe them
    described = {r["id"] for one in json.loads(run.out)["runs"] for r in one["tool"]["driver"]["rules"]}
    assert run.err == "" and described >= {"test-github-token", "test-aws-access-key-id"}
    run = cli("merge", *parts, "-f", "sarif", "--rules", str(PACK))
    sarif = json.loads(run.out)
    _validate(sarif)
    runs = {r["versionControlProvenance"][0]["repositoryUri"]: r for r in sarif["runs"]}
    assert set(runs) == {a.as_uri(), b.as_uri()}
    assert len(runs[a.as_uri()]["results"]) == 1 and len(runs[b.as_uri()]["results"]) == 2
    assert runs[b.as_uri()]["versionControlProvenance"][0]["revisionId"] == git(b, "rev-parse", "HEAD").strip()
    assert len({r["automationDetails"]["id"] for r in sarif["runs"]}) == 2


def test_several_repositories_named_from_their_parent_folder_report_paths_inside_each(cli, tmp_path, two_repos):
    """`scan --history alpha beta` run from the folder above them: each finding's path is inside its
    repository (as the SARIF run's %SRCROOT% says), and findings, fingerprints included, are those
    of one job per repository run in its own checkout, merged."""
    a, b = two_repos
    together = cli("scan", "--history", a.name, b.name, "-f", "sarif", *RULES, cwd=tmp_path)
    assert together.code == 1, together.err
    sarif = json.loads(together.out)
    _validate(sarif)
    for run in sarif["runs"]:
        root = run["originalUriBaseIds"]["%SRCROOT%"]["uri"]
        assert root in (a.as_uri() + "/", b.as_uri() + "/")
        uris = {r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] for r in run["results"]}
        assert uris == ({"app.env"} if root.startswith(a.as_uri()) else {"ci.env"})
    doc = json.loads(cli("scan", "--history", a.name, b.name, "-f", "json", *RULES, cwd=tmp_path).out)
    parts = []
    for repo in (a, b):
        out = tmp_path / f"{repo.name}-own.json"
        cli("scan", "--history", ".", "-f", "json", "-o", str(out), *RULES, cwd=repo)
        parts.append(str(out))
    merged = json.loads(cli("merge", *parts, "-f", "json").out)
    assert doc["findings"] == merged["findings"]
    assert {f["path"] for f in doc["findings"]} == {"app.env", "ci.env"}


def test_gitlab_report_of_a_repository_and_its_fork_keeps_every_finding(cli, tmp_path, two_repos):
    """A fork has the same commits, so the same fingerprints and commit ids: its vulnerabilities
    still get their own ids (GitLab folds equal ids into one) and name their repository."""
    a, _ = two_repos
    fork = tmp_path / "fork"
    subprocess.run(["git", "clone", "-q", str(a), str(fork)], check=True, capture_output=True)
    git(fork, "remote", "set-url", "origin", "https://git.example.com/someone/alpha-fork.git")
    run = cli("scan", "--history", str(a), str(fork), "-f", "gitlab", *RULES)
    assert run.code == 1, run.err
    found = json.loads(run.out)["vulnerabilities"]
    assert len(found) == 2 and len({v["id"] for v in found}) == 2
    assert any("https://git.example.com/someone/alpha-fork.git: app.env" in v["message"] for v in found)


def test_a_repository_that_could_not_be_scanned_stays_in_the_sarif_and_in_a_merge(cli, tmp_path, two_repos):
    """`scan --history A MISSING -f sarif`: MISSING has its own run, unsuccessful, saying why; the
    JSON report keeps it, so that `scanner merge` of that report fails (exit 2) too."""
    a, _ = two_repos
    missing = tmp_path / "missing"
    run = cli("scan", "--history", str(a), str(missing), "-f", "sarif", *RULES)
    assert run.code == 2
    sarif = json.loads(run.out)
    _validate(sarif)
    runs = {r["versionControlProvenance"][0]["repositoryUri"]: r for r in sarif["runs"]}
    assert set(runs) == {a.as_uri(), missing.as_uri()}
    assert runs[a.as_uri()]["invocations"][0]["executionSuccessful"] is True and runs[a.as_uri()]["results"]
    [why] = runs[missing.as_uri()]["invocations"][0]["toolExecutionNotifications"]
    assert runs[missing.as_uri()]["invocations"][0]["executionSuccessful"] is False
    assert why["message"]["text"] == "repository not scanned: no such directory"
    report = tmp_path / "both.json"
    assert cli("scan", "--history", str(a), str(missing), "-f", "json", "-o", str(report), *RULES).code == 2
    run = cli("merge", str(report), "-f", "json")
    assert run.code == 2 and f"1 repository could not be scanned: {missing}" in run.err
    merged = json.loads(run.out)
    assert merged["failed"] == [str(missing)] and [p["path"] for p in merged["problems"]] == [str(missing)]
    assert {f["repository"] for f in merged["findings"]} == {str(a)}


def test_a_secret_reused_across_environments_is_found_per_repository_and_labelled(cli, tmp_path):
    """The reuse rule runs over each repository's findings: the same token in two environments of
    one repository is a finding of that repository (in its SARIF run); the same token in two
    repositories is not reuse (one job per repository, merged, would not report it either)."""
    both = _repo(tmp_path / "both", {".env.development": f"GITHUB_TOKEN={GH}\n", ".env.production": f"GITHUB_TOKEN={GH}\n"})
    prod = _repo(tmp_path / "prod", {".env.production": f"GITHUB_TOKEN={GH}\n"})
    run = cli("scan", "--history", str(both), str(prod), "-f", "json")
    assert run.code == 1, run.err
    reused = [f for f in json.loads(run.out)["findings"] if f["rule"] == "secret-reused-across-environments"]
    assert [f["repository"] for f in reused] == [str(both)]
    sarif = json.loads(cli("scan", "--history", str(both), str(prod), "-f", "sarif").out)
    rules_of = {r["versionControlProvenance"][0]["repositoryUri"]: {x["ruleId"] for x in r["results"]} for r in sarif["runs"]}
    assert "secret-reused-across-environments" in rules_of[both.as_uri()]
    assert "secret-reused-across-environments" not in rules_of[prod.as_uri()]


def test_sarif_of_more_repositories_than_github_takes_in_one_file_says_so(cli, tmp_path, two_repos):
    """One run per repository; GitHub code scanning rejects a file of more than 20 runs: the report
    is still written (other SARIF readers take it) and a warning says how to upload it."""
    a, _ = two_repos
    one = json.loads(cli("scan", "--history", str(a), "-f", "json", *RULES).out)
    reports = []
    for number in range(21):
        path = tmp_path / f"repo-{number}.json"
        path.write_text(json.dumps({**one, "repository": f"https://git.example.com/team/repo-{number}.git"}))
        reports.append(str(path))
    run = cli("merge", *reports[:20], "-f", "sarif", "--rules", str(PACK))
    assert len(json.loads(run.out)["runs"]) == 20 and "runs" not in run.err
    run = cli("merge", *reports, "-f", "sarif", "--rules", str(PACK))
    sarif = json.loads(run.out)
    _validate(sarif)
    assert len(sarif["runs"]) == 21 and all(len(r["results"]) == 1 for r in sarif["runs"])
    assert "21 runs, one per repository: GitHub code scanning rejects a file of more than 20 runs" in run.err


def test_junit_text_html_and_gitlab_reports_of_a_repository_and_its_fork(cli, tmp_path, two_repos):
    """A repository and its fork hold the same finding at the same path: JUnit keeps two testcases
    (named with their repository), the text summary counts two files, the HTML report names each
    finding's repository and lists the repositories scanned, and a GitLab report of a scan
    where a repository could not be scanned says it failed, naming it."""
    from xml.etree import ElementTree as ET

    a, _ = two_repos
    fork = tmp_path / "fork"
    subprocess.run(["git", "clone", "-q", str(a), str(fork)], check=True, capture_output=True)
    git(fork, "remote", "set-url", "origin", "https://git.example.com/someone/alpha-fork.git")
    junit = ET.fromstring(cli("scan", "--history", str(a), str(fork), "-f", "junit", *RULES).out)
    failing = [c for c in junit.iter("testcase") if c.find("failure") is not None]
    names = [(c.get("classname"), c.get("name")) for c in failing]
    assert len(names) == 2 and len(set(names)) == 2
    assert any("https://git.example.com/someone/alpha-fork.git: app.env" in name for _, name in names)
    text = cli("scan", "--history", str(a), str(fork), *RULES).out
    assert "in 2 files" in text.splitlines()[-1], text.splitlines()[-1]
    html = cli("scan", "--history", str(a), str(fork), "-f", "html", *RULES).out
    assert "<code>https://git.example.com/someone/alpha-fork.git: app.env:1</code>" in html
    assert f"<code>{a}: app.env:1</code>" in html
    assert f"Security scan of <code>{a}, https://git.example.com/someone/alpha-fork.git</code>" in html
    run = cli("scan", "--history", str(a), str(tmp_path / "missing"), "-f", "gitlab", *RULES)
    scan = json.loads(run.out)["scan"]
    assert run.code == 2 and scan["status"] == "failure"
    assert scan["messages"] == [{"level": "fatal", "value": f"{tmp_path / 'missing'}: repository not scanned: no such directory"}]


def test_merge_lists_the_rules_the_scans_ran_not_every_rule_loaded(cli, tmp_path, two_repos):
    """JUnit lists each rule run as a test (passing without findings), GitLab SAST names the rules it
    ran (GitLab resolves what they no longer find): after a merge, the rules the scans ran, not every
    rule the merge could load (a --skip'ped rule, the opt-in rules)."""
    from xml.etree import ElementTree as ET

    a, _ = two_repos
    (a / "k8s.yaml").write_text("apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\nspec:\n  containers:\n  - name: c\n    image: nginx:1.25\n")
    args = ("scan", str(a), "--skip", "k8s-seccomp")
    report = tmp_path / "skip.json"
    assert cli(*args, "-f", "json", "-o", str(report)).code == 1
    direct = ET.fromstring(cli(*args, "-f", "junit").out)
    merged = ET.fromstring(cli("merge", str(report), "-f", "junit").out)
    tests = lambda doc: sorted((c.get("classname"), c.get("name")) for c in doc.iter("testcase"))  # noqa: E731
    assert tests(merged) == tests(direct) and not any(name == "k8s-seccomp" for _, name in tests(merged))
    sast = json.loads(cli("merge", str(report), "-f", "gitlab-sast").out)["scan"]["primary_identifiers"]
    assert "k8s-seccomp" not in {i["value"] for i in sast}


def test_several_repositories_from_a_subfolder_with_excludes_and_manifests_read_back(cli, tmp_path):
    """Each repository's paths are relative to its top folder: a subfolder named on the command line
    gives no `../` paths and no finding twice; the configuration's anchored excludes still apply
    to the repository they were written for; and the reuse rule still reads each repository's
    Kubernetes manifests back (a Secret's namespace is its environment)."""
    import shutil

    from tests.conftest import FIXTURES

    a = _repo(tmp_path / "a", {"top.env": f"GITHUB_TOKEN={GH}\n"})
    (a / "sub").mkdir()
    (a / "sub" / "app.env").write_text(f"AWS_ACCESS_KEY_ID={AWS}\n")
    git(a, "add", "-A")
    git(a, "commit", "-qm", "sub")
    b = _repo(tmp_path / "b", {"ci.env": f"GITHUB_TOKEN={GH}\n"})
    doc = json.loads(cli("scan", "--history", "a/sub", "b", "-f", "json", *RULES, cwd=tmp_path).out)
    paths = sorted((Path(f["repository"]).name, f["path"]) for f in doc["findings"])
    assert paths == [("a", "sub/app.env"), ("a", "top.env"), ("b", "ci.env")]
    (a / ".scanner.yaml").write_text("exclude:\n  - /sub/\n")
    doc = json.loads(cli("scan", "--history", "a", "b", "-f", "json", *RULES, cwd=tmp_path).out)
    assert sorted((Path(f["repository"]).name, f["path"]) for f in doc["findings"]) == [("a", "top.env"), ("b", "ci.env")]
    (a / ".scanner.yaml").unlink()
    for repo in (a, b):
        shutil.copytree(FIXTURES / "secrets" / "environments" / "k8s", repo / "k8s")
    only = ["--config", os.devnull, "--only", "secrets,secret-reuse"]
    alone = json.loads(cli("scan", "--history", "a", "-f", "json", *only, cwd=tmp_path).out)
    assert any(f["rule"] == "secret-reused-across-environments" for f in alone["findings"])
    doc = json.loads(cli("scan", "--history", "a", "b", "-f", "json", *only, cwd=tmp_path).out)
    reused = [Path(f["repository"]).name for f in doc["findings"] if f["rule"] == "secret-reused-across-environments"]
    assert reused == ["a", "b"]


def _validate(doc: dict) -> None:
    from tests.test_sarif import jsonschema, official_schema

    jsonschema.Draft4Validator(official_schema()).validate(doc)


# --- URLs -----------------------------------------------------------------------------------------


def _bare(tmp_path: Path, source: Path, name: str) -> Path:
    target = tmp_path / "served" / name
    target.parent.mkdir(exist_ok=True)
    subprocess.run(["git", "clone", "-q", "--bare", str(source), str(target)], check=True)
    return target


def test_a_file_url_is_cloned_to_a_temporary_bare_repository_and_removed(cli, tmp_path, two_repos, monkeypatch):
    a, _ = two_repos
    served = _bare(tmp_path, a, "alpha.git")
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    url = served.as_uri()
    run = cli("scan", "--history", url, "-f", "json", *RULES)
    assert run.code == 1, run.err
    doc = json.loads(run.out)
    assert doc["repository"] == url
    [finding] = doc["findings"]
    assert finding["path"] == "app.env" and finding["provenance"]["present_at_head"] is False
    assert list(scratch.iterdir()) == []  # the clone is gone


@pytest.mark.skipif(not hasattr(os, "killpg") or not os.path.isdir("/proc"), reason="POSIX sessions, /proc")
def test_sigterm_during_a_clone_ends_the_transport_too_and_removes_the_clone(tmp_path):
    """The clone's transport (ssh here: a stand-in that never answers) is git's child; a SIGTERM to the
    scanner ends it with git, and the temporary clone goes: nothing keeps writing into a removed folder."""
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    started = tmp_path / "ssh.pid"
    ssh = tmp_path / "fake-ssh"
    ssh.write_text(f"#!/bin/sh\necho $$ > '{started}'\nexec sleep 60\n")
    ssh.chmod(0o755)
    env = dict(os.environ, GIT_SSH_COMMAND=str(ssh), TMPDIR=str(scratch), PYTHONPATH=str(Path(__file__).parent.parent))
    proc = subprocess.Popen([sys.executable, "-m", "scanner", "scan", "--history", "ssh://git@127.0.0.1/x.git", "-q"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=tmp_path)  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while not (started.exists() and started.read_text().strip()) and time.monotonic() < deadline:
            assert proc.poll() is None, proc.communicate()
            time.sleep(0.05)
        transport = int(started.read_text())
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err.decode()
    assert "interrupted" in err.decode() and "Traceback" not in err.decode()
    deadline = time.monotonic() + 5
    while _running(transport) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _running(transport)  # the stand-in ssh was ended with git
    assert list(scratch.iterdir()) == []  # the clone's folder is gone


def _running(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_a_url_scan_finds_what_is_at_head_where_a_checkout_does_and_a_checkouts_baseline_matches(cli, tmp_path):
    """A URL is cloned bare: no work tree. Its HEAD files stand in for one, so a secret renamed since it
    came in is reported where it is now, on the same line and with the same fingerprint as a scan of
    a checkout, and a baseline made in a checkout serves the URL scan (the Kubernetes recipe's)."""
    repo = _repo(tmp_path / "app", {"aws.env": f"# keys\nAWS_ACCESS_KEY_ID={AWS}\n", "old.env": f"GITHUB_TOKEN={GH}\n"})
    (repo / "config").mkdir()
    git(repo, "mv", "aws.env", "config/prod.env")
    git(repo, "rm", "-q", "old.env")
    git(repo, "commit", "-qm", "move the keys, drop the token")
    served = _bare(tmp_path, repo, "app.git")
    checkout = json.loads(cli("scan", "--history", ".", "-f", "json", *RULES, cwd=repo).out)["findings"]
    cloned = json.loads(cli("scan", "--history", served.as_uri(), "-f", "json", *RULES, cwd=tmp_path).out)["findings"]

    def seen(findings: list[dict]) -> list[tuple]:
        return sorted((f["rule"], f["path"], f["line"], f["fingerprint"], f["provenance"]["commit"],
                       f["provenance"]["present_at_head"]) for f in findings)  # fmt: skip

    assert seen(cloned) == seen(checkout)
    assert ("config/prod.env", 2, True) in {(f["path"], f["line"], f["provenance"]["present_at_head"]) for f in cloned}
    assert any(not f["provenance"]["present_at_head"] for f in cloned)  # the dropped token: history only
    baseline = tmp_path / "baseline.json"
    assert cli("baseline", "create", "--history", ".", "-o", str(baseline), *RULES, cwd=repo).code == 0
    run = cli("scan", "--history", served.as_uri(), "--baseline", str(baseline), *RULES, cwd=tmp_path)
    assert run.code == 0, run.out + run.err


def test_a_bare_repository_reports_at_head_what_a_checkout_does_where_only_the_head_path_has_a_rule(cli, tmp_path):
    """A password assigned in a .py file is no finding (code, not configuration); moved to a .env
    file, it is. History scanned the blob at the path it came in with; the bare repository's HEAD
    files are scanned at their own paths, as a checkout's work tree is, expired ignores included."""
    repo = _repo(tmp_path / "p", {"settings.py": "DB_PASSWORD=Xk9mQ2vL7pZ3wR8t\n",
                                  "app.env": f"GITHUB_TOKEN={GH}  # scanner:ignore until=2020-01-31\n"})  # fmt: skip
    git(repo, "mv", "settings.py", "settings.env")
    git(repo, "commit", "-qm", "configuration, not code")
    bare = _bare(tmp_path, repo, "p.git")
    reports = [json.loads(cli("scan", "--history", ".", "-f", "json", cwd=where).out) for where in (repo, bare)]
    seen = [sorted((f["rule"], f["path"], f["line"], f["fingerprint"], bool(f.get("suppressed"))) for f in r["findings"])
            for r in reports]  # fmt: skip
    assert seen[1] == seen[0]
    assert ("settings.env", 1) in {(f[1], f[2]) for f in seen[1]}
    expired = [[p for p in r["problems"] if "expired" in p["message"]] for r in reports]
    assert expired[1] == expired[0] and len(expired[0]) == 1
    excluded = [json.loads(cli("scan", "--history", ".", "--exclude", "app.env", "-f", "json", cwd=where).out)
                for where in (repo, bare)]  # an excluded file: neither its finding nor its expired ignore
    assert excluded[1]["problems"] == excluded[0]["problems"]
    assert not [p for p in excluded[1]["problems"] if "expired" in p["message"]]


def test_two_clones_of_one_origin_in_one_call_are_two_repositories(cli, tmp_path, two_repos):
    """A repository is named by its origin URL (every job of a matrix names it alike); a mirror and a
    working copy of one origin, scanned in one call, are still two repositories, each with its own
    findings (they were grouped as one, each one's HEAD mixed with the other's)."""
    a, _ = two_repos
    mirror = _bare(tmp_path, a, "mirror.git")  # named by its origin: a's folder, which is a's own name
    (a / "later.env").write_text(f"AWS_ACCESS_KEY_ID={AWS}\n")
    git(a, "add", "later.env")
    git(a, "commit", "-qm", "later")
    doc = json.loads(cli("scan", "--history", str(mirror), str(a), "-f", "json", *RULES).out)
    names = [r["repository"] for r in doc["repositories"]]
    assert len(names) == 2 and len(set(names)) == 2 and names[0] == str(a)
    by_repo = _by_repo(doc)
    assert sorted(f["path"] for f in by_repo[names[1]]) == ["app.env", "later.env"]
    assert [f["path"] for f in by_repo[names[0]]] == ["app.env"]
    (a / "sub").mkdir()
    # one repository spelled twice (a folder inside it, a relative path, a trailing /.) keeps one name
    for spellings, repositories in (([a, a / "sub"], 1), ([a, os.path.relpath(a)], 1), ([mirror, a, f"{a}/."], 2)):
        doc = json.loads(cli("scan", "--history", *map(str, spellings), "-f", "json", *RULES).out)
        assert len({r["repository"] for r in doc["repositories"]}) == repositories, doc["repositories"]


def test_url_and_local_repository_together(cli, tmp_path, two_repos):
    a, b = two_repos
    url = _bare(tmp_path, a, "alpha.git").as_uri()
    doc = json.loads(cli("scan", "--history", url, str(b), "-f", "json", *RULES).out)
    assert set(_by_repo(doc)) == {url, str(b)}


def test_protocols_outside_the_allowlist_and_credentials_in_urls(cli, tmp_path):
    pwned = tmp_path / "pwned"  # this test's own folder: no file shared with other runs or users
    run = cli("scan", "--history", f"ext::sh -c touch% {pwned}", "-f", "json", cwd=tmp_path)  # not even a URL we accept
    assert run.code == 2 and not pwned.exists()
    run = cli("scan", "--history", "ftp://127.0.0.1/x.git")
    assert run.code == 2 and "protocol 'ftp' is not allowed" in run.err
    run = cli("scan", "--history", "https://scanner-user:s3cr3t-PASS@127.0.0.1:9/x.git")
    assert run.code == 2 and "s3cr3t-PASS" not in run.err and "https://127.0.0.1:9/x.git" in run.err
    assert len(run.err.strip().splitlines()) == 1
    assert "clone failed: '" not in run.err  # git's message, not GitPython's quoting of it
    # URLs urllib cannot take apart (a port that is not a number, an unclosed IPv6 bracket): still
    # one line, exit 2, and the user info never shown
    for bad in ("https://tok:s3cr3t-PASS@127.0.0.1:abc/x.git", "https://tok:s3cr3t-PASS@[::1/x.git"):
        run = cli("scan", "--history", bad, "-f", "json")
        assert run.code == 2 and "s3cr3t-PASS" not in run.err + run.out and "internal error" not in run.err
        assert "https://127.0.0.1:abc/x.git" in run.err or "https://[::1/x.git" in run.err
    # a password holding `/`, `#` or `?` (base64-style), where urllib finds no user info at all: in
    # the error and in the report of the repositories scanned beside it
    local = _repo(tmp_path / "local", {"README.md": "a repository scanned beside the URL\n"})
    for odd in ("s3cr3t/PASS", "s3cr3t#PASS", "s3cr3t?PASS"):
        sarif = tmp_path / "odd.sarif"
        run = cli("scan", "--history", f"https://scanner-user:{odd}@127.0.0.1:9/x.git", str(local), "-f", "sarif",
                  "-o", str(sarif))  # fmt: skip
        assert run.code == 2 and "https://127.0.0.1:9/x.git" in run.err
        assert odd not in run.err + run.out + sarif.read_text() and "scanner-user" not in sarif.read_text()


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://scanner-user:s3cr3t/PASS@127.0.0.1:9/x.git", "https://127.0.0.1:9/x.git"),
        ("https://scanner-user:s3cr3t#PASS@host/x.git", "https://host/x.git"),
        ("https://u:p@ss@host/x.git", "https://host/x.git"),
        # no user info: a port is a port, and the path's `@` stays (two repositories, two names)
        ("https://git.example.com:8443/team-a/api@v2.git", "https://git.example.com:8443/team-a/api@v2.git"),
        ("https://git.example.com:8443/~user@example.com/repo.git", "https://git.example.com:8443/~user@example.com/repo.git"),
        ("ssh://host:22/path/with:colon@at", "ssh://host:22/path/with:colon@at"),
        ("file:///srv/a:b@c.git", "file:///srv/a:b@c.git"),
        ("git@github.com:org/repo.git", "github.com:org/repo.git"),
    ],
)
def test_redacted_urls_keep_the_repository_and_lose_the_credentials(url, shown):
    from scanner.sources.remote import redact

    assert redact(url) == shown


def test_a_repository_with_submodules_is_cloned_without_them(cli, tmp_path, two_repos):
    a, b = two_repos
    parent = _repo(tmp_path / "parent", {"README": "parent\n"})
    git(parent, "-c", "protocol.file.allow=always", "submodule", "add", "-q", str(b), "vendored")
    git(parent, "commit", "-qm", "add submodule")
    url = _bare(tmp_path, parent, "parent.git").as_uri()
    run = cli("scan", "--history", url, "-f", "json", *RULES)
    doc = json.loads(run.out)
    assert doc["findings"] == []  # the submodule's secrets are another repository's
    assert any("submodules are not scanned" in p["message"] for p in doc["problems"])


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _serving(proc: subprocess.Popen, port: int, timeout: float = 30.0) -> bool:
    """`proc`, a git daemon, answers on `port` (its probe repository lists); False when it ended (the
    port was taken between _free_port and its bind) or did not answer in time."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        probe = subprocess.run(["git", "ls-remote", f"git://127.0.0.1:{port}/probe.git"], capture_output=True,
                               timeout=timeout)  # fmt: skip
        if probe.returncode == 0:
            return True
        time.sleep(0.05)
    return False


@pytest.fixture
def daemon(tmp_path):
    """A git daemon on 127.0.0.1 (loopback only) serving tmp_path/served; a new port when the one
    picked was taken meanwhile."""
    core = subprocess.run(["git", "--exec-path"], capture_output=True, text=True, check=True).stdout.strip()
    if not (Path(core) / "git-daemon").exists():
        pytest.skip("git daemon is not installed")
    base = tmp_path / "served"
    base.mkdir(exist_ok=True)
    _bare(tmp_path, _repo(tmp_path / "probe", {"README": "probe\n"}), "probe.git")
    for _attempt in range(5):
        port = _free_port()
        proc = subprocess.Popen(
            ["git", "daemon", "--listen=127.0.0.1", f"--port={port}", "--export-all", "--reuseaddr",
             f"--base-path={base}", str(base)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        if _serving(proc, port):
            break
        proc.kill()
        proc.wait()
    else:
        pytest.fail("git daemon did not start on 127.0.0.1 (5 ports tried)")
    yield f"git://127.0.0.1:{port}"
    proc.kill()
    proc.wait()


def test_git_daemon_on_loopback(cli, tmp_path, two_repos, daemon, monkeypatch):
    a, b = two_repos
    _bare(tmp_path, b, "beta.git")
    url = f"{daemon}/beta.git"
    run = cli("scan", "--history", url)  # git:// is not in the default allowlist: refused, no clone
    assert run.code == 2 and "protocol 'git' is not allowed" in run.err
    monkeypatch.setenv("SCANNER_GIT_PROTOCOLS", "https:ssh:file:git")
    run = cli("scan", "--history", url, "-f", "json", *RULES)
    assert run.code == 1, run.err
    doc = json.loads(run.out)
    assert doc["repository"] == url
    assert sorted(f["rule"] for f in doc["findings"]) == ["test-aws-access-key-id", "test-github-token"]
    run = cli("scan", "--history", f"{daemon}/missing.git")
    assert run.code == 2 and "clone failed" in run.err and len(run.err.strip().splitlines()) == 1


def test_text_report_names_the_repository_and_a_bad_repository_does_not_stop_the_others(cli, tmp_path, two_repos):
    a, b = two_repos
    run = cli("scan", "--history", str(a), str(b), *RULES)
    assert run.code == 1 and f"{a}: app.env" in run.out and f"{b}: ci.env" in run.out
    missing = tmp_path / "not-a-repo"
    missing.mkdir()
    run = cli("scan", "--history", str(a), str(missing), "file:///nonexistent/x.git", "-f", "json", *RULES)
    assert run.code == 2  # the report of the others is written, the run still fails
    doc = json.loads(run.out)
    assert {f["repository"] for f in doc["findings"]} == {str(a)}
    unscanned = {p["path"] for p in doc["problems"] if "repository not scanned" in p["message"]}
    assert unscanned == {str(missing), "file:///nonexistent/x.git"}
    assert "2 of 3 repositories could not be scanned" in run.err


def test_sarif_of_one_history_scan_names_its_repository_and_commit(cli, two_repos):
    a, _ = two_repos
    git(a, "remote", "add", "origin", "https://scanner-ci:t0ken-FAKE@git.example.com/team/alpha.git")
    run = cli("scan", "--history", str(a), "-f", "sarif", *RULES)
    doc = json.loads(run.out)
    _validate(doc)
    [single] = doc["runs"]
    [vcp] = single["versionControlProvenance"]
    assert vcp == {"repositoryUri": "https://git.example.com/team/alpha.git", "mappedTo": {"uriBaseId": "%SRCROOT%"},
                   "revisionId": git(a, "rev-parse", "HEAD").strip()}
    assert "t0ken-FAKE" not in run.out


def test_a_merged_report_of_several_repositories_merges_again(cli, tmp_path, two_repos):
    a, b = two_repos
    c = _repo(tmp_path / "gamma", {"deploy.env": f"AWS_ACCESS_KEY_ID={AWS}\n"})
    both = tmp_path / "ab.json"
    cli("scan", "--history", str(a), str(b), "-f", "json", "-o", str(both), *RULES)
    alone = tmp_path / "c.json"
    cli("scan", "--history", str(c), "-f", "json", "-o", str(alone), *RULES)
    merged = json.loads(cli("merge", str(both), str(alone), "-f", "json").out)
    direct = json.loads(cli("scan", "--history", str(a), str(b), str(c), "-f", "json", *RULES).out)
    assert merged["findings"] == direct["findings"]
    assert {k: len(v) for k, v in _by_repo(merged).items()} == {str(a): 1, str(b): 2, str(c): 1}
    assert merged["summary"]["files_scanned"] == direct["summary"]["files_scanned"]
    # the same repositories in two reports of several, in another order: counted once each
    reversed_ = tmp_path / "ba.json"
    cli("scan", "--history", str(b), str(a), "-f", "json", "-o", str(reversed_), *RULES)
    again = json.loads(cli("merge", str(both), str(reversed_), "-f", "json").out)
    assert again["summary"] == {**json.loads(both.read_text())["summary"], "seconds": again["summary"]["seconds"]}
    assert [(r["repository"], r["files"]) for r in again["repositories"]] == [
        (r["repository"], r["files"]) for r in json.loads(both.read_text())["repositories"]]
