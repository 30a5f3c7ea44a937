"""Keras's Ftrl (``keras/src/optimizers/ftrl.py``): follow the regularized leader."""

from __future__ import annotations

import numpy as np

from .base import Optimizer, _check_float, keras_power, xla_divide


class Ftrl(Optimizer):
    """Keras's FTRL-proximal step (``p = -learning_rate_power``)::

    l2 = l2_regularization_strength + beta / (2 * lr)
    g_shrunk = g + 2 * l2_shrinkage_regularization_strength * w
    n_new = n + g**2
    z += g_shrunk - (n_new**p - n**p) / lr * w
    quadratic = n_new**p / lr + 2 * l2
    w = (clip(z, -l1, l1) - z) / quadratic;  n = n_new

    The accumulator ``n`` starts at ``initial_accumulator_value``, the linear term ``z``
    at 0.

    >>> import numpy as np
    >>> w = [np.array([0.0], "float32")]
    >>> Ftrl(learning_rate=1.0, initial_accumulator_value=0.0).apply(w, [np.array([2.0],
    ...     "float32")])
    >>> w[0]                                      # z = 2, quadratic = 2: w = -2 / 2
    array([-1.], dtype=float32)
    """

    default_name = "ftrl"

    def __init__(
        self,
        learning_rate: float = 0.001,
        learning_rate_power: float = -0.5,
        initial_accumulator_value: float = 0.1,
        l1_regularization_strength: float = 0.0,
        l2_regularization_strength: float = 0.0,
        l2_shrinkage_regularization_strength: float = 0.0,
        beta: float = 0.0,
        weight_decay: float | None = None,
        clipnorm: float | None = None,
        clipvalue: float | None = None,
        global_clipnorm: float | None = None,
        name: str | None = None,
        **kwargs,
    ):
        super().__init__(
            learning_rate, weight_decay, clipnorm, clipvalue, global_clipnorm, name=name,
            **kwargs,
        )
        checks = {
            "initial_accumulator_value": (initial_accumulator_value, "positive or zero"),
            "learning_rate_power": (learning_rate_power, "negative or zero"),
            "l1_regularization_strength": (l1_regularization_strength, "positive or zero"),
            "l2_regularization_strength": (l2_regularization_strength, "positive or zero"),
            "l2_shrinkage_regularization_strength": (
                l2_shrinkage_regularization_strength, "positive or zero"
            ),
            "beta": (beta, "positive or zero"),
        }
        values = {}
        for key, (value, expected) in checks.items():
            number = _check_float("Ftrl", key, value, -np.inf)
            bad = number > 0.0 if expected == "negative or zero" else number < 0.0
            if bad:
                raise ValueError(
                    f"Ftrl: `{key}` needs to be {expected}. Received: {key}={value}."
                )
            values[key] = number
        self.learning_rate_power = values["learning_rate_power"]
        self.initial_accumulator_value = values["initial_accumulator_value"]
        self.l1_regularization_strength = values["l1_regularization_strength"]
        self.l2_regularization_strength = values["l2_regularization_strength"]
        self.l2_shrinkage_regularization_strength = values[
            "l2_shrinkage_regularization_strength"
        ]
        self.beta = values["beta"]

    def _slot_groups(self):
        return [[("accumulator", self.initial_accumulator_value), ("linear", 0.0)]]

    def _update_step(self, weight, grad, slots, lr):
        f = weight.dtype.type
        accum, linear = slots["accumulator"], slots["linear"]
        power = f(-self.learning_rate_power)
        l2_reg = f(self.l2_regularization_strength) + f(self.beta) / (f(2.0) * lr)
        grad_to_use = grad + f(2 * self.l2_shrinkage_regularization_strength) * weight
        new_accum = accum + np.square(grad)
        linear += grad_to_use - xla_divide(
            keras_power(new_accum, power) - keras_power(accum, power), lr
        ) * weight
        quadratic = xla_divide(keras_power(new_accum, power), lr) + f(2) * l2_reg
        l1 = self.l1_regularization_strength
        linear_clipped = np.clip(linear, f(-l1), f(l1))
        weight[...] = (linear_clipped - linear) / quadratic
        accum[...] = new_accum

    def get_config(self):
        return {
            **super().get_config(),
            "learning_rate_power": self.learning_rate_power,
            "initial_accumulator_value": self.initial_accumulator_value,
            "l1_regularization_strength": self.l1_regularization_strength,
            "l2_regularization_strength": self.l2_regularization_strength,
            "l2_shrinkage_regularization_strength": self.l2_shrinkage_regularization_strength,
            "beta": self.beta,
        }
