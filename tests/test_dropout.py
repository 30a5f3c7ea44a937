"""Dropout, and LSTM dropout / recurrent_dropout with Keras's mask semantics.

Keras draws its masks from its own random stream, so the oracle tests hand the *same* masks
to both sides: Keras through the cell's mask cache (``cell._dropout_mask``, which
``get_dropout_mask`` returns when set), npylstm through a generator stub whose uniform
draws reproduce those masks.
"""

from __future__ import annotations

import numpy as np
import pytest
from gradcheck import central_difference  # tests/ is on sys.path

from npylstm.layers import LSTM, Dropout
from npylstm.layers.dropout import dropout_mask


class MaskRng:
    """Stands in for ``np.random.Generator``: ``random(shape)`` returns the next prepared
    array, 1.0 where a mask keeps and 0.0 where it drops (``keep = u >= rate``)."""

    def __init__(self, *masks):
        self.draws = [(np.asarray(m) > 0).astype(np.float64) for m in masks]

    def random(self, shape):
        draw = self.draws.pop(0)
        assert draw.shape == tuple(shape), (draw.shape, shape)
        return draw


def keras_weights(obj) -> list[np.ndarray]:
    return [np.asarray(v.value) for v in obj.weights]


# -- the Dropout layer ---------------------------------------------------------------------
def test_dropout_is_identity_at_inference():
    x = np.arange(12, dtype="float32").reshape(3, 4)
    layer = Dropout(0.5)
    np.testing.assert_array_equal(layer(x), x)
    np.testing.assert_array_equal(layer(x, training=False), x)


def test_dropout_training_scales_kept_values_and_drops_about_rate():
    x = np.ones((200, 50), dtype="float32")
    y = Dropout(0.2, seed=1)(x, training=True)
    # inverted dropout: kept values are 1 / (1 - 0.2) = 1.25, dropped ones 0
    assert set(np.unique(y).tolist()) == {0.0, 1.25}
    dropped = float(np.mean(y == 0))  # 10,000 draws: std of the fraction is 0.004
    assert abs(dropped - 0.2) < 0.02
    assert abs(float(y.mean()) - 1.0) < 0.03  # the expectation is preserved


def test_dropout_seed_fixes_the_masks():
    x = np.ones((4, 8), dtype="float32")
    a = Dropout(0.5, seed=7)(x, training=True)
    b = Dropout(0.5, seed=7)(x, training=True)
    np.testing.assert_array_equal(a, b)


def test_dropout_backward_uses_the_forward_mask():
    layer = Dropout(0.5, seed=0)
    x = np.ones((3, 6), dtype="float32")
    y, cache = layer.forward(x, training=True)
    dy = np.full_like(x, 3.0)
    dx, grads = layer.backward(dy, cache)
    assert grads == []
    np.testing.assert_array_equal(dx, 3.0 * y)  # y = mask here, since x = 1


def test_dropout_inference_matches_keras(keras, rng):
    x = rng.normal(size=(2, 5, 3)).astype("float32")
    np.testing.assert_array_equal(Dropout(0.3)(x), np.asarray(keras.layers.Dropout(0.3)(x)))


def test_dropout_config_matches_keras(keras):
    assert Dropout(0.3, seed=4, name="d").get_config() == keras.layers.Dropout(
        0.3, seed=4, name="d").get_config()


@pytest.mark.parametrize("rate", [-0.1, 1.0, 1.5, "0.2", True])
def test_dropout_rate_out_of_range(rate):
    with pytest.raises(ValueError, match=r"Dropout 'drop': expected rate in \[0, 1\), received"):
        Dropout(rate, name="drop")


@pytest.mark.parametrize("arg", ["dropout", "recurrent_dropout"])
@pytest.mark.parametrize("rate", [-0.5, 1.0, 2.0])
def test_lstm_dropout_rates_out_of_range(arg, rate):
    # Keras clamps these silently to [0, 1]; npylstm says what is wrong
    with pytest.raises(ValueError, match=rf"LSTM 'l': expected {arg} in \[0, 1\), received"):
        LSTM(3, name="l", **{arg: rate})


# -- LSTM masks vs Keras -------------------------------------------------------------------
def _keras_and_ours(keras, rng, units, input_dim, **kwargs):
    theirs = keras.layers.LSTM(units, **kwargs)
    theirs.build((None, None, input_dim))
    ours = LSTM(units, **kwargs)
    ours.set_weights(keras_weights(theirs))
    return theirs, ours


