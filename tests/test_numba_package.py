"""The Numba core's package layout: the old module names re-export the very same objects.

``npylstm/ops/numba/`` holds the code; ``npylstm.ops.lstm_numba`` and
``npylstm.ops._numba_util`` stay importable for existing code, tests and benchmarks, and
whatever they inspect or patch there must reach the real objects.
"""

from __future__ import annotations

from unittest import mock

import numba
import numpy as np
import pytest

from npylstm.ops import BACKENDS, _numba_util, gru_numba, lstm_numba, optim_numba
from npylstm.ops import numba as core
from npylstm.ops.numba import (
    _jit,
    activations,
    elementwise,
    gru,
    gru_kernels,
    handoff,
    lstm,
    lstm_cells,
    lstm_kernels,
    parallel,
    products,
)

MODULES = (_jit, activations, elementwise, products, handoff, lstm_cells, lstm_kernels, parallel,
           lstm, gru_kernels, gru)


def dispatchers(module) -> dict[str, object]:
    """The Numba dispatchers (compiled functions) defined in ``module``."""
    return {
        name: value for name, value in vars(module).items()
        if hasattr(value, "py_func") and value.py_func.__module__ == module.__name__
    }


def test_cache_status_is_one_dict_under_both_names():
    assert _numba_util.CACHE_STATUS is _jit.CACHE_STATUS is core.CACHE_STATUS
    assert _numba_util.jit_kernel is _jit.jit_kernel
    assert _numba_util.JIT_OPTIONS is _jit.JIT_OPTIONS


def test_numba_backend_provides_the_public_functions():
    backend = BACKENDS["numba"]
    for name in ("lstm_forward", "lstm_backward", "lstm_inference"):
        assert getattr(backend, name) is getattr(lstm, name) is getattr(core, name)
    assert lstm_numba.ACTIVATION_CODES is activations.ACTIVATION_CODES


def test_every_module_lists_its_names_and_they_exist():
    for module in (*MODULES, core, lstm_numba, gru_numba, _numba_util):
        assert module.__all__, module.__name__
        missing = [name for name in module.__all__ if not hasattr(module, name)]
        assert not missing, f"{module.__name__}.__all__ names missing objects: {missing}"


@pytest.mark.skipif(numba.config.DISABLE_JIT, reason="NUMBA_DISABLE_JIT=1: no dispatchers")
def test_lstm_numba_reexports_every_compiled_function_itself():
    # benchmarks/worker.py sums cache statistics over dir(lstm_numba), and the robustness
    # tests read lstm_numba._forward_rows_ts.stats: they must be the real dispatchers
    kernels = {**dispatchers(activations), **dispatchers(products), **dispatchers(lstm_cells),
               **dispatchers(lstm_kernels)}
    assert {"_forward_rows_ts", "_forward_rows", "_backward_rows_ts", "_tanh_f32",
            "_fused_forward", "_cell_forward_exact_ts"} <= set(kernels)
    for name, kernel in kernels.items():
        assert getattr(lstm_numba, name, None) is kernel, name
    for module in (lstm, gru, parallel, elementwise):  # pure Python there
        assert dispatchers(module) == {}, module.__name__
    assert "adam_update" in dispatchers(optim_numba)


@pytest.mark.skipif(numba.config.DISABLE_JIT, reason="NUMBA_DISABLE_JIT=1: no dispatchers")
def test_gru_numba_reexports_the_gru_kernels_and_functions():
    kernels = dispatchers(gru_kernels)
    assert {"_forward_rows", "_backward_rows"} <= set(kernels)
    for name, kernel in kernels.items():
        assert getattr(gru_numba, name) is kernel, name
    for name in ("gru_forward", "gru_backward", "gru_inference", "GRUCache"):
        assert getattr(gru_numba, name) is getattr(gru, name) is getattr(core, name)
    assert gru_numba.ACTIVATION_CODES is activations.ACTIVATION_CODES


def test_blas_min_units_patched_on_lstm_numba_chooses_the_path():
    # tests/test_ops_numba.py patches lstm_numba.BLAS_MIN_UNITS to force either path; the
    # public functions read it in numba/lstm.py
    rng = np.random.default_rng(0)
    args = [rng.normal(size=s).astype("float32") for s in [(3, 4, 2), (3, 5), (3, 5),
            (2, 20), (5, 20), (20,)]]
    for value, blas_path in ((1, True), (10**9, False)):
        with mock.patch.object(lstm_numba, "BLAS_MIN_UNITS", value), mock.patch.object(
            lstm_numba, "BLAS_MIN_ROWS", 1  # 3 rows would otherwise take the tiles anyway
        ), mock.patch.object(
            lstm, "_forward_rows_ts", wraps=lstm._forward_rows_ts
        ) as tiles, mock.patch.object(
            lstm, "_forward_row_ts", wraps=lstm._forward_row_ts
        ) as rows:  # the small-units kernels (3 rows: one by one): not on the BLAS path
            assert lstm.BLAS_MIN_UNITS == value
            lstm_numba.lstm_forward(*args)
        assert not tiles.called
        assert rows.called is not blas_path
    assert lstm.BLAS_MIN_UNITS == lstm_numba.BLAS_MIN_UNITS == 128  # restored in both
    assert lstm.BLAS_MIN_ROWS == lstm_numba.BLAS_MIN_ROWS == 9


