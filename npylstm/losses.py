"""Keras 3 losses, each returning its value and its gradient with respect to ``y_pred``.

Every loss follows Keras's two steps:

1. a *per-sample function* (Keras's ``keras.losses.mean_squared_error`` and friends) that
   reduces the last axis, ``values = fn(y_true, y_pred)`` of shape ``y_pred.shape[:-1]``
   (mean over the last axis for the regression losses and binary crossentropy, sum for
   categorical crossentropy);
2. the default reduction ``"sum_over_batch_size"``: ``value = sum(values) / values.size``
   (a 0-d ``values`` is returned as it is).

With a mask (the model output's time mask, ``values``' shape; ``keras/src/losses/loss.py``
``apply_mask``), Keras weights every real entry by ``total / valid`` and the masked ones
by 0 before the same reduction, so the value is the mean over the real entries only
(``sum(values[mask]) / valid``; 0 when no entry is real, Keras's ``divide_no_nan``).

Before step 1, Keras's ``squeeze_or_expand_to_same_rank`` reconciles ``y_true`` and
``y_pred`` whose ranks differ by one when the longer one ends in 1: a rank-1 partner is
expanded to ``(batch, 1)``, otherwise the trailing 1 is squeezed. After that the two shapes
must be equal here (Keras would silently broadcast, e.g. ``(32, 1)`` against ``(32, 5)``).

``y_true`` is cast to ``y_pred``'s dtype and the arithmetic stays in that dtype, so float32
stays float32 and a float64 call can be checked by central differences. Keras itself casts
both to ``floatx()`` (float32) first.

``SparseCategoricalCrossentropy`` takes integer class ids instead of ``y_true``: shape
``y_pred.shape[:-1]`` (or that with a trailing 1), e.g. ``(batch,)`` against
``(batch, classes)`` or ``(batch, timesteps)`` against a tagger's
``(batch, timesteps, classes)``.

At kinks the gradient follows JAX's conventions (the Keras backend used as the oracle):
``d|x|/dx = 1`` at ``x = 0``, and ``clip``/``maximum`` pass half the gradient when the input
equals the bound exactly, a ``max`` over an axis shares it equally between ties.

The base class and helpers are in :mod:`npylstm.losses_base` (Keras's ``losses/loss.py``);
the losses follow ``keras/src/losses/losses.py`` (Keras 3.15).

>>> import numpy as np
>>> value, grad = get("mse")(np.array([[1.0], [2.0]]), np.array([[1.5], [2.0]]))
>>> value, grad.ravel().tolist()    # mean((0.5**2, 0)) ; d/dy_pred = 2*(y_pred - y_true)/2
(0.125, [0.5, 0.0])
"""

from __future__ import annotations

import difflib

import numpy as np

from .losses_base import (
    EPSILON,
    Loss,
    _check_axis,
    _clip_grad,
    _mean_last,
    _sigmoid,
    check_mask,
    squeeze_or_expand_to_same_rank,
)
from .losses_crossentropy import (
    BinaryCrossentropy,
    CategoricalCrossentropy,
    SparseCategoricalCrossentropy,
)

__all__ = [
    "EPSILON",
    "Loss",
    "MeanSquaredError",
    "MeanAbsoluteError",
    "Huber",
    "MeanAbsolutePercentageError",
    "MeanSquaredLogarithmicError",
    "BinaryCrossentropy",
    "CategoricalCrossentropy",
    "SparseCategoricalCrossentropy",
    "KLDivergence",
    "Poisson",
    "LogCosh",
    "CosineSimilarity",
    "Hinge",
    "SquaredHinge",
    "CategoricalHinge",
    "check_mask",
    "squeeze_or_expand_to_same_rank",
    "get",
    "names",
    "serialize",
]


class MeanSquaredError(Loss):
    """``mean((y_true - y_pred)**2, axis=-1)``."""

    default_name = "mean_squared_error"

    def _fn(self, y_true, y_pred):
        diff = y_pred - y_true
        values, k = _mean_last(np.square(diff))
        return values, (diff + diff) * k  # d/dp (p - t)^2 = 2 (p - t)


