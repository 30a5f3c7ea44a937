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
    # learning-rate schedules: (schedule class, its arguments), built in each library
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
    XLA's arithmetic is not NumPy's: the sum of squares of a norm (XLA's reduction order)
    and Ftrl's ``pow`` of arrays (``keras_power`` matches XLA's on ~99.9% of inputs)."""
    if class_name == "Ftrl" or kwargs.keys() & {"clipnorm", "global_clipnorm"}:
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
