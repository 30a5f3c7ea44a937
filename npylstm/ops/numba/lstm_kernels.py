"""The LSTM's compiled kernels: one timestep of one row, and whole sequences of rows.

The equations, the row split across threads and the BLAS paths are described in
``lstm.py``, which calls these kernels; the activations they inline are the shared helpers
of ``activations.py``. Numba cannot call :func:`npylstm.gates.split_gates`, so the kernels
address the four gate blocks of a packed row by their offsets ``0, U, 2U, 3U`` (i, f, c,
o), the same split.

Numba's cache checks only this file's modification time and size, but these kernels have
the helpers of ``activations.py`` and the options of ``_jit.py`` compiled into them:
:data:`HELPERS_SOURCE_SHA256` records the SHA-256 of each, and ``tests/test_numba_cache.py``
fails when one differs. Updating the digest changes this file, so Numba then recompiles
these kernels instead of loading stale machine code (see the package docstring).
"""

from __future__ import annotations

import numpy as np
from numba import prange

from ._jit import jit_kernel
from .activations import (
    _SIGMOID_FAST_LIMIT,
    _TANH_FAST_LIMIT,
    SIGMOID,
    TANH,
    _activate_block,
    _derivative_block,
    _like,
    _sigmoid_fast,
    _tanh,
)

__all__ = [
    "HELPERS_SOURCE_SHA256",
    "_LANES", "_BLAS_INPUT_DIM",
    "_in_fast_range", "_cell_forward_tanh_sigmoid", "_cell_backward_tanh_sigmoid",
    "_cell_forward", "_cell_backward", "_add_vector_matrix", "_fused_forward",
    "_fused_backward", "_unpack_gates", "_pack_gates", "_copy", "_padded",
    "_forward_rows", "_forward_rows_parallel", "_gates_forward_step",
    "_backward_rows", "_column_sums", "_weight_gradients", "_backward_rows_parallel",
    "_gates_backward_step",
]

#: SHA-256 of what this module's kernels compile in from other ``npylstm`` files (paths
#: relative to the package): a whole file that uses Numba, or the definitions of the names
#: imported from a plain module (``"file: NAME, ..."``). Numba's cache checks only this
#: file: when one of these changes, ``tests/test_numba_cache.py`` prints the new digest to
#: paste here, and that edit makes Numba recompile this module's kernels.
HELPERS_SOURCE_SHA256: dict[str, str] = {
    "ops/numba/_jit.py": "5edc77b651ae5b21a1056d5e822da93c4779249c7c535fe8a54cf64bbfb2ead4",
    "ops/numba/activations.py": "4828570e39b59fe10621c00683c4a8065581f44807e750b15552634e29290972",
}

#: Gate rows are padded to whole vectors of this many lanes (8 float32 in AVX2).
_LANES = 8

#: Small units: from this many input features on, ``x @ kernel`` is one BLAS product per
#: thread before the time loop (below it, a written-out product per step is cheaper).
_BLAS_INPUT_DIM = 8


# -- one timestep of one batch row --------------------------------------------------------


@jit_kernel
def _in_fast_range(z_row, c_t):
    """True when every tanh/sigmoid argument of this row is inside the fast range."""
    units = c_t.shape[0]
    outside = False
    for j in range(units):
        outside |= not abs(z_row[j]) < _like(z_row[j], _SIGMOID_FAST_LIMIT)  # i
        outside |= not abs(z_row[units + j]) < _like(z_row[j], _SIGMOID_FAST_LIMIT)  # f
        outside |= not abs(z_row[2 * units + j]) < _like(z_row[j], _TANH_FAST_LIMIT)  # g
        outside |= not abs(z_row[3 * units + j]) < _like(z_row[j], _SIGMOID_FAST_LIMIT)  # o
        outside |= not abs(c_t[j]) < _like(z_row[j], _TANH_FAST_LIMIT)  # φ(c_t)
    return not outside


@jit_kernel
def _cell_forward_tanh_sigmoid(z_row, c_tm1, c_t, h_t):
    """:func:`_cell_forward` for φ = tanh, σ = sigmoid in one vectorized pass.

    Returns False (and the caller recomputes the row exactly) when an argument fell
    outside the range of the fast functions.
    """
    units = c_t.shape[0]
    outside = False
    for j in range(units):
        i = _sigmoid_fast(z_row[j])
        f = _sigmoid_fast(z_row[units + j])
        g = _tanh(z_row[2 * units + j])
        o = _sigmoid_fast(z_row[3 * units + j])
        c = f * c_tm1[j] + i * g
        c_t[j] = c
        h_t[j] = o * _tanh(c)
        outside |= not abs(c) < _like(c, _TANH_FAST_LIMIT)
    return not outside


