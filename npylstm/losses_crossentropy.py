"""Keras 3's crossentropy losses (``keras/src/losses/losses.py`` and the JAX backend's
``nn.binary_crossentropy`` / ``categorical_crossentropy`` /
``sparse_categorical_crossentropy``): ``BinaryCrossentropy``, ``CategoricalCrossentropy``
and ``SparseCategoricalCrossentropy`` (integer class ids), each with its gradient with
respect to ``y_pred``. Re-exported by :mod:`npylstm.losses`, where ``get`` finds them.
"""

from __future__ import annotations

import numpy as np

from .losses_base import (
    EPSILON,
    Loss,
    _as_float_array,
    _check_axis,
    _check_label_smoothing,
    _clip_grad,
    _log_sigmoid,
    _mean_last,
    _sigmoid,
)

__all__ = ["BinaryCrossentropy", "CategoricalCrossentropy", "SparseCategoricalCrossentropy"]


class BinaryCrossentropy(Loss):
    """``mean(-(t * log(p) + (1 - t) * log(1 - p)), axis=-1)`` with ``p`` clipped to
    ``[1e-7, 1 - 1e-7]``; with ``from_logits``, ``p = sigmoid(y_pred)`` computed stably.

    ``label_smoothing`` replaces ``t`` by ``t * (1 - s) + 0.5 * s``.
    """

    default_name = "binary_crossentropy"

    def __init__(
        self,
        from_logits: bool = False,
        label_smoothing: float = 0.0,
        axis: int = -1,
        name: str | None = None,
    ):
        _check_label_smoothing(type(self).__name__, label_smoothing)
        _check_axis(type(self).__name__, axis)
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
            "axis": -1,
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
        self,
        from_logits: bool = False,
        label_smoothing: float = 0.0,
        axis: int = -1,
        name: str | None = None,
    ):
        _check_label_smoothing(type(self).__name__, label_smoothing)
        _check_axis(type(self).__name__, axis)
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
        return _categorical_crossentropy(y_true, y_pred, self.from_logits)

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "from_logits": self.from_logits,
            "label_smoothing": self.label_smoothing,
            "axis": -1,
        }


def _categorical_crossentropy(y_true, y_pred, from_logits: bool):
    """Keras's ``categorical_crossentropy`` (JAX backend) over the last axis: values and
    ``d values / d y_pred`` (``y_true``: one-hot or soft targets of ``y_pred``'s shape)."""
    f = y_pred.dtype.type
    if from_logits:
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


class SparseCategoricalCrossentropy(Loss):
    """Categorical crossentropy against integer class ids: ``-log(q[y_true])``, ``q`` as in
    :class:`CategoricalCrossentropy` (renormalized, clipped probabilities, or
    ``log_softmax`` with ``from_logits``).

    ``y_true`` has ``y_pred``'s shape without its last axis (a trailing 1 is squeezed, as
    in Keras): ``(batch,)`` or ``(batch, 1)`` against ``(batch, classes)``, ``(batch, T)``
    against a tagger's ``(batch, T, classes)``. Ids may come as floats holding whole
    numbers (a model's float targets). With ``ignore_class``, the entries of that id give
    0 and are masked out of the mean, as Keras sets a mask on its values.

    >>> import numpy as np
    >>> loss = SparseCategoricalCrossentropy()
    >>> value, grad = loss(np.array([1, 2]), np.array([[0.05, 0.95, 0.0], [0.1, 0.8, 0.1]]))
    >>> round(value, 4)    # (-log 0.95 - log 0.1) / 2, Keras's doc example
    1.1769
    """

    default_name = "sparse_categorical_crossentropy"
    min_rank = 2
    SPARSE_TARGETS = True

    def __init__(
        self,
        from_logits: bool = False,
        ignore_class: int | None = None,
        axis: int = -1,
        name: str | None = None,
    ):
        _check_axis(type(self).__name__, axis)
        if ignore_class is not None and (
            isinstance(ignore_class, bool) or not float(ignore_class).is_integer()
        ):
            raise ValueError(
                f"{type(self).__name__}: expected ignore_class None or an integer, "
                f"received {ignore_class!r}"
            )
        super().__init__(name)
        self.from_logits = bool(from_logits)
        self.ignore_class = None if ignore_class is None else int(ignore_class)

    def _prepare(self, y_true, y_pred):
        owner = type(self).__name__
        y_pred = _as_float_array(y_pred)
        y_true = np.asarray(y_true)
        if y_pred.ndim < 2 or y_pred.shape[-1] < 1:
            raise ValueError(
                f"{owner}: expected y_pred of shape (batch, ..., num_classes), received "
                f"y_pred shape {y_pred.shape}"
            )
        if y_true.ndim == y_pred.ndim and y_true.shape[-1] == 1:
            y_true = y_true[..., 0]  # Keras squeezes (batch, 1) ids to (batch,)
        if y_true.shape != y_pred.shape[:-1]:
            raise ValueError(
                f"{owner}: expected integer class ids of shape {y_pred.shape[:-1]} (y_pred's "
                f"shape without its last axis, or with a trailing 1), received y_true shape "
                f"{np.shape(y_true)} for y_pred shape {y_pred.shape}; one-hot targets "
                "need CategoricalCrossentropy"
            )
        if y_pred.size == 0:
            raise ValueError(f"{owner}: received empty arrays, y_pred shape {y_pred.shape}")
        if not (np.issubdtype(y_true.dtype, np.number) or y_true.dtype == bool):
            raise ValueError(f"{owner}: expected integer class ids, received {y_true.dtype}")
        with np.errstate(invalid="ignore"):
            whole = np.isfinite(y_true) & (np.asarray(y_true) == np.round(y_true))
        if not whole.all():
            bad = y_true[~whole].ravel()[0].item()
            raise ValueError(f"{owner}: expected integer class ids, received {bad!r}")
        ids = y_true.astype(np.int64)
        valid = (ids >= 0) & (ids < y_pred.shape[-1])
        if self.ignore_class is not None:
            valid |= ids == self.ignore_class
        if not valid.all():
            raise ValueError(
                f"{owner}: class ids must be in [0, {y_pred.shape[-1]}) for "
                f"{y_pred.shape[-1]} classes, received {ids[~valid].ravel()[0].item()}"
            )
        return ids, y_pred, y_pred.shape

    def _own_mask(self, y_true, y_pred):
        return None if self.ignore_class is None else y_true != self.ignore_class

    def _fn(self, y_true, y_pred):
        f = y_pred.dtype.type
        valid = self._own_mask(y_true, y_pred)
        if valid is not None:  # Keras: id 0 and a zero y_pred there, then values set to 0
            y_true = np.where(valid, y_true, 0)
            y_pred = np.where(valid[..., None], y_pred, f(0))
        one_hot = (y_true[..., None] == np.arange(y_pred.shape[-1])).astype(y_pred.dtype)
        values, dvalues = _categorical_crossentropy(one_hot, y_pred, self.from_logits)
        if valid is not None:
            values = np.where(valid, values, f(0))
            dvalues = np.where(valid[..., None], dvalues, f(0))
        return values, dvalues

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "from_logits": self.from_logits,
            "ignore_class": self.ignore_class,
        }
