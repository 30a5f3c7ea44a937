"""Pure-Python orchestration of the Numba core: worker threads, row splits, fork safety.

Nothing here knows about LSTMs: a cell's public functions split the batch rows with
:func:`_row_bounds` and run the blocks with :func:`_run_parts`, in persistent Python worker
threads (the compiled kernels release the GIL, as do NumPy's BLAS products). Numba
parallel regions, where a core still launches them, go inside :func:`_launch_guard`.

Batch rows are independent, so every call splits them into one block per thread
(``numba.get_num_threads()`` blocks) and each thread runs its block through all timesteps
without synchronising until the end.
"""

from __future__ import annotations

import contextlib
import functools
import os
import threading

import numba
import numpy as np

__all__ = ["_run_parts", "_row_bounds", "_launch_guard", "_after_fork_in_child"]


class _Worker:
    """One persistent worker thread, driven by two locks used as binary semaphores: the
    caller releases ``go`` after setting ``task``, the worker releases ``done`` when the
    task has run. A hand-off costs two lock operations (a few microseconds on an idle
    core), a fraction of what a ``ThreadPoolExecutor`` future costs (its queue, condition
    variables and future objects)."""

    def __init__(self) -> None:
        self.go = threading.Lock()
        self.go.acquire()
        self.done = threading.Lock()
        self.done.acquire()
        self.task = None  # (part, p)
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._loop, name="npylstm-worker", daemon=True)
        self.thread.start()

    def _loop(self) -> None:
        while True:
            self.go.acquire()
            part, p = self.task
            self.task = None
            try:
                part(p)
            except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
                self.error = exc
            self.done.release()


_workers: list[_Worker] = []
_workers_lock = threading.Lock()  # held by the one call that is using _workers


def _quiet(part, p: int) -> None:
    """``part(p)`` with NumPy's floating-point warnings off (``np.errstate`` is per thread)."""
    with np.errstate(all="ignore"):
        part(p)


def _run_parts(part, parts: int) -> None:
    """``part(p)`` for ``p in range(parts)``: the first in this thread, the rest in
    process-wide persistent worker threads (:class:`_Worker`); an exception of any part is
    re-raised here once all have finished. Each part runs with NumPy's floating-point
    warnings off (``np.errstate`` is per thread): NaN and inf propagate silently, as in the
    reference. When another thread is using the workers at that moment (two predictions
    in two threads), this call runs its parts one after the other in its own thread: the
    parts are independent, so the results are the same."""
    if parts == 1 or not _workers_lock.acquire(blocking=False):
        for p in range(parts):
            _quiet(part, p)
        return
    try:
        while len(_workers) < parts - 1:
            _workers.append(_Worker())
        used = _workers[: parts - 1]
        for p, worker in enumerate(used, start=1):
            worker.task = (functools.partial(_quiet, part), p)
            worker.go.release()
        error = None
        try:
            _quiet(part, 0)
        except BaseException as exc:  # noqa: BLE001 - raised after the workers finished
            error = exc
        for worker in used:
            worker.done.acquire()
            if worker.error is not None and error is None:
                error = worker.error
            worker.error = None
        if error is not None:
            raise error
    finally:
        _workers_lock.release()


_ONE_ROW = np.array([0, 1], dtype=np.int64)
_bounds_cache: dict[tuple[int, int], np.ndarray] = {}
_parallel_used = False  # this process has split work across threads
_serial_only = False  # a forked child of a process that had: no more threads here


def _after_fork_in_child() -> None:
    """In a child made by ``fork()``: the parent's worker threads do not exist here, and
    GNU OpenMP (Numba's ``omp`` layer) terminates a child that launches a parallel region
    after its parent did. Such a child runs every call on its own thread instead."""
    global _serial_only, _workers, _workers_lock
    _workers, _workers_lock = [], threading.Lock()
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