class MeanAbsoluteError(Loss):
    """``mean(|y_true - y_pred|, axis=-1)``; at a zero error the slope is -1 (JAX's abs)."""

    default_name = "mean_absolute_error"

    def _fn(self, y_true, y_pred):
        diff = y_true - y_pred
        values, k = _mean_last(np.abs(diff))
        one = y_pred.dtype.type(1)
        return values, np.where(diff >= 0, -one, one) * k  # d|t - p|/dp


class Huber(Loss):
    """``0.5 * e**2`` where ``|e| <= delta``, else ``delta * |e| - 0.5 * delta**2``; mean."""

    default_name = "huber_loss"

    def __init__(self, delta: float = 1.0, name: str | None = None):
        if not np.isfinite(delta) or delta < 0:
            raise ValueError(f"Huber: expected delta >= 0 and finite, received delta={delta!r}")
        super().__init__(name)
        self.delta = float(delta)

    def _fn(self, y_true, y_pred):
        f = y_pred.dtype.type
        delta, half = f(self.delta), f(0.5)
        error = y_pred - y_true
        abs_error = np.abs(error)
        quadratic = abs_error <= delta
        e = np.where(quadratic, half * np.square(error), delta * abs_error - half * delta**2)
        values, k = _mean_last(e)
        slope = np.where(error >= 0, delta, -delta)  # JAX: d|e|/de = 1 at e = 0
        return values, np.where(quadratic, error, slope) * k

    def get_config(self) -> dict:
        return {**super().get_config(), "delta": self.delta}


class MeanAbsolutePercentageError(Loss):
    """``100 * mean(|(y_true - y_pred) / max(|y_true|, 1e-7)|, axis=-1)``."""

    default_name = "mean_absolute_percentage_error"

    def _fn(self, y_true, y_pred):
        f = y_pred.dtype.type
        denominator = np.maximum(np.abs(y_true), f(EPSILON))
        ratio = (y_true - y_pred) / denominator
        values, k = _mean_last(np.abs(ratio))
        sign = np.where(ratio >= 0, f(-1), f(1))  # d|ratio|/dp, JAX's slope at 0
        return f(100.0) * values, sign / denominator * (f(100.0) * k)


class MeanSquaredLogarithmicError(Loss):
    """``mean((log(max(y_pred, 1e-7) + 1) - log(max(y_true, 1e-7) + 1))**2, axis=-1)``."""

    default_name = "mean_squared_logarithmic_error"

    def _fn(self, y_true, y_pred):
        f = y_pred.dtype.type
        eps = f(EPSILON)
        p = np.maximum(y_pred, eps)
        diff = np.log(p + f(1)) - np.log(np.maximum(y_true, eps) + f(1))
        values, k = _mean_last(np.square(diff))
        # d max(p, eps)/dp: 1 above eps, 0.5 at eps (JAX), 0 below
        dmax = np.where(y_pred > eps, f(1), np.where(y_pred == eps, f(0.5), f(0)))
        return values, (diff + diff) / (p + f(1)) * dmax * k


class KLDivergence(Loss):
    """``sum(t * log(t / p), axis=-1)`` with ``t`` and ``p`` clipped to ``[1e-7, 1]``."""

    default_name = "kl_divergence"

    def _fn(self, y_true, y_pred):
        f = y_pred.dtype.type
        eps, one = f(EPSILON), f(1)
        t, p = np.clip(y_true, eps, one), np.clip(y_pred, eps, one)
        values = np.sum(t * np.log(t / p), axis=-1)
        return values, -t / p * _clip_grad(y_pred, eps, one)


class Poisson(Loss):
    """``mean(p - t * log(p + 1e-7), axis=-1)``."""

    default_name = "poisson"

    def _fn(self, y_true, y_pred):
        f = y_pred.dtype.type
        values, k = _mean_last(y_pred - y_true * np.log(y_pred + f(EPSILON)))
        return values, (f(1) - y_true / (y_pred + f(EPSILON))) * k


