"""Progress on stderr while a long scan runs: one line per phase of the scan (listing commits,
scanning blobs 1,234/5,678 with MB and MB/s, working out provenance...), each with its elapsed time.

Only on a terminal (stderr), never with --quiet, and only once the scan has run for DELAY seconds:
a short scan (a pre-commit hook on a few files) draws nothing and never imports rich. The display is
transient: it is erased before the report prints, and it never touches stdout.

Cost: the scan's own code only adds integers to the current phase (per batch, chunk or file in
this, the parent process) or gives a function the display calls to read a count (`poll`). A thread
of the parent draws from those numbers RATE times a second; it is the only code that calls rich.
Forked workers never draw: the display is off in a child from the moment it forks, and a fork waits
for a frame being drawn to end (no lock held by the thread is inherited half-taken).

The display (scanner.progress_display) is imported only when progress is shown.

SCANNER_FORCE_PROGRESS=1 draws even when stderr is not a terminal (tests, benchmarks);
SCANNER_PROGRESS_DELAY=SECONDS changes the delay (0: at once).
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from scanner.progress_display import Display

DELAY = 1.0  # seconds before anything is drawn


_display: Display | None = None  # None: nothing is shown (the default, and always in a worker)


def wanted(quiet: bool) -> bool:
    """Whether a scan shows progress: stderr is a terminal (or SCANNER_FORCE_PROGRESS=1), not --quiet."""
    if quiet:
        return False
    if _forced():
        return True
    try:
        return sys.stderr.isatty() and os.environ.get("TERM") != "dumb"
    except (AttributeError, ValueError):  # no stderr, or a closed one
        return False


def _forced() -> bool:
    return os.environ.get("SCANNER_FORCE_PROGRESS", "") not in ("", "0")


@contextlib.contextmanager
def shown(enabled: bool, no_color: bool = False) -> Iterator[None]:
    """Progress for the scan run in this block, when `enabled`; erased when the block ends (Ctrl-C
    included), before anything else is printed."""
    global _display
    if not enabled or _display is not None:
        yield
        return
    try:
        delay = max(0.0, float(os.environ.get("SCANNER_PROGRESS_DELAY", DELAY)))
    except ValueError:
        delay = DELAY
    from scanner.progress_display import Display

    display = Display(delay, no_color, _forced())
    _guard_forks()
    _display = display
    display.thread.start()
    try:
        yield
    finally:
        _display = None
        if display.phases:
            display.phases[-1].end()
        display.stopping.set()
        display.thread.join(timeout=2.0)  # a terminal that stopped reading (Ctrl-S): go on without it


def phase(
    description: str, *, unit: str = "", total: int | None = None, rate: bool = False,
    poll: Callable[[], int] | None = None, detail: Callable[[], str] | None = None,
) -> None:  # fmt: skip
    """A new phase of the scan: the previous one is done. `unit` names what `done` counts (files,
    blobs), `total` how many there will be (None: not known, or `expect` adds to it), `rate`: show
    MB and MB/s of `size`. `poll` returns the count, `detail` more text, read by the display."""
    display = _display
    if display is None:
        return
    from scanner.progress_display import Phase

    if display.phases:
        display.phases[-1].end()
    display.phases.append(Phase(description, unit, total, rate, poll, detail))


def advance(count: int, size: int = 0) -> None:
    """`count` more done in the current phase, `size` bytes more."""
    display = _display
    if display is not None and display.phases:
        current = display.phases[-1]
        current.done += count
        current.size += size


def expect(count: int) -> None:
    """`count` more to do in the current phase (a total found as the work is listed)."""
    display = _display
    if display is not None and display.phases:
        current = display.phases[-1]
        current.total = (current.total or 0) + count


def section(heading: str) -> None:
    """A new part of the scan (the next repository of several): the previous part's lines go."""
    display = _display
    if display is not None:
        display.heading = heading
        display.phases = []


_held: list[Display] = []  # the display whose lock a fork in progress holds


def _before_fork() -> None:
    display = _display
    if display is not None:
        display.lock.acquire()
        _held.append(display)


def _after_fork_in_parent() -> None:
    while _held:
        _held.pop().lock.release()


def _after_fork_in_child() -> None:
    global _display
    _display = None  # a worker never draws
    _held.clear()


_hooks: list[bool] = []


def _guard_forks() -> None:
    """The fork hooks, registered when a display is first shown, not at import: a scan that shows no
    progress (a pipe, CI, pre-commit) runs no Python code at fork. (A Ctrl-C during a fork no longer
    lands in a hook: the scanner's forks defer it, see interrupts.forking.)"""
    if not _hooks and hasattr(os, "register_at_fork"):
        _hooks.append(True)
        os.register_at_fork(before=_before_fork, after_in_parent=_after_fork_in_parent,
                            after_in_child=_after_fork_in_child)  # fmt: skip
