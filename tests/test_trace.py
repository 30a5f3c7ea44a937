"""npylstm.trace: per-timestep gates equal to the forward pass bit for bit; explain_params."""

from __future__ import annotations

import numpy as np
import pytest

import npylstm
from npylstm import activations
from npylstm.explain import explain_params
from npylstm.layers import LSTM, Dense, Dropout
from npylstm.trace import LSTMTrace, _numba_activate


def _phi(layer_trace: LSTMTrace):
    """The activation φ as the backend that ran the layer computes it."""
    if layer_trace.backend == "numba":
        return lambda v: _numba_activate(layer_trace.activation, v)
    return activations.get(layer_trace.activation)


def _assert_equations_exact(t: LSTMTrace) -> None:
    """c = f * c_tm1 + i * g and h = o * φ(c), bit for bit, at every step."""
    with np.errstate(all="ignore"):
        np.testing.assert_array_equal(t.f * t.c_tm1() + t.i * t.g, t.c)
        np.testing.assert_array_equal(t.o * _phi(t)(t.c), t.h)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("go_backwards", [False, True])
@pytest.mark.parametrize("return_sequences", [False, True])
def test_trace_equals_forward_output_bit_for_bit(
    backend, dtype, go_backwards, return_sequences, rng
):
    layer = LSTM(
        6,
        return_sequences=return_sequences,
        go_backwards=go_backwards,
        return_state=True,
        backend=backend,
        dtype=dtype,
    )
    x = (2.0 * rng.standard_normal((3, 7, 4))).astype(dtype)  # (B, T, D)
    output, h_last, c_last = layer(x)
    t = npylstm.trace(layer, x)[layer.name]
    assert t.backend == backend and t.go_backwards is go_backwards
    for name in ("i", "f", "g", "o", "c", "h"):
        assert getattr(t, name).shape == (3, 7, 6) and getattr(t, name).dtype == dtype
    assert np.array_equal(t.h if return_sequences else t.h[:, -1], output)
    assert np.array_equal(t.h[:, -1], h_last)
    assert np.array_equal(t.c[:, -1], c_last)
    _assert_equations_exact(t)


@pytest.mark.parametrize(
    "activation, recurrent_activation",
    [("relu", "hard_sigmoid"), ("softsign", "hard_sigmoid_keras2")],
)
def test_trace_other_activations_exact(backend, activation, recurrent_activation, rng):
    layer = LSTM(
        5,
        return_sequences=True,
        activation=activation,
        recurrent_activation=recurrent_activation,
        backend=backend,
    )
    x = (3.0 * rng.standard_normal((2, 6, 3))).astype("float32")
    t = npylstm.trace(layer, x)[layer.name]
    assert np.array_equal(t.h, layer(x))
    _assert_equations_exact(t)


def test_go_backwards_order_is_the_processing_order(backend, rng):
    # A go_backwards layer on x is the same computation as a forward layer on x reversed.
    x = rng.standard_normal((2, 5, 3)).astype("float32")
    back = LSTM(4, return_sequences=True, go_backwards=True, backend=backend)
    back.build(x.shape)
    fwd = LSTM(4, return_sequences=True, backend=backend)
    fwd.set_weights(back.get_weights())
    t_back = npylstm.trace(back, x)[back.name]
    t_fwd = npylstm.trace(fwd, x[:, ::-1])[fwd.name]
    np.testing.assert_array_equal(t_back.input_index, [4, 3, 2, 1, 0])
    np.testing.assert_array_equal(t_fwd.input_index, [0, 1, 2, 3, 4])
    for name in ("i", "f", "g", "o", "c", "h"):
        np.testing.assert_array_equal(getattr(t_back, name), getattr(t_fwd, name))
        # in_input_order undoes the reversal: position s belongs to input timestep s
        np.testing.assert_array_equal(t_back.in_input_order(name), getattr(t_fwd, name)[:, ::-1])


