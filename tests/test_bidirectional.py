"""``Bidirectional`` against real Keras (JAX backend): masks (leading, trailing, middle
padding, a fully masked row), ``initial_state`` for both directions, a custom
``backward_layer``, ``return_state``, two stacked layers, gradients through the mask
against float64 central differences, files Keras reads back, and the bad inputs.

Keras models are made once per module; npylstm layers copy their weights.
"""

from __future__ import annotations

import copy
import warnings

import numpy as np
import pytest
from gradcheck import central_difference
from hypothesis import given, settings
from hypothesis import strategies as st

import npylstm
from npylstm import registry
from npylstm.io.keras_config import keras2_hard_sigmoid_keys, normalize_model_config
from npylstm.layers import GRU, LSTM, Bidirectional, Dense, SimpleRNN

pytestmark = pytest.mark.keras

B, T, D = 4, 6, 3


def _mask() -> np.ndarray:
    """Rows: leading padding, trailing padding, a hole in the middle, every step masked."""
    mask = np.ones((B, T), dtype=bool)
    mask[0, :2] = False
    mask[1, 4:] = False
    mask[2, 2:4] = False
    mask[3, :] = False
    return mask


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(7)
    x = rng.normal(size=(B, T, D)).astype("float32")
    return x, _mask()


def _twin(keras, ours, input_shape=(None, T, D)):
    """Keras's layer from our config, with our weights."""
    theirs = keras.layers.deserialize(registry.serialize(ours))
    theirs.build(input_shape)
    theirs.set_weights(ours.get_weights())
    return theirs


def _randomize(layer, seed, input_shape=(None, T, D), scale=0.5):
    layer.build(input_shape)
    rng = np.random.default_rng(seed)
    layer.set_weights([rng.normal(0, scale, size=w.shape).astype(layer.dtype)
                       for w in layer.weights])
    return layer


def _as_list(out):
    return list(out) if isinstance(out, list | tuple) else [out]


def _close(ours, theirs, atol=2e-5):
    ours, theirs = _as_list(ours), _as_list(theirs)
    assert len(ours) == len(theirs)
    for a, b in zip(ours, theirs, strict=True):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=atol, rtol=0)


LAYERS = {
    "lstm_concat_sequences": lambda: Bidirectional(LSTM(3, return_sequences=True)),
    "lstm_sum": lambda: Bidirectional(LSTM(3), merge_mode="sum"),
    "lstm_mul_sequences": lambda: Bidirectional(LSTM(2, return_sequences=True), "mul"),
    "lstm_concat_return_state": lambda: Bidirectional(LSTM(2, return_state=True)),
    "lstm_none_sequences_return_state": lambda: Bidirectional(
        LSTM(2, return_sequences=True, return_state=True), merge_mode=None),
    "gru_return_state": lambda: Bidirectional(GRU(2, return_state=True), "sum"),
    "simple_rnn_sequences": lambda: Bidirectional(SimpleRNN(3, return_sequences=True)),
    "custom_backward_layer": lambda: Bidirectional(
        LSTM(3, return_sequences=True),
        backward_layer=GRU(2, return_sequences=True, go_backwards=True, activation="relu")),
    "forward_goes_backwards": lambda: Bidirectional(
        LSTM(2, return_sequences=True, go_backwards=True),
        backward_layer=LSTM(2, return_sequences=True)),
}


@pytest.fixture(scope="module")
def pairs(keras):
    """Each case's npylstm layer (random weights) and its Keras twin, made once."""
    out = {}
    for i, (case, make) in enumerate(LAYERS.items()):
        ours = _randomize(make(), seed=i)
        out[case] = (ours, _twin(keras, ours))
    return out


