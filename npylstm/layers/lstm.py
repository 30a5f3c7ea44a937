"""``npylstm.layers.lstm``: where ``LSTM`` lived before the recurrent layers got their own
package (:mod:`npylstm.layers.rnn`); kept so that old imports work."""

from .rnn.lstm import LSTM

__all__ = ["LSTM"]
