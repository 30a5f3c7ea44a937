"""The GRU's compiled kernels: a block of batch rows through a whole sequence, forward and
backward.

The equations are the GRU cell's (``npylstm/cells/gru.py``, Keras's ``GRUCell.call``),
both conventions; ``gru.py`` describes the orchestration (the input projection before the
loop, the row blocks in threads, the weight gradients after the loop). Numba cannot call
:func:`npylstm.gates.split_gates`, so the kernels address the three gate blocks of a packed
row by their offsets ``0, U, 2U`` (z, r, h), the same split.

Each timestep's recurrent products are one BLAS product for the whole block of rows
(``np.dot`` inside the kernel calls SciPy's BLAS, no GIL and no Python in between), so each
weight is loaded once per step for all the block's rows instead of once per row; the gate
arithmetic then runs row by row, fused into one pass over the units.

Numba's cache checks only this file's modification time and size, but these kernels have
the helpers of ``activations.py`` and the options of ``_jit.py``
compiled into them: :data:`HELPERS_SOURCE_SHA256` records the SHA-256 of each, and
``tests/test_numba_cache.py`` fails when one differs (see the package docstring).
"""

from __future__ import annotations

import numpy as np
from numba import types
from numba.extending import overload

from ._jit import jit_kernel
from .activations import (
    SIGMOID,
    TANH,
    _activate_block,
    _derivative_block,
    _like,
    _sigmoid_block,
    _tanh_block,
)
from .products import _add_rows_matrix, _add_vector_matrix

__all__ = [
    "HELPERS_SOURCE_SHA256",
    "_copy", "_rows_times_matrix", "_product", "_phi", "_sigma", "_dphi", "_dsigma",
    "_forward_rows", "_backward_rows",
]

#: SHA-256 of what this module's kernels compile in from other ``npylstm`` files (paths
#: relative to the package). Numba's cache checks only this file: when one of these
#: changes, ``tests/test_numba_cache.py`` prints the new digest to paste here, and that edit
#: makes Numba recompile this module's kernels.
HELPERS_SOURCE_SHA256: dict[str, str] = {
    "ops/numba/_jit.py": "5edc77b651ae5b21a1056d5e822da93c4779249c7c535fe8a54cf64bbfb2ead4",
    "ops/numba/activations.py": "8b9e6632e044af987e31961c8845a040292aaf12161d0639e70bb5cbaf9ae688",
    "ops/numba/products.py": "87726216133fe47471d5da57123f5ad0f5d957f1b72b0692e1929fde2b73e6a5",
}


@jit_kernel
def _copy(src, dst):
    """``dst[:] = src`` for two vectors (a loop Numba vectorizes; no temporary)."""
    for j in range(src.shape[0]):
        dst[j] = src[j]


#: Weights of more bytes than this do not stay in a core's L2 cache between timesteps, and
#: OpenBLAS repacks them on every call: for fewer rows than :data:`_BLAS_MIN_ROWS` the
#: written-out :func:`_rows_times_matrix` is then faster (measured 1.4-4.6x at 4-16 rows of
#: a (512, 1536) float32 matrix; BLAS wins from 64 rows, and at every size below 1 MB).
_BIG_WEIGHT_BYTES = 1 << 20
_BLAS_MIN_ROWS = 32


@jit_kernel
def _rows_times_matrix(v, m, out):
    """``out = v @ m`` for ``v (R, K)``, ``m (K, N)``: four rows of ``v`` at a time
    (:func:`~npylstm.ops.numba.products._add_rows_matrix`, so each loaded row of ``m``
    serves four rows), the last rows one by one; every row of ``out`` is summed in the same
    order whichever rows it is computed with (groups of four products, in order of k), and
    every product is formed (``0 * inf`` is NaN)."""
    rows = v.shape[0]
    out[:] = 0
    r = 0
    while r + 4 <= rows:
        _add_rows_matrix(v[r], v[r + 1], v[r + 2], v[r + 3], m, out[r], out[r + 1],
                         out[r + 2], out[r + 3])
        r += 4
    while r < rows:  # the last rows one by one, each summed as above
        _add_vector_matrix(v[r], m, out[r])
        r += 1


def _product(v, m, out, big):
    """``out = v @ m`` (``v (R, K)``, ``m (K, N)``, all C-contiguous): one BLAS call, or,
    when ``big`` is not None, :func:`_rows_times_matrix` for a few rows of a big matrix.
    ``big`` is None or True: a compile-time choice, so a kernel for small weights never
    compiles the written-out product."""
    if big is not None and v.shape[0] < _BLAS_MIN_ROWS and m.nbytes > _BIG_WEIGHT_BYTES:
        _rows_times_matrix(v, m, out)
    else:
        np.dot(v, m, out)


