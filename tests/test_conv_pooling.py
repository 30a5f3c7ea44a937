"""Conv1D and the 1-D pooling layers beyond the conformance rows: Conv1D over its options
against real Keras (JAX) and float64 central differences (hypothesis), max-pooling ties as
JAX routes them, Keras's masks through these layers, a Conv1D -> MaxPooling1D -> LSTM ->
Dense model against Keras (predictions and whole-model gradients), and every bad input."""

from __future__ import annotations

import contextlib

import numpy as np
import pytest
from gradcheck import central_difference
from hypothesis import given, settings
from hypothesis import strategies as st

import npylstm
from npylstm import registry
from npylstm.layers import (
    AveragePooling1D,
    Conv1D,
    GlobalAveragePooling1D,
    GlobalMaxPooling1D,
    Masking,
    MaxPooling1D,
)


def _keras_twin(keras, layer, input_shape):
    theirs = keras.layers.deserialize(registry.serialize(layer))
    theirs.build(input_shape)
    theirs.set_weights(layer.get_weights())
    return theirs


def _keras_output_and_grads(theirs, x, dy):
    """Keras's output and the gradients of ``sum(output * dy)`` for the input and every
    trainable variable (JAX)."""
    import jax
    import jax.numpy as jnp

    trainable = [v.value for v in theirs.trainable_variables]

    def objective(weights, x):
        out, _ = theirs.stateless_call(weights, [], x)
        return jnp.sum(out * dy)

    out, _ = theirs.stateless_call(trainable, [], jnp.asarray(x))
    dweights, dx = jax.grad(objective, argnums=(0, 1))(trainable, jnp.asarray(x))
    return np.asarray(out), np.asarray(dx), [np.asarray(g) for g in dweights]


def _close(ours, ref, tol=1e-5):
    ref = np.asarray(ref)
    scale = max(1.0, float(np.max(np.abs(ref))))
    np.testing.assert_allclose(ours, ref, atol=tol * scale)


# -- Conv1D over its options: Keras and central differences --------------------------------
@st.composite
def _conv_options(draw):
    padding = draw(st.sampled_from(["valid", "same", "causal"]))
    kernel_size = draw(st.integers(1, 4))
    strides = draw(st.integers(1, 3))
    dilation = 1 if strides > 1 else draw(st.integers(1, 3))  # Keras refuses both > 1
    groups = draw(st.sampled_from([1, 2]))
    steps = dilation * (kernel_size - 1) + 1 + draw(st.integers(0, 4))
    data_format = draw(st.sampled_from(["channels_last", "channels_first"]))
    config = {"filters": 2 * groups, "kernel_size": kernel_size, "strides": strides,
              "padding": padding, "dilation_rate": dilation, "groups": groups,
              "data_format": data_format, "activation": draw(st.sampled_from(
                  [None, "tanh"]))}
    channels = 2 * groups
    shape = (2, steps, channels) if data_format == "channels_last" else (2, channels, steps)
    return config, shape


@settings(max_examples=10, deadline=None, derandomize=True)
@given(options=_conv_options())
def test_conv1d_matches_keras_and_central_differences(keras, options):
    config, shape = options
    rng = np.random.default_rng(7)
    layer = Conv1D(**config)
    layer.build((None, *shape[1:]))
    layer.set_weights([rng.normal(0, 0.5, w.shape).astype("float32") for w in layer.weights])
    x = rng.normal(size=shape).astype("float32")
    y, cache = layer.forward(x)
    dy = rng.normal(size=y.shape).astype("float32")
    dx, grads = layer.backward(dy, cache)
    their_y, their_dx, their_grads = _keras_output_and_grads(
        _keras_twin(keras, layer, (None, *shape[1:])), x, dy)
    assert y.shape == their_y.shape == layer.compute_output_shape(shape)
    for ours, ref in zip([y, dx, *grads], [their_y, their_dx, *their_grads], strict=True):
        _close(ours, ref)

    # float64: the analytic gradients against central differences
    wide = Conv1D(**config, dtype="float64")
    wide.build((None, *shape[1:]))
    wide.set_weights([w.astype("float64") for w in layer.get_weights()])
    x64, dy64 = x.astype("float64"), dy.astype("float64")
    _, cache = wide.forward(x64)
    dx64, grads64 = wide.backward(dy64, cache)

    def loss():
        return float(np.sum(wide.forward(x64)[0] * dy64))

    for array, analytic in [(x64, dx64)] + list(zip([w.value for w in wide.weights], grads64,
                                                     strict=True)):
        np.testing.assert_allclose(analytic, central_difference(loss, array), rtol=1e-5,
                                   atol=1e-7)


