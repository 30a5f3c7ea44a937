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
* the accuracies (``keras/src/metrics/accuracy_metrics.py``; their per-sample functions
  are in :mod:`npylstm.accuracy_metrics`) are mean metrics of 1/0 matches. The string
  ``"accuracy"`` (or ``"acc"``, any case) is resolved as Keras's
  ``compile_utils.get_metric`` does, from the shapes of the first batch: binary accuracy
  when ``y_pred`` ends in 1, sparse categorical accuracy when ``y_true`` has a lower rank
  than ``y_pred`` (or ends in 1 against several classes), else categorical accuracy.

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
from .accuracy_metrics import (
    Accuracy,
    BinaryAccuracy,
    CategoricalAccuracy,
    SparseCategoricalAccuracy,
    SparseTopKCategoricalAccuracy,
    TopKCategoricalAccuracy,
    _ResolvedAccuracy,
)
from .metrics_base import _F32, Mean, Metric, _mask_weight

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
    "SparseCategoricalCrossentropy",
    "KLDivergence",
    "Poisson",
    "LogCoshError",
    "CosineSimilarity",
    "Hinge",
    "SquaredHinge",
    "CategoricalHinge",
    "Accuracy",
    "BinaryAccuracy",
    "CategoricalAccuracy",
    "SparseCategoricalAccuracy",
    "TopKCategoricalAccuracy",
    "SparseTopKCategoricalAccuracy",
    "get",
    "names",
    "serialize",
]

class MeanMetricWrapper(Metric):
    """The running mean of a per-sample function ``fn(y_true, y_pred)`` (or of a Loss).

    ``fn`` may be an :class:`npylstm.losses.Loss`: as in Keras, passing a Loss instance as a
    metric averages its *reduced* value, one number per batch.
    """

    def __init__(self, fn, name: str | None = None):
        self.fn = fn
        default = fn.name if isinstance(fn, losses.Loss) else getattr(fn, "__name__", None)
        super().__init__(name or default)

    def get_config(self) -> dict:
        return {"name": self.name, "dtype": "float32"}

    def update(self, y_true, y_pred, sample_weight=None, mask=None) -> None:
        if isinstance(self.fn, losses.Loss):  # the weighted, reduced loss: one value a batch
            self._accumulate(self.fn(y_true, y_pred, sample_weight, mask=mask)[0])
        else:
            self._accumulate(self.fn(y_true, y_pred), _mask_weight(mask, sample_weight))


class _LossMetric(Metric):
    """A mean metric built on a loss's per-sample function (Keras's regression metrics)."""

    loss_class: type[losses.Loss] = losses.Loss
    sign = 1  # -1 for CosineSimilarity: the metric is the similarity, the loss its negative

    def __init__(self, name: str | None = None, dtype=None, **loss_kwargs):
        self._loss = self.loss_class(**loss_kwargs)
        super().__init__(name, dtype)

    def update(self, y_true, y_pred, sample_weight=None, mask=None) -> None:
        t, p, _ = self._loss._prepare(y_true, y_pred)
        values = self._loss._compute(t, p)[0]
        if mask is not None:
            mask = losses.check_mask(type(self).__name__, mask, values.shape)
            own = self._loss._own_mask(t, p)  # Keras uses it only with an output mask
            mask = mask if own is None else mask & own
        self._accumulate(values * values.dtype.type(self.sign),
                         _mask_weight(mask, sample_weight))

    def get_config(self) -> dict:
        config = {
            k: v for k, v in self._loss.get_config().items() if k not in ("name", "reduction")
        }
        return {"name": self.name, "dtype": "float32", **config}


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

    def __init__(self, name=None, dtype=None, from_logits: bool = False,
                 label_smoothing: float = 0.0):
        super().__init__(name, dtype, from_logits=from_logits, label_smoothing=label_smoothing)

    def get_config(self) -> dict:
        config = super().get_config()
        config.pop("axis")  # Keras's BinaryCrossentropy metric has none
        return config


