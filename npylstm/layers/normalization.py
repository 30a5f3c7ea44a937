"""Keras's ``BatchNormalization`` and ``LayerNormalization``: normalize with a mean and a
variance, then scale by ``gamma`` and shift by ``beta``.

Followed: Keras 3.15 ``keras/src/layers/normalization/batch_normalization.py`` (its
``call``, ``_moments`` with masks and the moving-statistics update),
``keras/src/layers/normalization/layer_normalization.py`` and ``keras.ops``'s
``_layer_normalization`` (``keras/src/ops/nn.py``), and the JAX backend's ``moments`` and
``batch_normalization`` (``keras/src/backend/jax/nn.py``) for the order of the arithmetic.

Both compute, with ``inv = gamma / sqrt(variance + epsilon)``::

    y = x * inv + (beta - mean * inv)

BatchNormalization takes ``mean`` / ``variance`` per channel (the ``axis`` entries) over every
other axis of the batch in training, from its moving statistics in inference;
LayerNormalization takes them per sample over ``axis``.

>>> import numpy as np
>>> from npylstm.layers import BatchNormalization, LayerNormalization
>>> x = np.arange(12, dtype="float32").reshape(2, 3, 2)
>>> bn = BatchNormalization()
>>> y = bn(x, training=True)  # batch statistics; the moving ones move towards them
>>> print(bn.moving_mean.round(3))
[0.05 0.06]
>>> print(LayerNormalization()(x)[0].round(3))
[[-0.998  0.998]
 [-0.998  0.998]
 [-0.998  0.998]]
"""

from __future__ import annotations

import numbers
from typing import NamedTuple

import numpy as np

from .. import regularizers
from ..registry import register
from .base import Layer, deserialize_initializer, serialize_initializer, serialize_regularizer
from .serialization import serialize_constraint

__all__ = ["BatchNormalization", "LayerNormalization"]

#: ``keras.backend.epsilon()``: what Keras adds to the masked moments' denominators.
KERAS_EPSILON = 1e-7


# -- the shared equations --------------------------------------------------------------------
def _moments(x, axes: tuple, mask):
    """``(mean, variance, m, count)`` over ``axes``, kept as size-1 axes (broadcastable).

    Without a mask: ``jnp.mean`` / ``jnp.var`` (the biased variance), ``m = None`` and
    ``count`` the number of entries reduced. With a mask (``x.ndim - 1`` axes, True at real
    entries): Keras's ``BatchNormalization._moments``, ``m`` the mask broadcast to ``x``
    as 0 / 1 and ``count = sum(m) + epsilon()``.
    """
    if mask is None:
        count = x.dtype.type(np.prod([x.shape[a] for a in axes]))
        mean = x.mean(axis=axes, keepdims=True)  # (1.., C, 1..)
        xc = x - mean  # (x.shape)
        return mean, (xc * xc).mean(axis=axes, keepdims=True), None, count
    m = np.broadcast_to(mask[..., None], x.shape).astype(x.dtype)  # (x.shape) 0 / 1
    count = m.sum(axis=axes, keepdims=True) + x.dtype.type(KERAS_EPSILON)  # (1.., C, 1..)
    mean = (m * x).sum(axis=axes, keepdims=True) / count  # (1.., C, 1..)
    d = m * (x - mean)  # (x.shape) where(mask, x - mean, 0)
    return mean, (d * d).sum(axis=axes, keepdims=True) / count, m, count


def _moments_backward(dxc, axes: tuple, m, count):
    """The gradient of ``x`` from the gradient of ``xc = x - mean(x)`` (``mean`` from
    :func:`_moments`): ``dx = dxc - m * sum(dxc) / count``."""
    dmean = -dxc.sum(axis=axes, keepdims=True)  # (1.., C, 1..)
    return dxc + (dmean if m is None else m * dmean) / count  # (x.shape)


def _normalize(x, mean, variance, gamma, beta, epsilon: float):
    """``(y, std_inv)``: ``y = x * inv + (beta - mean * inv)``, ``inv = gamma * std_inv``,
    ``std_inv = 1 / sqrt(variance + epsilon)`` (JAX's ``batch_normalization``)."""
    std_inv = 1 / np.sqrt(variance + x.dtype.type(epsilon))  # (broadcastable)
    inv = std_inv if gamma is None else std_inv * gamma
    res = -mean * inv
    if beta is not None:
        res = res + beta
    return x * inv + res, std_inv  # (x.shape)


