"""Live Keras models <-> npylstm models, through their configs and weights (imports Keras
only when asked to build a Keras model)."""

from __future__ import annotations

import sys

import numpy as np

from .keras_config import (
    check_model_config,
    keras2_hard_sigmoid_keys,
    normalize_model_config,
    with_keras3_modules,
)
from .load import _assign_weights, _model_config, _model_layers, _sequential_from_config
from .model_file import KerasFileError, keras_major_version

__all__ = ["from_keras", "to_keras"]


def _keras_package_version(keras_model) -> str:
    """The version of the package the model's class comes from: ``keras`` (3.x or 2.x),
    ``tf_keras`` (2.x) or ``tensorflow`` (tf.keras, 2.x)."""
    root = type(keras_model).__module__.split(".")[0]
    return str(getattr(sys.modules.get(root), "__version__", "3"))


def _variable_values(layer, keras3: bool) -> list[np.ndarray]:
    if keras3:
        import keras

        # Variable.value, not get_weights(): Keras 3.15's Variable.__array__ warns under
        # NumPy 2.
        return [np.asarray(keras.ops.convert_to_numpy(v.value)) for v in layer.weights]
    return [np.asarray(v.numpy()) for v in layer.weights]  # tf.Variable


def from_keras(keras_model):
    """An npylstm model (a ``Sequential``, or a functional model) with the config and
    weights of a Keras ``Sequential`` or functional model.

    A model from Keras 3 keeps Keras 3's meaning of ``"hard_sigmoid"``; one from Keras 2,
    tf_keras or tf.keras gets Keras 2's (``"hard_sigmoid_keras2"``).

    Parameters
    ----------
    keras_model : keras.Sequential or a functional keras.Model (Keras 3), or tf_keras /
        tf.keras ones; built (its input shape known). A subclassed model has no config.

    Examples
    --------
    >>> model = from_keras(keras_model)                      # doctest: +SKIP
    """
    kind = type(keras_model).__name__
    config = keras_model.get_config() if hasattr(keras_model, "get_config") else None
    functional = isinstance(config, dict) and "input_layers" in config
    if not (kind == "Sequential" or functional):
        raise TypeError(
            f"from_keras: expected a keras.Sequential or a functional keras.Model, received "
            f"{kind} (a subclassed model has no config to rebuild from)"
        )
    version = _keras_package_version(keras_model)
    source = f"Keras {version} model '{keras_model.name}'"
    config = normalize_model_config(
        {"class_name": "Functional" if functional else "Sequential", "config": config},
        version, source,
    )
    model = _sequential_from_config(config, source)
    keras3 = keras_major_version(version) >= 3
    weights = [_variable_values(layer, keras3) for layer in keras_model.layers
               if type(layer).__name__ != "InputLayer"]
    _assign_weights(model, weights, source)
    return model


def to_keras(model):
    """A Keras 3 model (``keras.Sequential``, or a functional ``keras.Model``) with
    ``model``'s config and weights (imports Keras).

    Raises
    ------
    KerasFileError
        The model uses Keras 2's hard_sigmoid, which Keras 3 cannot express.
    """
    import keras

    _model_layers(model)
    config = _model_config(model)
    check_model_config(config)
    keras2 = keras2_hard_sigmoid_keys(config)
    if keras2:
        raise KerasFileError(
            f"to_keras: {keras2} use Keras 2's hard_sigmoid clip(0.2x + 0.5), which Keras 3 "
            "cannot express (its hard_sigmoid is clip(x/6 + 0.5))"
        )
    inner = with_keras3_modules(config)["config"]
    functional = config["class_name"] != "Sequential"
    keras_model = (keras.Model if functional else keras.Sequential).from_config(inner)
    if model.built:
        for keras_layer, layer in zip(keras_model.layers, model.layers, strict=True):
            keras_layer.set_weights(layer.get_weights())
    return keras_model