class LogCosh(Loss):
    """``mean(log(cosh(e)), axis=-1)``, ``e = p - t``, computed as Keras does:
    ``e + softplus(-2 e) - log(2)`` (no overflow); its slope is ``tanh(e)``."""

    default_name = "log_cosh"

    def _fn(self, y_true, y_pred):
        f = y_pred.dtype.type
        error = y_pred - y_true
        values, k = _mean_last(error + np.logaddexp(f(-2) * error, f(0)) - f(np.log(2.0)))
        return values, (f(1) - f(2) * _sigmoid(f(-2) * error)) * k  # = tanh(e)


class CosineSimilarity(Loss):
    """``-sum(normalize(t) * normalize(p), axis=-1)`` with Keras's
    ``normalize(x) = x * rsqrt(max(sum(x**2), 1e-7**2))``: -1 for aligned vectors, 0 when
    either is zero."""

    default_name = "cosine_similarity"

    def __init__(self, axis: int = -1, name: str | None = None):
        _check_axis(type(self).__name__, axis)
        super().__init__(name)

    def _fn(self, y_true, y_pred):
        f = y_pred.dtype.type
        eps2 = f(EPSILON) * f(EPSILON)
        t_sq = np.sum(np.square(y_true), axis=-1, keepdims=True)
        p_sq = np.sum(np.square(y_pred), axis=-1, keepdims=True)  # (..., 1)
        t_hat = y_true / np.sqrt(np.maximum(t_sq, eps2))
        r = f(1) / np.sqrt(np.maximum(p_sq, eps2))  # rsqrt of the clamped squared norm
        values = -np.sum(t_hat * y_pred * r, axis=-1)
        # d/dp of p * r: r * I - p p^T r^3 (the second term only where sum(p^2) > eps^2;
        # half on the bound, JAX's maximum)
        gate = np.where(p_sq > eps2, f(1), np.where(p_sq == eps2, f(0.5), f(0)))
        dot = np.sum(t_hat * y_pred, axis=-1, keepdims=True)
        return values, -(t_hat * r - y_pred * dot * r**3 * gate)


def _hinge_targets(y_true):
    """Keras's ``convert_binary_labels_to_hinge``: 0/1 labels (all of them) become -1/1."""
    f = y_true.dtype.type
    if np.all((y_true == 0) | (y_true == 1)):
        return f(2) * y_true - f(1)
    return y_true


def _relu_grad(x):
    """``d max(x, 0) / dx`` as JAX defines it: 1 above 0, 0.5 at 0, 0 below."""
    f = x.dtype.type
    return np.where(x > 0, f(1), np.where(x == 0, f(0.5), f(0)))


class Hinge(Loss):
    """``mean(max(1 - t * p, 0), axis=-1)``; 0/1 targets are first mapped to -1/1."""

    default_name = "hinge"

    def _fn(self, y_true, y_pred):
        t = _hinge_targets(y_true)
        margin = y_pred.dtype.type(1) - t * y_pred
        values, k = _mean_last(np.maximum(margin, 0))
        return values, -t * _relu_grad(margin) * k


class SquaredHinge(Loss):
    """``mean(max(1 - t * p, 0)**2, axis=-1)``; 0/1 targets are first mapped to -1/1."""

    default_name = "squared_hinge"

    def _fn(self, y_true, y_pred):
        t = _hinge_targets(y_true)
        margin = y_pred.dtype.type(1) - t * y_pred
        hinge = np.maximum(margin, 0)
        values, k = _mean_last(np.square(hinge))
        return values, -t * (hinge + hinge) * _relu_grad(margin) * k


