"""The Keras ``LSTM`` layer: Keras's arguments, defaults, weight layout and outputs.

>>> import numpy as np
>>> from npylstm.layers import LSTM
>>> layer = LSTM(3, return_sequences=True)
>>> layer(np.zeros((2, 5, 4), dtype="float32")).shape
(2, 5, 3)
>>> [w.name for w in layer.weights], layer.count_params()
(['kernel', 'recurrent_kernel', 'bias'], 96)
"""

from __future__ import annotations

import numbers
from typing import NamedTuple

import numpy as np

from .. import activations, initializers, regularizers
from ..gates import GATES, join_gates, lstm_param_count, lstm_param_formula, split_gates
from ..ops import LSTMCache, default_backend, get_backend
from ..registry import register
from .base import (
    ANY_VALUE,
    Layer,
    VarsNode,
    deserialize_initializer,
    serialize_initializer,
    serialize_regularizer,
)
from .dropout import dropout_mask, layer_rng

__all__ = ["LSTM"]


def _check_rate(layer: Layer, name: str, rate) -> float:
    if not isinstance(rate, numbers.Real) or not 0.0 <= float(rate) < 1.0:
        raise layer._error(f"expected {name} in [0, 1), received {rate!r}")
    return float(rate)


class _LSTMLayerCache(NamedTuple):
    op: LSTMCache | _GateMaskCache
    backend: str
    input_mask: np.ndarray | None  # (B, D) dropout mask applied to x, or None


# -- recurrent dropout: Keras's "implementation 1" ---------------------------------------------
# With recurrent_dropout > 0 Keras computes each gate separately, with its own input mask and
# its own recurrent mask (four of each, drawn once per batch and reused at every timestep):
#
#     z_g = (x_t * dp_mask[g]) @ kernel_g + (h_tm1 * rec_dp_mask[g]) @ recurrent_kernel_g + bias_g
#
# for g in i, f, c, o. The packed kernels cannot absorb per-gate masks, so this path runs in
# NumPy only (whatever the backend); the gate equations are those of ops/lstm_reference.py.


class _GateMaskCache(NamedTuple):
    xs: np.ndarray  # (B, T, D) the input in processing order
    h0: np.ndarray  # (B, U)
    c0: np.ndarray  # (B, U)
    kernel: np.ndarray  # (D, 4U)
    recurrent_kernel: np.ndarray  # (U, 4U)
    bias: np.ndarray | None  # (4U,)
    dp_mask: np.ndarray | None  # (4, B, D) input masks per gate, or None
    rec_dp_mask: np.ndarray  # (4, B, U) recurrent masks per gate
    z: np.ndarray  # (B, T, 4U) gate pre-activations
    c: np.ndarray  # (B, T, U) carries
    h: np.ndarray  # (B, T, U) outputs
    activation: str
    recurrent_activation: str
    go_backwards: bool


