"""The progress display itself (see scanner.progress): imported only when a scan shows progress."""

from __future__ import annotations

import contextlib
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

RATE = 6  # frames a second
BAR = 24  # characters of a bar at most
SPINNER = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"  # a frame each tenth of a second (rich.spinner's table costs 6 ms to import)


class Phase:
    """One line of the display. The scan adds to `done` and `size` (bytes); `poll`, when given,
    is read by the display instead of `done`."""

    __slots__ = ("description", "unit", "total", "done", "size", "rate", "poll", "detail", "started", "ended")

    def __init__(
        self, description: str, unit: str, total: int | None, rate: bool, poll: Callable[[], int] | None,
        detail: Callable[[], str] | None,
    ) -> None:  # fmt: skip
        self.description, self.unit, self.total, self.rate = description, unit, total, rate
        self.poll, self.detail = poll, detail
        self.done = self.size = 0
        self.started = time.monotonic()
        self.ended: float | None = None

    def end(self) -> None:
        """Freeze the line: its counts and elapsed time stay as they are now."""
        if self.ended is None:
            if self.poll is not None:
                self.done, self.poll = self.poll(), None
            if self.detail is not None:
                text = self.detail()
                self.detail = lambda: text
            self.ended = time.monotonic()


class Display:
    """The phases of one scan and the thread that draws them on stderr (see scanner.progress)."""

    def __init__(self, delay: float, no_color: bool, force: bool) -> None:
        self.phases: list[Phase] = []
        self.heading = ""
        self.delay, self.no_color, self.force = delay, no_color, force
        self.lock = threading.Lock()  # held while the thread draws (and by a fork: see module docstring)
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, name="scanner-progress", daemon=True)
        self.live: Any = None

    def _run(self) -> None:
        if self.stopping.wait(self.delay):
            return  # a short scan: nothing drawn, rich never imported
        while not (self.phases or self.heading) and not self.stopping.wait(1 / RATE):
            pass  # a scan with no phase to show (--staged) draws nothing
        if not (self.phases or self.heading):
            return
        try:
            with self.lock:  # rich is imported here, under the lock: no fork copies a half-imported module
                self._start()
            while not self.stopping.wait(1 / RATE):
                with self.lock:
                    self.live.update(self._render(), refresh=True)
            with self.lock:
                self.live.update(self._render())  # the last frame: every phase's final counts
        except Exception:  # noqa: BLE001, S110 - progress is best effort: never a traceback, never a failed scan
            pass
        finally:
            with self.lock:
                if self.live is not None:
                    with contextlib.suppress(Exception):
                        self.live.stop()  # transient: the lines are erased, the cursor shown again

    def _start(self) -> None:
        from rich.console import Console
        from rich.live import Live

        console = Console(file=sys.stderr, force_terminal=self.force or None, no_color=self.no_color or None,
                          highlight=False)  # fmt: skip
        self.live = Live(console=console, auto_refresh=False, transient=True, redirect_stdout=False,
                         redirect_stderr=False)  # fmt: skip
        self.live.start()
        self.live.update(self._render(), refresh=True)

    def _render(self) -> Any:
        """One line a phase: mark, description, bar (when the total is known), counts, elapsed time;
        the bar shrinks, then the line is cut, on a narrow terminal."""
        from rich.console import Group
        from rich.text import Text

        now = time.monotonic()
        phases = list(self.phases)
        width = max((len(p.description) for p in phases), default=0)
        lines: list[Any] = []
        if self.heading:
            lines.append(Text(shorten(self.heading, self.live.console.width), style="bold", no_wrap=True, overflow="crop"))
        for phase in phases:
            poll = phase.poll  # once: the scan may end the phase (poll None) meanwhile
            done = poll() if poll is not None else phase.done
            line = Text(no_wrap=True, overflow="ellipsis")
            if phase.ended is not None:
                line.append("✓", style="green")
            else:
                line.append(SPINNER[int(now * 10) % len(SPINNER)], style="cyan")
            line.append(f" {phase.description:<{width}} ")
            tail = "  ".join(filter(None, (counts(phase, done, now), elapsed((phase.ended or now) - phase.started))))
            room = min(BAR, self.live.console.width - len(line) - len(tail) - 2)
            if phase.ended is None and phase.total and room >= 5:
                filled = room * min(done, phase.total) // phase.total
                line.append("━" * filled, style="magenta")
                line.append("━" * (room - filled), style="grey23")
                line.append("  ")
            line.append(tail, style="dim")
            lines.append(line)
        return Group(*lines)


def counts(phase: Phase, done: int, now: float) -> str:
    """'1,234/5,678 blobs · 45.2 MB · 30.1 MB/s' (what the phase knows of it)."""
    parts = []
    if phase.unit:
        parts.append(f"{done:,}/{phase.total:,} {phase.unit}" if phase.total is not None else f"{done:,} {phase.unit}")
    detail = phase.detail
    if detail is not None:
        parts.append(detail())
    if phase.rate:
        seconds = max((phase.ended or now) - phase.started, 1e-6)
        parts.append(f"{phase.size / 1e6:,.1f} MB · {phase.size / 1e6 / seconds:,.1f} MB/s")
    return " · ".join(parts)


def elapsed(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


def shorten(heading: str, width: int) -> str:
    """'repository 2/3: …/the/end/of/a/long/path' in `width` characters: the end of a path or URL
    tells repositories apart, its start rarely does."""
    if len(heading) <= width:
        return heading
    title, sep, name = heading.partition(": ")
    keep = width - len(title) - len(sep) - 1
    return f"{title}{sep}…{name[len(name) - keep :]}" if sep and keep > 8 else heading[: max(width - 1, 0)] + "…"
