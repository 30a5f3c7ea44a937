"""PyTorch ``nn.LSTM`` state dicts <-> npylstm LSTM weights (NumPy only; torch optional).

PyTorch's ``nn.LSTM`` keeps the Keras gate order (i, f, g=c, o) but stores transposes and
two biases per layer::

    weight_ih_l{k}  (4H, D)   = kernel.T            D = input size (H for k > 0)
    weight_hh_l{k}  (4H, H)   = recurrent_kernel.T
    bias_ih_l{k}    (4H,)     } their sum = bias
    bias_hh_l{k}    (4H,)     }

The repacking of one layer is :func:`npylstm.gates.keras_to_torch` /
:func:`npylstm.gates.torch_to_keras`; this module adds the layer suffixes, stacks and
checks. Values may be NumPy arrays or torch tensors (read with ``.detach().cpu().numpy()``;
torch itself is imported only to read a ``.pt`` file). Exported state dicts hold NumPy
arrays: load them with
``module.load_state_dict({k: torch.from_numpy(v) for k, v in sd.items()})``.

>>> import numpy as np
>>> from npylstm.layers import LSTM
>>> lstm = LSTM(3); lstm.build((None, None, 2))
>>> sd = to_torch_state_dict([lstm])
>>> sorted(sd), sd["weight_ih_l0"].shape
(['bias_hh_l0', 'bias_ih_l0', 'weight_hh_l0', 'weight_ih_l0'], (12, 2))
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from ..gates import keras_to_torch, torch_to_keras
from .model_file import ConfigRequiredError, _one_line

__all__ = [
    "from_torch_state_dict",
    "load_state_dict_file",
    "load_torch_state_dict",
    "lstm_layers",
    "read_state_dict",
    "split_state_dict",
    "to_torch_state_dict",
    "to_torch_state_dicts",
]

_KEY = re.compile(r"^(weight_ih|weight_hh|bias_ih|bias_hh|weight_hr)_l(\d+)(_reverse)?$")


def lstm_layers(model_or_layers) -> list:
    """The LSTM layers of a model (anything with ``.layers``) or of a list of layers, in order."""
    from ..layers import LSTM

    layers = getattr(model_or_layers, "layers", model_or_layers)
    if isinstance(layers, LSTM):
        layers = [layers]
    found = [layer for layer in layers if isinstance(layer, LSTM)]
    if not found:
        raise ValueError(
            f"expected a model or a list with at least one LSTM layer, received "
            f"{[type(layer).__name__ for layer in layers]}"
        )
    return found


def _check_exportable(layer) -> None:
    if not layer.built:
        raise ValueError(f"LSTM '{layer.name}': build the layer (or load weights) before export")
    if layer.activation != "tanh" or layer.recurrent_activation != "sigmoid":
        raise ValueError(
            f"LSTM '{layer.name}': nn.LSTM computes with activation='tanh', "
            f"recurrent_activation='sigmoid'; received {layer.activation!r}, "
            f"{layer.recurrent_activation!r}"
        )
    if layer.go_backwards:
        raise ValueError(
            f"LSTM '{layer.name}': nn.LSTM has no go_backwards; export the weights of a "
            "forward layer (or flip the input in time yourself)"
        )


def _layer_arrays(layer, with_bias: bool) -> dict[str, np.ndarray]:
    arrays = keras_to_torch(layer.kernel, layer.recurrent_kernel, layer.bias)
    if not with_bias:
        del arrays["bias_ih"], arrays["bias_hh"]
    return arrays


def to_torch_state_dict(model_or_layers, prefix: str = "") -> dict[str, np.ndarray]:
    """The LSTM stack as the state dict of one ``nn.LSTM(D, H, num_layers=len(stack))``.

    Every LSTM must have the same ``units`` (``hidden_size``), the default activations and
    no ``go_backwards``; each LSTM after the first reads the previous one's sequence.
    Biases are left out only when no layer uses one (then build ``nn.LSTM(bias=False)``).

    Parameters
    ----------
    model_or_layers : Sequential or list of layers
        Non-LSTM layers (Dropout, Dense ...) are skipped.
    prefix : str
        Prepended to every key, e.g. ``"lstm."`` for a submodule.

    Returns
    -------
    dict of str to np.ndarray
        ``weight_ih_l0 (4H, D)``, ``weight_hh_l0 (4H, H)``, ``bias_ih_l0 (4H,)``,
        ``bias_hh_l0 (4H,)``, then ``..._l1`` with ``weight_ih_l1 (4H, H)`` ...
    """
    layers = lstm_layers(model_or_layers)
    for layer in layers:
        _check_exportable(layer)
    units = {layer.units for layer in layers}
    if len(units) != 1:
        raise ValueError(
            "one nn.LSTM needs the same hidden size in every layer; received units "
            f"{[layer.units for layer in layers]}: use to_torch_state_dicts() for separate modules"
        )
    for below, layer in zip(layers, layers[1:], strict=False):
        if not below.return_sequences:
            raise ValueError(
                f"LSTM '{below.name}' has return_sequences=False, so LSTM '{layer.name}' "
                "cannot be the next layer of one nn.LSTM"
            )
    with_bias = any(layer.use_bias for layer in layers)
    state_dict = {}
    for k, layer in enumerate(layers):
        for key, array in _layer_arrays(layer, with_bias).items():
            state_dict[f"{prefix}{key}_l{k}"] = array
    return state_dict


def to_torch_state_dicts(model_or_layers) -> list[dict[str, np.ndarray]]:
    """One single-layer ``nn.LSTM`` state dict (keys ``..._l0``) per LSTM layer.

    For stacks that one ``nn.LSTM`` cannot hold (different ``units``). A layer with
    ``use_bias=False`` gives a dict without biases (``nn.LSTM(bias=False)``).
    """
    out = []
    for layer in lstm_layers(model_or_layers):
        _check_exportable(layer)
        out.append({f"{key}_l0": a for key, a in _layer_arrays(layer, layer.use_bias).items()})
    return out


def _to_numpy(value, key: str) -> np.ndarray:
    if hasattr(value, "detach"):  # a torch tensor: no torch import needed to read it
        value = value.detach().cpu().numpy()
    array = np.asarray(value)
    if array.dtype.kind != "f":
        raise TypeError(f"state dict entry '{key}': expected floats, received dtype {array.dtype}")
    return array


def from_torch_state_dict(
    state_dict: Mapping, prefix: str = ""
) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Keras weights ``(kernel, recurrent_kernel, bias)`` for each layer of an ``nn.LSTM``.

    The two PyTorch biases are summed; a module without biases gives zero biases.
    Keys not starting with ``prefix`` are ignored.

    Parameters
    ----------
    state_dict : mapping of str to array or tensor
        ``nn.LSTM(...).state_dict()`` (or a model's, with ``prefix="lstm."``).
    prefix : str

    Returns
    -------
    list of (kernel (D, 4H), recurrent_kernel (H, 4H), bias (4H,))

    Raises
    ------
    ValueError
        Bidirectional (``_reverse`` keys) or ``proj_size`` (``weight_hr``) modules, missing
        or inconsistent layers.
    """
    entries: dict[int, dict[str, np.ndarray]] = {}
    for full_key, value in state_dict.items():
        if not full_key.startswith(prefix):
            continue
        key = full_key[len(prefix) :]
        match = _KEY.match(key)
        if match is None:
            raise ValueError(
                f"state dict key '{full_key}': expected nn.LSTM keys weight_ih_l<k>, "
                "weight_hh_l<k>, bias_ih_l<k>, bias_hh_l<k>"
            )
        name, k, reverse = match.group(1), int(match.group(2)), match.group(3)
        if reverse:
            raise ValueError(
                f"state dict key '{full_key}': a bidirectional nn.LSTM is not supported "
                "(npylstm has no Bidirectional layer yet)"
            )
        if name == "weight_hr":
            raise ValueError(
                f"state dict key '{full_key}': nn.LSTM with proj_size has no Keras equivalent"
            )
        entries.setdefault(k, {})[name] = _to_numpy(value, full_key)
    if not entries:
        raise ValueError(f"no nn.LSTM weights found in the state dict (prefix {prefix!r})")
    if sorted(entries) != list(range(len(entries))):
        raise ValueError(f"expected layers l0 .. l{len(entries) - 1}, found l{sorted(entries)}")
    out = []
    for k in range(len(entries)):
        arrays = entries[k]
        for required in ("weight_ih", "weight_hh"):
            if required not in arrays:
                raise ValueError(f"state dict: layer l{k} has no '{prefix}{required}_l{k}'")
        if ("bias_ih" in arrays) != ("bias_hh" in arrays):
            raise ValueError(f"state dict: layer l{k} has only one of bias_ih / bias_hh")
        out.append(torch_to_keras(**arrays))
    return out