def _lstm_forward_gate_masks(
    x, h0, c0, kernel, recurrent_kernel, bias, dp_mask, rec_dp_mask,
    activation: str, recurrent_activation: str, go_backwards: bool,
):
    """Keras's implementation-1 LSTM with per-gate dropout masks (training only).

    Returns ``(h_seq, h_last, c_last, cache)`` like ``ops.lstm_forward``.
    """
    σ = activations.get(recurrent_activation)
    φ = activations.get(activation)
    batch, timesteps, _ = x.shape
    units = recurrent_kernel.shape[0]
    xs = x[:, ::-1] if go_backwards else x  # (B, T, D) processing order
    kernels = split_gates(kernel)  # 4 x (D, U)
    recurrent_kernels = split_gates(recurrent_kernel)  # 4 x (U, U)
    # every gate sees its own masked copy of the input: x_g = (x * dp_mask[g]) @ kernel_g
    x_gates = [
        (xs if dp_mask is None else xs * dp_mask[g][:, None, :]) @ kernels[g]
        for g in range(4)
    ]  # 4 x (B, T, U)
    xz = join_gates(*x_gates)  # (B, T, 4U)
    if bias is not None:
        xz += bias
    z = np.empty((batch, timesteps, 4 * units), dtype=x.dtype)  # (B, T, 4U)
    c = np.empty((batch, timesteps, units), dtype=x.dtype)  # (B, T, U)
    h = np.empty((batch, timesteps, units), dtype=x.dtype)  # (B, T, U)
    h_tm1, c_tm1 = h0, c0
    for t in range(timesteps):
        # ... and its own masked copy of h_tm1: (h_tm1 * rec_dp_mask[g]) @ recurrent_kernel_g
        z_t = xz[:, t] + join_gates(
            *[(h_tm1 * rec_dp_mask[g]) @ recurrent_kernels[g] for g in range(4)]
        )  # (B, 4U)
        z_i, z_f, z_c, z_o = split_gates(z_t)  # 4 x (B, U)
        i, f, g_, o = σ(z_i), σ(z_f), φ(z_c), σ(z_o)
        c_t = f * c_tm1 + i * g_  # (B, U)
        h_t = o * φ(c_t)  # (B, U)
        z[:, t], c[:, t], h[:, t] = z_t, c_t, h_t
        h_tm1, c_tm1 = h_t, c_t
    cache = _GateMaskCache(
        xs, h0, c0, kernel, recurrent_kernel, bias, dp_mask, rec_dp_mask, z, c, h,
        φ.name, σ.name, bool(go_backwards),
    )
    return h, h_tm1, c_tm1, cache


def _lstm_backward_gate_masks(dh_seq, dh_last, dc_last, cache: _GateMaskCache):
    """Backpropagation through time for :func:`_lstm_forward_gate_masks`.

    Returns ``(dx, dh0, dc0, dkernel, drecurrent_kernel, dbias)`` like ``ops.lstm_backward``.
    """
    xs, h0, c0, kernel, recurrent_kernel, bias, dp_mask, rec_dp_mask, z, c, h = cache[:11]
    σ = activations.get(cache.recurrent_activation)
    φ = activations.get(cache.activation)
    batch, timesteps, input_dim = xs.shape
    units = recurrent_kernel.shape[0]
    kernels = split_gates(kernel)  # 4 x (D, U)
    recurrent_kernels = split_gates(recurrent_kernel)  # 4 x (U, U)
    dz = np.empty_like(z)  # (B, T, 4U)
    dh_next = np.zeros_like(h0) if dh_last is None else dh_last  # (B, U)
    dc_next = np.zeros_like(c0) if dc_last is None else dc_last  # (B, U)
    for t in reversed(range(timesteps)):
        z_i, z_f, z_c, z_o = split_gates(z[:, t])  # 4 x (B, U)
        i, f, g_, o = σ(z_i), σ(z_f), φ(z_c), σ(z_o)
        c_tm1 = c[:, t - 1] if t > 0 else c0
        c_t = c[:, t]
        φ_c = φ(c_t)
        # backprop into h_t, then o and c_t through h_t = o * φ(c_t)
        dh = dh_next if dh_seq is None else dh_next + dh_seq[:, t]  # (B, U)
        do = dh * φ_c
        dc = dc_next + dh * o * φ.grad(c_t, φ_c)  # (B, U)
        # backprop through c_t = f * c_tm1 + i * g
        dc_next = dc * f
        dz_gates = (
            dc * g_ * σ.grad(z_i, i), dc * c_tm1 * σ.grad(z_f, f),
            dc * i * φ.grad(z_c, g_), do * σ.grad(z_o, o),
        )  # 4 x (B, U)
        dz[:, t] = join_gates(*dz_gates)
        # backprop into h_tm1 through each gate's (h_tm1 * rec_dp_mask[g]) @ recurrent_kernel_g
        dh_next = sum(
            (dz_gates[g] @ recurrent_kernels[g].T) * rec_dp_mask[g] for g in range(4)
        )  # (B, U)
    # backprop into x and the weights, one gate block at a time
    dz_gates = split_gates(dz)  # 4 x (B, T, U)
    h_prev = np.concatenate([h0[:, None], h[:, :-1]], axis=1)  # (B, T, U) the h_tm1 of each step
    dxs = np.zeros_like(xs)  # (B, T, D)
    dkernels, drecurrent_kernels = [], []
    for g in range(4):
        dz_g = dz_gates[g].reshape(batch * timesteps, units)  # (B*T, U)
        x_g = xs if dp_mask is None else xs * dp_mask[g][:, None, :]  # (B, T, D)
        dx_g = dz_gates[g] @ kernels[g].T  # (B, T, D)
        dxs += dx_g if dp_mask is None else dx_g * dp_mask[g][:, None, :]
        dkernels.append(x_g.reshape(batch * timesteps, input_dim).T @ dz_g)  # (D, U)
        h_g = h_prev * rec_dp_mask[g][:, None, :]  # (B, T, U)
        drecurrent_kernels.append(h_g.reshape(batch * timesteps, units).T @ dz_g)  # (U, U)
    dx = dxs[:, ::-1] if cache.go_backwards else dxs
    dbias = None if bias is None else dz.reshape(batch * timesteps, 4 * units).sum(axis=0)
    return (
        np.ascontiguousarray(dx), dh_next, dc_next,
        join_gates(*dkernels), join_gates(*drecurrent_kernels), dbias,
    )


