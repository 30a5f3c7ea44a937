"""Keras model and weight files <-> plain Python data. The only module that imports h5py.

Formats
-------
========================  ======================================================  =====  =====
file                      layout                                                  read   write
========================  ======================================================  =====  =====
``.keras`` (Keras 3)      zip: ``config.json``, ``metadata.json``,                yes    yes
                          ``model.weights.h5`` (``layers/lstm/cell/vars/0`` ...)
``.weights.h5`` (Keras 3) the ``model.weights.h5`` above, alone                   yes    yes
unzipped ``.keras`` dir   the three members above in a directory (Keras 3's       yes    no
                          ``save_model(..., zipped=False)``)
legacy ``.h5`` model      ``model_config`` attribute + ``model_weights/<layer>/``  yes    yes
(Keras 2, tf.keras 2.x,   ``<layer>/lstm_cell/kernel:0``, ``layer_names`` /
Keras 3)                  ``weight_names`` attributes, ``keras_version``
legacy ``.h5`` weights    the ``model_weights`` group above, at the root          yes    yes
========================  ======================================================  =====  =====

The plain data is a :class:`ModelFile`: the model config in Keras 3's form (a dict, the
same thing ``keras.Sequential.get_config`` is wrapped in), one list of arrays per layer in
``get_weights()`` order, and the ``keras_version`` that wrote the file. The readers and
writers know nothing of npylstm's layers or ops; the last section (:func:`load_model`,
:func:`save_model`, :func:`load_weights`, :func:`save_weights`, :func:`from_keras`,
:func:`to_keras`) connects them to :class:`npylstm.Sequential`, which calls it lazily.

Safety
------
* Nothing named in a file is imported or evaluated: layer classes come from
  :data:`SUPPORTED_LAYERS`, activations are names looked up in a table.
* Zip members are read by exact name; archives with absolute or ``..`` member names,
  duplicate names, or members declaring a huge uncompressed size are refused.
* HDF5 objects are reached one path component at a time; soft links, external links,
  external and virtual datasets, non-numeric datasets and shape bombs are refused.
* A missing file, a file that is not a Keras file, and a truncated or corrupted file give
  three different messages naming the path.
* Writers build the whole file under a temporary name in the target directory and
  ``os.replace`` it into place, so an error never leaves a half-written file.

Semantics
---------
Keras 2 meant ``clip(0.2 x + 0.5, 0, 1)`` by ``"hard_sigmoid"``; Keras 3 means
``clip(x / 6 + 0.5, 0, 1)``. A legacy file whose ``keras_version`` is below 3 is read with
``"hard_sigmoid_keras2"`` in place of ``"hard_sigmoid"``; writing such a model keeps
``keras_version`` 2 in a legacy ``.h5`` and is refused for the Keras 3 formats (Keras 3 has
no activation with that meaning).
"""

from __future__ import annotations

import copy
import datetime
import io
import json
import math
import os
import re
import sys
import tempfile
import warnings
import zipfile
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np

