"""Keras's Adafactor (``keras/src/optimizers/adafactor.py``)."""

from __future__ import annotations

import numpy as np

from .base import Optimizer, _check_float, keras_power, xla_divide, xla_mean


def _rms(x):
    return np.sqrt(xla_mean(np.square(x)))


class Adafactor(Optimizer):
    """Keras's Adafactor: the second moment of a weight of rank >= 2 is factored over its
    last two axes (``r`` rows, ``c`` columns); rank 0-1 weights keep a full ``v`` (and two
    int32 placeholders, as in Keras)::

    lr = min(lr, 1 / sqrt(t))      (relative_step, unless lr is a schedule or callable)
    rho = min(lr, 1 / sqrt(t));  alpha = max(epsilon_2, rms(w)) * rho
    g2 = g**2 + epsilon_1;  beta_2_t = 1 - t**beta_2_decay
    rank >= 2: r = beta_2_t * r + (1 - beta_2_t) * mean(g2, -1)
               c = beta_2_t * c + (1 - beta_2_t) * mean(g2, -2)
               v = (r / mean(r, -1))[..., None] * c[..., None, :]
    else:      v = beta_2_t * v + (1 - beta_2_t) * g2
    u = g / sqrt(v);  w -= alpha * u / max(1, rms(u) / clip_threshold)

    >>> import numpy as np
    >>> opt = Adafactor()
    >>> opt.build([np.zeros((2, 3), "float32"), np.zeros(3, "float32")], names=["k", "b"])
    >>> opt.variable_names[2:]
    ['k', 'k', 'k_velocity', 'b', 'b', 'b_velocity']
    >>> [a.shape for a in opt.variables[2:5]]
    [(2,), (3,), (2, 3)]
    """

    default_name = "adafactor"

    def __init__(
        self,
        learning_rate: float = 0.001,
        beta_2_decay: float = -0.8,
        epsilon_1: float = 1e-30,
        epsilon_2: float = 1e-3,
        clip_threshold: float = 1.0,
        relative_step: bool = True,
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
        self.beta_2_decay = _check_float("Adafactor", "beta_2_decay", beta_2_decay, -np.inf)
        self.epsilon_1 = _check_float("Adafactor", "epsilon_1", epsilon_1, 0.0)
        self.epsilon_2 = _check_float("Adafactor", "epsilon_2", epsilon_2, 0.0)
        self.clip_threshold = _check_float("Adafactor", "clip_threshold", clip_threshold, 0.0)
        if self.clip_threshold == 0.0:
            raise ValueError("Adafactor: expected clip_threshold > 0, received 0")
        self.relative_step = bool(relative_step)

    def _create_slots(self, weights, names, raw_names):
        slots, order = [], []
        for w, n, raw in zip(weights, names, raw_names, strict=True):
            if w.ndim < 2:  # Keras: backend.Variable(0, name=var.name) placeholders
                r, c = np.zeros((), np.int32), np.zeros((), np.int32)
            else:
                r = np.zeros(w.shape[:-1], w.dtype)
                c = np.zeros(w.shape[:-2] + w.shape[-1:], w.dtype)
            v = np.zeros_like(w)
            slots.append({"r": r, "c": c, "velocity": v})
            order += [(raw, r), (raw, c), (f"{n}_velocity", v)]
        return slots, order

    def _update_step(self, weight, grad, slots, lr):
        f = weight.dtype.type
        one = f(1.0)
        local_step = f(self.iterations + 1)
        if not callable(self._learning_rate) and self.relative_step:
            lr = np.minimum(lr, one / np.sqrt(local_step))
        r, c, v = slots["r"], slots["c"], slots["velocity"]
        rho_t = np.minimum(lr, one / np.sqrt(local_step))
        alpha_t = np.maximum(f(self.epsilon_2), _rms(weight)) * rho_t
        regulated_grad_square = np.square(grad) + f(self.epsilon_1)
        beta_2_t = one - keras_power(local_step, self.beta_2_decay)
        if weight.ndim >= 2:
            r[...] = beta_2_t * r + (one - beta_2_t) * xla_mean(regulated_grad_square, axis=-1)
            c[...] = beta_2_t * c + (one - beta_2_t) * xla_mean(regulated_grad_square, axis=-2)
            v[...] = np.expand_dims(xla_divide(r, xla_mean(r, axis=-1, keepdims=True)), -1) * (
                np.expand_dims(c, -2)
            )
        else:
            v[...] = beta_2_t * v + (one - beta_2_t) * regulated_grad_square
        u_t = grad / np.sqrt(v)
        u_t_hat = xla_divide(u_t, np.maximum(one, _rms(u_t) / f(self.clip_threshold)))
        weight -= alpha_t * u_t_hat

    def get_config(self):
        return {
            **super().get_config(),
            "beta_2_decay": self.beta_2_decay,
            "epsilon_1": self.epsilon_1,
            "epsilon_2": self.epsilon_2,
            "clip_threshold": self.clip_threshold,
            "relative_step": self.relative_step,
        }
