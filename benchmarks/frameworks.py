"""One builder per framework: the model of a :class:`~configs.Config`, its data, and the
calls the harness times — every peer on the *same weights* as npylstm.

Each builder returns a :class:`Bench` with

* ``infer()``: a forward pass of the stacked model on one batch (no gradients),
* ``train()``: one training step — forward, backward, Adam update (MSE loss); None for the
  inference-only peers (ONNX Runtime, OpenVINO, Keras on NumPy) and for streams,
* for ``stream`` configurations ``infer()`` feeds one timestep with the recurrent state
  carried from the previous call,
* ``check``: the peer's output on the benchmark batch against npylstm-numba's on the same
  weights (``max_abs_diff``, ``ok`` = within :data:`CHECK_ATOL`), computed before timing.

The weights come from one source: npylstm's model built with ``npylstm.set_random_seed(seed)``
(Keras's initialisers, so the same in every process). Keras peers receive them with
``set_weights`` (the same layout), PyTorch with the gate blocks of ``torch.nn.LSTM``
(i, f, g, o: Keras's order, transposed) / ``torch.nn.GRU`` (r, z, n: Keras's z, r, h
reordered; the two GRU bias rows are ``bias_ih`` / ``bias_hh``), ONNX Runtime and
OpenVINO read the file ``npylstm.io.export_onnx`` writes from that model.

Each peer runs with its best documented CPU settings at the harness's thread count:
PyTorch under ``torch.inference_mode()`` for inference; ONNX Runtime's
``CPUExecutionProvider`` with ``graph_optimization_level=ORT_ENABLE_ALL``,
``intra_op_num_threads=threads``, ``inter_op_num_threads=1``; OpenVINO's CPU plugin with
``INFERENCE_NUM_THREADS=threads``, the ``LATENCY`` hint, f32 precision and the input shape
made static; Keras ``predict_on_batch`` / ``train_on_batch`` (compiled functions).

Frameworks are imported inside the builders, so a worker process imports only the one it
measures (Keras picks its backend at import; the TensorFlow backend may run from another
interpreter that has no npylstm).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from configs import Config

__all__ = ["FRAMEWORKS", "PEERS", "INFERENCE_ONLY", "CHECK_ATOL", "Bench", "build", "versions",
           "configure_threads"]

#: Every framework the harness knows, in table order. npylstm ones are ours; the rest peers.
FRAMEWORKS = [
    "npylstm-numba",
    "npylstm-reference",
    "torch",
    "keras-jax",
    "keras-tensorflow",
    "keras-torch",
    "keras-numpy",
    "onnxruntime",
    "openvino",
]
PEERS = [f for f in FRAMEWORKS if not f.startswith("npylstm")]
#: Peers that only run inference (no training step is timed for them).
INFERENCE_ONLY = ("keras-numpy", "onnxruntime", "openvino")
#: Largest absolute difference allowed between a peer's output and npylstm-numba's.
CHECK_ATOL = 1e-5


class SkipConfig(Exception):
    """This framework cannot run this configuration (reported as skipped, with the reason)."""


@dataclass
class Bench:
    infer: Callable[[], object]
    train: Callable[[], object] | None
    api: dict[str, str] = field(default_factory=dict)  # which calls are timed
    model: object = None
    check: dict = field(default_factory=dict)


def data(config: Config, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Random float32 inputs ``(B, T, D)`` (``(B, 1, D)`` for streams) and targets."""
    rng = np.random.default_rng(seed)
    steps = 1 if config.stream else config.timesteps
    x = rng.standard_normal((config.batch, steps, config.features)).astype(np.float32)
    out = config.dense if config.dense is not None else config.units[-1]
    y = rng.standard_normal((config.batch, out)).astype(np.float32)
    return x, y


def configure_threads(framework: str, threads: int) -> None:
    """In-process thread settings (environment variables are set by run.py before start)."""
    if framework in ("torch", "keras-torch"):
        import torch

        torch.set_num_threads(threads)
        try:
            torch.set_num_interop_threads(threads)
        except RuntimeError:  # already set (parallel work has started)
            pass
    if framework == "keras-tensorflow":
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)


