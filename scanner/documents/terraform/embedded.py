"""Text hidden inside Terraform values, handed to the secrets engine as it would be read at run time.

- user_data: `user_data_base64 = "..."`, `user_data = "..."` in base64 (launch templates require it),
  `base64decode("...")`, gzip-compressed base64 (cloud-init), and `base64encode("...")` with its
  escapes read: the script an instance runs, where `export DB_PASSWORD=...` hides.
- container environments: `{ name = "DB_PASSWORD", value = "..." }` pairs (ECS container_definitions
  in jsonencode or JSON, Elastic Beanstalk settings) become `DB_PASSWORD = "..."`, the assignment the
  secrets rules judge by name and value. Pairs with `valueFrom` (a secret reference) have no value.

Nothing is executed or fetched: literals only. Each embedded text comes with the line of the value it
was read from, where its findings are reported. Lambda `environment { variables = {...} }` needs none
of this: its assignments are already plain text in the file.
"""

from __future__ import annotations

import base64
import binascii
import gzip
import io
import re
import zlib
from collections.abc import Iterator
from typing import NamedTuple

from scanner.documents.terraform.parse.fast import unescape
from scanner.model import Item

MAX_DECODED = 1 << 20  # a user_data script is at most 16 KB on EC2; leave room, stay bounded

_KEYWORDS = (b"user_data", b"base64decode", b"base64encode", b"value")
_BASE64 = re.compile(
    rb'(?:"?user_data(?:_base64)?"?[ \t]*[=:][ \t]*|base64decode\([ \t]*)"([A-Za-z0-9+/]{16,}={0,2})"'
)
_ENCODE = re.compile(rb'base64(?:gzip|encode)\([ \t]*"((?:[^"\\\n]|\\.){8,})"[ \t]*\)')
_NAME = rb'"?name"?[ \t]*[=:][ \t]*"([A-Za-z_][A-Za-z0-9_.-]{0,127})"'
_VALUE = rb'"?value"?[ \t]*[=:][ \t]*"((?:[^"\\\n]|\\.){1,4096})"'
_PAIR = re.compile(_NAME + rb"[ \t]*,?\s*" + _VALUE)
_PAIR_REVERSED = re.compile(_VALUE + rb"[ \t]*,?\s*" + _NAME)


class Embedded(NamedTuple):
    item: Item  # the text as run time reads it, under the file's path
    line: int  # the line of the value in the file
    what: str  # for the finding's message: "in base64-decoded user_data"


def _line(data: bytes, offset: int) -> int:
    return data.count(b"\n", 0, offset) + 1


def _decode(raw: bytes) -> bytes | None:
    try:
        decoded = base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError):
        return None
    if decoded[:2] == b"\x1f\x8b":
        try:
            decoded = gzip.GzipFile(fileobj=io.BytesIO(decoded)).read(MAX_DECODED)
        except (OSError, EOFError, zlib.error):
            return None
    text = decoded[:MAX_DECODED]
    try:
        text.decode("utf-8")
    except UnicodeDecodeError:
        return None  # binary: no script to read
    return text


def embedded_items(item: Item) -> Iterator[Embedded]:
    """The texts embedded in one Terraform file (nothing for other files)."""
    name = item.path.rsplit("/", 1)[-1]
    if not name.endswith((".tf", ".tf.json", ".tofu", ".tofu.json")):
        return
    data = item.data
    if not any(k in data for k in _KEYWORDS):
        return
    for m in _BASE64.finditer(data):
        decoded = _decode(m.group(1))
        if decoded:
            yield Embedded(Item(item.path, decoded, item.provenance), _line(data, m.start(1)), "in base64-decoded user_data")
    for m in _ENCODE.finditer(data):
        text = unescape(m.group(1).decode("utf-8", "replace"))
        if "\n" in text:  # one line: already read as it is in the file
            yield Embedded(Item(item.path, text.encode(), item.provenance), _line(data, m.start(1)), "in a base64encode() literal")
    pairs: dict[int, tuple[bytes, bytes]] = {}
    for pattern, name_group in ((_PAIR, 1), (_PAIR_REVERSED, 2)):
        for m in pattern.finditer(data):
            value_group = 3 - name_group
            pairs.setdefault(m.start(value_group), (m.group(name_group), m.group(value_group)))
    for offset, (key, value) in sorted(pairs.items()):
        text = unescape(value.decode("utf-8", "replace")).replace('"', '\\"')
        line = f'{key.decode("utf-8", "replace")} = "{text}"\n'.encode()
        yield Embedded(Item(item.path, line, item.provenance), _line(data, offset), "in a container environment variable")
