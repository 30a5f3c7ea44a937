"""PyTorch ``nn.LSTM`` / ``nn.GRU`` state dicts (bidirectional, multi-layer) <-> npylstm
recurrent layers' weights: the names of
:mod:`npylstm.io.torch`, where the code (and the layout, with its transposes and double
biases) lives.
"""

from __future__ import annotations

from .io.torch import (
    TorchModule,
    from_torch_state_dict,
    load_torch_state_dict,
    lstm_layers,
    module_signature,
    read_torch_module,
    to_torch_state_dict,
    to_torch_state_dicts,
    torch_layers,
    torch_modules,
)

__all__ = [
    "TorchModule",
    "from_torch_state_dict",
    "load_torch_state_dict",
    "lstm_layers",
    "module_signature",
    "read_torch_module",
    "to_torch_state_dict",
    "to_torch_state_dicts",
    "torch_layers",
    "torch_modules",
]