@jit_kernel
def _cell_backward_tanh_sigmoid(z_row, c_tm1, c_t, dh, dc_next, dz_row):
    """:func:`_cell_backward` for φ = tanh, σ = sigmoid in one vectorized pass; the caller
    checks :func:`_in_fast_range` first."""
    units = c_t.shape[0]
    for j in range(units):
        one = _like(c_t[j], 1.0)
        i = _sigmoid_fast(z_row[j])
        f = _sigmoid_fast(z_row[units + j])
        g = _tanh(z_row[2 * units + j])
        o = _sigmoid_fast(z_row[3 * units + j])
        act_c = _tanh(c_t[j])
        do = dh[j] * act_c
        dc = dc_next[j] + dh[j] * o * (one - act_c * act_c)
        df = dc * c_tm1[j]
        di = dc * g
        dg = dc * i
        dc_next[j] = dc * f
        dz_row[j] = di * (i * (one - i))
        dz_row[units + j] = df * (f * (one - f))
        dz_row[2 * units + j] = dg * (one - g * g)
        dz_row[3 * units + j] = do * (o * (one - o))


@jit_kernel
def _cell_forward(z_row, c_tm1, c_t, h_t, act, ract, gates, act_c):
    """Gates from the packed pre-activations ``z_row (4U,)``; writes ``c_t, h_t (U,)``.

    ``gates (4U,)`` and ``act_c (U,)`` are workspaces.
    """
    units = c_t.shape[0]
    if act == TANH and ract == SIGMOID:
        if _cell_forward_tanh_sigmoid(z_row, c_tm1, c_t, h_t):
            return
    _activate_block(ract, z_row[: 2 * units], gates[: 2 * units])  # i, f
    _activate_block(act, z_row[2 * units : 3 * units], gates[2 * units : 3 * units])  # g
    _activate_block(ract, z_row[3 * units :], gates[3 * units :])  # o
    for j in range(units):
        c_t[j] = gates[units + j] * c_tm1[j] + gates[j] * gates[2 * units + j]  # f*c + i*g
    _activate_block(act, c_t, act_c)  # φ(c_t)
    for j in range(units):
        h_t[j] = gates[3 * units + j] * act_c[j]  # o * φ(c_t)


@jit_kernel
def _cell_backward(z_row, c_tm1, c_t, dh, dc_next, dz_row, act, ract, gates, dgates, act_c, dact_c):
    """Backprop through one step of one row: ``dh (U,)`` is dL/dh_t, ``dc_next (U,)`` holds
    dL/dc_t from step t+1 on entry and dL/dc_tm1 on return; writes ``dz_row (4U,)``.

    ``gates, dgates (4U,)``, ``act_c, dact_c (U,)`` are workspaces.
    """
    units = c_t.shape[0]
    if act == TANH and ract == SIGMOID and _in_fast_range(z_row, c_t):
        _cell_backward_tanh_sigmoid(z_row, c_tm1, c_t, dh, dc_next, dz_row)
        return
    # forward of this step again, from the stored pre-activations
    _activate_block(ract, z_row[: 2 * units], gates[: 2 * units])  # i, f
    _activate_block(act, z_row[2 * units : 3 * units], gates[2 * units : 3 * units])  # g
    _activate_block(ract, z_row[3 * units :], gates[3 * units :])  # o
    _activate_block(act, c_t, act_c)  # φ(c_t)
    _derivative_block(act, c_t, act_c, dact_c)  # φ'(c_t)
    _derivative_block(ract, z_row[: 2 * units], gates[: 2 * units], dgates[: 2 * units])
    _derivative_block(
        act, z_row[2 * units : 3 * units], gates[2 * units : 3 * units],
        dgates[2 * units : 3 * units],
    )
    _derivative_block(ract, z_row[3 * units :], gates[3 * units :], dgates[3 * units :])
    for j in range(units):
        i = gates[j]
        f = gates[units + j]
        g = gates[2 * units + j]
        o = gates[3 * units + j]
        # backprop into o and c_t through h_t = o * φ(c_t)
        do = dh[j] * act_c[j]
        dc = dc_next[j] + dh[j] * o * dact_c[j]
        # backprop into f, c_tm1, i, g through c_t = f * c_tm1 + i * g
        df = dc * c_tm1[j]
        di = dc * g
        dg = dc * i
        dc_next[j] = dc * f
        # backprop into the pre-activations through the gate activations
        dz_row[j] = di * dgates[j]
        dz_row[units + j] = df * dgates[units + j]
        dz_row[2 * units + j] = dg * dgates[2 * units + j]
        dz_row[3 * units + j] = do * dgates[3 * units + j]


