"""npylstm._blas.blas_threads: the scoped BLAS thread limit the Numba core relies on."""

from __future__ import annotations

import threading

import pytest

from npylstm import _blas


def _counts() -> list[int]:
    return [lib.get_num_threads() for lib in _blas._blas_libraries()]


@pytest.fixture(autouse=True)
def _needs_a_multithreaded_blas():
    if not _blas._blas_libraries() or max(_counts()) < 2:
        pytest.skip("no BLAS library with more than one thread to limit here")


def test_limit_applies_inside_and_is_restored():
    before = _counts()
    with _blas.blas_threads(1):
        assert _counts() == [1] * len(before)
        with _blas.blas_threads(1):  # nested: still 1, and the inner exit restores nothing
            pass
        assert _counts() == [1] * len(before)
    assert _counts() == before
    with _blas.blas_threads(None):  # None leaves BLAS alone
        assert _counts() == before


def test_limit_works_from_any_thread_and_overlapping_blocks():
    # threadpoolctl ignores OpenBLAS settings from all but the first thread that made one;
    # a prediction server calls from many threads, so the limit must hold there too
    before = _counts()
    seen: dict[str, list[int]] = {}
    entered, release = threading.Event(), threading.Event()

    def worker():
        with _blas.blas_threads(1):
            seen["worker"] = _counts()
            entered.set()
            release.wait(10)

    thread = threading.Thread(target=worker)
    with _blas.blas_threads(1):
        thread.start()
        assert entered.wait(10)
    seen["main after its block ended"] = _counts()  # the worker's block is still open
    release.set()
    thread.join(10)
    assert seen["worker"] == [1] * len(before)
    assert seen["main after its block ended"] == [1] * len(before)
    assert _counts() == before


def test_model_blas_threads_setting_holds_inside_its_methods(monkeypatch):
    import numpy as np

    import npylstm
    from npylstm.layers import LSTM, Dense

    model = npylstm.Sequential([npylstm.Input((3, 2)), LSTM(4), Dense(1)])
    x = np.random.default_rng(0).normal(size=(5, 3, 2)).astype("float32")
    free = model.predict_on_batch(x)
    seen = []
    original = npylstm.Sequential._infer

    def spy(self, *args, **kwargs):
        seen.append(_counts())
        return original(self, *args, **kwargs)

    before = _counts()
    monkeypatch.setattr(npylstm.Sequential, "_infer", spy)
    monkeypatch.setattr(npylstm.model, "BLAS_THREADS", 1)
    np.testing.assert_array_equal(model.predict_on_batch(x), free)
    assert seen == [[1] * len(before)]
    assert _counts() == before
