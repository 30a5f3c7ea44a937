"""The Numba core as an installed package: caching, read-only installs, the backend switch.

The subprocess tests start a fresh interpreter, since Numba reads its environment
variables (``NUMBA_CACHE_DIR``, ``NUMBA_DISABLE_JIT``) and npylstm reads
``NPYLSTM_BACKEND`` once, at import.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import numba
import numpy as np
import pytest

import npylstm
from npylstm.layers import LSTM
from npylstm.ops import BACKENDS, _numba_util, default_backend, get_backend, set_backend
from npylstm.ops.numba import parallel


def run_python(code: str, **env: str) -> dict:
    """Run ``code`` in a fresh interpreter; it prints one JSON line, returned parsed."""
    full_env = {**os.environ, "PYTHONWARNINGS": "error", **env}
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        env=full_env, capture_output=True, text=True, timeout=300, check=False,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


# A small float32 forward through the default (numba) backend, compared with the reference.
SMALL_FORWARD = """
    import json, time
    import numpy as np
    import npylstm
    from npylstm.ops import _numba_util, lstm_numba, lstm_reference
    rng = np.random.default_rng(0)
    args = [rng.normal(size=s).astype("float32") for s in [(2, 3, 4), (2, 5), (2, 5),
            (4, 20), (5, 20), (20,)]]
    start = time.perf_counter()
    h_seq = lstm_numba.lstm_forward(*args)[0]
    seconds = time.perf_counter() - start
    ref = lstm_reference.lstm_forward(*args)[0]
    # the kernels for the default activations tanh / sigmoid (a batch of 2 rows runs the
    # one-row kernel; the tile kernel is not even compiled)
    kernels = [lstm_numba._forward_rows_ts, lstm_numba._forward_row_ts]
    print(json.dumps({
        "cache": _numba_util.CACHE_STATUS,
        "backend": npylstm.ops.default_backend(),
        "close": bool(np.allclose(h_seq, ref, rtol=1e-5, atol=1e-6)),
        "seconds": seconds,
        "hits": sum(sum(k.stats.cache_hits.values()) for k in kernels),
        "misses": sum(sum(k.stats.cache_misses.values()) for k in kernels),
    }))
"""


NO_JIT = pytest.mark.skipif(
    numba.config.DISABLE_JIT, reason="NUMBA_DISABLE_JIT=1: nothing is compiled or cached"
)


@NO_JIT
def test_import_and_run_without_a_writable_cache_directory(tmp_path):
    # A cache directory below a regular file can never be created (even by root, for whom
    # a read-only directory would still be writable); allowing only the user-provided
    # locator leaves Numba no writable cache location at all, as in a read-only install.
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    result = run_python(
        SMALL_FORWARD,
        NUMBA_CACHE_DIR=str(blocker / "numba-cache"),
        NUMBA_CACHE_LOCATOR_CLASSES="UserProvidedCacheLocator",
    )
    assert result["cache"]["enabled"] is False
    assert "no locator available" in result["cache"]["reason"]
    assert result["close"] and result["backend"] == "numba"


@NO_JIT
@pytest.mark.skipif(not _numba_util.CACHE_STATUS["enabled"], reason="no writable cache here")
def test_second_process_loads_the_compiled_kernel_from_the_cache(tmp_path):
    env = {"NUMBA_CACHE_DIR": str(tmp_path / "numba-cache")}
    first = run_python(SMALL_FORWARD, **env)  # compiles and writes the cache
    second = run_python(SMALL_FORWARD, **env)
    assert first["cache"]["enabled"] and first["misses"] >= 1 and first["hits"] == 0
    assert second["hits"] >= 1 and second["misses"] == 0
    assert first["close"] and second["close"]
    print(f"\n  first call: {first['seconds']:.2f} s compiling, "
          f"{second['seconds']:.3f} s from the cache in a second process")


def test_environment_variable_chooses_the_default_backend():
    code = """
        import json, npylstm
        print(json.dumps({"backend": npylstm.ops.default_backend()}))
    """
    assert run_python(code)["backend"] == "numba"
    assert run_python(code, NPYLSTM_BACKEND="reference")["backend"] == "reference"


def test_set_backend_switches_and_validates():
    assert sorted(BACKENDS) == ["numba", "reference"]
    before = default_backend()
    try:
        set_backend("reference")
        assert get_backend() is BACKENDS["reference"]
        set_backend("numba")
        assert get_backend() is BACKENDS["numba"]
        with pytest.raises(ValueError, match=r"Unknown backend 'cuda': expected one of"):
            set_backend("cuda")
    finally:
        set_backend(before)
    assert npylstm.set_backend is set_backend


def test_layer_rejects_an_unknown_backend():
    with pytest.raises(ValueError, match=r"Unknown backend 'fast'"):
        LSTM(3, backend="fast")


@pytest.mark.parametrize(
    "options",
    [
        {"return_sequences": True},
        {"return_sequences": False, "go_backwards": True},
        {"return_sequences": True, "return_state": True, "use_bias": False},
        {"activation": "relu", "recurrent_activation": "hard_sigmoid"},
    ],
)
def test_layer_gives_the_same_results_with_either_backend(options):
    rng = np.random.default_rng(42)
    x = rng.normal(size=(4, 7, 3)).astype("float32")
    layers = {}
    for backend in ("numba", "reference"):
        layers[backend] = LSTM(6, backend=backend, **options)
        layers[backend].build(x.shape)
    layers["reference"].set_weights(layers["numba"].get_weights())
    results = {}
    for backend, layer in layers.items():
        outputs, cache = layer.forward(x)
        dy = [np.ones_like(o) for o in outputs] if isinstance(outputs, list) else (
            np.ones_like(outputs))
        dx, grads = layer.backward(dy, cache)
        results[backend] = (outputs if isinstance(outputs, list) else [outputs]) + [dx, *grads]
    for ours, ref in zip(results["numba"], results["reference"], strict=True):
        assert ours.dtype == ref.dtype == np.float32
        np.testing.assert_allclose(ours, ref, rtol=1e-5, atol=1e-5)


def test_stateful_layer_carries_state_with_the_numba_backend():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(2, 6, 3)).astype("float32")
    whole = LSTM(5, backend="numba")
    whole.build(x.shape)
    pieces = LSTM(5, stateful=True, backend="numba")
    pieces.build(x.shape)
    pieces.set_weights(whole.get_weights())
    pieces(x[:, :4])
    # running 4 steps then 2 steps with carried state equals running all 6 at once
    np.testing.assert_allclose(pieces(x[:, 4:]), whole(x), rtol=1e-5, atol=1e-6)


# Forward and backward, small units (one Numba parallel call) and large units (threads
# around NumPy's BLAS), with batches that split across threads; prints a JSON summary.
SPLIT_CASES = """
    import numpy as np
    from npylstm.ops import lstm_numba
    from npylstm.ops.numba import parallel

    parallel.PARALLEL_MIN_WORK = 0  # these small calls would otherwise stay on one thread

    def run(units, seed=0):
        rng = np.random.default_rng(seed)
        x = rng.normal(size=(6, 4, 3)).astype("float32")
        h0 = np.zeros((6, units), "float32")
        k = rng.normal(0, 0.3, size=(3, 4 * units)).astype("float32")
        r = rng.normal(0, 0.1, size=(units, 4 * units)).astype("float32")
        b = rng.normal(0, 0.1, size=(4 * units,)).astype("float32")
        h_seq, h_last, c_last, cache = lstm_numba.lstm_forward(x, h0, h0, k, r, b)
        dx, dh0, dc0, dk, dr, db = lstm_numba.lstm_backward(np.ones_like(h_seq), None, None,
                                                            cache)
        return [float(a.astype("float64").sum()) for a in (h_seq, c_last, dx, dk, dr, db)]
