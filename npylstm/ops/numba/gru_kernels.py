"""The GRU's compiled kernels: whole sequences of batch rows, forward and backward.

The equations are the GRU cell's (``npylstm/cells/gru.py``, Keras's ``GRUCell.call``),
both conventions; ``gru.py`` describes the orchestration (the input projection before the
loop, the weight gradients after it). Numba cannot call :func:`npylstm.gates.split_gates`,
so the kernels address the three gate blocks of a packed row by their offsets ``0, U, 2U``
(z, r, h), the same split. The recurrent kernel comes split in two contiguous parts,
``recurrent_kernel[:, :2U]`` (z and r) and ``recurrent_kernel[:, 2U:]`` (the candidate),
so both conventions run the same two written-out products per step: ``h_tm1 @ R_zr`` and
``h_tm1 @ R_h`` (``reset_after=True``) or ``(r * h_tm1) @ R_h`` (``reset_after=False``).

Numba's cache checks only this file's modification time and size, but these kernels have
the helpers of ``activations.py`` and ``lstm_kernels.py`` and the options of ``_jit.py``
compiled into them: :data:`HELPERS_SOURCE_SHA256` records the SHA-256 of each, and
``tests/test_numba_cache.py`` fails when one differs (see the package docstring).
"""

from __future__ import annotations

import numpy as np
from numba import prange

from ._jit import jit_kernel
from .activations import _activate_block, _derivative_block, _like
from .lstm_kernels import _add_vector_matrix, _copy

__all__ = [
    "HELPERS_SOURCE_SHA256",
    "_forward_rows", "_forward_rows_parallel", "_backward_rows", "_backward_rows_parallel",
]

#: SHA-256 of what this module's kernels compile in from other ``npylstm`` files (paths
#: relative to the package). Numba's cache checks only this file: when one of these
#: changes, ``tests/test_numba_cache.py`` prints the new digest to paste here, and that edit
#: makes Numba recompile this module's kernels.
HELPERS_SOURCE_SHA256: dict[str, str] = {
    "ops/numba/_jit.py": "5edc77b651ae5b21a1056d5e822da93c4779249c7c535fe8a54cf64bbfb2ead4",
    "ops/numba/activations.py": "4828570e39b59fe10621c00683c4a8065581f44807e750b15552634e29290972",
    "ops/numba/lstm_kernels.py": "f860fff0e3790c1b4474b4885c6a8bb685e6930977e70a6b71bea0b1cf8b4e42",
}


