"""Keras 3 optimizers: SGD, Adam, RMSprop, Adagrad, with Keras's update rules and defaults.

``optimizer.apply(weights, grads)`` updates the weight arrays in place, the way Keras's
``apply_gradients`` does, in this order:

1. cast each gradient to its weight's dtype;
2. clip: ``clipnorm`` per weight, ``g * c / max(||g||, c)``; or ``global_clipnorm`` over all
   weights together, ``g * c * min(1/||G||, 1/c)``; or ``clipvalue`` element-wise
   (at most one of the three);
3. weight decay, if set: ``w -= w * weight_decay * lr``;
4. the optimizer's own ``update_step`` with ``t = iterations + 1``;
5. ``iterations += 1``.

The arithmetic is done in the weight's dtype with Keras's operation order, so float32
weights reproduce Keras's float32 numbers to the last bit or two. Keras keeps the learning
rate in a float32 variable; so does this module (``np.float32(learning_rate)``), before
casting it to the weight's dtype.

Slot variables (momentums, velocities, ...) are created on the first ``apply``, one per
weight position, with the shapes seen then; later calls must pass the same number of
weights with the same shapes.

>>> import numpy as np
>>> w = [np.array([1.0, 2.0], dtype="float32")]
>>> opt = SGD(learning_rate=0.1)
>>> opt.apply(w, [np.array([1.0, -1.0], dtype="float32")])
>>> w[0], opt.iterations                      # w - 0.1 * g
(array([0.9, 2.1], dtype=float32), 1)
"""

from __future__ import annotations

import math

import numba
import numpy as np

from .ops.optim_numba import adam_update

__all__ = ["Optimizer", "SGD", "Adam", "RMSprop", "Adagrad", "get", "names"]


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


class Optimizer:
    """Keras's ``BaseOptimizer``: learning rate, clipping, weight decay, iteration count."""

    default_name = "optimizer"  # Keras's snake_case of the class name (without its counter)

    def __init__(
        self,
        learning_rate: float,
        weight_decay: float | None = None,
        clipnorm: float | None = None,
        clipvalue: float | None = None,
        global_clipnorm: float | None = None,
        name: str | None = None,
    ):
        owner = type(self).__name__
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
        self.learning_rate = learning_rate
        self.name = name or self.default_name
        self.iterations = 0
        self._slots: list[dict[str, np.ndarray]] | None = None
        self._shapes: list[tuple[tuple[int, ...], np.dtype]] | None = None

    # -- the learning rate, kept as Keras keeps it: a float32 ----------------------------
    @property
    def learning_rate(self) -> float:
        return self._learning_rate

    @learning_rate.setter
    def learning_rate(self, value: float) -> None:
        self._learning_rate = _check_float(type(self).__name__, "learning_rate", value, 0.0)

    # -- what subclasses define ---------------------------------------------------------
    def _build_slots(self, weight: np.ndarray) -> dict[str, np.ndarray]:
        return {}

    def _update_step(
        self, weight: np.ndarray, grad: np.ndarray, slots: dict[str, np.ndarray], lr
    ) -> None:
        raise NotImplementedError

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
        for i, (w, g) in enumerate(zip(weights, grads, strict=True)):
            if not isinstance(w, np.ndarray) or not np.issubdtype(w.dtype, np.floating):
                raise TypeError(
                    f"{owner}.apply: weight {i} must be a float numpy array (updated in "
                    f"place), received {type(w).__name__} {getattr(w, 'dtype', '')}"
                )
            if g is None or np.shape(g) != w.shape:
                raise ValueError(
                    f"{owner}.apply: gradient {i} has shape "
                    f"{None if g is None else np.shape(g)}, weight {i} has shape {w.shape}"
                )
        signature = [(w.shape, w.dtype) for w in weights]
        if self._slots is None:
            self._slots = [self._build_slots(w) for w in weights]
            self._shapes = signature
        elif signature != self._shapes:
            raise ValueError(
                f"{owner}.apply: this optimizer was built for weights "
                f"{[(s, str(d)) for s, d in self._shapes]} but received "
                f"{[(s, str(d)) for s, d in signature]}; create a new optimizer for a "
                "different model"
            )
        grads = [
            np.asarray(g).astype(w.dtype, copy=False) for w, g in zip(weights, grads, strict=True)
        ]
        lr32 = np.float32(self._learning_rate)
        with np.errstate(all="ignore"):  # NaN/inf propagate silently, as in Keras
            grads = self._clip_gradients(grads)
            for w, g, slots in zip(weights, grads, self._slots, strict=True):
                lr = w.dtype.type(lr32)
                if self.weight_decay is not None:
                    # Keras: variable - variable * wd * lr
                    w[...] = w - w * w.dtype.type(self.weight_decay) * lr
                self._update_step(w, g, slots, lr)
        self.iterations += 1

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
        l2norm = np.sqrt(np.sum(np.square(g), dtype=g.dtype))
        return (g * c) / np.maximum(l2norm, c)

    @property
    def slots(self) -> list[dict[str, np.ndarray]]:
        """The slot arrays per weight position (empty before the first ``apply``)."""
        return self._slots or []

    def get_config(self) -> dict:
        return {
            "name": self.name,
            "learning_rate": float(np.float32(self._learning_rate)),
            "weight_decay": self.weight_decay,
            "clipnorm": self.clipnorm,
            "global_clipnorm": self.global_clipnorm,
            "clipvalue": self.clipvalue,
        }

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items() if k != "name")
        return f"{type(self).__name__}({args})"


