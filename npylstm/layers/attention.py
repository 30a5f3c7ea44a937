"""Keras's ``Attention`` (Luong, dot-product) and ``AdditiveAttention`` (Bahdanau) layers.

Followed: ``keras/src/layers/attention/attention.py`` and ``additive_attention.py``
(Keras 3.15). Called on ``[query, value]`` or ``[query, value, key]`` (``key`` defaults to
``value``), ``query (B, Tq, dim)``, ``value (B, Tv, dim_v)``, ``key (B, Tv, dim)``::

    scores = query @ key^T * scale                            # "dot"           (B, Tq, Tv)
    scores = concat_score_weight * sum(tanh(scale * (q + k)))  # "concat"
    scores = sum(scale * tanh(q + k))                          # AdditiveAttention
    scores = where(score_mask, scores, scores - 1e9)  # value mask (B, 1, Tv), causal (1, Tq, Tv)
    weights = dropout(softmax(scores))                # dropout while training only
    output = where(query_mask, weights @ value, 0)                                 # (B, Tq, dim_v)

(``q + k`` broadcasts ``(B, Tq, 1, dim)`` with ``(B, 1, Tv, dim)``; ``scale`` is 1 without
``use_scale``.) As in Keras, a masked score is lowered by ``1e9`` (not replaced): a row with
every value masked is the softmax of ``scores - 1e9``, rounded in the layer's dtype. The
returned attention scores are the weights after dropout; the output's mask is the query's.

>>> import numpy as np
>>> from npylstm.layers import Attention
>>> q, v = np.ones((2, 3, 4), "float32"), np.ones((2, 5, 4), "float32")
>>> out, scores = Attention().forward([q, v], return_attention_scores=True)[0]
>>> out.shape, scores.shape, float(scores[0, 0].sum())
((2, 3, 4), (2, 3, 5), 1.0)
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .. import activations
from ..registry import register
from .base import Layer, VarsNode, deserialize_initializer
from .dropout import check_rate, dropout_mask, layer_rng

__all__ = ["AdditiveAttention", "Attention"]


class _AttentionCache(NamedTuple):
    query: np.ndarray  # (B, Tq, dim)
    value: np.ndarray  # (B, Tv, dim_v)
    key: np.ndarray  # (B, Tv, dim)
    has_key: bool  # whether key was an input of its own
    tanh: np.ndarray | None  # (B, Tq, Tv, dim) tanh(scale * (q + k)), concat / additive
    raw: np.ndarray | None  # (B, Tq, Tv) query @ key^T before the scale ("dot")
    weights: np.ndarray  # (B, Tq, Tv) softmax(scores)
    drop: np.ndarray | None  # (B, Tq, Tv) the inverted-dropout mask, or None
    query_mask: np.ndarray | None  # (B, Tq)
    two_outputs: bool  # return_attention_scores


@register("Attention")
class Attention(Layer):
    """Dot-product (Luong-style) attention over ``[query, value(, key)]`` (Keras
    ``Attention``).

    ``use_scale``: a learned scalar ``scale`` multiplies the scores. ``score_mode``:
    ``"dot"`` (``query @ key^T``) or ``"concat"`` (``sum(tanh(query + key))`` times a learned
    scalar ``concat_score_weight``). ``dropout``: rate on the attention weights while
    training (masks from ``rng`` or the layer's generator seeded by ``seed``; the positions
    differ from Keras's). Weights, in ``get_weights()`` order: ``scale ()`` (with
    ``use_scale``), ``concat_score_weight ()`` (with ``"concat"``), both initialized to 1.
    ``forward(inputs, training=False, rng=None, mask=None, return_attention_scores=False,
    use_causal_mask=False)``; ``mask`` is ``[query_mask, value_mask]`` (a third entry is
    ignored, as in Keras).
    """

    SUPPORTS_MASKING = True  # Keras overrides compute_mask: the output mask is the query's
    USES_MASK = True
    SCORE_MODES = ("dot", "concat")

    def __init__(
        self,
        use_scale: bool = False,
        score_mode: str = "dot",
        dropout: float = 0.0,
        seed: int | None = None,
        name: str | None = None,
        dtype="float32",
        input_shape=None,
        trainable: bool = True,
    ):
        super().__init__(name=name, dtype=dtype, input_shape=input_shape, trainable=trainable)
        self.use_scale = self._check_bool("use_scale", use_scale)
        if score_mode not in self.SCORE_MODES:
            raise self._error(
                f"expected score_mode one of {list(self.SCORE_MODES)}, received {score_mode!r}"
            )
        self.score_mode = score_mode
        self.dropout = check_rate(self, "dropout", dropout)
        self.seed = seed
        self._rng = layer_rng(seed)
        self.scale = None
        self.concat_score_weight = None

    def _check_bool(self, name: str, value) -> bool:
        if not isinstance(value, bool | np.bool_):
            raise self._error(f"expected {name} to be True or False, received {value!r}")
        return bool(value)

    # -- building -------------------------------------------------------------------------
    def _check_shapes(self, shapes) -> list[tuple]:
        """``[query, value(, key)]`` shapes, checked as Keras's ``_validate_inputs`` (and the
        feature and length agreement its matmuls need)."""
        if not isinstance(shapes, list | tuple) or not all(
            isinstance(s, list | tuple) for s in shapes
        ):
            raise self._error(
                "must be called on a list of inputs, namely [query, value] or "
                f"[query, value, key], received {shapes!r}"
            )
        if not 2 <= len(shapes) <= 3:
            raise self._error(
                "expected a list of 2 or 3 inputs, namely [query, value] or "
                f"[query, value, key], received {len(shapes)}"
            )
        shapes = [tuple(s) for s in shapes]
        query, value = shapes[0], shapes[1]
        key = shapes[2] if len(shapes) > 2 else value
        if any(len(s) != 3 for s in (query, value, key)):
            raise self._error(
                "expected query, value and key of shape (batch, timesteps, features), "
                f"received {shapes}"
            )
        if None not in (query[-1], key[-1]) and query[-1] != key[-1]:
            raise self._error(
                f"expected query and key with the same feature count, received query "
                f"{query} and key {key}"
            )
        if None not in (value[1], key[1]) and value[1] != key[1]:
            raise self._error(
                f"expected value and key with the same timesteps, received value {value} "
                f"and key {key}"
            )
        return shapes

    def build(self, input_shape) -> None:
        shapes = self._check_shapes(input_shape)
        self._weights = []
        self.scale = self.concat_score_weight = None
        if self.use_scale:
            self.scale = self._add_scalar("scale")  # ()
        if self.score_mode == "concat":
            self.concat_score_weight = self._add_scalar("concat_score_weight")  # ()
        super().build([tuple(s) for s in shapes])

    def _add_scalar(self, name: str) -> np.ndarray:
        """A scalar weight of shape ``()`` initialized to 1."""
        return self.add_weight(name, np.ones((), self.dtype)).value

    @classmethod
    def variable_tree(cls, config: dict) -> VarsNode:
        """Keras's variables for this config, in creation order: ``scale`` with
        ``use_scale``, then ``concat_score_weight`` with ``score_mode="concat"``."""
        names = ("scale",) if config.get("use_scale", False) else ()
        if config.get("score_mode", "dot") == "concat":
            names += ("concat_score_weight",)
        return VarsNode(weights=names)

    def compute_output_shape(self, input_shape):
        shapes = self._check_shapes(input_shape)
        return (*shapes[0][:-1], shapes[1][-1])

    def graph_build(self, arg_shapes: list, kwargs: dict):
        """Keras's ``compute_output_spec``: the output shape, and the scores' ``(B, Tq, Tv)``
        with ``return_attention_scores=True``."""
        (shapes,) = arg_shapes
        if not self.built:
            self.build(shapes)
        output = self.compute_output_shape(shapes)
        if not kwargs.get("return_attention_scores", False):
            return output
        shapes = self._check_shapes(shapes)
        key = shapes[2] if len(shapes) > 2 else shapes[1]
        return [output, (*shapes[0][:-1], key[-2])]

    # -- masks ----------------------------------------------------------------------------
    def _check_mask_list(self, mask) -> list:
        if mask is None:
            return [None, None]
        if not isinstance(mask, list | tuple):
            raise self._error(
                "expected mask to be a list, namely [query_mask, value_mask], received "
                f"{type(mask).__name__}"
            )
        if not 2 <= len(mask) <= 3:
            raise self._error(f"expected a mask list of length 2 or 3, received {len(mask)}")
        return list(mask)

    def compute_mask(self, x, mask):
        """Keras's: the query's mask (None without one)."""
        mask = self._check_mask_list(mask)
        return None if mask[0] is None else np.asarray(mask[0], dtype=bool)

    def graph_output_mask(self, args: list, masks: list, outputs):
        mask = self.compute_mask(args[0], masks[0] if masks else None)
        return [mask, None] if isinstance(outputs, tuple | list) else mask

    def _time_mask(self, mask, x, which: str) -> np.ndarray | None:
        if mask is None:
            return None
        mask = np.asarray(mask)
        if mask.shape != x.shape[:-1]:
            raise self._error(
                f"expected {which} of shape {x.shape[:-1]} (batch, timesteps), received "
                f"{mask.shape}"
            )
        return mask.astype(bool)

    # -- scores ---------------------------------------------------------------------------
    def _scores(self, q, k):
        """``(scores, tanh, raw)`` of Keras's ``_calculate_scores``."""
        if self.score_mode == "dot":
            raw = q @ np.swapaxes(k, -2, -1)  # (B, Tq, Tv)
            return (raw if self.scale is None else raw * self.scale), None, raw
        u = q[:, :, None, :] + k[:, None, :, :]  # (B, Tq, Tv, dim)
        t = np.tanh(u if self.scale is None else self.scale * u)  # (B, Tq, Tv, dim)
        return self.concat_score_weight * t.sum(axis=-1), t, None  # (B, Tq, Tv)

    def _scores_backward(self, dscores, cache: _AttentionCache):
        """``(dq, dk, grads)`` through :meth:`_scores`."""
        q, k = cache.query, cache.key
        if self.score_mode == "dot":
            dscale = None if self.scale is None else np.sum(dscores * cache.raw)
            draw = dscores if self.scale is None else dscores * self.scale  # (B, Tq, Tv)
            dq = draw @ k  # (B, Tq, dim)
            dk = np.swapaxes(draw, -2, -1) @ q  # (B, Tv, dim)
            return dq, dk, [] if dscale is None else [dscale]
        t = cache.tanh
        dcsw = np.sum(dscores * t.sum(axis=-1))
        dt = self.concat_score_weight * dscores[..., None]  # (B, Tq, Tv, dim)
        dqk, dscale = self._tanh_backward(dt, t, q, k)
        return dqk.sum(axis=2), dqk.sum(axis=1), [*dscale, dcsw]

    def _tanh_backward(self, dt, t, q, k):
        """``(d(q + k), [dscale] or [])`` through ``t = tanh(scale * (q + k))``."""
        du = dt * (1.0 - t * t)  # (B, Tq, Tv, dim)
        if self.scale is None:
            return du, []
        u = q[:, :, None, :] + k[:, None, :, :]  # (B, Tq, Tv, dim)
        return du * self.scale, [np.sum(du * u, axis=tuple(range(du.ndim - self.scale.ndim)))]

    # -- computing ------------------------------------------------------------------------
    def forward(self, inputs, training: bool = False, rng=None, mask=None,
                return_attention_scores: bool = False, use_causal_mask: bool = False):
        """``(output, cache)``, or ``((output, scores), cache)`` with
        ``return_attention_scores``."""
        if not isinstance(inputs, list | tuple):
            raise self._error(
                "must be called on a list of inputs, namely [query, value] or "
                f"[query, value, key], received {type(inputs).__name__}"
            )
        arrays = [self._as_float_array(x) for x in inputs]
        shapes = self._check_shapes([x.shape for x in arrays])
        if not self.built:
            self.build([(None, *s[1:]) for s in shapes])
        q, v = arrays[0], arrays[1]
        k = arrays[2] if len(arrays) > 2 else v
        if len({q.shape[0], v.shape[0], k.shape[0]}) != 1:
            raise self._error(f"expected inputs with one batch size, received {shapes}")
        mask = self._check_mask_list(mask)
        q_mask = self._time_mask(mask[0], q, "query_mask")
        v_mask = self._time_mask(mask[1], v, "value_mask")

        scores, t, raw = self._scores(q, k)  # (B, Tq, Tv)
        score_mask = None if v_mask is None else v_mask[:, None, :]  # (B, 1, Tv)
        if use_causal_mask:
            tq, tv = scores.shape[-2:]
            causal = np.arange(tq)[:, None] >= np.arange(tv)[None, :]  # (Tq, Tv)
            score_mask = causal[None] if score_mask is None else score_mask & causal
        if score_mask is not None:
            big = np.asarray(65504.0 if scores.dtype == np.float16 else 1.0e9, scores.dtype)
            scores = np.where(score_mask, scores, scores - big)  # (B, Tq, Tv)
        weights = activations.softmax(scores, axis=-1)  # (B, Tq, Tv)
        drop = None
        if training and self.dropout > 0:
            drop = dropout_mask(rng if rng is not None else self._rng, weights.shape,
                                self.dropout, weights.dtype)  # (B, Tq, Tv)
        dropped = weights if drop is None else weights * drop  # (B, Tq, Tv)
        output = dropped @ v  # (B, Tq, dim_v)
        if q_mask is not None:
            output = np.where(q_mask[..., None], output, 0).astype(output.dtype)
        cache = _AttentionCache(q, v, k, len(arrays) > 2, t, raw, weights, drop, q_mask,
                                bool(return_attention_scores))
        return ((output, dropped) if return_attention_scores else output), cache

    def backward(self, dy, cache: _AttentionCache):
        """``([dquery, dvalue(, dkey)], grads)``; ``dy`` is ``[doutput, dscores]`` when the
        call returned the attention scores."""
        if cache.two_outputs:
            doutput, dscores_out = (np.asarray(d, dtype=self.dtype) for d in dy)
        else:
            doutput, dscores_out = np.asarray(dy, dtype=self.dtype), None
        if cache.query_mask is not None:
            doutput = np.where(cache.query_mask[..., None], doutput, 0).astype(self.dtype)
        weights, drop, v = cache.weights, cache.drop, cache.value
        dropped = weights if drop is None else weights * drop  # (B, Tq, Tv)
        dv = np.swapaxes(dropped, -2, -1) @ doutput  # (B, Tv, dim_v)
        ddropped = doutput @ np.swapaxes(v, -2, -1)  # (B, Tq, Tv)
        if dscores_out is not None:
            ddropped = ddropped + dscores_out
        dweights = ddropped if drop is None else ddropped * drop  # (B, Tq, Tv)
        # softmax's Jacobian product; the masks' where() passes the gradient on both sides
        dscores = weights * (dweights - np.sum(dweights * weights, axis=-1, keepdims=True))
        dq, dk, grads = self._scores_backward(dscores, cache)
        grads = [np.asarray(g, dtype=self.dtype) for g in grads]
        if cache.has_key:
            return [dq, dv, dk], grads
        return [dq, dv + dk], grads

    def __call__(self, inputs, training: bool = False, mask=None,
                 return_attention_scores: bool = False, use_causal_mask: bool = False):
        out, _ = self.forward(inputs, training=training, mask=mask,
                              return_attention_scores=return_attention_scores,
                              use_causal_mask=use_causal_mask)
        return out

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(use_scale=self.use_scale, score_mode=self.score_mode,
                      dropout=self.dropout, seed=self.seed)
        return config


