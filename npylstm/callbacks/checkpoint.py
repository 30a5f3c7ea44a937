"""ModelCheckpoint and BackupAndRestore, as Keras 3.15.1's
``keras/src/callbacks/model_checkpoint.py`` and ``backup_and_restore.py``.

Both write Keras's file formats through the model's own ``save`` (``.keras``) and
``save_weights`` (``.weights.h5``), so Keras reads what they write.

>>> cb = ModelCheckpoint("ckpt/{epoch:02d}-{val_loss:.2f}.keras")
>>> cb._get_file_path(epoch=2, batch=None, logs={"val_loss": 0.1234})
'ckpt/03-0.12.keras'
>>> BackupAndRestore("backup")._weights_path
'backup/latest.weights.h5'
"""

from __future__ import annotations

import json
import os
import shutil
import warnings

import numpy as np

from .base import Callback
from .monitor import MonitorCallback

__all__ = ["ModelCheckpoint", "BackupAndRestore"]


def _print(message: str) -> None:
    """Keras's ``io_utils.print_msg``: the message on standard output."""
    print(message)


def _check_save_freq(owner: str, save_freq) -> None:
    if save_freq != "epoch" and (isinstance(save_freq, bool) or not isinstance(save_freq, int)):
        if owner == "ModelCheckpoint":
            raise ValueError(
                f"Unrecognized save_freq: {save_freq}. "
                "Expected save_freq are 'epoch' or integer values"
            )
        raise ValueError(
            "Invalid value for argument `save_freq`. "
            f"Received: save_freq={save_freq}. Expected either 'epoch' or an integer value."
        )


def _should_save_on_batch(callback, batch: int) -> bool:
    """Keras's batch-frequency rule, shared by ModelCheckpoint and BackupAndRestore: count the
    batches since the last save (a batch index not above the last one seen starts a new
    epoch; batches count from 0) and save once ``save_freq`` of them have passed. The two
    differ only in the first ``_last_batch_seen`` (None and 0, as in Keras)."""
    if callback.save_freq == "epoch":
        return False
    last = callback._last_batch_seen
    add_batches = batch + 1 if last is None or batch <= last else batch - last
    callback._batches_seen_since_last_saving += add_batches
    callback._last_batch_seen = batch
    if callback._batches_seen_since_last_saving >= callback.save_freq:
        callback._batches_seen_since_last_saving = 0
        return True
    return False


