"""LSTM forward and backward with the timestep loop compiled by Numba: the fast core.

Same equations, signatures and :class:`~npylstm.ops.lstm_reference.LSTMCache` as
``lstm_reference`` (read that module first; caches are interchangeable between the two)::

    z_t = x_t @ kernel + bias + h_tm1 @ recurrent_kernel      packed pre-activations (B, 4U)
    i, f, g, o = σ(z_i), σ(z_f), φ(z_c), σ(z_o)               Keras gate order i, f, c, o
    c_t = f * c_tm1 + i * g
    h_t = o * φ(c_t)

What makes it fast:

* ``x @ kernel + bias`` for all timesteps is one matrix product before the loop; inside the
  loop only ``h_tm1 @ recurrent_kernel`` and the fused gate arithmetic remain. Backward keeps
  only ``dz_t @ recurrent_kernel.T`` in the loop; the weight gradients are large products
  after it.
* Nothing is allocated inside the time loop: each batch row's pre-activations are
  accumulated in place in its row of ``z`` (the cache), gates go to small per-call
  workspaces.
* Small ``units``: the recurrent product is written out (one vectorized
  ``row += h_tm1[k] * recurrent_kernel[k]`` per k), batch row by batch row, which avoids the
  per-call overhead of BLAS on tiny matrices. Large ``units``: one BLAS product per
  timestep for the whole batch (``np.dot`` into a preallocated buffer).
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

import numpy as np
from numba import types
from numba.extending import overload

from .. import activations
from ..activations import SELU_ALPHA, SELU_SCALE
from . import lstm_reference
from ._numba_util import jit_kernel
from .lstm_reference import LSTMCache

__all__ = ["ACTIVATION_CODES", "BLAS_MIN_UNITS", "lstm_forward", "lstm_backward"]

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

#: Below this many input features the input projection is written out instead of BLAS.
_SMALL_INPUT_DIM = 8


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
def _cell_forward(z_row, c_tm1, c_t, h_t, act, ract, gates, act_c):
    """Gates from the packed pre-activations ``z_row (4U,)``; writes ``c_t, h_t (U,)``.

    ``gates (4U,)`` and ``act_c (U,)`` are workspaces.
    """
    units = c_t.shape[0]
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
def _input_projection(xs, kernel, bias, use_bias, z):
    """``z = xs @ kernel + bias`` for every timestep at once: ``xs (B, T, D) -> z (B, T, 4U)``."""
    batch, timesteps, input_dim = xs.shape
    rows = batch * timesteps
    x_2d = xs.reshape(rows, input_dim)  # (B*T, D)
    z_2d = z.reshape(rows, kernel.shape[1])  # (B*T, 4U)
    if input_dim < _SMALL_INPUT_DIM:
        for r in range(rows):
            z_r = z_2d[r]
            x_r0 = x_2d[r, 0]
            for j in range(z_r.shape[0]):
                z_r[j] = x_r0 * kernel[0, j]
            for d in range(1, input_dim):
                x_rd = x_2d[r, d]
                for j in range(z_r.shape[0]):
                    z_r[j] += x_rd * kernel[d, j]
    else:
        np.dot(x_2d, kernel, z_2d)
    if use_bias:
        for r in range(rows):
            z_2d[r] += bias


@jit_kernel
def _forward_kernel(xs, h0, c0, kernel, recurrent_kernel, bias, use_bias, act, ract, use_blas,
                    z, c, h):
    """Fill ``z (B, T, 4U)``, ``c, h (B, T, U)`` for ``xs`` in processing order."""
    batch, timesteps, _ = xs.shape
    units = recurrent_kernel.shape[0]
    _input_projection(xs, kernel, bias, use_bias, z)
    gates = np.empty(4 * units, dtype=z.dtype)  # (4U,) workspace
    act_c = np.empty(units, dtype=z.dtype)  # (U,) workspace
    if not use_blas:
        # batch row by batch row: h_tm1 (U,) @ recurrent_kernel (U, 4U) written out
        for b in range(batch):
            for t in range(timesteps):
                h_tm1 = h[b, t - 1] if t > 0 else h0[b]  # (U,)
                c_tm1 = c[b, t - 1] if t > 0 else c0[b]  # (U,)
                z_row = z[b, t]  # (4U,) holds x_t @ kernel + bias
                for k in range(units):
                    h_k = h_tm1[k]
                    r_k = recurrent_kernel[k]  # (4U,)
                    for j in range(4 * units):
                        z_row[j] += h_k * r_k[j]
                _cell_forward(z_row, c_tm1, c[b, t], h[b, t], act, ract, gates, act_c)
    else:
        # timestep by timestep: one BLAS product for the whole batch
        h_tm1 = h0.copy()  # (B, U) contiguous copy of the previous output
        hr = np.empty((batch, 4 * units), dtype=z.dtype)  # (B, 4U) h_tm1 @ recurrent_kernel
        for t in range(timesteps):
            np.dot(h_tm1, recurrent_kernel, hr)
            for b in range(batch):
                c_tm1 = c[b, t - 1] if t > 0 else c0[b]  # (U,)
                z_row = z[b, t]  # (4U,)
                z_row += hr[b]
                _cell_forward(z_row, c_tm1, c[b, t], h[b, t], act, ract, gates, act_c)
                h_tm1[b] = h[b, t]


@jit_kernel
def _backward_kernel(z, c, c0, recurrent_kernel_t, dh_seq, use_dh_seq, dh_next, dc_next, act,
                     ract, use_blas, dz):
    """Fill ``dz (B, T, 4U)``; ``dh_next, dc_next (B, U)`` enter as dL/dh_last, dL/dc_last and
    leave as dL/dh0, dL/dc0. ``recurrent_kernel_t`` is ``recurrent_kernel.T``, contiguous."""
    batch, timesteps, packed = z.shape
    units = packed // 4
    gates = np.empty(packed, dtype=z.dtype)  # (4U,) workspaces
    dgates = np.empty(packed, dtype=z.dtype)
    act_c = np.empty(units, dtype=z.dtype)  # (U,) workspaces
    dact_c = np.empty(units, dtype=z.dtype)
    dh = np.empty(units, dtype=z.dtype)  # (U,) dL/dh_t of one row
    if not use_blas:
        for b in range(batch):
            for t in range(timesteps - 1, -1, -1):
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
                # backprop into h_tm1 through z_t = ... + h_tm1 @ recurrent_kernel
                dh_tm1 = dh_next[b]  # (U,)
                dz_0 = dz_row[0]
                for k in range(units):
                    dh_tm1[k] = dz_0 * recurrent_kernel_t[0, k]
                for j in range(1, packed):
                    dz_j = dz_row[j]
                    r_j = recurrent_kernel_t[j]  # (U,)
                    for k in range(units):
                        dh_tm1[k] += dz_j * r_j[k]
    else:
        dz_t = np.empty((batch, packed), dtype=z.dtype)  # (B, 4U) contiguous dz of step t
        for t in range(timesteps - 1, -1, -1):
            for b in range(batch):
                c_tm1 = c[b, t - 1] if t > 0 else c0[b]  # (U,)
                if use_dh_seq:
                    for j in range(units):
                        dh[j] = dh_next[b, j] + dh_seq[b, t, j]
                else:
                    dh[:] = dh_next[b]
                dz_row = dz[b, t]  # (4U,)
                _cell_backward(z[b, t], c_tm1, c[b, t], dh, dc_next[b], dz_row, act, ract,
                               gates, dgates, act_c, dact_c)
                dz_t[b] = dz_row
            np.dot(dz_t, recurrent_kernel_t, dh_next)  # (B, U) dL/dh_tm1


# -- the public functions -----------------------------------------------------------------


def _activation_code(name: str) -> tuple[str, int]:
    name = activations.get(name).name
    return name, ACTIVATION_CODES[name]


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
    dtype = _float_dtype(x)
    act_name, act = _activation_code(activation)
    ract_name, ract = _activation_code(recurrent_activation)
    batch, timesteps, _ = np.shape(x)
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

    z = np.empty((batch, timesteps, 4 * units), dtype=dtype)  # (B, T, 4U)
    c = np.empty((batch, timesteps, units), dtype=dtype)  # (B, T, U)
    h = np.empty((batch, timesteps, units), dtype=dtype)  # (B, T, U)
    with np.errstate(all="ignore"):  # only for NUMBA_DISABLE_JIT: compiled code never warns
        _forward_kernel(
            xs, h0, c0, kernel, recurrent_kernel, bias if use_bias else kernel[0], use_bias,
            act, ract, units >= BLAS_MIN_UNITS, z, c, h,
        )
    cache = LSTMCache(
        x, h0, c0, kernel, recurrent_kernel, bias if use_bias else None, z, c, h,
        act_name, ract_name, bool(go_backwards),
    )
    return h, h[:, -1].copy(), c[:, -1].copy(), cache


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
    with np.errstate(all="ignore"):  # inf and NaN propagate as IEEE says, as in the reference
        _backward_kernel(
            z, c, c0, recurrent_kernel_t, dh_seq, use_dh_seq, dh_next, dc_next, act, ract,
            units >= BLAS_MIN_UNITS, dz,
        )

        # backprop into x and the weights: one large product each, over all timesteps
        xs = x[:, ::-1] if cache.go_backwards else x  # (B, T, D) processing order
        dz_2d = dz.reshape(batch * timesteps, 4 * units)  # (B*T, 4U)
        dxs = (dz_2d @ kernel.T).reshape(batch, timesteps, input_dim)  # (B, T, D)
        dx = np.ascontiguousarray(dxs[:, ::-1]) if cache.go_backwards else dxs
        dkernel = xs.reshape(batch * timesteps, input_dim).T @ dz_2d  # (D, 4U)
        h_prev = np.concatenate([h0[:, None], h[:, :-1]], axis=1)  # (B, T, U) each step's h_tm1
        drecurrent_kernel = h_prev.reshape(batch * timesteps, units).T @ dz_2d  # (U, 4U)
        dbias = None if bias is None else dz_2d.sum(axis=0)  # (4U,)
    return dx, dh_next, dc_next, dkernel, drecurrent_kernel, dbias
