import warnings

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from npylstm import activations

ALL = [n for n in activations.names() if n not in ("None", "silu", "hard_swish")]
# The elementwise ones have a derivative grad(x, y); softmax, log_softmax, sparsemax and glu
# a Jacobian (tested below with their vjp).
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


# off every kink (0, ±0.5, ±1, ±3, 6) by at least 0.013
X_KERAS = np.linspace(-8, 8, 161).astype(np.float32) + np.float32(0.013)
MAX_DIFF: dict[str, tuple[float, float]] = {}  # name: (output, gradient) vs Keras / JAX


@pytest.mark.parametrize("name", [n for n in ELEMENTWISE if n != "hard_sigmoid_keras2"])
def test_matches_keras_values_and_jax_gradients(name, keras):
    import jax
    import jax.numpy as jnp

    act, theirs = activations.get(name), keras.activations.get(name)
    dy = np.random.default_rng(7).normal(size=X_KERAS.shape).astype(np.float32)
    expected = np.asarray(theirs(X_KERAS))
    y = act(X_KERAS)
    np.testing.assert_allclose(y, expected, rtol=1e-6, atol=1e-6)
    _, pullback = jax.vjp(theirs, jnp.asarray(X_KERAS))
    (their_dx,) = pullback(jnp.asarray(dy))
    dx = act.vjp(X_KERAS, y, dy)
    np.testing.assert_allclose(dx, np.asarray(their_dx), rtol=1e-5, atol=1e-6)
    assert y.dtype == dx.dtype == np.float32
    MAX_DIFF[name] = (float(np.max(np.abs(y - expected))),
                      float(np.max(np.abs(dx - np.asarray(their_dx)))))


@pytest.mark.parametrize("name", [n for n in ELEMENTWISE if n != "hard_sigmoid_keras2"])
def test_derivatives_at_the_kinks_are_jax(name, keras):
    import jax
    import jax.numpy as jnp

    x = np.array([-3, -1, -0.5, 0, 0.5, 1, 3, 6], np.float32)  # every kink of every name
    act, theirs = activations.get(name), keras.activations.get(name)
    _, pullback = jax.vjp(theirs, jnp.asarray(x))
    (their_dx,) = pullback(jnp.ones_like(jnp.asarray(x)))
    np.testing.assert_allclose(act.vjp(x, act(x), np.ones_like(x)), np.asarray(their_dx),
                               rtol=1e-5, atol=1e-6)


def test_every_name_keras_registers_is_accepted_or_refused_clearly(keras):
    from keras.src.activations import ALL_OBJECTS_DICT

    for name in ALL_OBJECTS_DICT:
        if name == "threshold":
            with pytest.raises(ValueError, match=r"activation 'threshold' is not supported: "
                                                 r"Keras's threshold\(x, threshold, "
                                                 r"default_value\) has no default"):
                activations.get(name)
            continue
        assert activations.get(name).name in activations.names(), name
    assert activations.get("hard_swish") is activations.get("hard_silu")


def test_gelu_by_name_is_the_exact_form(keras):
    # the string "gelu" is keras.activations.gelu(x, approximate=False): Φ(x) = erf form
    import math

    x = np.array([-1.5, 0.7, 2.0])
    exact = [0.5 * v * (1 + math.erf(v / math.sqrt(2))) for v in x]
    np.testing.assert_allclose(activations.get("gelu")(x), exact, rtol=1e-14)
    tanh_form = np.asarray(keras.activations.gelu(x.astype(np.float32), approximate=True))
    assert np.max(np.abs(activations.get("gelu")(x) - tanh_form)) > 1e-4


def test_new_activations_hand_values():
    x = np.array([-2.0, -0.25, 0.75, 7.0])
    a = activations.get
    np.testing.assert_allclose(a("relu6")(x), [0, 0, 0.75, 6])
    np.testing.assert_allclose(a("leaky_relu")(x), [-0.4, -0.05, 0.75, 7])  # slope 0.2
    np.testing.assert_allclose(a("hard_silu")(x), x * np.clip(x / 6 + 0.5, 0, 1))
    np.testing.assert_allclose(a("hard_tanh")(x), [-1, -0.25, 0.75, 1])
    np.testing.assert_allclose(a("sparse_plus")(x), [0, 0.75 ** 2 / 4, 1.75 ** 2 / 4, 7])
    np.testing.assert_allclose(a("sparse_sigmoid")(x), [0, 0.375, 0.875, 1])
    np.testing.assert_allclose(a("squareplus")(x), (x + np.sqrt(x * x + 4)) / 2)
    np.testing.assert_allclose(a("log_sigmoid")(x), np.log(1 / (1 + np.exp(-x))))
    np.testing.assert_allclose(a("soft_shrink")(x), [-1.5, 0, 0.25, 6.5])
    np.testing.assert_allclose(a("hard_shrink")(x), [-2, 0, 0.75, 7])
    np.testing.assert_allclose(a("tanh_shrink")(x), x - np.tanh(x))
    np.testing.assert_allclose(a("mish")(x), x * np.tanh(np.log1p(np.exp(x))))
    np.testing.assert_allclose(a("celu")(x), np.where(x > 0, x, np.expm1(x)))
    # glu: the first half times the sigmoid of the second
    np.testing.assert_allclose(a("glu")(np.array([[1.0, -2.0, 0.0, 3.0]])),
                               [[0.5, -2 / (1 + np.exp(-3.0))]])