def test_conv1d_same_and_causal_by_hand():
    # kernel [1, 2, 3] (one channel, one filter), x = [1, 2, 3, 4]
    x = np.array([1.0, 2.0, 3.0, 4.0], dtype="float32").reshape(1, 4, 1)
    kernel = np.array([1.0, 2.0, 3.0], dtype="float32").reshape(3, 1, 1)
    for padding, expected in [
        ("valid", [1 + 4 + 9, 2 + 6 + 12]),
        ("same", [0 + 2 + 6, 1 + 4 + 9, 2 + 6 + 12, 3 + 8 + 0]),  # one zero each side
        ("causal", [0 + 0 + 3, 0 + 2 + 6, 1 + 4 + 9, 2 + 6 + 12]),  # two zeros left
    ]:
        layer = Conv1D(1, 3, padding=padding, use_bias=False)
        layer.build((None, 4, 1))
        layer.set_weights([kernel])
        assert layer(x)[0, :, 0].tolist() == expected, padding


@st.composite
def _pool_options(draw):
    pool_size = draw(st.integers(1, 4))
    config = {"pool_size": pool_size, "strides": draw(st.sampled_from([None, 1, 2, 3, 5])),
              "padding": draw(st.sampled_from(["valid", "same"])),
              "data_format": draw(st.sampled_from(["channels_last", "channels_first"]))}
    steps = pool_size + draw(st.integers(0, 5))
    shape = (2, steps, 3) if config["data_format"] == "channels_last" else (2, 3, steps)
    return draw(st.sampled_from([MaxPooling1D, AveragePooling1D])), config, shape


@settings(max_examples=6, deadline=None, derandomize=True)
@given(options=_pool_options())
def test_pooling_matches_keras(keras, options):
    cls, config, shape = options
    rng = np.random.default_rng(3)
    layer = cls(**config)
    x = rng.normal(size=shape).astype("float32")  # no ties
    y, cache = layer.forward(x)
    dy = rng.normal(size=y.shape).astype("float32")
    dx, _ = layer.backward(dy, cache)
    their_y, their_dx, _ = _keras_output_and_grads(
        _keras_twin(keras, layer, (None, *shape[1:])), x, dy)
    assert y.shape == their_y.shape == layer.compute_output_shape(shape)
    _close(y, their_y)
    _close(dx, their_dx)


# -- pooling ties: the gradient goes where JAX sends it --------------------------------------
@pytest.mark.parametrize("layer_fn", [
    lambda: MaxPooling1D(3, strides=1, padding="same"),
    lambda: MaxPooling1D(2),
    lambda: MaxPooling1D(3, strides=2, padding="same", data_format="channels_first"),
    GlobalMaxPooling1D,
])
def test_max_pooling_ties_match_jax(keras, layer_fn):
    # ties everywhere: reduce_window's gradient picks each window's first maximum,
    # reduce_max (global) shares it evenly among the tied steps
    x = np.array([[[1.0, 0.0], [1.0, 0.0], [1.0, 2.0], [0.0, 2.0], [2.0, 2.0], [2.0, 0.0]]],
                 dtype="float32")
    layer = layer_fn()
    y, cache = layer.forward(x)
    dy = np.arange(1, y.size + 1, dtype="float32").reshape(y.shape)
    dx, _ = layer.backward(dy, cache)
    their_y, their_dx, _ = _keras_output_and_grads(_keras_twin(keras, layer, (None, 6, 2)),
                                                   x, dy)
    np.testing.assert_array_equal(y, their_y)
    np.testing.assert_array_equal(dx, their_dx)


def test_average_pooling_same_divides_by_the_real_steps():
    # pool 4, stride 1, 5 steps: XLA pads 1 left, 2 right
    x = np.array([1.0, 2.0, 3.0, 4.0, 5.0], dtype="float32").reshape(1, 5, 1)
    y = AveragePooling1D(4, strides=1, padding="same")(x)[0, :, 0]
    np.testing.assert_allclose(y, [(1 + 2 + 3) / 3, (1 + 2 + 3 + 4) / 4, (2 + 3 + 4 + 5) / 4,
                                   (3 + 4 + 5) / 3, (4 + 5) / 2])


# -- masks, as Keras 3 passes them ----------------------------------------------------------
def _masked_data(rng):
    x = rng.normal(size=(3, 6, 4)).astype("float32")
    x[0, 4:] = 0.0  # padded steps
    x[1, :2] = 0.0
    x[2, 3] = 0.0
    return x


