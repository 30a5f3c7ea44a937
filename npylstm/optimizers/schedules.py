"""Learning-rate schedules with Keras's names, formulas and configs
(Keras 3.15.1 ``keras/src/optimizers/schedules/learning_rate_schedule.py``; the GitHub
mirror's version is the same).

A schedule is called with the optimizer's iteration count and returns the learning rate
for that step; an optimizer created with one evaluates it before every update, as
Keras's ``BaseOptimizer._get_current_learning_rate`` does. :func:`evaluate` is that call
with a check: a NaN, infinite or negative rate is a ValueError naming the schedule and
the step (Keras lets it through silently).

Keras computes a schedule in the dtype of ``initial_learning_rate`` converted to a tensor:
float32 for a Python float. Every formula here is float32 arithmetic in Keras's operation
order; ``cos``, ``log`` and ``pow`` are computed in float64 and rounded once, which is
nearer XLA's float32 functions (Keras's, under JAX) than NumPy's float32 loops. The rates
equal Keras's bit for bit or within a float32 ulp or two of the schedule's peak rate
(tests/test_schedules.py says where and why). Keras turns an integer
``initial_learning_rate`` into an int32 tensor and computes in integers (``ExponentialDecay(1,
10, 0.5)(5)`` is 0 there); this module computes in float32 whatever number is given.

:func:`serialize` / :func:`deserialize` write and read Keras's form,
``{"module": "keras.optimizers.schedules", "class_name": ..., "config": {...},
"registered_name": None}`` (the bare ``{"class_name", "config"}`` of older files is read
too). Only the classes of this module are ever created from a config.

>>> s = ExponentialDecay(0.1, decay_steps=10, decay_rate=0.5)
>>> float(s(0)), float(s(10)), float(s(20))
(0.10000000149011612, 0.05000000074505806, 0.02500000037252903)
>>> serialize(s)["class_name"], deserialize(serialize(s)).get_config() == s.get_config()
('ExponentialDecay', True)
"""

from __future__ import annotations

import inspect
import math
import numbers

import numpy as np

from ._schedule_args import _flag, _name, _number, _step, _steps

__all__ = [
    "LearningRateSchedule",
    "ExponentialDecay",
    "PiecewiseConstantDecay",
    "PolynomialDecay",
    "InverseTimeDecay",
    "CosineDecay",
    "CosineDecayRestarts",
    "serialize",
    "deserialize",
    "get",
    "evaluate",
    "names",
]

_f32 = np.float32
_PI = _f32(math.pi)


# XLA's float32 cos / pow / log (Keras's, under JAX) are nearer the correctly rounded value
# than NumPy's float32 loops: computing in float64 and rounding once matches Keras more often.
def _cos(x):
    return _f32(np.cos(np.float64(x)))


def _pow(x, y):
    return _f32(np.power(np.float64(x), np.float64(y)))


def _log(x):
    return _f32(np.log(np.float64(x)))


class LearningRateSchedule:
    """Base class: ``schedule(step) -> learning rate`` (Keras's ``LearningRateSchedule``).

    A subclass defines ``__call__(step)`` (returning a float32 here) and ``get_config()``;
    ``from_config(config)`` is ``cls(**config)``, as in Keras.

    >>> class Halving(LearningRateSchedule):
    ...     def __call__(self, step):
    ...         return np.float32(1.0) / np.float32(2.0 ** step)
    >>> float(Halving()(3))
    0.125
    """

    def __call__(self, step):
        raise NotImplementedError(
            f"Learning rate schedule '{type(self).__name__}' must override `__call__(self, step)`."
        )

    _KEYS: tuple = ()  # a built-in schedule's config keys (or (key, attribute) pairs)

    def get_config(self) -> dict:
        if not self._KEYS:
            raise NotImplementedError(
                f"Learning rate schedule '{type(self).__name__}' must override `get_config()` "
                "in order to be serializable."
            )
        pairs = [(k, k) if isinstance(k, str) else k for k in self._KEYS]
        return {key: getattr(self, attr) for key, attr in pairs}

    @classmethod
    def from_config(cls, config: dict):
        return cls(**config)

    def __repr__(self) -> str:
        try:
            args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        except NotImplementedError:
            args = ""
        return f"{type(self).__name__}({args})"


