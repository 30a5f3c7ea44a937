"""The Keras 3.15.1 optimizers (``keras/src/optimizers/*.py``, ``base_optimizer.py`` and the
JAX backend's ``optimizer.py``) against real Keras: update steps over several configurations
(flags, weight decay, EMA, gradient accumulation, loss scaling, clipping, schedules and
callable learning rates), ``variables`` in Keras's order, names, shapes, dtypes and values,
configs, and bad arguments."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from npylstm import optimizers
from npylstm.optimizers.schedules import LearningRateSchedule

SHAPES = [(3, 4), (4,), (2, 2, 3)]
STEPS = 8


def make_problem(seed: int, steps: int = STEPS):
    """Initial float32 weights and a gradient sequence whose scale shrinks and grows."""
    rng = np.random.default_rng(seed)
    weights = [rng.normal(0, 1, s).astype(np.float32) for s in SHAPES]
    scales = [3.0, 1.0, 0.2, 2.0, 0.05, 1.5, 0.7, 4.0, 0.3, 1.1]
    grads = [
        [(scales[t % len(scales)] * rng.normal(0, 1, s)).astype(np.float32) for s in SHAPES]
        for t in range(steps)
    ]
    return weights, grads


def _quiet(fn):
    with warnings.catch_warnings():
        # Keras 3.15's get_config calls Variable.numpy(), which warns under NumPy 2
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        warnings.filterwarnings("ignore", category=UserWarning)
        return fn()


def run_keras(keras, class_name, kwargs, weights, grads):
    """Keras's weights after each step and its optimizer variables at the end."""
    opt = getattr(keras.optimizers, class_name)(**kwargs)
    variables = [keras.Variable(w) for w in weights]
    history = []
    for step_grads in grads:
        opt.apply_gradients(zip(step_grads, variables, strict=True))
        history.append([np.asarray(v.value) for v in variables])
    return history, opt


def run_ours(class_name, kwargs, weights, grads):
    opt = getattr(optimizers, class_name)(**kwargs)
    weights = [w.copy() for w in weights]
    history = []
    for step_grads in grads:
        opt.apply(weights, step_grads)
        history.append([w.copy() for w in weights])
    return history, opt


def relative_difference(a, b) -> float:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.size == 0:
        return 0.0
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-30))


def max_relative_difference(ours, theirs) -> float:
    """Largest |ours - theirs| over all steps and weights, relative to that weight's scale."""
    return max(
        relative_difference(a, b)
        for step_ours, step_theirs in zip(ours, theirs, strict=True)
        for a, b in zip(step_ours, step_theirs, strict=True)
    )


