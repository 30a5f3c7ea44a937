"""Optimizers against real Keras optimizers stepping the same weights with the same gradients;
clipping modes; hand-computed steps; names, configs and bad input."""

from __future__ import annotations

import warnings

import numba
import numpy as np
import pytest

from npylstm import optimizers

SHAPES = [(3, 4), (4,), (2, 2, 3)]
STEPS = 6

# (id, npylstm factory, Keras factory taking the keras module); same keyword arguments.
CONFIGS = {
    "sgd": {},
    "sgd_momentum": {"momentum": 0.9},
    "sgd_nesterov": {"momentum": 0.9, "nesterov": True},
    "sgd_decay": {"learning_rate": 0.1, "momentum": 0.5, "weight_decay": 0.01},
    "adam": {},
    "adam_amsgrad": {"amsgrad": True},
    "adam_custom": {"learning_rate": 0.01, "beta_1": 0.8, "beta_2": 0.99, "epsilon": 1e-4},
    "adam_decay": {"weight_decay": 0.05},
    "rmsprop": {},
    "rmsprop_momentum": {"momentum": 0.9},
    "rmsprop_centered": {"centered": True},
    "rmsprop_all": {"centered": True, "momentum": 0.5, "rho": 0.8, "learning_rate": 0.01},
    "adagrad": {},
    "adagrad_custom": {"learning_rate": 0.05, "initial_accumulator_value": 0.5},
    # clipping: the gradient norms below range from ~0.5 to ~12 per weight
    "sgd_clipnorm": {"clipnorm": 1.0},
    "adam_clipnorm": {"clipnorm": 2.5},
    "sgd_global_clipnorm": {"global_clipnorm": 3.0},
    "rmsprop_global_clipnorm": {"global_clipnorm": 50.0},  # never active
    "sgd_clipvalue": {"clipvalue": 0.5},
    "adagrad_clipvalue": {"clipvalue": 0.25},
}
CLASS_OF = {"sgd": "SGD", "adam": "Adam", "rmsprop": "RMSprop", "adagrad": "Adagrad"}


def make_problem(seed: int):
    """Initial float32 weights and a gradient sequence whose scale shrinks and grows."""
    rng = np.random.default_rng(seed)
    weights = [rng.normal(0, 1, s).astype(np.float32) for s in SHAPES]
    scales = [3.0, 1.0, 0.2, 2.0, 0.05, 1.5]
    grads = [
        [(scales[t] * rng.normal(0, 1, s)).astype(np.float32) for s in SHAPES] for t in range(STEPS)
    ]
    return weights, grads


def run_keras(keras, class_name, kwargs, weights, grads):
    opt = getattr(keras.optimizers, class_name)(**kwargs)
    variables = [keras.Variable(w) for w in weights]
    history = []
    for step_grads in grads:
        opt.apply_gradients(zip(step_grads, variables, strict=True))
        history.append([np.asarray(v.value) for v in variables])
    return history, int(np.asarray(opt.iterations.value))


def run_ours(class_name, kwargs, weights, grads):
    opt = getattr(optimizers, class_name)(**kwargs)
    weights = [w.copy() for w in weights]
    history = []
    for step_grads in grads:
        opt.apply(weights, step_grads)
        history.append([w.copy() for w in weights])
    return history, opt.iterations


def max_relative_difference(ours, theirs):
    """Largest |ours - theirs| over all steps and weights, relative to that weight's scale."""
    worst = 0.0
    for step_ours, step_theirs in zip(ours, theirs, strict=True):
        for a, b in zip(step_ours, step_theirs, strict=True):
            worst = max(worst, float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-30)))
    return worst


