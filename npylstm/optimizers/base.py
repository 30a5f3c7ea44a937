"""The optimizer base (Keras's ``BaseOptimizer``): learning rate, clipping, weight decay.

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
>>> from npylstm.optimizers import SGD
>>> opt = SGD(learning_rate=0.1)
>>> opt.apply(w, [np.array([1.0, -1.0], dtype="float32")])
>>> w[0], opt.iterations                      # w - 0.1 * g
(array([0.9, 2.1], dtype=float32), 1)
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["Optimizer"]


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
