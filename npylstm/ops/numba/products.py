"""The written-out vector-matrix products the recurrent kernels share (LSTM and GRU).

For the small matrices of one timestep (tens of rows and units) a BLAS call costs more than
the arithmetic, so the kernels form ``out += v @ m`` themselves: rows of ``m`` four at a
time, each pass a vectorized loop over the columns. :func:`_add_rows_matrix` does it for
four rows of ``v`` at once, each loaded row of ``m`` serving all four, and sums each row
exactly as :func:`_add_vector_matrix` sums it alone (groups of four products, in order of
k): a row's result never depends on the rows it is computed with. Every product
``v[k] * m[k, j]`` is formed, so ``0 * inf`` gives NaN as in BLAS.

The small-units LSTM with the default tanh / sigmoid uses the register-blocked
micro-kernels further down instead (:func:`_preactivations_tile`, :func:`_dh_tile` and their
one-row forms): explicit 16-lane vectors (``simd.py``) whose sums stay in registers over
the whole product. Their fused multiply-adds are explicit (``simd.vfma``), as the issue's
``fastmath`` decision allows.

These two functions, and nothing else in the core, are compiled with
``fastmath={"contract"}``: a product and the sum it enters may be one fused multiply-add
(one rounding instead of two, as BLAS does), which keeps NaN and ±inf semantics. Measured
single-threaded: the LSTM kernels 5-15% faster (batch 16, 60 steps, 50 units: inference
673 -> 613 us, backward 1351 -> 1249 us). The gate arithmetic stays uncontracted, so its
float32 approximations keep their tested error bounds.

Numba's cache checks only this file's modification time and size, but these functions
have the options of ``_jit.py`` and the intrinsics of ``simd.py`` compiled into them:
:data:`HELPERS_SOURCE_SHA256` records their SHA-256 (see the package docstring).
"""

from __future__ import annotations

import numpy as np