@pytest.mark.keras
@pytest.mark.parametrize("config_id", list(CONFIGS))
def test_steps_match_keras(keras, config_id):
    class_name = CLASS_OF[config_id.split("_")[0]]
    kwargs = CONFIGS[config_id]
    weights, grads = make_problem(seed=len(config_id))
    theirs, k_iterations = run_keras(keras, class_name, kwargs, weights, grads)
    grads_before = [[g.copy() for g in step] for step in grads]
    ours, iterations = run_ours(class_name, kwargs, weights, grads)
    assert iterations == k_iterations == STEPS
    for before, after in zip(grads_before, grads, strict=True):  # the caller's grads untouched
        for a, b in zip(before, after, strict=True):
            np.testing.assert_array_equal(a, b)
    assert all(w.dtype == np.float32 for step in ours for w in step)
    assert max_relative_difference(ours, theirs) < 1e-7  # all bit-identical at the time of writing
    # the weights really moved (the comparison is not between two unchanged copies)
    assert max_relative_difference([weights], [ours[-1]]) > 1e-4


@pytest.mark.keras
def test_adam_matches_keras_stateless_apply_under_jit(keras):
    """fit() on the JAX backend runs the update as jit-compiled ``stateless_apply``."""
    import jax

    weights, grads = make_problem(seed=11)
    opt = keras.optimizers.Adam(learning_rate=0.01, clipnorm=1.0)
    variables = [keras.Variable(w) for w in weights]
    opt.build(variables)
    step = jax.jit(opt.stateless_apply)
    opt_vars = [v.value for v in opt.variables]
    values = [v.value for v in variables]
    theirs = []
    for step_grads in grads:
        values, opt_vars = step(opt_vars, step_grads, values)
        theirs.append([np.asarray(v) for v in values])
    ours, _ = run_ours("Adam", {"learning_rate": 0.01, "clipnorm": 1.0}, weights, grads)
    assert max_relative_difference(ours, theirs) < 1e-6


def test_hand_computed_steps():
    # SGD momentum 0.5, lr 0.1, g = 1 twice:
    # m1 = -0.1, w1 = 0.9; m2 = -0.05 - 0.1 = -0.15, w2 = 0.75
    w = [np.array([1.0])]
    opt = optimizers.SGD(learning_rate=0.1, momentum=0.5)
    opt.apply(w, [np.array([1.0])])
    opt.apply(w, [np.array([1.0])])
    np.testing.assert_allclose(w[0], [0.75])
    # Adam step 1 with g = 2: m = 0.2, v = 0.004, alpha = lr * sqrt(0.001) / 0.1;
    # w -= alpha * m / (sqrt(v) + 1e-7) = lr * 1 (up to epsilon) -> 1 - 0.001
    w = [np.array([1.0])]
    optimizers.Adam().apply(w, [np.array([2.0])])
    np.testing.assert_allclose(w[0], [0.999], rtol=1e-7)
    # Adagrad: acc = 0.1 + 0.09 = 0.19; w -= 0.001 * 0.3 / sqrt(0.19 + 1e-7)
    w = [np.array([0.0])]
    optimizers.Adagrad().apply(w, [np.array([0.3])])
    np.testing.assert_allclose(w[0], [-0.001 * 0.3 / np.sqrt(0.19 + 1e-7)], rtol=1e-6)


def test_clipping_by_hand():
    g = [np.array([3.0, 4.0]), np.array([0.0, 12.0])]  # norms 5 and 12, global norm 13
    sgd = dict(learning_rate=1.0)
    w = [np.zeros(2), np.zeros(2)]
    optimizers.SGD(clipnorm=6.0, **sgd).apply(w, g)  # first kept, second scaled to norm 6
    np.testing.assert_allclose(w[0], [-3.0, -4.0])
    np.testing.assert_allclose(w[1], [0.0, -6.0])
    w = [np.zeros(2), np.zeros(2)]
    optimizers.SGD(global_clipnorm=6.5, **sgd).apply(w, g)  # everything halved
    np.testing.assert_allclose(np.concatenate(w), [-1.5, -2.0, 0.0, -6.0])
    w = [np.zeros(2), np.zeros(2)]
    optimizers.SGD(clipvalue=3.5, **sgd).apply(w, g)
    np.testing.assert_allclose(np.concatenate(w), [-3.0, -3.5, 0.0, -3.5])


def test_float64_weights_stay_float64_and_grads_are_cast():
    w = [np.ones((2, 2))]
    optimizers.RMSprop().apply(w, [np.ones((2, 2), dtype=np.float32)])
    assert w[0].dtype == np.float64


