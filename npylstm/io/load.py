"""Files <-> npylstm models: the glue over the readers and writers.

Models are built through the registry (``registry.get("Sequential")``), never imported
from :mod:`npylstm.models`: the model classes import this package lazily (from their
``save`` / ``load_weights`` methods), and this package never imports them.
"""

from __future__ import annotations

import itertools
import json
import os
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .. import initializers, registry
from .. import losses as losses_module
from .. import metrics as metrics_module
from .budget import (
    _CONFIG_ERRORS,
    BUDGET_SLACK,
    budget_error,
    build_config,
    config_weights,
    file_budget,
    read_config,
)
from .files import (
    MODEL_FILES,
    STATE_DICTS,
    WEIGHTS_FILES,
    file_kind,
    read_model_file,
    read_weights_file,
)
from .keras3 import (
    keras3_config,
    read_optimizer_state,
    write_keras_file,
    write_weights_file,
)
from .keras_config import supported_layers
from .legacy_h5 import write_legacy_h5
from .limits import LimitExceededError, limit
from .model_file import (
    ConfigRequiredError,
    KerasFileError,
    ModelFile,
    OptimizerState,
    keras_major_version,
)
from .torch import load_state_dict_file, read_state_dict

__all__ = [
    "BUDGET_SLACK",
    "load_any",
    "load_model",
    "load_weights",
    "model_from_config",
    "read_model_weights",
    "save_model",
    "save_weights",
]


def _weighted(model) -> list:
    """The layers that own a weights slot in the files: all but the InputLayers (a
    functional model's ``layers`` lists them, as Keras's)."""
    return [layer for layer in model.layers if type(layer).__name__ != "InputLayer"]


def _model_layers(model) -> tuple[list[str], list[str], list[dict]]:
    """The Keras class names, names and configs of the model's layers, each class checked
    to be the one registered under its name."""
    layers = _weighted(model)
    for layer in layers:
        name = getattr(type(layer), "keras_class_name", None)
        if name == "Functional":  # a nested model: its own layers, the same way
            _model_layers(layer)
            continue
        if name not in supported_layers() or registry.get(name) is not type(layer):
            raise KerasFileError(
                f"layer '{layer.name}' ({type(layer).__name__}) cannot be stored in a Keras "
                f"file; supported: {supported_layers()}"
            )
    return (
        [type(layer).keras_class_name for layer in layers],
        [layer.name for layer in layers],
        [layer.get_config() for layer in layers],
    )


def _assign_weights(model, layer_weights: Sequence[Sequence[np.ndarray]], source: str) -> None:
    """Set each layer's weights, checking every count and shape before changing anything."""
    layers = _weighted(model)
    if len(layers) != len(layer_weights):
        raise KerasFileError(
            f"{source}: the model has {len(layers)} layers {[layer.name for layer in layers]}, "
            f"the file has weights for {len(layer_weights)}"
        )
    if not model.built:
        # Keras cannot load weights into an unbuilt model; the first layer with weights
        # tells the input shape here ((None, None, D) from an LSTM kernel (D, 4U)).
        pairs = zip(layers, layer_weights, strict=True)
        first = next(((layer, w) for layer, w in pairs if w), None)
        if first is None:
            raise KerasFileError(f"{source}: cannot build the model: no layer has weights")
        shape = first[0].input_shape_from_weights(first[1])
        if shape is None:
            raise KerasFileError(
                f"{source}: cannot build the model: layer '{first[0].name}' "
                f"({type(first[0]).__name__}) does not tell its input shape from its weights"
            )
        model.build(shape)
    for layer, arrays in zip(layers, layer_weights, strict=True):
        expected = [tuple(w.shape) for w in layer.weights]
        received = [tuple(np.shape(a)) for a in arrays]
        if expected != received:
            names = [w.name for w in layer.weights]
            raise KerasFileError(
                f"{source}: layer '{layer.name}' ({type(layer).__name__}) expects "
                f"{len(expected)} weights {names} with shapes {expected}, the file has "
                f"{len(received)} with shapes {received}"
            )
    for layer, arrays in zip(layers, layer_weights, strict=True):
        if arrays:
            layer.set_weights(arrays)


