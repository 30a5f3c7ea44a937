"""Layers with Keras's names, arguments and weight layouts."""

from .activation import Activation
from .base import Layer, Weight, clear_session
from .dense import Dense
from .dropout import Dropout
from .input import Input, InputLayer
from .masking import Masking
from .rnn import GRU, LSTM, RNN, Bidirectional, SimpleRNN
from .time_distributed import TimeDistributed

__all__ = [
    "Activation", "Bidirectional", "Dense", "Dropout", "GRU", "Input", "InputLayer", "LSTM",
    "Layer", "Masking", "RNN", "SimpleRNN", "TimeDistributed", "Weight", "clear_session",
]