@register("AdditiveAttention")
class AdditiveAttention(Attention):
    """Additive (Bahdanau-style) attention (Keras ``AdditiveAttention``):
    ``scores = sum(scale * tanh(query + key), axis=-1)``.

    ``use_scale`` (default True) learns ``scale (dim,)`` (``glorot_uniform``), one factor
    per feature; without it the factor is 1. Otherwise as :class:`Attention` (masks,
    ``dropout``, ``return_attention_scores``, ``use_causal_mask``).

    >>> import numpy as np
    >>> layer = AdditiveAttention()
    >>> q, v = np.ones((2, 3, 4), "float32"), np.ones((2, 5, 4), "float32")
    >>> layer([q, v]).shape, [w.shape for w in layer.weights]
    ((2, 3, 4), [(4,)])
    """

    def __init__(
        self,
        use_scale: bool = True,
        dropout: float = 0.0,
        seed: int | None = None,
        name: str | None = None,
        dtype="float32",
        input_shape=None,
        trainable: bool = True,
    ):
        super().__init__(use_scale=use_scale, dropout=dropout, seed=seed, name=name,
                         dtype=dtype, input_shape=input_shape, trainable=trainable)
        self._scale_initializer = deserialize_initializer("glorot_uniform")

    def build(self, input_shape) -> None:
        shapes = self._check_shapes(input_shape)
        dim = self._feature_count(shapes[0])
        self._weights = []
        self.scale = None
        if self.use_scale:
            self.scale = self.add_weight(
                "scale", self._scale_initializer((dim,), self.dtype)
            ).value  # (dim,)
        Layer.build(self, [tuple(s) for s in shapes])

    def _scores(self, q, k):
        t = np.tanh(q[:, :, None, :] + k[:, None, :, :])  # (B, Tq, Tv, dim)
        return (t if self.scale is None else self.scale * t).sum(axis=-1), t, None

    def _scores_backward(self, dscores, cache: _AttentionCache):
        t = cache.tanh
        dst = np.broadcast_to(dscores[..., None], t.shape)  # (B, Tq, Tv, dim)
        grads = [] if self.scale is None else [np.sum(dst * t, axis=(0, 1, 2))]  # (dim,)
        dt = dst if self.scale is None else dst * self.scale  # (B, Tq, Tv, dim)
        du = dt * (1.0 - t * t)  # (B, Tq, Tv, dim)
        return du.sum(axis=2), du.sum(axis=1), grads

    def get_config(self) -> dict:
        config = super().get_config()
        del config["score_mode"]
        return config

