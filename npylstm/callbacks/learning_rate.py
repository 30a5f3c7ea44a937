"""The learning-rate callbacks, as Keras 3.15.1's ``keras/src/callbacks/reduce_lr_on_plateau.py``
and ``learning_rate_scheduler.py`` (the GitHub mirror's are the same).

Both write the optimizer's learning rate into the epoch logs as ``logs["learning_rate"]``
(so ``History`` records it), and print Keras's messages with ``verbose=1``.

>>> cb = ReduceLROnPlateau(monitor="loss", factor=0.5, patience=2)
>>> cb.factor, cb.patience, cb.min_delta
(0.5, 2, 0.0001)
"""

from __future__ import annotations

import numbers
import warnings

import numpy as np

from ..optimizers.schedules import LearningRateSchedule
from .base import Callback
from .monitor import MonitorCallback

__all__ = ["ReduceLROnPlateau", "LearningRateScheduler"]


def _print(message: str) -> None:
    """Keras's ``io_utils.print_msg``."""
    print(message)


def _optimizer(callback):
    optimizer = getattr(callback.model, "optimizer", None)
    if optimizer is None or not hasattr(optimizer, "learning_rate"):
        raise ValueError(
            f"{type(callback).__name__}: the model has no optimizer with a learning_rate "
            "(call model.compile(optimizer=...) before fit)"
        )
    return optimizer


