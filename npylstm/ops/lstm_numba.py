"""LSTM forward and backward with the timestep loop compiled by Numba: the fast core.

Same equations, signatures and :class:`~npylstm.ops.lstm_reference.LSTMCache` as
``lstm_reference`` (read that module first; caches are interchangeable between the two)::

    z_t = x_t @ kernel + bias + h_tm1 @ recurrent_kernel      packed pre-activations (B, 4U)
    i, f, g, o = σ(z_i), σ(z_f), φ(z_c), σ(z_o)               Keras gate order i, f, c, o
    c_t = f * c_tm1 + i * g
    h_t = o * φ(c_t)

What makes it fast:

* Batch rows are independent, so every call splits them into one block per thread
  (:func:`_row_bounds`, ``numba.get_num_threads()`` blocks) and each thread runs its block
  through all timesteps without synchronising until the end.
* ``x @ kernel`` for all timesteps is one matrix product before the loop (written out per
  step when there are fewer than :data:`_BLAS_INPUT_DIM` input features); inside the loop
  only ``h_tm1 @ recurrent_kernel`` and the fused gate arithmetic remain. Backward keeps
  only ``dz_t @ recurrent_kernel.T`` in the loop; the weight gradients are large products
  after it (each block's share, summed).
* Nothing is allocated inside the time loop: pre-activations are accumulated in place in
  their row of ``z`` (the cache), gates go to small per-thread workspaces.
  :func:`lstm_inference` keeps no cache at all (``z`` and ``c`` stay in workspaces).
* Small ``units`` (below :data:`BLAS_MIN_UNITS`): one Numba parallel call; each row runs
  through all timesteps on its own, its recurrent product written out (vectorized
  ``row += h_tm1[k] * recurrent_kernel[k]``, four k at a time), which avoids the per-call
  overhead of BLAS on tiny matrices; for the default tanh/sigmoid the whole step is one
  fused loop over gate rows padded to whole 8-lane vectors (no scalar remainder).
  Large ``units``: one Python thread per block around NumPy's BLAS (single-threaded it runs
  these products 18-43% faster than the SciPy BLAS that ``np.dot`` inside ``@njit`` calls):
  per timestep one product for the block and one compiled, GIL-free call for its gates.
* Inside parallel calls BLAS is held to one thread (``npylstm._blas.blas_threads``): a
  multi-threaded BLAS inside each thread would oversubscribe the cores, and OpenBLAS's idle
  threads spin after each call, stealing the core another block needs.
* ``error_model="numpy"`` so the gate loops vectorize; no ``fastmath`` (it breaks NaN and
  ±inf). In float32, tanh and sigmoid use a branch-free rational approximation of tanh
  (the one Eigen uses, maximum error about 3 ulp; ``sigmoid(x) = 0.5 + 0.5 * tanh(x / 2)``)
  that vectorizes without SVML; NaN stays NaN and ±inf give exactly ±1. float64 uses the
  exact library functions. Every other activation is computed exactly as
  ``npylstm.activations`` computes it, including its values at ±inf and NaN.

Numba cannot call :func:`npylstm.gates.split_gates`, so the kernels address the four gate
blocks of a packed row by their offsets ``0, U, 2U, 3U`` (i, f, c, o), the same split.
"""

from __future__ import annotations

import contextlib
import os
import threading
from concurrent.futures import ThreadPoolExecutor

import numba
import numpy as np
from numba import prange, types
from numba.extending import overload

from .. import activations
from .._blas import blas_threads
from ..activations import SELU_ALPHA, SELU_SCALE
from . import lstm_reference
from ._numba_util import jit_kernel
from .lstm_reference import LSTMCache

__all__ = ["ACTIVATION_CODES", "BLAS_MIN_UNITS", "lstm_forward", "lstm_backward", "lstm_inference"]

