"""Ctrl-C and SIGTERM, in every phase: exit 130 at once, no traceback, no process left behind.

One handler serves SIGINT and SIGTERM. In the scanner's own process the first signal raises
KeyboardInterrupt, which unwinds through the `finally` blocks that kill git children and terminate
worker pools, up to the CLI, which says "results are incomplete" and exits 130; later signals are
ignored while that cleanup (bounded: it only kills) runs. A forked worker inherits the handler: there
a signal kills the worker's own git children and ends the worker quietly (the parent reports).

Child processes are reported as interrupted, not as failures, when a signal we handle killed them
(`killed_by_interrupt`): Ctrl-C in a terminal reaches the whole process group, so git often dies of
it before Python has run the handler. `sweep_children` is the last line: any direct child still
alive when the CLI gives up is ended (SIGTERM, then SIGKILL), so nothing outlives the scanner.

A fork is a window the handler must not raise in: `forking()` defers a signal that arrives while the
process forks (at-fork hooks, or the parent between fork() and recording its child) and delivers it
again when the block ends, where the caller's cleanup knows every child it started.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

SIGNALS = (signal.SIGINT, signal.SIGTERM)

# owner: the pid whose handlers these are; received: the signal that interrupted this run; forking:
# forks in progress (any thread); deferred: a signal that arrived during one, delivered after it.
_state: dict[str, Any] = {"owner": 0, "received": 0, "forking": 0, "deferred": 0}
_forks = threading.Lock()  # guards the count of forks in progress (never taken by the handler)
_children: set[subprocess.Popen] = set()  # live child processes this process started (git, mostly)
if hasattr(os, "register_at_fork"):  # a forked worker's children are its own, not its parent's
    os.register_at_fork(after_in_child=_children.clear)


def _handler(signum: int, frame: Any) -> None:  # noqa: ARG001 - signal handler signature
    if os.getpid() != _state["owner"]:  # a forked worker: take our children with us, leave quietly
        kill_children()
        os._exit(128 + signum)
    if _state["forking"]:  # a fork in progress: raising now could lose a child; later, see forking()
        _state["deferred"] = _state["deferred"] or signum
        return
    if _state["received"]:
        return  # already unwinding
    _state["received"] = signum
    raise KeyboardInterrupt


def install() -> dict[int, Any]:
    """Handle SIGINT and SIGTERM in this process from now on, for a new run: a signal an earlier run
    received is forgotten. Returns the previous handlers (none when they were already ours: `python -m
    scanner` installs them before importing the CLI, whose start-up checks `received()` first)."""
    _state["received"] = _state["deferred"] = 0
    if installed():
        return {}
    _state["owner"] = os.getpid()
    previous = {}
    for sig in SIGNALS:
        try:
            previous[sig] = signal.signal(sig, _handler)
        except ValueError:  # not the main thread (an embedding application): leave signals alone
            break
    return previous


def installed() -> bool:
    """Our handlers are this process's."""
    return _state["owner"] == os.getpid() and signal.getsignal(signal.SIGTERM) is _handler


@contextlib.contextmanager
def forking() -> Iterator[None]:
    """Around an `os.fork` (or a pool submit that forks): a SIGINT or SIGTERM arriving inside is held
    and delivered again when the block ends, so it is never raised half-way through the fork (inside an
    at-fork hook, where Python only prints "Exception ignored", or in the parent before it has recorded
    the child it must end). Blocking the signals would not do: `pthread_sigmask` covers the calling
    thread only, and the display's or a pool's thread would take the signal instead. Works from any
    thread (the handler runs in the main thread, and so does the delivery: it is a signal again). In the
    forked child the handler acts at once, as in any worker (it ends the child quietly)."""
    with _forks:
        _state["forking"] += 1
    try:
        yield
    finally:
        with _forks:
            _state["forking"] -= 1
            signum = 0 if _state["forking"] else _state["deferred"]
            if signum:
                _state["deferred"] = 0
        if signum and os.getpid() == _state["owner"]:  # never in a child that inherited it
            os.kill(os.getpid(), signum)  # the handler runs now (main thread) or at once after


def restore(previous: dict[int, Any]) -> None:
    for sig, handler in previous.items():
        signal.signal(sig, handler if handler is not None else signal.SIG_DFL)


def ignore() -> None:
    """The work is done (or given up): a late signal must not turn into a traceback at exit."""
    for sig in SIGNALS:
        try:
            signal.signal(sig, signal.SIG_IGN)
        except ValueError:
            pass


def exit_now(code: int) -> None:
    """End the program with `code` after an interrupt, without the interpreter's exit path: CPython
    (3.11) marks a KeyboardInterrupt raised inside eval/exec of a string (namedtuple, dataclasses:
    any import in progress) as unhandled even when we handled it, and then kills itself with SIGINT
    at exit instead of returning 130. Output is flushed first; children are already ended."""
    import sys

    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:  # noqa: BLE001 - a closed pipe: nothing more to say
            pass
    os._exit(code)


def received() -> int:
    """The signal that interrupted the scan, 0 if none."""
    return _state["received"]


def killed_by_interrupt(returncode: int | None) -> bool:
    """A child that died of SIGINT or SIGTERM: the user's Ctrl-C reached it too (process group)."""
    return returncode is not None and -returncode in SIGNALS


def check_child(returncode: int | None) -> None:
    """Raise KeyboardInterrupt when a child died of an interrupt, rather than reporting it as failed."""
    if killed_by_interrupt(returncode) or received():
        raise KeyboardInterrupt


def track(proc: subprocess.Popen) -> subprocess.Popen:
    _children.add(proc)
    return proc


def finish(proc: subprocess.Popen, kill: bool = False) -> int:
    """Reap a tracked child (killing it first when `kill`, e.g. on an exception) and forget it."""
    try:
        if kill and proc.poll() is None:
            proc.kill()
        return proc.wait()
    finally:
        _children.discard(proc)


def kill_children() -> None:
    for proc in list(_children):
        try:
            if proc.poll() is None:
                proc.kill()
            proc.wait()
        except Exception:  # noqa: BLE001 - best effort on the way out
            pass
        _children.discard(proc)


def _direct_children() -> list[int]:
    me = str(os.getpid())
    pids = []
    try:
        entries = os.listdir("/proc")
    except OSError:
        return []
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as handle:
                stat = handle.read()
        except OSError:
            continue
        fields = stat[stat.rfind(b")") + 2 :].split()  # after "pid (comm) ": state, ppid, ...
        if len(fields) > 1 and fields[1].decode() == me and fields[0] != b"Z":
            pids.append(int(entry))
    return pids


def sweep_children(grace: float = 0.5, children: Callable[[], list[int]] = _direct_children) -> None:
    """End every direct child still running (Linux: found in /proc): SIGTERM, so a worker can take
    its own git children with it, then SIGKILL after `grace` seconds. Reaps them."""
    kill_children()
    pids = children()
    for pid in pids:
        try:
            os.kill(pid, signal.SIGTERM)
        except OSError:
            pass
    deadline = time.monotonic() + grace
    while pids and time.monotonic() < deadline:
        pids = [pid for pid in pids if not _reaped(pid)]
        if pids:
            time.sleep(0.01)
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        except OSError:
            pass


def _reaped(pid: int) -> bool:
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return True
    return done == pid
