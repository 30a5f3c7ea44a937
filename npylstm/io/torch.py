"""PyTorch ``nn.LSTM`` / ``nn.GRU`` state dicts <-> npylstm LSTM, GRU and Bidirectional
weights (NumPy only; torch optional).

One PyTorch module holds ``num_layers`` layers of one kind and size, each one or two
directions; layer ``k``'s arrays are (``D`` the input size: ``H``, or ``2H`` when
bidirectional, for ``k > 0``; ``G`` = 4 gates for nn.LSTM, 3 for nn.GRU)::

    weight_ih_l{k}  (G*H, D)  = kernel.T, gate blocks in PyTorch's order
    weight_hh_l{k}  (G*H, H)  = recurrent_kernel.T
    bias_ih_l{k}    (G*H,)    bias_hh_l{k} (G*H,)
    ..._l{k}_reverse          the backward direction of a bidirectional module

Every difference from Keras's layout is in :data:`_LAYOUTS` and :func:`_to_torch` /
:func:`_from_torch`. nn.GRU is Keras's ``GRU(reset_after=True)`` (``keras/src/layers/rnn/
gru.py``, PyTorch's ``torch/nn/modules/rnn.py`` docstring): ``n = tanh(W_in x + b_in + r *
(W_hn h + b_hn))`` is Keras's ``hh = tanh(x_h + r * (h @ R_h + b_r))``. A bidirectional
module is Keras's ``Bidirectional(merge_mode="concat")`` (``keras/src/layers/rnn/
bidirectional.py``): the output concatenates the forward outputs and the backward ones
aligned with input time order, as Keras reverses its ``go_backwards`` layer's outputs. A
stack with ``return_sequences=True`` (Dropout between: the ``dropout`` argument) is one module.

Values may be NumPy arrays or torch tensors (read with ``.detach().cpu().numpy()``; torch
itself is imported only to read a ``.pt`` file). Exported state dicts hold NumPy arrays:
load them with ``module.load_state_dict({k: torch.from_numpy(v) for k, v in sd.items()})``.

>>> import numpy as np
>>> from npylstm.layers import GRU, LSTM
>>> lstm = LSTM(3); lstm.build((None, None, 2))
>>> sd = to_torch_state_dict([lstm])
>>> sorted(sd), sd["weight_ih_l0"].shape
(['bias_hh_l0', 'bias_ih_l0', 'weight_hh_l0', 'weight_ih_l0'], (12, 2))
>>> gru = GRU(3); gru.build((None, None, 2))
>>> module_signature([gru])
'nn.GRU(input_size=2, hidden_size=3, num_layers=1, batch_first=True)'
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np

from .model_file import ConfigRequiredError

__all__ = [
    "TorchModule",
    "from_torch_state_dict",
    "load_state_dict_file",
    "load_torch_state_dict",
    "lstm_layers",
    "module_signature",
    "read_state_dict",
    "read_torch_module",
    "split_state_dict",
    "to_torch_state_dict",
    "to_torch_state_dicts",
    "torch_layers",
    "torch_modules",
]

_KEY = re.compile(r"^(weight_ih|weight_hh|bias_ih|bias_hh|weight_hr)_l(\d+)(_reverse)?$")

# Keras kind -> (PyTorch module, PyTorch's gate blocks as indices of Keras's blocks).
_LAYOUTS = {
    "lstm": ("nn.LSTM", (0, 1, 2, 3)),  # i, f, g(=c), o: Keras's i, f, c, o, unchanged
    "gru": ("nn.GRU", (1, 0, 2)),  # r, z, n: Keras's z, r, h with z and r swapped
}
_KIND_OF_GATES = {4: "lstm", 3: "gru"}


def _reorder(a: np.ndarray, order) -> np.ndarray:
    blocks = np.split(a, len(order), axis=-1)  # a (..., G*H): G gate blocks of H
    return np.concatenate([blocks[i] for i in order], axis=-1)


def _to_torch(kind: str, kernel, recurrent_kernel, bias) -> dict[str, np.ndarray]:
    """One direction of one layer in PyTorch's layout (bias None: no bias arrays)."""
    order = _LAYOUTS[kind][1]
    arrays = {
        # PyTorch computes x @ W_ih.T, Keras x @ kernel: the weights are transposed.
        "weight_ih": np.ascontiguousarray(_reorder(kernel, order).T),  # (G*H, D)
        "weight_hh": np.ascontiguousarray(_reorder(recurrent_kernel, order).T),  # (G*H, H)
    }
    if bias is not None:
        bias = _reorder(bias, order)  # LSTM (4H,); GRU (2, 3H): [input row, recurrent row]
        if kind == "lstm":  # PyTorch's two LSTM biases only ever appear summed: one holds it
            arrays["bias_ih"], arrays["bias_hh"] = bias.copy(), np.zeros_like(bias)
        else:  # GRU: b_hn sits inside r * (W_hn h + b_hn), as Keras's recurrent bias row
            arrays["bias_ih"], arrays["bias_hh"] = bias[0].copy(), bias[1].copy()
    return arrays


