"""fit() with sample weights, class weights and generators against real Keras (JAX): the same
initial weights, data and settings give the same per-epoch loss, metrics, weighted metrics
and validation values (within 1e-4 relative, every epoch) and the same final weights.

Four runs, each one Keras compilation (~10 s): class_weight on an imbalanced classifier;
per-timestep sample_weight on a masked sequence output (Masking -> LSTM(return_sequences)
-> TimeDistributed(Dense); its training metrics against a hand computation, see there);
per-sample sample_weight with weighted validation data; an infinite generator of
(x, y, sample_weight) with steps_per_epoch (batches carry over between epochs).
``metrics`` ignore the weights and ``weighted_metrics`` use them in Keras 3; both are
checked. The largest differences are printed (``-s``).
"""

from __future__ import annotations

import numpy as np
import pytest

import npylstm
from npylstm import Input, Sequential, optimizers

EPOCHS = 5


def keras_weights(obj) -> list[np.ndarray]:
    return [np.asarray(v.value) for v in obj.weights]


def _compare(ours, theirs, got: dict, expected: dict, keys: list[str]) -> dict[str, float]:
    """Each history entry and each final weight within 1e-4 relative; returns the largest
    relative difference per entry (for the report)."""
    assert sorted(got) == sorted(expected) == sorted(keys)
    worst = {}
    for key, values in expected.items():
        assert len(got[key]) == len(values)
        np.testing.assert_allclose(got[key], values, rtol=1e-4, err_msg=key)
        worst[key] = float(np.max(np.abs(np.subtract(got[key], values)) / np.abs(values)))
    for i, (mine, keras_w) in enumerate(zip(ours.get_weights(), keras_weights(theirs),
                                            strict=True)):
        np.testing.assert_allclose(mine, keras_w, rtol=1e-4, atol=1e-6, err_msg=f"weight {i}")
    worst["weights (abs)"] = max(float(np.max(np.abs(m - k))) for m, k in zip(
        ours.get_weights(), keras_weights(theirs), strict=True))
    print(worst)
    return worst


def _pair(keras, layers):
    """The same stack in Keras and here, with Keras's initial weights copied over."""
    theirs = keras.Sequential(layers(keras.layers, keras.Input))
    ours = Sequential(layers(npylstm.layers, Input))
    ours.set_weights(keras_weights(theirs))
    return ours, theirs


@pytest.fixture(scope="module")
def rng():
    return np.random.default_rng(11)


def test_class_weight_classifier_matches_keras(keras, rng):
    x = rng.normal(size=(40, 5, 3)).astype("float32")
    labels = np.array([0] * 28 + [1] * 8 + [2] * 4)  # imbalanced
    rng.shuffle(labels)
    x[:, :, 0] += labels[:, None]  # learnable
    ours, theirs = _pair(keras, lambda lib, inp: [inp((5, 3)), lib.LSTM(6),
                                                  lib.Dense(3, activation="softmax")])
    settings = {"epochs": EPOCHS, "batch_size": 16, "shuffle": False, "verbose": 0,
                "class_weight": {0: 0.5, 1: 2.0, 2: 4.0}}
    theirs.compile(keras.optimizers.Adam(0.02), "sparse_categorical_crossentropy",
                   metrics=["accuracy"], weighted_metrics=["accuracy"])
    ours.compile(optimizers.Adam(0.02), "sparse_categorical_crossentropy",
                 metrics=["accuracy"], weighted_metrics=["accuracy"])
    expected = theirs.fit(x, labels, **settings).history
    got = ours.fit(x, labels, **settings).history
    _compare(ours, theirs, got, expected, ["loss", "accuracy", "weighted_accuracy"])


