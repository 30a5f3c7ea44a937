"""The eight-lane vectors of ``npylstm/ops/numba/simd.py`` and the register-blocked
pre-activations built on them (``products.py``), against NumPy and float64 sums.

Every vector operation is lane by lane, so each is checked against the scalar operation it
stands for, NaN and ±inf included; the fused multiply-add against a case where one rounding
and two roundings differ (written out below). The micro-kernels are checked against a
float64 product and for the promise the LSTM kernels rely on: a row's bits do not depend on
the rows it is computed with.
"""

from __future__ import annotations

import numba
import numpy as np
import pytest
from numba import njit

from npylstm.ops.numba.lstm_cells import _copy_flat, _pad_gate_columns, _padded
from npylstm.ops.numba.products import (
    _dh_row,
    _dh_tile,
    _gate_stores,
    _preactivations_row,
    _preactivations_tile,
)
from npylstm.ops.numba.simd import (
    HALF,
    LANES,
    copy_half,
    vadd,
    vfma,
    vload,
    vload_first,
    vsplat,
    vstore,
    vstore_first,
    vstore_hi,
    vstore_lo,
    vzeros,
)

pytestmark = pytest.mark.skipif(numba.config.DISABLE_JIT, reason="intrinsics need the JIT")

DTYPES = [np.float32, np.float64]


@njit
def _lanes(a, b, c, out):
    """Rows of ``out`` (LANES values each): a copied, a * b + c, a + b, splat(c[0]), zeros,
    then a's halves stored in swapped order."""
    x, y, z = vload(a, 0), vload(b, 0), vload(c, 0)
    vstore(out, 0, x)
    vstore(out, LANES, vfma(x, y, z))
    vstore(out, 2 * LANES, vadd(x, y))
    vstore(out, 3 * LANES, vsplat(c[0]))
    vstore(out, 4 * LANES, vzeros(a))
    vstore_lo(out, 5 * LANES + HALF, x)
    vstore_hi(out, 5 * LANES, x)


@pytest.mark.parametrize("dtype", DTYPES)
def test_vector_operations_are_the_scalar_operations_lane_by_lane(dtype):
    inf, nan = np.inf, np.nan
    assert LANES == 16 and HALF == 8
    a = np.array([1.5, -2.0, inf, nan, 0.0, -inf, 3.0, 0.5] * 2, dtype)
    b = np.array([2.0, 0.5, 0.0, 1.0, -0.0, 2.0, inf, 4.0] * 2, dtype)
    c = np.array([0.25, 1.0, 1.0, 1.0, 0.0, inf, -inf, -1.0] * 2, dtype)
    a[8:] *= 2  # the two halves differ
    out = np.full(6 * LANES, 7.0, dtype)
    with np.errstate(invalid="ignore"):
        expected_fma = a * b + c  # products and sums exact here: one rounding or two agree
        expected_add = a + b
    _lanes(a, b, c, out)
    rows = out.reshape(6, LANES)
    np.testing.assert_array_equal(rows[0], a)
    # inf * 0 + 1 = NaN, -inf*2 + inf = NaN, 3 * inf - inf = NaN: the IEEE results
    np.testing.assert_array_equal(rows[1], expected_fma)
    assert np.isnan(rows[1][[2, 3, 5, 6, 10, 11, 13, 14]]).all()
    np.testing.assert_array_equal(rows[2], expected_add)
    np.testing.assert_array_equal(rows[3], np.full(LANES, c[0]))
    np.testing.assert_array_equal(rows[4], np.zeros(LANES))
    assert not np.signbit(rows[4]).any()
    np.testing.assert_array_equal(rows[5], np.concatenate([a[HALF:], a[:HALF]]))
    assert rows.dtype == dtype


def test_vfma_rounds_once():
    # a = b = 1 + 2^-12 (float32): a*b = 1 + 2^-11 + 2^-24 exactly. Rounded to float32 (ulp
    # 2^-23 above 1) the 2^-24 is half an ulp and ties to even: a*b -> 1 + 2^-11, so a
    # separate multiply and add of c = -(1 + 2^-11) gives 0; the fused one keeps 2^-24.
    a = np.full(LANES, 1 + 2.0**-12, np.float32)
    c = np.full(LANES, -(1 + 2.0**-11), np.float32)
    out = np.empty(6 * LANES, np.float32)
    _lanes(a, a, c, out)
    assert (a * a + c == 0).all()  # NumPy: two roundings
    np.testing.assert_array_equal(out[LANES : 2 * LANES], np.full(LANES, 2.0**-24, np.float32))


@njit
def _copy_half(src, src_at, dst, dst_at, count):
    copy_half(src, src_at, dst, dst_at, count)


