"""The classifiers of the Keras tutorials, trained side by side with their Keras twins.

* A text classifier: ``Input((None,), int32) -> Embedding(100, 8, mask_zero=True) ->
  LSTM(6) -> Dense(3, softmax)`` with ``sparse_categorical_crossentropy`` and
  ``metrics=["accuracy"]`` (resolved to sparse categorical accuracy from the integer
  targets), integer labels of shape ``(batch,)`` and ``(batch, 1)``; and with one-hot
  labels, ``categorical_crossentropy`` (categorical accuracy).
* A tagger: ``Masking -> LSTM(return_sequences=True) -> TimeDistributed(Dense(C,
  softmax))`` with integer tags of shape ``(batch, T)``: the loss and the accuracy are
  means over the real steps. Keras's JAX trainer leaves its *training* metrics unmasked
  (``tests/test_masked_training.py``), so the masked accuracy is compared through
  ``validation_data`` and ``evaluate``, where Keras masks it too.

Same initial weights, ``shuffle=False``; per-epoch losses within 1e-4 relative, accuracies
equal (they are counts of matches over the same samples).
"""

from __future__ import annotations

import numpy as np
import pytest

import npylstm
from npylstm import Input, Sequential

EPOCHS = 3


pytestmark = pytest.mark.keras


def _keras_weights(model) -> list[np.ndarray]:
    return [np.asarray(v.value) for v in model.weights]


def _token_data(seed: int, n: int = 40, timesteps: int = 9):
    """Token ids 1..99 with post-padding (0) to random lengths, labels 0..2 that depend on
    the tokens (so that training moves the accuracy)."""
    rng = np.random.default_rng(seed)
    x = rng.integers(1, 100, (n, timesteps)).astype("int32")
    lengths = rng.integers(2, timesteps + 1, n)
    for i, length in enumerate(lengths):
        x[i, length:] = 0
    y = (x[:, 0] % 3).astype("int32")
    return x, y


def _classifier(lib, input_fn):
    return [input_fn((None,), dtype="int32"), lib.Embedding(100, 8, mask_zero=True),
            lib.LSTM(6), lib.Dense(3, activation="softmax")]


@pytest.fixture(scope="module")
def classifier_twins(keras):
    keras.utils.set_random_seed(7)
    theirs = keras.Sequential(_classifier(keras.layers, keras.Input))
    weights = _keras_weights(theirs)
    return theirs, weights


@pytest.mark.parametrize("optimizer, labels", [
    ("adam", "ids"),
    pytest.param("sgd", "ids_column", marks=pytest.mark.slow),  # ~20 s (Keras compiles)
    ("sgd", "onehot"),
])
def test_text_classifier_trains_as_keras(keras, classifier_twins, optimizer, labels):
    """Integer labels (batch,) / (batch, 1) with sparse_categorical_crossentropy, or
    one-hot labels with categorical_crossentropy; "accuracy" resolves to the matching
    accuracy in both libraries."""
    theirs, weights = classifier_twins
    x, y = _token_data(1)
    x_val, y_val = _token_data(2, n=12)
    loss = "sparse_categorical_crossentropy"
    if labels == "ids_column":  # (batch, 1) labels: Keras squeezes them
        y, y_val = y[:, None], y_val[:, None]
    elif labels == "onehot":
        y, y_val = np.eye(3, dtype="float32")[y], np.eye(3, dtype="float32")[y_val]
        loss = "categorical_crossentropy"
    theirs.set_weights(weights)
    ours = Sequential(_classifier(npylstm.layers, Input))
    ours.set_weights(weights)
    k_opt = (keras.optimizers.Adam(0.02) if optimizer == "adam"
             else keras.optimizers.SGD(0.5, momentum=0.5))
    o_opt = (npylstm.optimizers.Adam(0.02) if optimizer == "adam"
             else npylstm.optimizers.SGD(0.5, momentum=0.5))
    theirs.compile(optimizer=k_opt, loss=loss, metrics=["accuracy"])
    ours.compile(optimizer=o_opt, loss=loss, metrics=["accuracy"])
    settings = {"epochs": EPOCHS, "batch_size": 8, "shuffle": False, "verbose": 0,
                "validation_data": (x_val, y_val)}
    expected = theirs.fit(x, y, **settings).history
    got = ours.fit(x, y, **settings).history
    assert sorted(got) == sorted(expected) == ["accuracy", "loss", "val_accuracy", "val_loss"]
    for key in ("loss", "val_loss"):
        np.testing.assert_allclose(got[key], expected[key], rtol=1e-4, err_msg=key)
    for key in ("accuracy", "val_accuracy"):
        assert got[key] == pytest.approx(expected[key], rel=1e-6, abs=0), key
        assert all(round(a * len(x if key == "accuracy" else x_val), 4) % 1 == 0
                   for a in got[key])  # counts of matches
    assert len(set(got["loss"])) == EPOCHS  # it trained
    np.testing.assert_allclose(ours.evaluate(x, y, verbose=0),
                               theirs.evaluate(x, y, verbose=0), rtol=1e-4)
    np.testing.assert_allclose(ours.predict(x, verbose=0), theirs.predict(x, verbose=0),
                               rtol=1e-4, atol=1e-6)
    assert ours.metrics_names == ["loss", "accuracy"]
    chosen = "CategoricalAccuracy" if labels == "onehot" else "SparseCategoricalAccuracy"
    assert type(ours.compiled_metrics[0].metric).__name__ == chosen


