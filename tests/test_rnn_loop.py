"""The generic recurrent loop (``ops/rnn_reference.py``) over the LSTM cell against the
one-page LSTM (``ops/lstm_reference.py``, bit for bit in float64) and the Numba core
(within the float32 tolerances of ``test_ops_numba.py``), and its per-gate masks.

The one-page LSTM and the loop are written separately (one the equations in a row, the
other a cell's step inside a loop that knows nothing of gates), so their agreement to the
last bit says both perform the same operations in the same order.
"""

from __future__ import annotations

import numpy as np
import pytest
from gradcheck import central_difference  # tests/ is on sys.path

from npylstm.cells import LSTMCell
from npylstm.ops import get_kernel, lstm_numba, lstm_reference, rnn_reference

CASES = [
    # activation, recurrent_activation, go_backwards, use_bias
    ("tanh", "sigmoid", False, True),
    ("tanh", "sigmoid", True, True),
    ("tanh", "sigmoid", False, False),
    ("softsign", "hard_sigmoid", True, True),
    ("relu", "sigmoid", False, True),
    ("linear", "hard_sigmoid_keras2", True, False),
]


def _problem(rng, dtype, batch=3, timesteps=6, input_dim=4, units=5, use_bias=True):
    return {
        "x": rng.normal(size=(batch, timesteps, input_dim)).astype(dtype),
        "h0": rng.normal(scale=0.5, size=(batch, units)).astype(dtype),
        "c0": rng.normal(scale=0.5, size=(batch, units)).astype(dtype),
        "kernel": rng.normal(scale=0.5, size=(input_dim, 4 * units)).astype(dtype),
        "recurrent_kernel": rng.normal(scale=0.5, size=(units, 4 * units)).astype(dtype),
        "bias": rng.normal(scale=0.5, size=4 * units).astype(dtype) if use_bias else None,
    }


def _upstream(rng, p, dtype):
    batch, timesteps, _ = p["x"].shape
    units = p["h0"].shape[1]
    return (
        rng.normal(size=(batch, timesteps, units)).astype(dtype),
        rng.normal(size=(batch, units)).astype(dtype),
        rng.normal(size=(batch, units)).astype(dtype),
    )


def _generic(cell, p, go_backwards, upstream, **masks):
    h_seq, (h, c), cache = rnn_reference.rnn_forward(
        cell, p["x"], [p["h0"], p["c0"]], p["kernel"], p["recurrent_kernel"], p["bias"],
        go_backwards, **masks,
    )
    dx, (dh0, dc0), dweights = rnn_reference.rnn_backward(
        cell, upstream[0], [upstream[1], upstream[2]], cache
    )
    return [h_seq, h, c], [dx, dh0, dc0, *dweights]


def _one_page(module, p, activation, recurrent_activation, go_backwards, upstream):
    h_seq, h, c, cache = module.lstm_forward(
        p["x"], p["h0"], p["c0"], p["kernel"], p["recurrent_kernel"], p["bias"],
        activation, recurrent_activation, go_backwards,
    )
    dx, dh0, dc0, dk, dr, db = module.lstm_backward(*upstream, cache)
    return [h_seq, h, c], [dx, dh0, dc0, dk, dr] + ([] if db is None else [db])


@pytest.mark.parametrize(("activation", "recurrent_activation", "go_backwards", "use_bias"), CASES)
def test_generic_loop_equals_the_one_page_lstm_bit_for_bit(
    rng, activation, recurrent_activation, go_backwards, use_bias
):
    p = _problem(rng, "float64", use_bias=use_bias)
    upstream = _upstream(rng, p, "float64")
    cell = LSTMCell(activation, recurrent_activation)
    ours, our_grads = _generic(cell, p, go_backwards, upstream)
    ref, ref_grads = _one_page(lstm_reference, p, activation, recurrent_activation,
                               go_backwards, upstream)
    assert len(our_grads) == len(ref_grads)
    for a, b in zip(ours + our_grads, ref + ref_grads, strict=True):
        assert a.dtype == b.dtype == np.float64
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize(("activation", "recurrent_activation", "go_backwards", "use_bias"), CASES)
def test_generic_loop_equals_the_numba_core(
    rng, activation, recurrent_activation, go_backwards, use_bias
):
    p = _problem(rng, "float32", use_bias=use_bias)
    upstream = _upstream(rng, p, "float32")
    cell = LSTMCell(activation, recurrent_activation)
    ours, our_grads = _generic(cell, p, go_backwards, upstream)
    core, core_grads = _one_page(lstm_numba, p, activation, recurrent_activation,
                                 go_backwards, upstream)
    for a, b in zip(ours + our_grads, core + core_grads, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=2e-5)


