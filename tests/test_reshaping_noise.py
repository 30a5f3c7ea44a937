"""Reshaping layers (Flatten, Reshape, Permute, RepeatVector, ZeroPadding1D, Cropping1D,
UpSampling1D) and noise layers (SpatialDropout1D, GaussianNoise, GaussianDropout) beyond
the conformance rows: masks as Keras passes or drops them, output shapes with unknown
dimensions, drawn options against Keras, the noise's statistics (against theory and
against Keras's own draws), bad arguments, and whole models against Keras (an
encoder-decoder forecaster, and LSTM -> Flatten / Reshape / Permute -> Dense).
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import npylstm
from npylstm import Input, Sequential
from npylstm.layers import (
    LSTM,
    Cropping1D,
    Dense,
    Flatten,
    GaussianDropout,
    GaussianNoise,
    Masking,
    Permute,
    RepeatVector,
    Reshape,
    SpatialDropout1D,
    TimeDistributed,
    UpSampling1D,
    ZeroPadding1D,
)

RESHAPING = [Flatten(), Reshape((-1,)), Permute((1,)), RepeatVector(2), ZeroPadding1D(),
             Cropping1D(), UpSampling1D()]
NOISE = [SpatialDropout1D(0.3), GaussianNoise(0.2), GaussianDropout(0.3)]
HYPOTHESIS = {"max_examples": 10, "deadline": None, "derandomize": True}


def _keras_layer(keras, layer):
    return keras.layers.deserialize(npylstm.registry.serialize(layer))


# -- masks: what Keras 3 passes on and what it drops ----------------------------------------
@pytest.mark.parametrize("layer", RESHAPING + NOISE, ids=lambda lay: type(lay).__name__)
def test_supports_masking_is_keras(keras, layer):
    # Keras 3: none of the reshaping layers defines compute_mask / supports_masking (each
    # ends a mask, with a warning); the three noise layers set supports_masking = True.
    assert layer.SUPPORTS_MASKING is _keras_layer(keras, layer).supports_masking
    mask = np.array([[True, False, True]])
    x = np.ones((1, 3, 2), dtype="float32")
    expected = mask if layer.SUPPORTS_MASKING else None
    assert layer.compute_mask(x, mask) is expected


@pytest.fixture(scope="module")
def masked_models(keras):
    """Masking -> {SpatialDropout1D, GaussianNoise, GaussianDropout, ZeroPadding1D} ->
    LSTM(return_sequences) -> Dense, built once in both libraries."""
    rng = np.random.default_rng(3)
    models = {}
    for middle in [SpatialDropout1D(0.3), GaussianNoise(0.2), GaussianDropout(0.4),
                   ZeroPadding1D((1, 2))]:
        ours = Sequential([Input((5, 3)), Masking(0.0), middle,
                           LSTM(4, return_sequences=True), Dense(2)])
        with warnings.catch_warnings():  # Keras warns that a layer destroys the mask
            warnings.simplefilter("ignore")
            theirs = keras.Sequential([keras.Input((5, 3)), keras.layers.Masking(0.0),
                                       _keras_layer(keras, middle),
                                       keras.layers.LSTM(4, return_sequences=True),
                                       keras.layers.Dense(2)])
        weights = [rng.normal(0, 0.5, size=w.shape).astype("float32")
                   for w in ours.get_weights()]
        ours.set_weights(weights)
        theirs.set_weights(weights)
        models[type(middle).__name__] = (ours, theirs)
    return models


@pytest.mark.parametrize("middle", ["SpatialDropout1D", "GaussianNoise", "GaussianDropout",
                                    "ZeroPadding1D"])
def test_masked_sequence_through_the_layer_matches_keras(masked_models, middle, rng):
    # Padded steps (all zeros): a noise layer passes the mask to the LSTM (which then
    # carries its state over them, output = last real output); a padding layer ends it
    # (the LSTM reads every step). Either way the outputs are Keras's.
    ours, theirs = masked_models[middle]
    x = rng.normal(size=(4, 5, 3)).astype("float32")
    x[0, 3:] = 0.0
    x[1, :2] = 0.0
    x[2, 1] = 0.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = np.asarray(theirs.predict(x, verbose=0))
    got = ours.predict(x, verbose=0)
    np.testing.assert_allclose(got, expected, atol=1e-5)
    if middle != "ZeroPadding1D":  # masked: state carried
        np.testing.assert_array_equal(got[0, 3], got[0, 2])
    else:
        assert np.abs(got[0, 3] - got[0, 2]).max() > 1e-4


def test_keras2_configs():
    # tf_keras's ZeroPadding1D has no data_format (Keras 3 added it): dropped when writing
    # for tf_keras, refused for channels_first; tf_keras's SpatialDropout1D writes
    # Dropout's noise_shape and trainable, read as Keras 3's layer.
    layer = ZeroPadding1D((1, 2), name="z")
    assert "data_format" not in ZeroPadding1D.to_keras2_config(layer.get_config())
    first = ZeroPadding1D(1, "channels_first", name="z").get_config()
    with pytest.raises(ValueError, match=r"ZeroPadding1D 'z': data_format='channels_first' "
                                         r"cannot be written for tf_keras"):
        ZeroPadding1D.to_keras2_config(first)
    tf_keras = {"name": "z", "trainable": True, "dtype": "float32", "padding": [1, 2]}
    assert ZeroPadding1D.from_config(tf_keras).get_config() == layer.get_config()
    tf_keras = {"name": "s", "trainable": True, "dtype": "float32", "rate": 0.3,
                "noise_shape": None, "seed": None}
    again = SpatialDropout1D.from_config(SpatialDropout1D.from_keras2_config(tf_keras, "f"))
    assert again.get_config() == {"rate": 0.3, "seed": None, "name": "s", "dtype": "float32"}
    assert SpatialDropout1D.to_keras2_config(again.get_config())["noise_shape"] is None


# -- output shapes with unknown dimensions ----------------------------------------------------
SYMBOLIC = [
    (Flatten(), (None, None, 3)), (Flatten(), (None, 4, 3)), (Flatten(), (None,)),
    (Flatten("channels_first"), (None, 3, None)),
    (Reshape((-1, 2)), (None, None, 4)), (Reshape((2, 6)), (None, 3, 4)),
    (Reshape((-1, 3)), (None, 2, 6)),
    (Permute((2, 1)), (None, None, 3)), (RepeatVector(4), (None, 3)),
    (ZeroPadding1D((1, 2)), (None, None, 3)), (ZeroPadding1D(2, "channels_first"), (None, 3, 5)),
    (Cropping1D((1, 2)), (None, None, 3)), (Cropping1D(1), (None, 4, 3)),
    (UpSampling1D(3), (None, None, 2)), (UpSampling1D(3), (None, 4, 2)),
]


@pytest.mark.parametrize("layer, shape", SYMBOLIC,
                         ids=[f"{type(lay).__name__}-{s}" for lay, s in SYMBOLIC])
def test_output_shape_with_unknown_dimensions_is_keras(keras, layer, shape):
    spec = _keras_layer(keras, layer).compute_output_spec(keras.KerasTensor(shape))
    assert layer.compute_output_shape(shape) == tuple(spec.shape)


def test_unknown_steps_run_on_any_length():
    model = Sequential([Input((None, 4)), Reshape((-1, 2)), UpSampling1D(2), Cropping1D(1)])
    assert model.output_shape == (None, None, 2)
    x = np.arange(2 * 3 * 4, dtype="float32").reshape(2, 3, 4)
    y = model.predict(x, verbose=0)
    np.testing.assert_array_equal(y, np.repeat(x.reshape(2, 6, 2), 2, axis=1)[:, 1:-1])


# -- drawn options against Keras; backward = the adjoint of the (linear) forward -------------
def _drawn_layer(draw):
    kind = draw(st.sampled_from(["ZeroPadding1D", "Cropping1D", "UpSampling1D", "Permute",
                                 "Reshape", "Flatten", "RepeatVector"]))
    steps, features = draw(st.integers(1, 5)), draw(st.integers(1, 4))
    if kind == "ZeroPadding1D":
        padding = draw(st.one_of(st.integers(0, 3), st.tuples(st.integers(0, 3),
                                                               st.integers(0, 3))))
        fmt = draw(st.sampled_from(["channels_last", "channels_first"]))
        return ZeroPadding1D(padding, fmt), (2, steps, features)
    if kind == "Cropping1D":
        start = draw(st.integers(0, steps + 1))
        end = draw(st.integers(0, steps + 1 - start))
        return Cropping1D((start, end)), (2, steps + 2, features)
    if kind == "UpSampling1D":
        return UpSampling1D(draw(st.integers(1, 4))), (2, steps, features)
    if kind == "Permute":
        dims = draw(st.permutations([1, 2, 3]))
        return Permute(dims), (2, steps, features, 2)
    if kind == "Reshape":
        target = [steps * features, 1] if draw(st.booleans()) else [features, steps]
        target[draw(st.integers(0, 1))] = -1 if draw(st.booleans()) else target[0]
        if target.count(-1) == 0:
            target = [features, steps]
        return Reshape(tuple(target)), (2, steps, features)
    if kind == "Flatten":
        return (Flatten(draw(st.sampled_from(["channels_last", "channels_first"]))),
                (2, steps, features, 2))
    return RepeatVector(draw(st.integers(1, 4))), (2, features)


@settings(**HYPOTHESIS)
@given(data=st.data())
def test_drawn_options_match_keras_and_backward_is_the_adjoint(keras, data):
    layer, shape = _drawn_layer(data.draw)
    rng = np.random.default_rng(0)
    x = rng.normal(size=shape).astype("float32")
    y, cache = layer.forward(x)
    expected = np.asarray(_keras_layer(keras, layer)(x))
    np.testing.assert_array_equal(y, expected)
    # every one of these layers is linear: <y, dy> = <x, backward(dy)> for any dy
    dy = rng.normal(size=y.shape).astype("float64")
    dx, grads = layer.backward(dy, cache)
    assert grads == [] and dx.shape == x.shape
    assert math.isclose(float(np.sum(y * dy)), float(np.sum(x * dx)), rel_tol=1e-5,
                        abs_tol=1e-5)


def test_float64_stays_float64():
    x = np.ones((2, 3, 4))
    for layer in [Flatten(dtype="float64"), Reshape((4, 3), dtype="float64"),
                  UpSampling1D(dtype="float64"), GaussianDropout(0.2, dtype="float64")]:
        y, cache = layer.forward(x, training=True)
        dx, _ = layer.backward(np.ones_like(y), cache)
        assert y.dtype == dx.dtype == np.float64


# -- the noise: identity at inference, statistics while training ------------------------------
@pytest.mark.parametrize("layer", NOISE, ids=lambda lay: type(lay).__name__)
def test_noise_layers_are_the_identity_at_inference_as_keras(keras, layer, rng):
    x = rng.normal(size=(3, 4, 5)).astype("float32")
    y, cache = layer.forward(x)
    np.testing.assert_array_equal(y, x)
    np.testing.assert_array_equal(np.asarray(_keras_layer(keras, layer)(x, training=False)), x)
    np.testing.assert_array_equal(layer.backward(x, cache)[0], x)


@pytest.mark.parametrize("layer", [SpatialDropout1D(0.0), GaussianNoise(0.0),
                                   GaussianDropout(0.0)], ids=lambda lay: type(lay).__name__)
def test_zero_rate_or_stddev_is_the_identity_while_training(layer, rng):
    x = rng.normal(size=(3, 4, 5)).astype("float32")
    np.testing.assert_array_equal(layer(x, training=True), x)


def _keras_training_draws(keras, layer, x):
    return np.asarray(_keras_layer(keras, layer)(x, training=True))


def test_gaussian_noise_statistics_match_theory_and_keras(keras):
    # 200,000 draws: the mean's standard error is stddev / 447, the std's stddev / 632.
    stddev, x = 0.3, np.full((1000, 200), 2.0, dtype="float32")
    layer = GaussianNoise(stddev, seed=1)
    ours = layer(x, training=True) - x
    theirs = _keras_training_draws(keras, GaussianNoise(stddev, seed=1), x) - x
    for noise in (ours, theirs):
        assert abs(float(noise.mean())) < 5 * stddev / math.sqrt(noise.size)
        assert abs(float(noise.std()) - stddev) < 5 * stddev / math.sqrt(2 * noise.size)
    assert abs(float(np.mean(ours > 0)) - 0.5) < 0.01  # symmetric
    assert not np.array_equal(layer(x, training=True), layer(x, training=True))  # fresh draws


def test_gaussian_dropout_statistics_match_theory_and_keras(keras):
    rate, x = 0.3, np.full((1000, 200), 3.0, dtype="float32")
    stddev = math.sqrt(rate / (1 - rate))  # 0.6547
    ours = GaussianDropout(rate, seed=2)(x, training=True) / x
    theirs = _keras_training_draws(keras, GaussianDropout(rate, seed=2), x) / x
    for factor in (ours, theirs):
        assert abs(float(factor.mean()) - 1.0) < 5 * stddev / math.sqrt(factor.size)
        assert abs(float(factor.std()) - stddev) < 5 * stddev / math.sqrt(2 * factor.size)


def test_spatial_dropout_drops_whole_channels_as_keras(keras):
    rate, x = 0.4, np.ones((500, 6, 40), dtype="float32")
    ours = SpatialDropout1D(rate, seed=3)(x, training=True)
    theirs = _keras_training_draws(keras, SpatialDropout1D(rate, seed=3), x)
    for y in (ours, theirs):
        # one draw per (sample, channel): constant along the steps, 0 or 1 / (1 - rate)
        np.testing.assert_array_equal(y, np.broadcast_to(y[:, :1], y.shape))
        np.testing.assert_allclose(np.unique(y), [0.0, 1 / (1 - rate)], rtol=1e-6)
        dropped = float(np.mean(y[:, 0] == 0))  # 20,000 draws: std 0.0035
        assert abs(dropped - rate) < 0.02
    # channels drop independently of each other and of the sample
    kept = ours[:, 0] > 0  # (500, 40)
    both = float(np.mean(kept[:, 0] & kept[:, 1]))
    assert abs(both - (1 - rate) ** 2) < 0.1


def test_noise_draws_come_from_rng_when_given_else_the_seed():
    x = np.ones((4, 3, 5), dtype="float32")
    for make in (lambda s: SpatialDropout1D(0.5, seed=s), lambda s: GaussianNoise(0.5, seed=s),
                 lambda s: GaussianDropout(0.5, seed=s)):
        a, b = make(11), make(11)
        np.testing.assert_array_equal(a(x, training=True), b(x, training=True))
        first, _ = a.forward(x, training=True, rng=np.random.default_rng(5))
        again, _ = make(99).forward(x, training=True, rng=np.random.default_rng(5))
        np.testing.assert_array_equal(first, again)  # the rng argument, not the seed


def test_noise_backward_uses_the_forward_draws():
    x = np.full((3, 4, 2), 2.0, dtype="float32")
    for layer in (SpatialDropout1D(0.5, seed=0), GaussianDropout(0.5, seed=0)):
        y, cache = layer.forward(x, training=True)
        np.testing.assert_allclose(layer.backward(np.ones_like(y), cache)[0], y / 2.0)
    y, cache = GaussianNoise(0.5, seed=0).forward(x, training=True)
    np.testing.assert_array_equal(GaussianNoise(0.5).backward(np.ones_like(y), cache)[0],
                                  np.ones_like(y))


# -- bad arguments and inputs: clear errors naming the layer ----------------------------------
@pytest.mark.parametrize("make, message", [
    (lambda: Flatten("channels_middle", name="f"),
     r"Flatten 'f': expected data_format in \('channels_last', 'channels_first'\)"),
    (lambda: Reshape((2, -1, -1), name="r"), r"Reshape 'r': expected target_shape .* at most"),
    (lambda: Reshape((2, 0), name="r"), r"Reshape 'r': expected target_shape"),
    (lambda: Reshape((2, -3), name="r"), r"Reshape 'r': expected target_shape"),
    (lambda: Reshape((2.0, 3), name="r"), r"Reshape 'r': expected target_shape"),
    (lambda: Reshape(6, name="r"), r"Reshape 'r': expected target_shape"),
    (lambda: Permute((1, 1), name="p"), r"Permute 'p': expected dims to be a permutation"),
    (lambda: Permute((0, 1), name="p"), r"Permute 'p': expected dims to be a permutation"),
    (lambda: Permute((True, 2), name="p"), r"Permute 'p': expected dims to be a permutation"),
    (lambda: Permute("21", name="p"), r"Permute 'p': expected dims to be a permutation"),
    (lambda: RepeatVector(0, name="v"), r"RepeatVector 'v': expected n to be a positive int"),
    (lambda: RepeatVector(2.0, name="v"), r"RepeatVector 'v': expected n to be a positive"),
    (lambda: RepeatVector(True, name="v"), r"RepeatVector 'v': expected n to be a positive"),
    (lambda: ZeroPadding1D(-1, name="z"), r"ZeroPadding1D 'z': expected padding to be a non"),
    (lambda: ZeroPadding1D((1, 2, 3), name="z"), r"ZeroPadding1D 'z': expected padding"),
    (lambda: ZeroPadding1D(1.5, name="z"), r"ZeroPadding1D 'z': expected padding"),
    (lambda: ZeroPadding1D(1, "nchw", name="z"), r"ZeroPadding1D 'z': expected data_format"),
    (lambda: Cropping1D((1, -1), name="c"), r"Cropping1D 'c': expected cropping to be a non"),
    (lambda: Cropping1D("1", name="c"), r"Cropping1D 'c': expected cropping"),
    (lambda: UpSampling1D(0, name="u"), r"UpSampling1D 'u': expected size to be a positive"),
    (lambda: UpSampling1D(1.0, name="u"), r"UpSampling1D 'u': expected size to be a positive"),
    (lambda: SpatialDropout1D(-0.1, name="s"), r"SpatialDropout1D 's': expected rate in \[0, 1\)"),
    (lambda: SpatialDropout1D(1.0, name="s"), r"SpatialDropout1D 's': expected rate in"),
    (lambda: SpatialDropout1D("0.1", name="s"), r"SpatialDropout1D 's': expected rate in"),
    (lambda: SpatialDropout1D(0.1, seed=1.5, name="s"), r"SpatialDropout1D 's': expected seed"),
    (lambda: GaussianNoise(-0.1, name="g"), r"GaussianNoise 'g': expected stddev in \[0, 1\]"),
    (lambda: GaussianNoise(1.5, name="g"), r"GaussianNoise 'g': expected stddev in \[0, 1\]"),
    (lambda: GaussianNoise(float("nan"), name="g"), r"GaussianNoise 'g': expected stddev"),
    (lambda: GaussianNoise(True, name="g"), r"GaussianNoise 'g': expected stddev"),
    (lambda: GaussianNoise(None, name="g"), r"GaussianNoise 'g': expected stddev"),
    (lambda: GaussianDropout(1.0, name="d"), r"GaussianDropout 'd': expected rate in \[0, 1\)"),
    (lambda: GaussianDropout(-1, name="d"), r"GaussianDropout 'd': expected rate in"),
    (lambda: GaussianDropout("x", name="d"), r"GaussianDropout 'd': expected rate in"),
    (lambda: GaussianDropout(float("nan"), name="d"), r"GaussianDropout 'd': expected rate in"),
])
def test_bad_arguments_are_refused_with_the_layer_name(make, message):
    with pytest.raises(ValueError, match=message):
        make()


@pytest.mark.parametrize("layer, shape, message", [
    (Reshape((4, -1), name="r"), (2, 3, 5), r"Reshape 'r': cannot reshape a sample of shape "
                                            r"\(3, 5\) \(15 values\) to target_shape \(4, -1\)"
                                            r": 15 is not a multiple of 4"),
    (Reshape((4, 4), name="r"), (2, 3, 5), r"Reshape 'r': cannot reshape a sample of shape "
                                           r"\(3, 5\) \(15 values\) to target_shape \(4, 4\) "
                                           r"\(16 values\)"),
    (Flatten(name="f"), (), r"Flatten 'f': expected an input with a batch axis"),
    (Permute((2, 1), name="p"), (2, 3, 4, 5), r"Permute 'p': expected a 3-D input for "
                                              r"dims=\(2, 1\), received shape \(2, 3, 4, 5\)"),
    (RepeatVector(3, name="v"), (2, 3, 4), r"RepeatVector 'v': expected a 2-D input"),
    (ZeroPadding1D(name="z"), (2, 3), r"ZeroPadding1D 'z': expected a 3-D input"),
    (Cropping1D((2, 1), name="c"), (2, 3, 4), r"Cropping1D 'c': cropping \(2, 1\) leaves no "
                                              r"step of an input of shape \(2, 3, 4\)"),
    (Cropping1D(name="c"), (2, 3), r"Cropping1D 'c': expected a 3-D input"),
    (UpSampling1D(name="u"), (2, 3, 4, 1), r"UpSampling1D 'u': expected a 3-D input"),
    (SpatialDropout1D(0.2, name="s"), (2, 3), r"SpatialDropout1D 's': expected a 3-D input"),
    (GaussianNoise(0.2, name="g"), (), r"GaussianNoise 'g': expected an input with a batch"),
])
def test_bad_inputs_are_refused_with_the_layer_name(layer, shape, message):
    with pytest.raises(ValueError, match=message):
        layer.forward(np.ones(shape, dtype="float32"), training=True)
    if shape:  # the same when a model builds it
        with pytest.raises(ValueError, match=message.split(":")[0]):
            layer.compute_output_shape((None, *shape[1:]))


def test_a_model_with_a_misfitting_reshape_fails_when_built():
    with pytest.raises(ValueError, match=r"Reshape 'r': cannot reshape a sample of shape "
                                         r"\(6, 5\)"):
        Sequential([Input((6, 3)), LSTM(5, return_sequences=True), Reshape((4, -1), name="r")])


# -- whole models against Keras ---------------------------------------------------------------
def _forecaster(lib, input_fn):
    """The tutorials' encoder-decoder forecaster: encode 6 steps, decode 3."""
    layers = lib.layers if hasattr(lib, "layers") else lib
    return [input_fn((6, 4)), layers.LSTM(5), layers.RepeatVector(3),
            layers.LSTM(4, return_sequences=True), layers.TimeDistributed(layers.Dense(2))]