class ExponentialDecay(LearningRateSchedule):
    """``initial_learning_rate * decay_rate ** (step / decay_steps)`` (Keras's
    ``ExponentialDecay``); with ``staircase=True`` the exponent is floored.

    >>> s = ExponentialDecay(0.1, decay_steps=4, decay_rate=0.5, staircase=True)
    >>> [round(float(s(t)), 4) for t in (0, 3, 4, 7, 8)]
    [0.1, 0.1, 0.05, 0.05, 0.025]
    """

    def __init__(
        self,
        initial_learning_rate,
        decay_steps,
        decay_rate,
        staircase=False,
        name="ExponentialDecay",
    ):
        owner = type(self).__name__
        self.initial_learning_rate = _number(
            owner, "initial_learning_rate", initial_learning_rate, 0
        )
        self.decay_steps = _steps(owner, "decay_steps", decay_steps)
        self.decay_rate = _number(owner, "decay_rate", decay_rate, 0, low_inclusive=False)
        self.staircase = _flag(owner, "staircase", staircase)
        self.name = _name(owner, name)

    def __call__(self, step):
        step = _step(type(self).__name__, step)
        initial_learning_rate = _f32(self.initial_learning_rate)
        decay_steps = _f32(self.decay_steps)
        decay_rate = _f32(self.decay_rate)
        with np.errstate(all="ignore"):
            p = _f32(step) / decay_steps
            if self.staircase:
                p = np.floor(p)
            return initial_learning_rate * _pow(decay_rate, p)

    _KEYS = ("initial_learning_rate", "decay_steps", "decay_rate", "staircase", "name")


class PiecewiseConstantDecay(LearningRateSchedule):
    """``values[0]`` while ``step <= boundaries[0]``, ``values[1]`` while
    ``step <= boundaries[1]``, ..., ``values[-1]`` after the last boundary (Keras's
    ``PiecewiseConstantDecay``; an integer step compares with the boundaries cast to
    integers, as Keras casts them to the step's dtype).

    Keras does not check that the boundaries increase (overlapping ranges add their
    values there); this class refuses boundaries that do not strictly increase.

    >>> s = PiecewiseConstantDecay(boundaries=[2, 5], values=[1.0, 0.5, 0.1])
    >>> [float(s(t)) for t in (0, 2, 3, 5, 6)]
    [1.0, 1.0, 0.5, 0.5, 0.10000000149011612]
    """

    def __init__(self, boundaries, values, name="PiecewiseConstant"):
        owner = type(self).__name__
        for arg, seq in (("boundaries", boundaries), ("values", values)):
            if isinstance(seq, (str, bytes, dict)) or not hasattr(seq, "__len__"):
                raise TypeError(
                    f"{owner}: expected {arg} to be a list of numbers, received {seq!r}"
                )
        if len(boundaries) != len(values) - 1:
            raise ValueError(
                "The length of boundaries should be 1 less than the length of "
                f"values. Received: boundaries={boundaries} of length "
                f"{len(boundaries)}, and values={values} of length {len(values)}."
            )
        if len(boundaries) == 0:
            raise ValueError(
                f"{owner}: expected at least one boundary (and two values), "
                f"received boundaries={boundaries}, values={values}"
            )
        for i, b in enumerate(boundaries):
            _number(owner, f"boundaries[{i}]", b)
        for i, v in enumerate(values):
            _number(owner, f"values[{i}]", v, 0)
        if any(not b1 > b0 for b0, b1 in zip(boundaries[:-1], boundaries[1:], strict=True)):
            raise ValueError(
                f"{owner}: expected strictly increasing boundaries, "
                f"received boundaries={boundaries}"
            )
        self.boundaries = boundaries
        self.values = values
        self.name = _name(owner, name)

    def __call__(self, step):
        step = _step(type(self).__name__, step)
        if isinstance(step, numbers.Integral):
            boundaries = [int(b) for b in self.boundaries]  # Keras: cast to the step's dtype
        else:
            step = _f32(step)
            boundaries = [_f32(b) for b in self.boundaries]
        values = [_f32(v) for v in self.values]
        # Keras's sum of indicator * value over the ranges (exactly one term is nonzero)
        result = _f32(0)
        result += _f32(step <= boundaries[0]) * values[0]
        result += _f32(step > boundaries[-1]) * values[-1]
        for low, high, value in zip(boundaries[:-1], boundaries[1:], values[1:-1], strict=True):
            result += _f32(low < step <= high) * value
        return _f32(result)

    _KEYS = ("boundaries", "values", "name")


