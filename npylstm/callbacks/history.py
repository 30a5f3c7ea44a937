"""History, EarlyStopping and TerminateOnNaN, with Keras's names and semantics
(the progress bar is in :mod:`npylstm.callbacks.progbar`).

A callback sees the model (``self.model``) and the logs ``fit`` passes to its hooks:
``on_train_batch_end(batch, logs)`` with the running epoch means so far, and
``on_epoch_end(epoch, logs)`` with ``loss``, every metric and their ``val_`` versions.
Setting ``self.model.stop_training = True`` ends training after the current batch, as in
Keras.

>>> from npylstm.callbacks import EarlyStopping
>>> cb = EarlyStopping(monitor="val_loss", patience=2)
>>> cb.patience, cb.monitor
(2, 'val_loss')
"""

from __future__ import annotations

import warnings

import numpy as np
import rich.console

from .base import Callback
from .monitor import MonitorCallback

__all__ = ["History", "EarlyStopping", "TerminateOnNaN"]


class History(Callback):
    """Records the epoch logs: ``history.history["loss"][e]`` is epoch ``e``'s loss.

    ``fit`` returns this object (and sets ``model.history`` to it), as in Keras 3.15.1's
    ``keras/src/callbacks/history.py``; ``fit`` adds it after the user's callbacks.

    >>> history = History()
    >>> history.set_model(type("M", (), {})())
    >>> history.on_train_begin()
    >>> history.on_epoch_end(0, {"loss": 0.5})
    >>> history.history, history.epoch
    ({'loss': [0.5]}, [0])
    """

    def __init__(self):
        super().__init__()
        self.history: dict[str, list[float]] = {}
        self.epoch: list[int] = []

    def on_train_begin(self, logs=None):
        self.epoch = []

    def on_epoch_end(self, epoch, logs=None):
        self.epoch.append(epoch)
        for key, value in (logs or {}).items():
            self.history.setdefault(key, []).append(value)
        self.model.history = self


class TerminateOnNaN(Callback):
    """Stop training as soon as the loss is NaN or infinite, saying so.

    Keras 3.15.1 (``keras/src/callbacks/terminate_on_nan.py``) prints ``Batch 3: Invalid
    loss, terminating training``; this callback's message adds the loss value and what to
    try (``Batch 3: Invalid loss (nan), terminating training. Lower the learning rate,
    ...``), records it in ``model.stop_reason``, and with ``raise_error=True`` raises it as a
    RuntimeError (Keras: ``NaN or Inf loss encountered at batch 3. ...``).

    >>> cb = TerminateOnNaN(raise_error=True)
    >>> cb.on_train_batch_end(3, {"loss": 0.5})  # a finite loss: nothing happens
    """

    def __init__(self, raise_error: bool = False):
        super().__init__()
        self.raise_error = raise_error

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is None or np.isfinite(loss):
            return
        message = (
            f"Batch {batch}: Invalid loss ({loss}), terminating training. "
            "Lower the learning rate, clip gradients (clipnorm=...) or check the data for "
            "NaN/inf values."
        )
        if self.raise_error:
            raise RuntimeError(message)
        rich.console.Console(highlight=False).print(message, markup=False)
        self.model.stop_reason = message
        self.model.stop_training = True


class EarlyStopping(MonitorCallback):
    """Stop training when ``monitor`` has stopped improving (Keras 3.15.1's
    ``keras/src/callbacks/early_stopping.py``, line by line).

    Parameters
    ----------
    monitor : a key of the epoch logs, e.g. ``"val_loss"``, ``"loss"``, ``"val_mae"``
    min_delta : an improvement must exceed this
    patience : epochs without improvement before stopping
    verbose : 1 prints Keras's "Epoch N: early stopping" and the restore message
    mode : "min", "max" or "auto" (see :mod:`npylstm.callbacks.monitor`; another value
        warns and falls back to auto, as Keras)
    baseline : a value the monitored quantity must beat to reset the patience counter
    restore_best_weights : at the end, set the weights of the best epoch (even when no
        epoch beat ``baseline``)
    start_from_epoch : epochs to wait before monitoring starts

    A ``monitor`` missing from the logs warns (Keras's message) and never stops training.
    Beyond Keras, a negative or non-integer ``patience`` raises a ValueError.

    >>> cb = EarlyStopping(monitor="loss", patience=1)
    >>> cb.patience, cb.monitor, cb.baseline
    (1, 'loss', None)
    """

    def __init__(
        self,
        monitor: str = "val_loss",
        min_delta: float = 0,
        patience: int = 0,
        verbose: int = 0,
        mode: str = "auto",
        baseline: float | None = None,
        restore_best_weights: bool = False,
        start_from_epoch: int = 0,
    ):
        super().__init__(monitor, mode, min_delta=min_delta)
        if isinstance(patience, bool) or not isinstance(patience, int) or patience < 0:
            raise ValueError(
                f"EarlyStopping: expected patience to be an integer >= 0, received {patience!r}"
            )
        self.patience = patience
        self.verbose = verbose
        self.baseline = baseline
        self.wait = 0
        self.stopped_epoch = 0
        self.restore_best_weights = restore_best_weights
        self.best_weights = None
        self.best_epoch = 0
        self.start_from_epoch = start_from_epoch

    def on_train_begin(self, logs=None):
        # Keras: allow instances to be re-used across fit() calls
        self.wait = 0
        self.stopped_epoch = 0
        self.best = None
        self.best_weights = None
        self.best_epoch = 0

    def on_epoch_end(self, epoch, logs=None):
        if self.monitor_op is None:
            self._set_monitor_op()
        current = self.get_monitor_value(logs)
        if current is None or epoch < self.start_from_epoch:
            return
        if self.restore_best_weights and self.best_weights is None:
            self.best_weights = self.model.get_weights()
            self.best_epoch = epoch
        self.wait += 1
        if self._is_improvement(current, self.best):
            self.best = current
            self.best_epoch = epoch
            if self.restore_best_weights:
                self.best_weights = self.model.get_weights()
            # Keras: only restart the wait when both the baseline and the best are beaten
            if self.baseline is None or self._is_improvement(current, self.baseline):
                self.wait = 0
            return
        if self.wait >= self.patience and epoch > 0:
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        if self.stopped_epoch > 0 and self.verbose > 0:
            _print(f"Epoch {self.stopped_epoch + 1}: early stopping")
        if self.restore_best_weights and self.best_weights is not None:
            if self.verbose > 0:
                _print(
                    "Restoring model weights from the end of the best epoch: "
                    f"{self.best_epoch + 1}."
                )
            self.model.set_weights(self.best_weights)

    def get_monitor_value(self, logs):
        logs = logs or {}
        value = logs.get(self.monitor)
        if value is None:
            warnings.warn(
                f"Early stopping conditioned on metric `{self.monitor}` which is not "
                f"available. Available metrics are: {','.join(list(logs.keys()))}",
                stacklevel=2,
            )
        return value


def _print(message: str) -> None:
    """Keras's ``io_utils.print_msg``: one line on standard output."""
    print(message)
