"""Keras's ``MultiHeadAttention``: scaled dot-product attention over ``num_heads`` heads.

Followed: ``keras/src/layers/attention/multi_head_attention.py`` (Keras 3.15), its four
``EinsumDense`` projections and the JAX backend's ``dot_product_attention``. On
``query (B, T, dim)``, ``value (B, S, dim_v)``, ``key (B, S, dim_k)`` (default: ``value``),
with ``N = num_heads``, ``H = key_dim``, ``Hv = value_dim`` (default ``key_dim``)::

    Q = query @ query/kernel + query/bias    # kernel (dim, N, H), bias (N, H)   (B, T, N, H)
    K = key @ key/kernel + key/bias                                               (B, S, N, H)
    V = value @ value/kernel + value/bias    # (dim_v, N, Hv), (N, Hv)           (B, S, N, Hv)
    logits = einsum("bsnh,btnh->bnts", K, Q / sqrt(H))                             (B, N, T, S)
    P = masked softmax(logits) over S; dropout(P) while training
    C = einsum("bnts,bsnh->btnh", P, V)                                           (B, T, N, Hv)
    output = C @ attention_output/kernel + attention_output/bias  # (N, Hv, E), (E,) (B, T, E)

``E`` is ``output_shape`` (default: the query's ``dim``; several axes allowed). The mask
``(B, T, S)`` is the AND of the query's mask ``(B, T, 1)``, ``value_mask`` and ``key_mask``
``(B, 1, S)``, the causal mask ``t >= s``, the sliding window ``|t - s| < sliding_window``
and ``attention_mask``. As in Keras, two paths treat a query row with nothing to attend to
differently: with ``dropout > 0`` or ``return_attention_scores`` (Keras's einsum path,
Softmax layer) such a row's weights are 0; otherwise (``ops.dot_product_attention``,
``-0.7 * finfo.max`` on masked logits) they are uniform over all ``S``. The returned scores
``(B, N, T, S)`` are the weights before dropout. The query's mask is the output's; Keras's
``call`` reads it from the query tensor and ignores an explicit ``query_mask=``, so in a
functional model only ``masks`` (the tensors' own) give it, as there.

>>> import numpy as np
>>> from npylstm.layers import MultiHeadAttention
>>> mha = MultiHeadAttention(num_heads=2, key_dim=3)
>>> q, v = np.ones((4, 5, 8), "float32"), np.ones((4, 6, 8), "float32")
>>> out, scores = mha(q, v, return_attention_scores=True)
>>> out.shape, scores.shape, [w.shape for w in mha.weights][-2:]
((4, 5, 8), (4, 2, 5, 6), [(2, 3, 8), (8,)])
"""

from __future__ import annotations

import math
import numbers
from typing import NamedTuple

import numpy as np

from .. import activations, initializers, regularizers
from ..registry import register
from .base import (
    Layer,
    VarsNode,
    deserialize_initializer,
)
from .dropout import check_rate, dropout_mask, layer_rng
from .serialization import weight_options_config

__all__ = ["MultiHeadAttention"]

#: The projections, as Keras's attributes (file paths) and sublayer names (weight paths),
#: in creation order (``get_weights()`` order); the gate (``use_gate``) comes after the key.
_PROJECTIONS = (("query_dense", "query"), ("key_dense", "key"), ("value_dense", "value"),
                ("output_dense", "attention_output"))
_GATE = ("_gate_dense", "gate")


def _projections(use_gate: bool) -> tuple:
    return (*_PROJECTIONS[:2], _GATE, *_PROJECTIONS[2:]) if use_gate else _PROJECTIONS


