"""Keras's shape layers: ``Flatten``, ``Reshape``, ``Permute``, ``RepeatVector``.

Each only moves values around, so its backward is the inverse move: a reshape's is the
inverse reshape, a transpose's the inverse transpose, a repeat's the sum over the repeated
axis. None of them has weights. Followed: ``keras/src/layers/reshaping/flatten.py``,
``reshape.py``, ``permute.py`` and ``repeat_vector.py`` (Keras 3): arguments, defaults,
configs and output shapes (None for an unknown dimension). None of the four sets
``supports_masking`` in Keras 3, so each ends an incoming time mask (Keras warns and drops
it); here too (:attr:`Layer.SUPPORTS_MASKING` False).

>>> import numpy as np
>>> from npylstm.layers import Flatten, Permute, RepeatVector, Reshape
>>> x = np.arange(12, dtype="float32").reshape(1, 2, 6)
>>> Flatten()(x).shape, Reshape((3, -1))(x).shape, Permute((2, 1))(x).shape
((1, 12), (1, 3, 4), (1, 6, 2))
>>> RepeatVector(3)(x[:, 0]).shape
(1, 3, 6)
"""

from __future__ import annotations

import math
import numbers
from typing import NamedTuple

import numpy as np

from ..registry import register
from . import inputs
from .base import Layer

__all__ = ["Flatten", "Permute", "RepeatVector", "Reshape", "check_data_format",
           "check_input_ndim", "positive_int"]

DATA_FORMATS = ("channels_last", "channels_first")


def check_data_format(layer: Layer, data_format) -> str:
    """Keras's ``standardize_data_format``: None means ``"channels_last"`` (Keras's default
    ``image_data_format``); otherwise one of :data:`DATA_FORMATS`, any case."""
    if data_format is None:
        return "channels_last"
    if isinstance(data_format, str) and data_format.lower() in DATA_FORMATS:
        return data_format.lower()
    raise layer._error(f"expected data_format in {DATA_FORMATS}, received {data_format!r}")