#: Integer code of each activation inside the compiled kernels.
ACTIVATION_CODES: dict[str, int] = {
    name: code
    for code, name in enumerate(
        [
            "tanh",
            "sigmoid",
            "hard_sigmoid",
            "hard_sigmoid_keras2",
            "relu",
            "linear",
            "softsign",
            "softplus",
            "elu",
            "selu",
            "swish",
            "exponential",
        ]
    )
}
TANH, SIGMOID, HARD_SIGMOID, HARD_SIGMOID_KERAS2, RELU, LINEAR = range(6)
SOFTSIGN, SOFTPLUS, ELU, SELU, SWISH, EXPONENTIAL = range(6, 12)

#: From this many units on, the recurrent product is one BLAS call per timestep.
BLAS_MIN_UNITS = 128

#: The float32 tanh and sigmoid approximations are used only below these magnitudes; they
#: saturate earlier than the exact functions (tanh reaches 1.0f at 7.9 instead of about 9).
_TANH_FAST_LIMIT = 7.5
_SIGMOID_FAST_LIMIT = 15.0

#: Gate rows are padded to whole vectors of this many lanes (8 float32 in AVX2).
_LANES = 8

#: Small units: from this many input features on, ``x @ kernel`` is one BLAS product per
#: thread before the time loop (below it, a written-out product per step is cheaper).
_BLAS_INPUT_DIM = 8

# -- scalar helpers: float32 stays float32, float64 stays float64 -------------------------


def _like(v, c):
    """The Python constant ``c`` in the float type of ``v``."""
    return type(v)(c)


@overload(_like)
def _like_overload(v, c):
    if v == types.float32:
        return lambda v, c: np.float32(c)
    return lambda v, c: np.float64(c)


@jit_kernel
def _tanh_f32(v):
    # Eigen's float32 tanh: odd degree-13 over even degree-6 rational on [-7.9053, 7.9053],
    # where it reaches ±1 exactly. The clamp is written with comparisons that are false for
    # NaN, so NaN passes through unchanged; the rational function propagates it.
    x = v
    if x > np.float32(7.90531110763549805):
        x = np.float32(7.90531110763549805)
    if x < np.float32(-7.90531110763549805):
        x = np.float32(-7.90531110763549805)
    x2 = x * x
    p = x2 * np.float32(-2.76076847742355e-16) + np.float32(2.00018790482477e-13)
    p = x2 * p + np.float32(-8.60467152213735e-11)
    p = x2 * p + np.float32(5.12229709037114e-08)
    p = x2 * p + np.float32(1.48572235717979e-05)
    p = x2 * p + np.float32(6.37261928875436e-04)
    p = x2 * p + np.float32(4.89352455891786e-03)
    p = x * p
    q = x2 * np.float32(1.19825839466702e-06) + np.float32(1.18534705686654e-04)
    q = x2 * q + np.float32(2.26843463243900e-03)
    q = x2 * q + np.float32(4.89352518554385e-03)
    t = p / q
    if abs(v) < np.float32(0.0004):  # tanh(v) = v to float32 precision
        t = v
    return t


def _tanh(v):
    """tanh: the rational approximation for float32, the library function for float64."""
    return _tanh_f32(v) if isinstance(v, np.float32) else np.tanh(v)


@overload(_tanh)
def _tanh_overload(v):
    if v == types.float32:
        return lambda v: _tanh_f32(v)
    return lambda v: np.tanh(v)


@jit_kernel
def _sigmoid_fast(v):
    """The recurrent sigmoid: ``0.5 + 0.5 * tanh(v / 2)``, stable and vectorizable."""
    half = _like(v, 0.5)
    return half + half * _tanh(half * v)


@jit_kernel
def _sigmoid_exact(v):
    """``npylstm.activations.sigmoid`` for one value (used by softplus' and swish's terms)."""
    one = _like(v, 1.0)
    e = np.exp(-abs(v))  # in (0, 1], NaN for NaN
    if v >= 0:
        return one / (one + e)
    return e / (one + e)


