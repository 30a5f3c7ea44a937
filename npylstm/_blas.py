"""How many threads BLAS may use: one process-wide controller and a cheap scoped limit.

The Numba core runs its parallel work in Numba's own threads, each calling BLAS (NumPy's
``np.dot`` inside ``@njit`` goes to SciPy's BLAS) on its share of the rows. Those calls
must run single-threaded: a multi-threaded BLAS inside each of two threads puts four busy
threads on two cores, and OpenBLAS's idle threads spin for a while after each call,
stealing the core the other Numba thread needs. :func:`blas_threads` sets every loaded
BLAS library's thread count for the duration of a ``with`` block and restores it after
(about 6 µs; building the controller costs a few ms, once per process).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

__all__ = ["blas_threads"]

_libraries: list | None = None  # threadpoolctl LibControllers of the loaded BLAS libraries


def _blas_libraries() -> list:
    """The BLAS libraries loaded in this process (NumPy's and SciPy's), found once."""
    global _libraries
    if _libraries is None:
        try:
            import scipy.linalg.cython_blas  # noqa: F401  (the BLAS Numba's np.dot calls)
            from threadpoolctl import ThreadpoolController
        except ImportError:  # without them BLAS keeps its own setting
            _libraries = []
        else:
            controller = ThreadpoolController()
            _libraries = [lib for lib in controller.lib_controllers if lib.user_api == "blas"]
    return _libraries


@contextlib.contextmanager
def blas_threads(limit: int | None) -> Iterator[None]:
    """Hold every BLAS library to at most ``limit`` threads inside the block (None: leave
    them as they are). Not thread-safe against other threads changing BLAS settings."""
    libraries = _blas_libraries() if limit is not None else []
    previous = [lib.get_num_threads() for lib in libraries]
    changed = []
    try:
        for lib, threads in zip(libraries, previous, strict=True):
            if threads is not None and threads > limit:
                lib.set_num_threads(limit)
                changed.append((lib, threads))
        yield
    finally:
        for lib, threads in changed:
            lib.set_num_threads(threads)
