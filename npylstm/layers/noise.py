"""Keras's noise layers: ``SpatialDropout1D``, ``GaussianNoise``, ``GaussianDropout``.

Each is the identity at inference and random while training::

    SpatialDropout1D:  y = x * keep[:, None, :] / (1 - rate)     keep: (B, 1, C), P = 1 - rate
    GaussianNoise:     y = x + stddev * z                         z ~ N(0, 1), like x
    GaussianDropout:   y = x * (1 + sqrt(rate / (1 - rate)) * z)   z ~ N(0, 1), like x

so ``dx = dy * keep / (1 - rate)``, ``dx = dy`` and ``dx = dy * (1 + s z)``. Followed:
``keras/src/layers/regularization/spatial_dropout.py``, ``gaussian_noise.py`` and
``gaussian_dropout.py`` (Keras 3): arguments, configs (SpatialDropout1D's is Keras's own
short one: ``rate, seed, name, dtype``), and masks (all three set ``supports_masking``:
the time mask passes on). The random numbers are NumPy's, drawn as
:mod:`npylstm.layers.dropout` draws them (the ``rng`` argument when given, else the
layer's generator from ``seed``), so they differ from Keras's while the distributions
agree.

>>> import numpy as np
>>> from npylstm.layers import GaussianDropout, GaussianNoise, SpatialDropout1D
>>> x = np.ones((2, 3, 4), dtype="float32")
>>> all(bool((layer(x) == x).all()) for layer in
...     (SpatialDropout1D(0.5), GaussianNoise(0.1), GaussianDropout(0.2)))  # inference
True
>>> y = SpatialDropout1D(0.5, seed=1)(x, training=True)    # whole channels: 0 or 2
>>> bool((y == y[:, :1]).all()) and sorted(set(y.ravel().tolist()))
[0.0, 2.0]
"""

from __future__ import annotations

import math
import numbers
from typing import NamedTuple

import numpy as np

from ..registry import register
from .base import Layer
from .dropout import check_rate, dropout_mask, layer_rng

__all__ = ["GaussianDropout", "GaussianNoise", "SpatialDropout1D"]


class _NoiseCache(NamedTuple):
    factor: np.ndarray | None  # what x was multiplied by, or None (identity)


def _normal(rng: np.random.Generator, shape, dtype) -> np.ndarray:
    """Standard normal draws of ``dtype``."""
    return rng.standard_normal(shape).astype(dtype)


class _NoiseLayer(Layer):
    """What the three share: a seed, a generator, masks passed on, the identity at
    inference, ``dx = dy * factor``."""

    SUPPORTS_MASKING = True  # Keras sets supports_masking on all three

    def _init_rng(self, seed) -> None:
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, numbers.Integral)):
            raise self._error(f"expected seed to be an integer or None, received {seed!r}")
        self.seed = seed if seed is None else int(seed)
        self._rng = layer_rng(self.seed)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def _check_input(self, x) -> np.ndarray:
        x = self._as_float_array(x)
        if x.ndim < 1:
            raise self._error(f"expected an input with a batch axis, received shape {x.shape}")
        if not self.built:
            self.build((None, *x.shape[1:]))
        return x

    def _active(self) -> bool:  # pragma: no cover - abstract
        raise NotImplementedError

    def _noise(self, x: np.ndarray, rng: np.random.Generator):  # pragma: no cover
        """``(y, factor)`` while training."""
        raise NotImplementedError

    def forward(self, x, training: bool = False, rng=None):
        """The noisy ``y`` while training (draws from ``rng`` or the layer's generator),
        else ``x``; returns ``(y, cache)``."""
        x = self._check_input(x)
        if not training or not self._active():
            return x, _NoiseCache(None)
        y, factor = self._noise(x, rng if rng is not None else self._rng)
        return y, _NoiseCache(factor)

    def backward(self, dy, cache: _NoiseCache):
        """Returns ``(dx, [])``: ``dy`` times what ``x`` was multiplied by."""
        dy = np.asarray(dy, dtype=self.dtype)
        return (dy if cache.factor is None else dy * cache.factor), []


