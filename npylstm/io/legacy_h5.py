"""Legacy HDF5 files (Keras 2, tf.keras 2.x, and Keras 3's ``.h5``): whole models and
weights only.

A model file has the ``model_config`` JSON attribute (and ``training_config`` when it was
compiled) and a ``model_weights`` group; a weights-only file is that group at the root.
The group lists its layers in the ``layer_names`` attribute (split into ``layer_names0,
layer_names1, ...`` when long), each layer group lists its datasets in ``weight_names``,
named ``<layer>/<scopes...>/<weight>:0`` from the layer's variable tree: an LSTM's
``lstm/lstm_cell/kernel:0``. Layers are matched by the order of those with weights, as
Keras does.

A compiled model's file also has an ``optimizer_weights`` group (Keras 3.15.1's
``save_optimizer_weights_to_hdf5_group``): its ``weight_names`` attribute lists the
optimizer's variables by path (``adam/iteration``, ``adam/learning_rate``, then the slots),
each a dataset of that name, in ``optimizer.variables`` order.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

import h5py
import numpy as np

from ._safe import _atomic_write, _h5_array, _h5_group, _h5_strings, _h5_text, _parse_json
from .functional_nodes import positional_tensor_arguments, takes_initial_state
from .keras_config import (
    LayerVars,
    check_model_config,
    keras2_hard_sigmoid_keys,
    layer_class,
    layer_vars,
    legacy_layer_config,
    normalize_model_config,
    split_weights,
    weighted_layers,
    writable_layers,
)
from .model_file import (
    KERAS2_FORMAT_VERSION,
    KERAS_FORMAT_VERSION,
    KerasFileError,
    ModelFile,
    OptimizerState,
    keras_major_version,
)

__all__ = [
    "OPTIMIZER_WEIGHTS",
    "legacy_weight_names",
    "read_legacy_optimizer",
    "read_legacy_model",
    "read_legacy_weights",
    "write_legacy_h5",
]


#: The group of a legacy model file that holds the optimizer's variables.
OPTIMIZER_WEIGHTS = "optimizer_weights"


def legacy_weight_names(layer: LayerVars, weights: Sequence[np.ndarray]) -> list[str]:
    """The dataset names of a layer's weights: ``<layer>/<legacy scopes...>/<weight>:0``."""
    names = []
    for _, node, scopes, arrays in split_weights(layer, weights):
        scope = "/".join((layer.name, *scopes))
        names.extend(f"{scope}/{w}:0" for w in node.weights[: len(arrays)])
    return names


# -- reading ------------------------------------------------------------------------------------


def _read_layer_arrays(
    group: h5py.Group, path: Path
) -> tuple[list[str], list[list[np.ndarray]]]:
    """Layer names and arrays of a legacy ``model_weights`` group, layers with weights only."""
    names, arrays = [], []
    for layer_name in _h5_strings(group, "layer_names"):
        where = f"layer '{layer_name}'"
        layer_group = _h5_group(group, layer_name, where, path)
        if layer_group is None:
            raise KerasFileError(f"'{path}': {where} is listed in layer_names but missing")
        weight_names = _h5_strings(layer_group, "weight_names")
        if not weight_names:
            continue
        names.append(layer_name)
        arrays.append([_h5_array(layer_group, w, where, path) for w in weight_names])
    return names, arrays


def _assign_legacy(
    layers: Sequence[LayerVars], names: list[str], arrays: list[list[np.ndarray]], path: Path
) -> list[list[np.ndarray]]:
    """Match a legacy file's weighted layers to the model's layers, in order (as Keras)."""
    weighted = [i for i, layer in enumerate(layers) if layer.tree.weight_names()]
    if len(weighted) != len(arrays):
        raise KerasFileError(
            f"'{path}': the config has {len(weighted)} layers with weights, the file stores "
            f"weights for {len(arrays)} ({names})"
        )
    out: list[list[np.ndarray]] = [[] for _ in layers]
    for i, values in zip(weighted, arrays, strict=True):
        out[i] = values
    return out


def read_legacy_optimizer(h5: h5py.File, path: Path) -> OptimizerState | None:
    """The ``optimizer_weights`` of a legacy model file, in ``weight_names`` order (as
    Keras's ``load_optimizer_weights_from_hdf5_group``); None without that group."""
    where = OPTIMIZER_WEIGHTS
    group = _h5_group(h5, OPTIMIZER_WEIGHTS, where, path)
    if group is None:
        return None
    names = _h5_strings(group, "weight_names")
    arrays = [_h5_array(group, name, where, path) for name in names]
    name = names[0].split("/")[0] if names and "/" in names[0] else "optimizer"
    return OptimizerState(name, arrays, names)


