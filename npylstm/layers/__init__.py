"""Layers with Keras's names, arguments and weight layouts."""

from .base import Layer, Weight, clear_session
from .lstm import LSTM

__all__ = ["LSTM", "Layer", "Weight", "clear_session"]