@overload(_product)
def _product_overload(v, m, out, big):
    if isinstance(big, types.NoneType):
        return lambda v, m, out, big: np.dot(v, m, out)

    def choose(v, m, out, big):
        if v.shape[0] < _BLAS_MIN_ROWS and m.size * m.itemsize > _BIG_WEIGHT_BYTES:
            _rows_times_matrix(v, m, out)
        else:
            np.dot(v, m, out)

    return choose


# -- the gate activations: tanh and sigmoid compiled alone, any other by its code ---------
#
# A kernel takes ``act`` (φ) and ``ract`` (σ) as activation codes, or None for the default
# pair φ = tanh, σ = sigmoid: a compile-time choice (the argument's type), so the default
# kernels compile the two functions they run and not the code of every activation. The
# results are those of ``_activate_block`` / ``_derivative_block`` for TANH and SIGMOID,
# bit for bit (``_tanh_block`` / ``_sigmoid_block`` are what ``_activate_block`` runs).


def _phi(code, z, out):
    """``out = φ(z)``: tanh for None, else activation ``code``."""
    _activate_block(TANH if code is None else code, z, out)


def _sigma(code, z, out):
    """``out = σ(z)``: sigmoid for None, else activation ``code``."""
    _activate_block(SIGMOID if code is None else code, z, out)


def _dphi(code, z, y, out):
    """``out = φ'(z)`` given ``y = φ(z)``."""
    _derivative_block(TANH if code is None else code, z, y, out)


def _dsigma(code, z, y, out):
    """``out = σ'(z)`` given ``y = σ(z)``."""
    _derivative_block(SIGMOID if code is None else code, z, y, out)


def _tanh_rows(code, z, out):
    _tanh_block(z, out)


def _sigmoid_rows(code, z, out):
    _sigmoid_block(z, out)


def _dtanh_rows(code, z, y, out):
    for j in range(z.shape[0]):
        out[j] = _like(y[j], 1.0) - y[j] * y[j]


def _dsigmoid_rows(code, z, y, out):
    for j in range(z.shape[0]):
        out[j] = y[j] * (_like(y[j], 1.0) - y[j])


def _by_code(code, z, out):
    _activate_block(code, z, out)


def _derivative_by_code(code, z, y, out):
    _derivative_block(code, z, y, out)


def _overload_activation(function, default, general):
    """Register the compile-time choice for ``function(code, z, out)``."""
    def typing(code, z, out):
        return default if isinstance(code, types.NoneType) else general

    overload(function)(typing)


def _overload_derivative(function, default, general):
    """Register the compile-time choice for ``function(code, z, y, out)``."""
    def typing(code, z, y, out):
        return default if isinstance(code, types.NoneType) else general

    overload(function)(typing)


_overload_activation(_phi, _tanh_rows, _by_code)
_overload_activation(_sigma, _sigmoid_rows, _by_code)
_overload_derivative(_dphi, _dtanh_rows, _derivative_by_code)
_overload_derivative(_dsigma, _dsigmoid_rows, _derivative_by_code)


