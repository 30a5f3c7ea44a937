"""Dense: outputs vs real Keras (2-D and 3-D inputs), float64 gradient checks, configs, errors."""

from __future__ import annotations

import numpy as np
import pytest
from gradcheck import central_difference  # tests/ is on sys.path

import npylstm
from npylstm import regularizers
from npylstm.layers import Dense


def keras_weights(obj) -> list[np.ndarray]:
    """A Keras layer's or model's weights (``get_weights()`` warns under NumPy 2)."""
    return [np.asarray(v.value) for v in obj.weights]


@pytest.mark.parametrize("activation", [None, "relu", "tanh", "sigmoid"])
@pytest.mark.parametrize("shape", [(4, 6), (3, 5, 6)])
def test_dense_matches_keras(keras, rng, activation, shape):
    kl = keras.layers.Dense(3, activation=activation)
    x = rng.normal(size=shape).astype("float32")
    expected = np.asarray(kl(x))
    layer = Dense(3, activation=activation)
    layer.set_weights(keras_weights(kl))
    got = layer(x)
    assert got.shape == expected.shape and got.dtype == np.float32
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-6)


def test_dense_without_bias_has_only_a_kernel(keras, rng):
    kl = keras.layers.Dense(2, use_bias=False)
    x = rng.normal(size=(3, 4)).astype("float32")
    expected = np.asarray(kl(x))
    layer = Dense(2, use_bias=False)
    layer.set_weights(keras_weights(kl))
    assert [w.name for w in layer.weights] == ["kernel"]
    np.testing.assert_allclose(layer(x), expected, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("activation", ["linear", "tanh", "sigmoid", "softplus"])
@pytest.mark.parametrize("shape", [(3, 4), (2, 3, 4)])
def test_dense_backward_matches_central_differences(rng, activation, shape):
    layer = Dense(3, activation=activation, dtype="float64")
    x = rng.normal(size=shape)
    layer.build((None, *shape[1:]))
    layer.set_weights([rng.normal(size=(4, 3)), rng.normal(size=(3,))])
    weight = rng.normal(size=(*shape[:-1], 3))  # a fixed random projection of the output

    def loss():
        return float(np.sum(layer(x) * weight))

    y, cache = layer.forward(x)
    dx, (dkernel, dbias) = layer.backward(weight, cache)
    np.testing.assert_allclose(dx, central_difference(loss, x), rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(
        dkernel, central_difference(loss, layer.kernel), rtol=1e-6, atol=1e-8
    )
    np.testing.assert_allclose(dbias, central_difference(loss, layer.bias), rtol=1e-6, atol=1e-8)


def test_dense_regularization_loss_and_grads():
    layer = Dense(2, kernel_regularizer=regularizers.L2(0.5), bias_regularizer="l1")
    layer.build((None, 2))
    layer.set_weights([np.array([[1.0, -2.0], [0.0, 3.0]]), np.array([-1.0, 2.0])])
    # 0.5 * (1 + 4 + 0 + 9) + 0.01 * (1 + 2) = 7.03
    assert layer.regularization_loss() == pytest.approx(7.03, rel=1e-6)
    dkernel, dbias = layer.regularization_grads()
    np.testing.assert_allclose(dkernel, [[1.0, -2.0], [0.0, 3.0]])  # 2 * 0.5 * w
    np.testing.assert_allclose(dbias, [-0.01, 0.01])  # 0.01 * sign(b)


def test_dense_config_matches_keras_and_round_trips(keras):
    kl = keras.layers.Dense(
        4, activation="relu", kernel_regularizer="l2", bias_initializer="ones", name="out"
    )
    layer = Dense(4, activation="relu", kernel_regularizer="l2", bias_initializer="ones",
                  name="out")
    assert layer.get_config() == kl.get_config()
    again = Dense.from_config(kl.get_config())
    assert again.get_config() == kl.get_config()


def test_dense_param_formula():
    layer = Dense(5)
    layer.build((None, 20))
    assert layer.param_formula() == "20 × 5 + 5 = 105"
    assert layer.count_params() == 105


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"units": 0}, r"Dense 'd': expected units to be a positive integer, received 0"),
        ({"units": 2.5}, r"expected units to be a positive integer, received 2.5"),
        ({"units": 2, "activation": "nope"}, r"Unknown activation 'nope'"),
    ],
)
def test_dense_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        Dense(name="d", **kwargs)


def test_dense_input_feature_mismatch():
    layer = Dense(2, name="d")
    layer.build((None, 3))
    with pytest.raises(ValueError, match=r"Dense 'd': input has 4 features, kernel expects 3"):
        layer(np.zeros((1, 4)))
    with pytest.raises(ValueError, match=r"expected input of shape \(batch, \.\.\., features\)"):
        layer(np.zeros(3))


def test_an_activation_that_halves_the_last_axis_is_refused_by_name():
    # glu maps (..., 2n) to (..., n): a layer's units cannot follow it (Keras accepts it and
    # computes shapes that are wrong)
    with pytest.raises(ValueError, match=r"Dense 'd': activation='glu' halves the last axis"):
        npylstm.layers.Dense(4, activation="glu", name="d")
    with pytest.raises(ValueError, match=r"LSTM 'l': recurrent_activation='glu' halves"):
        npylstm.layers.LSTM(4, recurrent_activation="glu", name="l")
    with pytest.raises(ValueError, match=r"GRU 'g': activation='glu' halves the last axis"):
        npylstm.layers.GRU(4, activation="glu", name="g")
