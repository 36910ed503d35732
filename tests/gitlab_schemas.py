"""GitLab's security report schemas, version 15.2.1, pinned for the tests (never fetched at run time).

No package on PyPI or npm ships them (GitLab publishes them in its security-report-schemas project
and as a Ruby gem), so the tests' own setup writes this transcription to a file and validates the
reports with jsonschema against it. It keeps every normative constraint of the two formats the
scanner emits (`sast-report-format.json` and `secret-detection-report-format.json`, draft-07):
required members, enumerations, patterns and length limits of the report, `scan`, the analyzer and
scanner, messages, primary identifiers, and each vulnerability (identifiers, links, details,
location; a commit with a sha for secret detection). Descriptions and examples are left out.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

VERSION = "15.2.1"
TIME = {"type": "string", "pattern": r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}$"}
NONEMPTY = {"type": "string", "minLength": 1}
URL = {"type": "string", "pattern": "^(https?|ftp)://.+"}


def _tool(url_pattern: bool) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["id", "name", "version", "vendor"],
        "properties": {
            "id": NONEMPTY,
            "name": NONEMPTY,
            "url": {"type": "string", "pattern": "^https?://.+"} if url_pattern else {"type": "string"},
            "version": NONEMPTY,
            "vendor": {"type": "object", "required": ["name"], "properties": {"name": NONEMPTY}},
        },
    }


IDENTIFIER = {
    "type": "object",
    "required": ["type", "name", "value"],
    "properties": {"type": NONEMPTY, "name": NONEMPTY, "url": URL, "value": NONEMPTY},
}


def _typed(kind: str, required: list[str], **props: Any) -> dict[str, Any]:
    return {"type": "object", "required": ["type", *required], "properties": {"type": {"const": kind}, **props}}


DEFINITIONS: dict[str, Any] = {
    "detail_type": {"oneOf": [{"$ref": f"#/definitions/{name}"} for name in (
        "named_list", "list", "table", "text", "url", "code", "value", "diff", "markdown", "commit",
        "file_location", "module_location")]},  # fmt: skip
    "named_field": {"type": "object", "required": ["name"],
                    "properties": {"name": NONEMPTY, "description": {"type": "string"}}},  # fmt: skip
    "named_list": _typed("named-list", ["items"], items={
        "type": "object",
        "patternProperties": {"^.*$": {"allOf": [{"$ref": "#/definitions/named_field"}, {"$ref": "#/definitions/detail_type"}]}},
    }),  # fmt: skip
    "list": _typed("list", ["items"], items={"type": "array", "items": {"$ref": "#/definitions/detail_type"}}),
    "table": _typed("table", ["rows"], header={"type": "array", "items": {"$ref": "#/definitions/detail_type"}},
                    rows={"type": "array", "items": {"type": "array", "items": {"$ref": "#/definitions/detail_type"}}}),  # fmt: skip
    "text": _typed("text", ["value"], value={"type": "string"}),
    "url": _typed("url", ["href"], text={"type": "string"}, href=NONEMPTY),
    "code": _typed("code", ["value"], value={"type": "string"}, lang={"type": "string"}),
    "value": _typed("value", ["value"], value={"type": ["number", "string", "boolean"]}),
    "diff": _typed("diff", ["before", "after"], before={"type": "string"}, after={"type": "string"}),
    "markdown": _typed("markdown", ["value"], value={"type": "string"}),
    "commit": _typed("commit", ["value"], value=NONEMPTY),
    "file_location": _typed("file-location", ["file_name", "line_start"], file_name=NONEMPTY,
                            line_start={"type": "integer"}, line_end={"type": "integer"}),  # fmt: skip
    "module_location": _typed("module-location", ["module_name", "offset"], module_name=NONEMPTY,
                              offset={"type": "integer"}),  # fmt: skip
}


def _location(kind: str) -> dict[str, Any]:
    props: dict[str, Any] = {
        "file": {"type": "string"},
        "start_line": {"type": "number"},
        "end_line": {"type": "number"},
        "class": {"type": "string"},
        "method": {"type": "string"},
    }
    if kind == "sast":
        return {"type": "object", "properties": props}
    props["commit"] = {
        "type": "object",
        "required": ["sha"],
        "properties": {"author": {"type": "string"}, "date": {"type": "string"}, "message": {"type": "string"}, "sha": NONEMPTY},
    }
    return {"type": "object", "required": ["commit"], "properties": props}


def schema(kind: str) -> dict[str, Any]:
    """The report schema for `kind`: "sast" or "secret_detection"."""
    vulnerability = {
        "type": "object",
        "required": ["id", "identifiers", "location"],
        "properties": {
            "id": NONEMPTY,
            "name": {"type": "string", "maxLength": 255},
            "description": {"type": "string", "maxLength": 1048576},
            "severity": {"type": "string", "enum": ["Info", "Unknown", "Low", "Medium", "High", "Critical"]},
            "solution": {"type": "string", "maxLength": 7000},
            "identifiers": {"type": "array", "minItems": 1, "items": IDENTIFIER},
            "links": {"type": "array", "items": {"type": "object", "required": ["url"],
                                                 "properties": {"name": {"type": "string"}, "url": URL}}},  # fmt: skip
            "details": {"$ref": "#/definitions/named_list/properties/items"},
            "flags": {"type": "array", "items": {
                "type": "object", "required": ["type", "origin", "description"],
                "properties": {"type": {"type": "string", "enum": ["flagged-as-likely-false-positive"]},
                               "origin": NONEMPTY, "description": NONEMPTY}}},  # fmt: skip
            "location": _location(kind),
            "raw_source_code_extract": {"type": "string"},
        },
    }
    scan = {
        "type": "object",
        "required": ["analyzer", "end_time", "scanner", "start_time", "status", "type"],
        "properties": {
            "end_time": TIME,
            "start_time": TIME,
            "messages": {"type": "array", "items": {"type": "object", "required": ["level", "value"], "properties": {
                "level": {"type": "string", "enum": ["info", "warn", "fatal"]}, "value": NONEMPTY}}},  # fmt: skip
            "options": {"type": "array", "items": {"type": "object", "required": ["name", "value"], "properties": {
                "name": {"type": "string", "minLength": 1, "maxLength": 255},
                "source": {"type": "string", "enum": ["argument", "file", "env_variable", "other"]},
                "value": {"type": ["boolean", "integer", "null", "string"]}}}},  # fmt: skip
            "analyzer": _tool(url_pattern=True),
            "scanner": _tool(url_pattern=False),
            "status": {"type": "string", "enum": ["success", "failure"]},
            "type": {"type": "string", "enum": [kind]},
            "primary_identifiers": {"type": "array", "items": IDENTIFIER},
        },
    }
    return {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "title": f"GitLab {kind} report format {VERSION} (pinned for the scanner's tests)",
        "definitions": DEFINITIONS,
        "self": {"version": VERSION},
        "type": "object",
        "required": ["scan", "version", "vulnerabilities"],
        "additionalProperties": True,
        "properties": {
            "scan": scan,
            "schema": {"type": "string", "pattern": "^https?://.+"},
            "version": {"type": "string", "pattern": r"^[0-9]+\.[0-9]+\.[0-9]+$"},
            "vulnerabilities": {"type": "array", "items": vulnerability},
            "remediations": {"type": "array", "items": {"type": "object", "required": ["fixes", "summary", "diff"], "properties": {
                "fixes": {"type": "array", "items": {"type": "object", "required": ["id"], "properties": {"id": NONEMPTY}}},
                "summary": NONEMPTY, "diff": NONEMPTY}}},  # fmt: skip
        },
    }


def write(folder: Path) -> dict[str, Path]:
    """Write both schemas under `folder` (the tests' setup); returns kind -> file."""
    files = {}
    for kind, name in (("sast", "sast-report-format.json"), ("secret_detection", "secret-detection-report-format.json")):
        path = folder / name
        path.write_text(json.dumps(schema(kind), indent=2))
        files[kind] = path
    return files
