"""The Keras ``Masking`` layer: marks the padded timesteps for every layer after it.

Following ``keras/src/layers/core/masking.py``: a timestep is *real* when any of its
features differs from ``mask_value``; the output mask is ``(batch, timesteps)`` booleans,
True at the real steps, and the output is the input with every padded step set to zeros
(Keras's ``where(mask, inputs, 0)`` — the padded values do not matter, since the
recurrent layers after it skip those steps, but a Dense fed directly sees zeros)::

    mask = any(x != mask_value, axis=-1)       (batch, timesteps)
    y = where(mask[..., None], x, 0)           (batch, timesteps, features)

>>> import numpy as np
>>> from npylstm.layers import Masking
>>> x = np.array([[[1.0], [0.0], [2.0]]], dtype="float32")
>>> layer = Masking(0.0)
>>> layer.compute_mask(x, None).tolist()
[[True, False, True]]
"""

from __future__ import annotations

import numbers
from typing import NamedTuple

import numpy as np

from ..registry import register
from .base import Layer

__all__ = ["Masking"]


class _MaskingCache(NamedTuple):
    keep: np.ndarray  # (batch, timesteps, 1) booleans, True at the real steps


@register("Masking")
class Masking(Layer):
    """Mask the timesteps whose features all equal ``mask_value``."""

    SUPPORTS_MASKING = True

    def __init__(self, mask_value: float = 0.0, name: str | None = None, dtype="float32",
                 input_shape=None, trainable: bool = True):
        super().__init__(name=name, dtype=dtype, input_shape=input_shape, trainable=trainable)
        if isinstance(mask_value, bool) or not isinstance(mask_value, numbers.Real):
            raise self._error(f"expected mask_value to be a number, received {mask_value!r}")
        self.mask_value = mask_value

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def _check_input(self, x) -> np.ndarray:
        x = self._as_float_array(x)
        if x.ndim < 2:
            raise self._error(
                f"expected an input with batch and timestep axes, received shape {x.shape}"
            )
        if not self.built:
            self.build((None, *x.shape[1:]))
        return x

    def _keep(self, x: np.ndarray) -> np.ndarray:
        """True at the real steps, ``(batch, timesteps, 1)``."""
        return np.any(x != self.mask_value, axis=-1, keepdims=True)

    def compute_mask(self, x, mask=None):
        """``(batch, timesteps)``: True where any feature differs from ``mask_value`` (the
        incoming mask is replaced, as in Keras)."""
        return self._keep(self._check_input(x))[..., 0]

    def forward(self, x, training: bool = False, rng=None):
        """``y = where(mask, x, 0)``; returns ``(y, cache)`` for :meth:`backward`."""
        x = self._check_input(x)
        keep = self._keep(x)  # (batch, timesteps, 1)
        return np.where(keep, x, 0).astype(self.dtype), _MaskingCache(keep)

    def backward(self, dy, cache: _MaskingCache):
        """Returns ``(dx, [])``: the gradient reaches the real steps only."""
        dy = np.asarray(dy, dtype=self.dtype)
        return np.where(cache.keep, dy, 0).astype(self.dtype), []

    def get_config(self) -> dict:
        config = super().get_config()
        config["mask_value"] = self.mask_value
        return config
