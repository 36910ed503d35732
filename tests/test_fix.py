"""`scanner fix`: rules' declared remediations applied as minimal, comment-preserving edits."""

from __future__ import annotations

import difflib
import json
import os
import shutil
from pathlib import Path

import pytest

from scanner.fixers import fix_text
from scanner.rules.examples import DEFAULT_FILENAME, _run_policy, check_fix
from scanner.rules.loader import load_rules
from tests.conftest import FIXTURES

FIX = FIXTURES / "fix"
RULES = load_rules()
WITH_FIX = [r for r in RULES if r.fix]


@pytest.fixture
def project(tmp_path: Path) -> Path:
    shutil.copytree(FIX, tmp_path / "p")
    return tmp_path / "p"


def _json_findings(cli, path: Path, *extra: str) -> list[dict]:
    run = cli("scan", str(path), "--format", "json", *extra)
    return json.loads(run.out)["findings"]


def test_every_builtin_fix_cleans_its_bad_examples_and_is_idempotent() -> None:
    assert len(WITH_FIX) >= 15
    families = {r.target.split(".")[0] for r in WITH_FIX}
    assert families == {"kubernetes", "compose", "dockerfile", "terraform"}
    failures = [f for rule in WITH_FIX for f in check_fix(rule)]
    assert failures == []


@pytest.mark.parametrize("rule", WITH_FIX, ids=lambda r: r.id)
def test_fixed_examples_rescan_clean_and_still_parse(rule) -> None:  # noqa: ANN001
    fixed = 0
    for example in rule.bad:
        name = example.filename or DEFAULT_FILENAME[rule.target.split(".")[0]]
        result = fix_text(name, example.content, [rule], dict(example.options or {}))
        if not result.fixed:
            assert result.skipped, f"{rule.id}: a bad example neither fixed nor explained"
            continue
        fixed += 1
        assert result.after != example.content
        assert _run_policy(rule, example._replace(content=result.after), [rule]) == []
        assert fix_text(name, result.after, [rule], {}).after == result.after
    assert fixed >= 1


def test_diff_writes_nothing_and_lists_the_fixes(cli, project: Path) -> None:
    before = {p: p.read_bytes() for p in project.rglob("*") if p.is_file()}
    run = cli("fix", str(project))
    assert run.code == 1
    assert "+++ b/app.yaml" in run.out and "+USER 10001" in run.out
    assert "would fix: main.tf: tf-aws-rds-deletion-protection: aws_db_instance.orders" in run.err
    assert "run 'scanner fix --write' to apply" in run.err.splitlines()[-1]
    assert {p: p.read_bytes() for p in project.rglob("*") if p.is_file()} == before


def test_write_fixes_then_rescan_is_clean_for_fixed_rules(cli, project: Path) -> None:
    fixed_rules = {r.id for r in WITH_FIX}
    before = [f for f in _json_findings(cli, project) if f["rule"] in fixed_rules]
    assert len(before) >= 20
    run = cli("fix", str(project), "--write")
    assert run.code == 0, run.err
    assert "fixed 22 findings in 4 files" in run.err
    after = [f for f in _json_findings(cli, project) if f["rule"] in fixed_rules]
    assert after == []
    assert cli("fix", str(project), "--write").code == 0
    again = cli("fix", str(project), "--diff")
    assert (again.code, again.out, again.err) == (0, "", "scanner: nothing to fix\n")


def test_round_trip_keeps_comments_and_changes_only_fixed_lines(cli, project: Path) -> None:
    originals = {name: (FIX / name).read_text() for name in ("app.yaml", "docker-compose.yml", "main.tf", "Dockerfile")}
    assert cli("fix", str(project), "--write").code == 0
    for name, before in originals.items():
        after = (project / name).read_text()
        for line in before.splitlines():
            if "#" in line:  # every comment survives, in its column
                comment = line[line.index("#"):]
                assert any(a.endswith(comment) and a.index("#") == line.index("#") for a in after.splitlines()), (name, line)
        removed = [ln[1:] for ln in difflib.ndiff(before.splitlines(), after.splitlines()) if ln.startswith("- ")]
        # only values the fixes replaced go away: privileged/deletion protection/window/pitr flags
        assert all(any(k in ln for k in ("privileged:", "deletion_protection", "deletion_window", "enabled =",
                                           "securityContext: {}")) for ln in removed), (name, removed)
    app = (project / "app.yaml").read_text()
    assert "labels: {app: storefront, tier: web}   # flow-style labels stay as they are" in app
    assert "      - name: web                      # zero-indented list, as kubectl writes it" in app
    assert "                    - NET_RAW\n                    - ALL\n" in app


def test_helm_template_and_broken_file_are_never_touched(tmp_path: Path) -> None:
    template = (FIX / "chart" / "templates" / "deployment.yaml").read_text()
    result = fix_text("chart/templates/deployment.yaml", template, RULES, {})
    assert result.after == template and result.fixed == ()
    assert result.skipped[0][2] == "it is not a manifest the fixer edits (a Helm template?)"
    broken = "apiVersion: v1\nkind: Pod\nmetadata: {name: x\nspec:\n  containers: []\n"
    result = fix_text("pod.yaml", broken, RULES, {})
    assert result.after == broken and "does not parse" in result.skipped[0][2]


