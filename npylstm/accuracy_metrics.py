"""Keras 3's accuracy functions (``keras/src/metrics/accuracy_metrics.py``): per-sample
matches, 1.0 or 0.0 in float32, that :mod:`npylstm.metrics` averages.

Each takes ``y_true`` and ``y_pred`` as Keras's do and returns the matches of Keras's shape
(``y_pred``'s without the class axis for the categorical ones). ``argmax`` picks the first
of tied maxima (as ``jnp.argmax``); a NaN counts as the largest value there, and a NaN
score at the true class ranks it last in ``in_top_k`` (Keras's JAX ``in_top_k``).

>>> import numpy as np
>>> sparse_categorical_accuracy(np.array([2, 1]), np.array([[0.1, 0.6, 0.3], [0.05, 0.95, 0]]))
array([0., 1.], dtype=float32)
"""

from __future__ import annotations

import numpy as np

from .losses_base import squeeze_or_expand_to_same_rank
from .metrics_base import Metric, _mask_weight

__all__ = [
    "accuracy",
    "binary_accuracy",
    "categorical_accuracy",
    "sparse_categorical_accuracy",
    "top_k_categorical_accuracy",
    "sparse_top_k_categorical_accuracy",
    "is_binary_or_sparse_categorical",
    "Accuracy",
    "BinaryAccuracy",
    "CategoricalAccuracy",
    "SparseCategoricalAccuracy",
    "TopKCategoricalAccuracy",
    "SparseTopKCategoricalAccuracy",
]

_F32 = np.float32


def _pred(y_pred) -> np.ndarray:
    y_pred = np.asarray(y_pred)
    if not np.issubdtype(y_pred.dtype, np.floating):
        y_pred = y_pred.astype(_F32)  # Keras's convert_to_tensor: floatx for ints and lists
    return y_pred


def is_binary_or_sparse_categorical(y_true, y_pred) -> tuple[bool, bool]:
    """Keras's ``compile_utils.is_binary_or_sparse_categorical``: how the string
    ``"accuracy"`` is resolved from the shapes of the first batch.

    >>> is_binary_or_sparse_categorical(np.zeros((4,)), np.zeros((4, 3)))
    (False, True)
    """
    t_shape, p_shape = np.shape(y_true), np.shape(y_pred)
    t_last = t_shape[-1] if t_shape else None
    p_last = p_shape[-1] if p_shape else None
    is_binary = p_last == 1
    is_sparse = len(t_shape) < len(p_shape) or (t_last == 1 and p_last is not None and p_last > 1)
    return is_binary, bool(is_sparse)


def accuracy(y_true, y_pred) -> np.ndarray:
    """``y_true == y_pred`` (exact values, after Keras's rank reconciliation)."""
    y_pred = _pred(y_pred)
    y_true = np.asarray(y_true).astype(y_pred.dtype)
    y_true, y_pred = squeeze_or_expand_to_same_rank(y_true, y_pred)
    return np.equal(y_true, y_pred).astype(_F32)


def binary_accuracy(y_true, y_pred, threshold: float = 0.5) -> np.ndarray:
    """``y_true == (y_pred > threshold)``."""
    y_pred, y_true = _pred(y_pred), np.asarray(y_true)
    y_true, y_pred = squeeze_or_expand_to_same_rank(y_true, y_pred)
    predicted = np.greater(y_pred, threshold).astype(y_true.dtype)
    return np.equal(y_true, predicted).astype(_F32)


def categorical_accuracy(y_true, y_pred) -> np.ndarray:
    """``argmax(y_true) == argmax(y_pred)`` over the last axis (one-hot targets)."""
    y_pred = _pred(y_pred)
    y_true = np.argmax(np.asarray(y_true), axis=-1).astype(y_pred.dtype)
    original_shape = y_true.shape
    reshape = y_true.ndim == y_pred.ndim  # Keras: squeeze (n, 1), give the matches that shape
    if reshape:
        y_true = np.squeeze(y_true, -1)
    matches = np.equal(y_true, np.argmax(y_pred, axis=-1).astype(y_true.dtype)).astype(_F32)
    return matches.reshape(original_shape) if reshape else matches


