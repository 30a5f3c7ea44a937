"""``npylstm convert``: between ``.keras``, ``.weights.h5``, legacy ``.h5``, a JSON model config
(``.json``: the ``config.json`` of a ``.keras`` file, which ``keras.models.model_from_json``
reads), and ``nn.LSTM`` / ``nn.GRU`` state dicts (``.npz``, ``.pt``; bidirectional and
multi-layer modules included).

Functional models convert between the Keras formats like Sequential ones. A state dict is a
stack of recurrent modules in order, so it holds a functional model only when the model
is a plain chain (one input, one output, each layer called once on the previous one's
output: :func:`npylstm.cli._specs.is_chain`); any other graph is refused, naming why."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ._common import EXIT_OK, CLIError, existing, import_torch, out, writable
from ._load import load_any_model, not_a_chain

__all__ = ["cmd_convert"]

_DST_KINDS = {
    ".keras": "Keras 3 .keras archive",
    ".weights.h5": "Keras 3 .weights.h5 file",
    ".h5": "legacy HDF5 model",
    ".json": "JSON model config (keras.models.model_from_json reads it; no weights)",
    ".npz": "PyTorch-style nn.LSTM / nn.GRU state dict (.npz)",
    ".pt": "PyTorch nn.LSTM / nn.GRU state dict (.pt)",
    ".onnx": "ONNX model (ONNX Runtime runs it; the onnx extra)",
}


def _dst_kind(path: Path) -> str:
    name = path.name.lower()
    for suffix in (".weights.h5", ".keras", ".h5", ".json", ".npz", ".pt", ".onnx"):
        if name.endswith(suffix):
            return suffix
    raise CLIError(
        f"DST '{path}': expected a name ending in .keras, .weights.h5, .h5, .json, .npz, .pt "
        "or .onnx"
    )


def _write_json_config(model, dst: Path) -> None:
    """The ``config.json`` npylstm writes in a ``.keras`` archive, as ``dst`` (atomically)."""
    from ..io.atomic import atomic_open
    from ..io.load import model_config_json

    text = model_config_json(model, dst)
    with atomic_open(dst) as handle:
        handle.write(text)


def _write_state_dict(state: dict, dst: Path, kind: str, torch) -> None:
    """``state`` as ``np.savez`` (``.npz``) or ``torch.save`` (``.pt``) writes it, atomically."""
    from ..io.atomic import atomic_open

    with atomic_open(dst) as handle:
        if kind == ".npz":
            np.savez(handle, **state)
        else:
            torch.save({k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in state.items()},
                       handle)


def cmd_convert(args) -> int:
    from .. import io
    from ..io.torch import module_signature, torch_layers, torch_modules

    src = existing(args.src, "SRC file")
    dst = writable(args.dst)
    kind = _dst_kind(dst)
    if src.resolve() == dst.resolve():
        raise CLIError(f"SRC and DST are the same file: '{src}'")
    if kind == ".pt":
        torch = import_torch(f"writing '{dst}'")
    model = load_any_model(src, args.config)
    note = ""
    if kind in (".npz", ".pt") and not_a_chain(model):
        raise CLIError(f"DST '{dst}': the model {not_a_chain(model)}; convert it to .keras, .h5, "
                       ".weights.h5 or .json instead")
    if kind == ".json":
        _write_json_config(model, dst)
    elif kind == ".onnx":
        try:
            io.export_onnx(model, dst)
        except ImportError as exc:
            raise CLIError(f"writing '{dst}' needs the onnx package: pip install "
                           "'npylstm[onnx]'") from exc
        except io.OnnxExportError as exc:
            raise CLIError(f"DST '{dst}': {exc}") from exc
    elif kind == ".keras" or (kind == ".h5" and not args.weights_only):
        io.save_model(model, dst)
    elif kind in (".weights.h5", ".h5"):
        io.save_weights(model, dst)
        kind = ".weights.h5" if kind == ".weights.h5" else "legacy weights"
    else:
        recurrent = torch_layers(model)
        runs = torch_modules(model)
        if len(runs) == 1:
            state = io.to_torch_state_dict(model)
            note = f"; one {module_signature(recurrent)}"
        else:  # one module cannot change kind, size or directions between layers
            dicts = io.to_torch_state_dicts(model)
            state = {f"{layer.name}.{key}": value
                     for layer, sd in zip(recurrent, dicts, strict=True)
                     for key, value in sd.items()}
            inner = [getattr(layer, "forward_layer", layer) for layer in recurrent]
            kinds = " / ".join(sorted({f"nn.{type(layer).__name__}" for layer in inner}))
            sizes = len({layer.units for layer in inner}) > 1
            why = "sizes differ" if sizes else "one module cannot hold the stack"
            note = (f"; one {kinds} per layer ({why}), keys prefixed with the layer names "
                    f"{[layer.name for layer in recurrent]}")
        _write_state_dict(state, dst, kind, torch if kind == ".pt" else None)
        others = [layer.name for layer in model.layers
                  if layer.weights and not any(layer is r for r in recurrent)]
        if others:
            note += f"; not in an nn.LSTM / nn.GRU state dict, so not written: {others}"
    label = _DST_KINDS.get(kind, "legacy HDF5 weights file")
    out(f"Wrote {dst} ({label}): {len(model.layers)} layers, {model.count_params():,} "
        f"parameters{note}")
    return EXIT_OK
