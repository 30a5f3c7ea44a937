"""Keras's recurrent layers as ONNX ``LSTM`` / ``GRU`` / ``RNN`` nodes, and back.

Following ONNX's operator specification (``onnx/docs/Operators.md``: ``LSTM``, ``GRU``,
``RNN``, opset 14) and Keras 3.15's ``keras/src/layers/rnn/{lstm,gru,simple_rnn,
bidirectional}.py``:

* **Gate order.** Keras packs the LSTM's blocks i, f, c, o; ONNX packs i, o, f, c. The
  GRU's blocks are z, r, h in both. ONNX stores ``W (directions, gates*H, input)`` and
  ``R (directions, gates*H, H)``: Keras's ``kernel`` / ``recurrent_kernel`` transposed,
  blocks reordered.
* **Biases.** ONNX has two, ``B = [Wb, Rb]`` (added to the input and to the recurrent
  product). Keras's single bias is ``Wb`` with ``Rb = 0``; a GRU with ``reset_after=True``
  keeps both rows (``bias[0]`` the input bias, ``bias[1]`` the recurrent one, which is
  inside ``r * (...)``: ONNX's ``linear_before_reset=1``); ``reset_after=False`` is
  ``linear_before_reset=0`` (``(r * h_tm1) @ R_h``).
* **Activations.** ``[recurrent_activation, activation, activation]`` (LSTM: f, g, h),
  ``[recurrent_activation, activation]`` (GRU), ``[activation]`` (RNN), per direction.
  ``activation_alpha`` / ``activation_beta`` list the values of only the functions that
  take them, in order — how ONNX Runtime reads them.
* **Direction.** ``go_backwards`` is ``direction="reverse"``. Keras returns the sequence in
  processing order (``outputs[:, 0]`` is the step that read the *last* input) while ONNX's
  ``Y[t]`` is the state at input step ``t``: the sequence is reversed in time after the
  node. A ``Bidirectional`` is ``direction="bidirectional"`` (Keras flips the backward
  outputs back, which is ONNX's layout); merge modes are ``Concat`` / ``Add`` / ``Mul`` /
  average / two outputs.
* **Layout.** ONNX's default ``layout=0``, ``X (T, B, F)``: the batch-major Keras input is
  transposed before the node and ``Y (T, D, B, H)`` after it.
"""

from __future__ import annotations

import numpy as np

from ._graph import ExportError, Graph, Tensor

__all__ = ["RNN_ACTIVATIONS", "export_bidirectional", "export_recurrent", "keras_weights",
           "onnx_activation_names", "onnx_weights"]

#: npylstm activation name -> (ONNX RNN activation, alpha, beta); None: takes none.
RNN_ACTIVATIONS = {
    "sigmoid": ("Sigmoid", None, None),
    "tanh": ("Tanh", None, None),
    "relu": ("Relu", None, None),
    "linear": ("Affine", 1.0, 0.0),
    "hard_sigmoid": ("HardSigmoid", 1.0 / 6.0, 0.5),  # Keras 3: clip(x / 6 + 0.5, 0, 1)
    "hard_sigmoid_keras2": ("HardSigmoid", 0.2, 0.5),  # Keras 2: clip(0.2 x + 0.5, 0, 1)
    "elu": ("Elu", 1.0, None),
    "leaky_relu": ("LeakyRelu", 0.2, None),
    "softsign": ("Softsign", None, None),
    "softplus": ("Softplus", None, None),
}
_ONNX_TO_KERAS = {("Sigmoid", None, None): "sigmoid", ("Tanh", None, None): "tanh",
                  ("Relu", None, None): "relu", ("Affine", 1.0, 0.0): "linear",
                  ("HardSigmoid", 0.2, 0.5): "hard_sigmoid_keras2",
                  ("Elu", 1.0, None): "elu", ("LeakyRelu", 0.2, None): "leaky_relu",
                  ("Softsign", None, None): "softsign", ("Softplus", None, None): "softplus"}
