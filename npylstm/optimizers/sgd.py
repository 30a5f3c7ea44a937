"""Keras's SGD (``keras/src/optimizers/sgd.py``)."""

from __future__ import annotations

from .base import Optimizer, _check_float


class SGD(Optimizer):
    """``m = momentum * m - lr * g``; ``w += m`` (nesterov: ``w += momentum * m - lr * g``).

    Without momentum: ``w -= lr * g``.
    """

    default_name = "sgd"

    def __init__(
        self,
        learning_rate: float = 0.01,
        momentum: float = 0.0,
        nesterov: bool = False,
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
        self.momentum = _check_float("SGD", "momentum", momentum, 0.0, 1.0)
        self.nesterov = bool(nesterov)

    def _slot_groups(self):
        return [[("momentum", 0.0)]] if self.momentum != 0 else []

    def _update_step(self, weight, grad, slots, lr):
        if not slots:
            weight -= grad * lr
            return
        m = slots["momentum"]
        momentum = weight.dtype.type(self.momentum)
        m[...] = m * momentum - grad * lr
        if self.nesterov:
            weight += m * momentum - grad * lr
        else:
            weight += m

    def get_config(self):
        return {**super().get_config(), "momentum": self.momentum, "nesterov": self.nesterov}