class CategoricalCrossentropy(_LossMetric):
    default_name = "categorical_crossentropy"
    loss_class = losses.CategoricalCrossentropy

    def __init__(self, name=None, dtype=None, from_logits: bool = False,
                 label_smoothing: float = 0.0, axis: int = -1):
        super().__init__(name, dtype, from_logits=from_logits, label_smoothing=label_smoothing,
                         axis=axis)


class SparseCategoricalCrossentropy(_LossMetric):
    """The mean sparse categorical crossentropy; with ``ignore_class`` Keras counts the
    ignored entries as zeros unless the output has a mask (then they are masked out)."""

    default_name = "sparse_categorical_crossentropy"
    loss_class = losses.SparseCategoricalCrossentropy

    def __init__(self, name=None, dtype=None, from_logits: bool = False,
                 ignore_class: int | None = None, axis: int = -1):
        super().__init__(name, dtype, from_logits=from_logits, ignore_class=ignore_class,
                         axis=axis)

    def get_config(self) -> dict:
        return {**super().get_config(), "axis": -1}


class KLDivergence(_LossMetric):
    default_name = "kl_divergence"
    loss_class = losses.KLDivergence


class Poisson(_LossMetric):
    default_name = "poisson"
    loss_class = losses.Poisson


class LogCoshError(_LossMetric):
    default_name = "logcosh"
    loss_class = losses.LogCosh


class CosineSimilarity(_LossMetric):
    """The mean cosine similarity (Keras's metric: +1 for aligned vectors, the loss's
    negative)."""

    default_name = "cosine_similarity"
    loss_class = losses.CosineSimilarity
    sign = -1

    def __init__(self, name=None, dtype=None, axis: int = -1):
        super().__init__(name, dtype, axis=axis)


class Hinge(_LossMetric):
    default_name = "hinge"
    loss_class = losses.Hinge


class SquaredHinge(_LossMetric):
    default_name = "squared_hinge"
    loss_class = losses.SquaredHinge


class CategoricalHinge(_LossMetric):
    default_name = "categorical_hinge"
    loss_class = losses.CategoricalHinge


class RootMeanSquaredError(Metric):
    """``sqrt(mean over all samples seen of mean((y_pred - y_true)**2 over non-batch axes))``."""

    default_name = "root_mean_squared_error"

    def update(self, y_true, y_pred, sample_weight=None, mask=None) -> None:
        # the mask is ignored: Keras's Mean looks for a mask on the squared errors, which
        # (JAX backend) carry none
        y_pred = np.asarray(y_pred, dtype=_F32)  # Keras casts both to the metric dtype
        y_true = np.asarray(y_true, dtype=_F32)
        t, p = losses.squeeze_or_expand_to_same_rank(y_true, y_pred)
        if t.shape != p.shape or p.ndim == 0:
            raise ValueError(
                f"RootMeanSquaredError: y_true shape {y_true.shape} does not match y_pred "
                f"shape {y_pred.shape}"
            )
        with np.errstate(all="ignore"):
            self._accumulate(np.square(p - t), sample_weight)

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
}
_CLASSES = (
    MeanSquaredError,
    MeanAbsoluteError,
    MeanAbsolutePercentageError,
    MeanSquaredLogarithmicError,
    RootMeanSquaredError,
    BinaryCrossentropy,
    CategoricalCrossentropy,
    SparseCategoricalCrossentropy,
    KLDivergence,
    Poisson,
    LogCoshError,
    CosineSimilarity,
    Hinge,
    SquaredHinge,
    CategoricalHinge,
    Accuracy,
    BinaryAccuracy,
    CategoricalAccuracy,
    SparseCategoricalAccuracy,
    TopKCategoricalAccuracy,
    SparseTopKCategoricalAccuracy,
)
_BY_CLASS_NAME = {cls.__name__: cls for cls in _CLASSES}
_BY_NAME.update(_BY_CLASS_NAME)
# Keras also accepts each class's snake-case name (its to_snake_case).
_BY_NAME.update({
    "binary_crossentropy": BinaryCrossentropy,
    "categorical_crossentropy": CategoricalCrossentropy,
    "sparse_categorical_crossentropy": SparseCategoricalCrossentropy,
    "kl_divergence": KLDivergence,
    "poisson": Poisson,
    "log_cosh_error": LogCoshError,
    "cosine_similarity": CosineSimilarity,
    "hinge": Hinge,
    "squared_hinge": SquaredHinge,
    "categorical_hinge": CategoricalHinge,
    "binary_accuracy": BinaryAccuracy,
    "categorical_accuracy": CategoricalAccuracy,
    "sparse_categorical_accuracy": SparseCategoricalAccuracy,
    "top_k_categorical_accuracy": TopKCategoricalAccuracy,
    "sparse_top_k_categorical_accuracy": SparseTopKCategoricalAccuracy,
})
# Resolved from the data's shapes (Keras compares str(identifier).lower()).
_RESOLVED = ("accuracy", "acc")