def _check_keras1(version: str, path: Path) -> None:
    if keras_major_version(version) < 2:
        raise KerasFileError(
            f"'{path}' was written by Keras {version} (Keras 1 stored 12 arrays per LSTM in "
            "gate order i, c, f, o); npylstm reads files from Keras 2 on"
        )


def _version(group: h5py.Group, h5: h5py.File) -> str:
    version = _h5_text(group.attrs, "keras_version") or _h5_text(h5.attrs, "keras_version")
    return version or "1"


def read_legacy_model(h5: h5py.File, model_config: str, path: Path) -> ModelFile:
    """A whole legacy model from an open file whose ``model_config`` attribute is given."""
    group = _h5_group(h5, "model_weights", "model_weights", path)
    if group is None:
        raise KerasFileError(f"'{path}': the legacy model file has no 'model_weights' group")
    version = _version(group, h5)
    _check_keras1(version, path)
    config = normalize_model_config(
        _parse_json(model_config, "model_config", path), version, f"'{path}'"
    )
    names, arrays = _read_layer_arrays(group, path)
    training = _h5_text(h5.attrs, "training_config")
    compile_config = None if training is None else _parse_json(training, "training_config", path)
    layers = weighted_layers(config)
    entries = layer_vars(
        [layer["class_name"] for layer in layers],
        [layer["config"].get("name", layer["class_name"]) for layer in layers],
        [layer["config"] for layer in layers],
    )
    if config["class_name"] == "Functional":
        names, arrays = _config_order(entries, names, arrays)
    layer_weights = _assign_legacy(entries, names, arrays, path)
    return ModelFile(config, layer_weights, version, "legacy_h5", names, compile_config,
                     read_legacy_optimizer(h5, path))


def _config_order(
    layers: Sequence[LayerVars], names: list[str], arrays: list[list[np.ndarray]]
) -> tuple[list[str], list[list[np.ndarray]]]:
    """A functional model's weighted layers in the config's order when the file lists the
    same names in another order. Keras (2 and 3) matches them by position, and writes
    ``layer_names`` and the config both from ``model.layers``, so its files agree; a file
    that lists them otherwise (an edited or hand-made file) still names each layer, and a
    functional model's layer names are unique."""
    wanted = [layer.name for layer in layers if layer.tree.weight_names()]
    if names == wanted or sorted(names) != sorted(wanted) or len(set(names)) != len(names):
        return names, arrays
    by_name = dict(zip(names, arrays, strict=True))
    return wanted, [by_name[name] for name in wanted]


def read_legacy_weights(h5: h5py.File, layers: Sequence[LayerVars], path: Path) -> ModelFile:
    """The weights of a legacy weights-only file, or of a legacy model file's
    ``model_weights``, for these layers."""
    group = h5
    fmt = "legacy_weights_h5"
    if "layer_names" not in h5.attrs and "model_weights" in h5:
        group = _h5_group(h5, "model_weights", "model_weights", path)
        fmt = "legacy_h5"
    if "layer_names" not in group.attrs and "layer_names0" not in group.attrs:
        raise KerasFileError(
            f"'{path}' is an HDF5 file but not a Keras weights file (no 'layers' group and "
            "no 'layer_names' attribute)"
        )
    version = _version(group, h5)
    _check_keras1(version, path)
    names, arrays = _read_layer_arrays(group, path)
    return ModelFile(None, _assign_legacy(layers, names, arrays, path), version, fmt, names)


# -- writing ------------------------------------------------------------------------------------


def _keras2_history(value) -> list | None:
    """The ``[layer, node, tensor]`` of a Keras 3 tensor entry, else None."""
    if isinstance(value, dict) and value.get("class_name") == "__keras_tensor__":
        return list((value.get("config") or {}).get("keras_history") or [])
    return None


