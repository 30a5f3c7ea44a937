"""Stateful streaming for every recurrent layer, against real Keras and against one pass.

A long sequence cut into chunks and fed through a ``stateful`` model's ``predict`` gives
the one-pass answer for every chunk (the state carries over, as Keras's RNN keeps it in
variables), equals Keras's stateful model chunk by chunk, and ``reset_states()`` brings
back the first chunk's answer. ``Sequential.step`` (state in, state out) gives the same
numbers one timestep at a time.

Keras is called as ``model(chunk)`` here: its JAX trainer's ``predict`` keeps a stateful
layer's states in the trainer's own copy of the variables (after ``predict`` the layer's
``states`` still read zeros, and later ``predict`` calls continue from that copy in ways
that match neither a fresh start nor the carried state), while ``model(chunk)`` on JAX and
``predict`` on the torch backend both give the carried-state answer npylstm gives.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import npylstm
from npylstm import Input, Sequential

FIXTURES = Path(__file__).resolve().parent / "fixtures"

KINDS = ["LSTM", "GRU", "SimpleRNN"]
BATCH, CHUNKS, CHUNK, FEATURES = 2, 3, 4, 3


def _layers(lib, input_fn, kind, stateful, batch_shape):
    rnn = getattr(lib, kind)
    return [input_fn(batch_shape=batch_shape),
            rnn(4, stateful=stateful, return_sequences=True),
            rnn(3, stateful=stateful), lib.Dense(2)]


@pytest.fixture(scope="module")
def sequence():
    return np.random.default_rng(11).normal(size=(BATCH, CHUNKS * CHUNK, FEATURES)).astype(
        "float32")


@pytest.mark.parametrize("kind", KINDS)
def test_chunks_through_a_stateful_model_equal_keras_and_one_pass(keras, sequence, kind):
    theirs = keras.Sequential(_layers(keras.layers, keras.Input, kind, True,
                                      (BATCH, CHUNK, FEATURES)))
    weights = [np.asarray(v.value) for v in theirs.weights]
    ours = Sequential(_layers(npylstm.layers, Input, kind, True, (BATCH, CHUNK, FEATURES)))
    ours.set_weights(weights)
    # the same model, not stateful, over the whole sequence at once (prefix by prefix)
    whole = Sequential(_layers(npylstm.layers, Input, kind, False,
                               (BATCH, None, FEATURES)))
    whole.set_weights(weights)
    chunks = np.split(sequence, CHUNKS, axis=1)
    first = None
    for i, chunk in enumerate(chunks):
        expected = np.asarray(theirs(chunk))
        got = ours.predict(chunk, batch_size=BATCH, verbose=0)
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6, err_msg=f"chunk {i}")
        one_pass = whole.predict(sequence[:, : (i + 1) * CHUNK], verbose=0)
        np.testing.assert_allclose(got, one_pass, rtol=1e-5, atol=1e-6)
        first = got if first is None else first
    ours.reset_states()
    np.testing.assert_allclose(ours.predict(chunks[0], verbose=0), first, rtol=0, atol=0)
    for layer in ours.layers:  # Keras's per-layer name too
        if getattr(layer, "stateful", False):
            layer.reset_states()
    np.testing.assert_allclose(ours.predict_on_batch(chunks[0]), first, rtol=0, atol=0)


@pytest.mark.parametrize("kind", KINDS)
def test_step_by_step_equals_the_whole_sequence(sequence, kind):
    model = Sequential(_layers(npylstm.layers, Input, kind, False, (None, None, FEATURES)))
    expected = model.predict(sequence, verbose=0)
    states = model.initial_states(batch_size=BATCH)
    assert [len(s) for s in states.values()] == [2 if kind == "LSTM" else 1] * 2
    for t in range(sequence.shape[1]):
        y, states = model.step(sequence[:, t], states)
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-6)
    # nothing was stored on the model: a second stream starts from zeros again
    y0, _ = model.step(sequence[:, 0])
    np.testing.assert_allclose(y0, model.predict(sequence[:, :1], verbose=0), rtol=1e-6)


def test_stateful_fit_and_predict_equal_tf_keras():
    """tf_keras (``fixtures/make_stateful_fixture.py``) carries a stateful layer's state
    from one fit batch to the next (no gradient flows into it) and across predict calls.
    Keras 3's JAX trainer does not carry it during fit (its history equals a non-stateful
    model's), so tf_keras is the oracle here."""
    data = np.load(FIXTURES / "keras2_stateful.npz")
    model = Sequential(_layers(npylstm.layers, Input, "LSTM", True, (BATCH, CHUNK, FEATURES)))
    count = len(model.weights)
    model.set_weights([data[f"w{i}"] for i in range(count)])
    model.compile(optimizer=npylstm.optimizers.SGD(0.1), loss="mse")
    history = model.fit(data["x"], data["y"], epochs=3, batch_size=BATCH, shuffle=False,
                        verbose=0).history
    np.testing.assert_allclose(history["loss"], data["losses"], rtol=1e-5)
    for i, w in enumerate(model.get_weights()):
        np.testing.assert_allclose(w, data[f"trained{i}"], rtol=1e-4, atol=1e-6)
    model.reset_states()
    for chunk, expected in zip(data["chunks"], data["predictions"], strict=True):
        np.testing.assert_allclose(model.predict(chunk, batch_size=BATCH, verbose=0),
                                   expected, rtol=1e-5, atol=1e-6)
    # without carrying the state the losses differ: the fixture tells them apart
    plain = Sequential(_layers(npylstm.layers, Input, "LSTM", False, (BATCH, CHUNK, FEATURES)))
    plain.set_weights([data[f"w{i}"] for i in range(count)])
    plain.compile(optimizer=npylstm.optimizers.SGD(0.1), loss="mse")
    plain_loss = plain.fit(data["x"], data["y"], epochs=3, batch_size=BATCH, shuffle=False,
                           verbose=0).history["loss"]
    assert not np.allclose(plain_loss, data["losses"], rtol=1e-3)


def test_stateful_layer_fed_another_batch_size_is_refused():
    layer = npylstm.layers.GRU(2, stateful=True, name="gru_stream")
    layer(np.zeros((2, 3, 1), "float32"))
    with pytest.raises(ValueError, match=r"GRU 'gru_stream': stateful layer carries states "
                                         r"for batch size 2, received a batch of 3"):
        layer(np.zeros((3, 3, 1), "float32"))
    layer.reset_states()
    assert layer(np.zeros((3, 3, 1), "float32")).shape == (3, 2)


def test_step_refuses_what_it_cannot_stream():
    layer = npylstm.layers.LSTM(2, name="lstm_step")
    with pytest.raises(ValueError, match=r"LSTM 'lstm_step': step\(\) expected one timestep"):
        layer.step(np.zeros((1, 3, 2), "float32"), layer.zero_states(1))
    with pytest.raises(ValueError, match=r"initial_state h expected shape \(1, 2\)"):
        layer.step(np.zeros((1, 2), "float32"), [np.zeros((1, 3)), np.zeros((1, 2))])


def test_step_refuses_a_bidirectional_model():
    model = Sequential([Input((None, 2)),
                        npylstm.layers.Bidirectional(npylstm.layers.GRU(2), name="bi_gru")])
    with pytest.raises(ValueError, match=r"Bidirectional 'bi_gru': step\(\) cannot stream"):
        model.step(np.zeros((1, 2), "float32"))