_OPS = {"LSTM": "LSTM", "GRU": "GRU", "SimpleRNN": "RNN"}
_GATES = {"LSTM": 4, "GRU": 3, "SimpleRNN": 1}
_LSTM_TO_ONNX = (0, 3, 1, 2)  # ONNX's i, o, f, c taken from Keras's i, f, c, o blocks
_LSTM_TO_KERAS = (0, 2, 3, 1)  # Keras's i, f, c, o taken from ONNX's i, o, f, c blocks


def _reorder(a: np.ndarray, kind: str, order) -> np.ndarray:
    if kind != "LSTM":
        return a
    blocks = np.split(a, 4, axis=-1)
    return np.concatenate([blocks[k] for k in order], axis=-1)


def onnx_weights(layer) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """``(W, R, B)`` of one direction, ``(gates*H, input)``, ``(gates*H, H)``,
    ``(2*gates*H,)`` or None, from a Keras recurrent layer's weights."""
    kind = type(layer).__name__
    kernel, recurrent_kernel = layer.kernel, layer.recurrent_kernel
    w = _reorder(kernel, kind, _LSTM_TO_ONNX).T
    r = _reorder(recurrent_kernel, kind, _LSTM_TO_ONNX).T
    if layer.bias is None:
        return w, r, None
    bias = np.asarray(layer.bias)
    if bias.ndim == 2:  # GRU reset_after: [input bias, recurrent bias]
        b = np.concatenate([bias[0], bias[1]])
    else:
        b = np.concatenate([_reorder(bias, kind, _LSTM_TO_ONNX), np.zeros_like(bias)])
    return w, r, b


def keras_weights(kind: str, w: np.ndarray, r: np.ndarray, b: np.ndarray | None,
                  reset_after: bool = False) -> list[np.ndarray]:
    """The inverse of :func:`onnx_weights`: Keras's ``[kernel, recurrent_kernel, (bias)]``.
    ``Rb`` must be zero unless the layer is a ``reset_after`` GRU (checked by the caller)."""
    kernel = _reorder(np.ascontiguousarray(w.T), kind, _LSTM_TO_KERAS)
    recurrent_kernel = _reorder(np.ascontiguousarray(r.T), kind, _LSTM_TO_KERAS)
    out = [kernel, recurrent_kernel]
    if b is not None:
        wb, rb = np.split(b, 2)
        out.append(np.stack([wb, rb]) if reset_after else _reorder(wb, kind, _LSTM_TO_KERAS))
    return out


def onnx_activation_names(activations: list, alphas: list, betas: list) -> list[str] | None:
    """Keras names for ONNX RNN activations (with their alphas / betas consumed in ONNX
    Runtime's order), or None when one has no Keras equivalent."""
    alphas, betas, names = list(alphas), list(betas), []
    for act in activations:
        key = next((k for k in RNN_ACTIVATIONS.values() if k[0].lower() == act.lower()), None)
        if key is None:
            return None
        onnx_name, alpha, beta = key
        a = alphas.pop(0) if alpha is not None and alphas else alpha
        b = betas.pop(0) if beta is not None and betas else beta
        if onnx_name == "HardSigmoid" and a is not None and np.isclose(a, 1 / 6, rtol=1e-6):
            names.append("hard_sigmoid")
            continue
        a = None if a is None else float(np.float32(a))
        b = None if b is None else float(np.float32(b))
        match = [v for (o, ka, kb), v in _ONNX_TO_KERAS.items()
                 if o == onnx_name and (ka is None or np.isclose(ka, a, rtol=1e-6))
                 and (kb is None or np.isclose(kb, b, rtol=1e-6))]
        if not match:
            return None
        names.append(match[0])
    return names


def _activations(layer) -> tuple[list[str], list[float], list[float]]:
    kind = type(layer).__name__
    if kind == "LSTM":
        keras = [layer.recurrent_activation, layer.activation, layer.activation]
    elif kind == "GRU":
        keras = [layer.recurrent_activation, layer.activation]
    else:
        keras = [layer.activation]
    names, alphas, betas = [], [], []
    for act in keras:
        if act not in RNN_ACTIVATIONS:
            raise ExportError(
                f"layer '{layer.name}' ({kind}): activation {act!r} is not one of the ONNX "
                f"recurrent operators' activations with the same meaning "
                f"(supported: {sorted(RNN_ACTIVATIONS)})")
        onnx_name, alpha, beta = RNN_ACTIVATIONS[act]
        names.append(onnx_name)
        if alpha is not None:
            alphas.append(alpha)
        if beta is not None:
            betas.append(beta)
    return names, alphas, betas