def load_torch_state_dict(model_or_layers, state_dicts, prefix: str = "") -> None:
    """Copy ``nn.LSTM`` weights into the model's LSTM layers, in order.

    Parameters
    ----------
    model_or_layers : Sequential or list of layers
    state_dicts : mapping or list of mappings
        One ``nn.LSTM`` state dict with ``num_layers`` equal to the number of LSTM layers,
        or a list of state dicts (separate modules) whose layers are taken in order.
    prefix : str
        Key prefix inside each state dict.

    Raises
    ------
    ValueError
        Layer count or shape mismatches (naming the layer, expected and received shapes);
        a non-zero PyTorch bias for a layer with ``use_bias=False``.
    """
    layers = lstm_layers(model_or_layers)
    if isinstance(state_dicts, Mapping):
        state_dicts = [state_dicts]
    if not isinstance(state_dicts, Sequence):
        raise TypeError(
            f"expected a state dict or a list of state dicts, received {type(state_dicts).__name__}"
        )
    weights = [w for sd in state_dicts for w in from_torch_state_dict(sd, prefix)]
    if len(weights) != len(layers):
        raise ValueError(
            f"the model has {len(layers)} LSTM layers {[layer.name for layer in layers]}, the "
            f"state dict(s) hold {len(weights)} nn.LSTM layers"
        )
    staged = []
    for layer, (kernel, recurrent_kernel, bias) in zip(layers, weights, strict=True):
        values = [kernel, recurrent_kernel]
        if layer.use_bias:
            values.append(bias)
        elif np.any(bias != 0):
            raise ValueError(
                f"LSTM '{layer.name}' has use_bias=False but the nn.LSTM layer has non-zero biases"
            )
        if layer.built:
            expected = [w.shape for w in layer.weights]
            received = [v.shape for v in values]
            if expected != received:
                raise ValueError(
                    f"LSTM '{layer.name}': expected weight shapes {expected} "
                    f"(kernel, recurrent_kernel{', bias' if layer.use_bias else ''}), "
                    f"received {received} from the state dict"
                )
        elif recurrent_kernel.shape[0] != layer.units:
            raise ValueError(
                f"LSTM '{layer.name}': expected hidden size {layer.units}, the state dict has "
                f"{recurrent_kernel.shape[0]}"
            )
        staged.append((layer, values))
    for layer, values in staged:  # all checked first: no half-loaded model on error
        layer.set_weights(values)


