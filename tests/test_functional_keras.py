"""Functional models against real Keras (JAX backend): the seq2seq encoder-decoder (its
training model and the inference encoder / decoder sharing its layers), a two-input
two-output model with per-output losses, loss_weights and metrics, a nested model; their
files both ways; and the graph's bad inputs.

Every expected number comes from the Keras twin built with the same weights.
"""

from __future__ import annotations

import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import npylstm

pytestmark = pytest.mark.keras


def _seq2seq(lib, units=4, enc_features=3, dec_features=2):
    """The official Keras seq2seq example's graphs (keras.io, lstm_seq2seq), small."""
    L = lib.layers
    encoder_inputs = lib.Input((None, enc_features), name="encoder_inputs")
    encoder = L.LSTM(units, return_state=True, name="encoder")
    _, state_h, state_c = encoder(encoder_inputs)
    decoder_inputs = lib.Input((None, dec_features), name="decoder_inputs")
    decoder_lstm = L.LSTM(units, return_sequences=True, return_state=True, name="decoder")
    decoder_outputs, _, _ = decoder_lstm(decoder_inputs, initial_state=[state_h, state_c])
    decoder_dense = L.Dense(dec_features, activation="softmax", name="decoder_dense")
    training = lib.Model([encoder_inputs, decoder_inputs], decoder_dense(decoder_outputs))
    # inference models sharing the trained layers
    encoder_model = lib.Model(encoder_inputs, [state_h, state_c])
    h_in = lib.Input((units,), name="h_in")
    c_in = lib.Input((units,), name="c_in")
    out, h, c = decoder_lstm(decoder_inputs, initial_state=[h_in, c_in])
    decoder_model = lib.Model([decoder_inputs, h_in, c_in], [decoder_dense(out), h, c])
    return training, encoder_model, decoder_model


@pytest.fixture(scope="module")
def seq2seq(keras):
    ours = _seq2seq(npylstm)
    theirs = _seq2seq(keras)
    theirs[0].set_weights(ours[0].get_weights())
    rng = np.random.default_rng(3)
    data = (rng.normal(size=(12, 5, 3)).astype("float32"),
            rng.normal(size=(12, 4, 2)).astype("float32"))
    targets = np.eye(2, dtype="float32")[rng.integers(0, 2, (12, 4))]
    return ours, theirs, data, targets


def _close(ours, theirs, tol=1e-5):
    theirs = np.asarray(theirs)
    scale = max(1.0, float(np.max(np.abs(theirs))))
    np.testing.assert_allclose(ours, theirs, atol=tol * scale)


def test_seq2seq_layers_and_weights_are_in_keras_order(seq2seq):
    ours, theirs, _, _ = seq2seq
    for a, b in zip(ours, theirs, strict=True):
        assert [layer.name for layer in a.layers] == [layer.name for layer in b.layers]
        assert [w.shape for w in a.get_weights()] == [tuple(v.shape) for v in b.weights]
        assert a.count_params() == b.count_params()
        assert a.output_names == b.output_names


def test_seq2seq_training_and_inference_models_predict_as_keras(seq2seq):
    ours, theirs, (x_enc, x_dec), _ = seq2seq
    _close(ours[0].predict([x_enc, x_dec], verbose=0),
           theirs[0].predict([x_enc, x_dec], verbose=0))
    states = ours[1].predict(x_enc, verbose=0)
    for a, b in zip(states, theirs[1].predict(x_enc, verbose=0), strict=True):
        _close(a, b)
    step = x_dec[:, :1]
    for a, b in zip(ours[2].predict([step, *states], verbose=0),
                    theirs[2].predict([step, *states], verbose=0), strict=True):
        _close(a, b)


def test_seq2seq_gradients_match_keras(seq2seq):
    ours, theirs, (x_enc, x_dec), y = seq2seq
    loss, grads = ours[0].loss_and_gradients([x_enc, x_dec], y,
                                             loss="categorical_crossentropy")
    model = theirs[0]
    frozen = [v.value for v in model.non_trainable_variables]

    def objective(weights):
        out, _ = model.stateless_call(weights, frozen, [x_enc, x_dec])
        return jnp.mean(-jnp.sum(y * jnp.log(jnp.clip(out, 1e-7, 1 - 1e-7)), axis=-1))

    value, their_grads = jax.value_and_grad(objective)(
        [v.value for v in model.trainable_variables])
    assert loss == pytest.approx(float(value), rel=1e-5)
    assert len(grads) == len(their_grads)
    for g, t in zip(grads, their_grads, strict=True):
        _close(g, t)