def check_recurrent(layer, owner: str | None = None) -> None:
    """Refuse the options ONNX's stateless operators cannot express."""
    who = owner or f"layer '{layer.name}' ({type(layer).__name__})"
    if layer.stateful:
        raise ExportError(f"{who}: stateful=True carries states from one call to the next; "
                          "an ONNX graph is stateless (export a stateful=False copy and feed "
                          "the states with initial_state)")
    if type(layer).__name__ not in _OPS:
        raise ExportError(f"{who}: no ONNX recurrent operator for {type(layer).__name__}")


def _node(g: Graph, layers: list, x_tm: str, direction: str, initial: list[str], base: str,
          bias_name: str):
    """One ONNX recurrent node over ``x_tm (T, B, F)``: its outputs ``[Y, Y_h, (Y_c)]``."""
    first = layers[0]
    kind = type(first).__name__
    parts = [onnx_weights(layer) for layer in layers]
    w = g.const(f"{bias_name}/W", np.stack([p[0] for p in parts]))
    r = g.const(f"{bias_name}/R", np.stack([p[1] for p in parts]))
    b = "" if parts[0][2] is None else g.const(f"{bias_name}/B", np.stack([p[2] for p in parts]))
    names, alphas, betas = [], [], []
    for layer in layers:
        n, a, bt = _activations(layer)
        names += n
        alphas += a
        betas += bt
    attrs = {"hidden_size": int(first.units), "direction": direction, "activations": names}
    if alphas:
        attrs["activation_alpha"] = [float(a) for a in alphas]
    if betas:
        attrs["activation_beta"] = [float(a) for a in betas]
    if kind == "GRU":
        attrs["linear_before_reset"] = int(bool(first.reset_after))
    inputs = [x_tm, w, r, b, ""] + initial
    while inputs and inputs[-1] == "":
        inputs.pop()
    count = 3 if kind == "LSTM" else 2
    return g.op(_OPS[kind], inputs, base, outputs=count, **attrs)


def _initial(g: Graph, states: list[Tensor] | None, per_direction: int, base: str) -> list:
    """ONNX's ``initial_h`` (``initial_c``): Keras's ``(B, H)`` states stacked per direction
    as ``(D, B, H)``; ``states`` lists them direction by direction."""
    if not states:
        return []
    out = []
    for k in range(per_direction):
        parts = [g.unsqueeze(s.name, [0], f"{base}/initial{k}_{d}")
                 for d, s in enumerate(states[k::per_direction])]
        out.append(parts[0] if len(parts) == 1 else g.op("Concat", parts, f"{base}/initial{k}",
                                                         axis=0))
    return out


def _batch_major(g: Graph, y: str, base: str) -> str:
    return g.op("Transpose", [y], base, perm=[1, 0, 2])


def export_recurrent(g: Graph, layer, x: Tensor, initial_state: list[Tensor] | None) -> list:
    """An LSTM / GRU / SimpleRNN layer: ``[output, *states]`` as :class:`Tensor` s."""
    check_recurrent(layer)
    kind = type(layer).__name__
    base = layer.name
    x_tm = g.op("Transpose", [x.name], f"{base}/time_major", perm=[1, 0, 2])
    direction = "reverse" if layer.go_backwards else "forward"
    per = 2 if kind == "LSTM" else 1
    outs = _node(g, [layer], x_tm, direction, _initial(g, initial_state, per, base), base, base)
    batch, steps = x.shape[0], x.shape[1]
    units = int(layer.units)
    if layer.return_sequences:
        y = g.squeeze(outs[0], [1], f"{base}/y")  # (T, B, H)
        if layer.go_backwards:  # Keras: processing order
            y = g.reverse_time(y, 0, f"{base}/processing_order")
        result = [Tensor(_batch_major(g, y, f"{base}/output"), (batch, steps, units))]
    else:
        result = [Tensor(g.squeeze(outs[1], [0], f"{base}/output"), (batch, units))]
    if layer.return_state:
        for k, state in enumerate(outs[1:]):
            result.append(Tensor(g.squeeze(state, [0], f"{base}/state{k}"), (batch, units)))
    return result