# -- outputs, masks and gradients against Keras ----------------------------------------------
@pytest.mark.parametrize("case", list(LAYERS))
def test_masked_outputs_and_gradients_match_keras(case, pairs, data):
    import jax
    import jax.numpy as jnp

    ours, theirs = pairs[case]
    x, mask = data
    outputs, cache = ours.forward(x, mask=mask)
    _close(ours(x, mask=mask), outputs, atol=0)  # the cache-free path: the same numbers
    rng = np.random.default_rng(3)
    projections = [rng.normal(size=np.shape(o)).astype("float32") for o in _as_list(outputs)]
    dy = projections if isinstance(outputs, list) else projections[0]
    dx, grads = ours.backward(dy, cache)

    trainable = [v.value for v in theirs.trainable_variables]
    frozen = [v.value for v in theirs.non_trainable_variables]  # seed-generator states
    jmask = jnp.asarray(mask)

    def objective(weights, inputs):
        out, _ = theirs.stateless_call(weights, frozen, inputs, mask=jmask)
        loss = sum(jnp.sum(o * p) for o, p in zip(_as_list(out), projections, strict=True))
        return loss, out

    # compiled once: far faster than JAX's op-by-op scan
    (_, their_out), (their_grads, their_dx) = jax.jit(
        jax.value_and_grad(objective, argnums=(0, 1), has_aux=True)
    )(trainable, jnp.asarray(x))
    _close(outputs, their_out)
    _close(dx, their_dx)
    assert len(grads) == len(their_grads) == len(ours.weights)
    for g, ref in zip(grads, their_grads, strict=True):
        np.testing.assert_allclose(g, np.asarray(ref), atol=5e-5, rtol=0)


@pytest.mark.parametrize("case", list(LAYERS))
def test_output_mask_and_shapes_match_keras(case, pairs, data, keras):
    ours, theirs = pairs[case]
    x, mask = data
    expected = theirs.compute_mask(x, keras.ops.convert_to_tensor(mask))
    got = ours.compute_mask(x, mask)
    # Keras returns only the output mask(s) for a layer without carried states; ours lists
    # a None per state too (as RNN.compute_mask in both libraries)
    got_outputs = _as_list(got)[: len(_as_list(expected))]
    for a, b in zip(got_outputs, _as_list(expected), strict=True):
        assert (a is None) == (b is None)
        if a is not None:
            np.testing.assert_array_equal(a, np.asarray(b))
    shape = (None, T, D)
    ours_shape = ours.compute_output_shape(shape)
    actual = [(None, *np.shape(o)[1:]) for o in _as_list(ours(x))]
    assert list(ours_shape if isinstance(ours_shape[0], tuple) else [ours_shape]) == actual
    if ours.forward_layer.units == ours.backward_layer.units:
        # (Keras doubles the forward layer's units for "concat", whatever the backward's)
        expected_shape = theirs.compute_output_shape(shape)
        assert ours_shape == (
            tuple(expected_shape) if isinstance(expected_shape, list) else expected_shape)
    assert ours.count_params() == theirs.count_params()
    assert ours.param_rule()[1].endswith(f" = {theirs.count_params():,}")


def test_masked_steps_of_a_returned_sequence_are_zeros(pairs, data):
    """Keras forces zero_output_for_mask = return_sequences on both inner layers."""
    ours, _ = pairs["lstm_concat_sequences"]
    x, mask = data
    y = ours(x, mask=mask)
    assert ours.forward_layer.zero_output_for_mask and ours.backward_layer.zero_output_for_mask
    np.testing.assert_array_equal(y[~mask], 0.0)
    assert np.all(np.abs(y[mask]).sum(axis=-1) > 0)


