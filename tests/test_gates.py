import numpy as np
import pytest

from npylstm.gates import (
    GATES,
    join_gates,
    keras_to_torch,
    lstm_param_count,
    lstm_param_formula,
    split_gates,
    torch_to_keras,
)


def test_gate_order_is_keras_order():
    assert GATES == ("i", "f", "c", "o")


def test_split_matches_keras_slices(rng):
    # seed 002: kernel_i = kernel[:, :units], kernel_f = kernel[:, units: units * 2], ...
    units, input_dim = 5, 3
    kernel = rng.normal(size=(input_dim, 4 * units))
    kernel_i, kernel_f, kernel_c, kernel_o = split_gates(kernel)
    np.testing.assert_array_equal(kernel_i, kernel[:, :units])
    np.testing.assert_array_equal(kernel_f, kernel[:, units : units * 2])
    np.testing.assert_array_equal(kernel_c, kernel[:, units * 2 : units * 3])
    np.testing.assert_array_equal(kernel_o, kernel[:, units * 3 :])
    assert np.shares_memory(kernel_f, kernel)  # views, not copies
    np.testing.assert_array_equal(join_gates(*split_gates(kernel)), kernel)


def test_split_rejects_wrong_width():
    with pytest.raises(ValueError, match=r"last axis is 4 \* units, received shape \(3, 10\)"):
        split_gates(np.zeros((3, 10)))


def test_join_rejects_mismatched_blocks():
    with pytest.raises(ValueError, match="one shape"):
        join_gates(np.zeros(2), np.zeros(2), np.zeros(3), np.zeros(2))


@pytest.mark.parametrize(
    ("input_dim", "units", "expected"),
    [
        # seed 003: LSTM(64) on 2 features, LSTM(32) after it
        (2, 64, 17_152),
        (64, 32, 12_416),
        # seed 004: LSTM(20) on 1 feature, LSTM(20) after it
        (1, 20, 1_760),
        (20, 20, 3_280),
        # seed 000: LSTM(50) on 1 feature, LSTM(50) after LSTM(50)
        (1, 50, 10_400),
        (50, 50, 20_200),
    ],
)
def test_seed_param_counts(input_dim, units, expected):
    assert lstm_param_count(input_dim, units) == expected
    assert lstm_param_formula(input_dim, units).endswith(f"= {expected:,}")


def test_param_count_without_bias():
    # 4 * 3 * (4 + 3) written out by hand
    assert lstm_param_count(4, 3, use_bias=False) == 84


def test_torch_round_trip(rng):
    kernel, recurrent, bias = rng.normal(size=(3, 8)), rng.normal(size=(2, 8)), rng.normal(size=8)
    sd = keras_to_torch(kernel, recurrent, bias)
    assert sd["weight_ih"].shape == (8, 3) and sd["weight_hh"].shape == (8, 2)
    k2, r2, b2 = torch_to_keras(**sd)
    np.testing.assert_array_equal(k2, kernel)
    np.testing.assert_array_equal(r2, recurrent)
    np.testing.assert_array_equal(b2, bias)


def test_torch_biases_are_summed(rng):
    w_ih, w_hh = rng.normal(size=(8, 3)), rng.normal(size=(8, 2))
    b_ih, b_hh = rng.normal(size=8), rng.normal(size=8)
    _, _, bias = torch_to_keras(w_ih, w_hh, b_ih, b_hh)
    np.testing.assert_allclose(bias, b_ih + b_hh)


def test_torch_rejects_projection_shape():
    # nn.LSTM(3, 4, proj_size=2): weight_hh is (16, 2), not (4H, H)
    with pytest.raises(ValueError, match="expected weight_hh \\(4H, H\\).*proj_size"):
        torch_to_keras(np.zeros((16, 3)), np.zeros((16, 2)))


def test_keras_to_torch_rejects_transposed_kernel():
    with pytest.raises(ValueError, match="expected kernel"):
        keras_to_torch(np.zeros((8, 3)), np.zeros((2, 8)))