def _two_in_two_out(lib):
    L = lib.layers
    series = lib.Input((6, 3), name="series")
    aux = lib.Input((4,), name="aux")
    h = L.LSTM(5, name="encoder")(series)
    shared = L.Dense(3, activation="tanh", name="shared")
    forecast = L.Dense(2, name="forecast")(shared(h))
    label = L.Dense(3, activation="softmax", name="label")(shared(L.Dense(5, name="aux_dense")(
        aux)))
    return lib.Model({"series": series, "aux": aux}, [forecast, label])


def test_two_inputs_two_outputs_fit_matches_keras(keras):
    ours, theirs = _two_in_two_out(npylstm), _two_in_two_out(keras)
    theirs.set_weights(ours.get_weights())
    rng = np.random.default_rng(0)
    x = {"series": rng.random((20, 6, 3)).astype("float32"),
         "aux": rng.random((20, 4)).astype("float32")}
    y = [rng.random((20, 2)).astype("float32"),
         np.eye(3, dtype="float32")[rng.integers(0, 3, 20)]]
    for model in (ours, theirs):
        model.compile(optimizer="adam", loss={"forecast": "mse",
                                              "label": "categorical_crossentropy"},
                      loss_weights=[1.0, 0.3], metrics={"forecast": ["mae"], "label": ["mse"]})
    mine = ours.fit(x, y, epochs=5, batch_size=8, shuffle=False, verbose=0).history
    kept = theirs.fit(x, y, epochs=5, batch_size=8, shuffle=False, verbose=0).history
    assert set(mine) == set(kept) == {"loss", "forecast_loss", "label_loss", "forecast_mae",
                                      "label_mse"}
    worst = max(abs(a - b) / abs(b) for k in kept for a, b in zip(mine[k], kept[k],
                                                                   strict=True))
    assert worst < 1e-4
    for a, b in zip(ours.get_weights(), theirs.weights, strict=True):
        _close(a, b.value, 1e-4)
    assert ours.evaluate(x, y, verbose=0) == pytest.approx(
        theirs.evaluate(x, y, verbose=0), rel=1e-4)


def _nested(lib):
    L = lib.layers
    inner_in = lib.Input((None, 3), name="inner_in")
    inner = lib.Model(inner_in, L.LSTM(4, return_sequences=True, name="inner_lstm")(inner_in),
                      name="inner")
    x = lib.Input((5, 3), name="x")
    h = inner(x)
    return lib.Model(x, L.Dense(1, name="head")(L.LSTM(2, name="outer_lstm")(h)),
                     name="outer")


def test_nested_model_predicts_and_differentiates_as_keras(keras, rng):
    ours, theirs = _nested(npylstm), _nested(keras)
    assert [layer.name for layer in ours.layers] == [layer.name for layer in theirs.layers]
    theirs.set_weights(ours.get_weights())
    x = rng.normal(size=(3, 5, 3)).astype("float32")
    y = rng.normal(size=(3, 1)).astype("float32")
    _close(ours.predict(x, verbose=0), theirs.predict(x, verbose=0))
    _, grads = ours.loss_and_gradients(x, y, loss="mse")
    frozen = [v.value for v in theirs.non_trainable_variables]

    def objective(weights):
        out, _ = theirs.stateless_call(weights, frozen, x)
        return jnp.mean((out - y) ** 2)

    their_grads = jax.grad(objective)([v.value for v in theirs.trainable_variables])
    for g, t in zip(grads, their_grads, strict=True):
        _close(g, t)


def test_functional_files_both_ways(seq2seq, keras, tmp_path):
    ours, _, (x_enc, x_dec), _ = seq2seq
    model = ours[0]
    expected = model.predict([x_enc, x_dec], verbose=0)
    for name in ("m.keras", "m.h5"):
        model.save(tmp_path / name)
        back = npylstm.load_model(tmp_path / name)
        np.testing.assert_array_equal(back.predict([x_enc, x_dec], verbose=0), expected)
        theirs = keras.saving.load_model(tmp_path / name, compile=False)
        _close(np.asarray(theirs.predict([x_enc, x_dec], verbose=0)), expected)
    with warnings.catch_warnings():  # Keras 3.15's saver warns under NumPy 2 (its Variable)
        warnings.filterwarnings("ignore", message="__array__ implementation doesn't accept",
                                category=DeprecationWarning)
        theirs.save(tmp_path / "theirs.keras")
    back = npylstm.load_model(tmp_path / "theirs.keras")
    np.testing.assert_array_equal(back.predict([x_enc, x_dec], verbose=0), expected)
    model.save_weights(tmp_path / "w.weights.h5")
    fresh = npylstm.models.Functional.from_config(model.get_config())
    fresh.load_weights(tmp_path / "w.weights.h5")
    np.testing.assert_array_equal(fresh.predict([x_enc, x_dec], verbose=0), expected)
    assert fresh.get_config() == model.get_config()