# -- whole sequences ----------------------------------------------------------------------


@jit_kernel
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



@jit_kernel
def _fused_forward(zp, c_tm1, c_t, h_t):
    """One step of one row for φ = tanh, σ = sigmoid, on rows padded to whole vectors.

    ``zp (4, P)`` holds the i, f, c, o pre-activations, ``c_tm1 (P,)`` the carry; writes
    ``c_t, h_t (P,)``. Returns False when an argument lay outside the fast range, and the
    caller then recomputes the step exactly.
    """
    z_i, z_f, z_c, z_o = zp[0], zp[1], zp[2], zp[3]  # 4 x (P,)
    outside = False
    for j in range(c_t.shape[0]):
        sig_lim = _like(z_i[j], _SIGMOID_FAST_LIMIT)
        tanh_lim = _like(z_i[j], _TANH_FAST_LIMIT)
        i = _sigmoid_fast(z_i[j])
        f = _sigmoid_fast(z_f[j])
        g = _tanh(z_c[j])
        o = _sigmoid_fast(z_o[j])
        c = f * c_tm1[j] + i * g
        c_t[j] = c
        h_t[j] = o * _tanh(c)
        outside |= not (abs(z_i[j]) < sig_lim and abs(z_f[j]) < sig_lim
                        and abs(z_c[j]) < tanh_lim and abs(z_o[j]) < sig_lim
                        and abs(c) < tanh_lim)
    return not outside


@jit_kernel
def _fused_backward(zp, c_tm1, c_t, dh, dc_next, dc_tm1, dzp):
    """Backward of :func:`_fused_forward`: ``dh, dc_next (P,)`` are dL/dh_t and dL/dc_t;
    writes ``dc_tm1 (P,)`` and ``dzp (4, P)``. Returns False outside the fast range."""
    z_i, z_f, z_c, z_o = zp[0], zp[1], zp[2], zp[3]  # 4 x (P,)
    dz_i, dz_f, dz_c, dz_o = dzp[0], dzp[1], dzp[2], dzp[3]  # 4 x (P,)
    outside = False
    for j in range(c_t.shape[0]):
        one = _like(c_t[j], 1.0)
        sig_lim = _like(c_t[j], _SIGMOID_FAST_LIMIT)
        tanh_lim = _like(c_t[j], _TANH_FAST_LIMIT)
        # forward of this step again, from the stored pre-activations
        i = _sigmoid_fast(z_i[j])
        f = _sigmoid_fast(z_f[j])
        g = _tanh(z_c[j])
        o = _sigmoid_fast(z_o[j])
        act_c = _tanh(c_t[j])
        # backprop into o and c_t through h_t = o * φ(c_t)
        do = dh[j] * act_c
        dc = dc_next[j] + dh[j] * o * (one - act_c * act_c)
        # backprop into f, c_tm1, i, g through c_t = f * c_tm1 + i * g
        df = dc * c_tm1[j]
        di = dc * g
        dg = dc * i
        dc_tm1[j] = dc * f
        # backprop into the pre-activations through the gate activations
        dz_i[j] = di * (i * (one - i))
        dz_f[j] = df * (f * (one - f))
        dz_c[j] = dg * (one - g * g)
        dz_o[j] = do * (o * (one - o))
        outside |= not (abs(z_i[j]) < sig_lim and abs(z_f[j]) < sig_lim
                        and abs(z_c[j]) < tanh_lim and abs(z_o[j]) < sig_lim
                        and abs(c_t[j]) < tanh_lim)
    return not outside


@jit_kernel
def _unpack_gates(row, zp):
    """Packed ``row (4U,)`` -> padded ``zp (4, P)`` (the padding keeps its zeros)."""
    units = row.shape[0] // 4
    for gate in range(4):
        for j in range(units):
            zp[gate, j] = row[gate * units + j]