@pytest.mark.parametrize("dtype", DTYPES)
def test_copy_half_stores_count_values_and_nothing_past_them(dtype):
    src = np.arange(1.0, 21.0, dtype=dtype)
    src[4], src[5] = np.nan, -np.inf
    for count in range(HALF + 1):
        dst = np.full(20, 7.0, dtype)
        _copy_half(src, 3, dst, 5, count)
        expected = np.full(20, 7.0, dtype)
        expected[5 : 5 + count] = src[3 : 3 + count]
        np.testing.assert_array_equal(dst, expected)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("count", [0, 1, 7, 8, 9, 20, 50])
def test_copy_flat_copies_a_padded_row_and_nothing_past_it(dtype, count):
    padded = _padded(max(count, 1))
    src = np.random.default_rng(count).standard_normal(2 * padded).astype(dtype)
    dst = np.full(count + 5, 7.0, dtype)
    _copy_flat(src, padded, dst, 2, count)
    expected = np.full(count + 5, 7.0, dtype)
    expected[2 : 2 + count] = src[padded : padded + count]
    np.testing.assert_array_equal(dst, expected)


@njit
def _first(src, src_at, dst, dst_at, count):
    vstore(dst, 0, vload_first(src, src_at, count))  # the loaded vector, zeros included
    vstore_first(dst, dst_at, vload(src, src_at), count)


@pytest.mark.parametrize("dtype", DTYPES)
def test_masked_first_lanes_load_zeros_and_store_nothing_past_count(dtype):
    src = np.arange(1.0, 41.0, dtype=dtype)
    for count in (-3, 0, 1, 7, 15, 16, 20):
        dst = np.full(60, 7.0, dtype)
        _first(src, 2, dst, 30, count)
        lanes = np.zeros(LANES, dtype)
        kept = max(0, min(count, LANES))
        lanes[:kept] = src[2 : 2 + kept]
        np.testing.assert_array_equal(dst[:LANES], lanes)
        expected = np.full(30, 7.0, dtype)
        expected[:kept] = src[2 : 2 + kept]
        np.testing.assert_array_equal(dst[30:], expected)
        assert (dst[LANES:30] == 7.0).all()


def _pad_numpy(w: np.ndarray, units: int, padded: int) -> np.ndarray:
    out = np.zeros((w.shape[0], 4, padded), w.dtype)
    out[:, :, :units] = w.reshape(w.shape[0], 4, units)
    return out.reshape(-1)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("rows,units", [(1, 1), (3, 5), (20, 20), (2, 8), (50, 50), (0, 7)])
def test_pad_gate_columns_is_the_numpy_padding(dtype, rows, units):
    w = np.random.default_rng(units).standard_normal((rows, 4 * units)).astype(dtype)
    padded = _padded(units)
    assert padded % HALF == 0 and units <= padded < units + HALF
    got = _pad_gate_columns(w, padded).reshape(-1)
    np.testing.assert_array_equal(got, _pad_numpy(w, units, padded))


def test_gate_stores_table_by_hand():
    # P = 24 (20 units): the vectors of a padded row start at columns 0, 8, ..., 88; column
    # 8v lies in gate g = 8v // 24 at unit j = 8v - 24 g, stored at g * W + j (W = 4 * 24)
    wide = 96
    expected = [0, 8, 16, 96, 104, 112, 192, 200, 208, 288, 296, 304]
    np.testing.assert_array_equal(_gate_stores(24, wide), expected)
    np.testing.assert_array_equal(_gate_stores(8, 8), [0, 8, 16, 24])  # one row, P = 8


def _micro_kernel_case(rng, dtype, units, input_dim, project):
    padded = _padded(units)
    x = rng.standard_normal((4, input_dim)).astype(dtype)
    kernel = rng.standard_normal((input_dim, 4 * units)).astype(dtype)
    recurrent = rng.standard_normal((units, 4 * units)).astype(dtype)
    bias = rng.standard_normal(4 * units).astype(dtype)
    h = rng.standard_normal((4, units)).astype(dtype)
    kernel_p = _pad_numpy(kernel, units, padded)
    z_in = (x @ kernel_p.reshape(input_dim, -1)).reshape(-1)  # (4 * 4P,) rows 4P apart
    h_tm1 = np.zeros((4, padded), dtype)
    h_tm1[:, :units] = h
    args = dict(x=x, kernel=kernel, recurrent=recurrent, bias=bias, h=h, padded=padded,
                kernel_p=kernel_p, recurrent_p=_pad_numpy(recurrent, units, padded),
                bias_p=_pad_numpy(bias[None], units, padded), z_in=z_in,
                h_tm1=h_tm1.reshape(-1), project=project)
    return args


def _unpadded(zp: np.ndarray, rows: int, units: int, padded: int) -> np.ndarray:
    """Gate-major padded ``zp (4 * rows * P,)`` -> packed ``(rows, 4U)``."""
    gates = zp.reshape(4, rows, padded)[:, :, :units]  # (4, R, U)
    return gates.transpose(1, 0, 2).reshape(rows, 4 * units)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("units,input_dim,project",
                         [(20, 1, False), (20, 20, True), (5, 3, False), (50, 2, False),
                          (32, 64, True), (8, 8, False)])
