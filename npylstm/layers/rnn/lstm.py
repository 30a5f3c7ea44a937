"""The Keras ``LSTM`` layer: Keras's arguments, defaults, weight layout and outputs.

Following ``keras/src/layers/rnn/lstm.py``: the arguments and defaults of ``LSTM`` and
``LSTMCell``, the weights built by ``LSTMCell.build`` (with ``unit_forget_bias`` the
forget block of the bias starts at 1), and ``implementation`` 1 when
``recurrent_dropout > 0``. The equations are the cell's (:mod:`npylstm.cells.lstm`); the
sequence plumbing is :class:`~npylstm.layers.rnn.RNN`'s.

>>> import numpy as np
>>> from npylstm.layers import LSTM
>>> layer = LSTM(3, return_sequences=True)
>>> layer(np.zeros((2, 5, 4), dtype="float32")).shape
(2, 5, 3)
>>> [w.name for w in layer.weights], layer.count_params()
(['kernel', 'recurrent_kernel', 'bias'], 96)
"""

from __future__ import annotations

import numpy as np

from ... import initializers
from ...cells import LSTMCell
from ...gates import GATES, split_gates
from ...registry import register
from .base import RNN

__all__ = ["LSTM"]


@register("LSTM")
class LSTM(RNN):
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
    four input masks and four ``(batch, units)`` masks on ``h_tm1``, one per gate — run by
    the generic NumPy loop whatever the backend (the Numba core has no per-gate masks).
    At inference both are off.
    """

    KERAS2_ONLY = {"time_major": False, "implementation": 2}
    CONFIG_AFTER_ACTIVATION = ("recurrent_activation",)
    CONFIG_AFTER_INITIALIZERS = ("unit_forget_bias",)

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
        zero_output_for_mask: bool = False,
        backend: str | None = None,
        name: str | None = None,
        dtype="float32",
        input_shape=None,
        trainable: bool = True,
    ):
        super().__init__(name=name, dtype=dtype, input_shape=input_shape, trainable=trainable)
        self.recurrent_activation = self._elementwise_activation(
            "recurrent_activation", recurrent_activation)
        self.unit_forget_bias = bool(unit_forget_bias)
        self._init_rnn(
            units=units, activation=activation, use_bias=use_bias,
            kernel_initializer=kernel_initializer, recurrent_initializer=recurrent_initializer,
            bias_initializer=bias_initializer, kernel_regularizer=kernel_regularizer,
            recurrent_regularizer=recurrent_regularizer, bias_regularizer=bias_regularizer,
            activity_regularizer=activity_regularizer, kernel_constraint=kernel_constraint,
            recurrent_constraint=recurrent_constraint, bias_constraint=bias_constraint,
            dropout=dropout, recurrent_dropout=recurrent_dropout, seed=seed,
            return_sequences=return_sequences, return_state=return_state,
            go_backwards=go_backwards, stateful=stateful, unroll=unroll,
            zero_output_for_mask=zero_output_for_mask, backend=backend,
        )

    CELL_OPTIONS = ("activation", "recurrent_activation")

    def make_cell(self) -> LSTMCell:
        return LSTMCell(self.activation, self.recurrent_activation)

    def _initial_bias(self, shape) -> np.ndarray:
        if self.unit_forget_bias:  # the forget block starts at 1 (Keras's LSTMCell.build)
            return initializers.unit_forget_bias(self.bias_initializer, self.units, self.dtype)
        return super()._initial_bias(shape)

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
