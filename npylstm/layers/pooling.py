"""The Keras 1-D pooling layers: ``MaxPooling1D``, ``AveragePooling1D``,
``GlobalMaxPooling1D``, ``GlobalAveragePooling1D``.

Following ``keras/src/layers/pooling/base_pooling.py``, ``max_pooling1d.py``,
``average_pooling1d.py``, ``base_global_pooling.py``, ``global_max_pooling1d.py`` and
``global_average_pooling1d.py``, and the JAX backend's ``max_pool`` / ``average_pool``
(``keras/src/backend/jax/nn.py``: ``lax.reduce_window`` with XLA's ``"SAME"`` padding,
the odd padded step on the right). For window ``t`` of ``pool_size`` steps starting at
padded step ``t * strides``::

    max:      y[b, t, c] = max over the window's real steps of x[b, ., c]
    average:  y[b, t, c] = sum over the window's real steps / their count

(``"same"`` padding: Keras divides by the count of real, non-padded steps.) The gradient
of a max window goes to its first largest step (JAX's ``select_and_scatter_add``, ties
to the first); an average window spreads it evenly over its real steps.

The global layers reduce over all steps. ``GlobalAveragePooling1D`` takes the time mask:
the mean of the real steps only, ``sum(where(mask, x, 0)) / sum(mask)`` (a row without a
real step gives NaN, as in Keras). ``GlobalMaxPooling1D`` ignores the mask, as Keras 3's
does (it does not support masking: the max runs over every step); a tie in its max shares
the gradient evenly (JAX's ``reduce_max`` rule). None of these layers passes a mask on.

>>> import numpy as np
>>> from npylstm.layers import AveragePooling1D, GlobalAveragePooling1D
>>> x = np.arange(5, dtype="float32").reshape(1, 5, 1)
>>> AveragePooling1D(2, padding="same")(x)[0, :, 0].tolist()
[0.5, 2.5, 4.0]
>>> mask = np.array([[False, True, True, True, False]])
>>> y, _ = GlobalAveragePooling1D().forward(x, mask=mask)
>>> y.tolist()
[[2.0]]
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ..registry import register
from .base import Layer
from .conv import padding_amounts, standardize_data_format, standardize_int_tuple, window_starts

__all__ = ["AveragePooling1D", "GlobalAveragePooling1D", "GlobalMaxPooling1D", "MaxPooling1D"]


def _channels_last(x: np.ndarray, data_format: str) -> np.ndarray:
    """``(B, L, C)`` from an input in ``data_format`` (a view)."""
    return x if data_format == "channels_last" else x.transpose(0, 2, 1)


class _PoolCache(NamedTuple):
    taps: np.ndarray  # (T, P) the padded step of every window entry
    weights: np.ndarray  # (B, T, P, C) d y / d window entry (one-hot argmax, or 1 / count)
    pad: tuple  # (left, right) padded steps
    length: int  # L, the input's steps


class _Pooling1D(Layer):
    """What MaxPooling1D and AveragePooling1D share (Keras's ``BasePooling``)."""

    POOL_MODE = ""

    def __init__(self, pool_size=2, strides=None, padding: str = "valid",
                 data_format: str | None = None, name: str | None = None, dtype="float32",
                 input_shape=None, trainable: bool = True):
        super().__init__(name=name, dtype=dtype, input_shape=input_shape, trainable=trainable)
        self.pool_size = standardize_int_tuple(self, pool_size, "pool_size")
        # Keras allows strides=0 (then fails in the backend): refused here
        self.strides = standardize_int_tuple(
            self, pool_size if strides is None else strides, "strides")
        if padding not in ("valid", "same"):  # Keras's backend takes these two, lower case
            raise self._error(f"expected padding 'valid' or 'same', received {padding!r}")
        self.padding = padding
        self.data_format = standardize_data_format(self, data_format)

    def _steps(self, input_shape) -> int | None:
        input_shape = tuple(input_shape)
        if len(input_shape) != 3:
            raise self._error(f"expected a 3-D input shape (batch, steps, channels) or (batch, "
                              f"channels, steps), received {input_shape}")
        return input_shape[1] if self.data_format == "channels_last" else input_shape[2]

    def _output_steps(self, steps, input_shape):
        if steps is None:
            return None
        (size,), (stride,) = self.pool_size, self.strides
        if self.padding == "same":
            return -(-steps // stride)  # ceil(L / s)
        out = (steps - size) // stride + 1
        if out <= 0:
            raise self._error(
                f"the input has {steps} steps, fewer than pool_size={self.pool_size} with "
                f"padding='valid': input shape {tuple(input_shape)}"
            )
        return out

    def compute_output_shape(self, input_shape):
        input_shape = tuple(input_shape)
        out = self._output_steps(self._steps(input_shape), input_shape)
        if self.data_format == "channels_last":
            return (input_shape[0], out, input_shape[2])
        return (input_shape[0], input_shape[1], out)

    def build(self, input_shape) -> None:
        self.compute_output_shape(input_shape)
        super().build(input_shape)

    def _windows(self, x: np.ndarray, fill: float):
        """``(windows (B, T, P, C), real (T, P) bool, taps, pad)``: the input's windows
        (padded steps hold ``fill``) and which entries are real steps."""
        length = x.shape[1]
        (size,), (stride,) = self.pool_size, self.strides
        pad = padding_amounts(self.padding, length, size, stride)
        xp = np.pad(x, ((0, 0), pad, (0, 0)), constant_values=fill)  # (B, Lp, C)
        taps = window_starts(xp.shape[1], size, stride)[:, None] + np.arange(size)  # (T, P)
        real = (taps >= pad[0]) & (taps < pad[0] + length)  # (T, P)
        return xp[:, taps, :], real, taps, pad

    def forward(self, x, training: bool = False, rng=None):
        """The pooled input; returns ``(y, cache)`` for :meth:`backward`."""
        x = self._as_float_array(x)
        if x.ndim != 3:
            raise self._error(f"expected a 3-D input (batch, steps, channels) or (batch, "
                              f"channels, steps), received shape {x.shape}")
        self._output_steps(self._steps(x.shape), x.shape)
        if not self.built:
            self.build((None, *x.shape[1:]))
        x = _channels_last(x, self.data_format)  # (B, L, C)
        y, weights, taps, pad = self._pool(x)  # y (B, T, C)
        cache = _PoolCache(taps, weights, pad, x.shape[1])
        return np.ascontiguousarray(_channels_last(y, self.data_format)), cache

    def backward(self, dy, cache: _PoolCache):
        """Returns ``(dx, [])``: each window's gradient back to its steps (col2im)."""
        taps, weights, pad, length = cache
        dy = _channels_last(np.asarray(dy, dtype=self.dtype), self.data_format)  # (B, T, C)
        dwindows = weights * dy[:, :, None, :]  # (B, T, P, C)
        batch, steps, size, channels = dwindows.shape
        stride = self.strides[0]
        dxp = np.zeros((batch, length + pad[0] + pad[1], channels), self.dtype)  # (B, Lp, C)
        for k in range(size):  # entry k of every window: padded steps k + t*s
            dxp[:, k:k + (steps - 1) * stride + 1:stride] += dwindows[:, :, k]
        dx = dxp[:, pad[0]:pad[0] + length]  # (B, L, C)
        return np.ascontiguousarray(_channels_last(dx, self.data_format)), []

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(pool_size=self.pool_size, padding=self.padding, strides=self.strides,
                      data_format=self.data_format)
        return config


@register("MaxPooling1D")
class MaxPooling1D(_Pooling1D):
    """Max over windows of ``pool_size`` steps, every ``strides`` steps (default:
    ``pool_size``); ``padding`` ``"valid"`` or ``"same"``. Input ``(batch, steps,
    channels)`` (or ``(batch, channels, steps)`` with ``data_format="channels_first"``).

    >>> import numpy as np
    >>> x = np.array([[[1.0], [3.0], [2.0], [5.0], [4.0]]], dtype="float32")
    >>> MaxPooling1D(2, strides=1)(x)[0, :, 0].tolist()
    [3.0, 3.0, 5.0, 5.0]
    """

    def _pool(self, x):
        windows, _, taps, pad = self._windows(x, -np.inf)  # (B, T, P, C)
        first = windows.argmax(axis=2)  # (B, T, C) the first largest entry
        weights = np.zeros(windows.shape, self.dtype)  # (B, T, P, C)
        np.put_along_axis(weights, first[:, :, None, :], 1, axis=2)
        return windows.max(axis=2), weights, taps, pad


@register("AveragePooling1D")
class AveragePooling1D(_Pooling1D):
    """Mean over windows of ``pool_size`` steps (of the real steps only, with
    ``padding="same"``), every ``strides`` steps (default: ``pool_size``).

    >>> import numpy as np
    >>> x = np.array([[[1.0], [3.0], [2.0], [6.0]]], dtype="float32")
    >>> AveragePooling1D(2)(x)[0, :, 0].tolist()
    [2.0, 4.0]
    """

    def _pool(self, x):
        windows, real, taps, pad = self._windows(x, 0.0)  # (B, T, P, C)
        count = real.sum(axis=1, keepdims=True)  # (T, 1) real steps per window
        share = (real / count).astype(self.dtype)  # (T, P)
        weights = np.broadcast_to(share[None, :, :, None], windows.shape)  # (B, T, P, C)
        return windows.sum(axis=2) / count.astype(self.dtype), weights, taps, pad


class _GlobalCache(NamedTuple):
    share: np.ndarray  # (B, L, C) d y / d x, channels last
    keepdims: bool


class _GlobalPooling1D(Layer):
    """What the global 1-D pooling layers share (Keras's ``BaseGlobalPooling``)."""

    def __init__(self, data_format: str | None = None, keepdims: bool = False,
                 name: str | None = None, dtype="float32", input_shape=None,
                 trainable: bool = True):
        super().__init__(name=name, dtype=dtype, input_shape=input_shape, trainable=trainable)
        self.data_format = standardize_data_format(self, data_format)
        if not isinstance(keepdims, bool | np.bool_):
            raise self._error(f"expected keepdims to be a bool, received {keepdims!r}")
        self.keepdims = bool(keepdims)

    def compute_output_shape(self, input_shape):
        input_shape = tuple(input_shape)
        if len(input_shape) != 3:
            raise self._error(f"expected a 3-D input shape (batch, steps, channels) or (batch, "
                              f"channels, steps), received {input_shape}")
        batch = input_shape[0]
        channels = input_shape[2] if self.data_format == "channels_last" else input_shape[1]
        if not self.keepdims:
            return (batch, channels)
        return (batch, 1, channels) if self.data_format == "channels_last" else (
            batch, channels, 1)

    def build(self, input_shape) -> None:
        self.compute_output_shape(input_shape)
        super().build(input_shape)

    def _check_input(self, x) -> np.ndarray:
        x = self._as_float_array(x)
        if x.ndim != 3:
            raise self._error(f"expected a 3-D input (batch, steps, channels) or (batch, "
                              f"channels, steps), received shape {x.shape}")
        if not self.built:
            self.build((None, *x.shape[1:]))
        return _channels_last(x, self.data_format)  # (B, L, C)

    def _output(self, y: np.ndarray) -> np.ndarray:
        """``(B, C)`` to the output's shape."""
        if not self.keepdims:
            return y
        return y[:, None, :] if self.data_format == "channels_last" else y[:, :, None]

    def backward(self, dy, cache: _GlobalCache):
        """Returns ``(dx, [])``: ``dx = dy * d y / d x`` over every step."""
        dy = np.asarray(dy, dtype=self.dtype)
        if cache.keepdims:
            dy = dy.reshape(dy.shape[0], -1)  # (B, C)
        dx = cache.share * dy[:, None, :]  # (B, L, C)
        return np.ascontiguousarray(_channels_last(dx, self.data_format)), []

    def compute_mask(self, x, mask):
        return None

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(data_format=self.data_format, keepdims=self.keepdims)
        return config


@register("GlobalMaxPooling1D")
class GlobalMaxPooling1D(_GlobalPooling1D):
    """Max over every step: ``(batch, steps, channels) -> (batch, channels)`` (``keepdims``:
    ``(batch, 1, channels)``). Any time mask is ignored, as in Keras 3.

    >>> import numpy as np
    >>> x = np.array([[[1.0, -1.0], [3.0, -2.0]]], dtype="float32")
    >>> GlobalMaxPooling1D()(x).tolist()
    [[3.0, -1.0]]
    """

    def forward(self, x, training: bool = False, rng=None):
        x = self._check_input(x)  # (B, L, C)
        y = x.max(axis=1)  # (B, C)
        top = (x == y[:, None, :])  # (B, L, C) the largest steps (ties share)
        share = (top / top.sum(axis=1, keepdims=True)).astype(self.dtype)  # (B, L, C)
        return self._output(y), _GlobalCache(share, self.keepdims)


@register("GlobalAveragePooling1D")
class GlobalAveragePooling1D(_GlobalPooling1D):
    """Mean over the steps (the real steps only, given a time mask):
    ``(batch, steps, channels) -> (batch, channels)``.

    >>> import numpy as np
    >>> x = np.array([[[1.0], [3.0], [8.0]]], dtype="float32")
    >>> GlobalAveragePooling1D()(x).tolist()
    [[4.0]]
    """

    SUPPORTS_MASKING = True  # Keras's supports_masking = True; compute_mask gives None
    USES_MASK = True

    def __call__(self, x, training: bool = False, mask=None):
        y, _ = self.forward(x, training=training, mask=mask)
        return y

    def forward(self, x, training: bool = False, rng=None, mask=None):
        """``sum(where(mask, x, 0)) / sum(mask)`` over the steps (``mean`` without a
        mask); returns ``(y, cache)``."""
        x = self._check_input(x)  # (B, L, C)
        if mask is None:
            keep = np.ones(x.shape[:2], dtype=bool)  # (B, L)
        else:
            keep = np.asarray(mask)
            if keep.shape != x.shape[:2]:
                raise self._error(f"expected a mask of shape (batch, steps) = {x.shape[:2]}, "
                                  f"received {keep.shape}")
            keep = keep.astype(bool)
        keep = keep[:, :, None]  # (B, L, 1)
        count = keep.sum(axis=1).astype(self.dtype)  # (B, 1) real steps of each row
        with np.errstate(divide="ignore", invalid="ignore"):  # no real step: NaN, as Keras
            y = np.where(keep, x, 0).sum(axis=1) / count  # (B, C)
            share = np.broadcast_to(keep / count[:, None, :], x.shape).astype(self.dtype)
        return self._output(y.astype(self.dtype)), _GlobalCache(share, self.keepdims)
