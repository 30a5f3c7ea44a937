"""The Keras ``GRU`` layer: Keras's arguments, defaults, weight layout and outputs.

Following ``keras/src/layers/rnn/gru.py``: the arguments and defaults of ``GRU`` and
``GRUCell`` (``reset_after=True`` in Keras 3, bias ``(2, 3*units)``; ``reset_after=False``,
bias ``(3*units,)``), implementation 1 (three per-gate dropout masks) when
``recurrent_dropout > 0``. The equations are the cell's (:mod:`npylstm.cells.gru`).

Keras 2 files: tf.keras 2.x always writes ``reset_after`` (default True since TF 2.0);
a Keras 2 config without the key is from standalone Keras ≤ 2.2, whose default was
``reset_after=False`` — ``KERAS2_DEFAULTS`` says so, and the file reader applies it to
Keras 2 files only (a Keras 3 config without the key means Keras 3's True).

>>> import numpy as np
>>> from npylstm.layers import GRU
>>> layer = GRU(3, return_sequences=True)
>>> layer(np.zeros((2, 5, 4), dtype="float32")).shape
(2, 5, 3)
>>> [w.shape for w in layer.weights], layer.count_params()     # 3 × 3 × (4 + 3 + 2)
([(4, 9), (3, 9), (2, 9)], 81)
"""

from __future__ import annotations

from ...cells import GRUCell
from ...registry import register
from .base import RNN

__all__ = ["GRU"]


@register("GRU")
class GRU(RNN):
    """Gated Recurrent Unit layer with Keras 3's arguments and defaults.

    Weights (``get_weights()`` order): ``kernel (input_dim, 3*units)``,
    ``recurrent_kernel (units, 3*units)``, ``bias (2, 3*units)`` with ``reset_after`` (row
    0 for the input product, row 1 for the recurrent one) or ``(3*units,)`` without
    (absent with ``use_bias=False``); gate blocks in z, r, h order.

    Calling the layer returns the last output ``(batch, units)``, every output with
    ``return_sequences=True``, and ``[output, h]`` with ``return_state=True``.
    ``use_cudnn`` is accepted and ignored (there is no GPU path here), as Keras ignores it
    on CPU.
    """

    KERAS2_ONLY = {"time_major": False, "implementation": 2}
    KERAS2_DEFAULTS = {"reset_after": False}  # standalone Keras <= 2.2 wrote no key
    NOT_CONFIG_KEYS = ("backend", "use_cudnn")
    CONFIG_AFTER_ACTIVATION = ("recurrent_activation",)
    CONFIG_AT_END = ("reset_after",)

    def __init__(
        self,
        units: int,
        activation: str | None = "tanh",
        recurrent_activation: str | None = "sigmoid",
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
        reset_after: bool = True,
        zero_output_for_mask: bool = False,
        use_cudnn="auto",
        backend: str | None = None,
        name: str | None = None,
        dtype="float32",
        input_shape=None,
        trainable: bool = True,
    ):
        super().__init__(name=name, dtype=dtype, input_shape=input_shape, trainable=trainable)
        self.recurrent_activation = self._elementwise_activation(
            "recurrent_activation", recurrent_activation)
        self.reset_after = bool(reset_after)
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

    CELL_OPTIONS = ("activation", "recurrent_activation", "reset_after")

    def make_cell(self) -> GRUCell:
        return GRUCell(self.activation, self.recurrent_activation, self.reset_after)

