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
import time

import numba
import numpy as np

from .handoff import CALLER_ASLEEP, FINISHED, POSTED, _finish_and_wait, _wait_for

__all__ = ["_run_parts", "_row_bounds", "_launch_guard", "_after_fork_in_child"]


#: How long the two sides of a hand-off spin before they sleep (see :class:`_Worker`). The
#: worker waits this long for its next task: long enough for the caller to take the GIL
#: back and for the next call of a model's layers to come, short because a spinning worker
#: holds a core that OpenBLAS's own threads may need right after the call (with 2 ms, a GRU
#: backward whose weight gradients follow its blocks took 7.2 ms instead of 2.3). The caller
#: waits up to :data:`CALLER_SPIN_SECONDS` for the worker to finish its part (a part is
#: rarely that far behind the caller's), then sleeps.
WORKER_SPIN_SECONDS = 0.00005
CALLER_SPIN_SECONDS = 0.02

_loads_per_second: float | None = None


def _spin_loads(seconds: float) -> int:
    """The number of counter loads of :func:`~.handoff._wait_for` that take ``seconds``
    (measured once per process on a wait that never ends: about 3.5e9 per second here)."""
    global _loads_per_second
    if _loads_per_second is None:
        never = np.zeros(3, dtype=np.int64)
        loads = 200_000
        _wait_for(never, POSTED, 1, 1)  # compiled (or loaded from the cache) first
        started = time.perf_counter()
        _wait_for(never, POSTED, 1, loads)
        _loads_per_second = loads / max(time.perf_counter() - started, 1e-6)
    return max(1, int(seconds * _loads_per_second))


class _Worker:
    """One persistent worker thread. The caller posts a task by raising
    ``cells[POSTED]`` (the count of tasks posted); the worker raises ``cells[FINISHED]``
    when it has run it. Each side waits by spinning on the other's counter in compiled code
    with the GIL released (``handoff.py``) — a thread woken from a lock here takes about
    25 us to run again, and a hand-off with locks costs two such wake-ups (a no-op task
    took 70 us with them, about 29 us this way) — and only after :data:`WORKER_SPIN_SECONDS` or
    :data:`CALLER_SPIN_SECONDS` sleeps on ``cond``: ``sleeping`` (the worker) and
    ``cells[CALLER_ASLEEP]`` (the caller) say who must be notified. Python code on either
    side runs under the GIL, which orders those flags and the counters it writes."""

    def __init__(self) -> None:
        self.cells = np.zeros(3, dtype=np.int64)  # POSTED, FINISHED, CALLER_ASLEEP
        self.cond = threading.Condition()
        self.sleeping = False  # the worker waits on cond for its next task
        self.posted = 0
        self.task = None  # (part, p)
        self.error: BaseException | None = None
        self.worker_spin = _spin_loads(WORKER_SPIN_SECONDS)
        self.caller_spin = _spin_loads(CALLER_SPIN_SECONDS)
        self.thread = threading.Thread(target=self._loop, name="npylstm-worker", daemon=True)
        self.thread.start()

    def _loop(self) -> None:
        finished = 0
        posted = False  # the next task is known to be posted
        while True:
            if not posted:
                with self.cond:
                    self.sleeping = True
                    while self.cells[POSTED] <= finished:
                        self.cond.wait()
                    self.sleeping = False
            part, p = self.task
            self.task = None
            try:
                part(p)
            except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
                self.error = exc
            finished += 1
            posted = _finish_and_wait(self.cells, finished, self.worker_spin)
            if not posted and self.cells[CALLER_ASLEEP]:
                with self.cond:
                    self.cond.notify_all()

    def post(self, part, p: int) -> None:
        """Start ``part(p)`` in the worker thread."""
        self.task = (part, p)
        self.posted += 1
        self.cells[POSTED] = self.posted
        if self.sleeping:
            with self.cond:
                self.cond.notify_all()

    def join(self) -> None:
        """Wait until the posted task has run."""
        if _wait_for(self.cells, FINISHED, self.posted, self.caller_spin):
            return
        with self.cond:
            self.cells[CALLER_ASLEEP] = 1
            while self.cells[FINISHED] < self.posted:
                self.cond.wait()
            self.cells[CALLER_ASLEEP] = 0


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
            worker.post(functools.partial(_quiet, part), p)
        error = None
        try:
            _quiet(part, 0)
        except BaseException as exc:  # noqa: BLE001 - raised after the workers finished
            error = exc
        for worker in used:
            worker.join()
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


#: Below this many multiply-adds per call (``batch * timesteps * gates * units * (units +
#: features)``, the products of every step) :func:`_row_bounds` keeps the rows on one
#: thread: a hand-off to the worker costs about 30-50 us (its start waits for the GIL), more
#: than half of such a call. Measured (LSTM, 2 threads): 0.5-0.8 million were a tie or
#: faster on one thread (batch 8, 20 steps, 32 units: 70 vs 119 us), from about 1 million on
#: two threads were faster (batch 32, 10 steps, 64 units: 194 vs 279 us).
PARALLEL_MIN_WORK = 1_000_000


def _row_bounds(batch: int, work: int | None = None, min_work: int | None = None) -> np.ndarray:
    """Batch rows split into one contiguous range per Numba thread: range ``p`` is
    ``bounds[p]:bounds[p + 1]``. Rows are independent, so the ranges run in parallel. One
    range when ``work`` is below ``min_work`` (default :data:`PARALLEL_MIN_WORK`, for work
    in multiply-adds; a core with another measure passes its own threshold).
    (Cached: a one-row batch, streamed step by step, should not pay for this.)"""
    global _parallel_used
    if batch == 1:
        return _ONE_ROW
    if min_work is None:
        min_work = PARALLEL_MIN_WORK
    if _serial_only or (work is not None and work < min_work):
        return np.array([0, batch], dtype=np.int64)
    _parallel_used = True
    key = (batch, numba.get_num_threads())
    bounds = _bounds_cache.get(key)
    if bounds is None:
        parts = max(1, min(key[1], batch))
        bounds = (np.arange(parts + 1, dtype=np.int64) * batch) // parts  # (parts + 1,)
        _bounds_cache[key] = bounds
    return bounds
