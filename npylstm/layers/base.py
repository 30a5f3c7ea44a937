"""What every npylstm layer shares: names, weights, building, and the forward/backward contract.

A layer owns its weights and nothing else. Its two computing methods are pure:

* ``forward(x, training=False, rng=None) -> (y, cache)``
* ``backward(dy, cache) -> (dx, grads)`` with ``grads`` in ``get_weights()`` order.

``__call__`` is ``forward`` without the cache, like calling a Keras layer.
"""

from __future__ import annotations

import re
from collections import defaultdict

import numpy as np

__all__ = ["Layer", "Weight", "clear_session"]

_name_counts: defaultdict[str, int] = defaultdict(int)


def clear_session() -> None:
    """Reset automatic layer names (``lstm``, ``lstm_1``, ...), like ``keras.backend.clear_session``."""
    _name_counts.clear()


def _snake_case(name: str) -> str:
    """Keras's class-name to layer-name rule: ``LSTM -> lstm``, ``InputLayer -> input_layer``."""
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower()


class Weight:
    """A named weight array (Keras's Variable, minus the framework).

    ``value`` is the array itself: optimizers update it in place.
    """

    def __init__(self, name: str, value: np.ndarray, path: str = ""):
        self.name = name
        self.value = value
        self.path = path or name

    @property
    def shape(self) -> tuple[int, ...]:
        return self.value.shape

    @property
    def dtype(self) -> np.dtype:
        return self.value.dtype

    def numpy(self) -> np.ndarray:
        return self.value

    def assign(self, value: np.ndarray) -> None:
        value = np.asarray(value, dtype=self.value.dtype)
        if value.shape != self.value.shape:
            raise ValueError(
                f"Weight '{self.path}': expected shape {self.value.shape}, received {value.shape}"
            )
        self.value[...] = value

    def __repr__(self) -> str:
        return f"<Weight path={self.path} shape={self.shape} dtype={self.dtype}>"


class Layer:
    """Base class. Subclasses define ``build``, ``forward``, ``backward``,
    ``compute_output_shape`` and ``get_config``."""

    def __init__(self, name: str | None = None, dtype="float32", input_shape=None):
        base = _snake_case(type(self).__name__)
        if name is None:
            n = _name_counts[base]
            _name_counts[base] += 1
            name = base if n == 0 else f"{base}_{n}"
        self.name = name
        self.dtype = np.dtype(dtype)
        if self.dtype not in (np.float32, np.float64):
            raise ValueError(
                f"{self._label()}: expected dtype float32 or float64, received {self.dtype}"
            )
        # Keras accepts input_shape= on a layer (without the batch axis); Sequential uses it.
        self._input_shape_arg = None if input_shape is None else tuple(input_shape)
        self._weights: list[Weight] = []
        self.built = False
        self.input_shape = None  # with the batch axis, once built

    # -- names and errors -------------------------------------------------------------------
    def _label(self) -> str:
        return f"{type(self).__name__} '{getattr(self, 'name', '?')}'"

    def _error(self, message: str) -> ValueError:
        return ValueError(f"{self._label()}: {message}")

    # -- weights ----------------------------------------------------------------------------
    def add_weight(self, name: str, value: np.ndarray) -> Weight:
        weight = Weight(name, np.ascontiguousarray(value, dtype=self.dtype), f"{self.name}/{name}")
        self._weights.append(weight)
        return weight

    @property
    def weights(self) -> list[Weight]:
        return list(self._weights)

    @property
    def trainable_weights(self) -> list[Weight]:
        return list(self._weights)

    def get_weights(self) -> list[np.ndarray]:
        """Copies of the weight arrays, in Keras's order."""
        return [w.value.copy() for w in self._weights]

    def set_weights(self, weights) -> None:
        """Replace the weights (a list in ``get_weights()`` order); shapes must match."""
        weights = list(weights)
        if len(weights) != len(self._weights):
            names = [w.name for w in self._weights]
            raise self._error(
                f"set_weights expected {len(self._weights)} arrays {names}, "
                f"received {len(weights)}"
            )
        arrays = [np.asarray(w) for w in weights]
        for weight, array in zip(self._weights, arrays, strict=True):
            if array.shape != weight.shape:
                raise self._error(
                    f"set_weights: '{weight.name}' expected shape {weight.shape}, "
                    f"received {array.shape}"
                )
        for weight, array in zip(self._weights, arrays, strict=True):
            weight.assign(array)

    def count_params(self) -> int:
        if not self.built:
            raise self._error("count_params() needs a built layer: call build() or the layer first")
        return int(sum(w.value.size for w in self._weights))

    # -- calling ----------------------------------------------------------------------------
    def build(self, input_shape) -> None:
        self.input_shape = tuple(input_shape)
        self.built = True

    def forward(self, x, training: bool = False, rng=None):  # pragma: no cover - abstract
        raise NotImplementedError

    def backward(self, dy, cache):  # pragma: no cover - abstract
        raise NotImplementedError

    def compute_output_shape(self, input_shape):  # pragma: no cover - abstract
        raise NotImplementedError

    def regularization_loss(self) -> float:
        """Sum of this layer's weight-regularizer penalties (0 without regularizers)."""
        return 0.0

    def get_config(self) -> dict:
        return {"name": self.name, "dtype": self.dtype.name}

    def __call__(self, x, training: bool = False):
        y, _ = self.forward(x, training=training)
        return y

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name}, built={self.built}>"
