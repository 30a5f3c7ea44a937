"""The Keras ``Embedding`` layer: integer ids to rows of a learned matrix.

Following ``keras/src/layers/core/embedding.py`` (Keras 3.15): ``Embedding(input_dim,
output_dim, embeddings_initializer="uniform", embeddings_regularizer=None,
activity_regularizer=None, embeddings_constraint=None, mask_zero=False, weights=None)``;
one weight ``embeddings (input_dim, output_dim)``; ids of any shape ``(batch, ...)`` give
``(batch, ..., output_dim)``; ``compute_mask`` is ``ids != 0`` with ``mask_zero`` and None
otherwise (an incoming mask is dropped, as Keras's). Keras 2 configs (tf_keras's
``layers/core/embedding.py``) carry ``input_length``, which Keras 3 drops: so does
npylstm when it reads them.

Ids: any integer (or bool) dtype, or floats holding whole numbers (a Keras 2 model with a
float32 ``InputLayer`` feeds those; Keras's ``call`` casts any dtype but int32 / int64 to
int32, ``ops.cast(inputs, "int32")``). Complex, text, objects, dates and records are refused
(:mod:`npylstm.layers.inputs`; Keras would cast a complex id). An id outside
``[0, input_dim)`` (negative included), a fraction, NaN or ±inf is an error naming the
layer, the value and the range. Keras does not check: on CPU its ``take`` clips or fills
out-of-range ids and its cast truncates fractions — silently wrong numbers, not a contract.

>>> import numpy as np
>>> from npylstm.layers import Embedding
>>> layer = Embedding(10, 3, mask_zero=True)
>>> layer(np.array([[1, 2, 0]])).shape
(1, 3, 3)
>>> layer.compute_mask(np.array([[1, 2, 0]]), None).tolist()
[[True, True, False]]
"""

from __future__ import annotations

import numbers
from typing import NamedTuple

import numpy as np

from .. import regularizers
from ..registry import register
from . import inputs
from .base import (
    ANY_VALUE,
    Layer,
    deserialize_initializer,
)
from .serialization import weight_options_config

__all__ = ["Embedding"]


class _EmbeddingCache(NamedTuple):
    ids: np.ndarray  # (batch, ...) the ids, as intp


