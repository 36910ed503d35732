"""The working-tree source: the files git sees (tracked, and untracked but not ignored), or, outside a
git repository, a walk that honours `.gitignore` files. Never follows a symlink; never reads a FIFO
or a device; every file that cannot be read becomes a one-line Problem and the scan goes on."""

from __future__ import annotations

import errno
import os
import re
import stat
import subprocess
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, NamedTuple

from scanner.model import Item, Problem
from scanner.sources import text
from scanner.sources.git import git_command, git_env

DEFAULT_MAX_FILE_SIZE = 10 * 1024 * 1024
BINARY_SNIFF = text.SNIFF


class Entry(NamedTuple):
    path: str  # reported path: POSIX, relative to the scan base
    abs: str  # absolute path on disk


def _git_files(directory: Path, problems: list[Problem] | None = None, shown: str = "") -> Iterator[str] | None:
    """Files git sees under `directory` (relative to it), as git lists them (a scan starts on the
    first while git is still listing), or None when it is not in a work tree. Folders git could not
    open (no permission: a warning; a path past PATH_MAX: walked here) are not left out silently."""
    errors = tempfile.TemporaryFile()  # git's warnings: a file, so no pipe can fill while stdout streams
    try:
        proc = subprocess.Popen(
            git_command(directory, "ls-files", "-z", "--cached", "--others", "--exclude-standard"),
            stdout=subprocess.PIPE,
            stderr=errors,
            env=git_env(),
        )
    except OSError:
        errors.close()
        return None
    assert proc.stdout is not None
    first = proc.stdout.read1(1 << 16)
    if not first:
        proc.stdout.close()
        if proc.wait() != 0 or _ignored_by_git(directory):
            errors.close()
            return None  # not a work tree; or a folder the repository ignores: the user named it, so walk it
    return _names(proc, first, directory, errors, problems, shown)


def _names(
    proc: subprocess.Popen, chunk: bytes, directory: Path, errors: IO[bytes], problems: list[Problem] | None, shown: str
) -> Iterator[str]:
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
        errors.seek(0)
        warnings = errors.read()
        errors.close()
    yield from _unopened(directory, warnings, problems, shown)


_UNOPENED = re.compile(rb"could not open directory '(.*)': ([^\n]*)")