def _from_torch(kind: str, arrays: Mapping[str, np.ndarray]) -> tuple:
    """Keras's ``(kernel (D, G*H), recurrent_kernel (H, G*H), bias)`` of one direction;
    no PyTorch biases give zeros (LSTM ``(4H,)``, GRU ``(2, 3H)``)."""
    order = np.argsort(_LAYOUTS[kind][1])  # PyTorch's blocks back to Keras's order
    weight_ih, weight_hh = arrays["weight_ih"], arrays["weight_hh"]
    zeros = np.zeros(weight_hh.shape[0], dtype=weight_hh.dtype)
    bias_ih, bias_hh = arrays.get("bias_ih", zeros), arrays.get("bias_hh", zeros)
    # LSTM: Keras keeps the sum of PyTorch's two biases; GRU: one row each, as reset_after
    bias = bias_ih + bias_hh if kind == "lstm" else np.stack([bias_ih, bias_hh])
    return (np.ascontiguousarray(_reorder(weight_ih.T, order)),  # (D, G*H)
            np.ascontiguousarray(_reorder(weight_hh.T, order)),  # (H, G*H)
            np.ascontiguousarray(_reorder(bias, order)))


# -- which layers, which modules ------------------------------------------------------------


def _directions(layer) -> list:
    """The LSTM/GRU layers of one torch layer: itself, or a Bidirectional's two."""
    from ..layers import Bidirectional

    return [layer.forward_layer, layer.backward_layer] if isinstance(layer, Bidirectional) \
        else [layer]


def _kind(layer) -> str | None:
    from ..layers import GRU, LSTM

    inner = _directions(layer)[0]
    return "lstm" if isinstance(inner, LSTM) else "gru" if isinstance(inner, GRU) else None


def _label(layer) -> str:
    return f"{type(layer).__name__} '{layer.name}'"


def torch_layers(model_or_layers) -> list:
    """The layers an nn.LSTM / nn.GRU state dict holds: LSTM, GRU and Bidirectional of
    either, in order (a model's, anything with ``.layers``, or a list's)."""
    layers = getattr(model_or_layers, "layers", model_or_layers)
    if not isinstance(layers, Sequence):
        layers = [layers]
    found = [layer for layer in layers if _kind(layer) is not None]
    if not found:
        raise ValueError(
            "expected a model or a list with at least one LSTM, GRU or Bidirectional(LSTM|GRU) "
            f"layer, received {[type(layer).__name__ for layer in layers]}"
        )
    return found


def lstm_layers(model_or_layers) -> list:
    """The LSTM layers only, in order (the old API; :func:`torch_layers` finds all)."""
    from ..layers import LSTM

    layers = getattr(model_or_layers, "layers", model_or_layers)
    found = [layer for layer in ([layers] if isinstance(layers, LSTM) else layers)
             if isinstance(layer, LSTM)]
    if not found:
        raise ValueError("expected a model or a list with at least one LSTM layer, received "
                         f"{[type(layer).__name__ for layer in layers]}")
    return found


def _spec(layer) -> tuple[str, int, bool]:
    """(kind, hidden size, bidirectional): what one torch module shares across its layers."""
    return _kind(layer), _directions(layer)[0].units, len(_directions(layer)) == 2