def _sequential_from_config(config: dict, source: str):
    """The model a normalized config describes (a Sequential or a functional model)."""
    try:
        return registry.get(config["class_name"]).from_config(config["config"])
    except _CONFIG_ERRORS as exc:
        found = budget_error(exc)
        if found is not None:  # the budget's own message, not a layer's rewording of it
            raise found from None
        raise KerasFileError(f"{source}: cannot rebuild the model from its config: {exc}") from exc


def load_model(path: str | os.PathLike, compile: bool = True,  # noqa: A002 - Keras's name
               custom_objects: dict | None = None, safe_mode: bool = True):
    """Load a whole model from a ``.keras`` file or a legacy ``.h5`` model file, without Keras.

    Parameters
    ----------
    path : str or PathLike
    custom_objects : dict
        npylstm layer classes for the custom classes the file names, by their Keras name
        (``{"Attention": MyAttention}`` or ``{"Custom>Attention": ...}``), as Keras's
        argument; see :func:`npylstm.registry.custom_object_scope`.
    safe_mode : bool
        Only True: npylstm never runs code from a file (a ``Lambda`` layer is refused).
    compile : bool
        Compile the model as the file says it was compiled (optimizer and its learning-rate
        schedule, loss, metrics), as ``keras.saving.load_model`` does, and restore the
        optimizer's state: it is built on the model's trainable weights and its variables
        (iteration count, learning rate, slots) are loaded from the file, so ``fit``
        continues exactly where the saved training stopped. A compile setting npylstm
        lacks gives a warning and an uncompiled model. False ignores the optimizer state.

    Returns
    -------
    npylstm.Sequential
        Built, with the file's weights.

    Raises
    ------
    KerasFileError
        The file's optimizer variables have other shapes (or kinds of dtype) than this
        model's optimizer needs (Keras raises ValueError there too).
    LimitExceededError
        The config declares more weight values than the file holds (see below).

    Notes
    -----
    The file's arrays are read first (each size checked against :mod:`npylstm.io.limits`);
    the layers are then built under :func:`npylstm.initializers.deferred`: no initializer
    runs (no random draw, no QR), each weight is a zero placeholder the file's arrays are
    written into once every count and shape is checked. Before each placeholder the
    weights the config has declared so far (Python ints: ``units: 10**9`` cannot overflow)
    are compared with the file's values plus :data:`BUDGET_SLACK`: a config declaring
    ``units: 10**9`` (or ``batch_shape [None, 50, 10**9]``, an ``input_dim`` of 10**12)
    over small weights is refused at once, naming the file, the layer, its initializer,
    the shape and both totals, instead of a ``MemoryError`` or minutes in a QR.

    Warns
    -----
    UserWarning
        The file has another number of optimizer variables than the optimizer built on
        this model (another model, optimizer or configuration), or none: the state is
        skipped and training starts with a fresh optimizer, as Keras does.

    Examples
    --------
    >>> model = load_model("model.keras")                   # doctest: +SKIP
    >>> model.predict(x)                                     # doctest: +SKIP
    """
    if safe_mode is not True:
        raise ValueError(
            f"load_model: safe_mode={safe_mode!r}: npylstm never runs code from a file (a "
            "Lambda layer's function); supply an npylstm layer through custom_objects instead"
        )
    with registry.custom_object_scope(custom_objects):
        saved = read_model_file(path)
        with file_budget(saved.layer_weights, f"'{path}'"):
            model = _sequential_from_config(saved.config, f"'{path}'")
            _assign_weights(model, saved.layer_weights, f"'{path}'")
        if compile and saved.compile_config:
            _compile_from_config(model, saved.compile_config, f"'{path}'")
            if getattr(model, "compiled", False) and model.optimizer is not None:
                _restore_optimizer(model, saved, f"'{path}'")
    return model


