"""The optimizer base, Keras 3.15.1's ``BaseOptimizer`` with its JAX backend's
``_backend_apply_gradients`` (``keras/src/optimizers/base_optimizer.py``,
``keras/src/backend/jax/optimizer.py``): learning rate (float, schedule or callable),
clipping, weight decay, EMA, gradient accumulation, loss scaling, variables in Keras's order.

``optimizer.apply(weights, grads)`` updates the weight arrays in place, the way Keras's
``apply_gradients`` does, in this order:

1. the learning rate of this step: the float32 variable, ``schedule(iterations)`` (the raw
   step count, before the update) or ``callable()``;
2. cast each gradient to its weight's dtype; with ``loss_scale_factor``, ``g / scale``;
   (a division by a broadcast scalar is XLA's ``g * (1 / scale)``: :func:`xla_divide`)
3. with ``gradient_accumulation_steps`` N: unless ``(raw + 1) % N == 0``, only
   ``acc = g + acc`` (weights and slots unchanged); on the N-th step
   ``g = (g + acc) * (1 / N)`` (XLA's form of Keras's ``/ N``),
   ``acc = 0``, and the update below runs;
4. clip: ``clipnorm`` per weight, ``g * c / max(||g||, c)``; or ``global_clipnorm`` over all
   weights together, ``g * c * min(1/||G||, 1/c)``; or ``clipvalue`` element-wise
   (at most one of the three);
5. weight decay, if set: ``w -= w * weight_decay * lr``;
6. the optimizer's own ``update_step`` with ``t = iterations + 1``;
7. with ``use_ema``: ``avg = m * avg + (1 - m) * w`` (``m = 0`` while ``iterations == 0``,
   else ``ema_momentum``); with ``ema_overwrite_frequency`` F, ``w = avg`` when
   ``(iterations + 1) % F == 0``;
8. the raw step count ``+= 1`` (``iterations`` is it, or ``raw // N`` with accumulation).

The arithmetic is done in the weight's dtype with Keras's operation order, so float32
weights reproduce Keras's float32 numbers to the last bit. Keras keeps a float learning
rate in a float32 variable; so does this module, before casting it to the weight's dtype.

Slot variables (momentums, velocities, ...) are created by ``build(weights)`` (which
``apply`` calls on first use); later calls must pass the same number of weights with the
same shapes. ``variables`` lists everything in Keras's ``optimizer.variables`` order (the
JAX backend's dtypes), ``load_variables`` sets it back.

>>> import numpy as np
>>> w = [np.array([1.0, 2.0], dtype="float32")]
>>> from npylstm.optimizers import SGD
>>> opt = SGD(learning_rate=0.1)
>>> opt.apply(w, [np.array([1.0, -1.0], dtype="float32")])
>>> w[0], opt.iterations                      # w - 0.1 * g
(array([0.9, 2.1], dtype=float32), 1)
>>> opt.variable_names
['iteration', 'learning_rate']
"""

from __future__ import annotations

import math
import warnings

import numpy as np

from ._variables import VariablesMixin

__all__ = ["Optimizer", "keras_power", "xla_divide", "xla_mean", "xla_sum"]


def _check_float(
    owner: str,
    name: str,
    value,
    low: float,
    high: float | None = None,
    high_inclusive: bool = True,
    optional: bool = False,
) -> float | None:
    """``value`` as a float in [low, high] (or [low, high)), else a clear ValueError."""
    if value is None and optional:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise TypeError(
            f"{owner}: expected {name} to be a number, received {value!r} of type "
            f"{type(value).__name__}"
        ) from None
    if isinstance(value, bool):
        raise TypeError(f"{owner}: expected {name} to be a number, received {value!r}")
    upper_ok = high is None or (number <= high if high_inclusive else number < high)
    if not math.isfinite(number) or number < low or not upper_ok:
        bracket = "]" if high_inclusive else ")"
        expected = f">= {low}" if high is None else f"in [{low}, {high}{bracket}"
        raise ValueError(f"{owner}: expected {name} {expected}, received {name}={value!r}")
    return number


def keras_power(x, y):
    """``x ** y`` as Keras's ``ops.power`` gives it under JAX on the CPU: XLA's float32
    ``pow`` is accurate to within one ulp but not NumPy's ``powf`` (they differ on ~20% of
    inputs); evaluating in float64 and rounding to float32 reproduces XLA's value for all
    but ~0.1% of inputs (where the two differ by one ulp). Other dtypes: ``np.power``.
    """
    x = np.asarray(x) if not isinstance(x, np.generic) else x
    if x.dtype == np.float32:
        return np.power(x.astype(np.float64), np.float64(y)).astype(np.float32)
    return np.power(x, x.dtype.type(y))