@pytest.mark.parametrize("go_backwards", [False, True])
def test_input_masks_shared_by_every_gate_equal_a_masked_input(rng, go_backwards):
    """One input mask copied to the four gates is the same model as ``x * mask`` through
    the packed product (float64, up to the order of the per-gate and packed products)."""
    p = _problem(rng, "float64")
    upstream = _upstream(rng, p, "float64")
    batch, _, input_dim = p["x"].shape
    mask = (rng.random((batch, input_dim)) > 0.4) / 0.6  # (B, D)
    cell = LSTMCell()
    masked, masked_grads = _generic(
        cell, p, go_backwards, upstream, input_masks=np.stack([mask] * 4)
    )
    plain = dict(p, x=p["x"] * mask[:, None, :])
    ref, ref_grads = _one_page(lstm_reference, plain, "tanh", "sigmoid", go_backwards, upstream)
    ref_grads[0] = ref_grads[0] * mask[:, None, :]  # d(x * mask)/dx
    for a, b in zip(masked + masked_grads, ref + ref_grads, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


def test_recurrent_masks_of_ones_change_nothing(rng):
    p = _problem(rng, "float64")
    upstream = _upstream(rng, p, "float64")
    units = p["h0"].shape[1]
    ones = np.ones((4, p["x"].shape[0], units))
    masked, masked_grads = _generic(LSTMCell(), p, True, upstream, recurrent_masks=ones)
    ref, ref_grads = _one_page(lstm_reference, p, "tanh", "sigmoid", True, upstream)
    for a, b in zip(masked + masked_grads, ref + ref_grads, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


def test_per_gate_masks_backward_matches_central_differences(rng):
    p = _problem(rng, "float64", batch=2, timesteps=4, input_dim=3, units=3)
    upstream = _upstream(rng, p, "float64")
    batch, _, input_dim = p["x"].shape
    units = p["h0"].shape[1]
    masks = {
        "input_masks": (rng.random((4, batch, input_dim)) > 0.3) / 0.7,
        "recurrent_masks": (rng.random((4, batch, units)) > 0.3) / 0.7,
    }
    cell = LSTMCell()

    def loss():
        outs, _ = _generic(cell, p, True, upstream, **masks)
        return sum(float(np.sum(o * u)) for o, u in zip(outs, upstream, strict=True))

    _, grads = _generic(cell, p, True, upstream, **masks)
    names = ["x", "h0", "c0", "kernel", "recurrent_kernel", "bias"]
    for name, grad in zip(names, grads, strict=True):
        np.testing.assert_allclose(grad, central_difference(loss, p[name]), rtol=1e-5,
                                   atol=1e-8, err_msg=name)


def test_kernel_lookup_falls_back_to_the_generic_loop():
    cell = LSTMCell()
    assert get_kernel(cell, "numba").name == "numba"
    assert get_kernel(cell, "reference") is get_kernel(cell, "numba", gate_masks=True)

    class NewCell(LSTMCell):  # a cell kind with no fast kernel yet
        kind = "new"

    assert get_kernel(NewCell(), "numba").name == "reference"


def test_a_changed_activation_takes_effect_on_the_next_call(rng):
    """The layer's cell follows its options (the legacy-file reader sets
    ``recurrent_activation`` on a built layer, as users may)."""
    from npylstm.layers import LSTM

    x = rng.normal(size=(2, 4, 3)).astype("float32")
    layer = LSTM(3)
    before = layer(x)
    layer.recurrent_activation = "hard_sigmoid_keras2"
    after = layer(x)
    assert layer.cell.recurrent_activation == "hard_sigmoid_keras2"
    assert not np.array_equal(before, after)
    twin = LSTM(3, recurrent_activation="hard_sigmoid_keras2")
    twin.build((None, 4, 3))
    twin.set_weights(layer.get_weights())
    np.testing.assert_array_equal(twin(x), after)
