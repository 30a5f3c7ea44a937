"""Live Keras models <-> npylstm models, through their configs and weights (imports Keras
only when asked to build a Keras model).

A compiled model goes across compiled, with its optimizer's state: Keras 3's
``compile_from_config`` (which builds the optimizer on the trainable variables, as
``keras.saving.load_model`` does) and each ``optimizer.variables`` entry assigned; the
other way, :func:`npylstm.io.load._compile_from_config` and ``_restore_optimizer``, as for
a file. So training continues on the other side where it stopped.
"""

from __future__ import annotations

import sys
import warnings

import numpy as np

from .budget import file_budget
from .keras_config import (
    check_model_config,
    keras2_hard_sigmoid_keys,
    normalize_model_config,
    with_keras3_modules,
)
from .load import (
    _assign_weights,
    _compile_from_config,
    _model_config,
    _model_layers,
    _optimizer_state,
    _restore_optimizer,
    _sequential_from_config,
)
from .model_file import KerasFileError, ModelFile, OptimizerState, keras_major_version

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


def _keras_compile_config(keras_model) -> dict | None:
    """Keras 3's ``get_compile_config()`` (None when not compiled); its serializer reads the
    learning-rate variable through ``__array__``, which warns under NumPy 2: not ours."""
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", message="__array__ implementation doesn't accept a copy keyword",
            category=DeprecationWarning)
        return keras_model.get_compile_config()


def from_keras(keras_model):
    """An npylstm model (a ``Sequential``, or a functional model) with the config and
    weights of a Keras ``Sequential`` or functional model.

    A model from Keras 3 keeps Keras 3's meaning of ``"hard_sigmoid"``; one from Keras 2,
    tf_keras or tf.keras gets Keras 2's (``"hard_sigmoid_keras2"``).

    Parameters
    ----------
    keras_model : keras.Sequential or a functional keras.Model (Keras 3), or tf_keras /
        tf.keras ones; built (its input shape known). A subclassed model has no config.
        A compiled Keras 3 model gives a compiled model with its optimizer's state.

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
    keras3 = keras_major_version(version) >= 3
    weights = [_variable_values(layer, keras3) for layer in keras_model.layers
               if type(layer).__name__ != "InputLayer"]
    with file_budget(weights, source):  # no initializer runs: the weights overwrite them
        model = _sequential_from_config(config, source)
        _assign_weights(model, weights, source)
    compile_config = _keras_compile_config(keras_model) if keras3 else None
    if compile_config:
        _compile_from_config(model, compile_config, source)
        optimizer = getattr(keras_model, "optimizer", None)
        if getattr(model, "compiled", False) and model.optimizer is not None and optimizer:
            import keras

            state = OptimizerState(
                str(optimizer.name),
                [np.asarray(keras.ops.convert_to_numpy(v.value)) for v in optimizer.variables],
                [str(v.name) for v in optimizer.variables],
            )
            _restore_optimizer(model, ModelFile(None, [], version, "keras", optimizer=state),
                               source)
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
        if config.get("compile_config"):
            _keras_compiled(keras_model, config["compile_config"], _optimizer_state(model))
    return keras_model


def _keras_compiled(keras_model, compile_config: dict, state: OptimizerState | None) -> None:
    """Compile the Keras model as ours is (``compile_from_config`` builds its optimizer)
    and give its optimizer our optimizer's variables. An optimizer of ours that has not
    run holds only ``iteration`` and ``learning_rate``: those are assigned, Keras's fresh
    slots stay."""
    keras_model.compile_from_config(compile_config)
    variables = list(keras_model.optimizer.variables)
    if state is None:
        return
    ours = state.variables
    if len(ours) != len(variables) and not (len(ours) < len(variables) and not np.any(ours[0])):
        raise KerasFileError(
            f"to_keras: optimizer '{state.name}' has {len(ours)} variables, Keras's "
            f"{keras_model.optimizer.name!r} built on the model has {len(variables)}")
    pairs = list(zip(variables, ours, strict=False))
    for variable, value in pairs:  # every shape checked before anything is assigned
        if tuple(variable.shape) != np.shape(value):
            raise KerasFileError(
                f"to_keras: optimizer variable {variable.path} has shape {tuple(variable.shape)}"
                f", ours has {np.shape(value)}")
    for variable, value in pairs:
        variable.assign(value)