@jit_kernel
def _forward_rows(a, recurrent_kernel_first, recurrent_kernel_h, b_r, h0, act, ract,
                  reset_after, keep, r_h, h, big, row_start, row_stop):
    """Batch rows ``row_start:row_stop`` through all timesteps, as one block.

    ``a (B, T, 3U)`` holds ``x_t @ kernel + b_x`` for every step (processing order) on
    entry and the pre-activations ``[a_z, a_r, a_h]`` on return. Writes ``h (B, T, U)``
    and, with ``keep``, ``r_h (B, T, U)`` (the candidate's recurrent part, for backward;
    without it a per-row workspace takes it and ``r_h`` is not touched). ``b_r (3U,)`` is
    the recurrent bias (zeros without one; unused without ``reset_after``).
    ``recurrent_kernel_first`` is the whole ``recurrent_kernel (U, 3U)`` with
    ``reset_after`` (one product per step), else its z and r part ``(U, 2U)``;
    ``recurrent_kernel_h (U, U)`` is the candidate's part (used without ``reset_after``).
    ``act``, ``ract``: activation codes, or None for tanh and sigmoid; ``big``: None, or
    True when the recurrent kernel may be too big for BLAS (see :func:`_product`).
    Disjoint row ranges may run in parallel threads (the kernel releases the GIL); the
    BLAS products inside run on the calling thread's BLAS setting.
    """
    _, timesteps, units = h.shape
    rows = row_stop - row_start
    if rows <= 0 or timesteps == 0:
        return
    dtype = h.dtype
    # workspaces, allocated once per call
    state = np.empty((rows, units), dtype=dtype)  # (R, U) h_tm1 of the block's rows
    for r in range(rows):
        _copy(h0[row_start + r], state[r])
    hr = np.empty((rows, recurrent_kernel_first.shape[1]), dtype=dtype)  # (R, 3U | 2U)
    other = 0 if reset_after else rows
    u = np.empty((other, units), dtype=dtype)  # (R, U) r * h_tm1 (reset_after=False)
    hr_h = np.empty((other, units), dtype=dtype)  # (R, U) (r * h_tm1) @ R_h
    gates = np.empty(3 * units, dtype=dtype)  # (3U,) z, r, hh of one row
    z_gate = np.empty((rows, units), dtype=dtype)  # (R, U) z of each row, between passes
    r_h_work = np.empty(units, dtype=dtype)  # (U,) r_h when it is not kept
    for t in range(timesteps):
        # the block's recurrent products: h_tm1 @ R (reset_after) or h_tm1 @ R_zr
        _product(state, recurrent_kernel_first, hr, big)
        for r in range(rows):
            b = row_start + r
            a_row = a[b, t]  # (3U,) x_t @ kernel + b_x
            hr_row = hr[r]  # (3U | 2U,)
            # z and r: a_z, a_r = x_z + r_z, x_r + r_r with r_z, r_r = h_tm1 @ R_zr (+ b_r)
            if reset_after:
                for j in range(2 * units):
                    a_row[j] += hr_row[j] + b_r[j]
            else:
                for j in range(2 * units):
                    a_row[j] += hr_row[j]
            _sigma(ract, a_row[: 2 * units], gates[: 2 * units])  # z, r
            _copy(gates[:units], z_gate[r])
            h_tm1 = state[r]  # (U,)
            if reset_after:  # a_h = x_h + r * (h_tm1 @ R_h + b_r_h): reset after the product
                r_h_row = r_h[b, t] if keep else r_h_work  # (U,)
                for j in range(units):
                    r_h_row[j] = hr_row[2 * units + j] + b_r[2 * units + j]
                    a_row[2 * units + j] += gates[units + j] * r_h_row[j]
            else:  # a_h = x_h + (r * h_tm1) @ R_h: reset before the product
                u_row = u[r]  # (U,)
                for j in range(units):
                    u_row[j] = gates[units + j] * h_tm1[j]
        if not reset_after:
            _product(u, recurrent_kernel_h, hr_h, big)  # (R, U) the block's candidate products
            for r in range(rows):
                b = row_start + r
                a_row = a[b, t]  # (3U,)
                r_h_row = r_h[b, t] if keep else r_h_work  # (U,)
                for j in range(units):
                    r_h_row[j] = hr_h[r, j]
                    a_row[2 * units + j] += r_h_row[j]
        # the candidate and the update h_t = z * h_tm1 + (1 - z) * hh, row by row
        for r in range(rows):
            b = row_start + r
            a_row = a[b, t]  # (3U,)
            _phi(act, a_row[2 * units :], gates[2 * units :])  # hh
            h_tm1 = state[r]  # (U,)
            z_row = z_gate[r]  # (U,)
            h_t = h[b, t]  # (U,)
            for j in range(units):
                z = z_row[j]
                v = z * h_tm1[j] + (_like(z, 1.0) - z) * gates[2 * units + j]
                h_t[j] = v
                h_tm1[j] = v  # the block's state moves on to step t


