"""The LSTM's compiled kernels over whole sequences: rows through all timesteps (small
units) and one timestep of a block of rows around the caller's BLAS product (large units).

The equations, the row split across threads and the BLAS paths are described in
``lstm.py``, which calls these kernels; the one-step functions they run are those of
``lstm_cells.py``. Every kernel comes in two forms: ``_ts`` for the default pair
φ = tanh, σ = sigmoid (a fused, vectorized step that compiles no other activation), and
one for any activation codes ``act``, ``ract`` (compiled only when a layer uses another
activation). None is a Numba parallel function: ``lstm.py`` runs them in Python threads
(they release the GIL), which compiles in a fraction of the time a ``prange`` loop takes.

Numba's cache checks only this file's modification time and size, but these kernels have
the helpers of ``lstm_cells.py`` and the options of ``_jit.py`` compiled into them:
:data:`HELPERS_SOURCE_SHA256` records the SHA-256 of each, and ``tests/test_numba_cache.py``
fails when one differs. Updating the digest changes this file, so Numba then recompiles
these kernels instead of loading stale machine code (see the package docstring).
"""

from __future__ import annotations

import numpy as np

from ._jit import jit_kernel
from .lstm_cells import (
    _add_vector_matrix,
    _cell_backward,
    _cell_backward_exact_ts,
    _cell_backward_ts,
    _cell_forward,
    _cell_forward_exact_ts,
    _cell_forward_ts,
    _copy,
    _copy_flat,
    _fused_backward,
    _fused_forward,
    _pack_gates,
    _pack_gates_at,
    _pack_gates_flat,
    _pad_gate_columns,
    _padded,
    _unpack_gates,
    _unpack_gates_flat,
)
from .products import (
    _dh_row,
    _dh_tile,
    _gate_stores,
    _preactivations_row,
    _preactivations_tile,
)

__all__ = [
    "HELPERS_SOURCE_SHA256", "_BLAS_INPUT_DIM", "_TILE",
    "_step_inputs", "_padded_weights", "_row_step_fast",
    "_forward_rows_ts", "_forward_row_ts", "_stream_step_ts", "_forward_rows_ts_exact",
    "_forward_rows",
    "_gates_forward_step_ts", "_gates_forward_step", "_step_dh", "_step_dh_flat",
    "_backward_rows_ts", "_backward_rows_ts_exact", "_backward_rows",
    "_gates_backward_step_ts", "_gates_backward_step",
]

#: SHA-256 of what this module's kernels compile in from other ``npylstm`` files (paths
#: relative to the package): a whole file that uses Numba, or the definitions of the names
#: imported from a plain module (``"file: NAME, ..."``). Numba's cache checks only this
#: file: when one of these changes, ``tests/test_numba_cache.py`` prints the new digest to
#: paste here, and that edit makes Numba recompile this module's kernels.
HELPERS_SOURCE_SHA256: dict[str, str] = {
    "ops/numba/_jit.py": "5edc77b651ae5b21a1056d5e822da93c4779249c7c535fe8a54cf64bbfb2ead4",
    "ops/numba/lstm_cells.py": "23a5a5467e679b44e4b4e17a0b94aa557a6b8b028547983da42ad95301469586",
    "ops/numba/products.py": "87726216133fe47471d5da57123f5ad0f5d957f1b72b0692e1929fde2b73e6a5",
}

#: Small units: from this many input features on, ``x @ kernel`` is one BLAS product per
#: thread before the time loop (below it, a written-out product per step is cheaper).
_BLAS_INPUT_DIM = 8


@jit_kernel
def _step_inputs(x_t, kernel, h_tm1, recurrent_kernel, bias, project, z_row):
    """The packed pre-activations of one step of one row, in the reference's order
    ``(x_t @ kernel + h_tm1 @ recurrent_kernel) + bias``, in place in ``z_row (4U,)``: with
    ``project`` it holds ``x_t @ kernel`` already (the caller's product over all steps),
    else that product is written out here."""
    if not project:
        for j in range(z_row.shape[0]):
            z_row[j] = 0
        _add_vector_matrix(x_t, kernel, z_row)  # += x_t @ kernel
    _add_vector_matrix(h_tm1, recurrent_kernel, z_row)  # += h_tm1 @ recurrent_kernel
    for j in range(z_row.shape[0]):
        z_row[j] += bias[j]


#: Rows per tile in the small-units kernels: each recurrent weight is loaded once per tile.
_TILE = 4


