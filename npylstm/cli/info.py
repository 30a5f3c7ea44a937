"""``npylstm info``: versions, the backend, threads, BLAS, and where the Numba kernels'
on-disk cache is (:func:`npylstm.ops.numba.cache_status`: the directory Numba writes to,
as its own cache locators chose it, and how many cache files are there now).

``--json`` prints the same as one JSON object, for scripts and bug reports.
"""

from __future__ import annotations

import json
import platform
import sys

from ._common import EXIT_OK, out

__all__ = ["cmd_info", "environment_info"]


def _threading_layer() -> str:
    import numba

    try:
        return numba.threading_layer()
    except ValueError:  # no parallel region launched yet in this process
        return f"not chosen yet (NUMBA_THREADING_LAYER={numba.config.THREADING_LAYER})"


def _blas() -> list[dict]:
    """The BLAS libraries npylstm holds to a thread count (``npylstm._blas``), as
    threadpoolctl describes them."""
    from npylstm import _blas

    keys = ("internal_api", "version", "architecture", "num_threads", "filepath")
    return [{k: lib.info().get(k) for k in keys} for lib in _blas._blas_libraries()]


def environment_info(status=None) -> dict:
    """What ``npylstm info`` reports, as plain data (``status``: a
    :class:`~npylstm.ops.numba.CacheStatus` already taken, else a new one)."""
    import numba
    import numpy as np

    import npylstm
    from npylstm.ops import default_backend
    from npylstm.ops.numba import cache_status

    status = cache_status() if status is None else status
    return {
        "npylstm": npylstm.__version__, "package": npylstm.__file__,
        "python": platform.python_version(), "executable": sys.executable,
        "numpy": np.__version__, "numba": numba.__version__,
        "backend": default_backend(),
        "numba_threads": numba.get_num_threads(), "threading_layer": _threading_layer(),
        "blas": _blas(),
        "cache": status.as_dict(),
    }


def cmd_info(args) -> int:
    from npylstm.ops.numba import cache_status

    status = cache_status()
    info = environment_info(status)
    if getattr(args, "json", False):
        out(json.dumps(info, indent=2))
        return EXIT_OK
    out(f"npylstm {info['npylstm']} ({info['package']})")
    out(f"Python {info['python']} ({info['executable']}), NumPy {info['numpy']}, "
        f"Numba {info['numba']}")
    out(f"backend: {info['backend']}; Numba threads: {info['numba_threads']}, threading "
        f"layer: {info['threading_layer']}")
    for lib in info["blas"]:
        out(f"BLAS: {lib['internal_api']} {lib['version']} ({lib['architecture']}), "
            f"{lib['num_threads']} threads here, {lib['filepath']}")
    out(str(status))
    out("(set NUMBA_CACHE_DIR before starting Python to move the cache)")
    return EXIT_OK