def _normalize_backward(dy, xc, std_inv, gamma, axes: tuple, m, count, batch_stats: bool):
    """``(dx, dgamma_full, dbeta_full)`` of :func:`_normalize` (``dgamma_full`` /
    ``dbeta_full`` per entry, the caller sums them); through the moments when they are the
    input's own (``batch_stats``), else with them fixed."""
    a = dy if gamma is None else dy * gamma  # (x.shape) d(xc * std_inv)
    dxc = a * std_inv  # (x.shape)
    if batch_stats:
        dstd_inv = (a * xc).sum(axis=axes, keepdims=True)  # (1.., C, 1..)
        dvariance = dstd_inv * (-0.5) * std_inv ** 3  # (1.., C, 1..)
        dvar_dxc = 2 * xc / count  # (x.shape) variance = sum(m * xc ** 2) / count
        dxc = dxc + dvariance * (dvar_dxc if m is None else m * dvar_dxc)
        dx = _moments_backward(dxc, axes, m, count)
    else:
        dx = dxc
    return dx, dy * xc * std_inv, dy  # (x.shape) x3


def _flag(layer: Layer, name: str, value) -> bool:
    if not isinstance(value, bool | np.bool_):
        raise layer._error(f"expected {name} to be True or False, received {value!r}")
    return bool(value)


def _real(layer: Layer, name: str, value, minimum: float | None = None) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not np.isfinite(value):
        raise layer._error(f"expected {name} to be a finite number, received {value!r}")
    if minimum is not None and value < minimum:
        raise layer._error(f"expected {name} >= {minimum}, received {value!r}")
    return float(value)


def _is_int(value) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _canonical_axes(layer: Layer, axes, ndim: int) -> list[int]:
    """Each axis in ``[0, ndim)``, or an error naming the input rank (Keras's bounds check)."""
    for axis in axes:
        if not -ndim <= axis < ndim:
            raise layer._error(
                f"axis {axis} is out of bounds for an input of rank {ndim} (axis={layer.axis})"
            )
    canonical = [a % ndim for a in axes]
    if len(set(canonical)) != len(canonical):
        raise layer._error(f"expected distinct axes, received axis={layer.axis}")
    if 0 in canonical:
        raise layer._error(f"cannot normalize over the batch axis 0 (axis={layer.axis})")
    return canonical


class _NormCache(NamedTuple):
    xc: np.ndarray  # (x.shape) x - mean
    std_inv: np.ndarray  # (broadcastable) 1 / sqrt(variance + epsilon)
    m: np.ndarray | None  # (x.shape) the mask as 0 / 1 (masked batch moments)
    count: object  # entries per statistic (broadcastable)
    batch_stats: bool  # mean / variance are the input's own (gradient through them)
    gamma: np.ndarray | None  # (broadcastable) gamma as used
    x: np.ndarray | None  # (x.shape) the input (rms_scaling only)


class _Normalization(Layer):
    """What both layers share: gamma / beta arguments, their weights and regularizers."""

    SUPPORTS_MASKING = True  # Keras: supports_masking = True (the mask passes on)

    def _init_affine(self, epsilon, center, scale, beta_initializer, gamma_initializer,
                     beta_regularizer, gamma_regularizer, beta_constraint, gamma_constraint):
        self.epsilon = _real(self, "epsilon", epsilon, minimum=0.0)
        self.center = _flag(self, "center", center)
        self.scale = _flag(self, "scale", scale)
        self.beta_initializer = deserialize_initializer(beta_initializer)
        self.gamma_initializer = deserialize_initializer(gamma_initializer)
        self.beta_regularizer = regularizers.get(beta_regularizer)
        self.gamma_regularizer = regularizers.get(gamma_regularizer)
        self._set_constraints(beta_constraint=beta_constraint, gamma_constraint=gamma_constraint)
        self.gamma = None
        self.beta = None

    def _affine_config(self) -> dict:
        return {
            "beta_initializer": serialize_initializer(self.beta_initializer),
            "gamma_initializer": serialize_initializer(self.gamma_initializer),
            "beta_regularizer": serialize_regularizer(self.beta_regularizer),
            "gamma_regularizer": serialize_regularizer(self.gamma_regularizer),
            "beta_constraint": serialize_constraint(self.beta_constraint),
            "gamma_constraint": serialize_constraint(self.gamma_constraint),
        }

    def _add_affine(self, shape: tuple, with_gamma: bool, with_beta: bool) -> None:
        self._weights = []
        self.gamma = self.beta = None
        if with_gamma:
            self.gamma = self.add_weight("gamma", self.gamma_initializer(shape, self.dtype),
                                         self.gamma_constraint).value
        if with_beta:
            self.beta = self.add_weight("beta", self.beta_initializer(shape, self.dtype),
                                        self.beta_constraint).value

    def weight_regularizers(self) -> list:
        regs = {"gamma": self.gamma_regularizer, "beta": self.beta_regularizer}
        return [regs.get(w.name) for w in self._weights]

    def compute_output_shape(self, input_shape):
        input_shape = tuple(input_shape)
        axes = self.axis if isinstance(self.axis, list) else [self.axis]
        _canonical_axes(self, axes, len(input_shape))
        return input_shape

    def _check_input(self, x) -> np.ndarray:
        x = self._as_float_array(x)
        if x.ndim < 2:
            raise self._error(f"expected an input with a batch axis, received shape {x.shape}")
        if not self.built:
            self.build((None, *x.shape[1:]))
        built = self.input_shape
        axes = self.axis if isinstance(self.axis, list) else [self.axis]
        if x.ndim != len(built) or any(
                built[a] is not None and x.shape[a] != built[a] for a in axes):
            raise self._error(f"expected input of shape {built} (the sizes on axis "
                              f"{self.axis} fixed), received shape {x.shape}")
        return x


