"""Recurrent layers: the :class:`RNN` base (the plumbing every recurrent layer shares) and
one file per Keras layer on it."""

from .base import RNN, RNNLayerCache
from .lstm import LSTM

__all__ = ["LSTM", "RNN", "RNNLayerCache"]
