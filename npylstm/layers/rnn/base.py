"""``RNN``: what every recurrent layer shares, written once — as Keras's ``RNN`` wraps a cell.

Following ``keras/src/layers/rnn/rnn.py`` (``RNN.call``, ``get_initial_state``,
``reset_states``) and ``dropout_rnn_cell.py``: a recurrent layer checks its input
``(batch, timesteps, features)``, starts from zeros, from ``initial_state=[...]`` (one
``(batch, units)`` array per state) or — when ``stateful`` — from the states its last
call ended with, runs its cell over the sequence (``go_backwards`` reads it from the last
step to the first), and returns the last output ``(batch, units)``, every output
``(batch, timesteps, units)`` with ``return_sequences``, and ``[output, *states]`` with
``return_state``. Dropout masks are drawn once per call and reused at every timestep.

Masks (``mask=``, ``(batch, timesteps)`` booleans, True at real steps; Keras's
``RNN.call(mask=...)``): at a masked step the states are carried and the output repeats
the previous state (zeros with ``zero_output_for_mask``); see
:mod:`npylstm.ops.rnn_reference` for the exact rule, the JAX backend's. The output mask
(:meth:`RNN.compute_mask`) is the input mask with ``return_sequences`` and None without
(``return_sequences=False`` consumes the mask), as in Keras.

A subclass (``LSTM``) gives its Keras arguments, builds its weights, and names its cell
(:meth:`make_cell`); the kernel comes from :func:`npylstm.ops.get_kernel` for that cell and
the layer's backend, so a new cell works on the generic NumPy loop before it has a fast
kernel.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ... import regularizers
from ...ops import default_backend, get_backend, get_kernel
from ..base import (
    Layer,
    VarsNode,
    _snake_case,
    deserialize_initializer,
    serialize_initializer,
    serialize_regularizer,
)
from ..dropout import check_rate, dropout_mask, layer_rng
from ..serialization import serialize_constraint

__all__ = ["RNN", "RNNLayerCache"]


class RNNLayerCache(NamedTuple):
    """What a recurrent layer's forward hands to its backward."""

    op: object  # the kernel's own cache (LSTMCache for the Numba LSTM core, else RNNCache)
    kernel: object  # the kernel that ran (npylstm.ops.get_kernel)
    input_mask: np.ndarray | None  # (B, D) dropout mask applied to x, or None
    masked: bool = False  # the call had a time mask

    @property
    def backend(self) -> str:
        """The name of the kernel that ran: ``"numba"`` or ``"reference"``."""
        return self.kernel.name


def _cell_option(name: str) -> property:
    """A layer attribute whose new value discards the layer's cell (made again on use)."""
    slot = f"_{name}"

    def get(self):
        return self.__dict__[slot]

    def set(self, value):
        self.__dict__[slot] = value
        self.__dict__.pop("_cell", None)

    return property(get, set, doc=f"The layer's {name} (its cell is made from it).")