def versions(framework: str) -> dict[str, str]:
    """Versions of the libraries a framework's numbers depend on."""
    import importlib.metadata as md

    names = ["numpy"]
    if framework.startswith("npylstm"):
        names += ["npylstm", "numba", "llvmlite", "scipy"]
    elif framework == "torch":
        names += ["torch"]
    elif framework in ("onnxruntime", "openvino"):
        names += [framework, "onnx", "npylstm"]
    else:
        backend = framework.split("-", 1)[1]
        names += ["keras"] + ([] if backend == "numpy" else [backend])
        if framework == "keras-jax":
            names += ["jaxlib"]
    out = {}
    for name in names:
        try:
            out[name] = md.version(name)
        except md.PackageNotFoundError:
            out[name] = "not installed"
    return out


def _check(out, expected: np.ndarray) -> dict:
    """``max_abs_diff`` of a peer's output against npylstm-numba's and the verdict."""
    got = np.asarray(out, dtype=np.float64)
    if got.shape != expected.shape:
        return {"ok": False, "max_abs_diff": None,
                "reason": f"output shape {got.shape}, npylstm's {expected.shape}"}
    diff = float(np.max(np.abs(got - expected))) if got.size else 0.0
    return {"ok": bool(diff <= CHECK_ATOL), "max_abs_diff": diff, "atol": CHECK_ATOL}


# -- npylstm ------------------------------------------------------------------------------
def _npylstm_model(config: Config, backend: str, seed: int, stateful: bool | None = None):
    import npylstm
    from npylstm.layers import GRU, LSTM, Dense

    npylstm.set_random_seed(seed)
    recurrent = {"lstm": LSTM, "gru": GRU}[config.cell]
    steps = 1 if config.stream else config.timesteps
    stateful = config.stream if stateful is None else stateful
    layers = [npylstm.Input(shape=(steps, config.features), batch_size=config.batch)]
    for i, units in enumerate(config.units):
        layers.append(
            recurrent(units, return_sequences=i < len(config.units) - 1,
                      stateful=stateful, backend=backend)
        )
    if config.dense is not None:
        layers.append(Dense(config.dense))
    model = npylstm.Sequential(layers)
    model.compile(optimizer="adam", loss="mse")
    return model


def source(config: Config, seed: int = 0):
    """npylstm-numba's model, the data, and its output on the benchmark batch: the weights
    every peer receives and the output every peer must equal (streams: one step from zero
    states)."""
    model = _npylstm_model(config, "numba", seed)
    x, y = data(config, seed)
    if config.stream:
        expected = model.step(x[:, 0], model.initial_states(config.batch))[0]
    else:
        expected = model.predict_on_batch(x)
    return model, x, y, np.asarray(expected, dtype=np.float64)


def _npylstm(config: Config, backend: str, seed: int) -> Bench:
    model = _npylstm_model(config, backend, seed)
    x, y = data(config, seed)
    api = {}
    if config.stream:
        # the online-prediction API: one timestep, the states carried by the caller
        x_t = x[:, 0]  # (B, D)
        carried = {"states": model.initial_states(config.batch)}

        def infer():
            y_t, carried["states"] = model.step(x_t, carried["states"])
            return y_t

        api["infer"] = "y_t, states = model.step(x_t, states)"
    else:
        infer = lambda: model.predict_on_batch(x)  # noqa: E731
        api["infer"] = "model.predict_on_batch(x)"
    if backend == "numba":
        check = {"ok": True, "max_abs_diff": 0.0, "reference": True}
    else:
        check = _check(infer(), source(config, seed)[3])
        if config.stream:  # restart the stream from zero states after the check
            carried["states"] = model.initial_states(config.batch)
    train = None
    if not config.stream:
        train = lambda: model.train_on_batch(x, y)  # noqa: E731
        api["train"] = "model.train_on_batch(x, y)"
    return Bench(infer, train, api, model, check)