@jit_kernel
def _backward_rows(a, r_h, h, h0, recurrent_kernel_t, recurrent_kernel_h_t, act, ract,
                   reset_after, dh_seq, use_dh_seq, dh_next, dxz, drz, u_h, big, row_start,
                   row_stop):
    """Backward for batch rows ``row_start:row_stop`` as one block, last step first.

    From the forward's ``a (B, T, 3U)``, ``r_h``, ``h (B, T, U)`` and ``h0 (B, U)``; writes
    ``dxz (B, T, 3U)``, the gradient of ``x_t @ kernel + b_x``, and with ``reset_after``
    ``drz (B, T, 3U)``, that of ``h_tm1 @ recurrent_kernel + b_r``; without it, each step's
    ``r * h_tm1`` into ``u_h (B, T, U)`` (what the candidate's product multiplied).
    ``recurrent_kernel_t`` is ``recurrent_kernel.T (3U, U)`` with ``reset_after``, else
    ``recurrent_kernel[:, :2U].T (2U, U)``; ``recurrent_kernel_h_t`` is
    ``recurrent_kernel[:, 2U:].T (U, U)``. ``dh_next (B, U)`` holds dL/dh_T on entry and
    dL/dh0 on return; ``dh_seq (B, T, U)`` is added at each step when ``use_dh_seq``.
    ``act``, ``ract`` and ``big`` as in :func:`_forward_rows`.
    Each step's products into h_tm1 are one BLAS product for the block.
    """
    _, timesteps, units = h.shape
    rows = row_stop - row_start
    if rows <= 0 or timesteps == 0:
        return
    dtype = h.dtype
    # workspaces, allocated once per call
    gates = np.empty(3 * units, dtype=dtype)  # (3U,) z, r, hh of one row
    dgates = np.empty(3 * units, dtype=dtype)  # (3U,) their derivatives
    dh = np.empty(units, dtype=dtype)  # (U,) dL/dh_t of one row
    g = np.empty((rows, recurrent_kernel_t.shape[0]), dtype=dtype)  # (R, 3U | 2U) the
    # block's gradients of the products with h_tm1: drz_t, or [da_z, da_r]
    back = np.empty((rows, units), dtype=dtype)  # (R, U) g @ recurrent_kernel_t
    other = 0 if reset_after else rows
    g_h = np.empty((other, units), dtype=dtype)  # (R, U) da_h (reset_after=False)
    du = np.empty((other, units), dtype=dtype)  # (R, U) dL/d(r * h_tm1)
    r_gate = np.empty((other, units), dtype=dtype)  # (R, U) r
    dr_gate = np.empty((other, units), dtype=dtype)  # (R, U) σ'(a_r)
    for t in range(timesteps - 1, -1, -1):
        for r in range(rows):
            b = row_start + r
            h_tm1 = h[b, t - 1] if t > 0 else h0[b]  # (U,)
            dh_tm1 = dh_next[b]  # (U,) dL/dh_t on entry, dL/dh_tm1 once the step is done
            # backprop into h_t: from the sequence output and from step t+1
            if use_dh_seq:
                for j in range(units):
                    dh[j] = dh_tm1[j] + dh_seq[b, t, j]
            else:
                _copy(dh_tm1, dh)
            # forward of this step again, from the stored pre-activations
            a_row = a[b, t]  # (3U,)
            _sigma(ract, a_row[: 2 * units], gates[: 2 * units])  # z, r
            _phi(act, a_row[2 * units :], gates[2 * units :])  # hh
            _dsigma(ract, a_row[: 2 * units], gates[: 2 * units],
                              dgates[: 2 * units])
            _dphi(act, a_row[2 * units :], gates[2 * units :], dgates[2 * units :])
            dxz_row = dxz[b, t]  # (3U,) [da_z, da_r, da_h]
            for j in range(units):
                z = gates[j]
                # backprop into z, hh and h_tm1 through h_t = z * h_tm1 + (1 - z) * hh
                dz = dh[j] * (h_tm1[j] - gates[2 * units + j])
                dhh = dh[j] * (_like(z, 1.0) - z)
                dh_tm1[j] = dh[j] * z
                dxz_row[j] = dz * dgates[j]  # da_z
                dxz_row[2 * units + j] = dhh * dgates[2 * units + j]  # da_h
            g_row = g[r]  # (3U | 2U,)
            if reset_after:
                # a_h = x_h + r * r_h: into r and the candidate's recurrent product
                r_h_row = r_h[b, t]  # (U,)
                drz_row = drz[b, t]  # (3U,) [da_z, da_r, dr_h]
                for j in range(units):
                    da_h = dxz_row[2 * units + j]
                    da_r = (da_h * r_h_row[j]) * dgates[units + j]
                    dxz_row[units + j] = da_r
                    drz_row[j] = dxz_row[j]
                    drz_row[units + j] = da_r
                    drz_row[2 * units + j] = da_h * gates[units + j]
                _copy(drz_row, g_row)
            else:
                for j in range(units):
                    g_row[j] = dxz_row[j]
                    g_h[r, j] = dxz_row[2 * units + j]
                    r_gate[r, j] = gates[units + j]
                    dr_gate[r, j] = dgates[units + j]
        if not reset_after:
            # a_h = x_h + (r * h_tm1) @ R_h: into r and h_tm1 through the product
            _product(g_h, recurrent_kernel_h_t, du, big)  # (R, U)
            for r in range(rows):
                b = row_start + r
                h_tm1 = h[b, t - 1] if t > 0 else h0[b]  # (U,)
                dxz_row = dxz[b, t]  # (3U,)
                dh_tm1 = dh_next[b]  # (U,)
                u_row = u_h[b, t]  # (U,)
                for j in range(units):
                    rj = r_gate[r, j]
                    da_r = (du[r, j] * h_tm1[j]) * dr_gate[r, j]
                    dxz_row[units + j] = da_r
                    g[r, units + j] = da_r
                    dh_tm1[j] += du[r, j] * rj
                    u_row[j] = rj * h_tm1[j]
        # backprop into h_tm1 through the products with it, h_tm1 @ recurrent_kernel
        # (reset_after) or h_tm1 @ R_zr
        _product(g, recurrent_kernel_t, back, big)  # (R, U)
        for r in range(rows):
            dh_tm1 = dh_next[row_start + r]  # (U,)
            for j in range(units):
                dh_tm1[j] += back[r, j]