@register("BatchNormalization")
class BatchNormalization(_Normalization):
    """Batch normalization with Keras 3's arguments and defaults.

    Weights (``get_weights()`` order): ``gamma (C,)`` (with ``scale``), ``beta (C,)``
    (with ``center``), ``moving_mean (C,)``, ``moving_variance (C,)`` for the ``C``
    channels of ``axis``; the moving statistics are state (never trained).

    ``forward(x, training=True)`` (and ``trainable``) normalizes with the batch's mean and
    biased variance over every axis but ``axis`` — with ``mask=`` (True at real entries,
    ``x.ndim - 1`` axes) over the real entries only — and moves the moving statistics in
    place, once per call, as Keras's eager call and ``fit`` do::

        moving = moving * momentum + batch_statistic * (1 - momentum)

    Otherwise (inference, or a frozen layer: Keras then runs inference too) it normalizes
    with the moving statistics. ``backward`` follows whichever statistics were used. The
    mask passes on unchanged.

    Refused: ``synchronized=True`` (TensorFlow only in Keras) and
    ``renorm=True`` (batch renormalization); ``axis`` is one int, as Keras 3.15's.

    >>> import numpy as np
    >>> layer = BatchNormalization(axis=1, center=False)
    >>> layer(np.ones((2, 3, 4), dtype="float32")).shape
    (2, 3, 4)
    >>> [w.name for w in layer.weights], [w.name for w in layer.trainable_weights]
    (['gamma', 'moving_mean', 'moving_variance'], ['gamma'])
    """

    WEIGHT_NAMES = ("gamma", "beta", "moving_mean", "moving_variance")
    NON_TRAINABLE_WEIGHTS = ("moving_mean", "moving_variance")
    USES_MASK = True  # Keras's call(inputs, training, mask): masked batch moments
    # tf_keras writes renorm keys only with renorm=True and has no synchronized before
    # TF 2.12: at their (only) values here they are left out of a Keras 2 file.
    KERAS3_ONLY = ("synchronized", "renorm", "renorm_clipping", "renorm_momentum")

    @classmethod
    def from_keras2_config(cls, config: dict, where: str) -> dict:
        """tf_keras writes ``axis`` as a list once built (``[2]``): one entry becomes that
        int, as Keras 3's legacy loader does (``saving_utils.model_from_config``)."""
        axis = config.get("axis")
        if isinstance(axis, list) and len(axis) == 1:
            config["axis"] = int(axis[0])
        return super().from_keras2_config(config, where)

    def __init__(
        self,
        axis=-1,
        momentum=0.99,
        epsilon=1e-3,
        center=True,
        scale=True,
        beta_initializer="zeros",
        gamma_initializer="ones",
        moving_mean_initializer="zeros",
        moving_variance_initializer="ones",
        beta_regularizer=None,
        gamma_regularizer=None,
        beta_constraint=None,
        gamma_constraint=None,
        renorm=False,
        renorm_clipping=None,
        renorm_momentum=0.99,
        synchronized=False,
        name: str | None = None,
        dtype="float32",
        input_shape=None,
        trainable: bool = True,
    ):
        super().__init__(name=name, dtype=dtype, input_shape=input_shape, trainable=trainable)
        if not _is_int(axis):
            raise self._error(f"expected axis to be one integer (Keras 3.15's "
                              f"BatchNormalization takes one axis), received {axis!r}")
        self.axis = int(axis)
        self.momentum = _real(self, "momentum", momentum)
        self._init_affine(epsilon, center, scale, beta_initializer, gamma_initializer,
                          beta_regularizer, gamma_regularizer, beta_constraint,
                          gamma_constraint)
        self.moving_mean_initializer = deserialize_initializer(moving_mean_initializer)
        self.moving_variance_initializer = deserialize_initializer(moving_variance_initializer)
        if synchronized:
            raise self._error("synchronized=True is not supported (Keras: TensorFlow backend "
                              "only); expected False")
        self.synchronized = False
        if renorm:
            raise self._error("renorm=True (batch renormalization) is not supported yet; "
                              "expected False")
        self.renorm = False
        if renorm_clipping is not None and not isinstance(renorm_clipping, dict):
            raise self._error(f"expected renorm_clipping to be None or a dict, received "
                              f"{renorm_clipping!r}")
        self.renorm_clipping = renorm_clipping  # unused without renorm, kept as Keras does
        self.renorm_momentum = _real(self, "renorm_momentum", renorm_momentum)
        self.moving_mean = None
        self.moving_variance = None

    @classmethod
    def _weight_names(cls, config: dict) -> tuple[str, ...]:
        return ((("gamma",) if config.get("scale", True) else ())
                + (("beta",) if config.get("center", True) else ())
                + ("moving_mean", "moving_variance"))

    def build(self, input_shape) -> None:
        input_shape = tuple(input_shape)
        if len(input_shape) < 2:
            raise self._error(f"expected an input shape (batch, ...), received {input_shape}")
        (axis,) = _canonical_axes(self, [self.axis], len(input_shape))
        channels = input_shape[axis]
        if not _is_int(channels) or channels <= 0:
            raise self._error(f"expected a known, positive size on axis {self.axis}, "
                              f"received input shape {input_shape}")
        shape = (int(channels),)
        self._add_affine(shape, self.scale, self.center)
        self.moving_mean = self.add_weight(
            "moving_mean", self.moving_mean_initializer(shape, self.dtype)).value  # (C,)
        self.moving_variance = self.add_weight(
            "moving_variance", self.moving_variance_initializer(shape, self.dtype)).value  # (C,)
        self._axis = axis
        self._reduction_axes = tuple(a for a in range(len(input_shape)) if a != axis)
        super().build(input_shape)

    def _broadcast(self, v, ndim: int):
        """A ``(C,)`` vector shaped to broadcast along ``axis`` of an ``ndim`` input."""
        shape = [1] * ndim
        shape[self._axis] = v.shape[0]
        return v.reshape(shape)  # (1.., C, 1..)

    def forward(self, x, training: bool = False, rng=None, mask=None):
        """``(y, cache)``; in training (and ``trainable``) the moving statistics are updated
        in place."""
        x = self._check_input(x)
        if mask is not None:
            mask = np.asarray(mask, dtype=bool)
            if mask.shape != x.shape[:-1]:
                raise self._error(f"expected a mask of shape {x.shape[:-1]} (the input's "
                                  f"without its last axis), received {mask.shape}")
        ndim, axes = x.ndim, self._reduction_axes
        gamma = None if self.gamma is None else self._broadcast(self.gamma, ndim)
        beta = None if self.beta is None else self._broadcast(self.beta, ndim)
        batch_stats = bool(training) and self.trainable
        if batch_stats:
            mean, variance, m, count = _moments(x, axes, mask)  # (1.., C, 1..) x2
            momentum = self.momentum
            self.moving_mean[...] = (self.moving_mean * momentum
                                     + mean.reshape(-1) * (1.0 - momentum))
            self.moving_variance[...] = (self.moving_variance * momentum
                                         + variance.reshape(-1) * (1.0 - momentum))
        else:
            mean = self._broadcast(self.moving_mean.copy(), ndim)  # (1.., C, 1..)
            variance = self._broadcast(self.moving_variance.copy(), ndim)
            m, count = None, None
        y, std_inv = _normalize(x, mean, variance, gamma, beta, self.epsilon)
        return y, _NormCache(x - mean, std_inv, m, count, batch_stats, gamma, None)

    def backward(self, dy, cache: _NormCache):
        """``(dx, [dgamma, dbeta])`` (those the layer has), through the batch statistics
        when forward used them."""
        dy = np.asarray(dy, dtype=self.dtype)
        dx, dgamma, dbeta = _normalize_backward(
            dy, cache.xc, cache.std_inv, cache.gamma, self._reduction_axes, cache.m,
            cache.count, cache.batch_stats)
        grads = []
        if self.scale:
            grads.append(dgamma.sum(axis=self._reduction_axes))  # (C,)
        if self.center:
            grads.append(dbeta.sum(axis=self._reduction_axes))  # (C,)
        return dx, grads

    def __call__(self, x, training: bool = False, mask=None):
        return self.forward(x, training=training, mask=mask)[0]

    def param_rule(self) -> tuple[str, str]:
        n = len(self._weights)
        channels = self.moving_mean.shape[0]
        return f"{n} × channels", f"{n} × {channels} = {self.count_params():,}"

    def get_config(self) -> dict:
        config = super().get_config()
        affine = self._affine_config()
        # Keras's key order: the moving initializers after gamma's, before the regularizers
        affine = {**dict(list(affine.items())[:2]),
                  "moving_mean_initializer": serialize_initializer(self.moving_mean_initializer),
                  "moving_variance_initializer": serialize_initializer(
                      self.moving_variance_initializer),
                  **dict(list(affine.items())[2:])}
        config.update(
            axis=self.axis,
            momentum=self.momentum,
            epsilon=self.epsilon,
            center=self.center,
            scale=self.scale,
            **affine,
            synchronized=self.synchronized,
            renorm=self.renorm,
            renorm_clipping=self.renorm_clipping,
            renorm_momentum=self.renorm_momentum,
        )
        return config


