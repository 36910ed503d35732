"""Forked worker processes, one way for every stage that uses them (files, history blobs, policy
targets): workers inherit what the parent built (compiled rules, parsed documents) instead of
receiving it pickled, ignore Ctrl-C (the parent handles it and ends them at once), and are reaped
before the stage returns.

`forked_pool` is our own small pool rather than `multiprocessing.Pool`: each worker has a pipe for
task numbers and one for results, and shares no lock with the others. `multiprocessing.Pool`
workers share a queue lock, and a worker killed while holding it (SIGTERM to the process group,
at the wrong instant) makes `Pool.terminate()` wait forever; here the parent can always end its
workers (SIGTERM, whose inherited handler takes a worker's git children with it, then SIGKILL) and
return. The tasks are known before the workers fork, so they inherit them: only a number crosses
the pipe to a worker, and only the result comes back (pickled).
"""

from __future__ import annotations

import contextlib
import os
import pickle
import selectors
import signal
import struct
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from scanner import interrupts

_TASK = struct.Struct("!i")
_SIZE = struct.Struct("!Q")
GRACE = 0.3  # seconds a worker has to end (and end its git children) before it is killed


def can_fork() -> bool:
    """Whether workers can be forked (what `multiprocessing` would say, without importing it)."""
    return hasattr(os, "fork")


def jobs_for(requested: int) -> int:
    """Worker processes for --jobs `requested` (0: one per core this process may run on)."""
    return requested if requested > 0 else cores()


def cores() -> int:
    """The cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def child_init(initializer: Callable[..., None] | None = None, *initargs: Any) -> None:
    """Run in each worker as it starts: Ctrl-C is the parent's to handle (it ends the workers with
    SIGTERM, whose inherited handler, scanner.interrupts, kills the worker's git children and exits
    quietly), then `initializer`."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if initializer is not None:
        initializer(*initargs)


def _read_exactly(fd: int, size: int) -> bytes:
    chunks = []
    while size:
        chunk = os.read(fd, min(size, 1 << 20))
        if not chunk:
            raise EOFError
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


_EXIT_HOOKS: list[Callable[[], None]] = []


def at_worker_exit(hook: Callable[[], None]) -> None:
    """In a worker: run `hook` when the worker ends normally (e.g. close a long-lived git child)."""
    _EXIT_HOOKS.append(hook)


def _serve(func: Callable[[Any], Any], tasks: list[Any], task_fd: int, result_fd: int) -> None:
    """A worker's loop: a task number in, its pickled (ok, result or exception) out; -1 or EOF ends it."""
    while True:
        try:
            (index,) = _TASK.unpack(_read_exactly(task_fd, _TASK.size))
        except EOFError:
            return
        if index < 0:
            return
        try:
            payload = pickle.dumps((True, func(tasks[index])), pickle.HIGHEST_PROTOCOL)
        except Exception as exc:  # noqa: BLE001 - handed to the parent, which raises it
            try:
                payload = pickle.dumps((False, exc), pickle.HIGHEST_PROTOCOL)
            except Exception:  # noqa: BLE001 - an exception that does not pickle
                payload = pickle.dumps((False, RuntimeError(type(exc).__name__)), pickle.HIGHEST_PROTOCOL)
        _write_all(result_fd, _SIZE.pack(len(payload)) + payload)


def _work(func: Callable[[Any], Any], tasks: list[Any], task_r: int, task_w: int, result_r: int, result_w: int,
          others: list[_Worker], initializer: Callable[..., None] | None, initargs: tuple) -> None:
    """A forked worker, from its first line to its end (os._exit: it never returns into the parent's code)."""
    code = 0
    try:
        os.close(task_w)
        os.close(result_r)
        for other in others:
            os.close(other.task_fd)
            os.close(other.result_fd)
        child_init(initializer, *initargs)
        _serve(func, tasks, task_r, result_w)
        for hook in _EXIT_HOOKS:
            hook()
    except BaseException:  # noqa: BLE001 - a worker never unwinds into the parent's code
        code = 1
    finally:
        os._exit(code)


class _Worker:
    def __init__(self, pid: int, task_fd: int, result_fd: int) -> None:
        self.pid, self.task_fd, self.result_fd = pid, task_fd, result_fd
        self.busy = -1  # the task it is working on


