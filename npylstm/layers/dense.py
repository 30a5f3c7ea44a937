"""The Keras ``Dense`` layer: ``activation(x @ kernel + bias)`` over the last axis.

>>> import numpy as np
>>> from npylstm.layers import Dense
>>> layer = Dense(5)
>>> layer(np.zeros((2, 20), dtype="float32")).shape
(2, 5)
>>> layer(np.zeros((2, 7, 20), dtype="float32")).shape  # applies to the last axis, like Keras
(2, 7, 5)
>>> [w.shape for w in layer.weights], layer.count_params()
([(20, 5), (5,)], 105)
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .. import activations, regularizers
from ..registry import register
from .base import ANY_VALUE, Layer, deserialize_initializer
from .serialization import weight_options_config

__all__ = ["Dense"]


class _DenseCache(NamedTuple):
    x: np.ndarray  # (..., input_dim) the input
    z: np.ndarray  # (..., units) pre-activation x @ kernel + bias
    y: np.ndarray  # (..., units) activation(z)


@register("Dense")
class Dense(Layer):
    """Fully connected layer with Keras 3's arguments and defaults.

    Weights (``get_weights()`` order): ``kernel (input_dim, units)``, ``bias (units,)``
    (absent with ``use_bias=False``). On an input ``(..., input_dim)`` it returns
    ``activation(x @ kernel + bias)`` of shape ``(..., units)``: a 3-D input
    ``(batch, timesteps, input_dim)`` is transformed at every timestep, as in Keras.
    """

    SUPPORTS_MASKING = True  # passes the time mask on, as Keras's does

    WEIGHT_NAMES = ("kernel", "bias")
    ACTIVATION_KEYS = ("activation",)
    # Keras 3's quantization and LoRA options: only their "off" values load here.
    KERAS_IGNORED = {"quantization_config": None, "lora_rank": None, "lora_alpha": ANY_VALUE}
    KERAS3_ONLY = ("quantization_config", "lora_rank", "lora_alpha")

    def __init__(
        self,
        units: int,
        activation: str | None = None,
        use_bias: bool = True,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        kernel_regularizer=None,
        bias_regularizer=None,
        activity_regularizer=None,
        kernel_constraint=None,
        bias_constraint=None,
        name: str | None = None,
        dtype="float32",
        input_shape=None,
        trainable: bool = True,
    ):
        super().__init__(name=name, dtype=dtype, input_shape=input_shape, trainable=trainable)
        self.units = self._check_units(units)
        self.activation = self._elementwise_activation("activation", activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = deserialize_initializer(kernel_initializer)
        self.bias_initializer = deserialize_initializer(bias_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self.activity_regularizer = regularizers.get(activity_regularizer)
        self._set_constraints(kernel_constraint=kernel_constraint, bias_constraint=bias_constraint)
        self.kernel = None
        self.bias = None

    # -- building -------------------------------------------------------------------------
    @property
    def input_dim(self) -> int | None:
        return None if not self.built else self.kernel.shape[0]

    def build(self, input_shape) -> None:
        input_shape = tuple(input_shape)
        if len(input_shape) < 2:
            raise self._error(
                f"expected an input shape (batch, ..., features), received {input_shape}"
            )
        input_dim = self._feature_count(input_shape)
        self._weights = []
        self.kernel = self.add_weight(
            "kernel", self.kernel_initializer((input_dim, self.units), self.dtype),
            self.kernel_constraint,
        ).value  # (D, units)
        self.bias = None
        if self.use_bias:
            self.bias = self.add_weight(
                "bias", self.bias_initializer((self.units,), self.dtype), self.bias_constraint
            ).value  # (units,)
        super().build(input_shape)

    def input_shape_from_weights(self, weights) -> tuple | None:
        weights = list(weights)
        if weights and np.ndim(weights[0]) == 2:  # kernel (D, units)
            return (None, int(np.shape(weights[0])[0]))
        return None

    def param_rule(self) -> tuple[str, str]:
        bias = " + 1" if self.use_bias else ""
        rule = f"units × (input_dim{bias})"
        return rule, f"{self.units} × ({self.input_dim}{bias}) = {self.count_params():,}"

    def param_formula(self) -> str:
        """This layer's parameter count written out, e.g. ``20 × 5 + 5 = 105``."""
        if not self.built:
            raise self._error("param_formula() needs a built layer")
        bias = f" + {self.units}" if self.use_bias else ""
        return f"{self.input_dim} × {self.units}{bias} = {self.count_params():,}"

    def weight_regularizers(self) -> list:
        return [self.kernel_regularizer] + ([self.bias_regularizer] if self.use_bias else [])

    def compute_output_shape(self, input_shape):
        input_shape = tuple(input_shape)
        if len(input_shape) < 2:
            raise self._error(
                f"expected an input shape (batch, ..., features), received {input_shape}"
            )
        return (*input_shape[:-1], self.units)

    # -- computing ------------------------------------------------------------------------
    def _check_input(self, x) -> np.ndarray:
        x = self._as_float_array(x)
        if x.ndim < 2:
            raise self._error(
                f"expected input of shape (batch, ..., features), received shape {x.shape}"
            )
        if not self.built:
            self.build((None, *x.shape[1:]))
        if x.shape[-1] != self.input_dim:
            raise self._error(
                f"input has {x.shape[-1]} features, kernel expects {self.input_dim} "
                f"(input shape {x.shape}, kernel shape {self.kernel.shape})"
            )
        return x

    def forward(self, x, training: bool = False, rng=None):
        """``y = activation(x @ kernel + bias)``; returns ``(y, cache)`` for :meth:`backward`."""
        x = self._check_input(x)
        z = x @ self.kernel  # (..., units)
        if self.bias is not None:
            z += self.bias  # in place: z is the product's new array
        y = activations.get(self.activation)(z)  # (..., units)
        return y, _DenseCache(x, z, y)

    def backward(self, dy, cache: _DenseCache):
        """Returns ``(dx, [dkernel, dbias])`` for the gradient ``dy`` of the output."""
        x, z, y = cache
        act = activations.get(self.activation)
        dy = np.asarray(dy, dtype=self.dtype)
        # backprop into z through y = activation(z)
        dz = dy if act.name == "linear" else act.vjp(z, y, dy)  # (..., units)
        # backprop into x, kernel and bias through z = x @ kernel + bias
        dx = dz @ self.kernel.T  # (..., D)
        x_2d = x.reshape(-1, x.shape[-1])  # (N, D), every leading axis flattened
        dz_2d = dz.reshape(-1, self.units)  # (N, units)
        dkernel = x_2d.T @ dz_2d  # (D, units)
        # add.reduce is what ndarray.sum runs (numpy/_core/_methods.py), one call less
        grads = [dkernel] + ([np.add.reduce(dz_2d, axis=0)] if self.use_bias else [])
        return dx, grads

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(
            units=self.units,
            activation=self.activation,
            use_bias=self.use_bias,
            **weight_options_config(self),
            quantization_config=None,
        )
        return config
