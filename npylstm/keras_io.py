"""Keras files <-> plain data and npylstm models: the names of :mod:`npylstm.io`, where the
code lives (formats, safety and semantics are described there).

>>> from npylstm.keras_io import load_model, KerasFileError   # same as npylstm.io's
"""

from __future__ import annotations

from .io import (
    KERAS2_FORMAT_VERSION,
    KERAS2_HARD_SIGMOID,
    KERAS_FORMAT_VERSION,
    KerasFileError,
    ModelFile,
    from_keras,
    keras_major_version,
    load_model,
    load_weights,
    normalize_model_config,
    read_model_file,
    read_weights_file,
    save_model,
    save_weights,
    to_keras,
    weights_group_names,
    write_keras_file,
    write_legacy_h5,
    write_weights_file,
)

__all__ = [
    "KERAS2_FORMAT_VERSION",
    "KERAS2_HARD_SIGMOID",
    "KERAS_FORMAT_VERSION",
    "KerasFileError",
    "ModelFile",
    "from_keras",
    "keras_major_version",
    "load_model",
    "load_weights",
    "normalize_model_config",
    "read_model_file",
    "read_weights_file",
    "save_model",
    "save_weights",
    "to_keras",
    "weights_group_names",
    "write_keras_file",
    "write_legacy_h5",
    "write_weights_file",
]
