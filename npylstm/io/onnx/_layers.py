"""Keras's non-recurrent layers as standard ONNX operators (inference semantics).

Each converter follows the layer's Keras 3.15 source (``keras/src/layers/...``) and the
npylstm layer that reproduces it, in the same operation order:

=====================================  ================================================
Keras                                  ONNX
=====================================  ================================================
Dense                                  MatMul (+ Add) (+ activation)
Activation, ReLU, LeakyReLU, ELU,      the activation's operators (Relu, Sigmoid, ...,
Softmax, PReLU                         Clip, LeakyRelu, Elu, Softmax, PRelu)
Dropout, SpatialDropout1D,             nothing (identity at inference)
GaussianNoise, GaussianDropout
Embedding                              Gather (ids cast to int64); ``mask_zero``: a mask
Masking                                ``x * any(x != mask_value)``, and a mask
Flatten, Reshape, Permute,             Flatten, Reshape, Transpose, Unsqueeze + Tile
RepeatVector
Conv1D                                 Transpose + Conv + Transpose (channels last)
Max/AveragePooling1D                   Transpose + MaxPool / AveragePool + Transpose
GlobalMax/AveragePooling1D             ReduceMax / ReduceMean (masked mean: sums)
BatchNormalization                     ``x * inv + (beta - mean * inv)``,
                                       ``inv = gamma / sqrt(var + eps)`` (JAX's order)
LayerNormalization                     its moments and the same formula (rms_scaling too)
Add, Subtract, Multiply, Average,      Add / Sub / Mul / Max / Min chains, Concat
Maximum, Minimum, Concatenate
TimeDistributed(layer)                 the inner layer on ``(B*T, ...)``, reshaped back
=====================================  ================================================
"""

from __future__ import annotations

import numpy as np

from ._graph import ExportError, Graph, Tensor, elementwise_activation

__all__ = ["CONVERTERS", "IDENTITY_LAYERS"]

IDENTITY_LAYERS = ("Dropout", "SpatialDropout1D", "GaussianNoise", "GaussianDropout")


def _who(layer) -> str:
    return f"layer '{layer.name}' ({type(layer).__name__})"


def _out_shape(layer, shapes):
    return tuple(layer.compute_output_shape(shapes[0] if len(shapes) == 1 else shapes))


def _dense(g: Graph, layer, xs: list[Tensor]) -> list[Tensor]:
    base = layer.name
    y = g.op("MatMul", [xs[0].name, g.const(f"{base}/kernel", layer.kernel)], f"{base}/matmul")
    if layer.bias is not None:
        y = g.op("Add", [y, g.const(f"{base}/bias", layer.bias)], f"{base}/bias_add")
    y = elementwise_activation(g, layer.activation, y, f"{base}/activation", _who(layer))
    return [Tensor(y, _out_shape(layer, [xs[0].shape]), xs[0].mask)]


def _activation(g: Graph, layer, xs: list[Tensor]) -> list[Tensor]:
    kind, base, x = type(layer).__name__, layer.name, xs[0].name
    if kind == "Activation":
        y = elementwise_activation(g, layer.activation, x, base, _who(layer))
    elif kind == "Softmax":
        axis = layer.axis
        if not isinstance(axis, int):
            raise ExportError(f"{_who(layer)}: a softmax over several axes ({axis}) has no "
                              "single ONNX operator")
        y = g.op("Softmax", [x], base, axis=int(axis))
    elif kind == "LeakyReLU":
        y = g.op("LeakyRelu", [x], base, alpha=float(layer.negative_slope))
    elif kind == "ELU":
        y = g.op("Elu", [x], base, alpha=float(layer.alpha))
    elif kind == "PReLU":
        y = g.op("PRelu", [x, g.const(f"{base}/alpha", layer.alpha)], base)
    else:  # ReLU(max_value, negative_slope, threshold)
        y = _relu(g, layer, x, base)
    return [Tensor(y, tuple(xs[0].shape), xs[0].mask)]


def _relu(g: Graph, layer, x: str, base: str) -> str:
    slope, threshold, top = float(layer.negative_slope), float(layer.threshold), layer.max_value
    if threshold != 0.0:
        raise ExportError(f"{_who(layer)}: threshold={threshold} is not exported (only the "
                          "default 0)")
    y = g.op("LeakyRelu", [x], f"{base}/leaky", alpha=slope) if slope else g.op(
        "Relu", [x], f"{base}/relu")
    if top is not None:
        y = g.op("Min", [y, g.scalar(f"{base}/max_value", float(top))], base)
    return y


def _identity(g: Graph, layer, xs: list[Tensor]) -> list[Tensor]:
    return [xs[0]]