def _clip_by_global_norm(grads: list[np.ndarray], clip_norm: float) -> list[np.ndarray]:
    """Keras's ``clip_by_global_norm``: ``scale = c * min(1/||G||, 1/c)`` (NaN for inf/NaN)"""
    dtype = np.result_type(*grads)
    squared = np.stack([np.sum(np.square(g), dtype=g.dtype) for g in grads]).astype(dtype)
    norm = np.sqrt(np.sum(squared, dtype=dtype))
    c = dtype.type(clip_norm)
    scale = c * np.minimum(dtype.type(1) / norm, dtype.type(1.0 / clip_norm)) + (norm - norm)
    return [g * scale.astype(g.dtype) for g in grads]


class SGD(Optimizer):
    """``m = momentum * m - lr * g``; ``w += m`` (nesterov: ``w += momentum * m - lr * g``).

    Without momentum: ``w -= lr * g``.
    """

    default_name = "sgd"

    def __init__(
        self,
        learning_rate: float = 0.01,
        momentum: float = 0.0,
        nesterov: bool = False,
        weight_decay: float | None = None,
        clipnorm: float | None = None,
        clipvalue: float | None = None,
        global_clipnorm: float | None = None,
        name: str | None = None,
    ):
        super().__init__(learning_rate, weight_decay, clipnorm, clipvalue, global_clipnorm, name)
        self.momentum = _check_float("SGD", "momentum", momentum, 0.0, 1.0)
        self.nesterov = bool(nesterov)

    def _build_slots(self, weight):
        return {"momentum": np.zeros_like(weight)} if self.momentum != 0 else {}

    def _update_step(self, weight, grad, slots, lr):
        if not slots:
            weight -= grad * lr
            return
        m = slots["momentum"]
        momentum = weight.dtype.type(self.momentum)
        m[...] = m * momentum - grad * lr
        if self.nesterov:
            weight += m * momentum - grad * lr
        else:
            weight += m

    def get_config(self):
        return {**super().get_config(), "momentum": self.momentum, "nesterov": self.nesterov}


def _fused_adam_applies(amsgrad: bool, weight, grad, m, v) -> bool:
    """Whether :func:`~npylstm.ops.optim_numba.adam_update` can take this step: compiled
    code (not ``NUMBA_DISABLE_JIT``), no amsgrad, C-contiguous arrays of one float dtype."""
    if amsgrad or numba.config.DISABLE_JIT:
        return False
    arrays = (weight, grad, m, v)
    return all(a.flags.c_contiguous and a.dtype == weight.dtype for a in arrays) and (
        weight.dtype in (np.float32, np.float64)
    )


