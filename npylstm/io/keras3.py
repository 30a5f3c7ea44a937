"""Keras 3's formats: ``.keras`` archives, unzipped ``.keras`` directories, ``.weights.h5``.

A ``.keras`` file is a zip of ``config.json``, ``metadata.json`` and ``model.weights.h5``;
the weights file is what ``model.save_weights`` writes alone. Keras 3 walks each layer's
saveable objects (``saving_lib._walk_saveable``) and writes every object's own variables as
``<path>/vars/0, 1, ...``: ``layers/<group>/vars`` for the layer itself (empty for an LSTM,
which keeps its variables in its cell: ``layers/lstm/cell/vars/0``), then its sub-objects
under their attribute names. The reader and writer here walk the layer's
:class:`~npylstm.layers.base.VarsNode` tree (``variable_tree(config)``), so a nested layer
(``layers/bidirectional/forward_layer/cell/vars/0``) needs nothing new here.

A compiled model's optimizer is a saveable too (the model's ``optimizer`` attribute):
Keras writes its ``optimizer.variables`` as ``optimizer/vars/0, 1, ...`` (group attribute
``name``: the optimizer's name), in ``model.weights.h5`` and in ``save_weights``'s
``.weights.h5`` alike — the iteration counter and the learning rate even before the
optimizer is built, every slot after (``BaseOptimizer.save_own_variables``, Keras 3.15.1).
"""

from __future__ import annotations

import datetime
import io
import json
import os
import zipfile
from collections.abc import Sequence
from pathlib import Path

import h5py
import numpy as np

from ._safe import (
    _JSON_MAX_BYTES,
    _atomic_write,
    _h5_array,
    _h5_group,
    _h5_text,
    _open_h5,
    _open_keras_container,
    _parse_json,
    _sniff,
)
from .keras_config import (
    LayerVars,
    check_model_config,
    keras2_hard_sigmoid_keys,
    layer_vars,
    normalize_model_config,
    split_weights,
    weighted_layers,
    weights_group_names,
    with_keras3_modules,
    writable_layers,
)
from .model_file import KERAS_FORMAT_VERSION, KerasFileError, ModelFile, OptimizerState

__all__ = [
    "KERAS3_WEIGHT_ROOTS",
    "OPTIMIZER_GROUP",
    "keras_archive_weights",
    "read_keras3_weights",
    "read_keras_archive",
    "read_optimizer_state",
    "read_optimizer_vars",
    "weights_group_names",
    "write_keras_file",
    "write_weights_file",
]

#: The group holding the layers of a Keras 3 weights file (``_layer_checkpoint_dependencies``
#: in Keras 2.13's early form of the format).
KERAS3_WEIGHT_ROOTS = ("layers", "_layer_checkpoint_dependencies")
#: Where a compiled model's optimizer keeps its variables (``optimizer/vars/<i>``).
OPTIMIZER_GROUP = "optimizer"


def _vars_path(group_path: str, node_path: str) -> str:
    """``layers/lstm`` + ``cell`` -> ``layers/lstm/cell/vars``; the layer's own: ``.../vars``."""
    return f"{group_path}/{node_path}/vars" if node_path else f"{group_path}/vars"


# -- reading ------------------------------------------------------------------------------------


def read_keras3_weights(
    h5: h5py.File, layers: Sequence[LayerVars], path: Path
) -> list[list[np.ndarray]]:
    """Per-layer arrays from a Keras 3 weights file, for these layers in order: each layer's
    tree walked depth first, every node that stores variables read as ``vars/0, 1, ...``."""
    root = next((r for r in KERAS3_WEIGHT_ROOTS if r in h5), None)
    if root is None:
        raise KerasFileError(
            f"'{path}' is not a Keras weights file: no 'layers' group (found {sorted(h5)})"
        )
    out = []
    groups = weights_group_names([layer.class_name for layer in layers])
    for layer, group_name in zip(layers, groups, strict=True):
        arrays: list[np.ndarray] = []
        for node_path, _, _ in layer.tree.leaves():
            vars_path = _vars_path(f"{root}/{group_name}", node_path)
            group = _h5_group(h5, vars_path, layer.label, path)
            if group is None:
                raise KerasFileError(f"'{path}': {layer.label}: no weights at {vars_path}")
            keys = [str(i) for i in range(len(group))]
            if sorted(group.keys()) != sorted(keys):
                raise KerasFileError(
                    f"'{path}': {layer.label}: expected datasets 0, 1, ... in {vars_path}, "
                    f"found {sorted(group.keys())}"
                )
            arrays.extend(_h5_array(group, k, layer.label, path) for k in keys)
        out.append(arrays)
    return out


