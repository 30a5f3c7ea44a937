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


# -- Dropout(noise_shape) ----------------------------------------------------------------
def _constant_along(y, axis) -> bool:
    return bool((y == y.take([0], axis=axis)).all())


@pytest.mark.parametrize(("noise_shape", "mask_shape", "shared"), [
    ((None, 1, None), (6, 1, 5), (1,)),  # one mask per sequence, the same at every step
    ((6, 7, 1), (6, 7, 1), (2,)),  # one draw per (sample, step), shared by the features
    ((1, None, None), (1, 7, 5), (0,)),
    ((None, 1, 1), (6, 1, 1), (1, 2)),
    ((None, None, None), (6, 7, 5), ()),
])
def test_dropout_noise_shape_draws_the_mask_in_it_and_broadcasts(noise_shape, mask_shape,
                                                                 shared):
    x = np.random.default_rng(0).normal(size=(6, 7, 5)).astype("float32") + 5.0  # no zeros
    layer = Dropout(0.5, noise_shape=noise_shape, seed=3)
    y, cache = layer.forward(x, training=True)
    assert cache.mask.shape == mask_shape
    np.testing.assert_array_equal(y, x * np.broadcast_to(cache.mask, x.shape))
    kept = y / x  # 0 or 1 / (1 - 0.5), constant along the shared axes
    np.testing.assert_allclose(np.unique(kept), [0.0, 2.0], rtol=1e-6)
    for axis in shared:
        assert _constant_along(kept, axis), axis
    for axis in set(range(3)) - set(shared):
        assert not _constant_along(kept, axis), axis  # the other axes get their own draws
    again = Dropout(0.5, noise_shape=noise_shape, seed=3)(x, training=True)
    np.testing.assert_array_equal(again, y)  # the seed fixes the mask


def test_keras_noise_shape_shares_the_same_axes(keras):
    x = np.full((6, 7, 5), 2.0, dtype="float32")
    y = np.asarray(keras.layers.Dropout(0.5, noise_shape=(None, 1, None), seed=1)(
        x, training=True))
    assert _constant_along(y, 1) and not _constant_along(y, 0) and not _constant_along(y, 2)
    np.testing.assert_allclose(np.unique(y), [0.0, 4.0])  # as ours: x / (1 - rate) or 0


def test_dropout_noise_shape_backward_matches_central_differences():
    x = np.random.default_rng(1).normal(size=(3, 4, 2))  # float64
    dy = np.random.default_rng(2).normal(size=(3, 4, 2))
    layer = Dropout(0.4, noise_shape=(None, 1, None), dtype="float64")

    def forward():  # the same mask at every call: a freshly seeded generator
        return layer.forward(x, training=True, rng=np.random.default_rng(5))

    y, cache = forward()
    assert cache.mask.shape == (3, 1, 2) and (cache.mask == 0).any()
    dx, grads = layer.backward(dy, cache)
    assert grads == []
    expected = central_difference(lambda: float(np.sum(forward()[0] * dy)), x)
    np.testing.assert_allclose(dx, expected, rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize("noise_shape", [(None, 1, None), [2, 1], (None, None)])
def test_dropout_noise_shape_config_matches_keras(keras, noise_shape):
    ours = Dropout(0.3, noise_shape=noise_shape, seed=4, name="d").get_config()
    assert ours == keras.layers.Dropout(0.3, noise_shape=noise_shape, seed=4,
                                        name="d").get_config()
    assert ours["noise_shape"] == tuple(noise_shape)  # Keras keeps a tuple
    # from a file (JSON: a list) back to the same layer
    again = Dropout.from_config({**ours, "noise_shape": list(noise_shape)})
    assert again.get_config() == ours


def test_dropout_noise_shape_in_keras_files_both_ways(keras, tmp_path):
    import warnings

    import npylstm

    ours = npylstm.Sequential([npylstm.Input((4, 3)), Dropout(0.5, noise_shape=(None, 1, None)),
                               npylstm.layers.Dense(2)])
    ours.save(tmp_path / "ours.keras")
    theirs = keras.saving.load_model(tmp_path / "ours.keras", compile=False)
    assert theirs.layers[0].noise_shape == (None, 1, None)
    with warnings.catch_warnings():  # Keras's saver calls Variable.__array__ (NumPy 2 warns)
        warnings.filterwarnings("ignore", message="__array__ implementation doesn't accept")
        theirs.save(tmp_path / "theirs.keras")
    back = npylstm.load_model(tmp_path / "theirs.keras", compile=False)
    assert back.layers[0].noise_shape == (None, 1, None)


@pytest.mark.parametrize(("noise_shape", "message"), [
    ("1, 2", r"expected noise_shape to be a tuple or list of positive ints and Nones, "
             r"received '1, 2'"),
    (3, r"expected noise_shape to be a tuple or list"),
    ((None, 0), r"expected noise_shape entries to be positive ints or None, received 0 at "
                r"index 1"),
    ((None, -2), r"received -2 at index 1"),
    ((None, 1.0), r"received 1.0 at index 1"),
    ((None, True), r"received True at index 1"),
])
def test_dropout_bad_noise_shape(noise_shape, message):
    with pytest.raises(ValueError, match=r"Dropout 'drop': .*" + message):
        Dropout(0.5, noise_shape=noise_shape, name="drop")


def test_dropout_noise_shape_must_fit_the_input():
    x = np.ones((2, 3, 4), dtype="float32")
    with pytest.raises(ValueError, match=r"Dropout 'drop': noise_shape \(None, 1\) must have "
                                         r"the input's rank 3, received an input of shape "
                                         r"\(None, 3, 4\)"):  # checked when it builds
        Dropout(0.5, noise_shape=(None, 1), name="drop")(x, training=True)
    with pytest.raises(ValueError, match=r"Dropout 'drop': noise_shape \(None, 1, 4\) must "
                                         r"have the input's rank 2, received an input of "
                                         r"shape \(None, 4\)"):
        Dropout(0.5, noise_shape=(None, 1, 4), name="drop").build((None, 4))
    with pytest.raises(ValueError, match=r"noise_shape \(None, 2, 4\) does not broadcast to "
                                         r"the input's shape \(None, 3, 4\)"):
        Dropout(0.5, noise_shape=(None, 2, 4), name="drop")(x, training=True)
    layer = Dropout(0.5, noise_shape=(None, 1, 4), name="drop")
    layer(x)  # built for (None, 3, 4)
    with pytest.raises(ValueError, match=r"noise_shape \(None, 1, 4\) does not broadcast to "
                                         r"the input's shape \(2, 3, 5\)"):
        layer.forward(np.ones((2, 3, 5), "float32"), training=True)


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