class Adam(Optimizer):
    """Keras's Adam (epsilon outside the bias correction, unlike PyTorch)::

    m += (g - m) * (1 - beta_1);  v += (g**2 - v) * (1 - beta_2)
    alpha = lr * sqrt(1 - beta_2**t) / (1 - beta_1**t)
    w -= m * alpha / (sqrt(v) + epsilon)       # amsgrad: v -> running max of v
    """

    default_name = "adam"

    def __init__(
        self,
        learning_rate: float = 0.001,
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        epsilon: float = 1e-7,
        amsgrad: bool = False,
        weight_decay: float | None = None,
        clipnorm: float | None = None,
        clipvalue: float | None = None,
        global_clipnorm: float | None = None,
        name: str | None = None,
    ):
        super().__init__(learning_rate, weight_decay, clipnorm, clipvalue, global_clipnorm, name)
        self.beta_1 = _check_float("Adam", "beta_1", beta_1, 0.0, 1.0, high_inclusive=False)
        self.beta_2 = _check_float("Adam", "beta_2", beta_2, 0.0, 1.0, high_inclusive=False)
        self.epsilon = _check_float("Adam", "epsilon", epsilon, 0.0)
        self.amsgrad = bool(amsgrad)

    def _build_slots(self, weight):
        slots = {"momentum": np.zeros_like(weight), "velocity": np.zeros_like(weight)}
        if self.amsgrad:
            slots["velocity_hat"] = np.zeros_like(weight)
        return slots

    def _update_step(self, weight, grad, slots, lr):
        f = weight.dtype.type
        local_step = f(self.iterations + 1)
        beta_1_power = np.power(f(self.beta_1), local_step)
        beta_2_power = np.power(f(self.beta_2), local_step)
        m, v = slots["momentum"], slots["velocity"]
        alpha = lr * np.sqrt(f(1) - beta_2_power) / (f(1) - beta_1_power)
        if _fused_adam_applies(self.amsgrad, weight, grad, m, v):
            # the same operations in one compiled pass (bit-identical, see ops/optim_numba.py)
            adam_update(weight.reshape(-1), grad.reshape(-1), m.reshape(-1), v.reshape(-1),
                        f(alpha), f(1 - self.beta_1), f(1 - self.beta_2), f(self.epsilon))
            return
        m += (grad - m) * f(1 - self.beta_1)
        v += (np.square(grad) - v) * f(1 - self.beta_2)
        if self.amsgrad:
            v_hat = slots["velocity_hat"]
            np.maximum(v_hat, v, out=v_hat)
            v = v_hat
        weight -= (m * alpha) / (np.sqrt(v) + f(self.epsilon))

    def get_config(self):
        return {
            **super().get_config(),
            "beta_1": self.beta_1,
            "beta_2": self.beta_2,
            "epsilon": self.epsilon,
            "amsgrad": self.amsgrad,
        }


class RMSprop(Optimizer):
    """Keras's RMSprop (epsilon inside the square root)::

    v = rho * v + (1 - rho) * g**2
    centered: a = rho * a + (1 - rho) * g;  denominator = v - a**2 + epsilon
    else:     denominator = v + epsilon
    increment = lr * g / sqrt(denominator)
    momentum > 0: mom = momentum * mom + increment; w -= mom   else: w -= increment
    """

    default_name = "rm_sprop"  # sic: Keras's to_snake_case('RMSprop')

    def __init__(
        self,
        learning_rate: float = 0.001,
        rho: float = 0.9,
        momentum: float = 0.0,
        epsilon: float = 1e-7,
        centered: bool = False,
        weight_decay: float | None = None,
        clipnorm: float | None = None,
        clipvalue: float | None = None,
        global_clipnorm: float | None = None,
        name: str | None = None,
    ):
        super().__init__(learning_rate, weight_decay, clipnorm, clipvalue, global_clipnorm, name)
        self.rho = _check_float("RMSprop", "rho", rho, 0.0, 1.0)
        self.momentum = _check_float("RMSprop", "momentum", momentum, 0.0, 1.0)
        self.epsilon = _check_float("RMSprop", "epsilon", epsilon, 0.0)
        self.centered = bool(centered)

    def _build_slots(self, weight):
        slots = {"velocity": np.zeros_like(weight)}
        if self.momentum > 0:
            slots["momentum"] = np.zeros_like(weight)
        if self.centered:
            slots["average_gradient"] = np.zeros_like(weight)
        return slots

    def _update_step(self, weight, grad, slots, lr):
        f = weight.dtype.type
        rho, one_minus_rho = f(self.rho), f(1 - self.rho)
        velocity = slots["velocity"]
        velocity[...] = rho * velocity + one_minus_rho * np.square(grad)
        if self.centered:
            average_grad = slots["average_gradient"]
            average_grad[...] = rho * average_grad + one_minus_rho * grad
            denominator = velocity - np.square(average_grad) + f(self.epsilon)
        else:
            denominator = velocity + f(self.epsilon)
        increment = (lr * grad) / np.sqrt(denominator)
        if self.momentum > 0:
            momentum = slots["momentum"]
            momentum[...] = f(self.momentum) * momentum + increment
            weight -= momentum
        else:
            weight -= increment

    def get_config(self):
        return {
            **super().get_config(),
            "rho": self.rho,
            "momentum": self.momentum,
            "epsilon": self.epsilon,
            "centered": self.centered,
        }