def _tag_data(seed: int, n: int = 30, timesteps: int = 7, features: int = 3, classes: int = 4):
    """Feature sequences padded with zero steps (pre- and post-padding) and a tag per step
    (padded steps get tag 0, which the mask hides)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, timesteps, features)).astype("float32")
    y = (np.argmax(x, axis=-1) + (x[..., 0] > 0)).astype("int32") % classes  # (n, T)
    lengths = rng.integers(2, timesteps + 1, n)
    for i, length in enumerate(lengths):
        padded = slice(None, timesteps - length) if i % 2 else slice(length, None)
        x[i, padded] = 0.0
        y[i, padded] = 0
    return x, y


def _tagger(lib, input_fn, classes: int = 4):
    return [input_fn((7, 3)), lib.Masking(0.0), lib.LSTM(5, return_sequences=True),
            lib.TimeDistributed(lib.Dense(classes, activation="softmax"))]


@pytest.mark.slow  # ~15 s on a quiet machine (Keras compiles the masked train / eval steps)
def test_masked_tagger_trains_as_keras(keras):
    keras.utils.set_random_seed(11)
    x, y = _tag_data(3)
    x_val, y_val = _tag_data(4, n=10)
    theirs = keras.Sequential(_tagger(keras.layers, keras.Input))
    ours = Sequential(_tagger(npylstm.layers, Input))
    ours.set_weights(_keras_weights(theirs))
    theirs.compile(optimizer=keras.optimizers.Adam(0.02),
                   loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    ours.compile(optimizer=npylstm.optimizers.Adam(0.02),
                 loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    settings = {"epochs": EPOCHS, "batch_size": 8, "shuffle": False, "verbose": 0,
                "validation_data": (x_val, y_val)}
    expected = theirs.fit(x, y, **settings).history
    got = ours.fit(x, y, **settings).history
    assert sorted(got) == sorted(expected)
    for key in ("loss", "val_loss"):  # masked in Keras's JAX trainer too
        np.testing.assert_allclose(got[key], expected[key], rtol=1e-4, err_msg=key)
    # the validation accuracy: masked by both (a mean over the real steps)
    assert got["val_accuracy"] == pytest.approx(expected["val_accuracy"], rel=1e-6, abs=0)
    k_loss, k_acc = theirs.evaluate(x, y, verbose=0)
    o_loss, o_acc = ours.evaluate(x, y, verbose=0)
    assert o_loss == pytest.approx(k_loss, rel=1e-4)
    assert o_acc == pytest.approx(k_acc, rel=1e-6, abs=0)
    # by hand: the accuracy over the real steps only
    real = np.any(x != 0, axis=-1)  # (n, T), Masking(0.0)'s mask
    predicted = np.argmax(ours.predict(x, verbose=0), axis=-1)
    assert o_acc == pytest.approx(np.mean(predicted[real] == y[real]), rel=1e-6)
    assert o_acc != pytest.approx(np.mean(predicted == y))  # the padded steps are out
