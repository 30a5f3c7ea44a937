"""Keras's 1-D time-axis layers: ``ZeroPadding1D``, ``Cropping1D``, ``UpSampling1D``.

Each acts on the steps axis of a ``(batch, steps, features)`` input, and each backward is
the inverse move: padding's is a crop, cropping's a zero-padding, upsampling's the sum of
each step's ``size`` copies. No weights. Followed: ``keras/src/layers/reshaping/
zero_padding1d.py``, ``cropping1d.py`` and ``up_sampling1d.py`` (Keras 3): arguments,
defaults, configs (``padding`` / ``cropping`` as pairs), output shapes (None steps stay
None). None of them supports masking in Keras 3 (no ``compute_mask``): an incoming time
mask ends here, as in Keras.

>>> import numpy as np
>>> from npylstm.layers import Cropping1D, UpSampling1D, ZeroPadding1D
>>> x = np.array([[[1.0], [2.0], [3.0]]], dtype="float32")      # (1, 3, 1)
>>> ZeroPadding1D((1, 2))(x)[0, :, 0].tolist()
[0.0, 1.0, 2.0, 3.0, 0.0, 0.0]
>>> Cropping1D((1, 0))(x)[0, :, 0].tolist(), UpSampling1D(2)(x)[0, :, 0].tolist()
([2.0, 3.0], [1.0, 1.0, 2.0, 2.0, 3.0, 3.0])
"""

from __future__ import annotations

import numbers
from typing import NamedTuple

import numpy as np

from ..registry import register
from . import inputs
from .base import Layer
from .reshaping import check_data_format, check_input_ndim, positive_int

__all__ = ["Cropping1D", "UpSampling1D", "ZeroPadding1D"]


def _pair(layer: Layer, name: str, value) -> tuple[int, int]:
    """Keras's ``standardize_tuple(value, 2, name, allow_zero=True)``: an int ``n`` means
    ``(n, n)``; a pair of non-negative ints stays one (bools and floats refused)."""
    message = f"expected {name} to be a non-negative integer or a pair of them, received {value!r}"
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        value = (value, value)
    if isinstance(value, str | bytes) or not hasattr(value, "__iter__"):
        raise layer._error(message)
    pair = tuple(value)
    if len(pair) != 2 or any(
        isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < 0 for v in pair
    ):
        raise layer._error(message)
    return int(pair[0]), int(pair[1])


class _StepsCache(NamedTuple):
    steps: int  # the input's steps (the padded / cropped axis's length)


# -- ZeroPadding1D -------------------------------------------------------------------------
@register("ZeroPadding1D")
class ZeroPadding1D(Layer):
    """Add zero steps before and after the sequence (Keras ``ZeroPadding1D``):
    ``padding=(left, right)`` (an int: both), ``(B, T, F) -> (B, left + T + right, F)``;
    with ``data_format="channels_first"`` the input is ``(B, F, T)`` and the last axis is
    padded.

    >>> import numpy as np
    >>> ZeroPadding1D(1)(np.ones((2, 3, 4), dtype="float32")).shape
    (2, 5, 4)
    """

    KERAS3_ONLY = ("data_format",)  # tf_keras's ZeroPadding1D has no data_format

    @classmethod
    def to_keras2_config(cls, config: dict) -> dict:
        """tf_keras's config (without ``data_format``); a channels-first layer is refused,
        as tf_keras would pad the other axis."""
        if config.get("data_format") == "channels_first":
            raise ValueError(f"ZeroPadding1D '{config.get('name', '?')}': data_format="
                             f"'channels_first' cannot be written for tf_keras (it pads axis 1)")
        return super().to_keras2_config(config)

    def __init__(self, padding=1, data_format=None, name: str | None = None, dtype="float32",
                 input_shape=None, trainable: bool = True):
        super().__init__(name=name, dtype=dtype, input_shape=input_shape, trainable=trainable)
        self.padding = _pair(self, "padding", padding)
        self.data_format = check_data_format(self, data_format)

    @property
    def _axis(self) -> int:
        return 2 if self.data_format == "channels_first" else 1

    def build(self, input_shape) -> None:
        check_input_ndim(self, tuple(input_shape), 3, "(batch, steps, features)")
        super().build(input_shape)

    def compute_output_shape(self, input_shape):
        shape = list(input_shape)
        check_input_ndim(self, shape, 3, "(batch, steps, features)")
        if shape[self._axis] is not None:
            shape[self._axis] = int(shape[self._axis]) + sum(self.padding)
        return tuple(shape)

    def forward(self, x, training: bool = False, rng=None):
        """``y = pad(x, padding)`` along the steps axis."""
        x = self._as_float_array(x)
        check_input_ndim(self, x.shape, 3, "(batch, steps, features)")
        if not self.built:
            self.build((None, *x.shape[1:]))
        widths = [(0, 0)] * 3
        widths[self._axis] = self.padding
        padded = list(x.shape)
        padded[self._axis] += sum(self.padding)
        inputs.check_output_size(padded, x.dtype, self._label(), f"padding = {self.padding}")
        return np.pad(x, widths), _StepsCache(x.shape[self._axis])  # (B, left + T + right, F)

    def backward(self, dy, cache: _StepsCache):
        """Returns ``(dx, [])``: ``dy`` cropped back to the input's steps."""
        dy = np.asarray(dy, dtype=self.dtype)  # (B, left + T + right, F)
        left = self.padding[0]
        index = [slice(None)] * 3
        index[self._axis] = slice(left, left + cache.steps)
        return np.ascontiguousarray(dy[tuple(index)]), []  # (B, T, F)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(padding=self.padding, data_format=self.data_format)
        return config


