"""Keras activations by their Keras names, each with its derivative.

An :class:`Activation` holds ``fn(x)`` and ``grad(x, y)``, the derivative ``dy/dx`` given
both the input ``x`` and the output ``y = fn(x)`` (most derivatives are cheapest in terms of
``y``: ``tanh' = 1 - y**2``, ``sigmoid' = y * (1 - y)``; swish needs ``x``).

``softmax`` and ``log_softmax`` are not elementwise (each output depends on the whole last
axis), so they have no ``grad``; every activation has ``vjp(x, y, dy)``, the gradient of
the input given the gradient ``dy`` of the output, which layers use. For the elementwise
ones it is ``dy * grad(x, y)``; for the softmaxes it is the Jacobian product
(``y * (dy - sum(dy * y))`` and ``dy - softmax(x) * sum(dy)``), as JAX's
``jax.nn.softmax`` custom JVP and the autodiff of ``jax.nn.log_softmax`` compute it.

``hard_sigmoid`` has two definitions:

* Keras 3: ``clip(x / 6 + 0.5, 0, 1)`` (the name ``"hard_sigmoid"``),
* Keras 2 / tf.keras: ``clip(0.2 * x + 0.5, 0, 1)`` (the name ``"hard_sigmoid_keras2"``),
  which is what a legacy file written by Keras 2 means by ``"hard_sigmoid"``.

Every name ``keras.activations.get`` (Keras 3.15, ``keras/src/activations/__init__.py``)
accepts is here with the function Keras calls for it (``keras/src/activations/
activations.py`` over the JAX backend's ``jax.nn`` formulas), at that function's default
arguments: ``"gelu"`` is the exact (erf) form (``activations.gelu(x, approximate=False)``),
``"leaky_relu"`` has slope 0.2, ``"squareplus"`` ``b = 4``, the shrinks threshold 0.5.
Aliases: ``silu`` = ``swish``, ``hard_swish`` = ``hard_silu``. Besides the softmaxes,
``glu`` (``a * sigmoid(b)`` of the two halves of the last axis: the output has half the
features) and ``sparsemax`` are not elementwise. ``"threshold"`` is refused: Keras's
``threshold(x, threshold, default_value)`` has no defaults, so Keras accepts the name but
cannot call it.

``sparsemax`` is Martins & Astudillo's projection onto the simplex (its outputs sum to 1).
Keras 3.15 computes its threshold from the sum of the cumulative sums over the support
(keras-team/keras#23425, fixed by #23469): it agrees with this one only when a single
entry is in the support.

All functions are NaN-propagating and free of overflow warnings for any float input
(``hard_shrink`` and ``soft_shrink`` too, where Keras maps NaN to 0). At ±inf they return
the mathematical limit (softsign(inf) = 1, swish(-inf) = 0, gelu(-inf) = 0; a softmax row
with +inf logits shares its mass equally among them), where Keras's own functions return
NaN. A softmax row whose logits are all -inf has no limit: NaN, as in Keras. Derivatives
at the kinks are JAX's (``relu'(0) = 0``, ``leaky_relu'(0) = 1``, ``hard_tanh'(±1) = 1``,
``sparse_sigmoid'(±1) = 0.25``: ``jnp.clip`` splits a tie in half).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

__all__ = [
    "Activation",
    "get",
    "hard_sigmoid",
    "hard_sigmoid_keras2",
    "log_softmax",
    "names",
    "sigmoid",
    "softmax",
    "sparsemax",
]

SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946


@dataclass(frozen=True)
class Activation:
    """A named activation, its elementwise derivative ``grad(x, y)`` with ``y = fn(x)``,
    and its vector-Jacobian product ``vjp(x, y, dy)``.

    ``backprop`` (None for elementwise activations) computes the vjp of an activation that
    mixes the entries of its last axis (softmax, sparsemax, glu); ``grad`` then raises.
    """

    name: str
    fn: Callable[[np.ndarray], np.ndarray]
    grad: Callable[[np.ndarray, np.ndarray], np.ndarray]
    backprop: Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray] | None = None
    #: ``glu``: the output has half the input's last axis.
    halves_last_axis: bool = False

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return self.fn(x)

    @property
    def elementwise(self) -> bool:
        """Whether each output depends on its own input only (all but the softmaxes,
        sparsemax and glu)."""
        return self.backprop is None

    def vjp(self, x: np.ndarray, y: np.ndarray, dy: np.ndarray) -> np.ndarray:
        """The gradient of the input ``x`` given the gradient ``dy`` of ``y = fn(x)``.

        >>> import numpy as np
        >>> x = np.array([[0.0, np.log(3.0)]])          # softmax: [0.25, 0.75]
        >>> s = get("softmax"); s.vjp(x, s(x), np.array([[1.0, 0.0]])).round(4).tolist()
        [[0.1875, -0.1875]]
        """
        if self.backprop is None:
            return dy * self.grad(x, y)
        return self.backprop(x, y, dy)


def _one(x):
    return np.ones_like(x)


def sigmoid(x: np.ndarray) -> np.ndarray:
    """Logistic sigmoid ``1 / (1 + exp(-x))`` without overflow for any input.

    ``exp(-|x|)`` never overflows; the two branches are the same function.

    >>> sigmoid(np.array([-np.inf, 0.0, 1e4]))
    array([0. , 0.5, 1. ])
    """
    x = np.asarray(x)
    e = np.exp(-np.abs(x))  # in (0, 1]
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e)).astype(x.dtype, copy=False)


def hard_sigmoid(x: np.ndarray) -> np.ndarray:
    """Keras 3's hard sigmoid ``clip(x / 6 + 0.5, 0, 1)``.

    >>> hard_sigmoid(np.array([-3.0, 0.0, 1.5, 3.0]))
    array([0.  , 0.5 , 0.75, 1.  ])
    """
    x = np.asarray(x)
    return np.clip(x / x.dtype.type(6) + x.dtype.type(0.5), 0, 1)


def hard_sigmoid_keras2(x: np.ndarray) -> np.ndarray:
    """Keras 2 / tf.keras hard sigmoid ``clip(0.2 * x + 0.5, 0, 1)``.

    >>> hard_sigmoid_keras2(np.array([-2.5, 0.0, 1.0, 2.5]))
    array([0. , 0.5, 0.7, 1. ])
    """
    x = np.asarray(x)
    return np.clip(x.dtype.type(0.2) * x + x.dtype.type(0.5), 0, 1)


def _softplus(x):
    # log(1 + e^x) = max(x, 0) + log1p(e^-|x|): no overflow, exact limits at ±inf
    return np.maximum(x, 0) + np.log1p(np.exp(-np.abs(x)))


def _softsign(x):
    with np.errstate(invalid="ignore"):  # inf / inf: replaced by the limit ±1 below
        y = x / (1 + np.abs(x))
    return np.where(np.isinf(x), np.sign(x), y).astype(x.dtype, copy=False)


def _elu(x):
    return np.where(x > 0, x, np.expm1(np.minimum(x, 0)))


def _selu(x):
    return x.dtype.type(SELU_SCALE) * np.where(
        x > 0, x, x.dtype.type(SELU_ALPHA) * np.expm1(np.minimum(x, 0))
    )


def _exponential(x):
    with np.errstate(over="ignore"):  # exp(1e4) is inf, as in Keras
        return np.exp(x)


def _swish(x):
    with np.errstate(invalid="ignore"):  # -inf * 0: replaced by the limit 0 below
        y = x * sigmoid(x)
    return np.where(np.isinf(x), np.maximum(x, 0), y).astype(x.dtype, copy=False)


def _swish_grad(x, y):
    s = sigmoid(x)
    with np.errstate(invalid="ignore"):  # ±inf * 0: replaced by the limits 1 and 0 below
        g = s * (1 + x * (1 - s))
    return np.where(np.isinf(x), (x > 0).astype(x.dtype), g).astype(x.dtype, copy=False)


def softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """``exp(x) / sum(exp(x))`` along ``axis`` (Keras's ``activations.softmax``), stable.

    The largest logit is subtracted first, so nothing overflows; a row holding +inf shares
    its mass equally among its +inf entries (the limit; Keras returns NaN there); a row of
    -inf only, or with a NaN, is NaN.

    >>> softmax(np.array([[0.0, np.log(3.0)], [1e4, -1e4], [np.inf, 0.0]])).round(4).tolist()
    [[0.25, 0.75], [1.0, 0.0], [1.0, 0.0]]
    """
    x = np.asarray(x)
    top = np.max(x, axis=axis, keepdims=True)  # NaN-propagating
    with np.errstate(invalid="ignore"):  # inf - inf: an all -inf row stays NaN, +inf below
        e = np.exp(x - top)  # in [0, 1]: no overflow
    posinf = np.isposinf(top)
    if posinf.any():  # the limit: equal shares for the +inf logits, 0 for the rest
        e = np.where(posinf, np.isposinf(x).astype(x.dtype), e)
    return e / e.sum(axis=axis, keepdims=True)  # the sum is >= 1 (or NaN)


def log_softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """``x - log(sum(exp(x)))`` along ``axis`` (Keras's ``activations.log_softmax``), stable.

    >>> (log_softmax(np.array([[0.0, 0.0], [np.inf, 1.0]])).round(4) + 0.0).tolist()
    [[-0.6931, -0.6931], [0.0, -inf]]
    """
    x = np.asarray(x)
    top = np.max(x, axis=axis, keepdims=True)  # NaN-propagating
    with np.errstate(invalid="ignore", divide="ignore"):
        shifted = x - top  # <= 0 (NaN for inf - inf)
        y = shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))
        posinf = np.isposinf(top)
        if posinf.any():  # the limit: log(1 / k) for the k +inf logits, -inf for the rest
            hits = np.isposinf(x)
            count = hits.sum(axis=axis, keepdims=True).astype(x.dtype)
            y = np.where(posinf, np.where(hits, -np.log(count), -np.inf), y)
    return y.astype(x.dtype, copy=False)


def _at_inf(x, y, neg, pos):
    """``y`` with the limits ``neg`` / ``pos`` at ``x = -inf / +inf`` (where ``inf * 0``
    gave NaN), in ``x``'s dtype."""
    y = np.where(np.isposinf(x), pos, np.where(np.isneginf(x), neg, y))
    return y.astype(x.dtype, copy=False)


def _step(condition, value, x):
    """``value`` where ``condition`` holds, 0 elsewhere, in ``x``'s dtype."""
    return np.where(condition, x.dtype.type(value), x.dtype.type(0))


_SQRT_HALF = float(np.sqrt(0.5))
_INV_SQRT_2PI = float(1 / np.sqrt(2 * np.pi))


def _gelu(x):
    from scipy.special import erfc  # a dependency; imported here to keep imports light

    with np.errstate(invalid="ignore"):  # -inf * 0: the limit 0 below
        y = x.dtype.type(0.5) * x * erfc(-x * x.dtype.type(_SQRT_HALF))
    return _at_inf(x, y, 0, np.inf)


def _gelu_grad(x, y):
    # d/dx x Φ(x) = Φ(x) + x φ(x)
    from scipy.special import erfc

    with np.errstate(invalid="ignore", over="ignore"):  # x**2 -> inf, inf * 0: limits below
        g = (x.dtype.type(0.5) * erfc(-x * x.dtype.type(_SQRT_HALF))
             + x * np.exp(-x * x / 2) * x.dtype.type(_INV_SQRT_2PI))
    return _at_inf(x, g, 0, 1)


def _mish(x):
    with np.errstate(invalid="ignore"):  # -inf * 0: the limit 0 below
        y = x * np.tanh(_softplus(x))
    return _at_inf(x, y, 0, np.inf)


def _mish_grad(x, y):
    t = np.tanh(_softplus(x))
    with np.errstate(invalid="ignore"):  # ±inf * 0: the limits below
        g = t + x * (1 - t * t) * sigmoid(x)
    return _at_inf(x, g, 0, 1)


def _hard_silu(x):
    with np.errstate(invalid="ignore"):  # -inf * 0: the limit 0 below
        y = x * hard_sigmoid(x)
    return _at_inf(x, y, 0, np.inf)


def _hard_silu_grad(x, y):
    # x * clip(x / 6 + 1/2, 0, 1): hard_sigmoid(x) + x / 6 on (-3, 3)
    return hard_sigmoid(x) + np.where((x > -3) & (x < 3), x / x.dtype.type(6), x.dtype.type(0))


def _squareplus(x):
    # (x + sqrt(x**2 + 4)) / 2, written 2 / (sqrt(x**2 + 4) - x) for x < 0 (no cancellation)
    s = np.hypot(x, x.dtype.type(2))  # no overflow
    with np.errstate(invalid="ignore", divide="ignore"):  # inf + inf, 2 / inf: exact
        y = np.where(x >= 0, (x + s) / 2, 2 / (s - x))
    return y.astype(x.dtype, copy=False)


def _squareplus_grad(x, y):
    # (1 + x / s) / 2 = y / s
    with np.errstate(invalid="ignore"):  # inf / inf: the limit 1 below
        g = y / np.hypot(x, x.dtype.type(2))
    return _at_inf(x, g, 0, 1)


def _sparse_plus(x):
    with np.errstate(over="ignore"):  # (x + 1)**2 of a huge x: not the branch taken
        y = np.where(x <= -1, 0, np.where(x >= 1, x, (x + 1) ** 2 / 4))
    return y.astype(x.dtype, copy=False)


def _shrink(hard: bool, threshold: float = 0.5):
    def fn(x):  # NaN-propagating: NaN <= t is False
        t = x.dtype.type(threshold)
        return np.where(np.abs(x) <= t, x.dtype.type(0), x if hard else x - t * np.sign(x))

    return fn


def _glu(x):
    a, b = np.split(x, 2, axis=-1)  # (..., F / 2) each
    return a * sigmoid(b)


def _glu_vjp(x, y, dy):
    a, b = np.split(x, 2, axis=-1)
    s = sigmoid(b)
    return np.concatenate([dy * s, dy * a * s * (1 - s)], axis=-1)


def sparsemax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """Sparsemax along ``axis``: the Euclidean projection of ``x`` onto the simplex,
    ``max(x - tau, 0)`` with ``tau = (sum of the k largest - 1) / k`` over the support.

    >>> sparsemax(np.array([[0.0, 0.5, 1.0], [0.0, 0.0, 3.0]])).tolist()
    [[0.0, 0.25, 0.75], [0.0, 0.0, 1.0]]
    """
    x = np.asarray(x)
    z = -np.sort(-x, axis=axis)  # descending
    cumsum = np.cumsum(z, axis=axis)
    r = np.arange(1, x.shape[axis] + 1, dtype=x.dtype).reshape(
        [-1 if a == axis % x.ndim else 1 for a in range(x.ndim)])
    with np.errstate(invalid="ignore"):  # inf - inf: NaN, as Keras
        support = z - (cumsum - 1) / r > 0  # a prefix of the sorted entries
        k = support.sum(axis=axis, keepdims=True)
        top = np.take_along_axis(cumsum, np.maximum(k - 1, 0), axis=axis)
        tau = (top - 1) / np.maximum(k, 1)
        return np.maximum(x - tau.astype(x.dtype), 0)


def _sparsemax_vjp(x, y, dy):
    # on the support s: dx = s * (dy - mean of dy over s)
    s = (y > 0).astype(y.dtype)
    k = np.maximum(s.sum(axis=-1, keepdims=True), 1)
    return s * (dy - np.sum(s * dy, axis=-1, keepdims=True) / k)


def _not_elementwise(name: str):
    def grad(x, y):
        raise ValueError(
            f"activation {name!r} is not elementwise and has no elementwise derivative: "
            "use its vjp(x, y, dy)"
        )

    return grad


def _softmax_vjp(x, y, dy):
    # dx = J^T dy with J = diag(y) - y y^T along the last axis
    return y * (dy - np.sum(dy * y, axis=-1, keepdims=True))


def _log_softmax_vjp(x, y, dy):
    # y = x - logsumexp(x): dx = dy - softmax(x) * sum(dy), softmax(x) = exp(y)
    return dy - np.exp(y) * np.sum(dy, axis=-1, keepdims=True)


def _hard_sigmoid_grad(lo, hi, slope):
    def grad(x, y):
        return np.where((x > lo) & (x < hi), x.dtype.type(slope), x.dtype.type(0))

    return grad


_REGISTRY: dict[str, Activation] = {
    a.name: a
    for a in [
        Activation("tanh", np.tanh, lambda x, y: 1 - y * y),
        Activation("sigmoid", sigmoid, lambda x, y: y * (1 - y)),
        Activation("hard_sigmoid", hard_sigmoid, _hard_sigmoid_grad(-3.0, 3.0, 1 / 6)),
        Activation(
            "hard_sigmoid_keras2", hard_sigmoid_keras2, _hard_sigmoid_grad(-2.5, 2.5, 0.2)
        ),
        Activation("relu", lambda x: np.maximum(x, 0), lambda x, y: (x > 0).astype(x.dtype)),
        Activation("linear", lambda x: x, lambda x, y: _one(x)),
        Activation("softsign", _softsign, lambda x, y: (1 - np.abs(y)) ** 2),
        Activation("softplus", _softplus, lambda x, y: sigmoid(x)),
        Activation("elu", _elu, lambda x, y: np.where(x > 0, 1, y + 1).astype(x.dtype)),
        Activation(
            "selu",
            _selu,
            lambda x, y: np.where(x > 0, x.dtype.type(SELU_SCALE), y + x.dtype.type(
                SELU_SCALE * SELU_ALPHA)),
        ),
        Activation("swish", _swish, _swish_grad),
        Activation("exponential", _exponential, lambda x, y: y),
        Activation("softmax", softmax, _not_elementwise("softmax"), _softmax_vjp),
        Activation("log_softmax", log_softmax, _not_elementwise("log_softmax"),
                   _log_softmax_vjp),
        Activation("sparsemax", sparsemax, _not_elementwise("sparsemax"), _sparsemax_vjp),
        Activation("glu", _glu, _not_elementwise("glu"), _glu_vjp, halves_last_axis=True),
        Activation("relu6", lambda x: np.clip(x, 0, 6), lambda x, y: _step((x > 0) & (x < 6),
                                                                            1, x)),
        Activation("leaky_relu", lambda x: np.where(x >= 0, x, x.dtype.type(0.2) * x),
                   lambda x, y: np.where(x >= 0, x.dtype.type(1), x.dtype.type(0.2))),
        Activation("gelu", _gelu, _gelu_grad),
        Activation("mish", _mish, _mish_grad),
        Activation("hard_silu", _hard_silu, _hard_silu_grad),
        # celu(x, alpha=1) = max(x, 0) + expm1(min(x, 0)): elu's values, exp(x) below 0
        Activation("celu", _elu, lambda x, y: np.where(x > 0, 1, y + 1).astype(x.dtype)),
        Activation("tanh_shrink", lambda x: x - np.tanh(x), lambda x, y: np.tanh(x) ** 2),
        Activation("hard_tanh", lambda x: np.clip(x, -1, 1),
                   lambda x, y: _step((x >= -1) & (x <= 1), 1, x)),
        Activation("sparse_plus", _sparse_plus, lambda x, y: np.where(
            x <= -1, 0, np.where(x >= 1, 1, (x + 1) / 2)).astype(x.dtype)),
        Activation("sparse_sigmoid", lambda x: x.dtype.type(0.5) * np.clip(x + 1, 0, 2),
                   lambda x, y: _step(np.abs(x) < 1, 0.5, x) + _step(np.abs(x) == 1, 0.25, x)),
        Activation("squareplus", _squareplus, _squareplus_grad),
        Activation("log_sigmoid", lambda x: -_softplus(-x), lambda x, y: sigmoid(-x)),
        Activation("soft_shrink", _shrink(hard=False),
                   lambda x, y: _step(np.abs(x) > 0.5, 1, x)),
        Activation("hard_shrink", _shrink(hard=True),
                   lambda x, y: _step(np.abs(x) > 0.5, 1, x)),
    ]
}
_ALIASES = {"silu": "swish", "hard_swish": "hard_silu", "None": "linear"}
#: Names Keras registers that cannot be called by name (no default arguments).
_REFUSED = {
    "threshold": "Keras's threshold(x, threshold, default_value) has no default arguments: "
                 "Keras accepts the name but cannot call it",
}


def names() -> list[str]:
    """The activation names :func:`get` accepts (aliases included), sorted."""
    return sorted([*_REGISTRY, *_ALIASES])


def get(identifier: str | Activation | None) -> Activation:
    """Look up an activation by its Keras name (``None`` means ``"linear"``, as in Keras).

    >>> get("tanh").name, get("silu").name, get(None).name
    ('tanh', 'swish', 'linear')
    """
    if identifier is None:
        return _REGISTRY["linear"]
    if isinstance(identifier, Activation):
        return identifier
    if isinstance(identifier, str):
        name = _ALIASES.get(identifier, identifier)
        if name in _REGISTRY:
            return _REGISTRY[name]
        if name in _REFUSED:
            raise ValueError(f"activation {identifier!r} is not supported: {_REFUSED[name]}")
    raise ValueError(
        f"Unknown activation {identifier!r}: expected one of {', '.join(names())}"
    )
