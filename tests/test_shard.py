"""`scan --shard K/N` and `scanner merge` (issue 18): merging the N shards' JSON reports gives exactly
the unsharded report (findings, provenance, problems), on all of fixtures/ and on generated
histories; the merged verdict, baseline and refusals; K/N from the environment."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest

from scanner import shard
from tests.conftest import FIXTURES
from tests.shard_repos import build

PACK = Path(__file__).with_name("history_pack.yaml")
HISTORY_RULES = ["--rules", str(PACK), "--only", "history-test"]


def _report(path: Path) -> dict:
    doc = json.loads(path.read_text())
    doc["summary"].pop("seconds")
    return doc


def _sharded(cli, tmp_path: Path, count: int, target: str, *extra: str, cwd: Path | None = None) -> list[str]:
    parts = []
    for k in range(1, count + 1):
        out = tmp_path / f"part-{k}-of-{count}.json"
        run = cli("scan", target, "--shard", f"{k}/{count}", "-f", "json", "-o", str(out), "-q", *extra, cwd=cwd)
        assert run.code in (0, 1), run.err
        parts.append(str(out))
    return parts


def _stable(problems: list[dict]) -> list[dict]:
    """Problems without what differs from one run to the next whatever the sharding: the klog header
    (time, process id) kubectl puts in a Kustomize rendering error."""
    return [{**p, "message": re.sub(r"E\d{4} [\d:.]+\s+\d+ ", "", p["message"])} for p in problems]


def _same(whole: dict, merged: dict) -> None:
    assert merged["findings"] == whole["findings"]
    assert _stable(merged["problems"]) == _stable(whole["problems"])
    assert merged["summary"] == whole["summary"]


# --- the work tree: all of fixtures/, with its cross-file policy ---------------------------------


@pytest.fixture(scope="module")
def fixtures_whole(tmp_path_factory) -> dict:
    from scanner.cli import main

    out = tmp_path_factory.mktemp("whole") / "whole.json"
    assert main(["scan", str(FIXTURES), "-f", "json", "-o", str(out), "-q"]) == 1
    return _report(out)


@pytest.mark.parametrize("count", [2, 3, 7])
def test_merged_work_tree_shards_equal_the_unsharded_scan_of_fixtures(cli, tmp_path, fixtures_whole, count):
    parts = _sharded(cli, tmp_path, count, str(FIXTURES))
    # each shard reported only its own files: no finding is in two shards
    seen = [f["path"] for p in parts for f in json.loads(Path(p).read_text())["findings"]]
    # and none reported the whole-scan rule (one secret in two environments): the merge runs it
    assert len(seen) == len([f for f in fixtures_whole["findings"] if f["rule"] != "secret-reused-across-environments"])
    assert any(f["rule"] == "secret-reused-across-environments" for f in fixtures_whole["findings"])
    merged = tmp_path / "merged.json"
    run = cli("merge", *parts, "-f", "json", "-o", str(merged))
    assert run.code == 1  # the merged verdict: findings
    _same(fixtures_whole, _report(merged))
    # rules over relations across files came through, reported by the policy shard (1) for files of
    # every shard, and by no other shard
    relational = {"k8s-networkpolicy-missing", "k8s-cluster-admin-binding", "tf-aws-s3-versioning",
                  "tf-aws-s3-public-access-block"}
    expected = [f for f in fixtures_whole["findings"] if f["rule"] in relational]
    assert len({f["rule"] for f in expected}) >= 3
    first = [f for f in json.loads(Path(parts[0]).read_text())["findings"] if f["rule"] in relational]
    assert first == expected
    assert any(not shard.Shard(1, count).owns_path(f["path"]) for f in expected)


def test_a_shard_parses_no_file_of_another_shard_except_the_policy_shard(cli, tmp_path, monkeypatch):
    """Shard 2 of 3 reads and parses only its own files; shard 1 parses every Kubernetes/Terraform
    file (whole-scan policy), and scans secrets only in its own."""
    from scanner import scan

    seen: dict[str, list[tuple[str, str]]] = {}
    real = scan.process_item

    def spy(item, role=shard.FULL):
        seen.setdefault(current, []).append((item.path, role))
        return real(item, role)

    monkeypatch.setattr(scan, "process_item", spy)
    for current in ("1/3", "2/3"):
        cli("scan", str(FIXTURES / "kubernetes"), "--shard", current, "-j", "1", "-f", "json", "-q")
    part2 = shard.parse("2/3")
    assert seen["2/3"] and all(part2.owns_path(path) and role == shard.OWN for path, role in seen["2/3"])
    roles1 = {role for _, role in seen["1/3"]}
    assert roles1 == {shard.FULL, shard.POLICY}
    assert all(shard.parse("1/3").owns_path(p) for p, role in seen["1/3"] if role == shard.FULL)


# --- history: generated repositories, work tree included ------------------------------------------


@pytest.fixture(scope="module")
def history_repo(tmp_path_factory) -> Path:
    repo = tmp_path_factory.mktemp("hist") / "repo"
    build(repo, commits=400, files=30, seed=9)
    return repo


@pytest.mark.parametrize("count", [2, 3, 7])
def test_merged_history_shards_equal_the_unsharded_scan_provenance_included(cli, tmp_path, history_repo, count):
    whole = tmp_path / "whole.json"
    assert cli("scan", ".", "--history", "-f", "json", "-o", str(whole), "-q", *HISTORY_RULES, cwd=history_repo).code == 1
    expected = _report(whole)
    history = [f for f in expected["findings"] if f.get("provenance", {}).get("source") == "history"]
    # the repository really exercises the lineage rules
    assert len(history) >= 20
    assert any(not f["provenance"]["present_at_head"] for f in history)  # deleted or edited out
    assert any(len(f.get("paths", ())) > 1 for f in history)  # followed through a rename
    assert any(len(f["provenance"]["commits"]) > 2 for f in history)
    parts = _sharded(cli, tmp_path, count, ".", "--history", *HISTORY_RULES, cwd=history_repo)
    merged = tmp_path / "merged.json"
    assert cli("merge", *parts, "-f", "json", "-o", str(merged), cwd=history_repo).code == 1
    _same(expected, _report(merged))


def test_history_shards_of_a_bare_repository_and_the_order_of_reports_does_not_matter(cli, tmp_path):
    repo = tmp_path / "bare.git"
    build(repo, commits=250, files=20, seed=9, bare=True)
    whole = tmp_path / "whole.json"
    cli("scan", str(repo), "--history", "-f", "json", "-o", str(whole), "-q", *HISTORY_RULES)
    parts = _sharded(cli, tmp_path, 3, str(repo), "--history", *HISTORY_RULES)
    merged = tmp_path / "merged.json"
    cli("merge", *reversed(parts), parts[0], "-f", "json", "-o", str(merged))  # shard 1 twice: one finding each
    _same(_report(whole), _report(merged))


def test_history_shards_read_disjoint_parts_that_cover_the_history(tmp_path, monkeypatch):
    """Each blob is read by exactly one shard, and a file's versions stay together in runs (git's
    delta chains: see scanner.shard)."""
    from scanner import scan_history
    from scanner.engines.secrets import compile_rules
    from scanner.rules.loader import load_pack

    repo = tmp_path / "r.git"
    build(repo, commits=300, files=4, seed=3, bare=True)
    reads: dict[str, list[str]] = {}
    real = scan_history.scan_blobs
    current = ""

    def spy(root, order, *args, **kw):  # the blobs handed to the readers: (sha, path, size)
        reads.setdefault(current, []).extend(sha for sha, _, _ in order)
        return real(root, order, *args, **kw)

    monkeypatch.setattr(scan_history, "scan_blobs", spy)
    compiled = compile_rules(load_pack(PACK))
    for current in ("whole", "1/3", "2/3", "3/3"):
        part = None if current == "whole" else shard.parse(current)
        result = scan_history.scan_history(str(repo), compiled, jobs=1, shard=part)
        if part is not None:
            assert result.record is not None and set(result.record["blobs"]) <= set(reads[current])
    parts = [reads[k] for k in ("1/3", "2/3", "3/3")]
    assert all(parts) and sum(len(p) for p in parts) == len(reads["whole"]) == len({b for p in parts for b in p})
    assert sorted(b for p in parts for b in p) == sorted(reads["whole"])
    # 300 commits over a few files: runs of HISTORY_RUN versions, not scattered blob by blob
    assert max(len(p) for p in parts) >= shard.HISTORY_RUN


# --- merge: verdict, baseline, refusals -----------------------------------------------------------


def test_baseline_and_fail_on_apply_after_the_merge(cli, tmp_path, history_repo):
    parts = _sharded(cli, tmp_path, 2, ".", "--history", *HISTORY_RULES, cwd=history_repo)
    baseline = tmp_path / "baseline.json"
    assert cli("baseline", "create", "--history", "-o", str(baseline), *HISTORY_RULES, cwd=history_repo).code == 0
    assert cli("merge", *parts, "--baseline", str(baseline), "-q").code == 0  # every finding known: pass
    assert cli("merge", *parts, "--fail-on", "critical", "-f", "json").code == 1  # AWS keys are critical
    run = cli("merge", *parts, "--exit-zero", "-f", "json")
    assert run.code == 0 and json.loads(run.out)["summary"]["findings"] > 0


def test_the_configurations_baseline_and_fail_on_give_the_merge_the_unsharded_verdict(cli, tmp_path):
    """`.scanner.yaml` with `baseline:` and `fail-on:`: the shards leave the baseline to the merge,
    which reads the configuration as the scan does, so the secret reused across environments (a
    rule that runs on the merged findings, before the baseline) is found, suppressed and counted
    alike, and the exit codes agree, `--fail-on info` included."""
    tree = tmp_path / "tree"
    for env in ("dev", "prod"):
        (tree / "overlays" / env).mkdir(parents=True)
        (tree / "overlays" / env / "secrets.env").write_text("DB_PASSWORD=Lq7vX2nR9wKt\n")
    assert cli("baseline", "create", ".", "--output", ".scanner-baseline.json", cwd=tree).code == 0
    baseline = json.loads((tree / ".scanner-baseline.json").read_text())
    (tree / ".scanner.yaml").write_text("baseline: .scanner-baseline.json\nfail-on: low\n")
    whole = tmp_path / "whole.json"
    assert cli("scan", ".", "-f", "json", "-o", str(whole), cwd=tree).code == 0  # everything in the baseline
    parts = _sharded(cli, tmp_path, 2, ".", cwd=tree)
    merged = tmp_path / "merged.json"
    assert cli("merge", *parts, "-f", "json", "-o", str(merged), cwd=tree).code == 0
    expected = _report(whole)
    assert any(f["rule"] == "secret-reused-across-environments" for f in expected["findings"])
    _same(expected, _report(merged))
    # the reuse finding leaves the baseline: the scan fails on it, and so does the merge
    kept = [e for e in baseline["findings"] if e["rule"] != "secret-reused-across-environments"]
    assert len(kept) == len(baseline["findings"]) - 1
    (tree / ".scanner-baseline.json").write_text(json.dumps({**baseline, "findings": kept}))
    assert cli("scan", ".", "-q", cwd=tree).code == 1
    assert cli("merge", *parts, "-q", cwd=tree).code == 1
    # the configuration's fail-on (the findings are high: under critical), and --fail-on info
    (tree / ".scanner.yaml").write_text("fail-on: critical\n")
    assert cli("scan", ".", "-q", cwd=tree).code == 0
    assert cli("merge", *parts, "-q", cwd=tree).code == 0
    assert cli("scan", ".", "-q", "--fail-on", "info", cwd=tree).code == 1
    assert cli("merge", *parts, "-q", "--fail-on", "info", cwd=tree).code == 1


def test_a_merge_elsewhere_decides_with_the_shards_configuration_and_baseline(cli, tmp_path, history_repo):
    """Run from the parent folder, the scan finds the repository's `.scanner.yaml` from the path it
    scans, and the merge (run there too, or in a merge job) from the shards' reports, which name it;
    a `--baseline` given to every shard applies when they are merged, as it does to one scan."""
    from tests.conftest import git

    repo = tmp_path / "app"
    subprocess.run(["git", "clone", "-q", str(history_repo), str(repo)], check=True)
    assert cli("baseline", "create", "--history", "-o", ".scanner-baseline.json", *HISTORY_RULES, cwd=repo).code == 0
    doc = json.loads((repo / ".scanner-baseline.json").read_text())
    (repo / ".scanner-baseline.json").write_text(json.dumps({**doc, "findings": doc["findings"][::2]}))
    (repo / ".scanner.yaml").write_text("baseline: .scanner-baseline.json\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "accept half of them")
    outside = tmp_path / "reports"
    outside.mkdir()
    whole = outside / "whole.json"
    cli("scan", "app", "--history", "-f", "json", "-o", str(whole), *HISTORY_RULES, cwd=tmp_path)
    expected = _report(whole)
    assert 0 < expected["summary"]["suppressed"] < expected["summary"]["findings"]
    parts = _sharded(cli, outside, 3, "app", "--history", *HISTORY_RULES, cwd=tmp_path)
    merged = outside / "merged.json"
    cli("merge", *parts, "-f", "json", "-o", str(merged), cwd=tmp_path)
    _same(expected, _report(merged))
    # a baseline given on the command line to the scan and to every shard, none to the merge
    (repo / ".scanner.yaml").unlink()
    given = ["--baseline", str(repo / ".scanner-baseline.json")]
    cli("scan", "app", "--history", "-f", "json", "-o", str(whole), *given, *HISTORY_RULES, cwd=tmp_path)
    parts = _sharded(cli, outside, 3, "app", "--history", *given, *HISTORY_RULES, cwd=tmp_path)
    cli("merge", *parts, "-f", "json", "-o", str(merged), cwd=outside)
    _same(_report(whole), _report(merged))
    assert _report(merged)["summary"]["suppressed"] == expected["summary"]["suppressed"]


def test_the_merge_weighs_the_shards_settings_as_the_scan_weighs_its_own(cli, tmp_path, history_repo):
    """The command line beats the configuration, `--config /dev/null` means none, and a baseline the
    shards were given that is missing, or that differs between them, is an error, as for one scan."""
    from tests.conftest import git

    repo = tmp_path / "app"
    subprocess.run(["git", "clone", "-q", str(history_repo), str(repo)], check=True)
    assert cli("baseline", "create", "--history", "-o", ".scanner-baseline.json", *HISTORY_RULES, cwd=repo).code == 0
    (repo / ".scanner.yaml").write_text("baseline: .scanner-baseline.json\n")  # accepts every finding
    empty = tmp_path / "empty-baseline.json"
    empty.write_text(json.dumps({**json.loads((repo / ".scanner-baseline.json").read_text()), "findings": []}))
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "accept them all")
    reports = tmp_path / "reports"
    reports.mkdir()

    def verdicts(*options: str) -> tuple[int, int]:
        """(the scan's exit code, the merge's) with these options given to the scan and the shards."""
        scan = cli("scan", ".", "--history", "-q", *options, *HISTORY_RULES, cwd=repo).code
        parts = _sharded(cli, reports, 2, ".", "--history", *options, *HISTORY_RULES, cwd=repo)
        return scan, cli("merge", *parts, "-q", cwd=tmp_path).code  # merged elsewhere

    assert verdicts() == (0, 0)  # the configuration's baseline accepts them all
    assert verdicts("--config", os.devnull) == (1, 1)  # no configuration: no baseline
    assert verdicts("--baseline", str(empty)) == (1, 1)  # the command line's baseline, not the configuration's
    parts = _sharded(cli, reports, 2, ".", "--history", "--baseline", str(empty), *HISTORY_RULES, cwd=repo)
    empty.unlink()  # gone before the merge
    run = cli("merge", *parts, "-q", cwd=tmp_path)
    assert run.code == 2 and "empty-baseline.json" in run.err and len(run.err.strip().splitlines()) == 1
    other = _sharded(cli, tmp_path, 2, ".", "--history", *HISTORY_RULES, cwd=repo)[1]  # no --baseline
    run = cli("merge", parts[0], other, "-q", cwd=tmp_path)
    assert run.code == 2 and "different --baseline" in run.err
    # one baseline spelled two ways is one baseline; --fail-on given to the shards is the merge's too
    accepted = tmp_path / "accepted.json"
    accepted.write_text((repo / ".scanner-baseline.json").read_text())
    spelled = [cli("scan", ".", "--history", "--shard", f"{k}/2", "--baseline", spelling, "--config", os.devnull,
                   "--fail-on", "critical", "-f", "json", "-o", str(reports / f"spelled-{k}.json"), "-q", *HISTORY_RULES,
                   cwd=repo) for k, spelling in ((1, "../accepted.json"), (2, str(accepted)))]  # fmt: skip
    assert all(run.code in (0, 1) for run in spelled)
    merged = [str(reports / f"spelled-{k}.json") for k in (1, 2)]
    assert cli("merge", *merged, "-q", cwd=tmp_path).code == 0
    # only the critical findings accepted: the high ones fail at low, the default, not at critical
    doc = json.loads(accepted.read_text())
    accepted.write_text(json.dumps({**doc, "findings": [e for e in doc["findings"] if e["rule"] == "test-aws-access-key-id"]}))
    scan = ["scan", ".", "--history", "-q", "--baseline", str(accepted), "--config", os.devnull, *HISTORY_RULES]
    assert (cli(*scan, cwd=repo).code, cli(*scan, "--fail-on", "critical", cwd=repo).code) == (1, 0)
    assert cli("merge", *merged, "-q", cwd=tmp_path).code == 0  # the shards' --fail-on critical
    assert cli("merge", *merged, "-q", "--fail-on", "low", cwd=tmp_path).code == 1  # the merge's own wins
    # a report of the build before shards said this (no such keys) beside the others: they decide
    doc = json.loads(Path(merged[0]).read_text())
    for key in ("configuration", "baseline", "baseline_given", "fail_on"):
        doc["shard"].pop(key)
    Path(merged[0]).write_text(json.dumps(doc))
    # the other shard's settings (its baseline accepts the critical ones), not the folder's configuration
    # (which accepts them all): the high ones fail at --fail-on low
    assert cli("merge", *merged, "-q", "--fail-on", "low", cwd=repo).code == 1


def test_merge_refuses_a_missing_shard_other_rules_and_other_versions(cli, tmp_path):
    target = FIXTURES / "secrets"
    parts = _sharded(cli, tmp_path, 3, str(target))
    run = cli("merge", parts[0], parts[2])
    assert run.code == 2 and "shard 2 of 3 missing" in run.err and len(run.err.strip().splitlines()) == 1

    other = tmp_path / "other-rules.json"
    cli("scan", str(target), "--shard", "2/3", "--skip", "secrets", "-f", "json", "-o", str(other), "-q")
    run = cli("merge", parts[0], str(other), parts[2])
    assert run.code == 2 and "different rule sets" in run.err and len(run.err.strip().splitlines()) == 1

    doc = json.loads(Path(parts[1]).read_text())
    doc["version"] = "0.0.1"
    old = tmp_path / "old.json"
    old.write_text(json.dumps(doc))
    run = cli("merge", parts[0], str(old), parts[2])
    assert run.code == 2 and "scanner 0.0.1" in run.err and len(run.err.strip().splitlines()) == 1

    run = cli("merge", parts[0], parts[1], str(tmp_path / "nope.json"))
    assert run.code == 2 and "nope.json" in run.err


def test_a_head_blob_at_two_paths_is_present_where_its_path_lets_the_rule_match(cli, tmp_path):
    """One blob at HEAD under two paths, a rule that excludes one of them (`*.py`): the secret is
    present at HEAD through the other path, whichever path is looked at first (the blob's rescan at
    one path was reused for the other), unsharded and merged from shards alike."""
    from tests.conftest import git

    repo = tmp_path / "r"
    repo.mkdir()
    git(repo, "init", "-q")
    (repo / "README").write_text("base\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "base")
    git(repo, "checkout", "-q", "-b", "feature")
    (repo / "q.env").write_text("DB_PASSWORD=Zq8wPm3Rt7Lk2Vn9\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "an env file")
    (repo / "p.py").write_text("DB_PASSWORD=Zq8wPm3Rt7Lk2Vn9\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "the same text in a .py file")
    git(repo, "checkout", "-q", "main")
    for name in ("q.env", "p.py"):  # HEAD: one blob at both paths, not the branch's
        (repo / name).write_text("DB_PASSWORD=Zq8wPm3Rt7Lk2Vn9\n# main\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "on main")
    whole = tmp_path / "whole.json"
    cli("scan", ".", "--history", "--branch", "feature", "-f", "json", "-o", str(whole), "-q", cwd=repo)
    expected = _report(whole)
    env = [f for f in expected["findings"] if f["path"] == "q.env" and f["rule"] == "generic-secret-config"]
    assert env and all(f["provenance"]["present_at_head"] for f in env)
    parts = _sharded(cli, tmp_path, 2, ".", "--history", "--branch", "feature", cwd=repo)
    merged = tmp_path / "merged.json"
    cli("merge", *parts, "-f", "json", "-o", str(merged))
    _same(expected, _report(merged))


def test_a_whole_history_report_merged_with_the_shards_of_the_same_scan_is_each_finding_once(cli, tmp_path, history_repo):
    """Reports of overlapping scans: the unsharded report and the shards of the same history (the
    shards' findings keep the secret's hash, the whole report's do not) give each finding once."""
    whole = tmp_path / "whole.json"
    cli("scan", ".", "--history", "-f", "json", "-o", str(whole), "-q", *HISTORY_RULES, cwd=history_repo)
    parts = _sharded(cli, tmp_path, 3, ".", "--history", *HISTORY_RULES, cwd=history_repo)
    merged = tmp_path / "overlap.json"
    cli("merge", str(whole), *parts, "-f", "json", "-o", str(merged))
    assert _report(merged)["findings"] == _report(whole)["findings"]


def test_merged_notes_are_the_whole_historys_not_one_per_shard(cli, tmp_path, history_repo):
    """Blobs over the size limit: the unsharded scan says how many and names the largest, once; each
    shard says it of its part, and the merge says it of the whole history again, not N times."""
    whole = tmp_path / "whole.json"
    limit = ["--max-file-size", "500"]
    cli("scan", ".", "--history", "-f", "json", "-o", str(whole), "-q", *limit, *HISTORY_RULES, cwd=history_repo)
    expected = _report(whole)
    [note] = [p for p in expected["problems"] if "larger than the size limit" in p["message"]]
    assert int(note["message"].split()[0].replace(",", "")) > 3  # several blobs, spread over the shards
    parts = _sharded(cli, tmp_path, 3, ".", "--history", *limit, *HISTORY_RULES, cwd=history_repo)
    assert all(any("larger than the size limit" in p["message"] for p in _report(Path(part))["problems"]) for part in parts)
    merged = tmp_path / "merged.json"
    cli("merge", *parts, parts[1], "-f", "json", "-o", str(merged), cwd=history_repo)  # a shard twice, too
    _same(expected, _report(merged))


def test_a_shard_given_twice_and_a_report_given_under_two_names_count_once(cli, tmp_path, history_repo):
    """A retried CI job leaves two reports of one shard, and `*/part-*.json` picks up both; a report
    copied under another name is the same scan: findings and the files and bytes scanned once."""
    whole = tmp_path / "whole.json"
    cli("scan", ".", "--history", "-f", "json", "-o", str(whole), "-q", *HISTORY_RULES, cwd=history_repo)
    parts = _sharded(cli, tmp_path, 3, ".", "--history", *HISTORY_RULES, cwd=history_repo)
    merged = tmp_path / "twice.json"
    assert cli("merge", *parts, parts[0], parts[2], "-f", "json", "-o", str(merged), cwd=history_repo).code == 1
    _same(_report(whole), _report(merged))
    copy = tmp_path / "copy.json"
    copy.write_text(whole.read_text())
    again = tmp_path / "again.json"
    cli("merge", str(whole), str(copy), "-f", "json", "-o", str(again), cwd=history_repo)
    _same(_report(whole), _report(again))
    both = tmp_path / "both.json"  # the whole scan beside its own shards
    cli("merge", str(whole), *parts, "-f", "json", "-o", str(both), cwd=history_repo)
    assert _report(both)["summary"]["files_scanned"] == _report(whole)["summary"]["files_scanned"]


def test_shards_run_from_other_folders_or_with_other_excludes_are_refused(cli, tmp_path, history_repo):
    """Their findings' paths would be relative to different folders, or a file one shard excludes
    would be reported by another: one line naming the repository, exit 2, whatever the order."""
    first, second = _sharded(cli, tmp_path, 2, ".", "--history", *HISTORY_RULES, cwd=history_repo)
    outside = tmp_path / "outside-2.json"
    run = cli("scan", history_repo.name, "--history", "--shard", "2/2", "-f", "json", "-o", str(outside), "-q",
              *HISTORY_RULES, cwd=history_repo.parent)  # fmt: skip
    assert run.code in (0, 1), run.err
    for reports in ([first, str(outside)], [str(outside), first]):
        run = cli("merge", *reports)
        assert run.code == 2 and "different folders" in run.err and len(run.err.strip().splitlines()) == 1
    excluded = tmp_path / "excluded-1.json"
    run = cli("scan", ".", "--history", "--shard", "1/2", "--exclude", "*.py", "-f", "json", "-o", str(excluded), "-q",
              *HISTORY_RULES, cwd=history_repo)  # fmt: skip
    assert run.code in (0, 1), run.err
    for reports in ([str(excluded), second], [second, str(excluded)]):
        run = cli("merge", *reports)
        assert run.code == 2 and "different --exclude" in run.err and len(run.err.strip().splitlines()) == 1
    smaller = tmp_path / "smaller-1.json"
    run = cli("scan", ".", "--history", "--shard", "1/2", "--max-file-size", "500", "-f", "json", "-o", str(smaller),
              "-q", *HISTORY_RULES, cwd=history_repo)  # fmt: skip
    run = cli("merge", str(smaller), second)
    assert run.code == 2 and "different --max-file-size" in run.err and len(run.err.strip().splitlines()) == 1


def test_work_tree_shards_run_from_other_folders_or_with_other_options_are_refused(cli, tmp_path):
    """The same for work-tree shards: their paths are relative to where each was run from."""
    target = FIXTURES / "secrets"
    first, second = _sharded(cli, tmp_path, 2, "secrets", cwd=FIXTURES)  # paths: secrets/...
    inside = tmp_path / "inside-2.json"  # paths: ./...
    run = cli("scan", ".", "--shard", "2/2", "-f", "json", "-o", str(inside), "-q", cwd=target)
    assert run.code in (0, 1), run.err
    for reports, message in (([first, str(inside)], "different folders"), ([str(inside), first], "different folders")):
        run = cli("merge", *reports)
        assert run.code == 2 and message in run.err and len(run.err.strip().splitlines()) == 1, run.err
    for extra, message in ((["--exclude", "*.env"], "different --exclude"), (["--max-file-size", "100"], "different --max-file-size")):
        other = tmp_path / "other-2.json"
        cli("scan", "secrets", "--shard", "2/2", *extra, "-f", "json", "-o", str(other), "-q", cwd=FIXTURES)
        run = cli("merge", first, str(other))
        assert run.code == 2 and message in run.err and len(run.err.strip().splitlines()) == 1, run.err
    assert cli("merge", first, second).code == 1  # the same command twice: merged


def _edited(source: str, target: Path, edit) -> str:  # noqa: ANN001 - a function of the document
    doc = json.loads(Path(source).read_text())
    edit(doc)
    target.write_text(json.dumps(doc))
    return str(target)


def test_a_damaged_shard_record_or_another_version_is_one_line_naming_the_file(cli, tmp_path, history_repo):
    """A report edited by a script (the big `history` field dropped, a row cut short) or written by
    another scanner version: exit 2 and one line that names the file, no internal error."""
    first, second = _sharded(cli, tmp_path, 2, ".", "--history", *HISTORY_RULES, cwd=history_repo)
    damaged = [
        _edited(second, tmp_path / "no-history.json", lambda d: d.pop("history")),
        _edited(second, tmp_path / "no-changes.json", lambda d: d["history"]["record"].pop("changes")),
        _edited(second, tmp_path / "short-row.json", lambda d: d["history"]["record"]["changes"].__setitem__(0, [1, ["c"]])),
        _edited(second, tmp_path / "bad-key.json", lambda d: d["history"]["record"].__setitem__("at_head", [[1]])),
        _edited(second, tmp_path / "huge.json", lambda d: d["shard"].__setitem__("index", 1e999)),  # int(inf)
    ]
    for report in damaged:
        run = cli("merge", first, report)
        assert run.code == 2, run.err
        assert "damaged report" in run.err and Path(report).name in run.err and "internal error" not in run.err
        assert len(run.err.strip().splitlines()) == 1
    earlier = _edited(second, tmp_path / "earlier-build.json", lambda d: d["history"]["record"].pop("tips"))
    run = cli("merge", first, earlier)  # a report of this version made before shards said which history they listed
    assert run.code == 2 and "earlier-build.json" in run.err and "earlier build" in run.err
    assert len(run.err.strip().splitlines()) == 1
    older = [_edited(p, tmp_path / f"old-{k}.json", lambda d: d.__setitem__("version", "0.0.9")) for k, p in enumerate((first, second))]
    run = cli("merge", *older)  # all of them from another version: not this scanner's records either
    assert run.code == 2 and "scanner 0.0.9" in run.err and len(run.err.strip().splitlines()) == 1


def test_which_of_two_files_holding_one_lineages_secret_takes_its_provenance_does_not_depend_on_their_order():
    """A secret whose lineage runs through two files that are both at HEAD (a copy): the work tree has
    it twice, and one of the two takes the history's provenance. The shards hand their work tree
    findings over shard by shard, in another order than one scan reads them: the same one must win."""
    from scanner.model import Finding, Location, Provenance
    from scanner.scan import history_findings

    props = (("secret_sha256", "ab" * 32),)
    past = Finding("github-token", "high", Location("a/first.py", 3), "GitHub token", fingerprint="f0",
                   provenance=Provenance("history", "c" * 40, present_at_head=True),
                   properties=(("paths", ("a/first.py", "b/copy.py")), *props))  # fmt: skip
    now = [Finding("github-token", "high", Location(path, 3), "GitHub token", fingerprint=f"f-{path}", properties=props)
           for path in ("a/first.py", "b/copy.py")]  # fmt: skip
    one, other = (history_findings([past], ".", (), current) for current in (now, now[::-1]))
    assert one == other
    assert [f.provenance is not None for f in one] == [True, False]


def test_the_rules_digest_follows_what_decides_findings_only():
    """Shards that loaded the same packs agree on the digest whatever the order; a title or an
    example edited is the same rule set, a severity, a pattern or a policy option is not."""
    from scanner.rules.digest import digest
    from scanner.rules.loader import load_rules

    rules = load_rules()
    whole = digest(rules)
    assert digest(list(reversed(rules))) == whole
    assert digest([r._replace(title="Renamed", bad=()) if i == 7 else r for i, r in enumerate(rules)]) == whole
    low = next(i for i, r in enumerate(rules) if r.severity != "low")
    assert digest([r._replace(severity="low") if i == low else r for i, r in enumerate(rules)]) != whole
    secret = next(i for i, r in enumerate(rules) if r.pattern)
    edited = [r._replace(pattern=r.pattern + "x") if i == secret else r for i, r in enumerate(rules)]
    assert digest(edited) != whole
    assert digest(rules, [("kubernetes_version", "1.29")]) != whole
    assert digest(rules[1:]) != whole


def test_shards_of_different_commits_are_refused(cli, tmp_path):
    from tests.conftest import git

    repo = tmp_path / "r"
    build(repo, commits=40, files=5, seed=2)
    first = _sharded(cli, tmp_path, 2, ".", "--history", *HISTORY_RULES, cwd=repo)[0]
    (repo / "new.txt").write_text("x\n")
    git(repo, "add", "new.txt")
    git(repo, "commit", "-qm", "later")
    second = _sharded(cli, tmp_path / "..", 2, ".", "--history", *HISTORY_RULES, cwd=repo)[1]
    run = cli("merge", first, second)
    assert run.code == 2 and "different commits" in run.err


def test_shards_that_listed_different_histories_are_refused_and_the_same_history_merges(cli, tmp_path):
    """Two jobs fetch the same HEAD, but a branch was pushed between their fetches: the second's
    history has commits the first never listed, and merging would drop their findings silently;
    so would a shallow clone's. Refs that name the same commits (a clone without tags, a stale
    remote-tracking ref at an old commit) are the same history, and merge."""
    from tests.conftest import git

    origin = tmp_path / "origin"
    build(origin, commits=40, files=5, seed=3)
    git(origin, "tag", "v1", "HEAD~5")
    def clone(name: str, *opts: str) -> None:
        subprocess.run(["git", "clone", "-q", *opts, origin.as_uri(), str(tmp_path / name)], check=True)
        (tmp_path / f"{name}-parts").mkdir()

    clone("job1", "--no-local")
    first = _sharded(cli, tmp_path / "job1-parts", 2, ".", "--history", *HISTORY_RULES, cwd=tmp_path / "job1")[0]
    clone("same", "--no-local", "--no-tags")
    git(tmp_path / "same", "update-ref", "refs/remotes/origin/old-feature", "HEAD~3")
    same = _sharded(cli, tmp_path / "same-parts", 2, ".", "--history", *HISTORY_RULES, cwd=tmp_path / "same")[1]
    merged = tmp_path / "merged.json"
    assert cli("merge", first, same, "-f", "json", "-o", str(merged)).code == 1
    whole = tmp_path / "whole.json"
    cli("scan", ".", "--history", "-f", "json", "-o", str(whole), *HISTORY_RULES, cwd=tmp_path / "job1")
    assert _report(merged)["findings"] == _report(whole)["findings"]
    clone("shallow", "--depth", "5", "--no-single-branch")
    shallow = _sharded(cli, tmp_path / "shallow-parts", 2, ".", "--history", *HISTORY_RULES, cwd=tmp_path / "shallow")[1]
    run = cli("merge", first, shallow)
    assert run.code == 2 and "different sets of commits" in run.err and len(run.err.strip().splitlines()) == 1
    git(origin, "checkout", "-qb", "feature")
    (origin / "feature.env").write_text("aws_access_key_id = AKIAZ7QRB4TXKMV2LPDN\n")
    git(origin, "add", "feature.env")
    git(origin, "commit", "-qm", "feature")
    git(origin, "checkout", "-q", "-")
    clone("job2", "--no-local", "--no-single-branch")
    subprocess.run(["git", "-C", str(tmp_path / "job2"), "branch", "-q", "feature", "origin/feature"], check=True)
    second = _sharded(cli, tmp_path / "job2-parts", 2, ".", "--history", *HISTORY_RULES, cwd=tmp_path / "job2")[1]
    run = cli("merge", first, second)
    assert run.code == 2 and "different sets of commits" in run.err and len(run.err.strip().splitlines()) == 1


# --- K/N ------------------------------------------------------------------------------------------


def test_partition_is_deterministic_and_covers_every_key_once():
    paths = [f"dir{i % 7}/file{i}.yaml" for i in range(500)]
    for count in (1, 2, 3, 7):
        parts = [shard.Shard(k, count) for k in range(1, count + 1)]
        assert all(sum(p.owns_path(x) for p in parts) == 1 for x in paths)
        blob = "3f" * 20
        assert sum(p.owns_blob(blob) for p in parts) == 1
        keeps = [p.history_part() for p in parts]
        assert all(sum(keep(f"{i:040x}", x) for keep in keeps) == 1 for i, x in enumerate(paths))
    assert [shard.Shard(2, 3).owns_path(p) for p in paths] == [shard.Shard(2, 3).owns_path(p) for p in paths]


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"SCANNER_SHARD": "2/8"}, (2, 8)),
        ({"SCANNER_SHARD_COUNT": "4", "SCANNER_SHARD_INDEX": "0"}, (1, 4)),
        ({"SCANNER_SHARD_COUNT": "4", "JOB_COMPLETION_INDEX": "3"}, (4, 4)),
        ({"SCANNER_SHARD_COUNT": "5", "CI_NODE_INDEX": "5"}, (5, 5)),  # GitLab's is 1-based
        ({"JOB_COMPLETION_INDEX": "3"}, None),  # an Indexed Job that does not ask for sharding
        ({}, None),
    ],
)
def test_shard_from_the_environment(env, expected):
    got = shard.from_env(env)
    assert (None if got is None else tuple(got)) == expected


