"""The progress display of ``fit``, ``evaluate`` and ``predict`` (Keras's ``ProgbarLogger``
and ``utils/progbar.py`` of Keras 3.15.1), drawn with rich.

Keras's rules, reproduced:

* ``verbose=1`` (``"auto"``): a bar per epoch (per ``evaluate`` / ``predict`` call) with the
  step count, the ETA while running, then the elapsed seconds and the time per step, and
  the running loss and metrics; ``verbose=2``: one line per epoch / call, at its end;
  ``verbose=0``: nothing (fit / evaluate / predict then add no ProgbarLogger at all).
* ``Epoch i/N`` is printed only when ``N > 1``; validation inside ``fit`` is silent (its
  values join the epoch's line as ``val_*``).
* Redrawn in place ("dynamic display") exactly when Keras's ``Progbar`` would:
  ``sys.stdout.isatty()``, or ``"ipykernel"`` in ``sys.modules`` (a notebook), or
  ``"posix"`` in ``sys.modules``, or ``PYCHARM_HOSTED`` set. The ``"posix"`` clause makes
  Keras redraw on every Linux / macOS process, terminal or not, so output that is not a
  terminal is **not** silenced (a claim the issue made; Keras prints there too). Here a
  dynamic display is a rich live bar (rich itself prints only the final state when its
  console is not a terminal, e.g. a log file); otherwise, as Keras, one line per update
  (at most every 0.05 s) and the final line.
* Numbers as Keras formats them: ``{:.4f}``, or ``{:.4e}`` when ``|value| <= 1e-3``.

>>> import io, rich.console
>>> out = io.StringIO()
>>> bar = ProgbarLogger(2, console=rich.console.Console(file=out, width=100))
>>> bar.set_params({"epochs": 1, "steps": 3, "verbose": 2})
>>> bar.on_train_begin(); bar.on_epoch_begin(0)
>>> for step in range(3): bar.on_train_batch_end(step, {"loss": 0.5})
>>> bar.on_epoch_end(0, {"loss": 0.25, "val_loss": 0.0001})
>>> print(out.getvalue(), end="")
3/3 - ...s - ...s/step - loss: 0.2500 - val_loss: 1.0000e-04
"""

from __future__ import annotations

import os
import sys
import time

import rich.console
import rich.progress

from .base import Callback

__all__ = ["ProgbarLogger", "dynamic_display"]


def dynamic_display() -> bool:
    """Keras's ``Progbar._dynamic_display`` rule (see the module docstring)."""
    return bool(
        (hasattr(sys.stdout, "isatty") and sys.stdout.isatty())
        or "ipykernel" in sys.modules
        or "posix" in sys.modules
        or "PYCHARM_HOSTED" in os.environ
    )


def _number(value) -> str:
    try:
        value = float(value)
    except (TypeError, ValueError):
        return f" {value}"
    return f" {value:.4f}" if abs(value) > 1e-3 else f" {value:.4e}"


def _format_logs(logs: dict) -> str:
    return "".join(f" - {k}:{_number(v)}" for k, v in logs.items()
                   if not k.startswith("_") and k != "outputs")


def _per_step(seconds: float, steps: int) -> str:
    """Keras's ``Progbar._format_time``: the time per step in s, ms or us."""
    per = seconds / max(steps, 1)
    if per >= 1 or per == 0:
        return f" {per:.0f}s/step"
    if per >= 1e-3:
        return f" {per * 1e3:.0f}ms/step"
    return f" {per * 1e6:.0f}us/step"