def _between(lib, input_fn, kind):
    """An LSTM(return_sequences) -> {Flatten, Reshape, Permute} -> Dense stack."""
    layers = lib.layers
    middle = {"Flatten": [layers.Flatten()],
              "Reshape": [layers.Reshape((-1, 10)), layers.LSTM(3)],
              "Permute": [layers.Permute((2, 1))]}[kind]
    return [input_fn((5, 3)), layers.LSTM(4, return_sequences=True), *middle, layers.Dense(2)]


MODELS = ["forecaster", "Flatten", "Reshape", "Permute"]


@pytest.fixture(scope="module")
def model_pairs(keras):
    rng = np.random.default_rng(8)
    pairs = {}
    for kind in MODELS:
        if kind == "forecaster":
            ours = Sequential(_forecaster(npylstm, Input))
            theirs = keras.Sequential(_forecaster(keras, keras.Input))
        else:
            ours = Sequential(_between(npylstm, Input, kind))
            theirs = keras.Sequential(_between(keras, keras.Input, kind))
        weights = [rng.normal(0, 0.5, size=w.shape).astype("float32")
                   for w in ours.get_weights()]
        assert [w.shape for w in weights] == [tuple(v.shape) for v in theirs.weights]
        ours.set_weights(weights)
        theirs.set_weights(weights)
        pairs[kind] = (ours, theirs)
    return pairs


