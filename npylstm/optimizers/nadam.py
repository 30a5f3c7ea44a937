"""Keras's Nadam (``keras/src/optimizers/nadam.py``)."""

from __future__ import annotations

import numpy as np

from .base import Optimizer, _check_float, keras_power, xla_divide


class Nadam(Optimizer):
    """Adam with Nesterov momentum and Keras's momentum schedule; ``u_product`` (one
    scalar of the first weight's dtype, starting at 1) is updated once per step, before
    the weights::

    u_product *= beta_1 * (1 - 0.5 * 0.96**t)
    u_t = beta_1 * (1 - 0.5 * 0.96**t);  u_t1 = beta_1 * (1 - 0.5 * 0.96**(t + 1))
    m += (g - m) * (1 - beta_1);  v += (g**2 - v) * (1 - beta_2)
    m_hat = u_t1 * m / (1 - u_product * u_t1) + (1 - u_t) * g / (1 - u_product)
    w -= m_hat * lr / (sqrt(v / (1 - beta_2**t)) + epsilon)

    >>> import numpy as np
    >>> opt = Nadam()
    >>> opt.apply([np.zeros(2, "float32")], [np.ones(2, "float32")])
    >>> opt.variable_names[-1], round(float(opt.variables[-1]), 6)  # 0.9 * (1 - 0.5 * 0.96)
    ('variable', 0.468)
    """

    default_name = "nadam"

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
        self.beta_1 = _check_float("Nadam", "beta_1", beta_1, 0.0, 1.0, high_inclusive=False)
        self.beta_2 = _check_float("Nadam", "beta_2", beta_2, 0.0, 1.0, high_inclusive=False)
        self.epsilon = _check_float("Nadam", "epsilon", epsilon, 0.0)
        self._u_product: np.ndarray | None = None

    def _slot_groups(self):
        return [[("momentum", 0.0), ("velocity", 0.0)]]

    def _build_extra(self, weights):
        dtype = weights[0].dtype if weights else np.dtype(np.float32)
        self._u_product = np.array(1.0, dtype=dtype)
        # Keras: backend.Variable(1.0, dtype=dtype), unnamed ("variable_<n>")
        return [("variable", self._u_product)]

    def _backend_update_step(self, weights, grads, lr_value):
        u = self._u_product
        f = u.dtype.type
        decay_power = keras_power(f(0.96), f(self.iterations + 1))
        u[...] = u * f(self.beta_1) * (f(1.0) - f(0.5) * decay_power)
        super()._backend_update_step(weights, grads, lr_value)

    def _update_step(self, weight, grad, slots, lr):
        f = weight.dtype.type
        local_step = f(self.iterations + 1)
        next_step = f(self.iterations + 2)
        decay = f(0.96)
        beta_1, beta_2 = f(self.beta_1), f(self.beta_2)
        u_t = beta_1 * (f(1.0) - f(0.5) * keras_power(decay, local_step))
        u_t_1 = beta_1 * (f(1.0) - f(0.5) * keras_power(decay, next_step))
        u_product_t = f(self._u_product)
        u_product_t_1 = u_product_t * u_t_1
        beta_2_power = keras_power(beta_2, local_step)
        m, v = slots["momentum"], slots["velocity"]
        m += (grad - m) * (f(1) - beta_1)
        v += (np.square(grad) - v) * (f(1) - beta_2)
        m_hat = xla_divide(u_t_1 * m, f(1) - u_product_t_1) + xla_divide(
            (f(1) - u_t) * grad, f(1) - u_product_t
        )
        v_hat = xla_divide(v, f(1) - beta_2_power)
        weight -= (m_hat * lr) / (np.sqrt(v_hat) + f(self.epsilon))

    def get_config(self):
        return {
            **super().get_config(),
            "beta_1": self.beta_1,
            "beta_2": self.beta_2,
            "epsilon": self.epsilon,
        }
