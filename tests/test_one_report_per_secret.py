"""A secret on a line that both engines see is reported once (DESIGN: every false positive is a bug,
and so is every duplicate)."""

from __future__ import annotations

import json

DOCKERFILE = """\
FROM python:3.12-slim
ENV GITLAB_TOKEN=glpat-Xq7vR2mK9pL4sT8wZ1nB
ARG NPM_TOKEN=9f8e7d6c5b4a39281706f5e4d3c2b1a0
USER 10001
"""


def test_dockerfile_secret_lines_reported_once(cli, tmp_path):
    (tmp_path / "Dockerfile").write_text(DOCKERFILE)
    run = cli("scan", "-f", "json", cwd=tmp_path)
    by_line: dict[int, list[str]] = {}
    for finding in json.loads(run.out)["findings"]:
        by_line.setdefault(finding["line"], []).append(finding["rule"])
    assert by_line[2] == ["gitlab-token"]  # the token's format is recognised: the specific secrets rule
    assert by_line[3] == ["dockerfile-secret-env"]  # only a secret-looking name: the Dockerfile rule
