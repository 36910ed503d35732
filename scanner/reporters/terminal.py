"""Text for a terminal: what a scanned repository controls (file names, lines, author names, parser
messages) is shown with its control characters escaped, so it can neither move the cursor, recolour
or retitle the terminal, nor fake a line of the report. JSON and SARIF keep the real values."""

from __future__ import annotations

import re

# C0 and C1 controls, DEL, bidirectional overrides and isolates (Trojan Source), line and paragraph
# separators, and lone surrogates (a file name that is not UTF-8)
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029\ud800-\udfff]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(match: re.Match) -> str:
    char = match.group()
    named = _NAMED.get(char)
    if named is not None:
        return named
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(text: str) -> str:
    """`text` with every unsafe character shown as an escape (`\\x1b`, `\\n`, `\\u202e`)."""
    if text.isascii() and text.isprintable():  # the common case: nothing to do
        return text
    return _UNSAFE.sub(_escape, text)