@jit_kernel
def _activate(code, v):
    """Activation ``code`` at one value, exactly as ``npylstm.activations`` defines it."""
    zero = _like(v, 0.0)
    one = _like(v, 1.0)
    if code == TANH:
        return np.tanh(v)
    if code == SIGMOID:
        return _sigmoid_exact(v)
    if code == HARD_SIGMOID or code == HARD_SIGMOID_KERAS2:
        if code == HARD_SIGMOID:
            y = v / _like(v, 6.0) + _like(v, 0.5)
        else:
            y = _like(v, 0.2) * v + _like(v, 0.5)
        if y < zero:  # a clip that lets NaN through, like np.clip
            y = zero
        if y > one:
            y = one
        return y
    if code == RELU:
        return zero if v < zero else v
    if code == LINEAR:
        return v
    if code == SOFTSIGN:
        if np.isinf(v):
            return one if v > zero else -one
        return v / (one + abs(v))
    if code == SOFTPLUS:
        return (v if v > zero else zero) + np.log1p(np.exp(-abs(v)))
    if code == ELU:
        return v if v > zero else np.expm1(v)
    if code == SELU:
        return _like(v, SELU_SCALE) * (v if v > zero else _like(v, SELU_ALPHA) * np.expm1(v))
    if code == SWISH:
        if np.isinf(v):
            return v if v > zero else zero
        return v * _sigmoid_exact(v)
    return np.exp(v)  # EXPONENTIAL


@jit_kernel
def _derivative(code, v, y):
    """d activation / dv at ``v`` given ``y = activation(v)``, as ``npylstm.activations``."""
    zero = _like(v, 0.0)
    one = _like(v, 1.0)
    if code == TANH:
        return one - y * y
    if code == SIGMOID:
        return y * (one - y)
    if code == HARD_SIGMOID:
        return _like(v, 1.0 / 6.0) if (v > _like(v, -3.0) and v < _like(v, 3.0)) else zero
    if code == HARD_SIGMOID_KERAS2:
        return _like(v, 0.2) if (v > _like(v, -2.5) and v < _like(v, 2.5)) else zero
    if code == RELU:
        return one if v > zero else zero
    if code == LINEAR:
        return one
    if code == SOFTSIGN:
        d = one - abs(y)
        return d * d
    if code == SOFTPLUS:
        return _sigmoid_exact(v)
    if code == ELU:
        return one if v > zero else y + one
    if code == SELU:
        return _like(v, SELU_SCALE) if v > zero else y + _like(v, SELU_SCALE * SELU_ALPHA)
    if code == SWISH:
        if np.isinf(v):
            return one if v > zero else zero
        s = _sigmoid_exact(v)
        return s * (one + v * (one - s))
    return y  # EXPONENTIAL


@jit_kernel
def _activate_block(code, z, out):
    """``out[j] = activation(z[j])``; tanh and sigmoid get their own vectorized loop.

    The fast tanh and sigmoid are used only where they are accurate and not saturated
    (``|z| < _TANH_FAST_LIMIT`` or ``_SIGMOID_FAST_LIMIT``); any other value, NaN and ±inf
    included, is recomputed with the exact function afterwards, so saturation to exactly
    ±1 / 0 / 1 happens where the reference saturates (``0 * inf`` is NaN, ``1e-9 * inf``
    is not).
    """
    n = z.shape[0]
    if code == TANH:
        outside = False
        for j in range(n):
            out[j] = _tanh(z[j])
            outside |= not abs(z[j]) < _like(z[j], _TANH_FAST_LIMIT)
        if outside:
            for j in range(n):
                if not abs(z[j]) < _like(z[j], _TANH_FAST_LIMIT):
                    out[j] = np.tanh(z[j])
    elif code == SIGMOID:
        outside = False
        for j in range(n):
            out[j] = _sigmoid_fast(z[j])
            outside |= not abs(z[j]) < _like(z[j], _SIGMOID_FAST_LIMIT)
        if outside:
            for j in range(n):
                if not abs(z[j]) < _like(z[j], _SIGMOID_FAST_LIMIT):
                    out[j] = _sigmoid_exact(z[j])
    else:
        for j in range(n):
            out[j] = _activate(code, z[j])


@jit_kernel
def _derivative_block(code, z, y, out):
    """``out[j] = activation'(z[j])`` given ``y[j] = activation(z[j])``."""
    n = z.shape[0]
    if code == TANH:
        for j in range(n):
            out[j] = _like(y[j], 1.0) - y[j] * y[j]
    elif code == SIGMOID:
        for j in range(n):
            out[j] = y[j] * (_like(y[j], 1.0) - y[j])
    else:
        for j in range(n):
            out[j] = _derivative(code, z[j], y[j])


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