class ModelCheckpoint(MonitorCallback):
    """Save the model (``model.save``) or its weights (``model.save_weights``) during fit.

    Parameters
    ----------
    filepath : str or PathLike; may hold ``{epoch}`` (1-based), ``{batch}`` (1-based, with
        an integer ``save_freq``) and any epoch-log key, with format specs
        (``"{epoch:02d}-{val_loss:.2f}.keras"``). Must end in ``.weights.h5`` with
        ``save_weights_only=True``, else in ``.keras`` or ``.h5`` (Keras's ValueErrors).
    monitor, mode : the quantity for ``save_best_only`` and its direction (as EarlyStopping)
    verbose : 1 prints Keras's messages ("Epoch 3: val_loss improved from ...")
    save_best_only : save only when ``monitor`` improves (a missing monitor warns and saves)
    save_weights_only : weights only (with the optimizer's variables, as Keras's file)
    save_freq : ``"epoch"``, or an integer: save every that many training batches
    initial_value_threshold : the starting ``best`` for ``save_best_only``

    Beyond Keras, ``save_freq`` True/False is refused (Keras takes a bool for an integer).

    >>> ModelCheckpoint("model.h5py")
    Traceback (most recent call last):
    ...
    ValueError: The filepath provided must end in `.keras` (Keras model format). Received: \
filepath=model.h5py
    """

    def __init__(
        self,
        filepath,
        monitor="val_loss",
        verbose=0,
        save_best_only=False,
        save_weights_only=False,
        mode="auto",
        save_freq="epoch",
        initial_value_threshold=None,
    ):
        super().__init__(monitor, mode, initial_value_threshold)
        self.verbose = verbose
        self.filepath = os.fspath(filepath)
        self.save_best_only = save_best_only
        self.save_weights_only = save_weights_only
        self.save_freq = save_freq
        self._batches_seen_since_last_saving = 0
        self._last_batch_seen = None
        self._current_epoch = 0
        _check_save_freq("ModelCheckpoint", save_freq)
        if save_weights_only:
            if not self.filepath.endswith(".weights.h5"):
                raise ValueError(
                    "When using `save_weights_only=True` in `ModelCheckpoint`, the filepath "
                    "provided must end in `.weights.h5` (Keras weights format). Received: "
                    f"filepath={self.filepath}"
                )
        elif not self.filepath.endswith((".keras", ".h5")):
            raise ValueError(
                "The filepath provided must end in `.keras` (Keras model format). Received: "
                f"filepath={self.filepath}"
            )

    def on_train_batch_end(self, batch, logs=None):
        if self._should_save_on_batch(batch):
            self._save_model(epoch=self._current_epoch, batch=batch, logs=logs)

    def on_epoch_begin(self, epoch, logs=None):
        self._current_epoch = epoch

    def on_epoch_end(self, epoch, logs=None):
        if self.monitor_op is None:
            self._set_monitor_op()
        if self.save_freq == "epoch":
            self._save_model(epoch=epoch, batch=None, logs=logs)

    def _should_save_on_batch(self, batch: int) -> bool:
        return _should_save_on_batch(self, batch)

    def _should_save_model(self, epoch, batch, logs, filepath) -> bool:
        logs = logs or {}
        if not self.save_best_only:
            if self.verbose > 0:
                _print(f"\nEpoch {epoch + 1}: saving model to {filepath}")
            return True
        current = logs.get(self.monitor)
        if current is None:
            warnings.warn(
                f"Can save best model only with {self.monitor} available.", stacklevel=3
            )
            return True
        if isinstance(current, np.ndarray) and current.ndim > 0:
            warnings.warn(
                "Can save best model only when `monitor` is a scalar value. "
                f"Received: {current}. Falling back to `save_best_only=False`.",
                stacklevel=3,
            )
            return True
        if self.monitor_op is None:  # a batch-level save before the first epoch end
            self._set_monitor_op()
        best_str = "None" if self.best is None else f"{self.best:.5f}"
        if self._is_improvement(current, self.best):
            if self.verbose > 0:
                _print(
                    f"\nEpoch {epoch + 1}: {self.monitor} improved from {best_str} to "
                    f"{current:.5f}, saving model to {filepath}"
                )
            self.best = current
            return True
        if self.verbose > 0:
            _print(f"\nEpoch {epoch + 1}: {self.monitor} did not improve from {best_str}")
        return False

    def _save_model(self, epoch, batch, logs) -> None:
        filepath = self._get_file_path(epoch, batch, logs)
        if not self._should_save_model(epoch, batch, logs, filepath):
            return
        if os.path.isdir(filepath):  # Keras: h5py's IsADirectoryError, reworded
            raise OSError(
                "Please specify a non-directory filepath for ModelCheckpoint. Filepath used "
                f"is an existing directory: {filepath}"
            )
        dirname = os.path.dirname(filepath)
        if dirname:
            os.makedirs(dirname, exist_ok=True)
        if self.save_weights_only:
            self.model.save_weights(filepath)
        else:
            self.model.save(filepath)
        if self.verbose > 0:
            _print(f"\nEpoch {epoch + 1}: finished saving model to {filepath}")

    def _get_file_path(self, epoch, batch, logs) -> str:
        logs = logs or {}
        try:
            if batch is None or "batch" in logs:
                return self.filepath.format(epoch=epoch + 1, **logs)
            return self.filepath.format(epoch=epoch + 1, batch=batch + 1, **logs)
        except KeyError as e:
            raise KeyError(
                f'Failed to format this callback filepath: "{self.filepath}". Reason: {e}'
            ) from None