def test_initial_state_for_both_directions_matches_keras(pairs, data):
    import jax.numpy as jnp

    ours, theirs = pairs["lstm_concat_return_state"]
    x, mask = data
    rng = np.random.default_rng(11)
    states = [rng.normal(size=(B, 2)).astype("float32") for _ in range(4)]  # h, c; h, c
    outputs = ours(x, initial_state=states, mask=mask)
    their_out = theirs(jnp.asarray(x), initial_state=[jnp.asarray(s) for s in states],
                       mask=jnp.asarray(mask))
    _close(outputs, their_out)
    # the fully masked row keeps the initial states it was given, each direction its own
    for ours_state, start in zip(outputs[1:], states, strict=True):
        np.testing.assert_array_equal(ours_state[3], start[3])
    assert not np.allclose(outputs[1], ours(x, mask=mask)[1])


def test_gru_initial_state_halves_match_keras(pairs, data):
    import jax.numpy as jnp

    ours, theirs = pairs["gru_return_state"]
    x, _ = data
    states = [np.full((B, 2), 0.3, "float32"), np.full((B, 2), -0.2, "float32")]
    _close(ours(x, initial_state=states),
           theirs(jnp.asarray(x), initial_state=[jnp.asarray(s) for s in states]))


def test_backward_layer_outputs_are_reversed_before_merging(pairs, data):
    """The backward half of a returned sequence at step t is the backward layer's output
    after reading steps T-1 .. t (checked with the inner layer alone)."""
    ours, _ = pairs["lstm_concat_sequences"]
    x, _ = data
    y = ours(x)
    y_back = ours.backward_layer(x)  # (B, T, U) in processing order: step T-1 first
    np.testing.assert_array_equal(y[:, :, 3:], y_back[:, ::-1])
    np.testing.assert_array_equal(y[:, :, :3], ours.forward_layer(x))


# -- gradients: float64 central differences --------------------------------------------------
@pytest.mark.parametrize("merge_mode", ["concat", "ave", "mul", None])
def test_gradients_through_the_mask_match_central_differences(merge_mode, data):
    x32, mask = data
    x = x32[:, :4].astype("float64")
    mask = mask[:, :4]
    layer = Bidirectional(LSTM(2, return_sequences=True, return_state=True, dtype="float64"),
                          merge_mode=merge_mode)
    _randomize(layer, seed=5, input_shape=(None, 4, D))
    rng = np.random.default_rng(9)
    states = [rng.normal(size=(B, 2)) for _ in range(4)]
    outputs, cache = layer.forward(x, initial_state=states, mask=mask)
    projections = [rng.normal(size=o.shape) for o in outputs]
    dx, grads, dstates = layer.backward(projections, cache, return_state_grads=True)

    def loss():
        out, _ = layer.forward(x, initial_state=states, mask=mask)
        return sum(float(np.sum(o * p)) for o, p in zip(out, projections, strict=True))

    arrays = [("x", x, dx)] + [(f"state{i}", s, d) for i, (s, d) in
                               enumerate(zip(states, dstates, strict=True))]
    arrays += [(w.path, w.value, g) for w, g in zip(layer.weights, grads, strict=True)]
    for name, array, analytic in arrays:
        np.testing.assert_allclose(analytic, central_difference(loss, array), rtol=1e-5,
                                   atol=1e-7, err_msg=name)
    # a masked step's input gets no gradient
    np.testing.assert_array_equal(dx[~mask], 0.0)


# -- stacking ----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def stacked(keras):
    """Masking -> Bidirectional(LSTM, sequences) -> Bidirectional(GRU) -> Dense, in Keras
    (functional, so the mask flows) and the same layers in npylstm."""
    first = _randomize(Bidirectional(LSTM(3, return_sequences=True)), seed=20)
    second = _randomize(Bidirectional(GRU(2), merge_mode="sum"), seed=21,
                        input_shape=(None, T, 6))
    dense = _randomize(Dense(1), seed=22, input_shape=(None, 2))
    inputs = keras.Input((T, D))
    h = keras.layers.Masking(0.0)(inputs)
    for layer, shape in ((first, (None, T, D)), (second, (None, T, 6)), (dense, (None, 2))):
        h = _twin(keras, layer, shape)(h)
    return (first, second, dense), keras.Model(inputs, h)


