"""Training for any model: compile, fit, evaluate, predict and Keras's ``*_on_batch``.

:class:`Trainer` is a mixin that :class:`npylstm.models.Model` inherits (as Keras's
``Model(Trainer, Layer)``). It is written against the model base's hooks only —
``_prepare_x`` / ``_prepare_y`` (coerce and check data), ``_loss_and_grads`` (forward,
loss, backward), ``_infer`` (a cache-free forward), ``_regularization``, ``weights``,
``output_shape``, ``_dtype`` and ``_error`` — so a functional model reuses it unchanged.

One training step, written out (what ``fit`` does for every batch)::

    y_pred, caches = forward through the layers (training=True: dropout active)
    loss  = loss_fn(y, y_pred) + Σ weight penalties + Σ activity penalties
    dy    = dloss/dy_pred
    for each layer, last to first: dy, grads = layer.backward(dy + d activity, cache)
    grads += d weight penalties
    optimizer.apply(weights, grads)            # Keras update rules, in place

Epoch numbers are computed as Keras computes them: the epoch ``loss`` (and every metric) is
the mean over the epoch's batches weighted by batch size, each batch evaluated with the
weights *before* its update; ``val_loss`` is computed after the epoch with the final weights.

The BLAS thread setting is ``npylstm.models.BLAS_THREADS`` (the same module object as
``npylstm.model``, so ``npylstm.model.BLAS_THREADS`` is that one setting too); the methods
below read it each time they are called.
"""

from __future__ import annotations

import copy
import functools
import numbers
import sys

import numpy as np

from .. import callbacks as callbacks_module
from .. import initializers, losses, optimizers
from .. import metrics as metrics_module
from .._blas import blas_threads

__all__ = ["Trainer"]

# The package npylstm.models, which holds the one BLAS_THREADS setting (it is in sys.modules,
# partly initialized, while its __init__ imports this module; the setting is read at call time).
_settings = sys.modules[__package__]


def _limit_blas_threads(method):
    """Run ``method`` with at most ``npylstm.models.BLAS_THREADS`` BLAS threads (needs
    threadpoolctl), the setting read when ``method`` is called."""

    @functools.wraps(method)
    def wrapper(*args, **kwargs):
        limit = _settings.BLAS_THREADS
        if limit is None:  # nothing to set (the common case: no context overhead)
            return method(*args, **kwargs)
        with blas_threads(limit):
            return method(*args, **kwargs)

    return wrapper


def _length(data) -> int:
    """The number of samples of prepared data: an array, or a list of arrays (one per
    input or output of a functional model)."""
    return len(data[0]) if isinstance(data, list) else len(data)


def _take(data, index):
    """The samples ``index`` (an index array or a slice) of prepared data."""
    return [d[index] for d in data] if isinstance(data, list) else data[index]