# -- PyTorch ------------------------------------------------------------------------------
def _torch_blocks(cell: str, kernel, recurrent_kernel, bias):
    """torch's ``weight_ih, weight_hh, bias_ih, bias_hh`` from Keras's LSTM/GRU weights."""
    if cell == "lstm":  # Keras i, f, c, o == torch i, f, g, o; one bias (torch's sum)
        return kernel.T, recurrent_kernel.T, bias, np.zeros_like(bias)
    u = recurrent_kernel.shape[0]  # GRU, reset_after: Keras z, r, h -> torch r, z, n
    perm = np.concatenate([np.arange(u, 2 * u), np.arange(u), np.arange(2 * u, 3 * u)])
    return kernel[:, perm].T, recurrent_kernel[:, perm].T, bias[0, perm], bias[1, perm]


def _torch_weights(net, cell: str, weights: list) -> None:
    """Copy npylstm's (Keras-layout) weights into the torch ``Net``."""
    import torch

    targets = []  # (module, layer index within it) per recurrent layer, in order
    for module in net.lstms:
        targets += [(module, k) for k in range(module.num_layers)]
    with torch.no_grad():
        for i, (module, k) in enumerate(targets):
            for name, value in zip(("weight_ih", "weight_hh", "bias_ih", "bias_hh"),
                                   _torch_blocks(cell, *weights[3 * i: 3 * i + 3]),
                                   strict=True):
                tensor = torch.from_numpy(np.ascontiguousarray(value))
                getattr(module, f"{name}_l{k}").copy_(tensor)
        if net.head is not None:
            net.head.weight.copy_(torch.from_numpy(np.ascontiguousarray(weights[-2].T)))
            net.head.bias.copy_(torch.from_numpy(weights[-1]))


def _torch(config: Config, seed: int, same_weights: bool = True) -> Bench:
    import torch
    from torch import nn

    if same_weights:
        reference, x_np, y_np, expected = source(config, seed)
    else:  # memory and sweep: torch's own initialisation, no npylstm in the process
        torch.manual_seed(seed)
        x_np, y_np = data(config, seed)
    recurrent = {"lstm": nn.LSTM, "gru": nn.GRU}[config.cell]

    class Net(nn.Module):
        """Stacked LSTMs or GRUs (one multi-layer module when all units are equal) + Linear
        on the last output."""

        def __init__(self):
            super().__init__()
            units = config.units
            if len(set(units)) == 1:
                self.lstms = nn.ModuleList([recurrent(config.features, units[0],
                                                      num_layers=len(units), batch_first=True)])
            else:
                dims = [config.features, *units[:-1]]
                self.lstms = nn.ModuleList(
                    [recurrent(d, u, batch_first=True) for d, u in zip(dims, units, strict=True)]
                )
            self.head = None if config.dense is None else nn.Linear(units[-1], config.dense)

        def forward(self, x, states=None):
            new_states = []
            for i, lstm in enumerate(self.lstms):
                x, state = lstm(x, None if states is None else states[i])
                new_states.append(state)
            out = x[:, -1]
            if self.head is not None:
                out = self.head(out)
            return out, new_states

    net = Net()
    if same_weights:
        _torch_weights(net, config.cell, reference.get_weights())
    x, y = torch.from_numpy(x_np), torch.from_numpy(y_np)
    check = (lambda out: _check(out.numpy(), expected)) if same_weights else (
        lambda out: {"ok": True, "max_abs_diff": None, "note": "not checked (own weights)"})
    api = {}
    if config.stream:
        net.eval()
        carried = [None]

        def infer():
            with torch.inference_mode():
                out, carried[0] = net(x, carried[0])
            return out

        check = check(infer())
        carried[0] = None
        api["infer"] = "with torch.inference_mode(): net(x_t, carried_states)"
        return Bench(infer, None, api, net, check)

    optimizer = torch.optim.Adam(net.parameters(), lr=1e-3)
    loss_fn = nn.MSELoss()

    def infer():
        with torch.inference_mode():
            return net(x)[0]

    def train():
        optimizer.zero_grad(set_to_none=True)
        loss = loss_fn(net(x)[0], y)
        loss.backward()
        optimizer.step()
        return loss

    check = check(infer())
    api["infer"] = "with torch.inference_mode(): net(x)"
    api["train"] = "zero_grad, MSELoss(net(x), y).backward(), Adam.step()"
    return Bench(infer, train, api, net, check)