@pytest.mark.parametrize("go_backwards", [False, True])
@pytest.mark.parametrize("return_sequences", [False, True])
def test_lstm_input_dropout_matches_keras_with_the_same_mask(
    keras, rng, go_backwards, return_sequences
):
    # recurrent_dropout = 0: Keras's implementation 2, one (B, D) mask shared by the gates
    batch, timesteps, input_dim, units, rate = 3, 6, 4, 5, 0.4
    theirs, ours = _keras_and_ours(
        keras, rng, units, input_dim, dropout=rate, go_backwards=go_backwards,
        return_sequences=return_sequences,
    )
    x = rng.normal(size=(batch, timesteps, input_dim)).astype("float32")
    mask = dropout_mask(rng, (batch, input_dim), rate, "float32")
    theirs.cell._dropout_mask = mask
    expected = np.asarray(theirs(x, training=True))
    got, cache = ours.forward(x, training=True, rng=MaskRng(mask))
    np.testing.assert_array_equal(cache.input_mask, mask)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("dropout", [0.0, 0.3])
@pytest.mark.parametrize("go_backwards", [False, True])
def test_lstm_recurrent_dropout_matches_keras_implementation_1(keras, rng, dropout, go_backwards):
    # recurrent_dropout > 0: Keras's implementation 1, four input and four recurrent masks
    batch, timesteps, input_dim, units, rate = 3, 5, 4, 6, 0.5
    theirs, ours = _keras_and_ours(
        keras, rng, units, input_dim, dropout=dropout, recurrent_dropout=rate,
        go_backwards=go_backwards, return_sequences=True,
    )
    assert theirs.cell.implementation == 1
    x = rng.normal(size=(batch, timesteps, input_dim)).astype("float32")
    rec_masks = dropout_mask(rng, (4, batch, units), rate, "float32")
    theirs.cell._recurrent_dropout_mask = list(rec_masks)
    draws = [rec_masks]
    if dropout:
        in_masks = dropout_mask(rng, (4, batch, input_dim), dropout, "float32")
        theirs.cell._dropout_mask = list(in_masks)
        draws.insert(0, in_masks)
    expected = np.asarray(theirs(x, training=True))
    got, _ = ours.forward(x, training=True, rng=MaskRng(*draws))
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)


def test_lstm_dropout_is_identity_at_inference_like_keras(keras, rng):
    theirs, ours = _keras_and_ours(keras, rng, 4, 3, dropout=0.5, recurrent_dropout=0.5)
    x = rng.normal(size=(2, 7, 3)).astype("float32")
    np.testing.assert_allclose(ours(x), np.asarray(theirs(x)), rtol=1e-5, atol=1e-6)


def test_lstm_masks_are_new_for_every_batch_but_fixed_by_seed():
    x = np.ones((8, 5, 6), dtype="float32")
    layer = LSTM(3, dropout=0.5, seed=3)
    _, first = layer.forward(x, training=True)
    _, second = layer.forward(x, training=True)
    assert first.input_mask.shape == (8, 6)  # one mask per sample and feature, all timesteps
    assert not np.array_equal(first.input_mask, second.input_mask)
    again = LSTM(3, dropout=0.5, seed=3)
    again.set_weights(layer.get_weights())
    _, replay = again.forward(x, training=True)
    np.testing.assert_array_equal(first.input_mask, replay.input_mask)


# -- gradients through the masks (float64 central differences) -----------------------------
@pytest.mark.parametrize(
    ("dropout", "recurrent_dropout", "go_backwards"),
    [(0.4, 0.0, False), (0.4, 0.0, True), (0.0, 0.4, False), (0.3, 0.4, True)],
)
def test_lstm_dropout_backward_matches_central_differences(
    rng, dropout, recurrent_dropout, go_backwards
):
    batch, timesteps, input_dim, units = 2, 4, 3, 3
    layer = LSTM(
        units, dropout=dropout, recurrent_dropout=recurrent_dropout, go_backwards=go_backwards,
        return_sequences=True, dtype="float64", backend="reference",
    )
    layer.build((None, timesteps, input_dim))
    layer.set_weights([rng.normal(0, 0.5, size=w.shape) for w in layer.get_weights()])
    x = rng.normal(size=(batch, timesteps, input_dim))
    projection = rng.normal(size=(batch, timesteps, units))

    def loss():  # the same masks every call: a fresh generator with one seed
        y, _ = layer.forward(x, training=True, rng=np.random.default_rng(5))
        return float(np.sum(y * projection))

    _, cache = layer.forward(x, training=True, rng=np.random.default_rng(5))
    dx, grads = layer.backward(projection, cache)
    np.testing.assert_allclose(dx, central_difference(loss, x), rtol=1e-5, atol=1e-8)
    for grad, weight in zip(grads, layer.weights, strict=True):
        np.testing.assert_allclose(
            grad, central_difference(loss, weight.value), rtol=1e-5, atol=1e-8
        )