def _check_torch_equivalent(layer) -> None:
    """Refuse what nn.LSTM / nn.GRU cannot compute (export and import alike)."""
    kind, _, bidirectional = _spec(layer)
    module = _LAYOUTS[kind][0]
    directions = _directions(layer)
    if bidirectional:
        forward, backward = directions
        if layer.merge_mode != "concat":
            raise ValueError(f"{_label(layer)}: a bidirectional {module} concatenates the two "
                             f"directions (merge_mode='concat'); received merge_mode="
                             f"{layer.merge_mode!r}")
        if forward.go_backwards or not backward.go_backwards:
            raise ValueError(f"{_label(layer)}: {module}'s first direction reads the input "
                             f"forwards; received go_backwards={forward.go_backwards} for "
                             f"{_label(forward)} and {backward.go_backwards} for "
                             f"{_label(backward)}")
        if (type(forward), forward.units) != (type(backward), backward.units):
            raise ValueError(f"{_label(layer)}: both directions of one {module} have the same "
                             f"kind and size; received {_label(forward)} ({forward.units} "
                             f"units) and {_label(backward)} ({backward.units} units)")
    elif layer.go_backwards:
        raise ValueError(f"{_label(layer)}: {module} has no go_backwards; export the weights "
                         "of a forward layer (or flip the input in time yourself)")
    for inner in directions:
        if inner.activation != "tanh" or inner.recurrent_activation != "sigmoid":
            raise ValueError(f"{_label(inner)}: {module} computes with activation='tanh', "
                             f"recurrent_activation='sigmoid'; received {inner.activation!r}, "
                             f"{inner.recurrent_activation!r}")
        if kind == "gru" and not inner.reset_after:
            raise ValueError(f"{_label(inner)}: nn.GRU applies the reset gate after the "
                             "recurrent product (r * (W_hn h + b_hn)), Keras's reset_after="
                             "True; received reset_after=False, which has no PyTorch "
                             "equivalent")


def _stack_break(below, layer, between) -> str | None:
    """Why ``layer`` cannot be the layer after ``below`` in one module (None: it can)."""
    if _spec(below) != _spec(layer):
        show = [(_LAYOUTS[k][0], u, "bidirectional" if b else "one direction")
                for k, u, b in (_spec(below), _spec(layer))]
        return (f"{_label(below)} and {_label(layer)} differ in (module, hidden size, "
                f"directions): {show[0]} vs {show[1]}")
    if not below.return_sequences:
        return (f"{_label(below)} has return_sequences=False, so {_label(layer)} cannot be "
                f"the next layer of one {_LAYOUTS[_spec(layer)[0]][0]}")
    others = [_label(other) for other in between if type(other).__name__ != "Dropout"]
    if others:
        return (f"{_label(below)} and {_label(layer)} are not consecutive: {others} lie "
                "between them (only Dropout may: the module's dropout argument)")
    return None


def _stack(model_or_layers) -> tuple[list, list]:
    """The torch layers and, for each after the first, why it cannot follow the one
    before in one module (None: it can)."""
    layers = list(getattr(model_or_layers, "layers", model_or_layers))
    found = torch_layers(layers)
    at = {id(layer): i for i, layer in enumerate(layers)}
    return found, [_stack_break(below, layer, layers[at[id(below)] + 1 : at[id(layer)]])
                   for below, layer in zip(found, found[1:], strict=False)]


def torch_modules(model_or_layers) -> list[list]:
    """:func:`torch_layers` split into the runs one multi-layer module can hold.

    >>> from npylstm.layers import GRU, LSTM
    >>> [[layer.units for layer in run] for run in torch_modules(
    ...     [LSTM(4, return_sequences=True), LSTM(4, return_sequences=True), GRU(4)])]
    [[4, 4], [4]]
    """
    found, reasons = _stack(model_or_layers)
    runs = [[found[0]]]
    for layer, reason in zip(found[1:], reasons, strict=True):
        if reason is None:
            runs[-1].append(layer)
        else:
            runs.append([layer])
    return runs