@jit_kernel
def _forward_rows_ts(xs, kernel, bias, recurrent_kernel, h0, c0, keep, project, z_in, z, c, h,
                     c_last, row_start, row_stop, stash):
    """Small units, φ = tanh and σ = sigmoid: batch rows ``row_start:row_stop`` through all
    timesteps, from the inputs ``xs (B, T, D)`` in processing order. Writes
    ``h (B, T, U)`` and ``c_last (B, U)``; with ``keep`` also ``z (B, T, 4U)`` and
    ``c (B, T, U)`` for backward (without it ``z``, ``c`` are not touched).

    The kernel copies the weights to the padded gate layout of ``products.py`` first
    (:func:`_padded_weights`). With ``project``, ``z_in (R, T, 4P)`` holds ``x @ kernel``
    for these rows in that layout (the caller's BLAS product on the padded kernel).

    The rows go in tiles of :data:`_TILE` = 4 through all timesteps together (the caller
    passes a whole number of tiles; :func:`_forward_row_ts` takes the rest one by one, so a
    batch without such rows never compiles it): each step's pre-activations are one
    register-blocked product (:func:`_preactivations_tile`, each weight loaded once for the
    tile) written straight into the gate-major workspace of the fused gates
    (:func:`_fused_forward` over ``4P`` values), which read the previous outputs from the
    same padded buffer they write. Every row is computed with the same operations in the
    same order whether it is in a tile or alone, so a row's result does not depend on its
    batch, and disjoint row ranges may run in parallel threads (the kernel releases the GIL).

    Nothing else is compiled in: when a carry leaves the fast range at step ``t`` (rare),
    the kernel stops there, leaving for each of the ``n`` rows at that step (the tile's 4,
    or 1) its packed pre-activations ``z_t`` in ``stash[r, :4U]`` and its carry ``c_tm1`` in
    ``stash[r, 4U:]``, and returns ``(b * T + t) * 4 + n - 1`` for the first of those rows
    ``b`` (else -1); the caller then finishes the rows with :func:`_forward_rows_ts_exact`,
    compiled only then.
    """
    _, timesteps, units = h.shape
    packed = 4 * units
    padded = _padded(units)
    wide = _TILE * padded
    kernel_p, recurrent_p, bias_p = _padded_weights(kernel, recurrent_kernel, bias, padded,
                                                    project)
    input_dim = xs.shape[2]
    xf, zf = xs.reshape(xs.size), z_in.reshape(z_in.size)  # flat: rows by offsets, no views
    hf, zf_kept, cf = h.reshape(h.size), z.reshape(z.size), c.reshape(c.size)
    stores = _gate_stores(padded, wide)  # (4P/8,) where each vector of a padded row goes
    # workspaces, allocated once per call
    zp = np.zeros((4, wide), dtype=h.dtype)  # (4, 4P) gate-major pre-activations, 4 rows
    zp_flat = zp.reshape(4 * wide)  # (16P,) the same memory, for the product
    carries = np.zeros((3, wide), dtype=h.dtype)  # (3, 4P) carry, next carry, output
    b = row_start
    while b + _TILE <= row_stop:  # a tile of rows b .. b + 3
        c_prev, c_next, h_next = carries[0], carries[1], carries[2]  # 3 x (4P,)
        for r in range(_TILE):
            _copy(c0[b + r], c_prev[r * padded : r * padded + units])
            _copy(h0[b + r], h_next[r * padded : r * padded + units])  # h_tm1 of step 0
        for t in range(timesteps):
            _preactivations_tile(
                xf, (b * timesteps + t) * input_dim, timesteps * input_dim, input_dim, kernel_p,
                project, zf, ((b - row_start) * timesteps + t) * wide, timesteps * wide, h_next,
                recurrent_p, bias_p, units, padded, stores, zp_flat)
            if not _fused_forward(zp, c_prev, c_next, h_next):
                for r in range(_TILE):
                    _pack_gates_at(zp, r * padded, stash[r, :packed])
                    _copy(c_prev[r * padded : r * padded + units], stash[r, packed:])
                return (b * timesteps + t) * _TILE + _TILE - 1
            for r in range(_TILE):  # (flat copies: a view per row would cost more)
                at, row_t = r * padded, (b + r) * timesteps + t
                if keep:
                    _pack_gates_flat(zp_flat, wide, at, zf_kept, row_t * packed, units)
                    _copy_flat(c_next, at, cf, row_t * units, units)
                _copy_flat(h_next, at, hf, row_t * units, units)
            c_prev, c_next = c_next, c_prev
        for r in range(_TILE):
            _copy(c_prev[r * padded : r * padded + units], c_last[b + r])
        b += _TILE
    return -1


