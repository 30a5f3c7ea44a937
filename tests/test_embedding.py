"""Embedding: ids and their errors, masks against Keras's ``compute_mask``, a masked
Embedding -> LSTM model against Keras (outputs and gradients), Keras 2 configs.

The layer's config, files, float64 central differences and Keras's outputs and gradients
on its own are the conformance rows (``tests/conformance/cases_embedding_activation.py``).
"""

from __future__ import annotations

import json
import warnings

import h5py
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import npylstm
from npylstm import registry
from npylstm.layers import LSTM, Embedding

IDS = np.array([[3, 1, 4, 1, 5], [9, 2, 6, 0, 0]])


def _layer(**kwargs):
    layer = Embedding(10, 3, name="emb", **kwargs)
    layer.build(None)
    layer.set_weights([np.arange(30, dtype=np.float32).reshape(10, 3)])
    return layer


def test_lookup_and_repeated_ids_accumulate_by_hand():
    layer = _layer()
    y, cache = layer.forward(np.array([[1, 1, 2]]))
    np.testing.assert_array_equal(y, [[[3, 4, 5], [3, 4, 5], [6, 7, 8]]])
    assert y.dtype == np.float32
    dx, (dembeddings,) = layer.backward(np.ones((1, 3, 3)), cache)
    assert dx is None
    expected = np.zeros((10, 3))
    expected[1], expected[2] = 2, 1  # id 1 twice
    np.testing.assert_array_equal(dembeddings, expected)


@pytest.mark.parametrize("dtype", ["int8", "int16", "int32", "int64", "uint8", "uint16",
                                   "uint32", "uint64", "float16", "float32", "float64"])
def test_every_integer_dtype_and_whole_floats_give_the_same_output(dtype):
    layer = _layer()
    np.testing.assert_array_equal(layer(IDS.astype(dtype)), layer(IDS))


def test_bool_ids_are_zero_and_one():
    layer = _layer()
    np.testing.assert_array_equal(layer(np.array([[True, False]])), layer(np.array([[1, 0]])))


def test_any_rank_of_ids_and_float64():
    layer = Embedding(10, 4, dtype="float64")
    ids = np.random.default_rng(0).integers(0, 10, size=(2, 3, 5))
    y = layer(ids)
    assert y.shape == (2, 3, 5, 4) and y.dtype == np.float64
    assert layer.compute_output_shape((None, 3, None)) == (None, 3, None, 4)
    assert Embedding(10, 4)(np.array([1, 2])).shape == (2, 4)  # (batch,) ids


@pytest.mark.parametrize(("ids", "message"), [
    (np.array([[1, 10]]), r"id 10 is outside \[0, 10\) \(input_dim=10\)"),
    (np.array([[-1, 2]]), r"id -1 is outside \[0, 10\)"),
    (np.array([[2**40]], dtype=np.int64), r"id 1099511627776 is outside \[0, 10\)"),
    (np.array([[1.0, 10.0]]), r"id 10.0 is outside \[0, 10\)"),
    (np.array([[1.0, 2.5]]), r"expected integer ids in \[0, 10\), received 2.5 \(floats "
                             r"must hold whole numbers\)"),
    (np.array([[np.nan, 1.0]]), r"expected integer ids in \[0, 10\), received nan"),
    (np.array([[np.inf]], dtype=np.float32), r"expected integer ids .*received inf"),
    (np.array([["a", "b"]]), r"expected integer ids, received dtype <U1"),
    ("abc", r"expected ids with a batch axis|expected integer ids"),
    (np.int32(3), r"expected ids with a batch axis, received shape \(\)"),
    (np.array([[1 + 2j]]), r"expected integer ids, received dtype complex128"),
])
def test_bad_ids_name_the_layer_the_value_and_the_range(ids, message):
    with pytest.raises(ValueError, match=r"Embedding 'emb': " + message):
        _layer()(ids)