@pytest.mark.parametrize(
    ("value", "message"),
    [("3/2", "1 to 2"), ("0/4", "1 to 4"), ("2", "expected K/N"), ("a/b", "expected K/N"), ("1/0", "1 to 10000"),
     ("", "expected K/N"),  # `--shard "$UNSET"` in a job spec: not the whole scan in every job
     ("1/" + "9" * 5000, "1 to 10000"), ("\u00b2/3", "expected K/N"), ("\u0661/3", "expected K/N")],
)
def test_bad_shard_values_are_one_line_usage_errors(cli, tmp_path, value, message):
    run = cli("scan", str(tmp_path), "--shard", value)
    assert run.code == 2 and message in run.err and len(run.err.strip().splitlines()) == 1


def test_shard_from_the_environment_on_the_command_line(cli, tmp_path, monkeypatch):
    monkeypatch.setenv("SCANNER_SHARD_COUNT", "3")
    monkeypatch.setenv("JOB_COMPLETION_INDEX", "1")
    run = cli("scan", str(FIXTURES / "secrets"), "-f", "json", "-q")
    assert {k: v for k, v in json.loads(run.out)["shard"].items() if k in ("index", "count", "kind")} == {
        "index": 2, "count": 3, "kind": "worktree"}
    for odd in ("\u00b2", "\u0661", "9" * 5000):  # a superscript, an Arabic-Indic digit, past int()'s limit
        monkeypatch.setenv("JOB_COMPLETION_INDEX", odd)
        run = cli("scan", str(tmp_path))
        assert run.code == 2 and "JOB_COMPLETION_INDEX" in run.err and "internal error" not in run.err
        assert len(run.err.strip().splitlines()) == 1
    monkeypatch.delenv("JOB_COMPLETION_INDEX")
    # an index out of range names the range in the variable's own base, not a K it was turned into
    for name, value, expected in (("SCANNER_SHARD_INDEX", "3", "0 to 2 (0-based)"), ("CI_NODE_INDEX", "0", "1 to 3 (1-based)")):
        monkeypatch.setenv(name, value)
        run = cli("scan", str(tmp_path))
        assert run.code == 2 and f"{name}={value}: a shard index of 3 shards is {expected}" in run.err
        monkeypatch.delenv(name)
    run = cli("scan", str(tmp_path))
    assert run.code == 2 and "SCANNER_SHARD_INDEX" in run.err
    run = cli("baseline", "create", str(tmp_path), "-o", str(tmp_path / "b.json"))  # only `scan` is sharded
    assert run.code == 0


def test_shard_is_refused_with_ranges_and_staged(cli, history_repo):
    run = cli("scan", ".", "--staged", "--shard", "1/2", cwd=history_repo)
    assert run.code == 2 and "--shard" in run.err