# -- Keras 3 ------------------------------------------------------------------------------
def _keras(config: Config, seed: int, inference_only: bool, same_weights: bool = True) -> Bench:
    import keras

    if same_weights:
        reference, x, y, expected = source(config, seed)
    else:  # memory: Keras's own initialisation, no npylstm in the process
        keras.utils.set_random_seed(seed)
        x, y = data(config, seed)
    recurrent = {"lstm": keras.layers.LSTM, "gru": keras.layers.GRU}[config.cell]
    steps = 1 if config.stream else config.timesteps
    layers = [keras.Input(shape=(steps, config.features), batch_size=config.batch)]
    for i, units in enumerate(config.units):
        layers.append(
            recurrent(units, return_sequences=i < len(config.units) - 1, stateful=config.stream)
        )
    if config.dense is not None:
        layers.append(keras.layers.Dense(config.dense))
    model = keras.Sequential(layers)
    model.compile(optimizer="adam", loss="mse")
    check = {"ok": True, "max_abs_diff": None, "note": "not checked (own weights)"}
    if same_weights:
        model.set_weights(reference.get_weights())
        check = _check(model.predict_on_batch(x), expected)
    if config.stream:  # restart the stream from zero states after the check
        for layer in model.layers:
            if hasattr(layer, "reset_states"):
                layer.reset_states()
    infer = lambda: model.predict_on_batch(x)  # noqa: E731
    api = {"infer": "model.predict_on_batch(x)"}
    train = None
    if not config.stream and not inference_only:
        train = lambda: model.train_on_batch(x, y)  # noqa: E731
        api["train"] = "model.train_on_batch(x, y)"
    return Bench(infer, train, api, model, check)


# -- ONNX Runtime and OpenVINO on npylstm's exported file ---------------------------------
def _stream_model(config: Config, reference):
    """A stateless functional copy of the stream model: inputs ``x_t`` and every layer's
    states, outputs ``y_t`` and the new states (the exported graph is stateless, so the
    caller carries the states, as with ``model.step``)."""
    import npylstm
    from npylstm.layers import GRU, LSTM

    recurrent = {"lstm": LSTM, "gru": GRU}[config.cell]
    per_layer = 2 if config.cell == "lstm" else 1
    x_in = npylstm.Input(shape=(1, config.features), batch_size=config.batch)
    states_in, states_out, h = [], [], x_in
    for i, units in enumerate(config.units):
        s = [npylstm.Input(shape=(units,), batch_size=config.batch) for _ in range(per_layer)]
        states_in += s
        h, *new = recurrent(units, return_sequences=i < len(config.units) - 1,
                            return_state=True)(h, initial_state=s)
        states_out += new
    if config.dense is not None:
        raise SkipConfig("stream export with a Dense head is not wired in the harness")
    model = npylstm.Model([x_in, *states_in], [h, *states_out])
    model.set_weights(reference.get_weights())
    return model


def _onnx_file(config: Config, seed: int, directory: str):
    """The exported file, the batch, npylstm's output, and (streams) the second step's."""
    import npylstm

    reference, x, _, expected = source(config, seed)
    model = _stream_model(config, reference) if config.stream else reference
    path = npylstm.io.export_onnx(model, os.path.join(directory, f"{config.name}.onnx"))
    second = None
    if config.stream:  # the second step from the carried states checks the state outputs
        _, states = reference.step(x[:, 0], reference.initial_states(config.batch))
        second = np.asarray(reference.step(x[:, 0], states)[0], dtype=np.float64)
    return str(path), x, expected, second


def _stream_feed(shapes: list[tuple], names: list[str], x: np.ndarray) -> dict:
    feed = {names[0]: x}
    for name, shape in zip(names[1:], shapes[1:], strict=True):
        feed[name] = np.zeros(shape, np.float32)
    return feed