class Trainer:
    """compile / fit / evaluate / predict / ``*_on_batch`` over the model base's hooks.

    Attributes set by :meth:`__init__` (called by the model's ``__init__``):
    ``optimizer``, ``loss``, ``compiled_metrics``, ``compiled``, ``stop_training``,
    ``stop_reason`` (set by callbacks), ``history`` (the last ``fit``'s History) and the
    generator that shuffles the training samples.
    """

    def __init__(self):
        self.optimizer = None
        self.loss = None
        self.compiled_metrics: list = []
        self.compiled = False
        self.stop_training = False
        self.stop_reason: str | None = None
        self.history = None
        self._rng = np.random.default_rng(initializers._rng(None).integers(2**63))

    # -- compile ----------------------------------------------------------------------------
    def compile(self, optimizer="rmsprop", loss=None, metrics=None) -> None:
        """Choose the optimizer, loss and metrics (Keras names or objects).

        >>> from npylstm import Sequential
        >>> model = Sequential([__import__("npylstm").layers.Dense(1)])
        >>> model.compile(optimizer="adam", loss="mse", metrics=["mae"])
        >>> model.loss.name, [m.name for m in model.compiled_metrics]
        ('mse', ['mae'])
        """
        self.optimizer = optimizers.get(optimizer)
        self.loss = None if loss is None else losses.get(loss)
        if metrics is None:
            metrics = []
        elif isinstance(metrics, str) or not isinstance(metrics, list | tuple):
            metrics = [metrics]
        self.compiled_metrics = [metrics_module.get(m) for m in metrics]
        names = [m.name for m in self.compiled_metrics]
        if len(set(names)) != len(names):
            raise self._error(f"metric names must be unique, received {names}")
        self.compiled = True

    @property
    def metrics(self) -> list:
        return list(self.compiled_metrics)

    @property
    def metrics_names(self) -> list[str]:
        return ["loss", *[m.name for m in self.compiled_metrics]]

    def _assert_compiled(self, method: str) -> None:
        if not self.compiled:
            raise self._error(
                f"call compile(optimizer, loss) before {method}(), e.g. "
                "model.compile(optimizer='adam', loss='mse')"
            )
        if self.loss is None:
            raise self._error(
                f"{method}() needs a loss: compile(..., loss='mse') (or another loss name)"
            )

    # -- argument checks --------------------------------------------------------------------
    @staticmethod
    def _check_batch_size(batch_size) -> int:
        if batch_size is None:
            return 32
        if isinstance(batch_size, bool) or not isinstance(batch_size, numbers.Integral) or (
            batch_size < 1
        ):
            raise ValueError(f"expected batch_size to be an integer >= 1, received {batch_size!r}")
        return int(batch_size)

    @staticmethod
    def _check_verbose(verbose) -> int:
        if verbose == "auto":
            return 1
        if verbose not in (0, 1, 2):
            raise ValueError(f"expected verbose 'auto', 0, 1 or 2, received {verbose!r}")
        return int(verbose)

    # -- fit --------------------------------------------------------------------------------
    @_limit_blas_threads
    def fit(
        self,
        x=None,
        y=None,
        batch_size: int | None = None,
        epochs: int = 1,
        verbose="auto",
        callbacks=None,
        validation_split: float = 0.0,
        validation_data=None,
        shuffle: bool = True,
        initial_epoch: int = 0,
    ) -> callbacks_module.History:
        """Train for ``epochs`` epochs; returns a History (``.history`` per epoch).

        Parameters
        ----------
        x : (samples, timesteps, features) array_like
        y : (samples, ...) targets
        batch_size : samples per gradient step (default 32); the last batch may be smaller
        epochs : train until this epoch index (so ``epochs - initial_epoch`` epochs)
        verbose : 0 silent, 1 (or "auto") a progress bar per epoch, 2 one line per epoch
        callbacks : list of :class:`npylstm.callbacks.Callback`
        validation_split : fraction in [0, 1) of the *last* samples held out (before any
            shuffling) for ``val_loss``, as in Keras
        validation_data : ``(x_val, y_val)``; overrides ``validation_split``
        shuffle : reshuffle the training samples every epoch
        initial_epoch : epoch to start from (to resume)

        Returns
        -------
        History with ``history["loss"]``, ``["val_loss"]``, each metric and ``val_`` metric.
        """
        self._assert_compiled("fit")
        batch_size = self._check_batch_size(batch_size)
        for arg, value in (("epochs", epochs), ("initial_epoch", initial_epoch)):
            if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 0:
                raise self._error(f"expected {arg} to be an integer >= 0, received {value!r}")
        if (
            isinstance(validation_split, bool)
            or not isinstance(validation_split, numbers.Real)
            or not 0.0 <= validation_split < 1.0
        ):
            raise self._error(
                f"expected validation_split in [0, 1), received {validation_split!r}"
            )
        verbose = self._check_verbose(verbose)
        x = self._prepare_x(x)
        y = self._prepare_y(y, x)
        x, y, val = self._split_validation(x, y, validation_split, validation_data)
        if _length(x) == 0:
            raise self._error("fit() received 0 training samples")

        history = callbacks_module.History()
        cbs = list(callbacks or [])
        if verbose:
            cbs.append(callbacks_module.ProgbarLogger(verbose))
        steps = -(-_length(x) // batch_size)
        callback_list = callbacks_module.CallbackList(
            [history, *cbs], model=self,
            params={"epochs": epochs, "steps": steps, "verbose": verbose},
        )
        self.stop_training = False
        self.stop_reason = None
        callback_list.on_train_begin()
        epoch_logs: dict[str, float] = {}
        for epoch in range(initial_epoch, epochs):
            for metric in self.compiled_metrics:
                metric.reset()
            callback_list.on_epoch_begin(epoch)
            n = _length(x)
            order = self._rng.permutation(n) if shuffle else np.arange(n)
            loss_sum, seen = 0.0, 0
            logs: dict[str, float] = {}
            for step in range(steps):
                index = order[step * batch_size:(step + 1) * batch_size]
                callback_list.on_train_batch_begin(step)
                xb, yb = _take(x, index), _take(y, index)
                value, grads, y_pred, mask = self._loss_and_grads(
                    xb, yb, self.loss, training=True
                )
                for metric in self.compiled_metrics:
                    metric.update(yb, y_pred, mask=mask)
                self._apply_gradients(grads)
                loss_sum += value * len(index)
                seen += len(index)
                logs = {"loss": loss_sum / seen, **self._metric_results()}
                callback_list.on_train_batch_end(step, logs)
                if self.stop_training:
                    break
            epoch_logs = dict(logs)
            if val is not None:
                val_logs = self._evaluate_arrays(*val, batch_size)
                epoch_logs.update({f"val_{k}": v for k, v in val_logs.items()})
            callback_list.on_epoch_end(epoch, epoch_logs)
            if self.stop_training:
                break
        callback_list.on_train_end(epoch_logs)
        self.history = history
        return history

    def _apply_gradients(self, grads: list) -> None:
        """One optimizer update of the trainable weights, then each weight's constraint
        (Keras's ``BaseOptimizer.apply``: ``variable.assign(variable.constraint(variable))``
        after the gradients are applied)."""
        weights = self.trainable_weights
        self.optimizer.apply([w.value for w in weights], grads)
        for w in weights:
            if w.constraint is not None:
                w.assign(w.constraint(w.value))

    def _split_validation(self, x, y, validation_split: float, validation_data):
        """``(x, y, val)``: the training data and the validation pair ``(x_val, y_val)``
        (None without validation), from ``validation_data`` or else the *last*
        ``validation_split`` of the samples, before any shuffling (as Keras)."""
        if validation_data is not None:
            if not isinstance(validation_data, list | tuple) or len(validation_data) != 2:
                raise self._error(
                    "expected validation_data to be a tuple (x_val, y_val), received "
                    f"{type(validation_data).__name__}"
                    + (f" of length {len(validation_data)}"
                       if isinstance(validation_data, list | tuple) else "")
                )
            x_val = self._prepare_x(validation_data[0])
            return x, y, (x_val, self._prepare_y(validation_data[1], x_val))
        if validation_split:
            n = _length(x)
            split_at = int(np.floor(n * (1.0 - validation_split)))
            if split_at == 0 or split_at == n:
                raise self._error(
                    f"x has {n} samples, too few to split off "
                    f"validation_split={validation_split}: use more data or another fraction"
                )
            head, tail = slice(None, split_at), slice(split_at, None)
            return _take(x, head), _take(y, head), (_take(x, tail), _take(y, tail))
        return x, y, None

    def _metric_results(self) -> dict[str, float]:
        return {m.name: float(m.result()) for m in self.compiled_metrics}

    # -- evaluate / predict -----------------------------------------------------------------
    def _evaluate_arrays(self, x, y, batch_size: int) -> dict[str, float]:
        # fresh copies so validation does not disturb the training metrics' running state
        eval_metrics = [copy.deepcopy(m) for m in self.compiled_metrics]
        for metric in eval_metrics:
            metric.reset()
        loss_sum = 0.0
        for start in range(0, _length(x), batch_size):
            batch = slice(start, start + batch_size)
            xb, yb = _take(x, batch), _take(y, batch)
            y_pred, activity, mask = self._infer(xb)
            value, _ = self.loss(yb, y_pred, mask=mask)
            loss_sum += (value + activity + self._regularization()) * _length(xb)
            for metric in eval_metrics:
                metric.update(yb, y_pred, mask=mask)
        logs = {"loss": loss_sum / _length(x)}
        logs.update({m.name: float(m.result()) for m in eval_metrics})
        return logs

    @_limit_blas_threads
    def evaluate(self, x=None, y=None, batch_size: int | None = None, verbose="auto",
                 return_dict: bool = False):
        """The loss (plus regularization) and metrics on ``(x, y)``, batch-size weighted.

        Returns the loss as a float without metrics, else ``[loss, *metrics]`` (or a dict
        with ``return_dict=True``), as Keras does. ``verbose`` is checked but nothing is
        printed (Keras shows a progress bar); the same holds for :meth:`predict`.
        """
        self._assert_compiled("evaluate")
        batch_size = self._check_batch_size(batch_size)
        self._check_verbose(verbose)
        x = self._prepare_x(x)
        y = self._prepare_y(y, x)
        if _length(x) == 0:
            raise self._error("evaluate() received 0 samples")
        logs = self._evaluate_arrays(x, y, batch_size)
        if return_dict:
            return logs
        values = list(logs.values())
        return values[0] if len(values) == 1 else values

    @_limit_blas_threads
    def predict(self, x, batch_size: int | None = None, verbose="auto") -> np.ndarray:
        """The model's output for ``x``, computed in batches (dropout off).

        Parameters
        ----------
        x : (samples, timesteps, features) array_like
        batch_size : samples per forward pass (default 32)

        Returns
        -------
        (samples, ...) array of the output dtype (float32 by default)
        """
        batch_size = self._check_batch_size(batch_size)
        self._check_verbose(verbose)
        x = self._prepare_x(x)
        outputs = [
            self._infer(_take(x, slice(start, start + batch_size)))[0]
            for start in range(0, _length(x), batch_size)
        ]
        if not outputs:
            shapes = self.output_shape
            several = isinstance(shapes, list)
            empty = [np.zeros((0, *o[1:]), dtype=self._dtype())
                     for o in (shapes if several else [shapes])]
            return empty if several else empty[0]
        if isinstance(outputs[0], list):  # several outputs: one array each
            return [np.concatenate(parts, axis=0) for parts in zip(*outputs, strict=True)]
        return np.concatenate(outputs, axis=0)

    # -- one batch, as Keras's *_on_batch -----------------------------------------------------
    @_limit_blas_threads
    def predict_on_batch(self, x) -> np.ndarray:
        """The output for one batch ``x`` (dropout off), as Keras's ``predict_on_batch``."""
        return self._infer(self._prepare_x(x))[0]

    @_limit_blas_threads
    def train_on_batch(self, x, y, return_dict: bool = False):
        """One gradient update on one batch, as Keras's ``train_on_batch``.

        The metrics are reset first, so they describe this batch only. Returns the loss
        (plus regularization penalties) as a float without metrics, else
        ``[loss, *metrics]`` (a dict with ``return_dict=True``).
        """
        self._assert_compiled("train_on_batch")
        x = self._prepare_x(x)
        y = self._prepare_y(y, x)
        value, grads, y_pred, mask = self._loss_and_grads(x, y, self.loss, training=True)
        self._apply_gradients(grads)
        return self._batch_logs(value, y, y_pred, return_dict, mask)

    @_limit_blas_threads
    def test_on_batch(self, x, y, return_dict: bool = False):
        """The loss and metrics on one batch (dropout off), as Keras's ``test_on_batch``."""
        self._assert_compiled("test_on_batch")
        x = self._prepare_x(x)
        y = self._prepare_y(y, x)
        y_pred, activity, mask = self._infer(x)
        value = float(self.loss(y, y_pred, mask=mask)[0] + activity + self._regularization())
        return self._batch_logs(value, y, y_pred, return_dict, mask)

    def _batch_logs(self, value: float, y, y_pred, return_dict: bool, mask=None):
        for metric in self.compiled_metrics:
            metric.reset()
            metric.update(y, y_pred, mask=mask)
        logs = {"loss": value, **self._metric_results()}
        if return_dict:
            return logs
        values = list(logs.values())
        return values[0] if len(values) == 1 else values
