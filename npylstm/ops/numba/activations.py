"""The jitted activation helpers every cell's kernel inlines (LSTM today, GRU next).

Each activation has an integer code (:data:`ACTIVATION_CODES`) so a kernel can take it as
an argument; :func:`_activate_block` and :func:`_derivative_block` apply one to a row.
Every activation is computed exactly as ``npylstm.activations`` computes it, including its
values at ±inf and NaN, except that in float32 tanh and sigmoid use a branch-free rational
approximation of tanh (the one Eigen uses, maximum error about 3 ulp;
``sigmoid(x) = 0.5 + 0.5 * tanh(x / 2)``) that vectorizes without SVML; NaN stays NaN and
±inf give exactly ±1. float64 uses the exact library functions. No ``fastmath`` (it breaks
NaN and ±inf); ``error_model="numpy"`` so the loops vectorize (``_jit.JIT_OPTIONS``).

Numba's cache checks only the file of the function it caches, so a kernel in another file
that inlines these helpers would keep its cached machine code after this file changes:
each such file lists this file's SHA-256 in its ``HELPERS_SOURCE_SHA256``, and
``tests/test_numba_cache.py`` fails until the digest there is updated (see the package
docstring). This file does the same for the SELU constants of ``npylstm/activations.py``
and for ``_jit.py`` (the compile options). Only compiled code and its constants live here;
the Python entry points are in ``elementwise.py``.
"""

from __future__ import annotations

import numpy as np
from numba import types
from numba.extending import overload

from ...activations import SELU_ALPHA, SELU_SCALE
from ._jit import jit_kernel

__all__ = [
    "HELPERS_SOURCE_SHA256",
    "ACTIVATION_CODES",
    "TANH", "SIGMOID", "HARD_SIGMOID", "HARD_SIGMOID_KERAS2", "RELU", "LINEAR",
    "SOFTSIGN", "SOFTPLUS", "ELU", "SELU", "SWISH", "EXPONENTIAL",
    "_TANH_FAST_LIMIT", "_SIGMOID_FAST_LIMIT",
    "_like", "_tanh_f32", "_tanh", "_sigmoid_fast", "_sigmoid_exact",
    "_activate", "_derivative", "_tanh_block", "_sigmoid_block", "_activate_block",
    "_derivative_block",
]

#: SHA-256 of what this module's kernels compile in from other ``npylstm`` files (paths
#: relative to the package): a whole file that uses Numba, or the definitions of the names
#: imported from a plain module (``"file: NAME, ..."``). Numba's cache checks only this
#: file: when one of these changes, ``tests/test_numba_cache.py`` prints the new digest to
#: paste here, and that edit makes Numba recompile this module's kernels.
HELPERS_SOURCE_SHA256: dict[str, str] = {
    "activations.py: SELU_ALPHA, SELU_SCALE":
        "4096f6e6c232555c2626344953482c60f35e11d55512c583aa669ae2f7647a76",
    "ops/numba/_jit.py": "5edc77b651ae5b21a1056d5e822da93c4779249c7c535fe8a54cf64bbfb2ead4",
}

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

#: The float32 tanh and sigmoid approximations are used only below these magnitudes; they
#: saturate earlier than the exact functions (tanh reaches 1.0f at 7.9 instead of about 9).
_TANH_FAST_LIMIT = 7.5
_SIGMOID_FAST_LIMIT = 15.0

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
def _tanh_block(z, out):
    """``out[j] = tanh(z[j])``: the fast tanh where it is accurate and not saturated
    (``|z| < _TANH_FAST_LIMIT``), every other value (NaN and ±inf included) recomputed with
    the exact function afterwards, so saturation to exactly ±1 happens where the reference
    saturates."""
    n = z.shape[0]
    outside = False
    for j in range(n):
        out[j] = _tanh(z[j])
        outside |= not abs(z[j]) < _like(z[j], _TANH_FAST_LIMIT)
    if outside:
        for j in range(n):
            if not abs(z[j]) < _like(z[j], _TANH_FAST_LIMIT):
                out[j] = np.tanh(z[j])


@jit_kernel
def _sigmoid_block(z, out):
    """``out[j] = sigmoid(z[j])``, as :func:`_tanh_block`: the fast sigmoid inside
    ``|z| < _SIGMOID_FAST_LIMIT``, the exact one elsewhere (so ``0 * inf`` is NaN where the
    reference's is, ``1e-9 * inf`` is not)."""
    n = z.shape[0]
    outside = False
    for j in range(n):
        out[j] = _sigmoid_fast(z[j])
        outside |= not abs(z[j]) < _like(z[j], _SIGMOID_FAST_LIMIT)
    if outside:
        for j in range(n):
            if not abs(z[j]) < _like(z[j], _SIGMOID_FAST_LIMIT):
                out[j] = _sigmoid_exact(z[j])


@jit_kernel
def _activate_block(code, z, out):
    """``out[j] = activation(z[j])``; tanh and sigmoid are :func:`_tanh_block` and
    :func:`_sigmoid_block` (fast inside their range, exact outside it)."""
    if code == TANH:
        _tanh_block(z, out)
    elif code == SIGMOID:
        _sigmoid_block(z, out)
    else:
        for j in range(z.shape[0]):
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


