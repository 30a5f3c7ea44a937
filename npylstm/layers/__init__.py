"""Layers with Keras's names, arguments and weight layouts."""

from .activation import ELU, Activation, LeakyReLU, PReLU, ReLU, Softmax
from .attention import AdditiveAttention, Attention
from .base import Layer, Weight, clear_session
from .conv import Conv1D
from .dense import Dense
from .dropout import Dropout
from .embedding import Embedding
from .input import Input, InputLayer
from .masking import Masking
from .merge import Add, Average, Concatenate, Dot, Maximum, Minimum, Multiply, Subtract
from .multi_head_attention import MultiHeadAttention
from .noise import GaussianDropout, GaussianNoise, SpatialDropout1D
from .normalization import BatchNormalization, LayerNormalization
from .padding import Cropping1D, UpSampling1D, ZeroPadding1D
from .pooling import AveragePooling1D, GlobalAveragePooling1D, GlobalMaxPooling1D, MaxPooling1D
from .reshaping import Flatten, Permute, RepeatVector, Reshape
from .rnn import GRU, LSTM, RNN, Bidirectional, SimpleRNN
from .time_distributed import TimeDistributed

__all__ = [
    "Activation", "Bidirectional", "Dense", "Dropout", "GRU", "Input", "InputLayer", "LSTM",
    "Layer", "Masking", "RNN", "SimpleRNN", "TimeDistributed", "Weight", "clear_session",
    "Cropping1D", "Flatten", "GaussianDropout", "GaussianNoise", "Permute", "RepeatVector",
    "Reshape", "SpatialDropout1D", "UpSampling1D", "ZeroPadding1D",
    "AveragePooling1D", "Conv1D", "GlobalAveragePooling1D", "GlobalMaxPooling1D", "MaxPooling1D",
    "BatchNormalization", "LayerNormalization",
    "ELU", "Embedding", "LeakyReLU", "PReLU", "ReLU", "Softmax",
    "AdditiveAttention", "Attention", "MultiHeadAttention",
    "Add", "Average", "Concatenate", "Dot", "Maximum", "Minimum", "Multiply", "Subtract",
]