def _stream_check(step, expected, second) -> dict:
    check = _check(step(), expected)
    check2 = _check(step(), second)
    check["ok"] = check["ok"] and check2["ok"]
    if check2["max_abs_diff"] is not None and check["max_abs_diff"] is not None:
        check["max_abs_diff"] = max(check["max_abs_diff"], check2["max_abs_diff"])
    check["note"] = "two steps, the second from the carried state outputs"
    return check


def _onnxruntime(config: Config, seed: int, threads: int) -> Bench:
    import onnxruntime as ort

    with tempfile.TemporaryDirectory() as tmp:
        path, x, expected, second = _onnx_file(config, seed, tmp)
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    inputs = session.get_inputs()
    names = [o.name for o in session.get_outputs()]
    api = {"infer": "InferenceSession(export_onnx file, CPUExecutionProvider, ORT_ENABLE_ALL, "
                    f"intra_op_num_threads={threads}, inter_op_num_threads=1).run"}
    if not config.stream:
        feed = {inputs[0].name: x}
        infer = lambda: session.run(names[:1], feed)[0]  # noqa: E731
        return Bench(infer, None, api, session, _check(infer(), expected))
    in_names = [i.name for i in inputs]
    shapes = [(config.batch, *i.shape[1:]) for i in inputs]
    feed = _stream_feed(shapes, in_names, x)

    def infer():
        y_t, *states = session.run(names, feed)
        feed.update(zip(in_names[1:], states, strict=True))
        return y_t

    check = _stream_check(infer, expected, second)
    feed.update(_stream_feed(shapes, in_names, x))  # restart from zero states
    api["infer"] += " with the states fed back"
    return Bench(infer, None, api, session, check)


def _openvino(config: Config, seed: int, threads: int) -> Bench:
    import openvino as ov

    with tempfile.TemporaryDirectory() as tmp:
        path, x, expected, second = _onnx_file(config, seed, tmp)
        core = ov.Core()
        model = core.read_model(path)
        shapes = [(config.batch, *[d.get_length() for d in list(i.get_partial_shape())[1:]])
                  for i in model.inputs]
        model.reshape({i: ov.PartialShape(list(s)) for i, s in zip(model.inputs, shapes,
                                                                  strict=True)})
        compiled = core.compile_model(model, "CPU", {
            "INFERENCE_NUM_THREADS": threads,
            "PERFORMANCE_HINT": "LATENCY",
            "INFERENCE_PRECISION_HINT": "f32",
        })
    request = compiled.create_infer_request()
    outputs = compiled.outputs
    api = {"infer": f"compile_model(export_onnx file, 'CPU', INFERENCE_NUM_THREADS={threads}, "
                    "LATENCY, f32, static shape).create_infer_request().infer"}
    if not config.stream:
        def infer():
            return request.infer({0: x})[outputs[0]]

        return Bench(infer, None, api, compiled, _check(infer(), expected))
    feed = _stream_feed(shapes, list(range(len(shapes))), x)

    def infer():
        result = request.infer(feed)
        for k, out in enumerate(outputs[1:], start=1):
            feed[k] = result[out]
        return result[outputs[0]]

    check = _stream_check(infer, expected, second)
    feed.update(_stream_feed(shapes, list(range(len(shapes))), x))
    api["infer"] += " with the states fed back"
    return Bench(infer, None, api, compiled, check)


def build(framework: str, config: Config, seed: int = 0, threads: int = 2,
          same_weights: bool = True) -> Bench:
    """The :class:`Bench` of ``framework`` on ``config``. ``same_weights=False`` (memory and
    sweep tasks) lets PyTorch keep its own initialisation, so its process never imports
    npylstm; every timing task uses npylstm's weights and checks the outputs."""
    if framework == "npylstm-numba":
        return _npylstm(config, "numba", seed)
    if framework == "npylstm-reference":
        return _npylstm(config, "reference", seed)
    if framework == "torch":
        return _torch(config, seed, same_weights)
    if framework == "onnxruntime":
        return _onnxruntime(config, seed, threads)
    if framework == "openvino":
        return _openvino(config, seed, threads)
    if framework.startswith("keras-"):
        return _keras(config, seed, framework in INFERENCE_ONLY, same_weights)
    raise ValueError(f"unknown framework {framework!r}: expected one of {FRAMEWORKS}")
