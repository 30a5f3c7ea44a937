"""Former home of the Numba core's ``jit_kernel`` decorator, now ``npylstm.ops.numba._jit``.

Re-exported here so existing imports keep working; ``CACHE_STATUS`` is the same dict
object, so ``_numba_util.CACHE_STATUS`` shows what the kernels' decorator decided.
"""

from __future__ import annotations

from .numba._jit import CACHE_STATUS, JIT_OPTIONS, jit_kernel

__all__ = ["JIT_OPTIONS", "CACHE_STATUS", "jit_kernel"]
