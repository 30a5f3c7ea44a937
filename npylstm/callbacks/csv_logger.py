"""CSVLogger: one row per epoch in a CSV file, as Keras 3.15.1's
``keras/src/callbacks/csv_logger.py``.

The columns are ``epoch`` then the first epoch's log keys, sorted (when none starts with
``val_``, the ``val_`` twins are added: they read ``NA`` until validation logs them). Values
are written as Python's ``csv`` module writes them (``repr`` of the float); 1-D iterables as
``"[a, b]"``. The file is flushed after every row, so a crash leaves every finished epoch on
disk; ``append=True`` continues a file (no second header when it is not empty).

>>> import pathlib, tempfile
>>> path = pathlib.Path(tempfile.mkdtemp()) / "log.csv"
>>> logger = CSVLogger(path)
>>> logger.on_train_begin()
>>> logger.on_epoch_end(0, {"loss": 0.5, "val_loss": 0.25})
>>> logger.on_train_end()
>>> print(path.read_text().replace("\\r", ""), end="")
epoch,loss,val_loss
0,0.5,0.25
"""

from __future__ import annotations

import collections.abc
import csv
import os

import numpy as np

from .base import Callback

__all__ = ["CSVLogger"]


def _handle_value(value):
    if isinstance(value, str):
        return value
    if isinstance(value, collections.abc.Iterable) and not (
        isinstance(value, np.ndarray) and value.ndim == 0
    ):
        return f'"[{", ".join(map(str, value))}]"'
    return value


class CSVLogger(Callback):
    """Stream the epoch logs to ``filename`` (Keras's ``CSVLogger``).

    Parameters
    ----------
    filename : str or PathLike
    separator : the field delimiter (``","``)
    append : append to an existing file (resuming) instead of overwriting it
    """

    def __init__(self, filename, separator=",", append=False):
        super().__init__()
        self.sep = separator
        self.filename = os.fspath(filename)
        self.append = append
        self.writer = None
        self.keys = None
        self.append_header = True
        self.csv_file = None

    def on_train_begin(self, logs=None):
        if self.append:
            if os.path.exists(self.filename):
                with open(self.filename) as f:
                    self.append_header = not bool(len(f.readline()))
            mode = "a"
        else:
            mode = "w"
        if self.csv_file and not self.csv_file.closed:
            self.csv_file.close()
        self.csv_file = open(self.filename, mode)  # Keras's file_utils.File: open(path, mode)
        self.writer = None
        self.keys = None

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if self.keys is None:
            self.keys = sorted(logs.keys())
            if self.keys and not any(key.startswith("val_") for key in self.keys):
                self.keys.extend([f"val_{k}" for k in self.keys])
        if not self.writer:
            sep = self.sep

            class CustomDialect(csv.excel):
                delimiter = sep

            self.writer = csv.DictWriter(
                self.csv_file, fieldnames=["epoch", *(self.keys or [])], dialect=CustomDialect
            )
            if self.append_header:
                self.writer.writeheader()
        row = {"epoch": epoch}
        row.update((key, _handle_value(logs.get(key, "NA"))) for key in self.keys)
        self.writer.writerow(row)
        self.csv_file.flush()

    def on_train_end(self, logs=None):
        if self.csv_file and not self.csv_file.closed:
            self.csv_file.close()
        self.writer = None
