"""Building a model from an untrusted config within a budget of weight values.

A config declares sizes (``units``, ``batch_shape``, ``input_dim``, kernel sizes, heads...)
that the layers turn into weights when they are built. Nothing here allocates what a config
declares before checking it:

* with a file's weights (:func:`file_budget`): the layers are built under
  :func:`npylstm.initializers.deferred` (zero placeholders, no initializer runs) and may
  declare at most the file's values plus :data:`BUDGET_SLACK`;
* a config alone (:func:`config_budget`): the initializers run, within
  ``MAX_MODEL_ELEMENTS`` values in all;
* every weight, anywhere: ``MAX_ARRAY_ELEMENTS`` and ``MAX_ARRAY_BYTES``
  (:mod:`npylstm.io.limits`).

Beyond any of them: :class:`~npylstm.io.limits.LimitExceededError` naming the file, the
layer and its initializer, the shape and the totals.

>>> import numpy as np, npylstm
>>> weights = [[np.zeros((3, 20)), np.zeros((5, 20)), np.zeros(20)]]
>>> with file_budget(weights, "'m.keras'") as spent:
...     layer = npylstm.layers.LSTM(5)
...     layer.build((None, 4, 3))
>>> spent.declared, spent.budget - BUDGET_SLACK
(180, 180)
"""

from __future__ import annotations

import contextlib
import math
from pathlib import Path

import numpy as np

from .. import initializers, registry
from ._safe import _parse_json, _sniff, not_a_regular_file
from .files import read_weights_file
from .keras_config import FUNCTIONAL_CLASS_NAMES, normalize_model_config, weighted_layers
from .limits import LimitExceededError, check_size, limit
from .model_file import (
    KERAS_FORMAT_VERSION,
    ConfigFileError,
    KerasFileError,
    ModelFile,
    _one_line,
)

__all__ = [
    "BUDGET_SLACK",
    "budget_error",
    "build_config",
    "config_budget",
    "config_weights",
    "file_budget",
    "read_config",
    "weight_values",
]

#: What an untrusted config's wrong-typed or out-of-range values make the layer constructors
#: raise (a list where a dict belongs, a huge number, deep nesting): each becomes the file's
#: error, naming it, instead of escaping as a raw AttributeError or OverflowError.
_CONFIG_ERRORS = (TypeError, ValueError, AttributeError, KeyError, IndexError, OverflowError,
                  RecursionError)


#: Values a config may declare beyond the file's weight arrays (:func:`file_budget`): a
#: config with a few weights the file lacks then reaches :func:`_assign_weights`'s count
#: or shape error, which names the layer and both shapes.
BUDGET_SLACK = 1 << 20


