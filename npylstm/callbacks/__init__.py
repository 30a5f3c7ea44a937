"""Training callbacks with Keras's names, arguments and hooks (``keras.callbacks``).

A callback sees the model (``self.model``) and the logs ``fit`` passes to its hooks:
``on_train_batch_end(batch, logs)`` with the running epoch means so far, and
``on_epoch_end(epoch, logs)`` with ``loss``, every metric and their ``val_`` versions.
Setting ``self.model.stop_training = True`` ends training after the current batch, as in
Keras. One module per family of callbacks.

>>> cb = EarlyStopping(monitor="val_loss", patience=2)
>>> cb.patience, cb.monitor
(2, 'val_loss')
"""

from __future__ import annotations

from .base import Callback, CallbackList
from .checkpoint import BackupAndRestore, ModelCheckpoint
from .csv_logger import CSVLogger
from .history import EarlyStopping, History, TerminateOnNaN
from .lambda_callback import LambdaCallback
from .learning_rate import LearningRateScheduler, ReduceLROnPlateau
from .monitor import MonitorCallback
from .progbar import ProgbarLogger

__all__ = [
    "BackupAndRestore",
    "CSVLogger",
    "Callback",
    "CallbackList",
    "EarlyStopping",
    "History",
    "LambdaCallback",
    "LearningRateScheduler",
    "ModelCheckpoint",
    "MonitorCallback",
    "ProgbarLogger",
    "ReduceLROnPlateau",
    "TerminateOnNaN",
]
