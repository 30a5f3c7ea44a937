"""LambdaCallback: a callback from plain functions, as Keras 3.15.1's
``keras/src/callbacks/lambda_callback.py``.

>>> seen = []
>>> cb = LambdaCallback(on_epoch_end=lambda epoch, logs: seen.append((epoch, logs["loss"])),
...                     on_test_end=lambda logs: seen.append("test end"))
>>> cb.on_epoch_end(0, {"loss": 0.5}); cb.on_test_end({})
>>> seen
[(0, 0.5), 'test end']
"""

from __future__ import annotations

from .base import Callback

__all__ = ["LambdaCallback"]


class LambdaCallback(Callback):
    """Each given function replaces that hook (Keras's positional arguments: ``epoch, logs``
    for the epoch hooks, ``logs`` for begin/end, ``batch, logs`` for the batch hooks — the
    list passes a batch hook's ``logs`` by keyword, so name that argument ``logs``).

    Parameters
    ----------
    on_epoch_begin, on_epoch_end, on_train_begin, on_train_end, on_train_batch_begin,
    on_train_batch_end : functions (None keeps the hook empty)
    **kwargs : any other hook by name (``on_test_end=...``, ``on_predict_batch_end=...``);
        Keras sets every keyword as an attribute, and so does this.
    """

    def __init__(
        self,
        on_epoch_begin=None,
        on_epoch_end=None,
        on_train_begin=None,
        on_train_end=None,
        on_train_batch_begin=None,
        on_train_batch_end=None,
        **kwargs,
    ):
        super().__init__()
        self.__dict__.update(kwargs)
        hooks = {
            "on_epoch_begin": on_epoch_begin,
            "on_epoch_end": on_epoch_end,
            "on_train_begin": on_train_begin,
            "on_train_end": on_train_end,
            "on_train_batch_begin": on_train_batch_begin,
            "on_train_batch_end": on_train_batch_end,
        }
        for name, fn in hooks.items():
            if fn is not None:
                setattr(self, name, fn)
