"""Forked worker processes, one way for every stage that uses them (files, history blobs, policy
targets): workers inherit what the parent built (compiled rules, parsed documents) instead of
receiving it pickled, ignore Ctrl-C (the parent handles it and ends them at once), and are joined
before the stage returns."""

from __future__ import annotations

import contextlib
import multiprocessing
import signal
from collections.abc import Callable, Iterator
from typing import Any


def can_fork() -> bool:
    return "fork" in multiprocessing.get_all_start_methods()


def child_init(initializer: Callable[..., None] | None = None, *initargs: Any) -> None:
    """Run in each worker as it starts: Ctrl-C is the parent's to handle, then `initializer`."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if initializer is not None:
        initializer(*initargs)


@contextlib.contextmanager
def forked_pool(processes: int, initializer: Callable[..., None] | None = None, initargs: tuple = ()) -> Iterator[Any]:
    """A fork-context `multiprocessing.Pool`: closed and joined when the block ends, terminated at
    once when it raises (Ctrl-C included)."""
    pool = multiprocessing.get_context("fork").Pool(processes, child_init, (initializer, *initargs))
    try:
        yield pool
    except BaseException:
        pool.terminate()
        raise
    else:
        pool.close()
    finally:
        pool.join()
