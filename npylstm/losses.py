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

At kinks the gradient follows JAX's conventions (the Keras backend used as the oracle):
``d|x|/dx = 1`` at ``x = 0``, and ``clip``/``maximum`` pass half the gradient when the input
equals the bound exactly.

>>> import numpy as np
>>> value, grad = get("mse")(np.array([[1.0], [2.0]]), np.array([[1.5], [2.0]]))
>>> value, grad.ravel().tolist()    # mean((0.5**2, 0)) ; d/dy_pred = 2*(y_pred - y_true)/2
(0.125, [0.5, 0.0])
"""

from __future__ import annotations

import difflib

import numpy as np

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
    "check_mask",
    "squeeze_or_expand_to_same_rank",
    "get",
    "names",
]

EPSILON = 1e-7  # keras.backend.epsilon()


def squeeze_or_expand_to_same_rank(
    x1: np.ndarray, x2: np.ndarray, expand_rank_1: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """Keras's ``squeeze_or_expand_to_same_rank``: fix a rank difference of one trailing 1.

    >>> a, b = squeeze_or_expand_to_same_rank(np.zeros(4), np.zeros((4, 1)))
    >>> a.shape, b.shape
    ((4, 1), (4, 1))
    """
    if x1.ndim == x2.ndim + 1 and x1.shape[-1] == 1:
        if x2.ndim == 1 and expand_rank_1:
            x2 = x2[..., None]
        else:
            x1 = x1[..., 0]
    elif x2.ndim == x1.ndim + 1 and x2.shape[-1] == 1:
        if x1.ndim == 1 and expand_rank_1:
            x1 = x1[..., None]
        else:
            x2 = x2[..., 0]
    return x1, x2


def check_mask(owner: str, mask, shape: tuple) -> np.ndarray:
    """``mask`` as booleans of the per-sample values' ``shape`` (``y_pred``'s without its
    last axis), or a ValueError naming ``owner`` (a loss or a metric).

    >>> check_mask("MeanSquaredError", [[1, 0]], (1, 2)).tolist()
    [[True, False]]
    """
    mask = np.asarray(mask)
    if mask.shape != tuple(shape):
        raise ValueError(
            f"{owner}: expected a mask of the per-sample values' shape {tuple(shape)} "
            f"(y_pred's without its last axis), received {mask.shape}"
        )
    return mask.astype(bool)


def _as_float_array(x, dtype=None) -> np.ndarray:
    """``x`` as an array; integer/bool/list data become float32 (Keras's floatx)."""
    x = np.asarray(x)
    if dtype is not None:
        return x.astype(dtype, copy=False)
    if not np.issubdtype(x.dtype, np.floating):
        x = x.astype(np.float32)
    return x


def _mean_last(e: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``mean(e, axis=-1)`` and the factor ``d mean / d e`` (``1 / n``)."""
    n = e.shape[-1]
    return np.mean(e, axis=-1), e.dtype.type(1.0 / n)


def _clip_grad(x: np.ndarray, lo, hi) -> np.ndarray:
    """``d clip(x, lo, hi) / dx`` as JAX defines it: 1 inside, 0.5 on a bound, 0 outside."""
    one, half = x.dtype.type(1), x.dtype.type(0.5)
    inside = np.where((x > lo) & (x < hi), one, x.dtype.type(0))
    return np.where((x == lo) | (x == hi), half, inside)


def _log_sigmoid(x: np.ndarray) -> np.ndarray:
    """``log(sigmoid(x)) = min(x, 0) - log1p(exp(-|x|))``, stable for any ``x``."""
    return np.minimum(x, 0) - np.log1p(np.exp(-np.abs(x)))


def _sigmoid(x: np.ndarray) -> np.ndarray:
    e = np.exp(-np.abs(x))  # in (0, 1], never overflows
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e)).astype(x.dtype, copy=False)


class Loss:
    """Base class: Keras's reduction, shape handling and dtype rules around ``_fn``.

    Subclasses implement ``_fn(y_true, y_pred) -> (values, dvalues)`` on two arrays of one
    shape ``S``: ``values`` of shape ``S[:-1]`` (Keras's per-sample function) and
    ``dvalues`` of shape ``S`` with ``dvalues[..., j] = d values[...] / d y_pred[..., j]``.
    """

    default_name = "loss"
    min_rank = 1

    def __init__(self, name: str | None = None):
        self.name = name or self.default_name
        self.reduction = "sum_over_batch_size"

    # -- what subclasses define ---------------------------------------------------------
    def _fn(self, y_true: np.ndarray, y_pred: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError

    # -- shared machinery -----------------------------------------------------------------
    def _compute(self, y_true: np.ndarray, y_pred: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``_fn`` with NaN/inf propagating silently, as in Keras (no RuntimeWarning)."""
        with np.errstate(all="ignore"):
            return self._fn(y_true, y_pred)

    def _prepare(self, y_true, y_pred) -> tuple[np.ndarray, np.ndarray, tuple[int, ...]]:
        """Arrays in ``y_pred``'s dtype, ranks reconciled as Keras does; checks shapes."""
        y_pred = _as_float_array(y_pred)
        y_true = _as_float_array(y_true, y_pred.dtype)
        shape = y_pred.shape
        if y_pred.ndim < self.min_rank or y_true.ndim < 1:
            raise ValueError(
                f"{type(self).__name__}: expected y_true and y_pred with at least "
                f"{self.min_rank} dimension(s) (batch first), received y_true shape "
                f"{y_true.shape} and y_pred shape {y_pred.shape}"
            )
        t, p = squeeze_or_expand_to_same_rank(y_true, y_pred)
        if t.shape != p.shape:
            raise ValueError(
                f"{type(self).__name__}: y_true shape {y_true.shape} does not match y_pred "
                f"shape {y_pred.shape} (ranks may differ only by a trailing 1, as in "
                "(batch,) vs (batch, 1))"
            )
        if p.size == 0:
            raise ValueError(
                f"{type(self).__name__}: received empty arrays, y_pred shape {y_pred.shape}"
            )
        return t, p, shape

    def values(self, y_true, y_pred) -> np.ndarray:
        """Keras's per-sample function: the loss reduced over the last axis only.

        Returns shape ``y_pred.shape[:-1]`` after rank reconciliation (0-d for 1-D input).
        """
        t, p, _ = self._prepare(y_true, y_pred)
        return self._compute(t, p)[0]

    def __call__(self, y_true, y_pred, mask=None) -> tuple[float, np.ndarray]:
        """The reduced loss and its gradient.

        Parameters
        ----------
        y_true : array_like, shape (batch, ...) — targets.
        y_pred : array_like, shape (batch, ...) — predictions (same shape, or differing
            only by a trailing 1).
        mask : None or booleans of the per-sample values' shape (``y_pred.shape[:-1]``,
            e.g. ``(batch, timesteps)``) — the output's mask: masked entries do not count.

        Returns
        -------
        value : float — ``sum(values) / values.size`` (Keras's "sum_over_batch_size"),
            with a mask ``sum(values * mask) / count(mask)``.
        dvalue_dy_pred : ndarray, shape and dtype of ``y_pred``.
        """
        t, p, shape = self._prepare(y_true, y_pred)
        values, dvalues = self._compute(t, p)
        count = p.dtype.type(max(values.size, 1))
        with np.errstate(all="ignore"):
            if mask is not None:
                weight = self._mask_weight(mask, values)  # total / valid at real entries
                values = values * weight
                dvalues = dvalues * weight[..., None]
            value, grad = np.sum(values) / count, dvalues / count
        return float(value), grad.astype(p.dtype, copy=False).reshape(shape)

    def _mask_weight(self, mask, values: np.ndarray) -> np.ndarray:
        """Keras's ``apply_mask`` for "sum_over_batch_size": ``total / valid`` at the real
        entries, 0 at the masked ones (all 0 when none is real)."""
        mask = check_mask(type(self).__name__, mask, values.shape)
        valid = int(mask.sum())
        scale = values.dtype.type(values.size / valid) if valid else values.dtype.type(0)
        return np.where(mask, scale, values.dtype.type(0))

    def per_sample(self, y_true, y_pred) -> np.ndarray:
        """One loss value per sample, shape ``(batch,)``; their mean is the reduced loss.

        For 1-D input (one output per sample, Keras reduces them all at once) this is the
        element-wise loss.
        """
        t, p, _ = self._prepare(y_true, y_pred)
        if p.ndim == 1:
            return self._compute(t[:, None], p[:, None])[0]  # a last axis of 1: element-wise
        values = self._compute(t, p)[0]
        with np.errstate(all="ignore"):
            return values.reshape(len(values), -1).mean(axis=1)

    def get_config(self) -> dict:
        return {"name": self.name, "reduction": self.reduction}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


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


class BinaryCrossentropy(Loss):
    """``mean(-(t * log(p) + (1 - t) * log(1 - p)), axis=-1)`` with ``p`` clipped to
    ``[1e-7, 1 - 1e-7]``; with ``from_logits``, ``p = sigmoid(y_pred)`` computed stably.

    ``label_smoothing`` replaces ``t`` by ``t * (1 - s) + 0.5 * s``.
    """

    default_name = "binary_crossentropy"

    def __init__(
        self, from_logits: bool = False, label_smoothing: float = 0.0, name: str | None = None
    ):
        _check_label_smoothing(type(self).__name__, label_smoothing)
        super().__init__(name)
        self.from_logits = bool(from_logits)
        self.label_smoothing = float(label_smoothing)

    def _fn(self, y_true, y_pred):
        f = y_pred.dtype.type
        one = f(1)
        if self.label_smoothing:
            s = self.label_smoothing
            y_true = y_true * f(1.0 - s) + f(0.5 * s)
        if self.from_logits:
            e = -y_true * _log_sigmoid(y_pred) - (one - y_true) * _log_sigmoid(-y_pred)
            de = _sigmoid(y_pred) - y_true
        else:
            eps = f(EPSILON)
            out = np.clip(y_pred, eps, one - eps)
            e = -(y_true * np.log(out) + (one - y_true) * np.log(one - out))
            de = (-(y_true / out) + (one - y_true) / (one - out)) * _clip_grad(
                y_pred, eps, one - eps
            )
        values, k = _mean_last(e)
        return values, de * k

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "from_logits": self.from_logits,
            "label_smoothing": self.label_smoothing,
        }


class CategoricalCrossentropy(Loss):
    """``-sum(t * log(q), axis=-1)`` over one-hot (or soft) targets ``t``.

    From probabilities Keras first renormalizes, ``q = clip(p / sum(p), 1e-7, 1 - 1e-7)``;
    ``from_logits`` uses ``log_softmax(y_pred)``. ``label_smoothing`` replaces ``t`` by
    ``t * (1 - s) + s / num_classes``. ``y_pred`` needs shape ``(..., num_classes > 1)``.
    """

    default_name = "categorical_crossentropy"
    min_rank = 2

    def __init__(
        self, from_logits: bool = False, label_smoothing: float = 0.0, name: str | None = None
    ):
        _check_label_smoothing(type(self).__name__, label_smoothing)
        super().__init__(name)
        self.from_logits = bool(from_logits)
        self.label_smoothing = float(label_smoothing)

    def _prepare(self, y_true, y_pred):
        t, p, shape = super()._prepare(y_true, y_pred)
        if p.shape[-1] < 2:
            # Keras only warns here; with one class the loss is identically ~0.
            raise ValueError(
                f"CategoricalCrossentropy: expected y_pred of shape (batch, num_classes) with "
                f"num_classes > 1, received y_pred shape {shape}; use BinaryCrossentropy for "
                "a single probability per sample"
            )
        return t, p, shape

    def _fn(self, y_true, y_pred):
        f = y_pred.dtype.type
        if self.label_smoothing:
            s = self.label_smoothing
            y_true = y_true * f(1.0 - s) + f(s) / f(y_true.shape[-1])
        if self.from_logits:
            shifted = y_pred - np.max(y_pred, axis=-1, keepdims=True)
            log_prob = shifted - np.log(np.sum(np.exp(shifted), axis=-1, keepdims=True))
            values = -np.sum(y_true * log_prob, axis=-1)
            # d/dx_k of -sum_j t_j (x_j - logsumexp(x)) = softmax_k * sum(t) - t_k
            dvalues = np.exp(log_prob) * np.sum(y_true, axis=-1, keepdims=True) - y_true
            return values, dvalues
        eps = f(EPSILON)
        total = np.sum(y_pred, axis=-1, keepdims=True)
        q = y_pred / total
        q_clipped = np.clip(q, eps, f(1) - eps)
        values = -np.sum(y_true * np.log(q_clipped), axis=-1)
        dq = -y_true / q_clipped * _clip_grad(q, eps, f(1) - eps)  # dL/dq
        # q_j = p_j / S: dL/dp_k = (dq_k - sum_j dq_j q_j) / S
        dvalues = (dq - np.sum(dq * q, axis=-1, keepdims=True)) / total
        return values, dvalues

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "from_logits": self.from_logits,
            "label_smoothing": self.label_smoothing,
        }


def _check_label_smoothing(owner: str, label_smoothing: float) -> None:
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(
            f"{owner}: expected label_smoothing in [0, 1], received {label_smoothing!r}"
        )


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
}
_CLASS_NAMES = {cls.__name__: cls for cls in _CLASSES}