class RNN(Layer):
    """Base class of the recurrent layers (not registered: Keras's ``RNN(cell)`` wrapper
    form needs serializable cells, which come later).

    Subclasses set ``self.units`` and the cell options, call :meth:`_init_rnn` with the
    options every recurrent layer has, and implement :meth:`make_cell` and ``build``.
    """

    WEIGHT_NAMES = ("kernel", "recurrent_kernel", "bias")
    ACTIVATION_KEYS = ("activation", "recurrent_activation")
    KERAS2_ONLY = {"time_major": False}
    KERAS3_ONLY = ("seed", "zero_output_for_mask")

    def _init_rnn(
        self, *, units, activation, use_bias, kernel_initializer, recurrent_initializer,
        bias_initializer, kernel_regularizer, recurrent_regularizer, bias_regularizer,
        activity_regularizer, kernel_constraint, recurrent_constraint, bias_constraint,
        dropout, recurrent_dropout, seed, return_sequences, return_state, go_backwards,
        stateful, unroll, zero_output_for_mask, backend,
    ) -> None:
        """The arguments every Keras recurrent layer has (``RNN`` and its cell's)."""
        self.units = self._check_units(units)
        self.activation = self._elementwise_activation("activation", activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = deserialize_initializer(kernel_initializer)
        self.recurrent_initializer = deserialize_initializer(recurrent_initializer)
        self.bias_initializer = deserialize_initializer(bias_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.recurrent_regularizer = regularizers.get(recurrent_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self.activity_regularizer = regularizers.get(activity_regularizer)
        self._set_constraints(kernel_constraint=kernel_constraint,
                              recurrent_constraint=recurrent_constraint,
                              bias_constraint=bias_constraint)
        self.zero_output_for_mask = bool(zero_output_for_mask)
        self.dropout = check_rate(self, "dropout", dropout)
        self.recurrent_dropout = check_rate(self, "recurrent_dropout", recurrent_dropout)
        self.seed = seed
        self._rng = layer_rng(seed)  # dropout masks
        self.return_sequences = bool(return_sequences)
        self.return_state = bool(return_state)
        self.go_backwards = bool(go_backwards)
        self.stateful = bool(stateful)
        self.unroll = bool(unroll)  # a graph-compilation hint in Keras; no effect here
        if backend is not None:
            get_backend(backend)  # validates the name now rather than at the first call
        self.backend = backend
        self.states: list[np.ndarray] | None = None  # carried states when stateful

    #: The attributes a subclass's cell is made from: setting one makes a new cell
    #: (``layer.activation = "relu"`` takes effect on the next call).
    CELL_OPTIONS: tuple[str, ...] = ()

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        for name in cls.__dict__.get("CELL_OPTIONS", ()):
            setattr(cls, name, _cell_option(name))

    @property
    def cell(self):
        """The step equations of this layer (an :class:`npylstm.cells.Cell`)."""
        cell = self.__dict__.get("_cell")
        if cell is None:
            cell = self.__dict__["_cell"] = self.make_cell()
        return cell

    def make_cell(self):  # pragma: no cover - abstract
        """A new cell from the layer's current options (:attr:`CELL_OPTIONS`)."""
        raise NotImplementedError

    def _kernel(self, cell, gate_masks: bool = False, time_mask: bool = False):
        """The kernel for ``cell`` on this layer's backend (remembered between calls: the
        lookup is per-call overhead on a streaming model)."""
        backend = self.backend or default_backend()
        key = (backend, gate_masks, time_mask)
        memo = self.__dict__.get("_kernel_memo")
        if memo is not None and memo[0] is cell and memo[1] == key:
            return memo[2]
        kernel = get_kernel(cell, backend, gate_masks=gate_masks, time_mask=time_mask)
        self.__dict__["_kernel_memo"] = (cell, key, kernel)
        return kernel

    # -- what the registry and the files need ------------------------------------------
    @classmethod
    def from_keras2_config(cls, config: dict, where: str) -> dict:
        if config.get("time_major"):
            raise ValueError(f"{where} has time_major=True, not supported")
        return super().from_keras2_config(config, where)

    @classmethod
    def variable_tree(cls, config: dict) -> VarsNode:
        """An RNN keeps its variables in its cell: ``layers/lstm/cell/vars/0`` in Keras 3,
        ``lstm/lstm_cell/kernel:0`` in a legacy file."""
        cell_name = f"{_snake_case(cls.keras_class_name)}_cell"  # simple_rnn_cell, as Keras
        cell = VarsNode(weights=cls._weight_names(config), name=cell_name,
                        legacy_scope=cell_name)
        return VarsNode(children=(("cell", cell),))

    # -- building -------------------------------------------------------------------------
    def build(self, input_shape) -> None:
        """Keras's weights for the cell's packing (``cell.weight_shapes``), initialized in
        ``get_weights()`` order as the Keras cell's ``build`` does."""
        input_dim = self._check_build_shape(input_shape)
        shapes = self.cell.weight_shapes(input_dim, self.units, self.use_bias)
        self._weights = []
        self.kernel = self.add_weight(
            "kernel", self.kernel_initializer(shapes["kernel"], self.dtype), self.kernel_constraint
        ).value  # (D, nU)
        self.recurrent_kernel = self.add_weight(
            "recurrent_kernel", self.recurrent_initializer(shapes["recurrent_kernel"], self.dtype),
            self.recurrent_constraint,
        ).value  # (U, nU)
        self.bias = None
        if self.use_bias:
            self.bias = self.add_weight("bias", self._initial_bias(shapes["bias"]),
                                        self.bias_constraint).value
        super().build(input_shape)

    def _initial_bias(self, shape) -> np.ndarray:
        """The bias's initial value (LSTM's ``unit_forget_bias`` overrides this)."""
        return self.bias_initializer(shape, self.dtype)

    def weight_regularizers(self) -> list:
        regs = [self.kernel_regularizer, self.recurrent_regularizer]
        return regs + ([self.bias_regularizer] if self.use_bias else [])

    #: The keys of the cell's config a subclass adds, in Keras's order, after ``units``,
    #: ``activation`` (e.g. ``("recurrent_activation",)``) — and after the initializers
    #: (:attr:`CONFIG_AFTER_INITIALIZERS`, LSTM's ``unit_forget_bias``).
    CONFIG_AFTER_ACTIVATION: tuple[str, ...] = ()
    CONFIG_AFTER_INITIALIZERS: tuple[str, ...] = ()
    CONFIG_AT_END: tuple[str, ...] = ()
    #: Keras writes the dropout ``seed`` (SimpleRNN's config has none).
    CONFIG_SEED: bool = True

    def get_config(self) -> dict:
        """Keras 3's config: the ``RNN`` keys, then the cell's, initializers and
        regularizers serialized as Keras writes them."""
        config = super().get_config()
        config.pop("activity_regularizer", None)  # placed below, in Keras's key order
        config.update(
            return_sequences=self.return_sequences,
            return_state=self.return_state,
            go_backwards=self.go_backwards,
            stateful=self.stateful,
            unroll=self.unroll,
            zero_output_for_mask=self.zero_output_for_mask,
            units=self.units,
            activation=self.activation,
        )
        config.update({key: getattr(self, key) for key in self.CONFIG_AFTER_ACTIVATION})
        config.update(
            use_bias=self.use_bias,
            kernel_initializer=serialize_initializer(self.kernel_initializer),
            recurrent_initializer=serialize_initializer(self.recurrent_initializer),
            bias_initializer=serialize_initializer(self.bias_initializer),
        )
        config.update({key: getattr(self, key) for key in self.CONFIG_AFTER_INITIALIZERS})
        config.update(
            kernel_regularizer=serialize_regularizer(self.kernel_regularizer),
            recurrent_regularizer=serialize_regularizer(self.recurrent_regularizer),
            bias_regularizer=serialize_regularizer(self.bias_regularizer),
            activity_regularizer=serialize_regularizer(self.activity_regularizer),
            kernel_constraint=serialize_constraint(self.kernel_constraint),
            recurrent_constraint=serialize_constraint(self.recurrent_constraint),
            bias_constraint=serialize_constraint(self.bias_constraint),
            dropout=self.dropout,
            recurrent_dropout=self.recurrent_dropout,
        )
        config.update({key: getattr(self, key) for key in self.CONFIG_AT_END})
        if self.CONFIG_SEED:
            config["seed"] = self.seed
        return config

    @property
    def input_dim(self) -> int | None:
        return None if not self.built else self.kernel.shape[0]

    def _check_build_shape(self, input_shape) -> int:
        """The feature count of a build shape ``(batch, timesteps, features)``."""
        input_shape = tuple(input_shape)
        if len(input_shape) != 3:
            raise self._error(
                f"expected an input shape (batch, timesteps, features), received {input_shape}"
            )
        return self._feature_count(input_shape)

    def input_shape_from_weights(self, weights) -> tuple | None:
        weights = list(weights)
        if weights and np.ndim(weights[0]) == 2:  # kernel (D, n*U): the input has D features
            return (None, None, int(np.shape(weights[0])[0]))
        return None

    def param_rule(self) -> tuple[str, str]:
        if not self.built:
            raise self._error("param_rule() needs a built layer")
        return self.cell.param_rule(self.input_dim, self.units, self.use_bias)

    def param_formula(self) -> str:
        """This layer's parameter count written out, e.g. ``4 × 64 × (2 + 64 + 1) = 17,152``."""
        if not self.built:
            raise self._error("param_formula() needs a built layer")
        return self.param_rule()[1]

    def compute_output_shape(self, input_shape):
        input_shape = tuple(input_shape)
        if len(input_shape) != 3:
            raise self._error(
                f"expected an input shape (batch, timesteps, features), received {input_shape}"
            )
        batch, timesteps = input_shape[0], input_shape[1]
        if self.return_sequences:
            output_shape = (batch, timesteps, self.units)
        else:
            output_shape = (batch, self.units)
        if self.return_state:
            state_shape = (batch, self.units)
            # a tuple, as Keras returns
            return (output_shape, *[state_shape] * len(self.cell.STATES))
        return output_shape

    USES_MASK = True

    def compute_mask(self, x, mask):
        """The output's mask: the input's with ``return_sequences``, else None (the
        states never carry one): Keras's ``RNN.compute_mask``."""
        output_mask = mask if self.return_sequences else None
        if self.return_state:
            return [output_mask] + [None] * len(self.cell.STATES)
        return output_mask

    # -- checking inputs ------------------------------------------------------------------
    def _check_mask(self, mask, x: np.ndarray):
        """The time mask as ``(batch, timesteps)`` booleans, None when absent or when every
        step is real (then the fast kernels run, with the same numbers)."""
        if mask is None:
            return None
        mask = np.asarray(mask)
        if mask.ndim == 3 and mask.shape[2] == 1:
            mask = mask[:, :, 0]
        if mask.shape != x.shape[:2]:
            raise self._error(
                f"expected a mask of shape (batch, timesteps) = {x.shape[:2]}, "
                f"received {mask.shape}"
            )
        if mask.dtype != bool:
            if not (np.issubdtype(mask.dtype, np.number) and np.isin(mask, (0, 1)).all()):
                raise self._error(
                    f"expected a boolean mask (or 0/1), received dtype {mask.dtype}"
                )
            mask = mask.astype(bool)
        return None if mask.all() else mask

    def _check_input(self, x) -> np.ndarray:
        if (isinstance(x, np.ndarray) and x.dtype == self.dtype and x.ndim == 3 and self.built
                and x.shape[1] > 0 and x.shape[2] == self.input_dim and x.flags.c_contiguous):
            return x  # already what the kernels take (the fast path for small batches)
        x = self._as_float_array(x)
        if x.ndim != 3:
            raise self._error(
                f"expected input of shape (batch, timesteps, features), "
                f"received a {x.ndim}-D input of shape {x.shape}"
            )
        if x.shape[1] == 0:
            raise self._error(f"expected at least one timestep, received input of shape {x.shape}")
        if not self.built:
            self.build((None, *x.shape[1:]))
        if x.shape[2] != self.input_dim:
            raise self._error(
                f"input has {x.shape[2]} features, kernel expects {self.input_dim} "
                f"(input shape {x.shape}, kernel shape {self.kernel.shape})"
            )
        return np.ascontiguousarray(x)

    def _initial_state(self, initial_state, batch: int) -> list[np.ndarray]:
        names = self.cell.STATES
        expected = (batch, self.units)
        if initial_state is None:
            if self.stateful and self.states is not None:
                if self.states[0].shape != expected:
                    raise self._error(
                        f"stateful layer carries states for batch size {self.states[0].shape[0]}, "
                        f"received a batch of {batch}: a stateful layer keeps its batch size "
                        f"(call reset_states() to start again with another)"
                    )
                return list(self.states)
            return [np.zeros(expected, dtype=self.dtype) for _ in names]  # one array each
        if not isinstance(initial_state, list | tuple) or len(initial_state) != len(names):
            count = len(initial_state) if isinstance(initial_state, list | tuple) else 1
            what = {1: "one array", 2: "two arrays"}.get(len(names), f"{len(names)} arrays")
            raise self._error(
                f"expected initial_state to be a list of {what} [{', '.join(names)}], "
                f"received {count}"
            )
        states = []
        for sname, state in zip(names, initial_state, strict=True):
            state = self._as_float_array(state)
            if state.shape != expected:
                raise self._error(
                    f"initial_state {sname} expected shape {expected}, received {state.shape}"
                )
            states.append(np.ascontiguousarray(state))
        return states

    def reset_states(self) -> None:
        """Forget the carried state of a ``stateful`` layer (Keras's name; the next call
        starts from zeros)."""
        self.states = None

    reset_state = reset_states  # Keras 3 has both spellings

    def zero_states(self, batch_size: int) -> list[np.ndarray]:
        """Zero states for :meth:`step`, one ``(batch_size, units)`` array per cell state."""
        return [np.zeros((batch_size, self.units), dtype=self.dtype) for _ in self.cell.STATES]

    def step(self, x_t, states):
        """One timestep with explicit state, for online prediction: ``(output, new_states)``.

        ``x_t`` is ``(batch, features)`` or ``(batch, 1, features)``; ``states`` a list in
        the cell's :attr:`~npylstm.cells.Cell.STATES` order (:meth:`zero_states` to start).
        ``output`` is what the layer returns for a one-step sequence — ``(batch, 1, units)``
        with ``return_sequences``, else ``(batch, units)`` — and ``new_states`` are the
        states after the step. Nothing is stored on the layer (``stateful`` and its
        carried states are untouched): the caller owns the state.

        >>> import numpy as np
        >>> from npylstm.layers import GRU
        >>> layer = GRU(2)
        >>> x = np.ones((1, 3, 4), dtype="float32")
        >>> states = layer.zero_states(1)
        >>> for t in range(3):
        ...     y, states = layer.step(x[:, t], states)
        >>> bool(np.allclose(y, layer(x), atol=1e-6))
        True
        """
        x = np.asarray(x_t)
        if x.ndim == 2:
            x = x[:, None, :]  # (B, 1, D)
        if x.ndim != 3 or x.shape[1] != 1:
            raise self._error(
                f"step() expected one timestep, (batch, features) or (batch, 1, features), "
                f"received shape {np.shape(x_t)}"
            )
        x = self._check_input(x)
        cell = self.cell
        if not self._states_ready(states, cell, x.shape[0]):
            states = self._initial_state(list(states), x.shape[0])  # checks and converts
        h_seq, new_states = self._kernel(cell).inference(
            cell, x, states, self.kernel, self.recurrent_kernel, self.bias, False
        )
        # new arrays every call (the kernels never return their inputs), so the caller may
        # keep them
        output = h_seq if self.return_sequences else new_states[0]
        return output, list(new_states)

    def _states_ready(self, states, cell, batch: int) -> bool:
        """Whether ``states`` are already what the kernels take (a list of C-contiguous
        ``(batch, units)`` arrays of the layer's dtype, one per cell state): then
        :meth:`step` passes them on unchecked (what a stream hands back every call)."""
        if not isinstance(states, list) or len(states) != len(cell.STATES):
            return False
        expected, dtype = (batch, self.units), self.dtype
        for state in states:
            if not (isinstance(state, np.ndarray) and state.dtype == dtype
                    and state.shape == expected and state.flags.c_contiguous):
                return False
        return True

    # -- computing ------------------------------------------------------------------------

    def _dropout_masks(self, rng, batch: int, input_dim: int):
        """Keras's masks for one training call: ``(input_mask, input_masks, recurrent_masks)``.

        With only ``dropout``, one ``(batch, input_dim)`` mask on ``x`` shared by every gate
        (Keras's implementation 2). With ``recurrent_dropout > 0``, Keras's implementation 1:
        one input mask (when ``dropout > 0``) and one recurrent mask per gate, drawn in that
        order.
        """
        n = self.cell.n_gates
        if self.recurrent_dropout > 0:
            input_masks = None
            if self.dropout > 0:
                input_masks = dropout_mask(rng, (n, batch, input_dim), self.dropout, self.dtype)
            recurrent_masks = dropout_mask(
                rng, (n, batch, self.units), self.recurrent_dropout, self.dtype
            )  # (n, B, U)
            return None, input_masks, recurrent_masks
        if self.dropout > 0:
            # one input mask (B, D) shared by the gates, the same at every timestep
            return dropout_mask(rng, (batch, input_dim), self.dropout, self.dtype), None, None
        return None, None, None

    def forward(self, x, training: bool = False, rng=None, initial_state=None, mask=None):
        """Run the layer; returns ``(outputs, cache)`` for :meth:`backward`."""
        x = self._check_input(x)
        mask = self._check_mask(mask, x)
        states = self._initial_state(initial_state, x.shape[0])
        input_mask = input_masks = recurrent_masks = None
        if training:
            rng = self._rng if rng is None else rng
            input_mask, input_masks, recurrent_masks = self._dropout_masks(
                rng, x.shape[0], x.shape[2]
            )
        if input_mask is not None:
            x = x * input_mask[:, None, :]  # (B, T, D)
        cell = self.cell
        kernel = self._kernel(cell, gate_masks=recurrent_masks is not None,
                              time_mask=mask is not None)
        h_seq, last_states, op_cache = kernel.forward(
            cell, x, states, self.kernel, self.recurrent_kernel, self.bias, self.go_backwards,
            input_masks, recurrent_masks, mask, self.zero_output_for_mask,
        )
        outputs = self._outputs(h_seq, last_states, mask is not None)
        return outputs, RNNLayerCache(op_cache, kernel, input_mask, mask is not None)

    def _outputs(self, h_seq, last_states, masked: bool = False):
        """What the layer returns (and, when ``stateful``, the states it carries on). The
        last output is the last step's (``h_seq[:, -1]``: zeros with
        ``zero_output_for_mask`` at a masked last step), the same as ``h`` otherwise."""
        if self.stateful:
            self.states = list(map(np.ndarray.copy, last_states))
        if self.return_sequences:
            output = h_seq
        else:
            output = h_seq[:, -1] if masked and self.zero_output_for_mask else last_states[0]
        return [output, *last_states] if self.return_state else output

    def __call__(self, x, initial_state=None, training: bool = False, mask=None):
        if training and (self.dropout > 0 or self.recurrent_dropout > 0):
            outputs, _ = self.forward(x, training=training, initial_state=initial_state,
                                      mask=mask)
            return outputs
        # a prediction: the kernel's forward without the cache backward would need
        x = self._check_input(x)
        mask = self._check_mask(mask, x)
        states = self._initial_state(initial_state, x.shape[0])
        cell = self.cell
        h_seq, last_states = self._kernel(cell, time_mask=mask is not None).inference(
            cell, x, states, self.kernel, self.recurrent_kernel, self.bias, self.go_backwards,
            mask, self.zero_output_for_mask,
        )
        return self._outputs(h_seq, last_states, mask is not None)

    # -- one call in a functional graph: initial_state= is a tensor argument --------------
    def graph_forward(self, args, kwargs, masks, training):
        outputs, cache = Layer.graph_forward(self, args, kwargs, masks, training)
        return outputs, (cache, kwargs.get("initial_state") is not None)

    def graph_call(self, args, kwargs, masks, training):
        """The layer's ``__call__`` (its backend's cache-free inference path)."""
        kwargs = dict(kwargs)
        if "mask" not in kwargs and masks and masks[0] is not None:
            kwargs["mask"] = masks[0]
        return self(*args, training=training, **kwargs)

    def graph_backward(self, dy, cache):
        """``([dx], {"initial_state": [dh, (dc)]}, grads)`` when the call had
        ``initial_state`` (the seq2seq decoder's gradient reaches the encoder's states)."""
        cache, has_initial_state = cache
        if not has_initial_state:
            dx, grads = self.backward(dy, cache)
            return [dx], {}, grads
        dx, grads, dstates = self.backward(dy, cache, return_state_grads=True)
        return [dx], {"initial_state": list(dstates)}, grads

    def backward(self, dy, cache: RNNLayerCache, return_state_grads: bool = False):
        """Gradients for :meth:`forward`.

        ``dy`` is the gradient of what forward returned (a list ``[doutput, *dstates]`` with
        ``return_state``; entries may be None). Returns ``(dx, grads)`` with ``grads`` in
        ``get_weights()`` order, or ``(dx, grads, dinitial_states)`` with
        ``return_state_grads``.
        """
        n_states = len(self.cell.STATES)
        if self.return_state:
            doutput, *dstates = (list(dy) + [None] * n_states)[: 1 + n_states]
        else:
            doutput, dstates = dy, [None] * n_states
        dh_seq = None
        if doutput is not None:
            if self.return_sequences:
                dh_seq = np.asarray(doutput, dtype=self.dtype)
            elif cache.masked and self.zero_output_for_mask:
                # the last output is the last step's output, not the last state
                doutput = np.asarray(doutput, dtype=self.dtype)
                dh_seq = np.zeros((*doutput.shape[:1], cache.op.x.shape[1], self.units),
                                  dtype=self.dtype)  # (B, T, U)
                dh_seq[:, -1] = doutput
            else:
                dstates[0] = doutput if dstates[0] is None else dstates[0] + doutput
        dx, dinitial, grads = cache.kernel.backward(self.cell, dh_seq, dstates, cache.op)
        if cache.input_mask is not None:
            dx = dx * cache.input_mask[:, None, :]
        if return_state_grads:
            return dx, grads, dinitial
        return dx, grads