def test_two_stacked_bidirectional_layers_pass_the_mask_as_keras(stacked, data):
    (first, second, dense), theirs = stacked
    x, mask = data
    x = np.where(mask[:, :, None], x, 0.0).astype("float32")  # what Masking(0.0) sees
    h1, c1 = first.forward(x, mask=mask)
    mask1 = first.compute_mask(x, mask)
    np.testing.assert_array_equal(mask1, mask)
    h2, c2 = second.forward(h1, mask=mask1)
    assert second.compute_mask(h1, mask1) is None
    y, c3 = dense.forward(h2)
    _close(y, theirs.predict(x, verbose=0))
    # backward through the stack: the mask blocks every masked step's input gradient
    dh2, _ = dense.backward(np.ones_like(y), c3)
    dh1, _ = second.backward(dh2, c2)
    dx, _ = first.backward(dh1, c1)
    np.testing.assert_array_equal(dx[~mask], 0.0)


# -- files ---------------------------------------------------------------------------------
def _model(*layers):
    return npylstm.Sequential([npylstm.Input((T, D)), *layers])


@pytest.fixture(scope="module")
def saved_model():
    first = _randomize(Bidirectional(LSTM(3, return_sequences=True), merge_mode="ave"),
                       seed=30)
    second = _randomize(
        Bidirectional(SimpleRNN(2), backward_layer=SimpleRNN(2, go_backwards=True,
                                                              activation="relu")),
        seed=31, input_shape=(None, T, 3))
    return _model(first, second, _randomize(Dense(2), seed=32, input_shape=(None, 4)))


def test_keras_reads_our_files_with_identical_predictions(saved_model, data, tmp_path, keras):
    x, _ = data
    expected = saved_model.predict(x, verbose=0)
    saved_model.save(tmp_path / "m.keras")
    theirs = keras.saving.load_model(tmp_path / "m.keras")
    np.testing.assert_allclose(np.asarray(theirs.predict(x, verbose=0)), expected, atol=2e-6)
    assert theirs.layers[1].backward_layer.activation.__name__ == "relu"  # the custom one
    saved_model.save(tmp_path / "m.h5")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Keras notes a legacy file and an uncompiled model
        legacy = keras.saving.load_model(tmp_path / "m.h5")
    np.testing.assert_allclose(np.asarray(legacy.predict(x, verbose=0)), expected, atol=2e-6)
    saved_model.save_weights(tmp_path / "w.weights.h5")
    fresh = keras.saving.load_model(tmp_path / "m.keras")
    for v in fresh.weights:
        v.assign(np.zeros(v.shape, v.dtype))
    fresh.load_weights(tmp_path / "w.weights.h5")
    np.testing.assert_allclose(np.asarray(fresh.predict(x, verbose=0)), expected, atol=2e-6)


def test_every_format_round_trips_and_we_read_keras_files(saved_model, data, tmp_path, keras):
    x, _ = data
    expected = saved_model.predict(x, verbose=0)
    for name in ("m.keras", "m.h5"):
        saved_model.save(tmp_path / name)
        back = npylstm.load_model(tmp_path / name)
        np.testing.assert_array_equal(back.predict(x, verbose=0), expected, err_msg=name)
        assert back.layers[1].backward_layer.activation == "relu"
    for name in ("w.weights.h5", "w.h5"):
        saved_model.save_weights(tmp_path / name)
        fresh = npylstm.Sequential.from_config(saved_model.get_config())
        fresh.load_weights(tmp_path / name)
        np.testing.assert_array_equal(fresh.predict(x, verbose=0), expected, err_msg=name)
    saved_model.save(tmp_path / "ours.keras")
    theirs = keras.saving.load_model(tmp_path / "ours.keras")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Keras's saver warns under NumPy 2; legacy notes
        theirs.save(tmp_path / "theirs.keras")
        theirs.save(tmp_path / "theirs.h5")
    for name in ("theirs.keras", "theirs.h5"):
        back = npylstm.load_model(tmp_path / name)
        np.testing.assert_allclose(back.predict(x, verbose=0), expected, atol=1e-6,
                                   err_msg=name)


