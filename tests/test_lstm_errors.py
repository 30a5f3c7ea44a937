"""Bad input to the LSTM layer: each gives a clear error naming the layer, what was expected
and what was received. Edge inputs that are valid (empty batch, NaN) behave like Keras."""

import warnings

import numpy as np
import pytest

from npylstm.layers import LSTM


@pytest.fixture
def layer(backend):
    layer = LSTM(3, name="lstm_1", backend=backend)
    layer.build((None, 5, 4))
    return layer


@pytest.mark.parametrize("shape", [(2, 4), (2, 5, 4, 1)])
def test_wrong_rank_input(layer, shape):
    ndim = len(shape)
    with pytest.raises(
        ValueError,
        match=rf"LSTM 'lstm_1': expected input of shape \(batch, timesteps, features\), "
        rf"received a {ndim}-D input of shape {re_shape(shape)}",
    ):
        layer(np.zeros(shape, dtype="float32"))


def re_shape(shape):
    return str(tuple(shape)).replace("(", r"\(").replace(")", r"\)")


def test_feature_count_differs_from_kernel(layer):
    with pytest.raises(ValueError, match="LSTM 'lstm_1': input has 5 features, kernel expects 4"):
        layer(np.zeros((2, 5, 5), dtype="float32"))


def test_zero_timesteps(layer):
    with pytest.raises(ValueError, match=r"LSTM 'lstm_1': expected at least one timestep, "
                                         r"received input of shape \(2, 0, 4\)"):
        layer(np.zeros((2, 0, 4), dtype="float32"))


@pytest.mark.parametrize("units", [0, -3, 2.5, "3", True, None])
def test_bad_units(units):
    with pytest.raises(ValueError, match=r"expected units to be a positive integer, received"):
        LSTM(units)


@pytest.mark.parametrize(
    "argument", ["kernel_constraint", "recurrent_constraint", "bias_constraint"]
)
def test_unknown_constraints_are_refused(argument):
    with pytest.raises(ValueError, match=rf"LSTM 'c': {argument}: Unknown constraint "
                                         r"'nonnegative'"):
        LSTM(3, name="c", **{argument: "nonnegative"})


def test_dense_unknown_constraints_are_refused():
    from npylstm.layers import Dense

    with pytest.raises(ValueError, match=r"Dense 'd': bias_constraint: Unknown constraint"):
        Dense(3, name="d", bias_constraint="nonnegative")


def test_numpy_integer_units_are_accepted():
    assert LSTM(np.int64(4)).units == 4


@pytest.mark.parametrize("argument", ["activation", "recurrent_activation"])
def test_unknown_activation(argument):
    with pytest.raises(ValueError, match=r"Unknown activation 'tanhh': expected one of .*tanh"):
        LSTM(3, **{argument: "tanhh"})


def test_set_weights_wrong_count(layer):
    kernel, recurrent_kernel, _ = layer.get_weights()
    with pytest.raises(ValueError, match=r"LSTM 'lstm_1': set_weights expected 3 arrays "
                                         r"\['kernel', 'recurrent_kernel', 'bias'\], received 2"):
        layer.set_weights([kernel, recurrent_kernel])


def test_set_weights_transposed_kernel(layer):
    kernel, recurrent_kernel, bias = layer.get_weights()
    with pytest.raises(ValueError, match=r"LSTM 'lstm_1': set_weights: 'kernel' expected shape "
                                         r"\(4, 12\), received \(12, 4\)"):
        layer.set_weights([kernel.T, recurrent_kernel, bias])
    # nothing was half-assigned
    np.testing.assert_array_equal(layer.get_weights()[0], kernel)


def test_initial_state_with_one_state(layer):
    with pytest.raises(ValueError, match=r"LSTM 'lstm_1': expected initial_state to be a list of "
                                         r"two arrays \[h, c\], received 1"):
        layer(np.zeros((2, 5, 4)), initial_state=[np.zeros((2, 3))])


def test_initial_state_wrong_shape(layer):
    with pytest.raises(ValueError, match=r"LSTM 'lstm_1': initial_state c expected shape "
                                         r"\(2, 3\), received \(3, 2\)"):
        layer(np.zeros((2, 5, 4)), initial_state=[np.zeros((2, 3)), np.zeros((3, 2))])


@pytest.mark.parametrize("rate", [-0.1, 1.0, 1.5])
@pytest.mark.parametrize("argument", ["dropout", "recurrent_dropout"])
def test_dropout_out_of_range(argument, rate):
    with pytest.raises(ValueError, match=rf"expected {argument} in \[0, 1\), received {rate}"):
        LSTM(3, **{argument: rate})


def test_unknown_backend():
    with pytest.raises(ValueError, match=r"Unknown backend 'cuda': expected one of"):
        LSTM(3, backend="cuda")


def test_non_numeric_input(layer):
    with pytest.raises(ValueError, match=r"LSTM 'lstm_1': expected a numeric array input"):
        layer([["a", "b"]])


@pytest.mark.parametrize("return_sequences", [False, True])
def test_empty_batch_gives_empty_output(layer, return_sequences):
    layer.return_sequences = return_sequences
    y = layer(np.zeros((0, 5, 4), dtype="float32"))
    assert y.shape == ((0, 5, 3) if return_sequences else (0, 3))
    assert y.dtype == np.float32


def test_nan_input_propagates(layer):
    x = np.zeros((2, 5, 4), dtype="float32")
    x[1, 2, 0] = np.nan
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        y = layer(x)
    assert np.isnan(y[1]).all()  # every output after the NaN step is NaN
    assert np.isfinite(y[0]).all()  # the other sample is untouched


def test_integer_and_list_input_converted_to_float32(layer):
    y = layer(np.ones((1, 5, 4), dtype=np.int64))
    np.testing.assert_array_equal(y, layer(np.ones((1, 5, 4), dtype="float32")))
    assert layer([[[1, 1, 1, 1]] * 5]).dtype == np.float32
