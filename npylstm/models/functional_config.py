"""A functional model from its Keras config (``keras/src/models/functional.py``:
``functional_from_config`` and ``deserialize_node``).

Every layer is made through the registry (nothing named in a config is executed); then
the recorded calls (``inbound_nodes``) are replayed on symbolic tensors, each as soon as
the tensors it takes exist, which rebuilds the graph, the shared layers' several nodes and
every layer's build shapes. Both node forms are read: Keras 3's ``{"args", "kwargs"}``
with ``__keras_tensor__`` entries, and Keras 2's lists ``[layer_name, node_index,
tensor_index, kwargs]``.

>>> import npylstm
>>> from npylstm.layers import Dense
>>> x = npylstm.Input((3,), name="x")
>>> model = npylstm.Model(x, Dense(2, name="y")(x))
>>> again = npylstm.models.Functional.from_config(model.get_config())
>>> [layer.name for layer in again.layers], again.output_shape
(['x', 'y'], (None, 2))
"""

from __future__ import annotations

from .. import registry
from ..layers import ops
from ..layers.graph import KerasTensor
from ..layers.input import InputLayer, input_tensor

__all__ = ["functional_from_config"]

_CONFIG_KEYS = ("name", "trainable", "layers", "input_layers", "output_layers")


def _is_history(value) -> bool:
    return (isinstance(value, list | tuple) and len(value) == 3 and isinstance(value[0], str)
            and all(isinstance(v, int) for v in value[1:]))


def _tensor(created: dict, history, where: str) -> KerasTensor | None:
    """The tensor ``[layer_name, node_index, tensor_index]`` names, or None while its
    node is not made yet."""
    name, node_index, tensor_index = history[:3]
    if name not in created:
        raise ValueError(f"{where}: names layer {name!r}, which the config does not have")
    nodes = created[name].__dict__.get("_inbound_nodes", [])
    if node_index >= len(nodes):
        return None
    outputs = nodes[node_index].outputs
    if tensor_index >= len(outputs):
        raise ValueError(f"{where}: layer {name!r} has {len(outputs)} outputs, the config "
                         f"asks for output {tensor_index}")
    return outputs[tensor_index]


class _NotYet(Exception):
    """A node's input tensors are not all made yet."""


def _node_call(created: dict, node_data, where: str):
    """``(args, kwargs)`` of one recorded call, with symbolic tensors in place."""

    def revive(value):
        if isinstance(value, dict) and value.get("class_name") == "__keras_tensor__":
            history = (value.get("config") or {}).get("keras_history")
            if not _is_history(history):
                raise ValueError(f"{where}: a tensor entry without a keras_history")
            tensor = _tensor(created, history, where)
            if tensor is None:
                raise _NotYet
            return tensor
        if isinstance(value, dict):
            return {k: revive(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [revive(v) for v in value]
        return value

    if isinstance(node_data, list):  # Keras 2: [[layer, node, tensor, kwargs], ...]
        tensors, kwargs = [], {}
        for entry in node_data:
            if not isinstance(entry, list) or len(entry) not in (3, 4):
                raise ValueError(f"{where}: expected inbound entries [layer, node, tensor"
                                 f"(, kwargs)], received {entry!r}")
            tensor = _tensor(created, entry, where)
            if tensor is None:
                raise _NotYet
            tensors.append(tensor)
            if len(entry) == 4:
                kwargs = revive(entry[3])
        return [tensors[0] if len(tensors) == 1 else tensors], dict(kwargs)
    if not isinstance(node_data, dict):
        raise ValueError(f"{where}: expected an inbound node {{'args', 'kwargs'}}, received "
                         f"{type(node_data).__name__}")
    return revive(list(node_data.get("args") or [])), revive(dict(node_data.get("kwargs")
                                                                  or {}))


def functional_from_config(cls, config: dict):
    """Rebuild a :class:`~npylstm.models.Functional` from ``config``."""
    if not isinstance(config, dict) or not isinstance(config.get("layers"), list):
        raise ValueError("Functional.from_config: expected a dict with 'layers', "
                         f"'input_layers' and 'output_layers', received {type(config).__name__}")
    label = f"Functional '{config.get('name', '?')}'"
    unknown = sorted(set(config) - set(_CONFIG_KEYS))
    if unknown:
        raise ValueError(f"{label}: unknown config key {unknown[0]!r}; Functional accepts "
                         f"{list(_CONFIG_KEYS)}")
    created, pending = {}, []
    for index, entry in enumerate(config["layers"]):
        where = f"{label}: layer #{index}"
        if not isinstance(entry, dict):
            raise ValueError(f"{where}: expected a layer entry, received "
                             f"{type(entry).__name__}")
        if ops.is_operation_entry(entry):  # a keras.ops call Keras recorded (masks)
            layer = ops.get(entry.get("class_name")).from_config(
                {**(entry.get("config") or {}), "name": entry.get("name")
                 or (entry.get("config") or {}).get("name")})
        else:
            layer = registry.deserialize({k: v for k, v in entry.items()
                                          if k not in ("inbound_nodes", "name")}, where)
        if layer.name in created:
            raise ValueError(f"{label}: two layers are named {layer.name!r}")
        created[layer.name] = layer
        if isinstance(layer, InputLayer):
            input_tensor(layer)
        for node_data in entry.get("inbound_nodes") or []:
            pending.append((layer, node_data, f"{label}: layer '{layer.name}'"))
    while pending:  # replay every call once its input tensors exist
        left = []
        for layer, node_data, where in pending:
            if left and left[-1][0] is layer:  # a layer's calls keep their order
                left.append((layer, node_data, where))
                continue
            try:
                args, kwargs = _node_call(created, node_data, where)
            except _NotYet:
                left.append((layer, node_data, where))
                continue
            layer(*args, **kwargs)
        if len(left) == len(pending):
            names = sorted({layer.name for layer, _, _ in left})
            raise ValueError(f"{label}: the calls of layers {names} take tensors no other "
                             "call makes (a cycle or a missing layer)")
        pending = left

    def tensors(structure, what):
        if _is_history(structure):
            tensor = _tensor(created, structure, f"{label}: {what}")
            if tensor is None:
                raise ValueError(f"{label}: {what} names a call the config does not have: "
                                 f"{structure}")
            return tensor
        if isinstance(structure, dict):
            return {k: tensors(v, what) for k, v in structure.items()}
        if isinstance(structure, list | tuple):
            return [tensors(v, what) for v in structure]
        raise ValueError(f"{label}: expected {what} as [layer, node, tensor] entries, "
                         f"received {structure!r}")

    inputs = tensors(config.get("input_layers"), "input_layers")
    outputs = tensors(config.get("output_layers"), "output_layers")
    return cls(inputs, outputs, name=config.get("name"), trainable=config.get("trainable", True))