def test_weight_paths_in_files_are_keras(saved_model, tmp_path):
    import h5py

    saved_model.save_weights(tmp_path / "w.weights.h5")
    with h5py.File(tmp_path / "w.weights.h5") as h5:
        group = h5["layers/bidirectional"]
        assert sorted(group) == ["backward_layer", "forward_layer", "vars"]
        assert group["forward_layer/vars"].attrs["name"] == saved_model.layers[0].forward_layer.name
        assert group["forward_layer/cell/vars"].attrs["name"] == "lstm_cell"
        assert group["backward_layer/cell/vars/0"].shape == (D, 12)
        assert group["forward_layer/cell/vars/2"].shape == (12,)
    saved_model.save_weights(tmp_path / "w.h5")
    fwd = saved_model.layers[0].forward_layer.name
    with h5py.File(tmp_path / "w.h5") as h5:
        name = saved_model.layers[0].name
        names = [n.decode() for n in h5[name].attrs["weight_names"]]
    assert names[0] == f"{name}/{fwd}/lstm_cell/kernel:0"
    assert names[3].startswith(f"{name}/{saved_model.layers[0].backward_layer.name}/lstm_cell/")


# -- configs ---------------------------------------------------------------------------------
def test_config_names_and_nested_layers_are_keras(keras):
    ours = Bidirectional(LSTM(3, name="enc"), merge_mode="sum", name="bi")
    theirs = keras.layers.Bidirectional(keras.layers.LSTM(3, name="enc"), merge_mode="sum",
                                        name="bi")
    assert ours.forward_layer.name == theirs.forward_layer.name == "forward_enc"
    assert ours.backward_layer.name == theirs.backward_layer.name == "backward_enc"
    expected = theirs.get_config()
    assert list(ours.get_config()) == list(expected)
    assert ours.get_config() == expected
    again = Bidirectional.from_config(ours.get_config())
    assert again.get_config() == ours.get_config()
    assert again.forward_layer.name == "forward_enc"


def test_weights_argument_sets_both_directions(data):
    source = _randomize(Bidirectional(LSTM(2)), seed=40)
    layer = Bidirectional(LSTM(2), weights=source.get_weights())
    x, _ = data
    np.testing.assert_array_equal(layer(x), source(x))


def test_stateful_layer_carries_both_directions_states(data):
    x, _ = data
    layer = _randomize(Bidirectional(LSTM(2, stateful=True, return_state=True)), seed=41)
    plain = Bidirectional(LSTM(2, return_state=True), weights=layer.get_weights())
    first = layer(x)
    assert layer.states is not None and len(layer.states) == 4
    second = layer(x)
    _close(second, plain(x, initial_state=first[1:]), atol=0)
    layer.reset_states()
    assert layer.states is None
    _close(layer(x), first, atol=0)
    with pytest.raises(AttributeError, match=r"Bidirectional 'bidirectional.*': "
                                             r"reset_states\(\) needs a stateful layer"):
        plain.reset_states()


