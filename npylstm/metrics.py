"""Keras 3 running metrics: ``update(y_true, y_pred)`` per batch, ``result()`` per epoch.

Like Keras, a metric keeps two float32 accumulators, ``total`` and ``count``, and reports
``total / count``:

* a *mean metric* (mse, mae, mape, msle, crossentropies) calls Keras's per-sample function
  (the loss reduced over the last axis, :meth:`npylstm.losses.Loss.values`), averages any
  remaining non-batch axes, adds the per-sample values to ``total`` and the number of
  samples to ``count``. So an epoch's value is the sample-weighted mean over its batches,
  unequal last batch included. (Keras quirk kept: when ``y_true`` and ``y_pred`` are both
  1-D the per-sample function returns one number for the whole batch, which then counts
  as a single sample.)
* :class:`RootMeanSquaredError` accumulates the per-sample mean squared error and reports
  ``sqrt(total / count)`` — not the mean of per-batch RMSEs.
* :class:`Mean` averages values you pass, optionally weighted (the ``loss`` entry of a
  Keras History is ``Mean`` updated with each batch's loss weighted by its batch size).

With the model output's mask (``update(y_true, y_pred, mask=...)``, booleans of the
per-sample values' shape) a mean metric counts the real entries only, as Keras's
``MeanMetricWrapper`` does (the mask becomes the sample weight); Keras's
:class:`RootMeanSquaredError` ignores the mask (its ``Mean`` drops a mask that comes
without sample weights), and so does this one.

``name`` is the key Keras puts in ``History.history``: the string given to
``compile(metrics=[...])`` when a string was given (``"mae"`` stays ``"mae"``), else the
metric's own name (``RootMeanSquaredError().name == "root_mean_squared_error"``).

>>> import numpy as np
>>> m = get("mae")
>>> m.update(np.array([[1.0], [2.0]]), np.array([[1.5], [2.0]]))   # errors 0.5, 0
>>> m.update(np.array([[0.0]]), np.array([[3.0]]))                   # error 3
>>> m.name, round(m.result(), 6)                                     # (0.5 + 0 + 3) / 3
('mae', 1.166667)
"""

from __future__ import annotations

import difflib

import numpy as np

from . import losses

__all__ = [
    "Metric",
    "Mean",
    "MeanMetricWrapper",
    "MeanSquaredError",
    "MeanAbsoluteError",
    "MeanAbsolutePercentageError",
    "MeanSquaredLogarithmicError",
    "RootMeanSquaredError",
    "BinaryCrossentropy",
    "CategoricalCrossentropy",
    "get",
    "names",
]

_F32 = np.float32


def _mask_weight(mask):
    """The mask as float32 sample weights (Keras's ``apply_mask`` with "sum"), or None."""
    return None if mask is None else np.asarray(mask).astype(_F32)


class Metric:
    """A running ``total / count`` in float32, like Keras's ``Mean``-based metrics."""

    default_name = "metric"

    def __init__(self, name: str | None = None):
        self.name = name or self.default_name
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
            values, weight = losses.squeeze_or_expand_to_same_rank(values, weight)
            if values.ndim > weight.ndim:
                values = values.mean(axis=tuple(range(weight.ndim, values.ndim)))
            weight = np.broadcast_to(weight, values.shape)
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

    def update(self, y_true, y_pred, mask=None) -> None:
        raise NotImplementedError

    def update_state(self, *args, **kwargs) -> None:
        """Keras's spelling of :meth:`update`."""
        self.update(*args, **kwargs)

    def get_config(self) -> dict:
        return {"name": self.name}

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


class MeanMetricWrapper(Metric):
    """The running mean of a per-sample function ``fn(y_true, y_pred)`` (or of a Loss).

    ``fn`` may be an :class:`npylstm.losses.Loss`: as in Keras, passing a Loss instance as a
    metric averages its *reduced* value, one number per batch.
    """

    def __init__(self, fn, name: str | None = None):
        self.fn = fn
        default = fn.name if isinstance(fn, losses.Loss) else getattr(fn, "__name__", None)
        super().__init__(name or default)

    def update(self, y_true, y_pred, mask=None) -> None:
        if isinstance(self.fn, losses.Loss):
            self._accumulate(self.fn(y_true, y_pred, mask=mask)[0])
        else:
            self._accumulate(self.fn(y_true, y_pred), _mask_weight(mask))


class _LossMetric(Metric):
    """A mean metric built on a loss's per-sample function (Keras's regression metrics)."""

    loss_class: type[losses.Loss] = losses.Loss

    def __init__(self, name: str | None = None, **loss_kwargs):
        self._loss = self.loss_class(**loss_kwargs)
        super().__init__(name)

    def update(self, y_true, y_pred, mask=None) -> None:
        values = self._loss.values(y_true, y_pred)
        if mask is not None:
            mask = losses.check_mask(type(self).__name__, mask, values.shape)
        self._accumulate(values, _mask_weight(mask))

    def get_config(self) -> dict:
        config = {
            k: v for k, v in self._loss.get_config().items() if k not in ("name", "reduction")
        }
        return {"name": self.name, **config}


class MeanSquaredError(_LossMetric):
    default_name = "mean_squared_error"
    loss_class = losses.MeanSquaredError


class MeanAbsoluteError(_LossMetric):
    default_name = "mean_absolute_error"
    loss_class = losses.MeanAbsoluteError


