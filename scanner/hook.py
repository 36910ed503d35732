"""Entry points for git hooks run by pre-commit (see .pre-commit-hooks.yaml).

    python -m scanner.hook pre-push [SCAN OPTIONS...]

pre-push: scans what the push publishes. pre-commit gives the pushed range as PRE_COMMIT_FROM_REF
(what the remote has) and PRE_COMMIT_TO_REF. When the remote has nothing yet (the first push of a
branch or of a whole repository: FROM is all zeros or unset), it scans every commit of TO that no
remote-tracking ref has (`git rev-list TO --not --remotes`), so a secret committed and deleted again
before the first push is still caught. The hook is declared `verbose` so pre-commit shows what was
scanned even when it passes.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

from scanner.cli import main as scanner_main


def pre_push(extra: Sequence[str]) -> int:
    start, end = os.environ.get("PRE_COMMIT_FROM_REF", ""), os.environ.get("PRE_COMMIT_TO_REF", "")
    if start and end and set(start) != {"0"}:
        print(f"scanner: scanning what {start[:12]}..{end[:12]} introduces", file=sys.stderr)
        return scanner_main(["scan", "--range", f"{start}..{end}", *extra])
    target = end if end and set(end) != {"0"} else "HEAD"
    print(f"scanner: scanning every commit of {target[:12]} that no remote has yet", file=sys.stderr)
    return scanner_main(["scan", "--unpushed", target, *extra])


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] != "pre-push":
        print("usage: python -m scanner.hook pre-push [SCAN OPTIONS...]", file=sys.stderr)
        return 2
    return pre_push(args[1:])


if __name__ == "__main__":
    sys.exit(main())
