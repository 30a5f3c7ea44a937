"""Sequential vs real Keras: parameter counts, output shapes, summary totals, predictions,
whole-model gradients with regularizers (vs jax.grad through the Keras model), configs."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

import npylstm
from npylstm import Input, Sequential, regularizers
from npylstm.layers import LSTM, Dense, Dropout

KERAS_SETTINGS = {
    "deadline": None,
    "suppress_health_check": [HealthCheck.too_slow],
    "phases": [Phase.explicit, Phase.reuse, Phase.generate],  # Keras builds: no shrinking
}


def keras_weights(obj) -> list[np.ndarray]:
    """A Keras model's weights (``get_weights()`` warns under NumPy 2)."""
    return [np.asarray(v.value) for v in obj.weights]


def _summary_text(model) -> str:
    lines = []
    model.summary(print_fn=lines.append)
    return "\n".join(lines)


# -- random stacks: counts, shapes, summary ------------------------------------------------
stacks = st.fixed_dictionaries(
    {
        "timesteps": st.integers(1, 12),
        "features": st.integers(1, 5),
        "lstm_units": st.lists(st.integers(1, 64), min_size=1, max_size=3),
        "last_returns_sequences": st.booleans(),
        "dropout_between": st.booleans(),
        "use_bias": st.booleans(),
        "dense_units": st.lists(st.integers(1, 16), min_size=0, max_size=2),
    }
)


def _layers(lib, dropout_cls, spec):
    # constant initializers: counts and shapes do not depend on them, and Keras's random
    # initializers compile a JAX program for every new shape (seconds per model)
    zeros = {"kernel_initializer": "zeros"}
    layers = []
    n = len(spec["lstm_units"])
    for k, units in enumerate(spec["lstm_units"]):
        rs = k < n - 1 or spec["last_returns_sequences"]
        layers.append(lib.LSTM(units, return_sequences=rs, use_bias=spec["use_bias"],
                               recurrent_initializer="zeros", **zeros))
        if spec["dropout_between"]:
            layers.append(dropout_cls(0.2))
    for units in spec["dense_units"]:
        layers.append(lib.Dense(units, **zeros))
    return layers


@settings(max_examples=15, **KERAS_SETTINGS)
@given(spec=stacks)
def test_counts_shapes_and_summary_totals_match_keras(keras, spec):
    # Keras's own build and shape rules, layer by layer (what keras.Sequential does when it
    # builds, without its symbolic trace, which costs seconds per model)
    input_shape = (None, spec["timesteps"], spec["features"])
    ours = Sequential([Input(input_shape[1:]), *_layers(npylstm.layers, Dropout, spec)])
    theirs = _layers(keras.layers, keras.layers.Dropout, spec)
    assert len(ours.layers) == len(theirs)
    our_shape = their_shape = input_shape
    keras_total = 0
    for our_layer, their_layer in zip(ours.layers, theirs, strict=True):
        their_layer.build(their_shape)
        their_shape = tuple(their_layer.compute_output_shape(their_shape))
        our_shape = tuple(our_layer.compute_output_shape(our_shape))
        assert our_shape == their_shape
        assert our_layer.count_params() == their_layer.count_params()
        assert [w.shape for w in our_layer.weights] == [tuple(v.shape)
                                                         for v in their_layer.weights]
        keras_total += their_layer.count_params()
    assert ours.count_params() == keras_total
    assert ours.output_shape == their_shape
    assert f"Total params: {keras_total:,}" in _summary_text(ours)


