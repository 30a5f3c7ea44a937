"""Recurrent layers: the :class:`RNN` base (the plumbing every recurrent layer shares) and
one file per Keras layer on it."""

from .base import RNN, RNNLayerCache
from .bidirectional import Bidirectional
from .gru import GRU
from .lstm import LSTM
from .simple_rnn import SimpleRNN

__all__ = ["Bidirectional", "GRU", "LSTM", "RNN", "RNNLayerCache", "SimpleRNN"]
