"""Keras's own LSTM test values (keras/src/layers/rnn/lstm_test.py), reproduced without Keras.

Input ``np.arange(72).reshape(3, 6, 4)``, ``LSTM(3)`` with constant initializers kernel 0.01,
recurrent_kernel 0.02, bias 0.03 (unit_forget_bias sets the forget block to 1). Each output
row repeats one value; Keras checks the first column with atol = rtol = 1e-5.
"""

import numpy as np
import pytest

from npylstm.initializers import Constant
from npylstm.layers import LSTM

CASES = {
    "default": ({}, [0.6288687, 0.86899155, 0.9460773]),
    "go_backwards": ({"go_backwards": True}, [0.35622165, 0.74789524, 0.8872726]),
    "no_unit_forget_bias": ({"unit_forget_bias": False}, [0.57019705, 0.8661914, 0.9459622]),
    "no_bias": ({"use_bias": False}, [0.54986924, 0.86226785, 0.9443936]),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_keras_known_outputs(case, backend):
    kwargs, first_column = CASES[case]
    x = np.arange(72).reshape(3, 6, 4).astype("float32")
    layer = LSTM(
        3,
        kernel_initializer=Constant(0.01),
        recurrent_initializer=Constant(0.02),
        bias_initializer=Constant(0.03),
        backend=backend,
        **kwargs,
    )
    y = layer(x)
    expected = np.repeat(np.array(first_column, dtype="float32")[:, None], 3, axis=1)
    np.testing.assert_allclose(y, expected, atol=1e-5, rtol=1e-5)


def test_one_step_by_hand():
    """One timestep, one unit, written out: every weight 0.5, bias 0, input 1, zero state.

    z = 1*0.5 + 0*0.5 = 0.5 for all four gates; i = f = o = sigmoid(0.5), g = tanh(0.5);
    c = f*0 + i*g; h = o*tanh(c).
    """
    layer = LSTM(1, return_state=True, kernel_initializer=Constant(0.5),
                 recurrent_initializer=Constant(0.5), unit_forget_bias=False, dtype="float64")
    output, h_last, c_last = layer(np.ones((1, 1, 1)))
    s = 1 / (1 + np.exp(-0.5))
    c = s * np.tanh(0.5)
    h = s * np.tanh(c)
    np.testing.assert_allclose(output, [[h]], rtol=1e-15)
    np.testing.assert_allclose(h_last, [[h]], rtol=1e-15)
    np.testing.assert_allclose(c_last, [[c]], rtol=1e-15)
