"""``TimeDistributed`` against real Keras (JAX backend): Dense on 3-D and 4-D inputs, an
LSTM over every timestep of a 4-D input, masks (kept on the output, as Keras), float64
central differences, files Keras reads back with identical predictions, and bad inputs."""

from __future__ import annotations

import numpy as np
import pytest
from gradcheck import central_difference

import npylstm
from npylstm import registry
from npylstm.layers import LSTM, Activation, Bidirectional, Dense, Dropout, TimeDistributed

pytestmark = pytest.mark.keras

B, T, D = 3, 5, 4


def _randomize(layer, input_shape, seed):
    layer.build(input_shape)
    rng = np.random.default_rng(seed)
    layer.set_weights([rng.normal(0, 0.5, size=w.shape).astype(layer.dtype)
                       for w in layer.weights])
    return layer


CASES = {
    "dense_tanh": (lambda: TimeDistributed(Dense(3, activation="tanh")), (B, T, D)),
    "dense_nobias_4d": (lambda: TimeDistributed(Dense(2, use_bias=False)), (B, T, 2, D)),
    "lstm_over_4d": (lambda: TimeDistributed(LSTM(2, return_sequences=True)), (B, T, 3, D)),
    "activation_softmax": (lambda: TimeDistributed(Activation("softmax")), (B, T, D)),
}


@pytest.fixture(scope="module")
def pairs(keras):
    out = {}
    for i, (case, (make, shape)) in enumerate(CASES.items()):
        ours = _randomize(make(), (None, *shape[1:]), seed=i)
        theirs = keras.layers.deserialize(registry.serialize(ours))
        theirs.build((None, *shape[1:]))
        theirs.set_weights(ours.get_weights())
        x = np.random.default_rng(10 + i).normal(size=shape).astype("float32")
        out[case] = (ours, theirs, x)
    return out


@pytest.mark.parametrize("case", list(CASES))
def test_outputs_gradients_and_shapes_match_keras(case, pairs):
    import jax
    import jax.numpy as jnp

    ours, theirs, x = pairs[case]
    y, cache = ours.forward(x)
    np.testing.assert_array_equal(ours(x), y)
    dy = np.random.default_rng(1).normal(size=y.shape).astype("float32")
    dx, grads = ours.backward(dy, cache)
    trainable = [v.value for v in theirs.trainable_variables]
    frozen = [v.value for v in theirs.non_trainable_variables]

    def objective(weights, inputs):
        out, _ = theirs.stateless_call(weights, frozen, inputs)
        return jnp.sum(out * dy), out

    (_, their_y), (their_grads, their_dx) = jax.jit(
        jax.value_and_grad(objective, argnums=(0, 1), has_aux=True))(trainable, jnp.asarray(x))
    np.testing.assert_allclose(y, np.asarray(their_y), atol=2e-6, rtol=0)
    np.testing.assert_allclose(dx, np.asarray(their_dx), atol=2e-5, rtol=0)
    assert len(grads) == len(their_grads)
    for g, ref in zip(grads, their_grads, strict=True):
        np.testing.assert_allclose(g, np.asarray(ref), atol=5e-5, rtol=0)
    shape = (None, *x.shape[1:])
    assert ours.compute_output_shape(shape) == tuple(theirs.compute_output_shape(shape))
    assert ours.count_params() == theirs.count_params()


def test_mask_is_kept_on_the_output_as_keras(pairs, keras):
    ours, theirs, x = pairs["dense_tanh"]
    mask = np.ones((B, T), dtype=bool)
    mask[0, :2] = mask[1, 3:] = False
    mask[2] = False
    expected = np.asarray(theirs.compute_mask(x, keras.ops.convert_to_tensor(mask)))
    np.testing.assert_array_equal(ours.compute_mask(x, mask), expected)
    # a (batch, timesteps) mask changes nothing for a Dense (Keras passes it none)
    np.testing.assert_array_equal(ours(x, mask=mask), ours(x))
    np.testing.assert_allclose(ours(x, mask=mask), np.asarray(theirs(x, mask=mask)), atol=2e-6)