def names() -> list[str]:
    """Every string :func:`get` accepts."""
    return sorted(_FUNCTION_NAMES) + sorted(_CLASS_NAMES)


def get(identifier) -> Loss:
    """A loss from a Keras name, a class name, a ``{"class_name", "config"}`` dict or a Loss.

    As in ``model.compile(loss="mse")``, a function name or alias gives a loss whose
    ``name`` is that string; a class name gives the class's default name.

    >>> get("mae").name, get("MeanAbsoluteError").name
    ('mae', 'mean_absolute_error')
    """
    if isinstance(identifier, Loss):
        return identifier
    if isinstance(identifier, type) and issubclass(identifier, Loss):
        return identifier()
    if isinstance(identifier, dict) and "class_name" in identifier:
        cls = _CLASS_NAMES.get(identifier["class_name"])
        if cls is not None:
            config = dict(identifier.get("config") or {})
            config.pop("reduction", None)
            return cls(**config)
        identifier = identifier["class_name"]
    if isinstance(identifier, str):
        if identifier in _FUNCTION_NAMES:
            return _FUNCTION_NAMES[identifier](name=identifier)
        if identifier in _CLASS_NAMES:
            return _CLASS_NAMES[identifier]()
        close = difflib.get_close_matches(identifier, names(), n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ValueError(
            f"Unknown loss {identifier!r}.{hint} Expected one of: {', '.join(names())}"
        )
    raise TypeError(
        f"loss: expected a loss name (str), a Loss instance or class, or a config dict, "
        f"received {identifier!r} of type {type(identifier).__name__}"
    )
