"""``export_onnx``: an npylstm (or loaded Keras) model as an ONNX file with the same
predictions.

The model is walked layer by layer (a ``Sequential``'s chain, or a functional model's
nodes in topological order); each layer becomes the ONNX operators of
:mod:`._recurrent` / :mod:`._layers`, built from its weights as they are now. The graph
has a dynamic batch dimension (``"batch"``) and keeps every other dimension the model
leaves open (a ``None`` time axis stays dynamic). The file passes
``onnx.checker.check_model(..., full_check=True)`` before it is written (atomically, by
:func:`npylstm.io._safe._atomic_write`), and carries the Keras model config in its
``metadata_props`` (``"keras_config"``) so :func:`~npylstm.io.onnx.import_onnx` gives the
same model back.

Refused, with the layer and the reason (never exported approximately): masks reaching a
recurrent layer (Keras carries the states and repeats the previous output at a masked
step wherever it lies; ONNX's ``sequence_lens`` only cuts a suffix and zeroes ``Y``
there), ``stateful=True``, activations without an exact ONNX form, nested models, and
every layer class not listed in :mod:`._layers` / :mod:`._recurrent`.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from ._graph import ExportError, Graph, Tensor, require_onnx
from ._layers import CONVERTERS
from ._recurrent import export_bidirectional, export_recurrent

__all__ = ["DEFAULT_OPSET", "MIN_OPSET", "ExportError", "export_onnx", "to_onnx_model"]

DEFAULT_OPSET = 17
MIN_OPSET = 14
METADATA_KEY = "keras_config"
_RECURRENT = ("LSTM", "GRU", "SimpleRNN")
#: layers that take a mask whose converter gives Keras's masked result (BatchNormalization:
#: the mask only changes its training-time moments)
_MASK_AWARE = ("GlobalAveragePooling1D", "TimeDistributed", "BatchNormalization")


def _who(layer) -> str:
    return f"layer '{layer.name}' ({type(layer).__name__})"


def check_exportable(layer) -> None:
    """Refuse a layer class (or a nested model) that has no ONNX converter."""
    kind = type(layer).__name__
    if hasattr(layer, "_nodes") or hasattr(layer, "_layers"):
        raise ExportError(f"{_who(layer)}: nested models are not exported; flatten the model "
                          "into one")
    if kind not in CONVERTERS and kind not in (*_RECURRENT, "Bidirectional"):
        raise ExportError(f"{_who(layer)}: no exact ONNX export for {kind}; exported layers: "
                          f"{sorted(CONVERTERS) + sorted((*_RECURRENT, 'Bidirectional'))}")


def convert_layer(g: Graph, layer, inputs: list[Tensor], initial_state) -> list[Tensor]:
    """The ONNX operators of one layer call: its output :class:`Tensor` s."""
    kind = type(layer).__name__
    check_exportable(layer)
    if kind in _RECURRENT or kind == "Bidirectional":
        if inputs[0].mask is not None:
            raise ExportError(
                f"{_who(layer)}: receives a Keras time mask; Keras carries the states and "
                "repeats the previous output at every masked step, which ONNX's "
                "sequence_lens (a cut-off suffix, zeros in Y) cannot express exactly")
        export = export_bidirectional if kind == "Bidirectional" else export_recurrent
        return export(g, layer, inputs[0], initial_state)
    if initial_state:
        raise ExportError(f"{_who(layer)}: initial_state is only exported for recurrent layers")
    if getattr(layer, "USES_MASK", False) and kind not in _MASK_AWARE and any(
            x.mask is not None for x in inputs):
        raise ExportError(f"{_who(layer)}: receives a Keras time mask, which changes its "
                          "output (Keras's masked call); not exported")
    if kind not in ("Embedding", "Masking"):
        dtype = getattr(layer, "dtype", None)
        if dtype is not None and np.dtype(dtype) != g.dtype:
            raise ExportError(f"{_who(layer)}: dtype {np.dtype(dtype).name} differs from the "
                              f"model's {g.dtype.name}")
    return CONVERTERS[kind](g, layer, inputs)


def _value_info(onnx, name: str, shape: tuple, dtype, dims: str):
    dims_out = [f"{dims}_{k}" if d is None else int(d) for k, d in enumerate(shape)]
    if dims_out:
        dims_out[0] = "batch"
    elem = onnx.helper.np_dtype_to_tensor_dtype(np.dtype(dtype))
    return onnx.helper.make_tensor_value_info(name, elem, dims_out)


def _sequential(g: Graph, model):
    shape = model.input_shape
    dtype = np.dtype(model._input_dtype())
    name = g.unique(model._input_layer_name() if hasattr(model, "_input_layer_name")
                    else "input")
    x = Tensor(name, tuple(shape))
    inputs = [(name, tuple(shape), dtype)]
    out_name = g.unique(model.layers[-1].name)  # reserved for the graph's output
    for layer in model.layers:
        if type(layer).__name__ == "InputLayer":
            continue
        outs = convert_layer(g, layer, [x], None)
        if len(outs) != 1:
            raise ExportError(f"{_who(layer)}: several outputs in a Sequential model")
        x = outs[0]
    return inputs, [(out_name, x)]


def _functional(g: Graph, model):
    from ...layers.graph import KerasTensor, map_structure

    values, inputs, out_names = {}, [], []
    for tensor in model.inputs:
        name = g.unique(tensor.node.layer.name)
        values[id(tensor)] = Tensor(name, tuple(tensor.shape))
        inputs.append((name, tuple(tensor.shape), np.dtype(tensor.dtype)))
    for tensor in model.outputs:  # reserved for the graph's outputs
        out_names.append(g.unique(tensor.node.layer.name))
    for node in model._nodes:
        if node.is_input:
            continue
        layer = node.layer
        check_exportable(layer)
        extra = set(node.kwargs) - {"initial_state", "training", "mask"}
        if extra or node.kwargs.get("mask") is not None:
            raise ExportError(f"{_who(layer)}: call arguments {sorted(node.kwargs)} are not "
                              "exported (initial_state only)")

        def value(t):
            return values[id(t)] if isinstance(t, KerasTensor) else t

        args = map_structure(value, node.args)
        xs = args[0] if isinstance(args[0], list) else [args[0]]
        if len(args) > 1 or not all(isinstance(x, Tensor) for x in xs):
            raise ExportError(f"{_who(layer)}: a call with arguments {node.args!r} is not "
                              "exported")
        initial = node.kwargs.get("initial_state")
        initial = None if initial is None else [value(t) for t in (
            initial if isinstance(initial, list | tuple) else [initial])]
        outs = convert_layer(g, layer, xs, initial)
        if len(outs) != len(node.outputs):
            raise ExportError(f"{_who(layer)}: {len(outs)} outputs exported, "
                              f"{len(node.outputs)} in the model")
        for tensor, out in zip(node.outputs, outs, strict=True):
            values[id(tensor)] = Tensor(out.name, tuple(tensor.shape), out.mask)
    outputs = [(name, values[id(t)]) for name, t in zip(out_names, model.outputs, strict=True)]
    return inputs, outputs


def _model_dtype(model) -> np.dtype:
    for layer in model.layers:
        if type(layer).__name__ in ("InputLayer", "Embedding"):
            continue
        dtype = getattr(layer, "dtype", None)
        if dtype is not None:
            return np.dtype(dtype)
    return np.dtype("float32")


def to_onnx_model(model, opset: int = DEFAULT_OPSET):
    """The ``onnx.ModelProto`` of a built npylstm model (checked; not written).

    >>> import numpy as np, npylstm
    >>> from npylstm.layers import LSTM, Dense
    >>> m = npylstm.Sequential([LSTM(4), Dense(1)]); m.build((None, 5, 3))
    >>> proto = to_onnx_model(m)
    >>> [n.op_type for n in proto.graph.node][:3]
    ['Transpose', 'LSTM', 'Squeeze']
    """
    from ..load import _model_layers

    onnx = require_onnx("export_onnx")

    if isinstance(opset, bool) or not isinstance(opset, int) or not (
            MIN_OPSET <= opset <= onnx.defs.onnx_opset_version()):
        raise ValueError(f"export_onnx: expected opset to be an integer from {MIN_OPSET} to "
                         f"{onnx.defs.onnx_opset_version()}, received {opset!r}")
    if not hasattr(model, "layers") or not hasattr(model, "get_config"):
        raise TypeError(f"export_onnx: expected an npylstm model (Sequential or functional), "
                        f"received {type(model).__name__}")
    if not model.built:
        raise ExportError(f"export_onnx: model '{model.name}' is not built (its input shape "
                          "is unknown); build it or call it once first")
    dtype = _model_dtype(model)
    if dtype not in (np.float32, np.float64):
        raise ExportError(f"export_onnx: model '{model.name}' has dtype {dtype.name}; "
                          "float32 and float64 are exported")
    g = Graph(onnx, opset, dtype)
    if hasattr(model, "_nodes"):
        inputs, outputs = _functional(g, model)
    else:
        inputs, outputs = _sequential(g, model)
    out_infos = []
    for name, tensor in outputs:
        g.nodes.append(onnx.helper.make_node("Identity", [tensor.name], [name],
                                             name=g.unique(f"{name}/output")))
        out_infos.append(_value_info(onnx, name, tensor.shape, dtype, name))
    in_infos = [_value_info(onnx, n, s, d, n) for n, s, d in inputs]
    graph = onnx.helper.make_graph(g.nodes, model.name, in_infos, out_infos, g.initializers)
    opsets = [onnx.helper.make_opsetid("", opset)]
    proto = onnx.helper.make_model(graph, opset_imports=opsets, producer_name="npylstm",
                                   producer_version=_version())
    # the oldest IR version the opset allows: older runtimes read the file too
    proto.ir_version = onnx.helper.find_min_ir_version_for(opsets)
    try:
        _model_layers(model)
        config = json.dumps({"class_name": type(model).keras_class_name,
                             "config": model.get_config()})
    except (ValueError, TypeError):  # not storable as a Keras config: export only
        config = None
    if config is not None:
        onnx.helper.set_model_props(proto, {METADATA_KEY: config})
    onnx.checker.check_model(proto, full_check=True)
    return proto


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("npylstm")
    except Exception:  # noqa: BLE001 - an uninstalled checkout
        return "0"


def export_onnx(model, path: str | os.PathLike, opset: int = DEFAULT_OPSET) -> Path:
    """Write ``model`` (a built npylstm ``Sequential`` or functional model, e.g. from
    :func:`npylstm.load_model`) as an ONNX file; returns the path.

    Parameters
    ----------
    model : the model; every layer must have an exact ONNX form (else :class:`ExportError`,
        a ``ValueError``, naming the layer and the reason).
    path : the ``.onnx`` file to write (atomically: an error leaves no file).
    opset : the ONNX opset (14 ... the installed onnx's newest; default 17).

    >>> import numpy as np, npylstm, tempfile, os
    >>> from npylstm.layers import GRU
    >>> m = npylstm.Sequential([GRU(2)]); m.build((None, 3, 1))
    >>> p = export_onnx(m, os.path.join(tempfile.mkdtemp(), "gru.onnx")); p.name
    'gru.onnx'
    """
    from .._safe import _atomic_write

    proto = to_onnx_model(model, opset)
    data = proto.SerializeToString()

    def write(tmp: Path) -> None:
        tmp.write_bytes(data)

    return _atomic_write(path, write)