def test_a_folded_mask_reaches_a_wrapped_recurrent_layer(pairs):
    """A ``(B, T, T2)`` mask is folded like the input for an LSTM over each timestep."""
    ours, _, x = pairs["lstm_over_4d"]
    mask = np.ones(x.shape[:3], dtype=bool)
    mask[0, 1, 2:] = False
    y = ours(x, mask=mask)
    inner = ours.layer(x[0], mask=mask[0])  # the LSTM on sample 0's timesteps
    np.testing.assert_array_equal(y[0], inner)
    np.testing.assert_array_equal(y[0, 1, 2], y[0, 1, 1])  # a masked step repeats the last
    assert not np.array_equal(y[1, 1, 2], y[1, 1, 1])


def test_dropout_inside_folds_and_unfolds_the_same_draws():
    x = np.random.default_rng(2).normal(size=(B, T, D)).astype("float32")
    wrapped, plain = TimeDistributed(Dropout(0.5)), Dropout(0.5)
    y, cache = wrapped.forward(x, training=True, rng=np.random.default_rng(0))
    ref, ref_cache = plain.forward(x, training=True, rng=np.random.default_rng(0))
    np.testing.assert_array_equal(y, ref)
    dy = np.ones_like(x)
    np.testing.assert_array_equal(wrapped.backward(dy, cache)[0], plain.backward(dy, ref_cache)[0])


@pytest.mark.parametrize("make, shape", [
    (lambda: TimeDistributed(Dense(2, activation="tanh", dtype="float64")), (2, 3, 4)),
    (lambda: TimeDistributed(LSTM(2, return_sequences=True), dtype="float64"), (2, 2, 3, 2)),
])
def test_gradients_match_central_differences(make, shape):
    layer = _randomize(make(), (None, *shape[1:]), seed=3)
    assert layer.dtype == np.float64 and layer.layer.dtype == np.float64
    rng = np.random.default_rng(4)
    x = rng.normal(size=shape)
    y, cache = layer.forward(x)
    p = rng.normal(size=y.shape)
    dx, grads = layer.backward(p, cache)

    def loss():
        return float(np.sum(layer.forward(x)[0] * p))

    for name, array, analytic in [("x", x, dx)] + [
        (w.name, w.value, g) for w, g in zip(layer.weights, grads, strict=True)
    ]:
        np.testing.assert_allclose(analytic, central_difference(loss, array), rtol=1e-5,
                                   atol=1e-7, err_msg=name)


# -- files and configs ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def model():
    td = _randomize(TimeDistributed(Dense(3, activation="relu")), (None, T, D), seed=5)
    bi = _randomize(Bidirectional(LSTM(2, return_sequences=True)), (None, T, 3), seed=6)
    out = _randomize(TimeDistributed(Dense(1)), (None, T, 4), seed=7)
    return npylstm.Sequential([npylstm.Input((T, D)), td, bi, out])


def test_files_round_trip_and_keras_reads_ours(model, tmp_path, keras):
    import warnings

    x = np.random.default_rng(8).normal(size=(B, T, D)).astype("float32")
    expected = model.predict(x, verbose=0)
    for name in ("m.keras", "m.h5"):
        model.save(tmp_path / name)
        np.testing.assert_array_equal(npylstm.load_model(tmp_path / name).predict(x, verbose=0),
                                      expected, err_msg=name)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Keras notes a legacy, uncompiled file
            theirs = keras.saving.load_model(tmp_path / name)
        np.testing.assert_allclose(np.asarray(theirs.predict(x, verbose=0)), expected,
                                   atol=2e-6, err_msg=name)
    for name in ("w.weights.h5", "w.h5"):
        model.save_weights(tmp_path / name)
        fresh = npylstm.Sequential.from_config(model.get_config())
        fresh.load_weights(tmp_path / name)
        np.testing.assert_array_equal(fresh.predict(x, verbose=0), expected, err_msg=name)
    import h5py

    with h5py.File(tmp_path / "w.weights.h5") as h5:
        assert h5["layers/time_distributed/layer/vars"].attrs["name"] == model.layers[0].layer.name
        assert h5["layers/time_distributed/layer/vars/0"].shape == (D, 3)
        assert h5["layers/time_distributed_1/layer/vars/1"].shape == (1,)