def _embedding(g: Graph, layer, xs: list[Tensor]) -> list[Tensor]:
    base, x = layer.name, xs[0]
    ids = g.op("Cast", [x.name], f"{base}/ids", to=g.onnx.TensorProto.INT64)
    y = g.op("Gather", [g.const(f"{base}/embeddings", layer.embeddings), ids], base, axis=0)
    mask = None
    if layer.mask_zero:  # Keras: ops.not_equal(inputs, 0)
        mask = g.op("Not", [g.op("Equal", [ids, g.ints(f"{base}/zero", [0])],
                                 f"{base}/is_zero")], f"{base}/mask")
    return [Tensor(y, _out_shape(layer, [x.shape]), mask)]


def _masking(g: Graph, layer, xs: list[Tensor]) -> list[Tensor]:
    # Keras: any(x != mask_value, axis=-1, keepdims=True); outputs = x * cast(mask)
    base, x = layer.name, xs[0]
    differs = g.op("Not", [g.op("Equal", [x.name, g.scalar(f"{base}/mask_value",
                                                           float(layer.mask_value))],
                                f"{base}/equal")], f"{base}/differs")
    keep = g.reduce("ReduceMax", g.op("Cast", [differs], f"{base}/differs_f",
                                      to=_float_type(g)), [-1], f"{base}/keep")
    y = g.op("Mul", [x.name, keep], base)
    mask = g.op("Cast", [g.squeeze(keep, [-1], f"{base}/keep_2d")], f"{base}/mask",
                to=g.onnx.TensorProto.BOOL)
    return [Tensor(y, tuple(x.shape), mask)]


def _float_type(g: Graph) -> int:
    return g.onnx.helper.np_dtype_to_tensor_dtype(np.dtype(g.dtype))


def _reshaping(g: Graph, layer, xs: list[Tensor]) -> list[Tensor]:
    kind, base, x = type(layer).__name__, layer.name, xs[0]
    out = _out_shape(layer, [x.shape])
    if kind == "Flatten":
        if getattr(layer, "data_format", "channels_last") == "channels_first" and len(
                x.shape) > 2:
            raise ExportError(f"{_who(layer)}: data_format='channels_first' is not exported")
        y = g.op("Flatten", [x.name], base, axis=1)
    elif kind == "Reshape":
        y = g.op("Reshape", [x.name, g.ints(f"{base}/shape", [0, *layer.target_shape])], base)
    elif kind == "Permute":
        y = g.op("Transpose", [x.name], base, perm=[0, *layer.dims])
    else:  # RepeatVector: (B, F) -> (B, n, F)
        y = g.op("Tile", [g.unsqueeze(x.name, [1], f"{base}/expand"),
                          g.ints(f"{base}/repeats", [1, layer.n, 1])], base)
    return [Tensor(y, out, None)]


