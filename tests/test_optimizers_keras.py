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