@jit_kernel
def _padded_weights(kernel, recurrent_kernel, bias, padded, project):
    """The weights in the padded gate layout of ``products.py``, flat: ``kernel_p (D * 4P,)``
    (empty with ``project``: the caller's projection holds ``x @ kernel``), ``recurrent_p
    (U * 4P,)``, ``bias_p (4P,)``."""
    kernel_p = _pad_gate_columns(kernel[:0] if project else kernel, padded)  # (4D, P)
    recurrent_p = _pad_gate_columns(recurrent_kernel, padded)  # (4U, P)
    bias_p = _pad_gate_columns(bias.reshape(1, bias.shape[0]), padded)  # (4, P)
    return (kernel_p.reshape(kernel_p.size), recurrent_p.reshape(recurrent_p.size),
            bias_p.reshape(bias_p.size))


@jit_kernel
def _row_step_fast(xf, kernel_f, bias, recurrent_f, project, zf, b, row_start, t, timesteps,
                   input_dim, units, padded, h_next, zp_one, zp_flat, c_prev, c_next):
    """Row ``b``'s step ``t`` as :func:`_forward_rows_ts` computes it for a row of a tile: the
    pre-activations (:func:`_preactivations_row` on the flat packed weights, from the flat
    inputs ``xf`` or the projection ``zf`` of rows ``row_start:``) into ``zp_one (4, P)``
    (``zp_flat`` its memory), then the fused gates; returns whether the carry stayed in the
    fast range."""
    _preactivations_row(xf, (b * timesteps + t) * input_dim, input_dim, kernel_f, project, zf,
                        ((b - row_start) * timesteps + t) * 4 * padded, h_next, recurrent_f,
                        bias, units, padded, zp_flat)
    return _fused_forward(zp_one, c_prev, c_next, h_next)


@jit_kernel
def _forward_row_ts(xs, kernel, bias, recurrent_kernel, h0, c0, keep, project, z_in, z, c, h,
                    c_last, row_start, row_stop, stash):
    """:func:`_forward_rows_ts` one row at a time (the rows that do not fill a tile; a
    streamed batch of one), with the same operations for each row, so its results do not
    depend on which kernel ran it. Same arguments, stop and return value."""
    _, timesteps, units = h.shape
    packed = 4 * units
    padded = _padded(units)
    kernel_f = kernel.reshape(kernel.size)  # (D * 4U,) packed, flat
    recurrent_f = recurrent_kernel.reshape(recurrent_kernel.size)  # (U * 4U,)
    input_dim = xs.shape[2]
    xf, zf = xs.reshape(xs.size), z_in.reshape(z_in.size)  # flat: rows by offsets, no views
    hf, zf_kept, cf = h.reshape(h.size), z.reshape(z.size), c.reshape(c.size)
    # workspaces, allocated once per call
    zp_one = np.zeros((4, padded), dtype=h.dtype)  # (4, P) padded gate pre-activations
    zp_flat = zp_one.reshape(4 * padded)  # (4P,) the same memory, for the product
    carries_one = np.zeros((3, padded), dtype=h.dtype)  # (3, P) carry, next carry, output
    b = row_start
    while b < row_stop:
        c_prev, c_next, h_next = carries_one[0], carries_one[1], carries_one[2]  # 3 x (P,)
        _copy(c0[b], c_prev)
        _copy(h0[b], h_next)  # h_tm1 of step 0
        for t in range(timesteps):
            if not _row_step_fast(xf, kernel_f, bias, recurrent_f, project, zf, b, row_start, t,
                                  timesteps, input_dim, units, padded, h_next, zp_one, zp_flat,
                                  c_prev, c_next):
                _pack_gates(zp_one, stash[0, :packed])
                _copy(c_prev[:units], stash[0, packed:])
                return (b * timesteps + t) * _TILE
            row_t = b * timesteps + t
            if keep:
                _pack_gates_flat(zp_flat, padded, 0, zf_kept, row_t * packed, units)
                _copy_flat(c_next, 0, cf, row_t * units, units)
            _copy_flat(h_next, 0, hf, row_t * units, units)
            c_prev, c_next = c_next, c_prev
        _copy(c_prev[:units], c_last[b])
        b += 1
    return -1


