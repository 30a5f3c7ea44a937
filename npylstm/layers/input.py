"""``Input(shape)``: a model's input, as ``keras.Input``.

``Input`` returns a symbolic tensor (:class:`~npylstm.layers.graph.KerasTensor`) made by an
:class:`InputLayer`: layers called on it build a functional graph
(``npylstm.Model(inputs, outputs)``), and a ``Sequential`` accepts it as its first entry
exactly like Keras's ``Sequential([keras.Input((50, 1)), ...])``. The InputLayer has no
weights; it does not appear in a Sequential's ``model.layers`` (as in Keras).

>>> from npylstm.layers import Input
>>> Input((50, 1)).shape
(None, 50, 1)
"""

from __future__ import annotations

import numbers

import numpy as np

from ..registry import register
from . import inputs
from .base import Layer, dtype_from_config
from .graph import KerasTensor, Node

__all__ = ["Input", "InputLayer", "input_tensor"]


@register("InputLayer")
class InputLayer(Layer):
    """The input placeholder of a model: holds ``batch_shape = (batch_size, *shape)``."""

    KERAS3_ONLY = ("optional",)

    def __init__(
        self,
        shape=None,
        batch_size: int | None = None,
        dtype=None,
        sparse=None,
        ragged=None,
        batch_shape=None,
        name: str | None = None,
        optional: bool = False,
        input_shape=None,
        batch_input_shape=None,
    ):
        super().__init__(name=name)
        # An input may hold integer ids (an Embedding's): any numeric dtype but complex.
        try:
            self.dtype = np.dtype(dtype_from_config(dtype))
        except TypeError as exc:
            raise self._error(f"expected a dtype name, received {dtype!r}") from exc
        if not (np.issubdtype(self.dtype, np.floating) or np.issubdtype(self.dtype, np.integer)
                or self.dtype == np.bool_):
            raise self._error(
                f"expected a float, integer or bool dtype, received {self.dtype}"
            )
        shape = input_shape if shape is None else shape  # old Keras spelling
        batch_shape = batch_input_shape if batch_shape is None else batch_shape
        if (shape is None) == (batch_shape is None):
            raise self._error(
                "expected exactly one of shape or batch_shape, "
                f"received shape={shape!r}, batch_shape={batch_shape!r}"
            )
        if sparse or ragged or optional:
            raise self._error("sparse, ragged and optional inputs are not supported")
        if batch_shape is None:
            if isinstance(shape, numbers.Integral):
                shape = (shape,)
            try:
                batch_shape = (batch_size, *shape)
            except TypeError as exc:
                raise self._error(f"expected shape to be a tuple, received {shape!r}") from exc
        batch_shape = tuple(None if d is None else d for d in batch_shape)
        for d in batch_shape:
            if d is not None and (
                isinstance(d, bool) or not isinstance(d, numbers.Integral) or d <= 0
            ):
                raise self._error(
                    f"expected positive integers or None in the shape, received {batch_shape}"
                )
        self.batch_shape = tuple(None if d is None else int(d) for d in batch_shape)
        self.build(self.batch_shape)

    @property
    def shape(self) -> tuple:
        """The shape without the batch axis, e.g. ``(50, 1)``."""
        return self.batch_shape[1:]

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def forward(self, x, training: bool = False, rng=None):
        """``x`` in the input's dtype: real numbers only (:mod:`npylstm.layers.inputs`)."""
        if self.dtype.kind == "f":
            return self._as_float_array(x), None
        return inputs.as_numeric_array(x, self._label()).astype(self.dtype, copy=False), None

    def backward(self, dy, cache):
        return dy, []

    def get_config(self) -> dict:
        return {
            "batch_shape": self.batch_shape,
            "dtype": self.dtype.name,
            "sparse": False,
            "ragged": False,
            "name": self.name,
            "optional": False,
        }


def Input(  # noqa: N802 - Keras's name
    shape=None,
    batch_size: int | None = None,
    dtype=None,
    batch_shape=None,
    name: str | None = None,
) -> KerasTensor:
    """A symbolic model input of ``shape`` (without the batch axis), as ``keras.Input``.

    Parameters
    ----------
    shape : tuple of int or None, e.g. ``(timesteps, features)``; None for any length
    batch_size : optional fixed batch size
    dtype : "float32" (default), or an integer dtype for token ids ("int32")
    batch_shape : the full shape including the batch axis (instead of ``shape``)
    name : the input's name (the key of its data in a dict, Keras's rule)

    >>> x = Input(shape=(None,), dtype="int32", name="tokens")
    >>> x.shape, x.dtype, x.name
    ((None, None), 'int32', 'tokens')
    """
    layer = InputLayer(
        shape=shape, batch_size=batch_size, dtype=dtype, batch_shape=batch_shape, name=name
    )
    return input_tensor(layer)


def input_tensor(layer: InputLayer) -> KerasTensor:
    """The symbolic tensor an InputLayer makes (its first node's output, made once)."""
    nodes = layer.__dict__.get("_inbound_nodes")
    if nodes:
        return nodes[0].outputs[0]
    tensor = KerasTensor(layer.batch_shape, layer.dtype, name=layer.name)
    Node(layer, [], {}, [tensor])
    return tensor