def budget_error(exc: BaseException) -> LimitExceededError | None:
    """The :class:`LimitExceededError` a layer or model wrapped into ``exc`` (a build
    re-raising errors with its own context), or None."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, LimitExceededError):
            return exc
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return None


def weight_values(arrays) -> int:
    """The number of values in nested lists of arrays (Python ints)."""
    if isinstance(arrays, list | tuple):
        return sum(weight_values(a) for a in arrays)
    return math.prod(int(d) for d in np.shape(arrays))


def file_budget(layer_weights, source: str):
    """The context a model is built in when ``layer_weights`` (a file's arrays, nested
    lists) are assigned right after: :func:`npylstm.initializers.deferred` (zero
    placeholders, no initializer runs) within the arrays' values plus
    :data:`BUDGET_SLACK`; beyond it, :class:`LimitExceededError` naming ``source``."""
    total = weight_values(layer_weights)
    return initializers.deferred(
        total + BUDGET_SLACK, source=source, error=LimitExceededError,
        holds=f"the file holds ({total} values in its weight arrays, plus {BUDGET_SLACK} "
              "of slack)")


def config_budget(source: str):
    """A config built alone (no file's weights follow): its initializers run, within
    ``MAX_MODEL_ELEMENTS`` values; inside a caller's budget, that one holds."""
    if initializers.active_budget() is not None:
        return contextlib.nullcontext()
    bound = limit("MAX_MODEL_ELEMENTS")
    return initializers.limited(
        bound, source=source, error=LimitExceededError,
        holds="the limit MAX_MODEL_ELEMENTS allows for a config without weights (set the "
              "environment variable NPYLSTM_MAX_MODEL_ELEMENTS, NPYLSTM_LIMIT_SCALE, or use "
              "npylstm.io.limits.raised_limits() for a genuinely large model)")


def read_config(config) -> tuple[dict | None, object]:
    """``(normalized config, path)`` of a config source; ``(None, path)`` for a model file."""
    if isinstance(config, dict):
        raw, path = config, "<config>"
    else:
        path = Path(config)
        if not path.exists():
            raise FileNotFoundError(f"No such file: '{path}'")
        problem = not_a_regular_file(path, "config file")  # a FIFO would block the read
        if problem:
            raise ConfigFileError(path, f": {problem}")
        if path.is_dir() or _sniff_model_container(path):
            return None, path
        try:  # within MAX_JSON_BYTES and MAX_JSON_DEPTH (a RecursionError is refused too)
            check_size(path.stat().st_size, "MAX_JSON_BYTES", f"'{path}'")
            raw = _parse_json(path.read_bytes(), "the JSON config", path)
        except LimitExceededError:
            raise
        except KerasFileError as exc:
            raise ConfigFileError(
                path,
                f" is neither a .keras/.h5 model file nor a JSON model config ({_one_line(exc)})",
            ) from exc
    if isinstance(raw, dict) and "class_name" not in raw and "layers" in raw:
        # a bare get_config(): a functional model's has input_layers
        kind = "Functional" if "input_layers" in raw else "Sequential"
        raw = {"class_name": kind, "config": raw}
    if not isinstance(raw, dict) or raw.get("class_name") not in (
            "Sequential", *FUNCTIONAL_CLASS_NAMES):
        raise ConfigFileError(
            path,
            ": expected a Sequential or functional model config "
            '{"class_name": "Sequential", "config": {"layers": [...]}}, received '
            f"{raw.get('class_name') if isinstance(raw, dict) else type(raw).__name__!r}",
        )
    # tf_keras's to_json() says which Keras wrote it ("hard_sigmoid" means Keras 2's then)
    version = raw.get("keras_version") or KERAS_FORMAT_VERSION
    return normalize_model_config(raw, str(version), f"'{path}'"), path


def build_config(config: dict, path) -> object:
    """The model of a normalized config (:func:`read_config`), built (under the active
    budget, else :func:`_config_budget`)."""
    try:
        with config_budget(f"config '{path}'"):
            model = registry.get(config["class_name"]).from_config(config["config"])
    except _CONFIG_ERRORS as exc:
        found = budget_error(exc)
        if found is not None:
            raise found from None
        raise ConfigFileError(path, f": cannot build the model: {_one_line(exc)}") from exc
    if not model.built:
        raise ConfigFileError(
            path,
            ": the config does not give the input shape (no InputLayer and no "
            "build_input_shape)",
        )
    return model


def config_weights(config: dict, path: Path) -> ModelFile | None:
    """``path``'s weights for the layers ``config`` declares (read as a ``.keras`` file's
    own weights are: classes, names and variable trees from its config), or None when the
    file does not read that way (the model-based read then gives its error)."""
    layers = weighted_layers(config)
    classes = [layer["class_name"] for layer in layers]
    names = [layer["config"].get("name", cls) for layer, cls in zip(layers, classes,
                                                                     strict=True)]
    try:
        return read_weights_file(path, classes, names, [layer["config"] for layer in layers])
    except LimitExceededError:
        raise
    except (KerasFileError, *_CONFIG_ERRORS):
        return None


def _sniff_model_container(path: Path) -> bool:
    """Whether ``path`` is a zip or HDF5 file (a model file, not a JSON config)."""
    try:
        return _sniff(path) in ("zip", "hdf5")
    except KerasFileError:
        return False