@jit_kernel
def _stream_step_ts(x, kernel, bias, recurrent_kernel, h0, c0):
    """A streamed step (``lstm.py``'s fast path of ``lstm_inference``: fewer rows than a
    tile, a few timesteps, small units, the default pair): :func:`_forward_row_ts` on every
    row, forming ``x_t @ kernel`` itself, with its outputs allocated here, so a step is one
    compiled call of six arguments (each argument of a call costs the dispatcher ~70 ns,
    and NumPy's ``empty`` ~0.4 us per array). Returns ``(h (B, T, U), h_last (B, U),
    c_last (B, U), done)``; ``done`` is False when a carry left the fast range, and the
    caller then runs the whole step again on the general path (the outputs are fresh and
    the inputs untouched, so the rerun gives what one call of it would)."""
    batch, timesteps, _ = x.shape
    units = recurrent_kernel.shape[0]
    h = np.empty((batch, timesteps, units), dtype=x.dtype)  # (B, T, U)
    c_last = np.empty((batch, units), dtype=x.dtype)  # (B, U)
    unused = np.empty((0, 0, 0), dtype=x.dtype)  # z_in, z and c: not projected, not kept
    stash = np.empty((_TILE, 5 * units), dtype=x.dtype)  # (4, 5U) where it stopped
    stopped = _forward_row_ts(x, kernel, bias, recurrent_kernel, h0, c0, False, False, unused,
                              unused, unused, h, c_last, 0, batch, stash)
    h_last = np.empty((batch, units), dtype=x.dtype)  # (B, U) a copy: h stays the caller's
    for b in range(batch):
        _copy(h[b, timesteps - 1], h_last[b])
    return h, h_last, c_last, stopped < 0


@jit_kernel
def _forward_rows_ts_exact(xs, kernel, bias, recurrent_kernel, h0, c0, keep, project, z_in, z,
                           c, h, c_last, row_start, row_stop, resume_row, resume_t, resumed,
                           stash):
    """:func:`_forward_rows_ts` from where it stopped: rows ``resume_row`` to
    ``resume_row + resumed`` from step ``resume_t`` (with ``stash`` as it left it), then
    the rest of the rows to ``row_stop``, one by one: each step the fused loop, recomputed
    by :func:`_cell_forward_exact_ts` when the carry leaves the fast range. (A row's
    operations are those of the fast kernel, so the rows it finished are unaffected.)"""
    _, timesteps, units = h.shape
    packed = 4 * units
    padded = _padded(units)
    kernel_f = kernel.reshape(kernel.size)  # (D * 4U,) packed, flat
    recurrent_f = recurrent_kernel.reshape(recurrent_kernel.size)  # (U * 4U,)
    input_dim = xs.shape[2]
    xf, zf = xs.reshape(xs.size), z_in.reshape(z_in.size)  # flat: rows by offsets, no views
    # workspaces, allocated once per call
    gates = np.empty(packed, dtype=h.dtype)  # (4U,)
    act_c = np.empty(units, dtype=h.dtype)  # (U,)
    z_work = np.empty(packed, dtype=h.dtype)  # (4U,) z_t when it is not kept
    c_work = np.empty(units, dtype=h.dtype)  # (U,) c_t when it is not kept
    zp = np.zeros((4, padded), dtype=h.dtype)  # (4, P) padded gate pre-activations
    zp_flat = zp.reshape(4 * padded)  # (4P,) the same memory, for the product
    carries = np.zeros((3, padded), dtype=h.dtype)  # (3, P) carry, next carry, next output
    c_prev, c_next, h_next = carries[0], carries[1], carries[2]  # 3 x (P,)
    for b in range(resume_row, row_stop):
        stashed = b < resume_row + resumed
        first = resume_t if stashed else 0
        _copy(stash[b - resume_row, packed:] if stashed else c0[b], c_prev)
        _copy(h[b, first - 1] if first > 0 else h0[b], h_next)  # h_tm1 of step `first`
        for t in range(first, timesteps):
            c_row = c[b, t] if keep else c_work  # (U,)
            z_row = z[b, t] if keep else z_work  # (4U,)
            if stashed and t == first:  # z_t, formed before the stop
                _copy(stash[b - resume_row, :packed], z_row)
                _unpack_gates(z_row, zp)
                fast = _fused_forward(zp, c_prev, c_next, h_next)
            else:
                fast = _row_step_fast(xf, kernel_f, bias, recurrent_f, project, zf, b,
                                      row_start, t, timesteps, input_dim, units, padded, h_next,
                                      zp, zp_flat, c_prev, c_next)
                _pack_gates(zp, z_row)
            if fast:
                _copy(c_next[:units], c_row)
                _copy(h_next[:units], h[b, t])
                c_prev, c_next = c_next, c_prev
            else:
                _cell_forward_exact_ts(z_row, c_prev[:units], c_row, h[b, t], gates, act_c)
                _copy(c_row, c_prev)
                _copy(h[b, t], h_next)
        _copy(c_prev[:units], c_last[b])


