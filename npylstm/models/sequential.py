"""``Sequential``: a chain of layers on the :class:`npylstm.models.Model` base.

This module is the chain only: adding and removing layers, building them in turn (each
layer's input shape is the previous one's output shape), the forward and backward passes
along the chain, and Keras's Sequential config. Training (compile, fit, evaluate, predict,
``*_on_batch``) comes from :mod:`npylstm.models.training`, the summary from
:mod:`npylstm.models.summary`.

>>> import numpy as np
>>> from npylstm import Sequential, Input
>>> from npylstm.layers import LSTM, Dense
>>> model = Sequential([Input((50, 1)), LSTM(20, return_sequences=True), LSTM(20), Dense(5)])
>>> model.count_params()
5145
>>> model.predict(np.zeros((3, 50, 1)), verbose=0).shape
(3, 5)
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import registry
from ..layers.base import Layer, dtype_policy_config
from ..layers.graph import KerasTensor
from ..layers.input import InputLayer
from .model import Model
from .summary import _format_shape

__all__ = ["Sequential"]


def _array_call(layer: Layer):
    """``type(layer).__call__`` without the wrapper that first looks for symbolic tensors
    in the arguments (:func:`npylstm.layers.graph.symbolic_aware`): the model's own passes
    hand every layer arrays, and that search costs more than a small layer's arithmetic."""
    call = type(layer).__call__
    if getattr(call, "__code__", None) is _SYMBOLIC_AWARE_CODE:  # that wrapper, nothing else
        return call.__wrapped__
    return call


#: The code of every symbolic_aware wrapper (Layer's own __call__ is one).
_SYMBOLIC_AWARE_CODE = Layer.__call__.__code__


#: The keys of Keras 3's Sequential config (Keras 2 wrote ``name`` and ``layers`` only).
_CONFIG_KEYS = ("name", "trainable", "dtype", "layers", "build_input_shape")