def sparse_categorical_accuracy(y_true, y_pred) -> np.ndarray:
    """``y_true == argmax(y_pred)`` for integer class ids ``y_true`` (``(n,)`` or
    ``(n, 1)`` against ``(n, classes)``; ``(n, T)`` against ``(n, T, classes)``)."""
    y_pred = _pred(y_pred)
    y_true = np.asarray(y_true).astype(y_pred.dtype)
    original_shape = y_true.shape
    reshape = y_true.ndim == y_pred.ndim and y_true.shape[-1] == 1
    if reshape:
        y_true = np.squeeze(y_true, -1)
    matches = np.equal(y_true, np.argmax(y_pred, axis=-1).astype(y_true.dtype)).astype(_F32)
    if reshape:
        matches = matches.reshape(original_shape)
    if matches.ndim > 1 and matches.shape[-1] == 1:
        matches = np.squeeze(matches, -1)
    return matches


def _in_top_k(targets: np.ndarray, predictions: np.ndarray, k: int) -> np.ndarray:
    """Keras's JAX ``in_top_k``: the rank of the target's score (1 + how many are larger),
    ``<= k``; a NaN target score ranks last. An id outside ``[0, classes)`` never counts."""
    classes = predictions.shape[-1]
    inside = (targets >= 0) & (targets < classes)
    at_label = np.take_along_axis(predictions, np.clip(targets, 0, classes - 1)[:, None], -1)
    at_label = np.where(np.isnan(at_label) | ~inside[:, None], -np.inf, at_label)
    rank = 1 + np.sum(predictions > at_label, axis=-1)
    return (rank <= k) & inside


def top_k_categorical_accuracy(y_true, y_pred, k: int = 5) -> np.ndarray:
    """Whether ``argmax(y_true)`` is among the ``k`` largest scores of ``y_pred``."""
    y_pred = _pred(y_pred)
    y_true = np.argmax(np.asarray(y_true).astype(y_pred.dtype), axis=-1)
    original_shape = y_true.shape
    matches = _in_top_k(y_true.reshape(-1), y_pred.reshape(-1, y_pred.shape[-1]), k)
    return matches.astype(_F32).reshape(original_shape)


def sparse_top_k_categorical_accuracy(
    y_true, y_pred, k: int = 5, from_sorted_ids: bool = False
) -> np.ndarray:
    """Whether the class id ``y_true`` is among the ``k`` largest scores of ``y_pred`` (or,
    with ``from_sorted_ids``, among the first ``k`` ids of ``y_pred``)."""
    y_pred = _pred(y_pred)
    y_true = np.asarray(y_true)
    y_true = y_true.astype(y_pred.dtype if from_sorted_ids else np.int32)  # truncates
    original_shape = y_true.shape
    flat_true, flat_pred = y_true.reshape(-1), y_pred.reshape(-1, y_pred.shape[-1])
    if from_sorted_ids:
        matches = np.any(flat_true[:, None] == flat_pred[:, :k], axis=1)
    else:
        matches = _in_top_k(flat_true, flat_pred, k)
    return matches.astype(_F32).reshape(original_shape)


class _MatchMetric(Metric):
    """The running mean of a per-sample accuracy function (Keras's ``MeanMetricWrapper``
    over ``accuracy_metrics``): the output's mask becomes the sample weight."""

    fn = staticmethod(accuracy)

    def _fn_kwargs(self) -> dict:
        return {}

    def update(self, y_true, y_pred, sample_weight=None, mask=None) -> None:
        values = self.fn(y_true, y_pred, **self._fn_kwargs())
        self._accumulate(values, _mask_weight(self._check_mask(mask, values, y_pred),
                                              sample_weight))

    def get_config(self) -> dict:
        return {"name": self.name, "dtype": "float32", **self._fn_kwargs()}


class Accuracy(_MatchMetric):
    """How often ``y_pred`` equals ``y_true`` exactly (the class; the *string*
    ``"accuracy"`` picks binary / categorical / sparse categorical accuracy instead).

    >>> m = Accuracy()
    >>> m.update([[1], [2], [3], [4]], [[0], [2], [3], [4]])
    >>> m.result()
    0.75
    """

    default_name = "accuracy"


class BinaryAccuracy(_MatchMetric):
    """How often ``y_true`` equals ``y_pred > threshold``.

    >>> m = BinaryAccuracy()
    >>> m.update([[1], [1], [0], [0]], [[0.98], [1], [0], [0.6]])
    >>> m.result()
    0.75
    """

    default_name = "binary_accuracy"
    fn = staticmethod(binary_accuracy)

    def __init__(self, name=None, dtype=None, threshold: float = 0.5):
        super().__init__(name, dtype)
        self.threshold = threshold

    def _fn_kwargs(self) -> dict:
        return {"threshold": self.threshold}