@jit_kernel
def _forward_rows(xs, kernel, bias, recurrent_kernel, h0, c0, act, ract, keep, project, z_in, z,
                  c, h, c_last, row_start, row_stop):
    """:func:`_forward_rows_ts` for any activation codes ``act`` (φ) and ``ract`` (σ): the
    same row loop around :func:`_cell_forward`. Compiled only when a layer uses another
    activation than tanh / sigmoid, so the default pair never compiles the others."""
    _, timesteps, units = h.shape
    packed = 4 * units
    # workspaces, allocated once per call
    gates = np.empty(packed, dtype=h.dtype)  # (4U,)
    act_c = np.empty(units, dtype=h.dtype)  # (U,)
    z_work = np.empty(packed, dtype=h.dtype)  # (4U,) z_t when it is not kept
    c_work = np.empty(units, dtype=h.dtype)  # (U,) c_t when it is not kept
    c_prev = np.empty(units, dtype=h.dtype)  # (U,) carry
    for b in range(row_start, row_stop):
        _copy(c0[b], c_prev)
        for t in range(timesteps):
            h_tm1 = h[b, t - 1] if t > 0 else h0[b]  # (U,)
            c_row = c[b, t] if keep else c_work  # (U,)
            if project:
                z_row = z_in[b - row_start, t]  # (4U,) holds x_t @ kernel
            else:
                z_row = z[b, t] if keep else z_work  # (4U,)
            _step_inputs(xs[b, t], kernel, h_tm1, recurrent_kernel, bias, project, z_row)
            _cell_forward(z_row, c_prev, c_row, h[b, t], act, ract, gates, act_c)
            _copy(c_row, c_prev)
        _copy(c_prev, c_last[b])


@jit_kernel
def _gates_forward_step_ts(z, hr, bias, t, c_tm1, h_tm1, c, h, keep, gates, act_c, c_work):
    """Large units, φ = tanh and σ = sigmoid, timestep ``t`` for a block of rows, after the
    caller's BLAS product ``hr = h_tm1 @ recurrent_kernel (R, 4U)``: completes
    ``z[:, t] (R, 4U)`` (holding ``x_t @ kernel``) in the reference's order
    ``(x @ kernel + h @ R) + bias``, runs the cells and writes ``h[:, t]`` (and ``c[:, t]``
    when ``keep``); the block's carry ``c_tm1`` and output ``h_tm1 (R, U)`` move on to step
    t. ``gates (4U,)``, ``act_c``, ``c_work (U,)`` are workspaces."""
    rows, packed = hr.shape
    for r in range(rows):
        z_row = z[r, t]  # (4U,)
        for j in range(packed):
            z_row[j] = (z_row[j] + hr[r, j]) + bias[j]
        c_row = c[r, t] if keep else c_work  # (U,)
        _cell_forward_ts(z_row, c_tm1[r], c_row, h[r, t], gates, act_c)
        h_tm1[r] = h[r, t]
        c_tm1[r] = c_row


@jit_kernel
def _gates_forward_step(z, hr, bias, t, c_tm1, h_tm1, c, h, act, ract, keep, gates, act_c,
                        c_work):
    """:func:`_gates_forward_step_ts` for any activation codes ``act``, ``ract``."""
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
def _step_dh(dh_next_row, dh_seq, use_dh_seq, b, t, dh):
    """dL/dh_t of row ``b`` into ``dh[:U]``: from step t+1 (``dh_next_row (U,)``) and, with
    ``use_dh_seq``, from the sequence output."""
    units = dh_next_row.shape[0]
    if use_dh_seq:
        for j in range(units):
            dh[j] = dh_next_row[j] + dh_seq[b, t, j]
    else:
        _copy(dh_next_row, dh)