def _optimizer_state(model) -> OptimizerState | None:
    """A compiled model's optimizer variables (copies), as Keras's ``save_own_variables``
    writes them; None for an uncompiled model."""
    optimizer = getattr(model, "optimizer", None)
    if not getattr(model, "compiled", False) or optimizer is None:
        return None
    variables = [np.array(v) for v in optimizer.variables]
    names = list(optimizer.variable_names)
    return OptimizerState(optimizer.name, variables, names)


def _restore_optimizer(model, saved: ModelFile, source: str) -> None:
    """Build the compiled model's optimizer on its trainable weights (as Keras's
    ``compile_from_config``) and load the file's optimizer variables into it.

    As Keras 3.15.1's ``BaseOptimizer.load_own_variables``: another count is a warning and
    the state is skipped; other shapes are an error. Two cases Keras warns about are
    restored here without a warning, because nothing is lost: a file saved before its
    optimizer was built (only ``iteration`` 0 and ``learning_rate``: those are loaded, the
    slots stay fresh), and, for :func:`load_weights`, an optimizer not built yet (it is
    built first). A legacy file is read as Keras 3's ``load_model_from_hdf5`` would
    (``optimizer_weights`` in order), except that a Keras 2 file's optimizer variables,
    which its optimizers order otherwise, are skipped with a warning (unless they are an
    unbuilt tf.keras optimizer's: its iteration 0 alone).
    """
    optimizer = model.optimizer
    state = saved.optimizer
    label = f"optimizer '{optimizer.name}' ({type(optimizer).__name__})"
    if state is None:
        if optimizer.iterations:
            warnings.warn(
                f"{source} holds no optimizer state: {label} keeps its own "
                f"({optimizer.iterations} iterations)", stacklevel=3)
        elif saved.format in ("keras", "weights.h5") and saved.config is not None:
            warnings.warn(
                f"{source} holds no optimizer state (no optimizer/vars in model.weights.h5): "
                f"{label} starts fresh", stacklevel=3)
        return
    if saved.format == "legacy_h5" and keras_major_version(saved.keras_version) < 3:
        if len(state.variables) == 1 and not np.any(state.variables[0]):
            return  # tf.keras's optimizer before its first update: its iteration 0 only
        warnings.warn(
            f"{source}: the optimizer state of a Keras {saved.keras_version} file is not "
            f"restored (tf.keras orders its optimizer variables otherwise): {label} starts "
            "fresh", stacklevel=3)
        return
    model._build_optimizer()
    current = optimizer.variables
    # the variables an optimizer has before build: iteration (and learning_rate)
    fresh = len(list(itertools.takewhile(lambda n: n in ("iteration", "learning_rate"),
                                         optimizer.variable_names)))
    arrays = [np.asarray(a) for a in state.variables]
    unbuilt = (len(arrays) == fresh < len(current) and arrays[0].size == 1
               and arrays[0].dtype.kind in "iu" and int(arrays[0]) == 0)
    if unbuilt:  # saved before its first update: nothing but the learning rate to restore
        arrays = arrays + current[len(arrays):]
    elif len(arrays) != len(current):
        warnings.warn(
            f"{source}: skipping the optimizer state: {label} has {len(current)} variables "
            f"for this model ({_names(optimizer.variable_names)}), the file has {len(arrays)} "
            f"({_names(state.names)}); "
            + ("training starts with a fresh optimizer" if not optimizer.iterations
               else f"it keeps its current state ({optimizer.iterations} iterations)"),
            stacklevel=3)
        return
    try:
        optimizer.load_variables(arrays)
    except (TypeError, ValueError) as exc:
        raise KerasFileError(
            f"{source}: the file's optimizer variables do not fit {label}: {exc}") from exc


def _names(names: Sequence[str], limit: int = 6) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f", ... ({len(names)} in all)" if len(names) > limit else "")