class MeanAbsolutePercentageError(_LossMetric):
    default_name = "mean_absolute_percentage_error"
    loss_class = losses.MeanAbsolutePercentageError


class MeanSquaredLogarithmicError(_LossMetric):
    default_name = "mean_squared_logarithmic_error"
    loss_class = losses.MeanSquaredLogarithmicError


class BinaryCrossentropy(_LossMetric):
    default_name = "binary_crossentropy"
    loss_class = losses.BinaryCrossentropy

    def __init__(self, name=None, from_logits: bool = False, label_smoothing: float = 0.0):
        super().__init__(name, from_logits=from_logits, label_smoothing=label_smoothing)


class CategoricalCrossentropy(_LossMetric):
    default_name = "categorical_crossentropy"
    loss_class = losses.CategoricalCrossentropy

    def __init__(self, name=None, from_logits: bool = False, label_smoothing: float = 0.0):
        super().__init__(name, from_logits=from_logits, label_smoothing=label_smoothing)


class RootMeanSquaredError(Metric):
    """``sqrt(mean over all samples seen of mean((y_pred - y_true)**2 over non-batch axes))``."""

    default_name = "root_mean_squared_error"

    def update(self, y_true, y_pred, mask=None) -> None:
        # the mask is ignored, as Keras's Mean ignores a mask without sample weights
        y_pred = np.asarray(y_pred, dtype=_F32)  # Keras casts both to the metric dtype
        y_true = np.asarray(y_true, dtype=_F32)
        t, p = losses.squeeze_or_expand_to_same_rank(y_true, y_pred)
        if t.shape != p.shape or p.ndim == 0:
            raise ValueError(
                f"RootMeanSquaredError: y_true shape {y_true.shape} does not match y_pred "
                f"shape {y_pred.shape}"
            )
        with np.errstate(all="ignore"):
            self._accumulate(np.square(p - t))

    def result(self) -> float:
        return float(np.sqrt(self.total / self.count)) if self.count else 0.0


# The strings Keras 3's compile() accepts for these metrics (case-sensitive, as in Keras).
_BY_NAME: dict[str, type[Metric]] = {
    "mse": MeanSquaredError,
    "MSE": MeanSquaredError,
    "mean_squared_error": MeanSquaredError,
    "mae": MeanAbsoluteError,
    "MAE": MeanAbsoluteError,
    "mean_absolute_error": MeanAbsoluteError,
    "mape": MeanAbsolutePercentageError,
    "MAPE": MeanAbsolutePercentageError,
    "mean_absolute_percentage_error": MeanAbsolutePercentageError,
    "msle": MeanSquaredLogarithmicError,
    "MSLE": MeanSquaredLogarithmicError,
    "mean_squared_logarithmic_error": MeanSquaredLogarithmicError,
    "root_mean_squared_error": RootMeanSquaredError,
    "bce": BinaryCrossentropy,
    "BCE": BinaryCrossentropy,
    "binary_crossentropy": BinaryCrossentropy,
    "categorical_crossentropy": CategoricalCrossentropy,
}
_CLASSES = (
    MeanSquaredError,
    MeanAbsoluteError,
    MeanAbsolutePercentageError,
    MeanSquaredLogarithmicError,
    RootMeanSquaredError,
    BinaryCrossentropy,
    CategoricalCrossentropy,
)
_BY_NAME.update({cls.__name__: cls for cls in _CLASSES})

# Names people reach for that Keras 3 rejects, with what to write instead.
_NOT_IN_KERAS = {
    "rmse": "'root_mean_squared_error' or RootMeanSquaredError()",
    "RMSE": "'root_mean_squared_error' or RootMeanSquaredError()",
    "huber": "a Huber loss instance, metrics=[npylstm.losses.Huber()]",
}


def names() -> list[str]:
    """Every string :func:`get` accepts."""
    return sorted(_BY_NAME)


def get(identifier) -> Metric:
    """A fresh metric from a Keras metric string, a Metric, a Loss, or a Metric class.

    The metric's ``name`` is the History key Keras would use: the string itself for a
    string, else the object's name.

    >>> get("mse").name, get("root_mean_squared_error").name, get(RootMeanSquaredError).name
    ('mse', 'root_mean_squared_error', 'root_mean_squared_error')
    """
    if isinstance(identifier, Metric):
        return identifier
    if isinstance(identifier, type) and issubclass(identifier, Metric):
        return identifier()
    if isinstance(identifier, type) and issubclass(identifier, losses.Loss):
        identifier = identifier()
    if isinstance(identifier, losses.Loss):
        return MeanMetricWrapper(identifier)
    if isinstance(identifier, str):
        if identifier in _BY_NAME:
            return _BY_NAME[identifier](name=identifier)
        if identifier in _NOT_IN_KERAS:
            raise ValueError(
                f"Unknown metric {identifier!r}: Keras 3 does not accept this name; use "
                f"{_NOT_IN_KERAS[identifier]}. Expected one of: {', '.join(names())}"
            )
        close = difflib.get_close_matches(identifier, names(), n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ValueError(
            f"Unknown metric {identifier!r}.{hint} Expected one of: {', '.join(names())}"
        )
    raise TypeError(
        f"metrics: expected a metric name (str), a Metric or a Loss, received {identifier!r} "
        f"of type {type(identifier).__name__}"
    )
