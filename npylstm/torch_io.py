"""PyTorch ``nn.LSTM`` state dicts <-> npylstm LSTM weights: the names of
:mod:`npylstm.io.torch`, where the code (and the layout, with its transposes and double
biases) lives.
"""

from __future__ import annotations

from .io.torch import (
    from_torch_state_dict,
    load_torch_state_dict,
    lstm_layers,
    to_torch_state_dict,
    to_torch_state_dicts,
)

__all__ = [
    "from_torch_state_dict",
    "load_torch_state_dict",
    "lstm_layers",
    "to_torch_state_dict",
    "to_torch_state_dicts",
]