@jit_kernel
def _step_dh_flat(dh_next_f, dh_seq_f, use_dh_seq, b, t, timesteps, units, dh, at):
    """:func:`_step_dh` on flat arrays (``dh_next_f (B * U,)``, ``dh_seq_f (B * T * U,)``)
    into the padded ``dh[at : at + U]``, without views."""
    if use_dh_seq:
        seq_at = (b * timesteps + t) * units
        for j in range(units):
            dh[at + j] = dh_next_f[b * units + j] + dh_seq_f[seq_at + j]
    else:
        _copy_flat(dh_next_f, b * units, dh, at, units)


@jit_kernel
def _backward_rows_ts(z, c, c0, recurrent_kernel_t, dh_seq, use_dh_seq, dh_next, dc_next, dz,
                      row_start, row_stop, stash):
    """Small units, φ = tanh and σ = sigmoid: backward for batch rows
    ``row_start:row_stop``: fills ``dz (B, T, 4U)``; ``dh_next, dc_next (B, U)`` go from
    dL/dh_last, dL/dc_last to dL/dh0, dL/dc0. ``recurrent_kernel_t (4U, C)`` is
    ``recurrent_kernel.T`` with zero columns up to whole blocks of 32 (``products.py``).

    As forward, the rows go in tiles of :data:`_TILE` = 4 (the rest one by one, with the
    same code on 1-row workspaces): the tile's gates are one fused loop over its four
    padded rows side by side, and ``dz_t @ recurrent_kernel.T`` is a register-blocked
    micro-kernel (:func:`_dh_tile`, each weight loaded once for the tile, reading ``dz_t``
    from the fused loop's padded output); every row is computed as it would be alone. Rows
    are read and written through flat offsets, not views.

    Nothing else is compiled in: when an argument of a step lies outside the fast range
    (rare), the kernel stops before that step, leaving each of its ``n`` rows' dL/dc_t in
    ``stash[r, :U]`` (their dL/dh_t from step t+1 is in ``dh_next``), and returns
    ``(b * T + t) * 4 + n - 1`` for the first of those rows ``b`` (else -1); the caller
    then finishes the rows with :func:`_backward_rows_ts_exact`, compiled only then."""
    _, timesteps, packed = z.shape
    units = packed // 4
    padded = _padded(units)
    wide = _TILE * padded
    columns = recurrent_kernel_t.shape[1]
    rt = recurrent_kernel_t.reshape(recurrent_kernel_t.size)  # (4U * C,)
    zf, cf, dzf = z.reshape(z.size), c.reshape(c.size), dz.reshape(dz.size)  # flat
    c0f = c0.reshape(c0.size)
    dh_next_f, dc_next_f = dh_next.reshape(dh_next.size), dc_next.reshape(dc_next.size)
    dh_seq_f = dh_seq.reshape(dh_seq.size)
    # workspaces, allocated once per call
    zp = np.zeros((4, wide), dtype=z.dtype)  # (4, 4P) padded pre-activations, 4 rows
    dzp = np.zeros((4, wide), dtype=z.dtype)  # (4, 4P) their gradients
    zp_flat, dzp_flat = zp.reshape(4 * wide), dzp.reshape(4 * wide)  # the same memory
    rows_work = np.zeros((5, wide), dtype=z.dtype)  # (5, 4P) the padded row vectors below
    dh_tm1 = np.zeros(_TILE * columns, dtype=z.dtype)  # (4C,) dL/dh_tm1, row r at r * C
    b = row_start
    while b < row_stop:
        n = _TILE if b + _TILE <= row_stop else 1  # a tile of 4 rows, or one row
        span = n * padded  # the workspaces' first n rows
        c_t, c_tm1 = rows_work[0, :span], rows_work[1, :span]  # (nP,) carries
        dh = rows_work[2, :span]  # (nP,) dL/dh_t
        dc, dc_prev = rows_work[3, :span], rows_work[4, :span]  # (nP,) dL/dc_t, dL/dc_tm1
        for r in range(n):
            _copy_flat(dc_next_f, (b + r) * units, dc, r * padded, units)
        for t in range(timesteps - 1, -1, -1):
            for r in range(n):
                at, row_t = r * padded, (b + r) * timesteps + t
                _step_dh_flat(dh_next_f, dh_seq_f, use_dh_seq, b + r, t, timesteps, units, dh,
                              at)
                _unpack_gates_flat(zf, row_t * packed, zp_flat, wide, at, units)
                _copy_flat(cf, row_t * units, c_t, at, units)
                if t > 0:
                    _copy_flat(cf, (row_t - 1) * units, c_tm1, at, units)
                else:
                    _copy_flat(c0f, (b + r) * units, c_tm1, at, units)
            if not _fused_backward(zp, c_tm1, c_t, dh, dc, dc_prev, dzp):
                for r in range(n):
                    _copy(dc[r * padded : r * padded + units], stash[r])
                return (b * timesteps + t) * _TILE + n - 1
            for r in range(n):
                _pack_gates_flat(dzp_flat, wide, r * padded, dzf,
                                 ((b + r) * timesteps + t) * packed, units)
            dc, dc_prev = dc_prev, dc
            # backprop into h_tm1 through z_t = ... + h_tm1 @ recurrent_kernel
            if n == _TILE:
                _dh_tile(dzp_flat, wide, units, padded, rt, columns, dh_tm1)
            else:
                _dh_row(dzp_flat, wide, units, rt, columns, dh_tm1)
            for r in range(n):
                _copy_flat(dh_tm1, r * columns, dh_next_f, (b + r) * units, units)
        for r in range(n):
            _copy_flat(dc, r * padded, dc_next_f, (b + r) * units, units)
        b += n
    return -1


