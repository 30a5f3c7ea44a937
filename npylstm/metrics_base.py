"""The running-mean machinery of every npylstm metric (Keras's ``Metric`` and
``reduction_metrics.Mean`` / ``reduce_to_samplewise_values``): float32 ``total`` and
``count``, sample weights (the output's mask). The metrics themselves are in
:mod:`npylstm.metrics` (which re-exports these) and :mod:`npylstm.accuracy_metrics`.
"""

from __future__ import annotations

import numpy as np

from . import losses_base

__all__ = ["Mean", "Metric"]

_F32 = np.float32


def _mask_weight(mask, sample_weight=None):
    """The mask and ``sample_weight`` merged into float32 sample weights (Keras's
    ``apply_mask(sample_weight, mask, reduction="sum")``: the 0/1 mask times the weights,
    ranks reconciled by ``squeeze_or_expand_to_same_rank``), or None for neither."""
    if sample_weight is not None:
        sample_weight = np.asarray(sample_weight)
        if sample_weight.dtype == object or not (
                np.issubdtype(sample_weight.dtype, np.number) or sample_weight.dtype == bool):
            raise TypeError(f"expected numeric sample_weight, received dtype "
                            f"{sample_weight.dtype}")
        sample_weight = sample_weight.astype(_F32)
    if mask is None:
        return sample_weight
    float_mask = np.asarray(mask).astype(_F32)
    if sample_weight is None:
        return float_mask
    float_mask, sample_weight = losses_base.squeeze_or_expand_to_same_rank(
        float_mask, sample_weight)
    try:
        return sample_weight * float_mask
    except ValueError:
        raise ValueError(f"sample_weight of shape {sample_weight.shape} does not fit the "
                         f"output's mask of shape {float_mask.shape}") from None


class Metric:
    """A running ``total / count`` in float32, like Keras's ``Mean``-based metrics."""

    default_name = "metric"

    def __init__(self, name: str | None = None, dtype=None):
        if dtype not in (None, "float32", np.float32):
            raise ValueError(
                f"{type(self).__name__}: only dtype float32 is supported (Keras's floatx), "
                f"received dtype={dtype!r}"
            )
        self.name = name or self.default_name
        self.identifier: str | None = None  # the compile() string it came from (get sets it)
        self.reset()

    def reset(self) -> None:
        """Forget everything seen so far (Keras's ``reset_state``)."""
        self.total = _F32(0)
        self.count = _F32(0)

    reset_state = reset

    def _accumulate(self, values: np.ndarray, sample_weight=None) -> None:
        """Keras's ``Mean.update_state``: non-batch axes averaged, samples counted."""
        with np.errstate(all="ignore"):  # NaN/inf propagate silently, as in Keras
            self._accumulate_values(values, sample_weight)

    def _accumulate_values(self, values: np.ndarray, sample_weight=None) -> None:
        values = np.asarray(values, dtype=_F32)
        if sample_weight is not None:
            weight = np.asarray(sample_weight, dtype=_F32)
            values, weight = losses_base.squeeze_or_expand_to_same_rank(values, weight)
            if values.ndim > weight.ndim:
                values = values.mean(axis=tuple(range(weight.ndim, values.ndim)))
            try:
                weight = np.broadcast_to(weight, values.shape)
            except ValueError:
                raise ValueError(
                    f"{type(self).__name__}: sample_weight of shape {weight.shape} does not "
                    f"fit the values of shape {values.shape}: pass one weight per sample "
                    f"({values.shape[0] if values.ndim else 1},) or one per value") from None
            values = values * weight
            if weight.ndim > 1:
                weight = weight.mean(axis=tuple(range(1, weight.ndim)))
            count = np.sum(weight, dtype=_F32)
        else:
            count = _F32(values.shape[0] if values.ndim >= 1 else 1)
        if values.ndim > 1:
            values = values.mean(axis=tuple(range(1, values.ndim)))
        self.total = _F32(self.total + np.sum(values, dtype=_F32))
        self.count = _F32(self.count + count)

    def result(self) -> float:
        """``total / count`` (0.0 before any update, Keras's ``divide_no_nan``)."""
        return float(self.total / self.count) if self.count else 0.0

    def update(self, y_true, y_pred, sample_weight=None, mask=None) -> None:
        raise NotImplementedError

    def update_state(self, *args, **kwargs) -> None:
        """Keras's spelling of :meth:`update`."""
        self.update(*args, **kwargs)

    def get_config(self) -> dict:
        return {"name": self.name, "dtype": "float32"}

    def _check_mask(self, mask, values: np.ndarray, y_pred) -> np.ndarray | None:
        """The output's mask as booleans of the values' shape or of ``y_pred``'s without
        its last axis (which the weighting reconciles, as Keras's does)."""
        if mask is None:
            return None
        shape = np.shape(y_pred)[:-1]
        if np.shape(mask) != values.shape and np.shape(mask) == shape:
            return np.asarray(mask).astype(bool)
        return losses_base.check_mask(type(self).__name__, mask, values.shape)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"


class Mean(Metric):
    """Weighted mean of the values passed to ``update(values, sample_weight=None)``.

    >>> m = Mean(name="loss")
    >>> m.update(2.0, sample_weight=32); m.update(5.0, sample_weight=8)
    >>> round(m.result(), 6)    # (2*32 + 5*8) / 40, accumulated in float32
    2.6
    """

    default_name = "mean"

    def update(self, values, sample_weight=None) -> None:
        self._accumulate(values, sample_weight)
