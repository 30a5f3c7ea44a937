"""Recurrent cells: one file per recurrent kind, each the equations of one step.

A cell declares its gate names and packing order, its state names, what it keeps per
step, its weight shapes and parameter formula, and its step forward and backward in
NumPy (:class:`Cell`). :mod:`npylstm.ops.rnn_reference` runs any cell over a sequence;
a fast kernel for a cell (``npylstm.ops.get_kernel``) has the same signature.
"""

from .base import Cell
from .gru import GRUCell
from .lstm import LSTMCell
from .simple_rnn import SimpleRNNCell

__all__ = ["Cell", "GRUCell", "LSTMCell", "SimpleRNNCell"]