def test_config_is_keras(keras):
    ours = TimeDistributed(Dense(3, name="d"), name="td")
    theirs = keras.layers.TimeDistributed(keras.layers.Dense(3, name="d"), name="td")
    assert ours.get_config() == theirs.get_config()
    assert list(ours.get_config()) == list(theirs.get_config())
    assert TimeDistributed.from_config(ours.get_config()).get_config() == ours.get_config()


# -- bad inputs ----------------------------------------------------------------------------------
def test_bad_inputs_name_the_layer():
    with pytest.raises(ValueError, match=r"TimeDistributed 'td': expected a registered layer "
                                         r"to wrap, received dict"):
        TimeDistributed({"class_name": "Dense"}, name="td")
    layer = TimeDistributed(Dense(2), name="td")
    with pytest.raises(ValueError, match=r"TimeDistributed 'td': expected an input with at "
                                         r"least 3 axes \(batch, timesteps, \.\.\.\), received "
                                         r"shape \(4, 3\)"):
        layer(np.zeros((4, 3)))
    with pytest.raises(ValueError, match=r"TimeDistributed 'td': expected an input shape with "
                                         r"at least 3 axes"):
        layer.build((None, 3))
    with pytest.raises(ValueError, match=r"TimeDistributed 'td': expected a mask of shape "
                                         r"\(batch, timesteps, \.\.\.\) = \(2, 3\), received "
                                         r"\(2, 4\)"):
        layer(np.zeros((2, 3, 4)), mask=np.ones((2, 4), bool))
    with pytest.raises(ValueError, match=r"TimeDistributed 'td': the config has no 'layer'"):
        TimeDistributed.from_config({"name": "td"})
    with pytest.raises(registry.UnknownClassError,
                       match=r"TimeDistributed 'td' layer: unknown layer class 'Lambda'"):
        TimeDistributed.from_config({"name": "td", "layer": {"class_name": "Lambda",
                                                             "config": {}}})
    with pytest.raises(ValueError, match=r"TimeDistributed 'td': its variables depend on the "
                                         r"wrapped layer"):
        TimeDistributed.variable_tree({"name": "td"})


def test_a_wrapped_bidirectional_nests_its_trees_and_keras_reads_it(tmp_path, keras):
    """TimeDistributed(Bidirectional(LSTM)) over (B, T, T2, D): the variables live at
    ``layers/time_distributed/layer/forward_layer/cell/vars`` and Keras reads the file."""
    import h5py

    layer = _randomize(TimeDistributed(Bidirectional(LSTM(2), merge_mode="sum")),
                       (None, 4, 5, 3), seed=9)
    model = npylstm.Sequential([npylstm.Input((4, 5, 3)), layer])
    x = np.random.default_rng(9).normal(size=(2, 4, 5, 3)).astype("float32")
    expected = model.predict(x, verbose=0)
    model.save(tmp_path / "m.keras")
    theirs = keras.saving.load_model(tmp_path / "m.keras")
    np.testing.assert_allclose(np.asarray(theirs.predict(x, verbose=0)), expected, atol=2e-6)
    model.save_weights(tmp_path / "w.weights.h5")
    with h5py.File(tmp_path / "w.weights.h5") as h5:
        inner = h5["layers/time_distributed/layer"]
        assert inner["forward_layer/cell/vars/0"].shape == (3, 8)
        assert inner["backward_layer/cell/vars"].attrs["name"] == "lstm_cell"
