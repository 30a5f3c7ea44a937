"""The Numba GRU core under a flat name, as ``lstm_numba`` is the LSTM's: a re-export.

The code lives in ``npylstm/ops/numba/gru.py`` (the public functions, which describe the
core) and ``npylstm/ops/numba/gru_kernels.py`` (the compiled kernels). The names here are
the very same objects: the kernels are the real Numba dispatchers (so
``gru_numba._forward_rows.stats`` are their statistics).
"""

# ruff: noqa: F401  (a re-export module: its imports are its interface)

from __future__ import annotations

from .numba.activations import ACTIVATION_CODES
from .numba.gru import GRUCache, _run_forward, gru_backward, gru_forward, gru_inference
from .numba.gru_kernels import _backward_rows, _copy, _forward_rows, _rows_times_matrix

__all__ = ["ACTIVATION_CODES", "GRUCache", "gru_forward", "gru_backward", "gru_inference"]
