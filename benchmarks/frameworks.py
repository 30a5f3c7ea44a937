"""One builder per framework: the model of a :class:`~configs.Config`, its data, and the
calls the harness times.

Each builder returns a :class:`Bench` with

* ``infer()``: a forward pass of the stacked model on one batch (no gradients),
* ``train()``: one training step — forward, backward, Adam update (MSE loss),
* for ``stream`` configurations ``infer()`` feeds one timestep with the recurrent state
  carried from the previous call, and ``train`` is None.

The recurrent layers are ``config.cell``'s kind: npylstm's ``LSTM`` / ``GRU``,
``torch.nn.LSTM`` / ``torch.nn.GRU``, Keras's ``LSTM`` / ``GRU`` (default ``reset_after=True``,
the equations of ``torch.nn.GRU``).

Frameworks are imported inside the builders, so a worker process imports only the one it
measures (Keras picks its backend at import; the TensorFlow backend may run from another
interpreter that has no npylstm).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from configs import Config

__all__ = ["FRAMEWORKS", "PEERS", "Bench", "build", "versions", "configure_threads"]

#: Every framework the harness knows, in table order. npylstm ones are ours; the rest peers.
FRAMEWORKS = [
    "npylstm-numba",
    "npylstm-reference",
    "torch",
    "keras-jax",
    "keras-tensorflow",
    "keras-torch",
]
PEERS = [f for f in FRAMEWORKS if not f.startswith("npylstm")]


@dataclass
class Bench:
    infer: Callable[[], object]
    train: Callable[[], object] | None
    api: dict[str, str] = field(default_factory=dict)  # which calls are timed
    model: object = None


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
    else:
        names += ["keras", framework.split("-", 1)[1]]
        if framework == "keras-jax":
            names += ["jaxlib"]
    out = {}
    for name in names:
        try:
            out[name] = md.version(name)
        except md.PackageNotFoundError:
            out[name] = "not installed"
    return out


# -- npylstm ------------------------------------------------------------------------------
def _npylstm(config: Config, backend: str, seed: int) -> Bench:
    import npylstm
    from npylstm.layers import GRU, LSTM, Dense

    npylstm.set_random_seed(seed)
    recurrent = {"lstm": LSTM, "gru": GRU}[config.cell]
    steps = 1 if config.stream else config.timesteps
    layers = [npylstm.Input(shape=(steps, config.features), batch_size=config.batch)]
    for i, units in enumerate(config.units):
        layers.append(
            recurrent(units, return_sequences=i < len(config.units) - 1,
                      stateful=config.stream, backend=backend)
        )
    if config.dense is not None:
        layers.append(Dense(config.dense))
    model = npylstm.Sequential(layers)
    model.compile(optimizer="adam", loss="mse")
    x, y = data(config, seed)

    api = {}
    predict_on_batch = getattr(model, "predict_on_batch", None)
    step = getattr(model, "step", None)
    if config.stream and step is not None:
        # the online-prediction API: one timestep, the states carried by the caller
        x_t = x[:, 0]  # (B, D)
        carried = {"states": model.initial_states(config.batch)}

        def infer():
            y_t, carried["states"] = step(x_t, carried["states"])
            return y_t

        api["infer"] = "y_t, states = model.step(x_t, states)"
    elif predict_on_batch is not None:
        infer = lambda: predict_on_batch(x)  # noqa: E731
        api["infer"] = "model.predict_on_batch(x)"
    else:
        infer = lambda: model(x)  # noqa: E731
        api["infer"] = "model(x) (Sequential has no predict_on_batch)"
    train = None
    if not config.stream:
        train_on_batch = getattr(model, "train_on_batch", None)
        if train_on_batch is not None:
            train = lambda: train_on_batch(x, y)  # noqa: E731
            api["train"] = "model.train_on_batch(x, y)"
        else:
            weights = [w.value for w in model.weights]  # updated in place by the optimizer
            optimizer = model.optimizer

            def train():
                loss, grads = model.loss_and_gradients(x, y, training=True)
                optimizer.apply(weights, grads)
                return loss

            api["train"] = (
                "model.loss_and_gradients(x, y, training=True) + model.optimizer.apply "
                "(Sequential has no train_on_batch)"
            )
    return Bench(infer, train, api, model)


# -- PyTorch ------------------------------------------------------------------------------
def _torch(config: Config, seed: int) -> Bench:
    import torch
    from torch import nn

    torch.manual_seed(seed)

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
    x_np, y_np = data(config, seed)
    x, y = torch.from_numpy(x_np), torch.from_numpy(y_np)
    api = {}
    if config.stream:
        net.eval()
        carried = [None]

        def infer():
            with torch.no_grad():
                out, carried[0] = net(x, carried[0])
            return out

        api["infer"] = "with torch.no_grad(): net(x_t, carried_states)"
        return Bench(infer, None, api, net)

    optimizer = torch.optim.Adam(net.parameters(), lr=1e-3)
    loss_fn = nn.MSELoss()

    def infer():
        with torch.no_grad():
            return net(x)[0]

    def train():
        optimizer.zero_grad(set_to_none=True)
        loss = loss_fn(net(x)[0], y)
        loss.backward()
        optimizer.step()
        return loss

    api["infer"] = "with torch.no_grad(): net(x)"
    api["train"] = "zero_grad, MSELoss(net(x), y).backward(), Adam.step()"
    return Bench(infer, train, api, net)


# -- Keras 3 ------------------------------------------------------------------------------
def _keras(config: Config, seed: int) -> Bench:
    import keras

    keras.utils.set_random_seed(seed)
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
    x, y = data(config, seed)
    infer = lambda: model.predict_on_batch(x)  # noqa: E731
    api = {"infer": "model.predict_on_batch(x)"}
    train = None
    if not config.stream:
        train = lambda: model.train_on_batch(x, y)  # noqa: E731
        api["train"] = "model.train_on_batch(x, y)"
    return Bench(infer, train, api, model)


def build(framework: str, config: Config, seed: int = 0) -> Bench:
    if framework == "npylstm-numba":
        return _npylstm(config, "numba", seed)
    if framework == "npylstm-reference":
        return _npylstm(config, "reference", seed)
    if framework == "torch":
        return _torch(config, seed)
    if framework.startswith("keras-"):
        return _keras(config, seed)
    raise ValueError(f"unknown framework {framework!r}: expected one of {FRAMEWORKS}")
