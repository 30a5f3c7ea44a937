"""Keras's Adadelta (``keras/src/optimizers/adadelta.py``)."""

from __future__ import annotations

import numpy as np

from .base import Optimizer, _check_float


class Adadelta(Optimizer):
    """Keras's Adadelta (``rms(x) = sqrt(x + epsilon)``)::

    acc_g = rho * acc_g + (1 - rho) * g**2
    delta = -(rms(acc_delta) * g / rms(acc_g))
    acc_delta = rho * acc_delta + (1 - rho) * delta**2
    w += lr * delta

    >>> import numpy as np
    >>> w = [np.array([1.0], "float32")]
    >>> opt = Adadelta(learning_rate=1.0, rho=0.5, epsilon=1e-2)
    >>> opt.apply(w, [np.array([1.0], "float32")])
    >>> round(float(w[0][0]), 6), round(1 - 0.01 ** 0.5 / (0.5 + 0.01) ** 0.5, 6)
    (0.859972, 0.859972)
    """

    default_name = "adadelta"

    def __init__(
        self,
        learning_rate: float = 0.001,
        rho: float = 0.95,
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
        self.rho = _check_float("Adadelta", "rho", rho, 0.0, 1.0)
        self.epsilon = _check_float("Adadelta", "epsilon", epsilon, 0.0)

    def _slot_groups(self):
        return [[("accumulated_grad", 0.0), ("accumulated_delta_var", 0.0)]]

    def _update_step(self, weight, grad, slots, lr):
        f = weight.dtype.type
        rho, one_minus_rho, epsilon = f(self.rho), f(1 - self.rho), f(self.epsilon)
        accumulated_grad = slots["accumulated_grad"]
        accumulated_delta_var = slots["accumulated_delta_var"]
        accumulated_grad[...] = rho * accumulated_grad + one_minus_rho * np.square(grad)
        delta_var = -(
            (np.sqrt(accumulated_delta_var + epsilon) * grad)
            / np.sqrt(accumulated_grad + epsilon)
        )
        accumulated_delta_var[...] = (
            rho * accumulated_delta_var + one_minus_rho * np.square(delta_var)
        )
        weight += lr * delta_var

    def get_config(self):
        return {**super().get_config(), "rho": self.rho, "epsilon": self.epsilon}
