"""Weight constraints with Keras's names, formulas and configs: ``keras.constraints``.

A constraint is a projection ``w -> w'`` applied to a weight after each optimizer update
(Keras's ``BaseOptimizer.apply``: ``variable.assign(variable.constraint(variable))``).
Followed: Keras 3.15.1 ``keras/src/constraints/constraints.py`` and ``__init__.py``
(``get``, ``serialize``, ``deserialize``; names in CamelCase and snake_case), the formulas
in Keras's operation order and with its ``epsilon()`` (1e-7), so float32 results match.
tf_keras's legacy aliases (``maxnorm``, ``nonneg``, ``unitnorm``) and its serialized form
(no ``module`` key) are read too.

>>> import numpy as np
>>> w = np.array([[3.0, 0.0], [4.0, 1.0]], dtype="float32")
>>> MaxNorm(max_value=2.0)(w).round(4)  # the first column's norm 5 becomes 2
array([[1.2, 0. ],
       [1.6, 1. ]], dtype=float32)
>>> get("non_neg")(np.array([-1.0, 2.0]))
array([0., 2.])
>>> serialize(UnitNorm(axis=1))["class_name"], get({"class_name": "UnitNorm"}).axis
('UnitNorm', 0)
"""

from __future__ import annotations

import inspect
import numbers

import numpy as np

__all__ = [
    "Constraint",
    "MaxNorm",
    "MinMaxNorm",
    "NonNeg",
    "UnitNorm",
    "deserialize",
    "get",
    "max_norm",
    "min_max_norm",
    "non_neg",
    "serialize",
    "unit_norm",
]

#: Keras's ``backend.epsilon()`` default, added to the norms before dividing.
EPSILON = 1e-7