def test_sparsemax_is_the_projection_onto_the_simplex(rng):
    # Martins & Astudillo: for [0, 0.5, 1] the support is {0.5, 1}, tau = 0.25
    np.testing.assert_allclose(activations.sparsemax(np.array([[0.0, 0.5, 1.0]])),
                               [[0.0, 0.25, 0.75]])
    x = rng.normal(size=(50, 6))
    y = activations.sparsemax(x)
    np.testing.assert_allclose(y.sum(axis=-1), 1.0, rtol=1e-12)
    assert (y >= 0).all()
    # y minimizes |y - x|^2 on the simplex: x - y is constant (tau) on the support
    for row_x, row_y in zip(x, y, strict=True):
        gap = (row_x - row_y)[row_y > 0]
        np.testing.assert_allclose(gap, gap[0], atol=1e-12)
        assert (row_x[row_y == 0] <= gap[0] + 1e-12).all()
    np.testing.assert_allclose(activations.sparsemax(x.T, axis=0), y.T)


def test_sparsemax_agrees_with_keras_on_single_entry_supports(keras):
    # Keras 3.15's threshold is wrong for supports of several entries (keras#23425, fixed
    # upstream by #23469); on one-entry supports both are one-hot
    x = np.array([[3.0, 0.1, -1.0, 0.2], [5.0, -2.0, 0.0, 1.0]], np.float32)
    np.testing.assert_array_equal(activations.sparsemax(x),
                                  np.asarray(keras.activations.sparsemax(x)))
    several = np.array([[0.0, 0.5, 1.0]], np.float32)
    assert np.asarray(keras.activations.sparsemax(several)).sum() < 0.5  # Keras's bug


@pytest.mark.parametrize("name", ["glu", "sparsemax"])
def test_glu_and_sparsemax_vjp_match_central_differences_and_jax(name, rng, keras):
    import jax
    import jax.numpy as jnp

    act = activations.get(name)
    x = rng.normal(size=(4, 6))
    dy = rng.normal(size=act(x).shape)
    numeric = np.zeros_like(x)
    for index in np.ndindex(x.shape):
        up, down = x.copy(), x.copy()
        up[index] += 1e-6
        down[index] -= 1e-6
        numeric[index] = np.sum((act(up) - act(down)) * dy) / 2e-6
    np.testing.assert_allclose(act.vjp(x, act(x), dy), numeric, rtol=1e-6, atol=1e-8)
    if name == "glu":  # Keras's sparsemax differs (above); glu is Keras's function
        x32, dy32 = x.astype(np.float32), dy.astype(np.float32)
        theirs = keras.activations.get(name)
        np.testing.assert_allclose(act(x32), np.asarray(theirs(x32)), rtol=1e-6, atol=1e-7)
        _, pullback = jax.vjp(theirs, jnp.asarray(x32))
        their_dx = np.asarray(pullback(jnp.asarray(dy32))[0])
        np.testing.assert_allclose(act.vjp(x32, act(x32), dy32), their_dx, rtol=1e-5,
                                   atol=1e-6)
        MAX_DIFF[name] = (float(np.max(np.abs(act(x32) - np.asarray(theirs(x32))))),
                          float(np.max(np.abs(act.vjp(x32, act(x32), dy32) - their_dx))))
    with pytest.raises(ValueError, match="not elementwise.*vjp"):
        act.grad(x, act(x))


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