# -- large units: blocks of rows in Python threads around NumPy's BLAS ---------------------
#
# With many units the time goes to matrix products, and NumPy's own BLAS runs them 18-43%
# faster single-threaded than the SciPy BLAS that np.dot inside @njit calls (OpenBLAS
# 0.3.31 vs 0.3.30; 80.7 vs 66.2 GFLOP/s on (64, 512) @ (512, 2048)). So each thread takes
# a block of rows and runs its own time loop in Python: one single-threaded NumPy product per
# timestep (BLAS releases the GIL) and one compiled call (nogil) for the block's gates.

_pool: ThreadPoolExecutor | None = None
_pool_workers = 0  # how many threads _pool has


def _run_parts(part, parts: int) -> None:
    """``part(p)`` for ``p in range(parts)``: the first in this thread, the rest in a
    process-wide pool of worker threads; exceptions are re-raised here. Each part runs with
    NumPy's floating-point warnings off (``np.errstate`` is per thread): NaN and inf
    propagate silently, as in the reference."""
    global _pool, _pool_workers

    def quiet(p: int) -> None:
        with np.errstate(all="ignore"):
            part(p)

    if parts == 1:
        quiet(0)
        return
    if _pool is None or _pool_workers < parts - 1:
        _pool = ThreadPoolExecutor(max_workers=parts - 1, thread_name_prefix="npylstm")
        _pool_workers = parts - 1
    futures = [_pool.submit(quiet, p) for p in range(1, parts)]
    try:
        quiet(0)
    finally:
        for future in futures:
            future.result()


def _forward_blocks(xs, kernel, bias, recurrent_kernel, h0, c0, act, ract, keep, z, c, h,
                    c_last, bounds):
    """Large units: the arguments and results of :func:`_forward_rows`, one block of rows
    ``bounds[p]:bounds[p + 1]`` per thread: ``x @ kernel`` for the block's timesteps in one
    product, then ``h_tm1 @ recurrent_kernel`` and :func:`_gates_forward_step` per step."""
    _, timesteps, input_dim = xs.shape
    units = recurrent_kernel.shape[0]
    dtype = h.dtype

    def _forward_block(p: int) -> None:
        start, stop = bounds[p], bounds[p + 1]
        rows = stop - start
        z_block = z[start:stop] if keep else np.empty((rows, timesteps, 4 * units), dtype)
        np.matmul(xs[start:stop].reshape(rows * timesteps, input_dim), kernel,
                  out=z_block.reshape(rows * timesteps, 4 * units))  # (R*T, 4U)
        h_tm1 = h0[start:stop].copy()  # (R, U) the block's previous output
        c_tm1 = c0[start:stop].copy()  # (R, U) the block's carry
        hr = np.empty((rows, 4 * units), dtype)  # (R, 4U) h_tm1 @ recurrent_kernel
        gates = np.empty(4 * units, dtype)  # (4U,) workspace
        act_c = np.empty(units, dtype)  # (U,) workspace
        c_work = np.empty(units, dtype)  # (U,) workspace
        c_block, h_block = c[start:stop], h[start:stop]  # (R, T, U) views
        for t in range(timesteps):
            np.matmul(h_tm1, recurrent_kernel, out=hr)
            _gates_forward_step(z_block, hr, bias, t, c_tm1, h_tm1, c_block, h_block, act, ract,
                                keep, gates, act_c, c_work)
        c_last[start:stop] = c_tm1

    _run_parts(_forward_block, len(bounds) - 1)


