"""Keras-style serialization of a layer's parts: dtypes, initializers, regularizers,
constraints.

Keras 3 writes every object as ``{"module", "class_name", "config", "registered_name"}``;
these helpers write initializers, regularizers and dtypes the same way, so a layer's
``get_config()`` compares equal to Keras's and the file readers can rebuild either.
"""

from __future__ import annotations

import inspect

import numpy as np

from .. import constraints, initializers, regularizers

__all__ = [
    "deserialize_constraint",
    "deserialize_initializer",
    "deserialize_regularizer",
    "dtype_from_config",
    "dtype_policy_config",
    "serialize_constraint",
    "serialize_initializer",
    "serialize_regularizer",
    "weight_options_config",
]

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
        inner = dtype.get("config") or {}
        if not isinstance(inner, dict):
            raise ValueError("expected a dtype name or a DTypePolicy config {'class_name': "
                             f"'DTypePolicy', 'config': {{'name': ...}}}}, received {dtype!r}")
        dtype = inner.get("name", "float32")
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


def serialize_constraint(constraint):
    """A constraint as Keras 3 serializes it (``MaxNorm``, ``NonNeg``...), or None."""
    return constraints.serialize(constraint)


def deserialize_constraint(identifier):
    """A constraint from a name, a serialized dict (Keras 3's or tf_keras's), a
    Constraint, a callable or None (:func:`npylstm.constraints.get`)."""
    return constraints.get(identifier)


def weight_options_config(layer, names=("kernel", "bias"), activity: bool = False) -> dict:
    """The block of weight options Keras writes in a layer config, in its order:
    ``<name>_initializer`` for each weight name, ``<name>_regularizer`` for each, the
    ``activity_regularizer`` (with ``activity``), then ``<name>_constraint`` for each —
    Dense, Conv1D, MultiHeadAttention and Embedding share it."""
    config = {f"{n}_initializer": serialize_initializer(getattr(layer, f"{n}_initializer"))
              for n in names}
    config.update({f"{n}_regularizer": serialize_regularizer(getattr(layer, f"{n}_regularizer"))
                   for n in names})
    if activity:
        config["activity_regularizer"] = serialize_regularizer(
            getattr(layer, "activity_regularizer", None))
    config.update({f"{n}_constraint": serialize_constraint(getattr(layer, f"{n}_constraint"))
                   for n in names})
    return config
