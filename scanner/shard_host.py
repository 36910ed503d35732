"""Shards of one history scan side by side on one machine share its cores instead of each taking
them all (a CI runner or a Kubernetes node that runs several shards of a matrix at once).

Each shard of the scan announces itself with a run file in the cache folder, next to the listing
the shards share (scanner/sources/listing_cache.py): `listing-KEY.HOST.PID.run`, made and counted
under a lock, and removed when the shard ends; a run file whose process is gone (a shard killed
with SIGKILL) is removed by the next shard that looks. When a shard comes to scan its blobs, the
shards of the same scan (same listing KEY) on the same HOST are counted, and with the default
--jobs each gets `cores // shards` worker processes (at least one: itself). When the shards
outnumber the cores, `cores` of them scan at a time and the others wait for a turn: a turn is an
exclusive lock on one of `cores` turn files (`listing-KEY.HOST.turn-I`), which the system releases
when its holder ends, however it ends; a waiting shard takes whichever turn comes free first. An explicit --jobs is used as given, and takes no turn.

Without a cache folder (SCANNER_NO_CACHE=1) or without POSIX locks, a shard is on its own, as before.
"""

from __future__ import annotations

import contextlib
import os
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, NamedTuple

from scanner import progress


class Share(NamedTuple):
    """What one shard gets of this machine."""

    shards: int  # shards of this scan running on this machine, this one included
    cores: int
    workers: int  # worker processes this shard may use (1: it scans in its own process)
    at_once: int  # shards that scan at the same time

    def describe(self) -> str:
        if self.shards <= 1:
            return ""
        turns = f", {self.at_once} at a time" if self.at_once < self.shards else ""
        workers = f"{self.workers} worker{'s' if self.workers != 1 else ''}"
        return f"{self.shards} shards here share {self.cores} cores: {workers} each{turns}"


def host() -> str:
    """This machine's name as it goes in a file name."""
    return re.sub(r"[^A-Za-z0-9_-]", "_", os.uname().nodename if hasattr(os, "uname") else "host")[:64] or "host"


def share(shards: int, cores: int) -> Share:
    """Workers and turns for one of `shards` shards with the default --jobs on `cores` cores."""
    shards, cores = max(1, shards), max(1, cores)
    return Share(shards, cores, max(1, cores // shards), min(shards, cores))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # another user's process: alive
        return True
    return True


class Here:
    """This shard's run file for one scan (a listing KEY) in `directory`; see the module docstring."""

    def __init__(self, directory: Path, key: str) -> None:
        self.directory, self.key, self.host = directory, key[:40], host()
        self.path = directory / f"listing-{self.key}.{self.host}.{os.getpid()}.run"

    def _pattern(self, key: str) -> str:
        return f"listing-{key}.{self.host}.*.run"

    @contextlib.contextmanager
    def _lock(self) -> Iterator[None]:
        with open(self.directory / f"listing-{self.key}.run-lock", "ab") as handle, locked(handle):
            yield

    def join(self) -> None:
        with self._lock():
            self._prune("*")
            self.path.write_bytes(b"")

    def leave(self) -> None:
        with contextlib.suppress(OSError):
            self.path.unlink()

    def _prune(self, key: str) -> list[int]:
        """Remove the run files (of scan `key`, "*": any) of this machine's processes that are gone;
        the pids of the others."""
        live = []
        for entry in self.directory.glob(self._pattern(key)):
            pid = entry.name[: -len(".run")].rsplit(".", 1)[-1]
            if not pid.isdigit():
                continue
            if _alive(int(pid)):
                live.append(int(pid))
            else:
                with contextlib.suppress(OSError):
                    entry.unlink()
        return live

    def shards(self) -> int:
        """The shards of this scan running on this machine now, this one included."""
        try:
            with self._lock():
                return max(1, len(self._prune(self.key)))
        except OSError:
            return 1

    @contextlib.contextmanager
    def turn(self, at_once: int) -> Iterator[float]:
        """Hold one of `at_once` turn files while the block runs, waiting for the first to come free
        when all are taken; yields the seconds waited."""
        handles: list[IO[bytes]] = []
        try:
            for i in range(at_once):
                handles.append(open(self.directory / f"listing-{self.key}.{self.host}.turn-{i}", "ab"))  # noqa: SIM115
        except OSError:  # no turn files: scan now, as without a cache folder
            for handle in handles:
                handle.close()
            yield 0.0
            return
        started = time.monotonic()
        try:
            if _take_any(handles) is None:
                progress.phase("waiting for a turn", detail=lambda: f"{at_once} shards here scan at a time")
                _wait_any(handles)
            yield time.monotonic() - started
        finally:
            for handle in handles:
                handle.close()  # closing releases the lock


def _try_lock(handle: IO[bytes]) -> bool:
    import fcntl

    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _take_any(handles: list[IO[bytes]]) -> IO[bytes] | None:
    for handle in handles:
        if _try_lock(handle):
            return handle
    return None


def _wait_any(handles: list[IO[bytes]], first: float = 0.01, most: float = 0.2) -> IO[bytes]:
    """The first of the turn files to come free. flock waits on one file only: waiting on a fixed one
    left a shard idle behind a long turn while another turn was free, so all are tried, `first` to
    `most` seconds apart (a few dozen system calls a second at most, while the shard has nothing to do)."""
    delay = first
    while (held := _take_any(handles)) is None:
        time.sleep(delay)
        delay = min(most, delay * 2)
    return held


@contextlib.contextmanager
def locked(handle: IO[bytes]) -> Iterator[None]:
    """An exclusive lock on an open file for the block (none on a system without fcntl)."""
    try:
        import fcntl
    except ImportError:
        yield
        return
    fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
    try:
        yield
    finally:
        fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


@contextlib.contextmanager
def joined(directory: Path | None, key: str | None) -> Iterator[Here | None]:
    """This shard announced on this machine for the block (None without a cache folder or fcntl)."""
    try:
        import fcntl  # noqa: F401
    except ImportError:
        yield None
        return
    if directory is None or not key:
        yield None
        return
    here = Here(directory, key)
    try:
        directory.mkdir(parents=True, exist_ok=True)
        here.join()
    except OSError:
        yield None
        return
    try:
        yield here
    finally:
        here.leave()