def test_stacked_model_every_layer_exact(backend, rng):
    model = npylstm.Sequential(
        [
            npylstm.Input((8, 2)),
            LSTM(5, return_sequences=True, go_backwards=True, backend=backend),
            Dropout(0.2),
            LSTM(4, return_sequences=True, backend=backend),
            LSTM(3, backend=backend),
            Dense(2),
        ]
    )
    x = rng.standard_normal((4, 8, 2)).astype("float32")
    traces = npylstm.trace(model, x)
    names = [layer.name for layer in model.layers if isinstance(layer, LSTM)]
    assert list(traces) == names
    # each LSTM's trace is its own output; the next LSTM ran on exactly that output
    lstm_a, _, lstm_b, lstm_c, dense = model.layers
    h_a = lstm_a(x)
    assert np.array_equal(traces[names[0]].h, h_a)
    h_b = lstm_b(h_a)  # Dropout is the identity at inference
    assert np.array_equal(traces[names[1]].h, h_b)
    assert np.array_equal(traces[names[2]].h[:, -1], lstm_c(h_b))
    assert np.array_equal(dense(traces[names[2]].h[:, -1]), model(x))
    for t in traces.values():
        _assert_equations_exact(t)


def test_sigmoid_gates_stay_in_unit_interval(backend, rng):
    layer = LSTM(8, return_sequences=True, backend=backend)
    x = rng.standard_normal((3, 10, 4)).astype("float32")
    x[0] *= 1e4  # saturate some gates: they must reach 0 or 1, never leave [0, 1]
    t = npylstm.trace(layer, x)[layer.name]
    for gate in (t.i, t.f, t.o):
        assert gate.min() >= 0.0 and gate.max() <= 1.0
    assert np.abs(t.g).max() <= 1.0 and np.abs(t.h).max() <= 1.0
    assert t.f.min() == 0.0 or t.f.max() == 1.0 or t.i.max() == 1.0  # saturation reached


def test_trace_by_hand(backend):
    # One unit, one feature, no recurrence (recurrent_kernel = 0), x_t = 1 at both steps:
    #   z = [ln 3, -ln 3, atanh(0.5), 0]
    #   i = σ(ln 3) = 3/4, f = σ(-ln 3) = 1/4, g = tanh(atanh 0.5) = 1/2, o = σ(0) = 1/2
    #   c_1 = 1/4 * 0 + 3/4 * 1/2 = 0.375,   h_1 = 1/2 * tanh(0.375)
    #   c_2 = 1/4 * 0.375 + 0.375 = 0.46875, h_2 = 1/2 * tanh(0.46875)
    layer = LSTM(1, return_sequences=True, backend=backend, dtype="float64")
    layer.set_weights(
        [
            np.array([[np.log(3), -np.log(3), np.arctanh(0.5), 0.0]]),
            np.zeros((1, 4)),
            np.zeros(4),
        ]
    )
    t = npylstm.trace(layer, np.ones((1, 2, 1)))[layer.name]
    np.testing.assert_allclose(t.i[0, :, 0], [0.75, 0.75], rtol=1e-14)
    np.testing.assert_allclose(t.f[0, :, 0], [0.25, 0.25], rtol=1e-14)
    np.testing.assert_allclose(t.g[0, :, 0], [0.5, 0.5], rtol=1e-14)
    np.testing.assert_allclose(t.o[0, :, 0], [0.5, 0.5], rtol=1e-14)
    np.testing.assert_allclose(t.c[0, :, 0], [0.375, 0.46875], rtol=1e-14)
    np.testing.assert_allclose(t.h[0, :, 0], 0.5 * np.tanh([0.375, 0.46875]), rtol=1e-14)


def test_trace_matches_keras_states(keras, rng):
    # Keras's own sequence output and final carry, same weights.
    x = rng.standard_normal((2, 6, 3)).astype("float32")
    k_layer = keras.layers.LSTM(4, return_sequences=True, return_state=True)
    k_seq, _, k_c = (keras.ops.convert_to_numpy(a) for a in k_layer(x))
    layer = LSTM(4, return_sequences=True)
    layer.set_weights([keras.ops.convert_to_numpy(w.value) for w in k_layer.weights])
    t = npylstm.trace(layer, x)[layer.name]
    np.testing.assert_allclose(t.h, k_seq, atol=2e-6)
    np.testing.assert_allclose(t.c[:, -1], k_c, atol=2e-6)


