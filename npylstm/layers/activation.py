"""Keras's activation layers: ``Activation``, ``Softmax``, ``ReLU``, ``LeakyReLU``,
``ELU`` and ``PReLU``.

Following ``keras/src/layers/activations/`` (Keras 3.15):

* ``Activation(activation)``, ``activation.py``: a Keras activation name (``"softmax"``,
  ``"gelu"``, ...); ``softmax`` and ``log_softmax`` act over the last axis, as Keras's
  ``activations.softmax`` does by default; ``glu`` halves the last axis (Keras's
  ``compute_output_shape`` says the input shape; the output it computes has half).
* ``Softmax(axis=-1)``, ``softmax.py``: ``axis`` an int or a tuple of ints (a tuple of
  several: ``exp(x - logsumexp(x, axis))``); ``mask`` (broadcast against the input from its
  last axis, True or > 0.5 where kept) puts ``-1e9`` at masked positions before the
  softmax and zeros them after.
* ``ReLU(max_value=None, negative_slope=0.0, threshold=0.0)``, ``relu.py`` over
  ``activations.relu``: ``x`` above ``threshold`` (clipped at ``max_value``),
  ``negative_slope * (x - threshold)`` below it.
* ``LeakyReLU(negative_slope=0.3)``, ``leaky_relu.py`` (tf_keras's ``alpha`` is read as
  ``negative_slope``).
* ``ELU(alpha=1.0)``, ``elu.py`` (its config: the ``__init__`` arguments, Keras's
  automatic ``get_config``).
* ``PReLU``, ``prelu.py``: ``relu(x) - alpha * relu(-x)`` with a learned ``alpha`` of the
  input's shape without the batch axis (size 1 along ``shared_axes``).

Gradients at the kinks follow JAX's (``relu'(0) = 0``, ``leaky_relu'(0) = 1``, ReLU's
clip at ``max_value``: 0.5).

>>> import numpy as np
>>> from npylstm.layers import Activation, ReLU
>>> Activation("softmax")(np.array([[0.0, np.log(3.0)]])).round(2).tolist()
[[0.25, 0.75]]
>>> ReLU(max_value=2.0, negative_slope=0.5)(np.array([[-2.0, 1.0, 3.0]])).tolist()
[[-1.0, 1.0, 2.0]]
"""

from __future__ import annotations

import numbers
from typing import NamedTuple

import numpy as np

from .. import activations, regularizers
from ..registry import register
from .base import Layer, deserialize_initializer, serialize_initializer, serialize_regularizer
from .serialization import serialize_constraint

__all__ = ["ELU", "Activation", "LeakyReLU", "PReLU", "ReLU", "Softmax"]


class _ActivationCache(NamedTuple):
    x: np.ndarray  # (batch, ...) the input
    y: np.ndarray  # (batch, ...) activation(x)


