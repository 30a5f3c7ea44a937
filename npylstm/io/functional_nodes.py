"""A functional config's nodes: Keras 2's lists -> Keras 3's ``{"args", "kwargs"}``.

tf_keras writes each call of a layer as a list of ``[layer, node, tensor, kwargs]``
entries; Keras 3 as ``{"args": [...], "kwargs": {...}}`` with ``__keras_tensor__`` entries.
:func:`keras3_nodes` brings every node of a functional config to Keras 3's form (in place),
checking each entry against the config's layers and calls; the legacy writer uses
:func:`takes_initial_state` and :func:`positional_tensor_arguments` for the way back.
"""

from __future__ import annotations

import inspect

from ..layers.ops import is_operation_entry
from .keras_config import is_input_layer, is_model_entry, layer_class
from .model_file import KerasFileError

__all__ = ["keras3_nodes", "positional_tensor_arguments", "takes_initial_state"]


def takes_initial_state(cls) -> bool:
    """Whether ``cls`` is called with ``initial_state=`` (the RNN layers, Bidirectional).

    tf_keras's ``RNN.__call__`` / ``Bidirectional.__call__`` (``tf_keras/src/layers/rnn/
    base_rnn.py``, ``bidirectional.py``) append the ``initial_state`` tensors to the
    inputs, so its config holds them as the node's entries after the first; reading
    (``rnn_utils.standardize_args``) takes the entries after the first as the initial
    state again."""
    return "initial_state" in inspect.signature(cls.forward).parameters


def positional_tensor_arguments(cls) -> list[str]:
    """The names of the required arguments of ``cls``'s call after the first (a
    MultiHeadAttention's ``value``), which tf_keras's ``Node.serialize`` writes as kwargs
    (``dict(zip(arg_names[1:], args))``) and Keras 3 records as positional arguments."""
    params = list(inspect.signature(cls.forward).parameters.values())[2:]  # self, first
    names = []
    for param in params:
        if param.kind is not param.POSITIONAL_OR_KEYWORD or param.default is not param.empty:
            break
        names.append(param.name)
    return names


def _is_keras2_history(value) -> bool:
    """``[layer_name, node_index, tensor_index]``: how tf_keras writes a tensor
    (``tf_utils.convert_inner_node_data`` reads any such list as one)."""
    return (isinstance(value, list | tuple) and len(value) == 3 and isinstance(value[0], str)
            and all(isinstance(v, int) and not isinstance(v, bool) for v in value[1:]))


def _keras_tensor(history: list) -> dict:
    return {"class_name": "__keras_tensor__", "config": {"keras_history": list(history)}}


def keras3_nodes(inner: dict, path: str) -> None:
    """Every Keras 2 node list of a functional config as Keras 3's node dict, in place
    (tf_keras's ``Node.serialize`` / ``functional.process_node`` are the reference), after
    checking that each entry names a layer of the config and one of its calls."""
    label = f"{path}: Functional '{inner.get('name', '?')}'"
    calls: dict[str, int] = {}
    for layer in inner["layers"]:
        name = layer.get("name", layer["config"].get("name"))
        nodes = layer.get("inbound_nodes") or []
        calls[name] = 1 if is_input_layer(layer["class_name"]) else len(nodes)

    def check(history, where: str) -> None:
        name, node_index = history[0], history[1]
        if name not in calls:
            raise KerasFileError(f"{where} names layer {name!r}, which the config does not "
                                 f"have (layers: {sorted(calls)})")
        if not 0 <= node_index < calls[name]:
            raise KerasFileError(
                f"{where} names call {node_index} of layer {name!r}, which has "
                f"{calls[name]} call{'s' if calls[name] != 1 else ''} in the config")

    def tensors(value, where: str):
        """Keras 2 ``[layer, node, tensor]`` lists (nested in lists / dicts) -> Keras 3
        tensor entries."""
        if _is_keras2_history(value):
            check(value, where)
            return _keras_tensor(value)
        if isinstance(value, dict) and value.get("class_name") == "__keras_tensor__":
            history = (value.get("config") or {}).get("keras_history")
            if _is_keras2_history(history):
                check(history, where)
            return value
        if isinstance(value, dict):
            return {k: tensors(v, where) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [tensors(v, where) for v in value]
        return value

    for layer in inner["layers"]:
        name = layer.get("name", layer["config"].get("name"))
        where = f"{label}: layer '{name}' ({layer['class_name']})"
        cls = None if is_operation_entry(layer) or is_model_entry(layer) else layer_class(
            layer["class_name"])
        nodes = layer.get("inbound_nodes") or []
        if not isinstance(nodes, list):
            raise KerasFileError(f"{where}: expected a list of inbound_nodes, received "
                                 f"{type(nodes).__name__}")
        layer["inbound_nodes"] = [
            _keras3_node(node, cls, tensors, f"{where} call {i}") if isinstance(node, list)
            else tensors(node, f"{where} call {i}")
            for i, node in enumerate(nodes)
        ]
    for key in ("input_layers", "output_layers"):
        # tensors() checks every [layer, node, tensor] entry; the form stays as it is
        # (Functional.from_config reads both and refuses a missing or malformed one)
        tensors(inner.get(key), f"{label}: {key}")


def _keras3_node(node: list, cls, tensors, where: str) -> dict:
    """One Keras 2 node ``[[layer, node, tensor, kwargs], ...]`` -> ``{"args", "kwargs"}``.

    tf_keras attaches the same kwargs to every entry (the call's arguments after the
    first, tensors in them as ``[layer, node, tensor]`` lists; as tf_keras's
    ``process_node``, the last entry's count); several entries are the
    first argument as a list (a merge layer's inputs), except for a layer taking
    ``initial_state`` (:func:`takes_initial_state`): entries after the first are it."""
    entries, kwargs = [], {}
    for entry in node:
        if not (isinstance(entry, list) and len(entry) in (3, 4)
                and _is_keras2_history(entry[:3])):
            if isinstance(entry, list) and entry and entry[0] == "_CONSTANT_VALUE":
                raise KerasFileError(f"{where}: a constant (not a tensor) as an input of the "
                                     "call; npylstm reads calls on tensors only")
            raise KerasFileError(f"{where}: expected inbound entries [layer, node, tensor"
                                 f"(, kwargs)], received {entry!r}")
        entries.append(tensors(list(entry[:3]), where))
        if len(entry) == 4:
            if not isinstance(entry[3], dict):
                raise KerasFileError(f"{where}: expected the call's kwargs as a dict, "
                                     f"received {entry[3]!r}")
            kwargs = tensors(entry[3], where)
    if not entries:
        raise KerasFileError(f"{where}: an inbound node without inputs")
    if len(entries) > 1 and takes_initial_state(cls):
        if "initial_state" in kwargs:
            raise KerasFileError(f"{where}: initial_state given both as inputs and as a "
                                 "keyword argument")
        return {"args": [entries[0]], "kwargs": {**kwargs, "initial_state": entries[1:]}}
    args = [entries[0] if len(entries) == 1 else entries]
    for name in positional_tensor_arguments(cls):  # mha(query, value): value positional
        if name not in kwargs:
            break
        args.append(kwargs.pop(name))
    return {"args": args, "kwargs": kwargs}