def positive_int(layer: Layer, name: str, value) -> int:
    """``value`` as a positive int (bools and floats refused, as Keras refuses them)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value <= 0:
        raise layer._error(f"expected {name} to be a positive integer, received {value!r}")
    return int(value)


def check_input_ndim(layer: Layer, shape, ndim: int, what: str) -> None:
    """An error naming the layer unless ``shape`` (with the batch axis) has ``ndim`` axes."""
    if len(shape) != ndim:
        raise layer._error(f"expected a {ndim}-D input {what}, received shape {tuple(shape)}")


def _int_or_none(dim):
    return None if dim is None else int(dim)


class _ShapeCache(NamedTuple):
    shape: tuple  # the input's shape, (B, ...)


# -- Flatten ---------------------------------------------------------------------------------
@register("Flatten")
class Flatten(Layer):
    """Flatten every axis but the batch axis (Keras ``Flatten``): ``(B, d1, ..., dk) ->
    (B, d1 * ... * dk)``; a ``(B,)`` input becomes ``(B, 1)``.

    ``data_format="channels_first"`` moves the channel axis (axis 1) last before
    flattening, as Keras does, so the order matches a channels-last model's.

    >>> import numpy as np
    >>> x = np.arange(6, dtype="float32").reshape(1, 2, 3)
    >>> Flatten()(x).tolist(), Flatten("channels_first")(x).tolist()
    ([[0.0, 1.0, 2.0, 3.0, 4.0, 5.0]], [[0.0, 3.0, 1.0, 4.0, 2.0, 5.0]])
    """

    def __init__(self, data_format=None, name: str | None = None, dtype="float32",
                 input_shape=None, trainable: bool = True):
        super().__init__(name=name, dtype=dtype, input_shape=input_shape, trainable=trainable)
        self.data_format = check_data_format(self, data_format)

    def _check_shape(self, shape) -> None:
        if len(shape) < 1:
            raise self._error(f"expected an input with a batch axis, received shape {shape}")

    def build(self, input_shape) -> None:
        self._check_shape(tuple(input_shape))
        super().build(input_shape)

    def compute_output_shape(self, input_shape):
        input_shape = tuple(input_shape)
        self._check_shape(input_shape)
        dims = input_shape[1:]
        if any(d is None for d in dims):
            return (input_shape[0], None)
        return (input_shape[0], math.prod(int(d) for d in dims))  # prod(()) = 1: (B,) -> (B, 1)

    def _to_channels_last(self, ndim: int) -> tuple | None:
        """The transpose Keras applies first (channels_first, rank > 2), or None."""
        if self.data_format == "channels_first" and ndim > 2:
            return (0, *range(2, ndim), 1)
        return None

    def forward(self, x, training: bool = False, rng=None):
        """``y = reshape(x, (B, -1))`` (after the channels-first transpose)."""
        x = self._as_float_array(x)
        self._check_shape(x.shape)
        if not self.built:
            self.build((None, *x.shape[1:]))
        axes = self._to_channels_last(x.ndim)
        moved = x if axes is None else x.transpose(axes)  # (B, ..., C)
        return moved.reshape(x.shape[0], -1), _ShapeCache(x.shape)  # (B, prod(dims))

    def backward(self, dy, cache: _ShapeCache):
        """Returns ``(dx, [])``: ``dy`` reshaped back (and transposed back)."""
        dy = np.asarray(dy, dtype=self.dtype)  # (B, prod(dims))
        shape = cache.shape
        axes = self._to_channels_last(len(shape))
        if axes is None:
            return dy.reshape(shape), []
        moved = dy.reshape(tuple(shape[a] for a in axes))  # (B, ..., C)
        return np.ascontiguousarray(moved.transpose(np.argsort(axes))), []  # (B, C, ...)

    def get_config(self) -> dict:
        config = super().get_config()
        config["data_format"] = self.data_format
        return config


# -- Reshape ---------------------------------------------------------------------------------
@register("Reshape")
class Reshape(Layer):
    """Reshape each sample to ``target_shape`` (Keras ``Reshape``): ``(B, ...) ->
    (B, *target_shape)``.

    ``target_shape`` excludes the batch axis; one entry may be ``-1``, inferred from the
    sample's size. A size that does not divide (or differs, without ``-1``) is an error
    naming both shapes. Entries must be positive (Keras also accepts 0, which only an
    empty input could meet).

    >>> import numpy as np
    >>> Reshape((2, -1))(np.arange(6, dtype="float32").reshape(1, 6)).tolist()
    [[[0.0, 1.0, 2.0], [3.0, 4.0, 5.0]]]
    """

    def __init__(self, target_shape, name: str | None = None, dtype="float32",
                 input_shape=None, trainable: bool = True):
        super().__init__(name=name, dtype=dtype, input_shape=input_shape, trainable=trainable)
        self.target_shape = self._check_target_shape(target_shape)

    def _check_target_shape(self, target_shape) -> tuple[int, ...]:
        message = (f"expected target_shape to be a tuple of positive integers with at most "
                   f"one -1, received {target_shape!r}")
        if isinstance(target_shape, str | bytes) or not hasattr(target_shape, "__iter__"):
            raise self._error(message)
        dims = tuple(target_shape)
        if any(isinstance(d, bool) or not isinstance(d, numbers.Integral) for d in dims):
            raise self._error(message)
        if any(d < -1 or d == 0 for d in dims) or sum(d == -1 for d in dims) > 1:
            raise self._error(message)
        return tuple(int(d) for d in dims)

    def _resolve(self, dims: tuple) -> tuple:
        """``target_shape`` with its ``-1`` resolved for a sample of shape ``dims`` (None
        when a dimension is unknown), or an error when the sizes do not fit."""
        if any(d is None for d in dims):
            return tuple(None if d == -1 else d for d in self.target_shape)
        size = math.prod(int(d) for d in dims)
        known = math.prod(d for d in self.target_shape if d != -1)
        if -1 not in self.target_shape:
            if size != known:
                raise self._error(
                    f"cannot reshape a sample of shape {tuple(dims)} ({size} values) to "
                    f"target_shape {self.target_shape} ({known} values)"
                )
            return self.target_shape
        if size % known:
            raise self._error(
                f"cannot reshape a sample of shape {tuple(dims)} ({size} values) to "
                f"target_shape {self.target_shape}: {size} is not a multiple of {known}"
            )
        return tuple(size // known if d == -1 else d for d in self.target_shape)

    def build(self, input_shape) -> None:
        self.compute_output_shape(input_shape)  # the sizes must fit
        super().build(input_shape)

    def compute_output_shape(self, input_shape):
        input_shape = tuple(input_shape)
        if len(input_shape) < 1:
            raise self._error(f"expected an input with a batch axis, received shape "
                              f"{input_shape}")
        return (input_shape[0], *self._resolve(input_shape[1:]))

    def forward(self, x, training: bool = False, rng=None):
        """``y = reshape(x, (B, *target_shape))``."""
        x = self._as_float_array(x)
        if x.ndim < 1:
            raise self._error(f"expected an input with a batch axis, received shape {x.shape}")
        if not self.built:
            self.build((None, *x.shape[1:]))
        return x.reshape(x.shape[0], *self._resolve(x.shape[1:])), _ShapeCache(x.shape)

    def backward(self, dy, cache: _ShapeCache):
        """Returns ``(dx, [])``: ``dy`` reshaped back to the input's shape."""
        return np.asarray(dy, dtype=self.dtype).reshape(cache.shape), []

    def get_config(self) -> dict:
        config = super().get_config()
        config["target_shape"] = self.target_shape
        return config


