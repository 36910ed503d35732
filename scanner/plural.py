"""Counted nouns in what people read: "1 file", "2 files", never "file(s)".

Code says `count(n, "file")` (or `count(n, "policy", "policies")`); a rule's message template says
`{files:file/files}` for a number the subject holds (scanner/engines/policy.py, docs/writing-rules.md).
"""

from __future__ import annotations


def count(n: int, one: str, many: str = "") -> str:
    """`n` and the noun that fits it: `count(1, "file")` is "1 file", `count(2, "file")` "2 files"."""
    return f"{n} {one if n == 1 else many or one + 's'}"