def test_learning_rate_can_be_changed_between_steps():
    w = [np.array([1.0], dtype=np.float32)]
    opt = optimizers.SGD(learning_rate=0.1)
    opt.apply(w, [np.array([1.0], dtype=np.float32)])
    opt.learning_rate = 0.5
    opt.apply(w, [np.array([1.0], dtype=np.float32)])
    np.testing.assert_allclose(w[0], [1.0 - 0.1 - 0.5], rtol=1e-6)
    assert opt.learning_rate == 0.5


@pytest.mark.keras
def test_defaults_and_configs_match_keras(keras):
    for name in optimizers.names():
        ours = optimizers.get(name)
        theirs = keras.optimizers.get(name)
        with warnings.catch_warnings():
            # Keras 3.15's get_config calls Variable.numpy(), which warns under NumPy 2
            warnings.filterwarnings(
                "ignore",
                message="__array__ implementation doesn't accept a copy keyword",
                category=DeprecationWarning,
            )
            k_config = theirs.get_config()
        for key, value in ours.get_config().items():
            if key != "name":  # Keras numbers its auto names: adam, adam_1, ...
                assert k_config[key] == value, (name, key)
        # a Keras config round-trips through get()
        rebuilt = optimizers.get({"class_name": type(theirs).__name__, "config": k_config})
        assert rebuilt.get_config() == {**ours.get_config(), "name": k_config["name"]}


def test_get_names():
    assert isinstance(optimizers.get("adam"), optimizers.Adam)
    assert isinstance(optimizers.get("RMSprop"), optimizers.RMSprop)
    assert isinstance(optimizers.get("SGD"), optimizers.SGD)
    assert isinstance(optimizers.get("adagrad"), optimizers.Adagrad)
    opt = optimizers.Adam()
    assert optimizers.get(opt) is opt
    assert optimizers.get("adam").name == "adam"
    assert optimizers.get("rmsprop").name == "rm_sprop"  # Keras's auto name


def test_bad_input():
    with pytest.raises(
        ValueError, match=r"Unknown optimizer 'adamm'\. Expected one of: adadelta, adafactor, "
        r"adagrad, adam, adamax, adamw, ftrl, lion, nadam, rmsprop, sgd$"
    ):
        optimizers.get("adamm")
    with pytest.raises(ValueError, match="'Muon' is a Keras optimizer that npylstm does not"):
        optimizers.get("Muon")
    with pytest.raises(TypeError, match="expected an optimizer name"):
        optimizers.get(0.1)
    with pytest.raises(
        ValueError,
        match=r"Adam: expected learning_rate >= 0.0, received "
        r"learning_rate=-0.001",
    ):
        optimizers.Adam(learning_rate=-0.001)
    with pytest.raises(ValueError, match="learning_rate"):
        optimizers.SGD().learning_rate = float("nan")
    with pytest.raises(
        ValueError,
        match=r"SGD: only one of `clipnorm`, `clipvalue` and "
        r"`global_clipnorm` can be set\. Received: clipnorm=1",
    ):
        optimizers.SGD(clipnorm=1.0, clipvalue=0.5)
    with pytest.raises(ValueError, match="only one of"):
        optimizers.Adam(clipnorm=1.0, global_clipnorm=1.0)
    with pytest.raises(ValueError, match=r"SGD: expected momentum in \[0.0, 1.0\]"):
        optimizers.SGD(momentum=1.5)
    with pytest.raises(ValueError, match=r"Adam: expected beta_1 in \[0.0, 1.0\)"):
        optimizers.Adam(beta_1=1.0)
    with pytest.raises(ValueError, match="expected clipnorm >= 0.0"):
        optimizers.SGD(clipnorm=-1.0)
    with pytest.raises(ValueError, match=r"SGD: argument `learning_rate` should be float.*"
                       r"Received instead: learning_rate='fast'"):
        optimizers.SGD(learning_rate="fast")
    with pytest.raises(ValueError, match="Received instead: learning_rate=1$"):
        optimizers.SGD(learning_rate=1)  # Keras refuses an int too
    with pytest.raises(TypeError, match="expected learning_rate to be a number"):
        optimizers.SGD().learning_rate = "fast"
    with pytest.raises(ValueError, match=r"Adam: argument\(s\) not recognized: \{'beta': 1\}"):
        optimizers.get({"class_name": "Adam", "config": {"beta": 1}})


