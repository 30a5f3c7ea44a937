"""The Numba core under its original name: a re-export of ``npylstm.ops.numba``.

The code lives in the package ``npylstm/ops/numba/`` (its docstring lists the modules;
``numba/lstm.py`` describes the core). This module keeps every name existing code uses
importable from ``npylstm.ops.lstm_numba``, as the very same objects: the kernels are the
real Numba dispatchers (so ``lstm_numba._forward_rows.stats`` are their statistics) and
``BACKENDS["numba"]`` is this module.

``BLAS_MIN_UNITS`` and ``BLAS_MIN_ROWS`` are read by ``numba/lstm.py``; assigning them here
(``lstm_numba.BLAS_MIN_UNITS = 1``, or ``mock.patch.object(lstm_numba, "BLAS_MIN_UNITS",
1)``) assigns them there too, so they still choose the path the public functions take.
"""

# ruff: noqa: F401  (a re-export module: its imports are its interface)

from __future__ import annotations

import sys
import types

from .numba import lstm as _lstm_module
from .numba.activations import (
    _SIGMOID_FAST_LIMIT,
    _TANH_FAST_LIMIT,
    ACTIVATION_CODES,
    ELU,
    EXPONENTIAL,
    HARD_SIGMOID,
    HARD_SIGMOID_KERAS2,
    LINEAR,
    RELU,
    SELU,
    SIGMOID,
    SOFTPLUS,
    SOFTSIGN,
    SWISH,
    TANH,
    _activate,
    _activate_block,
    _derivative,
    _derivative_block,
    _like,
    _sigmoid_block,
    _sigmoid_exact,
    _sigmoid_fast,
    _tanh,
    _tanh_block,
    _tanh_f32,
)
from .numba.elementwise import _activation_code
from .numba.lstm import (
    BLAS_MIN_ROWS,
    BLAS_MIN_UNITS,
    _backward_all,
    _backward_blocks,
    _float_dtype,
    _forward_blocks,
    _padded_kernel,
    _run_forward,
    lstm_backward,
    lstm_forward,
    lstm_inference,
)
from .numba.lstm_cells import (
    _LANES,
    _add_rows_matrix,
    _add_vector_matrix,
    _cell_backward,
    _cell_backward_exact_ts,
    _cell_backward_from_gates,
    _cell_backward_tanh_sigmoid,
    _cell_backward_ts,
    _cell_forward,
    _cell_forward_exact_ts,
    _cell_forward_tanh_sigmoid,
    _cell_forward_ts,
    _copy,
    _copy_flat,
    _fused_backward,
    _fused_forward,
    _in_fast_range,
    _pack_gates,
    _pack_gates_at,
    _pack_gates_flat,
    _pad_gate_columns,
    _padded,
    _unpack_gates,
    _unpack_gates_at,
    _unpack_gates_flat,
)
from .numba.lstm_kernels import (
    _BLAS_INPUT_DIM,
    _TILE,
    _backward_rows,
    _backward_rows_ts,
    _backward_rows_ts_exact,
    _forward_row_ts,
    _forward_rows,
    _forward_rows_ts,
    _forward_rows_ts_exact,
    _gates_backward_step,
    _gates_backward_step_ts,
    _gates_forward_step,
    _gates_forward_step_ts,
    _padded_weights,
    _row_step_fast,
    _step_dh,
    _step_dh_flat,
    _step_inputs,
    _stream_step_ts,
)
from .numba.parallel import _after_fork_in_child, _launch_guard, _row_bounds, _run_parts
from .numba.products import (
    _dh_row,
    _dh_tile,
    _fma2,
    _gate_stores,
    _input_block,
    _load2,
    _load2_first,
    _preactivations_row,
    _preactivations_tile,
    _store2,
    _store_sums,
)

__all__ = ["ACTIVATION_CODES", "BLAS_MIN_UNITS", "BLAS_MIN_ROWS", "lstm_forward", "lstm_backward",
           "lstm_inference"]

#: Names assigned here that are read elsewhere: name -> the module that reads it.
_FORWARDED: dict[str, types.ModuleType] = {"BLAS_MIN_UNITS": _lstm_module,
                                           "BLAS_MIN_ROWS": _lstm_module}


class _ForwardingModule(types.ModuleType):
    """This module's type: assigning a name of :data:`_FORWARDED` also assigns it in the
    module that reads it (``mock.patch.object`` restores it the same way)."""

    def __setattr__(self, name: str, value: object) -> None:
        if name in _FORWARDED:
            setattr(_FORWARDED[name], name, value)
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _ForwardingModule
