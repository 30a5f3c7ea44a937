"""The machinery every npylstm loss shares (Keras's ``keras/src/losses/loss.py``): the
``Loss`` base (shapes, dtypes, the "sum_over_batch_size" reduction, ``apply_mask``),
``squeeze_or_expand_to_same_rank``, mask checks and the small numeric helpers the losses
use. The losses themselves and ``get`` are in :mod:`npylstm.losses`, which re-exports
everything public here.
"""

from __future__ import annotations

import numpy as np

__all__ = ["EPSILON", "Loss", "check_mask", "merge_weights",
           "squeeze_or_expand_to_same_rank"]

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


def merge_weights(owner: str, sample_weight, mask, values: np.ndarray,
                  reduction: str = "sum_over_batch_size") -> np.ndarray | None:
    """Keras's ``apply_mask`` then the rank reconciliation of ``reduce_weighted_values``
    (``keras/src/losses/loss.py``): ``sample_weight`` and the boolean ``mask`` merged into
    one weight of the per-sample ``values``' shape (None when both are None).

    With the "sum_over_batch_size" reduction a mask weighs its real entries
    ``total / valid`` (``divide_no_nan``: all 0 when none is real); with "sum" it is the
    plain 0/1 mask (what metrics use). A ``sample_weight`` whose shape cannot be
    reconciled with the values' (Keras: a broadcasting error) is a ValueError naming
    ``owner``.

    >>> mask = np.array([[True, True, False, False], [True, True, False, False]])
    >>> merge_weights("mse", [[1.0], [3.0]], mask, np.zeros((2, 4), np.float32)).tolist()
    [[2.0, 2.0, 0.0, 0.0], [6.0, 6.0, 0.0, 0.0]]
    >>> merge_weights("mse", [1.0, 3.0], None, np.zeros((2, 4), np.float32))
    Traceback (most recent call last):
    ...
    ValueError: mse: sample_weight of shape (2,) does not fit the per-sample loss values ...
    """
    dtype = values.dtype
    weight = None
    if sample_weight is not None:
        weight = np.asarray(sample_weight)
        if weight.dtype == object or not (np.issubdtype(weight.dtype, np.number)
                                          or weight.dtype == bool):
            raise TypeError(f"{owner}: expected numeric sample_weight, received dtype "
                            f"{weight.dtype}")
        weight = weight.astype(dtype, copy=False)
    if mask is not None:
        if reduction in ("mean", "sum_over_batch_size"):
            total = dtype.type(mask.size)
            valid = dtype.type(np.sum(mask, dtype=dtype))
            mask_weight = total / valid if valid else dtype.type(0)
            float_mask = np.where(mask, mask_weight, dtype.type(0)).astype(dtype)
        else:
            float_mask = mask.astype(dtype)
        if weight is not None:
            float_mask, weight = squeeze_or_expand_to_same_rank(float_mask, weight)
            weight = _broadcast(owner, weight, float_mask.shape, "the output's mask")
            weight = weight * float_mask
        else:
            weight = float_mask
    if weight is None:
        return None
    v, weight = squeeze_or_expand_to_same_rank(values, weight)
    # v differs from values at most by a trailing 1 (Keras squeezes or expands it)
    return _broadcast(owner, weight, v.shape, "the per-sample loss values").reshape(
        values.shape)


def _broadcast(owner: str, weight: np.ndarray, shape: tuple, what: str) -> np.ndarray:
    """``weight`` broadcast to ``shape`` when its rank equals ``shape``'s and each axis
    matches or is 1 (how Keras's multiplication broadcasts), else a clear ValueError."""
    fits = weight.ndim == len(shape) and all(
        w in (1, s) for w, s in zip(weight.shape, shape, strict=True))
    if weight.ndim == 0:
        fits = True
    if not fits:
        hint = (f": pass one weight per sample as ({shape[0]}, 1) or one per value as "
                f"{tuple(shape)}" if len(shape) > 1 else "")
        raise ValueError(f"{owner}: sample_weight of shape {weight.shape} does not fit "
                         f"{what} of shape {tuple(shape)}{hint}")
    return np.broadcast_to(weight, shape)