@pytest.mark.parametrize("kind", MODELS)
def test_model_predictions_and_gradients_match_keras(model_pairs, kind, rng):
    import jax
    import jax.numpy as jnp

    ours, theirs = model_pairs[kind]
    assert ours.output_shape == tuple(theirs.output_shape)
    assert ours.count_params() == theirs.count_params()
    x = rng.normal(size=(7, *ours.input_shape[1:])).astype("float32")
    y = rng.normal(size=(7, *ours.output_shape[1:])).astype("float32")
    trainable = [v.value for v in theirs.trainable_variables]
    frozen = [v.value for v in theirs.non_trainable_variables]

    def objective(tv):  # Keras's "mse" on equal shapes: the mean over every entry
        out, _ = theirs.stateless_call(tv, frozen, x, training=False)
        return jnp.mean(jnp.square(out - y)), out

    (expected_loss, expected_out), expected_grads = jax.jit(
        jax.value_and_grad(objective, has_aux=True))(trainable)
    np.testing.assert_allclose(ours.predict(x, verbose=0), np.asarray(expected_out), atol=1e-5)
    got_loss, got_grads = ours.loss_and_gradients(x, y, loss="mse")
    np.testing.assert_allclose(got_loss, float(expected_loss), rtol=1e-5)
    assert len(got_grads) == len(expected_grads)
    for got, expected in zip(got_grads, expected_grads, strict=True):
        expected = np.asarray(expected)
        assert got.shape == expected.shape
        scale = float(np.max(np.abs(expected)))
        assert np.max(np.abs(got - expected)) <= 1e-5 * scale


