"""LSTM kernels: the NumPy reference and the Numba core, with identical signatures.

``BACKENDS`` maps a backend name to a module that provides ``lstm_forward``,
``lstm_backward`` and ``lstm_inference`` (the forward without the cache, for predictions):
``"numba"`` (the compiled core, the default) and ``"reference"`` (the NumPy teaching code).
:func:`get_backend` resolves a name (``None`` means the global default, set by
:func:`set_backend` or the ``NPYLSTM_BACKEND`` environment variable).

Recurrent layers run through :func:`get_kernel` (``ops/kernels.py``): the fast kernel of
their cell on the chosen backend where one exists (on ``"numba"``: the LSTM core,
``lstm_numba``, and the GRU core, ``gru_numba``), else the generic loop over the cell
(``ops/rnn_reference.py``).
"""

from __future__ import annotations

import os
from types import ModuleType

from . import lstm_numba, lstm_reference
from .kernels import get_kernel
from .lstm_reference import LSTMCache

__all__ = [
    "BACKENDS", "LSTMCache", "default_backend", "get_backend", "get_kernel", "set_backend",
]

BACKENDS: dict[str, ModuleType] = {"numba": lstm_numba, "reference": lstm_reference}

_default = os.environ.get("NPYLSTM_BACKEND", "numba")


def _check(name: str) -> str:
    if name not in BACKENDS:
        raise ValueError(f"Unknown backend {name!r}: expected one of {sorted(BACKENDS)}")
    return name


def default_backend() -> str:
    """The name of the backend used when a layer does not choose one."""
    return _check(_default)


def set_backend(name: str) -> None:
    """Choose the backend every layer uses unless it was given ``backend=...``."""
    global _default
    _default = _check(name)


def get_backend(name: str | None = None) -> ModuleType:
    """The kernel module for ``name`` (``None``: the global default)."""
    return BACKENDS[_check(default_backend() if name is None else name)]