def _keras2_kwargs(value):
    """Keras 3 tensor entries (nested in lists / dicts) -> tf_keras's ``[layer, node,
    tensor]`` lists."""
    history = _keras2_history(value)
    if history is not None:
        return history
    if isinstance(value, dict):
        return {k: _keras2_kwargs(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_keras2_kwargs(v) for v in value]
    return value


def _keras2_tensors(structure):
    """A model's ``input_layers`` / ``output_layers`` as tf_keras writes them: always
    nested (``get_network_config``: a single ``[layer, node, tensor]`` in a list)."""
    single = (isinstance(structure, list) and len(structure) == 3
              and isinstance(structure[0], str))
    return [structure] if single else structure


def _keras2_node(node: dict, cls, where: str) -> list:
    """One Keras 3 node ``{"args", "kwargs"}`` as tf_keras's ``Node.serialize`` writes it:
    ``[[layer, node, tensor, kwargs], ...]``, one entry per tensor of the first argument
    (the same kwargs on each; the arguments after the first among them, by name:
    a MultiHeadAttention's ``value``), and an RNN's ``initial_state`` tensors as entries
    after the first (tf_keras's ``RNN.__call__`` appends them to the inputs)."""
    args, kwargs = list(node.get("args") or []), dict(node.get("kwargs") or {})
    names = positional_tensor_arguments(cls)  # tf_keras names the arguments after the first
    if not args or len(args) - 1 > len(names):
        raise KerasFileError(
            f"{where}: a call with {len(args)} positional arguments cannot be written in "
            f"tf_keras's node format (it names the arguments after the first: {names})")
    first = args[0]
    kwargs = {**dict(zip(names, args[1:], strict=False)), **kwargs}
    extra = []
    if takes_initial_state(cls) and kwargs.get("initial_state") is not None:
        state = kwargs.pop("initial_state")
        extra = list(state) if isinstance(state, list | tuple) else [state]
    kwargs = _keras2_kwargs(kwargs)
    tensors = list(first) if isinstance(first, list | tuple) else [first]
    entries = []
    for tensor in [*tensors, *extra]:
        history = _keras2_history(tensor)
        if history is None:
            raise KerasFileError(f"{where}: expected tensors as the call's inputs, "
                                 f"received {tensor!r}")
        entries.append([*history, kwargs])
    return entries


def _inbound_nodes(layer: dict, keras2: bool) -> list:
    """A functional layer's ``inbound_nodes``: Keras 3's form, or tf_keras's."""
    nodes = layer.get("inbound_nodes", [])
    if not keras2:
        return nodes
    cls = layer_class(layer["class_name"])
    where = f"layer '{layer['config'].get('name')}' ({layer['class_name']})"
    return [_keras2_node(node, cls, f"{where} call {i}") for i, node in enumerate(nodes)]


def _training_config(compile_config: dict) -> dict:
    """tf.keras's ``training_config``: the compile settings, the optimizer apart."""
    optimizer = compile_config.get("optimizer") or {}
    return {
        **{k: v for k, v in compile_config.items() if k != "optimizer"},
        "optimizer_config": {
            # tf.keras 2.11+'s spelling of its (Keras 3-like) optimizers; a bare
            # "Adam" would select its legacy optimizer, which rejects weight_decay.
            "class_name": f"Custom>{optimizer.get('class_name')}",
            "config": optimizer.get("config"),
        },
    }


def _write_optimizer_weights(h5: h5py.File, optimizer: OptimizerState) -> None:
    """Keras's ``save_optimizer_weights_to_hdf5_group``: one dataset per variable, named
    by its path (made unique if two names collide, which Keras's paths never do)."""
    group = h5.create_group(OPTIMIZER_WEIGHTS)
    names: list[str] = []
    for i, name in enumerate(optimizer.names):
        path = name if name.startswith(f"{optimizer.name}/") else f"{optimizer.name}/{name}"
        names.append(f"{path}_{i}" if path in names else path)
    group.attrs["weight_names"] = np.array([n.encode("utf8") for n in names])
    for name, array in zip(names, optimizer.variables, strict=True):
        group.create_dataset(name, data=np.asarray(array))


def write_legacy_h5(
    path: str | os.PathLike,
    config: dict | None,
    layer_weights: Sequence[Sequence[np.ndarray]],
    class_names: Sequence[str] | None = None,
    layer_names: Sequence[str] | None = None,
    layer_configs: Sequence[dict] | None = None,
    optimizer: OptimizerState | None = None,
) -> Path:
    """Write a legacy HDF5 file: a whole model (``config`` given) or weights only.

    A model using Keras 2's hard_sigmoid is written with ``keras_version`` 2.x and a
    tf_keras-style config, so tf_keras (and npylstm) read it back with the same meaning
    (a functional model's nodes in tf_keras's list form: ``_keras2_node``); any other
    model is written with ``keras_version`` 3.x in Keras 3's legacy form.

    Parameters
    ----------
    path : str or PathLike
    config : dict or None
        The Sequential or Functional config (Keras 3's form); None writes a weights-only
        file (then ``class_names`` and ``layer_names`` are required).
    layer_weights : sequence of sequence of np.ndarray
        One list per non-Input layer, in ``get_weights()`` order.
    layer_configs : sequence of dict, optional
        For a weights-only file: each layer's config, for its variable tree (default: the
        class's default config).
    optimizer : OptimizerState, optional
        A compiled model's optimizer variables, written as Keras 3 writes them
        (``optimizer_weights``, named ``<optimizer>/<variable>``) in a whole-model file of
        Keras 3's form. Not in a Keras 2-form file: tf_keras's optimizers order their
        variables otherwise, and would refuse them.
    """
    keras2 = False
    training_config = None
    if config is not None:
        check_model_config(config)
        keras2 = bool(keras2_hard_sigmoid_keys(config))
        layers = weighted_layers(config)
        class_names = [layer["class_name"] for layer in layers]
        layer_names = [
            layer["config"].get("name", c) for layer, c in zip(layers, class_names, strict=True)
        ]
        layer_configs = [layer["config"] for layer in layers]
        functional = config["class_name"] != "Sequential"
        model_config = {
            "class_name": config["class_name"],
            "config": {
                **{k: v for k, v in config["config"].items() if k not in ("layers", "dtype")},
                "layers": [
                    {**legacy_layer_config(layer, keras2),
                     **({"name": layer["config"].get("name"),
                         "inbound_nodes": _inbound_nodes(layer, keras2)} if functional else {})}
                    for layer in config["config"]["layers"]
                ],
            },
        }
        if keras2 and functional:  # tf_keras's form of the nodes and of the model's tensors
            for key in ("input_layers", "output_layers"):
                model_config["config"][key] = _keras2_tensors(model_config["config"][key])
        elif keras2:
            model_config["config"].pop("trainable", None)
        compile_config = config.get("compile_config")
        # Only for tf.keras: Keras 3.15 cannot load a legacy file whose training_config
        # names its loss by a string (not even one it wrote itself), so a Keras 3 legacy
        # file is written uncompiled, which Keras loads with a note to compile it.
        if compile_config and keras2:  # the optimizer goes apart, as optimizer_config
            training_config = _training_config(compile_config)
    elif class_names is None or layer_names is None:
        raise ValueError("write_legacy_h5: a weights-only file needs class_names and layer_names")
    class_names, layer_names = list(class_names), list(layer_names)
    entries = writable_layers(class_names, layer_names, layer_configs, layer_weights)
    version = KERAS2_FORMAT_VERSION if keras2 else KERAS_FORMAT_VERSION
    backend = "tensorflow" if keras2 else "numpy"

    def fill(group: h5py.Group) -> None:
        group.attrs["backend"] = backend
        group.attrs["keras_version"] = version
        group.attrs["layer_names"] = np.array([n.encode("utf8") for n in layer_names])
        for layer, weights in zip(entries, layer_weights, strict=True):
            layer_group = group.create_group(layer.name)
            weight_names = legacy_weight_names(layer, weights)
            layer_group.attrs["weight_names"] = np.array([w.encode("utf8") for w in weight_names])
            for weight_name, array in zip(weight_names, weights, strict=True):
                layer_group.create_dataset(weight_name, data=np.asarray(array))
        group.create_group("top_level_model_weights").attrs["weight_names"] = np.array([], "S1")

    def write(tmp: Path) -> None:
        with h5py.File(tmp, "w") as h5:
            if config is None:
                fill(h5)
                return
            h5.attrs["backend"] = backend
            h5.attrs["keras_version"] = version
            h5.attrs["model_config"] = json.dumps(model_config)
            if training_config is not None:
                h5.attrs["training_config"] = json.dumps(training_config)
            fill(h5.create_group("model_weights"))
            if optimizer is not None and optimizer.variables and not keras2:
                _write_optimizer_weights(h5, optimizer)

    return _atomic_write(path, write)
