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

Followed: Keras 3.15.1 ``keras/src/trainers/trainer.py`` and ``backend/jax/trainer.py``
(fit / evaluate / predict, the order of the callback hooks, ``finalize_variable_values``
before ``on_train_end``, ``scale_loss``), ``trainers/compile_utils.py`` (``metrics`` are
unweighted, ``weighted_metrics`` get the sample weights, the loss always does) and the data
adapters (:mod:`npylstm.models.data`).

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
from . import data as data_module
from .data import _take

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
        self._initial_epoch = None  # set by BackupAndRestore; fit starts there (Keras)
        self._rng = np.random.default_rng(initializers._rng(None).integers(2**63))

    # -- compile ----------------------------------------------------------------------------
    def compile(self, optimizer="rmsprop", loss=None, metrics=None,
                weighted_metrics=None) -> None:
        """Choose the optimizer, loss and metrics (Keras names or objects).

        ``metrics`` ignore ``sample_weight`` / ``class_weight``; ``weighted_metrics`` are
        weighted by them (Keras's ``CompileMetrics``); a weighted metric named like an
        unweighted one is logged as ``weighted_<name>``, as in Keras.

        >>> from npylstm import Sequential
        >>> model = Sequential([__import__("npylstm").layers.Dense(1)])
        >>> model.compile(optimizer="adam", loss="mse", metrics=["mae"], weighted_metrics=["mae"])
        >>> model.loss.name, [m.name for m in model.compiled_metrics]
        ('mse', ['mae', 'weighted_mae'])
        """
        self.optimizer = optimizers.get(optimizer)
        self.loss = None if loss is None else losses.get(loss)
        plain = [metrics_module.get(m) for m in _as_list(metrics)]
        names = [m.name for m in plain]
        if len(set(names)) != len(names):
            raise self._error(f"metric names must be unique, received {names}")
        self.compiled_metrics = plain + _weighted(
            [metrics_module.get(m) for m in _as_list(weighted_metrics)], names, self._error)
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
    def _check_batch_size(batch_size, name: str = "batch_size") -> int | None:
        if batch_size is None:
            return None
        if isinstance(batch_size, bool) or not isinstance(batch_size, numbers.Integral) or (
            batch_size < 1
        ):
            raise ValueError(f"expected {name} to be an integer >= 1, received {batch_size!r}")
        return int(batch_size)

    @staticmethod
    def _check_verbose(verbose) -> int:
        """``"auto"`` is 1 for fit, evaluate and predict, as Keras 3 (which would use 2 only
        under a ``tf.distribute`` parameter-server strategy)."""
        if verbose == "auto":
            return 1
        if isinstance(verbose, bool) or verbose not in (0, 1, 2):
            raise ValueError(f"expected verbose 'auto', 0, 1 or 2, received {verbose!r}")
        return int(verbose)

    # -- data ---------------------------------------------------------------------------------
    def _arrays(self, x, y, sample_weight, class_weight, owner: str):
        """Prepared ``(x, y, sample_weight)`` arrays (``y`` None for predict)."""
        x = self._prepare_x(x)
        if y is None:
            return x, None, None
        y = self._prepare_y(y, x)
        sample_weight = data_module.prepare_sample_weight(self, sample_weight, _length(x))
        return x, y, data_module.class_weights(self, y, class_weight, sample_weight, owner)

    def _batches(self, x, y, sample_weight, batch_size, steps, steps_name: str, owner: str,
                 shuffle=False, class_weight=None, targets: bool = True):
        """``(EpochIterator, prepared, samples)``: arrays are prepared once (``prepared``
        True), batches from an iterable one at a time."""
        if data_module.is_iterable_data(x):
            source = data_module.IterableData(x, f"{self._label()}: {owner}", shuffle,
                                              self._rng)
            source.check_args(y, sample_weight, class_weight, shuffle, steps_name, steps)
            if class_weight is not None:
                data_module.check_class_weight(class_weight, data_module.classes(self), owner)
            return data_module.EpochIterator(source, steps), False
        if targets:
            x, y, sample_weight = self._arrays(x, y, sample_weight, class_weight, owner)
        else:
            x = self._prepare_x(x)
        if _length(x) == 0:
            raise self._error(f"{owner}() received 0 samples")
        source = data_module.ArrayData(x, y, sample_weight, batch_size, steps, shuffle,
                                       self._rng)
        return data_module.EpochIterator(source, steps), True

    def _batch(self, batch, prepared: bool, class_weight=None, targets: bool = True):
        """One batch ``(x, y, sample_weight)`` ready for the model."""
        if prepared:
            return batch
        if not isinstance(batch, tuple) and not (isinstance(batch, list) and len(batch) in (
                2, 3) and not targets):
            if targets or isinstance(batch, dict | list):
                raise self._error(
                    "When passing a Python generator to a Keras model, the generator must "
                    "return a tuple, either (input,) or (inputs, targets) or (inputs, "
                    f"targets, sample_weights). Received: {type(batch).__name__}")
        x, y, sample_weight = data_module.unpack_x_y_sample_weight(batch, self._label())
        if not targets:
            return self._prepare_x(x), None, None
        if y is None:
            raise self._error("each batch must hold targets: (x, y) or (x, y, sample_weight), "
                              "received (x,) only")
        return self._arrays(x, y, sample_weight, class_weight, "fit")

    # -- one step ---------------------------------------------------------------------------
    def _train_step(self, x, y, sample_weight) -> float:
        value, grads, y_pred, mask = self._loss_and_grads(x, y, self.loss, training=True,
                                                          sample_weight=sample_weight)
        _update(self.compiled_metrics, y, y_pred, sample_weight, mask)
        factor = getattr(self.optimizer, "loss_scale_factor", None)
        if factor is not None:  # Keras's scale_loss: the gradient of loss * factor
            grads = [g * g.dtype.type(factor) for g in grads]
        self._apply_gradients(grads)
        return value

    def _test_step(self, x, y, sample_weight, metrics) -> float:
        y_pred, activity, mask = self._infer(x)
        value, _ = (self.loss(y, y_pred, mask=mask) if sample_weight is None
                    else self.loss(y, y_pred, sample_weight, mask=mask))
        _update(metrics, y, y_pred, sample_weight, mask)
        return float(value + activity + self._regularization())

    def _apply_gradients(self, grads: list) -> None:
        """One optimizer update of the trainable weights, then each weight's constraint
        (Keras's ``BaseOptimizer.apply``: ``variable.assign(variable.constraint(variable))``
        after the gradients are applied)."""
        weights = self.trainable_weights
        if not getattr(self.optimizer, "built", False):  # built once, on the first update
            self._build_optimizer()
        self.optimizer.apply([w.value for w in weights], grads)
        for w in weights:
            if w.constraint is not None:
                w.assign(w.constraint(w.value))

    def _metric_results(self, metrics=None) -> dict[str, float]:
        return {m.name: float(m.result()) for m in (
            self.compiled_metrics if metrics is None else metrics)}

    def _callbacks(self, callbacks, verbose: int, epochs: int, steps, history=None):
        if isinstance(callbacks, callbacks_module.CallbackList):
            return callbacks
        cbs = list(callbacks or [])
        if history is not None:
            cbs.append(history)
        if verbose and not any(isinstance(c, callbacks_module.ProgbarLogger) for c in cbs):
            cbs.append(callbacks_module.ProgbarLogger(verbose))
        return callbacks_module.CallbackList(
            cbs, model=self, params={"verbose": verbose, "epochs": epochs, "steps": steps})

    # -- fit --------------------------------------------------------------------------------
    @_limit_blas_threads
    def fit(self, x=None, y=None, batch_size: int | None = None, epochs: int = 1,
            verbose="auto", callbacks=None, validation_split: float = 0.0,
            validation_data=None, shuffle: bool = True, class_weight=None,
            sample_weight=None, initial_epoch: int = 0, steps_per_epoch: int | None = None,
            validation_steps: int | None = None, validation_batch_size: int | None = None,
            validation_freq=1) -> callbacks_module.History:
        """Train for ``epochs`` epochs; returns a History (``.history`` per epoch).

        Parameters
        ----------
        x : (samples, timesteps, features) array_like (a list / dict per input of a
            functional model), or batches: a Python generator, an iterator or iterable, or a
            PyDataset-like object (``__getitem__`` and ``__len__``), each batch ``(x, y)`` or
            ``(x, y, sample_weight)``
        y : (samples, ...) targets (None with batches: they are part of each batch)
        batch_size : samples per gradient step (default 32); ignored for batches
        epochs : train until this epoch index (so ``epochs - initial_epoch`` epochs)
        verbose : 0 silent, 1 (or "auto") a progress bar per epoch, 2 one line per epoch
        callbacks : list of :class:`npylstm.callbacks.Callback`
        validation_split : fraction in [0, 1) of the *last* samples (and their sample
            weights) held out before any shuffling, as in Keras (arrays only)
        validation_data : ``(x_val, y_val)`` or ``(x_val, y_val, sample_weight_val)``, or
            batches as for ``x``; overrides ``validation_split``
        shuffle : reshuffle the training samples every epoch (arrays; a PyDataset-like
            is shuffled batch by batch; a generator ignores it with Keras's warning)
        class_weight : {class id: weight} for a single output of one class per sample
            (one-hot, sparse or one sigmoid unit); each sample weighs its class's weight
        sample_weight : (samples,) per sample, or (samples, timesteps) per timestep of a
            sequence output (multiplied with the output's mask as Keras does); for
            several outputs a list / dict with one array per output, or one per-sample
            array for all
        initial_epoch : epoch to start from (to resume)
        steps_per_epoch : batches per epoch (required for an infinite source); batches then
            carry over from one epoch to the next, as in Keras
        validation_steps : validation batches per evaluation (required for an infinite
            validation source)
        validation_batch_size : batch size of the validation arrays (default batch_size)
        validation_freq : validate every ``validation_freq`` epochs, or after the epochs
            (counted from 1) in a list

        Returns
        -------
        History with ``history["loss"]``, ``["val_loss"]``, each metric and ``val_`` metric.
        """
        self._assert_compiled("fit")
        batch_size = self._check_batch_size(batch_size)
        validation_batch_size = self._check_batch_size(validation_batch_size,
                                                       "validation_batch_size")
        for arg, value, low in (("epochs", epochs, 0), ("initial_epoch", initial_epoch, 0),
                                ("steps_per_epoch", steps_per_epoch, 1),
                                ("validation_steps", validation_steps, 1)):
            if value is None and arg in ("steps_per_epoch", "validation_steps"):
                continue
            if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low:
                raise self._error(f"expected {arg} to be an integer >= {low}, received {value!r}")
        freq_ok = (isinstance(validation_freq, numbers.Integral) and validation_freq >= 1) or (
            isinstance(validation_freq, list | tuple) and all(
                isinstance(e, numbers.Integral) for e in validation_freq))
        if isinstance(validation_freq, bool) or not freq_ok:
            raise self._error("expected validation_freq to be an integer >= 1 or a list of "
                              f"epochs, received {validation_freq!r}")
        if (isinstance(validation_split, bool) or not isinstance(validation_split, numbers.Real)
                or not 0.0 <= validation_split < 1.0):
            raise self._error(f"expected validation_split in [0, 1), received "
                              f"{validation_split!r}")
        verbose = self._check_verbose(verbose)
        iterable = data_module.is_iterable_data(x)
        if validation_split and validation_data is None:
            if iterable:
                raise self._error("validation_split is only supported for arrays; give "
                                  "validation_data for a generator or PyDataset")
            # class weights apply to the training part only (Keras splits before them)
            x, y, sample_weight = self._arrays(x, y, sample_weight, None, "fit")
            (x, y, sample_weight), validation_data = self._split(x, y, sample_weight,
                                                                 validation_split)
        train, prepared = self._batches(x, y, sample_weight, batch_size, steps_per_epoch,
                                        "steps_per_epoch", "fit", shuffle, class_weight)
        batch_class_weight = None if prepared else class_weight
        val = None
        if validation_data is not None:
            val = self._validation(validation_data, validation_batch_size or batch_size,
                                   validation_steps)

        history = callbacks_module.History()
        callback_list = self._callbacks(callbacks, verbose, epochs, train.num_batches, history)
        self.stop_training = False
        self.stop_reason = None
        callback_list.on_train_begin()
        # a callback may choose the first epoch (BackupAndRestore), as in Keras
        initial_epoch = self._initial_epoch or initial_epoch
        epoch_logs: dict[str, float] = {}
        finished = False
        try:
            for epoch in range(initial_epoch, epochs):
                _reset(self.compiled_metrics)
                callback_list.on_epoch_begin(epoch)
                loss_sum, seen, steps = 0.0, 0, 0
                logs: dict[str, float] = {}
                for step, batch in train:
                    callback_list.on_train_batch_begin(step)
                    xb, yb, swb = self._batch(batch, prepared, batch_class_weight)
                    n = _length(xb)
                    loss_sum += self._train_step(xb, yb, swb) * n
                    seen, steps = seen + n, steps + 1
                    logs = {"loss": loss_sum / seen, **self._metric_results()}
                    callback_list.on_train_batch_end(step, logs)
                    if self.stop_training:
                        break
                if steps == 0:  # the data ran out (Keras warned): nothing to train on
                    self.stop_training = True
                    break
                epoch_logs = dict(logs)
                if val is not None and _should_eval(epoch, validation_freq):
                    val_logs = self._evaluate_loop(*val, callback_list)
                    epoch_logs.update({f"val_{k}": v for k, v in val_logs.items()})
                callback_list.on_epoch_end(epoch, epoch_logs)
                if self.stop_training:
                    break
            finished = True
        finally:
            finalize = getattr(self.optimizer, "finalize_variable_values", None)
            if callable(finalize) and epochs > 0:
                finalize([w.value for w in self.trainable_weights])
        if finished:
            callback_list.on_train_end(epoch_logs)
        self.history = history
        return history

    def _split(self, x, y, sample_weight, validation_split: float):
        """The first ``1 - validation_split`` of the samples for training and the last for
        validation, sample weights alike (Keras's ``train_validation_split``)."""
        n = _length(x)
        split_at = int(np.floor(n * (1.0 - validation_split)))
        if split_at == 0 or split_at == n:
            raise self._error(
                f"x has {n} samples, too few to split off "
                f"validation_split={validation_split}: use more data or another fraction"
            )
        head, tail = slice(None, split_at), slice(split_at, None)
        return ((_take(x, head), _take(y, head), _take(sample_weight, head)),
                (_take(x, tail), _take(y, tail), _take(sample_weight, tail)))

    def _validation(self, validation_data, batch_size, steps):
        """``(EpochIterator, prepared)`` for ``validation_data``, made once per fit and
        reused by every evaluation (Keras's cached ``_eval_epoch_iterator``)."""
        if data_module.is_iterable_data(validation_data):
            source = data_module.IterableData(validation_data,
                                              f"{self._label()}: fit validation_data")
            if steps is None and source.infinite:
                raise ValueError(data_module.INFINITE.format(
                    owner=source.owner, what="validation_data", steps="validation_steps"))
            return data_module.EpochIterator(source, steps), False
        if not isinstance(validation_data, list | tuple) or len(validation_data) not in (2, 3):
            raise self._error(
                "expected validation_data to be a tuple (x_val, y_val) or (x_val, y_val, "
                f"val_sample_weight), received {type(validation_data).__name__}"
                + (f" of length {len(validation_data)}"
                   if isinstance(validation_data, list | tuple) else ""))
        x_val, y_val, sw_val = data_module.unpack_x_y_sample_weight(tuple(validation_data))
        return self._batches(x_val, y_val, sw_val, batch_size, steps, "validation_steps",
                             "fit validation_data")

    # -- evaluate / predict -----------------------------------------------------------------
    def _evaluate_loop(self, data, prepared: bool, callback_list) -> dict[str, float]:
        """One evaluation pass with the test hooks; logs as Keras's ``evaluate`` returns
        them (the loss and the metrics, batch-size weighted)."""
        # fresh copies so validation does not disturb the training metrics' running state
        metrics = [copy.deepcopy(m) for m in self.compiled_metrics]
        _reset(metrics)
        callback_list.on_test_begin()
        loss_sum, seen = 0.0, 0
        logs: dict[str, float] = {}
        for step, batch in data:
            callback_list.on_test_batch_begin(step)
            xb, yb, swb = self._batch(batch, prepared)
            n = _length(xb)
            loss_sum += self._test_step(xb, yb, swb, metrics) * n
            seen += n
            logs = {"loss": loss_sum / seen, **self._metric_results(metrics)}
            callback_list.on_test_batch_end(step, logs)
        if not seen:
            raise self._error("evaluation received no batches: the data ran out (give "
                              "steps, or a source that can be iterated again)")
        callback_list.on_test_end(logs)
        return logs

    @_limit_blas_threads
    def evaluate(self, x=None, y=None, batch_size: int | None = None, verbose="auto",
                 sample_weight=None, steps: int | None = None, callbacks=None,
                 return_dict: bool = False):
        """The loss (plus regularization) and metrics on ``(x, y)``, batch-size weighted.

        ``x`` may be batches as in :meth:`fit` (then ``y`` and ``sample_weight`` are part
        of each batch), ``steps`` limits the batches (required for an infinite source).
        Returns the loss as a float without metrics, else ``[loss, *metrics]`` (or a dict
        with ``return_dict=True``), as Keras does. ``verbose``: Keras's progress bar
        (1 or "auto"), one line at the end (2), nothing (0); ``callbacks`` get the
        ``on_test_*`` hooks.
        """
        self._assert_compiled("evaluate")
        batch_size = self._check_batch_size(batch_size)
        verbose = self._check_verbose(verbose)
        data, prepared = self._batches(x, y, sample_weight, batch_size, steps, "steps",
                                       "evaluate")
        callback_list = self._callbacks(callbacks, verbose, 1, data.num_batches)
        logs = self._evaluate_loop(data, prepared, callback_list)
        if return_dict:
            return logs
        values = list(logs.values())
        return values[0] if len(values) == 1 else values

    @_limit_blas_threads
    def predict(self, x, batch_size: int | None = None, verbose="auto", steps=None,
                callbacks=None) -> np.ndarray:
        """The model's output for ``x``, computed in batches (dropout off).

        Parameters
        ----------
        x : (samples, timesteps, features) array_like, or batches (each ``x`` or a tuple
            whose first element is ``x``)
        batch_size : samples per forward pass (default 32)
        verbose : 0, 1 / "auto" (a progress bar) or 2 (one line), as :meth:`evaluate`
        steps : at most this many batches (required for an infinite source)
        callbacks : get the ``on_predict_*`` hooks (``on_predict_batch_end`` logs
            ``{"outputs": batch_outputs}``, as Keras)

        Returns
        -------
        (samples, ...) array of the output dtype (float32 by default)
        """
        batch_size = self._check_batch_size(batch_size)
        verbose = self._check_verbose(verbose)
        if not data_module.is_iterable_data(x) and _length(x := self._prepare_x(x)) == 0:
            shapes = self.output_shape  # no samples: empty outputs of the right shapes
            empty = [np.zeros((0, *o[1:]), dtype=self._dtype())
                     for o in (shapes if isinstance(shapes, list) else [shapes])]
            return empty if isinstance(shapes, list) else empty[0]
        data, prepared = self._batches(x, None, None, batch_size, steps, "steps", "predict",
                                       targets=False)
        callback_list = self._callbacks(callbacks, verbose, 1, data.num_batches)
        callback_list.on_predict_begin()
        outputs = []
        for step, batch in data:
            callback_list.on_predict_batch_begin(step)
            xb = batch[0] if prepared else self._batch(batch, False, targets=False)[0]
            outputs.append(self._infer(xb)[0])
            callback_list.on_predict_batch_end(step, {"outputs": outputs[-1]})
        callback_list.on_predict_end()
        if isinstance(outputs[0], list):  # several outputs: one array each
            return [np.concatenate(parts, axis=0) for parts in zip(*outputs, strict=True)]
        return np.concatenate(outputs, axis=0)

    # -- one batch, as Keras's *_on_batch -----------------------------------------------------
    @_limit_blas_threads
    def predict_on_batch(self, x) -> np.ndarray:
        """The output for one batch ``x`` (dropout off), as Keras's ``predict_on_batch``."""
        return self._infer(self._prepare_x(x))[0]

    @_limit_blas_threads
    def train_on_batch(self, x, y, sample_weight=None, class_weight=None,
                       return_dict: bool = False):
        """One gradient update on one batch, as Keras's ``train_on_batch``.

        The metrics are reset first, so they describe this batch only. Returns the loss
        (plus regularization penalties) as a float without metrics, else
        ``[loss, *metrics]`` (a dict with ``return_dict=True``).
        """
        self._assert_compiled("train_on_batch")
        if class_weight is not None and sample_weight is not None:
            raise self._error("Arguments `sample_weight` and `class_weight` cannot be "
                              "specified at the same time.")
        x, y, sample_weight = self._arrays(x, y, sample_weight, class_weight, "train_on_batch")
        _reset(self.compiled_metrics)
        value = self._train_step(x, y, sample_weight)
        return _flatten({"loss": value, **self._metric_results()}, return_dict)

    @_limit_blas_threads
    def test_on_batch(self, x, y, sample_weight=None, return_dict: bool = False):
        """The loss and metrics on one batch (dropout off), as Keras's ``test_on_batch``."""
        self._assert_compiled("test_on_batch")
        x, y, sample_weight = self._arrays(x, y, sample_weight, None, "test_on_batch")
        _reset(self.compiled_metrics)
        value = self._test_step(x, y, sample_weight, self.compiled_metrics)
        return _flatten({"loss": value, **self._metric_results()}, return_dict)