def export_bidirectional(g: Graph, layer, x: Tensor, initial_state: list[Tensor] | None) -> list:
    """A ``Bidirectional`` wrapper as one ``direction="bidirectional"`` node."""
    fw, bw = layer.forward_layer, layer.backward_layer
    who = f"layer '{layer.name}' (Bidirectional)"
    check_recurrent(fw, who)
    check_recurrent(bw, who)
    if fw.go_backwards or not bw.go_backwards:
        raise ExportError(f"{who}: ONNX's bidirectional operator reads the forward direction "
                          "first; a forward layer with go_backwards=True has no exact form")
    if type(fw) is not type(bw) or fw.units != bw.units or fw.use_bias != bw.use_bias or (
            getattr(fw, "reset_after", None) != getattr(bw, "reset_after", None)):
        raise ExportError(f"{who}: the two directions differ in class, units, use_bias or "
                          "reset_after; ONNX's bidirectional operator shares them")
    kind = type(fw).__name__
    base = layer.name
    per = 2 if kind == "LSTM" else 1
    x_tm = g.op("Transpose", [x.name], f"{base}/time_major", perm=[1, 0, 2])
    outs = _node(g, [fw, bw], x_tm, "bidirectional", _initial(g, initial_state, per, base),
                 base, base)
    batch, steps, units = x.shape[0], x.shape[1], int(fw.units)
    if layer.return_sequences:
        y = g.op("Transpose", [outs[0]], f"{base}/batch_major", perm=[2, 0, 1, 3])  # B,T,2,H
        out_shape = (batch, steps, units)
        axis = 2
    else:
        y = g.op("Transpose", [outs[1]], f"{base}/batch_major", perm=[1, 0, 2])  # (B, 2, H)
        out_shape = (batch, units)
        axis = 1
    mode = layer.merge_mode
    if mode == "concat":
        shape = [0, 0, 2 * units] if layer.return_sequences else [0, 2 * units]
        merged = [Tensor(g.op("Reshape", [y, g.ints(f"{base}/concat_shape", shape)],
                              f"{base}/output"), out_shape[:-1] + (2 * units,))]
    else:
        halves = g.op("Split", [y, g.ints(f"{base}/split", [1, 1])], f"{base}/halves",
                      outputs=2, axis=axis)
        fwd, bwd = (g.squeeze(h, [axis], f"{base}/{d}") for h, d in
                    zip(halves, ("forward", "backward"), strict=True))
        if mode is None:
            merged = [Tensor(fwd, out_shape), Tensor(bwd, out_shape)]
        elif mode == "sum":
            merged = [Tensor(g.op("Add", [fwd, bwd], f"{base}/output"), out_shape)]
        elif mode == "mul":
            merged = [Tensor(g.op("Mul", [fwd, bwd], f"{base}/output"), out_shape)]
        else:  # "ave": Keras's (y + y_rev) / 2
            total = g.op("Add", [fwd, bwd], f"{base}/sum")
            merged = [Tensor(g.op("Div", [total, g.scalar(f"{base}/two", 2.0)],
                                  f"{base}/output"), out_shape)]
    if layer.return_state:
        for k, state in enumerate(outs[1:]):
            halves = g.op("Split", [state, g.ints(f"{base}/state_split{k}", [1, 1])],
                          f"{base}/state{k}", outputs=2, axis=0)
            for d, h in enumerate(halves):
                merged.append((d, k, Tensor(g.squeeze(h, [0], f"{base}/state{k}_{d}"),
                                            (batch, units))))
        states = sorted(merged[-2 * (len(outs) - 1):], key=lambda t: (t[0], t[1]))
        merged = merged[:-2 * (len(outs) - 1)] + [t[2] for t in states]
    return merged