# -- state dict files -----------------------------------------------------------------------


def read_state_dict(path: str | os.PathLike, kind: str | None = None) -> dict[str, np.ndarray]:
    """The arrays of a state dict file: ``.npz`` (``np.savez``; NumPy only) or ``.pt``
    (``torch.save(module.state_dict(), path)``; needs torch, loaded with
    ``weights_only=True``, which unpickles tensors and containers only).

    ``kind``: ``"npz"`` or ``"pt"`` as :func:`npylstm.io.file_kind` found it from the
    content; None: from the name (``.npz``, else a torch file).
    """
    path = Path(path)
    if kind is None:
        kind = "npz" if path.suffix.lower() == ".npz" else "pt"
    if kind == "npz":
        try:
            with np.load(path, allow_pickle=False) as data:
                return {key: data[key] for key in data.files}
        except (OSError, ValueError) as exc:
            raise ValueError(f"'{path}' is not a readable .npz file: {_one_line(exc)}") from exc
    try:
        import torch
    except ImportError as exc:
        raise ImportError(
            f"reading '{path}' needs PyTorch, which is not installed: pip install torch "
            "(or use a .npz state dict, which needs only NumPy)"
        ) from exc
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for a bad file
        raise ValueError(f"'{path}' is not a readable PyTorch file: {_one_line(exc)}") from exc
    if not isinstance(state, dict):
        raise ValueError(
            f"'{path}' holds a {type(state).__name__}, expected a state dict "
            "(torch.save(module.state_dict(), path))"
        )
    return {key: value.detach().cpu().numpy() for key, value in state.items()}


def split_state_dict(state: Mapping[str, np.ndarray], path="<state dict>") -> list[dict]:
    """One state dict per ``nn.LSTM`` module, in file order, prefixes stripped.

    ``weight_ih_l0, ...`` is one (possibly multi-layer) module; ``lstm.weight_ih_l0, ...,
    lstm_1.weight_ih_l0, ...`` are several (what ``npylstm convert`` writes for a stack
    whose layers have different sizes, one module per layer).

    >>> [sorted(sd) for sd in split_state_dict({"a.weight_ih_l0": 1, "b.weight_ih_l0": 2})]
    [['weight_ih_l0'], ['weight_ih_l0']]
    """
    prefixes: list[str] = []
    for key in state:
        if key.endswith("weight_ih_l0") and key[: -len("weight_ih_l0")] not in prefixes:
            prefixes.append(key[: -len("weight_ih_l0")])
    if not prefixes:
        raise ValueError(f"'{path}' has no nn.LSTM weights (no key ending in 'weight_ih_l0')")
    modules = []
    for prefix in prefixes:
        others = [p for p in prefixes if p != prefix and p.startswith(prefix)]
        modules.append({
            key[len(prefix):]: value for key, value in state.items()
            if key.startswith(prefix) and not any(key.startswith(o) for o in others)
        })
    return modules


def load_state_dict_file(
    model, path: str | os.PathLike, has_weights: bool, kind: str | None = None
) -> None:
    """Fill ``model``'s LSTM layers from a state dict file (:func:`read_state_dict`, which
    ``kind`` is passed to).

    ``has_weights``: whether the model's other layers already hold weights (it came from a
    model file); if not and it has any, :class:`ConfigRequiredError` names them.
    """
    from ..layers import LSTM

    path = Path(path)
    state = read_state_dict(path, kind)
    missing = [
        layer.name for layer in model.layers if layer.weights and not isinstance(layer, LSTM)
    ]
    if missing and not has_weights:
        raise ConfigRequiredError(
            path,
            "state_dict_partial",
            f"'{path}' holds only LSTM weights; the model's {missing} need theirs: give as "
            "config a .keras/.h5 model file (its weights fill those layers)",
            missing,
        )
    load_torch_state_dict(model, split_state_dict(state, path))