def test_keras2_nested_config_gets_the_keras2_hard_sigmoid():
    """A tf_keras Bidirectional(LSTM(recurrent_activation="hard_sigmoid")) config: the
    nested layer keeps Keras 2's meaning, as a top-level LSTM does; tf_keras wrote no
    backward_layer, and its inner go_backwards=True means the backward layer reads forwards."""
    lstm = {"class_name": "LSTM", "config": {
        "name": "lstm", "units": 2, "recurrent_activation": "hard_sigmoid",
        "implementation": 2, "time_major": False, "go_backwards": True,
        "return_sequences": True, "dtype": "float32"}}
    model = {"class_name": "Sequential", "config": {"name": "s", "layers": [
        {"class_name": "Bidirectional", "config": {
            "name": "bidirectional", "layer": lstm, "merge_mode": "concat",
            "batch_input_shape": [None, 5, 3]}}]}}
    out = normalize_model_config(copy.deepcopy(model), "2.15.0")
    config = out["config"]["layers"][1]["config"]
    assert config["layer"]["config"]["recurrent_activation"] == "hard_sigmoid_keras2"
    assert "implementation" not in config["layer"]["config"]
    backward = config["backward_layer"]["config"]
    assert backward["go_backwards"] is False and backward["name"] == "backward_lstm"
    assert backward["recurrent_activation"] == "hard_sigmoid_keras2"
    assert keras2_hard_sigmoid_keys(out) == ["bidirectional.layer.recurrent_activation",
                                             "bidirectional.backward_layer.recurrent_activation"]
    layer = registry.deserialize(out["config"]["layers"][1])
    assert layer.forward_layer.go_backwards and not layer.backward_layer.go_backwards
    assert layer.backward_layer.recurrent_activation == "hard_sigmoid_keras2"
    # a Keras 3 file keeps "hard_sigmoid" as Keras 3's
    out3 = normalize_model_config(copy.deepcopy(model), "3.15.0")
    assert out3["config"]["layers"][1]["config"]["layer"]["config"][
        "recurrent_activation"] == "hard_sigmoid"


def test_keras2_hard_sigmoid_inside_a_wrapper_keeps_version_2_in_legacy_h5(tmp_path, data):
    x, _ = data
    inner = LSTM(2, recurrent_activation="hard_sigmoid_keras2")
    model = _model(_randomize(Bidirectional(inner), seed=50))
    expected = model.predict(x, verbose=0)
    with pytest.raises(npylstm.io.KerasFileError,
                       match=r"bidirectional\w*\.layer\.recurrent_activation', 'bidi"
                             r"rectional\w*\.backward_layer\.recurrent_activation'\] = Keras 2"):
        model.save(tmp_path / "m.keras")
    model.save(tmp_path / "m.h5")
    back = npylstm.load_model(tmp_path / "m.h5")
    assert back.layers[0].forward_layer.recurrent_activation == "hard_sigmoid_keras2"
    np.testing.assert_array_equal(back.predict(x, verbose=0), expected)


# -- bad inputs --------------------------------------------------------------------------------
def test_unknown_merge_mode_is_refused_naming_the_layer():
    with pytest.raises(ValueError, match=r"Bidirectional 'bi': unknown merge_mode 'max': "
                                         r"expected one of 'concat', 'sum', 'mul', 'ave' or None"):
        Bidirectional(LSTM(2), merge_mode="max", name="bi")


def test_a_non_recurrent_layer_is_refused():
    with pytest.raises(ValueError, match=r"Bidirectional 'bi': expected a recurrent layer "
                                         r"\(LSTM, GRU or SimpleRNN\) to wrap, received "
                                         r"Dense 'd'"):
        Bidirectional(Dense(2, name="d"), name="bi")
    with pytest.raises(ValueError, match=r"Bidirectional 'bi': expected a recurrent layer .*"
                                         r"received dict"):
        Bidirectional({"class_name": "LSTM"}, name="bi")
    with pytest.raises(ValueError, match=r"Bidirectional 'bi': expected backward_layer to be a "
                                         r"recurrent layer .* received Dense 'd'"):
        Bidirectional(LSTM(2), backward_layer=Dense(2, name="d"), name="bi")
    config = Bidirectional(LSTM(2), name="bi").get_config()
    config["layer"] = registry.serialize(Dense(2, name="d"))
    with pytest.raises(ValueError, match=r"Bidirectional 'bi': expected a recurrent layer"):
        Bidirectional.from_config(config)