# Names people reach for that Keras 3 rejects, with what to write instead.
_NOT_IN_KERAS = {
    "rmse": "'root_mean_squared_error' or RootMeanSquaredError()",
    "RMSE": "'root_mean_squared_error' or RootMeanSquaredError()",
    "huber": "a Huber loss instance, metrics=[npylstm.losses.Huber()]",
}


def names() -> list[str]:
    """Every string :func:`get` accepts (``"accuracy"`` and ``"acc"`` in any case too)."""
    return sorted([*_BY_NAME, *_RESOLVED])


def _from_config(class_name: str, config: dict) -> Metric:
    """A metric from Keras's ``{"class_name", "config"}`` (as a file's compile_config)."""
    try:
        return _BY_CLASS_NAME[class_name](**dict(config or {}))
    except TypeError as exc:
        raise ValueError(f"{class_name}: bad config {config!r} ({exc})") from None


def get(identifier) -> Metric:
    """A fresh metric from a Keras metric string, a Metric, a Loss, or a Metric class.

    The metric's ``name`` is the History key Keras would use: the string itself for a
    string, else the object's name.

    >>> get("mse").name, get("root_mean_squared_error").name, get(RootMeanSquaredError).name
    ('mse', 'root_mean_squared_error', 'root_mean_squared_error')
    >>> m = get("acc")
    >>> m.update(np.array([0, 2]), np.array([[0.7, 0.2, 0.1], [0.5, 0.1, 0.4]]))  # sparse ids
    >>> m, m.result()
    (accuracy(name='acc', SparseCategoricalAccuracy), 0.5)
    """
    if isinstance(identifier, Metric):
        return identifier
    if isinstance(identifier, type) and issubclass(identifier, Metric):
        return identifier()
    if isinstance(identifier, type) and issubclass(identifier, losses.Loss):
        identifier = identifier()
    if isinstance(identifier, losses.Loss):
        return MeanMetricWrapper(identifier)
    if isinstance(identifier, dict) and "class_name" in identifier:
        if identifier["class_name"] not in _BY_CLASS_NAME:
            raise ValueError(
                f"Unknown metric class {identifier['class_name']!r}. Expected one of: "
                f"{', '.join(sorted(_BY_CLASS_NAME))}"
            )
        return _from_config(identifier["class_name"], identifier.get("config"))
    if isinstance(identifier, str):
        if identifier.lower() in _RESOLVED or identifier in _BY_NAME:
            cls = _ResolvedAccuracy if identifier.lower() in _RESOLVED else _BY_NAME[identifier]
            metric = cls(name=identifier)
            metric.identifier = identifier
            return metric
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


def serialize(metric: Metric):
    """What Keras writes for the metric in a file's ``compile_config``: the string it was
    compiled with, else ``{"module", "class_name", "config", "registered_name"}``.

    >>> serialize(get("acc")), serialize(TopKCategoricalAccuracy(k=2))["config"]["k"]
    ('acc', 2)
    """
    if metric.identifier is not None:
        return metric.identifier
    if type(metric) not in _CLASSES:
        raise ValueError(f"cannot serialize the metric {metric!r} (not a Keras metric class)")
    return {
        "module": "keras.metrics",
        "class_name": type(metric).__name__,
        "config": metric.get_config(),
        "registered_name": None,
    }