def read_optimizer_vars(h5: h5py.File, path: Path) -> OptimizerState | None:
    """The optimizer's ``vars/0, 1, ...`` of a Keras 3 weights file; None without an
    ``optimizer`` group (an uncompiled model's file). An ``optimizer`` group without
    ``vars`` holds no variables, as Keras's ``H5IOStore.get`` reads it."""
    where = "the optimizer"
    group = _h5_group(h5, OPTIMIZER_GROUP, where, path)
    if group is None:
        return None
    vars_group = _h5_group(group, "vars", where, path)
    if vars_group is None:
        return OptimizerState("optimizer", [])
    keys = [str(i) for i in range(len(vars_group))]
    if sorted(vars_group.keys()) != sorted(keys):
        raise KerasFileError(
            f"'{path}': {where}: expected datasets 0, 1, ... in {OPTIMIZER_GROUP}/vars, found "
            f"{sorted(vars_group.keys(), key=lambda k: (len(k), k))}"
        )
    name = _h5_text(vars_group.attrs, "name") or "optimizer"
    return OptimizerState(name, [_h5_array(vars_group, k, where, path) for k in keys])


def read_optimizer_state(path: str | os.PathLike) -> OptimizerState | None:
    """The optimizer variables of a ``.keras`` file (zip or directory) or a Keras 3
    ``.weights.h5``; None for a file without them, and for a legacy ``.h5`` (Keras's
    ``load_weights`` reads no optimizer state from one)."""
    path = Path(path)
    kind = _sniff(path)
    source = io.BytesIO(keras_archive_weights(path, kind)) if kind in ("zip", "dir") else path
    with _open_h5(source, path) as h5:
        if not any(root in h5 for root in KERAS3_WEIGHT_ROOTS):
            return None
        return read_optimizer_vars(h5, path)


def keras_archive_weights(path: Path, kind: str) -> bytes:
    """The ``model.weights.h5`` member of a ``.keras`` zip or directory."""
    archive = _open_keras_container(path, kind)
    try:
        if "model.weights.h5" not in archive.names:
            raise KerasFileError(f"'{path}' is not a .keras file: no model.weights.h5")
        return archive.read("model.weights.h5")
    finally:
        archive.close()


def read_keras_archive(path: Path, kind: str = "zip") -> ModelFile:
    """A whole ``.keras`` model (``kind`` ``"zip"`` or ``"dir"``, from ``_sniff``)."""
    archive = _open_keras_container(path, kind)
    try:
        missing = [m for m in ("config.json", "model.weights.h5") if m not in archive.names]
        if missing:
            what = "zip archive" if kind == "zip" else "directory"
            raise KerasFileError(
                f"'{path}' is a {what} but not a .keras file: no {' or '.join(missing)} "
                f"(found {sorted(archive.names)[:10]})"
            )
        raw_config = _parse_json(archive.read("config.json", _JSON_MAX_BYTES), "config.json", path)
        version = KERAS_FORMAT_VERSION
        if "metadata.json" in archive.names:
            meta = _parse_json(
                archive.read("metadata.json", _JSON_MAX_BYTES), "metadata.json", path
            )
            if isinstance(meta, dict) and meta.get("keras_version"):
                version = str(meta["keras_version"])
        config = normalize_model_config(raw_config, version, f"'{path}'")
        layers = weighted_layers(config)
        classes = [layer["class_name"] for layer in layers]
        names = [
            layer["config"].get("name", cls) for layer, cls in zip(layers, classes, strict=True)
        ]
        entries = layer_vars(classes, names, [layer["config"] for layer in layers])
        weights_bytes = archive.read("model.weights.h5")
    finally:
        archive.close()
    with _open_h5(io.BytesIO(weights_bytes), path) as h5:
        arrays = read_keras3_weights(h5, entries, path)
        optimizer = read_optimizer_vars(h5, path)
    return ModelFile(
        config, arrays, version, "keras", weights_group_names(classes),
        config.get("compile_config"), optimizer,
    )


# -- writing ------------------------------------------------------------------------------------


def _write_keras3_weights(
    h5: h5py.File,
    model_name: str,
    layers: Sequence[LayerVars],
    layer_weights: Sequence[Sequence[np.ndarray]],
    optimizer: OptimizerState | None = None,
) -> None:
    """The layout ``model.save_weights`` writes (``saving_lib._save_state``): the model's
    ``vars``, its ``layers``, and a compiled model's ``optimizer``."""
    h5.create_group("vars").attrs["name"] = model_name
    root = h5.create_group("layers")
    groups = weights_group_names([layer.class_name for layer in layers])
    for layer, group_name, weights in zip(layers, groups, layer_weights, strict=True):
        group = root.create_group(group_name)
        # Every saveable object gets its own (possibly empty) vars group, named after the
        # object: the layer itself, then each sub-object (an LSTM's cell: "lstm_cell").
        for node_path, node in layer.tree.nodes():
            parent = group.require_group(node_path) if node_path else group
            parent.create_group("vars").attrs["name"] = node.name or layer.name
        for node_path, _, _, arrays in split_weights(layer, weights):
            vars_group = (group[node_path] if node_path else group)["vars"]
            for index, array in enumerate(arrays):
                vars_group.create_dataset(str(index), data=np.asarray(array))
    if optimizer is not None:
        vars_group = h5.create_group(OPTIMIZER_GROUP).create_group("vars")
        vars_group.attrs["name"] = optimizer.name
        for index, array in enumerate(optimizer.variables):
            vars_group.create_dataset(str(index), data=np.asarray(array))