@register("LSTM")
class LSTM(Layer):
    """Long Short-Term Memory layer with Keras 3's arguments and defaults.

    Weights (``get_weights()`` order): ``kernel (input_dim, 4*units)``,
    ``recurrent_kernel (units, 4*units)``, ``bias (4*units,)`` (absent with
    ``use_bias=False``), gate blocks in i, f, c, o order.

    Calling the layer on ``x (batch, timesteps, input_dim)`` returns the last output
    ``(batch, units)``, or every output ``(batch, timesteps, units)`` with
    ``return_sequences=True``; with ``return_state=True`` it returns ``[output, h, c]``.

    ``backend`` chooses the kernel (``"numba"`` or ``"reference"``); None follows
    :func:`npylstm.set_backend` / ``NPYLSTM_BACKEND``.

    Training (``forward(x, training=True)``) applies Keras's dropout masks, drawn once per
    call from ``rng`` (or the layer's generator, seeded by ``seed``) and reused at every
    timestep: with only ``dropout``, one ``(batch, input_dim)`` mask on ``x`` shared by the
    four gates (any backend); with ``recurrent_dropout > 0``, Keras's implementation 1 —
    four input masks and four ``(batch, units)`` masks on ``h_tm1``, one per gate — computed
    in NumPy whatever the backend. At inference both are off.
    """

    WEIGHT_NAMES = ("kernel", "recurrent_kernel", "bias")
    ACTIVATION_KEYS = ("activation", "recurrent_activation")
    # Without masks (not supported yet) zero_output_for_mask changes nothing.
    KERAS_IGNORED = {"zero_output_for_mask": ANY_VALUE}
    KERAS2_ONLY = {"time_major": False, "implementation": 2}
    KERAS3_ONLY = ("seed", "zero_output_for_mask")

    @classmethod
    def from_keras2_config(cls, config: dict, where: str) -> dict:
        if config.get("time_major"):
            raise ValueError(f"{where} has time_major=True, not supported")
        return super().from_keras2_config(config, where)

    @classmethod
    def variable_tree(cls, config: dict) -> VarsNode:
        """An RNN keeps its variables in its cell: ``layers/lstm/cell/vars/0`` in Keras 3,
        ``lstm/lstm_cell/kernel:0`` in a legacy file."""
        cell = VarsNode(weights=cls._weight_names(config), name="lstm_cell",
                        legacy_scope="lstm_cell")
        return VarsNode(children=(("cell", cell),))

    def __init__(
        self,
        units: int,
        activation: str | None = "tanh",
        recurrent_activation: str | None = "sigmoid",
        use_bias: bool = True,
        kernel_initializer="glorot_uniform",
        recurrent_initializer="orthogonal",
        bias_initializer="zeros",
        unit_forget_bias: bool = True,
        kernel_regularizer=None,
        recurrent_regularizer=None,
        bias_regularizer=None,
        activity_regularizer=None,
        kernel_constraint=None,
        recurrent_constraint=None,
        bias_constraint=None,
        dropout: float = 0.0,
        recurrent_dropout: float = 0.0,
        seed: int | None = None,
        return_sequences: bool = False,
        return_state: bool = False,
        go_backwards: bool = False,
        stateful: bool = False,
        unroll: bool = False,
        backend: str | None = None,
        name: str | None = None,
        dtype="float32",
        input_shape=None,
        trainable: bool = True,
    ):
        super().__init__(name=name, dtype=dtype, input_shape=input_shape, trainable=trainable)
        self.units = self._check_units(units)
        self.activation = activations.get(activation).name
        self.recurrent_activation = activations.get(recurrent_activation).name
        self.use_bias = bool(use_bias)
        self.kernel_initializer = deserialize_initializer(kernel_initializer)
        self.recurrent_initializer = deserialize_initializer(recurrent_initializer)
        self.bias_initializer = deserialize_initializer(bias_initializer)
        self.unit_forget_bias = bool(unit_forget_bias)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.recurrent_regularizer = regularizers.get(recurrent_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self.activity_regularizer = regularizers.get(activity_regularizer)
        self._refuse_constraints(
            kernel_constraint=kernel_constraint,
            recurrent_constraint=recurrent_constraint,
            bias_constraint=bias_constraint,
        )
        self.dropout = _check_rate(self, "dropout", dropout)
        self.recurrent_dropout = _check_rate(self, "recurrent_dropout", recurrent_dropout)
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
        self.states: list[np.ndarray] | None = None  # carried [h, c] when stateful

    # -- building -------------------------------------------------------------------------
    @property
    def input_dim(self) -> int | None:
        return None if not self.built else self.kernel.shape[0]

    def build(self, input_shape) -> None:
        input_shape = tuple(input_shape)
        if len(input_shape) != 3:
            raise self._error(
                f"expected an input shape (batch, timesteps, features), received {input_shape}"
            )
        input_dim = input_shape[-1]
        if not isinstance(input_dim, numbers.Integral) or input_dim <= 0:
            raise self._error(f"expected a known, positive feature count, received {input_shape}")
        units, dtype = self.units, self.dtype
        self._weights = []
        self.kernel = self.add_weight(
            "kernel", self.kernel_initializer((input_dim, 4 * units), dtype)
        ).value  # (D, 4U)
        self.recurrent_kernel = self.add_weight(
            "recurrent_kernel", self.recurrent_initializer((units, 4 * units), dtype)
        ).value  # (U, 4U)
        self.bias = None
        if self.use_bias:
            if self.unit_forget_bias:
                bias = initializers.unit_forget_bias(self.bias_initializer, units, dtype)
            else:
                bias = self.bias_initializer((4 * units,), dtype)
            self.bias = self.add_weight("bias", bias).value  # (4U,)
        super().build(input_shape)

    def input_shape_from_weights(self, weights) -> tuple | None:
        weights = list(weights)
        if weights and np.ndim(weights[0]) == 2:  # kernel (D, 4U): the input has D features
            return (None, None, int(np.shape(weights[0])[0]))
        return None

    def set_weights(self, weights) -> None:
        weights = list(weights)
        shape = self.input_shape_from_weights(weights)
        if not self.built and shape is not None:
            # Keras refuses weights on an unbuilt layer; the kernel tells us the input size.
            self.build(shape)
        super().set_weights(weights)

    def gate_weights(self) -> dict[str, dict[str, np.ndarray]]:
        """Per-gate views into the packed weights: ``{"i": {"kernel": ..., ...}, ...}``."""
        if not self.built:
            raise self._error("gate_weights() needs a built layer")
        packed = {"kernel": self.kernel, "recurrent_kernel": self.recurrent_kernel}
        if self.bias is not None:
            packed["bias"] = self.bias
        views = {gate: {} for gate in GATES}
        for wname, array in packed.items():
            for gate, block in zip(GATES, split_gates(array), strict=True):
                views[gate][wname] = block
        return views

    def param_rule(self) -> tuple[str, str]:
        bias = " + 1" if self.use_bias else ""
        return (f"4 × units × (input_dim + units{bias})",
                lstm_param_formula(self.input_dim, self.units, self.use_bias))

    def param_formula(self) -> str:
        """This layer's parameter count written out, e.g. ``4 × 64 × (2 + 64 + 1) = 17,152``."""
        if not self.built:
            raise self._error("param_formula() needs a built layer")
        return lstm_param_formula(self.input_dim, self.units, self.use_bias)

    def count_params(self) -> int:
        if not self.built:
            raise self._error("count_params() needs a built layer: call build() or the layer first")
        return lstm_param_count(self.input_dim, self.units, self.use_bias)

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
            return (output_shape, state_shape, state_shape)  # a tuple, as Keras returns
        return output_shape

    # -- checking inputs ------------------------------------------------------------------
    def _check_input(self, x) -> np.ndarray:
        if (isinstance(x, np.ndarray) and x.dtype == self.dtype and x.ndim == 3 and self.built
                and x.shape[1] > 0 and x.shape[2] == self.input_dim and x.flags.c_contiguous):
            return x  # already what the kernels take (the fast path for small batches)
        try:
            x = np.asarray(x, dtype=self.dtype)
        except (TypeError, ValueError) as exc:
            received = type(x).__name__
            raise self._error(f"expected a numeric array input, received {received}") from exc
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

    def _initial_state(self, initial_state, batch: int) -> tuple[np.ndarray, np.ndarray]:
        expected = (batch, self.units)
        if initial_state is None:
            if self.stateful and self.states is not None:
                if self.states[0].shape != expected:
                    raise self._error(
                        f"stateful layer carries states of shape {self.states[0].shape}, "
                        f"the input needs {expected}: call reset_states() to change batch size"
                    )
                return self.states[0], self.states[1]
            zeros = np.zeros(expected, dtype=self.dtype)
            return zeros, zeros.copy()
        if not isinstance(initial_state, list | tuple) or len(initial_state) != 2:
            count = len(initial_state) if isinstance(initial_state, list | tuple) else 1
            raise self._error(
                f"expected initial_state to be a list of two arrays [h, c], received {count}"
            )
        states = []
        for sname, state in zip(("h", "c"), initial_state, strict=True):
            state = np.asarray(state, dtype=self.dtype)
            if state.shape != expected:
                raise self._error(
                    f"initial_state {sname} expected shape {expected}, received {state.shape}"
                )
            states.append(np.ascontiguousarray(state))
        return states[0], states[1]

    def reset_states(self) -> None:
        """Forget the carried state of a ``stateful`` layer."""
        self.states = None

    # -- computing ------------------------------------------------------------------------
    def _backend_name(self) -> str:
        return self.backend or default_backend()

    def forward(self, x, training: bool = False, rng=None, initial_state=None):
        """Run the layer; returns ``(outputs, cache)`` for :meth:`backward`."""
        x = self._check_input(x)
        h0, c0 = self._initial_state(initial_state, x.shape[0])
        input_mask = None
        rng = self._rng if rng is None else rng
        if training and self.recurrent_dropout > 0:
            # Keras's implementation 1: four input masks and four recurrent masks, one per gate
            batch, _, input_dim = x.shape
            dp_mask = None
            if self.dropout > 0:
                dp_mask = dropout_mask(rng, (4, batch, input_dim), self.dropout, x.dtype)
            rec_dp_mask = dropout_mask(
                rng, (4, batch, self.units), self.recurrent_dropout, x.dtype
            )  # (4, B, U)
            backend = "reference-gate-masks"
            h_seq, h_last, c_last, op_cache = _lstm_forward_gate_masks(
                x, h0, c0, self.kernel, self.recurrent_kernel, self.bias, dp_mask, rec_dp_mask,
                self.activation, self.recurrent_activation, self.go_backwards,
            )
        else:
            if training and self.dropout > 0:
                # one input mask (B, D) shared by the four gates, the same at every timestep
                input_mask = dropout_mask(rng, (x.shape[0], x.shape[2]), self.dropout, x.dtype)
                x = x * input_mask[:, None, :]  # (B, T, D)
            backend = self._backend_name()
            h_seq, h_last, c_last, op_cache = get_backend(backend).lstm_forward(
                x, h0, c0, self.kernel, self.recurrent_kernel, self.bias,
                self.activation, self.recurrent_activation, self.go_backwards,
            )
        return self._outputs(h_seq, h_last, c_last), _LSTMLayerCache(op_cache, backend, input_mask)

    def _outputs(self, h_seq, h_last, c_last):
        """What the layer returns (and, when ``stateful``, the state it carries on)."""
        if self.stateful:
            self.states = [h_last.copy(), c_last.copy()]
        output = h_seq if self.return_sequences else h_last
        return [output, h_last, c_last] if self.return_state else output

    def __call__(self, x, initial_state=None, training: bool = False):
        if training and (self.dropout > 0 or self.recurrent_dropout > 0):
            outputs, _ = self.forward(x, training=training, initial_state=initial_state)
            return outputs
        # a prediction: the backend's forward without the cache backward would need
        x = self._check_input(x)
        h0, c0 = self._initial_state(initial_state, x.shape[0])
        h_seq, h_last, c_last = get_backend(self._backend_name()).lstm_inference(
            x, h0, c0, self.kernel, self.recurrent_kernel, self.bias,
            self.activation, self.recurrent_activation, self.go_backwards,
        )
        return self._outputs(h_seq, h_last, c_last)

    def backward(self, dy, cache: _LSTMLayerCache, return_state_grads: bool = False):
        """Gradients for :meth:`forward`.

        ``dy`` is the gradient of what forward returned (a list ``[doutput, dh, dc]`` with
        ``return_state``; entries may be None). Returns ``(dx, grads)`` with ``grads`` in
        ``get_weights()`` order, or ``(dx, grads, [dh0, dc0])`` with ``return_state_grads``.
        """
        op = cache.op
        if self.return_state:
            doutput, dh_last, dc_last = (list(dy) + [None, None])[:3]
        else:
            doutput, dh_last, dc_last = dy, None, None
        dh_seq = None
        if doutput is not None:
            if self.return_sequences:
                dh_seq = np.asarray(doutput, dtype=self.dtype)
            else:
                dh_last = doutput if dh_last is None else dh_last + doutput
        if isinstance(op, _GateMaskCache):
            backward = _lstm_backward_gate_masks
        else:
            backward = get_backend(cache.backend).lstm_backward
        dx, dh0, dc0, dkernel, drecurrent, dbias = backward(dh_seq, dh_last, dc_last, op)
        if cache.input_mask is not None:
            dx = dx * cache.input_mask[:, None, :]
        grads = [dkernel, drecurrent] + ([dbias] if self.use_bias else [])
        if return_state_grads:
            return dx, grads, [dh0, dc0]
        return dx, grads

    def weight_regularizers(self) -> list:
        regs = [self.kernel_regularizer, self.recurrent_regularizer]
        return regs + ([self.bias_regularizer] if self.use_bias else [])

    def get_config(self) -> dict:
        """Keras 3's LSTM config: every argument, initializers and regularizers serialized
        as Keras writes them (``{"module", "class_name", "config", "registered_name"}``)."""
        config = super().get_config()
        config.pop("activity_regularizer", None)  # placed below, in Keras's key order
        config.update(
            return_sequences=self.return_sequences,
            return_state=self.return_state,
            go_backwards=self.go_backwards,
            stateful=self.stateful,
            unroll=self.unroll,
            zero_output_for_mask=False,
            units=self.units,
            activation=self.activation,
            recurrent_activation=self.recurrent_activation,
            use_bias=self.use_bias,
            kernel_initializer=serialize_initializer(self.kernel_initializer),
            recurrent_initializer=serialize_initializer(self.recurrent_initializer),
            bias_initializer=serialize_initializer(self.bias_initializer),
            unit_forget_bias=self.unit_forget_bias,
            kernel_regularizer=serialize_regularizer(self.kernel_regularizer),
            recurrent_regularizer=serialize_regularizer(self.recurrent_regularizer),
            bias_regularizer=serialize_regularizer(self.bias_regularizer),
            activity_regularizer=serialize_regularizer(self.activity_regularizer),
            kernel_constraint=None,
            recurrent_constraint=None,
            bias_constraint=None,
            dropout=self.dropout,
            recurrent_dropout=self.recurrent_dropout,
            seed=self.seed,
        )
        return config
