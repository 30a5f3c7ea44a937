"""npylstm.trace for GRU, SimpleRNN and Bidirectional, and with time masks.

Expected values: the layers' own outputs (bit for bit), the update equations written out
here in NumPy float64 (independent of ``npylstm/cells``), and real Keras (JAX backend) for
the outputs, masks included.
"""

from __future__ import annotations

import numpy as np
import pytest

import npylstm
from npylstm.layers import GRU, LSTM, Bidirectional, Dense, Masking, SimpleRNN
from npylstm.trace import BidirectionalTrace, GRUTrace, LSTMTrace, SimpleRNNTrace


def sigmoid(v):
    return 1.0 / (1.0 + np.exp(-v))


def gru_by_hand(x, kernel, recurrent_kernel, bias, reset_after, h0=None):
    """Keras's GRU (gate order z, r, h) in float64: z, r, hh, h, each (B, T, U)."""
    units = recurrent_kernel.shape[0]
    if reset_after:
        b_x, b_r = bias
    else:
        b_x, b_r = bias, np.zeros(3 * units)
    h = np.zeros((len(x), units)) if h0 is None else h0
    out = {k: [] for k in ("z", "r", "hh", "h")}
    for t in range(x.shape[1]):
        x_z, x_r, x_h = np.split(x[:, t] @ kernel + b_x, 3, axis=-1)
        R_z, R_r, R_h = np.split(recurrent_kernel, 3, axis=-1)
        b_rz, b_rr, b_rh = np.split(b_r, 3)
        z = sigmoid(x_z + h @ R_z + b_rz)
        r = sigmoid(x_r + h @ R_r + b_rr)
        if reset_after:
            hh = np.tanh(x_h + r * (h @ R_h + b_rh))
        else:
            hh = np.tanh(x_h + (r * h) @ R_h)
        h = z * h + (1 - z) * hh
        for key, value in zip(("z", "r", "hh", "h"), (z, r, hh, h), strict=True):
            out[key].append(value)
    return {k: np.stack(v, axis=1) for k, v in out.items()}


def random_weights(layer, rng, scale=0.6):
    layer.set_weights([rng.normal(scale=scale, size=w.shape) for w in layer.get_weights()])


# -- GRU ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("reset_after", [True, False])
@pytest.mark.parametrize("go_backwards", [False, True])
def test_gru_trace_is_the_layer_output_and_its_update(backend, reset_after, go_backwards, rng):
    layer = GRU(5, return_sequences=True, return_state=True, reset_after=reset_after,
                go_backwards=go_backwards, backend=backend)
    x = (1.5 * rng.standard_normal((3, 7, 4))).astype("float32")  # (B, T, D)
    layer.build(x.shape)
    random_weights(layer, rng)
    output, h_last = layer(x)
    t = npylstm.trace(layer, x)[layer.name]
    assert isinstance(t, GRUTrace) and t.reset_after is reset_after and t.backend == backend
    for name in ("z", "r", "hh", "h"):
        assert getattr(t, name).shape == (3, 7, 5) and getattr(t, name).dtype == np.float32
    assert np.array_equal(t.h, output) and np.array_equal(t.h[:, -1], h_last)
    # the update h = z * h_tm1 + (1 - z) * hh, recomputed here from the traced gates
    update = t.z * t.h_tm1() + (1 - t.z) * t.hh
    if backend == "reference":
        np.testing.assert_array_equal(update, t.h)
    else:
        np.testing.assert_allclose(update, t.h, rtol=1e-6, atol=1e-7)
    np.testing.assert_array_equal(t.input_index, np.arange(7)[::-1] if go_backwards
                                  else np.arange(7))


@pytest.mark.parametrize("reset_after", [True, False])
def test_gru_gates_by_hand(backend, reset_after, rng):
    layer = GRU(4, return_sequences=True, reset_after=reset_after, backend=backend,
                dtype="float64")
    x = rng.standard_normal((2, 6, 3))
    layer.build(x.shape)
    random_weights(layer, rng)
    t = npylstm.trace(layer, x)[layer.name]
    expected = gru_by_hand(x, *layer.get_weights(), reset_after=reset_after)
    for name in ("z", "r", "hh", "h"):
        np.testing.assert_allclose(getattr(t, name), expected[name], rtol=1e-12, atol=1e-13)