def _conv_pads(layer, kernel: int, dilation: int, stride: int) -> dict:
    if layer.padding == "same":  # Keras / TF: the odd step padded at the end
        if stride == 1:  # (K - 1) * d in all, whatever the length (ORT: no auto_pad + dilation)
            total = (kernel - 1) * dilation
            return {"pads": [total // 2, total - total // 2]}
        return {"auto_pad": "SAME_UPPER"}
    if layer.padding == "causal":
        return {"pads": [(kernel - 1) * dilation, 0]}
    return {"pads": [0, 0]}


def _channels_first(g: Graph, layer, x: str, base: str) -> str:
    if layer.data_format == "channels_first":
        return x
    return g.op("Transpose", [x], base, perm=[0, 2, 1])


def _conv1d(g: Graph, layer, xs: list[Tensor]) -> list[Tensor]:
    base, x = layer.name, xs[0]
    (k,), (s,), (d,) = layer.kernel_size, layer.strides, layer.dilation_rate
    w = g.const(f"{base}/kernel", np.transpose(layer.kernel, (2, 1, 0)))  # (out, in/g, K)
    inputs = [_channels_first(g, layer, x.name, f"{base}/ncw"), w]
    if layer.bias is not None:
        inputs.append(g.const(f"{base}/bias", layer.bias))
    y = g.op("Conv", inputs, f"{base}/conv", kernel_shape=[k], strides=[s], dilations=[d],
             group=int(layer.groups), **_conv_pads(layer, k, d, s))
    y = _channels_first(g, layer, y, f"{base}/nwc")
    y = elementwise_activation(g, layer.activation, y, f"{base}/activation", _who(layer))
    return [Tensor(y, _out_shape(layer, [x.shape]), None)]


def _pooling(g: Graph, layer, xs: list[Tensor]) -> list[Tensor]:
    base, x, kind = layer.name, xs[0], type(layer).__name__
    (k,), (s,) = layer.pool_size, layer.strides
    op = "MaxPool" if kind == "MaxPooling1D" else "AveragePool"
    extra = {} if op == "MaxPool" else {"count_include_pad": 0}  # Keras: real steps only
    y = g.op(op, [_channels_first(g, layer, x.name, f"{base}/ncw")], f"{base}/pool",
             kernel_shape=[k], strides=[s], **_conv_pads(layer, k, 1, s), **extra)
    y = _channels_first(g, layer, y, f"{base}/nwc")
    return [Tensor(y, _out_shape(layer, [x.shape]), None)]


def _global_pooling(g: Graph, layer, xs: list[Tensor]) -> list[Tensor]:
    base, x, kind = layer.name, xs[0], type(layer).__name__
    axis = 1 if layer.data_format == "channels_last" else 2
    keep = int(layer.keepdims)
    if kind == "GlobalMaxPooling1D" or x.mask is None:
        op = "ReduceMax" if kind == "GlobalMaxPooling1D" else "ReduceMean"
        y = g.reduce(op, x.name, [axis], base, keepdims=keep)
    else:  # sum(where(mask, x, 0)) / sum(mask), Keras's masked mean
        if axis != 1:
            raise ExportError(f"{_who(layer)}: a masked channels_first mean is not exported")
        m = g.unsqueeze(x.mask, [-1], f"{base}/mask_3d")  # (B, T, 1)
        kept = g.op("Where", [m, x.name, g.scalar(f"{base}/zero", 0.0)], f"{base}/kept")
        total = g.reduce("ReduceSum", kept, [1], f"{base}/sum", keepdims=keep)
        count = g.reduce("ReduceSum", g.op("Cast", [m], f"{base}/mask_f", to=_float_type(g)),
                         [1], f"{base}/count", keepdims=keep)
        y = g.op("Div", [total, count], base)
    return [Tensor(y, _out_shape(layer, [x.shape]), None)]


def _broadcast_shape(rank: int, axes: list[int], size: tuple) -> list[int]:
    shape = [1] * rank
    for a, n in zip(axes, size, strict=True):
        shape[a] = n
    return shape


def _normalize(g: Graph, x: str, mean: str, variance: str, gamma, beta, eps: float,
               base: str) -> str:
    """JAX's ``batch_normalization``: ``x * inv + (beta - mean * inv)``,
    ``inv = gamma / sqrt(variance + eps)`` (npylstm's ``_normalize``)."""
    std_inv = g.op("Div", [g.scalar(f"{base}/one", 1.0), g.op("Sqrt", [g.op(
        "Add", [variance, g.scalar(f"{base}/epsilon", eps)], f"{base}/var_eps")],
        f"{base}/std")], f"{base}/std_inv")
    inv = std_inv if gamma is None else g.op("Mul", [std_inv, gamma], f"{base}/inv")
    res = g.op("Neg", [g.op("Mul", [mean, inv], f"{base}/mean_inv")], f"{base}/res")
    if beta is not None:
        res = g.op("Add", [res, beta], f"{base}/res_beta")
    return g.op("Add", [g.op("Mul", [x, inv], f"{base}/scaled"), res], base)


def _batch_norm(g: Graph, layer, xs: list[Tensor]) -> list[Tensor]:
    base, x = layer.name, xs[0]
    rank = len(x.shape)
    axis = layer.axis % rank
    shape = _broadcast_shape(rank, [axis], (-1,))

    def param(name, value):
        return None if value is None else g.const(f"{base}/{name}",
                                                   np.reshape(value, shape))

    y = _normalize(g, x.name, param("moving_mean", layer.moving_mean),
                   param("moving_variance", layer.moving_variance),
                   param("gamma", layer.gamma), param("beta", layer.beta),
                   float(layer.epsilon), base)
    return [Tensor(y, tuple(x.shape), x.mask)]


def _layer_norm(g: Graph, layer, xs: list[Tensor]) -> list[Tensor]:
    base, x = layer.name, xs[0]
    rank = len(x.shape)
    axes = sorted(a % rank for a in (layer.axis if isinstance(layer.axis, list | tuple)
                                     else [layer.axis]))
    sizes = tuple(x.shape[a] for a in axes)

    def param(name, value):
        return None if value is None else g.const(
            f"{base}/{name}", np.reshape(value, _broadcast_shape(rank, axes, sizes)))

    mean = g.reduce("ReduceMean", x.name, axes, f"{base}/mean")
    xc = g.op("Sub", [x.name, mean], f"{base}/centered")
    variance = g.reduce("ReduceMean", g.op("Mul", [xc, xc], f"{base}/sq"), axes,
                        f"{base}/variance")
    gamma = param("gamma", layer.gamma)
    if layer.rms_scaling:  # x / sqrt(variance + eps) * gamma
        std_inv = g.op("Div", [g.scalar(f"{base}/one", 1.0), g.op("Sqrt", [g.op(
            "Add", [variance, g.scalar(f"{base}/epsilon", float(layer.epsilon))],
            f"{base}/var_eps")], f"{base}/std")], f"{base}/std_inv")
        y = g.op("Mul", [x.name, std_inv], f"{base}/scaled")
        if gamma is not None:
            y = g.op("Mul", [y, gamma], base)
    else:
        y = _normalize(g, x.name, mean, variance, gamma, param("beta", layer.beta),
                       float(layer.epsilon), base)
    return [Tensor(y, tuple(x.shape), x.mask)]


_MERGE_OPS = {"Add": "Add", "Multiply": "Mul", "Maximum": "Max", "Minimum": "Min",
              "Average": "Add"}


def _merge(g: Graph, layer, xs: list[Tensor]) -> list[Tensor]:
    kind, base = type(layer).__name__, layer.name
    if any(x.mask is not None for x in xs) and kind == "Concatenate":
        raise ExportError(f"{_who(layer)}: a masked Concatenate is not exported (Keras "
                          "concatenates the masks)")
    shapes = [x.shape for x in xs]
    out = _out_shape(layer, shapes) if len(shapes) > 1 else tuple(shapes[0])
    if kind == "Concatenate":
        y = g.op("Concat", [x.name for x in xs], base, axis=int(layer.axis))
    elif kind == "Subtract":
        y = g.op("Sub", [xs[0].name, xs[1].name], base)
    elif kind in _MERGE_OPS:
        y = xs[0].name
        for k, x in enumerate(xs[1:]):  # Keras reduces left to right
            y = g.op(_MERGE_OPS[kind], [y, x.name], f"{base}/{k}")
        if kind == "Average":
            y = g.op("Div", [y, g.scalar(f"{base}/count", float(len(xs)))], base)
    else:
        raise ExportError(f"{_who(layer)}: not exported")
    mask = None
    if all(x.mask is not None for x in xs):  # Keras's Merge.compute_mask: the logical OR
        mask = xs[0].mask
        for k, x in enumerate(xs[1:]):
            mask = g.op("Or", [mask, x.mask], f"{base}/mask{k}")
    return [Tensor(y, out, mask)]


def _time_distributed(g: Graph, layer, xs: list[Tensor]) -> list[Tensor]:
    from .export import convert_layer  # the inner layer's converter

    base, x, inner = layer.name, xs[0], layer.layer
    if x.mask is not None and getattr(inner, "USES_MASK", False):
        raise ExportError(f"{_who(layer)}: a masked call of {type(inner).__name__} is not "
                          "exported")
    if any(d is None for d in x.shape[2:]):
        raise ExportError(f"{_who(layer)}: the per-step shape {x.shape[2:]} must be known")
    # (B, T, ...) -> (B*T, ...): the inner layer -> (B, T, ...)
    flat = g.op("Reshape", [x.name, g.ints(f"{base}/flat_shape", [-1, *x.shape[2:]])],
                f"{base}/flat")
    inner_in = Tensor(flat, (None, *x.shape[2:]), None)
    (y,) = convert_layer(g, inner, [inner_in], None)
    bt = g.op("Slice", [g.op("Shape", [x.name], f"{base}/shape"), g.ints(f"{base}/s0", [0]),
                        g.ints(f"{base}/s1", [2])], f"{base}/batch_time")
    shape = g.op("Concat", [bt, g.ints(f"{base}/rest", list(y.shape[1:]))],
                 f"{base}/out_shape", axis=0)
    out = g.op("Reshape", [y.name, shape], base)
    return [Tensor(out, _out_shape(layer, [x.shape]), x.mask)]


CONVERTERS = {
    "Dense": _dense,
    **{k: _activation for k in ("Activation", "Softmax", "ReLU", "LeakyReLU", "ELU",
                                "PReLU")},
    **{k: _identity for k in IDENTITY_LAYERS},
    "Embedding": _embedding,
    "Masking": _masking,
    **{k: _reshaping for k in ("Flatten", "Reshape", "Permute", "RepeatVector")},
    "Conv1D": _conv1d,
    "MaxPooling1D": _pooling,
    "AveragePooling1D": _pooling,
    "GlobalMaxPooling1D": _global_pooling,
    "GlobalAveragePooling1D": _global_pooling,
    "BatchNormalization": _batch_norm,
    "LayerNormalization": _layer_norm,
    **{k: _merge for k in ("Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum",
                           "Concatenate")},
    "TimeDistributed": _time_distributed,
}
