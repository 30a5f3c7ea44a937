"""Keras's ``Bidirectional`` wrapper: a recurrent layer run forwards and backwards, merged.

Following ``keras/src/layers/rnn/bidirectional.py`` (Keras 3.15):

* the forward layer is made again from the wrapped layer's config, named
  ``forward_<name>``; the backward layer likewise with ``go_backwards=True``, named
  ``backward_<name>`` — or is the ``backward_layer`` given, which must have the other
  ``go_backwards`` and the same ``stateful`` / ``return_sequences`` / ``return_state``;
* both inner layers get ``zero_output_for_mask = return_sequences``;
* ``initial_state`` is split in halves: the first for the forward layer, the second for
  the backward one;
* with ``return_sequences`` the backward layer's outputs (in its processing order) are
  reversed in time before merging: ``y_rev[:, ::-1]``;
* ``merge_mode``: ``"concat"`` ``[y, y_rev]`` on the last axis, ``"sum"`` ``y + y_rev``,
  ``"mul"`` ``y * y_rev``, ``"ave"`` ``(y + y_rev) / 2``, None: both, as two outputs;
* with ``return_state``: ``[output, *forward_states, *backward_states]`` (``[y, y_rev,
  *states]`` when ``merge_mode`` is None);
* weights (``get_weights()`` order): the forward layer's, then the backward layer's; in
  files ``layers/bidirectional/forward_layer/cell/vars/0`` (``.keras``) and
  ``bidirectional/forward_lstm/lstm_cell/kernel:0`` (legacy ``.h5``);
* the config holds the forward layer as ``layer`` and the backward one as
  ``backward_layer``, each a serialized layer (built through :mod:`npylstm.registry`).

One difference from Keras 3: a Keras 2 (tf_keras) config whose inner layer has
``go_backwards=True`` and no ``backward_layer`` means tf_keras's rule (the backward layer
gets the *flipped* ``go_backwards``); :meth:`Bidirectional.from_keras2_config` writes that
backward layer out, so such files load with tf_keras's meaning (Keras 3 refuses them).

>>> import numpy as np
>>> from npylstm.layers import LSTM
>>> layer = Bidirectional(LSTM(3, return_sequences=True), merge_mode="concat")
>>> layer(np.zeros((2, 5, 4), dtype="float32")).shape
(2, 5, 6)
>>> layer.forward_layer.name, layer.backward_layer.name, layer.count_params()
('forward_lstm', 'backward_lstm', 192)
"""

from __future__ import annotations

import copy
import dataclasses
from typing import NamedTuple

import numpy as np

from ... import registry
from .. import inputs
from ..base import Layer, VarsNode
from .base import RNN

__all__ = ["Bidirectional", "MERGE_MODES"]

#: Keras's merge modes (None: the two outputs apart).
MERGE_MODES = ("concat", "sum", "mul", "ave", None)


def _removeprefix(name: str, prefix: str) -> str:
    return name[len(prefix):] if name.startswith(prefix) else name


class _BidirectionalCache(NamedTuple):
    forward: object  # the forward layer's cache
    backward: object  # the backward layer's cache
    y: np.ndarray  # (B, [T,] U) the forward output
    y_rev: np.ndarray  # (B, [T,] U) the backward output, in the input's time order