# -- bad input ----------------------------------------------------------------------------------
def test_a_disconnected_graph_names_the_missing_input():
    a = npylstm.Input((3,), name="a")
    b = npylstm.Input((3,), name="b")
    y = npylstm.layers.Dense(1, name="d")(npylstm.layers.Dense(3, name="e")(b))
    with pytest.raises(ValueError, match=r"graph disconnected: the output needs input 'b'"):
        npylstm.Model(a, y)


def test_inputs_and_outputs_must_be_symbolic():
    a = npylstm.Input((3,), name="a")
    with pytest.raises(TypeError, match=r"every entry of outputs must be a symbolic tensor"):
        npylstm.Model(a, np.zeros((1, 3)))


def test_predict_with_the_wrong_number_of_inputs_is_a_clear_error():
    a, b = npylstm.Input((2,), name="a"), npylstm.Input((2,), name="b")
    dense = npylstm.layers.Dense(1, name="shared")
    model = npylstm.Model([a, b], [dense(a), dense(b)])
    with pytest.raises(ValueError, match=r"expected x for 2 tensors \['a', 'b'\]"):
        model.predict(np.ones((3, 2)), verbose=0)
    with pytest.raises(ValueError, match=r"expected x for 2 tensors \['a', 'b'\], received 3"):
        model.predict([np.ones((3, 2))] * 3, verbose=0)
    with pytest.raises(ValueError, match=r"x as a dict must have the keys \['a', 'b'\]"):
        model.predict({"a": np.ones((3, 2))}, verbose=0)
    with pytest.raises(ValueError, match=r"input 'b' has shape \(3, 5\), the model expects"):
        model.predict([np.ones((3, 2)), np.ones((3, 5))], verbose=0)
    with pytest.raises(ValueError, match=r"every input needs the same number of samples"):
        model.predict([np.ones((3, 2)), np.ones((4, 2))], verbose=0)


def test_a_layer_that_cannot_take_a_tensor_names_itself_and_the_shape():
    x = npylstm.Input((3,), name="flat")
    with pytest.raises(ValueError, match=r"LSTM 'needs_time' cannot take inputs of shape "
                                         r"\(None, 3\)"):
        npylstm.layers.LSTM(2, name="needs_time")(x)


def test_duplicate_layer_names_are_refused():
    x = npylstm.Input((3,), name="x")
    y = npylstm.layers.Dense(2, name="same")(npylstm.layers.Dense(2, name="same")(x))
    with pytest.raises(ValueError, match=r"'same' is used 2 times"):
        npylstm.Model(x, y)


def test_a_shared_layer_sums_its_gradients(rng):
    """A layer called twice: its weight gradient is the sum over both calls (float64
    central differences as the reference)."""
    from gradcheck import central_difference

    a = npylstm.Input((3,), name="a", dtype="float64")
    dense = npylstm.layers.Dense(2, name="shared", dtype="float64")
    mid = npylstm.layers.Dense(3, name="mid", dtype="float64")
    heads = [npylstm.layers.Dense(2, name=f"head_{i}", dtype="float64") for i in range(2)]
    model = npylstm.Model(a, [heads[0](dense(a)), heads[1](dense(mid(a)))])
    x = rng.normal(size=(4, 3))
    ys = [rng.normal(size=(4, 2)), rng.normal(size=(4, 2))]
    model.compile(loss=["mse", "mse"])
    _, grads = model.loss_and_gradients(x, ys)

    def loss():
        return model.loss(ys, model.predict(x, verbose=0))[0]

    for weight, grad in zip(model.trainable_weights, grads, strict=True):
        np.testing.assert_allclose(grad, central_difference(loss, weight.value), rtol=1e-6,
                                   atol=1e-9)


def _attention_head(lib):
    """An attention head over a Bidirectional LSTM of padded sequences, with
    BatchNormalization, MultiHeadAttention, a Concatenate and a masked global average."""
    L = lib.layers
    x = lib.Input((6, 3), name="x")
    h = L.Bidirectional(L.LSTM(4, return_sequences=True), name="bi")(L.Masking(0.0)(x))
    h = L.BatchNormalization(name="bn")(h)
    y = L.MultiHeadAttention(2, 3, name="mha")(h, h)
    a = L.Attention(name="att")([y, h])
    pooled = L.GlobalAveragePooling1D(name="pool")(L.Concatenate(name="cat")([a, y]))
    return lib.Model(x, L.Dense(2, name="out")(pooled))


