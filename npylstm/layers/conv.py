"""The Keras ``Conv1D`` layer: a 1-D cross-correlation over the steps axis.

Following ``keras/src/layers/convolutional/base_conv.py`` and ``conv1d.py`` (arguments,
checks, weights, config) and the JAX backend's ``conv`` (``keras/src/backend/jax/nn.py``:
``lax.conv_general_dilated`` with ``feature_group_count = channels // kernel.shape[-2]``,
whose ``"same"`` padding puts the odd padded step on the right). With ``K`` the kernel
size, ``d`` the dilation rate, ``s`` the stride and ``G`` the groups, for output step
``t`` and filter ``f`` of group ``g = f // (filters / G)``::

    z[b, t, f] = bias[f] + sum_{k < K, c < C/G} xp[b, t*s + k*d, g*C/G + c] * kernel[k, c, f]
    y = activation(z)

``xp`` is the input padded along the steps: ``"valid"`` none; ``"causal"`` ``d*(K-1)``
zeros on the left (Keras 3's Conv1D pads, then convolves ``"valid"``); ``"same"``
``max((ceil(L/s) - 1)*s + d*(K-1) + 1 - L, 0)`` zeros split ``floor(total/2)`` left, the
rest right. Keras 3's Conv1D does not support masking: a time mask stops here (Keras
warns that it is destroyed).

>>> import numpy as np
>>> from npylstm.layers import Conv1D
>>> layer = Conv1D(4, 3, padding="causal", dilation_rate=2)
>>> layer(np.zeros((2, 10, 6), dtype="float32")).shape
(2, 10, 4)
>>> [w.shape for w in layer.weights], layer.count_params()
([(3, 6, 4), (4,)], 76)
"""

from __future__ import annotations

import numbers
from typing import NamedTuple

import numpy as np

from .. import activations, regularizers
from ..registry import register
from .base import (
    ANY_VALUE,
    Layer,
    deserialize_initializer,
)
from .serialization import weight_options_config

__all__ = ["Conv1D"]

DATA_FORMATS = ("channels_last", "channels_first")


# -- argument helpers (shared with pooling.py) ----------------------------------------------
def standardize_int_tuple(layer: Layer, value, name: str, allow_zero: bool = False) -> tuple:
    """Keras's ``standardize_tuple(value, 1, name)``: an int or a 1-sequence of ints as a
    1-tuple of positive ints (non-negative with ``allow_zero``), or a clear error."""
    items = value if isinstance(value, list | tuple) else (value,)
    least = 0 if allow_zero else 1
    if len(items) != 1 or any(
        isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < least for v in items
    ):
        what = "non-negative" if allow_zero else "positive"
        raise layer._error(
            f"expected {name} to be a {what} integer or a tuple of 1 such integer, "
            f"received {value!r}"
        )
    return (int(items[0]),)


def standardize_data_format(layer: Layer, data_format) -> str:
    """``None`` means ``"channels_last"`` (Keras's default ``image_data_format``)."""
    data_format = "channels_last" if data_format is None else data_format
    if data_format not in DATA_FORMATS:
        raise layer._error(f"expected data_format in {DATA_FORMATS}, received {data_format!r}")
    return data_format


