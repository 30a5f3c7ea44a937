"""Keras's Adamax (``keras/src/optimizers/adamax.py``)."""

from __future__ import annotations

import numpy as np

from .base import Optimizer, _check_float, keras_power


class Adamax(Optimizer):
    """Adam with the infinity norm (Keras's operation order)::

    m += (g - m) * (1 - beta_1);  u = max(beta_2 * u, |g|)
    w -= lr * m / ((1 - beta_1**t) * (u + epsilon))

    >>> import numpy as np
    >>> w = [np.array([1.0], "float32")]
    >>> Adamax(learning_rate=0.1).apply(w, [np.array([2.0], "float32")])
    >>> round(float(w[0][0]), 6)                  # 1 - 0.1 * 0.2 / (0.1 * (2 + 1e-7))
    0.9
    """

    default_name = "adamax"

    def __init__(
        self,
        learning_rate: float = 0.001,
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        epsilon: float = 1e-7,
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
        self.beta_1 = _check_float("Adamax", "beta_1", beta_1, 0.0, 1.0, high_inclusive=False)
        self.beta_2 = _check_float("Adamax", "beta_2", beta_2, 0.0, 1.0)
        self.epsilon = _check_float("Adamax", "epsilon", epsilon, 0.0)

    def _slot_groups(self):
        return [[("momentum", 0.0), ("norm", 0.0)]]

    def _update_step(self, weight, grad, slots, lr):
        f = weight.dtype.type
        local_step = f(self.iterations + 1)
        beta_1_power = keras_power(f(self.beta_1), local_step)
        m, u = slots["momentum"], slots["norm"]
        m += (grad - m) * f(1 - self.beta_1)
        u[...] = np.maximum(f(self.beta_2) * u, np.abs(grad))
        weight -= (lr * m) / ((f(1) - beta_1_power) * (u + f(self.epsilon)))

    def get_config(self):
        return {
            **super().get_config(),
            "beta_1": self.beta_1,
            "beta_2": self.beta_2,
            "epsilon": self.epsilon,
        }
