"""Keras's ``TimeDistributed`` wrapper: one layer applied to every timestep of its input.

Following ``keras/src/layers/rnn/time_distributed.py`` and ``layers/core/wrapper.py``
(Keras 3.15): the input is ``(batch, timesteps, ...)``; the wrapped layer sees each
timestep's slice ``(batch, ...)`` with the same weights, and the outputs are stacked back
on axis 1: ``(batch, timesteps, ...)``. Keras loops over the timesteps; here time is
folded into the batch, ``(B, T, ...) -> (B*T, ...)``, one call, and unfolded (the same
numbers for a layer whose rows are independent, as every registered one is).

Masks: Keras's ``TimeDistributed`` keeps the input's mask on its output (the default
``Layer.compute_mask``) and hands the wrapped layer ``mask[:, i]`` when its ``call`` takes
a mask; here a mask with more than two axes ``(B, T, ...)`` is folded like the input for
a wrapped layer that takes one (``USES_MASK``), and a ``(B, T)`` mask changes nothing in
the computation (a ``Dense`` takes none).

The weights are the wrapped layer's (``get_weights()`` order), stored in files under
its attribute ``layer``: ``layers/time_distributed/layer/vars/0`` in ``.keras``,
``time_distributed/dense/kernel:0`` in a legacy ``.h5``. The config nests the wrapped
layer as ``layer`` (serialized; built through :mod:`npylstm.registry`).

>>> import numpy as np
>>> from npylstm.layers import Dense
>>> layer = TimeDistributed(Dense(3))
>>> layer(np.ones((2, 5, 4), dtype="float32")).shape
(2, 5, 3)
>>> layer.count_params()
15
"""

from __future__ import annotations

import dataclasses
from typing import NamedTuple

import numpy as np

from .. import registry
from .base import Layer, VarsNode

__all__ = ["TimeDistributed"]


class _TimeDistributedCache(NamedTuple):
    inner: object  # the wrapped layer's cache, for the folded input
    shape: tuple  # (B, T, ...) the input's shape