@jit_kernel
def _backward_rows_ts_exact(z, c, c0, recurrent_kernel_t, dh_seq, use_dh_seq, dh_next, dc_next,
                            dz, row_start, row_stop, resume_row, resume_t, resumed, stash):
    """:func:`_backward_rows_ts` from where it stopped: rows ``resume_row`` to
    ``resume_row + resumed`` from step ``resume_t`` down (their dL/dc_t in ``stash``), then
    the rest of the rows to ``row_stop``, one by one: each step the fused loop, recomputed
    by :func:`_cell_backward_exact_ts` when an argument is outside the fast range. (A
    row's operations are those of the fast kernel, so the rows it finished are
    unaffected.)"""
    _, timesteps, packed = z.shape
    units = packed // 4
    padded = _padded(units)
    columns = recurrent_kernel_t.shape[1]
    rt = recurrent_kernel_t.reshape(recurrent_kernel_t.size)  # (4U * C,)
    # workspaces, allocated once per call
    gates = np.empty(packed, dtype=z.dtype)  # (4U,) workspaces
    dgates = np.empty(packed, dtype=z.dtype)
    act_c = np.empty(units, dtype=z.dtype)  # (U,) workspaces
    dact_c = np.empty(units, dtype=z.dtype)
    zp = np.zeros((4, padded), dtype=z.dtype)  # (4, P) padded pre-activations
    dzp = np.zeros((4, padded), dtype=z.dtype)  # (4, P) their gradients
    dzp_flat = dzp.reshape(4 * padded)  # the same memory
    rows_work = np.zeros((5, padded), dtype=z.dtype)  # (5, P) the padded row vectors below
    c_t, c_tm1 = rows_work[0], rows_work[1]  # (P,) carries
    dh = rows_work[2]  # (P,) dL/dh_t
    dc, dc_prev = rows_work[3], rows_work[4]  # (P,) dL/dc_t, dL/dc_tm1
    dh_tm1 = np.zeros(columns, dtype=z.dtype)  # (C,) dL/dh_tm1
    for b in range(resume_row, row_stop):
        stashed = b < resume_row + resumed
        _copy(stash[b - resume_row] if stashed else dc_next[b], dc[:units])
        for t in range(resume_t if stashed else timesteps - 1, -1, -1):
            c_tm1_row = c[b, t - 1] if t > 0 else c0[b]  # (U,)
            _step_dh(dh_next[b], dh_seq, use_dh_seq, b, t, dh)
            dz_row = dz[b, t]  # (4U,)
            _unpack_gates(z[b, t], zp)
            _copy(c[b, t], c_t)
            _copy(c_tm1_row, c_tm1)
            if _fused_backward(zp, c_tm1, c_t, dh, dc, dc_prev, dzp):
                _pack_gates(dzp, dz_row)
                dc, dc_prev = dc_prev, dc
            else:
                _cell_backward_exact_ts(z[b, t], c_tm1_row, c[b, t], dh[:units], dc[:units],
                                        dz_row, gates, dgates, act_c, dact_c)
                _unpack_gates(dz_row, dzp)  # the product reads the padded layout
            # backprop into h_tm1 through z_t = ... + h_tm1 @ recurrent_kernel
            _dh_row(dzp_flat, padded, units, rt, columns, dh_tm1)
            _copy(dh_tm1[:units], dh_next[b])
        _copy(dc[:units], dc_next[b])


