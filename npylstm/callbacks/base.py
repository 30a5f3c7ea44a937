"""The callback base class and the list that calls every hook, as Keras 3.15.1's
``keras/src/callbacks/callback.py`` and ``callback_list.py`` define them.

A callback sees the model (``self.model``), the ``params`` of the run (Keras's keys, in
Keras's order: ``verbose``, ``epochs``, ``steps``) and the logs passed to its hooks.
Setting ``self.model.stop_training = True`` ends training after the current batch, as in
Keras.

The order ``fit`` calls the hooks in (recorded from Keras 3.15.1)::

    set_model, set_params, on_train_begin
    for each epoch:  on_epoch_begin
                     on_train_batch_begin, on_train_batch_end      (each batch)
                     on_test_begin, on_test_batch_begin / end ..., on_test_end  (validation)
                     on_epoch_end
    on_train_end                                  (only when training finished)

>>> import numpy as np
>>> class Counter(Callback):
...     def on_epoch_end(self, epoch, logs=None):
...         print(epoch, logs)
>>> callbacks = CallbackList([Counter()], epochs=2, steps=1, verbose=0)
>>> callbacks.on_epoch_end(0, {"loss": np.float32(0.5)})  # values become Python floats
0 {'loss': 0.5}
"""

from __future__ import annotations

__all__ = ["Callback", "CallbackList", "pythonify_logs"]


def pythonify_logs(logs) -> dict:
    """Keras's ``utils.python_utils.pythonify_logs``: ``None`` -> ``{}``, the keys sorted,
    nested dicts flattened, every value that ``float()`` accepts made a Python float."""
    result = {}
    for key, value in sorted((logs or {}).items()):
        if isinstance(value, dict):
            result.update(pythonify_logs(value))
            continue
        try:
            value = float(value)
        except (TypeError, ValueError):
            pass
        result[key] = value
    return result


class Callback:
    """Base class: override the hooks you need (all do nothing by default).

    Keras's hook set: ``on_{train,test,predict}_{begin,end}``, ``on_epoch_{begin,end}``,
    ``on_{train,test,predict}_batch_{begin,end}`` and the older aliases
    ``on_batch_begin`` / ``on_batch_end`` (called by the default ``on_train_batch_*``).

    >>> cb = Callback()
    >>> cb.set_params({"verbose": 0, "epochs": 3, "steps": 2})
    >>> cb.params["epochs"], cb.model is None
    (3, True)
    """

    def __init__(self):
        self.model = None
        self.params: dict = {}

    def set_model(self, model) -> None:
        self.model = model

    def set_params(self, params: dict) -> None:
        self.params = params

    def on_batch_begin(self, batch: int, logs=None): ...
    def on_batch_end(self, batch: int, logs=None): ...
    def on_epoch_begin(self, epoch: int, logs=None): ...
    def on_epoch_end(self, epoch: int, logs=None): ...

    def on_train_batch_begin(self, batch: int, logs=None):
        self.on_batch_begin(batch, logs=logs)  # Keras's backwards-compatibility alias

    def on_train_batch_end(self, batch: int, logs=None):
        self.on_batch_end(batch, logs=logs)

    def on_test_batch_begin(self, batch: int, logs=None): ...
    def on_test_batch_end(self, batch: int, logs=None): ...
    def on_predict_batch_begin(self, batch: int, logs=None): ...
    def on_predict_batch_end(self, batch: int, logs=None): ...
    def on_train_begin(self, logs=None): ...
    def on_train_end(self, logs=None): ...
    def on_test_begin(self, logs=None): ...
    def on_test_end(self, logs=None): ...
    def on_predict_begin(self, logs=None): ...
    def on_predict_end(self, logs=None): ...


def _flatten(callbacks) -> list:
    if isinstance(callbacks, list | tuple):
        return [cb for item in callbacks for cb in _flatten(item)]
    return [callbacks]