class PolynomialDecay(LearningRateSchedule):
    """``(initial - end) * (1 - step / decay_steps) ** power + end``, the step held at
    ``decay_steps`` (Keras's ``PolynomialDecay``); with ``cycle=True`` ``decay_steps`` is
    the first multiple of itself not below the step.

    >>> s = PolynomialDecay(0.1, decay_steps=10, end_learning_rate=0.01)
    >>> [round(float(s(t)), 4) for t in (0, 5, 10, 50)]
    [0.1, 0.055, 0.01, 0.01]
    """

    def __init__(
        self,
        initial_learning_rate,
        decay_steps,
        end_learning_rate=0.0001,
        power=1.0,
        cycle=False,
        name="PolynomialDecay",
    ):
        owner = type(self).__name__
        self.initial_learning_rate = _number(
            owner, "initial_learning_rate", initial_learning_rate, 0
        )
        self.decay_steps = _steps(owner, "decay_steps", decay_steps)
        self.end_learning_rate = _number(owner, "end_learning_rate", end_learning_rate, 0)
        self.power = _number(owner, "power", power, 0)
        self.cycle = _flag(owner, "cycle", cycle)
        self.name = _name(owner, name)

    def __call__(self, step):
        step = _step(type(self).__name__, step)
        initial_learning_rate = _f32(self.initial_learning_rate)
        end_learning_rate = _f32(self.end_learning_rate)
        power = _f32(self.power)
        global_step_recomp = _f32(step)
        decay_steps_recomp = _f32(self.decay_steps)
        with np.errstate(all="ignore"):
            if self.cycle:
                # the first multiple of decay_steps above the step (1 at step 0)
                multiplier = (
                    _f32(1.0)
                    if global_step_recomp == 0
                    else np.ceil(global_step_recomp / _f32(self.decay_steps))
                )
                decay_steps_recomp = decay_steps_recomp * multiplier
            else:
                global_step_recomp = np.minimum(global_step_recomp, decay_steps_recomp)
            p = global_step_recomp / decay_steps_recomp
            return (initial_learning_rate - end_learning_rate) * _pow(
                _f32(1) - p, power
            ) + end_learning_rate

    _KEYS = ("initial_learning_rate", "decay_steps", "end_learning_rate", "power", "cycle", "name")


class InverseTimeDecay(LearningRateSchedule):
    """``initial_learning_rate / (1 + decay_rate * step / decay_steps)`` (Keras's
    ``InverseTimeDecay``); with ``staircase=True`` ``step / decay_steps`` is floored.

    >>> s = InverseTimeDecay(0.1, decay_steps=1.0, decay_rate=0.5)
    >>> [round(float(s(t)), 4) for t in (0, 1, 2)]
    [0.1, 0.0667, 0.05]
    """

    def __init__(
        self,
        initial_learning_rate,
        decay_steps,
        decay_rate,
        staircase=False,
        name="InverseTimeDecay",
    ):
        owner = type(self).__name__
        self.initial_learning_rate = _number(
            owner, "initial_learning_rate", initial_learning_rate, 0
        )
        self.decay_steps = _steps(owner, "decay_steps", decay_steps)
        self.decay_rate = _number(owner, "decay_rate", decay_rate, 0)
        self.staircase = _flag(owner, "staircase", staircase)
        self.name = _name(owner, name)

    def __call__(self, step):
        step = _step(type(self).__name__, step)
        initial_learning_rate = _f32(self.initial_learning_rate)
        decay_steps = _f32(self.decay_steps)
        decay_rate = _f32(self.decay_rate)
        with np.errstate(all="ignore"):
            p = _f32(step) / decay_steps
            if self.staircase:
                p = np.floor(p)
            denom = _f32(1) + decay_rate * p
            return initial_learning_rate / denom

    _KEYS = ("initial_learning_rate", "decay_steps", "decay_rate", "staircase", "name")


def _cosine(step, decay_steps, decay_from_lr, alpha):
    """Keras's ``CosineDecay._decay_function`` in float32 (``alpha`` a Python float)."""
    completed_fraction = step / decay_steps
    cosine_decayed = _f32(0.5) * (_f32(1.0) + _cos(_PI * completed_fraction))
    decayed = _f32(1 - alpha) * cosine_decayed + _f32(alpha)  # Python's 1 - alpha, as Keras
    return decay_from_lr * decayed