def _backward_blocks(xs, kernel, h0, h, z, c, c0, recurrent_kernel_t, dh_seq, use_dh_seq,
                     dh_next, dc_next, act, ract, dz, dxs, dkernel, drecurrent_kernel, dbias,
                     h_prev, bounds):
    """Large units: the arguments and results of :func:`_backward_rows_parallel`, one block
    of rows per thread: :func:`_gates_backward_step` and ``dz_t @ recurrent_kernel.T`` per
    timestep, then the block's share of the input and weight gradients."""
    _, timesteps, packed = z.shape
    units = packed // 4
    input_dim = xs.shape[2]

    def _backward_block(p: int) -> None:
        start, stop = bounds[p], bounds[p + 1]
        rows = stop - start
        dz_t = np.empty((rows, packed), z.dtype)  # (R, 4U) the block's dz of step t
        work = np.empty((3, packed), z.dtype)  # (3, 4U) workspace
        blocks = (z[start:stop], c[start:stop], c0[start:stop],
                  dh_seq[start:stop] if use_dh_seq else dh_seq, use_dh_seq)
        dh_block, dc_block, dz_block = dh_next[start:stop], dc_next[start:stop], dz[start:stop]
        for t in range(timesteps - 1, -1, -1):
            _gates_backward_step(*blocks, dh_block, dc_block, act, ract, dz_block, t, dz_t, work)
            # backprop into h_tm1 through z_t = ... + h_tm1 @ recurrent_kernel
            np.matmul(dz_t, recurrent_kernel_t, out=dh_block)  # (R, U)
        # backprop into x and the weights: the block's rows over all timesteps at once
        dz_2d = dz_block.reshape(rows * timesteps, packed)  # (R*T, 4U)
        np.matmul(dz_2d, kernel.T, out=dxs[start:stop].reshape(rows * timesteps, input_dim))
        np.matmul(xs[start:stop].reshape(rows * timesteps, input_dim).T, dz_2d, out=dkernel[p])
        h_prev[start:stop, 0] = h0[start:stop]  # each step's h_tm1
        h_prev[start:stop, 1:] = h[start:stop, :-1]
        np.matmul(h_prev[start:stop].reshape(rows * timesteps, units).T, dz_2d,
                  out=drecurrent_kernel[p])
        np.sum(dz_2d, axis=0, out=dbias[p])

    _run_parts(_backward_block, len(bounds) - 1)


# -- the public functions -----------------------------------------------------------------

_ONE_ROW = np.array([0, 1], dtype=np.int64)
_bounds_cache: dict[tuple[int, int], np.ndarray] = {}
_parallel_used = False  # this process has split work across threads
_serial_only = False  # a forked child of a process that had: no more threads here


def _after_fork_in_child() -> None:
    """In a child made by ``fork()``: the parent's worker threads do not exist here, and
    GNU OpenMP (Numba's ``omp`` layer) terminates a child that launches a parallel region
    after its parent did. Such a child runs every call on its own thread instead."""
    global _serial_only, _pool, _pool_workers
    _pool, _pool_workers = None, 0
    _serial_only = _serial_only or _parallel_used


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


_workqueue_lock = threading.Lock()


def _launch_guard():
    """A context manager around each parallel call: Numba's ``workqueue`` threading layer
    (its fallback when neither TBB nor OpenMP loads) aborts the process when two threads
    launch parallel regions at once, so there the calls take turns; ``omp`` and ``tbb`` are
    thread-safe and need nothing."""
    try:
        layer = numba.threading_layer()
    except ValueError:  # no parallel region launched yet: no layer chosen
        return contextlib.nullcontext()
    return _workqueue_lock if layer == "workqueue" else contextlib.nullcontext()


def _row_bounds(batch: int) -> np.ndarray:
    """Batch rows split into one contiguous range per Numba thread: range ``p`` is
    ``bounds[p]:bounds[p + 1]``. Rows are independent, so the ranges run in parallel.
    (Cached: a one-row batch, streamed step by step, should not pay for this.)"""
    global _parallel_used
    if batch == 1:
        return _ONE_ROW
    if _serial_only:
        return np.array([0, batch], dtype=np.int64)
    _parallel_used = True
    key = (batch, numba.get_num_threads())
    bounds = _bounds_cache.get(key)
    if bounds is None:
        parts = max(1, min(key[1], batch))
        bounds = (np.arange(parts + 1, dtype=np.int64) * batch) // parts  # (parts + 1,)
        _bounds_cache[key] = bounds
    return bounds


_codes_cache: dict[str, tuple[str, int]] = {}


