"""Optimizer update rules compiled by Numba: one pass over a weight instead of one NumPy
call (and temporary array) per operation.

Each kernel performs exactly the operations of its NumPy form in ``npylstm.optimizers``, in
the same order and dtype (no ``fastmath``, so no fused multiply-adds), so the results are
bit-identical to it, and hence to Keras's.

Numba's cache checks only this file: :data:`HELPERS_SOURCE_SHA256` records the SHA-256 of
``_jit.py``, whose options are compiled in, so that a change there makes Numba recompile
these kernels (the rule of ``npylstm/ops/numba``; checked by ``tests/test_numba_cache.py``).
"""

from __future__ import annotations

import numpy as np

from .numba._jit import jit_kernel

__all__ = ["HELPERS_SOURCE_SHA256", "adam_update"]

#: SHA-256 of what this module's kernels compile in from other ``npylstm`` files (paths
#: relative to the package): a whole file that uses Numba, or the definitions of the names
#: imported from a plain module (``"file: NAME, ..."``). Numba's cache checks only this
#: file: when one of these changes, ``tests/test_numba_cache.py`` prints the new digest to
#: paste here, and that edit makes Numba recompile this module's kernels.
HELPERS_SOURCE_SHA256: dict[str, str] = {
    "ops/numba/_jit.py": "5edc77b651ae5b21a1056d5e822da93c4779249c7c535fe8a54cf64bbfb2ead4",
}


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