class HalvingSchedule(LearningRateSchedule):
    """A schedule defined here: ``lr * 0.5 ** (step // 3)``, in float32 as Keras's would."""

    def __init__(self, lr):
        self.lr = lr

    def __call__(self, step):
        return np.float32(self.lr) * np.float32(0.5) ** np.float32(int(step) // 3)

    def get_config(self):
        return {"lr": self.lr}


@pytest.mark.keras
def test_callable_learning_rate_matches_keras(keras):
    weights, grads = make_problem(seed=3)
    calls = []

    def lr():
        calls.append(1)
        return 0.02

    theirs, k_opt = run_keras(keras, "Adam", {"learning_rate": lambda: 0.02}, weights, grads)
    ours, opt = run_ours("Adam", {"learning_rate": lr}, weights, grads)
    assert max_relative_difference(ours, theirs) < 1e-7
    assert calls and opt.learning_rate == 0.02
    assert opt.variable_names[:1] == ["iteration"] and len(opt.variables) == len(k_opt.variables)
    assert opt.get_config()["learning_rate"]["class_name"] == "function"


@pytest.mark.keras
def test_schedule_is_called_with_the_raw_iteration_count(keras):
    class KerasHalving(keras.optimizers.schedules.LearningRateSchedule):
        def __call__(self, step):
            step = keras.ops.cast(step, "int32") // 3
            return keras.ops.cast(0.05, "float32") * keras.ops.power(
                keras.ops.cast(0.5, "float32"), keras.ops.cast(step, "float32"))

    weights, grads = make_problem(seed=4)
    kwargs = {"gradient_accumulation_steps": 2, "weight_decay": 0.1}
    theirs, _ = run_keras(keras, "SGD", {"learning_rate": KerasHalving(), **kwargs}, weights,
                          grads)
    ours, opt = run_ours("SGD", {"learning_rate": HalvingSchedule(0.05), **kwargs}, weights,
                         grads)
    assert max_relative_difference(ours, theirs) < 1e-7
    # the raw count 8 (8 // 3 = 2 halvings), not the update count 8 // 2 = 4 (1 halving)
    assert opt.learning_rate == float(np.float32(0.05) * np.float32(0.25))
    assert opt.variable_names[1] != "learning_rate"  # no float32 variable for a schedule
    with pytest.raises(TypeError, match="created with a `LearningRateSchedule`"):
        opt.learning_rate = 0.1
    opt.learning_rate = HalvingSchedule(1.0)  # a schedule may replace a schedule
    assert opt.learning_rate == 0.25


def test_a_float_learning_rate_becomes_a_schedule_and_leaves_the_variables():
    opt = optimizers.SGD(0.1)
    opt.build([np.zeros(2)])
    assert opt.variable_names == ["iteration", "learning_rate"]
    opt.learning_rate = HalvingSchedule(0.2)
    assert opt.variable_names == ["iteration"] and opt.learning_rate == np.float32(0.2)


# (class name, keyword arguments) per configuration; the same arguments for both libraries.
CONFIGS = {
    "sgd_ema": ("SGD", {"momentum": 0.9, "use_ema": True}),
    "sgd_nesterov_accumulate": (
        "SGD", {"momentum": 0.5, "nesterov": True, "gradient_accumulation_steps": 2}),
    "adam_ema_overwrite": (
        "Adam", {"use_ema": True, "ema_momentum": 0.9, "ema_overwrite_frequency": 3}),
    "adam_accumulate": ("Adam", {"learning_rate": 0.01, "gradient_accumulation_steps": 3}),
    "adam_loss_scale": ("Adam", {"loss_scale_factor": 128.0, "amsgrad": True}),
    "rmsprop_accumulate_clipnorm": (
        "RMSprop", {"centered": True, "gradient_accumulation_steps": 2, "clipnorm": 1.0}),
    "adagrad_ema_accumulate": (
        "Adagrad", {"use_ema": True, "ema_overwrite_frequency": 2,
                    "gradient_accumulation_steps": 2}),
    "adamw": ("AdamW", {}),
    "adamw_amsgrad": ("AdamW", {"learning_rate": 0.01, "weight_decay": 0.1, "amsgrad": True}),
    "adamw_accumulate_ema": (
        "AdamW", {"gradient_accumulation_steps": 2, "use_ema": True, "ema_momentum": 0.5}),
    "nadam": ("Nadam", {}),
    "nadam_custom": ("Nadam", {"learning_rate": 0.01, "beta_1": 0.8, "beta_2": 0.99,
                               "epsilon": 1e-4}),
    "nadam_decay_global_clipnorm": ("Nadam", {"weight_decay": 0.05, "global_clipnorm": 3.0}),
    "nadam_accumulate": ("Nadam", {"learning_rate": 0.01, "gradient_accumulation_steps": 2}),
    "adamax": ("Adamax", {}),
    "adamax_custom": ("Adamax", {"learning_rate": 0.01, "beta_1": 0.7, "beta_2": 0.9,
                                 "epsilon": 1e-3}),
    "adamax_clipvalue_ema": ("Adamax", {"clipvalue": 0.5, "use_ema": True}),
    "adadelta": ("Adadelta", {}),
    "adadelta_custom": ("Adadelta", {"learning_rate": 1.0, "rho": 0.8, "epsilon": 1e-5}),
    "adadelta_decay_loss_scale": ("Adadelta", {"learning_rate": 0.5, "weight_decay": 0.02,
                                               "loss_scale_factor": 0.25}),
    "ftrl": ("Ftrl", {}),
    "ftrl_all": ("Ftrl", {
        "learning_rate": 0.05, "learning_rate_power": -0.7, "initial_accumulator_value": 0.5,
        "l1_regularization_strength": 0.01, "l2_regularization_strength": 0.02,
        "l2_shrinkage_regularization_strength": 0.03, "beta": 0.5}),
    "ftrl_power0_l1": ("Ftrl", {"learning_rate": 0.1, "learning_rate_power": 0.0,
                                "l1_regularization_strength": 0.5}),
    "ftrl_accumulate": ("Ftrl", {"learning_rate": 0.1, "gradient_accumulation_steps": 2}),
    "lion": ("Lion", {}),
    "lion_custom": ("Lion", {"learning_rate": 0.01, "beta_1": 0.5, "beta_2": 0.9}),
    "lion_decay_ema_overwrite": (
        "Lion", {"weight_decay": 0.1, "use_ema": True, "ema_overwrite_frequency": 4}),
    "adafactor": ("Adafactor", {}),
    "adafactor_custom": ("Adafactor", {
        "learning_rate": 0.01, "relative_step": False, "clip_threshold": 0.5,
        "epsilon_2": 1e-2, "beta_2_decay": -0.5, "weight_decay": 0.01}),
    "adafactor_ema_accumulate": ("Adafactor", {
        "learning_rate": 0.1, "use_ema": True, "gradient_accumulation_steps": 2}),
    # learning-rate schedules: (schedule class, its arguments), built in each library
    "adafactor_exponential_decay": ("Adafactor", {
        "learning_rate": ("ExponentialDecay", {"initial_learning_rate": 0.05,
                                               "decay_steps": 2, "decay_rate": 0.7})}),
    "sgd_exponential_decay": ("SGD", {
        "learning_rate": ("ExponentialDecay", {"initial_learning_rate": 0.1,
                                               "decay_steps": 3, "decay_rate": 0.5}),
        "momentum": 0.9}),
    "adamw_cosine_decay": ("AdamW", {
        "learning_rate": ("CosineDecay", {"initial_learning_rate": 0.01, "decay_steps": 6})}),
    "nadam_piecewise_accumulate": ("Nadam", {
        "learning_rate": ("PiecewiseConstantDecay", {"boundaries": [2, 5],
                                                     "values": [0.01, 0.005, 0.001]}),
        "gradient_accumulation_steps": 2}),
    "ftrl_inverse_time_decay": ("Ftrl", {
        "learning_rate": ("InverseTimeDecay", {"initial_learning_rate": 0.1,
                                               "decay_steps": 2, "decay_rate": 0.5}),
        "l2_regularization_strength": 0.01, "beta": 0.1}),
}


def library_kwargs(schedules, kwargs: dict) -> dict:
    """``kwargs`` with a ``(schedule class, arguments)`` learning rate built from
    ``schedules`` (Keras's or npylstm's module)."""
    lr = kwargs.get("learning_rate")
    if isinstance(lr, tuple):
        return {**kwargs, "learning_rate": getattr(schedules, lr[0])(**lr[1])}
    return kwargs

def tolerance(class_name: str, kwargs: dict) -> float:
    """1e-7 relative (most configurations are bit-identical); one float32 ulp more where
    XLA's arithmetic is not reproduced: clipping combined with other options (the slots
    only, by an ulp) and Adafactor (after a few steps: its RMS and factored moments)."""
    if class_name == "Adafactor" or kwargs.keys() & {"clipnorm", "global_clipnorm"}:
        return 3e-7
    return 1e-7


#: the largest relative difference per configuration (printed at the end of the module)
LARGEST: dict[str, float] = {}


@pytest.fixture(scope="module", autouse=True)
def _report_largest():
    yield
    if LARGEST:
        print("\nlargest relative difference against Keras per configuration:")
        for key, value in sorted(LARGEST.items()):
            print(f"  {key}: {value:.3g}")


@pytest.mark.keras
@pytest.mark.parametrize("config_id", list(CONFIGS))
def test_steps_and_variables_match_keras(keras, config_id):
    class_name, config_kwargs = CONFIGS[config_id]
    kwargs = library_kwargs(optimizers.schedules, config_kwargs)
    weights, grads = make_problem(seed=len(config_id))
    opt_k = getattr(keras.optimizers, class_name)(
        **library_kwargs(keras.optimizers.schedules, config_kwargs))
    k_vars = [keras.Variable(w, name=f"w{i}") for i, w in enumerate(weights)]
    opt_k.build(k_vars)
    ours = getattr(optimizers, class_name)(**kwargs)
    our_weights = [w.copy() for w in weights]
    ours.build(our_weights, names=[f"w{i}" for i in range(len(weights))])
    # the variables after build: count, order, names, shapes, dtypes and initial values
    k_names = [v.name for v in opt_k.variables]
    if class_name == "Nadam":  # Keras's unnamed u_product is "variable_<counter>"
        assert k_names[-1].startswith("variable")
        k_names[-1] = "variable"
    assert ours.variable_names == k_names
    assert [(a.shape, a.dtype) for a in ours.variables] == [
        (tuple(v.shape), np.dtype(v.dtype)) for v in opt_k.variables
    ]
    for a, v in zip(ours.variables, opt_k.variables, strict=True):
        np.testing.assert_array_equal(a, np.asarray(v.value))
    theirs_history, ours_history = [], []
    for step_grads in grads:
        opt_k.apply_gradients(zip(step_grads, k_vars, strict=True))
        ours.apply(our_weights, step_grads)
        theirs_history.append([np.asarray(v.value) for v in k_vars])
        ours_history.append([w.copy() for w in our_weights])
    worst = max_relative_difference(ours_history, theirs_history)
    worst_variable = max(
        relative_difference(a, np.asarray(v.value))
        for a, v in zip(ours.variables, opt_k.variables, strict=True)
    )
    LARGEST[config_id] = max(worst, worst_variable)
    assert worst < tolerance(class_name, kwargs) and worst_variable < tolerance(
        class_name, kwargs), (worst, worst_variable)
    assert ours.iterations == int(np.asarray(opt_k.iterations))
    assert ours.variables[0] == int(np.asarray(opt_k.variables[0].value))
    # the weights really moved (Adadelta's first steps are ~lr * sqrt(epsilon) small)
    assert max_relative_difference([weights], [ours_history[-1]]) > 1e-6
    # finalize_variable_values: the EMA copied into the weights, as Keras
    opt_k.finalize_variable_values(k_vars)
    ours.finalize_variable_values(our_weights)
    assert max_relative_difference([our_weights], [[np.asarray(v.value) for v in k_vars]]) < (
        tolerance(class_name, kwargs))
    if kwargs.get("use_ema"):
        np.testing.assert_array_equal(our_weights[0], ours.variables[ours.variable_names.index(
            "w0_average")])
    # configs: Keras's keys and values, and both configs rebuild an equal optimizer
    k_config = _quiet(opt_k.get_config)
    config = ours.get_config()
    assert list(config) == list(k_config)
    assert {k: v for k, v in config.items() if k != "name"} == {
        k: v for k, v in k_config.items() if k != "name"}
    rebuilt = optimizers.get({"class_name": class_name, "config": k_config})
    assert type(rebuilt) is type(ours) and rebuilt.get_config() == k_config | {
        "learning_rate": config["learning_rate"]}
    # load_variables: our values into a fresh optimizer give the same next step
    fresh = getattr(optimizers, class_name)(**kwargs)
    fresh.build(our_weights)
    fresh.load_variables([a.copy() for a in ours.variables])
    step_weights = [w.copy() for w in our_weights]
    fresh.apply(step_weights, grads[0])
    ours.apply(our_weights, grads[0])
    for a, b in zip(step_weights, our_weights, strict=True):
        np.testing.assert_array_equal(a, b)


JIT_CONFIGS = ["sgd_ema", "adam_accumulate", "adamw_accumulate_ema", "nadam_custom", "adamax",
               "adadelta_custom", "ftrl_all", "lion_decay_ema_overwrite",
               "rmsprop_accumulate_clipnorm", "nadam_piecewise_accumulate"]


@pytest.mark.keras
@pytest.mark.parametrize("config_id", JIT_CONFIGS)
def test_keras_jit_compiled_update_is_within_an_ulp_or_two(keras, config_id):
    """Keras's fit() runs ``stateless_apply`` jit-compiled; XLA then fuses the update and
    rounds some products differently from Keras's own eager ``apply`` (which these
    optimizers reproduce, see above), by one or two float32 ulps."""
    import jax

    class_name, config_kwargs = CONFIGS[config_id]
    kwargs = library_kwargs(optimizers.schedules, config_kwargs)
    weights, grads = make_problem(seed=len(config_id))
    opt_k = getattr(keras.optimizers, class_name)(
        **library_kwargs(keras.optimizers.schedules, config_kwargs))
    k_vars = [keras.Variable(w) for w in weights]
    opt_k.build(k_vars)
    step = jax.jit(opt_k.stateless_apply)
    opt_values, values = [v.value for v in opt_k.variables], [v.value for v in k_vars]
    ours = getattr(optimizers, class_name)(**kwargs)
    our_weights = [w.copy() for w in weights]
    theirs_history, ours_history = [], []
    for step_grads in grads:
        values, opt_values = step(opt_values, step_grads, values)
        ours.apply(our_weights, step_grads)
        theirs_history.append([np.asarray(v) for v in values])
        ours_history.append([w.copy() for w in our_weights])
    worst = max_relative_difference(ours_history, theirs_history)
    worst_variable = max(
        relative_difference(a, np.asarray(b))
        for a, b in zip(ours.variables, opt_values, strict=True)
    )
    LARGEST[f"{config_id} (jit)"] = max(worst, worst_variable)
    assert worst < 5e-7 and worst_variable < 5e-7, (worst, worst_variable)


BAD_ARGUMENTS = [
    ("Adam", {"gradient_accumulation_steps": 1}, ValueError,
     r"Adam: `gradient_accumulation_steps` must be an integer >= 2\. Received: "
     r"gradient_accumulation_steps=1$"),
    ("SGD", {"gradient_accumulation_steps": 2.5}, ValueError, "must be an integer >= 2"),
    ("SGD", {"gradient_accumulation_steps": True}, ValueError, "must be an integer >= 2"),
    ("Adam", {"use_ema": True, "ema_momentum": 1.5}, ValueError,
     r"Adam: expected ema_momentum in \[0\.0, 1\.0\], received ema_momentum=1\.5"),
    ("Adam", {"use_ema": True, "ema_momentum": -0.1}, ValueError, "expected ema_momentum in"),
    ("Adam", {"ema_momentum": "high"}, TypeError, "expected ema_momentum to be a number"),
    ("Lion", {"use_ema": True, "ema_overwrite_frequency": 0}, ValueError,
     r"Lion: `ema_overwrite_frequency` must be an integer >= 1 or None\. Received: "
     r"ema_overwrite_frequency=0"),
    ("Lion", {"use_ema": True, "ema_overwrite_frequency": 1.5}, ValueError,
     "must be an integer >= 1 or None"),
    ("Nadam", {"loss_scale_factor": 0.0}, ValueError, "Nadam: expected loss_scale_factor > 0"),
    ("Nadam", {"loss_scale_factor": -2.0}, ValueError, "expected loss_scale_factor >= 0"),
    ("Adamax", {"beta": 0.9}, ValueError, r"Adamax: argument\(s\) not recognized: \{'beta'"),
    ("Adam", {"beta_1": 1.0}, ValueError, r"Adam: expected beta_1 in \[0\.0, 1\.0\)"),
    ("AdamW", {"beta_2": -0.5}, ValueError, r"AdamW|Adam: expected beta_2 in \[0\.0, 1\.0\)"),
    ("Nadam", {"beta_2": 1.0}, ValueError, r"Nadam: expected beta_2 in \[0\.0, 1\.0\)"),
    ("Adamax", {"beta_1": -0.1}, ValueError, r"Adamax: expected beta_1 in"),
    ("Adamax", {"beta_2": 1.5}, ValueError, r"Adamax: expected beta_2 in \[0\.0, 1\.0\]"),
    ("Lion", {"beta_1": 0.0}, ValueError,
     r"Lion: argument `beta_1` must be in the \[0, 1\] range\. Otherwise, the optimizer "
     r"degenerates to SignSGD\. Received: beta_1=0\.0\."),
    ("Lion", {"beta_1": 1.5}, ValueError, "degenerates to SignSGD"),
    ("Lion", {"beta_2": 2.0}, ValueError, r"Lion: expected beta_2 in"),
    ("Adadelta", {"rho": 1.5}, ValueError, r"Adadelta: expected rho in \[0\.0, 1\.0\]"),
    ("Adadelta", {"epsilon": -1e-7}, ValueError, "Adadelta: expected epsilon >= 0"),
    ("AdamW", {"weight_decay": None}, ValueError,
     r"AdamW: argument `weight_decay` must be a float\. Received: weight_decay=None"),
    ("Ftrl", {"initial_accumulator_value": -0.1}, ValueError,
     r"Ftrl: `initial_accumulator_value` needs to be positive or zero\. Received: "
     r"initial_accumulator_value=-0\.1\."),
    ("Ftrl", {"learning_rate_power": 0.5}, ValueError,
     r"`learning_rate_power` needs to be negative or zero\. Received: learning_rate_power=0\.5"),
    ("Ftrl", {"l1_regularization_strength": -1.0}, ValueError,
     "`l1_regularization_strength` needs to be positive or zero"),
    ("Ftrl", {"l2_regularization_strength": -1.0}, ValueError,
     "`l2_regularization_strength` needs to be positive or zero"),
    ("Ftrl", {"l2_shrinkage_regularization_strength": -1.0}, ValueError,
     "`l2_shrinkage_regularization_strength` needs to be positive or zero"),
    ("Ftrl", {"beta": -1.0}, ValueError, "`beta` needs to be positive or zero"),
    ("Ftrl", {"l1_regularization_strength": "x"}, TypeError,
     "Ftrl: expected l1_regularization_strength to be a number"),
]


@pytest.mark.parametrize(("class_name", "kwargs", "error", "match"), BAD_ARGUMENTS)
def test_bad_arguments(class_name, kwargs, error, match):
    with pytest.raises(error, match=match):
        getattr(optimizers, class_name)(**kwargs)


def test_ema_momentum_is_only_checked_with_use_ema():
    assert optimizers.Adam(ema_momentum=1.5).ema_momentum == 1.5  # as Keras: unused


def test_keras_2_decay_argument_warns_and_is_ignored():
    with pytest.warns(UserWarning, match="Argument `decay` is no longer supported"):
        opt = optimizers.SGD(decay=0.01)
    assert "decay" not in opt.get_config()


def test_load_variables_checks_everything_before_assigning():
    opt = optimizers.Adam(use_ema=True)
    with pytest.raises(ValueError, match=r"Adam\.load_variables: the optimizer is not built"):
        opt.load_variables([])
    weights = [np.zeros((2, 3), np.float32), np.zeros(3, np.float32)]
    opt.build(weights, names=["dense/kernel", "dense/bias"])
    good = [a.copy() + 1 for a in opt.variables]
    with pytest.raises(ValueError, match=r"expected 8 variables \(\['iteration', "
                       r"'learning_rate', 'dense_kernel_average', .*\]\), received 7"):
        opt.load_variables(good[:-1])
    bad = [*good[:4], np.zeros(4, np.float32), *good[5:]]
    with pytest.raises(ValueError, match=r"variable 4 'dense_kernel_momentum' has shape "
                       r"\(2, 3\), received shape \(4,\)"):
        opt.load_variables(bad)
    bad = [np.array(1.5), *good[1:]]
    with pytest.raises(ValueError, match=r"variable 0 'iteration' has dtype int32, received "
                       r"dtype float64"):
        opt.load_variables(bad)
    bad = [*good[:2], good[2].astype(np.int64), *good[3:]]
    with pytest.raises(ValueError, match="'dense_kernel_average' has dtype float32, received"):
        opt.load_variables(bad)
    with pytest.raises(ValueError, match="'iteration' must be >= 0, received -1"):
        opt.load_variables([np.array(-1), *good[1:]])
    # nothing was assigned by the failed calls
    assert opt.iterations == 0 and all(not a.any() for a in opt.variables[2:])
    opt.load_variables(good)
    assert opt.iterations == 1 and opt.learning_rate == float(np.float32(0.001) + 1)
    assert all((a == 1).all() for a in opt.variables[2:])


def test_build_and_finalize_errors():
    opt = optimizers.SGD(momentum=0.5, use_ema=True)
    with pytest.raises(ValueError, match=r"SGD\.build: received 1 weights but 2 names"):
        opt.build([np.zeros(2)], names=["a", "b"])
    with pytest.raises(TypeError, match=r"SGD\.build: weight 0 must be a float numpy array"):
        opt.build([[0.0, 1.0]])
    with pytest.raises(ValueError, match=r"length of model variables \(1\) to override does "
                       r"not match .* stored in the optimizer \(0\)"):
        opt.finalize_variable_values([np.zeros(2)])
    opt.build([np.zeros(2)])
    opt.build([np.zeros(5)])  # a second build does nothing, as in Keras
    assert opt.variables[-1].shape == (2,)
    with pytest.raises(ValueError, match="built for weights"):
        opt.finalize_variable_values([np.zeros(3)])
    plain = optimizers.SGD()
    w = [np.ones(2)]
    plain.finalize_variable_values(w)  # without EMA: nothing to do
    assert (w[0] == 1).all()


def test_a_serialized_function_learning_rate_is_refused():
    config = optimizers.SGD(learning_rate=lambda: 0.1).get_config()
    with pytest.raises(ValueError, match=r"SGD\.from_config: the learning rate is a "
                       r"serialized Python function \('<lambda>'\); npylstm never runs code"):
        optimizers.get({"class_name": "SGD", "config": config})


def test_ema_and_accumulation_by_hand():
    # SGD lr 1, accumulation 2, EMA momentum 0.5 overwriting every update:
    # step 1 (raw 0): acc = g1 = 2; iterations 0 -> EMA momentum 0: avg = w = 1
    # step 2 (raw 1): g = (4 + 2) / 2 = 3 -> w = -2; iterations still 0: avg = w = -2;
    #                 (0 + 1) % 1 == 0: w = avg = -2
    # step 3 (raw 2): acc = 1; iterations 1: avg = 0.5 * -2 + 0.5 * -2 = -2
    # step 4 (raw 3): g = (3 + 1) / 2 = 2 -> w = -4; avg = 0.5 * -2 + 0.5 * -4 = -3; w = -3
    opt = optimizers.SGD(1.0, use_ema=True, ema_momentum=0.5, ema_overwrite_frequency=1,
                         gradient_accumulation_steps=2)
    w = [np.array([1.0])]
    seen = []
    for g in (2.0, 4.0, 1.0, 3.0):
        opt.apply(w, [np.array([g])])
        seen.append((float(w[0][0]), opt.iterations))
    assert seen == [(1.0, 0), (-2.0, 1), (-2.0, 1), (-3.0, 2)]
    assert opt.variables[0] == 4  # Keras's raw iteration count is what is stored


def test_loss_scale_factor_by_hand():
    opt = optimizers.SGD(0.5, loss_scale_factor=4.0)
    assert opt.scale_loss(3.0) == 12.0 and optimizers.SGD().scale_loss(3.0) == 3.0
    w = [np.array([1.0])]
    opt.apply(w, [np.array([8.0])])  # the gradient of the scaled loss: 8 / 4 = 2
    assert w[0][0] == 1.0 - 0.5 * 2.0


def test_float64_weights_by_hand():
    # Adamax in float64, two steps (t = 1, 2), lr 0.1, beta_1 0.5, beta_2 0.5, eps 0:
    # t=1, g=2: m = 1, u = 2, w = 1 - 0.1 * 1 / (0.5 * 2) = 0.9
    # t=2, g=-1: m = 1 + (-1 - 1) * 0.5 = 0, u = max(1, 1) = 1, w = 0.9
    # t=3, g=4: m = 2, u = 4, w = 0.9 - 0.1 * 2 / (0.875 * 4)
    opt = optimizers.Adamax(0.1, beta_1=0.5, beta_2=0.5, epsilon=0.0)
    w = [np.array([1.0])]
    for g in (2.0, -1.0, 4.0):
        opt.apply(w, [np.array([g])])
    lr = float(np.float32(0.1))  # Keras's float32 learning-rate variable
    assert w[0].dtype == np.float64
    np.testing.assert_allclose(w[0], [1 - lr - lr * 2 / (0.875 * 4)], rtol=1e-15)


FLOAT64_CONFIGS = ["sgd_nesterov_accumulate", "adam_ema_overwrite", "adamw_amsgrad", "nadam",
                   "adamax_custom", "adadelta_custom", "ftrl_all", "lion_custom",
                   "adagrad_ema_accumulate", "rmsprop_accumulate_clipnorm"]
# (no schedule here: under JAX's x64 mode Keras's schedules compute in float64, which
# Keras never does in its default mode, the only one where float32 is what it computes)

_FLOAT64_CHILD = """
import sys
import jax
jax.config.update("jax_enable_x64", True)
import numpy as np
import keras
sys.path.insert(0, sys.argv[1])
import test_optimizers_keras as t
out = {}
for cid in sys.argv[3:]:
    class_name, kwargs = t.CONFIGS[cid]
    kwargs = t.library_kwargs(keras.optimizers.schedules, kwargs)
    weights, grads = t.make_problem(seed=len(cid))
    opt = getattr(keras.optimizers, class_name)(**kwargs)
    variables = [keras.Variable(w.astype(np.float64)) for w in weights]
    for step, step_grads in enumerate(grads):
        opt.apply_gradients(zip([g.astype(np.float64) for g in step_grads], variables))
        for i, v in enumerate(variables):
            out[f"{cid}/{step}/{i}"] = np.asarray(v.value)
    for i, v in enumerate(opt.variables):
        out[f"{cid}/variable/{i}"] = np.asarray(v.value)
np.savez(sys.argv[2], **out)
"""


@pytest.fixture(scope="module")
def keras_float64(keras, tmp_path_factory):
    """Keras's float64 trajectories: JAX's x64 mode must be set before anything runs, so
    Keras runs them in a child process."""
    import os
    import subprocess
    import sys

    path = tmp_path_factory.mktemp("float64") / "keras.npz"
    tests_dir = os.path.dirname(os.path.abspath(__file__))
    result = subprocess.run(
        [sys.executable, "-c", _FLOAT64_CHILD, tests_dir, str(path), *FLOAT64_CONFIGS],
        capture_output=True, text=True, timeout=600,
        env={**os.environ, "KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu"},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    with np.load(path) as data:
        return dict(data)


@pytest.mark.slow
@pytest.mark.keras
@pytest.mark.parametrize("config_id", FLOAT64_CONFIGS)
def test_float64_steps_match_keras_x64(keras_float64, config_id):
    class_name, config_kwargs = CONFIGS[config_id]
    kwargs = library_kwargs(optimizers.schedules, config_kwargs)
    weights, grads = make_problem(seed=len(config_id))
    ours = getattr(optimizers, class_name)(**kwargs)
    our_weights = [w.astype(np.float64) for w in weights]
    worst = 0.0
    for step, step_grads in enumerate(grads):
        ours.apply(our_weights, [g.astype(np.float64) for g in step_grads])
        for i, w in enumerate(our_weights):
            theirs = keras_float64[f"{config_id}/{step}/{i}"]
            assert w.dtype == theirs.dtype == np.float64
            worst = max(worst, relative_difference(w, theirs))
    k_variables = [keras_float64[f"{config_id}/variable/{i}"] for i in range(len(ours.variables))]
    assert f"{config_id}/variable/{len(ours.variables)}" not in keras_float64
    assert [(a.shape, a.dtype) for a in ours.variables] == [(a.shape, a.dtype) for a in k_variables]
    worst = max(worst, *(relative_difference(a, b) for a, b in zip(ours.variables, k_variables,
                                                                    strict=True)))
    LARGEST[f"{config_id} (float64)"] = worst
    assert worst < 1e-14, worst