def test_bad_arguments_are_refused():
    for key, value in [("input_dim", 0), ("input_dim", 2.0), ("output_dim", True),
                       ("output_dim", -3)]:
        kwargs = {"input_dim": 5, "output_dim": 2, key: value}
        with pytest.raises(ValueError, match=rf"Embedding 'e': expected {key} to be a positive "
                                             rf"integer, received {value!r}"):
            Embedding(name="e", **kwargs)
    with pytest.raises(ValueError, match=r"Embedding 'e': embeddings_constraint: Unknown "
                                         r"constraint 'nonnegative'"):
        Embedding(5, 2, embeddings_constraint="nonnegative", name="e")
    with pytest.raises(ValueError, match=r"Embedding 'e': expected mask_zero to be a bool"):
        Embedding(5, 2, mask_zero="yes", name="e")
    with pytest.raises(ValueError, match=r"Embedding 'e': config key 'lora_rank' = 4 is not "
                                         r"supported"):
        registry.deserialize({"class_name": "Embedding", "config": {
            "name": "e", "input_dim": 5, "output_dim": 2, "lora_rank": 4, "lora_alpha": 4}})
    with pytest.raises(ValueError, match=r"config key 'quantization_config'"):
        registry.deserialize({"class_name": "Embedding", "config": {
            "name": "e", "input_dim": 5, "output_dim": 2, "quantization_config": {"a": 1}}})


def test_weights_argument_and_param_rule():
    matrix = np.ones((4, 2), dtype=np.float32)
    for weights in (matrix, [matrix]):
        layer = Embedding(4, 2, weights=weights)
        np.testing.assert_array_equal(layer.get_weights()[0], matrix)
    assert layer.param_rule() == ("input_dim × output_dim", "4 × 2 = 8")
    with pytest.raises(ValueError, match=r"'embeddings' expected shape \(4, 2\)"):
        Embedding(4, 2, weights=np.ones((3, 2)))


def test_mask_zero_matches_keras_compute_mask(keras):
    ours = _layer(mask_zero=True)
    theirs = keras.layers.Embedding(10, 3, mask_zero=True)
    for ids in (IDS, IDS.reshape(1, 2, 5), np.zeros((2, 3), dtype=np.int32)):
        expected = np.asarray(theirs.compute_mask(ids.astype(np.int32)))
        np.testing.assert_array_equal(ours.compute_mask(ids, None), expected)
    assert _layer().compute_mask(IDS, np.ones((2, 5), bool)) is None  # Keras: None as well
    assert theirs.compute_mask(IDS, None) is not None


ID_DTYPES = ["int8", "uint8", "int16", "uint16", "int32", "int64", "uint64", "float32"]


@settings(max_examples=10, deadline=None, derandomize=True)
@given(input_dim=st.integers(1, 20), output_dim=st.integers(1, 6), mask_zero=st.booleans(),
       shape=st.lists(st.integers(1, 4), min_size=1, max_size=3),
       dtype=st.sampled_from(ID_DTYPES), seed=st.integers(0, 99))
def test_drawn_embeddings_are_one_hot_products(input_dim, output_dim, mask_zero, shape,
                                               dtype, seed):
    # the lookup is one_hot(ids) @ embeddings; its gradient one_hot(ids)^T @ dy
    rng = np.random.default_rng(seed)
    layer = Embedding(input_dim, output_dim, mask_zero=mask_zero, dtype="float64")
    layer.build(None)
    layer.set_weights([rng.normal(size=(input_dim, output_dim))])
    ids = rng.integers(0, input_dim, size=shape)
    one_hot = np.eye(input_dim)[ids]  # (*shape, V)
    y, cache = layer.forward(ids.astype(dtype))
    np.testing.assert_allclose(y, one_hot @ layer.get_weights()[0], rtol=1e-14)
    dy = rng.normal(size=y.shape)
    _, (dembeddings,) = layer.backward(dy, cache)
    np.testing.assert_allclose(
        dembeddings, one_hot.reshape(-1, input_dim).T @ dy.reshape(-1, output_dim),
        rtol=1e-12, atol=1e-12)
    mask = layer.compute_mask(ids, None)
    assert mask is None if not mask_zero else (mask == (one_hot[..., 0] == 0)).all()


# -- a masked Embedding -> LSTM model --------------------------------------------------------
PADDED = np.array([[5, 12, 7, 0, 0, 0], [3, 0, 9, 41, 2, 0], [1, 2, 3, 4, 5, 6]],
                  dtype=np.int32)  # trailing padding, a zero inside a row, no padding


