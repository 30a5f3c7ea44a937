"""Weight regularizers with Keras's names and defaults: l1, l2, l1_l2.

A regularizer adds ``penalty(w)`` to the loss; ``grad(w)`` is its derivative.

>>> import numpy as np
>>> L2(0.5)(np.array([1.0, 2.0]))
2.5
>>> get("l2").l2
0.01
"""

from __future__ import annotations

import numpy as np

__all__ = ["Regularizer", "L1", "L2", "L1L2", "get"]


class Regularizer:
    """``l1 * sum(|w|) + l2 * sum(w**2)``; subclasses only fix the defaults."""

    def __init__(self, l1: float = 0.0, l2: float = 0.0):
        for name, value in (("l1", l1), ("l2", l2)):
            if not np.isfinite(value) or value < 0:
                raise ValueError(
                    f"{type(self).__name__}: expected {name} >= 0 and finite, received {value!r}"
                )
        self.l1, self.l2 = float(l1), float(l2)

    def __call__(self, w: np.ndarray) -> float:
        penalty = 0.0
        if self.l1:
            penalty += self.l1 * float(np.sum(np.abs(w)))
        if self.l2:
            penalty += self.l2 * float(np.sum(np.square(w)))
        return penalty

    def grad(self, w: np.ndarray) -> np.ndarray:
        """Derivative of the penalty with respect to ``w`` (sign(0) = 0, as in Keras)."""
        g = np.zeros_like(w)
        if self.l1:
            g += w.dtype.type(self.l1) * np.sign(w)
        if self.l2:
            g += w.dtype.type(2 * self.l2) * w
        return g

    def get_config(self) -> dict:
        return {"l1": self.l1, "l2": self.l2}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


class L1(Regularizer):
    def __init__(self, l1: float = 0.01):
        super().__init__(l1=l1)

    def get_config(self):
        return {"l1": self.l1}


class L2(Regularizer):
    def __init__(self, l2: float = 0.01):
        super().__init__(l2=l2)

    def get_config(self):
        return {"l2": self.l2}


class L1L2(Regularizer):
    def __init__(self, l1: float = 0.0, l2: float = 0.0):
        super().__init__(l1=l1, l2=l2)


_BY_NAME = {"l1": L1, "l2": L2, "l1_l2": L1L2, "l1l2": L1L2}
_CLASS_NAMES = {"L1": "l1", "L2": "l2", "L1L2": "l1_l2"}


def get(identifier) -> Regularizer | None:
    """A regularizer from a Keras name (``"l2"``), a config dict, an instance, or None."""
    if identifier is None or isinstance(identifier, Regularizer):
        return identifier
    config = {}
    if isinstance(identifier, dict):
        config = dict(identifier.get("config") or {})
        identifier = identifier.get("class_name")
    if isinstance(identifier, str):
        name = _CLASS_NAMES.get(identifier, identifier.lower())
        if name in _BY_NAME:
            return _BY_NAME[name](**config)
    raise ValueError(
        f"Unknown regularizer {identifier!r}: expected 'l1', 'l2', 'l1_l2', a Regularizer or None"
    )