from ._jit import jit_kernel
from .simd import (
    HALF,
    LANES,
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

__all__ = ["HELPERS_SOURCE_SHA256", "_add_vector_matrix", "_add_rows_matrix",
           "_gate_stores", "_preactivations_tile", "_preactivations_row", "_load2_first",
           "_store_sums", "_dh_tile", "_dh_row"]

#: SHA-256 of what this module's functions compile in from other ``npylstm`` files (see
#: ``lstm_cells.py``); ``tests/test_numba_cache.py`` prints the digest to paste.
HELPERS_SOURCE_SHA256: dict[str, str] = {
    "ops/numba/_jit.py": "5edc77b651ae5b21a1056d5e822da93c4779249c7c535fe8a54cf64bbfb2ead4",
    "ops/numba/simd.py": "2fc6505c53e68f6888b180da862f5822dbaf0030a31f313da2e9541a720d65a7",
}


@jit_kernel(fastmath={"contract"})
def _add_vector_matrix(v, m, out):
    """``out += v @ m`` for ``v (K,)``, ``m (K, N)``: rows of ``m`` four at a time, each
    pass a vectorized loop over N (a BLAS call costs more than this for small K and N).
    Every product ``v[k] * m[k, j]`` is formed, so ``0 * inf`` gives NaN as in BLAS."""
    rows, cols = m.shape
    k = 0
    while k + 4 <= rows:
        v0, v1, v2, v3 = v[k], v[k + 1], v[k + 2], v[k + 3]
        m0, m1, m2, m3 = m[k], m[k + 1], m[k + 2], m[k + 3]  # 4 x (N,)
        for j in range(cols):
            out[j] += (v0 * m0[j] + v1 * m1[j]) + (v2 * m2[j] + v3 * m3[j])
        k += 4
    while k < rows:
        v0 = v[k]
        m0 = m[k]  # (N,)
        for j in range(cols):
            out[j] += v0 * m0[j]
        k += 1


@jit_kernel(fastmath={"contract"})
def _add_rows_matrix(v0, v1, v2, v3, m, o0, o1, o2, o3):
    """``o_r += v_r @ m`` for four rows ``v_r (K,)``, ``m (K, N)``: each loaded row of ``m``
    serves all four (a weight is read once per four rows instead of once per row). Each
    row is summed exactly as :func:`_add_vector_matrix` sums it (groups of four products,
    in order of k), so a row's result does not depend on the rows it is computed with."""
    rows, cols = m.shape
    k = 0
    while k + 4 <= rows:
        m0, m1, m2, m3 = m[k], m[k + 1], m[k + 2], m[k + 3]  # 4 x (N,)
        a0, a1, a2, a3 = v0[k], v0[k + 1], v0[k + 2], v0[k + 3]
        b0, b1, b2, b3 = v1[k], v1[k + 1], v1[k + 2], v1[k + 3]
        c0, c1, c2, c3 = v2[k], v2[k + 1], v2[k + 2], v2[k + 3]
        d0, d1, d2, d3 = v3[k], v3[k + 1], v3[k + 2], v3[k + 3]
        for j in range(cols):
            w0, w1, w2, w3 = m0[j], m1[j], m2[j], m3[j]
            o0[j] += (a0 * w0 + a1 * w1) + (a2 * w2 + a3 * w3)
            o1[j] += (b0 * w0 + b1 * w1) + (b2 * w2 + b3 * w3)
            o2[j] += (c0 * w0 + c1 * w1) + (c2 * w2 + c3 * w3)
            o3[j] += (d0 * w0 + d1 * w1) + (d2 * w2 + d3 * w3)
        k += 4
    while k < rows:
        m0 = m[k]  # (N,)
        a0, b0, c0, d0 = v0[k], v1[k], v2[k], v3[k]
        for j in range(cols):
            w0 = m0[j]
            o0[j] += a0 * w0
            o1[j] += b0 * w0
            o2[j] += c0 * w0
            o3[j] += d0 * w0
        k += 1


# -- register-blocked pre-activations of the small-units LSTM (default pair) --------------
#
# The padded gate layout: every gate block of a packed row (i, f, c, o; U values each) is
# padded with zeros to P = whole 8-value groups, so a row of pre-activations is 4P values
# in which no group of 8 straddles two gates. The weights are padded once per call to that
# layout (``kernel_p (D * 4P,)``, ``recurrent_p (U * 4P,)``, ``bias_p (4P,)``, flat), and
# a tile's pre-activations go straight into the gate-major workspace the fused gate loop
# reads: ``zp[g * W + r * P + j]`` for gate g, row r, unit j (``W = rows * P``).
# ``stores[q] = g * W + j`` is where the group of padded column ``8 q = g * P + j`` goes
# (:func:`_gate_stores`: a table, so the micro-kernel divides nothing); a 16-lane vector
# is stored as its two halves, which may belong to two gates. Rows are addressed by offsets
# into flat arrays rather than by views, which would each cost a reference count update.


@jit_kernel
def _gate_stores(padded, wide):
    """``stores (4P / 8,)``: the offset in a gate-major ``zp (4 * wide,)`` (``wide = rows * P``)
    of the group of 8 values at padded column ``8 q``, for row 0."""
    stores = np.empty(4 * padded // HALF, dtype=np.int64)
    for q in range(stores.shape[0]):
        gate = q * HALF // padded
        stores[q] = gate * wide + q * HALF - gate * padded
    return stores


#: Columns of one block of the micro-kernels: two vectors.
_BLOCK = 2 * LANES


@jit_kernel
def _load2(a, i):
    """Two vectors ``a[i : i + 32]``: one block of a padded row."""
    return (vload(a, i), vload(a, i + LANES))


@jit_kernel
def _fma2(s, w, acc):
    """``acc + s * w`` for a block (one fused multiply-add per lane)."""
    return (vfma(s, w[0], acc[0]), vfma(s, w[1], acc[1]))


@jit_kernel
def _store2(zp, acc, bias, stores, group, row_at):
    """A row's block ``acc`` plus ``bias`` into the gate-major ``zp``, by halves (``group``:
    the index of its first group of 8 in ``stores``, ``row_at``: the row's offset ``r * P``)."""
    for v in range(2):
        z = vadd(acc[v], bias[v])
        vstore_lo(zp, stores[group + 2 * v] + row_at, z)
        vstore_hi(zp, stores[group + 2 * v + 1] + row_at, z)


@jit_kernel
def _input_block(xf, x_at, input_dim, kernel_p, col, columns, zero):
    """``x_t @ kernel`` for one block of the row whose ``x_t`` is ``xf[x_at : x_at + D]``:
    the products in order of the inputs, each one fused multiply-add onto the sum of the
    ones before (from zero)."""
    acc = (zero, zero)
    for d in range(input_dim):
        acc = _fma2(vsplat(xf[x_at + d]), _load2(kernel_p, d * columns + col), acc)
    return acc


@jit_kernel
def _preactivations_tile(xf, x_at, x_stride, input_dim, kernel_p, project, zf, z_at, z_stride,
                         h_tm1, recurrent_p, bias_p, units, padded, stores, zp):
    """Four rows' pre-activations ``(x_t @ kernel + h_tm1 @ recurrent_kernel) + bias`` in the
    padded layout, into the gate-major ``zp (4 * 4P,)`` of the tile's fused gates.

    Row ``r``'s ``x_t`` is ``xf[x_at + r * x_stride :][:D]``, or with ``project`` its ``x_t @
    kernel`` is ``zf[z_at + r * z_stride :][:4P]`` already (the caller's BLAS product on the
    padded kernel); ``h_tm1 (4P,)`` holds the rows' previous outputs side by side (row ``r``
    at ``r * P``, zeros in the padding); ``stores`` is :func:`_gate_stores` ``(P, 4P)``.
    A micro-kernel: per block of 32 columns, the four rows' 8 accumulator vectors stay in
    registers for the whole sum over ``k``, each loaded weight vector serving all four
    rows. Each row's sums are formed exactly as :func:`_preactivations_row` forms them
    (fused multiply-adds in order of ``d``, then of ``k``, then the bias added), so a row's
    result does not depend on the rows it is computed with."""
    columns = 4 * padded
    zero = vzeros(bias_p)
    for col in range(0, columns, _BLOCK):
        if project:
            a0 = _load2(zf, z_at + col)
            a1 = _load2(zf, z_at + z_stride + col)
            a2 = _load2(zf, z_at + 2 * z_stride + col)
            a3 = _load2(zf, z_at + 3 * z_stride + col)
        else:
            a0 = _input_block(xf, x_at, input_dim, kernel_p, col, columns, zero)
            a1 = _input_block(xf, x_at + x_stride, input_dim, kernel_p, col, columns, zero)
            a2 = _input_block(xf, x_at + 2 * x_stride, input_dim, kernel_p, col, columns, zero)
            a3 = _input_block(xf, x_at + 3 * x_stride, input_dim, kernel_p, col, columns, zero)
        for k in range(units):  # += h_tm1 @ recurrent_kernel
            w = _load2(recurrent_p, k * columns + col)
            a0 = _fma2(vsplat(h_tm1[k]), w, a0)
            a1 = _fma2(vsplat(h_tm1[padded + k]), w, a1)
            a2 = _fma2(vsplat(h_tm1[2 * padded + k]), w, a2)
            a3 = _fma2(vsplat(h_tm1[3 * padded + k]), w, a3)
        b = _load2(bias_p, col)
        group = col // HALF
        _store2(zp, a0, b, stores, group, 0 * padded)
        _store2(zp, a1, b, stores, group, padded)
        _store2(zp, a2, b, stores, group, 2 * padded)
        _store2(zp, a3, b, stores, group, 3 * padded)


@jit_kernel
def _load2_first(a, i, count):
    """:func:`_load2` of only the first ``count`` values (masked: zeros past them)."""
    return (vload_first(a, i, count), vload_first(a, i + LANES, count - LANES))


@jit_kernel
def _preactivations_row(xf, x_at, input_dim, kernel, project, zf, z_at, h_tm1, recurrent,
                        bias, units, padded, zp):
    """:func:`_preactivations_tile` for one row, with the same operations for each value (so
    a row's result does not depend on which of the two computed it), on the *packed*
    weights: ``kernel (D * 4U,)``, ``recurrent (U * 4U,)``, ``bias (4U,)`` flat, so a lone
    row (a streamed step) pays no padded copy of them. Each gate's ``U`` columns go in
    blocks of 32 with the last block masked (nothing past a gate's columns is stored; the
    padding of ``zp (4P,)``, the gate-major one-row workspace, keeps its zeros); with
    ``project`` the row's ``x_t @ kernel`` is ``zf[z_at :][:4P]`` in the padded layout;
    ``h_tm1 (P,)``."""
    packed = 4 * units
    zero = vzeros(bias)
    for gate in range(4):
        for j in range(0, units, _BLOCK):
            count, col = units - j, gate * units + j  # values left in the gate, their column
            if project:
                a = _load2_first(zf, z_at + gate * padded + j, count)
            else:
                a = (zero, zero)
                for d in range(input_dim):
                    a = _fma2(vsplat(xf[x_at + d]), _load2_first(kernel, d * packed + col, count),
                              a)
            for k in range(units):
                a = _fma2(vsplat(h_tm1[k]), _load2_first(recurrent, k * packed + col, count), a)
            b = _load2_first(bias, col, count)
            vstore_first(zp, gate * padded + j, vadd(a[0], b[0]), count)
            vstore_first(zp, gate * padded + j + LANES, vadd(a[1], b[1]), count - LANES)


# -- the backward's dL/dh_tm1 = dz_t @ recurrent_kernel.T (small units, default pair) -------
#
# ``dz_t`` comes in the gate-major padded layout the fused backward loop writes (``dzp``,
# as ``zp`` above); ``recurrent_t (4U * C,)`` is ``recurrent_kernel.T`` flat with its U
# columns padded with zeros to ``C`` = whole blocks of 32, and the rows' sums go to
# ``dh_tm1`` at ``r * C``.


@jit_kernel
def _store_sums(out, at, acc):
    """A block's two accumulator vectors into ``out[at : at + 32]``."""
    vstore(out, at, acc[0])
    vstore(out, at + LANES, acc[1])


@jit_kernel
def _dh_tile(dzp, wide, units, padded, recurrent_t, columns, dh_tm1):
    """``dh_tm1[r * C :][:C] = dz_t @ recurrent_kernel.T`` for four rows (row ``r``'s
    ``dz_t`` at ``r * P`` of each gate of ``dzp (4 * wide,)``): per block of 32 columns the
    rows' 8 accumulator vectors stay in registers over the whole sum, fused multiply-adds
    in order of the packed index ``g * U + j`` from zero, as :func:`_dh_row` sums one row."""
    zero = vzeros(dh_tm1)
    for col in range(0, columns, _BLOCK):
        a0, a1, a2, a3 = (zero, zero), (zero, zero), (zero, zero), (zero, zero)
        for gate in range(4):
            for j in range(units):
                w = _load2(recurrent_t, (gate * units + j) * columns + col)
                at = gate * wide + j
                a0 = _fma2(vsplat(dzp[at]), w, a0)
                a1 = _fma2(vsplat(dzp[at + padded]), w, a1)
                a2 = _fma2(vsplat(dzp[at + 2 * padded]), w, a2)
                a3 = _fma2(vsplat(dzp[at + 3 * padded]), w, a3)
        _store_sums(dh_tm1, col, a0)
        _store_sums(dh_tm1, columns + col, a1)
        _store_sums(dh_tm1, 2 * columns + col, a2)
        _store_sums(dh_tm1, 3 * columns + col, a3)


@jit_kernel
def _dh_row(dzp, wide, units, recurrent_t, columns, dh_tm1):
    """:func:`_dh_tile` for one row (the same operations for it): ``dh_tm1[:C]``."""
    zero = vzeros(dh_tm1)
    for col in range(0, columns, _BLOCK):
        a = (zero, zero)
        for gate in range(4):
            for j in range(units):
                w = _load2(recurrent_t, (gate * units + j) * columns + col)
                a = _fma2(vsplat(dzp[gate * wide + j]), w, a)
        _store_sums(dh_tm1, col, a)
