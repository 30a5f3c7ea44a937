"""explain_params and the summary's formulas for GRU, SimpleRNN and Bidirectional, against
Keras's count_params() (JAX backend) and the formulas evaluated as arithmetic."""

from __future__ import annotations

import re

import pytest

import npylstm
from npylstm.explain import explain_params
from npylstm.layers import GRU, LSTM, Bidirectional, Dense, SimpleRNN


def evaluate(expression: str) -> int:
    """``"3 × 4 × (2 + 4 + 2)"`` as a number (digits, ×, +, parentheses only)."""
    assert re.fullmatch(r"[\d ×+()]+", expression), expression
    return eval(expression.replace("×", "*"))  # noqa: S307 - checked to be arithmetic


def check_formula(formula: str, count: int) -> None:
    """Every ``a = b = c`` part of the formula evaluates to the count."""
    parts = formula.split(" = ")
    assert parts[-1] == f"{count:,}"
    for part in parts[:-1]:
        assert evaluate(part) == count, (part, count)


#: Keras's Orthogonal initializer costs seconds of JAX compilation per layer; counts do not
#: depend on it.
Z = {"kernel_initializer": "zeros", "recurrent_initializer": "zeros"}

CASES = [
    # (name, our layer factory, Keras layer factory, input_dim, rule)
    ("gru_reset_after", lambda: GRU(7), lambda k: k.layers.GRU(7, **Z), 3,
     "3 × units × (input_dim + units + 2)"),
    ("gru_reset_before", lambda: GRU(5, reset_after=False),
     lambda k: k.layers.GRU(5, reset_after=False, **Z), 4, "3 × units × (input_dim + units + 1)"),
    ("gru_no_bias", lambda: GRU(4, use_bias=False), lambda k: k.layers.GRU(4, use_bias=False, **Z),
     2, "3 × units × (input_dim + units)"),
    ("simple_rnn", lambda: SimpleRNN(6), lambda k: k.layers.SimpleRNN(6, **Z), 3,
     "units × (input_dim + units + 1)"),
    ("bidirectional_lstm", lambda: Bidirectional(LSTM(4)),
     lambda k: k.layers.Bidirectional(k.layers.LSTM(4, **Z)), 3,
     "2 × (4 × units × (input_dim + units + 1))"),
    ("bidirectional_gru", lambda: Bidirectional(GRU(3, reset_after=False), merge_mode="sum"),
     lambda k: k.layers.Bidirectional(k.layers.GRU(3, reset_after=False, **Z), merge_mode="sum"), 5,
     "2 × (3 × units × (input_dim + units + 1))"),
]


@pytest.mark.parametrize(("ours", "theirs", "input_dim", "rule"),
                         [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_formulas_match_keras_counts(keras, ours, theirs, input_dim, rule):
    k_model = keras.Sequential([keras.Input((6, input_dim)), theirs(keras)])
    model = npylstm.Sequential([npylstm.Input((6, input_dim)), ours()])
    (p,) = explain_params(model).layers
    assert p.count == k_model.layers[0].count_params() == model.count_params()
    assert p.rule == rule
    check_formula(p.formula, p.count)
    assert sum(int(eval("*".join(map(str, shape)) or "1")) for _, shape in p.weights) == p.count


def test_gru_formula_text():
    # Keras 3's default GRU: 3 gates × 64 units × (2 inputs + 64 recurrent + 2 biases)
    model = npylstm.Sequential([npylstm.Input((5, 2)), GRU(64, return_sequences=True),
                                GRU(32, reset_after=False), Dense(1)])
    gru, gru_b, _ = explain_params(model).layers
    assert gru.formula == "3 × 64 × (2 + 64 + 2) = 13,056"
    assert gru.weights == (("kernel", (2, 192)), ("recurrent_kernel", (64, 192)),
                           ("bias", (2, 192)))
    assert gru_b.formula == "3 × 32 × (64 + 32 + 1) = 9,312"
    assert gru_b.weights[-1] == ("bias", (96,))


def test_bidirectional_lists_both_directions():
    model = npylstm.Sequential([npylstm.Input((5, 2)), Bidirectional(GRU(4, name="gru"))])
    (p,) = explain_params(model).layers
    assert p.formula == "3 × 4 × (2 + 4 + 2) + 3 × 4 × (2 + 4 + 2) = 96 + 96 = 192"
    names = [name for name, _ in p.weights]
    assert names == ["forward_gru/kernel", "forward_gru/recurrent_kernel", "forward_gru/bias",
                     "backward_gru/kernel", "backward_gru/recurrent_kernel",
                     "backward_gru/bias"]
    text = str(explain_params(model))
    assert "forward_gru/bias (2, 12)" in text and text.splitlines()[-1].split() == [
        "Total", "192"]


def test_summary_shows_the_gru_formulas(capsys):
    model = npylstm.Sequential([npylstm.Input((5, 2)), GRU(8, return_sequences=True),
                                SimpleRNN(3)])
    model.summary(show_param_formulas=True)
    out = capsys.readouterr().out
    assert "3 × 8 × (2 + 8 + 2) = 288" in out
    assert "3 × (8 + 3 + 1) = 36" in out


def test_explain_unbuilt_recurrent_layers_are_refused():
    with pytest.raises(ValueError, match="explain_params: layer 'my_gru' is not built"):
        explain_params(GRU(3, name="my_gru"))
    with pytest.raises(ValueError, match="explain_params: layer 'bi' is not built"):
        explain_params(Bidirectional(GRU(3), name="bi"))