@pytest.mark.parametrize("name", ["GlobalAveragePooling1D", "GlobalMaxPooling1D", "conv",
                                  "max_pool", "avg_pool"])
def test_masks_through_a_model_as_keras(keras, rng, name):
    # GlobalAveragePooling1D averages the real steps; GlobalMaxPooling1D, Conv1D and the
    # pooling layers do not support masking (Keras warns and drops the mask): the
    # GlobalAveragePooling1D after them averages every step
    def layers(lib):
        return {
            "GlobalAveragePooling1D": [lib.GlobalAveragePooling1D()],
            "GlobalMaxPooling1D": [lib.GlobalMaxPooling1D()],
            "conv": [lib.Conv1D(3, 2, padding="causal"), lib.GlobalAveragePooling1D()],
            "max_pool": [lib.MaxPooling1D(2, strides=1, padding="same"),
                         lib.GlobalAveragePooling1D()],
            "avg_pool": [lib.AveragePooling1D(2, strides=1, padding="same"),
                         lib.GlobalAveragePooling1D()],
        }[name]

    def build():
        return keras.Sequential([keras.Input((6, 4)), keras.layers.Masking(0.0),
                                 *layers(keras.layers)])

    def keras_warns():  # Keras says the mask is destroyed (when building and calling)
        if name == "GlobalAveragePooling1D":
            return contextlib.nullcontext()
        return pytest.warns(UserWarning, match="does not support masking")

    with keras_warns():
        theirs = build()
    ours = npylstm.Sequential([npylstm.Input((6, 4)), Masking(0.0), *layers(npylstm.layers)])
    weights = [rng.normal(0, 0.5, tuple(v.shape)).astype("float32") for v in theirs.weights]
    theirs.set_weights(weights)
    ours.set_weights(weights)
    x = _masked_data(rng)
    with keras_warns():
        expected = np.asarray(theirs(x))
    np.testing.assert_allclose(ours.predict(x, verbose=0), expected, rtol=1e-5, atol=1e-6)
    if name == "GlobalAveragePooling1D":  # the masked mean by hand
        keep = np.any(x != 0, axis=-1, keepdims=True)
        np.testing.assert_allclose(expected, (x * keep).sum(1) / keep.sum(1), rtol=1e-6)


def test_global_pooling_ends_the_mask_and_pooling_layers_drop_it():
    x = np.ones((2, 4, 3), dtype="float32")
    mask = np.array([[True, True, False, False]] * 2)
    for layer in (GlobalAveragePooling1D(), GlobalMaxPooling1D(), MaxPooling1D(),
                  AveragePooling1D(), Conv1D(2, 2)):
        assert layer.compute_mask(x, mask) is None, layer


def test_global_average_pooling_of_a_row_without_real_steps_is_nan_as_keras(keras):
    import jax.numpy as jnp

    x = np.ones((2, 3, 2), dtype="float32")
    mask = np.array([[False, False, False], [True, False, True]])
    y, _ = GlobalAveragePooling1D().forward(x, mask=mask)
    expected = np.asarray(keras.layers.GlobalAveragePooling1D()(jnp.asarray(x),
                                                                 mask=jnp.asarray(mask)))
    np.testing.assert_array_equal(y, expected)
    assert np.isnan(y[0]).all() and (y[1] == 1).all()


@pytest.mark.parametrize("keepdims", [False, True])
def test_masked_global_average_pooling_channels_first_matches_keras(keras, rng, keepdims):
    # the mask is (batch, steps) whatever the layout (the conformance rows mask axis 1)
    import jax
    import jax.numpy as jnp

    x = rng.normal(size=(3, 4, 6)).astype("float32")  # (B, C, L)
    mask = rng.random((3, 6)) < 0.5
    mask[:, 2] = True
    layer = GlobalAveragePooling1D(data_format="channels_first", keepdims=keepdims)
    y, cache = layer.forward(x, mask=mask)
    dy = rng.normal(size=y.shape).astype("float32")
    dx, _ = layer.backward(dy, cache)
    theirs = keras.layers.GlobalAveragePooling1D(data_format="channels_first",
                                                 keepdims=keepdims)

    def objective(x):
        return jnp.sum(theirs(x, mask=jnp.asarray(mask)) * dy)

    _close(y, theirs(jnp.asarray(x), mask=jnp.asarray(mask)))
    _close(dx, jax.grad(objective)(jnp.asarray(x)))


