"""Every cell on the generic loop (``ops/rnn_reference.py``): float64 central differences
of every gradient the loop returns, with and without time masks (leading, trailing, middle
and full padding), per-gate dropout masks, ``go_backwards`` and ``zero_output_for_mask``;
and the masking rule itself written out by hand on a one-unit SimpleRNN."""

from __future__ import annotations

import numpy as np
import pytest
from gradcheck import central_difference  # tests/ is on sys.path

from npylstm.cells import GRUCell, LSTMCell, SimpleRNNCell
from npylstm.ops import rnn_reference

CELLS = {
    "lstm": lambda: LSTMCell(),
    "gru": lambda: GRUCell(),
    "gru_reset_before": lambda: GRUCell(reset_after=False),
    "gru_softsign": lambda: GRUCell("softsign", "hard_sigmoid"),
    "simple_rnn": lambda: SimpleRNNCell(),
    "simple_rnn_relu": lambda: SimpleRNNCell("relu"),
}


def time_mask(kind: str, batch: int, timesteps: int):
    """(B, T) booleans: leading, trailing and middle padding, a fully masked row."""
    if kind == "none":
        return None
    m = np.ones((batch, timesteps), dtype=bool)
    m[0, :2] = False  # leading padding
    m[1, -2:] = False  # trailing padding
    if kind == "full":
        m[2, :] = False  # a row with no real step
    else:
        m[2, 1:3] = False  # padding in the middle
    return m


def _problem(rng, cell, batch=3, timesteps=5, input_dim=3, units=3):
    n = cell.n_gates
    shapes = cell.weight_shapes(input_dim, units, True)
    return {
        "x": rng.normal(size=(batch, timesteps, input_dim)),
        "states": [rng.normal(scale=0.5, size=(batch, units)) for _ in cell.STATES],
        "kernel": rng.normal(scale=0.5, size=shapes["kernel"]),
        "recurrent_kernel": rng.normal(scale=0.5, size=(units, n * units)),
        "bias": rng.normal(scale=0.5, size=shapes["bias"]),
    }


@pytest.mark.parametrize("mask_kind", ["none", "padding", "full"])
@pytest.mark.parametrize("go_backwards", [False, True])
@pytest.mark.parametrize("name", sorted(CELLS))
def test_loop_gradients_match_central_differences(rng, name, go_backwards, mask_kind):
    cell = CELLS[name]()
    p = _problem(rng, cell)
    batch, timesteps, input_dim = p["x"].shape
    units = p["recurrent_kernel"].shape[0]
    mask = time_mask(mask_kind, batch, timesteps)
    zero_output = mask_kind == "full"  # both output rules, across the cases
    dropout = {}
    if mask_kind == "padding":  # per-gate dropout masks too (Keras's implementation 1)
        n = cell.n_gates
        dropout = {"input_masks": (rng.random((n, batch, input_dim)) > 0.3) / 0.7,
                   "recurrent_masks": (rng.random((n, batch, units)) > 0.3) / 0.7}
    dh_seq = rng.normal(size=(batch, timesteps, units))
    dlast = [rng.normal(size=(batch, units)) for _ in cell.STATES]

    def run():
        return rnn_reference.rnn_forward(
            cell, p["x"], p["states"], p["kernel"], p["recurrent_kernel"], p["bias"],
            go_backwards, mask=mask, zero_output_for_mask=zero_output, **dropout,
        )

    def loss():
        h_seq, last, _ = run()
        states = sum(np.sum(s * d) for s, d in zip(last, dlast, strict=True))
        return float(np.sum(h_seq * dh_seq) + states)

    _, _, cache = run()
    dx, dstates, dweights = rnn_reference.rnn_backward(cell, dh_seq, dlast, cache)
    checks = [("x", dx, p["x"])]
    checks += [(f"state {s}", d, a)
               for s, d, a in zip(cell.STATES, dstates, p["states"], strict=True)]
    names = ("kernel", "recurrent_kernel", "bias")
    checks += [(w, d, p[w]) for w, d in zip(names, dweights, strict=True)]
    for what, grad, array in checks:
        np.testing.assert_allclose(grad, central_difference(loss, array), rtol=1e-6,
                                   atol=1e-8, err_msg=f"{name}: d{what}")


def test_masked_steps_follow_keras_rule_by_hand():
    """A one-unit SimpleRNN, h_t = tanh(x_t + h_tm1), written out step by step."""
    cell = SimpleRNNCell()
    x = np.array([[[1.0], [2.0], [3.0]]])  # (1, 3, 1)
    h0 = np.array([[0.5]])
    one = np.ones((1, 1))
    mask = np.array([[False, True, False]])  # step 0 and step 2 are padding
    h_seq, (h_last,), _ = rnn_reference.rnn_forward(cell, x, [h0], one, one, None, mask=mask)
    # step 0 masked: state carried (0.5), output repeats h_tm1 = the initial state
    # step 1 real: tanh(2 + 0.5); step 2 masked: carried again
    h1 = np.tanh(2.0 + 0.5)
    np.testing.assert_allclose(h_seq[0, :, 0], [0.5, h1, h1], rtol=0, atol=1e-15)
    np.testing.assert_allclose(h_last[0, 0], h1, rtol=0, atol=1e-15)
    # zero_output_for_mask: zeros at the masked steps, the state still carried
    h_seq, (h_last,), _ = rnn_reference.rnn_forward(cell, x, [h0], one, one, None, mask=mask,
                                                    zero_output_for_mask=True)
    np.testing.assert_allclose(h_seq[0, :, 0], [0.0, h1, 0.0], rtol=0, atol=1e-15)
    np.testing.assert_allclose(h_last[0, 0], h1, rtol=0, atol=1e-15)
    # go_backwards reads steps 2, 1, 0 with their own mask entries
    h_seq, _, _ = rnn_reference.rnn_forward(cell, x, [h0], one, one, None, go_backwards=True,
                                            mask=mask)
    np.testing.assert_allclose(h_seq[0, :, 0], [0.5, h1, h1], rtol=0, atol=1e-15)


def test_mask_of_the_wrong_shape_is_refused():
    cell = SimpleRNNCell()
    x = np.zeros((2, 3, 1))
    with pytest.raises(ValueError, match=r"mask of shape \(batch, timesteps\) = \(2, 3\)"):
        rnn_reference.rnn_forward(cell, x, [np.zeros((2, 1))], np.ones((1, 1)),
                                  np.ones((1, 1)), None, mask=np.ones((2, 4), bool))
