"""Model configs as files hold them -> Keras 3's form, checked against the layer registry.

The allow-list is :mod:`npylstm.registry`: a file may name only a registered layer class
(nothing it names is imported or evaluated). Everything that differs per class comes from
the class's own declarations (:class:`npylstm.layers.Layer`): its Keras 2 -> 3 migration
(``from_keras2_config``), the keys holding activation names (``ACTIVATION_KEYS``), the
reverse migration for tf_keras (``to_keras2_config``) and where its variables live in the
weight files (``variable_tree``). No table of class names lives here.

Keras 2 meant ``clip(0.2 x + 0.5, 0, 1)`` by ``"hard_sigmoid"``; Keras 3 means
``clip(x / 6 + 0.5, 0, 1)``. A config whose ``keras_version`` is below 3 is read with
``"hard_sigmoid_keras2"`` in place of ``"hard_sigmoid"``, in every activation key of every
class; writing such a model keeps ``keras_version`` 2 in a legacy ``.h5`` and is refused
for the Keras 3 formats (Keras 3 has no activation with that meaning).

A functional config's Keras 2 nodes (tf_keras's ``[[layer, node, tensor, kwargs], ...]``)
become Keras 3's ``{"args", "kwargs"}`` here, each entry checked against the config's
layers and calls: an RNN's extra entries are its ``initial_state``, and a tensor in the
kwargs under a required call argument's name (MultiHeadAttention's ``value``) is that
positional argument, as Keras 3 records the call.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from .. import registry
from ..layers import InputLayer, Layer, ops
from ..layers.base import VarsNode
from ..layers.ops import is_operation_entry
from .model_file import (
    KERAS2_HARD_SIGMOID,
    KERAS_FORMAT_VERSION,
    KerasFileError,
    keras_major_version,
)

__all__ = [
    "LayerVars",
    "check_layer_weights",
    "check_model_config",
    "is_input_layer",
    "keras2_hard_sigmoid_keys",
    "layer_class",
    "layer_vars",
    "legacy_layer_config",
    "normalize_model_config",
    "split_weights",
    "supported_layers",
    "unsupported_layers",
    "variable_tree",
    "weighted_layers",
    "with_keras3_modules",
    "writable_layers",
]


# -- the registry as the allow-list ---------------------------------------------------------


#: The class names a functional model's config may carry (Keras 2 wrote ``Model``).
FUNCTIONAL_CLASS_NAMES = ("Functional", "Model")


def supported_layers() -> list[str]:
    """The Keras class names of every registered layer class, sorted (models excluded)."""
    return [name for name in registry.names() if issubclass(registry.get(name), Layer)]


def unsupported_layers(class_names: Iterable) -> list[str]:
    """The names in ``class_names`` that are not registered layer classes (nor a nested
    functional model), sorted."""
    return sorted({str(name) for name in class_names} - set(supported_layers())
                  - set(MODEL_CLASS_NAMES))


def _unsupported_message(layers: list[dict], unsupported: list[str]) -> str:
    """Which layers name classes npylstm cannot build, and how to supply one."""
    named = [f"'{layer['config'].get('name', '?')}' ({layer.get('class_name')})"
             for layer in layers if str(layer.get("class_name")) in unsupported]
    message = (f"unsupported layer classes {unsupported} (layers {', '.join(named)}); "
               f"npylstm supports {supported_layers()}")
    if "Lambda" in unsupported:
        message += ("; a Lambda layer holds Python code, which npylstm never runs (as "
                    "Keras's safe_mode): rewrite it as an npylstm layer and pass it with "
                    "load_model(..., custom_objects={'Lambda': YourLayer})")
    others = [name for name in unsupported if name != "Lambda"]
    if others:
        message += (f"; for a custom class, pass an npylstm layer class with load_model(..., "
                    f"custom_objects={{{others[0]!r}: YourLayer}})")
    return message


def layer_class(class_name: str) -> type[Layer]:
    """The registered layer class named ``class_name`` (check with
    :func:`unsupported_layers` first for a clear error)."""
    cls = registry.get(class_name)
    if not issubclass(cls, Layer):
        raise KerasFileError(
            f"{class_name!r} is not a layer class; npylstm supports {supported_layers()}"
        )
    return cls


def is_input_layer(class_name) -> bool:
    """Whether ``class_name`` names the InputLayer class (which owns no weights slot)."""
    return class_name == InputLayer.keras_class_name


def weights_group_names(class_names: Sequence[str]) -> list[str]:
    """Group names of a Keras 3 weights file for layers of these classes, in order.

    Keras names the groups after the layer *class*, numbered per class
    (``saving_lib._save_container_state``), not after the layer's ``name``.

    >>> weights_group_names(["LSTM", "Dropout", "LSTM", "Dense"])
    ['lstm', 'dropout', 'lstm_1', 'dense']
    """
    used: dict[str, int] = {}
    names = []
    for cls in class_names:
        base = re.sub(r"([a-z])([A-Z])", r"\1_\2", re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", cls))
        base = base.lower()
        if base in used:
            used[base] += 1
            names.append(f"{base}_{used[base]}")
        else:
            used[base] = 0
            names.append(base)
    return names


#: Model classes that may sit inside a functional model as one of its layers.
MODEL_CLASS_NAMES = ("Functional", "Model")


def is_model_entry(entry) -> bool:
    """Whether a config entry is a model used as a layer (a nested functional model)."""
    return isinstance(entry, dict) and entry.get("class_name") in MODEL_CLASS_NAMES


def _scoped(tree: VarsNode, name: str) -> VarsNode:
    """``tree`` one level down under ``name`` in legacy weight names (a nested model's
    layers: ``inner/inner_lstm/lstm_cell/kernel:0``, read by position as Keras does)."""
    scope = f"{name}/{tree.legacy_scope}" if tree.legacy_scope else name
    return VarsNode(weights=tree.weights, name=tree.name, legacy_scope=scope,
                    children=tree.children)


def variable_tree(class_name: str, config: dict) -> VarsNode:
    """Where a layer of this class and config keeps its variables in Keras's files; a
    nested model keeps none itself: its layers are its ``layers/<group>`` children
    (``layers/functional/layers/lstm/cell/vars/0`` in a ``.keras`` file)."""
    if class_name in MODEL_CLASS_NAMES:
        inner = weighted_layers({"config": config})
        groups = weights_group_names([entry["class_name"] for entry in inner])
        return VarsNode(children=tuple(
            (f"layers/{group}", _scoped(variable_tree(entry["class_name"], entry["config"]),
                                        entry["config"].get("name", group)))
            for group, entry in zip(groups, inner, strict=True)))
    return layer_class(class_name).variable_tree(config)


def weighted_layers(config: dict) -> list[dict]:
    """The layers that own a weights slot: all but InputLayer (Keras's ``model.layers``)."""
    layers = config["config"]["layers"]
    return [layer for layer in layers
            if not is_input_layer(layer["class_name"]) and not is_operation_entry(layer)]


@dataclass(frozen=True)
class LayerVars:
    """One layer slot of a weights file: its class, its name and its variable tree."""

    class_name: str
    name: str
    tree: VarsNode

    @property
    def label(self) -> str:
        return f"layer '{self.name}' ({self.class_name})"


def layer_vars(
    class_names: Sequence[str],
    layer_names: Sequence[str] | None = None,
    layer_configs: Sequence[dict] | None = None,
) -> list[LayerVars]:
    """A :class:`LayerVars` per layer (classes checked with :func:`unsupported_layers`
    first). Without ``layer_configs``, each tree is the one of the class's default config:
    enough for the paths, but a layer without bias then reads as one that may have it."""
    class_names = list(class_names)
    names = list(layer_names) if layer_names is not None else list(class_names)
    configs = list(layer_configs) if layer_configs is not None else [{"name": n} for n in names]
    if not len(class_names) == len(names) == len(configs):
        raise ValueError(
            f"expected as many layer names and configs as classes ({len(class_names)}), "
            f"received {len(names)} names and {len(configs)} configs"
        )
    return [
        LayerVars(cls, name, variable_tree(cls, config))
        for cls, name, config in zip(class_names, names, configs, strict=True)
    ]


def split_weights(
    layer: LayerVars, weights: Sequence[np.ndarray]
) -> list[tuple[str, VarsNode, tuple[str, ...], list[np.ndarray]]]:
    """``(path, node, legacy_scopes, arrays)`` for each node of ``layer.tree`` that stores
    variables: the layer's ``get_weights()`` list cut at the nodes' boundaries.

    A tree with one such node takes all the arrays (a layer without bias stores the first
    ones only); a deeper tree needs exactly one array per declared variable.
    """
    leaves = list(layer.tree.leaves())
    weights = list(weights)
    declared = sum(len(node.weights) for _, node, _ in leaves)
    if len(leaves) <= 1:
        if len(weights) > declared:
            raise ValueError(
                f"a {layer.class_name} layer has at most {declared} weights, received "
                f"{len(weights)}"
            )
        return [(*leaves[0], weights)] if leaves else []
    if len(weights) != declared:
        raise ValueError(
            f"{layer.label}: expected {declared} weights {layer.tree.weight_names()}, "
            f"received {len(weights)}"
        )
    out, start = [], 0
    for path, node, scopes in leaves:
        out.append((path, node, scopes, weights[start : start + len(node.weights)]))
        start += len(node.weights)
    return out


def check_layer_weights(
    layers: Sequence[LayerVars], layer_weights: Sequence[Sequence[np.ndarray]]
) -> None:
    """One weight list per layer, each fitting the layer's tree, before anything is written."""
    if len(layers) != len(layer_weights):
        raise ValueError(
            f"expected one weight list per layer: {len(layers)} layers, "
            f"received {len(layer_weights)} weight lists"
        )
    for layer, weights in zip(layers, layer_weights, strict=True):
        split_weights(layer, weights)


def writable_layers(
    class_names: Sequence[str],
    layer_names: Sequence[str],
    layer_configs: Sequence[dict] | None,
    layer_weights: Sequence[Sequence[np.ndarray]],
) -> list[LayerVars]:
    """The layers to write, every class and weight count checked before a file is opened."""
    if len(class_names) != len(layer_weights):
        raise ValueError(
            f"expected one weight list per layer: {len(class_names)} layers, "
            f"received {len(layer_weights)} weight lists"
        )
    unsupported = unsupported_layers(class_names)
    if unsupported:
        raise KerasFileError(
            f"cannot write layer classes {unsupported}; supported: {supported_layers()}"
        )
    layers = layer_vars(class_names, layer_names, layer_configs)
    check_layer_weights(layers, layer_weights)
    return layers


# -- reading: any Keras version's config -> Keras 3's ---------------------------------------


def _activation_name(value, where: str) -> str | None:
    """An activation name from a config value; Keras 3 may wrap it in a dict."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, dict) and isinstance(value.get("config"), str):
        # {"module": "keras.activations", "class_name": "function", "config": "tanh", ...}
        return value["config"]
    raise KerasFileError(f"{where}: expected an activation name, received {value!r}")


def _layer_label(layer: dict, index: int) -> str:
    name = (layer.get("config") or {}).get("name", f"#{index}")
    return f"layer '{name}' ({layer.get('class_name')})"


def _nested_keys(cls) -> tuple[str, ...]:
    """The config keys of ``cls`` holding serialized inner layers (a wrapper's ``layer``)."""
    return tuple(getattr(cls, "NESTED_LAYER_KEYS", ()))


def _nested_class(entry: dict, where: str) -> type[Layer]:
    """The registered layer class of a nested layer entry, or a clear error."""
    if not isinstance(entry, dict) or not isinstance(entry.get("config"), dict):
        raise KerasFileError(f"{where}: expected a layer entry {{'class_name', 'config'}}, "
                             f"received {type(entry).__name__}")
    unsupported = unsupported_layers([entry.get("class_name")])
    if unsupported:
        raise KerasFileError(
            f"{where}: unsupported layer class {unsupported[0]!r}; npylstm supports "
            f"{supported_layers()}"
        )
    return layer_class(entry["class_name"])


def _normalize_layer_config(cls, config: dict, keras2: bool, where: str) -> dict:
    """One layer's config to Keras 3's form: its nested layers first (a wrapper's
    ``layer`` / ``backward_layer``, each normalized as a top-level layer is, Keras 2's
    ``hard_sigmoid`` included), then the class's Keras 2 migration and activation keys."""
    for key in _nested_keys(cls):
        entry = config.get(key)
        if entry is None:
            continue
        inner_where = f"{where} {key}"
        inner_cls = _nested_class(entry, inner_where)
        inner_where = f"{inner_where} '{entry['config'].get('name', '?')}' ({entry['class_name']})"
        config[key] = {**entry, "config": _normalize_layer_config(
            inner_cls, dict(entry["config"]), keras2, inner_where)}
    if keras2:  # a key a Keras 2 file may lack, with Keras 2's default (GRU's reset_after)
        for key, default in cls.KERAS2_DEFAULTS.items():
            config.setdefault(key, default)
    # Every file, not only keras_version < 3: a Keras 3 config has none of these keys,
    # and a Keras 2 value Keras 3 cannot honour (time_major=True) is refused either way.
    try:
        config = cls.from_keras2_config(config, where)
    except ValueError as exc:
        raise KerasFileError(str(exc)) from exc
    for key in cls.ACTIVATION_KEYS:
        if key in config:
            name = _activation_name(config[key], f"{where} {key}")
            if keras2 and name == "hard_sigmoid":
                name = KERAS2_HARD_SIGMOID  # Keras 2: clip(0.2 x + 0.5, 0, 1)
            config[key] = name
    return config


def normalize_model_config(model_config, keras_version: str, path: str = "<config>") -> dict:
    """Check a model config against the allow-list and bring it to Keras 3's form.

    Handles Keras 2's forms: a Sequential config that is a bare list of layers,
    ``batch_input_shape`` on the first layer (becomes an ``InputLayer``) or on an
    ``InputLayer`` (becomes ``batch_shape``), each class's Keras 2-only keys (its
    ``from_keras2_config``: ``time_major`` / ``implementation`` for an LSTM), and
    ``"hard_sigmoid"`` meaning Keras 2's hard sigmoid when ``keras_version`` < 3.

    Parameters
    ----------
    model_config : dict
        ``{"class_name": "Sequential", "config": ...}`` as found in the file.
    keras_version : str
        The version that wrote the file.
    path : str
        Named in error messages.

    Returns
    -------
    dict
        A new config; the input is not modified.

    >>> cfg = {"class_name": "Sequential", "config": [{"class_name": "LSTM", "config": {
    ...     "name": "lstm", "units": 2, "batch_input_shape": [None, 3, 1],
    ...     "recurrent_activation": "hard_sigmoid"}}]}
    >>> out = normalize_model_config(cfg, "2.2.4")
    >>> [l["class_name"] for l in out["config"]["layers"]]
    ['InputLayer', 'LSTM']
    >>> out["config"]["layers"][1]["config"]["recurrent_activation"]
    'hard_sigmoid_keras2'
    """
    if not isinstance(model_config, dict) or "class_name" not in model_config:
        raise KerasFileError(f"{path}: the model config is not a Keras model config")
    class_name = model_config["class_name"]
    if class_name in FUNCTIONAL_CLASS_NAMES:
        class_name = "Functional"  # Keras 2 wrote "Model" (or "Functional" from 2.4 on)
    elif class_name != "Sequential":
        raise KerasFileError(
            f"{path}: holds a {class_name!r} model; npylstm rebuilds Sequential and "
            "functional models (a subclassed Keras model has no config to rebuild from)"
        )
    inner = copy.deepcopy(model_config.get("config"))
    if isinstance(inner, list):  # Keras 2.0-2.2: a Sequential config is its list of layers
        inner = {"name": "sequential", "layers": inner}
    if not isinstance(inner, dict) or not isinstance(inner.get("layers"), list):
        raise KerasFileError(f"{path}: the Sequential config has no list of layers")
    layers = inner["layers"]
    for index, layer in enumerate(layers):
        if not isinstance(layer, dict) or not isinstance(layer.get("config"), dict):
            raise KerasFileError(f"{path}: layer #{index} of the config is not a layer config")
    operations = [layer for layer in layers if is_operation_entry(layer)]
    for op in operations:  # keras.ops calls Keras records for masks: their own table
        try:
            ops.get(op.get("class_name"))
        except ValueError as exc:
            raise KerasFileError(f"{path}: layer '{op.get('name')}': {exc}") from None
    layers_only = [layer for layer in layers
                   if not is_operation_entry(layer) and not is_model_entry(layer)]
    unsupported = unsupported_layers(layer.get("class_name") for layer in layers_only)
    if unsupported:
        raise KerasFileError(f"{path}: {_unsupported_message(layers_only, unsupported)}")
    keras2 = keras_major_version(keras_version) < 3
    out_layers: list[dict] = []
    for index, layer in enumerate(layers):
        if is_operation_entry(layer):
            out_layers.append(layer)  # a keras.ops call: kept as Keras wrote it
            continue
        if is_model_entry(layer):  # a nested model: its own config, the same way
            nested = normalize_model_config({"class_name": "Functional",
                                             "config": layer["config"]}, keras_version, path)
            out_layers.append({**layer, "config": nested["config"]})
            continue
        cls_name, config = layer["class_name"], layer["config"]
        cls = layer_class(cls_name)
        label = _layer_label(layer, index)
        batch_input_shape = config.pop("batch_input_shape", None)
        if class_name == "Functional" and not is_input_layer(cls_name):
            batch_input_shape = None  # a functional model's inputs are its InputLayers
        if is_input_layer(cls_name):
            if batch_input_shape is not None and "batch_shape" not in config:
                config["batch_shape"] = batch_input_shape
        elif batch_input_shape is not None and not out_layers:
            # Keras 2 put the input shape on the first layer; Keras 3 has an InputLayer.
            out_layers.append(
                {
                    "class_name": InputLayer.keras_class_name,
                    "config": {
                        "batch_shape": list(batch_input_shape),
                        "dtype": config.get("dtype", "float32"),
                        "name": f"{config.get('name', 'layer')}_input",
                    },
                }
            )
        config = _normalize_layer_config(cls, config, keras2, f"{path}: {label}")
        out_layers.append({**layer, "config": config})
    inner["layers"] = out_layers
    if class_name == "Functional":
        from .functional_nodes import keras3_nodes  # (it uses this module's lookups)

        keras3_nodes(inner, path)
    return {**model_config, "class_name": class_name, "config": inner}


# -- writing: Keras 3's config -> what each format stores ----------------------------------


def check_model_config(config: dict) -> None:
    """A Sequential config (``{"class_name": "Sequential", "config": ...}``) of registered
    layer classes, or an error."""
    if not isinstance(config, dict) or config.get("class_name") not in (
            "Sequential", *FUNCTIONAL_CLASS_NAMES):
        raise ValueError(
            "expected a Sequential or Functional model config {'class_name': 'Sequential', "
            f"'config': ...}}, received {type(config).__name__}"
        )
    normalize_model_config(config, KERAS_FORMAT_VERSION, "<model config>")


def keras2_hard_sigmoid_keys(config: dict) -> list[str]:
    """``"<layer>.<key>"`` for every activation key holding Keras 2's hard sigmoid (a
    wrapper's inner layers as ``"<wrapper>.<key>.<key>"``: ``"bidirectional.layer.
    recurrent_activation"``)."""
    found: list[str] = []
    for layer in config["config"]["layers"]:
        if not is_operation_entry(layer):
            _hard_sigmoid_keys(layer, str(layer["config"].get("name")), found)
    return found


def _hard_sigmoid_keys(entry: dict, prefix: str, found: list[str]) -> None:
    if is_model_entry(entry):  # a nested model: its layers
        for layer in entry["config"]["layers"]:
            if not is_operation_entry(layer):
                _hard_sigmoid_keys(layer, f"{prefix}.{layer['config'].get('name')}", found)
        return
    cls = layer_class(entry["class_name"])
    for key in cls.ACTIVATION_KEYS:
        if entry["config"].get(key) == KERAS2_HARD_SIGMOID:
            found.append(f"{prefix}.{key}")
    for key in _nested_keys(cls):
        if isinstance(entry["config"].get(key), dict):
            _hard_sigmoid_keys(entry["config"][key], f"{prefix}.{key}", found)


def with_keras3_modules(config: dict) -> dict:
    """Add the ``module`` / ``registered_name`` keys Keras 3 writes, where absent."""
    config = copy.deepcopy(config)
    functional = config.get("class_name") == "Functional"
    config.setdefault("module", "keras.src.models.functional" if functional else "keras")
    config.setdefault("registered_name", "Functional" if functional else None)
    entries = list(config["config"]["layers"])
    while entries:
        layer = entries.pop()
        layer.setdefault("module", "keras.layers")
        layer.setdefault("registered_name", None)
        if is_operation_entry(layer):
            continue
        if is_model_entry(layer):
            layer["module"] = "keras.src.models.functional"
            layer["registered_name"] = "Functional"
            entries.extend(layer["config"]["layers"])
            continue
        nested = _nested_keys(registry.get(layer["class_name"]))
        entries.extend(layer["config"][k] for k in nested
                       if isinstance(layer["config"].get(k), dict))
    return config


def legacy_layer_config(layer: dict, keras2: bool) -> dict:
    """A layer config as the legacy writer stores it (tf_keras's form when ``keras2``)."""
    if is_operation_entry(layer):
        return {k: v for k, v in layer.items() if k in ("module", "class_name", "config")}
    if is_model_entry(layer):  # a nested model: its layers, the same way
        config = copy.deepcopy(layer["config"])
        config["layers"] = [{**entry, **legacy_layer_config(entry, keras2)}
                            for entry in config["layers"]]
        return {"class_name": "Functional", "config": config}
    cls_name = layer["class_name"]
    cls = layer_class(cls_name)
    config = copy.deepcopy(layer["config"])
    for key in cls.ACTIVATION_KEYS:
        if config.get(key) == KERAS2_HARD_SIGMOID:
            config[key] = "hard_sigmoid"  # keras_version 2 in the file says which one
    if keras2:
        if isinstance(config.get("dtype"), dict):
            config["dtype"] = (config["dtype"].get("config") or {}).get("name", "float32")
        # tf_keras refuses Keras 3-only keys, and expects its own at their defaults.
        config = cls.to_keras2_config(config)
        if is_input_layer(cls_name) and "batch_shape" in config:
            config["batch_input_shape"] = config.pop("batch_shape")
        for value in config.values():
            if isinstance(value, dict):
                value.pop("shared_object_id", None)
                if isinstance(value.get("config"), dict):
                    value["config"].pop("input_axes", None)
                    value["config"].pop("output_axes", None)
    for key in _nested_keys(cls):
        entry = config.get(key)
        if isinstance(entry, dict):  # a wrapper's inner layers, the same way
            inner = legacy_layer_config(entry, keras2)
            if not keras2:  # Keras 3's serialization_lib finds a nested class by module
                inner = {"module": entry.get("module", "keras.layers"), **inner,
                         "registered_name": entry.get("registered_name")}
            config[key] = inner
    return {"class_name": cls_name, "config": config}
