"""The LSTM's compiled one-step functions: one timestep of one batch row.

``lstm_kernels.py`` runs them over whole sequences (the equations are in ``lstm.py``). Numba
cannot call :func:`npylstm.gates.split_gates`, so these functions address the four gate
blocks of a packed row by their offsets ``0, U, 2U, 3U`` (i, f, c, o), the same split.
Each comes in two forms: for any activation codes (``_cell_forward``, ``_cell_backward``)
and for the default pair φ = tanh, σ = sigmoid (``_ts``), which compiles no other
activation; a layer with the default pair compiles only the latter.

Numba's cache checks only this file's modification time and size, but these functions
have the helpers of ``activations.py`` and the options of ``_jit.py`` compiled into them:
:data:`HELPERS_SOURCE_SHA256` records the SHA-256 of each, and ``tests/test_numba_cache.py``
fails when one differs (see the package docstring).
"""

from __future__ import annotations

import numpy as np

from ._jit import jit_kernel
from .activations import (
    _SIGMOID_FAST_LIMIT,
    _TANH_FAST_LIMIT,
    SIGMOID,
    TANH,
    _activate_block,
    _derivative_block,
    _like,
    _sigmoid_block,
    _sigmoid_fast,
    _tanh,
    _tanh_block,
)
from .products import _add_rows_matrix, _add_vector_matrix
from .simd import HALF, copy_half

__all__ = [
    "HELPERS_SOURCE_SHA256", "_LANES",
    "_in_fast_range", "_cell_forward_tanh_sigmoid", "_cell_backward_tanh_sigmoid",
    "_cell_forward_exact_ts", "_cell_forward_ts", "_cell_forward", "_cell_backward_from_gates",
    "_cell_backward_exact_ts", "_cell_backward_ts", "_cell_backward", "_add_vector_matrix",
    "_add_rows_matrix", "_fused_forward", "_fused_backward", "_unpack_gates", "_unpack_gates_at",
    "_pack_gates", "_pack_gates_at", "_pack_gates_flat", "_unpack_gates_flat", "_copy",
    "_copy_flat", "_padded",
    "_pad_gate_columns",
]

#: SHA-256 of what this module's kernels compile in from other ``npylstm`` files (paths
#: relative to the package): a whole file that uses Numba, or the definitions of the names
#: imported from a plain module (``"file: NAME, ..."``). Numba's cache checks only this
#: file: when one of these changes, ``tests/test_numba_cache.py`` prints the new digest to
#: paste here, and that edit makes Numba recompile this module's kernels.
HELPERS_SOURCE_SHA256: dict[str, str] = {
    "ops/numba/_jit.py": "5edc77b651ae5b21a1056d5e822da93c4779249c7c535fe8a54cf64bbfb2ead4",
    "ops/numba/activations.py": "8b9e6632e044af987e31961c8845a040292aaf12161d0639e70bb5cbaf9ae688",
    "ops/numba/products.py": "87726216133fe47471d5da57123f5ad0f5d957f1b72b0692e1929fde2b73e6a5",
    "ops/numba/simd.py": "2fc6505c53e68f6888b180da862f5822dbaf0030a31f313da2e9541a720d65a7",
}

#: Gate rows are padded to whole vectors of this many lanes (8 float32 in AVX2).
_LANES = 8


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
def _cell_forward_exact_ts(z_row, c_tm1, c_t, h_t, gates, act_c):
    """:func:`_cell_forward` for φ = tanh, σ = sigmoid one gate block at a time, each value
    fast inside its range and exact outside it (``_tanh_block``, ``_sigmoid_block``): the
    path for a row whose carry left the fast range."""
    units = c_t.shape[0]
    _sigmoid_block(z_row[: 2 * units], gates[: 2 * units])  # i, f
    _tanh_block(z_row[2 * units : 3 * units], gates[2 * units : 3 * units])  # g
    _sigmoid_block(z_row[3 * units :], gates[3 * units :])  # o
    for j in range(units):
        c_t[j] = gates[units + j] * c_tm1[j] + gates[j] * gates[2 * units + j]  # f*c + i*g
    _tanh_block(c_t, act_c)  # φ(c_t)
    for j in range(units):
        h_t[j] = gates[3 * units + j] * act_c[j]  # o * φ(c_t)


@jit_kernel
def _cell_forward_ts(z_row, c_tm1, c_t, h_t, gates, act_c):
    """:func:`_cell_forward` for φ = tanh, σ = sigmoid: the one vectorized pass of
    :func:`_cell_forward_tanh_sigmoid`, else (the carry outside the fast range)
    :func:`_cell_forward_exact_ts`."""
    if not _cell_forward_tanh_sigmoid(z_row, c_tm1, c_t, h_t):
        _cell_forward_exact_ts(z_row, c_tm1, c_t, h_t, gates, act_c)