@register("Activation")
class Activation(Layer):
    """Apply ``activation`` (a Keras activation name, or None for ``"linear"``)."""

    SUPPORTS_MASKING = True  # passes the time mask on, as Keras's does

    ACTIVATION_KEYS = ("activation",)

    def __init__(
        self,
        activation,
        name: str | None = None,
        dtype="float32",
        input_shape=None,
        trainable: bool = True,
    ):
        super().__init__(name=name, dtype=dtype, input_shape=input_shape, trainable=trainable)
        try:
            self.activation = activations.get(activation).name
        except ValueError as exc:
            raise self._error(str(exc)) from None

    def compute_output_shape(self, input_shape):
        input_shape = tuple(input_shape)
        if activations.get(self.activation).halves_last_axis:  # glu
            features = input_shape[-1]
            return (*input_shape[:-1], None if features is None else features // 2)
        return input_shape

    def _check_input(self, x) -> np.ndarray:
        x = self._as_float_array(x)
        if x.ndim < 1:
            raise self._error(f"expected an input with a batch axis, received shape {x.shape}")
        if not self.built:
            self.build((None, *x.shape[1:]))
        return x

    def forward(self, x, training: bool = False, rng=None):
        """``y = activation(x)``; returns ``(y, cache)`` for :meth:`backward`."""
        x = self._check_input(x)
        act = activations.get(self.activation)
        if act.halves_last_axis and x.shape[-1] % 2:
            raise self._error(f"{self.activation} needs an even last axis, received shape "
                              f"{x.shape}")
        y = act(x)  # (batch, ...)
        return y, _ActivationCache(x, y)

    def backward(self, dy, cache: _ActivationCache):
        """Returns ``(dx, [])``: the activation's vector-Jacobian product."""
        dy = np.asarray(dy, dtype=self.dtype)
        return activations.get(self.activation).vjp(cache.x, cache.y, dy), []

    def get_config(self) -> dict:
        config = super().get_config()
        config["activation"] = self.activation
        return config


def _check_number(layer: Layer, key: str, value, allow_none: bool = False) -> float | None:
    """A non-negative number (Keras refuses negatives), or None where allowed."""
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not value >= 0:
        raise layer._error(f"expected {key} to be a non-negative number, received {value!r}")
    return float(value)


class _Elementwise(Layer):
    """An elementwise activation layer: ``y = _fn(x)``, ``dx = dy * _grad(x)``."""

    SUPPORTS_MASKING = True  # passes the time mask on, as Keras's do

    _check_input = Activation._check_input

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def forward(self, x, training: bool = False, rng=None):
        """``y = f(x)``; returns ``(y, cache)`` for :meth:`backward`."""
        x = self._check_input(x)
        return self._fn(x), _ActivationCache(x, None)

    def backward(self, dy, cache: _ActivationCache):
        """Returns ``(dx, [])``."""
        dy = np.asarray(dy, dtype=self.dtype)
        return dy * self._grad(cache.x), []


@register("ReLU")
class ReLU(_Elementwise):
    """Keras's ``ReLU``: ``min(x, max_value)`` above ``threshold``,
    ``negative_slope * (x - threshold)`` below it.

    >>> ReLU(threshold=1.0, negative_slope=0.5)(np.array([[0.0, 3.0]])).tolist()
    [[-0.5, 3.0]]
    """

    def __init__(self, max_value=None, negative_slope=0.0, threshold=0.0,
                 name: str | None = None, dtype="float32", input_shape=None,
                 trainable: bool = True):
        super().__init__(name=name, dtype=dtype, input_shape=input_shape, trainable=trainable)
        self.max_value = _check_number(self, "max_value", max_value, allow_none=True)
        self.negative_slope = _check_number(self, "negative_slope", negative_slope)
        self.threshold = _check_number(self, "threshold", threshold)

    def _fn(self, x):
        t, slope = x.dtype.type(self.threshold), x.dtype.type(self.negative_slope)
        if slope and self.max_value is None and not t:  # Keras: leaky_relu
            return np.where(x >= 0, x, slope * x)
        y = np.where(x <= t, x.dtype.type(0), x)  # NaN-propagating
        if self.max_value is not None:
            y = np.clip(y, 0, x.dtype.type(self.max_value))
        if slope:
            y = y - slope * np.maximum(t - x, 0)
        return y

    def _grad(self, x):
        t, slope = x.dtype.type(self.threshold), x.dtype.type(self.negative_slope)
        if slope and self.max_value is None and not t:
            return np.where(x >= 0, x.dtype.type(1), slope)
        top = None if self.max_value is None else x.dtype.type(self.max_value)
        inside = x > t if top is None else (x > t) & (x < top)
        grad = inside.astype(x.dtype) + slope * (x < t).astype(x.dtype)
        if top is not None and not (self.max_value == 6 and not t):
            # Keras clips (relu6 only for max_value=6 without threshold): JAX's clip gives
            # half the gradient at the tie x == max_value
            grad = grad + x.dtype.type(0.5) * ((x == top) & (x > t))
        return grad

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(max_value=self.max_value, negative_slope=self.negative_slope,
                      threshold=self.threshold)
        return config


@register("LeakyReLU")
class LeakyReLU(_Elementwise):
    """Keras's ``LeakyReLU``: ``x`` for ``x >= 0``, ``negative_slope * x`` below.

    >>> LeakyReLU(dtype="float64")(np.array([[-2.0, 2.0]])).tolist()
    [[-0.6, 2.0]]
    """

    def __init__(self, negative_slope=0.3, name: str | None = None, dtype="float32",
                 input_shape=None, trainable: bool = True):
        super().__init__(name=name, dtype=dtype, input_shape=input_shape, trainable=trainable)
        self.negative_slope = _check_number(self, "negative_slope", negative_slope)

    @classmethod
    def from_keras2_config(cls, config: dict, where: str) -> dict:
        if "alpha" in config:  # tf_keras's name (Keras 3 accepts it too, with a warning)
            config.setdefault("negative_slope", config.pop("alpha"))
        return config

    def _fn(self, x):
        return np.where(x >= 0, x, x.dtype.type(self.negative_slope) * x)

    def _grad(self, x):
        return np.where(x >= 0, x.dtype.type(1), x.dtype.type(self.negative_slope))

    def get_config(self) -> dict:
        config = super().get_config()
        config["negative_slope"] = self.negative_slope
        return config


@register("ELU")
class ELU(_Elementwise):
    """Keras's ``ELU``: ``x`` for ``x > 0``, ``alpha * (exp(x) - 1)`` below.

    >>> ELU(alpha=2.0)(np.array([[-np.inf, 1.0]])).tolist()
    [[-2.0, 1.0]]
    """

    def __init__(self, alpha=1.0, name: str | None = None, dtype="float32",
                 input_shape=None, trainable: bool = True):
        super().__init__(name=name, dtype=dtype, input_shape=input_shape, trainable=trainable)
        if isinstance(alpha, bool) or not isinstance(alpha, numbers.Real):
            raise self._error(f"expected alpha to be a number, received {alpha!r}")
        self.alpha = float(alpha)

    def _fn(self, x):
        return np.where(x > 0, x, x.dtype.type(self.alpha) * np.expm1(np.minimum(x, 0)))

    def _grad(self, x):
        return np.where(x > 0, x.dtype.type(1), x.dtype.type(self.alpha) * np.exp(
            np.minimum(x, 0)))

    def get_config(self) -> dict:
        config = super().get_config()
        config["alpha"] = self.alpha
        return config


class _SoftmaxCache(NamedTuple):
    y: np.ndarray  # (batch, ...) the softmax of the masked input
    mask: np.ndarray | None  # broadcastable to y: True where kept


@register("Softmax")
class Softmax(Layer):
    """Keras's ``Softmax(axis=-1)``: the softmax over ``axis`` (an int or a tuple of ints),
    with an optional ``mask`` of kept positions.

    >>> x = np.zeros((1, 2, 2))
    >>> Softmax(axis=(1, 2))(x).tolist()
    [[[0.25, 0.25], [0.25, 0.25]]]
    >>> Softmax().forward(x, mask=np.array([True, False]))[0].tolist()
    [[[1.0, 0.0], [1.0, 0.0]]]
    """

    SUPPORTS_MASKING = True
    USES_MASK = True

    def __init__(self, axis=-1, name: str | None = None, dtype="float32", input_shape=None,
                 trainable: bool = True):
        super().__init__(name=name, dtype=dtype, input_shape=input_shape, trainable=trainable)
        axes = list(axis) if isinstance(axis, list | tuple) else [axis]
        if not axes or any(isinstance(a, bool) or not isinstance(a, numbers.Integral)
                           for a in axes):
            raise self._error(f"expected axis to be an int or a tuple of ints, received "
                              f"{axis!r}")
        self.axis = axis

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def _axes(self, x) -> tuple[int, ...]:
        axes = list(self.axis) if isinstance(self.axis, list | tuple) else [self.axis]
        if any(not -x.ndim <= a < x.ndim for a in axes):
            raise self._error(f"axis {self.axis!r} is out of range for an input of shape "
                              f"{x.shape}")
        return tuple(a % x.ndim for a in axes)

    def _mask(self, x, mask) -> np.ndarray:
        mask = np.asarray(mask)
        if mask.ndim > x.ndim or any(m not in (1, i) for m, i in zip(
                mask.shape[::-1], x.shape[::-1], strict=False)):
            raise self._error(f"the mask must be broadcastable to the input: received input "
                              f"shape {x.shape}, mask shape {mask.shape}")
        return mask if mask.dtype == bool else mask > 0.5

    def forward(self, x, training: bool = False, rng=None, mask=None):
        """``y = softmax(x)`` over ``axis``, ``x`` at -1e9 and ``y`` at 0 where masked."""
        x = Activation._check_input(self, x)
        axes = self._axes(x)
        if mask is not None:
            mask = self._mask(x, mask)
            x = np.where(mask, x, x.dtype.type(-1e9))  # Keras's large negative number
        y = activations.softmax(x, axis=axes)  # (batch, ...)
        out = y if mask is None else np.where(mask, y, x.dtype.type(0))
        return out, _SoftmaxCache(y, mask)

    def backward(self, dy, cache: _SoftmaxCache):
        """Returns ``(dx, [])``: ``dx = y * (dy - sum(dy * y))`` over ``axis``, 0 where
        masked."""
        y, mask = cache
        dy = np.asarray(dy, dtype=self.dtype)
        if mask is not None:
            dy = np.where(mask, dy, y.dtype.type(0))
        axes = self._axes(y)
        dx = y * (dy - np.sum(dy * y, axis=axes, keepdims=True))  # (batch, ...)
        return (dx if mask is None else np.where(mask, dx, y.dtype.type(0))), []

    def get_config(self) -> dict:
        config = super().get_config()
        config["axis"] = self.axis
        return config


@register("PReLU")
class PReLU(Layer):
    """Keras's ``PReLU``: ``relu(x) - alpha * relu(-x)`` with a learned ``alpha`` of shape
    ``input_shape[1:]``, 1 along ``shared_axes``.

    >>> layer = PReLU(shared_axes=[1], dtype="float64")
    >>> layer.build((None, 7, 3)); layer.alpha.shape
    (1, 3)
    >>> layer.set_weights([np.full((1, 3), 0.1)])
    >>> layer(np.full((1, 7, 3), -2.0))[0, 0].tolist()
    [-0.2, -0.2, -0.2]
    """

    SUPPORTS_MASKING = True
    WEIGHT_NAMES = ("alpha",)

    def __init__(self, alpha_initializer="Zeros", alpha_regularizer=None,
                 alpha_constraint=None, shared_axes=None, name: str | None = None,
                 dtype="float32", input_shape=None, trainable: bool = True):
        super().__init__(name=name, dtype=dtype, input_shape=input_shape, trainable=trainable)
        self.alpha_initializer = deserialize_initializer(alpha_initializer)
        self.alpha_regularizer = regularizers.get(alpha_regularizer)
        self._set_constraints(alpha_constraint=alpha_constraint)
        if shared_axes is not None:
            shared_axes = list(shared_axes) if isinstance(shared_axes, list | tuple) else [
                shared_axes]
            if any(isinstance(a, bool) or not isinstance(a, numbers.Integral) or a < 1
                   for a in shared_axes):
                raise self._error(f"expected shared_axes to be positive axis numbers "
                                  f"(1 is the first axis after the batch), received "
                                  f"{shared_axes!r}")
        self.shared_axes = shared_axes
        self.alpha = None

    def build(self, input_shape) -> None:
        input_shape = tuple(input_shape)
        shared = set(self.shared_axes or ())
        if len(input_shape) < 2 or any(a >= len(input_shape) for a in shared):
            raise self._error(f"expected an input shape (batch, ...) with shared_axes "
                              f"{self.shared_axes} inside it, received {input_shape}")
        param_shape = tuple(1 if i in shared else d for i, d in enumerate(input_shape) if i)
        if any(not isinstance(d, numbers.Integral) or d <= 0 for d in param_shape):
            raise self._error(f"expected known sizes on every axis not in shared_axes, "
                              f"received input shape {input_shape}")
        self._weights = []
        self.alpha = self.add_weight("alpha", self.alpha_initializer(param_shape, self.dtype),
                                     self.alpha_constraint).value  # (input_shape[1:]), 1s shared
        super().build(input_shape)

    def input_shape_from_weights(self, weights) -> tuple | None:
        weights = list(weights)
        if self.shared_axes is None and weights:
            return (None, *np.shape(weights[0]))
        return None

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def weight_regularizers(self) -> list:
        return [self.alpha_regularizer]

    def _check_input(self, x) -> np.ndarray:
        x = Activation._check_input(self, x)
        expected = self.alpha.shape
        if x.ndim != len(expected) + 1 or any(
                a != 1 and a != d for a, d in zip(expected, x.shape[1:], strict=True)):
            raise self._error(f"expected an input (batch, *{expected}) (1: any size), "
                              f"received shape {x.shape}")
        return x

    def forward(self, x, training: bool = False, rng=None):
        """``y = relu(x) - alpha * relu(-x)``; returns ``(y, cache)``."""
        x = self._check_input(x)
        y = np.maximum(x, 0) - self.alpha * np.maximum(-x, 0)  # (batch, ...)
        return y, _ActivationCache(x, y)

    def backward(self, dy, cache: _ActivationCache):
        """Returns ``(dx, [dalpha])``, ``dalpha`` summed over the batch and shared axes."""
        x = cache.x
        dy = np.asarray(dy, dtype=self.dtype)
        dx = dy * ((x > 0).astype(x.dtype) + self.alpha * (x < 0))  # (batch, ...)
        dalpha = -dy * np.maximum(-x, 0)  # (batch, ...)
        axes = (0, *(a for a in range(1, x.ndim) if self.alpha.shape[a - 1] == 1
                     and x.shape[a] != 1))
        dalpha = dalpha.sum(axis=axes, keepdims=True).reshape(self.alpha.shape)
        return dx, [dalpha]

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(
            alpha_initializer=serialize_initializer(self.alpha_initializer),
            alpha_regularizer=serialize_regularizer(self.alpha_regularizer),
            alpha_constraint=serialize_constraint(self.alpha_constraint),
            shared_axes=self.shared_axes,
        )
        return config