"""


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork() is POSIX-only")
def test_a_forked_child_can_run_the_kernels_after_its_parent_did():
    # GNU OpenMP (Numba's "omp" threading layer) terminates a forked child that starts a
    # parallel region after its parent did ("fork() called from a process already using
    # GNU OpenMP"); multiprocessing forks by default on Linux. The child must get results.
    result = run_python(SPLIT_CASES + """
    import json, multiprocessing, warnings
    warnings.filterwarnings("ignore", message=".*fork.*", category=DeprecationWarning)
    parent = [run(6), run(130)]  # both paths split the batch across threads here

    def child(queue):
        queue.put([run(6), run(130)])

    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    process = ctx.Process(target=child, args=(queue,))
    process.start()
    process.join(240)
    child_result = queue.get(timeout=5) if process.exitcode == 0 else None
    print(json.dumps({"exitcode": process.exitcode, "parent": parent, "child": child_result}))
    """)
    assert result["exitcode"] == 0
    np.testing.assert_allclose(result["child"], result["parent"], rtol=1e-5)


def test_concurrent_calls_from_threads_give_the_same_results(monkeypatch):
    # several Python threads calling the kernels at once (a prediction server, say): each
    # call's row split and sums are fixed, so every result equals the lone call's exactly
    from concurrent.futures import ThreadPoolExecutor

    scope: dict = {}
    monkeypatch.setattr(parallel, "PARALLEL_MIN_WORK", parallel.PARALLEL_MIN_WORK)  # restored
    exec(textwrap.dedent(SPLIT_CASES), scope)
    run = scope["run"]
    expected = {units: run(units) for units in (6, 130)}
    with ThreadPoolExecutor(max_workers=4) as pool:
        got = list(pool.map(lambda i: (i % 2, run(6 if i % 2 else 130)), range(8)))
    for odd, values in got:
        assert values == expected[6 if odd else 130]


def test_concurrent_calls_under_numbas_workqueue_layer():
    # Numba's fallback threading layer aborts the whole process ("Concurrent access has been
    # detected") when two threads launch parallel regions at once; the kernels take turns
    # there instead
    result = run_python(SPLIT_CASES + """
    import json
    from concurrent.futures import ThreadPoolExecutor
    import numba
    expected = run(6)
    with ThreadPoolExecutor(max_workers=4) as pool:
        got = list(pool.map(lambda i: run(6), range(12)))
    print(json.dumps({"layer": numba.threading_layer(),
                      "equal": all(values == expected for values in got)}))
    """, NUMBA_THREADING_LAYER="workqueue")
    assert result == {"layer": "workqueue", "equal": True}