class CategoricalAccuracy(_MatchMetric):
    """How often ``argmax(y_pred)`` is ``argmax(y_true)`` (one-hot targets).

    >>> m = CategoricalAccuracy()
    >>> m.update([[0, 0, 1], [0, 1, 0]], [[0.1, 0.9, 0.8], [0.05, 0.95, 0]])
    >>> m.result()
    0.5
    """

    default_name = "categorical_accuracy"
    fn = staticmethod(categorical_accuracy)


class SparseCategoricalAccuracy(_MatchMetric):
    """How often ``argmax(y_pred)`` is the class id ``y_true``; for a tagger's
    ``(batch, T, classes)`` output with a time mask, the mean over the real steps.

    >>> m = SparseCategoricalAccuracy()
    >>> m.update([[2], [1]], [[0.1, 0.6, 0.3], [0.05, 0.95, 0]])
    >>> m.result()
    0.5
    """

    default_name = "sparse_categorical_accuracy"
    fn = staticmethod(sparse_categorical_accuracy)


class TopKCategoricalAccuracy(_MatchMetric):
    """How often ``argmax(y_true)`` is among the ``k`` largest scores.

    >>> m = TopKCategoricalAccuracy(k=1)
    >>> m.update([[0, 0, 1], [0, 1, 0]], [[0.1, 0.9, 0.8], [0.05, 0.95, 0]])
    >>> m.result()
    0.5
    """

    default_name = "top_k_categorical_accuracy"
    fn = staticmethod(top_k_categorical_accuracy)

    def __init__(self, k: int = 5, name=None, dtype=None):
        super().__init__(name, dtype)
        self.k = _check_k(type(self).__name__, k)

    def _fn_kwargs(self) -> dict:
        return {"k": self.k}


class SparseTopKCategoricalAccuracy(_MatchMetric):
    """How often the class id ``y_true`` is among the ``k`` largest scores (or, with
    ``from_sorted_ids``, among the first ``k`` ids of ``y_pred``).

    >>> m = SparseTopKCategoricalAccuracy(k=1)
    >>> m.update([2, 1], [[0.1, 0.9, 0.8], [0.05, 0.95, 0]])
    >>> m.result()
    0.5
    """

    default_name = "sparse_top_k_categorical_accuracy"
    fn = staticmethod(sparse_top_k_categorical_accuracy)

    def __init__(self, k: int = 5, name=None, dtype=None, from_sorted_ids: bool = False):
        super().__init__(name, dtype)
        self.k = _check_k(type(self).__name__, k)
        self.from_sorted_ids = bool(from_sorted_ids)

    def _fn_kwargs(self) -> dict:
        return {"k": self.k, "from_sorted_ids": self.from_sorted_ids}

    def get_config(self) -> dict:
        config = {"name": self.name, "dtype": "float32", "k": self.k}
        return {**config, "from_sorted_ids": True} if self.from_sorted_ids else config


def _check_k(owner: str, k) -> int:
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 1:
        raise ValueError(f"{owner}: expected k an integer >= 1, received {k!r}")
    return int(k)


class _ResolvedAccuracy(Metric):
    """The string ``"accuracy"`` / ``"acc"``: binary, sparse categorical or categorical
    accuracy, chosen from the shapes of the first batch it sees (Keras's ``get_metric``
    and ``is_binary_or_sparse_categorical``), named as the string was written."""

    def __init__(self, name: str):
        self.metric: Metric | None = None
        super().__init__(name)

    def reset(self) -> None:
        super().reset()
        if getattr(self, "metric", None) is not None:
            self.metric.reset()

    def update(self, y_true, y_pred, sample_weight=None, mask=None) -> None:
        if self.metric is None:
            is_binary, is_sparse = is_binary_or_sparse_categorical(y_true, y_pred)
            cls = (BinaryAccuracy if is_binary else
                   SparseCategoricalAccuracy if is_sparse else CategoricalAccuracy)
            self.metric = cls(name=self.name)
        self.metric.update(y_true, y_pred, sample_weight, mask=mask)

    def result(self) -> float:
        return 0.0 if self.metric is None else self.metric.result()

    def __repr__(self) -> str:
        chosen = "unresolved" if self.metric is None else type(self.metric).__name__
        return f"accuracy(name={self.name!r}, {chosen})"
