"""npylstm: a from-scratch LSTM engine with Keras's weight layout.

>>> import numpy as np, npylstm
>>> layer = npylstm.layers.LSTM(4)
>>> layer(np.zeros((1, 3, 2))).shape
(1, 4)
"""

from . import (
    activations,
    callbacks,
    cells,
    constraints,
    datasets,
    gates,
    initializers,
    io,
    keras_io,
    layers,
    losses,
    metrics,
    model,  # the old module name: the same module object as npylstm.models
    models,
    ops,
    optimizers,
    registry,
    regularizers,
    torch_io,
)
from .explain import explain_params
from .initializers import set_random_seed
from .keras_io import from_keras, load_model
from .layers import GRU, LSTM, Bidirectional, SimpleRNN, TimeDistributed, clear_session
from .layers.input import Input
from .models import Functional, Model, Sequential
from .ops import get_backend, set_backend
from .trace import (  # the function shadows the submodule's name
    BidirectionalTrace,
    GRUTrace,
    LSTMTrace,
    RecurrentTrace,
    SimpleRNNTrace,
    trace,
)

__version__ = "0.1.0"

__all__ = [
    "Input",
    "Bidirectional",
    "GRU",
    "TimeDistributed",
    "LSTM",
    "SimpleRNN",
    "BidirectionalTrace",
    "GRUTrace",
    "LSTMTrace",
    "RecurrentTrace",
    "SimpleRNNTrace",
    "Functional",
    "Model",
    "Sequential",
    "activations",
    "callbacks",
    "cells",
    "clear_session",
    "constraints",
    "datasets",
    "explain_params",
    "from_keras",
    "gates",
    "get_backend",
    "initializers",
    "io",
    "keras_io",
    "layers",
    "load_model",
    "losses",
    "metrics",
    "model",
    "models",
    "ops",
    "optimizers",
    "registry",
    "regularizers",
    "set_backend",
    "set_random_seed",
    "torch_io",
    "trace",
]