def test_gru_one_step_by_hand():
    # One unit, one feature, h0 = 1, all recurrent weights 0, reset_after=True:
    #   kernel = [ln 3, 0, atanh 0.5] -> z = σ(ln 3) = 3/4, r = σ(0) = 1/2, hh = 1/2
    #   h = 3/4 * 1 + 1/4 * 1/2 = 0.875
    layer = GRU(1, return_sequences=True, dtype="float64")
    layer.set_weights([np.array([[np.log(3), 0.0, np.arctanh(0.5)]]), np.zeros((1, 3)),
                       np.zeros((2, 3))])
    t = npylstm.trace(layer, np.ones((1, 1, 1)))[layer.name]
    assert t.z.shape == (1, 1, 1)
    layer_with_h0 = layer.forward(np.ones((1, 1, 1)), initial_state=[np.ones((1, 1))])
    np.testing.assert_allclose([t.z.item(), t.r.item(), t.hh.item()], [0.75, 0.5, 0.5],
                               rtol=1e-14)
    assert t.h.item() == pytest.approx(0.25 * 0.5)  # from h0 = 0
    assert layer_with_h0[0].item() == pytest.approx(0.875)


def test_gru_trace_matches_keras(keras, rng):
    x = rng.standard_normal((2, 6, 3)).astype("float32")
    for reset_after in (True, False):
        k_layer = keras.layers.GRU(4, return_sequences=True, reset_after=reset_after)
        k_layer.build(x.shape)
        weights = [rng.normal(scale=0.5, size=w.shape).astype("float32")
                   for w in k_layer.weights]
        k_layer.set_weights(weights)
        k_seq = keras.ops.convert_to_numpy(k_layer(x))
        layer = GRU(4, return_sequences=True, reset_after=reset_after)
        layer.set_weights(weights)
        t = npylstm.trace(layer, x)[layer.name]
        np.testing.assert_allclose(t.h, k_seq, atol=2e-6)
        # and the gates give back Keras's outputs through the update
        np.testing.assert_allclose(t.z * t.h_tm1() + (1 - t.z) * t.hh, k_seq, atol=2e-6)


# -- SimpleRNN ---------------------------------------------------------------------------------


def test_simple_rnn_trace_by_hand(backend, rng):
    layer = SimpleRNN(4, return_sequences=True, go_backwards=True, backend=backend,
                      dtype="float64")
    x = rng.standard_normal((2, 5, 3))
    layer.build(x.shape)
    random_weights(layer, rng)
    kernel, recurrent_kernel, bias = layer.get_weights()
    t = npylstm.trace(layer, x)[layer.name]
    assert isinstance(t, SimpleRNNTrace) and t.go_backwards
    assert np.array_equal(t.h, layer(x))
    h = np.zeros((2, 4))
    for step, s in enumerate(range(4, -1, -1)):  # go_backwards reads x[:, 4], ..., x[:, 0]
        a = x[:, s] @ kernel + h @ recurrent_kernel + bias
        h = np.tanh(a)
        np.testing.assert_allclose(t.a[:, step], a, rtol=1e-12, atol=1e-13)
        np.testing.assert_allclose(t.h[:, step], h, rtol=1e-12, atol=1e-13)
    np.testing.assert_array_equal(t.in_input_order("a"), t.a[:, ::-1])


def test_simple_rnn_trace_matches_keras(keras, rng):
    x = rng.standard_normal((2, 6, 3)).astype("float32")
    k_layer = keras.layers.SimpleRNN(5, return_sequences=True)
    k_seq = keras.ops.convert_to_numpy(k_layer(x))
    layer = SimpleRNN(5, return_sequences=True)
    layer.set_weights([keras.ops.convert_to_numpy(w.value) for w in k_layer.weights])
    t = npylstm.trace(layer, x)[layer.name]
    np.testing.assert_allclose(t.h, k_seq, atol=2e-6)
    np.testing.assert_allclose(np.tanh(t.a), k_seq, atol=2e-6)


# -- Bidirectional -----------------------------------------------------------------------------


@pytest.mark.parametrize("inner", ["lstm", "gru"])
@pytest.mark.parametrize("merge_mode", ["concat", "sum"])
def test_bidirectional_trace_both_directions(backend, inner, merge_mode, rng):
    cls = {"lstm": LSTM, "gru": GRU}[inner]
    layer = Bidirectional(cls(3, return_sequences=True, backend=backend), merge_mode=merge_mode)
    x = rng.standard_normal((2, 6, 4)).astype("float32")
    layer.build(x.shape)
    random_weights(layer, rng)
    t = npylstm.trace(layer, x)[layer.name]
    assert isinstance(t, BidirectionalTrace) and t.merge_mode == merge_mode
    fwd, bwd = t.forward, t.backward
    assert fwd.layer_name == layer.forward_layer.name
    assert bwd.layer_name == layer.backward_layer.name
    assert not fwd.go_backwards and bwd.go_backwards
    np.testing.assert_array_equal(bwd.input_index, np.arange(6)[::-1])
    # each direction's h is its own layer's output; the wrapper's output merges them
    assert np.array_equal(fwd.h, layer.forward_layer(x))
    assert np.array_equal(bwd.h, layer.backward_layer(x))
    y = layer(x)
    by_hand = (np.concatenate([fwd.h, bwd.h[:, ::-1]], axis=-1) if merge_mode == "concat"
               else fwd.h + bwd.h[:, ::-1])
    assert np.array_equal(by_hand, y)
    assert set(t.directions()) == {"forward", "backward"}