@pytest.fixture(scope="module")
def padded():
    rng = np.random.default_rng(7)
    x = rng.normal(size=(16, 6, 3)).astype("float32")
    x[0, 4:] = 0.0
    x[3, :2] = 0.0
    x[9, 1:5] = 0.0
    return x, rng.normal(size=(16, 2)).astype("float32")


def test_attention_head_over_a_bidirectional_lstm_matches_keras(keras, padded):
    ours, theirs = _attention_head(npylstm), _attention_head(keras)
    theirs.set_weights(ours.get_weights())
    x, y = padded
    _close(ours.predict(x, verbose=0), theirs.predict(x, verbose=0))
    _, grads = ours.loss_and_gradients(x, y, loss="mse")
    trainable = [v.value for v in theirs.trainable_variables]
    frozen = [v.value for v in theirs.non_trainable_variables]

    def objective(weights):
        out, _ = theirs.stateless_call(weights, frozen, x)
        return jnp.mean((out - y) ** 2)

    for g, t in zip(grads, jax.grad(objective)(trainable), strict=True):
        _close(g, t)


def test_attention_head_fit_with_batch_normalization_in_training_mode_matches_keras(
        keras, padded):
    """Five epochs of Adam: BatchNormalization normalizes with (masked) batch moments and
    updates its moving statistics in every step, as Keras's fit does."""
    ours, theirs = _attention_head(npylstm), _attention_head(keras)
    theirs.set_weights(ours.get_weights())
    x, y = padded
    for model in (ours, theirs):
        model.compile(optimizer="adam", loss="mse", metrics=["mae"])
    mine = ours.fit(x, y, epochs=5, batch_size=8, shuffle=False, verbose=0).history
    kept = theirs.fit(x, y, epochs=5, batch_size=8, shuffle=False, verbose=0).history
    worst = max(abs(a - b) / abs(b) for k in kept for a, b in zip(mine[k], kept[k],
                                                                   strict=True))
    assert worst < 1e-4
    for weight, theirs_w in zip(ours.weights, theirs.weights, strict=True):  # moving stats too
        if weight.path == "mha/key/bias":
            # softmax(q . (k + b)) does not depend on the key bias: its gradient is rounding
            # noise on both sides, which Adam turns into +-learning-rate steps
            continue
        _close(weight.value, theirs_w.value, 1e-4)


def test_keras_files_with_mask_operations_load(keras, tmp_path):
    """Keras 3 saves the masks of Embedding(mask_zero) / Masking / merge layers as
    keras.ops nodes (NotEqual, Any, ExpandDims, ZerosLike, LogicalOr, Concatenate) passed as
    mask=; npylstm runs them, keeps them out of model.layers (as Keras) and writes them back."""
    L = keras.layers
    series = keras.Input((6, 3), name="series")
    pooled = L.GlobalAveragePooling1D()(L.LSTM(5, return_sequences=True)(L.Masking()(series)))
    a, b = keras.Input((6,), dtype="int32", name="a"), keras.Input((6,), dtype="int32", name="b")
    ea, eb = L.Embedding(9, 5, mask_zero=True)(a), L.Embedding(9, 5, mask_zero=True)(b)
    joined = L.LSTM(3)(L.Concatenate()([ea, eb]))
    added = L.LSTM(3)(L.Add()([ea, eb]))
    model = keras.Model([series, a, b], [pooled, joined, added])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.save(tmp_path / "theirs.keras")
    rng = np.random.default_rng(0)
    x = [rng.normal(size=(4, 6, 3)).astype("float32"),
         rng.integers(0, 9, (4, 6)).astype("int32"), rng.integers(0, 9, (4, 6)).astype("int32")]
    x[0][1, 3:] = 0.0
    x[1][:, 4:] = 0
    x[2][0] = [1, 2, 0, 0, 0, 0]
    expected = [np.asarray(o) for o in model.predict(x, verbose=0)]
    ours = npylstm.load_model(tmp_path / "theirs.keras")
    assert [layer.name for layer in ours.layers] == [layer.name for layer in model.layers]
    for a_, b_ in zip(ours.predict(x, verbose=0), expected, strict=True):
        _close(a_, b_)
    ours.save(tmp_path / "ours.keras")
    again = keras.saving.load_model(tmp_path / "ours.keras")
    for a_, b_ in zip(again.predict(x, verbose=0), expected, strict=True):
        _close(np.asarray(a_), b_)