def test_preactivations_tile_and_row_match_float64_and_each_other(dtype, units, input_dim,
                                                                   project):
    a = _micro_kernel_case(np.random.default_rng(units + input_dim), dtype, units, input_dim,
                           project)
    padded = a["padded"]
    tile = np.full(16 * padded, np.nan, dtype)
    _preactivations_tile(a["x"].reshape(-1), 0, input_dim, input_dim, a["kernel_p"], project,
                         a["z_in"], 0, 4 * padded, a["h_tm1"], a["recurrent_p"], a["bias_p"],
                         units, padded, _gate_stores(padded, 4 * padded), tile)
    expected = (a["x"].astype(np.float64) @ a["kernel"] + a["h"].astype(np.float64)
                @ a["recurrent"]) + a["bias"]  # (4, 4U)
    tol = 2e-5 if dtype == np.float32 else 1e-13
    got = _unpadded(tile, 4, units, padded)
    np.testing.assert_allclose(got, expected, rtol=tol, atol=tol * np.abs(expected).max())
    # the padding columns stay zero (zero weights and bias there)
    assert (tile.reshape(4, 4, padded)[:, :, units:] == 0).all()
    for r in range(4):  # each row alone, on the packed weights: the same bits
        row = np.zeros(4 * padded, dtype)  # the row kernel leaves the padding as it is
        _preactivations_row(a["x"][r].copy(), 0, input_dim, a["kernel"].reshape(-1), project,
                            a["z_in"], r * 4 * padded, a["h_tm1"][r * padded :][:padded].copy(),
                            a["recurrent"].reshape(-1), a["bias"], units, padded, row)
        np.testing.assert_array_equal(row.reshape(4, padded),
                                      tile.reshape(4, 4, padded)[:, r])


@pytest.mark.parametrize("dtype", DTYPES)
def test_a_row_of_inf_and_nan_leaves_the_other_rows_alone(dtype):
    units, input_dim = 20, 3
    a = _micro_kernel_case(np.random.default_rng(7), dtype, units, input_dim, False)
    padded = a["padded"]
    x = a["x"].copy()
    x[1, 0] = np.inf
    x[2, 2] = np.nan

    def tile_of(x_rows):
        out = np.empty(16 * padded, dtype)
        _preactivations_tile(x_rows.reshape(-1), 0, input_dim, input_dim, a["kernel_p"], False,
                             a["z_in"], 0, 4 * padded, a["h_tm1"], a["recurrent_p"],
                             a["bias_p"], units, padded, _gate_stores(padded, 4 * padded), out)
        return _unpadded(out, 4, units, padded)

    clean, dirty = tile_of(a["x"]), tile_of(x)
    np.testing.assert_array_equal(dirty[[0, 3]], clean[[0, 3]])
    assert np.isnan(dirty[2]).all()  # NaN reaches every column of its row
    assert np.isinf(dirty[1]).any()  # ±inf where the input's weight is nonzero


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("units", [1, 5, 20, 33, 50])
def test_dh_tile_and_row_match_float64_and_each_other(dtype, units):
    rng = np.random.default_rng(units)
    padded = _padded(units)
    columns = -(-units // 32) * 32
    dz = rng.standard_normal((4, 4 * units)).astype(dtype)  # packed dz_t of 4 rows
    recurrent = rng.standard_normal((units, 4 * units)).astype(dtype)
    recurrent_t = np.zeros((4 * units, columns), dtype)
    recurrent_t[:, :units] = recurrent.T
    dzp = np.zeros((4, 4, padded), dtype)  # gate-major: (gate, row, unit), zero padding
    dzp[:, :, :units] = dz.reshape(4, 4, units).transpose(1, 0, 2)
    tile = np.full(4 * columns, np.nan, dtype)
    _dh_tile(dzp.reshape(-1), 4 * padded, units, padded, recurrent_t.reshape(-1), columns, tile)
    expected = dz.astype(np.float64) @ recurrent.T  # (4, U)
    tol = 2e-5 if dtype == np.float32 else 1e-13
    got = tile.reshape(4, columns)
    np.testing.assert_allclose(got[:, :units], expected, rtol=tol,
                               atol=tol * np.abs(expected).max())
    assert (got[:, units:] == 0).all()
    for r in range(4):  # each row alone, in a one-row workspace: the same bits
        one = np.zeros((4, padded), dtype)
        one[:, :units] = dz[r].reshape(4, units)
        row = np.full(columns, np.nan, dtype)
        _dh_row(one.reshape(-1), padded, units, recurrent_t.reshape(-1), columns, row)
        np.testing.assert_array_equal(row, got[r])
