"""The progress bar of ``fit`` (Keras's ``ProgbarLogger``), drawn with rich."""

from __future__ import annotations

import math
import time

import rich.console
import rich.progress

from .base import Callback

__all__ = ["ProgbarLogger"]


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
