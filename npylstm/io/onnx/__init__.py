"""ONNX export and import (the optional ``onnx`` package; ``onnxruntime`` runs the files).

* :func:`export_onnx` / :func:`to_onnx_model`: an npylstm model as ONNX operators with the
  same predictions (recurrent layers as ONNX ``LSTM`` / ``GRU`` / ``RNN``, gate order and
  biases converted; see :mod:`._recurrent` and :mod:`._layers` for what maps to what);
  anything without an exact form is refused (:class:`ExportError`), naming the layer.
* :func:`import_onnx`: the model back from a file this exporter wrote (its Keras config is
  in the metadata, its weights are the ONNX initializers), or from a plain chain of ONNX
  recurrent and dense operators such as tf2onnx writes for a Keras LSTM classifier.

Nothing here is imported by ``npylstm.io`` unless asked for: ``import onnx`` happens inside
the functions.
"""

from ._graph import ExportError
from .export import DEFAULT_OPSET, MIN_OPSET, export_onnx, to_onnx_model
from .importer import OnnxImportError, import_onnx

__all__ = ["DEFAULT_OPSET", "MIN_OPSET", "ExportError", "OnnxImportError", "export_onnx",
           "import_onnx", "to_onnx_model"]
