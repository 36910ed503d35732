"""Counted nouns in what people read: "1 file", "2 files", never "file(s)".

Code says `count(n, "file")` (or `count(n, "policy", "policies")`), and `noun(n, "shard")` for the
noun alone ("shards 2, 3 of 4 missing"); a rule's message template says `{files:file/files}` for a
number the subject holds (scanner/engines/policy.py, docs/writing-rules.md).
"""

from __future__ import annotations


def noun(n: int, one: str, many: str = "") -> str:
    """The noun that fits `n`: `noun(1, "file")` is "file", `noun(2, "file")` "files"."""
    return one if n == 1 else many or one + "s"


def count(n: int, one: str, many: str = "") -> str:
    """`n` and the noun that fits it: `count(1, "file")` is "1 file", `count(2, "file")` "2 files"."""
    return f"{n} {noun(n, one, many)}"
