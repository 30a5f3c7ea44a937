"""Optimizer update rules compiled by Numba: one pass over a weight instead of one NumPy
call (and temporary array) per operation.

Each kernel performs exactly the operations of its NumPy form in ``npylstm.optimizers``, in
the same order and dtype (no ``fastmath``, so no fused multiply-adds), so the results are
bit-identical to it, and hence to Keras's.
"""

from __future__ import annotations

import numpy as np

from .numba._jit import jit_kernel

__all__ = ["adam_update"]


@jit_kernel
def adam_update(weight, grad, m, v, alpha, one_minus_beta_1, one_minus_beta_2, epsilon):
    """Keras's Adam step (without amsgrad) on flat arrays of one dtype, in place::

        m += (g - m) * (1 - beta_1);  v += (g**2 - v) * (1 - beta_2)
        w -= m * alpha / (sqrt(v) + epsilon)
    """
    for j in range(weight.shape[0]):
        g = grad[j]
        m[j] += (g - m[j]) * one_minus_beta_1
        v[j] += (g * g - v[j]) * one_minus_beta_2
        weight[j] -= (m[j] * alpha) / (np.sqrt(v[j]) + epsilon)