class ProgbarLogger(Callback):
    """The progress bar of fit / evaluate / predict (``verbose`` 1 or 2; see the module
    docstring for Keras's rules). ``console``: a rich Console (default: stdout, width
    120); ``dynamic``: force the dynamic display on or off (default: Keras's rule)."""

    def __init__(self, verbose: int = 1, console: rich.console.Console | None = None,
                 dynamic: bool | None = None):
        super().__init__()
        self.verbose = verbose
        # a fixed width: a non-terminal console (CI logs) would otherwise squeeze the bar
        self.console = console or rich.console.Console(highlight=False, width=120)
        self.dynamic = dynamic
        self.epochs, self.target = 1, None
        self._called_in_fit = False
        self._progress: rich.progress.Progress | None = None
        self._task = None
        self._start = self._last = 0.0
        self._seen = 0
        self._active = False

    def set_params(self, params: dict) -> None:
        super().set_params(params)
        verbose = params.get("verbose", self.verbose)
        self.verbose = 1 if verbose == "auto" else verbose
        self.epochs = params.get("epochs", 1)
        self.target = params.get("steps")

    # -- Keras's hooks ------------------------------------------------------------------------
    def on_train_begin(self, logs=None):
        self._called_in_fit = True  # validation inside fit is silent

    def on_epoch_begin(self, epoch, logs=None):
        if self.verbose and self.epochs > 1:
            self._stop()
            self.console.print(f"Epoch {epoch + 1}/{self.epochs}", highlight=False)
        self._begin()

    def on_test_begin(self, logs=None):
        if not self._called_in_fit:
            self._begin()

    def on_predict_begin(self, logs=None):
        self._begin()

    def on_train_batch_end(self, batch, logs=None):
        self._update(batch, logs)

    def on_test_batch_end(self, batch, logs=None):
        if not self._called_in_fit:
            self._update(batch, logs)

    def on_predict_batch_end(self, batch, logs=None):
        self._update(batch, None)  # Keras does not show the predictions

    def on_epoch_end(self, epoch, logs=None):
        self._finish(logs)

    def on_test_end(self, logs=None):
        if not self._called_in_fit:
            self._finish(logs)

    def on_predict_end(self, logs=None):
        self._finish(None)

    def on_train_end(self, logs=None):
        self._stop()  # stopped mid-epoch

    # -- drawing ------------------------------------------------------------------------------
    def _is_dynamic(self) -> bool:
        return dynamic_display() if self.dynamic is None else self.dynamic

    def _begin(self) -> None:
        self._stop()
        self._start = time.perf_counter()
        self._last = float("-inf")  # Keras: the first update is always drawn
        self._seen = 0
        self._active = True
        if self.verbose == 1 and self._is_dynamic():
            self._progress = rich.progress.Progress(
                rich.progress.MofNCompleteColumn(),
                rich.progress.BarColumn(bar_width=20),
                rich.progress.TimeRemainingColumn(elapsed_when_finished=True),
                rich.progress.TextColumn("{task.fields[per_step]}{task.fields[logs]}"),
                console=self.console, transient=False,
            )
            self._progress.start()
            self._task = self._progress.add_task("steps", total=self.target, logs="",
                                                 per_step="")

    def _line(self, current: int, logs: dict, final: bool, now: float) -> str:
        """Keras's text: ``3/3 - 0s - 1ms/step - loss: ...`` (verbose 2) or
        ``3/3 0s 1ms/step - loss: ...`` (verbose 1; the ETA instead while running)."""
        elapsed = now - self._start
        count = (f"{current:{len(str(self.target))}d}/{self.target}" if self.target
                 else f"{current:7d}/Unknown")
        per_step = _per_step(elapsed, current)
        if self.verbose == 2:
            return f"{count} - {elapsed:.0f}s -{per_step}{_format_logs(logs)}"
        if final or not self.target:
            timing = f"{elapsed:.0f}s"
        else:
            timing = f"{elapsed / max(current, 1) * (self.target - current):.0f}s"
        return f"{count} {timing}{per_step}{_format_logs(logs)}"

    def _update(self, batch: int, logs) -> None:
        if not self._active:
            self._begin()
        self._seen = batch + 1
        if self.verbose != 1:
            return
        logs = logs or {}
        if self._progress is not None:
            elapsed = time.perf_counter() - self._start
            self._progress.update(self._task, completed=self._seen,
                                  per_step=_per_step(elapsed, self._seen).strip(),
                                  logs=_format_logs(logs))
            return
        now = time.perf_counter()
        if now - self._last >= 0.05:  # Keras's interval: one line per update at most
            self._last = now
            self.console.print(self._line(self._seen, logs, False, now), highlight=False,
                               soft_wrap=True)

    def _finish(self, logs) -> None:
        if not self._active:
            return
        logs = logs or {}
        if self.target is None:
            self.target = self._seen  # learned from the first pass (Keras does the same)
        if self._progress is not None:
            elapsed = time.perf_counter() - self._start
            self._progress.update(self._task, total=self.target, completed=self.target,
                                  per_step=_per_step(elapsed, self.target).strip(),
                                  logs=_format_logs(logs))
            self._stop()
        elif self.verbose in (1, 2):
            self.console.print(self._line(self.target, logs, True, time.perf_counter()),
                               highlight=False, soft_wrap=True)
        self._active = False

    def _stop(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None