def test_an_unknown_keras_operation_is_refused_by_name(tmp_path):
    from npylstm.models.functional_config import functional_from_config

    x = npylstm.Input((3,), name="x")
    config = npylstm.Model(x, npylstm.layers.Dense(1, name="d")(x)).get_config()
    config["layers"].append({"module": "keras.src.ops.numpy", "class_name": "Einsum",
                             "config": {"name": "einsum"}, "name": "einsum",
                             "inbound_nodes": []})
    with pytest.raises(ValueError, match=r"unsupported keras.ops operation 'Einsum'.*"
                                         r"'NotEqual'"):
        functional_from_config(npylstm.models.Functional, config)


def test_to_keras_and_from_keras_for_functional_models(seq2seq, keras):
    ours, theirs, (x_enc, x_dec), _ = seq2seq
    expected = ours[0].predict([x_enc, x_dec], verbose=0)
    converted = ours[0].to_keras()
    assert type(converted).__name__ == "Functional"
    _close(np.asarray(converted.predict([x_enc, x_dec], verbose=0)), expected)
    back = npylstm.from_keras(theirs[0])
    assert isinstance(back, npylstm.models.Functional)
    np.testing.assert_allclose(back.predict([x_enc, x_dec], verbose=0), expected, atol=1e-6)


def test_validation_with_several_inputs_and_outputs_matches_keras(keras):
    ours, theirs = _two_in_two_out(npylstm), _two_in_two_out(keras)
    theirs.set_weights(ours.get_weights())
    rng = np.random.default_rng(5)
    x = {"series": rng.random((20, 6, 3)).astype("float32"),
         "aux": rng.random((20, 4)).astype("float32")}
    y = [rng.random((20, 2)).astype("float32"),
         np.eye(3, dtype="float32")[rng.integers(0, 3, 20)]]
    x_val = {k: v[:6] * 0.5 for k, v in x.items()}
    y_val = [v[:6] for v in y]
    for model in (ours, theirs):
        model.compile(optimizer="sgd", loss=["mse", "categorical_crossentropy"],
                      metrics=[["mae"], []])
    for kwargs in ({"validation_split": 0.25}, {"validation_data": (x_val, y_val)}):
        mine = ours.fit(x, y, epochs=2, batch_size=5, shuffle=False, verbose=0, **kwargs)
        kept = theirs.fit(x, y, epochs=2, batch_size=5, shuffle=False, verbose=0, **kwargs)
        assert {k for k in kept.history if k.startswith("val_")} == {
            "val_loss", "val_forecast_loss", "val_label_loss", "val_forecast_mae"}
        for key, values in kept.history.items():
            np.testing.assert_allclose(mine.history[key], values, rtol=1e-4, err_msg=key)


def test_nested_model_files_both_ways(keras, rng, tmp_path):
    """A model used as a layer in .keras / .weights.h5 (Keras's layout:
    layers/functional/layers/lstm/cell/vars/0) and legacy .h5 (one group for the nested
    model, read by position), both ways."""
    ours, theirs = _nested(npylstm), _nested(keras)
    theirs.set_weights(ours.get_weights())
    x = rng.normal(size=(3, 5, 3)).astype("float32")
    expected = np.asarray(theirs.predict(x, verbose=0))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs.save(tmp_path / "theirs.keras")
        theirs.save(tmp_path / "theirs.h5")
    back = npylstm.load_model(tmp_path / "theirs.keras")
    assert [layer.name for layer in back.layers] == [layer.name for layer in theirs.layers]
    _close(back.predict(x, verbose=0), expected)
    back.save(tmp_path / "ours.keras")
    _close(np.asarray(keras.saving.load_model(tmp_path / "ours.keras").predict(x, verbose=0)),
           expected)
    back.save_weights(tmp_path / "ours.weights.h5")
    theirs.set_weights([np.zeros_like(w) for w in back.get_weights()])
    theirs.load_weights(tmp_path / "ours.weights.h5")
    _close(np.asarray(theirs.predict(x, verbose=0)), expected)
    from_h5 = npylstm.load_model(tmp_path / "theirs.h5")  # Keras's legacy file
    _close(from_h5.predict(x, verbose=0), expected)
    from_h5.save(tmp_path / "ours.h5")
    np.testing.assert_array_equal(npylstm.load_model(tmp_path / "ours.h5").predict(x, verbose=0),
                                  from_h5.predict(x, verbose=0))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs_again = keras.saving.load_model(tmp_path / "ours.h5")
    _close(np.asarray(theirs_again.predict(x, verbose=0)), expected)
