"""Entry points for git hooks run by pre-commit (see .pre-commit-hooks.yaml).

    python -m scanner.hook pre-push [SCAN OPTIONS...]

pre-push: scans what the pushed commits introduce, `PRE_COMMIT_FROM_REF..PRE_COMMIT_TO_REF`
(`scanner scan --range`). Without a range (pre-commit could not find what the remote already has,
e.g. the first push of a new repository) it scans the working tree instead and says so.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

from scanner.cli import main as scanner_main


def pre_push(extra: Sequence[str]) -> int:
    start, end = os.environ.get("PRE_COMMIT_FROM_REF", ""), os.environ.get("PRE_COMMIT_TO_REF", "")
    if start and end and set(start) != {"0"}:
        return scanner_main(["scan", "--range", f"{start}..{end}", *extra])
    print("scanner: note: no pushed range known (PRE_COMMIT_FROM_REF/PRE_COMMIT_TO_REF unset): scanning the working tree",
          file=sys.stderr)  # fmt: skip
    return scanner_main(["scan", *extra])


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] != "pre-push":
        print("usage: python -m scanner.hook pre-push [SCAN OPTIONS...]", file=sys.stderr)
        return 2
    return pre_push(args[1:])


if __name__ == "__main__":
    sys.exit(main())
