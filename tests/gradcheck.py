"""The central difference every float64 gradient test compares with (one copy for all)."""

from __future__ import annotations

import numpy as np

__all__ = ["central_difference"]


def central_difference(f, array: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """``(f(a + eps) - f(a - eps)) / (2 eps)`` for every entry of ``array``, perturbed in
    place (and restored) while the scalar function ``f()`` reads it."""
    grad = np.zeros_like(array)
    for index in np.ndindex(array.shape):
        old = array[index]
        array[index] = old + eps
        up = f()
        array[index] = old - eps
        down = f()
        array[index] = old
        grad[index] = (up - down) / (2 * eps)
    return grad