def test_mismatched_directions_are_refused(keras):
    with pytest.raises(ValueError, match=r"Bidirectional 'bi': merge_mode 'sum' needs the "
                                         r"forward and backward layers to have the same units, "
                                         r"received 2 and 3"):
        Bidirectional(LSTM(2), backward_layer=LSTM(3, go_backwards=True), merge_mode="sum",
                      name="bi")
    with pytest.raises(ValueError, match=r"Bidirectional 'bi': expected the forward and "
                                         r"backward layers to have different go_backwards"):
        Bidirectional(LSTM(2, go_backwards=True), name="bi")
    with pytest.raises(ValueError):  # Keras 3 refuses it too
        keras.layers.Bidirectional(keras.layers.LSTM(2, go_backwards=True))
    with pytest.raises(ValueError, match=r"Bidirectional 'bi': expected the forward and "
                                         r"backward layers to have the same return_sequences, "
                                         r"received True for the forward layer and False"):
        Bidirectional(LSTM(2, return_sequences=True), backward_layer=LSTM(2, go_backwards=True),
                      name="bi")


def test_bad_initial_state_and_config_are_refused(data):
    x, _ = data
    layer = Bidirectional(LSTM(2), name="bi")
    with pytest.raises(ValueError, match=r"Bidirectional 'bi': expected initial_state to be a "
                                         r"list of 4 arrays \[forward_h, forward_c, backward_h, "
                                         r"backward_c\].*received 2"):
        layer(x, initial_state=[np.zeros((B, 2))] * 2)
    with pytest.raises(ValueError, match=r"LSTM 'backward_lstm.*': initial_state c expected "
                                         r"shape \(4, 2\), received \(4, 3\)"):
        layer(x, initial_state=[np.zeros((B, 2))] * 3 + [np.zeros((B, 3))])
    with pytest.raises(ValueError, match=r"Bidirectional 'bi': the config has no 'layer'"):
        Bidirectional.from_config({"name": "bi", "merge_mode": "sum"})
    config = layer.get_config()
    config["layer"] = {"class_name": "Lambda", "config": {"function": "os.system"}}
    with pytest.raises(registry.UnknownClassError,
                       match=r"Bidirectional 'bi' layer: unknown layer class 'Lambda'"):
        Bidirectional.from_config(config)
    with pytest.raises(ValueError, match=r"Bidirectional 'bi': unknown config key 'units'"):
        Bidirectional.from_config({**layer.get_config(), "units": 3})
    with pytest.raises(ValueError, match=r"Bidirectional 'bi': its variables depend on the "
                                         r"wrapped layer"):
        Bidirectional.variable_tree({"name": "bi"})
    with pytest.raises(ValueError, match=r"LSTM 'forward_lstm.*': expected a mask of shape"):
        layer(x, mask=np.ones((B, T + 1), bool))


def test_a_file_wrapping_an_unsupported_layer_is_refused_naming_it():
    model = {"class_name": "Sequential", "config": {"name": "s", "layers": [
        {"class_name": "Bidirectional", "config": {
            "name": "bi", "merge_mode": "concat",
            "layer": {"class_name": "CuDNNLSTM", "config": {"name": "c", "units": 2}}}}]}}
    with pytest.raises(npylstm.io.KerasFileError,
                       match=r"f.h5: layer 'bi' \(Bidirectional\) layer: unsupported layer "
                             r"class 'CuDNNLSTM'; npylstm supports \['Activation', "):
        normalize_model_config(model, "2.4.0", "f.h5")
    model["config"]["layers"][0]["config"]["layer"] = {"class_name": "LSTM", "config": {
        "name": "l", "units": 2, "time_major": True}}
    with pytest.raises(npylstm.io.KerasFileError,
                       match=r"layer 'bi' \(Bidirectional\) layer 'l' \(LSTM\) has "
                             r"time_major=True"):
        normalize_model_config(model, "2.4.0", "f.h5")


