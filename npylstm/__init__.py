"""npylstm: a from-scratch LSTM engine with Keras's weight layout.

>>> import numpy as np, npylstm
>>> layer = npylstm.layers.LSTM(4)
>>> layer(np.zeros((1, 3, 2))).shape
(1, 4)
"""

from . import activations, gates, initializers, layers, ops, regularizers
from . import losses, metrics, optimizers
from .initializers import set_random_seed
from .layers import LSTM, clear_session
from .layers.input import Input
from .model import Sequential
from . import keras_io, torch_io
from .keras_io import from_keras, load_model
from . import callbacks, datasets  # noqa: E402,I001 - after the layers they use
from .ops import get_backend, set_backend
from .explain import explain_params
from .trace import LSTMTrace, trace  # the function shadows the submodule's name

__version__ = "0.1.0"

__all__ = [
    "LSTM",
    "LSTMTrace",
    "Input",
    "Sequential",
    "callbacks",
    "datasets",
    "from_keras",
    "keras_io",
    "load_model",
    "torch_io",
    "explain_params",
    "activations",
    "clear_session",
    "gates",
    "get_backend",
    "initializers",
    "layers",
    "losses",
    "metrics",
    "ops",
    "optimizers",
    "regularizers",
    "set_backend",
    "set_random_seed",
    "trace",
]