def _as_float_array(x, dtype=None) -> np.ndarray:
    """``x`` as an array; integer/bool/list data become float32 (Keras's floatx)."""
    x = np.asarray(x)
    if x.dtype.kind not in "fiub":  # complex, text, objects: never silently truncated
        raise TypeError(f"expected real numbers (float, integer or bool) for a loss, "
                        f"received dtype {x.dtype}, shape {x.shape}")
    if dtype is not None:
        return x.astype(dtype, copy=False)
    if not np.issubdtype(x.dtype, np.floating):
        x = x.astype(np.float32)
    return x


def _mean_last(e: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``mean(e, axis=-1)`` and the factor ``d mean / d e`` (``1 / n``).

    For a float32 / float64 array of two or more axes the mean is NumPy's own steps
    (``numpy/_core/_methods.py``'s ``_mean``: ``add.reduce``, then ``true_divide`` by the
    count as an ``intp``, in place), without ``np.mean``'s Python layers: the same bits."""
    n = e.shape[-1]
    if type(e) is np.ndarray and e.ndim >= 2 and n and e.dtype in _MEAN_DTYPES:
        total = np.add.reduce(e, axis=-1)
        mean = np.true_divide(total, np.intp(n), out=total, casting="unsafe", subok=False)
    else:
        mean = np.mean(e, axis=-1)
    return mean, e.dtype.type(1.0 / n)


_MEAN_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


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
    # True for a loss taking integer class ids of y_pred's shape without its last axis
    # (SparseCategoricalCrossentropy): what a model accepts as targets.
    SPARSE_TARGETS = False

    def __init__(self, name: str | None = None):
        self.name = name or self.default_name
        self.reduction = "sum_over_batch_size"
        self.identifier: str | None = None  # the compile() string it came from (get sets it)

    # -- what subclasses define ---------------------------------------------------------
    def _fn(self, y_true: np.ndarray, y_pred: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError

    def _own_mask(self, y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray | None:
        """The mask a loss sets on its own values (Keras's ``set_keras_mask`` in
        ``sparse_categorical_crossentropy`` with ``ignore_class``), or None."""
        return None

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

    def __call__(self, y_true, y_pred, sample_weight=None, mask=None
                 ) -> tuple[float, np.ndarray]:
        """The reduced loss and its gradient (Keras's ``Loss.__call__`` and
        ``reduce_weighted_values``, ``keras/src/losses/loss.py`` of Keras 3.15.1).

        Parameters
        ----------
        y_true : array_like, shape (batch, ...) — targets.
        y_pred : array_like, shape (batch, ...) — predictions (same shape, or differing
            only by a trailing 1).
        sample_weight : None or array_like — a weight per sample ``(batch,)`` or per
            per-sample value (``(batch, timesteps)`` for a sequence output; any shape whose
            rank Keras's ``squeeze_or_expand_to_same_rank`` reconciles with the values' and
            that broadcasts against them).
        mask : None or booleans of the per-sample values' shape (``y_pred.shape[:-1]``,
            e.g. ``(batch, timesteps)``) — the output's mask: masked entries do not count.

        Returns
        -------
        value : float — Keras's "sum_over_batch_size": with the merged weight
            ``w = sample_weight * mask * total / valid`` (``apply_mask``),
            ``sum(values * w) / values.size``.
        dvalue_dy_pred : ndarray, shape and dtype of ``y_pred``.
        """
        t, p, shape = self._prepare(y_true, y_pred)
        values, dvalues = self._compute(t, p)
        if mask is not None:
            mask = check_mask(type(self).__name__, mask, values.shape)
        own = self._own_mask(t, p)
        if own is not None:  # Keras: in_mask & out_mask
            mask = own if mask is None else mask & own
        with np.errstate(all="ignore"):
            weight = merge_weights(type(self).__name__, sample_weight, mask, values,
                                   reduction="sum_over_batch_size")
            if weight is not None:
                values = values * weight
                dvalues = dvalues * weight[..., None]
            count = p.dtype.type(max(values.size, 1))
            # np.add.reduce over every axis is np.sum of an array, without its Python layer
            value, grad = np.add.reduce(values, axis=None) / count, dvalues / count
        return float(value), grad.astype(p.dtype, copy=False).reshape(shape)

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



def _check_label_smoothing(owner: str, label_smoothing: float) -> None:
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(
            f"{owner}: expected label_smoothing in [0, 1], received {label_smoothing!r}"
        )


def _check_axis(owner: str, axis) -> None:
    if axis != -1 or isinstance(axis, bool):
        raise ValueError(
            f"{owner}: only axis=-1 (the last axis, Keras's default) is supported, "
            f"received axis={axis!r}"
        )
