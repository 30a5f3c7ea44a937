"""The Numba core: the compiled LSTM (and, next, GRU) kernels, split by concern.

* ``_jit.py``: :func:`jit_kernel`, the ``njit`` decorator every kernel uses (on-disk cache,
  :data:`JIT_OPTIONS`, :data:`CACHE_STATUS`).
* ``activations.py``: the jitted activation helpers every cell's kernel inlines, and
  :data:`ACTIVATION_CODES`.
* ``lstm_kernels.py``: the LSTM's compiled kernels.
* ``parallel.py``: pure-Python orchestration: worker threads, row splits, fork and
  threading-layer guards.
* ``lstm.py``: :func:`lstm_forward`, :func:`lstm_inference`, :func:`lstm_backward`, with
  the signatures of ``npylstm/ops/lstm_reference.py`` (``npylstm.ops.lstm_numba``
  re-exports them under the backend's original name).
"""

from __future__ import annotations

from ._jit import CACHE_STATUS, JIT_OPTIONS, jit_kernel
from .activations import ACTIVATION_CODES
from .lstm import lstm_backward, lstm_forward, lstm_inference

__all__ = [
    "ACTIVATION_CODES",
    "CACHE_STATUS",
    "JIT_OPTIONS",
    "jit_kernel",
    "lstm_backward",
    "lstm_forward",
    "lstm_inference",
]