@register("Embedding")
class Embedding(Layer):
    """Look up ``embeddings[ids]`` with Keras 3's arguments and defaults.

    Weights: ``embeddings (input_dim, output_dim)``. ``backward`` returns no gradient for
    the ids (None) and the embeddings' gradient with repeated ids accumulated.

    >>> layer = Embedding(4, 2, weights=np.arange(8.0).reshape(4, 2))
    >>> y, cache = layer.forward(np.array([[3, 3, 1]]))
    >>> y.tolist()
    [[[6.0, 7.0], [6.0, 7.0], [2.0, 3.0]]]
    >>> layer.backward(np.ones((1, 3, 2)), cache)[1][0].tolist()  # id 3 twice
    [[0.0, 0.0], [1.0, 1.0], [0.0, 0.0], [2.0, 2.0]]
    >>> layer(np.array([[4]]))
    Traceback (most recent call last):
    ...
    ValueError: Embedding 'embedding...': id 4 is outside [0, 4) (input_dim=4)
    """

    WEIGHT_NAMES = ("embeddings",)
    INPUT_DTYPE = "int32"  # a Sequential starting with an Embedding feeds it integer ids
    # Keras 3's quantization and LoRA options: only their "off" values load here.
    KERAS_IGNORED = {"quantization_config": None, "lora_rank": None, "lora_alpha": ANY_VALUE}
    KERAS3_ONLY = ("quantization_config", "lora_rank", "lora_alpha")
    KERAS2_ONLY = {"input_length": None}  # tf_keras writes it; Keras 3 ignores it

    def __init__(
        self,
        input_dim: int,
        output_dim: int,
        embeddings_initializer="uniform",
        embeddings_regularizer=None,
        activity_regularizer=None,
        embeddings_constraint=None,
        mask_zero: bool = False,
        weights=None,
        name: str | None = None,
        dtype="float32",
        input_shape=None,
        trainable: bool = True,
    ):
        super().__init__(name=name, dtype=dtype, input_shape=input_shape, trainable=trainable)
        self.input_dim = self._positive("input_dim", input_dim)
        self.output_dim = self._positive("output_dim", output_dim)
        self.embeddings_initializer = deserialize_initializer(embeddings_initializer)
        self.embeddings_regularizer = regularizers.get(embeddings_regularizer)
        self.activity_regularizer = regularizers.get(activity_regularizer)
        self._set_constraints(embeddings_constraint=embeddings_constraint)
        if not isinstance(mask_zero, bool | np.bool_):
            raise self._error(f"expected mask_zero to be a bool, received {mask_zero!r}")
        self.mask_zero = bool(mask_zero)
        self.embeddings = None
        if weights is not None:  # Keras: a matrix, or a list holding one
            self.build(None)
            self.set_weights(weights if isinstance(weights, list) and len(weights) == 1
                             else [weights])

    def _positive(self, key: str, value) -> int:
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value <= 0:
            raise self._error(f"expected {key} to be a positive integer, received {value!r}")
        return int(value)

    # -- building -------------------------------------------------------------------------
    def build(self, input_shape=None) -> None:
        self._weights = []
        self.embeddings = self.add_weight(
            "embeddings",
            self.embeddings_initializer((self.input_dim, self.output_dim), self.dtype),
            self.embeddings_constraint,
        ).value  # (V, D)
        self.built = True
        self.input_shape = None if input_shape is None else tuple(input_shape)

    def input_shape_from_weights(self, weights) -> tuple | None:
        return (None, None)  # ids of any length: the weights do not depend on it

    def compute_output_shape(self, input_shape):
        return (*tuple(input_shape), self.output_dim)

    def param_rule(self) -> tuple[str, str]:
        return ("input_dim × output_dim",
                f"{self.input_dim} × {self.output_dim} = {self.count_params():,}")

    def weight_regularizers(self) -> list:
        return [self.embeddings_regularizer]

    # -- computing ------------------------------------------------------------------------
    def _ids(self, x) -> np.ndarray:
        """``x`` as valid ids (intp), or an error naming the offending value and the range."""
        ids = inputs.as_numeric_array(x, self._label(), "integer ids")  # refuses text, complex
        if ids.ndim < 1:
            raise self._error(f"expected ids with a batch axis, received shape {ids.shape}")
        kind = ids.dtype.kind
        if kind == "f":
            bad = ~np.isfinite(ids) | (ids != np.floor(ids))
            if bad.any():
                raise self._error(
                    f"expected integer ids in [0, {self.input_dim}), received "
                    f"{ids[bad].flat[0].item()!r} (floats must hold whole numbers)")
        if ids.size:
            out = (ids < 0) | (ids >= self.input_dim)
            if out.any():
                raise self._error(
                    f"id {ids[out].flat[0].item()!r} is outside [0, {self.input_dim}) "
                    f"(input_dim={self.input_dim})")
        return ids.astype(np.intp)

    def forward(self, x, training: bool = False, rng=None):
        """``y = embeddings[ids]``; returns ``(y, cache)`` for :meth:`backward`."""
        ids = self._ids(x)
        if not self.built:
            self.build((None, *ids.shape[1:]))
        y = self.embeddings[ids]  # (batch, ..., D)
        return y, _EmbeddingCache(ids)

    def backward(self, dy, cache: _EmbeddingCache):
        """Returns ``(None, [dembeddings])``: ids have no gradient; repeated ids add up."""
        dy = np.asarray(dy, dtype=self.dtype)
        dembeddings = np.zeros_like(self.embeddings)  # (V, D)
        np.add.at(dembeddings, cache.ids.reshape(-1), dy.reshape(-1, self.output_dim))
        return None, [dembeddings]

    def compute_mask(self, x, mask):
        """Keras's: ``ids != 0`` with ``mask_zero``, else None (any input mask ends)."""
        if not self.mask_zero:
            return None
        return np.asarray(x) != 0  # (batch, ...)

    def get_config(self) -> dict:
        config = super().get_config()
        config.pop("activity_regularizer", None)
        config.update(
            input_dim=self.input_dim,
            output_dim=self.output_dim,
            **weight_options_config(self, ("embeddings",), activity=True),
            mask_zero=self.mask_zero,
            quantization_config=None,
        )
        return config