def _activation_code(name: str) -> tuple[str, int]:
    """The canonical name and kernel code of an activation name or alias."""
    code = _codes_cache.get(name) if isinstance(name, str) else None
    if code is None:
        canonical = activations.get(name).name
        code = (canonical, ACTIVATION_CODES[canonical])
        if isinstance(name, str):
            _codes_cache[name] = code
    return code


def _float_dtype(x: np.ndarray) -> np.dtype:
    dtype = np.asarray(x).dtype
    if dtype not in (np.float32, np.float64):
        raise TypeError(
            f"lstm_numba: expected float32 or float64 arrays, received x of dtype {dtype}"
        )
    return dtype


def lstm_forward(
    x: np.ndarray,
    h0: np.ndarray,
    c0: np.ndarray,
    kernel: np.ndarray,
    recurrent_kernel: np.ndarray,
    bias: np.ndarray | None,
    activation: str = "tanh",
    recurrent_activation: str = "sigmoid",
    go_backwards: bool = False,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, LSTMCache]:
    """Run an LSTM over a whole sequence (the Numba core; see ``lstm_reference``).

    Parameters
    ----------
    x : (batch, timesteps, input_dim) array, float32 or float64
    h0, c0 : (batch, units) arrays, the initial output and carry
    kernel : (input_dim, 4*units), recurrent_kernel : (units, 4*units), bias : (4*units,) or None
    activation, recurrent_activation : Keras activation names (φ and σ)
    go_backwards : read the sequence from the last timestep to the first

    Returns
    -------
    h_seq : (batch, timesteps, units), the output of every step in processing order
    h_last, c_last : (batch, units), the final output and carry
    cache : LSTMCache for :func:`lstm_backward` (the reference's cache type)

    Every array is converted to ``x``'s dtype and made C-contiguous (no copy when it
    already is), so one compiled kernel serves each dtype.

    >>> import numpy as np
    >>> B, T, D, U = 2, 3, 4, 5
    >>> x = np.ones((B, T, D)); h0 = c0 = np.zeros((B, U))
    >>> h_seq, h, c, cache = lstm_forward(
    ...     x, h0, c0, np.full((D, 4 * U), 0.1), np.zeros((U, 4 * U)), np.zeros(4 * U))
    >>> h_seq.shape, bool(np.allclose(h_seq[:, -1], h))
    ((2, 3, 5), True)
    """
    return _run_forward(x, h0, c0, kernel, recurrent_kernel, bias, activation,
                        recurrent_activation, go_backwards, keep=True)


