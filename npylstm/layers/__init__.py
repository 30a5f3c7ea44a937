"""Layers with Keras's names, arguments and weight layouts."""

from .activation import Activation
from .base import Layer, Weight, clear_session
from .dense import Dense
from .dropout import Dropout
from .input import Input, InputLayer
from .masking import Masking
from .rnn import GRU, LSTM, RNN, SimpleRNN

__all__ = [
    "Activation", "Dense", "Dropout", "GRU", "Input", "InputLayer", "LSTM", "Layer", "Masking",
    "RNN", "SimpleRNN", "Weight", "clear_session",
]
