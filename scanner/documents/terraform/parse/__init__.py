"""Parse step: the bytes of one Terraform file -> one Document (no evaluation, no cross-file facts).

- `.tf`, `.tofu`, `.tfvars`: HCL2, by the fast scanner (parse/fast.py) with python-hcl2 as the
  fallback and the error reporter (parse/hcl.py); the document carries the top-level blocks in its meta.
- `.tf.json`, `.tofu.json`, `.tfvars.json`: the JSON syntax, turned into the same blocks (parse/hcl.py).
- plan JSON (`terraform show -json plan.out`): kept as the loaded tree; parse/plan.py turns it into
  resources when the model is built.

Remote module sources are reported here, once per module call ("not scanned").
"""

from __future__ import annotations

import json
import re
from typing import Any

from scanner.documents import Document
from scanner.documents.terraform.parse.hcl import Block, HclError, json_blocks, parse_hcl
from scanner.documents.tree import LDict, LList, YamlError, load_yaml_documents, wrap
from scanner.model import Item, Problem

_IGNORE = re.compile(r"(?:#|//|/\*)\s*scanner:ignore(?:=([\w.,\-]+))?[ \t:]*([^\n*]*)")


def claims(path: str, data: bytes) -> bool:
    name = path.rsplit("/", 1)[-1]
    if name.endswith((".tf", ".tofu", ".tf.json", ".tofu.json", ".tfvars", ".tfvars.json")):
        return True
    if name.endswith(".json"):
        return b'"format_version"' in data[:4096] and (
            b'"planned_values"' in data or b'"resource_changes"' in data
        )
    return False



def _ignores(text: str) -> list[tuple[int, str, str]]:
    out = []
    if "scanner:ignore" not in text:
        return out
    for m in _IGNORE.finditer(text):
        line = text.count("\n", 0, m.start()) + 1
        reason = m.group(2).strip().rstrip("*/").strip()
        for rule_id in (m.group(1) or "*").split(","):
            out.append((line, rule_id.strip(), reason))
    return out


def parse(item: Item) -> tuple[list[Document], list[Problem]]:
    name = item.path.rsplit("/", 1)[-1]
    text = item.data.decode("utf-8", "replace")
    if name.endswith((".tf", ".tofu", ".tfvars")):
        try:
            blocks = parse_hcl(text)
        except HclError as exc:
            msg = str(exc)
            found = re.match(r"line (\d+)", msg)
            line = int(found.group(1)) if found else 0
            return [], [Problem(item.path, f"cannot parse HCL: {msg}", "warning", line)]
        return _hcl_documents(item, blocks, text, "tfvars" if name.endswith(".tfvars") else "terraform")
    if name.endswith((".tf.json", ".tofu.json", ".tfvars.json")):
        root = _load_json(text)
        if root is None:
            return [], [Problem(item.path, "cannot parse Terraform JSON", "warning")]
        if name.endswith(".tfvars.json"):
            blocks = (
                [
                    Block(
                        "attribute", (k,), _one(root, k), root.key_lines.get(k, 1), root.key_lines.get(k, 1)
                    )
                    for k in root
                ]
                if isinstance(root, LDict)
                else []
            )
            return _hcl_documents(item, blocks, text, "tfvars")
        return _hcl_documents(item, json_blocks(root), text, "terraform")
    root = _load_json(text)
    if not isinstance(root, LDict):
        return [], [Problem(item.path, "cannot parse Terraform plan JSON", "warning")]
    return [Document("terraform-plan", item.path, root, 1, (("ignores", tuple(_ignores(text))),))], []


def _one(root: LDict, key: str) -> LDict:
    out = LDict(line=root.key_lines.get(key, 1))
    out[key] = root[key]
    out.key_lines[key] = root.key_lines.get(key, 1)
    return out


def _load_json(text: str) -> Any:
    try:
        docs = load_yaml_documents(text)
        if len(docs) == 1:
            return docs[0][0]
    except (YamlError, RecursionError):
        pass
    try:
        return wrap(json.loads(text), 1)
    except (ValueError, RecursionError):
        return None


_LOCAL_SOURCE = re.compile(r"^\.{1,2}(/|\\|$)")


def _hcl_documents(
    item: Item, blocks: list[Block], text: str, kind: str
) -> tuple[list[Document], list[Problem]]:
    problems = []
    for b in blocks:
        if b.type == "module":
            src = b.body.get("source")
            if isinstance(src, str) and not _LOCAL_SOURCE.match(src):
                problems.append(
                    Problem(
                        item.path,
                        f"module '{b.labels[0] if b.labels else '?'}' source {src} is remote: not scanned",
                        "info",
                        b.line,
                    )
                )
    meta = (("blocks", tuple(blocks)), ("ignores", tuple(_ignores(text))))
    return [Document(kind, item.path, LList(), 1, meta)], problems


