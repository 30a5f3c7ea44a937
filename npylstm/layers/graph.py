"""Symbolic tensors and the nodes of a functional graph (Keras's ``KerasTensor`` and
``Node``, after ``keras/src/backend/common/keras_tensor.py`` and ``keras/src/ops/node.py``).

Calling a layer on a :class:`KerasTensor` computes nothing: it builds the layer for the
tensor's shape (``Layer.graph_build``), records a :class:`Node` (the layer, the call's
arguments with their symbolic tensors, its output tensors) on the layer's
``_inbound_nodes``, and returns the output tensor(s). A functional model
(:class:`npylstm.models.Functional`) later walks these nodes from its outputs back to its
inputs and runs them in topological order.

>>> import npylstm
>>> from npylstm.layers import LSTM, Dense
>>> x = npylstm.Input((None, 3), name="series")
>>> h, state_h, state_c = LSTM(4, return_state=True)(x)
>>> h.shape, state_c.shape
((None, 4), (None, 4))
>>> y = Dense(1)(h)
>>> y.node.layer.name, y.node.parents()[0].layer.name
('dense', 'lstm')
"""

from __future__ import annotations

import numpy as np

__all__ = ["KerasTensor", "Node", "flatten", "has_symbolic", "map_structure", "symbolic_aware",
           "symbolic_call"]


class KerasTensor:
    """A symbolic tensor: a shape (with the batch axis, None where unknown), a dtype, and
    the node that produces it (``node``, its output number ``index``)."""

    def __init__(self, shape, dtype="float32", node=None, index: int = 0,
                 name: str | None = None):
        self.shape = tuple(shape)
        self.dtype = np.dtype(dtype).name
        self.node = node
        self.index = index
        self.name = name

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def _keras_history(self) -> tuple:
        """``(layer, node_index, tensor_index)``, as Keras names where a tensor comes from."""
        return self.node.layer, self.node.index, self.index

    def __repr__(self) -> str:
        return f"<KerasTensor shape={self.shape}, dtype={self.dtype}, name={self.name}>"

    def __array__(self, *args, **kwargs):
        raise TypeError(
            f"{self!r} is symbolic (from Input): it has no values. Build a model with "
            "npylstm.Model(inputs, outputs) and call predict() on data"
        )


class Node:
    """One call of a layer: ``layer(*args, **kwargs) -> outputs``, with the symbolic tensors
    of the call in ``args`` / ``kwargs`` (nested lists and dicts allowed). An input node
    (an :class:`~npylstm.layers.InputLayer`'s) has no arguments."""

    def __init__(self, layer, args: list, kwargs: dict, outputs: list[KerasTensor]):
        self.layer = layer
        self.args = list(args)
        self.kwargs = dict(kwargs)
        self.outputs = list(outputs)
        nodes = layer.__dict__.setdefault("_inbound_nodes", [])
        self.index = len(nodes)
        nodes.append(self)
        for i, tensor in enumerate(self.outputs):
            tensor.node, tensor.index = self, i

    @property
    def is_input(self) -> bool:
        return not self.args and not self.kwargs

    @property
    def input_tensors(self) -> list[KerasTensor]:
        """The symbolic tensors among the arguments, in order (args, then kwargs)."""
        return [t for t in flatten([self.args, self.kwargs]) if isinstance(t, KerasTensor)]

    def parents(self) -> list[Node]:
        """The nodes producing this node's input tensors, in order."""
        return [t.node for t in self.input_tensors]

    def __repr__(self) -> str:
        return f"<Node {self.layer.name}#{self.index}>"


def flatten(structure) -> list:
    """The leaves of nested lists, tuples and dicts (dict values in key order, as Keras's
    ``tree.flatten``)."""
    if isinstance(structure, dict):
        return [leaf for key in sorted(structure) for leaf in flatten(structure[key])]
    if isinstance(structure, list | tuple):
        return [leaf for item in structure for leaf in flatten(item)]
    return [structure]


def map_structure(fn, structure):
    """``structure`` with every leaf replaced by ``fn(leaf)`` (lists stay lists)."""
    if isinstance(structure, dict):
        return {key: map_structure(fn, value) for key, value in structure.items()}
    if isinstance(structure, list | tuple):
        return [map_structure(fn, item) for item in structure]
    return fn(structure)


def has_symbolic(args, kwargs) -> bool:
    """Whether a call's arguments hold a symbolic tensor."""
    return any(isinstance(leaf, KerasTensor) for leaf in flatten([list(args), kwargs]))


def _several(shape) -> bool:
    """Whether ``graph_build``'s result is one shape per output (a list or tuple of shapes)."""
    return isinstance(shape, list) or (
        isinstance(shape, tuple) and len(shape) > 0 and isinstance(shape[0], list | tuple)
    )


def _describe(args) -> str:
    shapes = map_structure(lambda t: t.shape if isinstance(t, KerasTensor) else t, list(args))
    return f"inputs of shape {shapes[0] if len(shapes) == 1 else shapes}"


def symbolic_call(layer, args, kwargs):
    """Record ``layer(*args, **kwargs)`` on symbolic tensors; returns its output tensor (a
    list of tensors for a layer with several outputs, e.g. ``return_state=True``)."""
    kwargs = dict(kwargs)
    # The graph runs in the model's mode: Keras's functional model overrides a recorded
    # training= with its own (Functional._run_through_graph); Keras files record False.
    kwargs.pop("training", None)
    if "mask" in kwargs and kwargs["mask"] is None:
        del kwargs["mask"]
    arg_shapes = map_structure(lambda t: t.shape if isinstance(t, KerasTensor) else t,
                               list(args))
    static = {k: v for k, v in kwargs.items() if not has_symbolic([v], {})}
    try:
        out = layer.graph_build(arg_shapes, static)
    except ValueError as exc:
        raise ValueError(f"{layer._label()} cannot take {_describe(args)}: {exc}") from None
    shapes = [tuple(s) for s in out] if _several(out) else [tuple(out)]
    dtype = getattr(layer, "dtype", np.dtype("float32"))
    outputs = [KerasTensor(shape, dtype) for shape in shapes]
    node = Node(layer, list(args), kwargs, outputs)
    for i, tensor in enumerate(outputs):
        tensor.name = layer.name if len(outputs) == 1 else f"{layer.name}_{i}"
    del node
    return outputs if _several(out) else outputs[0]


def symbolic_aware(call):
    """``call`` that records a graph node when its arguments hold a symbolic tensor."""

    def __call__(self, *args, **kwargs):  # noqa: N807 - the method it wraps
        if has_symbolic(args, kwargs):
            return symbolic_call(self, args, kwargs)
        return call(self, *args, **kwargs)

    __call__.__doc__, __call__.__wrapped__ = call.__doc__, call
    __call__._takes_symbolic = True
    return __call__