@pytest.fixture(scope="module")
def masked_models():
    import keras

    ours = npylstm.Sequential([npylstm.Input((None,), dtype="int32"),
                               Embedding(50, 8, mask_zero=True), LSTM(4)])
    rng = np.random.default_rng(3)
    ours.set_weights([rng.normal(0, 0.5, size=w.shape).astype(np.float32)
                      for w in ours.get_weights()])
    theirs = keras.Sequential([keras.Input((None,), dtype="int32"),
                               keras.layers.Embedding(50, 8, mask_zero=True),
                               keras.layers.LSTM(4)])
    theirs.set_weights(ours.get_weights())
    return ours, theirs


def test_masked_embedding_lstm_predicts_as_keras(masked_models):
    ours, theirs = masked_models
    y = ours.predict(PADDED, verbose=0)
    expected = np.asarray(theirs.predict(PADDED, verbose=0))
    np.testing.assert_allclose(y, expected, atol=1e-6)
    # the mask matters: the first row is the LSTM's output after its three real steps
    np.testing.assert_allclose(y[0], ours.predict(PADDED[:1, :3], verbose=0)[0], atol=1e-6)
    assert np.abs(y[0] - ours.layers[1](ours.layers[0](PADDED[:1]))[0]).max() > 1e-4


def test_keras_file_of_the_masked_model_loads_and_predicts(masked_models, tmp_path):
    ours, theirs = masked_models
    with warnings.catch_warnings():  # Keras 3.15's saver warns under NumPy 2 (its Variable)
        warnings.filterwarnings("ignore", message="__array__ implementation doesn't accept",
                                category=DeprecationWarning)
        theirs.save(tmp_path / "theirs.keras")
    loaded = npylstm.load_model(tmp_path / "theirs.keras")
    assert loaded.layers[0].mask_zero and loaded.layers[0].INPUT_DTYPE == "int32"
    np.testing.assert_array_equal(loaded.predict(PADDED, verbose=0),
                                  ours.predict(PADDED, verbose=0))


def test_masked_embedding_lstm_gradients_match_jax(masked_models):
    import jax
    import jax.numpy as jnp

    ours, theirs = masked_models
    target = np.random.default_rng(4).normal(size=(3, 4)).astype(np.float32)
    _, grads = ours.loss_and_gradients(PADDED, target, loss="mse")

    frozen = [v.value for v in theirs.non_trainable_variables]  # the LSTM's seed state

    def loss(weights):
        out, _ = theirs.stateless_call(weights, frozen, jnp.asarray(PADDED))
        return jnp.mean((out - target) ** 2)

    their_grads = jax.grad(loss)([v.value for v in theirs.trainable_variables])
    assert len(grads) == len(their_grads) == 4
    for g, tg in zip(grads, their_grads, strict=True):
        np.testing.assert_allclose(g, np.asarray(tg), atol=1e-6)
    assert not grads[0][0].any()  # the padding id gets no gradient: every step it is masked


def test_float_input_layer_feeds_whole_number_ids(masked_models):
    ours, _ = masked_models
    floats = npylstm.Sequential([npylstm.Input((None,)), Embedding(50, 8, mask_zero=True),
                                 LSTM(4)])
    floats.set_weights(ours.get_weights())
    np.testing.assert_array_equal(floats.predict(PADDED.astype(np.float32), verbose=0),
                                  ours.predict(PADDED, verbose=0))
    with pytest.raises(ValueError, match=r"Embedding '.*': id 50.0 is outside \[0, 50\)"):
        floats.predict(np.array([[1.0, 50.0]], dtype=np.float32), verbose=0)


def test_a_sequential_without_input_feeds_int_ids():
    model = npylstm.Sequential([Embedding(10, 3), LSTM(2)])
    assert model.predict(IDS, verbose=0).shape == (2, 2)


