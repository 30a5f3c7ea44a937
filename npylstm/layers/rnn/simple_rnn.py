"""The Keras ``SimpleRNN`` layer: Keras's arguments, defaults, weight layout and outputs.

Following ``keras/src/layers/rnn/simple_rnn.py`` (``SimpleRNN`` and ``SimpleRNNCell``):
``h_t = activation(x_t @ kernel + h_tm1 @ recurrent_kernel + bias)``, one dropout mask on
``x_t`` and one on ``h_tm1`` per call. The equations are the cell's
(:mod:`npylstm.cells.simple_rnn`); it runs on the generic NumPy loop.

>>> import numpy as np
>>> from npylstm.layers import SimpleRNN
>>> layer = SimpleRNN(3)
>>> layer(np.zeros((2, 5, 4), dtype="float32")).shape, layer.count_params()
((2, 3), 24)
"""

from __future__ import annotations

from ...cells import SimpleRNNCell
from ...registry import register
from .base import RNN

__all__ = ["SimpleRNN"]


@register("SimpleRNN")
class SimpleRNN(RNN):
    """Fully connected recurrent layer with Keras 3's arguments and defaults.

    Weights (``get_weights()`` order): ``kernel (input_dim, units)``,
    ``recurrent_kernel (units, units)``, ``bias (units,)`` (absent with ``use_bias=False``).
    """

    ACTIVATION_KEYS = ("activation",)
    CONFIG_SEED = False  # Keras's SimpleRNN.get_config writes no seed

    def __init__(
        self,
        units: int,
        activation: str | None = "tanh",
        use_bias: bool = True,
        kernel_initializer="glorot_uniform",
        recurrent_initializer="orthogonal",
        bias_initializer="zeros",
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

    CELL_OPTIONS = ("activation",)

    def make_cell(self) -> SimpleRNNCell:
        return SimpleRNNCell(self.activation)
