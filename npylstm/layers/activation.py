"""The Keras ``Activation`` layer: one activation function applied to its input.

Following ``keras/src/layers/activations/activation.py``: ``Activation(activation)`` with
a Keras activation name (``"softmax"``, ``"relu"``, ...); its config is the name; it has
no weights. ``softmax`` and ``log_softmax`` act over the last axis, as Keras's
``activations.softmax`` does by default.

>>> import numpy as np
>>> from npylstm.layers import Activation
>>> Activation("softmax")(np.array([[0.0, np.log(3.0)]])).round(2).tolist()
[[0.25, 0.75]]
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .. import activations
from ..registry import register
from .base import Layer

__all__ = ["Activation"]


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
        return tuple(input_shape)

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
        y = activations.get(self.activation)(x)  # (batch, ...)
        return y, _ActivationCache(x, y)

    def backward(self, dy, cache: _ActivationCache):
        """Returns ``(dx, [])``: the activation's vector-Jacobian product."""
        dy = np.asarray(dy, dtype=self.dtype)
        return activations.get(self.activation).vjp(cache.x, cache.y, dy), []

    def get_config(self) -> dict:
        config = super().get_config()
        config["activation"] = self.activation
        return config