class CategoricalHinge(Loss):
    """``max(neg - pos + 1, 0)`` with ``pos = sum(t * p)``, ``neg = max((1 - t) * p)``
    over the last axis (a tie for ``neg`` shares the gradient, as JAX's ``max``)."""

    default_name = "categorical_hinge"

    def _fn(self, y_true, y_pred):
        f = y_pred.dtype.type
        pos = np.sum(y_true * y_pred, axis=-1)
        others = (f(1) - y_true) * y_pred
        neg = np.max(others, axis=-1)
        margin = neg - pos + f(1)
        ties = (others == neg[..., None]).astype(y_pred.dtype)
        dneg = ties / np.sum(ties, axis=-1, keepdims=True) * (f(1) - y_true)
        return np.maximum(margin, f(0)), _relu_grad(margin)[..., None] * (dneg - y_true)


class _ResolvedCrossentropy(Loss):
    """The strings ``"crossentropy"`` / ``"ce"`` (any case): binary, sparse categorical or
    categorical crossentropy, chosen from the shapes of the first batch as Keras's
    ``compile_utils.get_loss`` does (``is_binary_or_sparse_categorical``), named as written.
    Until then it accepts class ids as targets (``SPARSE_TARGETS``)."""

    SPARSE_TARGETS = True

    def __init__(self, name: str):
        super().__init__(name)
        self.loss: Loss | None = None

    def _resolve(self, y_true, y_pred) -> Loss:
        if self.loss is None:
            from .accuracy_metrics import is_binary_or_sparse_categorical

            is_binary, is_sparse = is_binary_or_sparse_categorical(y_true, y_pred)
            cls = (BinaryCrossentropy if is_binary else
                   SparseCategoricalCrossentropy if is_sparse else CategoricalCrossentropy)
            self.loss = cls(name=self.name)
            self.SPARSE_TARGETS = self.loss.SPARSE_TARGETS
        return self.loss

    def __call__(self, y_true, y_pred, sample_weight=None, mask=None):
        return self._resolve(y_true, y_pred)(y_true, y_pred, sample_weight, mask=mask)

    def values(self, y_true, y_pred):
        return self._resolve(y_true, y_pred).values(y_true, y_pred)

    def per_sample(self, y_true, y_pred):
        return self._resolve(y_true, y_pred).per_sample(y_true, y_pred)

    def __repr__(self) -> str:
        chosen = "unresolved" if self.loss is None else type(self.loss).__name__
        return f"crossentropy(name={self.name!r}, {chosen})"


# Keras 3's `keras.losses.get` names (case-sensitive, as in Keras): the function names,
# the short aliases, and the class names.
_CLASSES = (
    MeanSquaredError,
    MeanAbsoluteError,
    Huber,
    MeanAbsolutePercentageError,
    MeanSquaredLogarithmicError,
    BinaryCrossentropy,
    CategoricalCrossentropy,
    SparseCategoricalCrossentropy,
    KLDivergence,
    Poisson,
    LogCosh,
    CosineSimilarity,
    Hinge,
    SquaredHinge,
    CategoricalHinge,
)
_FUNCTION_NAMES = {
    "mean_squared_error": MeanSquaredError,
    "mse": MeanSquaredError,
    "MSE": MeanSquaredError,
    "mean_absolute_error": MeanAbsoluteError,
    "mae": MeanAbsoluteError,
    "MAE": MeanAbsoluteError,
    "huber": Huber,
    "mean_absolute_percentage_error": MeanAbsolutePercentageError,
    "mape": MeanAbsolutePercentageError,
    "MAPE": MeanAbsolutePercentageError,
    "mean_squared_logarithmic_error": MeanSquaredLogarithmicError,
    "msle": MeanSquaredLogarithmicError,
    "MSLE": MeanSquaredLogarithmicError,
    "binary_crossentropy": BinaryCrossentropy,
    "bce": BinaryCrossentropy,
    "BCE": BinaryCrossentropy,
    "categorical_crossentropy": CategoricalCrossentropy,
    "sparse_categorical_crossentropy": SparseCategoricalCrossentropy,
    "kl_divergence": KLDivergence,
    "kld": KLDivergence,
    "KLD": KLDivergence,
    "poisson": Poisson,
    "log_cosh": LogCosh,
    "cosine_similarity": CosineSimilarity,
    "hinge": Hinge,
    "squared_hinge": SquaredHinge,
    "categorical_hinge": CategoricalHinge,
}
_CLASS_NAMES = {cls.__name__: cls for cls in _CLASSES}