def test_bidirectional_gru_gates_by_hand(rng):
    layer = Bidirectional(GRU(3, return_sequences=True, dtype="float64"), dtype="float64")
    x = rng.standard_normal((2, 5, 2))
    layer.build(x.shape)
    random_weights(layer, rng)
    t = npylstm.trace(layer, x)[layer.name]
    f_weights = layer.forward_layer.get_weights()
    b_weights = layer.backward_layer.get_weights()
    expected_f = gru_by_hand(x, *f_weights, reset_after=True)
    expected_b = gru_by_hand(x[:, ::-1], *b_weights, reset_after=True)  # reads x reversed
    for name in ("z", "r", "hh", "h"):
        np.testing.assert_allclose(getattr(t.forward, name), expected_f[name], rtol=1e-12)
        np.testing.assert_allclose(getattr(t.backward, name), expected_b[name], rtol=1e-12)


def test_bidirectional_in_a_model_matches_keras(keras, rng):
    x = rng.standard_normal((3, 5, 2)).astype("float32")
    k_model = keras.Sequential([keras.Input((5, 2)), keras.layers.Bidirectional(
        keras.layers.GRU(3, return_sequences=True)), keras.layers.Dense(1)])
    weights = [rng.normal(scale=0.5, size=w.shape).astype("float32")
               for w in k_model.weights]
    k_model.set_weights(weights)
    k_seq = keras.ops.convert_to_numpy(k_model.layers[0](x))  # the Bidirectional's output
    model = npylstm.Sequential([npylstm.Input((5, 2)), Bidirectional(GRU(3,
                                return_sequences=True)), Dense(1)])
    model.set_weights(weights)
    t = npylstm.trace(model, x)[model.layers[0].name]
    np.testing.assert_allclose(t.forward.h, k_seq[..., :3], atol=2e-6)
    np.testing.assert_allclose(t.backward.h[:, ::-1], k_seq[..., 3:], atol=2e-6)


# -- masks -------------------------------------------------------------------------------------


def _padded(rng, dtype="float32"):
    """Two sequences of 6 steps: sample 0 post-padded (last 2 steps zeros), sample 1
    pre-padded (first 3 steps zeros)."""
    x = rng.standard_normal((2, 6, 3)).astype(dtype)
    mask = np.ones((2, 6), dtype=bool)
    mask[0, 4:] = False
    mask[1, :3] = False
    x[~mask] = 0.0
    return x, mask


@pytest.mark.parametrize("cls", [LSTM, GRU, SimpleRNN])
def test_masked_trace_is_the_masked_output(cls, rng):
    x, mask = _padded(rng)
    layer = cls(4, return_sequences=True)
    layer.build(x.shape)
    random_weights(layer, rng)
    t = npylstm.trace(layer, x, mask=mask)[layer.name]
    np.testing.assert_array_equal(t.mask, mask)
    np.testing.assert_array_equal(t.real_steps(), mask)
    assert np.array_equal(t.h, layer(x, mask=mask))
    # at a masked step the state is carried and the output repeats it
    h_tm1 = t.h_tm1()
    np.testing.assert_array_equal(t.h_state[~mask], h_tm1[~mask])
    assert np.array_equal(t.h_state, t.h)  # zero_output_for_mask=False
    if isinstance(t, LSTMTrace):
        np.testing.assert_array_equal(t.c[~mask], t.c_tm1()[~mask])
        # the carry equation holds at the real steps
        np.testing.assert_array_equal((t.f * t.c_tm1() + t.i * t.g)[mask], t.c[mask])
    if isinstance(t, GRUTrace):
        np.testing.assert_array_equal((t.z * h_tm1 + (1 - t.z) * t.hh)[mask], t.h[mask])


def test_masked_trace_matches_keras_and_the_unpadded_sequence(keras, rng):
    x, mask = _padded(rng)
    k_layer = keras.layers.GRU(4, return_sequences=True)
    k_seq = keras.ops.convert_to_numpy(k_layer(x, mask=mask))
    layer = GRU(4, return_sequences=True)
    layer.set_weights([keras.ops.convert_to_numpy(w.value) for w in k_layer.weights])
    t = npylstm.trace(layer, x, mask=mask)[layer.name]
    np.testing.assert_allclose(t.h, k_seq, atol=2e-6)
    # the post-padded sample's last state is the 4-step sequence's; the pre-padded one's is
    # the 3-step sequence's
    np.testing.assert_allclose(t.h[0, -1], layer(x[:1, :4])[0, -1], atol=1e-6)
    np.testing.assert_allclose(t.h[1, -1], layer(x[1:, 3:])[0, -1], atol=1e-6)


