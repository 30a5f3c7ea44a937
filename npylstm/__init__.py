"""npylstm: a from-scratch LSTM engine with Keras's weight layout.

>>> import numpy as np, npylstm
>>> layer = npylstm.layers.LSTM(4)
>>> layer(np.zeros((1, 3, 2))).shape
(1, 4)
"""

from . import (
    activations,
    callbacks,
    datasets,
    gates,
    initializers,
    keras_io,
    layers,
    losses,
    metrics,
    ops,
    optimizers,
    regularizers,
    torch_io,
)
from .explain import explain_params
from .initializers import set_random_seed
from .keras_io import from_keras, load_model
from .layers import LSTM, clear_session
from .layers.input import Input
from .model import Sequential
from .ops import get_backend, set_backend
from .trace import LSTMTrace, trace  # the function shadows the submodule's name

__version__ = "0.1.0"

__all__ = [
    "Input",
    "LSTM",
    "LSTMTrace",
    "Sequential",
    "activations",
    "callbacks",
    "clear_session",
    "datasets",
    "explain_params",
    "from_keras",
    "gates",
    "get_backend",
    "initializers",
    "keras_io",
    "layers",
    "load_model",
    "losses",
    "metrics",
    "ops",
    "optimizers",
    "regularizers",
    "set_backend",
    "set_random_seed",
    "torch_io",
    "trace",
]
