"""The ``njit`` decorator for the Numba core, with on-disk caching that degrades gracefully.

``cache=True`` makes a second process load the compiled kernels from disk instead of
compiling them again. Numba refuses to decorate a ``cache=True`` function when it finds no
writable cache directory (a read-only install with no writable ``__pycache__``,
``NUMBA_CACHE_DIR`` or user cache directory): it raises ``RuntimeError`` at import time.
:func:`jit_kernel` catches that and compiles without caching instead, so ``import npylstm``
always works; :data:`CACHE_STATUS` records what happened.

Only decoration lives here. Numba's cache checks only the source file of the function it
caches (its modification time and size), not the files of the functions it calls and
compiles into it, nor these options: see the package docstring (``npylstm/ops/numba``)
for the rule that keeps cached kernels in step with the helpers and options they inline.
"""

from __future__ import annotations

from collections.abc import Callable

import numba

__all__ = ["JIT_OPTIONS", "CACHE_STATUS", "jit_kernel"]

#: Options for every kernel: ``error_model="numpy"`` lets float division vectorize (no
#: zero-division check per element); no ``fastmath``, which would break NaN and ±inf;
#: ``nogil`` so threads can run kernels side by side.
JIT_OPTIONS: dict[str, object] = {"error_model": "numpy", "nogil": True}

#: ``{"enabled": bool, "reason": str}``: whether compiled kernels are cached on disk.
CACHE_STATUS: dict[str, object] = {"enabled": True, "reason": ""}


def jit_kernel(fn: Callable | None = None, **options) -> Callable:
    """``numba.njit(cache=True, **JIT_OPTIONS)(fn)``, without the cache if that is impossible.

    Used bare (``@jit_kernel``) or with extra options (``@jit_kernel(parallel=True)``).
    Once one function could not be cached, the rest are compiled without caching too (a
    single decision per process, recorded in :data:`CACHE_STATUS`).
    """
    if fn is None:
        return lambda fn: jit_kernel(fn, **options)
    options = {**JIT_OPTIONS, **options}
    if CACHE_STATUS["enabled"]:
        try:
            return numba.njit(cache=True, **options)(fn)
        except (RuntimeError, OSError) as exc:  # no writable cache directory
            CACHE_STATUS["enabled"] = False
            CACHE_STATUS["reason"] = f"{type(exc).__name__}: {exc}"
    return numba.njit(cache=False, **options)(fn)