@jit_kernel
def _forward_rows(a, recurrent_kernel_zr, recurrent_kernel_h, b_r, h0, act, ract, reset_after,
                  keep, r_h, h, row_start, row_stop):
    """Batch rows ``row_start:row_stop``, each through all timesteps on its own.

    ``a (B, T, 3U)`` holds ``x_t @ kernel + b_x`` for every step (processing order) on
    entry and the pre-activations ``[a_z, a_r, a_h]`` on return. Writes ``h (B, T, U)``
    and, with ``keep``, ``r_h (B, T, U)`` (the candidate's recurrent part, for backward;
    without it a per-row workspace takes it and ``r_h`` is not touched). ``b_r (3U,)`` is
    the recurrent bias (zeros without one; unused without ``reset_after``). Rows are
    independent, so disjoint row ranges may run in parallel threads (the kernel releases
    the GIL); no BLAS call inside.
    """
    _, timesteps, units = h.shape
    # workspaces, allocated once per call
    gates = np.empty(3 * units, dtype=h.dtype)  # (3U,) z, r, hh
    r_zr = np.empty(2 * units, dtype=h.dtype)  # (2U,) h_tm1 @ R_zr (+ b_r)
    r_h_work = np.empty(units, dtype=h.dtype)  # (U,) r_h when it is not kept
    u = np.empty(units, dtype=h.dtype)  # (U,) r * h_tm1 (reset_after=False)
    for b in range(row_start, row_stop):
        for t in range(timesteps):
            h_tm1 = h[b, t - 1] if t > 0 else h0[b]  # (U,)
            a_row = a[b, t]  # (3U,) x_t @ kernel + b_x
            r_h_row = r_h[b, t] if keep else r_h_work  # (U,)
            # z and r: a_z, a_r = x_z + r_z, x_r + r_r with r_z, r_r = h_tm1 @ R_zr (+ b_r)
            r_zr[:] = 0
            _add_vector_matrix(h_tm1, recurrent_kernel_zr, r_zr)
            if reset_after:
                for j in range(2 * units):
                    r_zr[j] += b_r[j]
            for j in range(2 * units):
                a_row[j] += r_zr[j]
            _activate_block(ract, a_row[units : 2 * units], gates[units : 2 * units])  # r
            # the candidate's pre-activation a_h = x_h + ...
            r_h_row[:] = 0
            if reset_after:  # ... r * (h_tm1 @ R_h + b_r_h): reset after the product
                _add_vector_matrix(h_tm1, recurrent_kernel_h, r_h_row)
                for j in range(units):
                    r_h_row[j] += b_r[2 * units + j]
                    a_row[2 * units + j] += gates[units + j] * r_h_row[j]
            else:  # ... (r * h_tm1) @ R_h: reset before the product
                for j in range(units):
                    u[j] = gates[units + j] * h_tm1[j]
                _add_vector_matrix(u, recurrent_kernel_h, r_h_row)
                for j in range(units):
                    a_row[2 * units + j] += r_h_row[j]
            _activate_block(ract, a_row[:units], gates[:units])  # z
            _activate_block(act, a_row[2 * units :], gates[2 * units :])  # hh
            h_t = h[b, t]  # (U,)
            for j in range(units):
                z = gates[j]
                h_t[j] = z * h_tm1[j] + (_like(z, 1.0) - z) * gates[2 * units + j]


@jit_kernel(parallel=True)
def _forward_rows_parallel(a, recurrent_kernel_zr, recurrent_kernel_h, b_r, h0, act, ract,
                           reset_after, keep, r_h, h, bounds):
    """:func:`_forward_rows` on the row ranges ``bounds[p]:bounds[p + 1]``, one per thread."""
    for p in prange(bounds.shape[0] - 1):
        _forward_rows(a, recurrent_kernel_zr, recurrent_kernel_h, b_r, h0, act, ract,
                      reset_after, keep, r_h, h, bounds[p], bounds[p + 1])