def _count(owner: str, name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 0:
        raise ValueError(f"{owner}: expected {name} to be an integer >= 0, received {value!r}")
    return int(value)


def _log_learning_rate(callback, logs) -> None:
    if logs is not None:
        logs["learning_rate"] = float(_optimizer(callback).learning_rate)


class ReduceLROnPlateau(MonitorCallback):
    """Multiply the learning rate by ``factor`` when ``monitor`` has not improved for
    ``patience`` epochs (Keras's ``ReduceLROnPlateau``).

    Parameters
    ----------
    monitor : a key of the epoch logs (``"val_loss"``)
    factor : ``new_lr = lr * factor``, below 1
    patience : epochs without improvement before a reduction
    verbose : 1 prints Keras's message at each reduction
    mode : ``"auto"``, ``"min"`` or ``"max"``, as in :class:`MonitorCallback`
    min_delta : an improvement must beat the best by more than this
    cooldown : epochs after a reduction during which nothing is counted
    min_lr : the learning rate never goes below this

    A ``monitor`` missing from the logs warns, as Keras (training goes on unchanged).

    >>> cb = ReduceLROnPlateau(monitor="val_loss", factor=0.2, patience=5, min_lr=0.001)
    >>> cb.cooldown, cb.min_lr
    (0, 0.001)
    """

    def __init__(
        self,
        monitor="val_loss",
        factor=0.1,
        patience=10,
        verbose=0,
        mode="auto",
        min_delta=1e-4,
        cooldown=0,
        min_lr=0.0,
    ):
        owner = type(self).__name__
        if not isinstance(monitor, str):
            raise TypeError(f"{owner}: expected monitor to be a string, received {monitor!r}")
        for name, value in (("factor", factor), ("min_delta", min_delta), ("min_lr", min_lr)):
            if (
                isinstance(value, bool)
                or not isinstance(value, numbers.Real)
                or not np.isfinite(value)
            ):
                raise ValueError(
                    f"{owner}: expected {name} to be a finite number, received {value!r}"
                )
        super().__init__(monitor, mode, min_delta=min_delta)
        if factor >= 1.0:
            raise ValueError(
                f"ReduceLROnPlateau does not support a factor >= 1.0. Received factor={factor}"
            )
        if factor < 0:
            raise ValueError(f"{owner}: expected factor in [0, 1), received factor={factor}")
        if min_lr < 0:
            raise ValueError(f"{owner}: expected min_lr >= 0, received min_lr={min_lr}")
        self.factor = factor
        self.min_lr = min_lr
        self.patience = _count(owner, "patience", patience)
        self.verbose = verbose
        self.cooldown = _count(owner, "cooldown", cooldown)
        self.cooldown_counter = 0
        self.wait = 0

    def _reset(self) -> None:
        self.best = None
        self.cooldown_counter = 0
        self.wait = 0

    def _reduce_optimizer_lr(self, optimizer, epoch) -> bool:
        old_lr = float(optimizer.learning_rate)
        if old_lr > np.float32(self.min_lr):
            new_lr = max(old_lr * self.factor, self.min_lr)  # Python floats, as Keras
            optimizer.learning_rate = new_lr
            if self.verbose > 0:
                _print(
                    f"\nEpoch {epoch + 1}: ReduceLROnPlateau reducing learning rate to {new_lr}."
                )
            return True
        return False

    def on_train_begin(self, logs=None):
        self._reset()

    def on_epoch_end(self, epoch, logs=None):
        if self.monitor_op is None:
            self._set_monitor_op()  # Keras: once the model's metrics are built
        logs = logs if logs is not None else {}
        _log_learning_rate(self, logs)
        current = logs.get(self.monitor)
        if current is None:
            warnings.warn(
                f"Learning rate reduction is conditioned on metric `{self.monitor}` which is "
                f"not available. Available metrics are: {','.join(list(logs.keys()))}.",
                stacklevel=2,
            )
            return
        if self.in_cooldown():
            self.cooldown_counter -= 1
            self.wait = 0
        if self._is_improvement(current, self.best):
            self.best = current
            self.wait = 0
        elif not self.in_cooldown():
            self.wait += 1
            if self.wait >= self.patience and self._reduce_optimizer_lr(_optimizer(self), epoch):
                self.cooldown_counter = self.cooldown
                self.wait = 0

    def in_cooldown(self) -> bool:
        return self.cooldown_counter > 0


class LearningRateScheduler(Callback):
    """Set the learning rate at the start of every epoch to ``schedule(epoch, lr)``
    (``schedule(epoch)`` for a one-argument function), as Keras's ``LearningRateScheduler``.

    Parameters
    ----------
    schedule : a function of the epoch index (from 0) and the current learning rate
        (a float) returning the new learning rate (a Python or NumPy float)
    verbose : 1 prints Keras's message each epoch

    >>> cb = LearningRateScheduler(lambda epoch, lr: lr if epoch < 10 else lr * 0.9)
    >>> cb.schedule(12, 0.1)
    0.09000000000000001
    """

    def __init__(self, schedule, verbose=0):
        super().__init__()
        if not callable(schedule):
            raise TypeError(
                "LearningRateScheduler: expected schedule to be a function "
                f"schedule(epoch, lr) -> float, received {schedule!r}"
            )
        self.schedule = schedule
        self.verbose = verbose

    def _update_optimizer_lr(self, optimizer, epoch):
        fixed = getattr(optimizer, "_learning_rate", None)
        if isinstance(fixed, LearningRateSchedule):
            # Keras's setter raises a TypeError here, which its fallback to schedule(epoch)
            # then hides behind the schedule's own TypeError
            raise ValueError(
                f"LearningRateScheduler: the optimizer's learning rate is the schedule "
                f"{fixed!r}, which cannot be set; create the optimizer with a float "
                "learning_rate to use LearningRateScheduler"
            )
        try:  # Keras: the new API first, then schedule(epoch) on a TypeError
            learning_rate = float(optimizer.learning_rate)
            learning_rate = self.schedule(epoch, learning_rate)
        except TypeError:
            learning_rate = self.schedule(epoch)
        if not isinstance(learning_rate, (float, np.float32, np.float64)):
            raise ValueError(
                f"The output of the `schedule` function should be a float. Got: {learning_rate}"
            )
        if not np.isfinite(learning_rate) or learning_rate < 0:
            raise ValueError(
                f"LearningRateScheduler: the schedule gave the learning rate {learning_rate} "
                f"at epoch {epoch}; expected a finite number >= 0"
            )
        optimizer.learning_rate = learning_rate
        return learning_rate

    def on_epoch_begin(self, epoch, logs=None):
        learning_rate = self._update_optimizer_lr(_optimizer(self), epoch)
        if self.verbose > 0:
            _print(
                f"\nEpoch {epoch + 1}: LearningRateScheduler setting learning rate to "
                f"{learning_rate}."
            )

    def on_epoch_end(self, epoch, logs=None):
        _log_learning_rate(self, logs)
