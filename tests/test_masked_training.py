"""Masks through a Sequential and into the loss and metrics, against real Keras.

Keras (``keras/src/losses/loss.py`` ``apply_mask``, ``metrics/reduction_metrics.py``
``MeanMetricWrapper``) weights the per-step losses by the output's mask, so the loss and
the metrics are means over the real timesteps only; the recurrent layers carry their
states over the padded steps.

One backend quirk: Keras's JAX trainer returns ``y_pred`` out of ``jax.value_and_grad``,
which drops the mask Keras attaches to it, so *during* ``fit`` its training metrics are
unmasked means (its loss, ``evaluate`` and the validation metrics are masked). The torch
and TensorFlow trainers keep the mask. npylstm masks everywhere, as Keras documents; the
training metric history is therefore checked against Keras on the torch backend (a
subprocess), everything else against the JAX backend. Measured when written: largest
relative difference ~1e-6 over 5 epochs (the tolerance asked for is 1e-4).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import npylstm
from npylstm import Input, Sequential, losses, metrics


def _padded_data(seed: int = 3, n: int = 24, timesteps: int = 7, features: int = 3):
    """Sequences with leading, trailing and middle padding (zeros) and a fully padded row."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, timesteps, features)).astype("float32")
    lengths = rng.integers(2, timesteps + 1, size=n)
    for i, length in enumerate(lengths):
        if i % 3 == 0:
            x[i, : timesteps - length] = 0.0  # pre-padding
        elif i % 3 == 1:
            x[i, length:] = 0.0  # post-padding
        else:
            x[i, 2:4] = 0.0  # a gap in the middle
    x[min(5, n - 1)] = 0.0  # no real step at all
    y = rng.normal(size=(n, timesteps, 2)).astype("float32")
    return x, y


def _model(lib, input_fn, recurrent: str):
    """Masking -> recurrent(return_sequences) -> Dense per step (TimeDistributed for LSTM,
    the issue's model; a Dense on the 3-D output for GRU): the mask reaches the loss."""
    rnn = getattr(lib, recurrent)
    head = lib.TimeDistributed(lib.Dense(2)) if recurrent == "LSTM" else lib.Dense(2)
    return [input_fn((7, 3)), lib.Masking(0.0), rnn(5, return_sequences=True), head]


def keras_weights(model) -> list[np.ndarray]:
    return [np.asarray(v.value) for v in model.weights]


SETTINGS = {"epochs": 5, "batch_size": 8, "validation_split": 0.25, "shuffle": False,
            "verbose": 0}

_TORCH_BACKEND_FIT = textwrap.dedent("""
    import json, sys
    import numpy as np
    import keras
    data = np.load(sys.argv[1])
    model = keras.Sequential([keras.Input((7, 3)), keras.layers.Masking(0.0),
                              getattr(keras.layers, sys.argv[2])(5, return_sequences=True),
                              keras.layers.TimeDistributed(keras.layers.Dense(2))])
    model.set_weights([data[f"w{i}"] for i in range(len(model.weights))])
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="mse", metrics=["mae"])
    history = model.fit(data["x"], data["y"], **json.loads(sys.argv[3])).history
    print(json.dumps(history))
""")