class CosineDecay(LearningRateSchedule):
    """A linear warmup (if ``warmup_target`` is set) from ``initial_learning_rate`` to
    ``warmup_target`` over ``warmup_steps``, then a cosine decay over ``decay_steps`` down
    to ``alpha`` times the rate it started from (Keras's ``CosineDecay``).

    >>> s = CosineDecay(0.0, decay_steps=10, warmup_target=0.1, warmup_steps=5)
    >>> [round(float(s(t)), 4) for t in (0, 1, 5, 10, 15, 99)]
    [0.0, 0.02, 0.1, 0.05, 0.0, 0.0]
    """

    def __init__(
        self,
        initial_learning_rate,
        decay_steps,
        alpha=0.0,
        name="CosineDecay",
        warmup_target=None,
        warmup_steps=0,
    ):
        owner = type(self).__name__
        self.initial_learning_rate = _number(
            owner, "initial_learning_rate", initial_learning_rate, 0
        )
        self.decay_steps = _steps(owner, "decay_steps", decay_steps)
        self.alpha = _number(owner, "alpha", alpha)
        self.name = _name(owner, name)
        self.warmup_steps = _number(owner, "warmup_steps", warmup_steps, 0)
        self.warmup_target = _number(owner, "warmup_target", warmup_target, 0, optional=True)

    def __call__(self, step):
        step = _step(type(self).__name__, step)
        initial_learning_rate = _f32(self.initial_learning_rate)
        decay_steps = _f32(self.decay_steps)
        global_step_recomp = _f32(step)
        with np.errstate(all="ignore"):
            if self.warmup_target is None:
                global_step_recomp = np.minimum(global_step_recomp, decay_steps)
                return _cosine(global_step_recomp, decay_steps, initial_learning_rate, self.alpha)
            warmup_target = _f32(self.warmup_target)
            warmup_steps = _f32(self.warmup_steps)
            global_step_recomp = np.minimum(global_step_recomp, decay_steps + warmup_steps)
            if global_step_recomp < warmup_steps:
                completed_fraction = global_step_recomp / warmup_steps
                total_step_delta = warmup_target - initial_learning_rate
                return total_step_delta * completed_fraction + initial_learning_rate
            return _cosine(
                global_step_recomp - warmup_steps, decay_steps, warmup_target, self.alpha
            )

    _KEYS = (
        "initial_learning_rate",
        "decay_steps",
        "alpha",
        "name",
        "warmup_target",
        "warmup_steps",
    )


class CosineDecayRestarts(LearningRateSchedule):
    """Cosine decay with warm restarts (SGDR; Keras's ``CosineDecayRestarts``): the
    multiplier decays from 1 to ``alpha`` over ``first_decay_steps``, then restarts; each
    period is ``t_mul`` times longer than the last and starts ``m_mul`` times lower.

    >>> s = CosineDecayRestarts(0.1, first_decay_steps=4, t_mul=2.0, m_mul=0.5)
    >>> [round(float(s(t)), 4) for t in (0, 2, 4, 8, 12)]
    [0.1, 0.05, 0.05, 0.025, 0.025]
    """

    def __init__(
        self,
        initial_learning_rate,
        first_decay_steps,
        t_mul=2.0,
        m_mul=1.0,
        alpha=0.0,
        name="SGDRDecay",
    ):
        owner = type(self).__name__
        self.initial_learning_rate = _number(
            owner, "initial_learning_rate", initial_learning_rate, 0
        )
        self.first_decay_steps = _steps(owner, "first_decay_steps", first_decay_steps)
        self._t_mul = _number(owner, "t_mul", t_mul, 0, low_inclusive=False)
        self._m_mul = _number(owner, "m_mul", m_mul, 0)
        self.alpha = _number(owner, "alpha", alpha)
        self.name = _name(owner, name)

    def __call__(self, step):
        step = _step(type(self).__name__, step)
        initial_learning_rate = _f32(self.initial_learning_rate)
        first_decay_steps = _f32(self.first_decay_steps)
        alpha = _f32(self.alpha)
        t_mul = _f32(self._t_mul)
        m_mul = _f32(self._m_mul)
        one = _f32(1.0)
        with np.errstate(all="ignore"):
            completed_fraction = _f32(step) / first_decay_steps
            if t_mul == one:
                i_restart = np.floor(completed_fraction)
                completed_fraction = completed_fraction - i_restart
            else:
                i_restart = np.floor(
                    _log(one - completed_fraction * (one - t_mul)) / _log(t_mul)
                )
                sum_r = (one - _pow(t_mul, i_restart)) / (one - t_mul)
                completed_fraction = (completed_fraction - sum_r) / _pow(t_mul, i_restart)
            m_fac = _pow(m_mul, i_restart)
            cosine_decayed = _f32(0.5) * m_fac * (one + _cos(_PI * completed_fraction))
            decayed = (one - alpha) * cosine_decayed + alpha
            return initial_learning_rate * decayed

    _KEYS = (
        "initial_learning_rate",
        "first_decay_steps",
        ("t_mul", "_t_mul"),
        ("m_mul", "_m_mul"),
        "alpha",
        "name",
    )