def _compile_from_config(model, compile_config: dict, source: str) -> None:
    """``model.compile`` from a Keras ``compile_config`` / tf.keras ``training_config``."""
    optimizer = compile_config.get("optimizer") or compile_config.get("optimizer_config")
    if isinstance(optimizer, dict) and isinstance(optimizer.get("class_name"), str):
        config = dict(optimizer.get("config") or {})
        # tf.keras: graph-compilation flags with no meaning here; Keras 2.0-2.2 spelled
        # learning_rate "lr" and had a "decay" that is a no-op at 0.
        for key in ("jit_compile", "is_legacy_optimizer"):
            config.pop(key, None)
        if "lr" in config and "learning_rate" not in config:
            config["learning_rate"] = config.pop("lr")
        if config.get("decay") == 0:
            config.pop("decay")
        # tf.keras 2.11+ names its own optimizers "Custom>Adam"; they are Keras's Adam.
        optimizer = {
            "class_name": optimizer["class_name"].removeprefix("Custom>"),
            "config": config,
        }
    loss = compile_config.get("loss")
    if isinstance(loss, dict) and "class_name" in loss:  # one serialized loss object:
        # Keras 3 adds the loss's dtype, which npylstm has no use for
        loss = {
            **loss,
            "config": {k: v for k, v in (loss.get("config") or {}).items() if k != "dtype"},
        }
    metrics = compile_config.get("metrics")
    weights = compile_config.get("loss_weights")
    try:
        if weights is not None:  # several outputs (Model.compile refuses it for one)
            model.compile(optimizer=optimizer or "rmsprop", loss=loss, metrics=metrics,
                          loss_weights=weights)
        else:
            model.compile(optimizer=optimizer or "rmsprop", loss=loss, metrics=metrics)
        return
    except (TypeError, ValueError) as exc:
        problem = exc
    if metrics:
        try:
            model.compile(optimizer=optimizer or "rmsprop", loss=loss)
            warnings.warn(
                f"{source}: compiled without the file's metrics {metrics!r} ({problem})",
                stacklevel=3,
            )
            return
        except (TypeError, ValueError) as exc:
            problem = exc
    warnings.warn(
        f"{source}: the model was not compiled ({problem}); call model.compile(...)",
        stacklevel=3,
    )


def _serialize_metric(metric):
    try:
        return metrics_module.serialize(metric)
    except ValueError:  # a loss used as a metric: Keras reads it back by name
        return metric.name


def _compiled(model) -> tuple:
    """``(loss, loss_weights, metrics)`` as Keras's ``compile_config`` holds them: the
    names or serialized objects given to compile; for several outputs, dicts by output
    name (the metrics without the per-output loss trackers)."""
    loss = model.loss
    if loss is None:
        return None, None, None
    per_output = getattr(loss, "losses", None)
    if per_output is None:
        return (losses_module.serialize(loss), None,
                [_serialize_metric(m) for m in model.compiled_metrics])
    names = loss.names
    serialized = {n: None if fn is None else losses_module.serialize(fn)
                  for n, fn in zip(names, per_output, strict=True)}
    metrics: dict[str, list] = {}
    for m in model.compiled_metrics:
        if hasattr(m, "metric"):  # an output's metric (not its loss tracker)
            metrics.setdefault(names[m.index], []).append(_serialize_metric(m.metric))
    return serialized, dict(zip(names, loss.weights, strict=True)), metrics


def _model_config(model) -> dict:
    config = {"class_name": type(model).keras_class_name, "config": model.get_config()}
    if getattr(model, "compiled", False) and model.optimizer is not None:
        # As Keras writes it; Keras compiles the loaded model with it (the optimizer's
        # state goes in the weights, see _optimizer_state).
        loss, loss_weights, metrics = _compiled(model)
        config["compile_config"] = {
            "optimizer": {
                "module": "keras.optimizers",
                "class_name": type(model.optimizer).__name__,
                "config": model.optimizer.get_config(),
                "registered_name": None,
            },
            "loss": loss,
            "loss_weights": loss_weights,
            "metrics": metrics or None,
            "weighted_metrics": None,
            "run_eagerly": False,
            "steps_per_execution": 1,
            "jit_compile": True,
        }
    return config