@jit_kernel
def _backward_rows(z, c, c0, recurrent_kernel_t, dh_seq, use_dh_seq, dh_next, dc_next, act,
                   ract, dz, row_start, row_stop):
    """:func:`_backward_rows_ts` for any activation codes ``act``, ``ract``."""
    _, timesteps, packed = z.shape
    units = packed // 4
    padded = recurrent_kernel_t.shape[1]
    # workspaces, allocated once per call
    gates = np.empty(packed, dtype=z.dtype)  # (4U,) workspaces
    dgates = np.empty(packed, dtype=z.dtype)
    act_c = np.empty(units, dtype=z.dtype)  # (U,) workspaces
    dact_c = np.empty(units, dtype=z.dtype)
    dh = np.zeros(units, dtype=z.dtype)  # (U,) dL/dh_t
    dh_tm1 = np.zeros(padded, dtype=z.dtype)  # (P,) dL/dh_tm1
    for b in range(row_start, row_stop):
        dc = dc_next[b]  # (U,) dL/dc_t, in place
        for t in range(timesteps - 1, -1, -1):
            c_tm1_row = c[b, t - 1] if t > 0 else c0[b]  # (U,)
            _step_dh(dh_next[b], dh_seq, use_dh_seq, b, t, dh)
            dz_row = dz[b, t]  # (4U,)
            _cell_backward(z[b, t], c_tm1_row, c[b, t], dh, dc, dz_row, act, ract, gates,
                           dgates, act_c, dact_c)
            # backprop into h_tm1 through z_t = ... + h_tm1 @ recurrent_kernel
            for j in range(padded):
                dh_tm1[j] = 0
            _add_vector_matrix(dz_row, recurrent_kernel_t, dh_tm1)
            _copy(dh_tm1[:units], dh_next[b])


@jit_kernel
def _gates_backward_step_ts(z, c, c0, dh_seq, use_dh_seq, dh_next, dc_next, dz, t, dz_t, work):
    """Large units, φ = tanh and σ = sigmoid, timestep ``t`` of backward for a block of
    rows: fills ``dz[:, t]`` and its contiguous copy ``dz_t (R, 4U)``; the caller then forms
    ``dz_t @ recurrent_kernel.T`` with BLAS. ``work (3, 4U)`` is workspace."""
    rows, _, packed = z.shape
    units = packed // 4
    gates, dgates = work[0], work[1]  # (4U,) each
    act_c, dact_c = work[2, :units], work[2, units : 2 * units]  # (U,) each
    dh = work[2, 2 * units : 3 * units]  # (U,) dL/dh_t of one row
    for b in range(rows):
        c_tm1 = c[b, t - 1] if t > 0 else c0[b]  # (U,)
        _step_dh(dh_next[b], dh_seq, use_dh_seq, b, t, dh)
        dz_row = dz[b, t]  # (4U,)
        _cell_backward_ts(z[b, t], c_tm1, c[b, t], dh, dc_next[b], dz_row, gates, dgates,
                          act_c, dact_c)
        _copy(dz_row, dz_t[b])


@jit_kernel
def _gates_backward_step(z, c, c0, dh_seq, use_dh_seq, dh_next, dc_next, act, ract, dz, t, dz_t,
                         work):
    """:func:`_gates_backward_step_ts` for any activation codes ``act``, ``ract``."""
    rows, _, packed = z.shape
    units = packed // 4
    gates, dgates = work[0], work[1]  # (4U,) each
    act_c, dact_c = work[2, :units], work[2, units : 2 * units]  # (U,) each
    dh = work[2, 2 * units : 3 * units]  # (U,) dL/dh_t of one row
    for b in range(rows):
        c_tm1 = c[b, t - 1] if t > 0 else c0[b]  # (U,)
        _step_dh(dh_next[b], dh_seq, use_dh_seq, b, t, dh)
        dz_row = dz[b, t]  # (4U,)
        _cell_backward(z[b, t], c_tm1, c[b, t], dh, dc_next[b], dz_row, act, ract, gates,
                       dgates, act_c, dact_c)
        _copy(dz_row, dz_t[b])