def keras3_config(config: dict) -> dict:
    """``config`` checked and written as a Keras 3 ``config.json`` holds it (the classes'
    ``module`` keys); Keras 2's hard_sigmoid, which Keras 3 cannot express, is refused."""
    check_model_config(config)
    keras2 = keras2_hard_sigmoid_keys(config)
    if keras2:
        raise KerasFileError(
            f"cannot save {keras2} = Keras 2's hard_sigmoid clip(0.2x + 0.5) in a Keras 3 "
            "file (Keras 3's hard_sigmoid is clip(x/6 + 0.5)); save a legacy '.h5' instead, "
            "which keeps keras_version 2"
        )
    return with_keras3_modules(config)


def write_keras_file(
    path: str | os.PathLike,
    config: dict,
    layer_weights: Sequence[Sequence[np.ndarray]],
    optimizer: OptimizerState | None = None,
) -> Path:
    """Write a Keras 3 ``.keras`` archive that ``keras.saving.load_model`` reads.

    Parameters
    ----------
    path : str or PathLike
    config : dict
        ``{"class_name": "Sequential", "config": {"name", "layers": [...]}}``, layers as
        Keras 3 serializes them (``module``/``class_name``/``config``).
    layer_weights : sequence of sequence of np.ndarray
        One list per non-Input layer, in ``get_weights()`` order.
    optimizer : OptimizerState, optional
        A compiled model's optimizer variables (Keras's ``optimizer.variables``), written
        as ``optimizer/vars/<i>``.

    Raises
    ------
    KerasFileError
        A layer uses Keras 2's hard_sigmoid, which Keras 3 cannot express.
    """
    config = keras3_config(config)
    layers = weighted_layers(config)
    class_names = [layer["class_name"] for layer in layers]
    layer_names = [
        layer["config"].get("name", c) for layer, c in zip(layers, class_names, strict=True)
    ]
    entries = writable_layers(
        class_names, layer_names, [layer["config"] for layer in layers], layer_weights
    )
    model_name = config["config"].get("name", "sequential")
    buffer = io.BytesIO()
    with h5py.File(buffer, "w") as h5:
        _write_keras3_weights(h5, model_name, entries, layer_weights, optimizer)
    metadata = {
        "keras_version": KERAS_FORMAT_VERSION,
        "date_saved": datetime.datetime.now().strftime("%Y-%m-%d@%H:%M:%S"),
        "saved_by": "npylstm",
    }

    def write(tmp: Path) -> None:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_STORED) as zf:  # as Keras
            zf.writestr("metadata.json", json.dumps(metadata))
            zf.writestr("config.json", json.dumps(config))
            zf.writestr("model.weights.h5", buffer.getvalue())

    return _atomic_write(path, write)


def write_weights_file(
    path: str | os.PathLike,
    class_names: Sequence[str],
    layer_weights: Sequence[Sequence[np.ndarray]],
    layer_names: Sequence[str] | None = None,
    model_name: str = "sequential",
    layer_configs: Sequence[dict] | None = None,
    optimizer: OptimizerState | None = None,
) -> Path:
    """Write a Keras 3 ``.weights.h5`` file that ``keras_model.load_weights`` reads.

    Parameters
    ----------
    path : str or PathLike
        Keras insists on a name ending in ``.weights.h5``.
    class_names : sequence of str
        Layer classes, InputLayer excluded, e.g. ``["LSTM", "Dense"]``.
    layer_weights : sequence of sequence of np.ndarray
        One list per layer, in ``get_weights()`` order.
    layer_names, model_name : optional
        Stored as the ``name`` attributes of the ``vars`` groups.
    layer_configs : sequence of dict, optional
        Each layer's config, for its variable tree (default: the class's default config).
    optimizer : OptimizerState, optional
        A compiled model's optimizer variables, as Keras's ``save_weights`` writes them.
    """
    class_names = list(class_names)
    layer_names = list(layer_names) if layer_names is not None else list(class_names)
    entries = writable_layers(class_names, layer_names, layer_configs, layer_weights)
    if not str(path).endswith(".weights.h5"):
        raise ValueError(
            f"a Keras 3 weights file name must end in '.weights.h5', received '{path}'"
        )

    def write(tmp: Path) -> None:
        with h5py.File(tmp, "w") as h5:
            _write_keras3_weights(h5, model_name, entries, layer_weights, optimizer)

    return _atomic_write(path, write)
