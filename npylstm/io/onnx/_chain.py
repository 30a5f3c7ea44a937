"""A ``Sequential`` model from a plain chain of ONNX operators (a file without npylstm's
``keras_config`` metadata), as tf2onnx writes for a Keras recurrent classifier.

The pattern, following tf2onnx's ``rewriter/lstm_rewriter*.py`` / ``gru_rewriter.py`` /
``rnn.py`` (weights re-packed for ONNX, ``Rb = 0``; time-major input) and its Keras dense
conversion (``MatMul`` + ``Add``, or ``Gemm`` after its gemm rewriter):

* the single graph input ``(batch, time, features)``;
* ``Transpose(perm=[1, 0, 2])`` into an ONNX ``LSTM`` / ``GRU`` / ``RNN`` node (or a node
  with ``layout=1`` directly), its ``initial_h`` / ``initial_c`` absent or zeros (a zero
  initializer, or ``ConstantOfShape`` of 0 — through ``Expand`` / ``Unsqueeze`` /
  ``Reshape`` / ``Cast`` — as tf2onnx computes them from the input's ``Shape``), no
  ``sequence_lens``, no peepholes, no ``clip``, ``input_forget=0``;
* after it, ``Squeeze(Y_h, [0])`` or TF2 Keras's ``outputs[-1]`` (``Squeeze(Y, [1])`` then
  ``Gather(-1, axis=0)`` or ``Slice(starts=[-1], axes=[0])`` + ``Squeeze([0])``: tf2onnx's
  ``lstm_tf2_rewriter`` replaces the loop's stacked outputs by ``Squeeze(Y, [1])``) for the
  last output, or ``Squeeze(Y, [1])`` followed by ``Transpose(perm=[1, 0, 2])`` (every
  output; the time-major sequence may also feed the next recurrent node directly);
  npylstm's own ``Slice`` reversal after a reverse node and its bidirectional
  ``Transpose`` + ``Reshape`` (concat) are recognised too;
* ``MatMul`` with a constant ``(in, out)`` matrix, an optional ``Add`` of a constant
  ``(out,)`` bias, or ``Gemm`` (``alpha = beta = 1``, ``transA = 0``), then optionally an
  activation (``Relu``, ``Sigmoid``, ``Tanh``, ``Softmax`` on the last axis, ...);
* ``Identity`` / ``Dropout`` nodes are passed over.

Biases: ONNX's ``Wb + Rb`` (both added outside any gate product) become Keras's one bias
(their float sum); a ``linear_before_reset=1`` GRU keeps them apart (Keras's
``reset_after=True`` bias rows). Everything else is refused naming the node and operator.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ._recurrent import _GATES, keras_weights, onnx_activation_names
from .importer import OnnxImportError, _tensor_array

__all__ = ["import_chain"]

_RNN_OPS = {"LSTM": "LSTM", "GRU": "GRU", "RNN": "SimpleRNN"}
_DEFAULT_ACTS = {"LSTM": ["Sigmoid", "Tanh", "Tanh"], "GRU": ["Sigmoid", "Tanh"],
                 "RNN": ["Tanh"]}
_ACTIVATION_OPS = {"Relu": "relu", "Sigmoid": "sigmoid", "Tanh": "tanh", "Softplus": "softplus",
                   "Softsign": "softsign", "Exp": "exponential", "Selu": "selu"}
_PASS = ("Identity", "Dropout")
_ZERO_CARRIERS = ("Expand", "Unsqueeze", "Reshape", "Cast", "Identity", "Tile", "Squeeze")


class _Chain:
    def __init__(self, onnx, proto, arrays: dict, path: Path):
        self.onnx, self.path, self.graph = onnx, path, proto.graph
        self.consts = dict(arrays)
        self.producer, self.consumers = {}, {}
        for node in self.graph.node:
            for out in node.output:
                self.producer[out] = node
            for name in node.input:
                self.consumers.setdefault(name, []).append(node)
            if node.op_type == "Constant":
                value = next((a for a in node.attribute if a.name == "value"), None)
                if value is not None:
                    self.consts[node.output[0]] = _tensor_array(onnx, value.t, path)

    def error(self, node, why: str) -> OnnxImportError:
        return OnnxImportError(f"'{self.path}': node '{node.name or node.output[0]}' "
                               f"({node.op_type}): {why}")

    def attrs(self, node) -> dict:
        return {a.name: self.onnx.helper.get_attribute_value(a) for a in node.attribute}

    def next_node(self, name: str):
        """The one node computing on ``name`` (``Shape`` readers feed zero states only)."""
        users = [n for n in self.consumers.get(name, []) if n.op_type != "Shape"]
        if len(users) > 1:
            raise self.error(users[1], f"'{name}' feeds {len(users)} nodes; only a chain "
                                       "of layers is imported")
        return users[0] if users else None

    def const(self, node, index: int) -> np.ndarray:
        name = node.input[index] if index < len(node.input) else ""
        if name not in self.consts:
            raise self.error(node, f"input {index} ('{name}') is not a constant")
        return self.consts[name]

    def is_zero(self, name: str, depth: int = 0) -> bool:
        if name in self.consts:
            return not np.any(self.consts[name])
        node = self.producer.get(name)
        if node is None or depth > 8:
            return False
        if node.op_type == "ConstantOfShape":
            value = self.attrs(node).get("value")
            return value is None or not np.any(_tensor_array(self.onnx, value, self.path))
        if node.op_type in _ZERO_CARRIERS:
            return self.is_zero(node.input[0], depth + 1)
        return False


def _squeezed(chain: _Chain, node, axis: int) -> bool:
    if node is None or node.op_type != "Squeeze":
        return False
    axes = chain.attrs(node).get("axes")
    if axes is None and len(node.input) > 1:
        axes = chain.const(node, 1).tolist()
    return list(axes or []) == [axis]


def _perm(chain: _Chain, node, perm) -> bool:
    return node is not None and node.op_type == "Transpose" and list(
        chain.attrs(node).get("perm", [])) == list(perm)


def _recurrent(chain: _Chain, node, time_major: bool, registry):
    """``(layer, weights, output name, time_major)`` for one ONNX recurrent node."""
    a = chain.attrs(node)
    op = node.op_type
    if a.get("clip") is not None or a.get("input_forget", 0):
        raise chain.error(node, "clip / input_forget have no Keras equivalent")
    layout = a.get("layout", 0)
    if time_major != (layout == 0):
        raise chain.error(node, "its input layout does not match the (batch, time, features) "
                                "model input")
    inputs = list(node.input) + [""] * 8
    if inputs[4]:
        raise chain.error(node, "sequence_lens is set; Keras's masks mean something else")
    for k in (5, 6):
        if inputs[k] and not chain.is_zero(inputs[k]):
            raise chain.error(node, f"initial state '{inputs[k]}' is not zeros; only the "
                                    "zero initial state of a Keras layer is imported")
    if op == "LSTM" and inputs[7] and np.any(chain.const(node, 7)):
        raise chain.error(node, "peephole weights P have no Keras equivalent")
    w, r = chain.const(node, 1), chain.const(node, 2)
    b = chain.const(node, 3) if inputs[3] else None
    gates = _GATES[_RNN_OPS[op]]
    dirs = {"forward": 1, "reverse": 1, "bidirectional": 2}[
        a.get("direction", b"forward").decode() if isinstance(a.get("direction"), bytes)
        else a.get("direction", "forward")]
    units = int(a.get("hidden_size", r.shape[-1]))
    if w.ndim != 3 or w.shape[:2] != (dirs, gates * units) or r.shape != (
            dirs, gates * units, units) or (b is not None and b.shape != (dirs, 2 * gates * units)):
        raise chain.error(node, f"weights W {w.shape}, R {r.shape} do not fit hidden_size "
                                f"{units} and {dirs} direction(s)")
    acts = [s.decode() if isinstance(s, bytes) else s for s in a.get("activations", [])]
    acts = acts or _DEFAULT_ACTS[op] * dirs
    names = onnx_activation_names(acts, a.get("activation_alpha", []),
                                  a.get("activation_beta", []))
    if names is None:
        raise chain.error(node, f"activations {acts} have no Keras equivalent")
    per = len(_DEFAULT_ACTS[op])
    kind = _RNN_OPS[op]
    reset_after = bool(a.get("linear_before_reset", 0)) if op == "GRU" else False
    layers_weights, options = [], []
    for d in range(dirs):
        mine = names[d * per:(d + 1) * per]
        if op == "LSTM" and mine[1] != mine[2]:
            raise chain.error(node, "different cell and output activations (g, h); Keras "
                                    "uses one activation for both")
        opts = {"activation": mine[-1] if op != "RNN" else mine[0]}
        if op != "RNN":
            opts["recurrent_activation"] = mine[0]
        bias = None
        if b is not None:
            bias = b[d]
            if not reset_after:  # Wb + Rb, both outside every product: one Keras bias
                wb, rb = np.split(bias, 2)
                bias = np.concatenate([wb + rb, np.zeros_like(rb)])
        layers_weights.append(keras_weights(kind, w[d], r[d], bias, reset_after))
        options.append(opts)
    if dirs == 2 and options[0] != options[1]:
        raise chain.error(node, "the two directions have different activations")
    return kind, units, dirs, a.get("direction", "forward"), options[0], reset_after, \
        b is not None, layers_weights


def import_chain(onnx, proto, arrays: dict, path: Path):
    """A ``Sequential`` from a chain graph (see the module docstring), weights set."""
    from ... import registry

    chain = _Chain(onnx, proto, arrays, path)
    graph_inputs = [i for i in chain.graph.input if i.name not in arrays]
    if len(graph_inputs) != 1 or len(chain.graph.output) != 1:
        raise OnnxImportError(
            f"'{path}': no npylstm metadata, and {len(graph_inputs)} inputs / "
            f"{len(chain.graph.output)} outputs: only single-input, single-output chains of "
            "recurrent and dense operators are imported")
    dims = graph_inputs[0].type.tensor_type.shape.dim
    shape = tuple(d.dim_value if d.HasField("dim_value") else None for d in dims)
    if len(shape) != 3 or shape[2] is None:
        raise OnnxImportError(f"'{path}': input '{graph_inputs[0].name}' has shape {shape}; "
                              "a chain import needs (batch, time, features)")
    end = chain.graph.output[0].name
    current, time_major = graph_inputs[0].name, False
    layers, weights = [], []
    rank = 3
    while current != end:
        node = chain.next_node(current)
        if node is None:
            raise OnnxImportError(f"'{path}': the chain stops at '{current}' before the "
                                  f"output '{end}'")
        op = node.op_type
        if op in _PASS:
            current = node.output[0]
        elif _perm(chain, node, [1, 0, 2]) and not time_major:
            current, time_major = node.output[0], True
        elif op in _RNN_OPS:
            current, time_major = _add_recurrent(chain, node, time_major, layers, weights,
                                                 registry)
            rank = 3 if layers[-1].return_sequences else 2
        elif op in ("MatMul", "Gemm"):
            current = _add_dense(chain, node, layers, weights, registry)
        elif op in _ACTIVATION_OPS or op in ("Softmax", "HardSigmoid", "LeakyRelu", "Elu"):
            current = _add_activation(chain, node, layers, registry, rank)
        else:
            raise chain.error(node, "not part of a recognised Keras layer pattern")
        if time_major and current == end:
            raise OnnxImportError(f"'{path}': the output '{end}' is time-major")
    model = registry.get("Sequential")(layers)
    model.build(shape)
    for layer, ws in zip(layers, weights, strict=True):
        if ws is not None:
            layer.set_weights(ws)
    return model


def _add_recurrent(chain: _Chain, node, time_major: bool, layers, weights, registry):
    kind, units, dirs, direction, opts, reset_after, use_bias, ws = _recurrent(
        chain, node, time_major, registry)
    direction = direction.decode() if isinstance(direction, bytes) else direction
    extra = {"reset_after": reset_after} if kind == "GRU" else {}
    y, y_h = node.output[0], (node.output[1] if len(node.output) > 1 else "")
    y_users = [n for n in chain.consumers.get(y, [])]
    h_users = [n for n in chain.consumers.get(y_h, [])] if y_h else []
    if y_users and h_users:
        raise chain.error(node, "both Y and Y_h are used; a Keras layer returns one of them")
    sequences = bool(y_users)
    nxt = y_users[0] if sequences else (h_users[0] if h_users else None)
    if nxt is None:
        raise chain.error(node, "neither Y nor Y_h is used")
    if dirs == 2:
        perm = [2, 0, 1, 3] if sequences else [1, 0, 2]
        reshape = chain.next_node(nxt.output[0]) if _perm(chain, nxt, perm) else None
        if reshape is None or reshape.op_type != "Reshape":
            raise chain.error(node, "a bidirectional node is imported only with npylstm's "
                                    "concat pattern (Transpose + Reshape)")
        inner = registry.get(kind)(units, use_bias=use_bias, return_sequences=sequences,
                                   **opts, **extra)
        layers.append(registry.get("Bidirectional")(inner, merge_mode="concat"))
        weights.append(ws[0] + ws[1])
        return reshape.output[0], False
    reverse = direction == "reverse"
    if not sequences:
        if not _squeezed(chain, nxt, 0):
            raise chain.error(nxt, "expected Squeeze(Y_h, axes=[0]) after the recurrent node")
        out, major = nxt.output[0], False
    else:
        if not _squeezed(chain, nxt, 1):
            raise chain.error(nxt, "expected Squeeze(Y, axes=[1]) after the recurrent node")
        out = nxt.output[0]
        after = chain.next_node(out)
        last = _last_step(chain, after)
        if last is not None:  # TF2 Keras's outputs[-1] (tf2onnx: Gather / Slice + Squeeze)
            if reverse:
                raise chain.error(after, "the last input step of a reverse node is not a "
                                         "Keras layer's output")
            layers.append(registry.get(kind)(units, use_bias=use_bias, **opts, **extra))
            weights.append(ws[0])
            return last, False
        if reverse:  # Keras's go_backwards order: npylstm's Slice reversal
            if after is None or after.op_type != "Slice":
                raise chain.error(node, "a reverse node's sequence in input order is not a "
                                        "Keras layer's output (go_backwards returns it in "
                                        "processing order)")
            out, after = after.output[0], chain.next_node(after.output[0])
        if _perm(chain, after, [1, 0, 2]):
            out, major = after.output[0], False
        else:
            major = True  # the time-major sequence feeds the next recurrent node
    layers.append(registry.get(kind)(units, use_bias=use_bias, return_sequences=sequences,
                                     go_backwards=reverse, **opts, **extra))
    weights.append(ws[0])
    return out, major


def _last_step(chain: _Chain, node) -> str | None:
    """The output name when ``node`` takes the last step of a time-major sequence
    (``Gather(indices=-1, axis=0)``, or ``Slice(starts=[-1], axes=[0])`` + ``Squeeze([0])``),
    else None."""
    if node is None:
        return None
    if node.op_type == "Gather" and chain.attrs(node).get("axis", 0) == 0:
        idx = chain.consts.get(node.input[1])
        if idx is not None and idx.ndim == 0 and int(idx) == -1:
            return node.output[0]
    if node.op_type == "Slice" and len(node.input) >= 3:
        starts, ends = chain.consts.get(node.input[1]), chain.consts.get(node.input[2])
        axes = chain.consts.get(node.input[3]) if len(node.input) > 3 and node.input[3] else \
            np.array([0])
        steps = chain.consts.get(node.input[4]) if len(node.input) > 4 and node.input[4] else \
            np.array([1])
        if (starts is not None and ends is not None and axes is not None and steps is not None
                and starts.tolist() == [-1] and axes.tolist() == [0] and steps.tolist() == [1]
                and int(ends.reshape(-1)[0]) >= 0):
            squeeze = chain.next_node(node.output[0])
            if _squeezed(chain, squeeze, 0):
                return squeeze.output[0]
    return None


def _add_dense(chain: _Chain, node, layers, weights, registry) -> str:
    kernel = chain.const(node, 1)
    bias, out = None, node.output[0]
    if node.op_type == "Gemm":
        a = chain.attrs(node)
        if a.get("alpha", 1.0) != 1.0 or a.get("beta", 1.0) != 1.0 or a.get("transA", 0):
            raise chain.error(node, "only Gemm with alpha = beta = 1 and transA = 0 is a Dense")
        kernel = kernel.T if a.get("transB", 0) else kernel
        bias = chain.const(node, 2) if len(node.input) > 2 and node.input[2] else None
    else:
        after = chain.next_node(out)
        if after is not None and after.op_type == "Add":
            other = [i for i in after.input if i != out]
            if len(other) == 1 and other[0] in chain.consts:
                bias, out = chain.consts[other[0]], after.output[0]
    if kernel.ndim != 2 or (bias is not None and bias.reshape(-1).shape != (kernel.shape[1],)):
        raise chain.error(node, f"weights {kernel.shape} / bias do not form a Dense layer")
    layers.append(registry.get("Dense")(int(kernel.shape[1]), use_bias=bias is not None))
    weights.append([kernel] + ([bias.reshape(-1)] if bias is not None else []))
    return out


def _add_activation(chain: _Chain, node, layers, registry, rank: int) -> str:
    op = node.op_type
    if op == "Softmax":
        axis = chain.attrs(node).get("axis", -1)
        if axis not in (-1, rank - 1):
            raise chain.error(node, f"softmax over axis {axis}")
        name = "softmax"
    elif op in ("HardSigmoid", "LeakyRelu", "Elu"):
        a = chain.attrs(node)
        name = onnx_activation_names([op], [a.get("alpha", {"HardSigmoid": 0.2, "LeakyRelu": 0.01,
                                                             "Elu": 1.0}[op])],
                                     [a.get("beta", 0.5)])
        if name is None:
            raise chain.error(node, f"{op} with alpha {a.get('alpha')} has no Keras activation")
        name = name[0]
    elif op == "Selu":
        a = chain.attrs(node)
        if not (np.isclose(a.get("alpha", 1.67326), 1.6732632) and np.isclose(
                a.get("gamma", 1.0507), 1.0507009)):
            raise chain.error(node, "Selu with other constants than Keras's")
        name = "selu"
    else:
        name = _ACTIVATION_OPS[op]
    last = layers[-1] if layers else None
    if last is not None and type(last).__name__ == "Dense" and last.activation == "linear":
        last.activation = name
    else:
        layers.append(registry.get("Activation")(name))
    return node.output[0]