def module_signature(layers) -> str:
    """The PyTorch module that holds ``layers`` (one run of :func:`torch_modules`), as code."""
    kind, units, bidirectional = _spec(layers[0])
    first = _directions(layers[0])[0]
    extra = "" if any(inner.use_bias for layer in layers for inner in _directions(layer)) \
        else ", bias=False"
    extra += ", bidirectional=True" if bidirectional else ""
    return (f"{_LAYOUTS[kind][0]}(input_size={first.input_dim}, hidden_size={units}, "
            f"num_layers={len(layers)}{extra}, batch_first=True)")


# -- export ---------------------------------------------------------------------------------


def _check_exportable(layer) -> None:
    if not layer.built:
        raise ValueError(f"{_label(layer)}: build the layer (or load weights) before export")
    _check_torch_equivalent(layer)


def _layer_arrays(layer, k: int, with_bias: bool) -> dict[str, np.ndarray]:
    """Layer ``k`` of a module: ``weight_ih_l{k}`` ... and ``..._l{k}_reverse``."""
    arrays = {}
    for d, inner in enumerate(_directions(layer)):
        bias = None
        if with_bias:  # a layer without bias in a module with biases: zeros, as Keras's none
            bias = inner.bias if inner.use_bias else np.zeros(
                inner.cell.weight_shapes(inner.input_dim, inner.units, True)["bias"],
                dtype=inner.kernel.dtype)
        for key, array in _to_torch(_kind(layer), inner.kernel, inner.recurrent_kernel,
                                    bias).items():
            arrays[f"{key}_l{k}{'_reverse' if d else ''}"] = array
    return arrays


def to_torch_state_dict(model_or_layers, prefix: str = "") -> dict[str, np.ndarray]:
    """The recurrent stack as the state dict of one ``nn.LSTM`` or ``nn.GRU``
    (:func:`module_signature` says which and with what arguments).

    Every LSTM / GRU / Bidirectional layer must be of one kind and ``units``
    (``hidden_size``), all or none bidirectional, with the default activations (and
    ``reset_after=True`` for a GRU), no ``go_backwards``; each after the first reads the
    previous one's sequence (Dropout may lie between). Biases are left out only when no
    layer uses one (then build the module with ``bias=False``).

    Other layers (Dense ...) before or after the stack are skipped; ``prefix`` is
    prepended to every key (``"lstm."`` for a submodule). Returns ``weight_ih_l0 (G*H,
    D)``, ``weight_hh_l0 (G*H, H)``, ``bias_ih_l0 (G*H,)``, ``bias_hh_l0 (G*H,)``,
    ``..._l0_reverse`` when bidirectional, then ``..._l1`` ...
    """
    found, reasons = _stack(model_or_layers)
    for layer in found:
        _check_exportable(layer)
    units = {_spec(layer)[1] for layer in found}
    if len(units) != 1:
        raise ValueError(
            f"one {_LAYOUTS[_spec(found[0])[0]][0]} needs the same hidden size in every layer; "
            f"received units {[_spec(layer)[1] for layer in found]}: use "
            "to_torch_state_dicts() for separate modules"
        )
    for reason in filter(None, reasons):
        raise ValueError(f"{reason}: use to_torch_state_dicts() for separate modules")
    with_bias = any(inner.use_bias for layer in found for inner in _directions(layer))
    state_dict = {}
    for k, layer in enumerate(found):
        for key, array in _layer_arrays(layer, k, with_bias).items():
            state_dict[prefix + key] = array
    return state_dict


def to_torch_state_dicts(model_or_layers) -> list[dict[str, np.ndarray]]:
    """One single-layer ``nn.LSTM`` / ``nn.GRU`` state dict (keys ``..._l0``) per layer.

    For stacks that one module cannot hold (different ``units`` or kinds). A layer with
    ``use_bias=False`` gives a dict without biases (``bias=False``).
    """
    out = []
    for layer in torch_layers(model_or_layers):
        _check_exportable(layer)
        out.append(_layer_arrays(layer, 0, any(d.use_bias for d in _directions(layer))))
    return out


# -- import ---------------------------------------------------------------------------------


