"""The base of callbacks that watch one logged quantity (EarlyStopping, ModelCheckpoint,
ReduceLROnPlateau), as Keras 3.15.1's ``keras/src/callbacks/monitor_callback.py``.

``mode="auto"`` takes the direction from the name, as Keras: ``loss`` / ``val_loss`` are
minimized; a compiled metric of that name is maximized when Keras's class of that name has
``_direction == "up"`` (the accuracies, cosine similarity) and minimized otherwise. Any other
name raises Keras's ValueError at the first epoch end: pass ``mode="min"`` or ``"max"``.
The comparison is made in float32, as Keras's ``ops.less`` / ``ops.greater`` make it.

>>> from npylstm.callbacks.monitor import MonitorCallback
>>> cb = MonitorCallback(monitor="loss", min_delta=0.1)
>>> cb._set_monitor_op()
>>> bool(cb._is_improvement(0.85, 1.0)), bool(cb._is_improvement(0.95, 1.0))
(True, False)
"""

from __future__ import annotations

import operator
import warnings

import numpy as np

from .base import Callback

__all__ = ["MonitorCallback"]

# Keras 3.15.1 metric classes whose ``_direction`` is "up" (read from the installed Keras:
# every other metric class npylstm has is "down"). Used when a metric has no _direction.
_UP = frozenset({
    "Accuracy", "BinaryAccuracy", "CategoricalAccuracy", "CosineSimilarity",
    "SparseCategoricalAccuracy", "SparseTopKCategoricalAccuracy", "TopKCategoricalAccuracy",
    "_ResolvedAccuracy",
})


def _direction(metric) -> str:
    direction = getattr(metric, "_direction", None)
    if direction is not None:
        return direction
    return "up" if type(metric).__name__ in _UP else "down"


def _all_metrics(model) -> list:
    metrics = []
    for m in getattr(model, "metrics", None) or []:
        inner = getattr(m, "metrics", None)  # a container of metrics (several outputs)
        metrics.extend(inner if isinstance(inner, list) else [m])
    return metrics


class MonitorCallback(Callback):
    """Watch ``monitor`` in the logs; ``_is_improvement(value, reference)`` as Keras.

    Parameters
    ----------
    monitor : a key of the logs (``"val_loss"`` by default)
    mode : ``"auto"``, ``"min"`` or ``"max"`` (another value warns and falls back to auto,
        as Keras)
    baseline : the initial ``best`` (None: the first value)
    min_delta : an improvement must beat the reference by more than ``abs(min_delta)``
    """

    def __init__(self, monitor="val_loss", mode="auto", baseline=None, min_delta=0):
        super().__init__()
        if mode not in ("auto", "min", "max"):
            warnings.warn(
                f"{self.__class__.__name__} mode '{mode}' is unknown, fallback to auto mode.",
                stacklevel=2,
            )
            mode = "auto"
        self.monitor = monitor
        self.mode = mode
        self.best = baseline
        self.min_delta = abs(min_delta)
        self.monitor_op = None

    def _set_monitor_op(self) -> None:
        if self.mode == "min":
            self.monitor_op = operator.lt
        elif self.mode == "max":
            self.monitor_op = operator.gt
        else:
            name = self.monitor.removeprefix("val_")
            if name == "loss":
                self.monitor_op = operator.lt
            for metric in _all_metrics(self.model):
                if getattr(metric, "name", None) == name:
                    self.monitor_op = operator.gt if _direction(metric) == "up" else operator.lt
            if self.monitor_op is None:
                raise ValueError(
                    f"{self.__class__.__name__} callback received monitor={self.monitor}, "
                    "but Keras isn't able to automatically determine whether that metric "
                    "should be maximized or minimized. Pass `mode='max'` in order to monitor "
                    "based on the highest metric value, or pass `mode='min'` in order to use "
                    "the lowest value."
                )
        if self.monitor_op is operator.lt:
            self.min_delta *= -1

    def _is_improvement(self, monitor_value, reference_value) -> bool:
        if reference_value is None:
            return True
        # Keras's ops.less / ops.greater take Python floats as float32 tensors (floatx)
        return bool(self.monitor_op(np.float32(monitor_value - self.min_delta),
                                    np.float32(reference_value)))
