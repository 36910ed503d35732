"""Decoders turn structured content into secret candidates (e.g. base64 `data` of a Kubernetes Secret).

A decoder takes (item, lines) and yields `Candidate`s. It runs only when one of its rule's keywords
occurs in the item, and does its own cheap check before parsing anything.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Iterator
from typing import Any

import re2

from scanner.documents.tree import LDict, LList, line_of, load_yaml_stream
from scanner.engines.secrets import Candidate
from scanner.model import Item

_SECRET_KIND = re2.compile(rb"""(?m)^[ \t]*["']?kind["']?[ \t]*:[ \t]*["']?Secret["']?[ \t]*,?[ \t]*$""")


def _secret_objects(value: Any) -> Iterator[LDict]:
    """Secret objects in a document: the document itself or the items of a `List` (any `*List` kind)."""
    if not isinstance(value, LDict):
        return
    kind = value.get("kind")
    if kind == "Secret":
        yield value
    elif isinstance(kind, str) and kind.endswith("List") and isinstance(value.get("items"), LList):
        for item in value["items"]:
            yield from _secret_objects(item)


def _decode(raw: str) -> str | None:
    """Base64 as Kubernetes writes it (std alphabet, padding); None when it is not base64."""
    compact = "".join(raw.split())
    try:
        decoded = base64.b64decode(compact, validate=True)
    except (binascii.Error, ValueError):
        return None
    return decoded.decode("utf-8", "replace")


def _position(lines: Any, line: int, raw: str) -> tuple[int, str]:
    """Byte offset of `raw` on `line` (or of the line when it is not there) and the line's text."""
    text = lines.text(line)
    starts = lines.starts()
    base = starts[line - 1] if 0 < line <= len(starts) else 0
    first = raw.split("\n", 1)[0]
    col = text.find(first) if first else -1
    if col < 0:
        return base, text
    return base + len(text[:col].encode("utf-8")), text


def kubernetes_secret(item: Item, lines: Any) -> Iterator[Candidate]:
    """Every non-empty value of a Secret's `stringData` (plaintext) and `data` (base64: decoded)."""
    if not _SECRET_KIND.search(item.data):
        return
    docs, _ = load_yaml_stream(item.data)  # a broken document: the documents step reports it; the others count
    for doc, _ in docs:
        for obj in _secret_objects(doc):
            for field, encoded in (("data", True), ("stringData", False)):
                values = obj.get(field)
                if not isinstance(values, LDict):
                    continue
                for key, value in values.items():
                    if value is None or isinstance(value, (LDict, LList)):
                        continue
                    raw = str(value)
                    if not raw.strip():
                        continue
                    secret = raw
                    if encoded:
                        decoded = _decode(raw)
                        if decoded is not None:
                            secret = decoded.strip()
                            if not secret:
                                continue
                    line = line_of(values, key)
                    start, text = _position(lines, line, raw)
                    yield Candidate(
                        secret=secret,
                        start=start,
                        line=line,
                        context=text,
                        key=f"{field}.{key}",
                        raw=raw if secret != raw else "",
                    )


def _manifest_decoders() -> dict[str, Callable[[Item, Any], Iterator[Candidate]]]:
    # Kubernetes manifests: values judged by what they are for (engines/manifest_secrets.py), replacing
    # kubernetes_secret above, which reports every value of a Secret
    from scanner.engines import manifest_secrets

    return {"kubernetes-secret": manifest_secrets.kubernetes_secret,
            "kubernetes-values": manifest_secrets.kubernetes_values}


DECODERS: dict[str, Callable[[Item, Any], Iterator[Candidate]]] = {
    "kubernetes-secret": kubernetes_secret,
    **_manifest_decoders(),
}
