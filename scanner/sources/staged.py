"""The index as a source: exactly what is about to be committed (pre-commit).

The blobs come from the index (`git diff --cached --raw`), not from the working copy, so a file
whose working copy differs from what is staged is judged on what is staged. Works on an unborn
branch (first commit) and honours GIT_INDEX_FILE (as set by `git commit -a` for its hooks).
"""

from __future__ import annotations

from collections.abc import Iterator

from scanner.model import Item, Problem, Provenance
from scanner.sources import text
from scanner.sources.git import open_repo, read_blobs, run_git
from scanner.sources.history import blob_sizes
from scanner.sources.worktree import DEFAULT_MAX_FILE_SIZE, oversized

EMPTY_TREE = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"


def staged_blobs(root: str) -> list[tuple[str, str, str]]:
    """(path, blob sha, mode) for every file added, copied or modified in the index."""
    repo = open_repo(root)
    if repo.bare:
        return []
    base = repo.head or EMPTY_TREE
    out = run_git(
        root, "diff", "--cached", "--raw", "-z", "--no-abbrev", "--no-renames", "--diff-filter=ACM",
        "--no-ext-diff", "--no-textconv", "--ignore-submodules=none", base, "--",
    )  # fmt: skip
    tokens = out.split(b"\0")
    staged = []
    for meta, path in zip(tokens[0::2], tokens[1::2], strict=False):
        if not meta.startswith(b":"):
            continue
        _old_mode, new_mode, _old, new, _status = meta[1:].split(b" ")
        staged.append((path.decode("utf-8", "surrogateescape"), new.decode(), new_mode.decode()))
    return staged


def staged_items(
    root: str, max_size: int = DEFAULT_MAX_FILE_SIZE, problems: list[Problem] | None = None
) -> Iterator[Item]:
    """Items for the staged content of each added/changed file (path: relative to the repo top)."""
    problems = problems if problems is not None else []
    entries = staged_blobs(str(root))
    paths: dict[str, list[str]] = {}
    for path, sha, mode in entries:
        if mode == "160000":
            problems.append(
                Problem(path, "submodule (gitlink) not scanned: scan the submodule itself", "info")
            )
            continue
        paths.setdefault(sha, []).append(path)
    sizes = blob_sizes(str(root), list(paths))
    wanted = []
    for sha in paths:
        if sizes.get(sha, 0) > max_size:
            problems.extend(oversized(path, sizes[sha], max_size) for path in paths[sha])
            continue
        wanted.append(sha)
    for sha, raw in read_blobs(str(root), wanted):
        data = text.decode(raw)  # UTF-8, whatever the file's encoding
        if data is None:
            continue
        for path in paths[sha]:
            yield Item(path, data, Provenance("staged", blob=sha))
