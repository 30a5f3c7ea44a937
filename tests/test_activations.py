import warnings

import numpy as np
import pytest

from npylstm import activations

ALL = [n for n in activations.names() if n not in ("None", "silu")]
# The elementwise ones have a derivative grad(x, y); softmax and log_softmax a Jacobian
# (tested below with their vjp).
ELEMENTWISE = [n for n in ALL if activations.get(n).elementwise]

# Away from kinks (relu at 0, hard sigmoids at their clip points) so differences are smooth.
X = np.array([-7.3, -2.9, -1.1, -0.4, 0.3, 0.9, 1.7, 2.2, 4.1, 6.6])


@pytest.mark.parametrize("name", ELEMENTWISE)
def test_derivative_matches_central_difference(name):
    act = activations.get(name)
    eps = 1e-6
    numeric = (act(X + eps) - act(X - eps)) / (2 * eps)
    np.testing.assert_allclose(act.grad(X, act(X)), numeric, rtol=1e-6, atol=1e-9)


def test_hand_values():
    # Each expected value is the textbook definition evaluated by hand.
    x = np.array([-1.0, 0.0, 2.0])
    np.testing.assert_allclose(activations.get("sigmoid")(x), 1 / (1 + np.exp(-x)))
    np.testing.assert_allclose(activations.get("softsign")(x), [-0.5, 0.0, 2 / 3])
    np.testing.assert_allclose(activations.get("relu")(x), [0.0, 0.0, 2.0])
    np.testing.assert_allclose(activations.get("softplus")(x), np.log1p(np.exp(x)))
    np.testing.assert_allclose(activations.get("elu")(x), [np.exp(-1) - 1, 0.0, 2.0])
    np.testing.assert_allclose(activations.get("swish")(x), x / (1 + np.exp(-x)))
    np.testing.assert_allclose(activations.get("exponential")(x), np.exp(x))
    # Keras 3: x/6 + 0.5 clipped; Keras 2: 0.2x + 0.5 clipped
    np.testing.assert_allclose(activations.get("hard_sigmoid")(x), [1 / 3, 0.5, 5 / 6])
    np.testing.assert_allclose(activations.get("hard_sigmoid_keras2")(x), [0.3, 0.5, 0.9])


