"""The ONNX graph under construction: unique names, initializers, nodes, the symbolic
tensors between layers, and Keras activations as ONNX operators.

Only ``onnx.helper`` / ``onnx.numpy_helper`` are used (the ``onnx`` package is imported by
the caller, lazily, so ``npylstm.io`` imports without it).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["ExportError", "Graph", "Tensor", "elementwise_activation", "require_onnx"]


def require_onnx(what: str):
    """The ``onnx`` module, or an ImportError saying how to install it."""
    try:
        import onnx
    except ImportError as exc:
        raise ImportError(f"{what} needs the optional onnx package: pip install onnx "
                          "(or npylstm[onnx])") from exc
    return onnx


class ExportError(ValueError):
    """A model, layer or option that cannot be written to ONNX exactly (a ``ValueError``
    naming the layer and the reason).

    >>> import npylstm
    >>> from npylstm.layers import LSTM
    >>> from npylstm.io.onnx import to_onnx_model
    >>> m = npylstm.Sequential([LSTM(2, activation="gelu", name="enc")]); m.build((None, 3, 1))
    >>> try:
    ...     to_onnx_model(m)
    ... except ExportError as e:
    ...     print(str(e)[:60])
    layer 'enc' (LSTM): activation 'gelu' is not one of the ONNX
    """


@dataclass
class Tensor:
    """A value flowing between layers: its ONNX name, its Keras shape (None for unknown
    dims, the batch first) and the ONNX name of the Keras time mask travelling with it
    (``(B, T)`` booleans, True at real steps), if any."""

    name: str
    shape: tuple
    mask: str | None = None


@dataclass
class Graph:
    """Nodes and initializers being collected for one ONNX graph."""

    onnx: object  # the onnx module
    opset: int
    dtype: np.dtype
    nodes: list = field(default_factory=list)
    initializers: list = field(default_factory=list)
    used: set = field(default_factory=set)

    def unique(self, base: str) -> str:
        name, k = base, 1
        while name in self.used:
            name, k = f"{base}_{k}", k + 1
        self.used.add(name)
        return name

    def const(self, base: str, array, dtype=None) -> str:
        """An initializer holding ``array`` (in the model's float dtype unless ``dtype``)."""
        arr = np.asarray(array, dtype=self.dtype if dtype is None else dtype)
        name = self.unique(base)
        self.initializers.append(self.onnx.numpy_helper.from_array(np.ascontiguousarray(arr),
                                                                   name))
        return name

    def ints(self, base: str, values) -> str:
        """An int64 1-D initializer (shapes, axes, slice bounds)."""
        return self.const(base, np.asarray(values, dtype=np.int64).reshape(-1), np.int64)

    def op(self, op_type: str, inputs: list, base: str, outputs: int = 1, **attrs):
        """Add a node; its output name (or list of names when ``outputs > 1``).
        An empty string among ``inputs`` is an omitted optional input."""
        names = [self.unique(base if outputs == 1 else f"{base}_{k}") for k in range(outputs)]
        self.nodes.append(self.onnx.helper.make_node(
            op_type, list(inputs), names, name=self.unique(f"{base}/{op_type}"), **attrs))
        return names[0] if outputs == 1 else names

    # -- helpers whose form depends on the opset -----------------------------------------
    def reduce(self, op_type: str, x: str, axes, base: str, keepdims: int = 1) -> str:
        """``ReduceMean`` / ``ReduceMax`` / ``ReduceSum`` over ``axes`` (an input from opset
        18, ``ReduceSum`` from 13; an attribute before)."""
        axes = [int(a) for a in axes]
        as_input = self.opset >= (13 if op_type == "ReduceSum" else 18)
        if as_input:
            return self.op(op_type, [x, self.ints(f"{base}/axes", axes)], base,
                           keepdims=keepdims)
        return self.op(op_type, [x], base, axes=axes, keepdims=keepdims)

    def squeeze(self, x: str, axes, base: str) -> str:
        return self.op("Squeeze", [x, self.ints(f"{base}/axes", axes)], base)

    def unsqueeze(self, x: str, axes, base: str) -> str:
        return self.op("Unsqueeze", [x, self.ints(f"{base}/axes", axes)], base)

    def reverse_time(self, x: str, axis: int, base: str) -> str:
        """``x`` with ``axis`` reversed (``Slice`` with step -1: works for any length)."""
        big = np.iinfo(np.int64).max
        return self.op("Slice", [x, self.ints(f"{base}/starts", [-1]),
                                 self.ints(f"{base}/ends", [-big]),
                                 self.ints(f"{base}/axes", [axis]),
                                 self.ints(f"{base}/steps", [-1])], base)

    def scalar(self, base: str, value) -> str:
        return self.const(base, np.asarray(value, dtype=self.dtype))


def elementwise_activation(g: Graph, name: str, x: str, base: str, owner: str) -> str:
    """Keras's elementwise activation ``name`` (npylstm's name; ``hard_sigmoid_keras2`` is
    what a Keras 2 file means by ``hard_sigmoid``) applied to ``x`` with ONNX operators,
    each exactly the function Keras computes (``keras/src/activations/activations.py``).
    Anything else is refused, naming ``owner``."""
    simple = {"relu": "Relu", "sigmoid": "Sigmoid", "tanh": "Tanh", "softplus": "Softplus",
              "softsign": "Softsign", "exponential": "Exp"}
    if name == "linear":
        return x
    if name in simple:
        return g.op(simple[name], [x], base)
    if name == "elu":
        return g.op("Elu", [x], base, alpha=1.0)
    if name == "selu":  # Keras's float64 constants; ONNX's defaults are the same in float32
        return g.op("Selu", [x], base, alpha=1.6732632423543772848170429916717,
                    gamma=1.0507009873554804934193349852946)
    if name == "hard_sigmoid":  # Keras 3: clip(x / 6 + 0.5, 0, 1)
        return g.op("HardSigmoid", [x], base, alpha=1.0 / 6.0, beta=0.5)
    if name == "hard_sigmoid_keras2":  # Keras 2: clip(0.2 x + 0.5, 0, 1)
        return g.op("HardSigmoid", [x], base, alpha=0.2, beta=0.5)
    if name == "leaky_relu":  # Keras's default negative_slope
        return g.op("LeakyRelu", [x], base, alpha=0.2)
    if name == "relu6":
        return g.op("Clip", [x, g.scalar(f"{base}/lo", 0.0), g.scalar(f"{base}/hi", 6.0)], base)
    if name in ("swish", "silu"):
        return g.op("Mul", [x, g.op("Sigmoid", [x], f"{base}/sigmoid")], base)
    if name in ("hard_silu", "hard_swish"):
        hs = g.op("HardSigmoid", [x], f"{base}/hard_sigmoid", alpha=1.0 / 6.0, beta=0.5)
        return g.op("Mul", [x, hs], base)
    if name == "mish":
        t = g.op("Tanh", [g.op("Softplus", [x], f"{base}/softplus")], f"{base}/tanh")
        return g.op("Mul", [x, t], base)
    if name == "gelu":  # the exact form: x / 2 * (1 + erf(x / sqrt(2)))
        erf = g.op("Erf", [g.op("Div", [x, g.scalar(f"{base}/sqrt2", np.sqrt(2.0))],
                                f"{base}/scaled")], f"{base}/erf")
        one_plus = g.op("Add", [erf, g.scalar(f"{base}/one", 1.0)], f"{base}/one_plus")
        half_x = g.op("Mul", [x, g.scalar(f"{base}/half", 0.5)], f"{base}/half_x")
        return g.op("Mul", [half_x, one_plus], base)
    if name == "softmax":
        return g.op("Softmax", [x], base, axis=-1)
    if name == "log_softmax":
        return g.op("LogSoftmax", [x], base, axis=-1)
    raise ExportError(f"{owner}: activation {name!r} has no exact ONNX equivalent in this "
                      "exporter")
