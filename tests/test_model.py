"""Sequential without Keras: whole-model float64 gradient check, weights order, summary."""

from __future__ import annotations

import numpy as np
import pytest

from npylstm import Input, Sequential, regularizers
from npylstm.layers import LSTM, Dense, Dropout


def _float64_model():
    return Sequential([
        Input((4, 2)),
        LSTM(3, return_sequences=True, go_backwards=True, dtype="float64",
             kernel_regularizer=regularizers.L2(0.01), recurrent_regularizer="l1",
             activity_regularizer=regularizers.L1L2(0.01, 0.02), backend="reference"),
        Dropout(0.5, dtype="float64"),
        Dense(2, activation="tanh", dtype="float64", bias_regularizer=regularizers.L2(0.1),
              activity_regularizer=regularizers.L2(0.05)),  # on every timestep
        LSTM(2, dtype="float64", bias_regularizer=regularizers.L1(0.03), backend="reference"),
        Dense(3, dtype="float64", kernel_regularizer=regularizers.L1L2(0.01, 0.01)),
    ])


@pytest.mark.parametrize("loss", ["mse", "mae", "huber"])
def test_loss_and_gradients_match_central_differences(rng, loss):
    model = _float64_model()
    model.set_weights([rng.normal(0, 0.5, size=w.shape) for w in model.get_weights()])
    x = rng.normal(size=(5, 4, 2))
    y = rng.normal(size=(5, 3))
    value, grads = model.loss_and_gradients(x, y, loss=loss)
    assert len(grads) == len(model.weights)
    eps = 1e-6
    for grad, weight in zip(grads, model.weights, strict=True):
        assert grad.shape == weight.shape
        expected = np.zeros_like(grad)
        for index in np.ndindex(weight.shape):
            old = weight.value[index]
            weight.value[index] = old + eps
            up, _ = model.loss_and_gradients(x, y, loss=loss)
            weight.value[index] = old - eps
            down, _ = model.loss_and_gradients(x, y, loss=loss)
            weight.value[index] = old
            expected[index] = (up - down) / (2 * eps)
        np.testing.assert_allclose(grad, expected, rtol=1e-5, atol=1e-8, err_msg=weight.path)


def test_weights_are_listed_layer_by_layer_in_keras_order():
    model = _float64_model()
    names = [w.path.split("/")[1] for w in model.weights]
    assert names == ["kernel", "recurrent_kernel", "bias", "kernel", "bias",
                     "kernel", "recurrent_kernel", "bias", "kernel", "bias"]
    shapes = [w.shape for w in model.get_weights()]
    assert shapes == [(2, 12), (3, 12), (12,), (3, 2), (2,), (2, 8), (2, 8), (8,), (2, 3), (3,)]
    # 4*3*(2+3+1) + (3*2+2) + 4*2*(2+2+1) + (2*3+3) = 72 + 8 + 40 + 9
    assert model.count_params() == 129


def test_set_weights_round_trip_and_unbuilt_model_builds_from_the_kernel(rng):
    model = _float64_model()
    weights = [rng.normal(size=w.shape) for w in model.get_weights()]
    model.set_weights(weights)
    for got, expected in zip(model.get_weights(), weights, strict=True):
        np.testing.assert_array_equal(got, expected)
    unbuilt = Sequential([LSTM(3), Dense(1)])
    unbuilt.set_weights([rng.normal(size=s) for s in [(5, 12), (3, 12), (12,), (3, 1), (1,)]])
    assert unbuilt.built and unbuilt.layers[0].input_dim == 5


def test_summary_prints_to_stdout_like_keras(capsys):
    model = Sequential([Input((10, 3)), LSTM(4, return_sequences=True), Dense(2)], name="toy")
    model.summary()
    out = capsys.readouterr().out
    assert 'Model: "toy"' in out
    assert "(None, 10, 4)" in out and "(None, 10, 2)" in out  # Dense on every timestep
    # 4*4*(3+4+1) = 128; 4*2+2 = 10
    assert "128" in out and "Total params: 138 (552.00 B)" in out
    assert "Non-trainable params: 0 (0.00 B)" in out


def test_summary_of_an_unbuilt_model_says_how_to_build_it():
    with pytest.raises(ValueError, match=r"summary\(\) needs a built model: add an Input"):
        Sequential([LSTM(2)], name="m").summary()


def test_on_batch_methods_need_compile_and_matching_targets():
    model = Sequential([Input(shape=(4, 2)), LSTM(3), Dense(1)])
    x = np.zeros((5, 4, 2), dtype=np.float32)
    with pytest.raises(ValueError, match=r"call compile\(optimizer, loss\) before train_on_batch"):
        model.train_on_batch(x, np.zeros((5, 1)))
    with pytest.raises(ValueError, match=r"call compile\(optimizer, loss\) before test_on_batch"):
        model.test_on_batch(x, np.zeros((5, 1)))
    model.compile(optimizer="sgd", loss="mse")
    with pytest.raises(ValueError, match="x and y must have the same number of samples"):
        model.train_on_batch(x, np.zeros((4, 1)))
    assert isinstance(model.train_on_batch(x, np.zeros((5, 1))), float)  # no metrics: a float