def test_few_rows_per_thread_take_the_tile_kernels_at_any_units():
    # from 128 units the per-timestep BLAS product pays off only with enough rows per thread
    rng = np.random.default_rng(1)
    units = 130
    for batch, tiles in ((2, True), (16, True), (64, False), (1, False)):
        args = [rng.normal(size=s).astype("float32") for s in [(batch, 3, 4), (batch, units),
                (batch, units), (4, 4 * units), (units, 4 * units), (4 * units,)]]
        with mock.patch.object(lstm, "_forward_rows_ts", wraps=lstm._forward_rows_ts) as a, \
                mock.patch.object(lstm, "_forward_row_ts", wraps=lstm._forward_row_ts) as b, \
                mock.patch.object(numba, "get_num_threads", return_value=2):
            lstm_numba.lstm_inference(*args)
        assert (a.called or b.called) is tiles, batch


# -- the public activation entry points ----------------------------------------------------

SPECIAL = [np.nan, np.inf, -np.inf, 0.0, -0.0, 1e-30, 3e-4, -3e-4, 7.4, -7.6, 14.9, -15.1, 89.0]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", sorted(activations.ACTIVATION_CODES))
def test_activate_and_derivative_are_the_kernels_loops_bit_for_bit(name, dtype):
    # a (B, T, 4U) array of pre-activations, transposed (not contiguous), through the public
    # functions equals the kernels' own loop applied row by row, as the cells apply it
    rng = np.random.default_rng(3)
    z = np.concatenate([rng.normal(0, 6, size=3 * 5 * 8 - len(SPECIAL)), SPECIAL])
    z = z.astype(dtype).reshape(8, 5, 3).transpose(2, 1, 0)  # (3, 5, 8) a strided view
    code = activations.ACTIVATION_CODES[name]
    y_rows = np.empty(z.shape, dtype)
    dy_rows = np.empty(z.shape, dtype)
    with np.errstate(all="ignore"):  # only under NUMBA_DISABLE_JIT
        for b in range(z.shape[0]):
            for t in range(z.shape[1]):
                row = np.ascontiguousarray(z[b, t])  # (8,)
                activations._activate_block(code, row, y_rows[b, t])
                activations._derivative_block(code, row, y_rows[b, t], dy_rows[b, t])
    y = core.activate(name, z)
    dy = core.derivative(name, z, y)
    for got, expected in ((y, y_rows), (dy, dy_rows)):
        assert got.dtype == dtype and got.shape == z.shape and got.flags.c_contiguous
        bits = np.uint32 if dtype == np.float32 else np.uint64
        np.testing.assert_array_equal(got.view(bits), expected.view(bits))  # bit for bit


def test_activate_accepts_aliases_and_any_shape():
    z = np.linspace(-3, 3, 7, dtype=np.float32)
    assert core.activate("sigmoid", np.float32(0.0)).shape == ()
    np.testing.assert_array_equal(core.activate("linear", z), z)
    y = core.activate("tanh", z.reshape(7, 1))
    assert y.shape == (7, 1)


def test_activate_and_derivative_reject_bad_input():
    z = np.zeros(3)
    with pytest.raises(TypeError, match="activate: expected a float32 or float64 array, "
                                        "received dtype int64"):
        core.activate("tanh", np.zeros(3, dtype=np.int64))
    with pytest.raises(ValueError, match="Unknown activation 'tanhh'"):
        core.activate("tanhh", z)
    with pytest.raises(ValueError, match="activation 'gelu' has no Numba code"):
        core.activate("gelu", z)
    with pytest.raises(ValueError, match=r"derivative: expected y of z's shape \(3,\) and "
                                         r"dtype float64, received shape \(2,\)"):
        core.derivative("tanh", z, np.zeros(2))
    with pytest.raises(ValueError, match="dtype float64, received shape .* dtype float32"):
        core.derivative("tanh", z, np.zeros(3, dtype=np.float32))


def test_the_docstring_examples_run():
    import doctest

    result = doctest.testmod(elementwise)
    assert result.attempted >= 2 and result.failed == 0