class ForkedPool:
    """`imap` / `imap_unordered` over forked workers; see the module docstring."""

    def __init__(self, processes: int, initializer: Callable[..., None] | None, initargs: tuple) -> None:
        self.processes = max(1, processes)
        self.initializer, self.initargs = initializer, initargs
        self.workers: list[_Worker] = []

    def _start(self, func: Callable[[Any], Any], tasks: list[Any]) -> None:
        for _ in range(min(self.processes, len(tasks))):
            # a Ctrl-C during the fork is delivered once the worker is recorded (so kill() ends it)
            with interrupts.forking():
                task_r, task_w = os.pipe()
                result_r, result_w = os.pipe()
                pid = os.fork()
                if pid == 0:  # the worker
                    _work(func, tasks, task_r, task_w, result_r, result_w, self.workers, self.initializer, self.initargs)
                os.close(task_r)
                os.close(result_w)
                self.workers.append(_Worker(pid, task_w, result_r))

    def imap_unordered(self, func: Callable[[Any], Any], iterable: Iterable[Any]) -> Iterator[Any]:
        for _index, result in self._run(func, list(iterable)):
            yield result

    def imap(self, func: Callable[[Any], Any], iterable: Iterable[Any]) -> Iterator[Any]:
        done: dict[int, Any] = {}
        following = 0
        for index, result in self._run(func, list(iterable)):
            done[index] = result
            while following in done:
                yield done.pop(following)
                following += 1

    def _run(self, func: Callable[[Any], Any], tasks: list[Any]) -> Iterator[tuple[int, Any]]:
        if not tasks:
            return
        if self.workers:
            raise RuntimeError("a forked pool runs one map")
        self._start(func, tasks)
        following = 0
        with selectors.DefaultSelector() as selector:
            for worker in self.workers:
                if following < len(tasks):
                    _write_all(worker.task_fd, _TASK.pack(following))
                    worker.busy, following = following, following + 1
                    selector.register(worker.result_fd, selectors.EVENT_READ, worker)
            pending = sum(1 for w in self.workers if w.busy >= 0)
            while pending:
                for key, _ in selector.select():
                    worker = key.data
                    try:
                        (size,) = _SIZE.unpack(_read_exactly(worker.result_fd, _SIZE.size))
                        ok, value = pickle.loads(_read_exactly(worker.result_fd, size))
                    except EOFError:
                        raise RuntimeError("a worker process ended unexpectedly") from None
                    if not ok:
                        raise value
                    index, worker.busy = worker.busy, -1
                    pending -= 1
                    if following < len(tasks):
                        _write_all(worker.task_fd, _TASK.pack(following))
                        worker.busy, following = following, following + 1
                        pending += 1
                    yield index, value

    def close(self) -> None:
        """Normal end: each worker is told to stop and reaped."""
        for worker in self.workers:
            with contextlib.suppress(OSError):
                _write_all(worker.task_fd, _TASK.pack(-1))
        self._reap(wait=True)

    def kill(self) -> None:
        """Ctrl-C: SIGTERM (a worker's handler ends its git children), SIGKILL after GRACE seconds."""
        for worker in self.workers:
            with contextlib.suppress(OSError):
                os.kill(worker.pid, signal.SIGTERM)
        deadline = time.monotonic() + GRACE
        left = list(self.workers)
        while left and time.monotonic() < deadline:
            left = [w for w in left if not _reaped(w.pid)]
            if left:
                time.sleep(0.005)
        for worker in left:
            with contextlib.suppress(OSError):
                os.kill(worker.pid, signal.SIGKILL)
        self._reap(wait=True)

    def _reap(self, wait: bool) -> None:
        for worker in self.workers:
            for fd in (worker.task_fd, worker.result_fd):
                with contextlib.suppress(OSError):
                    os.close(fd)
            if wait:
                with contextlib.suppress(ChildProcessError):
                    os.waitpid(worker.pid, 0)
        self.workers = []


def _reaped(pid: int) -> bool:
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return True
    return done == pid


@contextlib.contextmanager
def forked_pool(processes: int, initializer: Callable[..., None] | None = None, initargs: tuple = ()) -> Iterator[ForkedPool]:
    """A pool of forked workers for one `imap` or `imap_unordered`: the workers fork when it starts
    (they inherit the tasks), are stopped and reaped when the block ends, and killed at once when it
    raises (Ctrl-C included)."""
    pool = ForkedPool(processes, initializer, initargs)
    try:
        yield pool
        pool.close()
    except BaseException:
        pool.kill()
        raise


def stop_executor(pool: Any) -> None:
    """End a ProcessPoolExecutor now (Ctrl-C): queued work is dropped and the workers are ended
    (SIGTERM, SIGKILL after GRACE seconds) rather than waited for. The executor is not waited for
    either: its manager thread can block for good on a result a dying worker half wrote; the CLI
    leaves through os._exit after an interrupt (scanner.interrupts.exit_now), so nothing joins it."""
    processes = list((getattr(pool, "_processes", None) or {}).values())  # private, the only handle
    for process in processes:
        if process.is_alive():
            process.terminate()
    deadline = time.monotonic() + GRACE
    for process in processes:
        process.join(max(0.0, deadline - time.monotonic()))
        if process.is_alive():
            process.kill()
            process.join(1)
    pool.shutdown(wait=False, cancel_futures=True)