def test_bad_apply_calls():
    opt = optimizers.Adam()
    w = [np.zeros((2, 3), dtype=np.float32), np.zeros(3, dtype=np.float32)]
    with pytest.raises(ValueError, match="received 2 weights but 1 gradients"):
        opt.apply(w, [np.zeros((2, 3))])
    with pytest.raises(ValueError, match=r"gradient 1 has shape \(4,\), weight 1 has shape \(3,\)"):
        opt.apply(w, [np.zeros((2, 3)), np.zeros(4)])
    with pytest.raises(TypeError, match="weight 0 must be a float numpy array"):
        opt.apply([[0.0, 1.0]], [np.zeros(2)])
    opt.apply(w, [np.ones((2, 3)), np.ones(3)])
    with pytest.raises(
        ValueError,
        match=r"built for weights \[\(\(2, 3\), 'float32'\), "
        r"\(\(3,\), 'float32'\)\] but received \[\(\(2, 3\)",
    ):
        opt.apply(w[:1], [np.ones((2, 3))])
    with pytest.raises(ValueError, match="create a new optimizer"):
        opt.apply([np.zeros((3, 2), dtype=np.float32), w[1]], [np.ones((3, 2)), np.ones(3)])
    assert opt.iterations == 1  # failed calls changed nothing


@pytest.mark.parametrize(
    "config_id",
    ["sgd_momentum", "adam", "rmsprop_all", "sgd_clipnorm", "sgd_global_clipnorm", "adagrad"],
)
def test_nan_and_inf_gradients_propagate_without_warnings(config_id):
    class_name = CLASS_OF[config_id.split("_")[0]]
    opt = getattr(optimizers, class_name)(**CONFIGS[config_id])
    w = [np.ones(3, dtype=np.float32), np.ones(2, dtype=np.float32)]
    g = [np.array([np.inf, 1.0, np.nan], dtype=np.float32), np.array([-np.inf, 0.0], np.float32)]
    opt.apply(w, g)  # pytest turns any RuntimeWarning into an error
    assert np.isnan(w[0][2])
    assert opt.iterations == 1


def test_empty_apply_is_a_no_op():
    opt = optimizers.Adam()
    opt.apply([], [])  # Keras returns early: no step counted
    assert opt.iterations == 0


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_compiled_adam_step_is_bit_identical_to_its_numpy_form(dtype):
    # Adam.apply takes the compiled pass (ops/optim_numba.py) for contiguous float arrays;
    # it must give exactly what the NumPy expressions (Keras's update) give, NaN and inf too
    rng = np.random.default_rng(5)
    w = rng.normal(size=(6, 8)).astype(dtype)
    grads = [rng.normal(size=(6, 8)).astype(dtype) for _ in range(3)]
    grads[1][0, :3] = [np.inf, -np.inf, np.nan]
    opt = optimizers.Adam(learning_rate=0.01, beta_1=0.8, beta_2=0.99, epsilon=1e-4)
    ours = w.copy()
    if not numba.config.DISABLE_JIT:  # the compiled pass is what is being tested
        assert optimizers.adam._fused_adam_applies(False, ours, grads[0], ours.copy(), ours.copy())
    expected, m, v = w.copy(), np.zeros_like(w), np.zeros_like(w)
    f = np.dtype(dtype).type
    for step, g in enumerate(grads, start=1):
        opt.apply([ours], [g])
        lr = f(np.float32(0.01))
        power = optimizers.base.keras_power
        alpha = lr * np.sqrt(f(1) - power(f(0.99), f(step))) / (f(1) - power(f(0.8), f(step)))
        with np.errstate(all="ignore"):
            m += (g - m) * f(1 - 0.8)
            v += (np.square(g) - v) * f(1 - 0.99)
            expected -= (m * alpha) / (np.sqrt(v) + f(1e-4))
        np.testing.assert_array_equal(ours, expected)
    assert np.isnan(ours).any() and np.isfinite(ours).any()