def xla_sum(x, axis=None, keepdims=False):
    """``ops.sum`` as XLA adds on the CPU: a reduction of at most 32 elements goes
    sequentially (``np.cumsum``'s order), which NumPy's pairwise ``np.sum`` does not; a
    longer one is split by XLA in ways not reproduced here (``np.sum``, within an ulp or
    two)."""
    x = np.asarray(x)
    if axis is None:
        if x.size > 32 or x.size == 0:
            return np.sum(x, dtype=x.dtype, keepdims=keepdims)
        total = np.cumsum(x.reshape(-1), dtype=x.dtype)[-1]
        return total.reshape((1,) * x.ndim) if keepdims else total
    if x.shape[axis] > 32 or x.shape[axis] == 0:
        return np.sum(x, axis=axis, dtype=x.dtype, keepdims=keepdims)
    total = np.take(np.cumsum(x, axis=axis, dtype=x.dtype), [-1], axis=axis)
    return total if keepdims else np.squeeze(total, axis=axis)


def xla_mean(x, axis=None, keepdims=False):
    """``ops.mean``: :func:`xla_sum` times the reciprocal of the count (XLA's rewrite of
    the division by a constant)."""
    x = np.asarray(x)
    count = x.size if axis is None else x.shape[axis]
    f = x.dtype.type
    return xla_sum(x, axis, keepdims) * (f(1) / f(count))


def xla_divide(x, y):
    """``x / y`` as XLA computes it when ``y`` is broadcast (a scalar, or a size-1 axis):
    as the product with the reciprocal, ``x * (1 / y)`` (XLA's algebraic simplifier); an
    element-wise division of equal shapes stays a division."""
    x, y = np.asarray(x), np.asarray(y, dtype=np.asarray(x).dtype)
    if y.shape == x.shape:
        return x / y
    return x * (x.dtype.type(1) / y)


_schedule_class = None  # LearningRateSchedule, imported on first use (schedules imports us)


def _is_schedule(value) -> bool:
    global _schedule_class
    if _schedule_class is None:
        from .schedules import LearningRateSchedule

        _schedule_class = LearningRateSchedule
    return isinstance(value, _schedule_class)


def _same_arrays(weights: list, signature) -> bool:
    """Whether ``weights`` are plain ndarrays with exactly the ``(shape, dtype)`` signature
    the optimizer was built for: then every check of ``apply`` on them passes, and it skips
    them (the usual case, every step of ``fit``)."""
    return signature is not None and len(weights) == len(signature) and all(
        type(w) is np.ndarray and w.shape == shape and w.dtype == dtype
        for w, (shape, dtype) in zip(weights, signature, strict=True))


