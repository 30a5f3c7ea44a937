"""Keras model and weight files, PyTorch state dicts and live Keras models <-> plain data and
npylstm models. The only package that imports h5py.

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
``.npz`` / ``.pt``        PyTorch ``nn.LSTM`` state dicts (``weight_ih_l0`` ...)  yes    yes
``.onnx``                 ONNX graph (opset 14+, default 17): LSTM/GRU/RNN        yes    yes
                          operators + standard ops; ``keras_config`` metadata
========================  ======================================================  =====  =====

The plain data is a :class:`ModelFile`: the model config in Keras 3's form (a dict, the
same thing ``keras.Sequential.get_config`` is wrapped in), one list of arrays per layer in
``get_weights()`` order, and the ``keras_version`` that wrote the file. The readers and
writers know nothing of npylstm's ops; :mod:`npylstm.io.load` (:func:`load_model`,
:func:`save_model`, :func:`load_weights`, :func:`save_weights`, :func:`load_any`) and
:mod:`npylstm.io.keras_live` (:func:`from_keras`, :func:`to_keras`) connect them to
npylstm's models, which import this package lazily; it never imports them.

Modules: :mod:`~npylstm.io.model_file` (the data, errors, versions),
:mod:`~npylstm.io._safe` (opening untrusted files), :mod:`~npylstm.io.keras_config`
(configs against the layer registry, Keras 2 <-> 3), :mod:`~npylstm.io.keras3` and
:mod:`~npylstm.io.legacy_h5` (the two HDF5 layouts, each walking every layer's variable
tree), :mod:`~npylstm.io.files` (which kind a file is; reading any of them),
:mod:`~npylstm.io.torch` (state dicts, without importing torch), :mod:`~npylstm.io.onnx`
(ONNX export and import; ``onnx`` is imported only when they run).

Safety
------
* Nothing named in a file is imported or evaluated: layer classes come from the registry
  (:mod:`npylstm.registry`), activations are names looked up in a table.
* Zip members are read by exact name; archives with absolute or ``..`` member names,
  duplicate names, or members declaring a huge uncompressed size are refused.
* HDF5 objects are reached one path component at a time; soft links, external links,
  external and virtual datasets, non-numeric datasets and shape bombs are refused.
* A missing file, a file that is not a Keras file, and a truncated or corrupted file give
  three different messages naming the path.
* Every writer goes through :mod:`npylstm.io.atomic`: the whole file under a temporary
  name in the target directory, fsynced, then ``os.replace``-d into place, so an error,
  a full disk or ``kill -9`` never leaves a half-written file; new files get ``open()``'s
  permissions (``0o666 & ~umask``), an overwritten file keeps its mode.

Semantics
---------
Keras 2 meant ``clip(0.2 x + 0.5, 0, 1)`` by ``"hard_sigmoid"``; Keras 3 means
``clip(x / 6 + 0.5, 0, 1)``. A legacy file whose ``keras_version`` is below 3 is read with
``"hard_sigmoid_keras2"`` in place of ``"hard_sigmoid"``; writing such a model keeps
``keras_version`` 2 in a legacy ``.h5`` and is refused for the Keras 3 formats (Keras 3 has
no activation with that meaning).
"""

from .files import (
    MODEL_FILES,
    STATE_DICTS,
    WEIGHTS_FILES,
    file_kind,
    read_model_file,
    read_weights_file,
)
from .keras3 import weights_group_names, write_keras_file, write_weights_file
from .keras_config import normalize_model_config, supported_layers
from .keras_live import from_keras, to_keras
from .legacy_h5 import write_legacy_h5
from .load import (
    load_any,
    load_model,
    load_weights,
    model_from_config,
    read_model_weights,
    save_model,
    save_weights,
)
from .model_file import (
    KERAS2_FORMAT_VERSION,
    KERAS2_HARD_SIGMOID,
    KERAS_FORMAT_VERSION,
    ConfigFileError,
    ConfigRequiredError,
    KerasFileError,
    ModelFile,
    keras_major_version,
)
from .onnx import ExportError as OnnxExportError
from .onnx import OnnxImportError, export_onnx, import_onnx
from .torch import (
    TorchModule,
    from_torch_state_dict,
    load_state_dict_file,
    load_torch_state_dict,
    lstm_layers,
    module_signature,
    read_state_dict,
    read_torch_module,
    split_state_dict,
    to_torch_state_dict,
    to_torch_state_dicts,
    torch_layers,
    torch_modules,
)

__all__ = [
    "KERAS2_FORMAT_VERSION",
    "KERAS2_HARD_SIGMOID",
    "KERAS_FORMAT_VERSION",
    "MODEL_FILES",
    "STATE_DICTS",
    "WEIGHTS_FILES",
    "ConfigFileError",
    "ConfigRequiredError",
    "KerasFileError",
    "ModelFile",
    "OnnxExportError",
    "OnnxImportError",
    "TorchModule",
    "export_onnx",
    "file_kind",
    "from_keras",
    "from_torch_state_dict",
    "import_onnx",
    "keras_major_version",
    "load_any",
    "load_model",
    "load_state_dict_file",
    "load_torch_state_dict",
    "load_weights",
    "lstm_layers",
    "model_from_config",
    "module_signature",
    "normalize_model_config",
    "read_model_file",
    "read_model_weights",
    "read_state_dict",
    "read_torch_module",
    "read_weights_file",
    "save_model",
    "save_weights",
    "split_state_dict",
    "supported_layers",
    "to_keras",
    "to_torch_state_dict",
    "to_torch_state_dicts",
    "torch_layers",
    "torch_modules",
    "weights_group_names",
    "write_keras_file",
    "write_legacy_h5",
    "write_weights_file",
]