@registry.register("Bidirectional")
class Bidirectional(Layer):
    """Bidirectional wrapper for recurrent layers (``LSTM``, ``GRU``, ``SimpleRNN``).

    Parameters
    ----------
    layer : RNN
        The layer to run in both directions (a fresh copy is made from its config: its
        weights are not shared).
    merge_mode : {"concat", "sum", "mul", "ave", None}
    weights : list of np.ndarray, optional
        Initial weights (forward layer's, then backward layer's), set when built.
    backward_layer : RNN, optional
        The layer for the backward direction (default: ``layer``'s config with
        ``go_backwards=True``).
    name, dtype, trainable :
        As every layer; ``dtype`` defaults to the wrapped layer's (a different one makes
        the inner layers in that dtype).
    """

    USES_MASK = True
    ACTIVATION_KEYS: tuple[str, ...] = ()
    #: Config keys holding serialized inner layers (:mod:`npylstm.io.keras_config` walks them).
    NESTED_LAYER_KEYS = ("layer", "backward_layer")
    NOT_CONFIG_KEYS = ("backend", "weights")

    def __init__(
        self,
        layer,
        merge_mode="concat",
        weights=None,
        backward_layer=None,
        name: str | None = None,
        dtype=None,
        input_shape=None,
        trainable: bool = True,
    ):
        super().__init__(name=name, dtype=dtype or getattr(layer, "dtype", "float32"),
                         input_shape=input_shape, trainable=trainable)
        if not isinstance(layer, RNN):
            raise self._error(
                "expected a recurrent layer (LSTM, GRU or SimpleRNN) to wrap, received "
                f"{_describe(layer)}"
            )
        if backward_layer is not None and not isinstance(backward_layer, RNN):
            raise self._error(
                "expected backward_layer to be a recurrent layer (LSTM, GRU or SimpleRNN), "
                f"received {_describe(backward_layer)}"
            )
        if merge_mode not in MERGE_MODES:
            raise self._error(
                f"unknown merge_mode {merge_mode!r}: expected one of "
                "'concat', 'sum', 'mul', 'ave' or None"
            )
        self.merge_mode = merge_mode
        # Made again from the configs, as Keras: nothing carries over from `layer`.
        self.forward_layer = self._remake(
            layer, name=f"forward_{_removeprefix(layer.name, 'forward_')}"
        )
        if backward_layer is None:
            self.backward_layer = self._remake(
                layer, name=f"backward_{_removeprefix(layer.name, 'backward_')}",
                go_backwards=True,
            )
        elif backward_layer.dtype != self.dtype:
            self.backward_layer = self._remake(backward_layer)
        else:
            self.backward_layer = backward_layer
        self._verify_layer_config()
        for inner in (self.forward_layer, self.backward_layer):
            inner.zero_output_for_mask = inner.return_sequences
        self.stateful = self.forward_layer.stateful
        self.return_sequences = self.forward_layer.return_sequences
        self.return_state = self.forward_layer.return_state
        self._initial_weights = None if weights is None else [np.asarray(w) for w in weights]
        if self._input_shape_arg is None:
            self._input_shape_arg = layer._input_shape_arg

    def _remake(self, layer: RNN, **overrides) -> RNN:
        """A new layer from ``layer``'s config (``overrides`` replaced, the wrapper's dtype)."""
        entry = registry.serialize(layer)
        entry["config"] = {**entry["config"], **overrides, "dtype": self.dtype.name}
        inner = registry.deserialize(entry)
        inner.backend = layer.backend
        return inner

    def _verify_layer_config(self) -> None:
        """Keras's ``_verify_layer_config``: the two directions differ in ``go_backwards``
        and agree on everything else that shapes the outputs."""
        fwd, bwd = self.forward_layer, self.backward_layer
        if fwd.go_backwards == bwd.go_backwards:
            raise self._error(
                "expected the forward and backward layers to have different go_backwards, "
                f"received forward_layer.go_backwards={fwd.go_backwards} and "
                f"backward_layer.go_backwards={bwd.go_backwards} (Keras 3 makes the backward "
                "layer with go_backwards=True: to wrap a layer with go_backwards=True, pass a "
                "backward_layer with go_backwards=False)"
            )
        for attr in ("stateful", "return_sequences", "return_state"):
            if getattr(fwd, attr) != getattr(bwd, attr):
                raise self._error(
                    f"expected the forward and backward layers to have the same {attr}, "
                    f"received {getattr(fwd, attr)} for the forward layer and "
                    f"{getattr(bwd, attr)} for the backward layer"
                )
        if fwd.built and bwd.built and fwd.input_dim != bwd.input_dim:
            raise self._error(
                f"expected the forward and backward layers to take the same features, "
                f"received {fwd.input_dim} and {bwd.input_dim}"
            )
        merge_mode = getattr(self, "merge_mode", None)
        if merge_mode in ("sum", "mul", "ave") and fwd.units != bwd.units:
            raise self._error(
                f"merge_mode {merge_mode!r} needs the forward and backward layers to have "
                f"the same units, received {fwd.units} and {bwd.units} (use 'concat' or None)"
            )

    # -- weights: the two inner layers' ---------------------------------------------------
    @property
    def _weights(self):
        fwd, bwd = self.__dict__.get("forward_layer"), self.__dict__.get("backward_layer")
        if fwd is None or bwd is None:
            return []
        return fwd.weights + bwd.weights

    @_weights.setter
    def _weights(self, value):
        if value:  # Layer.__init__ sets [] (the weights are the inner layers')
            raise self._error("the weights of a Bidirectional layer are its inner layers'")

    def weight_regularizers(self) -> list:
        return self.forward_layer.weight_regularizers() + self.backward_layer.weight_regularizers()

    def set_weights(self, weights) -> None:
        """The forward layer's weights, then the backward layer's (``get_weights()`` order)."""
        weights = list(weights)
        if not self.built:
            shape = self.input_shape_from_weights(weights)
            if shape is not None:
                self.build(shape)
        n_fwd = len(self.forward_layer.weights)
        if len(weights) != len(self._weights):
            raise self._error(
                f"set_weights expected {len(self._weights)} arrays (forward layer's "
                f"{[w.name for w in self.forward_layer.weights]}, then the backward "
                f"layer's), received {len(weights)}"
            )
        weights = inputs.check_weight_arrays(self._weights, weights, self._label())
        self.forward_layer.set_weights(weights[:n_fwd])
        self.backward_layer.set_weights(weights[n_fwd:])

    def input_shape_from_weights(self, weights) -> tuple | None:
        return self.forward_layer.input_shape_from_weights(weights)

    def build(self, input_shape) -> None:
        input_shape = tuple(input_shape)
        for inner in (self.forward_layer, self.backward_layer):
            if not inner.built:
                inner.build(input_shape)
        self._verify_layer_config()
        super().build(input_shape)
        if self._initial_weights is not None:
            weights, self._initial_weights = self._initial_weights, None
            self.set_weights(weights)

    def count_params(self) -> int:
        if not self.built:
            raise self._error("count_params() needs a built layer: call build() or the layer first")
        return self.forward_layer.count_params() + self.backward_layer.count_params()

    def param_rule(self) -> tuple[str, str]:
        """Both directions' counts added, e.g. ``("2 × (4 × units × (input_dim + units +
        1))", "4 × 3 × (4 + 3 + 1) + 4 × 3 × (4 + 3 + 1) = 96 + 96 = 192")``.

        >>> from npylstm.layers import LSTM
        >>> layer = Bidirectional(LSTM(3))
        >>> layer.build((None, 5, 4))
        >>> layer.param_rule()[1]
        '4 × 3 × (4 + 3 + 1) + 4 × 3 × (4 + 3 + 1) = 96 + 96 = 192'
        """
        if not self.built:
            raise self._error("param_rule() needs a built layer")
        (rule_f, formula_f), (rule_b, formula_b) = (
            self.forward_layer.param_rule(), self.backward_layer.param_rule()
        )
        count_f, count_b = self.forward_layer.count_params(), self.backward_layer.count_params()
        rule = (f"2 × ({rule_f})" if rule_f == rule_b and count_f == count_b
                else f"forward ({rule_f}) + backward ({rule_b})")
        expr_f, expr_b = formula_f.rsplit(" = ", 1)[0], formula_b.rsplit(" = ", 1)[0]
        return rule, f"{expr_f} + {expr_b} = {count_f:,} + {count_b:,} = {count_f + count_b:,}"

    # -- states ------------------------------------------------------------------------------
    @property
    def states(self):
        """The carried states of a stateful layer: forward's, then backward's (or None)."""
        fwd, bwd = self.forward_layer.states, self.backward_layer.states
        return None if fwd is None or bwd is None else [*fwd, *bwd]

    def reset_states(self) -> None:
        """Forget both inner layers' carried states (Keras: only for a stateful layer)."""
        if not self.stateful:
            raise AttributeError(f"{self._label()}: reset_states() needs a stateful layer")
        self.forward_layer.reset_states()
        self.backward_layer.reset_states()

    def zero_states(self, batch_size: int):
        """Refused: see :meth:`step`."""
        raise self._not_streamable()

    def step(self, x_t, states):
        """Refused: one timestep at a time cannot feed the backward direction, which reads
        the sequence from its end."""
        raise self._not_streamable()

    def _not_streamable(self) -> ValueError:
        return self._error(
            "step() cannot stream a Bidirectional layer (its backward direction needs the "
            "whole sequence)"
        )

    @property
    def backend(self):
        return self.forward_layer.backend

    @backend.setter
    def backend(self, value):
        self.forward_layer.backend = value
        self.backward_layer.backend = value

    # -- shapes and masks ----------------------------------------------------------------
    def compute_output_shape(self, input_shape):
        output_shape = self.forward_layer.compute_output_shape(input_shape)
        state_shapes = ()
        if self.return_state:
            output_shape, state_shapes = output_shape[0], tuple(output_shape[1:])
        if self.merge_mode == "concat":  # the two directions' units (Keras doubles the
            # forward's, wrong for a backward_layer with other units: its outputs have these)
            output_shape = (*output_shape[:-1], output_shape[-1] + self.backward_layer.units)
        outputs = (output_shape, output_shape) if self.merge_mode is None else (output_shape,)
        if self.return_state:
            return outputs + state_shapes + state_shapes
        return outputs if self.merge_mode is None else output_shape

    def compute_mask(self, x, mask):
        """Keras's ``Bidirectional.compute_mask``: the input's mask with
        ``return_sequences`` (for each output when ``merge_mode`` is None), else None;
        None for every state with ``return_state``."""
        if isinstance(mask, list | tuple):
            mask = mask[0]
        output_mask = mask if self.return_sequences else None
        masks = [output_mask, output_mask] if self.merge_mode is None else [output_mask]
        if self.return_state:
            return masks + [None] * (2 * len(self.forward_layer.cell.STATES))
        return masks if self.merge_mode is None else output_mask

    # -- computing -----------------------------------------------------------------------
    def _split_initial_state(self, initial_state):
        if initial_state is None:
            return None, None
        n = len(self.forward_layer.cell.STATES)
        if not isinstance(initial_state, list | tuple) or len(initial_state) != 2 * n:
            count = len(initial_state) if isinstance(initial_state, list | tuple) else 1
            names = [f"forward_{s}" for s in self.forward_layer.cell.STATES]
            names += [f"backward_{s}" for s in self.backward_layer.cell.STATES]
            raise self._error(
                f"expected initial_state to be a list of {2 * n} arrays [{', '.join(names)}] "
                f"(the forward layer's states, then the backward layer's), received {count}"
            )
        return list(initial_state[:n]), list(initial_state[n:])

    def _check_input(self, x) -> np.ndarray:
        x = self._as_float_array(x)
        if not self.built and x.ndim == 3:
            self.build((None, *x.shape[1:]))
        return x

    def _merge(self, y, y_rev, states):
        """The wrapper's outputs from both directions' (``y_rev`` in input time order)."""
        if self.merge_mode == "concat":
            outputs = [np.concatenate([y, y_rev], axis=-1)]  # (B, [T,] 2U)
        elif self.merge_mode == "sum":
            outputs = [y + y_rev]
        elif self.merge_mode == "ave":
            outputs = [(y + y_rev) / y.dtype.type(2)]
        elif self.merge_mode == "mul":
            outputs = [y * y_rev]
        else:
            outputs = [y, y_rev]
        if self.return_state:
            return [*outputs, *states]
        return outputs if self.merge_mode is None else outputs[0]

    def _split_outputs(self, y, y_rev):
        """``(y, y_rev, states)`` from the inner layers' outputs, ``y_rev`` in input order."""
        states = []
        if self.return_state:
            states = [*y[1:], *y_rev[1:]]
            y, y_rev = y[0], y_rev[0]
        if self.return_sequences:
            y_rev = y_rev[:, ::-1]  # (B, T, U) the backward layer's outputs in input order
        return y, y_rev, states

    def forward(self, x, training: bool = False, rng=None, initial_state=None, mask=None):
        """Run both directions; returns ``(outputs, cache)`` for :meth:`backward`."""
        x = self._check_input(x)
        forward_state, backward_state = self._split_initial_state(initial_state)
        y, cache_f = self.forward_layer.forward(
            x, training=training, rng=rng, initial_state=forward_state, mask=mask
        )
        y_rev, cache_b = self.backward_layer.forward(
            x, training=training, rng=rng, initial_state=backward_state, mask=mask
        )
        y, y_rev, states = self._split_outputs(y, y_rev)
        return self._merge(y, y_rev, states), _BidirectionalCache(cache_f, cache_b, y, y_rev)

    def __call__(self, x, initial_state=None, training: bool = False, mask=None):
        x = self._check_input(x)
        forward_state, backward_state = self._split_initial_state(initial_state)
        y = self.forward_layer(x, initial_state=forward_state, training=training, mask=mask)
        y_rev = self.backward_layer(x, initial_state=backward_state, training=training,
                                    mask=mask)
        return self._merge(*self._split_outputs(y, y_rev))

    # one call in a functional graph: initial_state= is a tensor argument, as for an RNN
    graph_forward = RNN.graph_forward
    graph_call = RNN.graph_call
    graph_backward = RNN.graph_backward

    def backward(self, dy, cache: _BidirectionalCache, return_state_grads: bool = False):
        """Gradients for :meth:`forward`: ``(dx, grads)`` with ``grads`` the forward layer's
        then the backward layer's (``get_weights()`` order); ``(dx, grads,
        dinitial_states)`` with ``return_state_grads`` (both halves, as ``initial_state``).

        ``dy`` is the gradient of what forward returned (a list for several outputs;
        entries may be None).
        """
        n_out = 2 if self.merge_mode is None else 1
        n_states = len(self.forward_layer.cell.STATES)
        if isinstance(dy, list | tuple):
            dy = list(dy) + [None] * (n_out + 2 * n_states - len(dy))
        else:
            dy = [dy]
        douts, dstates = dy[:n_out], dy[n_out:]
        y, y_rev = cache.y, cache.y_rev
        if self.merge_mode is None:
            dy_f, dy_b = douts
        elif douts[0] is None:
            dy_f = dy_b = None
        else:
            doutput = np.asarray(douts[0], dtype=self.dtype)
            if self.merge_mode == "concat":
                units = y.shape[-1]
                dy_f, dy_b = doutput[..., :units], doutput[..., units:]  # (B, [T,] U) each
            elif self.merge_mode == "sum":
                dy_f = dy_b = doutput
            elif self.merge_mode == "ave":
                dy_f = dy_b = doutput / self.dtype.type(2)
            else:  # mul
                dy_f, dy_b = doutput * y_rev, doutput * y
        if self.return_sequences and dy_b is not None:
            dy_b = np.asarray(dy_b)[:, ::-1]  # back to the backward layer's processing order
        if self.return_state:
            dy_f = [dy_f, *dstates[:n_states]]
            dy_b = [dy_b, *dstates[n_states:]]
        dx_f, grads_f, dinit_f = self.forward_layer.backward(dy_f, cache.forward, True)
        dx_b, grads_b, dinit_b = self.backward_layer.backward(dy_b, cache.backward, True)
        dx = dx_f + dx_b  # (B, T, D)
        grads = list(grads_f) + list(grads_b)
        if return_state_grads:
            return dx, grads, [*dinit_f, *dinit_b]
        return dx, grads

    # -- configs --------------------------------------------------------------------------
    def get_config(self) -> dict:
        """Keras 3's config: the base keys, ``merge_mode``, ``layer`` (the forward layer)
        and ``backward_layer``, each serialized."""
        config = super().get_config()
        config.update(
            merge_mode=self.merge_mode,
            layer=registry.serialize(self.forward_layer),
            backward_layer=registry.serialize(self.backward_layer),
        )
        return config

    @classmethod
    def from_config(cls, config: dict):
        """Rebuild from :meth:`get_config` output or a Keras config: the nested layers
        come from the registry only (an unregistered class is refused)."""
        config = dict(config)
        where = f"Bidirectional '{config.get('name', '?')}'"
        if "layer" not in config:
            raise ValueError(f"{where}: the config has no 'layer' (the layer to wrap)")
        for key in cls.NESTED_LAYER_KEYS:
            if isinstance(config.get(key), dict):
                config[key] = registry.deserialize(config[key], f"{where} {key}")
        return super().from_config(config)

    @classmethod
    def from_keras2_config(cls, config: dict, where: str) -> dict:
        """tf_keras made the backward layer with the *flipped* ``go_backwards`` and wrote
        no ``backward_layer`` for it: write that layer out (Keras 3 would make one with
        ``go_backwards=True``, the same unless the wrapped layer goes backwards)."""
        config = super().from_keras2_config(config, where)
        config.pop("num_constants", None)
        inner = config.get("layer")
        if config.get("backward_layer") is None and isinstance(inner, dict):
            inner_config = inner.get("config") or {}
            if inner_config.get("go_backwards"):
                backward = copy.deepcopy(inner)
                name = str(inner_config.get("name", "layer"))
                backward["config"]["go_backwards"] = False
                backward["config"]["name"] = f"backward_{_removeprefix(name, 'backward_')}"
                config["backward_layer"] = backward
        return config

    @classmethod
    def variable_tree(cls, config: dict) -> VarsNode:
        """The two inner layers' trees under ``forward_layer`` and ``backward_layer``,
        each named after its layer: ``layers/bidirectional/forward_layer/cell/vars/0``,
        ``bidirectional/forward_lstm/lstm_cell/kernel:0``."""
        layer = config.get("layer")
        if not isinstance(layer, dict):
            raise ValueError(
                f"Bidirectional '{config.get('name', '?')}': its variables depend on the "
                "wrapped layer: expected the config's 'layer' entry, received "
                f"{type(layer).__name__}"
            )
        name = str((layer.get("config") or {}).get("name", "layer"))
        backward = config.get("backward_layer")
        if not isinstance(backward, dict):
            backward = {**layer, "config": {**(layer.get("config") or {}),
                                            "name": f"backward_{_removeprefix(name, 'backward_')}"}}
        children = []
        for attr, entry, inner_name in (
            ("forward_layer", layer, f"forward_{_removeprefix(name, 'forward_')}"),
            ("backward_layer", backward, None),
        ):
            inner_config = entry.get("config") or {}
            inner_name = inner_name or str(inner_config.get("name"))
            tree = registry.get(entry.get("class_name"), "Bidirectional").variable_tree(
                inner_config
            )
            children.append((attr, dataclasses.replace(tree, name=inner_name,
                                                        legacy_scope=inner_name)))
        return VarsNode(children=tuple(children))


def _describe(layer) -> str:
    if isinstance(layer, Layer):
        return f"{type(layer).__name__} '{layer.name}'"
    return type(layer).__name__
