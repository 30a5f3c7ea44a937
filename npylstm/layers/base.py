"""What every npylstm layer shares: names, weights, building, and the forward/backward contract.

A layer owns its weights and nothing else. Its two computing methods are pure:

* ``forward(x, training=False, rng=None) -> (y, cache)``
* ``backward(dy, cache) -> (dx, grads)`` with ``grads`` in ``get_weights()`` order.

``__call__`` is ``forward`` without the cache, like calling a Keras layer.
"""

from __future__ import annotations

import inspect
import numbers
import re
from collections import defaultdict

import numpy as np

from .. import initializers, regularizers

__all__ = [
    "Layer",
    "Weight",
    "clear_session",
    "dtype_policy_config",
    "serialize_initializer",
    "serialize_regularizer",
    "deserialize_initializer",
    "deserialize_regularizer",
]

_name_counts: defaultdict[str, int] = defaultdict(int)


def clear_session() -> None:
    """Reset automatic layer names (``lstm``, ``lstm_1``, ...).

    Like ``keras.backend.clear_session()``.
    """
    _name_counts.clear()


def _snake_case(name: str) -> str:
    """Keras's class-name to layer-name rule: ``LSTM -> lstm``, ``InputLayer -> input_layer``."""
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower()


# -- Keras-style serialization ---------------------------------------------------------------
# Keras 3 writes every object as {"module", "class_name", "config", "registered_name"}; the
# helpers below write initializers, regularizers and dtypes the same way, so a layer's
# get_config() compares equal to Keras's and keras_io can rebuild either.

# Keras 3.15 adds these (unused here) keys to every VarianceScaling initializer's config.
_VARIANCE_SCALING_EXTRA = {"input_axes": None, "output_axes": None}


def dtype_policy_config(dtype) -> dict:
    """Keras's serialized DTypePolicy for a float dtype name."""
    return {
        "module": "keras",
        "class_name": "DTypePolicy",
        "config": {"name": np.dtype(dtype).name},
        "registered_name": None,
    }


def dtype_from_config(dtype) -> str:
    """A dtype name from a Keras config value (a name or a serialized DTypePolicy)."""
    if isinstance(dtype, dict):
        dtype = (dtype.get("config") or {}).get("name", "float32")
    return "float32" if dtype is None else str(dtype)


def serialize_initializer(init: initializers.Initializer) -> dict:
    """An initializer as Keras 3 serializes it (``GlorotUniform``, ``Orthogonal``...)."""
    config = dict(init.get_config())
    if isinstance(init, initializers._VarianceScaling):
        config = {"seed": config.get("seed"), **_VARIANCE_SCALING_EXTRA}
    return {
        "module": "keras.initializers",
        "class_name": type(init).__name__,
        "config": config,
        "registered_name": None,
    }


def serialize_regularizer(reg: regularizers.Regularizer | None) -> dict | None:
    """A regularizer as Keras 3 serializes it (``L1``, ``L2``, ``L1L2``), or None."""
    if reg is None:
        return None
    return {
        "module": "keras.regularizers",
        "class_name": type(reg).__name__,
        "config": reg.get_config(),
        "registered_name": None,
    }


def _known_kwargs(cls, config: dict) -> dict:
    """The entries of ``config`` that ``cls.__init__`` accepts (Keras adds keys we ignore)."""
    params = inspect.signature(cls.__init__).parameters
    return {k: v for k, v in config.items() if k in params}


def deserialize_initializer(identifier) -> initializers.Initializer:
    """An initializer from a name, an instance or a Keras-serialized dict."""
    if isinstance(identifier, dict) and "class_name" in identifier:
        probe = initializers.get(identifier["class_name"])
        config = _known_kwargs(type(probe), dict(identifier.get("config") or {}))
        return type(probe)(**config)
    return initializers.get(identifier)


def deserialize_regularizer(identifier) -> regularizers.Regularizer | None:
    """A regularizer from a name, an instance, None or a Keras-serialized dict."""
    return regularizers.get(identifier)


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

    def __init__(
        self, name: str | None = None, dtype="float32", input_shape=None, trainable: bool = True
    ):
        dtype = dtype_from_config(dtype)
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
        self.trainable = bool(trainable)
        self._weights: list[Weight] = []
        self.built = False
        self.input_shape = None  # with the batch axis, once built

    # -- names and errors -------------------------------------------------------------------
    def _label(self) -> str:
        return f"{type(self).__name__} '{getattr(self, 'name', '?')}'"

    def _error(self, message: str) -> ValueError:
        return ValueError(f"{self._label()}: {message}")

    def _check_units(self, units) -> int:
        """``units`` as an int, or a clear error (bools and floats are refused)."""
        if isinstance(units, bool) or not isinstance(units, numbers.Integral) or units <= 0:
            raise self._error(f"expected units to be a positive integer, received {units!r}")
        return int(units)

    def _refuse_constraints(self, **constraints) -> None:
        """Weight constraints are not implemented: refuse any that is set, by name."""
        for cname, constraint in constraints.items():
            if constraint is not None:
                raise self._error(f"{cname} is not supported yet, received {constraint!r}")

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

    # -- regularization -------------------------------------------------------------------
    def weight_regularizers(self) -> list:
        """One regularizer (or None) per weight, in ``get_weights()`` order."""
        return [None] * len(self._weights)

    def regularization_loss(self) -> float:
        """Sum of this layer's weight-regularizer penalties (0 without regularizers)."""
        return float(
            sum(reg(w.value) for reg, w in zip(self.weight_regularizers(), self._weights,
                                               strict=True) if reg is not None)
        )

    def regularization_grads(self) -> list[np.ndarray | None]:
        """Gradients of :meth:`regularization_loss`, one per weight (None: no penalty)."""
        return [
            None if reg is None else reg.grad(w.value)
            for reg, w in zip(self.weight_regularizers(), self._weights, strict=True)
        ]

    def activity_loss(self, outputs) -> tuple[float, list | np.ndarray | None]:
        """Keras's activity penalty on this layer's output(s) and its gradient.

        Keras 3 adds ``activity_regularizer(output) / batch_size`` for every output tensor
        (all three with ``return_state``). Returns ``(0.0, None)`` without a regularizer.
        """
        reg = getattr(self, "activity_regularizer", None)
        if reg is None:
            return 0.0, None
        flat = list(outputs) if isinstance(outputs, list | tuple) else [outputs]
        value, grads = 0.0, []
        for out in flat:
            batch = out.shape[0] if out.ndim > 0 else 1
            scale = 1.0 / batch if batch else 0.0
            value += reg(out) * scale
            grads.append(reg.grad(out) * out.dtype.type(scale))
        return value, (grads if isinstance(outputs, list | tuple) else grads[0])

    # -- configs --------------------------------------------------------------------------
    def get_config(self) -> dict:
        """The Keras 3 config of this layer (same keys and values as Keras writes)."""
        config = {
            "name": self.name,
            "trainable": self.trainable,
            "dtype": dtype_policy_config(self.dtype),
        }
        if getattr(self, "activity_regularizer", None) is not None:
            config["activity_regularizer"] = serialize_regularizer(self.activity_regularizer)
        return config

    @classmethod
    def from_config(cls, config: dict):
        """Rebuild a layer from :meth:`get_config` output or a Keras layer config.

        Keys Keras writes that have no meaning here (``quantization_config``,
        ``zero_output_for_mask`` when False, ...) are ignored.
        """
        return cls(**_known_kwargs(cls, dict(config)))

    def __call__(self, x, training: bool = False):
        y, _ = self.forward(x, training=training)
        return y

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name}, built={self.built}>"