def test_sigmoid_is_stable_at_extremes():
    x = np.array([-np.inf, -1e4, -50.0, 0.0, 50.0, 1e4, np.inf], dtype=np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        y = activations.sigmoid(x)
        g = activations.get("sigmoid").grad(x, y)
    assert y.dtype == np.float32
    np.testing.assert_array_equal(y[[0, 1, 5, 6]], [0.0, 0.0, 1.0, 1.0])
    assert y[3] == 0.5
    assert 0 < y[2] < 1e-20  # exp(-50) ~ 2e-22 is representable in float32
    np.testing.assert_array_equal(g[[0, 1, 5, 6]], 0.0)


@pytest.mark.parametrize("name", ELEMENTWISE)
def test_no_warnings_on_extreme_inputs_and_nan_propagates(name):
    act = activations.get(name)
    x = np.array([-np.inf, -1e4, 1e4, np.inf, np.nan], dtype=np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        y = act(x)
        g = act.grad(x, y)
    assert y.dtype == np.float32 and g.dtype == np.float32
    assert np.isnan(y[-1])
    assert not np.isnan(y[:-1]).any()  # the limits at ±inf, never NaN


def test_unknown_activation_names_the_choices():
    with pytest.raises(ValueError, match="Unknown activation 'tanhh': expected one of .*sigmoid"):
        activations.get("tanhh")


def test_aliases():
    assert activations.get("silu") is activations.get("swish")
    assert activations.get(None).name == "linear"


@pytest.mark.parametrize("name", [n for n in ALL if n != "hard_sigmoid_keras2"])
def test_matches_keras(name, keras):
    x = np.linspace(-8, 8, 101).astype(np.float32)
    expected = np.asarray(keras.activations.get(name)(x))
    np.testing.assert_allclose(activations.get(name)(x), expected, rtol=1e-6, atol=1e-6)


# -- softmax and log_softmax: not elementwise ------------------------------------------------
SOFTMAXES = ["softmax", "log_softmax"]
# rows of logits with large and infinite values; Keras gives numbers on the first four
EXTREME = np.array(
    [
        [1e4, -1e4, 0.0, 3.0],
        [-1e4, -1e4, -1e4, -1e4 + 1],
        [-np.inf, 0.0, 1.0, -np.inf],
        [0.5, -0.25, 2.0, 1.0],
        [np.inf, 1.0, 2.0, -np.inf],  # Keras: NaN (inf - inf); the limit: one-hot
        [np.inf, np.inf, 0.0, 1.0],  # the limit: half and half
    ],
    dtype=np.float32,
)


def test_softmax_hand_values():
    x = np.array([[0.0, np.log(3.0)], [2.0, 2.0]])
    np.testing.assert_allclose(activations.softmax(x), [[0.25, 0.75], [0.5, 0.5]])
    np.testing.assert_allclose(activations.log_softmax(x), np.log([[0.25, 0.75], [0.5, 0.5]]))
    np.testing.assert_array_equal(activations.softmax(EXTREME[4:]),
                                  [[1, 0, 0, 0], [0.5, 0.5, 0, 0]])
    np.testing.assert_allclose(activations.log_softmax(EXTREME[4:]),
                               [[0, -np.inf, -np.inf, -np.inf],
                                [-np.log(2), -np.log(2), -np.inf, -np.inf]], rtol=1e-6)


@pytest.mark.parametrize("name", SOFTMAXES)
def test_softmax_extremes_give_no_warning_and_propagate_nan(name):
    act = activations.get(name)
    x = np.vstack([EXTREME, [[np.nan, 0, 1, 2], [-np.inf] * 4]]).astype(np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        y = act(x)
        dx = act.vjp(x, y, np.ones_like(x))
    assert y.dtype == np.float32 and dx.dtype == np.float32
    assert not np.isnan(y[:-2]).any()
    assert np.isnan(y[-2:]).all()  # a NaN logit, and a row without a finite limit


@pytest.mark.parametrize("name", SOFTMAXES)
def test_softmax_vjp_matches_central_differences(name, rng):
    act = activations.get(name)
    x = rng.normal(size=(3, 5))
    dy = rng.normal(size=(3, 5))
    numeric = np.zeros_like(x)
    eps = 1e-6
    for index in np.ndindex(x.shape):
        up, down = x.copy(), x.copy()
        up[index] += eps
        down[index] -= eps
        numeric[index] = np.sum((act(up) - act(down)) * dy) / (2 * eps)
    np.testing.assert_allclose(act.vjp(x, act(x), dy), numeric, rtol=1e-6, atol=1e-9)
    with pytest.raises(ValueError, match="not elementwise.*vjp"):
        act.grad(x, act(x))


@pytest.mark.parametrize("name", SOFTMAXES)
def test_softmax_matches_keras_values_and_gradients(name, keras):
    import jax
    import jax.numpy as jnp

    act = activations.get(name)
    finite = EXTREME[:4]  # where Keras gives numbers
    dy = np.random.default_rng(3).normal(size=finite.shape).astype(np.float32)
    theirs = np.asarray(keras.activations.get(name)(finite))
    np.testing.assert_allclose(act(finite), theirs, rtol=1e-6, atol=1e-6)
    _, pullback = jax.vjp(keras.activations.get(name), jnp.asarray(finite))
    (their_dx,) = pullback(jnp.asarray(dy))
    np.testing.assert_allclose(act.vjp(finite, act(finite), dy), np.asarray(their_dx),
                               rtol=1e-5, atol=1e-6)
    assert np.isnan(np.asarray(keras.activations.get(name)(EXTREME[4:]))).all()  # ours: limits