__all__ = [
    "KERAS2_HARD_SIGMOID",
    "SUPPORTED_LAYERS",
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

#: npylstm's name for Keras 2's ``hard_sigmoid`` (``clip(0.2 x + 0.5, 0, 1)``).
KERAS2_HARD_SIGMOID = "hard_sigmoid_keras2"

#: The Keras release whose file layout the writers follow (and were checked against).
KERAS_FORMAT_VERSION = "3.15.1"
#: What a legacy file with Keras 2 semantics says it was written by (tf_keras's layout).
KERAS2_FORMAT_VERSION = "2.21.0"


@dataclass(frozen=True)
class LayerSpec:
    """Where a layer class keeps its weights in each file format.

    ``vars_path``: the group under ``layers/<group>/`` holding ``0, 1, ...`` in a Keras 3
    weights file (None: no weights). ``weight_names``: names in ``get_weights()`` order
    (a layer without bias stores the first ones only). ``legacy_scope``: the extra name
    level of a legacy ``.h5`` (``<layer>/lstm_cell/kernel:0``).
    """

    vars_path: str | None
    weight_names: tuple[str, ...] = ()
    legacy_scope: str = ""


#: The allow-list: every layer class a file may name, and where its weights live.
SUPPORTED_LAYERS: dict[str, LayerSpec] = {
    "InputLayer": LayerSpec(None),
    "LSTM": LayerSpec("cell/vars", ("kernel", "recurrent_kernel", "bias"), "lstm_cell"),
    "Dense": LayerSpec("vars", ("kernel", "bias")),
    "Dropout": LayerSpec(None),
}

# Config keys that hold an activation name, per class.
_ACTIVATION_KEYS = {"LSTM": ("activation", "recurrent_activation"), "Dense": ("activation",)}
# Keras 2 config keys with no meaning in Keras 3 (dropped when reading, added when writing
# a Keras 2 file so that tf_keras reads it).
_KERAS2_ONLY = {"LSTM": {"time_major": False, "implementation": 2}}
# Keras 3 config keys tf_keras refuses (its Layer rejects unknown keyword arguments).
_KERAS3_ONLY = {
    "LSTM": ("seed", "zero_output_for_mask"),
    "Dense": ("quantization_config", "lora_rank", "lora_alpha"),
    "InputLayer": ("optional",),
}

_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")
_HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
_KERAS_ZIP_MEMBERS = ("config.json", "metadata.json", "model.weights.h5")
# A member declaring more than this many bytes and more than _ZIP_MAX_RATIO times what it
# stores is a decompression bomb (Keras stores members uncompressed: ratio 1).
_ZIP_BOMB_FLOOR = 1 << 20
_ZIP_MAX_RATIO = 100
_JSON_MAX_BYTES = 64 << 20
# A dataset declaring more than this many bytes and more than _H5_MAX_RATIO times its
# storage on disk is a shape / decompression bomb.
_H5_BOMB_FLOOR = 1 << 24
_H5_MAX_RATIO = 1000


class KerasFileError(ValueError):
    """A file is not a Keras file, is damaged, unsafe, or does not match the model."""


@dataclass
class ModelFile:
    """What a Keras file holds, as plain Python data.

    Attributes
    ----------
    config : dict or None
        ``{"class_name": "Sequential", "config": {"name": ..., "layers": [...]}}`` in
        Keras 3's form (InputLayer first when the file declares the input shape); None for
        a weights-only file.
    layer_weights : list of list of np.ndarray
        One list per layer that is not an InputLayer, in order, each in ``get_weights()``
        order (``[kernel (D, 4U), recurrent_kernel (U, 4U), bias (4U,)]`` for an LSTM).
    keras_version : str
        The Keras version that wrote the file (``"1"`` when a legacy file does not say).
    format : str
        ``"keras"``, ``"weights.h5"``, ``"legacy_h5"`` or ``"legacy_weights_h5"``.
    layer_names : list of str
        The layer names the weights were stored under (legacy files), else the group names.
    compile_config : dict or None
        How the model was compiled (``compile_config`` of a ``.keras`` file, the
        ``training_config`` attribute of a legacy file), or None.
    """

    config: dict | None
    layer_weights: list[list[np.ndarray]]
    keras_version: str
    format: str
    layer_names: list[str] = field(default_factory=list)
    compile_config: dict | None = None


# -- versions and configs -------------------------------------------------------------------


def keras_major_version(version: str | None) -> int:
    """The major version of a ``keras_version`` string (``"2.21.0" -> 2``; missing -> 1).

    >>> keras_major_version("2.21.0"), keras_major_version("3.15.1"), keras_major_version(None)
    (2, 3, 1)
    """
    match = re.match(r"\s*(\d+)", str(version or "1"))
    return int(match.group(1)) if match else 1


def _activation_name(value, where: str) -> str | None:
    """An activation name from a config value; Keras 3 may wrap it in a dict."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, dict) and isinstance(value.get("config"), str):
        # {"module": "keras.activations", "class_name": "function", "config": "tanh", ...}
        return value["config"]
    raise KerasFileError(f"{where}: expected an activation name, received {value!r}")


def _layer_label(layer: dict, index: int) -> str:
    name = (layer.get("config") or {}).get("name", f"#{index}")
    return f"layer '{name}' ({layer.get('class_name')})"


def normalize_model_config(model_config, keras_version: str, path: str = "<config>") -> dict:
    """Check a model config against the allow-list and bring it to Keras 3's form.

    Handles Keras 2's forms: a Sequential config that is a bare list of layers,
    ``batch_input_shape`` on the first layer (becomes an ``InputLayer``) or on an
    ``InputLayer`` (becomes ``batch_shape``), ``time_major`` / ``implementation`` keys, and
    ``"hard_sigmoid"`` meaning Keras 2's hard sigmoid when ``keras_version`` < 3.

    Parameters
    ----------
    model_config : dict
        ``{"class_name": "Sequential", "config": ...}`` as found in the file.
    keras_version : str
        The version that wrote the file.
    path : str
        Named in error messages.

    Returns
    -------
    dict
        A new config; the input is not modified.

    >>> cfg = {"class_name": "Sequential", "config": [{"class_name": "LSTM", "config": {
    ...     "name": "lstm", "units": 2, "batch_input_shape": [None, 3, 1],
    ...     "recurrent_activation": "hard_sigmoid"}}]}
    >>> out = normalize_model_config(cfg, "2.2.4")
    >>> [l["class_name"] for l in out["config"]["layers"]]
    ['InputLayer', 'LSTM']
    >>> out["config"]["layers"][1]["config"]["recurrent_activation"]
    'hard_sigmoid_keras2'
    """
    if not isinstance(model_config, dict) or "class_name" not in model_config:
        raise KerasFileError(f"{path}: the model config is not a Keras model config")
    class_name = model_config["class_name"]
    if class_name != "Sequential":
        raise KerasFileError(
            f"{path}: holds a {class_name!r} model; npylstm rebuilds Sequential models only"
        )
    inner = copy.deepcopy(model_config.get("config"))
    if isinstance(inner, list):  # Keras 2.0-2.2: a Sequential config is its list of layers
        inner = {"name": "sequential", "layers": inner}
    if not isinstance(inner, dict) or not isinstance(inner.get("layers"), list):
        raise KerasFileError(f"{path}: the Sequential config has no list of layers")
    layers = inner["layers"]
    for index, layer in enumerate(layers):
        if not isinstance(layer, dict) or not isinstance(layer.get("config"), dict):
            raise KerasFileError(f"{path}: layer #{index} of the config is not a layer config")
    unsupported = sorted({str(layer.get("class_name")) for layer in layers} - set(SUPPORTED_LAYERS))
    if unsupported:
        raise KerasFileError(
            f"{path}: unsupported layer classes {unsupported}; npylstm supports "
            f"{sorted(SUPPORTED_LAYERS)}"
        )
    keras2 = keras_major_version(keras_version) < 3
    out_layers: list[dict] = []
    for index, layer in enumerate(layers):
        cls, config = layer["class_name"], layer["config"]
        label = _layer_label(layer, index)
        batch_input_shape = config.pop("batch_input_shape", None)
        if cls == "InputLayer":
            if batch_input_shape is not None and "batch_shape" not in config:
                config["batch_shape"] = batch_input_shape
        elif batch_input_shape is not None and not out_layers:
            # Keras 2 put the input shape on the first layer; Keras 3 has an InputLayer.
            out_layers.append(
                {
                    "class_name": "InputLayer",
                    "config": {
                        "batch_shape": list(batch_input_shape),
                        "dtype": config.get("dtype", "float32"),
                        "name": f"{config.get('name', 'layer')}_input",
                    },
                }
            )
        for key, default in _KERAS2_ONLY.get(cls, {}).items():
            value = config.pop(key, default)
            if key == "time_major" and value:
                raise KerasFileError(f"{path}: {label} has time_major=True, not supported")
        for key in _ACTIVATION_KEYS.get(cls, ()):
            if key in config:
                name = _activation_name(config[key], f"{path}: {label} {key}")
                if keras2 and name == "hard_sigmoid":
                    name = KERAS2_HARD_SIGMOID  # Keras 2: clip(0.2 x + 0.5, 0, 1)
                config[key] = name
        out_layers.append({**layer, "config": config})
    inner["layers"] = out_layers
    return {**model_config, "class_name": "Sequential", "config": inner}


def _weighted_layers(config: dict) -> list[dict]:
    """The layers that own a weights slot: all but InputLayer (Keras's ``model.layers``)."""
    return [layer for layer in config["config"]["layers"] if layer["class_name"] != "InputLayer"]


def weights_group_names(class_names: Sequence[str]) -> list[str]:
    """Group names of a Keras 3 weights file for layers of these classes, in order.

    Keras names the groups after the layer *class*, numbered per class
    (``saving_lib._save_container_state``), not after the layer's ``name``.

    >>> weights_group_names(["LSTM", "Dropout", "LSTM", "Dense"])
    ['lstm', 'dropout', 'lstm_1', 'dense']
    """
    used: dict[str, int] = {}
    names = []
    for cls in class_names:
        base = re.sub(r"([a-z])([A-Z])", r"\1_\2", re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", cls))
        base = base.lower()
        if base in used:
            used[base] += 1
            names.append(f"{base}_{used[base]}")
        else:
            used[base] = 0
            names.append(base)
    return names


# -- opening files safely ---------------------------------------------------------------------


def _sniff(path: Path) -> str:
    """``"zip"`` or ``"hdf5"`` from the file's first bytes; clear errors otherwise."""
    if not path.exists():
        raise FileNotFoundError(f"No such file: '{path}'")
    if path.is_dir():
        if (path / "config.json").is_file():
            return "dir"  # Keras 3's unzipped format: save_model(..., zipped=False)
        raise KerasFileError(
            f"'{path}' is a directory, not a Keras file (expected a .keras, .weights.h5 or "
            ".h5 file, or a directory holding config.json and model.weights.h5)"
        )
    with open(path, "rb") as f:
        head = f.read(8)
        if head[:4] in _ZIP_MAGIC:
            return "zip"
        # HDF5 allows a user block of 512, 1024, 2048 ... bytes before the signature.
        offset = 0
        size = path.stat().st_size
        while offset + 8 <= size:
            f.seek(offset)
            if f.read(8) == _HDF5_MAGIC:
                return "hdf5"
            offset = 512 if offset == 0 else offset * 2
    if not head:
        raise KerasFileError(f"'{path}' is empty, not a Keras file")
    raise KerasFileError(
        f"'{path}' is not a Keras file: expected a .keras zip archive or an HDF5 file "
        f"(.weights.h5 / .h5), found a file starting with {head!r}"
    )


def _corrupted(path: Path, exc: BaseException) -> KerasFileError:
    return KerasFileError(f"'{path}' is truncated or corrupted: {exc}")


def _open_h5(source, path: Path) -> h5py.File:
    try:
        return h5py.File(source, "r")
    except OSError as exc:
        raise _corrupted(path, exc) from exc


class _SafeZip:
    """A zip archive whose members are checked before anything is read."""

    def __init__(self, path: Path):
        self.path = path
        try:
            self.zf = zipfile.ZipFile(path, "r")
        except (zipfile.BadZipFile, OSError, EOFError) as exc:
            raise _corrupted(path, exc) from exc
        names = [info.filename for info in self.zf.infolist()]
        for name in names:
            parts = name.replace("\\", "/").split("/")
            if name.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", name) or ".." in parts:
                raise KerasFileError(
                    f"'{path}': refusing a zip archive with an unsafe member name {name!r} "
                    "(absolute path or '..')"
                )
        duplicates = sorted(n for n, count in Counter(names).items() if count > 1)
        if duplicates:
            raise KerasFileError(
                f"'{path}': refusing a zip archive with duplicate members {duplicates}"
            )
        self.names = set(names)

    def read(self, name: str, max_bytes: int | None = None) -> bytes:
        info = self.zf.getinfo(name)  # exact name: no globbing, no normalisation
        if max_bytes is not None and info.file_size > max_bytes:
            raise KerasFileError(
                f"'{self.path}': zip member '{name}' declares {info.file_size} bytes, "
                f"more than the {max_bytes} allowed"
            )
        if info.file_size > _ZIP_BOMB_FLOOR and info.file_size > _ZIP_MAX_RATIO * max(
            info.compress_size, 1
        ):
            raise KerasFileError(
                f"'{self.path}': zip member '{name}' declares {info.file_size} bytes but "
                f"stores only {info.compress_size}: refusing a potential decompression bomb"
            )
        try:
            with self.zf.open(info, "r") as member:
                data = member.read(info.file_size + 1)
        except (zipfile.BadZipFile, OSError, EOFError, RuntimeError) as exc:
            raise _corrupted(self.path, exc) from exc
        if len(data) != info.file_size:
            raise _corrupted(self.path, f"member '{name}' is not the size it declares")
        return data

    def close(self) -> None:
        self.zf.close()


class _KerasDir:
    """Keras 3's unzipped ``.keras`` (a directory): the same reads as :class:`_SafeZip`."""

    def __init__(self, path: Path):
        self.path = path
        # Regular files only, at the top level: symbolic links are not followed.
        self.names = {p.name for p in path.iterdir() if p.is_file() and not p.is_symlink()}

    def read(self, name: str, max_bytes: int | None = None) -> bytes:
        member = self.path / name
        size = member.stat().st_size
        if max_bytes is not None and size > max_bytes:
            raise KerasFileError(
                f"'{self.path}': '{name}' has {size} bytes, more than the {max_bytes} allowed"
            )
        return member.read_bytes()

    def close(self) -> None:
        pass


def _h5_child(parent: h5py.Group, name: str, where: str, path: Path):
    """``parent[name]`` one component at a time, refusing links; None when absent."""
    node = parent
    parts = name.split("/")
    for part in parts:
        if part in ("", ".", ".."):
            raise KerasFileError(f"'{path}': refusing the HDF5 path {name!r} in {where}")
        if not isinstance(node, h5py.Group):
            return None
        link = node.get(part, getlink=True)  # the link itself, never followed
        if link is None:
            return None
        if isinstance(link, h5py.SoftLink | h5py.ExternalLink):
            raise KerasFileError(
                f"'{path}': refusing an HDF5 {type(link).__name__} at "
                f"{node.name.rstrip('/')}/{part} (links are not followed)"
            )
        try:
            node = node[part]
        except (KeyError, OSError) as exc:
            raise _corrupted(path, exc) from exc
    return node


def _h5_group(parent: h5py.Group, name: str, where: str, path: Path) -> h5py.Group | None:
    node = _h5_child(parent, name, where, path)
    if node is not None and not isinstance(node, h5py.Group):
        raise KerasFileError(f"'{path}': expected an HDF5 group at {node.name}, found a dataset")
    return node


def _h5_array(parent: h5py.Group, name: str, where: str, path: Path) -> np.ndarray:
    node = _h5_child(parent, name, where, path)
    if node is None:
        raise KerasFileError(f"'{path}': {where}: the weight {name!r} is missing")
    if not isinstance(node, h5py.Dataset):
        raise KerasFileError(f"'{path}': expected an HDF5 dataset at {node.name}, found a group")
    if node.external:
        raise KerasFileError(f"'{path}': refusing the external dataset {node.name}")
    if node.is_virtual:
        raise KerasFileError(f"'{path}': refusing the virtual dataset {node.name}")
    if node.dtype.kind not in "fiu":
        raise KerasFileError(
            f"'{path}': {where}: the weight {node.name} has dtype {node.dtype}, expected numbers"
        )
    declared = math.prod(node.shape or ()) * node.dtype.itemsize
    stored = node.id.get_storage_size()
    if declared > _H5_BOMB_FLOOR and declared > _H5_MAX_RATIO * max(stored, 1):
        raise KerasFileError(
            f"'{path}': the dataset {node.name} declares {declared} bytes but stores only "
            f"{stored}: refusing a potential shape bomb"
        )
    try:
        return np.array(node)
    except OSError as exc:
        raise _corrupted(path, exc) from exc


def _h5_strings(group: h5py.Group, name: str) -> list[str]:
    """A list-of-strings attribute, joined from ``name0, name1, ...`` when it was split."""

    def decode(values) -> list[str]:
        return [v.decode("utf8") if isinstance(v, bytes) else str(v) for v in np.atleast_1d(values)]

    if name in group.attrs:
        values = group.attrs[name]
        return [] if np.size(values) == 0 else decode(values)
    out: list[str] = []
    chunk = 0
    while f"{name}{chunk}" in group.attrs:  # long lists spill over (HDF5 header limit)
        out.extend(decode(group.attrs[f"{name}{chunk}"]))
        chunk += 1
    return out


def _h5_text(attrs, name: str) -> str | None:
    value = attrs.get(name)
    if value is None:
        return None
    if isinstance(value, bytes):
        return value.decode("utf8")
    if isinstance(value, np.ndarray) and value.shape == ():
        value = value.item()
        return value.decode("utf8") if isinstance(value, bytes) else str(value)
    return str(value)


def _parse_json(text: str | bytes, what: str, path: Path):
    try:
        return json.loads(text)
    except (ValueError, UnicodeDecodeError) as exc:
        raise _corrupted(path, f"{what} is not valid JSON ({exc})") from exc


# -- reading ------------------------------------------------------------------------------------


def _read_keras3_weights(
    h5: h5py.File, class_names: Sequence[str], layer_names: Sequence[str], path: Path
) -> list[list[np.ndarray]]:
    """Per-layer arrays from a Keras 3 weights file, for layers of these classes in order."""
    if "layers" not in h5 and "_layer_checkpoint_dependencies" not in h5:
        raise KerasFileError(
            f"'{path}' is not a Keras weights file: no 'layers' group (found {sorted(h5)})"
        )
    root = "layers" if "layers" in h5 else "_layer_checkpoint_dependencies"  # Keras 2.13
    out = []
    for cls, group_name, layer_name in zip(
        class_names, weights_group_names(class_names), layer_names, strict=True
    ):
        spec = SUPPORTED_LAYERS[cls]
        where = f"layer '{layer_name}' ({cls})"
        if spec.vars_path is None:
            out.append([])
            continue
        vars_path = f"{root}/{group_name}/{spec.vars_path}"
        group = _h5_group(h5, vars_path, where, path)
        if group is None:
            raise KerasFileError(f"'{path}': {where}: no weights at {vars_path}")
        keys = [str(i) for i in range(len(group))]
        if sorted(group.keys()) != sorted(keys):
            raise KerasFileError(
                f"'{path}': {where}: expected datasets 0, 1, ... in {vars_path}, "
                f"found {sorted(group.keys())}"
            )
        out.append([_h5_array(group, k, where, path) for k in keys])
    return out


def _read_legacy_weights(group: h5py.Group, path: Path) -> tuple[list[str], list[list[np.ndarray]]]:
    """Layer names and arrays of a legacy ``model_weights`` group, layers with weights only."""
    names, arrays = [], []
    for layer_name in _h5_strings(group, "layer_names"):
        where = f"layer '{layer_name}'"
        layer_group = _h5_group(group, layer_name, where, path)
        if layer_group is None:
            raise KerasFileError(f"'{path}': {where} is listed in layer_names but missing")
        weight_names = _h5_strings(layer_group, "weight_names")
        if not weight_names:
            continue
        names.append(layer_name)
        arrays.append([_h5_array(layer_group, w, where, path) for w in weight_names])
    return names, arrays


def _assign_legacy(
    config: dict, names: list[str], arrays: list[list[np.ndarray]], path: Path
) -> list[list[np.ndarray]]:
    """Match a legacy file's weighted layers to the config's layers, in order (as Keras)."""
    layers = _weighted_layers(config)
    weighted = [
        i for i, layer in enumerate(layers) if SUPPORTED_LAYERS[layer["class_name"]].vars_path
    ]
    if len(weighted) != len(arrays):
        raise KerasFileError(
            f"'{path}': the config has {len(weighted)} layers with weights, the file stores "
            f"weights for {len(arrays)} ({names})"
        )
    out: list[list[np.ndarray]] = [[] for _ in layers]
    for i, values in zip(weighted, arrays, strict=True):
        out[i] = values
    return out


def _check_keras1(version: str, path: Path) -> None:
    if keras_major_version(version) < 2:
        raise KerasFileError(
            f"'{path}' was written by Keras {version} (Keras 1 stored 12 arrays per LSTM in "
            "gate order i, c, f, o); npylstm reads files from Keras 2 on"
        )


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
        return _read_keras_archive(path, kind)
    h5 = _open_h5(path, path)
    with h5:
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
        group = _h5_group(h5, "model_weights", "model_weights", path)
        if group is None:
            raise KerasFileError(f"'{path}': the legacy model file has no 'model_weights' group")
        version = _h5_text(group.attrs, "keras_version") or _h5_text(h5.attrs, "keras_version")
        version = version or "1"
        _check_keras1(version, path)
        config = normalize_model_config(
            _parse_json(text, "model_config", path), version, f"'{path}'"
        )
        names, arrays = _read_legacy_weights(group, path)
        training = _h5_text(h5.attrs, "training_config")
        compile_config = (
            None if training is None else _parse_json(training, "training_config", path)
        )
    layer_weights = _assign_legacy(config, names, arrays, path)
    return ModelFile(config, layer_weights, version, "legacy_h5", names, compile_config)


def _read_keras_archive(path: Path, kind: str = "zip") -> ModelFile:
    archive = _SafeZip(path) if kind == "zip" else _KerasDir(path)
    try:
        missing = [m for m in ("config.json", "model.weights.h5") if m not in archive.names]
        if missing:
            what = "zip archive" if kind == "zip" else "directory"
            raise KerasFileError(
                f"'{path}' is a {what} but not a .keras file: no {' or '.join(missing)} "
                f"(found {sorted(archive.names)[:10]})"
            )
        raw_config = _parse_json(archive.read("config.json", _JSON_MAX_BYTES), "config.json", path)
        version = KERAS_FORMAT_VERSION
        if "metadata.json" in archive.names:
            meta = _parse_json(
                archive.read("metadata.json", _JSON_MAX_BYTES), "metadata.json", path
            )
            if isinstance(meta, dict) and meta.get("keras_version"):
                version = str(meta["keras_version"])
        config = normalize_model_config(raw_config, version, f"'{path}'")
        layers = _weighted_layers(config)
        classes = [layer["class_name"] for layer in layers]
        names = [
            layer["config"].get("name", cls) for layer, cls in zip(layers, classes, strict=True)
        ]
        weights_bytes = archive.read("model.weights.h5")
    finally:
        archive.close()
    with _open_h5(io.BytesIO(weights_bytes), path) as h5:
        arrays = _read_keras3_weights(h5, classes, names, path)
    return ModelFile(
        config, arrays, version, "keras", weights_group_names(classes), config.get("compile_config")
    )


def read_weights_file(
    path: str | os.PathLike, class_names: Sequence[str], layer_names: Sequence[str] | None = None
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

    Returns
    -------
    ModelFile
        ``config`` is None; ``layer_weights`` has one entry per class name.
    """
    path = Path(path)
    class_names = list(class_names)
    layer_names = list(layer_names) if layer_names is not None else list(class_names)
    unsupported = sorted(set(class_names) - set(SUPPORTED_LAYERS))
    if unsupported:
        raise KerasFileError(
            f"unsupported layer classes {unsupported}; npylstm supports {sorted(SUPPORTED_LAYERS)}"
        )
    kind = _sniff(path)
    if kind in ("zip", "dir"):
        archive = _SafeZip(path) if kind == "zip" else _KerasDir(path)
        try:
            if "model.weights.h5" not in archive.names:
                raise KerasFileError(f"'{path}' is not a .keras file: no model.weights.h5")
            data = archive.read("model.weights.h5")
        finally:
            archive.close()
        with _open_h5(io.BytesIO(data), path) as h5:
            arrays = _read_keras3_weights(h5, class_names, layer_names, path)
        return ModelFile(None, arrays, KERAS_FORMAT_VERSION, "keras", layer_names)
    with _open_h5(path, path) as h5:
        if "layers" in h5 or "_layer_checkpoint_dependencies" in h5:
            arrays = _read_keras3_weights(h5, class_names, layer_names, path)
            return ModelFile(None, arrays, KERAS_FORMAT_VERSION, "weights.h5", layer_names)
        group = h5
        fmt = "legacy_weights_h5"
        if "layer_names" not in h5.attrs and "model_weights" in h5:
            group = _h5_group(h5, "model_weights", "model_weights", path)
            fmt = "legacy_h5"
        if "layer_names" not in group.attrs and "layer_names0" not in group.attrs:
            raise KerasFileError(
                f"'{path}' is an HDF5 file but not a Keras weights file (no 'layers' group and "
                "no 'layer_names' attribute)"
            )
        version = _h5_text(group.attrs, "keras_version") or _h5_text(h5.attrs, "keras_version")
        version = version or "1"
        _check_keras1(version, path)
        names, arrays = _read_legacy_weights(group, path)
    config = {
        "class_name": "Sequential",
        "config": {
            "layers": [
                {"class_name": c, "config": {"name": n}}
                for c, n in zip(class_names, layer_names, strict=True)
            ]
        },
    }
    return ModelFile(None, _assign_legacy(config, names, arrays, path), version, fmt, names)


# -- writing ------------------------------------------------------------------------------------


def _atomic_write(path: str | os.PathLike, write: Callable[[Path], None]) -> Path:
    """Run ``write(tmp)`` on a temporary file beside ``path``, then rename it into place."""
    path = Path(path)
    if path.is_dir():
        raise KerasFileError(f"'{path}' is a directory; expected a file path to write")
    directory = path.parent if str(path.parent) else Path(".")
    if not directory.is_dir():
        raise FileNotFoundError(
            f"Cannot write '{path}': the directory '{directory}' does not exist"
        )
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def _check_layers(class_names: Sequence[str], layer_weights: Sequence[Sequence[np.ndarray]]):
    if len(class_names) != len(layer_weights):
        raise ValueError(
            f"expected one weight list per layer: {len(class_names)} layers, "
            f"received {len(layer_weights)} weight lists"
        )
    unsupported = sorted(set(class_names) - set(SUPPORTED_LAYERS))
    if unsupported:
        raise KerasFileError(
            f"cannot write layer classes {unsupported}; supported: {sorted(SUPPORTED_LAYERS)}"
        )
    for cls, weights in zip(class_names, layer_weights, strict=True):
        spec = SUPPORTED_LAYERS[cls]
        if len(weights) > len(spec.weight_names):
            raise ValueError(
                f"a {cls} layer has at most {len(spec.weight_names)} weights, received "
                f"{len(weights)}"
            )


def _write_keras3_weights(
    h5: h5py.File,
    model_name: str,
    class_names: Sequence[str],
    layer_names: Sequence[str],
    layer_weights: Sequence[Sequence[np.ndarray]],
) -> None:
    """The layout ``model.save_weights`` writes (``saving_lib._save_state``)."""
    h5.create_group("vars").attrs["name"] = model_name
    layers = h5.create_group("layers")
    for cls, group_name, name, weights in zip(
        class_names, weights_group_names(class_names), layer_names, layer_weights, strict=True
    ):
        group = layers.create_group(group_name)
        group.create_group("vars").attrs["name"] = name  # every layer: its own (empty) vars
        spec = SUPPORTED_LAYERS[cls]
        if spec.vars_path is None:
            continue
        if spec.vars_path == "cell/vars":  # an RNN keeps its variables in its cell
            vars_group = group.create_group("cell").create_group("vars")
            vars_group.attrs["name"] = f"{cls.lower()}_cell"
        else:
            vars_group = group["vars"]
        for index, array in enumerate(weights):
            vars_group.create_dataset(str(index), data=np.asarray(array))


def _keras3_uses_keras2_hard_sigmoid(config: dict) -> list[str]:
    found = []
    for layer in config["config"]["layers"]:
        for key in _ACTIVATION_KEYS.get(layer["class_name"], ()):
            if layer["config"].get(key) == KERAS2_HARD_SIGMOID:
                found.append(f"{layer['config'].get('name')}.{key}")
    return found


def _check_config(config: dict) -> None:
    if not isinstance(config, dict) or config.get("class_name") != "Sequential":
        raise ValueError(
            "expected a Sequential model config {'class_name': 'Sequential', 'config': ...}, "
            f"received {type(config).__name__}"
        )
    normalize_model_config(config, KERAS_FORMAT_VERSION, "<model config>")


def write_keras_file(
    path: str | os.PathLike, config: dict, layer_weights: Sequence[Sequence[np.ndarray]]
) -> Path:
    """Write a Keras 3 ``.keras`` archive that ``keras.saving.load_model`` reads.

    Parameters
    ----------
    path : str or PathLike
    config : dict
        ``{"class_name": "Sequential", "config": {"name", "layers": [...]}}``, layers as
        Keras 3 serializes them (``module``/``class_name``/``config``).
    layer_weights : sequence of sequence of np.ndarray
        One list per non-Input layer, in ``get_weights()`` order.

    Raises
    ------
    KerasFileError
        A layer uses Keras 2's hard_sigmoid, which Keras 3 cannot express.
    """
    _check_config(config)
    keras2 = _keras3_uses_keras2_hard_sigmoid(config)
    if keras2:
        raise KerasFileError(
            f"cannot save {keras2} = Keras 2's hard_sigmoid clip(0.2x + 0.5) in a Keras 3 "
            "file (Keras 3's hard_sigmoid is clip(x/6 + 0.5)); save a legacy '.h5' instead, "
            "which keeps keras_version 2"
        )
    config = _with_keras3_modules(config)
    layers = _weighted_layers(config)
    class_names = [layer["class_name"] for layer in layers]
    layer_names = [
        layer["config"].get("name", c) for layer, c in zip(layers, class_names, strict=True)
    ]
    _check_layers(class_names, layer_weights)
    model_name = config["config"].get("name", "sequential")
    buffer = io.BytesIO()
    with h5py.File(buffer, "w") as h5:
        _write_keras3_weights(h5, model_name, class_names, layer_names, layer_weights)
    metadata = {
        "keras_version": KERAS_FORMAT_VERSION,
        "date_saved": datetime.datetime.now().strftime("%Y-%m-%d@%H:%M:%S"),
        "saved_by": "npylstm",
    }

    def write(tmp: Path) -> None:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_STORED) as zf:  # as Keras
            zf.writestr("metadata.json", json.dumps(metadata))
            zf.writestr("config.json", json.dumps(config))
            zf.writestr("model.weights.h5", buffer.getvalue())

    return _atomic_write(path, write)


def _with_keras3_modules(config: dict) -> dict:
    """Add the ``module`` / ``registered_name`` keys Keras 3 writes, where absent."""
    config = copy.deepcopy(config)
    config.setdefault("module", "keras")
    config.setdefault("registered_name", None)
    for layer in config["config"]["layers"]:
        layer.setdefault("module", "keras.layers")
        layer.setdefault("registered_name", None)
    return config


def write_weights_file(
    path: str | os.PathLike,
    class_names: Sequence[str],
    layer_weights: Sequence[Sequence[np.ndarray]],
    layer_names: Sequence[str] | None = None,
    model_name: str = "sequential",
) -> Path:
    """Write a Keras 3 ``.weights.h5`` file that ``keras_model.load_weights`` reads.

    Parameters
    ----------
    path : str or PathLike
        Keras insists on a name ending in ``.weights.h5``.
    class_names : sequence of str
        Layer classes, InputLayer excluded, e.g. ``["LSTM", "Dense"]``.
    layer_weights : sequence of sequence of np.ndarray
        One list per layer, in ``get_weights()`` order.
    layer_names, model_name : optional
        Stored as the ``name`` attributes of the ``vars`` groups.
    """
    class_names = list(class_names)
    layer_names = list(layer_names) if layer_names is not None else list(class_names)
    _check_layers(class_names, layer_weights)
    if not str(path).endswith(".weights.h5"):
        raise ValueError(
            f"a Keras 3 weights file name must end in '.weights.h5', received '{path}'"
        )

    def write(tmp: Path) -> None:
        with h5py.File(tmp, "w") as h5:
            _write_keras3_weights(h5, model_name, class_names, layer_names, layer_weights)

    return _atomic_write(path, write)


def _legacy_layer_config(layer: dict, keras2: bool) -> dict:
    """A layer config as the legacy writer stores it (tf_keras's form when ``keras2``)."""
    cls = layer["class_name"]
    config = copy.deepcopy(layer["config"])
    for key in _ACTIVATION_KEYS.get(cls, ()):
        if config.get(key) == KERAS2_HARD_SIGMOID:
            config[key] = "hard_sigmoid"  # keras_version 2 in the file says which one
    if keras2:
        if isinstance(config.get("dtype"), dict):
            config["dtype"] = (config["dtype"].get("config") or {}).get("name", "float32")
        for key in _KERAS3_ONLY.get(cls, ()):
            config.pop(key, None)
        if cls == "InputLayer" and "batch_shape" in config:
            config["batch_input_shape"] = config.pop("batch_shape")
        config.update({k: v for k, v in _KERAS2_ONLY.get(cls, {}).items() if k not in config})
        for value in config.values():
            if isinstance(value, dict):
                value.pop("shared_object_id", None)
                if isinstance(value.get("config"), dict):
                    value["config"].pop("input_axes", None)
                    value["config"].pop("output_axes", None)
    return {"class_name": cls, "config": config}


def write_legacy_h5(
    path: str | os.PathLike,
    config: dict | None,
    layer_weights: Sequence[Sequence[np.ndarray]],
    class_names: Sequence[str] | None = None,
    layer_names: Sequence[str] | None = None,
) -> Path:
    """Write a legacy HDF5 file: a whole model (``config`` given) or weights only.

    A model using Keras 2's hard_sigmoid is written with ``keras_version`` 2.x and a
    tf_keras-style config, so tf_keras (and npylstm) read it back with the same meaning;
    any other model is written with ``keras_version`` 3.x in Keras 3's legacy form.

    Parameters
    ----------
    path : str or PathLike
    config : dict or None
        The Sequential config; None writes a weights-only file (then ``class_names`` and
        ``layer_names`` are required).
    layer_weights : sequence of sequence of np.ndarray
        One list per non-Input layer, in ``get_weights()`` order.
    """
    keras2 = False
    training_config = None
    if config is not None:
        _check_config(config)
        keras2 = bool(_keras3_uses_keras2_hard_sigmoid(config))
        layers = _weighted_layers(config)
        class_names = [layer["class_name"] for layer in layers]
        layer_names = [
            layer["config"].get("name", c) for layer, c in zip(layers, class_names, strict=True)
        ]
        model_config = {
            "class_name": "Sequential",
            "config": {
                **{k: v for k, v in config["config"].items() if k not in ("layers", "dtype")},
                "layers": [
                    _legacy_layer_config(layer, keras2) for layer in config["config"]["layers"]
                ],
            },
        }
        if keras2:
            model_config["config"].pop("trainable", None)
        compile_config = config.get("compile_config")
        # Only for tf.keras: Keras 3.15 cannot load a legacy file whose training_config
        # names its loss by a string (not even one it wrote itself), so a Keras 3 legacy
        # file is written uncompiled, which Keras loads with a note to compile it.
        if compile_config and keras2:  # the optimizer goes apart, as optimizer_config
            optimizer = compile_config.get("optimizer") or {}
            training_config = {
                **{k: v for k, v in compile_config.items() if k != "optimizer"},
                "optimizer_config": {
                    # tf.keras 2.11+'s spelling of its (Keras 3-like) optimizers; a bare
                    # "Adam" would select its legacy optimizer, which rejects weight_decay.
                    "class_name": f"Custom>{optimizer.get('class_name')}",
                    "config": optimizer.get("config"),
                },
            }
    elif class_names is None or layer_names is None:
        raise ValueError("write_legacy_h5: a weights-only file needs class_names and layer_names")
    class_names, layer_names = list(class_names), list(layer_names)
    _check_layers(class_names, layer_weights)
    version = KERAS2_FORMAT_VERSION if keras2 else KERAS_FORMAT_VERSION
    backend = "tensorflow" if keras2 else "numpy"

    def fill(group: h5py.Group) -> None:
        group.attrs["backend"] = backend
        group.attrs["keras_version"] = version
        group.attrs["layer_names"] = np.array([n.encode("utf8") for n in layer_names])
        for cls, name, weights in zip(class_names, layer_names, layer_weights, strict=True):
            spec = SUPPORTED_LAYERS[cls]
            layer_group = group.create_group(name)
            scope = f"{name}/{spec.legacy_scope}" if spec.legacy_scope else name
            weight_names = [f"{scope}/{w}:0" for w in spec.weight_names[: len(weights)]]
            layer_group.attrs["weight_names"] = np.array([w.encode("utf8") for w in weight_names])
            for weight_name, array in zip(weight_names, weights, strict=True):
                layer_group.create_dataset(weight_name, data=np.asarray(array))
        group.create_group("top_level_model_weights").attrs["weight_names"] = np.array([], "S1")

    def write(tmp: Path) -> None:
        with h5py.File(tmp, "w") as h5:
            if config is None:
                fill(h5)
                return
            h5.attrs["backend"] = backend
            h5.attrs["keras_version"] = version
            h5.attrs["model_config"] = json.dumps(model_config)
            if training_config is not None:
                h5.attrs["training_config"] = json.dumps(training_config)
            fill(h5.create_group("model_weights"))

    return _atomic_write(path, write)


# -- models ---------------------------------------------------------------------------------------
# The glue between files and npylstm.Sequential. model.py imports this module lazily (from
# its save / load_weights methods), so the imports of npylstm below are local too.


def _model_layers(model) -> tuple[list[str], list[str]]:
    layers = model.layers
    for layer in layers:
        if type(layer).__name__ not in SUPPORTED_LAYERS:
            raise KerasFileError(
                f"layer '{layer.name}' ({type(layer).__name__}) cannot be stored in a Keras "
                f"file; supported: {sorted(SUPPORTED_LAYERS)}"
            )
    return [type(layer).__name__ for layer in layers], [layer.name for layer in layers]


def _assign_weights(model, layer_weights: Sequence[Sequence[np.ndarray]], source: str) -> None:
    """Set each layer's weights, checking every count and shape before changing anything."""
    layers = model.layers
    if len(layers) != len(layer_weights):
        raise KerasFileError(
            f"{source}: the model has {len(layers)} layers {[layer.name for layer in layers]}, "
            f"the file has weights for {len(layer_weights)}"
        )
    if not model.built:
        # Build from the first kernel's input size: (None, None, D) for an LSTM, else (None, D).
        pairs = zip(layers, layer_weights, strict=True)
        first = next(((layer, w) for layer, w in pairs if w), None)
        if first is None:
            raise KerasFileError(f"{source}: cannot build the model: no layer has weights")
        rank = 3 if type(first[0]).__name__ == "LSTM" else 2
        model.build((None,) * (rank - 1) + (int(np.shape(first[1][0])[0]),))
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
    from .model import Sequential

    try:
        return Sequential.from_config(config["config"])
    except (TypeError, ValueError) as exc:
        raise KerasFileError(f"{source}: cannot rebuild the model from its config: {exc}") from exc


def load_model(path: str | os.PathLike, compile: bool = True):  # noqa: A002 - Keras's name
    """Load a whole model from a ``.keras`` file or a legacy ``.h5`` model file, without Keras.

    Parameters
    ----------
    path : str or PathLike
    compile : bool
        Compile the model as the file says it was compiled (optimizer hyperparameters, loss,
        metrics), as ``keras.saving.load_model`` does. The optimizer's state (moments,
        iteration count) is not restored. A compile setting npylstm lacks gives a warning
        and an uncompiled model.

    Returns
    -------
    npylstm.Sequential
        Built, with the file's weights.

    Examples
    --------
    >>> model = load_model("model.keras")                   # doctest: +SKIP
    >>> model.predict(x)                                     # doctest: +SKIP
    """
    saved = read_model_file(path)
    model = _sequential_from_config(saved.config, f"'{path}'")
    _assign_weights(model, saved.layer_weights, f"'{path}'")
    if compile and saved.compile_config:
        _compile_from_config(model, saved.compile_config, f"'{path}'")
    return model


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
    if isinstance(loss, dict):  # Keras 3 adds the loss's dtype, which npylstm has no use for
        loss = {
            **loss,
            "config": {k: v for k, v in (loss.get("config") or {}).items() if k != "dtype"},
        }
    metrics = compile_config.get("metrics")
    try:
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


def _model_config(model) -> dict:
    config = {"class_name": "Sequential", "config": model.get_config()}
    if getattr(model, "compiled", False) and model.optimizer is not None:
        # As Keras writes it; Keras compiles the loaded model with it (optimizer state is
        # not written: Keras starts that fresh, and says so).
        metrics = [m.name for m in getattr(model, "compiled_metrics", [])]
        config["compile_config"] = {
            "optimizer": {
                "module": "keras.optimizers",
                "class_name": type(model.optimizer).__name__,
                "config": model.optimizer.get_config(),
                "registered_name": None,
            },
            "loss": None if model.loss is None else model.loss.name,
            "loss_weights": None,
            "metrics": metrics or None,
            "weighted_metrics": None,
            "run_eagerly": False,
            "steps_per_execution": 1,
            "jit_compile": True,
        }
    return config


def save_model(model, path: str | os.PathLike) -> Path:
    """Write ``model`` as ``.keras`` (Keras 3) or, for a ``.h5`` name, as a legacy HDF5 model."""
    name = str(path)
    _model_layers(model)
    if not model.built:
        raise KerasFileError(
            f"cannot save '{path}': build the model first (its input shape is unknown)"
        )
    weights = [layer.get_weights() for layer in model.layers]
    if name.endswith(".keras"):
        return write_keras_file(path, _model_config(model), weights)
    if name.endswith(".h5") and not name.endswith(".weights.h5"):
        return write_legacy_h5(path, _model_config(model), weights)
    raise ValueError(
        f"save: expected a file name ending in '.keras' (Keras 3) or '.h5' (legacy HDF5), "
        f"received '{path}'; use save_weights() for '.weights.h5'"
    )


def save_weights(model, path: str | os.PathLike) -> Path:
    """Write the weights: Keras 3 ``.weights.h5``, or legacy HDF5 for any other ``.h5`` name."""
    classes, names = _model_layers(model)
    weights = [layer.get_weights() for layer in model.layers]
    name = str(path)
    if name.endswith(".weights.h5"):
        return write_weights_file(path, classes, weights, names, model.name)
    if name.endswith(".h5"):
        return write_legacy_h5(path, None, weights, classes, names)
    raise ValueError(
        f"save_weights: expected a file name ending in '.weights.h5' (Keras 3) or '.h5' "
        f"(legacy), received '{path}'"
    )


def load_weights(model, path: str | os.PathLike) -> None:
    """Load weights from a ``.weights.h5``, ``.keras`` or legacy ``.h5`` file into ``model``.

    Keras 3 files are matched by layer class and order, legacy files by the order of the
    layers that have weights (as Keras does). Nothing is changed if any layer mismatches.
    """
    classes, names = _model_layers(model)
    saved = read_weights_file(path, classes, names)
    _assign_weights(model, saved.layer_weights, f"'{path}'")


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
    """An npylstm ``Sequential`` with the config and weights of a Keras ``Sequential`` model.

    A model from Keras 3 keeps Keras 3's meaning of ``"hard_sigmoid"``; one from Keras 2,
    tf_keras or tf.keras gets Keras 2's (``"hard_sigmoid_keras2"``).

    Parameters
    ----------
    keras_model : keras.Sequential (Keras 3), or tf_keras / tf.keras Sequential
        Built (its input shape known).

    Examples
    --------
    >>> model = from_keras(keras_model)                      # doctest: +SKIP
    """
    if type(keras_model).__name__ != "Sequential" or not hasattr(keras_model, "get_config"):
        raise TypeError(
            f"from_keras: expected a keras.Sequential model, received {type(keras_model).__name__}"
        )
    version = _keras_package_version(keras_model)
    source = f"Keras {version} model '{keras_model.name}'"
    config = normalize_model_config(
        {"class_name": "Sequential", "config": keras_model.get_config()}, version, source
    )
    model = _sequential_from_config(config, source)
    keras3 = keras_major_version(version) >= 3
    weights = [_variable_values(layer, keras3) for layer in keras_model.layers]
    _assign_weights(model, weights, source)
    return model


def to_keras(model):
    """A Keras 3 ``keras.Sequential`` with ``model``'s config and weights (imports Keras).

    Raises
    ------
    KerasFileError
        The model uses Keras 2's hard_sigmoid, which Keras 3 cannot express.
    """
    import keras

    _model_layers(model)
    config = _model_config(model)
    _check_config(config)
    keras2 = _keras3_uses_keras2_hard_sigmoid(config)
    if keras2:
        raise KerasFileError(
            f"to_keras: {keras2} use Keras 2's hard_sigmoid clip(0.2x + 0.5), which Keras 3 "
            "cannot express (its hard_sigmoid is clip(x/6 + 0.5))"
        )
    keras_model = keras.Sequential.from_config(_with_keras3_modules(config)["config"])
    if model.built:
        for keras_layer, layer in zip(keras_model.layers, model.layers, strict=True):
            keras_layer.set_weights(layer.get_weights())
    return keras_model