class _MHACache(NamedTuple):
    query: np.ndarray  # (B, T, dim)
    value: np.ndarray  # (B, S, dim_v)
    key: np.ndarray  # (B, S, dim_k)
    has_key: bool  # whether key was an input of its own
    q: np.ndarray  # (B, T, N, H) projected query times 1 / sqrt(key_dim)
    k: np.ndarray  # (B, S, N, H)
    v: np.ndarray  # (B, S, N, Hv)
    softmax: np.ndarray  # (B, N, T, S) the softmax before zeroing masked positions
    weights: np.ndarray  # (B, N, T, S) the attention weights (before dropout)
    drop: np.ndarray | None  # (B, N, T, S) the inverted-dropout mask, or None
    context: np.ndarray  # (B, T, N, Hv) before the gate
    gate: np.ndarray | None  # (B, T, N, Hv) sigmoid(query @ gate/kernel + gate/bias), use_gate
    mask: np.ndarray | None  # (B, 1, T, S) the attention mask, or None
    zero_masked: bool  # Keras's Softmax path: masked weights are 0
    two_outputs: bool  # return_attention_scores


def _positive_int(layer: Layer, name: str, value, optional: bool = False):
    if optional and value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value <= 0:
        kind = "a positive integer or None" if optional else "a positive integer"
        raise layer._error(f"expected {name} to be {kind}, received {value!r}")
    return int(value)