# -- recurrent and dense layers with the new activations ------------------------------------
@pytest.mark.parametrize("kind", ["LSTM", "GRU"])
def test_rnn_with_gelu_falls_back_to_the_generic_loop_and_matches_keras(kind, keras):
    import npylstm
    from npylstm.ops.kernels import REFERENCE, get_kernel

    options = {"activation": "gelu", "recurrent_activation": "sparse_sigmoid",
               "return_sequences": True}
    layer = npylstm.registry.get(kind)(3, **options)
    x = np.random.default_rng(5).normal(size=(2, 6, 4)).astype(np.float32)
    layer.build(x.shape)
    assert get_kernel(layer.cell, "numba") is REFERENCE  # no Numba code for gelu
    weights = [np.random.default_rng(6).normal(0, 0.5, size=w.shape).astype(np.float32)
               for w in layer.get_weights()]
    layer.set_weights(weights)
    theirs = getattr(keras.layers, kind)(3, **options)
    theirs.build(x.shape)
    theirs.set_weights(weights)
    np.testing.assert_allclose(layer(x), np.asarray(theirs(x)), rtol=1e-5, atol=2e-6)


def test_dense_with_mish_matches_keras(keras):
    from npylstm.layers import Dense

    x = np.random.default_rng(8).normal(size=(4, 5)).astype(np.float32)
    ours = Dense(3, activation="mish")
    ours.build(x.shape)
    theirs = keras.layers.Dense(3, activation="mish")
    theirs.build(x.shape)
    theirs.set_weights(ours.get_weights())
    np.testing.assert_allclose(ours(x), np.asarray(theirs(x)), atol=1e-6)


# -- the activation layers -------------------------------------------------------------------
def _keras_layer_grads(theirs, x, dy):
    import jax
    import jax.numpy as jnp

    weights = [v.value for v in theirs.trainable_variables]

    def objective(weights, x):
        out, _ = theirs.stateless_call(weights, [], x)
        return jnp.sum(out * dy)

    return jax.grad(objective, argnums=(0, 1))(weights, jnp.asarray(x))


@settings(max_examples=10, deadline=None, derandomize=True)
@given(max_value=st.one_of(st.none(), st.sampled_from([0.0, 0.7, 2.0, 6.0])),
       negative_slope=st.sampled_from([0.0, 0.1, 0.3]),
       threshold=st.sampled_from([0.0, 0.25, 1.0]))
@example(max_value=0.7, negative_slope=0.1, threshold=0.25)  # ties at a float32 max_value
def test_drawn_relu_options_match_keras(max_value, negative_slope, threshold):
    import keras

    from npylstm.layers import ReLU

    options = {"max_value": max_value, "negative_slope": negative_slope,
               "threshold": threshold}
    kinks = [0.0, threshold, 6.0, max_value or 0.0]  # JAX's gradients at the ties too
    x = np.random.default_rng(2).normal(0, 2, size=(3, 7)).astype(np.float32)
    x[0, :4] = kinks
    dy = np.random.default_rng(3).normal(size=x.shape).astype(np.float32)
    ours = ReLU(**options)
    theirs = keras.layers.ReLU(**options)
    y, cache = ours.forward(x)
    np.testing.assert_allclose(y, np.asarray(theirs(x)), atol=1e-6)
    _, their_dx = _keras_layer_grads(theirs, x, dy)
    np.testing.assert_allclose(ours.backward(dy, cache)[0], np.asarray(their_dx), atol=1e-6)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"max_value": -1.0}, r"expected max_value to be a non-negative number, received -1.0"),
    ({"negative_slope": None}, r"expected negative_slope to be a non-negative number"),
    ({"negative_slope": -0.1}, r"expected negative_slope .*received -0.1"),
    ({"threshold": -0.5}, r"expected threshold to be a non-negative number"),
    ({"threshold": "0.5"}, r"expected threshold .*received '0.5'"),
    ({"max_value": float("nan")}, r"expected max_value .*received nan"),
])
def test_relu_bad_arguments(kwargs, message):
    from npylstm.layers import ReLU

    with pytest.raises(ValueError, match=r"ReLU 'r': " + message):
        ReLU(name="r", **kwargs)


def test_leaky_relu_and_elu_options_match_keras(keras):
    from npylstm.layers import ELU, LeakyReLU

    x = np.random.default_rng(4).normal(size=(3, 5)).astype(np.float32)
    dy = np.ones_like(x)
    for ours, theirs in [(LeakyReLU(0.07), keras.layers.LeakyReLU(0.07)),
                         (ELU(alpha=0.5), keras.layers.ELU(alpha=0.5))]:
        y, cache = ours.forward(x)
        np.testing.assert_allclose(y, np.asarray(theirs(x)), atol=1e-6)
        _, their_dx = _keras_layer_grads(theirs, x, dy)
        np.testing.assert_allclose(ours.backward(dy, cache)[0], np.asarray(their_dx), atol=1e-6)
        assert ours.get_config() == {**theirs.get_config(), "name": ours.name}
    with pytest.raises(ValueError, match=r"LeakyReLU 'l': expected negative_slope"):
        LeakyReLU(-1, name="l")
    with pytest.raises(ValueError, match=r"ELU 'e': expected alpha to be a number"):
        ELU("one", name="e")


