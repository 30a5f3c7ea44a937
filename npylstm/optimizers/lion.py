"""Keras's Lion (``keras/src/optimizers/lion.py``)."""

from __future__ import annotations

import numpy as np

from .base import Optimizer, _check_float


class Lion(Optimizer):
    """Keras's Lion (the sign of an interpolation, then the momentum update)::

    w -= lr * sign(m * beta_1 + g * (1 - beta_1))
    m = m * beta_2 + g * (1 - beta_2)

    >>> import numpy as np
    >>> w = [np.array([1.0, 1.0], "float32")]
    >>> Lion(learning_rate=0.1).apply(w, [np.array([3.0, -0.5], "float32")])
    >>> w[0]
    array([0.9, 1.1], dtype=float32)
    """

    default_name = "lion"

    def __init__(
        self,
        learning_rate: float = 0.001,
        beta_1: float = 0.9,
        beta_2: float = 0.99,
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
        number = _check_float("Lion", "beta_1", beta_1, -np.inf)
        if number <= 0 or number > 1:
            raise ValueError(
                "Lion: argument `beta_1` must be in the [0, 1] range. Otherwise, the "
                f"optimizer degenerates to SignSGD. Received: beta_1={beta_1}."
            )
        self.beta_1 = number
        self.beta_2 = _check_float("Lion", "beta_2", beta_2, 0.0, 1.0)

    def _slot_groups(self):
        return [[("momentum", 0.0)]]

    def _update_step(self, weight, grad, slots, lr):
        f = weight.dtype.type
        beta_1, beta_2 = f(self.beta_1), f(self.beta_2)
        m = slots["momentum"]
        weight -= lr * np.sign(m * beta_1 + grad * (f(1.0) - beta_1))
        m[...] = m * beta_2 + grad * (f(1.0) - beta_2)

    def get_config(self):
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2}