@register("SpatialDropout1D")
class SpatialDropout1D(_NoiseLayer):
    """Drop whole channels of a ``(B, T, C)`` input while training (Keras
    ``SpatialDropout1D``): one keep-or-drop draw per sample and channel (mask shape
    ``(B, 1, C)``), kept channels scaled by ``1 / (1 - rate)``.

    ``rate`` in [0, 1) (Keras also takes 1, which drops everything). Keras writes a short
    config for it (``rate, seed, name, dtype``, no ``trainable``); so does this class.

    >>> import numpy as np
    >>> layer = SpatialDropout1D(0.25, seed=0)
    >>> layer(np.ones((1, 5, 3), dtype="float32"), training=True).std(axis=1).max()
    np.float32(0.0)
    """

    #: tf_keras writes Dropout's noise_shape (always None for the spatial layers).
    KERAS2_ONLY = {"noise_shape": None}

    def __init__(self, rate, seed=None, name: str | None = None, dtype="float32",
                 input_shape=None, trainable: bool = True):
        super().__init__(name=name, dtype=dtype, input_shape=input_shape, trainable=trainable)
        self.rate = check_rate(self, "rate", rate)
        self._init_rng(seed)

    def _check_shape(self, shape) -> None:
        if len(shape) != 3:
            raise self._error(f"expected a 3-D input (batch, steps, channels), received shape "
                              f"{tuple(shape)}")

    def build(self, input_shape) -> None:
        self._check_shape(input_shape)
        super().build(input_shape)

    def compute_output_shape(self, input_shape):
        self._check_shape(input_shape)
        return tuple(input_shape)

    def _check_input(self, x) -> np.ndarray:
        x = self._as_float_array(x)
        self._check_shape(x.shape)
        return super()._check_input(x)

    def _active(self) -> bool:
        return self.rate > 0.0

    def _noise(self, x, rng):
        mask = dropout_mask(rng, (x.shape[0], 1, x.shape[2]), self.rate, x.dtype)  # (B, 1, C)
        return x * mask, mask

    def get_config(self) -> dict:
        # Keras's BaseSpatialDropout.get_config: these four keys, dtype as a plain name.
        return {"rate": self.rate, "seed": self.seed, "name": self.name,
                "dtype": self.dtype.name}


@register("GaussianNoise")
class GaussianNoise(_NoiseLayer):
    """Add zero-mean Gaussian noise of standard deviation ``stddev`` while training (Keras
    ``GaussianNoise``). ``stddev`` in [0, 1], the range Keras accepts.

    >>> import numpy as np
    >>> y = GaussianNoise(0.5, seed=0)(np.zeros((1000, 10), dtype="float32"), training=True)
    >>> round(float(y.std()), 1)
    0.5
    """

    def __init__(self, stddev, seed=None, name: str | None = None, dtype="float32",
                 input_shape=None, trainable: bool = True):
        super().__init__(name=name, dtype=dtype, input_shape=input_shape, trainable=trainable)
        if (isinstance(stddev, bool) or not isinstance(stddev, numbers.Real)
                or not 0.0 <= float(stddev) <= 1.0):
            raise self._error(f"expected stddev in [0, 1] (Keras's range), received {stddev!r}")
        self.stddev = float(stddev)
        self._init_rng(seed)

    def _active(self) -> bool:
        return self.stddev > 0.0

    def _noise(self, x, rng):
        noise = np.asarray(self.stddev, dtype=x.dtype) * _normal(rng, x.shape, x.dtype)
        return x + noise, None  # additive: dx = dy

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(stddev=self.stddev, seed=self.seed)
        return config


@register("GaussianDropout")
class GaussianDropout(_NoiseLayer):
    """Multiply the input by Gaussian noise of mean 1 and standard deviation
    ``sqrt(rate / (1 - rate))`` while training (Keras ``GaussianDropout``). ``rate`` in
    [0, 1) (Keras also takes 1: an infinite deviation).

    >>> import numpy as np
    >>> y = GaussianDropout(0.2, seed=0)(np.ones((1000, 10), dtype="float32"), training=True)
    >>> round(float(y.mean()), 1), round(float(y.std()), 1)                # sqrt(0.25)
    (1.0, 0.5)
    """

    def __init__(self, rate, seed=None, name: str | None = None, dtype="float32",
                 input_shape=None, trainable: bool = True):
        super().__init__(name=name, dtype=dtype, input_shape=input_shape, trainable=trainable)
        self.rate = check_rate(self, "rate", rate)
        self._init_rng(seed)

    def _active(self) -> bool:
        return self.rate > 0.0

    def _noise(self, x, rng):
        stddev = math.sqrt(self.rate / (1.0 - self.rate))
        factor = 1 + np.asarray(stddev, dtype=x.dtype) * _normal(rng, x.shape, x.dtype)  # like x
        return x * factor, factor

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(rate=self.rate, seed=self.seed)
        return config
