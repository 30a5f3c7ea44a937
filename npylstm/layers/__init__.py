"""Layers with Keras's names, arguments and weight layouts."""

from .base import Layer, Weight, clear_session
from .dense import Dense
from .dropout import Dropout
from .input import Input, InputLayer
from .lstm import LSTM

__all__ = ["LSTM", "Dense", "Dropout", "Input", "InputLayer", "Layer", "Weight", "clear_session"]