def test_seed_models_summary_tables(keras):
    # seed 000: four LSTM(50) on 60 steps of 1 feature with Dropout(0.2), Dense(1): 71,051
    # (4*50*(1+50+1) + 3 * 4*50*(50+50+1) + 51 = 10,400 + 3 * 20,200 + 51)
    seed000 = Sequential()
    seed000.add(LSTM(units=50, return_sequences=True, input_shape=(60, 1)))
    seed000.add(Dropout(0.2))
    for rs in (True, True, False):
        seed000.add(LSTM(units=50, return_sequences=rs))
        seed000.add(Dropout(0.2))
    seed000.add(Dense(units=1))
    text = _summary_text(seed000)
    assert "Total params: 71,051 (277.54 KB)" in text  # 71,051 * 4 bytes / 1024
    assert "(None, 60, 50)" in text and "(None, 50)" in text and "(None, 1)" in text
    # seed 004: LSTM(20, rs) + LSTM(20) + Dense(5) on 50 steps: 1,760 + 3,280 + 105 = 5,145
    seed004 = Sequential([LSTM(20, return_sequences=True, input_shape=(50, 1)), LSTM(20),
                          Dense(5)])
    text = _summary_text(seed004)
    assert "Total params: 5,145 (20.10 KB)" in text
    lines = []
    seed004.summary(print_fn=lines.append, show_param_formulas=True)
    assert "4 × 20 × (1 + 20 + 1) = 1,760" in lines[0]
    assert "4 × 20 × (20 + 20 + 1) = 3,280" in lines[0]
    assert "20 × 5 + 5 = 105" in lines[0]
    theirs = keras.Sequential([keras.Input((50, 1)), keras.layers.LSTM(20, return_sequences=True),
                               keras.layers.LSTM(20), keras.layers.Dense(5)])
    assert seed004.count_params() == theirs.count_params() == 5145


# -- predictions and gradients --------------------------------------------------------------
def _stacked(lib, input_fn, regularized: bool, timesteps=7, features=3, **lstm_kwargs):
    """LSTM(6, rs) -> LSTM(5) -> Dense(2), in Keras (lib=keras.layers) or npylstm, with
    every kind of regularizer when ``regularized``."""
    if lib is npylstm.layers:
        r = regularizers
    else:
        import keras

        r = keras.regularizers
    regs = [
        {"kernel_regularizer": r.L2(0.01), "recurrent_regularizer": r.L1(0.005)},
        {"bias_regularizer": r.L1L2(0.01, 0.02), "activity_regularizer": r.L2(0.03)},
        {"kernel_regularizer": r.L1L2(0.002, 0.004), "activity_regularizer": r.L1(0.01)},
    ] if regularized else [{}, {}, {}]
    return [
        input_fn((timesteps, features)),
        lib.LSTM(6, return_sequences=True, **lstm_kwargs, **regs[0]),
        lib.LSTM(5, **lstm_kwargs, **regs[1]),
        lib.Dense(2, **regs[2]),
    ]


def _random_weights(keras_model, rng):
    return [rng.normal(0, 0.4, size=tuple(v.shape)).astype("float32")
            for v in keras_model.weights]


def test_predict_matches_keras_with_dropout_layers_present(keras, rng):
    kwargs = {"dropout": 0.3, "recurrent_dropout": 0.2}
    theirs = keras.Sequential(_stacked(keras.layers, keras.Input, False, **kwargs))
    ours = Sequential(_stacked(npylstm.layers, Input, False, **kwargs))
    weights = _random_weights(theirs, rng)
    theirs.set_weights(weights)
    ours.set_weights(weights)
    x = rng.normal(size=(37, 7, 3)).astype("float32")
    expected = theirs.predict(x, batch_size=16, verbose=0)
    got = ours.predict(x, batch_size=16, verbose=0)
    assert got.shape == (37, 2) and got.dtype == np.float32
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("loss", ["mse", "mae"])
def test_whole_model_gradients_with_regularizers_match_jax_grad(keras, rng, loss):
    import jax

    theirs = keras.Sequential(_stacked(keras.layers, keras.Input, True))
    ours = Sequential(_stacked(npylstm.layers, Input, True))
    weights = _random_weights(theirs, rng)
    theirs.set_weights(weights)
    ours.set_weights(weights)
    theirs.compile(loss=loss)
    x = rng.normal(size=(9, 7, 3)).astype("float32")
    y = rng.normal(size=(9, 2)).astype("float32")

    trainable = [v.value for v in theirs.trainable_variables]
    non_trainable = [v.value for v in theirs.non_trainable_variables]
    metrics_vars = [v.value for v in theirs.metrics_variables]

    def objective(tv):
        value, _ = theirs.compute_loss_and_updates(
            tv, non_trainable, metrics_vars, x, y, None, training=False
        )
        return value

    expected_loss, expected_grads = jax.value_and_grad(objective)(trainable)
    got_loss, got_grads = ours.loss_and_gradients(x, y, loss=loss)
    np.testing.assert_allclose(got_loss, float(expected_loss), rtol=1e-5)
    assert len(got_grads) == len(expected_grads)
    for got, expected in zip(got_grads, expected_grads, strict=True):
        expected = np.asarray(expected)
        assert got.shape == expected.shape
        scale = np.max(np.abs(expected))
        assert np.max(np.abs(got - expected)) <= 1e-5 * scale, (
            np.max(np.abs(got - expected)) / scale
        )