def lstm_inference(
    x: np.ndarray,
    h0: np.ndarray,
    c0: np.ndarray,
    kernel: np.ndarray,
    recurrent_kernel: np.ndarray,
    bias: np.ndarray | None,
    activation: str = "tanh",
    recurrent_activation: str = "sigmoid",
    go_backwards: bool = False,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`lstm_forward` without the cache: returns ``(h_seq, h_last, c_last)``, equal to
    the forward's. For predictions: the per-step pre-activations and carries backward needs
    are not kept, which saves memory traffic (and the page faults of allocating them)."""
    return _run_forward(x, h0, c0, kernel, recurrent_kernel, bias, activation,
                        recurrent_activation, go_backwards, keep=False)[:3]


def _run_forward(x, h0, c0, kernel, recurrent_kernel, bias, activation, recurrent_activation,
                 go_backwards, keep):
    """:func:`lstm_forward` (``keep``) or :func:`lstm_inference`; the cache is None without
    ``keep``."""
    dtype = _float_dtype(x)
    act_name, act = _activation_code(activation)
    ract_name, ract = _activation_code(recurrent_activation)
    batch, timesteps, input_dim = np.shape(x)
    if batch == 0 or timesteps == 0:  # nothing to loop over: the reference's exact result
        return lstm_reference.lstm_forward(
            x, h0, c0, kernel, recurrent_kernel, bias, act_name, ract_name, go_backwards
        )
    x = np.ascontiguousarray(x, dtype=dtype)  # (B, T, D)
    h0 = np.ascontiguousarray(h0, dtype=dtype)  # (B, U)
    c0 = np.ascontiguousarray(c0, dtype=dtype)  # (B, U)
    kernel = np.ascontiguousarray(kernel, dtype=dtype)  # (D, 4U)
    recurrent_kernel = np.ascontiguousarray(recurrent_kernel, dtype=dtype)  # (U, 4U)
    use_bias = bias is not None
    if use_bias:
        bias = np.ascontiguousarray(bias, dtype=dtype)  # (4U,)
    units = recurrent_kernel.shape[0]
    xs = np.ascontiguousarray(x[:, ::-1]) if go_backwards else x  # (B, T, D) processing order

    h = np.empty((batch, timesteps, units), dtype=dtype)  # (B, T, U)
    kept = (batch, timesteps) if keep else (0, 0)  # z and c for backward, only when kept
    z = np.empty((*kept, 4 * units), dtype=dtype)  # (B, T, 4U)
    c = np.empty((*kept, units), dtype=dtype)  # (B, T, U)
    c_last = np.empty((batch, units), dtype=dtype)  # (B, U)
    bias_row = bias if use_bias else np.zeros(4 * units, dtype=dtype)  # (4U,)
    args = (xs, kernel, bias_row, recurrent_kernel, h0, c0, act, ract, keep, z, c, h, c_last)
    bounds = _row_bounds(batch)
    # compiled code raises no floating-point warnings: NaN and inf propagate silently, as
    # in the reference
    if units < BLAS_MIN_UNITS:
        # z_t = x_t @ kernel + h_tm1 @ recurrent_kernel + bias, row by row, no BLAS
        if bounds.shape[0] == 2:  # one thread: no parallel launch
            _forward_rows(*args, 0, batch)
        elif input_dim < _BLAS_INPUT_DIM:  # no BLAS inside
            with _launch_guard():
                _forward_rows_parallel(*args, bounds)
        else:
            with blas_threads(1), _launch_guard():  # one BLAS thread in each Numba thread
                _forward_rows_parallel(*args, bounds)
    else:
        with blas_threads(1):  # one BLAS thread inside each of our threads
            _forward_blocks(*args, bounds)
    cache = None
    if keep:
        cache = LSTMCache(
            x, h0, c0, kernel, recurrent_kernel, bias if use_bias else None, z, c, h,
            act_name, ract_name, bool(go_backwards),
        )
    return h, h[:, -1].copy(), c_last, cache


def _backward_parallel(xs, kernel, h0, h, z, c, c0, recurrent_kernel_t, dh_seq, use_dh_seq,
                       dh_next, dc_next, act, ract, dz):
    """The whole backward pass in one parallel call, BLAS held to one thread inside it;
    returns ``dxs (B, T, D)`` in processing order, ``dkernel``, ``drecurrent_kernel`` and
    ``dbias`` (the threads' parts added)."""
    dtype = z.dtype
    batch, timesteps, packed = z.shape
    units = packed // 4
    input_dim = xs.shape[2]
    bounds = _row_bounds(batch)
    parts = bounds.shape[0] - 1
    dxs = np.empty((batch, timesteps, input_dim), dtype=dtype)  # (B, T, D)
    dkernel = np.empty((parts, input_dim, packed), dtype=dtype)  # (parts, D, 4U)
    drecurrent_kernel = np.empty((parts, units, packed), dtype=dtype)  # (parts, U, 4U)
    dbias = np.empty((parts, packed), dtype=dtype)  # (parts, 4U)
    h_prev = np.empty((batch, timesteps, units), dtype=dtype)  # (B, T, U) workspace
    args = (np.ascontiguousarray(xs, dtype=dtype), np.ascontiguousarray(kernel, dtype=dtype),
            np.ascontiguousarray(h0, dtype=dtype), np.ascontiguousarray(h, dtype=dtype), z, c,
            c0)
    grads = (dh_seq, use_dh_seq, dh_next, dc_next, act, ract, dz, dxs, dkernel,
             drecurrent_kernel, dbias, h_prev, bounds)
    with blas_threads(1):  # one BLAS thread inside each of Numba's threads
        if units < BLAS_MIN_UNITS:
            # recurrent_kernel.T with zero columns up to whole 8-lane vectors: the per-row
            # product dz_row @ recurrent_kernel.T then runs without a scalar remainder
            padded_t = np.zeros((packed, -(-units // _LANES) * _LANES), dtype=dtype)  # (4U, P)
            padded_t[:, :units] = recurrent_kernel_t
            if parts == 1:  # one thread: no parallel launch
                _backward_rows(*args[4:], padded_t, dh_seq, use_dh_seq, dh_next, dc_next, act,
                               ract, dz, 0, batch)
                _weight_gradients(*args[:4], dz, dxs, dkernel[0], drecurrent_kernel[0],
                                  dbias[0], h_prev, 0, batch)
            else:
                with _launch_guard():
                    _backward_rows_parallel(*args, padded_t, *grads)
        else:
            _backward_blocks(*args, recurrent_kernel_t, *grads)
    with np.errstate(all="ignore"):  # inf - inf is NaN, as in the reference, silently
        return dxs, dkernel.sum(axis=0), drecurrent_kernel.sum(axis=0), dbias.sum(axis=0)


def lstm_backward(
    dh_seq: np.ndarray | None,
    dh_last: np.ndarray | None,
    dc_last: np.ndarray | None,
    cache: LSTMCache,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]:
    """Backpropagation through time for :func:`lstm_forward` (the Numba core).

    Parameters
    ----------
    dh_seq : (batch, timesteps, units) or None
        Gradient with respect to ``h_seq`` (processing order), None when unused.
    dh_last, dc_last : (batch, units) or None
        Gradients with respect to the returned final output and carry.
    cache : the cache returned by either backend's ``lstm_forward``

    Returns
    -------
    dx : (batch, timesteps, input_dim), in the order of ``x``
    dh0, dc0 : (batch, units)
    dkernel : (input_dim, 4*units), drecurrent_kernel : (units, 4*units)
    dbias : (4*units,), or None when the forward had no bias
    """
    x, h0, c0, kernel, recurrent_kernel, bias, z, c, h = cache[:9]
    dtype = _float_dtype(z)
    batch, timesteps, input_dim = x.shape
    units = recurrent_kernel.shape[0]
    if batch == 0 or timesteps == 0:
        return lstm_reference.lstm_backward(dh_seq, dh_last, dc_last, cache)
    _, act = _activation_code(cache.activation)
    _, ract = _activation_code(cache.recurrent_activation)
    z = np.ascontiguousarray(z, dtype=dtype)  # (B, T, 4U)
    c = np.ascontiguousarray(c, dtype=dtype)  # (B, T, U)
    c0 = np.ascontiguousarray(c0, dtype=dtype)  # (B, U)
    use_dh_seq = dh_seq is not None
    dh_seq = np.ascontiguousarray(dh_seq, dtype=dtype) if use_dh_seq else z  # (B, T, U)
    # dh_next, dc_next (B, U): dL/dh, dL/dc flowing back from step t+1, updated in place
    if dh_last is None:
        dh_next = np.zeros((batch, units), dtype=dtype)
    else:
        dh_next = np.array(dh_last, dtype=dtype, order="C", copy=True)
    if dc_last is None:
        dc_next = np.zeros((batch, units), dtype=dtype)
    else:
        dc_next = np.array(dc_last, dtype=dtype, order="C", copy=True)
    recurrent_kernel_t = np.ascontiguousarray(recurrent_kernel.T, dtype=dtype)  # (4U, U)

    dz = np.empty((batch, timesteps, 4 * units), dtype=dtype)  # (B, T, 4U)
    xs = x[:, ::-1] if cache.go_backwards else x  # (B, T, D) processing order
    dxs, dkernel, drecurrent_kernel, dbias = _backward_parallel(
        xs, kernel, h0, h, z, c, c0, recurrent_kernel_t, dh_seq, use_dh_seq, dh_next, dc_next,
        act, ract, dz,
    )
    dx = np.ascontiguousarray(dxs[:, ::-1]) if cache.go_backwards else dxs  # order of x
    if bias is None:
        dbias = None
    return dx, dh_next, dc_next, dkernel, drecurrent_kernel, dbias