@jit_kernel
def _cell_forward(z_row, c_tm1, c_t, h_t, act, ract, gates, act_c):
    """Gates from the packed pre-activations ``z_row (4U,)``; writes ``c_t, h_t (U,)``.

    ``gates (4U,)`` and ``act_c (U,)`` are workspaces. Any activation codes (the
    tanh/sigmoid pair is :func:`_cell_forward_ts`, which the ``_ts`` kernels call directly
    so that they compile no other activation).
    """
    units = c_t.shape[0]
    if act == TANH and ract == SIGMOID:
        _cell_forward_ts(z_row, c_tm1, c_t, h_t, gates, act_c)
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
def _cell_backward_from_gates(c_tm1, dh, dc_next, dz_row, gates, dgates, act_c, dact_c):
    """The backward arithmetic of one step once the gates ``gates (4U,)``, their
    derivatives ``dgates (4U,)``, ``act_c = φ(c_t)`` and ``dact_c = φ'(c_t) (U,)`` are
    known: writes ``dz_row (4U,)``; ``dc_next`` goes from dL/dc_t to dL/dc_tm1."""
    units = c_tm1.shape[0]
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


@jit_kernel
def _cell_backward_exact_ts(z_row, c_tm1, c_t, dh, dc_next, dz_row, gates, dgates, act_c,
                            dact_c):
    """:func:`_cell_backward` for φ = tanh, σ = sigmoid with the gates recomputed one block
    at a time, each value fast inside its range and exact outside it (tanh' = 1 - y²,
    sigmoid' = y (1 - y), the expressions of ``_derivative_block``): the path for a row
    with an argument outside the fast range."""
    units = c_t.shape[0]
    # forward of this step again, from the stored pre-activations
    _sigmoid_block(z_row[: 2 * units], gates[: 2 * units])  # i, f
    _tanh_block(z_row[2 * units : 3 * units], gates[2 * units : 3 * units])  # g
    _sigmoid_block(z_row[3 * units :], gates[3 * units :])  # o
    _tanh_block(c_t, act_c)  # φ(c_t)
    one = _like(c_t[0], 1.0)
    for j in range(units):
        dact_c[j] = one - act_c[j] * act_c[j]  # φ'(c_t)
    for j in range(2 * units):  # σ'(z_i), σ'(z_f)
        dgates[j] = gates[j] * (one - gates[j])
    for j in range(2 * units, 3 * units):  # φ'(z_c)
        dgates[j] = one - gates[j] * gates[j]
    for j in range(3 * units, 4 * units):  # σ'(z_o)
        dgates[j] = gates[j] * (one - gates[j])
    _cell_backward_from_gates(c_tm1, dh, dc_next, dz_row, gates, dgates, act_c, dact_c)


@jit_kernel
def _cell_backward_ts(z_row, c_tm1, c_t, dh, dc_next, dz_row, gates, dgates, act_c, dact_c):
    """:func:`_cell_backward` for φ = tanh, σ = sigmoid: one vectorized pass
    (:func:`_cell_backward_tanh_sigmoid`) when every argument is in the fast range, else
    :func:`_cell_backward_exact_ts`."""
    if _in_fast_range(z_row, c_t):
        _cell_backward_tanh_sigmoid(z_row, c_tm1, c_t, dh, dc_next, dz_row)
    else:
        _cell_backward_exact_ts(z_row, c_tm1, c_t, dh, dc_next, dz_row, gates, dgates, act_c,
                                dact_c)


@jit_kernel
def _cell_backward(z_row, c_tm1, c_t, dh, dc_next, dz_row, act, ract, gates, dgates, act_c, dact_c):
    """Backprop through one step of one row: ``dh (U,)`` is dL/dh_t, ``dc_next (U,)`` holds
    dL/dc_t from step t+1 on entry and dL/dc_tm1 on return; writes ``dz_row (4U,)``.

    ``gates, dgates (4U,)``, ``act_c, dact_c (U,)`` are workspaces. Any activation codes
    (tanh/sigmoid: :func:`_cell_backward_ts`).
    """
    units = c_t.shape[0]
    if act == TANH and ract == SIGMOID:
        _cell_backward_ts(z_row, c_tm1, c_t, dh, dc_next, dz_row, gates, dgates, act_c, dact_c)
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
    _cell_backward_from_gates(c_tm1, dh, dc_next, dz_row, gates, dgates, act_c, dact_c)