@registry.register("Sequential")
class Sequential(Model):
    """A linear stack of layers, with Keras's ``Sequential`` API.

    Parameters
    ----------
    layers : list of layers (the first may be :func:`npylstm.Input`), or None
    name : the model's name (default ``sequential``, ``sequential_1``, ...)

    The model is built as soon as the input shape is known: from an ``Input``, from the
    first layer's ``input_shape=`` (later layers' ``input_shape`` is ignored, as in Keras),
    or from the first data it sees.
    """

    KERAS_MODULE = "keras"  # Keras serializes its models as {"module": "keras", ...}
    _KIND = "Sequential"
    _DEFAULT_NAME = "sequential"
    _BUILD_HINT = "add an Input, pass input_shape= to the first layer, or call build()"

    def __init__(self, layers=None, name: str | None = None, trainable: bool = True):
        super().__init__(name=name, trainable=trainable)
        self._input_layer: InputLayer | None = None
        self._input_batch_shape: tuple | None = None
        if layers is not None:
            if isinstance(layers, Layer):
                layers = [layers]
            for layer in layers:
                self.add(layer)

    # -- layers -----------------------------------------------------------------------------
    def add(self, layer: Layer) -> None:
        """Append a layer; builds it at once when the model's input shape is known.

        Raises a ValueError naming the layer when its input does not fit the previous
        layer's output (e.g. an LSTM after an LSTM without ``return_sequences``).
        """
        if isinstance(layer, KerasTensor) and layer.node is not None and layer.node.is_input:
            layer = layer.node.layer  # Input(...): the symbolic tensor of an InputLayer
        if isinstance(layer, InputLayer):
            if self._layers or self._input_layer is not None:
                raise self._error(
                    "an Input must be the first entry of the model, received "
                    f"'{layer.name}' after {len(self._layers)} layer(s)"
                )
            self._input_layer = layer
            self._input_batch_shape = layer.batch_shape
            return
        if not isinstance(layer, Layer):
            raise TypeError(
                f"{self._label()}: expected an npylstm layer, received "
                f"{type(layer).__name__} ({layer!r})"
            )
        if any(existing is layer for existing in self._layers):
            raise self._error(f"layer '{layer.name}' is already in the model")
        if any(existing.name == layer.name for existing in self._layers):
            raise self._error(
                f"all layers must have unique names; '{layer.name}' is used twice"
            )
        if getattr(layer, "return_state", False):
            raise self._error(
                f"layer '{layer.name}' has return_state=True, which returns three tensors; "
                "a Sequential model passes one tensor from layer to layer"
            )
        if not self._layers and self._input_batch_shape is None:
            if layer._input_shape_arg is not None:
                self._input_batch_shape = (None, *layer._input_shape_arg)
            elif layer.built:
                self._input_batch_shape = layer.input_shape
        self._layers.append(layer)
        if self._input_batch_shape is not None:
            try:
                self._build_layers(self._input_batch_shape)
            except ValueError:
                self._layers.pop()
                raise

    def pop(self) -> Layer:
        """Remove and return the last layer."""
        if not self._layers:
            raise self._error("pop() on a model with no layers")
        return self._layers.pop()

    # -- building ---------------------------------------------------------------------------
    def _build_layers(self, batch_shape) -> tuple:
        """Build every layer for ``batch_shape``; returns the model's output shape."""
        if not self._layers:
            raise self._error("the model has no layers: add layers before using it")
        shape = tuple(batch_shape)
        previous = "the input"
        for index, layer in enumerate(self._layers):
            try:
                if not layer.built:
                    layer.build(shape)
                else:
                    self._check_built_layer(layer, shape)
                out = layer.compute_output_shape(shape)
            except ValueError as exc:
                raise self._error(
                    f"layer {index} '{layer.name}' ({type(layer).__name__}) cannot take "
                    f"{previous} of shape {_format_shape(shape)}: {exc}"
                ) from None
            previous = f"the output of '{layer.name}'"
            shape = tuple(out)
        self._input_batch_shape = tuple(batch_shape)
        self.built = True
        return shape

    @staticmethod
    def _check_built_layer(layer: Layer, shape: tuple) -> None:
        expected = layer.input_shape
        if expected is None:
            return
        if len(expected) != len(shape):
            raise layer._error(
                f"was built for inputs of rank {len(expected)} {_format_shape(expected)}, "
                f"received rank {len(shape)}"
            )
        for want, got in zip(expected[1:], shape[1:], strict=True):
            if want is not None and got is not None and want != got:
                raise layer._error(
                    f"was built for inputs of shape {_format_shape(expected)}, "
                    f"received {_format_shape(shape)}"
                )

    def build(self, input_shape=None) -> None:
        """Build the layers for ``input_shape`` (with the batch axis, e.g. ``(None, 50, 1)``)."""
        if input_shape is None:
            input_shape = self._input_batch_shape
        if input_shape is None:
            raise self._error(
                "build() needs an input shape: pass input_shape=(None, timesteps, features), "
                "start the model with Input(shape), or call it on data"
            )
        self._build_layers(tuple(input_shape))

    def _build_from_weights(self, weights: list) -> None:
        """Build from the input shape the first layer's weights imply (as Keras cannot)."""
        first = self._layers[0] if self._layers else None
        if first is None:
            raise self._error("set_weights() on a model with no layers")
        shape = first.input_shape_from_weights(weights)
        if shape is not None:
            self._build_layers(shape)
        else:
            raise self._error("set_weights() needs a built model: build it or add an Input")

    @property
    def input_shape(self) -> tuple | None:
        return self._input_batch_shape

    def _input_dtype(self) -> np.dtype:
        """An Input's integer (or bool) dtype; without one, the first layer's
        ``INPUT_DTYPE`` (an Embedding's integer ids); else the model's float dtype (the
        first layer's: a float64 model keeps float64 data, whatever the Input says)."""
        if self._input_layer is not None:
            dtype = self._input_layer.dtype
            return self._dtype() if np.issubdtype(dtype, np.floating) else dtype
        first = self._layers[0] if self._layers else None
        wanted = getattr(first, "INPUT_DTYPE", None)
        return np.dtype(wanted) if wanted is not None else self._dtype()

    @property
    def output_shape(self) -> tuple:
        if not self.built:
            raise self._error("output_shape needs a built model")
        return self._build_layers(self._input_batch_shape)

    def _layer_output_shapes(self) -> list[tuple[Layer, tuple]]:
        """Each layer with its output shape, along the chain from the input shape."""
        shape, rows = self._input_batch_shape, []
        for layer in self._layers:
            shape = tuple(layer.compute_output_shape(shape))
            rows.append((layer, shape))
        return rows

    # -- forward and backward ---------------------------------------------------------------
    def _forward(self, x: np.ndarray, training: bool):
        """Returns ``(y_pred, caches, activity_penalty, activity_grads, output_mask)``.

        The time mask flows along the chain as in Keras: each layer's output mask is its
        ``compute_mask(input, mask)`` (Masking makes one, Dense and Dropout pass it on, a
        recurrent layer passes it with ``return_sequences`` and ends it without), and a
        layer with ``USES_MASK`` (the recurrent layers) is called with it."""
        caches, activity_grads, activity = [], [], 0.0
        h, mask = x, None
        for layer in self._layers:
            if mask is not None and layer.USES_MASK:
                out, cache = layer.forward(h, training=training, rng=None, mask=mask)
            else:
                out, cache = layer.forward(h, training=training, rng=None)
            mask = layer.compute_mask(h, mask)
            h = out
            caches.append(cache)
            value, grad = layer.activity_loss(h)
            activity += value
            activity_grads.append(grad)
        return h, caches, activity, activity_grads, mask

    def _backward(self, dy: np.ndarray, caches, activity_grads) -> list[np.ndarray]:
        grads_by_layer = []
        for layer, cache, dact in zip(reversed(self._layers), reversed(caches),
                                      reversed(activity_grads), strict=True):
            if dact is not None:
                dy = dy + dact
            dy, grads = layer.backward(dy, cache)
            grads_by_layer.append(self._layer_grads(layer, grads))
        return [g for grads in reversed(grads_by_layer) for g in grads]

    def _infer(self, x: np.ndarray, training: bool = False):
        """``(y_pred, activity_penalty, output_mask)`` without keeping what backward needs
        (the layers' ``__call__``: LSTM layers then run their backend's cache-free
        forward); masks flow as in :meth:`_forward`."""
        h, activity, mask = x, 0.0, None
        for layer in self._layers:
            call = _array_call(layer)
            if mask is not None and layer.USES_MASK:
                out = call(layer, h, training=training, mask=mask)
            else:
                out = call(layer, h, training=training)
            mask = layer.compute_mask(h, mask)
            h = out
            activity += layer.activity_loss(h)[0]
        return h, activity, mask

    # -- online prediction: one timestep at a time, state in and state out ------------------
    def initial_states(self, batch_size: int = 1) -> dict[str, list[np.ndarray]]:
        """Zero states for :meth:`step`: ``{layer name: [state, ...]}`` for every recurrent
        layer, each state ``(batch_size, units)`` (LSTM: ``[h, c]``; GRU, SimpleRNN: ``[h]``).
        """
        if not self.built:
            raise self._not_built_error("initial_states()")
        # every layer with states to stream (a Bidirectional refuses: it reads the future)
        return {layer.name: layer.zero_states(batch_size)
                for layer in self._layers if hasattr(layer, "zero_states")}

    def step(self, x_t, states: dict | None = None):
        """Predict one timestep with explicit state: ``(y_t, new_states)``.

        ``x_t`` is ``(batch, features)`` (or ``(batch, 1, features)``); ``states`` is what
        :meth:`initial_states` or the previous call returned (None: zeros). Each recurrent
        layer runs one step from its state (:meth:`npylstm.layers.RNN.step`), every other
        layer as it does on a one-step sequence; nothing is stored on the model, so several
        streams can share one model. Feeding a sequence step by step gives the outputs of
        the whole-sequence pass: a stateful model's ``predict`` chunk by chunk, without the
        per-call batch bookkeeping.

        >>> import numpy as np
        >>> from npylstm import Input, Sequential
        >>> from npylstm.layers import LSTM, Dense
        >>> model = Sequential([Input((None, 2)), LSTM(3), Dense(1)])
        >>> x = np.ones((1, 4, 2), dtype="float32")
        >>> states = model.initial_states(batch_size=1)
        >>> for t in range(4):
        ...     y, states = model.step(x[:, t], states)
        >>> bool(np.allclose(y, model.predict(x, verbose=0), atol=1e-6))
        True
        """
        if not self.built:
            raise self._not_built_error("step()")
        h = self._as_array(x_t, "x_t")  # the input boundary: real numbers only
        one_step = h.ndim == 2  # (B, D): the output loses the time axis again below
        if one_step:
            h = h[:, None, :]  # (B, 1, D): a one-step sequence
        if states is None:
            states = self.initial_states(h.shape[0])
        new_states = {}
        for layer in self._layers:
            if hasattr(layer, "step"):  # a recurrent layer: one step from its own state
                h, new_states[layer.name] = layer.step(h, states[layer.name])
            else:
                h = _array_call(layer)(layer, h)
        if one_step and h.ndim == 3 and h.shape[1] == 1:
            h = h[:, 0]  # the step's output, without the one-step time axis
        return h, new_states

    # -- configs ----------------------------------------------------------------------------
    def get_config(self) -> dict:
        """Keras 3's Sequential config: name, dtype, the layer configs (with the InputLayer
        first when the input shape is known) and ``build_input_shape``."""
        layer_configs = []
        if self._input_batch_shape is not None:
            input_layer = self._input_layer or InputLayer(
                batch_shape=self._input_batch_shape, name=self._input_layer_name(),
                dtype=self._input_dtype().name,
            )
            layer_configs.append(registry.serialize(input_layer))
        for layer in self._layers:
            entry = registry.serialize(layer)
            # Keras records build_config only for layers that build weights (not Dropout)
            if layer.built and layer.input_shape is not None and layer.weights:
                entry["build_config"] = {"input_shape": tuple(layer.input_shape)}
            layer_configs.append(entry)
        config: dict[str, Any] = {
            "name": self.name,
            "trainable": self.trainable,
            "dtype": dtype_policy_config(self._dtype()),
            "layers": layer_configs,
        }
        if self._input_batch_shape is not None:
            config["build_input_shape"] = tuple(self._input_batch_shape)
        return config

    def _input_layer_name(self) -> str:
        return "input_layer"

    @classmethod
    def from_config(cls, config: dict) -> Sequential:
        """Rebuild a model from :meth:`get_config` output or a Keras Sequential config."""
        if not isinstance(config, dict) or "layers" not in config:
            raise ValueError(
                "Sequential.from_config: expected a dict with 'name' and 'layers', received "
                f"{type(config).__name__}"
            )
        unknown = sorted(set(config) - set(_CONFIG_KEYS))
        if unknown:
            raise ValueError(
                f"Sequential '{config.get('name', '?')}': unknown config key {unknown[0]!r}; "
                f"Sequential accepts {list(_CONFIG_KEYS)}"
            )
        model = cls(name=config.get("name"), trainable=config.get("trainable", True))
        for index, entry in enumerate(config["layers"]):
            layer = registry.deserialize(entry, f"Sequential.from_config: layer #{index}")
            model.add(layer)
        build_shape = config.get("build_input_shape")
        if not model.built and build_shape and model._layers:
            model.build(tuple(build_shape))
        return model
