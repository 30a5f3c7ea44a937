"""Pure-Python orchestration of the Numba core: worker threads, row splits, fork safety.

Nothing here knows about LSTMs: a cell's public functions split the batch rows with
:func:`_row_bounds`, run Python-level blocks with :func:`_run_parts` (large units, around
NumPy's BLAS) and launch Numba parallel regions inside :func:`_launch_guard`.

Batch rows are independent, so every call splits them into one block per thread
(``numba.get_num_threads()`` blocks) and each thread runs its block through all timesteps
without synchronising until the end.
"""

from __future__ import annotations

import contextlib
import os
import threading
from concurrent.futures import ThreadPoolExecutor

import numba
import numpy as np

__all__ = ["_run_parts", "_row_bounds", "_launch_guard", "_after_fork_in_child"]

_pool: ThreadPoolExecutor | None = None
_pool_workers = 0  # how many threads _pool has


def _run_parts(part, parts: int) -> None:
    """``part(p)`` for ``p in range(parts)``: the first in this thread, the rest in a
    process-wide pool of worker threads; exceptions are re-raised here. Each part runs with
    NumPy's floating-point warnings off (``np.errstate`` is per thread): NaN and inf
    propagate silently, as in the reference."""
    global _pool, _pool_workers

    def quiet(p: int) -> None:
        with np.errstate(all="ignore"):
            part(p)

    if parts == 1:
        quiet(0)
        return
    if _pool is None or _pool_workers < parts - 1:
        _pool = ThreadPoolExecutor(max_workers=parts - 1, thread_name_prefix="npylstm")
        _pool_workers = parts - 1
    futures = [_pool.submit(quiet, p) for p in range(1, parts)]
    try:
        quiet(0)
    finally:
        for future in futures:
            future.result()


_ONE_ROW = np.array([0, 1], dtype=np.int64)
_bounds_cache: dict[tuple[int, int], np.ndarray] = {}
_parallel_used = False  # this process has split work across threads
_serial_only = False  # a forked child of a process that had: no more threads here


def _after_fork_in_child() -> None:
    """In a child made by ``fork()``: the parent's worker threads do not exist here, and
    GNU OpenMP (Numba's ``omp`` layer) terminates a child that launches a parallel region
    after its parent did. Such a child runs every call on its own thread instead."""
    global _serial_only, _pool, _pool_workers
    _pool, _pool_workers = None, 0
    _serial_only = _serial_only or _parallel_used


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


_workqueue_lock = threading.Lock()


def _launch_guard():
    """A context manager around each parallel call: Numba's ``workqueue`` threading layer
    (its fallback when neither TBB nor OpenMP loads) aborts the process when two threads
    launch parallel regions at once, so there the calls take turns; ``omp`` and ``tbb`` are
    thread-safe and need nothing."""
    try:
        layer = numba.threading_layer()
    except ValueError:  # no parallel region launched yet: no layer chosen
        return contextlib.nullcontext()
    return _workqueue_lock if layer == "workqueue" else contextlib.nullcontext()


def _row_bounds(batch: int) -> np.ndarray:
    """Batch rows split into one contiguous range per Numba thread: range ``p`` is
    ``bounds[p]:bounds[p + 1]``. Rows are independent, so the ranges run in parallel.
    (Cached: a one-row batch, streamed step by step, should not pay for this.)"""
    global _parallel_used
    if batch == 1:
        return _ONE_ROW
    if _serial_only:
        return np.array([0, batch], dtype=np.int64)
    _parallel_used = True
    key = (batch, numba.get_num_threads())
    bounds = _bounds_cache.get(key)
    if bounds is None:
        parts = max(1, min(key[1], batch))
        bounds = (np.arange(parts + 1, dtype=np.int64) * batch) // parts  # (parts + 1,)
        _bounds_cache[key] = bounds
    return bounds
