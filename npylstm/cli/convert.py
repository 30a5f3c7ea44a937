"""``npylstm convert``: between ``.keras``, ``.weights.h5``, legacy ``.h5``, and ``nn.LSTM``
state dicts (``.npz``, ``.pt``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ._common import EXIT_OK, CLIError, existing, import_torch, out, writable
from ._load import load_any_model

__all__ = ["cmd_convert"]

_DST_KINDS = {
    ".keras": "Keras 3 .keras archive",
    ".weights.h5": "Keras 3 .weights.h5 file",
    ".h5": "legacy HDF5 model",
    ".npz": "PyTorch-style nn.LSTM state dict (.npz)",
    ".pt": "PyTorch nn.LSTM state dict (.pt)",
}


def _dst_kind(path: Path) -> str:
    name = path.name.lower()
    for suffix in (".weights.h5", ".keras", ".h5", ".npz", ".pt"):
        if name.endswith(suffix):
            return suffix
    raise CLIError(
        f"DST '{path}': expected a name ending in .keras, .weights.h5, .h5, .npz or .pt"
    )


def cmd_convert(args) -> int:
    from .. import io

    src = existing(args.src, "SRC file")
    dst = writable(args.dst)
    kind = _dst_kind(dst)
    if src.resolve() == dst.resolve():
        raise CLIError(f"SRC and DST are the same file: '{src}'")
    if kind == ".pt":
        torch = import_torch(f"writing '{dst}'")
    model = load_any_model(src, args.config)
    note = ""
    if kind == ".keras" or (kind == ".h5" and not args.weights_only):
        io.save_model(model, dst)
    elif kind in (".weights.h5", ".h5"):
        io.save_weights(model, dst)
        kind = ".weights.h5" if kind == ".weights.h5" else "legacy weights"
    else:
        lstms = io.lstm_layers(model)
        if len({layer.units for layer in lstms}) == 1:
            state = io.to_torch_state_dict(model)
            note = (f"; one nn.LSTM(input_size={lstms[0].input_dim}, hidden_size="
                    f"{lstms[0].units}, num_layers={len(lstms)}, batch_first=True)")
        else:  # one nn.LSTM cannot change size between layers: one module per layer
            dicts = io.to_torch_state_dicts(model)
            state = {f"{layer.name}.{key}": value for layer, sd in zip(lstms, dicts, strict=True)
                     for key, value in sd.items()}
            note = ("; one nn.LSTM per layer (sizes differ), keys prefixed with the layer names "
                    f"{[layer.name for layer in lstms]}")
        if kind == ".npz":
            np.savez(dst, **state)
        else:
            torch.save({k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in state.items()},
                       dst)
        others = [layer.name for layer in model.layers if layer.weights and layer not in lstms]
        if others:
            note += f"; not in an nn.LSTM state dict, so not written: {others}"
    label = _DST_KINDS.get(kind, "legacy HDF5 weights file")
    out(f"Wrote {dst} ({label}): {len(model.layers)} layers, {model.count_params():,} "
        f"parameters{note}")
    return EXIT_OK
