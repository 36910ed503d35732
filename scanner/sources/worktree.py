"""The working-tree source: the files git sees (tracked, and untracked but not ignored), or, outside a
git repository, a walk that honours `.gitignore` files. Never follows a symlink; never reads a FIFO
or a device; every file that cannot be read becomes a one-line Problem and the scan goes on."""

from __future__ import annotations

import os
import stat
import subprocess
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import NamedTuple

import pathspec

from scanner.model import Item, Problem
from scanner.sources.git import git_command, git_env

DEFAULT_MAX_FILE_SIZE = 10 * 1024 * 1024
BINARY_SNIFF = 8192


class Entry(NamedTuple):
    path: str  # reported path: POSIX, relative to the scan base
    abs: str  # absolute path on disk


def _git_files(directory: Path) -> Iterator[str] | None:
    """Files git sees under `directory` (relative to it), as git lists them (a scan starts on the
    first while git is still listing), or None when it is not in a work tree."""
    try:
        proc = subprocess.Popen(
            git_command(directory, "ls-files", "-z", "--cached", "--others", "--exclude-standard"),
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=git_env(),
        )
    except OSError:
        return None
    assert proc.stdout is not None
    first = proc.stdout.read1(1 << 16)
    if not first:
        proc.stdout.close()
        if proc.wait() != 0 or _ignored_by_git(directory):
            return None  # not a work tree; or a folder the repository ignores: the user named it, so walk it
        return iter(())
    return _names(proc, first)


def _names(proc: subprocess.Popen, chunk: bytes) -> Iterator[str]:
    assert proc.stdout is not None
    tail = b""
    try:
        while chunk:
            names = (tail + chunk).split(b"\0")
            tail = names.pop()
            for name in names:
                if name:
                    yield os.fsdecode(name)
            chunk = proc.stdout.read1(1 << 16)
        if tail:
            yield os.fsdecode(tail)
    finally:
        proc.stdout.close()
        proc.wait()


def _ignored_by_git(directory: Path) -> bool:
    try:
        proc = subprocess.run(
            git_command(directory, "check-ignore", "-q", "."), capture_output=True, env=git_env(), timeout=60
        )
    except (OSError, subprocess.SubprocessError):
        return False
    return proc.returncode == 0


def _ignored(specs: list[tuple[str, pathspec.PathSpec]], rel: str, is_dir: bool) -> bool:
    for base, spec in specs:
        if spec.match_file(rel[len(base) :] + ("/" if is_dir else "")):
            return True
    return False


def _walk(directory: Path, problems: list[Problem] | None = None) -> Iterator[str]:
    """Files under `directory` (relative), honouring every .gitignore on the way down, folder by
    folder as they are listed. A folder that cannot be listed becomes a Problem in `problems`."""

    def unreadable(exc: OSError) -> None:
        if problems is not None and exc.filename is not None:
            rel = os.path.relpath(exc.filename, directory).replace(os.sep, "/")
            problems.append(Problem(rel, f"cannot list folder: {exc.strerror}"))

    specs: list[tuple[str, pathspec.PathSpec]] = []
    for current, dirs, files in os.walk(directory, followlinks=False, onerror=unreadable):
        rel_dir = os.path.relpath(current, directory)
        rel_dir = "" if rel_dir == "." else rel_dir.replace(os.sep, "/") + "/"
        specs = [(base, spec) for base, spec in specs if rel_dir.startswith(base)]
        ignore_file = os.path.join(current, ".gitignore")
        if ".gitignore" in files:
            try:
                with open(ignore_file, encoding="utf-8", errors="replace") as handle:
                    specs.append((rel_dir, pathspec.GitIgnoreSpec.from_lines(handle)))
            except OSError:
                pass

        dirs[:] = sorted(d for d in dirs if d != ".git" and not _ignored(specs, rel_dir + d, True))
        for f in sorted(files):
            if not specs or not _ignored(specs, rel_dir + f, False):
                yield rel_dir + f


def display_base(target: Path) -> Path:
    """The folder reported paths are relative to: the current directory when the target is inside
    it, else the target folder (or the file's folder)."""
    cwd = Path.cwd().resolve()
    target = target.resolve()
    base = target if target.is_dir() else target.parent
    try:
        base.relative_to(cwd)
        return cwd
    except ValueError:
        return base


def exclude_spec(excludes: Iterable[str]) -> pathspec.PathSpec | None:
    """--exclude / config `exclude` globs (gitignore syntax, relative to the reported paths' base)."""
    excludes = [e for e in excludes if e]
    return pathspec.GitIgnoreSpec.from_lines(excludes) if excludes else None


def list_files(targets: Iterable[str], excludes: Iterable[str] = ()) -> tuple[list[Entry], list[Problem], Path]:
    """Every file to scan under the targets, sorted, with the base their reported paths are relative to."""
    problems: list[Problem] = []
    entries, base = iter_files(targets, excludes, problems)
    return sorted(entries), problems, base