# -- a whole model: Conv1D -> MaxPooling1D -> LSTM -> Dense ---------------------------------
def _conv_lstm(lib, input_fn):
    if lib is npylstm.layers:
        from npylstm import regularizers as r
    else:
        import keras

        r = keras.regularizers
    return [
        input_fn((12, 3)),
        lib.Conv1D(4, 3, padding="causal", dilation_rate=2, activation="tanh",
                   kernel_regularizer=r.L2(0.01), activity_regularizer=r.L2(0.02)),
        lib.MaxPooling1D(2, padding="same"),
        lib.Conv1D(4, 2, groups=2, bias_regularizer=r.L2(0.03)),
        lib.LSTM(5),
        lib.Dense(2),
    ]


def test_conv_pool_lstm_model_predicts_and_trains_as_keras(keras, rng, tmp_path):
    import warnings

    import jax

    theirs = keras.Sequential(_conv_lstm(keras.layers, keras.Input))
    ours = npylstm.Sequential(_conv_lstm(npylstm.layers, npylstm.Input))
    weights = [rng.normal(0, 0.4, size=tuple(v.shape)).astype("float32")
               for v in theirs.weights]
    theirs.set_weights(weights)
    ours.set_weights(weights)
    assert ours.count_params() == theirs.count_params()
    x = rng.normal(size=(5, 12, 3)).astype("float32")
    y = rng.normal(size=(5, 2)).astype("float32")
    expected = theirs.predict(x, verbose=0)
    np.testing.assert_allclose(ours.predict(x, verbose=0), expected, rtol=1e-5, atol=1e-6)
    with warnings.catch_warnings():  # Keras 3.15's saver warns under NumPy 2 (its Variable)
        warnings.filterwarnings("ignore", message="__array__ implementation doesn't accept",
                                category=DeprecationWarning)
        theirs.save(tmp_path / "theirs.keras")
    loaded = npylstm.load_model(tmp_path / "theirs.keras")
    np.testing.assert_allclose(loaded.predict(x, verbose=0), expected, rtol=1e-5, atol=1e-6)

    theirs.compile(loss="mse")
    trainable = [v.value for v in theirs.trainable_variables]
    non_trainable = [v.value for v in theirs.non_trainable_variables]
    metrics_vars = [v.value for v in theirs.metrics_variables]

    def objective(tv):
        value, _ = theirs.compute_loss_and_updates(tv, non_trainable, metrics_vars, x, y,
                                                   None, training=False)
        return value

    expected_loss, expected_grads = jax.value_and_grad(objective)(trainable)
    got_loss, got_grads = ours.loss_and_gradients(x, y, loss="mse")
    np.testing.assert_allclose(got_loss, float(expected_loss), rtol=1e-5)
    assert len(got_grads) == len(expected_grads)
    for got, expected in zip(got_grads, expected_grads, strict=True):
        expected = np.asarray(expected)
        assert got.shape == expected.shape
        scale = np.max(np.abs(expected))
        assert np.max(np.abs(got - expected)) <= 1e-5 * scale


# -- bad inputs ------------------------------------------------------------------------------
@pytest.mark.parametrize("kwargs, message", [
    ({"filters": 0, "kernel_size": 2}, r"expected filters to be a positive integer"),
    ({"filters": 3, "kernel_size": 2, "groups": 2},
     r"filters must be divisible by groups, received filters=3 and groups=2"),
    ({"filters": 2, "kernel_size": 2, "groups": 0}, r"expected groups to be a positive integer"),
    ({"filters": 2, "kernel_size": 0}, r"expected kernel_size to be a positive integer"),
    ({"filters": 2, "kernel_size": (2, 2)}, r"expected kernel_size .* tuple of 1"),
    ({"filters": 2, "kernel_size": 2, "strides": 2, "dilation_rate": 2},
     r"strides > 1 is not supported with dilation_rate > 1"),
    ({"filters": 2, "kernel_size": 2, "padding": "full"}, r"expected padding in"),
    ({"filters": 2, "kernel_size": 2, "data_format": "nwc"}, r"expected data_format in"),
    ({"filters": 2, "kernel_size": 2, "kernel_constraint": "nonnegative"},
     r"kernel_constraint: Unknown constraint 'nonnegative'"),
])
def test_conv1d_bad_arguments_name_the_layer(kwargs, message):
    with pytest.raises(ValueError, match=r"Conv1D 'c': " + message):
        Conv1D(**kwargs, name="c")