class CallbackList(Callback):
    """Calls every hook on each callback in order, as Keras's ``CallbackList``.

    Parameters
    ----------
    callbacks : Callback instances (nested lists are flattened, as Keras's ``tree.flatten``)
    add_history : append a :class:`~npylstm.callbacks.History` unless one is in the list
        (after the user's callbacks, as Keras)
    add_progbar : append a :class:`~npylstm.callbacks.ProgbarLogger` (``params["verbose"]``)
        unless one is in the list
    model : set on every callback (and ``model.history`` set to the History)
    **params : passed to every callback's ``set_params`` (``verbose``, ``epochs``,
        ``steps``); a ``params={...}`` dict is accepted too

    Each hook's logs go through :func:`pythonify_logs` first (``None`` becomes ``{}``).
    """

    def __init__(self, callbacks=None, add_history: bool = False, add_progbar: bool = False,
                 model=None, **params):
        super().__init__()
        if set(params) == {"params"} and isinstance(params["params"], dict | None):
            params = dict(params["params"] or {})
        self.callbacks: list[Callback] = []
        for cb in _flatten(callbacks) if callbacks else []:
            if not isinstance(cb, Callback):
                raise TypeError(
                    f"fit: expected callbacks to be npylstm.callbacks.Callback instances, "
                    f"received {type(cb).__name__}"
                )
            self.callbacks.append(cb)
        self._add_default_callbacks(add_history, add_progbar, params)
        self.set_model(model)
        self.set_params(params)

    def _add_default_callbacks(self, add_history: bool, add_progbar: bool, params) -> None:
        from .history import History
        from .progbar import ProgbarLogger

        self._history = next((cb for cb in self.callbacks if isinstance(cb, History)), None)
        self._progbar = next(
            (cb for cb in self.callbacks if isinstance(cb, ProgbarLogger)), None
        )
        if self._history is None and add_history:
            self._history = History()
            self.callbacks.append(self._history)
        if self._progbar is None and add_progbar:
            self._progbar = ProgbarLogger(params.get("verbose", 1))
            self.callbacks.append(self._progbar)

    @property
    def history(self):
        """The History in the list (added by ``add_history`` or the user's), else None."""
        return self._history

    def set_model(self, model) -> None:
        if model is None:
            return
        self.model = model
        if self._history is not None:
            model.history = self._history
        for cb in self.callbacks:
            cb.set_model(model)

    def set_params(self, params: dict) -> None:
        self.params = params
        if params:
            for cb in self.callbacks:
                cb.set_params(params)

    def _call(self, hook: str, *args, logs=None) -> None:
        logs = pythonify_logs(logs)
        for cb in self.callbacks:
            getattr(cb, hook)(*args, logs)

    def _call_batch(self, hook: str, batch: int, logs=None) -> None:
        logs = pythonify_logs(logs)
        for cb in self.callbacks:  # Keras passes a batch hook's logs by keyword
            getattr(cb, hook)(batch, logs=logs)

    def on_batch_begin(self, batch, logs=None):
        self._call_batch("on_batch_begin", batch, logs)

    def on_batch_end(self, batch, logs=None):
        self._call_batch("on_batch_end", batch, logs)

    def on_train_begin(self, logs=None):
        self._call("on_train_begin", logs=logs)

    def on_train_end(self, logs=None):
        self._call("on_train_end", logs=logs)

    def on_epoch_begin(self, epoch, logs=None):
        self._call("on_epoch_begin", epoch, logs=logs)

    def on_epoch_end(self, epoch, logs=None):
        self._call("on_epoch_end", epoch, logs=logs)

    def on_train_batch_begin(self, batch, logs=None):
        self._call_batch("on_train_batch_begin", batch, logs)

    def on_train_batch_end(self, batch, logs=None):
        self._call_batch("on_train_batch_end", batch, logs)

    def on_test_begin(self, logs=None):
        self._call("on_test_begin", logs=logs)

    def on_test_end(self, logs=None):
        self._call("on_test_end", logs=logs)

    def on_test_batch_begin(self, batch, logs=None):
        self._call_batch("on_test_batch_begin", batch, logs)

    def on_test_batch_end(self, batch, logs=None):
        self._call_batch("on_test_batch_end", batch, logs)

    def on_predict_begin(self, logs=None):
        self._call("on_predict_begin", logs=logs)

    def on_predict_end(self, logs=None):
        self._call("on_predict_end", logs=logs)

    def on_predict_batch_begin(self, batch, logs=None):
        self._call_batch("on_predict_batch_begin", batch, logs)

    def on_predict_batch_end(self, batch, logs=None):
        self._call_batch("on_predict_batch_end", batch, logs)