def test_unsafe_case_is_reported_not_guessed() -> None:
    pod = ("apiVersion: v1\nkind: Pod\nmetadata:\n  name: legacy\nspec:\n  securityContext:\n    runAsUser: 0\n"
           "  containers:\n    - name: app\n      image: registry.example.com/app:1.0\n")
    rule = next(r for r in RULES if r.id == "k8s-run-as-root")
    result = fix_text("pod.yaml", pod, [rule], {})
    assert result.after == pod
    assert result.skipped == (("k8s-run-as-root", "Pod/legacy container app", "the fix does not resolve it here (fix by hand)"),)


def test_only_and_skip_and_inline_ignore(cli, project: Path) -> None:
    run = cli("fix", str(project), "--only", "k8s-privileged")
    added = [ln for ln in run.out.splitlines() if ln.startswith("+") and not ln.startswith("+++")]
    assert len(added) == 1 and "privileged: false" in added[0]
    run = cli("fix", str(project), "--skip", "kubernetes,dockerfile,terraform-aws")
    assert "+++ b/docker-compose.yml" in run.out and "app.yaml" not in run.out
    compose = project / "docker-compose.yml"
    compose.write_text(compose.read_text().replace("# needed for the old FUSE mount", "# scanner:ignore=compose-privileged FUSE"))
    assert "docker-compose.yml" not in cli("fix", str(project), "--only", "compose").out


def test_write_keeps_file_mode_and_never_follows_symlinks(cli, project: Path, tmp_path: Path) -> None:
    os.chmod(project / "main.tf", 0o640)
    outside = tmp_path / "outside.yml"
    outside.write_text((FIX / "docker-compose.yml").read_text())
    (project / "docker-compose.yml").unlink()
    (project / "docker-compose.yml").symlink_to(outside)
    cli("fix", str(project), "--write")
    assert oct(os.stat(project / "main.tf").st_mode & 0o777) == "0o640"
    assert outside.read_text() == (FIX / "docker-compose.yml").read_text()


def test_user_pack_with_a_fix(cli, tmp_path: Path) -> None:
    pack = tmp_path / "acme.yaml"
    pack.write_text(
        "pack: acme\nrules:\n"
        "  - id: acme-team-label\n    title: Deployment without a team label\n    severity: low\n"
        "    description: Every Deployment names its owning team.\n    remediation: Add metadata.labels.team.\n"
        "    engine: policy\n    target: kubernetes.object\n    kinds: [Deployment]\n"
        "    when: {field: [metadata, labels, team], op: absent}\n"
        "    fix:\n      summary: label the Deployment team=unowned\n"
        "      ops:\n        - {set: [metadata, labels, team], value: unowned}\n"
        "    examples:\n      bad:\n        - |\n          apiVersion: apps/v1\n          kind: Deployment\n"
        "          metadata:\n            name: a\n            labels:\n              app: a\n"
        "      good:\n        - |\n          apiVersion: apps/v1\n          kind: Deployment\n"
        "          metadata:\n            name: a\n            labels: {team: shop}\n"
    )
    assert cli("rules", "test", str(pack)).code == 0
    manifest = tmp_path / "d.yaml"
    manifest.write_text("apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  labels:\n    app: web\n")
    run = cli("fix", str(manifest), "--rules", str(pack), "--only", "acme", "--write")
    assert run.code == 0, run.err
    assert manifest.read_text().endswith("  labels:\n    app: web\n    team: unowned\n")


def test_broken_fix_in_a_pack_is_a_clear_error(cli, tmp_path: Path) -> None:
    pack = tmp_path / "bad.yaml"
    pack.write_text(
        "pack: bad\nrules:\n  - id: bad-fix\n    title: t\n    severity: low\n    description: d\n    remediation: r\n"
        "    engine: policy\n    target: kubernetes.object\n    when: {field: kind, op: exists}\n"
        "    fix:\n      ops:\n        - {set: a.b}\n"
        "    examples:\n      bad: [\"apiVersion: v1\\nkind: Pod\\nmetadata: {name: x}\\n\"]\n      good: [\"x: 1\\n\"]\n"
    )
    run = cli("rules", "test", str(pack))
    assert run.code == 2
    assert f"{pack}:13: rules[0].fix.ops[0]" in run.err


def test_fixed_manifests_still_validate_against_the_kubernetes_schema(cli, project: Path) -> None:
    """What `kubectl apply --dry-run=client` checks, offline: every fixed object is valid, no unknown field."""
    kubernetes_validate = pytest.importorskip("kubernetes_validate")
    import yaml

    assert cli("fix", str(project), "--write").code == 0
    docs = [d for d in yaml.safe_load_all((project / "app.yaml").read_text()) if d]
    assert len(docs) == 3
    for doc in docs:
        kubernetes_validate.validate(doc, "1.30", strict=True)  # raises on an invalid or unknown field