def _check_number(owner: str, key: str, value, low: float = 0.0, high: float | None = None):
    """``value`` unchanged when it is a finite real in ``[low, high]``, else a clear error."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{owner}: expected {key} to be a number, received {value!r}")
    if not np.isfinite(value) or value < low or (high is not None and value > high):
        bound = f">= {low}" if high is None else f"in [{low}, {high}]"
        raise ValueError(f"{owner}: expected {key} {bound} and finite, received {value!r}")
    return value


def _check_axis(owner: str, axis):
    """An int or a list / tuple of ints (Keras's ``axis``), unchanged, else a clear error."""
    items = list(axis) if isinstance(axis, list | tuple) else [axis]
    if not items or any(isinstance(a, bool) or not isinstance(a, numbers.Integral)
                        for a in items):
        raise TypeError(f"{owner}: expected axis to be an int or a list of ints, "
                        f"received {axis!r}")
    return axis


class Constraint:
    """Base class: a stateless projection ``__call__(w) -> w`` (the identity here).

    A subclass overrides ``__call__`` and ``get_config``, as in Keras.

    >>> import numpy as np
    >>> Constraint()(np.ones(2))
    array([1., 1.])
    """

    def __call__(self, w):
        return w

    def get_config(self) -> dict:
        return {}

    @classmethod
    def from_config(cls, config: dict):
        return cls(**config)

    def _norms(self, w: np.ndarray) -> np.ndarray:
        """``sqrt(sum(w**2, axis, keepdims=True))``, Keras's norms along ``self.axis``."""
        axis = tuple(self.axis) if isinstance(self.axis, list | tuple) else self.axis
        try:
            return np.sqrt(np.sum(np.square(w), axis=axis, keepdims=True))
        except np.exceptions.AxisError as exc:
            raise ValueError(f"{type(self).__name__}: axis={self.axis!r} is out of range for "
                             f"a weight of shape {w.shape}") from exc

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"

    def __eq__(self, other) -> bool:
        return type(other) is type(self) and other.get_config() == self.get_config()

    __hash__ = object.__hash__


class MaxNorm(Constraint):
    """Each weight vector along ``axis`` rescaled to a norm of at most ``max_value``:
    ``w * (clip(norms, 0, max_value) / (epsilon + norms))``.

    >>> import numpy as np
    >>> MaxNorm(1.0, axis=1)(np.array([[3.0, 4.0]])).round(6)
    array([[0.6, 0.8]])
    """

    def __init__(self, max_value=2, axis=0):
        self.max_value = _check_number("MaxNorm", "max_value", max_value)
        self.axis = _check_axis("MaxNorm", axis)

    def __call__(self, w):
        w = np.asarray(w)
        norms = self._norms(w)
        desired = np.clip(norms, 0, self.max_value)
        return w * (desired / (EPSILON + norms))

    def get_config(self) -> dict:
        return {"max_value": self.max_value, "axis": self.axis}


class NonNeg(Constraint):
    """Negative weights set to zero: ``maximum(w, 0)``.

    >>> import numpy as np
    >>> NonNeg()(np.array([-0.5, 0.5], dtype="float32"))
    array([0. , 0.5], dtype=float32)
    """

    def __call__(self, w):
        return np.maximum(np.asarray(w), 0)


class UnitNorm(Constraint):
    """Each weight vector along ``axis`` divided by its norm: ``w / (epsilon + norms)``,
    computed as XLA computes Keras's (JAX backend) division by a broadcast norm:
    ``w * (1 / (epsilon + norms))``, so float32 results match Keras's bits.

    >>> import numpy as np
    >>> UnitNorm()(np.array([[3.0], [4.0]])).round(6)
    array([[0.6],
           [0.8]])
    """

    def __init__(self, axis=0):
        self.axis = _check_axis("UnitNorm", axis)

    def __call__(self, w):
        w = np.asarray(w)
        return w * (1 / (EPSILON + self._norms(w)))

    def get_config(self) -> dict:
        return {"axis": self.axis}


class MinMaxNorm(Constraint):
    """Norms along ``axis`` moved into ``[min_value, max_value]`` at ``rate``:
    ``desired = rate * clip(norms, min_value, max_value) + (1 - rate) * norms``, then
    ``w * (desired / (epsilon + norms))``.

    >>> import numpy as np
    >>> MinMaxNorm(min_value=1.0, max_value=2.0)(np.array([[0.3], [0.4]])).round(6)
    array([[0.6],
           [0.8]])
    """

    def __init__(self, min_value=0.0, max_value=1.0, rate=1.0, axis=0):
        self.min_value = _check_number("MinMaxNorm", "min_value", min_value)
        self.max_value = _check_number("MinMaxNorm", "max_value", max_value, low=min_value)
        self.rate = _check_number("MinMaxNorm", "rate", rate, high=1.0)
        self.axis = _check_axis("MinMaxNorm", axis)

    def __call__(self, w):
        w = np.asarray(w)
        norms = self._norms(w)
        desired = (self.rate * np.clip(norms, self.min_value, self.max_value)
                   + (1 - self.rate) * norms)
        return w * (desired / (EPSILON + norms))

    def get_config(self) -> dict:
        return {"min_value": self.min_value, "max_value": self.max_value, "rate": self.rate,
                "axis": self.axis}


# Keras's shortcut names are the classes themselves.
max_norm, non_neg, unit_norm, min_max_norm = MaxNorm, NonNeg, UnitNorm, MinMaxNorm

_CLASSES = (Constraint, MaxNorm, MinMaxNorm, NonNeg, UnitNorm)
#: Every name a config or a string may use: Keras's CamelCase and snake_case names, and
#: tf_keras's legacy aliases.
_BY_NAME = {
    **{cls.__name__: cls for cls in _CLASSES},
    "constraint": Constraint, "max_norm": MaxNorm, "min_max_norm": MinMaxNorm,
    "non_neg": NonNeg, "unit_norm": UnitNorm,
    "maxnorm": MaxNorm, "nonneg": NonNeg, "unitnorm": UnitNorm,
}


def _unknown(identifier) -> ValueError:
    names = sorted(k for k in _BY_NAME if k != "Constraint" and k != "constraint")
    return ValueError(f"Unknown constraint {identifier!r}: expected one of {names}, a "
                      f"serialized keras.constraints config, a Constraint, a callable or None")


def serialize(constraint):
    """A constraint as Keras 3 writes it in a layer config (None stays None).

    ``{"module": "keras.constraints", "class_name": "MaxNorm", "config": {...},
    "registered_name": None}``. Any other callable (a function, a user's subclass) has no
    Keras config here: it is returned as is, so a config rebuilt in memory (a
    Bidirectional's two directions) keeps it, and a file cannot hold it.
    """
    if constraint is None or type(constraint) not in _CLASSES:
        return constraint
    return {"module": "keras.constraints", "class_name": type(constraint).__name__,
            "config": constraint.get_config(), "registered_name": None}


def deserialize(config: dict) -> Constraint:
    """A constraint from its serialized dict: Keras 3's form or tf_keras's (no
    ``module``). Only the classes above are built; any other name is refused."""
    if not isinstance(config, dict) or not isinstance(config.get("class_name"), str):
        raise ValueError(f"Expected a serialized constraint dict with a 'class_name', "
                         f"received {config!r}")
    module, registered = config.get("module"), config.get("registered_name")
    cls = _BY_NAME.get(config["class_name"])
    if cls is None or (module is not None and not str(module).startswith("keras")) or (
            registered not in (None, config["class_name"])):
        raise _unknown(config["class_name"] if cls is None else config)
    kwargs = dict(config.get("config") or {})
    accepted = [p for p in inspect.signature(cls.__init__).parameters if p != "self"]
    unknown = sorted(set(kwargs) - set(accepted))
    if unknown:
        raise ValueError(f"{cls.__name__}: unknown config keys {unknown}; it accepts "
                         f"{accepted}")
    return cls(**kwargs)


def get(identifier):
    """A constraint from a name (``"max_norm"``, ``"MaxNorm"``), a serialized dict, a
    :class:`Constraint` (or its class), any other callable (used as is, as Keras), or None.
    """
    if identifier is None:
        return None
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if isinstance(identifier, str):
        if identifier not in _BY_NAME:
            raise _unknown(identifier)
        return _BY_NAME[identifier]()
    if inspect.isclass(identifier) and issubclass(identifier, Constraint):
        return identifier()
    if callable(identifier) and not inspect.isclass(identifier):
        return identifier
    raise ValueError(f"Could not interpret constraint identifier {identifier!r}: expected a "
                     f"name, a serialized dict, a Constraint, a callable or None")
