"""The Keras ``Dropout`` layer: inverted dropout while training, identity at inference.

While training, each input element is kept with probability ``1 - rate`` and scaled by
``1 / (1 - rate)`` (so the expected value is unchanged), or set to 0::

    mask = (uniform(shape) >= rate) / (1 - rate)        # (batch, ...) like x
    y = x * mask

>>> import numpy as np
>>> from npylstm.layers import Dropout
>>> layer = Dropout(0.5, seed=0)
>>> x = np.ones((2, 4), dtype="float32")
>>> bool((layer(x) == x).all())                    # inference: identity
True
>>> sorted(set(layer(x, training=True).ravel().tolist()))  # training: 0 or 1 / (1 - 0.5)
[0.0, 2.0]
"""

from __future__ import annotations

import numbers
from typing import NamedTuple

import numpy as np

from .. import initializers
from ..registry import register
from .base import Layer

__all__ = ["Dropout", "dropout_mask"]


def dropout_mask(rng: np.random.Generator, shape, rate: float, dtype) -> np.ndarray:
    """An inverted-dropout mask: 0 with probability ``rate``, else ``1 / (1 - rate)``.

    Parameters
    ----------
    rng : the generator to draw from
    shape : the mask's shape, e.g. ``(batch, features)``
    rate : fraction dropped, in [0, 1)
    dtype : float dtype of the mask

    >>> m = dropout_mask(np.random.default_rng(0), (1000,), 0.25, "float32")
    >>> sorted(set(m.tolist())) == [0.0, np.float32(1 / 0.75)]
    True
    """
    keep = rng.random(shape) >= rate  # (shape) True with probability 1 - rate
    return keep.astype(dtype) * np.asarray(1.0 / (1.0 - rate), dtype=dtype)


def check_rate(layer: Layer, name: str, rate) -> float:
    """``rate`` as a float in [0, 1), or a ValueError naming the layer and the argument.

    (Keras clamps out-of-range rates silently; a rate of 1 would drop everything.)
    """
    if (
        isinstance(rate, bool)
        or not isinstance(rate, numbers.Real)
        or not 0.0 <= float(rate) < 1.0
    ):
        raise layer._error(f"expected {name} in [0, 1), received {rate!r}")
    return float(rate)


def layer_rng(seed: int | None) -> np.random.Generator:
    """The generator a layer draws its dropout masks from: its own when seeded (the same
    masks on every run), else one spawned from the package generator, which
    :func:`npylstm.set_random_seed` resets."""
    if seed is not None:
        return np.random.default_rng(seed)
    return np.random.default_rng(initializers._rng(None).integers(2**63))


class _DropoutCache(NamedTuple):
    mask: np.ndarray | None  # (batch, ...) like x, or None at inference


@register("Dropout")
class Dropout(Layer):
    """Randomly zero a fraction ``rate`` of the inputs while training (Keras ``Dropout``).

    ``seed`` fixes this layer's random stream. Masks come from NumPy's generator, not
    Keras's, so the dropped positions differ from Keras's while the distribution agrees.
    The layer has no weights.
    """

    SUPPORTS_MASKING = True  # passes the time mask on, as Keras's does

    def __init__(
        self,
        rate: float,
        noise_shape=None,
        seed: int | None = None,
        name: str | None = None,
        dtype="float32",
        input_shape=None,
        trainable: bool = True,
    ):
        super().__init__(name=name, dtype=dtype, input_shape=input_shape, trainable=trainable)
        self.rate = check_rate(self, "rate", rate)
        if noise_shape is not None:
            raise self._error(f"noise_shape is not supported yet, received {noise_shape!r}")
        self.seed = seed
        self._rng = layer_rng(seed)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def forward(self, x, training: bool = False, rng=None):
        """``x * mask`` while training (mask from ``rng`` or the layer's generator), else x."""
        x = np.asarray(x, dtype=self.dtype)
        if not self.built:
            self.build((None, *x.shape[1:]))
        if not training or self.rate == 0.0:
            return x, _DropoutCache(None)
        mask = dropout_mask(rng if rng is not None else self._rng, x.shape, self.rate, x.dtype)
        return x * mask, _DropoutCache(mask)

    def backward(self, dy, cache: _DropoutCache):
        """Returns ``(dx, [])``: the gradient passes where the mask kept the input."""
        dy = np.asarray(dy, dtype=self.dtype)
        return (dy if cache.mask is None else dy * cache.mask), []

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(rate=self.rate, seed=self.seed, noise_shape=None)
        return config
