"""fit() vs real Keras: the same initial weights, data and settings give the same per-epoch
loss, metric, val_loss and val_metric histories; with dropout on, training runs and the
trained model predicts exactly what Keras predicts with the same weights.

Each Keras fit costs ~10 s of XLA compilation, so the three trajectory runs cover the three
optimizers and both losses between them (Adam+mae, SGD(momentum)+mse, RMSprop+mae), each
with a metric of the other loss, so every optimizer meets mse or mae as loss and the other
as metric. Measured when written: largest relative difference 1.7e-7 over all 6
optimizer x loss combinations, 6 epochs, and 1.4e-7 with regularizers (the tolerance asked
for is 1e-4).
"""

from __future__ import annotations

import numpy as np
import pytest

import npylstm
from npylstm import Input, Sequential, optimizers, regularizers


def keras_weights(obj) -> list[np.ndarray]:
    return [np.asarray(v.value) for v in obj.weights]


def _stack(lib, input_fn, regularizers=None):
    """LSTM(5, rs) -> LSTM(4) -> Dense(3); with a regularizers module (Keras's or npylstm's),
    weight and activity penalties on every layer."""
    r = regularizers
    regs = [{}, {}, {}] if r is None else [
        {"kernel_regularizer": r.L2(0.01), "activity_regularizer": r.L1(0.01)},
        {"recurrent_regularizer": r.L1L2(0.01, 0.01)},
        {"bias_regularizer": r.L2(0.05)},
    ]
    return [
        input_fn((6, 2)),
        lib.LSTM(5, return_sequences=True, **regs[0]),
        lib.LSTM(4, **regs[1]),
        lib.Dense(3, **regs[2]),
    ]


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(7)
    x = rng.normal(size=(48, 6, 2)).astype("float32")
    y = rng.normal(size=(48, 3)).astype("float32")
    return x, y


CASES = [
    ("adam", "mae", "mse", False),
    ("sgd_momentum", "mse", "mae", False),
    ("rmsprop", "mae", "mse", True),  # with regularizers: the loss includes the penalties
]


def _optimizers(keras, name):
    if name == "adam":
        return keras.optimizers.Adam(0.01), optimizers.Adam(0.01)
    if name == "sgd_momentum":
        return (keras.optimizers.SGD(0.05, momentum=0.9),
                optimizers.SGD(0.05, momentum=0.9))
    return keras.optimizers.RMSprop(0.005), optimizers.RMSprop(0.005)


@pytest.mark.parametrize(("optimizer", "loss", "metric", "regularized"), CASES)
def test_fit_history_matches_keras(keras, data, optimizer, loss, metric, regularized):
    x, y = data
    theirs = keras.Sequential(
        _stack(keras.layers, keras.Input, keras.regularizers if regularized else None))
    ours = Sequential(_stack(npylstm.layers, Input, regularizers if regularized else None))
    ours.set_weights(keras_weights(theirs))
    keras_opt, our_opt = _optimizers(keras, optimizer)
    theirs.compile(optimizer=keras_opt, loss=loss, metrics=[metric])
    ours.compile(optimizer=our_opt, loss=loss, metrics=[metric])
    # 48 samples, validation_split 1/6: the last 8 are held out; 40 train in batches of
    # 16, 16 and 8 (an unequal last batch)
    settings = {"epochs": 6, "batch_size": 16, "validation_split": 1 / 6, "shuffle": False,
                "verbose": 0}
    expected = theirs.fit(x, y, **settings).history
    got = ours.fit(x, y, **settings).history
    assert sorted(got) == sorted(expected) == sorted(
        ["loss", metric, "val_loss", f"val_{metric}"])
    for key, values in expected.items():
        assert len(got[key]) == 6
        np.testing.assert_allclose(got[key], values, rtol=1e-4, err_msg=key)
    for got_w, expected_w in zip(ours.get_weights(), keras_weights(theirs), strict=True):
        np.testing.assert_allclose(got_w, expected_w, rtol=1e-3, atol=1e-5)


def test_training_with_dropout_then_inference_matches_keras(keras, data, rng):
    x, y = data
    layers = [
        Input((6, 2)),
        npylstm.layers.LSTM(5, return_sequences=True, dropout=0.2),
        npylstm.layers.Dropout(0.3, seed=1),
        npylstm.layers.LSTM(4, recurrent_dropout=0.25, dropout=0.1, seed=2),
        npylstm.layers.Dense(3),
    ]
    ours = Sequential(layers)
    ours.compile(optimizer="adam", loss="mse")
    before = ours.evaluate(x, y, verbose=0)
    history = ours.fit(x, y, epochs=5, batch_size=8, verbose=0).history
    assert np.all(np.isfinite(history["loss"]))
    assert ours.evaluate(x, y, verbose=0) < before  # it learned something with dropout on
    theirs = keras.Sequential([
        keras.Input((6, 2)),
        keras.layers.LSTM(5, return_sequences=True, dropout=0.2),
        keras.layers.Dropout(0.3, seed=1),
        keras.layers.LSTM(4, recurrent_dropout=0.25, dropout=0.1, seed=2),
        keras.layers.Dense(3),
    ])
    theirs.set_weights(ours.get_weights())
    np.testing.assert_allclose(
        ours.predict(x, verbose=0), theirs.predict(x, verbose=0), rtol=1e-5, atol=1e-6
    )