def padding_amounts(padding: str, length: int, window: int, stride: int) -> tuple[int, int]:
    """``(left, right)`` zeros along the steps for a window of (dilated) size ``window``:
    XLA's ``"SAME"`` (``padtype_to_pads``), Keras's causal left padding, or none."""
    if padding == "causal":
        return window - 1, 0
    if padding == "same":
        out = -(-length // stride)  # ceil(length / stride)
        total = max((out - 1) * stride + window - length, 0)
        return total // 2, total - total // 2
    return 0, 0


def window_starts(padded_length: int, window: int, stride: int) -> np.ndarray:
    """The first padded step of every output window, ``(T_out,)``."""
    return np.arange(0, padded_length - window + 1, stride)


class _Conv1DCache(NamedTuple):
    cols: np.ndarray  # (B, T_out, K, C) the input windows (im2col), channels last
    z: np.ndarray  # (B, T_out, F) pre-activation (channels last)
    y: np.ndarray  # the output, in the layer's data_format
    pad: tuple  # (left, right) zeros added along the steps
    length: int  # L, the input's steps


@register("Conv1D")
class Conv1D(Layer):
    """1-D convolution with Keras 3's arguments and defaults.

    Weights (``get_weights()`` order): ``kernel (kernel_size, input_dim // groups,
    filters)``, ``bias (filters,)`` (absent with ``use_bias=False``). Input ``(batch,
    steps, channels)`` (``data_format="channels_last"``, the default) or ``(batch,
    channels, steps)``; output ``(batch, new_steps, filters)`` (or ``(batch, filters,
    new_steps)``) with ``new_steps = floor((L - d*(K-1) - 1) / s) + 1`` for ``"valid"``
    and ``ceil(L / s)`` for ``"same"`` and ``"causal"``. LoRA is refused.
    """

    WEIGHT_NAMES = ("kernel", "bias")
    ACTIVATION_KEYS = ("activation",)
    KERAS_IGNORED = {"lora_rank": None, "lora_alpha": ANY_VALUE}
    KERAS3_ONLY = ("lora_rank", "lora_alpha")

    def __init__(
        self,
        filters: int,
        kernel_size,
        strides=1,
        padding: str = "valid",
        data_format: str | None = None,
        dilation_rate=1,
        groups: int = 1,
        activation: str | None = None,
        use_bias: bool = True,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        kernel_regularizer=None,
        bias_regularizer=None,
        activity_regularizer=None,
        kernel_constraint=None,
        bias_constraint=None,
        name: str | None = None,
        dtype="float32",
        input_shape=None,
        trainable: bool = True,
    ):
        super().__init__(name=name, dtype=dtype, input_shape=input_shape, trainable=trainable)
        if isinstance(filters, bool) or not isinstance(filters, numbers.Integral) or filters <= 0:
            raise self._error(f"expected filters to be a positive integer, received {filters!r}")
        if isinstance(groups, bool) or not isinstance(groups, numbers.Integral) or groups <= 0:
            raise self._error(f"expected groups to be a positive integer, received {groups!r}")
        self.filters, self.groups = int(filters), int(groups)
        if self.filters % self.groups:
            raise self._error(
                f"filters must be divisible by groups, received filters={self.filters} and "
                f"groups={self.groups}"
            )
        self.kernel_size = standardize_int_tuple(self, kernel_size, "kernel_size")
        self.strides = standardize_int_tuple(self, strides, "strides")
        self.dilation_rate = standardize_int_tuple(self, dilation_rate, "dilation_rate")
        if self.strides[0] > 1 and self.dilation_rate[0] > 1:
            raise self._error(
                f"strides > 1 is not supported with dilation_rate > 1 (as in Keras), received "
                f"strides={self.strides} and dilation_rate={self.dilation_rate}"
            )
        allowed = ("valid", "same", "causal")
        if not isinstance(padding, str) or padding.lower() not in allowed:
            raise self._error(f"expected padding in {allowed}, received {padding!r}")
        self.padding = padding.lower()
        self.data_format = standardize_data_format(self, data_format)
        self.activation = activations.get(activation).name
        self.use_bias = bool(use_bias)
        self.kernel_initializer = deserialize_initializer(kernel_initializer)
        self.bias_initializer = deserialize_initializer(bias_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self.activity_regularizer = regularizers.get(activity_regularizer)
        self._set_constraints(kernel_constraint=kernel_constraint, bias_constraint=bias_constraint)
        self.kernel = None
        self.bias = None

    # -- shapes ---------------------------------------------------------------------------
    @property
    def _window(self) -> int:
        """The dilated kernel's extent along the steps: ``d*(K-1) + 1``."""
        return self.dilation_rate[0] * (self.kernel_size[0] - 1) + 1

    def _steps_and_channels(self, input_shape) -> tuple:
        input_shape = tuple(input_shape)
        if len(input_shape) != 3:
            layout = "steps, channels" if self.data_format == "channels_last" else (
                "channels, steps")
            raise self._error(f"expected an input shape (batch, {layout}), received "
                              f"{input_shape}")
        if self.data_format == "channels_last":
            return input_shape[1], input_shape[2]
        return input_shape[2], input_shape[1]

    def _output_steps(self, steps, input_shape) -> int | None:
        if steps is None:
            return None
        if self.padding != "valid":
            return -(-steps // self.strides[0])  # ceil(L / s)
        out = (steps - self._window) // self.strides[0] + 1
        if out <= 0:
            raise self._error(
                f"the input has {steps} steps, fewer than the dilated kernel's "
                f"{self._window} (kernel_size={self.kernel_size}, dilation_rate="
                f"{self.dilation_rate}, padding='valid'): input shape {input_shape}"
            )
        return out

    def compute_output_shape(self, input_shape):
        steps, _ = self._steps_and_channels(input_shape)
        out = self._output_steps(steps, tuple(input_shape))
        if self.data_format == "channels_last":
            return (input_shape[0], out, self.filters)
        return (input_shape[0], self.filters, out)

    def build(self, input_shape) -> None:
        input_shape = tuple(input_shape)
        _, channels = self._steps_and_channels(input_shape)
        if not isinstance(channels, numbers.Integral) or channels <= 0:
            raise self._error(f"expected a known, positive channel count, received "
                              f"{input_shape}")
        if channels % self.groups:
            raise self._error(
                f"the input's {channels} channels are not divisible by groups={self.groups} "
                f"(input shape {input_shape})"
            )
        self.compute_output_shape(input_shape)  # validates the steps, as Keras's build
        self._weights = []
        kernel_shape = (*self.kernel_size, channels // self.groups, self.filters)
        self.kernel = self.add_weight(
            "kernel", self.kernel_initializer(kernel_shape, self.dtype), self.kernel_constraint
        ).value  # (K, C/G, F)
        self.bias = None
        if self.use_bias:
            self.bias = self.add_weight(
                "bias", self.bias_initializer((self.filters,), self.dtype), self.bias_constraint
            ).value  # (F,)
        super().build(input_shape)

    @property
    def input_dim(self) -> int | None:
        return None if not self.built else self.kernel.shape[1] * self.groups

    def input_shape_from_weights(self, weights) -> tuple | None:
        weights = list(weights)
        if weights and np.ndim(weights[0]) == 3:  # kernel (K, C/G, F)
            channels = int(np.shape(weights[0])[1]) * self.groups
            return (None, None, channels) if self.data_format == "channels_last" else (
                None, channels, None)
        return None

    def param_rule(self) -> tuple[str, str]:
        bias = " + filters" if self.use_bias else ""
        rule = f"kernel_size × input_dim / groups × filters{bias}"
        k, cg, f = self.kernel.shape
        numbers_ = f"{k} × {cg} × {f}" + (f" + {f}" if self.use_bias else "")
        return rule, f"{numbers_} = {self.count_params():,}"

    def weight_regularizers(self) -> list:
        return [self.kernel_regularizer] + ([self.bias_regularizer] if self.use_bias else [])

    # -- computing ------------------------------------------------------------------------
    def _check_input(self, x) -> np.ndarray:
        x = self._as_float_array(x)
        if x.ndim != 3:
            raise self._error(f"expected a 3-D input (batch, steps, channels) or (batch, "
                              f"channels, steps), received shape {x.shape}")
        if not self.built:
            shape = (None, None, x.shape[2]) if self.data_format == "channels_last" else (
                None, x.shape[1], None)
            self.build(shape)
        _, channels = self._steps_and_channels(x.shape)
        if channels != self.input_dim:
            raise self._error(
                f"input has {channels} channels, the kernel expects {self.input_dim} "
                f"(input shape {x.shape}, kernel shape {self.kernel.shape})"
            )
        self._output_steps(self._steps_and_channels(x.shape)[0], x.shape)
        return x

    def _group_kernels(self) -> list[np.ndarray]:
        """Each group's kernel as one matrix ``(K * C/G, F/G)``."""
        k, cg, f = self.kernel.shape
        fg = f // self.groups
        return [self.kernel[:, :, g * fg:(g + 1) * fg].reshape(k * cg, fg)
                for g in range(self.groups)]

    def forward(self, x, training: bool = False, rng=None):
        """``y = activation(conv(x, kernel) + bias)``; returns ``(y, cache)``."""
        x = self._check_input(x)
        if self.data_format == "channels_first":
            x = x.transpose(0, 2, 1)  # (B, L, C)
        batch, length, channels = x.shape
        (size,), (stride,), (rate,) = self.kernel_size, self.strides, self.dilation_rate
        pad = padding_amounts(self.padding, length, self._window, stride)
        xp = np.pad(x, ((0, 0), pad, (0, 0)))  # (B, Lp, C)
        starts = window_starts(xp.shape[1], self._window, stride)  # (T,)
        taps = starts[:, None] + rate * np.arange(size)  # (T, K) padded step of each tap
        cols = xp[:, taps, :]  # (B, T, K, C)
        steps, cg = len(starts), channels // self.groups
        z = np.concatenate([
            cols[..., g * cg:(g + 1) * cg].reshape(batch, steps, size * cg) @ kernel_g
            for g, kernel_g in enumerate(self._group_kernels())
        ], axis=-1)  # (B, T, F): one matmul per group
        if self.bias is not None:
            z = z + self.bias
        z = z.astype(self.dtype, copy=False)
        zf = z if self.data_format == "channels_last" else z.transpose(0, 2, 1)
        y = activations.get(self.activation)(zf)  # (B, T, F) or (B, F, T)
        return y, _Conv1DCache(cols, z, y, pad, length)

    def backward(self, dy, cache: _Conv1DCache):
        """Returns ``(dx, [dkernel, dbias])``; mirrors :meth:`forward` (col2im by taps)."""
        cols, z, y, pad, length = cache
        act = activations.get(self.activation)
        dy = np.asarray(dy, dtype=self.dtype)
        zf = z if self.data_format == "channels_last" else z.transpose(0, 2, 1)
        dz = dy if act.name == "linear" else act.vjp(zf, y, dy)  # activation's input
        if self.data_format == "channels_first":
            dz = dz.transpose(0, 2, 1)  # (B, T, F)
        batch, steps, size, channels = cols.shape
        cg, fg = channels // self.groups, self.filters // self.groups
        dcols, dkernels = [], []
        for g, kernel_g in enumerate(self._group_kernels()):  # (K*C/G, F/G)
            dz_g = dz[..., g * fg:(g + 1) * fg].reshape(batch * steps, fg)  # (B*T, F/G)
            cols_g = cols[..., g * cg:(g + 1) * cg].reshape(batch * steps, size * cg)
            dkernels.append((cols_g.T @ dz_g).reshape(size, cg, fg))  # (K, C/G, F/G)
            dcols.append((dz_g @ kernel_g.T).reshape(batch, steps, size, cg))
        dkernel = np.concatenate(dkernels, axis=-1)  # (K, C/G, F)
        dcols = np.concatenate(dcols, axis=-1)  # (B, T, K, C)
        # col2im: each tap k read padded steps k*d + t*s, t < T; add its gradient back
        stride, rate = self.strides[0], self.dilation_rate[0]
        dxp = np.zeros((batch, length + pad[0] + pad[1], channels), self.dtype)  # (B, Lp, C)
        for k in range(size):
            first = k * rate
            dxp[:, first:first + (steps - 1) * stride + 1:stride] += dcols[:, :, k]
        dx = dxp[:, pad[0]:pad[0] + length]  # (B, L, C)
        if self.data_format == "channels_first":
            dx = dx.transpose(0, 2, 1)  # (B, C, L)
        grads = [dkernel] + ([dz.sum(axis=(0, 1))] if self.use_bias else [])
        return np.ascontiguousarray(dx), grads

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(
            filters=self.filters,
            kernel_size=self.kernel_size,
            strides=self.strides,
            padding=self.padding,
            data_format=self.data_format,
            dilation_rate=self.dilation_rate,
            groups=self.groups,
            activation=self.activation,
            use_bias=self.use_bias,
            **weight_options_config(self, activity=True),
        )
        return config