def test_regularization_terms_are_in_the_loss(rng):
    # With every regularizer removed the loss drops by exactly the penalties (hand check:
    # the weight penalties are sums over the weight arrays, the activity ones over outputs
    # divided by the batch size).
    ours = Sequential(_stacked(npylstm.layers, Input, True))
    ours.set_weights([rng.normal(0, 0.4, size=w.shape) for w in ours.get_weights()])
    x = rng.normal(size=(4, 7, 3)).astype("float32")
    y = rng.normal(size=(4, 2)).astype("float32")
    total, _ = ours.loss_and_gradients(x, y, loss="mse")
    lstm, lstm_1, dense = ours.layers
    h1 = lstm_1(lstm(x))
    out = dense(h1)
    penalties = (
        0.01 * np.sum(lstm.kernel.astype(np.float64) ** 2)
        + 0.005 * np.sum(np.abs(lstm.recurrent_kernel))
        + 0.01 * np.sum(np.abs(lstm_1.bias)) + 0.02 * np.sum(lstm_1.bias.astype(np.float64) ** 2)
        + 0.03 * np.sum(h1.astype(np.float64) ** 2) / 4
        + 0.002 * np.sum(np.abs(dense.kernel)) + 0.004 * np.sum(dense.kernel.astype(float) ** 2)
        + 0.01 * np.sum(np.abs(out)) / 4
    )
    data = np.mean((out - y) ** 2)
    np.testing.assert_allclose(total, data + penalties, rtol=1e-5)


# -- configs -------------------------------------------------------------------------------
def test_sequential_config_matches_keras_and_rebuilds(keras, rng):
    theirs = keras.Sequential(
        [keras.Input((7, 3), name="x"), keras.layers.LSTM(6, return_sequences=True, name="a"),
         keras.layers.Dropout(0.2, name="b"), keras.layers.LSTM(5, name="c"),
         keras.layers.Dense(2, name="d")], name="m",
    )
    ours = Sequential(
        [Input((7, 3), name="x"), LSTM(6, return_sequences=True, name="a"),
         Dropout(0.2, name="b"),
         LSTM(5, name="c"), Dense(2, name="d")], name="m",
    )
    assert ours.get_config() == theirs.get_config()
    rebuilt = Sequential.from_config(theirs.get_config())
    weights = keras_weights(theirs)
    rebuilt.set_weights(weights)
    x = rng.normal(size=(4, 7, 3)).astype("float32")
    np.testing.assert_allclose(rebuilt.predict(x, verbose=0), np.asarray(theirs(x)),
                               rtol=1e-5, atol=1e-6)
    assert [layer.name for layer in rebuilt.layers] == ["a", "b", "c", "d"]


def test_on_batch_methods_match_keras(keras, rng):
    """predict_on_batch, train_on_batch (one Adam step, regularizers, metrics reset per
    call) and test_on_batch against the same calls on a Keras model with the same weights."""
    theirs = keras.Sequential(_stacked(keras.layers, keras.Input, True))
    ours = Sequential(_stacked(npylstm.layers, Input, True))
    weights = _random_weights(theirs, rng)
    theirs.set_weights(weights)
    ours.set_weights(weights)
    for model in (theirs, ours):
        model.compile(optimizer="adam", loss="mse", metrics=["mae"])
    x = rng.normal(size=(9, 7, 3)).astype("float32")
    y = rng.normal(size=(9, 2)).astype("float32")
    np.testing.assert_allclose(ours.predict_on_batch(x), theirs.predict_on_batch(x),
                               rtol=1e-5, atol=1e-6)
    for _ in range(2):  # the second step uses Adam's moments from the first
        expected = theirs.train_on_batch(x, y)
        got = ours.train_on_batch(x, y)
        assert isinstance(got, list) and len(got) == 2
        np.testing.assert_allclose(got, expected, rtol=1e-5)
    for a, b in zip(ours.get_weights(), keras_weights(theirs), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    expected = theirs.test_on_batch(x, y, return_dict=True)
    got = ours.test_on_batch(x, y, return_dict=True)
    assert list(got) == ["loss", "mae"]
    np.testing.assert_allclose([got["loss"], got["mae"]], [expected["loss"], expected["mae"]],
                               rtol=1e-5)
