"""The hand-off between the caller and the worker threads of the Numba core
(``npylstm/ops/numba/handoff.py``, ``parallel.py``): the compiled spins, the fall-back to
sleeping on both sides, errors, and the rule that keeps small calls on one thread."""

from __future__ import annotations

import threading
import time
from unittest import mock

import numba
import numpy as np
import pytest

from npylstm.ops.numba import lstm, parallel
from npylstm.ops.numba.handoff import (
    CALLER_ASLEEP,
    FINISHED,
    POSTED,
    _finish_and_wait,
    _wait_for,
)


def test_wait_for_returns_when_the_count_is_reached_or_the_loads_run_out():
    cells = np.zeros(3, dtype=np.int64)
    assert _wait_for(cells, FINISHED, 1, 1000) is False  # never reached: gives up
    cells[FINISHED] = 2
    assert _wait_for(cells, FINISHED, 2, 1) is True
    assert _wait_for(cells, FINISHED, 3, 10) is False


def test_finish_and_wait_publishes_then_sees_a_post_or_a_sleeping_caller():
    cells = np.zeros(3, dtype=np.int64)
    assert _finish_and_wait(cells, 1, 1000) is False  # nothing posted: gives up
    assert cells[FINISHED] == 1  # but published first
    cells[POSTED] = 2
    assert _finish_and_wait(cells, 1, 10**12) is True  # the next task was already posted
    cells[POSTED] = 1
    cells[CALLER_ASLEEP] = 1
    assert _finish_and_wait(cells, 1, 10**12) is False  # returns at once to wake the caller


def test_a_task_posted_from_another_thread_is_seen_by_a_compiled_spin():
    # the spin must reload the counter (an atomic load), not test a value hoisted out of it
    cells = np.zeros(3, dtype=np.int64)
    seen = []
    spinner = threading.Thread(target=lambda: seen.append(_wait_for(cells, POSTED, 1, 10**12)))
    spinner.start()
    time.sleep(0.01)
    cells[POSTED] = 1
    spinner.join(timeout=10)
    assert not spinner.is_alive() and seen == [True]


def _parts(seconds_each):
    """A part function recording which thread ran each part, sleeping ``seconds_each[p]``."""
    ran = {}

    def part(p):
        time.sleep(seconds_each[p])
        ran[p] = threading.get_ident()

    return part, ran


@pytest.mark.parametrize("worker_spin, caller_spin", [(0.2, 0.2), (0.0, 0.0)])
def test_run_parts_runs_every_part_once_whether_the_sides_spin_or_sleep(
        monkeypatch, worker_spin, caller_spin):
    # (0, 0): both sides give up spinning at once and sleep on the condition variable; the
    # caller's part is quick, the worker's slow, so the caller must be woken by the worker
    monkeypatch.setattr(parallel, "_workers", [])  # new workers with these spins
    monkeypatch.setattr(parallel, "WORKER_SPIN_SECONDS", worker_spin)
    monkeypatch.setattr(parallel, "CALLER_SPIN_SECONDS", caller_spin)
    for _ in range(3):
        part, ran = _parts([0.0, 0.02])
        parallel._run_parts(part, 2)
        assert set(ran) == {0, 1}
        assert ran[0] == threading.get_ident() != ran[1]
        time.sleep(0.005)  # the worker (0, 0) is asleep when the next call posts


def test_an_error_in_the_worker_is_raised_in_the_caller_after_both_finished(monkeypatch):
    monkeypatch.setattr(parallel, "_workers", [])
    finished = []

    def part(p):
        if p == 1:
            raise ValueError("part 1 failed")
        time.sleep(0.01)
        finished.append(p)

    with pytest.raises(ValueError, match="part 1 failed"):
        parallel._run_parts(part, 2)
    assert finished == [0]
    part, ran = _parts([0.0, 0.0])
    parallel._run_parts(part, 2)  # the worker still serves the next call
    assert set(ran) == {0, 1}


def test_small_calls_stay_on_one_thread_and_large_ones_split():
    with mock.patch.object(numba, "get_num_threads", return_value=2):
        assert list(parallel._row_bounds(32, parallel.PARALLEL_MIN_WORK - 1)) == [0, 32]
        assert list(parallel._row_bounds(32, parallel.PARALLEL_MIN_WORK)) == [0, 16, 32]
        assert list(parallel._row_bounds(32)) == [0, 16, 32]  # no work given: split
    # the LSTM's multiply-adds: batch * timesteps * 4 units * (units + features)
    assert lstm._work(32, 10, 2, 64) == 32 * 10 * 256 * 66


def test_an_lstm_call_below_the_threshold_runs_in_one_block_with_the_same_results():
    rng = np.random.default_rng(0)
    batch, timesteps, features, units = 8, 5, 3, 16  # 8*5*64*19 = 48,640 multiply-adds
    args = [rng.normal(size=s).astype("float32") for s in [
        (batch, timesteps, features), (batch, units), (batch, units),
        (features, 4 * units), (units, 4 * units), (4 * units,)]]
    with mock.patch.object(numba, "get_num_threads", return_value=2), \
            mock.patch.object(lstm, "_run_parts", wraps=lstm._run_parts) as run_parts:
        alone = lstm.lstm_forward(*args)
        assert not run_parts.called  # one block: no hand-off at all
        with mock.patch.object(parallel, "PARALLEL_MIN_WORK", 0):
            split = lstm.lstm_forward(*args)
        assert run_parts.called
    for a, b in zip(alone[:3], split[:3], strict=True):  # rows do not depend on the split
        np.testing.assert_array_equal(a, b)
