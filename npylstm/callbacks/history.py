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

import numpy as np
import rich.console

from .base import Callback

__all__ = ["History", "EarlyStopping", "TerminateOnNaN"]


class History(Callback):
    """Records the epoch logs: ``history.history["loss"][e]`` is epoch ``e``'s loss.

    ``fit`` returns this object (and sets ``model.history`` to it), as in Keras.
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

    Keras prints ``Batch 3: Invalid loss, terminating training``; this callback prints the
    same, records the message in ``model.stop_reason``, and with ``raise_error=True``
    raises a RuntimeError instead.
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


class EarlyStopping(Callback):
    """Stop training when ``monitor`` has stopped improving (Keras 3 semantics).

    Parameters
    ----------
    monitor : a key of the epoch logs, e.g. ``"val_loss"``, ``"loss"``, ``"val_mae"``
    min_delta : an improvement must exceed this
    patience : epochs without improvement before stopping
    mode : "min", "max" or "auto" (losses and error metrics: min; accuracy-like: max)
    baseline : a value the monitored quantity must beat to reset the patience counter
    restore_best_weights : at the end, set the weights of the best epoch
    start_from_epoch : epochs to wait before monitoring starts

    Where Keras only warns about a ``monitor`` missing from the logs (and never stops),
    this raises a ValueError listing the keys that are there.
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
        super().__init__()
        if mode not in ("auto", "min", "max"):
            raise ValueError(
                f"EarlyStopping: expected mode 'auto', 'min' or 'max', received {mode!r}"
            )
        if isinstance(patience, bool) or not isinstance(patience, int) or patience < 0:
            raise ValueError(
                f"EarlyStopping: expected patience to be an integer >= 0, received {patience!r}"
            )
        self.monitor = monitor
        self.mode = mode
        self.min_delta = abs(min_delta)
        self.patience = patience
        self.verbose = verbose
        self.baseline = baseline
        self.restore_best_weights = restore_best_weights
        self.start_from_epoch = start_from_epoch
        self.wait = 0
        self.stopped_epoch = 0
        self.best = None
        self.best_weights = None
        self.best_epoch = 0

    def _lower_is_better(self) -> bool:
        if self.mode != "auto":
            return self.mode == "min"
        name = self.monitor.removeprefix("val_")
        if name == "loss":
            return True
        for metric in getattr(self.model, "metrics", []) or []:
            if getattr(metric, "name", None) == name:
                return getattr(metric, "_direction", "down") != "up"
        if "acc" in name or "auc" in name or "precision" in name or "recall" in name:
            return False
        return True

    def _is_improvement(self, value: float, reference: float | None) -> bool:
        if reference is None:
            return True
        # Keras: an improvement must beat the reference by more than min_delta
        if self._lower_is_better():
            return value + self.min_delta < reference
        return value - self.min_delta > reference

    def on_train_begin(self, logs=None):
        self.wait = 0
        self.stopped_epoch = 0
        self.best = None
        self.best_weights = None
        self.best_epoch = 0

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if self.monitor not in logs:
            raise ValueError(
                f"EarlyStopping: monitor={self.monitor!r} is not in the epoch logs; "
                f"available: {sorted(logs)}"
            )
        current = logs[self.monitor]
        if epoch < self.start_from_epoch:
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
            if self.baseline is None or self._is_improvement(current, self.baseline):
                self.wait = 0
            return
        if self.wait >= self.patience and epoch > 0:
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        if self.stopped_epoch > 0 and self.verbose > 0:
            rich.console.Console(highlight=False).print(
                f"Epoch {self.stopped_epoch + 1}: early stopping"
            )
        if self.restore_best_weights and self.best_weights is not None:
            if self.verbose > 0:
                rich.console.Console(highlight=False).print(
                    f"Restoring model weights from the end of the best epoch: "
                    f"{self.best_epoch + 1}."
                )
            self.model.set_weights(self.best_weights)