def test_trace_rejects_bad_input():
    layer = LSTM(3)
    with pytest.raises(TypeError, match="trace: expected an npylstm Sequential model or layer"):
        npylstm.trace("not a model", np.zeros((1, 2, 3)))
    with pytest.raises(ValueError, match=r"expected x of shape \(batch, timesteps, features\)"):
        npylstm.trace(layer, np.zeros((2, 3)))
    with pytest.raises(TypeError, match="expected a numeric array x"):
        npylstm.trace(layer, [["a", "b"]])
    with pytest.raises(ValueError, match="trace: the model has no layers"):
        npylstm.trace(npylstm.Sequential(), np.zeros((1, 2, 3)))
    with pytest.raises(ValueError, match="input has 5 features, kernel expects 3"):
        layer.build((None, 2, 3))
        npylstm.trace(layer, np.zeros((1, 2, 5)))


def test_in_input_order_rejects_unknown_name():
    layer = LSTM(2)
    t = npylstm.trace(layer, np.zeros((1, 3, 1), dtype="float32"))[layer.name]
    with pytest.raises(ValueError, match=r"LSTMTrace '.*': expected one of .* received 'z'"):
        t.in_input_order("z")


def test_explain_params_seed_003_matches_keras(keras):
    # seed 003: LSTM(64, input_shape=(5, 2), return_sequences=True) + LSTM(32) -> 17,152, 12,416
    k_model = keras.Sequential(
        [keras.Input((5, 2)), keras.layers.LSTM(64, return_sequences=True), keras.layers.LSTM(32)]
    )
    model = npylstm.Sequential([npylstm.Input((5, 2)), LSTM(64, return_sequences=True), LSTM(32)])
    report = explain_params(model)
    assert [p.count for p in report.layers] == [layer.count_params() for layer in k_model.layers]
    assert report.total == k_model.count_params() == 29_568
    assert report.layers[0].formula == "4 × 64 × (2 + 64 + 1) = 17,152"
    assert report.layers[1].formula == "4 × 32 × (64 + 32 + 1) = 12,416"
    assert report.layers[0].weights == (
        ("kernel", (2, 256)),
        ("recurrent_kernel", (64, 256)),
        ("bias", (256,)),
    )
    assert "4 × units × (input_dim + units + 1)" in str(report)


def test_explain_params_dense_dropout_and_no_bias():
    # seed 004's model: 4*20*(1+20+1) = 1,760; 4*20*(20+20+1) = 3,280; 5*(20+1) = 105
    model = npylstm.Sequential(
        [
            npylstm.Input((50, 1)),
            LSTM(20, return_sequences=True),
            Dropout(0.2),
            LSTM(20, use_bias=False),
            Dense(5),
        ]
    )
    report = explain_params(model)
    counts = [p.count for p in report.layers]
    assert counts == [1760, 0, 4 * 20 * (20 + 20), 105]
    assert report.layers[1].formula == "no weights = 0"
    assert report.layers[2].formula == "4 × 20 × (20 + 20) = 3,200"
    assert report.layers[3].formula == "5 × (20 + 1) = 105"
    assert report.total == sum(counts) == model.count_params()
    assert str(report).splitlines()[-1].split() == ["Total", "5,065"]


def test_explain_params_rejects_bad_input():
    with pytest.raises(TypeError, match="explain_params: expected an npylstm Sequential"):
        explain_params(42)
    with pytest.raises(ValueError, match="explain_params: layer 'my_lstm' is not built"):
        explain_params(LSTM(3, name="my_lstm"))


def test_trace_exact_with_blas_sized_units(backend, rng):
    # from 128 units the Numba core switches to one BLAS product per timestep
    layer = LSTM(130, return_sequences=True, go_backwards=True, backend=backend)
    x = rng.standard_normal((2, 3, 5)).astype("float32")
    t = npylstm.trace(layer, x)[layer.name]
    assert np.array_equal(t.h, layer(x))
    _assert_equations_exact(t)


def test_trace_module_examples():
    import doctest
    import sys

    result = doctest.testmod(sys.modules["npylstm.trace"])  # npylstm.trace is the function
    assert result.attempted >= 5 and result.failed == 0