def test_keras2_leaky_relu_alpha_becomes_negative_slope():
    from npylstm.io.keras_config import normalize_model_config

    config = {"class_name": "Sequential", "config": {"name": "s", "layers": [
        {"class_name": "Dense", "config": {"name": "d", "units": 2,
                                           "batch_input_shape": [None, 3]}},
        {"class_name": "LeakyReLU", "config": {"name": "l", "trainable": True,
                                               "dtype": "float32", "alpha": 0.15}}]}}
    layers = normalize_model_config(config, "2.15.0")["config"]["layers"]
    leaky = layers[-1]["config"]
    assert "alpha" not in leaky and leaky["negative_slope"] == 0.15


def test_softmax_mask_matches_keras(keras):
    import jax.numpy as jnp

    from npylstm.layers import Softmax

    x = np.random.default_rng(9).normal(size=(2, 3, 4)).astype(np.float32)
    masks = [np.array([[True, False, True, False]]),  # (1, 4): broadcast over rows
             np.array([[0.2, 0.9, 0.7, 0.0]] * 3, np.float32),  # > 0.5 kept
             np.zeros((2, 3, 4), bool)]  # every position masked: zeros
    for axis in (-1, (1, 2)):
        for mask in masks:
            ours, cache = Softmax(axis=axis).forward(x, mask=mask)
            theirs = keras.layers.Softmax(axis=axis)(jnp.asarray(x), mask=jnp.asarray(mask))
            np.testing.assert_allclose(ours, np.asarray(theirs), atol=1e-7)
    assert not ours.any()
    with pytest.raises(ValueError, match=r"Softmax 's': the mask must be broadcastable to the "
                                         r"input: received input shape \(2, 3, 4\), mask "
                                         r"shape \(2, 3\)"):
        Softmax(name="s").forward(x, mask=np.ones((2, 3), bool))
    with pytest.raises(ValueError, match=r"Softmax 's': axis 3 is out of range"):
        Softmax(axis=3, name="s")(x)
    for axis in ((), 1.5, (1, "2"), True):
        with pytest.raises(ValueError, match=r"Softmax 's': expected axis to be an int or a "
                                             r"tuple of ints"):
            Softmax(axis=axis, name="s")


def test_prelu_bad_arguments_and_inputs():
    from npylstm.layers import PReLU

    with pytest.raises(ValueError, match=r"PReLU 'p': alpha_constraint: Unknown constraint"):
        PReLU(alpha_constraint="nonnegative", name="p")
    with pytest.raises(ValueError, match=r"PReLU 'p': expected shared_axes to be positive"):
        PReLU(shared_axes=[0], name="p")
    with pytest.raises(ValueError, match=r"PReLU 'p': expected an input shape .* with "
                                         r"shared_axes \[3\] inside it"):
        PReLU(shared_axes=3, name="p").build((None, 4, 2))
    with pytest.raises(ValueError, match=r"PReLU 'p': expected known sizes on every axis"):
        PReLU(name="p").build((None, None, 2))
    layer = PReLU(shared_axes=1, name="p")
    assert layer.shared_axes == [1]
    layer(np.zeros((2, 5, 3)))
    assert layer.alpha.shape == (1, 3)
    layer(np.zeros((1, 9, 3)))  # any length along the shared axis
    with pytest.raises(ValueError, match=r"PReLU 'p': expected an input \(batch, \*\(1, 3\)\)"):
        layer(np.zeros((2, 5, 4)))
    assert PReLU().input_shape_from_weights([np.zeros((4, 2))]) == (None, 4, 2)


def test_activation_layer_glu_halves_and_threshold_is_refused():
    from npylstm.layers import Activation

    layer = Activation("glu", name="g")
    assert layer.compute_output_shape((None, 3, 8)) == (None, 3, 4)
    assert layer(np.zeros((2, 8))).shape == (2, 4)
    with pytest.raises(ValueError, match=r"Activation 'g': glu needs an even last axis"):
        layer(np.zeros((2, 5)))
    with pytest.raises(ValueError, match=r"Activation 't': activation 'threshold' is not "
                                         r"supported"):
        Activation("threshold", name="t")
    assert Activation("hard_swish").get_config()["activation"] == "hard_silu"  # as Keras


def test_report_largest_differences():
    """Runs last in this module; prints the largest differences against Keras (-s)."""
    print("\nlargest |ours - Keras| (output, JAX gradient), float32:")
    for name, (out, grad) in sorted(MAX_DIFF.items()):
        print(f"  {name:20s} {out:.2e} {grad:.2e}")