@register("LayerNormalization")
class LayerNormalization(_Normalization):
    """Layer normalization with Keras 3's arguments and defaults.

    Each sample is normalized with its own mean and biased variance over ``axis`` (an int
    or a list of ints; Keras keeps a sorted list once built, and so does the config then).
    Weights: ``gamma`` (with ``scale`` or ``rms_scaling``) and ``beta`` (with ``center``
    and without ``rms_scaling``), of the sizes of the ``axis`` dimensions in sorted axis
    order, reshaped onto them as Keras's ``ops.layer_normalization`` does.

    ``rms_scaling=True`` (deprecated in Keras, which warns; npylstm does not) computes
    what Keras computes: ``x * gamma / sqrt(variance + epsilon)`` — the variance, not the
    mean square, and no centering; ``center`` is then ignored (no ``beta``). The layer
    passes its input's mask on and does not use it (Keras's ``supports_masking``).

    >>> import numpy as np
    >>> layer = LayerNormalization(axis=[1, 2])
    >>> layer(np.ones((2, 3, 4), dtype="float32")).shape, layer.gamma.shape, layer.axis
    ((2, 3, 4), (3, 4), [1, 2])
    """

    WEIGHT_NAMES = ("gamma", "beta")
    KERAS3_ONLY = ("rms_scaling",)  # tf_keras's LayerNormalization has no rms_scaling

    @classmethod
    def to_keras2_config(cls, config: dict) -> dict:
        """tf_keras's config (without ``rms_scaling``); an rms_scaling layer is refused, as
        tf_keras would compute something else."""
        if config.get("rms_scaling"):
            raise ValueError(f"LayerNormalization '{config.get('name', '?')}': rms_scaling=True "
                             f"cannot be written for tf_keras (it has no rms_scaling)")
        return super().to_keras2_config(config)

    def __init__(
        self,
        axis=-1,
        epsilon=1e-3,
        center=True,
        scale=True,
        rms_scaling=False,
        beta_initializer="zeros",
        gamma_initializer="ones",
        beta_regularizer=None,
        gamma_regularizer=None,
        beta_constraint=None,
        gamma_constraint=None,
        name: str | None = None,
        dtype="float32",
        input_shape=None,
        trainable: bool = True,
    ):
        super().__init__(name=name, dtype=dtype, input_shape=input_shape, trainable=trainable)
        if isinstance(axis, list | tuple) and axis and all(_is_int(a) for a in axis):
            self.axis = [int(a) for a in axis]
        elif _is_int(axis):
            self.axis = int(axis)
        else:
            raise self._error(f"expected axis to be an int or a non-empty list of ints, "
                              f"received {axis!r}")
        self._init_affine(epsilon, center, scale, beta_initializer, gamma_initializer,
                          beta_regularizer, gamma_regularizer, beta_constraint,
                          gamma_constraint)
        self.rms_scaling = _flag(self, "rms_scaling", rms_scaling)

    @classmethod
    def _weight_names(cls, config: dict) -> tuple[str, ...]:
        rms = config.get("rms_scaling", False)
        return ((("gamma",) if config.get("scale", True) or rms else ())
                + (("beta",) if config.get("center", True) and not rms else ()))

    def build(self, input_shape) -> None:
        input_shape = tuple(input_shape)
        if len(input_shape) < 2:
            raise self._error(f"expected an input shape (batch, ...), received {input_shape}")
        axes = sorted(self.axis) if isinstance(self.axis, list) else [self.axis]
        _canonical_axes(self, axes, len(input_shape))
        shape = tuple(input_shape[a] for a in axes)
        if not all(_is_int(s) and s > 0 for s in shape):
            raise self._error(f"expected known, positive sizes on axis {self.axis}, "
                              f"received input shape {input_shape}")
        self.axis = axes  # Keras: a sorted list once built
        self._add_affine(tuple(int(s) for s in shape), self.scale or self.rms_scaling,
                         self.center and not self.rms_scaling)
        super().build(input_shape)

    def _broadcast(self, v, ndim: int):
        """Keras's ``_broadcast``: gamma / beta reshaped (not transposed) onto the axes."""
        if v is None or v.ndim == ndim or self.axis == [ndim - 1]:
            return v
        shape = [1] * ndim
        for a in self.axis:
            shape[a] = self.input_shape[a] if self.input_shape[a] is not None else 1
        return v.reshape(shape)  # (1.., axis sizes)

    def forward(self, x, training: bool = False, rng=None):
        """``(y, cache)``: ``x`` normalized over ``axis`` per sample."""
        x = self._check_input(x)
        ndim = x.ndim
        axes = tuple(a % ndim for a in self.axis)
        gamma = None if self.gamma is None else self._broadcast(self.gamma, ndim)
        mean, variance, _, count = _moments(x, axes, None)  # (B, 1..) x2
        if self.rms_scaling:
            std_inv = 1 / np.sqrt(variance + x.dtype.type(self.epsilon))  # (B, 1..)
            y = x * std_inv
            if gamma is not None:
                y = y * gamma  # (x.shape)
            return y, _NormCache(x - mean, std_inv, None, count, True, gamma, x)
        beta = None if self.beta is None else self._broadcast(self.beta, ndim)
        y, std_inv = _normalize(x, mean, variance, gamma, beta, self.epsilon)
        return y, _NormCache(x - mean, std_inv, None, count, True, gamma, None)

    def backward(self, dy, cache: _NormCache):
        """``(dx, [dgamma, dbeta])`` (those the layer has), through the sample moments."""
        dy = np.asarray(dy, dtype=self.dtype)
        ndim = dy.ndim
        axes = tuple(a % ndim for a in self.axis)
        others = tuple(a for a in range(ndim) if a not in axes)
        if self.rms_scaling:  # y = x * std_inv * gamma
            x, xc, std_inv = cache.x, cache.xc, cache.std_inv
            a = dy if cache.gamma is None else dy * cache.gamma  # (x.shape) d(x * std_inv)
            dstd_inv = (a * x).sum(axis=axes, keepdims=True)  # (B, 1..)
            dvariance = dstd_inv * (-0.5) * std_inv ** 3  # (B, 1..)
            dx = a * std_inv + _moments_backward(dvariance * 2 * xc / cache.count, axes, None,
                                                 cache.count)
            dgamma_full, dbeta_full = dy * x * std_inv, None  # (x.shape)
        else:
            dx, dgamma_full, dbeta_full = _normalize_backward(
                dy, cache.xc, cache.std_inv, cache.gamma, axes, None, cache.count, True)
        grads = []
        if self.gamma is not None:
            grads.append(dgamma_full.sum(axis=others, keepdims=True).reshape(self.gamma.shape))
        if self.beta is not None:
            grads.append(dbeta_full.sum(axis=others, keepdims=True).reshape(self.beta.shape))
        return dx, grads

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(
            axis=list(self.axis) if isinstance(self.axis, list) else self.axis,
            epsilon=self.epsilon,
            center=self.center,
            scale=self.scale,
            rms_scaling=self.rms_scaling,
            **self._affine_config(),
        )
        return config