_CLASSES = (
    ExponentialDecay,
    PiecewiseConstantDecay,
    PolynomialDecay,
    InverseTimeDecay,
    CosineDecay,
    CosineDecayRestarts,
)
_BY_NAME = {cls.__name__: cls for cls in _CLASSES}
_MODULES = (
    None,
    "keras.optimizers.schedules",
    "keras.src.optimizers.schedules.learning_rate_schedule",
)


def names() -> list[str]:
    """The schedule class names :func:`deserialize` accepts."""
    return sorted(_BY_NAME)


def serialize(schedule: LearningRateSchedule) -> dict:
    """Keras's ``keras.optimizers.schedules.serialize``: module, class name, config.

    >>> serialize(InverseTimeDecay(0.1, 10, 0.5))["module"]
    'keras.optimizers.schedules'
    """
    if not isinstance(schedule, tuple(_CLASSES)):
        raise TypeError(
            f"serialize: expected one of the schedules {', '.join(names())}, received "
            f"{schedule!r} of type {type(schedule).__name__}"
        )
    return {
        "module": "keras.optimizers.schedules",
        "class_name": type(schedule).__name__,
        "config": schedule.get_config(),
        "registered_name": None,
    }


def deserialize(config: dict) -> LearningRateSchedule:
    """A schedule from Keras's serialized form (or the bare ``{"class_name", "config"}``);
    only this module's classes, and only their own arguments, are accepted.

    >>> deserialize({"class_name": "PolynomialDecay", "config": {
    ...     "initial_learning_rate": 0.1, "decay_steps": 100, "power": 0.5}}).power
    0.5
    """
    if not isinstance(config, dict) or "class_name" not in config:
        raise TypeError(
            "deserialize: expected a learning-rate schedule config dict with 'class_name' "
            f"and 'config', received {config!r}"
        )
    extra = set(config) - {"module", "class_name", "config", "registered_name"}
    if extra:
        raise ValueError(
            f"deserialize: unexpected keys {sorted(extra)} in the schedule config {config!r}"
        )
    class_name = config["class_name"]
    if class_name not in _BY_NAME:
        raise ValueError(
            f"deserialize: unknown learning-rate schedule class {class_name!r}. "
            f"Expected one of: {', '.join(names())}"
        )
    module = config.get("module")
    registered = config.get("registered_name")
    if module not in _MODULES or registered not in (None, class_name):
        raise ValueError(
            f"deserialize: {class_name} must come from Keras's module "
            f"'keras.optimizers.schedules' (registered_name None); received "
            f"module={module!r}, registered_name={registered!r}"
        )
    cls = _BY_NAME[class_name]
    inner = config.get("config") or {}
    if not isinstance(inner, dict):
        raise TypeError(
            f"deserialize: the config of {class_name} must be a dict, received {inner!r}"
        )
    accepted = [k for k in inspect.signature(cls.__init__).parameters if k != "self"]
    unknown = [key for key in inner if key not in accepted]
    if unknown:
        raise ValueError(
            f"deserialize: {class_name} does not take {unknown}; accepted keys: "
            f"{', '.join(accepted)}"
        )
    return cls.from_config(dict(inner))


def get(identifier) -> LearningRateSchedule:
    """A schedule from an instance (returned unchanged) or a serialized config dict.

    >>> get({"class_name": "CosineDecay", "config": {"initial_learning_rate": 0.1,
    ...      "decay_steps": 10}}).decay_steps
    10
    """
    if isinstance(identifier, LearningRateSchedule):
        return identifier
    if isinstance(identifier, dict):
        return deserialize(identifier)
    raise TypeError(
        "learning_rate schedule: expected a LearningRateSchedule or its serialized config "
        f"dict, received {identifier!r} of type {type(identifier).__name__}"
    )


def evaluate(schedule, step: int) -> np.float32:
    """``schedule(step)`` as a float32 learning rate, refused unless finite and >= 0
    (what an optimizer calls before each update).

    >>> float(evaluate(ExponentialDecay(0.1, 10, 0.5), 10))
    0.05000000074505806
    """
    value = schedule(step)
    try:
        rate = _f32(np.asarray(value).item())
    except (TypeError, ValueError):
        raise TypeError(
            f"{type(schedule).__name__} returned {value!r} at step {step}; expected a "
            "number (the learning rate)"
        ) from None
    if not np.isfinite(rate) or rate < 0:
        raise ValueError(
            f"learning-rate schedule {schedule!r} gave the learning rate {rate} at step "
            f"{step}; expected a finite number >= 0"
        )
    return rate