# -- Cropping1D ------------------------------------------------------------------------------
@register("Cropping1D")
class Cropping1D(Layer):
    """Remove steps at the start and end of the sequence (Keras ``Cropping1D``):
    ``cropping=(start, end)`` (an int: both), ``(B, T, F) -> (B, T - start - end, F)``.
    Cropping the whole sequence (``start + end >= T``) is an error, as in Keras.

    >>> import numpy as np
    >>> Cropping1D((1, 2))(np.ones((2, 5, 4), dtype="float32")).shape
    (2, 2, 4)
    """

    def __init__(self, cropping=(1, 1), name: str | None = None, dtype="float32",
                 input_shape=None, trainable: bool = True):
        super().__init__(name=name, dtype=dtype, input_shape=input_shape, trainable=trainable)
        self.cropping = _pair(self, "cropping", cropping)

    def _steps_left(self, shape) -> int | None:
        check_input_ndim(self, shape, 3, "(batch, steps, features)")
        if shape[1] is None:
            return None
        steps = int(shape[1]) - sum(self.cropping)
        if steps <= 0:
            raise self._error(
                f"cropping {self.cropping} leaves no step of an input of shape "
                f"{tuple(shape)}: it must remove fewer than {shape[1]} steps"
            )
        return steps

    def build(self, input_shape) -> None:
        self._steps_left(tuple(input_shape))
        super().build(input_shape)

    def compute_output_shape(self, input_shape):
        input_shape = tuple(input_shape)
        return (input_shape[0], self._steps_left(input_shape), input_shape[2])

    def forward(self, x, training: bool = False, rng=None):
        """``y = x[:, start:T - end, :]``."""
        x = self._as_float_array(x)
        steps = self._steps_left(x.shape)
        if not self.built:
            self.build((None, *x.shape[1:]))
        start = self.cropping[0]
        return x[:, start:start + steps].copy(), _StepsCache(x.shape[1])  # (B, T', F)

    def backward(self, dy, cache: _StepsCache):
        """Returns ``(dx, [])``: ``dy`` at the kept steps, zeros at the cropped ones."""
        dy = np.asarray(dy, dtype=self.dtype)  # (B, T', F)
        start = self.cropping[0]
        dx = np.zeros((dy.shape[0], cache.steps, dy.shape[2]), dtype=self.dtype)  # (B, T, F)
        dx[:, start:start + dy.shape[1]] = dy
        return dx, []

    def get_config(self) -> dict:
        config = super().get_config()
        config["cropping"] = self.cropping
        return config


# -- UpSampling1D ----------------------------------------------------------------------------
@register("UpSampling1D")
class UpSampling1D(Layer):
    """Repeat every step ``size`` times (Keras ``UpSampling1D``): ``(B, T, F) ->
    (B, size * T, F)``, step ``t`` of the output is step ``t // size`` of the input.

    >>> import numpy as np
    >>> UpSampling1D(3)(np.ones((2, 4, 5), dtype="float32")).shape
    (2, 12, 5)
    """

    def __init__(self, size=2, name: str | None = None, dtype="float32", input_shape=None,
                 trainable: bool = True):
        super().__init__(name=name, dtype=dtype, input_shape=input_shape, trainable=trainable)
        self.size = positive_int(self, "size", size)

    def build(self, input_shape) -> None:
        check_input_ndim(self, tuple(input_shape), 3, "(batch, steps, features)")
        super().build(input_shape)

    def compute_output_shape(self, input_shape):
        input_shape = tuple(input_shape)
        check_input_ndim(self, input_shape, 3, "(batch, steps, features)")
        steps = None if input_shape[1] is None else self.size * int(input_shape[1])
        return (input_shape[0], steps, input_shape[2])

    def forward(self, x, training: bool = False, rng=None):
        """``y = repeat(x, size, axis=1)``."""
        x = self._as_float_array(x)
        check_input_ndim(self, x.shape, 3, "(batch, steps, features)")
        if not self.built:
            self.build((None, *x.shape[1:]))
        inputs.check_output_size((x.shape[0], self.size * x.shape[1], x.shape[2]), x.dtype,
                                 self._label(), f"size = {self.size}")
        return np.repeat(x, self.size, axis=1), None  # (B, size * T, F)

    def backward(self, dy, cache):
        """Returns ``(dx, [])``: each input step gets the sum of its copies' gradients."""
        dy = np.asarray(dy, dtype=self.dtype)  # (B, size * T, F)
        batch, steps, features = dy.shape
        return dy.reshape(batch, steps // self.size, self.size, features).sum(axis=2), []

    def get_config(self) -> dict:
        config = super().get_config()
        config["size"] = self.size
        return config
