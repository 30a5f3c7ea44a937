"""Training callbacks with Keras's names and hooks: History, EarlyStopping, TerminateOnNaN,
and the rich progress bar (ProgbarLogger).

A callback sees the model (``self.model``) and the logs ``fit`` passes to its hooks:
``on_train_batch_end(batch, logs)`` with the running epoch means so far, and
``on_epoch_end(epoch, logs)`` with ``loss``, every metric and their ``val_`` versions.
Setting ``self.model.stop_training = True`` ends training after the current batch, as in
Keras.

>>> cb = EarlyStopping(monitor="val_loss", patience=2)
>>> cb.patience, cb.monitor
(2, 'val_loss')
"""

from __future__ import annotations

import math
import time

import numpy as np
import rich.console
import rich.progress

__all__ = [
    "Callback",
    "CallbackList",
    "History",
    "EarlyStopping",
    "TerminateOnNaN",
    "ProgbarLogger",
]


class Callback:
    """Base class: override the hooks you need (all do nothing by default)."""

    def __init__(self):
        self.model = None
        self.params: dict = {}

    def set_model(self, model) -> None:
        self.model = model

    def set_params(self, params: dict) -> None:
        self.params = params

    def on_train_begin(self, logs=None): ...
    def on_train_end(self, logs=None): ...
    def on_epoch_begin(self, epoch: int, logs=None): ...
    def on_epoch_end(self, epoch: int, logs=None): ...
    def on_train_batch_begin(self, batch: int, logs=None): ...
    def on_train_batch_end(self, batch: int, logs=None): ...
    def on_test_begin(self, logs=None): ...
    def on_test_end(self, logs=None): ...
    def on_predict_begin(self, logs=None): ...
    def on_predict_end(self, logs=None): ...


class CallbackList(Callback):
    """Calls every hook on each callback in order."""

    def __init__(self, callbacks, model=None, params: dict | None = None):
        super().__init__()
        self.callbacks: list[Callback] = []
        for cb in callbacks or []:
            if not isinstance(cb, Callback):
                raise TypeError(
                    f"fit: expected callbacks to be npylstm.callbacks.Callback instances, "
                    f"received {type(cb).__name__}"
                )
            self.callbacks.append(cb)
        if model is not None:
            self.set_model(model)
        if params is not None:
            self.set_params(params)

    def set_model(self, model) -> None:
        for cb in self.callbacks:
            cb.set_model(model)

    def set_params(self, params: dict) -> None:
        for cb in self.callbacks:
            cb.set_params(params)

    def _call(self, hook: str, *args) -> None:
        for cb in self.callbacks:
            getattr(cb, hook)(*args)

    def on_train_begin(self, logs=None):
        self._call("on_train_begin", logs)

    def on_train_end(self, logs=None):
        self._call("on_train_end", logs)

    def on_epoch_begin(self, epoch, logs=None):
        self._call("on_epoch_begin", epoch, logs)

    def on_epoch_end(self, epoch, logs=None):
        self._call("on_epoch_end", epoch, logs)

    def on_train_batch_begin(self, batch, logs=None):
        self._call("on_train_batch_begin", batch, logs)

    def on_train_batch_end(self, batch, logs=None):
        self._call("on_train_batch_end", batch, logs)


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


def _format_logs(logs: dict) -> str:
    return " - ".join(f"{k}: {v:.4f}" for k, v in logs.items() if not k.startswith("_"))


class ProgbarLogger(Callback):
    """One rich progress bar per epoch (``verbose=1``) or one line per epoch (``verbose=2``),
    showing the running loss and metrics, then the validation values at the epoch's end."""

    def __init__(self, verbose: int = 1, console: rich.console.Console | None = None):
        super().__init__()
        self.verbose = verbose
        # a fixed width: a non-terminal console (CI logs) would otherwise squeeze the bar
        self.console = console or rich.console.Console(highlight=False, width=120)
        self._progress: rich.progress.Progress | None = None
        self._task = None
        self._start = 0.0

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()
        epochs = self.params.get("epochs", "?")
        if self.verbose in (1, 2):
            self.console.print(f"Epoch {epoch + 1}/{epochs}")
        if self.verbose == 1:
            self._progress = rich.progress.Progress(
                rich.progress.MofNCompleteColumn(),
                rich.progress.BarColumn(bar_width=20),
                rich.progress.TimeElapsedColumn(),
                rich.progress.TextColumn("{task.fields[logs]}"),
                console=self.console,
                transient=False,
            )
            self._progress.start()
            self._task = self._progress.add_task(
                "train", total=self.params.get("steps"), logs=""
            )

    def on_train_batch_end(self, batch, logs=None):
        if self._progress is not None:
            self._progress.update(self._task, completed=batch + 1, logs=_format_logs(logs or {}))

    def on_epoch_end(self, epoch, logs=None):
        text = _format_logs(logs or {})
        if self._progress is not None:
            self._progress.update(self._task, logs=text)
            self._progress.stop()
            self._progress = None
        elif self.verbose == 2:
            seconds = time.perf_counter() - self._start
            steps = self.params.get("steps") or 1
            per_step = 1000 * seconds / steps
            self.console.print(
                f"{steps}/{steps} - {math.ceil(seconds)}s - {per_step:.0f}ms/step - {text}"
            )

    def on_train_end(self, logs=None):
        if self._progress is not None:  # stopped mid-epoch
            self._progress.stop()
            self._progress = None