@jit_kernel
def _backward_rows(a, r_h, h, h0, recurrent_kernel_t, recurrent_kernel_h_t, act, ract,
                   reset_after, dh_seq, use_dh_seq, dh_next, dxz, drz, u_h, row_start,
                   row_stop):
    """Backward for batch rows ``row_start:row_stop``, row by row, last step first.

    From the forward's ``a (B, T, 3U)``, ``r_h``, ``h (B, T, U)`` and ``h0 (B, U)``; writes
    ``dxz (B, T, 3U)``, the gradient of ``x_t @ kernel + b_x``, and with ``reset_after``
    ``drz (B, T, 3U)``, that of ``h_tm1 @ recurrent_kernel + b_r``; without it, each step's
    ``r * h_tm1`` into ``u_h (B, T, U)`` (what the candidate's product multiplied).
    ``recurrent_kernel_t`` is ``recurrent_kernel.T (3U, U)`` with ``reset_after``, else
    ``recurrent_kernel[:, :2U].T (2U, U)``; ``recurrent_kernel_h_t`` is
    ``recurrent_kernel[:, 2U:].T (U, U)``. ``dh_next (B, U)`` holds dL/dh_T on entry and
    dL/dh0 on return; ``dh_seq (B, T, U)`` is added at each step when ``use_dh_seq``.
    """
    _, timesteps, units = h.shape
    # workspaces, allocated once per call
    gates = np.empty(3 * units, dtype=h.dtype)  # (3U,) z, r, hh
    dgates = np.empty(3 * units, dtype=h.dtype)  # (3U,) their derivatives
    dh = np.empty(units, dtype=h.dtype)  # (U,) dL/dh_t
    dh_tm1 = np.empty(units, dtype=h.dtype)  # (U,) dL/dh_tm1
    du = np.empty(units, dtype=h.dtype)  # (U,) dL/d(r * h_tm1) (reset_after=False)
    for b in range(row_start, row_stop):
        for t in range(timesteps - 1, -1, -1):
            h_tm1 = h[b, t - 1] if t > 0 else h0[b]  # (U,)
            # backprop into h_t: from the sequence output and from step t+1
            if use_dh_seq:
                for j in range(units):
                    dh[j] = dh_next[b, j] + dh_seq[b, t, j]
            else:
                _copy(dh_next[b], dh)
            # forward of this step again, from the stored pre-activations
            a_row = a[b, t]  # (3U,)
            r_h_row = r_h[b, t]  # (U,)
            _activate_block(ract, a_row[: 2 * units], gates[: 2 * units])  # z, r
            _activate_block(act, a_row[2 * units :], gates[2 * units :])  # hh
            _derivative_block(ract, a_row[: 2 * units], gates[: 2 * units],
                              dgates[: 2 * units])
            _derivative_block(act, a_row[2 * units :], gates[2 * units :], dgates[2 * units :])
            dxz_row = dxz[b, t]  # (3U,) [da_z, da_r, da_h]
            for j in range(units):
                z = gates[j]
                # backprop into z, hh and h_tm1 through h_t = z * h_tm1 + (1 - z) * hh
                dz = dh[j] * (h_tm1[j] - gates[2 * units + j])
                dhh = dh[j] * (_like(z, 1.0) - z)
                dh_tm1[j] = dh[j] * z
                dxz_row[j] = dz * dgates[j]  # da_z
                dxz_row[2 * units + j] = dhh * dgates[2 * units + j]  # da_h
            if reset_after:
                # a_h = x_h + r * r_h: into r and the candidate's recurrent product
                drz_row = drz[b, t]  # (3U,) [da_z, da_r, dr_h]
                for j in range(units):
                    da_h = dxz_row[2 * units + j]
                    da_r = (da_h * r_h_row[j]) * dgates[units + j]
                    dxz_row[units + j] = da_r
                    drz_row[j] = dxz_row[j]
                    drz_row[units + j] = da_r
                    drz_row[2 * units + j] = da_h * gates[units + j]
                # backprop into h_tm1 through h_tm1 @ recurrent_kernel
                _add_vector_matrix(drz_row, recurrent_kernel_t, dh_tm1)
            else:
                # a_h = x_h + (r * h_tm1) @ R_h: into r and h_tm1 through the product
                du[:] = 0
                _add_vector_matrix(dxz_row[2 * units :], recurrent_kernel_h_t, du)
                u_row = u_h[b, t]  # (U,)
                for j in range(units):
                    r = gates[units + j]
                    dxz_row[units + j] = (du[j] * h_tm1[j]) * dgates[units + j]  # da_r
                    dh_tm1[j] += du[j] * r
                    u_row[j] = r * h_tm1[j]
                # backprop into h_tm1 through the z and r products h_tm1 @ R_zr
                _add_vector_matrix(dxz_row[: 2 * units], recurrent_kernel_t, dh_tm1)
            _copy(dh_tm1, dh_next[b])


@jit_kernel(parallel=True)
def _backward_rows_parallel(a, r_h, h, h0, recurrent_kernel_t, recurrent_kernel_h_t, act, ract,
                            reset_after, dh_seq, use_dh_seq, dh_next, dxz, drz, u_h, bounds):
    """:func:`_backward_rows` on the row ranges ``bounds[p]:bounds[p + 1]``, one per thread."""
    for p in prange(bounds.shape[0] - 1):
        _backward_rows(a, r_h, h, h0, recurrent_kernel_t, recurrent_kernel_h_t, act, ract,
                       reset_after, dh_seq, use_dh_seq, dh_next, dxz, drz, u_h, bounds[p],
                       bounds[p + 1])
