"""``import_onnx``: an npylstm model from an ONNX file.

Two kinds of file are understood:

* **This exporter's** (:func:`~npylstm.io.onnx.export_onnx`): the Keras model config is in
  ``metadata_props["keras_config"]``; the model is built from it through the layer registry
  (nothing in the file is imported or evaluated) and every weight is read back from the
  initializer the exporter named after it (``<layer>/kernel``, ``<layer>/W`` ...), the
  ONNX layouts converted back to Keras's (gate order, transposes, the two biases).
* **A plain chain** of ONNX operators such as tf2onnx writes for a Keras LSTM / GRU /
  SimpleRNN classifier (:mod:`._chain`): recurrent nodes (with the time-major
  ``Transpose`` before them and the ``Squeeze`` / ``Transpose`` after), ``MatMul`` + ``Add``
  or ``Gemm`` dense layers and activations.

Every initializer is checked before it is converted: no external data, and the bytes
present must match the declared dimensions (a shape bomb is refused before any
allocation). Anything unrecognised is an :class:`OnnxImportError` naming the node and its
operator.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from .._safe import _JSON_MAX_BYTES
from ..model_file import KerasFileError
from ._graph import require_onnx
from ._recurrent import keras_weights

__all__ = ["MAX_FILE_BYTES", "OnnxImportError", "import_onnx", "initializer_arrays"]

MAX_FILE_BYTES = 2 << 30  # protobuf's own limit
_MAX_ELEMENTS = 1 << 31


class OnnxImportError(KerasFileError):
    """An ONNX file that is damaged, unsafe, or not a graph this importer recognises (a
    ``ValueError``, through :class:`~npylstm.io.KerasFileError`, naming the file).

    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "junk.onnx")
    >>> with open(path, "wb") as f:
    ...     _ = f.write(b"not a model")
    >>> try:
    ...     import_onnx(path)
    ... except OnnxImportError as e:
    ...     print("is not an ONNX model" in str(e) or "is not a valid ONNX model" in str(e))
    True
    """


def _tensor_array(onnx, tensor, path: Path) -> np.ndarray:
    """One initializer as an array, its size checked against the data present first."""
    name = tensor.name
    if tensor.data_location == onnx.TensorProto.EXTERNAL or tensor.external_data:
        raise OnnxImportError(f"'{path}': initializer '{name}' keeps its data in an external "
                              "file; only self-contained ONNX files are read")
    dims = list(tensor.dims)
    if any(d < 0 for d in dims):
        raise OnnxImportError(f"'{path}': initializer '{name}' has negative dims {dims}")
    count = int(np.prod(dims, dtype=object)) if dims else 1
    if count > _MAX_ELEMENTS:
        raise OnnxImportError(f"'{path}': initializer '{name}' declares {count} elements")
    try:
        dtype = onnx.helper.tensor_dtype_to_np_dtype(tensor.data_type)
    except (KeyError, ValueError) as exc:
        raise OnnxImportError(f"'{path}': initializer '{name}' has an unknown data type "
                              f"{tensor.data_type}") from exc
    if dtype.kind not in "fiub":
        raise OnnxImportError(f"'{path}': initializer '{name}' is not numeric ({dtype})")
    if tensor.HasField("raw_data"):
        present = len(tensor.raw_data) // dtype.itemsize
    else:
        fields = (tensor.float_data, tensor.double_data, tensor.int32_data, tensor.int64_data,
                  tensor.uint64_data)
        present = max(len(f) for f in fields)
    if present != count:
        raise OnnxImportError(f"'{path}': initializer '{name}' declares dims {dims} "
                              f"({count} values) but holds {present}")
    return np.asarray(onnx.numpy_helper.to_array(tensor))


def initializer_arrays(onnx, proto, path: Path) -> dict[str, np.ndarray]:
    """Every initializer of the main graph, checked (see :func:`_tensor_array`)."""
    return {t.name: _tensor_array(onnx, t, path) for t in proto.graph.initializer}


def _read(path: Path):
    onnx = require_onnx("import_onnx")
    if not path.exists():
        raise FileNotFoundError(f"No such file: '{path}'")
    if path.is_dir():
        raise OnnxImportError(f"'{path}' is a directory; expected an ONNX file")
    size = path.stat().st_size
    if size > MAX_FILE_BYTES:
        raise OnnxImportError(f"'{path}' is {size} bytes, more than an ONNX file can hold")
    data = path.read_bytes()
    try:
        proto = onnx.load_model_from_string(data)
    except Exception as exc:  # noqa: BLE001 - protobuf's DecodeError and friends
        raise OnnxImportError(f"'{path}' is not an ONNX model (it does not parse: "
                              f"{type(exc).__name__}: {exc})") from exc
    if not proto.graph.node and not proto.graph.output:
        raise OnnxImportError(f"'{path}' is not an ONNX model (no graph)")
    return onnx, proto


def _check(onnx, proto, path: Path) -> None:
    try:
        onnx.checker.check_model(proto)
    except onnx.checker.ValidationError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else repr(exc)
        raise OnnxImportError(f"'{path}' is not a valid ONNX model: {first}") from exc


def import_onnx(path: str | os.PathLike):
    """The npylstm model an ONNX file describes (see the module docstring for which).

    >>> import numpy as np, npylstm, tempfile, os
    >>> from npylstm.layers import LSTM, Dense
    >>> from npylstm.io.onnx import export_onnx
    >>> m = npylstm.Sequential([LSTM(3), Dense(1)]); m.build((None, 4, 2))
    >>> p = export_onnx(m, os.path.join(tempfile.mkdtemp(), "m.onnx"))
    >>> back = import_onnx(p)
    >>> [type(layer).__name__ for layer in back.layers]
    ['LSTM', 'Dense']
    >>> x = np.ones((1, 4, 2), "float32"); bool(np.array_equal(back(x), m(x)))
    True
    """
    path = Path(path)
    onnx, proto = _read(path)
    arrays = initializer_arrays(onnx, proto, path)  # sizes checked before anything else
    _check(onnx, proto, path)
    props = {p.key: p.value for p in proto.metadata_props}
    if "keras_config" in props:
        return _from_metadata(props["keras_config"], arrays, path)
    from ._chain import import_chain

    return import_chain(onnx, proto, arrays, path)


def _from_metadata(text: str, arrays: dict, path: Path):
    from ..budget import file_budget
    from ..load import _assign_weights, _weighted, model_from_config

    if len(text) > _JSON_MAX_BYTES:
        raise OnnxImportError(f"'{path}': the keras_config metadata is {len(text)} bytes")
    try:
        config = json.loads(text)
    except ValueError as exc:
        raise OnnxImportError(f"'{path}': the keras_config metadata is not valid JSON "
                              f"({exc})") from exc
    if not isinstance(config, dict):
        raise OnnxImportError(f"'{path}': the keras_config metadata is not a model config")
    # built as load_model builds: zero placeholders within the file's arrays (a config
    # declaring more than the file holds is refused before anything is allocated)
    with file_budget(list(arrays.values()), f"'{path}'"):
        try:
            model, _ = model_from_config(config)
        except (ValueError, TypeError, KeyError) as exc:
            raise OnnxImportError(f"'{path}': the keras_config metadata does not describe an "
                                  f"npylstm model: {exc}") from exc
        weights = [_layer_weights(layer, arrays, path) for layer in _weighted(model)]
        _assign_weights(model, weights, str(path))
    return model


def _take(arrays: dict, name: str, path: Path, layer) -> np.ndarray:
    if name not in arrays:
        raise OnnxImportError(f"'{path}': layer '{layer.name}' ({type(layer).__name__}) needs "
                              f"the initializer '{name}', which the file does not have")
    return arrays[name]


def _recurrent_weights(layer, arrays: dict, path: Path, base: str, direction: int):
    kind = type(layer).__name__
    w = _take(arrays, f"{base}/W", path, layer)[direction]
    r = _take(arrays, f"{base}/R", path, layer)[direction]
    b = _take(arrays, f"{base}/B", path, layer)[direction] if layer.use_bias else None
    reset_after = bool(getattr(layer, "reset_after", False))
    if b is not None and not reset_after and np.any(np.split(b, 2)[1]):
        raise OnnxImportError(f"'{path}': layer '{layer.name}' ({kind}): the recurrent bias "
                              "Rb is not zero; a Keras layer has one bias")
    return keras_weights(kind, w, r, b, reset_after)


def _layer_weights(layer, arrays: dict, path: Path) -> list[np.ndarray]:
    """``layer.get_weights()`` from the initializers the exporter named after it."""
    kind, base = type(layer).__name__, layer.name
    if kind in ("LSTM", "GRU", "SimpleRNN"):
        return _recurrent_weights(layer, arrays, path, base, 0)
    if kind == "Bidirectional":
        return (_recurrent_weights(layer.forward_layer, arrays, path, base, 0)
                + _recurrent_weights(layer.backward_layer, arrays, path, base, 1))
    if kind == "TimeDistributed":
        return _layer_weights(layer.layer, arrays, path)
    out = []
    for weight in layer.weights:
        a = _take(arrays, f"{base}/{weight.name}", path, layer)
        if kind == "Conv1D" and weight.name == "kernel":
            a = np.transpose(a, (2, 1, 0))  # ONNX (out, in, K) -> Keras (K, in, out)
        shape = tuple(np.shape(weight.value))
        if a.size != int(np.prod(shape)):
            raise OnnxImportError(f"'{path}': initializer '{base}/{weight.name}' has shape "
                                  f"{a.shape}; layer '{base}' expects {shape}")
        out.append(np.ascontiguousarray(a.reshape(shape)))
    return out