def test_conv1d_bad_inputs_name_the_layer():
    layer = Conv1D(4, 3, groups=2, name="c")
    with pytest.raises(ValueError, match=r"Conv1D 'c': the input's 3 channels are not "
                                         r"divisible by groups=2"):
        layer.build((None, 5, 3))
    with pytest.raises(ValueError, match=r"Conv1D 'c': expected an input shape \(batch, "
                                         r"steps, channels\)"):
        layer.build((None, 5))
    layer = Conv1D(2, 3, dilation_rate=2, name="c")
    with pytest.raises(ValueError, match=r"Conv1D 'c': the input has 4 steps, fewer than the "
                                         r"dilated kernel's 5"):
        layer(np.zeros((1, 4, 2), dtype="float32"))
    layer(np.zeros((1, 5, 2), dtype="float32"))  # builds for 2 channels
    with pytest.raises(ValueError, match=r"Conv1D 'c': input has 3 channels, the kernel "
                                         r"expects 2"):
        layer(np.zeros((1, 5, 3), dtype="float32"))
    with pytest.raises(ValueError, match=r"Conv1D 'c': expected a 3-D input"):
        layer(np.zeros((5, 2), dtype="float32"))


@pytest.mark.parametrize("cls", [MaxPooling1D, AveragePooling1D])
def test_pooling_bad_arguments_and_inputs_name_the_layer(cls):
    label = f"{cls.__name__} 'p'"
    with pytest.raises(ValueError, match=label + r": expected padding 'valid' or 'same'"):
        cls(padding="causal", name="p")
    with pytest.raises(ValueError, match=label + r": expected pool_size to be a positive"):
        cls(pool_size=0, name="p")
    with pytest.raises(ValueError, match=label + r": expected strides to be a positive"):
        cls(strides=0, name="p")
    with pytest.raises(ValueError, match=label + r": expected data_format in"):
        cls(data_format="NWC", name="p")
    layer = cls(4, name="p")
    with pytest.raises(ValueError, match=label + r": the input has 3 steps, fewer than "
                                                 r"pool_size=\(4,\)"):
        layer(np.zeros((1, 3, 2), dtype="float32"))
    with pytest.raises(ValueError, match=label + r": expected a 3-D input"):
        layer(np.zeros((1, 8), dtype="float32"))


@pytest.mark.parametrize("cls", [GlobalMaxPooling1D, GlobalAveragePooling1D])
def test_global_pooling_bad_inputs_name_the_layer(cls):
    label = f"{cls.__name__} 'g'"
    with pytest.raises(ValueError, match=label + r": expected keepdims to be a bool"):
        cls(keepdims="yes", name="g")
    with pytest.raises(ValueError, match=label + r": expected a 3-D input"):
        cls(name="g")(np.zeros((2, 3), dtype="float32"))


def test_global_average_pooling_bad_mask_names_the_layer():
    layer = GlobalAveragePooling1D(name="g")
    with pytest.raises(ValueError, match=r"GlobalAveragePooling1D 'g': expected a mask of "
                                         r"shape \(batch, steps\) = \(2, 3\), received \(2, 4\)"):
        layer.forward(np.zeros((2, 3, 1), dtype="float32"), mask=np.ones((2, 4), dtype=bool))



def test_tf_keras_style_configs_load():
    # tf_keras writes the same keys (lists from JSON, a dtype name, no lora keys)
    conv = {"name": "c", "trainable": True, "dtype": "float32", "filters": 4,
            "kernel_size": [3], "strides": [1], "padding": "causal",
            "data_format": "channels_last", "dilation_rate": [2], "groups": 2,
            "activation": "relu", "use_bias": True,
            "kernel_initializer": {"class_name": "GlorotUniform", "config": {"seed": None}},
            "bias_initializer": {"class_name": "Zeros", "config": {}},
            "kernel_regularizer": None, "bias_regularizer": None,
            "activity_regularizer": None, "kernel_constraint": None, "bias_constraint": None}
    layer = registry.deserialize({"class_name": "Conv1D", "config": conv})
    assert (layer.kernel_size, layer.dilation_rate, layer.groups) == ((3,), (2,), 2)
    pool = {"name": "p", "trainable": True, "dtype": "float32", "strides": [2],
            "pool_size": [2], "padding": "valid", "data_format": "channels_last"}
    assert registry.deserialize({"class_name": "MaxPooling1D", "config": pool}).strides == (2,)
    glob = {"name": "g", "trainable": True, "dtype": "float32", "data_format": "channels_last",
            "keepdims": False}
    assert registry.deserialize({"class_name": "GlobalAveragePooling1D",
                                 "config": glob}).keepdims is False