@pytest.fixture(scope="module")
def keras_masked_grad(pairs):
    """Keras's outputs and input gradient for the concat/sequences case as one compiled
    function of (x, mask, projection): every drawn mask reuses it."""
    import jax
    import jax.numpy as jnp

    _, theirs = pairs["lstm_concat_sequences"]
    trainable = [v.value for v in theirs.trainable_variables]
    frozen = [v.value for v in theirs.non_trainable_variables]

    def objective(inputs, mask, projection):
        out, _ = theirs.stateless_call(trainable, frozen, inputs, mask=mask)
        return jnp.sum(out * projection), out

    return jax.jit(jax.value_and_grad(objective, has_aux=True))


@settings(max_examples=12, deadline=None)
@given(bits=st.lists(st.booleans(), min_size=B * T, max_size=B * T))
def test_any_mask_pattern_matches_keras(bits, pairs, data, keras_masked_grad):
    ours, _ = pairs["lstm_concat_sequences"]
    x, _ = data
    mask = np.array(bits).reshape(B, T)
    outputs, cache = ours.forward(x, mask=mask)
    projection = np.linspace(-1, 1, outputs.size, dtype="float32").reshape(outputs.shape)
    dx, _ = ours.backward(projection, cache)
    (_, their_out), their_dx = keras_masked_grad(x, mask, projection)
    _close(outputs, their_out)
    _close(dx, their_dx)


def test_a_masked_sequential_of_bidirectional_layers_matches_keras(stacked, data, tmp_path,
                                                                    keras):
    """Masking -> Bidirectional -> Bidirectional -> Dense as an npylstm Sequential (the mask
    flows through compute_mask), against Keras, and Keras reading our .keras file."""
    (first, second, dense), theirs = stacked
    x, mask = data
    x = np.where(mask[:, :, None], x, 0.0).astype("float32")
    model = npylstm.Sequential([npylstm.Input((T, D)), npylstm.layers.Masking(0.0),
                                first, second, dense])
    expected = np.asarray(theirs.predict(x, verbose=0))
    _close(model.predict(x, verbose=0), expected)
    model.save(tmp_path / "masked.keras")
    loaded = keras.saving.load_model(tmp_path / "masked.keras")
    _close(np.asarray(loaded.predict(x, verbose=0)), model.predict(x, verbose=0), atol=2e-6)


def test_masked_model_loss_gradients_match_central_differences():
    """Masking -> Bidirectional(GRU, sequences) -> TimeDistributed(Dense): the loss's
    gradients (the masked mean over real steps) by float64 central differences."""
    x = np.random.default_rng(12).normal(size=(3, 4, 2))
    x[0, :1] = x[1, 3:] = 0.0  # leading and trailing padding
    y = np.random.default_rng(13).normal(size=(3, 4, 1))
    model = npylstm.Sequential([
        npylstm.Input((4, 2)), npylstm.layers.Masking(0.0, dtype="float64"),
        Bidirectional(GRU(2, return_sequences=True, dtype="float64")),
        npylstm.layers.TimeDistributed(Dense(1, dtype="float64")),
    ])
    rng = np.random.default_rng(14)
    model.set_weights([rng.normal(0, 0.5, size=w.shape) for w in model.get_weights()])
    value, grads = model.loss_and_gradients(x, y, "mse")
    real = np.any(x != 0.0, axis=-1)  # (B, T) what Masking(0.0) keeps
    squared = ((model.predict(x, verbose=0) - y) ** 2).mean(axis=-1)  # (B, T)
    assert value == pytest.approx(squared[real].mean(), rel=1e-12)  # real steps only
    weights = [w for layer in model.layers for w in layer.weights]
    for w, g in zip(weights, grads, strict=True):
        numeric = central_difference(lambda: model.loss_and_gradients(x, y, "mse")[0], w.value)
        np.testing.assert_allclose(g, numeric, rtol=1e-5, atol=1e-8, err_msg=w.path)
