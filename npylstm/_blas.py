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
import threading
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


def _set(library, threads: int) -> None:
    """Set a library's thread count from any thread. threadpoolctl's OpenBLAS controller
    silently ignores calls from every thread but the first one that set it (one process-wide
    pool, guarded against threads fighting); :func:`blas_threads` does that guarding itself
    (the first block sets, the last restores), so it calls the unguarded setter."""
    getattr(library, "_real_set_num_threads", library.set_num_threads)(threads)


_lock = threading.Lock()
_active = 0  # blocks inside blas_threads, in every thread
_limit: int | None = None  # the limit in force while _active > 0
_saved: list[tuple[object, int]] = []  # (library, its thread count before the first block)


@contextlib.contextmanager
def blas_threads(limit: int | None) -> Iterator[None]:
    """Hold every BLAS library to at most ``limit`` threads inside the block (None: leave
    them as they are).

    Safe across threads and nesting: the libraries' settings are saved when the first block
    starts and restored when the last one ends, and while blocks overlap the smallest limit
    asked for holds (a block ending never raises the count under another that is running,
    which would change its summation order mid-call).
    """
    global _active, _limit
    if limit is None:
        yield
        return
    libraries = _blas_libraries()
    with _lock:
        if _active == 0:
            _saved[:] = [(lib, lib.get_num_threads()) for lib in libraries]
            _limit = None
        if _limit is None or limit < _limit:
            _limit = limit
            for lib, threads in _saved:
                if threads is not None and threads > limit:
                    _set(lib, limit)
        _active += 1
    try:
        yield
    finally:
        with _lock:
            _active -= 1
            if _active == 0:
                for lib, threads in _saved:
                    if threads is not None and lib.get_num_threads() != threads:
                        _set(lib, threads)
                _saved.clear()
                _limit = None