def test_per_timestep_sample_weight_on_masked_sequence_output_matches_keras(keras, rng):
    """The loss, the validation values and the weights match Keras (JAX). The *training*
    metrics are checked against a hand computation instead: Keras's JAX trainer loses the
    output's mask on its way to the training metrics (y_pred leaves ``jax.value_and_grad``
    as auxiliary output without its ``_keras_mask``), so there they average the padded
    steps too; Keras's torch backend, Keras's evaluate / validation and npylstm mask
    them."""
    n, t = 24, 7

    def data(count):
        x = rng.normal(size=(count, t, 2)).astype("float32")
        lengths = rng.integers(3, t + 1, count)
        for i, length in enumerate(lengths):
            x[i, length:] = 0.0  # padding the Masking layer masks
        mask = np.arange(t)[None] < lengths[:, None]
        return (x, rng.normal(size=(count, t, 2)).astype("float32"),
                rng.uniform(0.0, 2.0, (count, t)).astype("float32"), mask)

    x, y, sw, mask = data(n)
    xv, yv, swv, _ = data(9)
    ours, theirs = _pair(keras, lambda lib, inp: [
        inp((t, 2)), lib.Masking(0.0), lib.LSTM(5, return_sequences=True),
        lib.TimeDistributed(lib.Dense(2))])
    settings = {"epochs": EPOCHS, "batch_size": 10, "shuffle": False, "verbose": 0,
                "sample_weight": sw, "validation_data": (xv, yv, swv)}
    theirs.compile(keras.optimizers.RMSprop(0.01), "mse", metrics=["mae"],
                   weighted_metrics=["mae"])
    ours.compile(optimizers.RMSprop(0.01), "mse", metrics=["mae"], weighted_metrics=["mae"])

    sums = {}

    class Recorder(npylstm.callbacks.Callback):  # the masked metrics, by hand
        def on_epoch_begin(self, epoch, logs=None):
            self.epoch = epoch
            sums[epoch] = np.zeros(4)

        def on_train_batch_begin(self, batch, logs=None):
            rows = slice(batch * 10, (batch + 1) * 10)
            errors = np.abs(self.model.predict(x[rows], verbose=0) - y[rows]).mean(-1)
            m, w = mask[rows], sw[rows] * mask[rows]
            # Keras's Mean: per-sample means of the weighted values over the mean weight
            sums[self.epoch] += [(errors * m).mean(1).sum(), m.mean(1).sum(),
                            (errors * w).mean(1).sum(), w.mean(1).sum()]

    expected = theirs.fit(x, y, **settings).history
    got = ours.fit(x, y, callbacks=[Recorder()], **settings).history
    hand = np.array([sums[e] for e in range(EPOCHS)])
    np.testing.assert_allclose(got["mae"], hand[:, 0] / hand[:, 1], rtol=1e-5)
    np.testing.assert_allclose(got["weighted_mae"], hand[:, 2] / hand[:, 3], rtol=1e-5)
    for key in ("mae", "weighted_mae"):
        del got[key], expected[key]
    _compare(ours, theirs, got, expected, ["loss", "val_loss", "val_mae",
                                           "val_weighted_mae"])


def test_per_sample_weight_with_weighted_validation_data_matches_keras(keras, rng):
    x = rng.normal(size=(36, 4, 3)).astype("float32")
    y = rng.normal(size=(36, 2)).astype("float32")
    sw = rng.uniform(0.0, 3.0, 36).astype("float32")
    xv = rng.normal(size=(12, 4, 3)).astype("float32")
    yv = rng.normal(size=(12, 2)).astype("float32")
    swv = rng.uniform(0.0, 3.0, 12).astype("float32")
    ours, theirs = _pair(keras, lambda lib, inp: [inp((4, 3)), lib.GRU(4), lib.Dense(2)])
    settings = {"epochs": EPOCHS, "batch_size": 8, "shuffle": False, "verbose": 0,
                "sample_weight": sw, "validation_data": (xv, yv, swv),
                "validation_batch_size": 5}
    theirs.compile(keras.optimizers.SGD(0.05, momentum=0.9), "mae", metrics=["mse"],
                   weighted_metrics=["mse"])
    ours.compile(optimizers.SGD(0.05, momentum=0.9), "mae", metrics=["mse"],
                 weighted_metrics=["mse"])
    expected = theirs.fit(x, y, **settings).history
    got = ours.fit(x, y, **settings).history
    _compare(ours, theirs, got, expected, ["loss", "mse", "weighted_mse", "val_loss",
                                           "val_mse", "val_weighted_mse"])


def test_generator_with_steps_per_epoch_matches_keras(keras, rng):
    x = rng.normal(size=(30, 5, 2)).astype("float32")
    y = rng.normal(size=(30, 1)).astype("float32")
    sw = rng.uniform(0.5, 1.5, 30).astype("float32")

    def batches():  # infinite: 4 batches of 8, 8, 8, 6 over and over
        while True:
            for start in range(0, 30, 8):
                end = start + 8
                yield x[start:end], y[start:end], sw[start:end]

    ours, theirs = _pair(keras, lambda lib, inp: [inp((5, 2)), lib.LSTM(3), lib.Dense(1)])
    # 3 steps per epoch over 4 batches: each epoch starts where the last one stopped
    settings = {"epochs": EPOCHS, "steps_per_epoch": 3, "shuffle": False, "verbose": 0,
                "validation_data": (x[:10], y[:10])}
    theirs.compile(keras.optimizers.Adam(0.01), "mse", weighted_metrics=["mae"])
    ours.compile(optimizers.Adam(0.01), "mse", weighted_metrics=["mae"])
    expected = theirs.fit(batches(), **settings).history
    got = ours.fit(batches(), **settings).history
    _compare(ours, theirs, got, expected, ["loss", "mae", "val_loss", "val_mae"])
