"""Keras's Adagrad (``keras/src/optimizers/adagrad.py``)."""

from __future__ import annotations

import numpy as np

from .base import Optimizer, _check_float


class Adagrad(Optimizer):
    """``acc += g**2`` (starting at ``initial_accumulator_value``);
    ``w -= lr * g / sqrt(acc + epsilon)``."""

    default_name = "adagrad"

    def __init__(
        self,
        learning_rate: float = 0.001,
        initial_accumulator_value: float = 0.1,
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
        self.initial_accumulator_value = _check_float(
            "Adagrad", "initial_accumulator_value", initial_accumulator_value, 0.0
        )
        self.epsilon = _check_float("Adagrad", "epsilon", epsilon, 0.0)

    def _slot_groups(self):
        return [[("accumulator", self.initial_accumulator_value)]]

    def _update_step(self, weight, grad, slots, lr):
        accumulator = slots["accumulator"]
        accumulator += np.square(grad)
        weight -= (lr * grad) / np.sqrt(accumulator + weight.dtype.type(self.epsilon))

    def get_config(self):
        return {
            **super().get_config(),
            "initial_accumulator_value": self.initial_accumulator_value,
            "epsilon": self.epsilon,
        }
