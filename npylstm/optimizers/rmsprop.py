"""Keras's RMSprop (``keras/src/optimizers/rmsprop.py``)."""

from __future__ import annotations

import numpy as np

from .base import Optimizer, _check_float


class RMSprop(Optimizer):
    """Keras's RMSprop (epsilon inside the square root)::

    v = rho * v + (1 - rho) * g**2
    centered: a = rho * a + (1 - rho) * g;  denominator = v - a**2 + epsilon
    else:     denominator = v + epsilon
    increment = lr * g / sqrt(denominator)
    momentum > 0: mom = momentum * mom + increment; w -= mom   else: w -= increment
    """

    default_name = "rm_sprop"  # sic: Keras's to_snake_case('RMSprop')

    def __init__(
        self,
        learning_rate: float = 0.001,
        rho: float = 0.9,
        momentum: float = 0.0,
        epsilon: float = 1e-7,
        centered: bool = False,
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
        self.rho = _check_float("RMSprop", "rho", rho, 0.0, 1.0)
        self.momentum = _check_float("RMSprop", "momentum", momentum, 0.0, 1.0)
        self.epsilon = _check_float("RMSprop", "epsilon", epsilon, 0.0)
        self.centered = bool(centered)

    def _slot_groups(self):
        groups = [[("velocity", 0.0)]]
        if self.momentum > 0:
            groups.append([("momentum", 0.0)])
        if self.centered:
            groups.append([("average_gradient", 0.0)])
        return groups

    def _update_step(self, weight, grad, slots, lr):
        f = weight.dtype.type
        rho, one_minus_rho = f(self.rho), f(1 - self.rho)
        velocity = slots["velocity"]
        velocity[...] = rho * velocity + one_minus_rho * np.square(grad)
        if self.centered:
            average_grad = slots["average_gradient"]
            average_grad[...] = rho * average_grad + one_minus_rho * grad
            denominator = velocity - np.square(average_grad) + f(self.epsilon)
        else:
            denominator = velocity + f(self.epsilon)
        increment = (lr * grad) / np.sqrt(denominator)
        if self.momentum > 0:
            momentum = slots["momentum"]
            momentum[...] = f(self.momentum) * momentum + increment
            weight -= momentum
        else:
            weight -= increment

    def get_config(self):
        return {
            **super().get_config(),
            "rho": self.rho,
            "momentum": self.momentum,
            "epsilon": self.epsilon,
            "centered": self.centered,
        }
