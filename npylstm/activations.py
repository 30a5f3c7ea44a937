"""Keras activations by their Keras names, each with its derivative.

An :class:`Activation` holds ``fn(x)`` and ``grad(x, y)``, the derivative ``dy/dx`` given
both the input ``x`` and the output ``y = fn(x)`` (most derivatives are cheapest in terms of
``y``: ``tanh' = 1 - y**2``, ``sigmoid' = y * (1 - y)``; swish needs ``x``).

``hard_sigmoid`` has two definitions:

* Keras 3: ``clip(x / 6 + 0.5, 0, 1)`` (the name ``"hard_sigmoid"``),
* Keras 2 / tf.keras: ``clip(0.2 * x + 0.5, 0, 1)`` (the name ``"hard_sigmoid_keras2"``),
  which is what a legacy file written by Keras 2 means by ``"hard_sigmoid"``.

All functions are NaN-propagating and free of overflow warnings for any float input.
At ±inf they return the mathematical limit (softsign(inf) = 1, swish(-inf) = 0), where
Keras's own functions return NaN.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

__all__ = ["Activation", "get", "names", "sigmoid", "hard_sigmoid", "hard_sigmoid_keras2"]

SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946


@dataclass(frozen=True)
class Activation:
    """A named activation and its derivative ``grad(x, y)`` with ``y = fn(x)``."""

    name: str
    fn: Callable[[np.ndarray], np.ndarray]
    grad: Callable[[np.ndarray, np.ndarray], np.ndarray]

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return self.fn(x)


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
    ]
}
_ALIASES = {"silu": "swish", "None": "linear"}


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
    raise ValueError(
        f"Unknown activation {identifier!r}: expected one of {', '.join(names())}"
    )