def _keras2_config(keras3: dict) -> dict:
    """The config tf_keras 2.15 writes for the same Sequential: no InputLayer of int dtype
    but a float32 one, ``batch_input_shape``, ``input_length``, string dtypes."""
    layers = keras3["config"]["layers"]
    embedding = dict(layers[1]["config"])
    embedding.pop("quantization_config")
    embedding.update(dtype="float32", batch_input_shape=[None, 6], input_length=6)
    embedding["embeddings_initializer"] = {
        "class_name": "RandomUniform", "config": {"minval": -0.05, "maxval": 0.05,
                                                   "seed": None}}
    lstm = dict(layers[2]["config"], dtype="float32", time_major=False, implementation=2)
    return {"class_name": "Sequential", "config": {"name": "sequential", "layers": [
        {"class_name": "InputLayer", "config": {"batch_input_shape": [None, 6],
                                                "dtype": "float32", "sparse": False,
                                                "ragged": False, "name": "embedding_input"}},
        {"class_name": "Embedding", "config": embedding},
        {"class_name": "LSTM", "config": lstm}]}}


def test_keras2_config_with_input_length_loads(masked_models, tmp_path):
    ours, _ = masked_models
    path = tmp_path / "keras2.h5"
    ours.save(path)
    with h5py.File(path, "r+") as f:
        config = _keras2_config(json.loads(f.attrs["model_config"]))
        f.attrs["model_config"] = json.dumps(config)
        f.attrs["keras_version"] = "2.15.0"
        f["model_weights"].attrs["keras_version"] = "2.15.0"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loaded = npylstm.load_model(path)
    embedding = loaded.layers[0]
    assert isinstance(embedding, Embedding) and embedding.mask_zero
    assert "input_length" not in embedding.get_config()
    np.testing.assert_array_equal(loaded.predict(PADDED, verbose=0),
                                  ours.predict(PADDED, verbose=0))
    keras2 = type(embedding).to_keras2_config(embedding.get_config())
    assert keras2["input_length"] is None and "quantization_config" not in keras2


def test_embeddings_regularizer_penalty_matches_keras(keras):
    ours = Embedding(6, 3, embeddings_regularizer="l2")
    ours.build(None)
    ours.set_weights([np.random.default_rng(2).normal(size=(6, 3)).astype(np.float32)])
    theirs = keras.layers.Embedding(6, 3, embeddings_regularizer="l2")
    theirs.build()
    theirs.set_weights(ours.get_weights())
    expected = float(sum(np.asarray(loss) for loss in theirs.losses))
    np.testing.assert_allclose(ours.regularization_loss(), expected, rtol=1e-6)
    (grad,) = ours.regularization_grads()
    np.testing.assert_allclose(grad, 2 * 0.01 * ours.get_weights()[0], rtol=1e-6)


def test_masked_stack_of_activation_layers_predicts_as_keras(keras):
    # the mask flows from the Embedding through every activation layer (all pass it on)
    from npylstm.layers import ELU, Activation, Dense, LeakyReLU, PReLU, ReLU

    def stack(ns):
        return [ns.Input((6,), dtype="int32"), ns.layers.Embedding(50, 5, mask_zero=True),
                ns.layers.LSTM(4, return_sequences=True), ns.layers.PReLU(shared_axes=[1]),
                ns.layers.Dense(3), ns.layers.ReLU(max_value=2.0, negative_slope=0.1),
                ns.layers.LeakyReLU(), ns.layers.ELU(alpha=0.5), ns.layers.Activation("gelu"),
                ns.layers.LSTM(2)]

    assert {ELU, Activation, Dense, LeakyReLU, PReLU, ReLU} <= {type(la) for la in
                                                                stack(npylstm)[1:]}
    ours = npylstm.Sequential(stack(npylstm))
    rng = np.random.default_rng(11)
    ours.set_weights([rng.normal(0, 0.7, size=w.shape).astype(np.float32)
                      for w in ours.get_weights()])
    theirs = keras.Sequential(stack(keras))
    theirs.set_weights(ours.get_weights())
    np.testing.assert_allclose(ours.predict(PADDED, verbose=0),
                               np.asarray(theirs.predict(PADDED, verbose=0)), atol=2e-6)


def test_default_initializer_and_keras_short_initializer_names(keras):
    from npylstm import initializers

    layer = Embedding(40, 5)
    layer.build(None)
    (embeddings,) = layer.get_weights()
    assert embeddings.dtype == np.float32 and np.abs(embeddings).max() <= 0.05
    assert embeddings.std() > 0.01  # drawn, not constant
    for name in ("uniform", "normal", "one", "zero"):
        assert type(initializers.get(name)).__name__ == type(keras.initializers.get(name)
                                                             ).__name__