def test_masking_layer_in_a_model_reaches_the_trace(rng):
    x, mask = _padded(rng)
    model = npylstm.Sequential([npylstm.Input((6, 3)), Masking(0.0),
                                LSTM(4, return_sequences=True), GRU(3), Dense(1)])
    traces = npylstm.trace(model, x)
    lstm_t, gru_t = traces.values()
    np.testing.assert_array_equal(lstm_t.mask, mask)
    np.testing.assert_array_equal(gru_t.mask, mask)  # return_sequences passes it on
    _, lstm, gru, _ = model.layers
    assert np.array_equal(lstm_t.h, lstm(x, mask=mask))
    assert np.array_equal(gru_t.h_state[:, -1], gru(lstm_t.h, mask=mask))


def test_masked_go_backwards_and_zero_output(rng):
    x, mask = _padded(rng)
    layer = LSTM(3, return_sequences=True, go_backwards=True, zero_output_for_mask=True)
    layer.build(x.shape)
    random_weights(layer, rng)
    t = npylstm.trace(layer, x, mask=mask)[layer.name]
    np.testing.assert_array_equal(t.mask, mask[:, ::-1])  # processing order
    assert np.array_equal(t.h, layer(x, mask=mask))
    assert not t.h[~t.mask].any()  # zeros at the masked steps...
    np.testing.assert_array_equal(t.h_state[~t.mask], t.h_tm1()[~t.mask])  # ...state carried


def test_masked_bidirectional(rng):
    x, mask = _padded(rng)
    layer = Bidirectional(GRU(3, return_sequences=True))
    layer.build(x.shape)
    random_weights(layer, rng)
    t = npylstm.trace(layer, x, mask=mask)[layer.name]
    np.testing.assert_array_equal(t.forward.mask, mask)
    np.testing.assert_array_equal(t.backward.mask, mask[:, ::-1])
    y = layer(x, mask=mask)
    assert np.array_equal(np.concatenate([t.forward.h, t.backward.h[:, ::-1]], -1), y)


# -- bad input ---------------------------------------------------------------------------------


def test_trace_rejects_a_mask_of_the_wrong_shape():
    layer = GRU(2)
    with pytest.raises(ValueError, match=r"trace: expected a mask of shape \(batch, timesteps\) "
                                         r"= \(1, 3\), received \(1, 4\)"):
        npylstm.trace(layer, np.zeros((1, 3, 2)), mask=np.ones((1, 4), dtype=bool))
    with pytest.raises(ValueError, match=r"GRU '.*': expected a boolean mask .* float"):
        npylstm.trace(layer, np.zeros((1, 3, 2)), mask=np.full((1, 3), 0.5))


def test_in_input_order_names_the_trace_kind(rng):
    for cls, name in ((GRU, "GRUTrace"), (SimpleRNN, "SimpleRNNTrace")):
        layer = cls(2)
        t = npylstm.trace(layer, np.zeros((1, 3, 1), dtype="float32"))[layer.name]
        with pytest.raises(ValueError, match=rf"{name} '.*': expected one of .* received 'i'"):
            t.in_input_order("i")


def test_plot_gates_for_gru_and_bidirectional(rng, tmp_path):
    pytest.importorskip("matplotlib")
    from npylstm import plots

    x, mask = _padded(rng)
    layer = Bidirectional(GRU(3, return_sequences=True))
    t = npylstm.trace(layer, x, mask=mask)[layer.name]
    fig = plots.plot_gates(t, sample=1)
    drawn = [ax for ax in fig.axes if ax.get_visible() and ax.images]
    assert [ax.get_title() for ax in drawn][:2] == ["forward: update gate z = σ(a_z)",
                                                    "forward: reset gate r = σ(a_r)"]
    assert len(drawn) == 8  # z, r, hh, h for each direction
    np.testing.assert_array_equal(drawn[4].images[0].get_array(), t.backward.z[1].T)
    fig.savefig(tmp_path / "bidi.png", dpi=60)
    with pytest.raises(ValueError, match=r"plot_gates: expected fields from \('z', 'r', 'hh', "
                                         r"'h'\), received \('i',\)"):
        plots.plot_gates(t.forward, fields=("i",))
    fig = plots.plot_kernel(layer.forward_layer)
    assert "three gate blocks" in fig.get_suptitle()
    assert [t.get_text() for t in fig.axes[2].get_yticklabels()] == ["input", "recurrent"]
    with pytest.raises(TypeError, match="plot_gates: expected an LSTMTrace, GRUTrace"):
        plots.plot_gates(layer)
