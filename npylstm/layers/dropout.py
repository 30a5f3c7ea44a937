"""The Keras ``Dropout`` layer: inverted dropout while training, identity at inference.

While training, each input element is kept with probability ``1 - rate`` and scaled by
``1 / (1 - rate)`` (so the expected value is unchanged), or set to 0::

    mask = (uniform(noise_shape) >= rate) / (1 - rate)  # (batch, ...) like x, or 1s
    y = x * mask                                        # broadcast over noise_shape's 1s

``noise_shape`` (Keras's): the mask's shape, ``None`` entries taken from the input's
shape, an entry 1 sharing one draw along that axis (``(None, 1, None)``: one mask per
sequence, the same at every timestep).

>>> import numpy as np
>>> from npylstm.layers import Dropout
>>> layer = Dropout(0.5, seed=0)
>>> x = np.ones((2, 4), dtype="float32")
>>> bool((layer(x) == x).all())                    # inference: identity
True
>>> sorted(set(layer(x, training=True).ravel().tolist()))  # training: 0 or 1 / (1 - 0.5)
[0.0, 2.0]
>>> y = Dropout(0.5, noise_shape=(None, 1), seed=0)(x, training=True)
>>> bool((y == y[:, :1]).all())                    # one draw per row, broadcast
True
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
    mask: np.ndarray | None  # (noise shape) broadcastable to x, or None at inference


def _check_noise_shape(layer: Layer, noise_shape) -> tuple | None:
    """Keras's ``_validate_noise_shape``: None, or a tuple of positive ints and Nones."""
    if noise_shape is None:
        return None
    try:
        if isinstance(noise_shape, str):
            raise TypeError
        noise_shape = tuple(noise_shape)
    except TypeError:
        raise layer._error(f"expected noise_shape to be a tuple or list of positive ints "
                           f"and Nones, received {noise_shape!r}") from None
    for i, dim in enumerate(noise_shape):
        if dim is not None and (isinstance(dim, bool) or not isinstance(dim, numbers.Integral)
                                or dim <= 0):
            raise layer._error(f"expected noise_shape entries to be positive ints or None, "
                               f"received {dim!r} at index {i} of {noise_shape!r}")
    return tuple(None if d is None else int(d) for d in noise_shape)


@register("Dropout")
class Dropout(Layer):
    """Randomly zero a fraction ``rate`` of the inputs while training (Keras ``Dropout``).

    ``seed`` fixes this layer's random stream. Masks come from NumPy's generator, not
    Keras's, so the dropped positions differ from Keras's while the distribution agrees.
    The layer has no weights. ``noise_shape``: the mask's shape (Nones from the input),
    broadcast over the input as Keras's ``backend.random.dropout``; it must have the
    input's rank, and each fixed entry must be 1 or the input's size on that axis (Keras
    leaves both to its broadcast, which fails less clearly). Followed: Keras 3.15.1
    ``keras/src/layers/regularization/dropout.py`` and ``backend/jax/random.py``.
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
        self.noise_shape = _check_noise_shape(self, noise_shape)
        self.seed = seed
        self._rng = layer_rng(seed)

    def build(self, input_shape) -> None:
        self._mask_shape(tuple(input_shape))  # checks the rank and the sizes
        super().build(input_shape)

    def _mask_shape(self, input_shape: tuple) -> tuple:
        """The concrete mask shape for an input of ``input_shape`` (Keras's
        ``_get_concrete_noise_shape``): ``noise_shape`` with its Nones filled in."""
        if self.noise_shape is None:
            return tuple(input_shape)
        if len(self.noise_shape) != len(input_shape):
            raise self._error(f"noise_shape {self.noise_shape} must have the input's rank "
                              f"{len(input_shape)}, received an input of shape {input_shape}")
        shape = tuple(d if n is None else n for n, d in zip(self.noise_shape, input_shape,
                                                               strict=True))
        for n, d in zip(shape, input_shape, strict=True):
            if n is not None and d is not None and n not in (1, d):
                raise self._error(f"noise_shape {self.noise_shape} does not broadcast to the "
                                  f"input's shape {input_shape}: each fixed entry must be 1 "
                                  f"or the input's size")
        return shape

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def forward(self, x, training: bool = False, rng=None):
        """``x * mask`` while training (mask from ``rng`` or the layer's generator), else x."""
        x = self._as_float_array(x)
        if not self.built:
            self.build((None, *x.shape[1:]))
        if not training or self.rate == 0.0:
            return x, _DropoutCache(None)
        shape = self._mask_shape(x.shape)
        mask = dropout_mask(rng if rng is not None else self._rng, shape, self.rate, x.dtype)
        return x * mask, _DropoutCache(mask)  # (x.shape): the mask broadcast

    def backward(self, dy, cache: _DropoutCache):
        """Returns ``(dx, [])``: the gradient passes where the (broadcast) mask kept the
        input, scaled as the forward was."""
        dy = np.asarray(dy, dtype=self.dtype)
        return (dy if cache.mask is None else dy * cache.mask), []

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(rate=self.rate, seed=self.seed, noise_shape=self.noise_shape)
        return config