def _flatten(logs: dict, return_dict: bool):
    if return_dict:
        return logs
    values = list(logs.values())
    return values[0] if len(values) == 1 else values


def _as_list(metrics) -> list:
    if metrics is None:
        return []
    if isinstance(metrics, str) or not isinstance(metrics, list | tuple):
        return [metrics]
    return list(metrics)


def _weighted(metrics: list, taken: list[str], error) -> list:
    """``metrics`` marked as weighted (they receive the sample weights); a name already
    taken becomes ``weighted_<name>`` (Keras's ``CompileMetrics.result``)."""
    out = []
    taken = list(taken)
    for metric in metrics:
        if metric.name in taken:
            metric = copy.copy(metric)
            metric.name = f"weighted_{metric.name}"
        if metric.name in taken:
            raise error(f"metric names must be unique, received {metric.name!r} twice")
        metric.weighted = True
        taken.append(metric.name)
        out.append(metric)
    return out


def _reset(metrics) -> None:
    for metric in metrics:
        metric.reset()


def _update(metrics, y, y_pred, sample_weight, mask) -> None:
    """Keras's ``compute_metrics``: ``weighted_metrics`` (and per-output loss trackers) get
    the sample weights, ``metrics`` do not; every metric sees the output's mask."""
    for metric in metrics:
        if sample_weight is not None and getattr(metric, "weighted", False):
            metric.update(y, y_pred, sample_weight, mask=mask)
        else:  # (a metric written before sample weights still works)
            metric.update(y, y_pred, mask=mask)


def _should_eval(epoch: int, validation_freq) -> bool:
    """Keras's ``Trainer._should_eval``."""
    if isinstance(validation_freq, numbers.Integral):
        return (epoch + 1) % int(validation_freq) == 0
    return epoch + 1 in validation_freq
