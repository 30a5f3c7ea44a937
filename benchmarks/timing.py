"""Timing: warm-up calls, then repeated calls each timed with ``time.perf_counter``; the
reported figure is the median. How many repeats depends on the call's cost: at least
``min_repeats`` and ``min_time`` seconds, at most ``max_repeats`` or ``max_time`` (very
slow calls get fewer warm-up calls too)."""

from __future__ import annotations

import gc
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

from configs import Config

__all__ = ["Budget", "TimingPlan", "time_calls"]


@dataclass(frozen=True)
class Budget:
    warmup: int = 3
    min_repeats: int = 7
    max_repeats: int = 1000
    min_time: float = 1.0  # seconds of timed calls at least (once min_repeats are done)
    max_time: float = 20.0  # stop here even below min_repeats (but after 3 calls)


@dataclass(frozen=True)
class TimingPlan:
    quick: bool = False

    def for_framework(self, framework: str, config: Config) -> Budget:
        if self.quick:
            return Budget(warmup=1, min_repeats=3, max_repeats=50, min_time=0.05, max_time=1.0)
        budget = Budget()
        if framework in ("npylstm-reference", "keras-torch", "keras-numpy") and (
            config.batch * config.timesteps >= 6400
        ):
            # the NumPy teaching code (allowed to be slow), Keras's eager torch backend and
            # its NumPy backend take seconds per call on the big models: fewer repeats
            budget = replace(budget, warmup=1, min_repeats=3, min_time=0.5, max_time=6.0)
        return budget

    def for_stream(self, framework: str) -> Budget:
        if self.quick:
            return Budget(warmup=5, min_repeats=20, max_repeats=200, min_time=0.05, max_time=1.0)
        return Budget(warmup=50, min_repeats=500, max_repeats=20000, min_time=1.0, max_time=10.0)

    def for_sweep(self) -> Budget:
        if self.quick:
            return Budget(warmup=1, min_repeats=2, max_repeats=10, min_time=0.01, max_time=0.5)
        return Budget(warmup=2, min_repeats=5, max_repeats=200, min_time=0.3, max_time=4.0)


def time_calls(fn: Callable[[], object], budget: Budget) -> dict:
    """Median, quartiles and count of the wall times of ``fn()`` after ``budget.warmup`` calls."""
    start = time.perf_counter()
    for _ in range(budget.warmup):
        fn()
        if time.perf_counter() - start > budget.max_time / 2:
            break  # very slow calls: one or two warm-up calls are enough
    gc.collect()
    times: list[float] = []
    start = time.perf_counter()
    while len(times) < budget.max_repeats:
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
        elapsed = time.perf_counter() - start
        if len(times) >= budget.min_repeats and elapsed >= budget.min_time:
            break
        if elapsed >= budget.max_time and len(times) >= min(3, budget.min_repeats):
            break
    q = statistics.quantiles(times, n=4) if len(times) >= 2 else [times[0]] * 3
    return {
        "median_s": statistics.median(times),
        "p25_s": q[0],
        "p75_s": q[2],
        "min_s": min(times),
        "repeats": len(times),
        "warmup": budget.warmup,
    }