class BackupAndRestore(Callback):
    """Back up the training state each epoch (or every ``save_freq`` batches) and restore it
    at the start of the next ``fit``, so an interrupted run resumes where it stopped.

    Keras's layout in ``backup_dir``: ``latest.weights.h5`` (``model.save_weights``: the
    weights and the optimizer's variables) and ``training_metadata.json``
    (``{"epoch": <epochs done>, "batch": <last batch>}``); with ``double_checkpoint`` the
    previous pair as ``*.bkp``. ``on_train_begin`` loads them and sets
    ``model._initial_epoch`` (``fit`` starts there); ``on_train_end`` (only reached when
    training finished) deletes ``backup_dir`` unless ``delete_checkpoint=False``.

    Parameters
    ----------
    backup_dir : the directory (not shared with anything else)
    save_freq : ``"epoch"`` or an integer number of batches
    double_checkpoint : keep the previous backup too; a backup that fails to load
        (``OSError`` as in Keras, or npylstm's ``KerasFileError`` for a file that is not a
        Keras file) is replaced by it
    delete_checkpoint : delete ``backup_dir`` when training finishes
    """

    def __init__(self, backup_dir, save_freq="epoch", double_checkpoint=False,
                 delete_checkpoint=True):
        super().__init__()
        self.save_freq = save_freq
        self.double_checkpoint = double_checkpoint
        self.delete_checkpoint = delete_checkpoint
        self._batches_seen_since_last_saving = 0
        self._last_batch_seen = 0
        self._current_epoch = 0
        if not backup_dir:
            raise ValueError("Empty `backup_dir` argument passed")
        self.backup_dir = os.fspath(backup_dir)
        self._weights_path = os.path.join(self.backup_dir, "latest.weights.h5")
        self._training_metadata_path = os.path.join(self.backup_dir, "training_metadata.json")
        self._prev_weights_path = f"{self._weights_path}.bkp"
        self._prev_training_metadata_path = f"{self._training_metadata_path}.bkp"
        _check_save_freq("BackupAndRestore", save_freq)

    def on_train_begin(self, logs=None):
        from ..io.model_file import KerasFileError  # lazily: models import callbacks

        try:
            self._load_model()
        except (OSError, KerasFileError):
            # Keras: the latest backup may be corrupted; fall back to the previous one
            if not os.path.exists(self._prev_weights_path):
                raise
            shutil.copyfile(self._prev_weights_path, self._weights_path)
            if os.path.exists(self._prev_training_metadata_path):
                shutil.copyfile(self._prev_training_metadata_path,
                                self._training_metadata_path)
            elif os.path.exists(self._training_metadata_path):
                os.remove(self._training_metadata_path)
            self._load_model()

    def _load_model(self) -> None:
        if not getattr(self.model, "built", True):
            raise ValueError(
                "To use the BackupAndRestore callback, you model must be built before you "
                f"call `fit()`. Model {self.model} is unbuilt. You can build it beforehand "
                "by calling it on a batch of data."
            )
        if os.path.exists(self._weights_path):
            self.model.load_weights(self._weights_path)
        if os.path.exists(self._training_metadata_path):
            with open(self._training_metadata_path) as f:
                training_metadata = json.loads(f.read())
            self.model._initial_epoch = training_metadata["epoch"]

    def on_epoch_end(self, epoch, logs=None):
        self._current_epoch = epoch + 1
        self._last_batch_seen = 0
        if self.save_freq == "epoch":
            self._save_model()

    def on_train_batch_end(self, batch, logs=None):
        if self._should_save_on_batch(batch):
            self._save_model()

    def _save_model(self) -> None:
        # every file through the one atomic writer (a kill -9 leaves the old backup or none)
        from ..io.atomic import atomic_open, atomic_write

        os.makedirs(self.backup_dir, exist_ok=True)
        if self.double_checkpoint and os.path.exists(self._weights_path):
            atomic_write(self._prev_weights_path,
                         lambda tmp: shutil.copyfile(self._weights_path, tmp))
        if self.double_checkpoint and os.path.exists(self._training_metadata_path):
            atomic_write(self._prev_training_metadata_path,
                         lambda tmp: shutil.copyfile(self._training_metadata_path, tmp))
        self.model.save_weights(self._weights_path)
        with atomic_open(self._training_metadata_path, "w") as f:
            f.write(json.dumps({"epoch": self._current_epoch, "batch": self._last_batch_seen}))

    def _should_save_on_batch(self, batch: int) -> bool:
        return _should_save_on_batch(self, batch)

    def on_train_end(self, logs=None):
        if self.delete_checkpoint and os.path.exists(self.backup_dir):
            shutil.rmtree(self.backup_dir)
