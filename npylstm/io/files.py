"""Which kind of file a path is, from its content, and reading any Keras file into a
:class:`~npylstm.io.model_file.ModelFile`.

Every read below runs inside :func:`npylstm.io._safe._reading`: what a damaged file makes
h5py, zipfile, zlib or json raise at any read (not only at open) becomes a
:class:`KerasFileError` naming the path and what was being read."""

from __future__ import annotations

import io
import os
import zipfile
from collections.abc import Sequence
from pathlib import Path

from ._safe import _READ_ERRORS, _h5_text, _open_h5, _reading, _sniff
from .keras3 import (
    KERAS3_WEIGHT_ROOTS,
    keras_archive_weights,
    read_keras3_weights,
    read_keras_archive,
)
from .keras_config import layer_vars, supported_layers, unsupported_layers
from .legacy_h5 import read_legacy_model, read_legacy_weights
from .model_file import KERAS_FORMAT_VERSION, KerasFileError, ModelFile

__all__ = [
    "MODEL_FILES",
    "STATE_DICTS",
    "WEIGHTS_FILES",
    "file_kind",
    "read_model_file",
    "read_weights_file",
]

#: Kinds of :func:`file_kind` that hold a whole model (config and weights).
MODEL_FILES = frozenset({"keras", "keras_dir", "legacy_h5"})
#: Kinds that hold Keras weights only: the model must come from elsewhere.
WEIGHTS_FILES = frozenset({"weights.h5", "legacy_weights_h5"})
#: PyTorch ``nn.LSTM`` state dicts: ``.npz`` (NumPy only) or ``.pt`` (``torch.save``).
STATE_DICTS = frozenset({"npz", "pt"})

_STATE_DICT_SUFFIXES = {".npz": "npz", ".pt": "pt", ".pth": "pt"}


def _zip_names(path: Path) -> list[str] | None:
    """The member names of a zip file (nothing is read), or None when it cannot be opened."""
    try:
        with zipfile.ZipFile(path) as zf:
            return zf.namelist()
    except _READ_ERRORS:  # damaged: the reader names the path and the problem
        return None


def file_kind(path: str | os.PathLike) -> str:
    """What a file holds, recognised from its content (its name only breaks a tie).

    Returns
    -------
    str
        ``"keras"`` (a ``.keras`` zip), ``"keras_dir"`` (an unzipped ``.keras``),
        ``"legacy_h5"`` (a legacy HDF5 model): :data:`MODEL_FILES`;
        ``"weights.h5"`` (Keras 3 weights), ``"legacy_weights_h5"``: :data:`WEIGHTS_FILES`;
        ``"npz"``, ``"pt"``: :data:`STATE_DICTS`; ``"hdf5"``: an HDF5 file that is none
        of these (the readers say why).

    Raises
    ------
    FileNotFoundError
        The file does not exist.
    KerasFileError
        Neither a zip archive, an HDF5 file, a ``.keras`` directory nor a state dict.

    >>> file_kind("model.keras")                             # doctest: +SKIP
    'keras'
    """
    path = Path(path)
    by_suffix = _STATE_DICT_SUFFIXES.get(path.suffix.lower())
    try:
        container = _sniff(path)
    except KerasFileError:
        if by_suffix:  # torch.save's old pickle format, or damaged: the reader says which
            return by_suffix
        raise
    if container == "dir":
        return "keras_dir"
    if container == "zip":
        names = _zip_names(path)
        if names is None:
            return by_suffix or "keras"  # damaged: the reader names the path and the problem
        if "config.json" in names or "model.weights.h5" in names:
            return "keras"
        if names and all(name.endswith(".npy") for name in names):
            return "npz"  # np.savez: one .npy member per array
        if any(name.endswith("/data.pkl") or name == "data.pkl" for name in names):
            return "pt"  # torch.save: <archive>/data.pkl and the tensors' storages
        return by_suffix or "keras"  # the .keras reader says what is missing
    with _open_h5(path, path) as h5, _reading(path, "the HDF5 root group"):
        if _h5_text(h5.attrs, "model_config") is not None:
            return "legacy_h5"
        if any(root in h5 for root in KERAS3_WEIGHT_ROOTS):
            return "weights.h5"
        if "layer_names" in h5.attrs or "layer_names0" in h5.attrs:
            return "legacy_weights_h5"
    return "hdf5"


