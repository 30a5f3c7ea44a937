"""Layers with Keras's names, arguments and weight layouts."""

from .activation import Activation
from .base import Layer, Weight, clear_session
from .dense import Dense
from .dropout import Dropout
from .input import Input, InputLayer
from .rnn import LSTM, RNN

__all__ = [
    "Activation",
    "LSTM", "RNN", "Dense", "Dropout", "Input", "InputLayer", "Layer", "Weight", "clear_session",
]
