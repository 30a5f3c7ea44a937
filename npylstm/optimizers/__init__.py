"""Keras 3 optimizers with Keras's update rules, arguments and defaults.

``optimizer.apply(weights, grads)`` updates weight arrays in place as Keras's
``apply_gradients`` does (see :mod:`npylstm.optimizers.base` for the order of the steps).
One module per optimizer (its update rule written once, as in ``keras/src/optimizers/``);
:func:`get` resolves Keras's names and configs.
"""

from __future__ import annotations

from .adadelta import Adadelta
from .adafactor import Adafactor
from .adagrad import Adagrad
from .adam import Adam
from .adamax import Adamax
from .adamw import AdamW
from .base import Optimizer
from .ftrl import Ftrl
from .lion import Lion
from .nadam import Nadam
from .rmsprop import RMSprop
from .sgd import SGD

__all__ = [
    "Optimizer", "SGD", "Adam", "AdamW", "Nadam", "Adamax", "RMSprop", "Adagrad", "Adadelta",
    "Ftrl", "Lion", "Adafactor", "get", "names",
]


_CLASSES = (SGD, Adam, AdamW, Nadam, Adamax, RMSprop, Adagrad, Adadelta, Ftrl, Lion, Adafactor)
_BY_NAME = {cls.__name__.lower(): cls for cls in _CLASSES}
# Keras 3 optimizers this module does not implement (named in the error message).
_KERAS_ONLY = ("muon", "schedulefreeadamw", "lossscaleoptimizer", "multioptimizer")


def names() -> list[str]:
    """The optimizer names :func:`get` accepts (case-insensitive, as in Keras)."""
    return sorted(_BY_NAME)


def get(identifier) -> Optimizer:
    """An optimizer from a Keras name (``"adam"``, case-insensitive), a config dict, or an
    instance (returned unchanged).

    >>> get("Adam").get_config()["learning_rate"], get("sgd").learning_rate  # float32 values
    (0.0010000000474974513, 0.009999999776482582)
    """
    if isinstance(identifier, Optimizer):
        return identifier
    config = {}
    if isinstance(identifier, dict) and "class_name" in identifier:
        config = dict(identifier.get("config") or {})
        identifier = identifier["class_name"]
    if isinstance(identifier, str):
        key = identifier.lower()
        if key in _BY_NAME:
            return _BY_NAME[key].from_config(config)
        extra = (
            f" ({identifier!r} is a Keras optimizer that npylstm does not implement)"
            if key in _KERAS_ONLY
            else ""
        )
        raise ValueError(
            f"Unknown optimizer {identifier!r}{extra}. Expected one of: {', '.join(names())}"
        )
    raise TypeError(
        f"optimizer: expected an optimizer name (str), an Optimizer or a config dict, "
        f"received {identifier!r} of type {type(identifier).__name__}"
    )