@jit_kernel
def _pack_gates(zp, row):
    """Padded ``zp (4, P)`` -> packed ``row (4U,)``."""
    units = row.shape[0] // 4
    for gate in range(4):
        for j in range(units):
            row[gate * units + j] = zp[gate, j]


@jit_kernel
def _copy(src, dst):
    for j in range(src.shape[0]):
        dst[j] = src[j]


@jit_kernel
def _padded(units):
    """``units`` rounded up to whole 8-lane vectors."""
    return -(-units // _LANES) * _LANES


@jit_kernel
def _forward_rows(xs, kernel, bias, recurrent_kernel, h0, c0, act, ract, keep, z, c, h, c_last,
                  row_start, row_stop):
    """Small units: batch rows ``row_start:row_stop``, each through all timesteps on its
    own, from the inputs ``xs (B, T, D)`` in processing order. Writes ``h (B, T, U)`` and
    ``c_last (B, U)``; with ``keep`` also ``z (B, T, 4U)`` and ``c (B, T, U)`` for backward
    (without it they go to per-row workspaces and ``z``, ``c`` are not touched).
    Rows are independent, so disjoint row ranges may run in parallel threads (the kernel
    releases the GIL); no BLAS call, so no BLAS thread pool competes with those threads."""
    _, timesteps, units = h.shape
    packed = 4 * units
    padded = _padded(units)
    fused = act == TANH and ract == SIGMOID
    # workspaces, allocated once per call
    gates = np.empty(packed, dtype=h.dtype)  # (4U,)
    act_c = np.empty(units, dtype=h.dtype)  # (U,)
    z_work = np.empty(packed, dtype=h.dtype)  # (4U,) z_t when it is not kept
    c_work = np.empty(units, dtype=h.dtype)  # (U,) c_t when it is not kept
    zp = np.zeros((4, padded), dtype=h.dtype)  # (4, P) padded gate pre-activations
    c_prev = np.zeros(padded, dtype=h.dtype)  # (P,) carry
    c_next = np.zeros(padded, dtype=h.dtype)  # (P,)
    h_next = np.zeros(padded, dtype=h.dtype)  # (P,)
    # with many input features, x @ kernel for all the rows' timesteps is one BLAS product
    # (single-threaded: the caller holds BLAS to one thread inside parallel calls)
    project = xs.shape[2] >= _BLAS_INPUT_DIM
    rows = row_stop - row_start
    if project:
        z_in = z[row_start:row_stop] if keep else np.empty((rows, timesteps, packed), h.dtype)
        np.dot(xs[row_start:row_stop].reshape(rows * timesteps, xs.shape[2]), kernel,
               z_in.reshape(rows * timesteps, packed))  # (R*T, 4U)
    for b in range(row_start, row_stop):
        _copy(c0[b], c_prev)
        for t in range(timesteps):
            h_tm1 = h[b, t - 1] if t > 0 else h0[b]  # (U,)
            c_row = c[b, t] if keep else c_work  # (U,)
            # the reference's order: (x_t @ kernel + h_tm1 @ recurrent_kernel) + bias
            if project:
                z_row = z_in[b - row_start, t]  # (4U,) holds x_t @ kernel
            else:
                z_row = z[b, t] if keep else z_work  # (4U,)
                z_row[:] = 0
                _add_vector_matrix(xs[b, t], kernel, z_row)  # += x_t @ kernel
            _add_vector_matrix(h_tm1, recurrent_kernel, z_row)  # += h_tm1 @ recurrent_kernel
            for j in range(packed):
                z_row[j] += bias[j]
            if fused:
                _unpack_gates(z_row, zp)
                if _fused_forward(zp, c_prev, c_next, h_next):
                    _copy(c_next[:units], c_row)
                    _copy(h_next[:units], h[b, t])
                    c_prev, c_next = c_next, c_prev
                    continue
            _cell_forward(z_row, c_prev[:units], c_row, h[b, t], act, ract, gates, act_c)
            _copy(c_row, c_prev)
        _copy(c_prev[:units], c_last[b])


@jit_kernel(parallel=True)
def _forward_rows_parallel(xs, kernel, bias, recurrent_kernel, h0, c0, act, ract, keep, z, c, h,
                           c_last, bounds):
    """:func:`_forward_rows` on the row ranges ``bounds[p]:bounds[p + 1]``, one per thread."""
    for p in prange(bounds.shape[0] - 1):
        _forward_rows(xs, kernel, bias, recurrent_kernel, h0, c0, act, ract, keep, z, c, h,
                      c_last, bounds[p], bounds[p + 1])


@jit_kernel
def _gates_forward_step(z, hr, bias, t, c_tm1, h_tm1, c, h, act, ract, keep, gates, act_c,
                        c_work):
    """Large units, timestep ``t`` for a block of rows, after the caller's BLAS product
    ``hr = h_tm1 @ recurrent_kernel (R, 4U)``: completes ``z[:, t] (R, 4U)`` (holding
    ``x_t @ kernel``) in the reference's order ``(x @ kernel + h @ R) + bias``, runs the
    cells and writes ``h[:, t]`` (and ``c[:, t]`` when ``keep``); the block's carry
    ``c_tm1`` and output ``h_tm1 (R, U)`` move on to step t. ``gates (4U,)``, ``act_c``,
    ``c_work (U,)`` are workspaces."""
    rows, packed = hr.shape
    for r in range(rows):
        z_row = z[r, t]  # (4U,)
        for j in range(packed):
            z_row[j] = (z_row[j] + hr[r, j]) + bias[j]
        c_row = c[r, t] if keep else c_work  # (U,)
        _cell_forward(z_row, c_tm1[r], c_row, h[r, t], act, ract, gates, act_c)
        h_tm1[r] = h[r, t]
        c_tm1[r] = c_row


@jit_kernel
def _backward_rows(z, c, c0, recurrent_kernel_t, dh_seq, use_dh_seq, dh_next, dc_next, act,
                   ract, dz, row_start, row_stop):
    """Small units: backward for batch rows ``row_start:row_stop``, row by row."""
    _, timesteps, packed = z.shape
    units = packed // 4
    padded = _padded(units)
    fused = act == TANH and ract == SIGMOID
    # workspaces, allocated once per call
    gates = np.empty(packed, dtype=z.dtype)  # (4U,) workspaces
    dgates = np.empty(packed, dtype=z.dtype)
    act_c = np.empty(units, dtype=z.dtype)  # (U,) workspaces
    dact_c = np.empty(units, dtype=z.dtype)
    zp = np.zeros((4, padded), dtype=z.dtype)  # (4, P) padded pre-activations
    dzp = np.zeros((4, padded), dtype=z.dtype)  # (4, P) their gradients
    c_t = np.zeros(padded, dtype=z.dtype)  # (P,) padded carries
    c_tm1 = np.zeros(padded, dtype=z.dtype)
    dh = np.zeros(2 * padded, dtype=z.dtype)  # (P,) dL/dh_t, then (P,) dL/dh_tm1
    dc = np.zeros(padded, dtype=z.dtype)  # (P,) dL/dc_t
    dc_prev = np.zeros(padded, dtype=z.dtype)  # (P,) dL/dc_tm1
    for b in range(row_start, row_stop):
        _copy(dc_next[b], dc)
        for t in range(timesteps - 1, -1, -1):
            c_tm1_row = c[b, t - 1] if t > 0 else c0[b]  # (U,)
            # backprop into h_t: from the sequence output and from step t+1
            if use_dh_seq:
                for j in range(units):
                    dh[j] = dh_next[b, j] + dh_seq[b, t, j]
            else:
                _copy(dh_next[b], dh)
            dz_row = dz[b, t]  # (4U,)
            done = False
            if fused:
                _unpack_gates(z[b, t], zp)
                _copy(c[b, t], c_t)
                _copy(c_tm1_row, c_tm1)
                if _fused_backward(zp, c_tm1, c_t, dh, dc, dc_prev, dzp):
                    _pack_gates(dzp, dz_row)
                    dc, dc_prev = dc_prev, dc
                    done = True
            if not done:
                _cell_backward(z[b, t], c_tm1_row, c[b, t], dh[:units], dc[:units], dz_row,
                               act, ract, gates, dgates, act_c, dact_c)
            # backprop into h_tm1 through z_t = ... + h_tm1 @ recurrent_kernel
            # (recurrent_kernel_t has P >= U columns, zero-padded to whole vectors)
            dh_tm1 = dh[recurrent_kernel_t.shape[1] :]  # (P,) workspace
            dh_tm1[:] = 0
            _add_vector_matrix(dz_row, recurrent_kernel_t, dh_tm1)
            _copy(dh_tm1[:units], dh_next[b])
        _copy(dc[:units], dc_next[b])


@jit_kernel
def _column_sums(m, out):
    """``out = m.sum(axis=0)`` for ``m (N, K)``, rows added in order (vectorized over K)."""
    out[:] = 0
    for r in range(m.shape[0]):
        row = m[r]  # (K,)
        for j in range(out.shape[0]):
            out[j] += row[j]


@jit_kernel
def _weight_gradients(xs, kernel, h0, h, dz, dxs, dkernel, drecurrent_kernel, dbias, h_prev,
                      start, stop):
    """For batch rows ``start:stop``, once their ``dz (B, T, 4U)`` is known: their inputs'
    gradient ``dxs = dz @ kernel.T`` and their share of the weight gradients
    ``dkernel = xs^T dz``, ``drecurrent_kernel = h_prev^T dz``, ``dbias = sum dz``, one
    BLAS product each. ``h_prev (B, T, U)`` is a workspace for each step's h_tm1."""
    _, timesteps, packed = dz.shape
    input_dim = xs.shape[2]
    units = packed // 4
    rows = (stop - start) * timesteps
    dz_p = dz[start:stop].reshape(rows, packed)  # (rows*T, 4U) of these batch rows
    np.dot(dz_p, kernel.T, dxs[start:stop].reshape(rows, input_dim))  # (rows*T, D)
    np.dot(xs[start:stop].reshape(rows, input_dim).T, dz_p, dkernel)  # (D, 4U)
    for b in range(start, stop):  # each step's h_tm1: h0, then h of the step before
        h_prev[b, 0] = h0[b]
        h_prev[b, 1:] = h[b, : timesteps - 1]
    np.dot(h_prev[start:stop].reshape(rows, units).T, dz_p, drecurrent_kernel)  # (U, 4U)
    _column_sums(dz_p, dbias)  # (4U,)


@jit_kernel(parallel=True)
def _backward_rows_parallel(xs, kernel, h0, h, z, c, c0, recurrent_kernel_t, dh_seq, use_dh_seq,
                            dh_next, dc_next, act, ract, dz, dxs, dkernel, drecurrent_kernel,
                            dbias, h_prev, bounds):
    """Small units: the whole backward pass for the row ranges ``bounds[p]:bounds[p + 1]``,
    one per thread. Each thread runs :func:`_backward_rows` over its rows, then forms its
    rows' share of the big products with BLAS (which the caller holds to one thread):
    ``dxs = dz @ kernel.T`` into its rows, and its partial weight gradients
    ``dkernel[p] = xs^T dz``, ``drecurrent_kernel[p] = h_prev^T dz``, ``dbias[p] = sum dz``
    (the caller adds the parts). ``h_prev (B, T, U)`` is a workspace for each step's h_tm1."""
    for p in prange(bounds.shape[0] - 1):
        start, stop = bounds[p], bounds[p + 1]
        _backward_rows(z, c, c0, recurrent_kernel_t, dh_seq, use_dh_seq, dh_next, dc_next, act,
                       ract, dz, start, stop)
        _weight_gradients(xs, kernel, h0, h, dz, dxs, dkernel[p], drecurrent_kernel[p],
                          dbias[p], h_prev, start, stop)


@jit_kernel
def _gates_backward_step(z, c, c0, dh_seq, use_dh_seq, dh_next, dc_next, act, ract, dz, t, dz_t,
                         work):
    """Large units, timestep ``t`` of backward for a block of rows: fills ``dz[:, t]`` and
    its contiguous copy ``dz_t (R, 4U)``; the caller then forms ``dz_t @ recurrent_kernel.T``
    with BLAS. ``work (3, 4U)`` is workspace."""
    rows, _, packed = z.shape
    units = packed // 4
    gates, dgates = work[0], work[1]  # (4U,) each
    act_c, dact_c = work[2, :units], work[2, units : 2 * units]  # (U,) each
    dh = work[2, 2 * units : 3 * units]  # (U,) dL/dh_t of one row
    for b in range(rows):
        c_tm1 = c[b, t - 1] if t > 0 else c0[b]  # (U,)
        # backprop into h_t: from the sequence output and from step t+1
        if use_dh_seq:
            for j in range(units):
                dh[j] = dh_next[b, j] + dh_seq[b, t, j]
        else:
            dh[:] = dh_next[b]
        dz_row = dz[b, t]  # (4U,)
        _cell_backward(z[b, t], c_tm1, c[b, t], dh, dc_next[b], dz_row, act, ract,
                       gates, dgates, act_c, dact_c)
        dz_t[b] = dz_row