class Optimizer(VariablesMixin):
    """Keras's ``BaseOptimizer``: learning rate, clipping, weight decay, EMA, gradient
    accumulation, loss scaling, iteration count (see the module docstring for the order).

    ``learning_rate`` is a float, a :class:`~npylstm.optimizers.schedules.LearningRateSchedule`
    (called with the raw iteration count before each update) or a callable of no argument.
    """

    default_name = "optimizer"  # Keras's snake_case of the class name (without its counter)

    def __init__(
        self,
        learning_rate,
        weight_decay: float | None = None,
        clipnorm: float | None = None,
        clipvalue: float | None = None,
        global_clipnorm: float | None = None,
        use_ema: bool = False,
        ema_momentum: float = 0.99,
        ema_overwrite_frequency: int | None = None,
        loss_scale_factor: float | None = None,
        gradient_accumulation_steps: int | None = None,
        name: str | None = None,
        **kwargs,
    ):
        owner = type(self).__name__
        if kwargs.pop("decay", None) is not None:
            warnings.warn(
                "Argument `decay` is no longer supported and will be ignored.", stacklevel=3
            )
        if kwargs:
            raise ValueError(f"{owner}: argument(s) not recognized: {kwargs}")
        clip_args = {
            "clipnorm": clipnorm,
            "clipvalue": clipvalue,
            "global_clipnorm": global_clipnorm,
        }
        set_args = [k for k, v in clip_args.items() if v is not None]
        if len(set_args) > 1:
            raise ValueError(
                f"{owner}: only one of `clipnorm`, `clipvalue` and `global_clipnorm` can be set. "
                f"Received: clipnorm={clipnorm}, clipvalue={clipvalue}, "
                f"global_clipnorm={global_clipnorm}"
            )
        self.clipnorm = _check_float(owner, "clipnorm", clipnorm, 0.0, optional=True)
        self.clipvalue = _check_float(owner, "clipvalue", clipvalue, 0.0, optional=True)
        self.global_clipnorm = _check_float(
            owner, "global_clipnorm", global_clipnorm, 0.0, optional=True
        )
        self.weight_decay = _check_float(owner, "weight_decay", weight_decay, 0.0, optional=True)
        self.loss_scale_factor = _check_float(
            owner, "loss_scale_factor", loss_scale_factor, 0.0, optional=True
        )
        if self.loss_scale_factor == 0.0:
            raise ValueError(f"{owner}: expected loss_scale_factor > 0, received 0")
        if gradient_accumulation_steps is not None and (
            isinstance(gradient_accumulation_steps, bool)
            or not isinstance(gradient_accumulation_steps, int | np.integer)
            or gradient_accumulation_steps < 2
        ):
            raise ValueError(
                f"{owner}: `gradient_accumulation_steps` must be an integer >= 2. "
                f"Received: gradient_accumulation_steps={gradient_accumulation_steps!r}"
            )
        self.gradient_accumulation_steps = (
            None if gradient_accumulation_steps is None else int(gradient_accumulation_steps)
        )
        self.use_ema = bool(use_ema)
        # Keras checks the range only with use_ema (the value is unused otherwise)
        self.ema_momentum = _check_float(
            owner, "ema_momentum", ema_momentum, 0.0 if use_ema else -np.inf,
            1.0 if use_ema else None,
        )
        if ema_overwrite_frequency is not None and (
            isinstance(ema_overwrite_frequency, bool)
            or not isinstance(ema_overwrite_frequency, int | np.integer)
            or ema_overwrite_frequency < 1
        ):
            raise ValueError(
                f"{owner}: `ema_overwrite_frequency` must be an integer >= 1 or None. "
                f"Received: ema_overwrite_frequency={ema_overwrite_frequency!r}"
            )
        self.ema_overwrite_frequency = (
            None if ema_overwrite_frequency is None else int(ema_overwrite_frequency)
        )
        self.name = name or self.default_name
        self._iterations = 0  # Keras's raw ``_iterations`` (every apply call)
        self._slots: list[dict[str, np.ndarray]] | None = None
        self._shapes: list[tuple[tuple[int, ...], np.dtype]] | None = None
        self._ema: list[np.ndarray] | None = None  # use_ema's moving averages
        self._accumulators: list[np.ndarray] | None = None  # gradient accumulation
        self._order: list[tuple[str, np.ndarray]] = []  # build's variables, Keras's order
        self._init_learning_rate(learning_rate)

    # -- the learning rate: a float32 variable, a schedule or a callable ----------------
    def _init_learning_rate(self, value) -> None:
        owner = type(self).__name__
        if _is_schedule(value) or callable(value):
            self._learning_rate = value
            return
        if isinstance(value, bool) or not isinstance(value, float | np.floating):
            raise ValueError(
                f"{owner}: argument `learning_rate` should be float, or an instance of "
                "LearningRateSchedule, or a callable (that takes in the current iteration "
                "value and returns the corresponding learning rate value). Received instead: "
                f"learning_rate={value!r}"
            )
        self._learning_rate = np.float32(_check_float(owner, "learning_rate", value, 0.0))

    @property
    def learning_rate(self) -> float:
        """The learning rate of the next step, as a float (the float32 variable's value,
        or the schedule at the current raw iteration count, or the callable's value)."""
        return float(self._current_learning_rate())

    @learning_rate.setter
    def learning_rate(self, value) -> None:
        if _is_schedule(value) or callable(value):
            self._learning_rate = value  # Keras untracks the float32 variable
            return
        if _is_schedule(self._learning_rate):
            raise TypeError(
                "This optimizer was created with a `LearningRateSchedule` object as its "
                "`learning_rate` constructor argument, hence its learning rate is not "
                "settable. If you need the learning rate to be settable, you should "
                "instantiate the optimizer with a float `learning_rate` argument."
            )
        owner = type(self).__name__
        self._learning_rate = np.float32(_check_float(owner, "learning_rate", value, 0.0))

    def _current_learning_rate(self):
        """Keras's ``_get_current_learning_rate``: the value the update casts to each
        weight's dtype (a float32 for the variable, whatever the schedule/callable gives)."""
        lr = self._learning_rate
        if _is_schedule(lr):  # a NaN, infinite or negative rate is an error naming the step
            from .schedules import evaluate

            return evaluate(lr, self._iterations)
        if isinstance(lr, np.float32):
            return lr
        return lr()

    @property
    def iterations(self) -> int:
        """Keras's ``iterations``: the update count (the raw count // accumulation steps)."""
        if self.gradient_accumulation_steps:
            return self._iterations // self.gradient_accumulation_steps
        return self._iterations

    def scale_loss(self, loss):
        """``loss * loss_scale_factor`` (the loss unchanged without one), as Keras."""
        if self.loss_scale_factor is not None:
            return loss * self.loss_scale_factor
        return loss

    # -- what subclasses define ---------------------------------------------------------
    def _slot_groups(self) -> list[list[tuple[str, float]]]:
        """Keras's ``add_optimizer_variables`` calls in ``build`` order: each a list of
        ``(name, initial value)`` created interleaved per weight."""
        return []

    def _update_step(
        self, weight: np.ndarray, grad: np.ndarray, slots: dict[str, np.ndarray], lr
    ) -> None:
        raise NotImplementedError

    def _backend_update_step(self, weights, grads, lr_value) -> None:
        """Keras's ``_backend_update_step``: ``update_step`` per weight."""
        for w, g, slots in zip(weights, grads, self._slots, strict=True):
            self._update_step(w, g, slots, w.dtype.type(lr_value))

    # -- Keras's apply ------------------------------------------------------------------
    def apply(self, weights: list[np.ndarray], grads: list[np.ndarray]) -> None:
        """Update ``weights`` in place from ``grads`` (same order, same shapes).

        Parameters
        ----------
        weights : list of float ndarrays, updated in place (e.g. ``model.weights`` arrays).
        grads : list of ndarrays, one per weight, same shapes; cast to the weight dtype.
        """
        owner = type(self).__name__
        weights, grads = list(weights), list(grads)
        if not weights and not grads:
            return  # Keras: nothing to apply, and the iteration count does not move
        if len(weights) != len(grads):
            raise ValueError(
                f"{owner}.apply: received {len(weights)} weights but {len(grads)} gradients"
            )
        built_for_these = self._slots is not None and _same_arrays(weights, self._shapes)
        if not built_for_these:
            self._check_weights(weights, "apply")
        for i, (w, g) in enumerate(zip(weights, grads, strict=True)):
            if g is None or np.shape(g) != w.shape:
                raise ValueError(
                    f"{owner}.apply: gradient {i} has shape "
                    f"{None if g is None else np.shape(g)}, weight {i} has shape {w.shape}"
                )
        if self._slots is None:
            self.build(weights)
        elif not built_for_these:
            self._check_signature(weights, "apply")
        grads = [
            np.asarray(g).astype(w.dtype, copy=False) for w, g in zip(weights, grads, strict=True)
        ]
        with np.errstate(all="ignore"):  # NaN/inf propagate silently, as in Keras
            if self.loss_scale_factor is not None:
                grads = [xla_divide(g, self.loss_scale_factor) for g in grads]
            steps = self.gradient_accumulation_steps
            if steps:
                accumulators = self._accumulators
                if (self._iterations + 1) % steps == 0:
                    # Keras divides by N inside a compiled jax.lax.cond, which XLA
                    # rewrites as a product with the reciprocal: (g + acc) * (1 / N)
                    grads = [
                        (g + acc) * (g.dtype.type(1) / g.dtype.type(steps))
                        for g, acc in zip(grads, accumulators, strict=True)
                    ]
                    for acc in accumulators:
                        acc[...] = 0
                    self._update(weights, grads)
                else:
                    for g, acc in zip(grads, accumulators, strict=True):
                        acc[...] = g + acc
            else:
                self._update(weights, grads)
            if self.use_ema:
                self._update_ema(weights)
        self._iterations += 1

    def _update(self, weights, grads) -> None:
        """Clipping, weight decay and the update step (Keras's order)."""
        lr_value = self._current_learning_rate()
        grads = self._clip_gradients(grads)
        if self.weight_decay is not None:
            for w in weights:
                # Keras: variable - variable * wd * lr
                f = w.dtype.type
                w[...] = w - w * f(self.weight_decay) * f(lr_value)
        self._backend_update_step(weights, grads, lr_value)

    def _update_ema(self, weights) -> None:
        """Keras's ``_update_model_variables_moving_average`` and (JAX) the overwrite."""
        iterations = self.iterations
        for w, average in zip(weights, self._ema, strict=True):
            f = w.dtype.type
            momentum = f(iterations != 0) * f(self.ema_momentum)
            average[...] = momentum * average + (f(1) - momentum) * w
        frequency = self.ema_overwrite_frequency
        if frequency is not None:
            overwrite = (iterations + 1) % frequency == 0
            for w, average in zip(weights, self._ema, strict=True):
                f = w.dtype.type
                w[...] = average * f(overwrite) + w * f(not overwrite)

    def finalize_variable_values(self, weights: list[np.ndarray]) -> None:
        """Keras's ``finalize_variable_values``: with ``use_ema``, copy the moving averages
        into ``weights`` (in place; the training loop calls it at the end of ``fit``)."""
        if not self.use_ema:
            return
        weights = list(weights)
        owner = type(self).__name__
        if self._ema is None or len(weights) != len(self._ema):
            raise ValueError(
                f"{owner}.finalize_variable_values: the length of model variables "
                f"({len(weights)}) to override does not match the length of model variables "
                f"stored in the optimizer ({0 if self._ema is None else len(self._ema)}). "
                "Please check if the optimizer was called on your model."
            )
        self._check_weights(weights, "finalize_variable_values")
        self._check_signature(weights, "finalize_variable_values")
        for w, average in zip(weights, self._ema, strict=True):
            w[...] = average

    def _clip_gradients(self, grads: list[np.ndarray]) -> list[np.ndarray]:
        """Keras's ``_clip_gradients``; a bound of 0 means no clipping, as in Keras."""
        if self.clipnorm:
            return [self._clip_by_norm(g) for g in grads]
        if self.global_clipnorm:
            return _clip_by_global_norm(grads, self.global_clipnorm)
        if self.clipvalue:
            return [
                np.clip(g, g.dtype.type(-self.clipvalue), g.dtype.type(self.clipvalue))
                for g in grads
            ]
        return grads

    def _clip_by_norm(self, g: np.ndarray) -> np.ndarray:
        """``g * c / max(||g||, c)``, in Keras's operation order."""
        c = g.dtype.type(self.clipnorm)
        l2norm = np.sqrt(xla_sum(np.square(g)))
        return xla_divide(g * c, np.maximum(l2norm, c))

    @property
    def slots(self) -> list[dict[str, np.ndarray]]:
        """The slot arrays per weight position (empty before the first ``apply``)."""
        return self._slots or []

    # -- configs ------------------------------------------------------------------------
    def get_config(self) -> dict:
        """Keras's ``get_config`` keys and values (a schedule serialized as Keras does)."""
        lr = self._learning_rate
        if _is_schedule(lr):
            from . import schedules

            learning_rate = schedules.serialize(lr)
        elif isinstance(lr, np.float32):
            learning_rate = float(lr)
        else:  # Keras's serialize_keras_object of a plain function
            learning_rate = {
                "module": getattr(lr, "__module__", None),
                "class_name": "function",
                "config": getattr(lr, "__name__", repr(lr)),
                "registered_name": "function",
            }
        return {
            "name": self.name,
            "learning_rate": learning_rate,
            "weight_decay": self.weight_decay,
            "clipnorm": self.clipnorm,
            "global_clipnorm": self.global_clipnorm,
            "clipvalue": self.clipvalue,
            "use_ema": self.use_ema,
            "ema_momentum": self.ema_momentum,
            "ema_overwrite_frequency": self.ema_overwrite_frequency,
            "loss_scale_factor": self.loss_scale_factor,
            "gradient_accumulation_steps": self.gradient_accumulation_steps,
        }

    @classmethod
    def from_config(cls, config: dict):
        """Keras's ``from_config``: a serialized schedule is deserialized first."""
        config = dict(config)
        lr = config.get("learning_rate")
        if isinstance(lr, dict):
            if lr.get("class_name") in ("function", "__lambda__"):
                raise ValueError(
                    f"{cls.__name__}.from_config: the learning rate is a serialized Python "
                    f"function ({lr.get('config')!r}); npylstm never runs code from a "
                    "config: pass the callable as learning_rate instead"
                )
            from . import schedules

            config["learning_rate"] = schedules.deserialize(lr)
        return cls(**config)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items() if k != "name")
        return f"{type(self).__name__}({args})"


def _clip_by_global_norm(grads: list[np.ndarray], clip_norm: float) -> list[np.ndarray]:
    """Keras's ``clip_by_global_norm``: ``scale = c * min(1/||G||, 1/c)`` (NaN for inf/NaN)"""
    dtype = np.result_type(*grads)
    squared = np.stack([xla_sum(np.square(g)) for g in grads]).astype(dtype)
    norm = np.sqrt(xla_sum(squared))
    c = dtype.type(clip_norm)
    scale = c * np.minimum(dtype.type(1) / norm, dtype.type(1.0 / clip_norm)) + (norm - norm)
    return [g * scale.astype(g.dtype) for g in grads]