@jit_kernel
def _fused_forward(zp, c_tm1, c_t, h_t):
    """:func:`_cell_forward_tanh_sigmoid` on rows padded to whole vectors (the same values).

    ``zp (4, P)`` holds the i, f, c, o pre-activations, ``c_tm1 (P,)`` the carry; writes
    ``c_t, h_t (P,)``. Returns False when the new carry lies outside the fast range of
    φ(c_t), and the caller then recomputes the step with :func:`_cell_forward_exact_ts`.
    (Gate arguments outside the range need nothing: the fast σ and φ saturate to exactly
    0 / 1 / ±1 there and keep NaN, as the path it replaces did.)
    """
    z_i, z_f, z_c, z_o = zp[0], zp[1], zp[2], zp[3]  # 4 x (P,)
    outside = False
    for j in range(c_t.shape[0]):
        i = _sigmoid_fast(z_i[j])
        f = _sigmoid_fast(z_f[j])
        g = _tanh(z_c[j])
        o = _sigmoid_fast(z_o[j])
        c = f * c_tm1[j] + i * g
        c_t[j] = c
        h_t[j] = o * _tanh(c)
        outside |= not abs(c) < _like(c, _TANH_FAST_LIMIT)
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
    _unpack_gates_at(row, zp, 0)


@jit_kernel
def _unpack_gates_at(row, zp, offset):
    """Packed ``row (4U,)`` -> ``zp[:, offset : offset + U]`` of a padded ``zp (4, n·P)``
    that holds ``n`` rows side by side (row ``r`` at ``offset = r·P``)."""
    units = row.shape[0] // 4
    for gate in range(4):
        for j in range(units):
            zp[gate, offset + j] = row[gate * units + j]


@jit_kernel
def _pack_gates(zp, row):
    """Padded ``zp (4, P)`` -> packed ``row (4U,)``."""
    _pack_gates_at(zp, 0, row)


@jit_kernel
def _pack_gates_at(zp, offset, row):
    """``zp[:, offset : offset + U]`` of a padded ``zp (4, n·P)`` -> packed ``row (4U,)``
    (the inverse of :func:`_unpack_gates_at`)."""
    units = row.shape[0] // 4
    for gate in range(4):
        for j in range(units):
            row[gate * units + j] = zp[gate, offset + j]


@jit_kernel
def _copy_flat(src, src_at, dst, dst_at, count):
    """``dst[dst_at : dst_at + count] = src[src_at : ...]`` on flat arrays, without the views
    a slice would create (each a reference count update): groups of 8, each one masked load
    and one masked store, so nothing past ``count`` values is read or written (a padded row
    to a packed one or back)."""
    for j in range(0, count, HALF):
        copy_half(src, src_at + j, dst, dst_at + j, min(HALF, count - j))


@jit_kernel
def _pack_gates_flat(zp, wide, offset, dst, dst_at, units):
    """:func:`_pack_gates_at` on flat arrays: the row at ``offset`` of a gate-major ``zp (4 *
    wide,)`` into the packed ``dst[dst_at : dst_at + 4U]``."""
    for gate in range(4):
        _copy_flat(zp, gate * wide + offset, dst, dst_at + gate * units, units)


@jit_kernel
def _unpack_gates_flat(src, src_at, zp, wide, offset, units):
    """:func:`_unpack_gates_at` on flat arrays: the packed ``src[src_at : src_at + 4U]`` into
    the row at ``offset`` of a gate-major ``zp (4 * wide,)`` (its padding untouched)."""
    for gate in range(4):
        _copy_flat(src, src_at + gate * units, zp, gate * wide + offset, units)


@jit_kernel
def _copy(src, dst):
    for j in range(src.shape[0]):
        dst[j] = src[j]


@jit_kernel
def _padded(units):
    """``units`` rounded up to whole 8-lane vectors."""
    return -(-units // _LANES) * _LANES


@jit_kernel
def _pad_gate_columns(w, padded):
    """Packed ``w (n, 4U)`` -> the padded gate layout of ``products.py``, ``(4n, P)``: row
    ``i``'s gate ``g`` unit ``j`` at ``[4i + g, j]`` (flattened: ``i * 4P + g * P + j``),
    zeros in the padding."""
    rows, packed = w.shape
    units = packed // 4
    out = np.zeros((4 * rows, padded), dtype=w.dtype)
    for i in range(rows):
        for gate in range(4):
            for j in range(units):
                out[4 * i + gate, j] = w[i, gate * units + j]
    return out