class TorchModule(NamedTuple):
    """One nn.LSTM / nn.GRU state dict in Keras's layout: ``layers[k][d]`` is ``(kernel,
    recurrent_kernel, bias)`` of layer ``k``, direction ``d`` (1: ``_reverse``)."""

    kind: str  # "lstm" or "gru"
    name: str  # "nn.LSTM" or "nn.GRU"
    bidirectional: bool
    has_bias: bool  # False: the module had bias=False
    layers: list


def _to_numpy(value, key: str) -> np.ndarray:
    if hasattr(value, "detach"):  # a torch tensor: no torch import needed to read it
        value = value.detach().cpu().numpy()
    array = np.asarray(value)
    if array.dtype.kind != "f":
        raise TypeError(f"state dict entry '{key}': expected floats, received dtype {array.dtype}")
    return array


def _module_kind(entries: dict, prefix: str) -> str:
    """The module kind from ``weight_hh_l0 (G*H, H)``, every array's shape checked."""
    rows, hidden = (entries[(0, 0)]["weight_hh"].shape + (0, 0))[:2]
    kind = _KIND_OF_GATES.get(rows // hidden if hidden and rows % hidden == 0 else 0)
    if kind is None or entries[(0, 0)]["weight_hh"].ndim != 2:
        raise ValueError(f"state dict '{prefix}weight_hh_l0': expected (4H, H) (nn.LSTM) or "
                         f"(3H, H) (nn.GRU), received {entries[(0, 0)]['weight_hh'].shape}")
    input_size = {k: (rows, (1 + max(d for _, d in entries)) * hidden) for k, _ in entries if k}
    input_size[0] = (rows, entries[(0, 0)]["weight_ih"].shape[-1])
    for (k, d), arrays in sorted(entries.items()):
        expected = {"weight_ih": input_size[k], "weight_hh": (rows, hidden),
                    "bias_ih": (rows,), "bias_hh": (rows,)}
        for name, array in arrays.items():
            if array.shape != expected[name]:
                raise ValueError(
                    f"state dict '{prefix}{name}_l{k}{'_reverse' if d else ''}': expected "
                    f"{expected[name]} for {_LAYOUTS[kind][0]} layer {k} (hidden size "
                    f"{hidden}), received {array.shape}"
                )
    return kind


def read_torch_module(state_dict: Mapping, prefix: str = "") -> TorchModule:
    """The layers of one ``nn.LSTM`` / ``nn.GRU`` state dict in Keras's layout; the module
    kind comes from the shapes (``weight_hh_l0`` is ``(4H, H)`` or ``(3H, H)``).

    Keys not starting with ``prefix`` are ignored. Raises ValueError for unknown keys,
    ``proj_size`` (``weight_hr``), missing layers or directions, shapes or biases that do
    not fit one module.

    >>> import numpy as np
    >>> m = read_torch_module({"weight_ih_l0": np.ones((9, 2)), "weight_hh_l0": np.ones((9, 3))})
    >>> m.name, m.bidirectional, m.has_bias, [w.shape for w in m.layers[0][0]]
    ('nn.GRU', False, False, [(2, 9), (3, 9), (2, 9)])
    """
    entries: dict[tuple[int, int], dict[str, np.ndarray]] = {}
    for full_key, value in state_dict.items():
        if not full_key.startswith(prefix):
            continue
        match = _KEY.match(full_key[len(prefix):])
        if match is None:
            raise ValueError(
                f"state dict key '{full_key}': expected nn.LSTM keys (nn.GRU has the same) "
                "weight_ih_l<k>, weight_hh_l<k>, bias_ih_l<k>, bias_hh_l<k>, each with "
                "_reverse for a bidirectional module's backward direction"
            )
        name, k, d = match.group(1), int(match.group(2)), int(bool(match.group(3)))
        if name == "weight_hr":
            raise ValueError(
                f"state dict key '{full_key}': nn.LSTM with proj_size has no Keras equivalent "
                "(Keras's LSTM has no projection of h; build the module with proj_size=0)"
            )
        entries.setdefault((k, d), {})[name] = _to_numpy(value, full_key)
    if not entries:
        raise ValueError(f"no nn.LSTM weights found in the state dict (nor nn.GRU ones; "
                         f"prefix {prefix!r})")
    count = 1 + max(k for k, _ in entries)
    directions = 1 + max(d for _, d in entries)
    expected = {(k, d) for k in range(count) for d in range(directions)}
    if set(entries) != expected:
        missing = sorted(f"l{k}{'_reverse' if d else ''}" for k, d in expected - set(entries))
        raise ValueError(f"state dict: expected layers l0 .. l{count - 1} in {directions} "
                         f"direction(s), found none of {missing}")
    biases = set()
    for (k, d), arrays in sorted(entries.items()):
        suffix = f"_l{k}{'_reverse' if d else ''}"
        for required in ("weight_ih", "weight_hh"):
            if required not in arrays:
                raise ValueError(f"state dict: layer l{k} has no '{prefix}{required}{suffix}'")
        if ("bias_ih" in arrays) != ("bias_hh" in arrays):
            raise ValueError(f"state dict: layer l{k} has only one of bias_ih / bias_hh")
        biases.add("bias_ih" in arrays)
    if len(biases) != 1:
        raise ValueError("state dict: some layers have biases and some not (one module has "
                         "bias=True or bias=False for all)")
    kind = _module_kind(entries, prefix)
    return TorchModule(kind, _LAYOUTS[kind][0], directions == 2, biases.pop(), [
        [_from_torch(kind, entries[(k, d)]) for d in range(directions)] for k in range(count)])


def from_torch_state_dict(state_dict: Mapping, prefix: str = "") -> list[tuple]:
    """Keras weights for each layer of an ``nn.LSTM`` / ``nn.GRU``, in the ``get_weights()``
    order of the matching npylstm layer (:func:`read_torch_module` tells which).

    An LSTM layer gives ``(kernel (D, 4H), recurrent_kernel (H, 4H), bias (4H,))`` (the two
    PyTorch biases summed), a GRU layer ``(kernel (D, 3H), recurrent_kernel (H, 3H), bias
    (2, 3H))``, a bidirectional layer the forward direction's three then the backward's. A
    module without biases gives zero biases. Keys not starting with ``prefix`` are ignored.
    """
    module = read_torch_module(state_dict, prefix)
    return [tuple(w for direction in layer for w in direction) for layer in module.layers]


def _kinds(layers) -> str:
    return "/".join(sorted({type(layer).__name__ for layer in layers}))


def load_torch_state_dict(model_or_layers, state_dicts, prefix: str = "") -> None:
    """Copy ``nn.LSTM`` / ``nn.GRU`` weights into the model's LSTM, GRU and Bidirectional
    layers, in order.

    ``state_dicts``: one state dict with ``num_layers`` equal to the number of recurrent
    layers, or a list of them (separate modules) whose layers are taken in order;
    ``prefix``: the key prefix inside each. Raises ValueError for layer count, kind,
    direction or shape mismatches (naming the layer, expected and received), a layer the
    module cannot compute (as :func:`to_torch_state_dict`), or a non-zero PyTorch bias for
    a layer with ``use_bias=False``.
    """
    layers = torch_layers(model_or_layers)
    if isinstance(state_dicts, Mapping):
        state_dicts = [state_dicts]
    if not isinstance(state_dicts, Sequence):
        raise TypeError("expected a state dict or a list of state dicts, received "
                        f"{type(state_dicts).__name__}")
    modules = [read_torch_module(sd, prefix) for sd in state_dicts]
    received = [(m, k) for m in modules for k in range(len(m.layers))]
    if len(received) != len(layers):
        raise ValueError(
            f"the model has {len(layers)} {_kinds(layers)} layers "
            f"{[layer.name for layer in layers]}, the state dict(s) hold {len(received)} "
            f"{'/'.join(sorted({m.name for m in modules}))} layers"
        )
    staged = []
    for layer, (module, k) in zip(layers, received, strict=True):
        _check_torch_equivalent(layer)
        kind, _, bidirectional = _spec(layer)
        if (kind, bidirectional) != (module.kind, module.bidirectional):
            two = "bidirectional (_reverse weights)" if module.bidirectional else "one-direction"
            raise ValueError(
                f"{_label(layer)}: the state dict's layer l{k} is a {two} {module.name} layer; "
                f"expected {'a bidirectional ' if bidirectional else 'a one-direction '}"
                f"{_LAYOUTS[kind][0]} layer"
                + ("" if bidirectional or not module.bidirectional else
                   " (wrap the layer in Bidirectional(..., merge_mode='concat'))")
            )
        values = []
        for inner, (kernel, recurrent_kernel, bias) in zip(_directions(layer), module.layers[k],
                                                           strict=True):
            got = [kernel, recurrent_kernel]
            if inner.use_bias:
                got.append(bias)
            elif np.any(bias != 0):
                raise ValueError(f"{_label(inner)} has use_bias=False but the {module.name} "
                                 f"layer has non-zero biases")
            if inner.built:
                expected = [w.shape for w in inner.weights]
                if expected != [v.shape for v in got]:
                    raise ValueError(
                        f"{_label(inner)}: expected weight shapes {expected} "
                        f"(kernel, recurrent_kernel{', bias' if inner.use_bias else ''}), "
                        f"received {[v.shape for v in got]} from the state dict"
                    )
            elif recurrent_kernel.shape[0] != inner.units:
                raise ValueError(
                    f"{_label(inner)}: expected hidden size {inner.units}, the state dict has "
                    f"{recurrent_kernel.shape[0]}"
                )
            values += got
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
    from .arrays import read_npz, read_pt

    path = Path(path)
    if kind is None:
        kind = "npz" if path.suffix.lower() == ".npz" else "pt"
    # header / zip checks first, real numbers only (npylstm.io.arrays)
    return read_npz(path) if kind == "npz" else read_pt(path)


def split_state_dict(state: Mapping[str, np.ndarray], path="<state dict>") -> list[dict]:
    """One state dict per ``nn.LSTM`` / ``nn.GRU`` module, in file order, prefixes stripped.

    ``weight_ih_l0, ...`` is one (possibly multi-layer) module; ``lstm.weight_ih_l0, ...,
    lstm_1.weight_ih_l0, ...`` are several (what ``npylstm convert`` writes for a stack
    one module cannot hold, one module per layer).

    >>> [sorted(sd) for sd in split_state_dict({"a.weight_ih_l0": 1, "b.weight_ih_l0": 2})]
    [['weight_ih_l0'], ['weight_ih_l0']]
    """
    prefixes: list[str] = []
    for key in state:
        if key.endswith("weight_ih_l0") and key[: -len("weight_ih_l0")] not in prefixes:
            prefixes.append(key[: -len("weight_ih_l0")])
    if not prefixes:
        raise ValueError(f"'{path}' has no nn.LSTM / nn.GRU weights (no key ending in "
                         "'weight_ih_l0')")
    modules = []
    for prefix in prefixes:
        others = [p for p in prefixes if p != prefix and p.startswith(prefix)]
        modules.append({
            key[len(prefix):]: value for key, value in state.items()
            if key.startswith(prefix) and not any(key.startswith(o) for o in others)
        })
    return modules


def load_state_dict_file(
    model, path: str | os.PathLike, has_weights: bool, kind: str | None = None,
    state: Mapping[str, np.ndarray] | None = None,
) -> None:
    """Fill ``model``'s LSTM / GRU / Bidirectional layers from a state dict file
    (:func:`read_state_dict`, which ``kind`` is passed to).

    ``has_weights``: whether the model's other layers already hold weights (it came from a
    model file); if not and it has any, :class:`ConfigRequiredError` names them. ``state``:
    the file's arrays when the caller has read them already (``read_state_dict(path,
    kind)``), so the file is not read twice.
    """
    path = Path(path)
    if state is None:
        state = read_state_dict(path, kind)
    recurrent = torch_layers(model)
    missing = [layer.name for layer in model.layers
               if layer.weights and not any(layer is other for other in recurrent)]
    if missing and not has_weights:
        raise ConfigRequiredError(
            path, "state_dict_partial",
            f"'{path}' holds only {_kinds(recurrent)} weights; the model's {missing} need "
            "theirs: give as config a .keras/.h5 model file (its weights fill those layers)",
            missing)
    load_torch_state_dict(model, split_state_dict(state, path))