class Adagrad(Optimizer):
    """``acc += g**2`` (starting at ``initial_accumulator_value``);
    ``w -= lr * g / sqrt(acc + epsilon)``."""

    default_name = "adagrad"

    def __init__(
        self,
        learning_rate: float = 0.001,
        initial_accumulator_value: float = 0.1,
        epsilon: float = 1e-7,
        weight_decay: float | None = None,
        clipnorm: float | None = None,
        clipvalue: float | None = None,
        global_clipnorm: float | None = None,
        name: str | None = None,
    ):
        super().__init__(learning_rate, weight_decay, clipnorm, clipvalue, global_clipnorm, name)
        self.initial_accumulator_value = _check_float(
            "Adagrad", "initial_accumulator_value", initial_accumulator_value, 0.0
        )
        self.epsilon = _check_float("Adagrad", "epsilon", epsilon, 0.0)

    def _build_slots(self, weight):
        return {"accumulator": np.full_like(weight, self.initial_accumulator_value)}

    def _update_step(self, weight, grad, slots, lr):
        accumulator = slots["accumulator"]
        accumulator += np.square(grad)
        weight -= (lr * grad) / np.sqrt(accumulator + weight.dtype.type(self.epsilon))

    def get_config(self):
        return {
            **super().get_config(),
            "initial_accumulator_value": self.initial_accumulator_value,
            "epsilon": self.epsilon,
        }


_CLASSES = (SGD, Adam, RMSprop, Adagrad)
_BY_NAME = {cls.__name__.lower(): cls for cls in _CLASSES}
# Keras 3 optimizers this module does not implement (named in the error message).
_KERAS_ONLY = ("adadelta", "adamw", "adamax", "adafactor", "ftrl", "lion", "nadam", "muon")


# Keys of a Keras optimizer config that npylstm accepts only at their default values.
_KERAS_DEFAULTS = {
    "use_ema": False,
    "ema_momentum": 0.99,
    "ema_overwrite_frequency": None,
    "loss_scale_factor": None,
    "gradient_accumulation_steps": None,
}


def _supported_config(class_name: str, config: dict) -> dict:
    """A Keras optimizer config without the keys that are at their (unsupported) defaults."""
    config = dict(config)
    for key, default in _KERAS_DEFAULTS.items():
        if key in config:
            value = config.pop(key)
            if value != default and not (key == "use_ema" and not value):
                raise ValueError(
                    f"{class_name}: {key}={value!r} is not supported by npylstm "
                    f"(only the Keras default {default!r})"
                )
    return config


def names() -> list[str]:
    """The optimizer names :func:`get` accepts (case-insensitive, as in Keras)."""
    return sorted(_BY_NAME)


def get(identifier) -> Optimizer:
    """An optimizer from a Keras name (``"adam"``, case-insensitive), a config dict, or an
    instance (returned unchanged).

    >>> get("Adam").get_config()["learning_rate"], get("sgd").learning_rate
    (0.0010000000474974513, 0.01)
    """
    if isinstance(identifier, Optimizer):
        return identifier
    config = {}
    if isinstance(identifier, dict) and "class_name" in identifier:
        config = _supported_config(identifier["class_name"], identifier.get("config") or {})
        identifier = identifier["class_name"]
    if isinstance(identifier, str):
        key = identifier.lower()
        if key in _BY_NAME:
            return _BY_NAME[key](**config)
        extra = (
            f" ({identifier!r} is a Keras optimizer that npylstm does not implement)"
            if key in _KERAS_ONLY
            else ""
        )
        raise ValueError(
            f"Unknown optimizer {identifier!r}{extra}. Expected one of: {', '.join(names())}"
        )
    raise TypeError(
        f"optimizer: expected an optimizer name (str), an Optimizer or a config dict, "
        f"received {identifier!r} of type {type(identifier).__name__}"
    )