@registry.register("TimeDistributed")
class TimeDistributed(Layer):
    """Apply ``layer`` to every temporal slice of a ``(batch, timesteps, ...)`` input.

    Parameters
    ----------
    layer : Layer
        Any registered layer (``Dense``, ``Dropout``, ``Activation``, ...); it is used
        itself (its weights are the wrapper's).
    name, dtype, trainable :
        As every layer; ``dtype`` defaults to the wrapped layer's (a different one makes
        the wrapped layer again in that dtype).
    """

    USES_MASK = True
    NESTED_LAYER_KEYS = ("layer",)
    NOT_CONFIG_KEYS = ("backend",)

    def __init__(self, layer, name: str | None = None, dtype=None, input_shape=None,
                 trainable: bool = True):
        super().__init__(name=name, dtype=dtype or getattr(layer, "dtype", "float32"),
                         input_shape=input_shape, trainable=trainable)
        if not isinstance(layer, Layer) or getattr(type(layer), "keras_class_name", None) is None:
            what = f"{type(layer).__name__}" + (
                f" '{layer.name}'" if isinstance(layer, Layer) else "")
            raise self._error(f"expected a registered layer to wrap, received {what}")
        if layer.dtype != self.dtype:
            entry = registry.serialize(layer)
            entry["config"] = {**entry["config"], "dtype": self.dtype.name}
            layer = registry.deserialize(entry)
        self.layer = layer

    # -- weights: the wrapped layer's -------------------------------------------------------
    @property
    def _weights(self):
        inner = self.__dict__.get("layer")
        return [] if inner is None else inner.weights

    @_weights.setter
    def _weights(self, value):
        if value:  # Layer.__init__ sets [] (the weights are the wrapped layer's)
            raise self._error("the weights of a TimeDistributed layer are its wrapped layer's")

    def weight_regularizers(self) -> list:
        return self.layer.weight_regularizers()

    def set_weights(self, weights) -> None:
        weights = list(weights)
        if not self.built:
            shape = self.input_shape_from_weights(weights)
            if shape is not None:
                self.build(shape)
        self.layer.set_weights(weights)

    def input_shape_from_weights(self, weights) -> tuple | None:
        shape = self.layer.input_shape_from_weights(weights)
        return None if shape is None else (shape[0], None, *shape[1:])

    def _child_shape(self, input_shape) -> tuple:
        if not isinstance(input_shape, tuple | list) or len(input_shape) < 3:
            raise self._error(
                "expected an input shape with at least 3 axes (batch, timesteps, ...), "
                f"received {input_shape}"
            )
        return (input_shape[0], *input_shape[2:])

    def build(self, input_shape) -> None:
        input_shape = tuple(input_shape)
        child = self._child_shape(input_shape)
        if not self.layer.built:
            self.layer.build(child)
        super().build(input_shape)

    def count_params(self) -> int:
        if not self.built:
            raise self._error("count_params() needs a built layer: call build() or the layer first")
        return self.layer.count_params()

    def param_rule(self) -> tuple[str, str]:
        return self.layer.param_rule()

    # -- shapes and masks ----------------------------------------------------------------
    def compute_output_shape(self, input_shape):
        input_shape = tuple(input_shape)
        child = self.layer.compute_output_shape(self._child_shape(input_shape))
        return (child[0], input_shape[1], *child[1:])

    def compute_mask(self, x, mask):
        """The input's mask, unchanged (Keras's ``Layer.compute_mask``, which
        ``TimeDistributed`` keeps)."""
        return mask

    # -- computing -----------------------------------------------------------------------
    def _fold(self, x, mask):
        """``(x, mask)`` with time folded into the batch: ``(B*T, ...)``."""
        x = self._as_float_array(x)
        if x.ndim < 3:
            raise self._error(
                "expected an input with at least 3 axes (batch, timesteps, ...), received "
                f"shape {x.shape}"
            )
        if mask is not None:
            mask = np.asarray(mask)
            if mask.ndim < 2 or mask.shape[:2] != x.shape[:2]:
                raise self._error(
                    f"expected a mask of shape (batch, timesteps, ...) = {x.shape[:2]}, "
                    f"received {mask.shape}"
                )
        if not self.built:
            self.build((None, *x.shape[1:]))
        inner_mask = None
        if mask is not None and mask.ndim > 2 and self.layer.USES_MASK:
            inner_mask = mask.reshape(-1, *mask.shape[2:])  # (B*T, ...)
        return x.reshape(-1, *x.shape[2:]), inner_mask  # (B*T, ...)

    def _inner_kwargs(self, inner_mask) -> dict:
        return {"mask": inner_mask} if self.layer.USES_MASK else {}

    def forward(self, x, training: bool = False, rng=None, mask=None):
        """Run the wrapped layer on every timestep; returns ``(y, cache)``."""
        shape = np.shape(x)
        xf, inner_mask = self._fold(x, mask)
        yf, cache = self.layer.forward(xf, training=training, rng=rng,
                                       **self._inner_kwargs(inner_mask))
        y = yf.reshape(shape[0], shape[1], *yf.shape[1:])  # (B, T, ...)
        return y, _TimeDistributedCache(cache, tuple(shape))

    def __call__(self, x, training: bool = False, mask=None):
        shape = np.shape(x)
        xf, inner_mask = self._fold(x, mask)
        yf = self.layer(xf, training=training, **self._inner_kwargs(inner_mask))
        return yf.reshape(shape[0], shape[1], *yf.shape[1:])  # (B, T, ...)

    def backward(self, dy, cache: _TimeDistributedCache):
        """Gradients for :meth:`forward`: ``(dx, grads)``, grads the wrapped layer's."""
        dy = np.asarray(dy, dtype=self.dtype)
        dyf = dy.reshape(-1, *dy.shape[2:])  # (B*T, ...)
        dxf, grads = self.layer.backward(dyf, cache.inner)
        return dxf.reshape(cache.shape), grads  # (B, T, ...)

    # -- configs --------------------------------------------------------------------------
    def get_config(self) -> dict:
        config = super().get_config()
        config["layer"] = registry.serialize(self.layer)
        return config

    @classmethod
    def from_config(cls, config: dict):
        config = dict(config)
        where = f"TimeDistributed '{config.get('name', '?')}'"
        if "layer" not in config:
            raise ValueError(f"{where}: the config has no 'layer' (the layer to wrap)")
        if isinstance(config["layer"], dict):
            config["layer"] = registry.deserialize(config["layer"], f"{where} layer")
        return super().from_config(config)

    @classmethod
    def variable_tree(cls, config: dict) -> VarsNode:
        """The wrapped layer's tree under ``layer``: ``layers/time_distributed/layer/vars/0``,
        ``time_distributed/dense/kernel:0``."""
        entry = config.get("layer")
        if not isinstance(entry, dict):
            raise ValueError(
                f"TimeDistributed '{config.get('name', '?')}': its variables depend on the "
                f"wrapped layer: expected the config's 'layer' entry, received "
                f"{type(entry).__name__}"
            )
        inner_config = entry.get("config") or {}
        name = str(inner_config.get("name", "layer"))
        tree = registry.get(entry.get("class_name"), "TimeDistributed").variable_tree(
            inner_config
        )
        return VarsNode(children=(("layer", dataclasses.replace(tree, name=name,
                                                                legacy_scope=name)),))
