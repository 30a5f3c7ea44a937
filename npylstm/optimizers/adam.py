"""Keras's Adam (``keras/src/optimizers/adam.py``)."""

from __future__ import annotations

import numba
import numpy as np

from ..ops.optim_numba import adam_update
from .base import Optimizer, _check_float, keras_power


def _fused_adam_applies(amsgrad: bool, weight, grad, m, v) -> bool:
    """Whether :func:`~npylstm.ops.optim_numba.adam_update` can take this step: compiled
    code (not ``NUMBA_DISABLE_JIT``), no amsgrad, C-contiguous arrays of one float dtype."""
    if amsgrad or numba.config.DISABLE_JIT:
        return False
    dtype = weight.dtype
    return (dtype in (np.float32, np.float64) and grad.dtype == dtype and m.dtype == dtype
            and v.dtype == dtype and weight.flags.c_contiguous and grad.flags.c_contiguous
            and m.flags.c_contiguous and v.flags.c_contiguous)


class Adam(Optimizer):
    """Keras's Adam (epsilon outside the bias correction, unlike PyTorch)::

    m += (g - m) * (1 - beta_1);  v += (g**2 - v) * (1 - beta_2)
    alpha = lr * sqrt(1 - beta_2**t) / (1 - beta_1**t)
    w -= m * alpha / (sqrt(v) + epsilon)       # amsgrad: v -> running max of v
    """

    default_name = "adam"

    def __init__(
        self,
        learning_rate: float = 0.001,
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        epsilon: float = 1e-7,
        amsgrad: bool = False,
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
        self.beta_1 = _check_float("Adam", "beta_1", beta_1, 0.0, 1.0, high_inclusive=False)
        self.beta_2 = _check_float("Adam", "beta_2", beta_2, 0.0, 1.0, high_inclusive=False)
        self.epsilon = _check_float("Adam", "epsilon", epsilon, 0.0)
        self.amsgrad = bool(amsgrad)

    def _slot_groups(self):
        groups = [[("momentum", 0.0), ("velocity", 0.0)]]
        if self.amsgrad:
            groups.append([("velocity_hat", 0.0)])
        return groups

    def _step_scalars(self, f, lr):
        """The scalars of one step for weights of dtype ``f`` (the same for every weight of
        that dtype): ``(alpha, 1 - beta_1, 1 - beta_2, epsilon)`` in ``f``, computed as
        Keras's ``update_step`` computes them."""
        local_step = f(self.iterations + 1)
        beta_1_power = keras_power(f(self.beta_1), local_step)
        beta_2_power = keras_power(f(self.beta_2), local_step)
        alpha = lr * np.sqrt(f(1) - beta_2_power) / (f(1) - beta_1_power)
        return f(alpha), f(1 - self.beta_1), f(1 - self.beta_2), f(self.epsilon)

    def _backend_update_step(self, weights, grads, lr_value) -> None:
        """``update_step`` per weight, the step's scalars computed once per dtype (not once
        per weight: the same numbers, without their cost on every weight)."""
        scalars: dict = {}
        for w, g, slots in zip(weights, grads, self._slots, strict=True):
            step = scalars.get(w.dtype)
            if step is None:
                f = w.dtype.type
                step = scalars[w.dtype] = self._step_scalars(f, f(lr_value))
            self._apply_step(w, g, slots, step)

    def _update_step(self, weight, grad, slots, lr):
        self._apply_step(weight, grad, slots, self._step_scalars(weight.dtype.type, lr))

    def _apply_step(self, weight, grad, slots, step) -> None:
        alpha, one_minus_beta_1, one_minus_beta_2, epsilon = step
        m, v = slots["momentum"], slots["velocity"]
        if _fused_adam_applies(self.amsgrad, weight, grad, m, v):
            # the same operations in one compiled pass (bit-identical, see ops/optim_numba.py)
            adam_update(weight.reshape(-1), grad.reshape(-1), m.reshape(-1), v.reshape(-1),
                        alpha, one_minus_beta_1, one_minus_beta_2, epsilon)
            return
        m += (grad - m) * one_minus_beta_1
        v += (np.square(grad) - v) * one_minus_beta_2
        if self.amsgrad:
            v_hat = slots["velocity_hat"]
            np.maximum(v_hat, v, out=v_hat)
            v = v_hat
        weight -= (m * alpha) / (np.sqrt(v) + epsilon)

    def get_config(self):
        return {
            **super().get_config(),
            "beta_1": self.beta_1,
            "beta_2": self.beta_2,
            "epsilon": self.epsilon,
            "amsgrad": self.amsgrad,
        }