@register("MultiHeadAttention")
class MultiHeadAttention(Layer):
    """Multi-head attention (Keras ``MultiHeadAttention``) over 3-D ``(batch, time,
    features)`` tensors, attention along the time axis (``attention_axes`` None, ``1`` or
    ``-2``; other axes are refused).

    Weights, in ``get_weights()`` order (Keras's four ``EinsumDense`` sublayers ``query``,
    ``key``, ``value``, ``attention_output``): ``query/kernel (dim, N, H)``,
    ``query/bias (N, H)``, ``key/kernel (dim_k, N, H)``, ``key/bias (N, H)``,
    ``value/kernel (dim_v, N, Hv)``, ``value/bias (N, Hv)``,
    ``attention_output/kernel (N, Hv, *E)``, ``attention_output/bias (*E)`` (no biases with
    ``use_bias=False``). ``use_gate``: a ``gate/kernel (dim, N, Hv)``, ``gate/bias (N, Hv)``
    after the key's, and ``C * sigmoid(query @ gate/kernel + gate/bias)`` goes to the output
    projection. ``kernel_regularizer`` / ``bias_regularizer`` apply to every projection. Not
    supported (refused): ``activity_regularizer`` (Keras applies it to each projection's
    output), ``flash_attention=True``. ``kernel_constraint`` / ``bias_constraint`` apply to
    every projection, as Keras's.

    Call: ``mha(query, value, key=None, query_mask=None, value_mask=None, key_mask=None,
    attention_mask=None, return_attention_scores=False, training=False,
    use_causal_mask=False)``; here ``query_mask`` is the query's own mask.
    """

    SUPPORTS_MASKING = True  # the output's mask is the query's
    # Keras's call clears the query's, value's and key's masks for every later consumer
    CLEARS_INPUT_MASKS = True
    NOT_CONFIG_KEYS = ("backend", "flash_attention")
    # tf_keras writes the build shapes in the config (its from_config builds from them) and
    # a softmax_robust_masking flag; Keras 3 added seed / sliding_window / use_gate
    KERAS2_ONLY = {"query_shape": None, "key_shape": None, "value_shape": None,
                   "softmax_robust_masking": False}
    KERAS3_ONLY = ("seed", "sliding_window", "use_gate")

    @classmethod
    def from_keras2_config(cls, config: dict, where: str) -> dict:
        if config.get("softmax_robust_masking"):
            raise ValueError(f"{where}: softmax_robust_masking=True (tf_keras's masked "
                             "softmax variant) is not supported; Keras 3 has no such option")
        return super().from_keras2_config(config, where)

    @classmethod
    def to_keras2_config(cls, config: dict) -> dict:
        """tf_keras's config: without Keras 3's keys — refused when they change the
        numbers (``use_gate``, a ``sliding_window``) — and with its build-shape keys."""
        for key, off in (("use_gate", False), ("sliding_window", None)):
            if config.get(key, off) != off:
                raise ValueError(f"MultiHeadAttention '{config.get('name')}': {key}="
                                 f"{config[key]!r} cannot be written for tf_keras, which has "
                                 f"no {key}")
        return super().to_keras2_config(config)

    def __init__(
        self,
        num_heads: int,
        key_dim: int,
        value_dim: int | None = None,
        dropout: float = 0.0,
        use_bias: bool = True,
        output_shape=None,
        attention_axes=None,
        sliding_window: int | None = None,
        flash_attention=None,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        kernel_regularizer=None,
        bias_regularizer=None,
        activity_regularizer=None,
        kernel_constraint=None,
        bias_constraint=None,
        use_gate: bool = False,
        seed: int | None = None,
        name: str | None = None,
        dtype="float32",
        input_shape=None,
        trainable: bool = True,
    ):
        super().__init__(name=name, dtype=dtype, input_shape=input_shape, trainable=trainable)
        self.num_heads = _positive_int(self, "num_heads", num_heads)
        self.key_dim = _positive_int(self, "key_dim", key_dim)
        self.value_dim = _positive_int(self, "value_dim", value_dim, optional=True) or self.key_dim
        self.dropout = check_rate(self, "dropout", dropout)
        self.use_bias = bool(use_bias)
        if output_shape:
            if isinstance(output_shape, numbers.Integral):
                output_shape = (output_shape,)
            if not isinstance(output_shape, list | tuple):
                raise self._error(
                    "expected output_shape to be an int, a tuple or a list, received "
                    f"{output_shape!r}"
                )
            output_shape = tuple(_positive_int(self, "output_shape entries", d)
                                 for d in output_shape)
        self._output_shape = output_shape or None
        if isinstance(attention_axes, numbers.Integral) and not isinstance(attention_axes, bool):
            attention_axes = (attention_axes,)
        if attention_axes is not None and (
            not isinstance(attention_axes, list | tuple)
            or [int(a) for a in attention_axes] not in ([1], [-2])
        ):
            raise self._error(
                "only attention over the time axis of (batch, time, features) inputs is "
                "supported: expected attention_axes None, 1 or -2, received "
                f"{attention_axes!r}"
            )
        self.attention_axes = attention_axes
        self.sliding_window = _positive_int(self, "sliding_window", sliding_window,
                                            optional=True)
        if flash_attention:
            raise self._error("flash_attention=True is not supported (no fused kernel here)")
        self.use_gate = bool(use_gate)
        self.kernel_initializer = deserialize_initializer(kernel_initializer)
        self.bias_initializer = deserialize_initializer(bias_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        if activity_regularizer is not None:
            raise self._error(
                "activity_regularizer is not supported yet (Keras applies it to each "
                f"projection's output), received {activity_regularizer!r}"
            )
        self._set_constraints(kernel_constraint=kernel_constraint, bias_constraint=bias_constraint)
        self.seed = seed
        self._rng = layer_rng(seed)
        self._inverse_sqrt_key_dim = 1.0 / math.sqrt(float(self.key_dim))
        self._kernels: dict[str, np.ndarray] = {}
        self._biases: dict[str, np.ndarray | None] = {}

    # -- building -------------------------------------------------------------------------
    def _check_shapes(self, query_shape, value_shape, key_shape=None):
        shapes = [tuple(query_shape), tuple(value_shape)]
        shapes.append(shapes[1] if key_shape is None else tuple(key_shape))
        for which, shape in zip(("query", "value", "key"), shapes, strict=True):
            if len(shape) != 3:
                raise self._error(
                    f"expected {which} of shape (batch, time, features), received {shape}"
                )
        if shapes[1][1:-1] != shapes[2][1:-1]:
            raise self._error(
                "All dimensions of `value` and `key`, except the last one, must be equal. "
                f"Received: value_shape={shapes[1]} and key_shape={shapes[2]}"
            )
        return shapes

    def _init_kernel(self, shape: tuple, fan_in_axes: int) -> np.ndarray:
        """An EinsumDense kernel: a variance-scaling initializer sees Keras's fans (its
        ``input_axes`` / ``output_axes``: the contracted axes, then the rest)."""
        if isinstance(self.kernel_initializer, initializers._VarianceScaling):
            fan_in = int(np.prod(shape[:fan_in_axes]))
            flat = self.kernel_initializer((fan_in, int(np.prod(shape[fan_in_axes:]))),
                                           self.dtype)  # (fan_in, fan_out)
            return flat.reshape(shape)
        return self.kernel_initializer(shape, self.dtype)

    def build(self, query_shape, value_shape=None, key_shape=None) -> None:
        if value_shape is None:
            raise self._error("build needs the query and value shapes: build(query, value)")
        named = {"query_shape": tuple(query_shape), "value_shape": tuple(value_shape)}
        if key_shape is not None:
            named["key_shape"] = tuple(key_shape)
        query_shape, value_shape, key_shape = self._check_shapes(query_shape, value_shape,
                                                                 key_shape)
        self._build_shapes = named
        dims = [self._feature_count(s) for s in (query_shape, key_shape, value_shape)]
        heads = self.num_heads
        out = self._output_shape or (dims[0],)
        kernels = {"query": ((dims[0], heads, self.key_dim), 1),
                   "key": ((dims[1], heads, self.key_dim), 1),
                   "gate": ((dims[0], heads, self.value_dim), 1),
                   "value": ((dims[2], heads, self.value_dim), 1),
                   "attention_output": ((heads, self.value_dim, *out), 2)}
        self._weights = []
        for _, sub in _projections(self.use_gate):
            shape, fan_axes = kernels[sub]
            self._kernels[sub] = self.add_weight(
                f"{sub}/kernel", self._init_kernel(shape, fan_axes), self.kernel_constraint).value
            self._biases[sub] = None
            if self.use_bias:
                self._biases[sub] = self.add_weight(
                    f"{sub}/bias", self.bias_initializer(shape[fan_axes:], self.dtype),
                    self.bias_constraint).value
        self.attention_axes = (1,)  # Keras's _build_attention writes the resolved axes
        super().build(query_shape)

    def compute_output_shape(self, query_shape, value_shape, key_shape=None):
        query_shape, _, _ = self._check_shapes(query_shape, value_shape, key_shape)
        if self._output_shape:
            return (*query_shape[:-1], *self._output_shape)
        return query_shape

    @staticmethod
    def _key_of(args: list, kwargs: dict):
        return args[2] if len(args) > 2 else kwargs.get("key")

    def build_config(self) -> dict:
        """Keras's ``{"shapes_dict": {"query_shape", "value_shape"(, "key_shape")}}``."""
        return {"shapes_dict": dict(self._build_shapes)}

    def graph_build(self, arg_shapes: list, kwargs: dict):
        """Keras's ``build(query_shape, value_shape, key_shape)``; the output shape, and the
        scores' ``(B, N, T, S)`` with ``return_attention_scores=True`` (Keras's
        ``compute_output_spec`` says ``(B, N, T, T)``: the same for self-attention)."""
        key = self._key_of(arg_shapes, kwargs)
        key_shape = None if key is None else tuple(getattr(key, "shape", key))
        if not self.built:
            self.build(arg_shapes[0], arg_shapes[1], key_shape)
        output = self.compute_output_shape(arg_shapes[0], arg_shapes[1], key_shape)
        if not kwargs.get("return_attention_scores", False):
            return output
        query, value = tuple(arg_shapes[0]), tuple(arg_shapes[1])
        return [output, (query[0], self.num_heads, query[1], value[1])]

    def weight_regularizers(self) -> list:
        regs = []
        for _ in _projections(self.use_gate):
            regs.append(self.kernel_regularizer)
            if self.use_bias:
                regs.append(self.bias_regularizer)
        return regs

    @classmethod
    def variable_tree(cls, config: dict) -> VarsNode:
        """Keras's file layout: each projection under its attribute
        (``layers/multi_head_attention/query_dense/vars/0``; legacy
        ``<name>/query/kernel:0``; the gate's ``_gate_dense``), and the empty ``_softmax`` and
        ``_dropout_layer``."""
        names = ("kernel", "bias") if config.get("use_bias", True) else ("kernel",)
        children = tuple((attr, VarsNode(names, name=sub, legacy_scope=sub))
                         for attr, sub in _projections(bool(config.get("use_gate", False))))
        return VarsNode(children=(*children, ("_softmax", VarsNode(name="softmax")),
                                  ("_dropout_layer", VarsNode(name="dropout"))))

    # -- masks ----------------------------------------------------------------------------
    def _time_mask(self, mask, x, which: str) -> np.ndarray | None:
        if mask is None:
            return None
        mask = np.asarray(mask)
        if mask.shape != x.shape[:2]:
            raise self._error(f"expected {which} of shape {x.shape[:2]} (batch, time), "
                              f"received {mask.shape}")
        return mask.astype(bool)

    def _attention_mask(self, query, value, query_mask, value_mask, key_mask,
                        attention_mask, use_causal_mask) -> np.ndarray | None:
        """Keras's ``_compute_attention_mask``: every mask AND-ed, ``(B, T, S)``."""
        t, s = query.shape[1], value.shape[1]
        parts = []
        if query_mask is not None:
            parts.append(self._time_mask(query_mask, query, "query_mask")[:, :, None])
        for which, m in (("value_mask", value_mask), ("key_mask", key_mask)):
            if m is not None:
                parts.append(self._time_mask(m, value, which)[:, None, :])
        rows, cols = np.arange(t)[:, None], np.arange(s)[None, :]  # (T, 1), (1, S)
        if use_causal_mask:
            parts.append((rows >= cols)[None])  # (1, T, S)
        if self.sliding_window is not None:
            parts.append((np.abs(rows - cols) < self.sliding_window)[None])  # (1, T, S)
        if attention_mask is not None:
            attention_mask = np.asarray(attention_mask)
            if attention_mask.ndim > 3 or any(
                a not in (1, b) for a, b in zip(attention_mask.shape[::-1], (s, t, len(query)),
                                          strict=False)
            ):
                raise self._error(f"expected attention_mask broadcastable to "
                                  f"{(len(query), t, s)}, received {attention_mask.shape}")
            parts.append(attention_mask.astype(bool))
        if not parts:
            return None
        mask = parts[0]
        for part in parts[1:]:
            mask = mask & part
        return np.broadcast_to(mask, (len(query), t, s))  # (B, T, S)

    def graph_output_mask(self, args: list, masks: list, outputs):
        mask = masks[0] if masks else None
        mask = None if mask is None else np.asarray(mask, dtype=bool)
        return [mask, None] if isinstance(outputs, tuple | list) else mask

    # -- computing ------------------------------------------------------------------------
    def _project(self, x, sub: str) -> np.ndarray:
        kernel, bias = self._kernels[sub], self._biases[sub]
        y = np.einsum("btd,dnh->btnh", x, kernel)  # (B, T, N, H)
        return y if bias is None else y + bias

    def forward(self, query, value, key=None, query_mask=None, value_mask=None, key_mask=None,
                attention_mask=None, return_attention_scores: bool = False,
                training: bool = False, rng=None, use_causal_mask: bool = False):
        """``(output, cache)``, or ``((output, scores), cache)`` with
        ``return_attention_scores``."""
        has_key = key is not None
        query = self._as_float_array(query)
        value = self._as_float_array(value)
        key = value if key is None else self._as_float_array(key)
        self._check_shapes(query.shape, value.shape, key.shape)
        if not self.built:
            self.build((None, *query.shape[1:]), (None, *value.shape[1:]),
                       (None, *key.shape[1:]))
        dims = (self._kernels["query"].shape[0], self._kernels["value"].shape[0],
                self._kernels["key"].shape[0])
        if (query.shape[-1], value.shape[-1], key.shape[-1]) != dims:
            raise self._error(
                f"expected query, value and key with {dims} features (the kernels'), "
                f"received shapes {query.shape}, {value.shape}, {key.shape}")
        if len({len(query), len(value), len(key)}) != 1:
            raise self._error(f"expected one batch size, received shapes {query.shape}, "
                              f"{value.shape}, {key.shape}")
        mask = self._attention_mask(query, value, query_mask, value_mask, key_mask,
                                    attention_mask, use_causal_mask)
        mask = None if mask is None else mask[:, None]  # (B, 1, T, S)
        scale = np.asarray(self._inverse_sqrt_key_dim, self.dtype)
        q = self._project(query, "query") * scale  # (B, T, N, H)
        k = self._project(key, "key")  # (B, S, N, H)
        v = self._project(value, "value")  # (B, S, N, Hv)
        logits = np.einsum("bsnh,btnh->bnts", k, q)  # (B, N, T, S)
        # Keras's einsum path (Softmax layer) with dropout or scores, else dot_product_attention
        zero_masked = self.dropout > 0 or bool(return_attention_scores)
        if mask is not None:
            fill = -1e9 if zero_masked else -0.7 * np.finfo(self.dtype).max
            logits = np.where(mask, logits, np.asarray(fill, self.dtype))  # (B, N, T, S)
        soft = activations.softmax(logits, axis=-1)  # (B, N, T, S)
        weights = soft if mask is None or not zero_masked else np.where(mask, soft, 0).astype(
            self.dtype)  # (B, N, T, S)
        drop = None
        if training and self.dropout > 0:
            drop = dropout_mask(rng if rng is not None else self._rng, weights.shape,
                                self.dropout, self.dtype)  # (B, N, T, S)
        dropped = weights if drop is None else weights * drop  # (B, N, T, S)
        context = np.einsum("bnts,bsnh->btnh", dropped, v)  # (B, T, N, Hv)
        gate = None
        if self.use_gate:
            gate = activations.get("sigmoid")(self._project(query, "gate"))  # (B, T, N, Hv)
        gated = context if gate is None else context * gate  # (B, T, N, Hv)
        kernel, bias = self._kernels["attention_output"], self._biases["attention_output"]
        out = np.tensordot(gated, kernel, axes=([2, 3], [0, 1]))  # (B, T, *E)
        if bias is not None:
            out = out + bias
        cache = _MHACache(query, value, key, has_key, q, k, v, soft, weights, drop, context,
                          gate, mask, zero_masked, bool(return_attention_scores))
        return ((out, weights) if return_attention_scores else out), cache

    def _project_backward(self, x, dy, sub: str):
        """``(dx, [dkernel, (dbias)])`` through :meth:`_project`."""
        dkernel = np.einsum("btd,btnh->dnh", x, dy)  # (D, N, H)
        dx = np.einsum("btnh,dnh->btd", dy, self._kernels[sub])  # (B, T, D)
        return dx, [dkernel] + ([dy.sum(axis=(0, 1))] if self.use_bias else [])

    def backward(self, dy, cache: _MHACache):
        """``([dquery, dvalue(, dkey)], grads)``; ``dy`` is ``[doutput, dscores]`` when the
        call returned the attention scores. Without a key of its own, ``dvalue`` includes
        the key path."""
        if cache.two_outputs:
            dout, dscores = (np.asarray(d, dtype=self.dtype) for d in dy)
        else:
            dout, dscores = np.asarray(dy, dtype=self.dtype), None
        kernel = self._kernels["attention_output"]
        heads, hv = kernel.shape[:2]
        dout2 = dout.reshape(*dout.shape[:2], -1)  # (B, T, E)
        gate = cache.gate
        gated = cache.context if gate is None else cache.context * gate  # (B, T, N, Hv)
        context2 = gated.reshape(*gated.shape[:2], -1)  # (B, T, N * Hv)
        dkernel_o = np.einsum("btk,bte->ke", context2, dout2).reshape(kernel.shape)
        grads_o = [dkernel_o] + ([dout.sum(axis=(0, 1))] if self.use_bias else [])
        dgated = np.einsum("bte,ke->btk", dout2, kernel.reshape(heads * hv, -1)).reshape(
            gated.shape)  # (B, T, N, Hv)
        dcontext = dgated if gate is None else dgated * gate  # (B, T, N, Hv)
        drop = cache.drop
        dropped = cache.weights if drop is None else cache.weights * drop  # (B, N, T, S)
        dv = np.einsum("bnts,btnh->bsnh", dropped, dcontext)  # (B, S, N, Hv)
        dweights = np.einsum("btnh,bsnh->bnts", dcontext, cache.v)  # (B, N, T, S)
        if drop is not None:
            dweights = dweights * drop
        if dscores is not None:
            dweights = dweights + dscores
        mask, soft = cache.mask, cache.softmax
        if mask is not None and cache.zero_masked:
            dweights = np.where(mask, dweights, 0)
        dlogits = soft * (dweights - np.sum(dweights * soft, axis=-1, keepdims=True))
        if mask is not None:
            dlogits = np.where(mask, dlogits, 0).astype(self.dtype)  # (B, N, T, S)
        dq = np.einsum("bnts,bsnh->btnh", dlogits, cache.k)  # (B, T, N, H)
        dq = dq * np.asarray(self._inverse_sqrt_key_dim, self.dtype)
        dk = np.einsum("bnts,btnh->bsnh", dlogits, cache.q)  # (B, S, N, H)
        dquery, grads_q = self._project_backward(cache.query, dq, "query")
        dkey, grads_k = self._project_backward(cache.key, dk, "key")
        dvalue, grads_v = self._project_backward(cache.value, dv, "value")
        if gate is not None:  # gate = sigmoid(z): dz = dgate * gate * (1 - gate)
            dz = dgated * cache.context * gate * (1.0 - gate)  # (B, T, N, Hv)
            dquery_g, grads_g = self._project_backward(cache.query, dz, "gate")
            dquery, grads_k = dquery + dquery_g, grads_k + grads_g
        grads = [np.asarray(g, dtype=self.dtype) for g in grads_q + grads_k + grads_v + grads_o]
        if cache.has_key:
            return [dquery, dvalue, dkey], grads
        return [dquery, dvalue + dkey], grads

    # -- one call in a functional graph ----------------------------------------------------
    def graph_forward(self, args: list, kwargs: dict, masks: list, training: bool):
        """``mha(query, value, key)`` in a functional model: the tensors' own masks come in
        ``masks`` (the query's is the query mask, Keras's ``query._keras_mask``; an explicit
        ``value_mask`` / ``key_mask`` wins over the tensor's, an explicit ``query_mask`` is
        ignored, as Keras's ``call`` does)."""
        kwargs = dict(kwargs)
        explicit = kwargs.pop("training", None)  # mha(q, v, training=True) wins, as in Keras
        training = training if explicit is None else explicit
        masks = list(masks) + [None] * (3 - len(masks))
        key = self._key_of(args, kwargs)
        kwargs.pop("key", None)
        kwargs.pop("query_mask", None)
        for name, own in (("value_mask", masks[1]), ("key_mask", masks[2])):
            if kwargs.get(name) is None:
                kwargs[name] = own
        outputs, cache = self.forward(args[0], args[1], key, query_mask=masks[0],
                                      training=bool(training), **kwargs)
        return outputs, (cache, len(args) < 3 and key is not None)

    def graph_backward(self, dy, cache):
        """``([dquery, dvalue(, dkey)], {} or {"key": dkey}, grads)``: ``dkey`` where the
        call passed the key (positionally or as ``key=``)."""
        cache, key_as_kwarg = cache
        dargs, grads = self.backward(dy, cache)
        if key_as_kwarg:
            return dargs[:2], {"key": dargs[2]}, grads
        return dargs, {}, grads

    def __call__(self, query, value, key=None, query_mask=None, value_mask=None,
                 key_mask=None, attention_mask=None, return_attention_scores: bool = False,
                 training: bool = False, use_causal_mask: bool = False):
        out, _ = self.forward(query, value, key, query_mask=query_mask, value_mask=value_mask,
                              key_mask=key_mask, attention_mask=attention_mask,
                              return_attention_scores=return_attention_scores,
                              training=training, use_causal_mask=use_causal_mask)
        return out

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(
            num_heads=self.num_heads,
            key_dim=self.key_dim,
            value_dim=self.value_dim,
            dropout=self.dropout,
            use_bias=self.use_bias,
            use_gate=self.use_gate,
            output_shape=self._output_shape,
            attention_axes=self.attention_axes,
            sliding_window=self.sliding_window,
            **weight_options_config(self, activity=True),  # activity_regularizer: None
            seed=self.seed,
        )
        return config