def _check_saveable(model, path) -> None:
    """Every layer has a Keras file layout, and the model is built (its shapes known)."""
    _model_layers(model)
    if not model.built:
        raise KerasFileError(
            f"cannot save '{path}': build the model first (its input shape is unknown)"
        )


def model_config_json(model, path: str | os.PathLike = "<config>") -> bytes:
    """The ``config.json`` a ``.keras`` file of ``model`` holds (what
    ``keras.models.model_from_json`` reads; compile settings included), without writing
    the weights; ``path`` names the destination in errors."""
    _check_saveable(model, path)
    return json.dumps(keras3_config(_model_config(model))).encode()


def save_model(model, path: str | os.PathLike) -> Path:
    """Write ``model`` as ``.keras`` (Keras 3) or, for a ``.h5`` name, as a legacy HDF5 model."""
    name = str(path)
    _check_saveable(model, path)
    weights = [layer.get_weights() for layer in _weighted(model)]
    optimizer = _optimizer_state(model)
    if name.endswith(".keras"):
        return write_keras_file(path, _model_config(model), weights, optimizer)
    if name.endswith(".h5") and not name.endswith(".weights.h5"):
        return write_legacy_h5(path, _model_config(model), weights, optimizer=optimizer)
    raise ValueError(
        f"save: expected a file name ending in '.keras' (Keras 3) or '.h5' (legacy HDF5), "
        f"received '{path}'; use save_weights() for '.weights.h5'"
    )


def save_weights(model, path: str | os.PathLike) -> Path:
    """Write the weights: Keras 3 ``.weights.h5``, or legacy HDF5 for any other ``.h5`` name.

    A compiled model's ``.weights.h5`` also holds its optimizer's variables, as Keras's
    ``save_weights`` writes them (``optimizer/vars/<i>``); a legacy weights file does not.
    """
    classes, names, configs = _model_layers(model)
    weights = [layer.get_weights() for layer in _weighted(model)]
    name = str(path)
    if name.endswith(".weights.h5"):
        return write_weights_file(path, classes, weights, names, model.name, configs,
                                  _optimizer_state(model))
    if name.endswith(".h5"):
        return write_legacy_h5(path, None, weights, classes, names, configs)
    raise ValueError(
        f"save_weights: expected a file name ending in '.weights.h5' (Keras 3) or '.h5' "
        f"(legacy), received '{path}'"
    )


def load_weights(model, path: str | os.PathLike) -> None:
    """Load weights from a ``.weights.h5``, ``.keras`` or legacy ``.h5`` file into ``model``.

    Keras 3 files are matched by layer class and order, legacy files by the order of the
    layers that have weights (as Keras does). Nothing is changed if any layer mismatches.

    A compiled model also gets the optimizer state of a ``.weights.h5`` or ``.keras`` file
    (its optimizer built on the trainable weights first if it was not: Keras skips the
    state of an unbuilt optimizer with a warning); mismatches as in :func:`load_model`.
    An uncompiled model ignores it, as Keras's.
    """
    saved = read_model_weights(model, path)
    source = f"'{path}'"
    _assign_weights(model, saved.layer_weights, source)
    if getattr(model, "compiled", False) and model.optimizer is not None and \
            saved.format in ("keras", "weights.h5"):
        saved.optimizer = read_optimizer_state(path)
        _restore_optimizer(model, saved, source)


def read_model_weights(model, path: str | os.PathLike) -> ModelFile:
    """What a weights (or model) file holds for ``model``'s layers, as plain data; nothing
    is assigned (:func:`load_weights` does that)."""
    classes, names, configs = _model_layers(model)
    return read_weights_file(path, classes, names, configs)


# -- any file the npylstm command accepts -----------------------------------------------------