def _unopened(directory: Path, warnings: bytes, problems: list[Problem] | None, shown: str) -> Iterator[str]:
    """The folders git said it could not open: one warning each (no permission); and when a path was
    too long for git (a chain of thousands of folders; its message is then cut short too), the files
    past that length, found by walking the tree here (what git did list is not listed twice)."""
    too_long = False
    for line in warnings.splitlines():
        if b"could not open directory" not in line and b"unable to access" not in line:
            continue
        match = _UNOPENED.search(line)
        if b"too long" in line or match is None:
            too_long = True
        elif problems is not None:
            rel, reason = os.fsdecode(match.group(1)).rstrip("/"), match.group(2).decode("utf-8", "replace")
            problems.append(Problem(shown + rel, f"cannot list folder: {reason}", kind="unreadable"))
    if too_long:
        yield from (name for name in _walk(directory, problems, shown) if len(name) >= _PATH_MAX // 2)


def _ignored_by_git(directory: Path) -> bool:
    try:
        proc = subprocess.run(
            git_command(directory, "check-ignore", "-q", "."), capture_output=True, env=git_env(), timeout=60
        )
    except (OSError, subprocess.SubprocessError):
        return False
    return proc.returncode == 0


def _ignored(specs: tuple[tuple[str, Patterns], ...], rel: str, is_dir: bool) -> bool:
    for base, spec in specs:
        if spec.match_file(rel[len(base) :] + ("/" if is_dir else "")):
            return True
    return False


class Patterns:
    """Gitignore patterns (pathspec) for paths that may hold surrogate escapes (a file name that is
    not UTF-8, kept as os.fsdecode gives it), which pathspec's RE2 backend cannot encode: such a
    path is matched with U+FFFD for its undecodable bytes. ValueError for a line that is not valid
    gitignore syntax (a lone `\\`)."""

    def __init__(self, lines: Iterable[str]) -> None:
        import pathspec  # when patterns are first needed, not at import (a history scan needs none)

        self._spec = pathspec.GitIgnoreSpec.from_lines(lines)

    def match_file(self, path: str) -> bool:
        try:
            return self._spec.match_file(path)
        except UnicodeEncodeError:
            return self._spec.match_file(path.encode("utf-8", "surrogateescape").decode("utf-8", "replace"))


def ignore_spec(lines: Iterable[str], name: str, problems: list[Problem] | None = None) -> Patterns:
    """A .gitignore's patterns. An invalid line (a lone `\\`) is one warning naming the file and the
    line, and the other lines still apply (git, too, skips what it cannot read)."""
    lines = list(lines)
    try:
        return Patterns(lines)
    except ValueError:  # pathspec's GitIgnorePatternError: find the lines, keep the rest
        pass
    valid = []
    for number, line in enumerate(lines, 1):
        try:
            Patterns([line])
        except ValueError:
            if problems is not None:
                problems.append(Problem(name, f"invalid ignore pattern {line.rstrip(chr(10))!r} skipped; the other "
                                        "lines apply", line=number, kind="notice"))  # fmt: skip
            line = ""
        valid.append(line)
    return Patterns(valid)


def _walk(directory: Path, problems: list[Problem] | None = None, shown: str = "") -> Iterator[str]:
    """Files under `directory` (relative), honouring every .gitignore on the way down, folder by
    folder as they are listed. Iterative (a stack, not recursion): any depth of folders. A folder
    that cannot be listed becomes a Problem in `problems` (paths in problems start with `shown`)."""
    top = os.fspath(directory)
    # (absolute folder, its path relative to `directory` with a trailing "/", the ignore specs in force)
    stack: list[tuple[str, str, tuple[tuple[str, Patterns], ...]]] = [(top, "", ())]
    while stack:
        current, rel_dir, specs = stack.pop()
        dirs: list[str] = []
        files: list[str] = []
        try:
            fd = _open_long(current, os.O_RDONLY | os.O_DIRECTORY) if len(current) >= _PATH_MAX // 4 else None
            try:
                with os.scandir(current if fd is None else fd) as listing:
                    for entry in listing:
                        try:
                            is_dir = entry.is_dir(follow_symlinks=False)
                        except OSError:
                            is_dir = False
                        (dirs if is_dir else files).append(entry.name)
            finally:
                if fd is not None:
                    os.close(fd)
        except OSError as exc:
            if problems is not None:
                where = (shown + rel_dir).rstrip("/") or "."
                problems.append(Problem(where, f"cannot list folder: {exc.strerror}", kind="unreadable"))
            continue
        if ".gitignore" in files:
            try:
                ignore_fd = _open_long(os.path.join(current, ".gitignore"), os.O_RDONLY | _NOFOLLOW)
                with open(ignore_fd, encoding="utf-8", errors="replace") as handle:
                    specs = (*specs, (rel_dir, ignore_spec(handle, shown + rel_dir + ".gitignore", problems)))
            except OSError:
                pass
        for f in sorted(files):
            if not specs or not _ignored(specs, rel_dir + f, False):
                yield rel_dir + f
        subdirs = sorted(d for d in dirs if d != ".git" and not _ignored(specs, rel_dir + d, True))
        stack.extend((os.path.join(current, d), rel_dir + d + "/", specs) for d in reversed(subdirs))


_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_PATH_MAX = 4096  # Linux; a longer path is opened folder by folder (a chain of 3,000 folders is legal)


def _open_long(path: str, flags: int) -> int:
    """os.open for a path of any length: past PATH_MAX (ENAMETOOLONG), in steps relative to the
    folder opened before (openat), each shorter than the limit."""
    try:
        return os.open(path, flags)
    except OSError as exc:
        if exc.errno != errno.ENAMETOOLONG:
            raise
    parent, name = _open_parent(path)
    try:
        return os.open(name, flags, dir_fd=parent)
    finally:
        os.close(parent)


def _lstat_long(path: str) -> os.stat_result:
    try:
        return os.lstat(path)
    except OSError as exc:
        if exc.errno != errno.ENAMETOOLONG:
            raise
    parent, name = _open_parent(path)
    try:
        return os.stat(name, dir_fd=parent, follow_symlinks=False)
    finally:
        os.close(parent)


def _open_parent(path: str) -> tuple[int, bytes]:
    """A descriptor of the folder holding `path` (opened in steps under PATH_MAX) and the last name."""
    raw = os.fsencode(path)
    folder, _, name = raw.rpartition(b"/")
    fd: int | None = None
    rest = folder or b"/"
    try:
        while len(rest) >= _PATH_MAX // 2:
            cut = rest.rfind(b"/", 1, _PATH_MAX // 2)
            if cut <= 0:
                raise OSError(errno.ENAMETOOLONG, os.strerror(errno.ENAMETOOLONG), path)
            step = os.open(rest[:cut], os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
            if fd is not None:
                os.close(fd)
            fd, rest = step, rest[cut + 1 :]
        step = os.open(rest, os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
    except BaseException:
        if fd is not None:
            os.close(fd)
        raise
    if fd is not None:
        os.close(fd)
    return step, name


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


class PatternError(ValueError):
    """An --exclude (or configuration `exclude`) glob that is not valid gitignore syntax."""


def exclude_spec(excludes: Iterable[str]) -> Patterns | None:
    """--exclude / config `exclude` globs (gitignore syntax, relative to the reported paths' base)."""
    excludes = [e for e in excludes if e]
    if not excludes:
        return None
    for exclude in excludes:
        try:
            Patterns([exclude])
        except ValueError:
            raise PatternError(f"--exclude {exclude!r}: not a valid gitignore pattern") from None
    return Patterns(excludes)


def list_files(targets: Iterable[str], excludes: Iterable[str] = ()) -> tuple[list[Entry], list[Problem], Path]:
    """Every file to scan under the targets, sorted, with the base their reported paths are relative to."""
    problems: list[Problem] = []
    entries, base = iter_files(targets, excludes, problems)
    return sorted(entries), problems, base


def iter_files(
    targets: Iterable[str], excludes: Iterable[str] = (), problems: list[Problem] | None = None, base: str = ""
) -> tuple[Iterator[Entry], Path]:
    """The files to scan under the targets, as they are listed (a walk yields folder by folder, so a
    scan can start before the listing ends), each once; and the base reported paths are relative
    to (`base`, else display_base of the first target). Listing problems are appended to `problems`
    as the iterator runs. A missing target raises FileNotFoundError here, before anything is listed."""
    resolved = []
    for raw in targets:
        target = Path(raw)
        if not target.exists() and not target.is_symlink():
            raise FileNotFoundError(f"{raw}: no such file or directory")
        resolved.append(target.resolve())
    if base:
        shown = Path(base).resolve()
    else:
        shown = display_base(resolved[0]) if resolved else Path.cwd().resolve()
    return _entries(resolved, shown, exclude_spec(excludes), problems if problems is not None else []), shown


def _entries(targets: list[Path], base: Path, exclude: Patterns | None, problems: list[Problem]) -> Iterator[Entry]:
    seen: set[str] = set()
    for target in targets:
        target_rel = os.path.relpath(target, base).replace(os.sep, "/")
        is_dir = target.is_dir()
        # a path the user names is scanned even where an exclude covers it (as ruff does)
        named = exclude is not None and exclude.match_file(target_rel + ("/" if is_dir else ""))
        check = exclude if exclude is not None and not named else None
        if is_dir:
            # names are clean relative paths: one relpath for the folder, not one per file
            prefix = "" if target_rel == "." else target_rel + "/"
            names = _git_files(target, problems, prefix)
            if names is None:
                names = _walk(target, problems, prefix)
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
        st = _lstat_long(entry.abs)
    except FileNotFoundError:
        return None  # deleted in the work tree, or vanished mid-scan
    except OSError as exc:
        return Problem(entry.path, f"cannot read: {exc.strerror}", kind="unreadable")
    if stat.S_ISLNK(st.st_mode):
        try:
            real = os.path.realpath(entry.abs, strict=True)
        except OSError as exc:
            return Problem(entry.path, f"symlink not followed: {exc.strerror or 'broken or looping link'}", kind="symlink")
        if os.path.commonpath([real, root]) != root:
            return Problem(entry.path, "symlink points outside the scanned root; not followed", kind="symlink")
        return Problem(entry.path, "symlink skipped (its target is scanned under its own path)", "info", kind="symlink")
    if stat.S_ISDIR(st.st_mode):
        return None  # a submodule or a directory git listed
    if not stat.S_ISREG(st.st_mode):
        return Problem(entry.path, "not a regular file (FIFO, socket or device); skipped", "info", kind="special")
    if st.st_size > max_size:
        return oversized(entry.path, st.st_size, max_size)
    try:
        fd = _open_long(entry.abs, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | _NOFOLLOW)
        try:
            data = _read_text(fd, st.st_size, max_size)
        finally:
            os.close(fd)
    except OSError as exc:
        return Problem(entry.path, f"cannot read: {exc.strerror}", kind="unreadable")
    if data is None:
        return Problem(entry.path, "binary file skipped", "info", kind="binary")  # without reading the rest
    if len(data) > max_size:
        return oversized(entry.path, len(data), max_size)
    data = as_text_bytes(data)
    if data is None:
        return Problem(entry.path, "binary file skipped", "info", kind="binary")
    return Item(entry.path, data)


def oversized(path: str, size: int, max_size: int) -> Problem:
    """A file over the size limit: not scanned, and said by default (a 200 MB dump may hold secrets)."""
    return Problem(path, f"not scanned: {_mb(size)} is over --max-file-size {_mb(max_size)}", kind="oversized")


def _mb(size: int) -> str:
    return f"{size / 1e6:.1f} MB" if size >= 100_000 else f"{size:,} bytes"


def _read_text(fd: int, size: int, max_size: int) -> bytes | None:
    """The file's bytes (up to max_size + 1), read with as few system calls and copies as possible:
    its size from stat, in one read; a larger file's first BINARY_SNIFF bytes first, so that a big
    binary is not read whole. None for binary."""
    limit = max_size + 1
    if size > BINARY_SNIFF:
        head = os.read(fd, BINARY_SNIFF)
        if text.encoding(head) is None:
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


def as_text_bytes(data: bytes) -> bytes | None:
    """The file's text as UTF-8 (UTF-16/32 with or without a byte-order mark re-encoded, bytes that
    are not UTF-8 read as Latin-1), or None for binary: see text.py."""
    return text.decode(data)