_RESOLVED = ("crossentropy", "ce")  # resolved from the data's shapes (Keras: .lower())


def names() -> list[str]:
    """Every string :func:`get` accepts (``"crossentropy"`` and ``"ce"`` in any case too)."""
    return sorted([*_FUNCTION_NAMES, *_RESOLVED]) + sorted(_CLASS_NAMES)


def _from_config(class_name: str, config: dict) -> Loss:
    """A loss from Keras's ``{"class_name", "config"}``: ``reduction`` must be Keras's
    default (the only one here), ``dtype`` None or float32 (Keras's floatx)."""
    cls = _CLASS_NAMES[class_name]
    config = dict(config or {})
    reduction = config.pop("reduction", "sum_over_batch_size")
    if reduction != "sum_over_batch_size":
        raise ValueError(
            f"{class_name}: only reduction='sum_over_batch_size' (Keras's default) is "
            f"supported, received reduction={reduction!r}"
        )
    dtype = config.pop("dtype", None)
    if isinstance(dtype, dict):  # a DTypePolicy config
        dtype = (dtype.get("config") or {}).get("name")
    if dtype not in (None, "float32"):
        raise ValueError(f"{class_name}: only dtype float32 is supported, received {dtype!r}")
    try:
        return cls(**config)
    except TypeError as exc:
        raise ValueError(f"{class_name}: bad config {config!r} ({exc})") from None


def get(identifier) -> Loss:
    """A loss from a Keras name, a class name, a ``{"class_name", "config"}`` dict or a Loss.

    As in ``model.compile(loss="mse")``, a function name or alias gives a loss whose
    ``name`` is that string; a class name gives the class's default name.

    >>> get("mae").name, get("MeanAbsoluteError").name
    ('mae', 'mean_absolute_error')
    >>> get({"class_name": "SparseCategoricalCrossentropy", "config": {"from_logits": True}})
    SparseCategoricalCrossentropy(name='sparse_categorical_crossentropy', \
reduction='sum_over_batch_size', from_logits=True, ignore_class=None)
    """
    if isinstance(identifier, Loss):
        return identifier
    if isinstance(identifier, type) and issubclass(identifier, Loss):
        return identifier()
    if isinstance(identifier, dict) and "class_name" in identifier:
        if identifier["class_name"] in _CLASS_NAMES:
            return _from_config(identifier["class_name"], identifier.get("config"))
        identifier = identifier["class_name"]
    if isinstance(identifier, str):
        if identifier.lower() in _RESOLVED:
            loss = _ResolvedCrossentropy(name=identifier)
        elif identifier in _FUNCTION_NAMES:
            loss = _FUNCTION_NAMES[identifier](name=identifier)
        elif identifier in _CLASS_NAMES:
            loss = _CLASS_NAMES[identifier]()
        else:
            close = difflib.get_close_matches(identifier, names(), n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise ValueError(
                f"Unknown loss {identifier!r}.{hint} Expected one of: {', '.join(names())}"
            )
        loss.identifier = identifier
        return loss
    raise TypeError(
        f"loss: expected a loss name (str), a Loss instance or class, or a config dict, "
        f"received {identifier!r} of type {type(identifier).__name__}"
    )


def serialize(loss: Loss):
    """What Keras writes for the loss in a file's ``compile_config``: the string it was
    compiled with (``compile(loss="mse")`` writes ``"mse"``), else the object's
    ``{"module", "class_name", "config", "registered_name"}``.

    >>> serialize(get("sparse_categorical_crossentropy"))
    'sparse_categorical_crossentropy'
    >>> serialize(SparseCategoricalCrossentropy(from_logits=True))["config"]["from_logits"]
    True
    """
    if loss.identifier is not None:
        return loss.identifier
    return {
        "module": "keras.losses",
        "class_name": type(loss).__name__,
        "config": loss.get_config(),
        "registered_name": None,
    }