def model_from_config(config) -> tuple[object, bool]:
    """A model from a config source, and whether it came with weights.

    ``config``: a ``.keras`` / ``.h5`` model file (the model and its weights), a JSON model
    config file (``keras_model.to_json()``, the ``config.json`` inside a ``.keras`` file,
    or a bare ``Sequential.get_config()``), or such a config as a dict.

    A config alone is built with its initializers run, within ``MAX_MODEL_ELEMENTS``
    values in all (:func:`npylstm.initializers.limited`; inside a caller's
    :func:`npylstm.initializers.deferred` block, that block's budget instead), each weight
    within ``MAX_ARRAY_ELEMENTS`` / ``MAX_ARRAY_BYTES``: beyond, :class:`LimitExceededError`
    names the config.
    """
    normalized, path = read_config(config)
    if normalized is None:
        return load_model(path), True
    return build_config(normalized, path), False


def _model_and_weights(config, path: Path):
    """A JSON config (or dict) with the Keras weights of ``path``: the file's arrays read
    first, the model built under their budget (:func:`file_budget`), then assigned."""
    normalized, config_path = read_config(config)
    if normalized is None:  # a model file: its own budget, then this file's weights
        model = load_model(config_path)
        load_weights(model, path)
        return model
    source = f"'{path}' with the config '{config_path}'"
    saved = config_weights(normalized, path)
    if saved is None:  # read through the model's layers instead (its errors, as before)
        with initializers.deferred(limit("MAX_MODEL_ELEMENTS"), source=source,
                                   error=LimitExceededError,
                                   holds="the limit MAX_MODEL_ELEMENTS allows"):
            model = build_config(normalized, config_path)
            load_weights(model, path)
        return model
    with file_budget(saved.layer_weights, source):
        model = build_config(normalized, config_path)
        _assign_weights(model, saved.layer_weights, f"'{path}'")
    return model


def load_any(path: str | os.PathLike, config=None):
    """A model from any file the ``npylstm`` command accepts, recognised by its content.

    Parameters
    ----------
    path : str or PathLike
        A whole model (``.keras``, an unzipped ``.keras`` directory, a legacy ``.h5``
        model), Keras weights (``.weights.h5``, a legacy weights ``.h5``), or a PyTorch
        ``nn.LSTM`` state dict (``.npz``, ``.pt``).
    config : path or dict, optional
        Where the layers come from (see :func:`model_from_config`); required for weights
        and state dicts. With a whole-model ``path``, its weights go into this model.

    Returns
    -------
    npylstm.Sequential

    Raises
    ------
    ConfigRequiredError
        Weights or a state dict without ``config``, or a state dict and a config without
        weights for the model's other layers.

    >>> model = load_any("model.weights.h5", config="config.json")   # doctest: +SKIP
    """
    path = Path(path)
    kind = file_kind(path)
    if kind in STATE_DICTS:
        if config is None:
            raise ConfigRequiredError(
                path,
                "state_dict",
                f"'{path}' is a PyTorch-style state dict, which holds only the LSTM / GRU "
                "weights: "
                "give as config a .keras/.h5 model file or a JSON config for the layers",
            )
        normalized, config_path = read_config(config)
        if normalized is None:
            model = load_model(config_path)
            load_state_dict_file(model, path, True, kind)
            return model
        state = read_state_dict(path, kind)  # its arrays bound the config's build
        with file_budget(list(state.values()), f"'{path}' with the config '{config_path}'"):
            model = build_config(normalized, config_path)
            load_state_dict_file(model, path, False, kind, state)
        return model
    if config is None:
        if kind in WEIGHTS_FILES:
            raise ConfigRequiredError(
                path,
                "weights_only",
                f"'{path}' holds weights only (no model config): give as config a .keras/.h5 "
                "model file or a JSON config (keras_model.to_json())",
            )
        return load_model(path)
    if kind in WEIGHTS_FILES or kind in MODEL_FILES:
        return _model_and_weights(config, path)
    model, _ = model_from_config(config)
    load_weights(model, path)
    return model