def test_keras_reads_our_forecaster_file(model_pairs, keras, rng, tmp_path):
    ours, _ = model_pairs["forecaster"]
    x = rng.normal(size=(3, 6, 4)).astype("float32")
    ours.save(tmp_path / "forecaster.keras")
    loaded = keras.saving.load_model(tmp_path / "forecaster.keras")
    assert [type(lay).__name__ for lay in loaded.layers] == [
        "LSTM", "RepeatVector", "LSTM", "TimeDistributed"]
    np.testing.assert_allclose(np.asarray(loaded.predict(x, verbose=0)),
                               ours.predict(x, verbose=0), atol=1e-5)


def test_forecaster_trains_with_noise_layers_in_it(rng):
    # GaussianNoise on the inputs and SpatialDropout1D on the decoder's sequence: training
    # draws noise, the loss still falls, and inference is deterministic.
    npylstm.set_random_seed(0)
    model = Sequential([Input((6, 4)), GaussianNoise(0.1), LSTM(5), RepeatVector(3),
                        LSTM(4, return_sequences=True), SpatialDropout1D(0.2),
                        TimeDistributed(Dense(2))])
    model.compile(npylstm.optimizers.Adam(learning_rate=0.02), loss="mse")
    x = rng.normal(size=(32, 6, 4)).astype("float32")
    y = np.repeat(x[:, -1:, :2], 3, axis=1)  # forecast: the last step's first two features
    history = model.fit(x, y, epochs=15, batch_size=8, verbose=0)
    assert history.history["loss"][-1] < 0.7 * history.history["loss"][0]
    np.testing.assert_array_equal(model.predict(x, verbose=0), model.predict(x, verbose=0))