# -- Permute ---------------------------------------------------------------------------------
@register("Permute")
class Permute(Layer):
    """Permute the non-batch axes (Keras ``Permute``): ``dims`` is a permutation of
    ``1, ..., k`` (1-based: the batch axis stays first); ``(2, 1)`` swaps the time and
    feature axes of a ``(B, T, F)`` input.

    >>> import numpy as np
    >>> Permute((2, 1))(np.zeros((4, 5, 3), dtype="float32")).shape
    (4, 3, 5)
    """

    def __init__(self, dims, name: str | None = None, dtype="float32", input_shape=None,
                 trainable: bool = True):
        super().__init__(name=name, dtype=dtype, input_shape=input_shape, trainable=trainable)
        message = (f"expected dims to be a permutation of 1, ..., k (the axes after the "
                   f"batch axis, 1-based), received {dims!r}")
        if isinstance(dims, str | bytes) or not hasattr(dims, "__iter__"):
            raise self._error(message)
        dims = tuple(dims)
        if any(isinstance(d, bool) or not isinstance(d, numbers.Integral) for d in dims):
            raise self._error(message)
        if not dims or sorted(int(d) for d in dims) != list(range(1, len(dims) + 1)):
            raise self._error(message)
        self.dims = tuple(int(d) for d in dims)

    @property
    def _axes(self) -> tuple[int, ...]:
        return (0, *self.dims)

    def _check_shape(self, shape) -> None:
        check_input_ndim(self, shape, len(self.dims) + 1, f"for dims={self.dims}")

    def build(self, input_shape) -> None:
        self._check_shape(tuple(input_shape))
        super().build(input_shape)

    def compute_output_shape(self, input_shape):
        input_shape = tuple(input_shape)
        self._check_shape(input_shape)
        return tuple(input_shape[a] for a in self._axes)

    def forward(self, x, training: bool = False, rng=None):
        """``y = transpose(x, (0, *dims))``."""
        x = self._as_float_array(x)
        self._check_shape(x.shape)
        if not self.built:
            self.build((None, *x.shape[1:]))
        return np.ascontiguousarray(x.transpose(self._axes)), None  # (B, permuted dims)

    def backward(self, dy, cache):
        """Returns ``(dx, [])``: ``dy`` through the inverse permutation."""
        dy = np.asarray(dy, dtype=self.dtype)  # (B, permuted dims)
        return np.ascontiguousarray(dy.transpose(np.argsort(self._axes))), []

    def get_config(self) -> dict:
        config = super().get_config()
        config["dims"] = self.dims
        return config


# -- RepeatVector ----------------------------------------------------------------------------
@register("RepeatVector")
class RepeatVector(Layer):
    """Repeat a ``(B, F)`` input ``n`` times along a new time axis (Keras
    ``RepeatVector``): ``y[:, t, :] = x`` for every ``t < n``, ``(B, n, F)``. The
    backward sums the ``n`` copies' gradients. The encoder-decoder bridge: an LSTM's last
    state repeated for a decoder LSTM.

    >>> import numpy as np
    >>> RepeatVector(2)(np.array([[1.0, 2.0]], dtype="float32")).tolist()
    [[[1.0, 2.0], [1.0, 2.0]]]
    """

    def __init__(self, n, name: str | None = None, dtype="float32", input_shape=None,
                 trainable: bool = True):
        super().__init__(name=name, dtype=dtype, input_shape=input_shape, trainable=trainable)
        self.n = positive_int(self, "n", n)

    def _check_shape(self, shape) -> None:
        check_input_ndim(self, shape, 2, "(batch, features)")

    def build(self, input_shape) -> None:
        self._check_shape(tuple(input_shape))
        super().build(input_shape)

    def compute_output_shape(self, input_shape):
        input_shape = tuple(input_shape)
        self._check_shape(input_shape)
        return (input_shape[0], self.n, _int_or_none(input_shape[1]))

    def forward(self, x, training: bool = False, rng=None):
        """``y = repeat(x[:, None, :], n, axis=1)``."""
        x = self._as_float_array(x)
        self._check_shape(x.shape)
        if not self.built:
            self.build((None, *x.shape[1:]))
        inputs.check_output_size((x.shape[0], self.n, *x.shape[1:]), x.dtype, self._label(),
                                 f"n = {self.n}")
        return np.repeat(x[:, None, :], self.n, axis=1), None  # (B, n, F)

    def backward(self, dy, cache):
        """Returns ``(dx, [])``: the sum of the ``n`` copies' gradients."""
        dy = np.asarray(dy, dtype=self.dtype)  # (B, n, F)
        return dy.sum(axis=1), []  # (B, F)

    def get_config(self) -> dict:
        config = super().get_config()
        config["n"] = self.n
        return config