def _keras_torch_backend_fit(tmp_path, recurrent, weights, x, y) -> dict:
    """Keras on its torch backend (whose trainer keeps the output mask for the metrics)."""
    pytest.importorskip("torch")
    data = tmp_path / "data.npz"
    np.savez(data, x=x, y=y, **{f"w{i}": w for i, w in enumerate(weights)})
    env = {**os.environ, "KERAS_BACKEND": "torch"}
    done = subprocess.run(
        [sys.executable, "-c", _TORCH_BACKEND_FIT, str(data), recurrent, json.dumps(SETTINGS)],
        capture_output=True, text=True, env=env, timeout=600, check=False, cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("recurrent", ["LSTM", "GRU"])
def test_masked_fit_history_matches_keras(keras, tmp_path, recurrent):
    x, y = _padded_data()
    theirs = keras.Sequential(_model(keras.layers, keras.Input, recurrent))
    ours = Sequential(_model(npylstm.layers, Input, recurrent))
    weights = keras_weights(theirs)
    ours.set_weights(weights)
    theirs.compile(optimizer=keras.optimizers.Adam(0.01), loss="mse", metrics=["mae"])
    ours.compile(optimizer=npylstm.optimizers.Adam(0.01), loss="mse", metrics=["mae"])
    expected = theirs.fit(x, y, **SETTINGS).history
    got = ours.fit(x, y, **SETTINGS).history
    assert sorted(got) == sorted(expected)
    for key in ("loss", "val_loss", "val_mae"):  # masked in Keras's JAX trainer too
        np.testing.assert_allclose(got[key], expected[key], rtol=1e-4, err_msg=key)
    np.testing.assert_allclose(ours.predict(x, verbose=0), theirs.predict(x, verbose=0),
                               rtol=1e-4, atol=1e-5)
    if recurrent == "LSTM":  # the training metric, against a trainer that keeps the mask
        torch_backend = _keras_torch_backend_fit(tmp_path, recurrent, weights, x, y)
        for key in ("loss", "mae"):
            np.testing.assert_allclose(got[key], torch_backend[key], rtol=1e-4, err_msg=key)
        # and the JAX trainer's training metric is indeed the unmasked mean (the quirk)
        assert not np.allclose(got["mae"], expected["mae"], rtol=1e-3)


def test_masked_loss_is_the_mean_over_real_steps_by_hand():
    """mse with a mask: mean over the unmasked (batch, step) entries of the per-step loss."""
    y_true = np.array([[[1.0], [2.0], [3.0]]])  # (1, 3, 1)
    y_pred = np.array([[[2.0], [2.0], [7.0]]])
    mask = np.array([[True, True, False]])
    value, grad = losses.get("mse")(y_true, y_pred, mask=mask)
    assert value == pytest.approx((1.0 + 0.0) / 2)  # the third step does not count
    # d/dy_pred of ((p0 - 1)^2 + (p1 - 2)^2) / 2: (p0 - 1), (p1 - 2), 0
    np.testing.assert_allclose(grad[0, :, 0], [1.0, 0.0, 0.0])
    none = losses.get("mse")(y_true, y_pred, mask=np.zeros((1, 3), bool))
    assert none[0] == 0.0 and not none[1].any()  # Keras's divide_no_nan
    metric = metrics.get("mae")
    metric.update(y_true, y_pred, mask=mask)
    assert metric.result() == pytest.approx(0.5)


def test_masked_loss_gradient_matches_central_differences(rng):
    from gradcheck import central_difference  # tests/ is on sys.path

    x, y = _padded_data(n=4, timesteps=5)
    x, y = x.astype("float64")[:, :5], y.astype("float64")[:, :5]
    model = Sequential([Input((5, 3), dtype="float64"),
                        npylstm.layers.Masking(0.0, dtype="float64"),
                        npylstm.layers.GRU(3, return_sequences=True, dtype="float64"),
                        npylstm.layers.Dense(2, dtype="float64")])
    weights = [rng.normal(scale=0.5, size=w.shape) for w in model.get_weights()]
    model.set_weights(weights)
    _, grads = model.loss_and_gradients(x, y, loss="mse")
    for w, g in zip(model.weights, grads, strict=True):
        numeric = central_difference(lambda: model.loss_and_gradients(x, y, loss="mse")[0],
                                     w.value)
        np.testing.assert_allclose(g, numeric, rtol=1e-6, atol=1e-9, err_msg=w.path)


def test_a_mask_of_the_wrong_shape_is_refused():
    with pytest.raises(ValueError, match=r"MeanSquaredError: expected a mask of the "
                                         r"per-sample values' shape \(2, 3\)"):
        losses.get("mse")(np.zeros((2, 3, 1)), np.zeros((2, 3, 1)), mask=np.ones((2, 4), bool))
    with pytest.raises(ValueError, match=r"MeanAbsoluteError: expected a mask of the "
                                         r"per-sample values' shape \(2, 3\)"):
        metrics.get("mae").update(np.zeros((2, 3, 1)), np.zeros((2, 3, 1)),
                                  mask=np.ones((2, 4), bool))
    layer = npylstm.layers.LSTM(2)
    with pytest.raises(ValueError, match=r"LSTM 'lstm.*': expected a mask of shape "
                                         r"\(batch, timesteps\) = \(2, 3\), received \(3, 2\)"):
        layer(np.zeros((2, 3, 1), "float32"), mask=np.ones((3, 2), bool))
    with pytest.raises(ValueError, match=r"expected a boolean mask \(or 0/1\)"):
        layer(np.zeros((2, 3, 1), "float32"), mask=np.full((2, 3), 0.5))