def iter_files(
    targets: Iterable[str], excludes: Iterable[str] = (), problems: list[Problem] | None = None
) -> tuple[Iterator[Entry], Path]:
    """The files to scan under the targets, as they are listed (a walk yields folder by folder, so a
    scan can start before the listing ends), each once; and the base reported paths are relative
    to. Listing problems are appended to `problems` as the iterator runs. A missing target raises
    FileNotFoundError here, before anything is listed."""
    resolved = []
    for raw in targets:
        target = Path(raw)
        if not target.exists() and not target.is_symlink():
            raise FileNotFoundError(f"{raw}: no such file or directory")
        resolved.append(target.resolve())
    base = display_base(resolved[0]) if resolved else Path.cwd().resolve()
    return _entries(resolved, base, exclude_spec(excludes), problems if problems is not None else []), base


def _entries(targets: list[Path], base: Path, exclude: pathspec.PathSpec | None, problems: list[Problem]) -> Iterator[Entry]:
    seen: set[str] = set()
    for target in targets:
        target_rel = os.path.relpath(target, base).replace(os.sep, "/")
        is_dir = target.is_dir()
        # a path the user names is scanned even where an exclude covers it (as ruff does)
        named = exclude is not None and exclude.match_file(target_rel + ("/" if is_dir else ""))
        check = exclude if exclude is not None and not named else None
        if is_dir:
            names = _git_files(target)
            if names is None:
                names = _walk(target, problems)
            # names are clean relative paths: one relpath for the folder, not one per file
            prefix = "" if target_rel == "." else target_rel + "/"
            top = str(target).rstrip(os.sep) + os.sep
            pairs: Iterable[tuple[str, str]] = ((prefix + n, top + n) for n in names)
        else:
            pairs = [(target_rel, str(target))]
        for rel, file in pairs:
            if rel in seen or (check is not None and check.match_file(rel)):
                continue
            seen.add(rel)
            yield Entry(rel, file)


def read_entry(entry: Entry, root: str, max_size: int = DEFAULT_MAX_FILE_SIZE) -> Item | Problem | None:
    """The file's bytes, or a Problem saying why not; None when it is simply not ours to read."""
    try:
        st = os.lstat(entry.abs)
    except FileNotFoundError:
        return None  # deleted in the work tree, or vanished mid-scan
    except OSError as exc:
        return Problem(entry.path, f"cannot read: {exc.strerror}")
    if stat.S_ISLNK(st.st_mode):
        try:
            real = os.path.realpath(entry.abs, strict=True)
        except OSError as exc:
            return Problem(entry.path, f"symlink not followed: {exc.strerror or 'broken or looping link'}")
        if os.path.commonpath([real, root]) != root:
            return Problem(entry.path, "symlink points outside the scanned root; not followed")
        return Problem(entry.path, "symlink skipped (its target is scanned under its own path)", "info")
    if stat.S_ISDIR(st.st_mode):
        return None  # a submodule or a directory git listed
    if not stat.S_ISREG(st.st_mode):
        return Problem(entry.path, "not a regular file (FIFO, socket or device); skipped", "info")
    if st.st_size > max_size:
        return Problem(entry.path, f"skipped: {st.st_size / 1e6:.1f} MB is over --max-file-size", "info")
    try:
        fd = os.open(entry.abs, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOFOLLOW", 0))
        try:
            data = _read_text(fd, st.st_size, max_size)
        finally:
            os.close(fd)
    except OSError as exc:
        return Problem(entry.path, f"cannot read: {exc.strerror}")
    if data is None:
        return Problem(entry.path, "binary file skipped", "info")  # without reading the rest
    if len(data) > max_size:
        return Problem(entry.path, "skipped: grew over --max-file-size while being read", "info")
    data = as_text_bytes(data)
    if data is None:
        return Problem(entry.path, "binary file skipped", "info")
    return Item(entry.path, data)


def _read_text(fd: int, size: int, max_size: int) -> bytes | None:
    """The file's bytes (up to max_size + 1), read with as few system calls and copies as possible:
    its size from stat, in one read; a larger file's first BINARY_SNIFF bytes first, so that a big
    binary is not read whole. None for binary."""
    limit = max_size + 1
    if size > BINARY_SNIFF:
        head = os.read(fd, BINARY_SNIFF)
        if _nul_not_utf16(head):
            return None
        parts = [head]
        got = len(head)
        want = min(size + 1, limit) - got  # one more byte than stat said: a file that grew is noticed
    else:
        parts, got, want = [], 0, min(size + 1, limit)
    while want > 0:
        chunk = os.read(fd, want)
        if not chunk:
            break
        parts.append(chunk)
        got += len(chunk)
        if got >= limit or (len(chunk) < want and got >= size):
            break  # at the limit, or at the end stat promised
        want = limit - got if len(chunk) == want else want - len(chunk)  # it grew: read on to the limit
    return parts[0] if len(parts) == 1 else b"".join(parts)


def _nul_not_utf16(data: bytes) -> bool:
    """Binary: a NUL in the first BINARY_SNIFF bytes, unless a UTF-16 byte-order mark says they are
    text (history.is_binary, for git blobs, does not make that exception: see the issue note)."""
    return data.find(b"\0", 0, BINARY_SNIFF) != -1 and not data.startswith((b"\xff\xfe", b"\xfe\xff"))


def as_text_bytes(data: bytes) -> bytes | None:
    """UTF-8 (or any ASCII-compatible) bytes as they are; UTF-16 with a BOM re-encoded; None for binary."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16").encode("utf-8")
        except UnicodeDecodeError:
            return None
    if _nul_not_utf16(data):
        return None
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:]
    return data