def read_model_file(path: str | os.PathLike) -> ModelFile:
    """Read a whole-model file: a Keras 3 ``.keras`` archive or a legacy ``.h5`` model.

    The format is recognised from the file's content, not its name.

    Parameters
    ----------
    path : str or PathLike

    Returns
    -------
    ModelFile
        ``config`` normalized by :func:`normalize_model_config`; ``layer_weights`` aligned
        with the config's layers other than InputLayer.

    Raises
    ------
    FileNotFoundError
        The file does not exist.
    KerasFileError
        Not a Keras model file, truncated or corrupted, unsafe, or unsupported layers.
    """
    path = Path(path)
    kind = _sniff(path)
    if kind in ("zip", "dir"):
        with _reading(path, "the .keras archive"):
            return read_keras_archive(path, kind)
    with _open_h5(path, path) as h5, _reading(path, "the legacy HDF5 model"):
        text = _h5_text(h5.attrs, "model_config")
        if text is None:
            if "layer_names" in h5.attrs or "layers" in h5:
                raise KerasFileError(
                    f"'{path}' is a weights-only file (no model config): build the model and "
                    "call model.load_weights() instead"
                )
            raise KerasFileError(
                f"'{path}' is an HDF5 file but not a Keras model file (no 'model_config' attribute)"
            )
        return read_legacy_model(h5, text, path)


def read_weights_file(
    path: str | os.PathLike,
    class_names: Sequence[str],
    layer_names: Sequence[str] | None = None,
    layer_configs: Sequence[dict] | None = None,
) -> ModelFile:
    """Read the weights of a model whose layers (InputLayer excluded) have these classes.

    Accepts a Keras 3 ``.weights.h5``, a ``.keras`` archive (its weights only), a legacy
    weights-only ``.h5`` and a legacy model ``.h5``. Keras 3 files are matched by class
    (group ``layers/lstm_1`` is the second LSTM), legacy files by order of the layers
    that have weights, as Keras does.

    Parameters
    ----------
    path : str or PathLike
    class_names : sequence of str
        The model's layer classes, e.g. ``["LSTM", "Dropout", "LSTM", "Dense"]``.
    layer_names : sequence of str, optional
        The model's layer names, used in error messages.
    layer_configs : sequence of dict, optional
        The layers' configs, for their variable trees (default: each class's default).

    Returns
    -------
    ModelFile
        ``config`` is None; ``layer_weights`` has one entry per class name.
    """
    path = Path(path)
    class_names = list(class_names)
    layer_names = list(layer_names) if layer_names is not None else list(class_names)
    unsupported = unsupported_layers(class_names)
    if unsupported:
        raise KerasFileError(
            f"unsupported layer classes {unsupported}; npylstm supports {supported_layers()}"
        )
    layers = layer_vars(class_names, layer_names, layer_configs)
    kind = _sniff(path)
    if kind in ("zip", "dir"):
        with _reading(path, "the weights of the .keras archive"):
            data = keras_archive_weights(path, kind)
            with _open_h5(io.BytesIO(data), path) as h5:
                arrays = read_keras3_weights(h5, layers, path)
        return ModelFile(None, arrays, KERAS_FORMAT_VERSION, "keras", layer_names)
    with _open_h5(path, path) as h5, _reading(path, "the HDF5 weights"):
        if any(root in h5 for root in KERAS3_WEIGHT_ROOTS):
            arrays = read_keras3_weights(h5, layers, path)
            return ModelFile(None, arrays, KERAS_FORMAT_VERSION, "weights.h5", layer_names)
        return read_legacy_weights(h5, layers, path)
