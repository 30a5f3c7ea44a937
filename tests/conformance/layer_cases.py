"""The table of layer cases the conformance harness runs (one row per layer and option set).

Adding a layer to npylstm means adding rows here: the harness (``test_layer_conformance.py``)
then checks its config round trip, every file format, float64 central-difference gradients,
and real Keras's outputs, gradients, parameter count and output shape.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class LayerCase:
    """One layer configuration and the input it is checked on.

    ``input_shape``: a concrete ``(batch, ...)`` shape; a list of shapes for a layer of
    several inputs, called on a list (``Concatenate()([a, b])``) or, with ``positional``,
    on separate arguments (``MultiHeadAttention()(query, value)``). ``int_input``: the
    inputs are integer ids in ``[0, int_input)`` of ``input_dtype`` (no input gradient).
    ``masked``: every 3-D input gets a random time mask (each row keeps a real step),
    passed as ``mask=`` (a list for a list call), or under ``keras_mask_kwargs`` names for
    a positional call (``("query_mask", "value_mask")``). ``call_kwargs``: further call
    arguments (``{"return_attention_scores": True}``). ``positive_weights``: weights drawn
    positive (variances). ``files``: whether it can sit alone in a ``Sequential``
    (single-input layers returning one tensor). ``training``: run the gradient checks with
    ``training=True`` and a fixed generator (dropout layers); ``keras_training``: compare
    with Keras in training mode too (deterministic ones: BatchNormalization). ``keras``:
    compare with real Keras. ``tolerance``: float32 agreement with Keras, relative to the
    largest value compared.
    """

    id: str
    config: dict
    class_name: str
    input_shape: tuple
    files: bool = True
    forward: bool = True
    training: bool = False
    keras: bool = True
    tolerance: float = 1e-5
    notes: tuple[str, ...] = field(default_factory=tuple)
    positional: bool = False
    int_input: int | None = None
    input_dtype: str = "int32"
    masked: bool = False
    keras_mask_kwargs: tuple[str, ...] = ()
    call_kwargs: dict = field(default_factory=dict)
    positive_weights: tuple[str, ...] = ()
    keras_training: bool = False

    @property
    def shapes(self) -> list[tuple]:
        """The concrete shape of every input, in order."""
        return list(self.input_shape) if isinstance(self.input_shape, list) else [
            self.input_shape]

    def arg_shapes(self) -> list:
        """The call's positional argument shapes without the batch size, as ``build`` and
        ``compute_output_shape`` take them."""
        shapes = [(None, *s[1:]) for s in self.shapes]
        if not isinstance(self.input_shape, list):
            return shapes
        return shapes if self.positional else [shapes]

    def args(self, inputs: list) -> list:
        """The call's positional arguments from the input arrays."""
        if not isinstance(self.input_shape, list):
            return [inputs[0]]
        return list(inputs) if self.positional else [list(inputs)]

    def make(self, **overrides):
        """A fresh npylstm layer of this case (``overrides`` replace config entries)."""
        from npylstm import registry

        return registry.get(self.class_name).from_config({**self.config, **overrides})


CASES = [
    LayerCase("lstm", {"units": 4}, "LSTM", (3, 5, 2)),
    LayerCase(
        "lstm_sequences_backwards_nobias",
        {"units": 3, "return_sequences": True, "go_backwards": True, "use_bias": False,
         "activation": "softsign", "recurrent_activation": "hard_sigmoid"},
        "LSTM", (2, 6, 3),
    ),
    LayerCase("lstm_return_state", {"units": 3, "return_state": True}, "LSTM", (2, 4, 2),
              files=False),
    LayerCase("lstm_softmax", {"units": 3, "activation": "softmax", "return_sequences": True},
              "LSTM", (2, 4, 3), notes=("runs on the generic loop: no Numba softmax",)),
    LayerCase("lstm_dropout", {"units": 3, "dropout": 0.3, "recurrent_dropout": 0.4,
                               "return_sequences": True}, "LSTM", (2, 4, 3), training=True),
    LayerCase("dense_tanh_3d", {"units": 4, "activation": "tanh"}, "Dense", (3, 5, 2)),
    LayerCase("dense_softmax", {"units": 5, "activation": "softmax"}, "Dense", (4, 3)),
    LayerCase("dense_linear_nobias", {"units": 2, "use_bias": False}, "Dense", (4, 3)),
    LayerCase("dropout", {"rate": 0.3}, "Dropout", (4, 6), training=True),
    LayerCase("input", {"batch_shape": (None, 5, 2)}, "InputLayer", (3, 5, 2), files=False,
              forward=False),
    LayerCase("activation_softmax", {"activation": "softmax"}, "Activation", (3, 4)),
    LayerCase("activation_log_softmax", {"activation": "log_softmax"}, "Activation", (2, 3, 4)),
    LayerCase("activation_swish", {"activation": "swish"}, "Activation", (3, 4)),
    LayerCase("gru", {"units": 4}, "GRU", (3, 5, 2)),
    LayerCase(
        "gru_reset_before_sequences_backwards",
        {"units": 3, "reset_after": False, "return_sequences": True, "go_backwards": True,
         "activation": "softsign", "recurrent_activation": "hard_sigmoid"},
        "GRU", (2, 6, 3),
    ),
    LayerCase("gru_nobias_return_state", {"units": 3, "use_bias": False, "return_state": True},
              "GRU", (2, 4, 2), files=False),
    LayerCase("gru_dropout", {"units": 3, "dropout": 0.3, "recurrent_dropout": 0.4,
                              "return_sequences": True}, "GRU", (2, 4, 3), training=True),
    LayerCase("simple_rnn", {"units": 4}, "SimpleRNN", (3, 5, 2)),
    LayerCase("simple_rnn_relu_sequences", {"units": 3, "activation": "relu",
                                            "return_sequences": True, "go_backwards": True},
              "SimpleRNN", (2, 6, 3)),
    LayerCase("simple_rnn_return_state_nobias",
              {"units": 2, "return_state": True, "use_bias": False}, "SimpleRNN", (2, 4, 3),
              files=False),
    LayerCase("masking", {"mask_value": 0.0}, "Masking", (3, 5, 2)),
]

# Rows of the other layer families live in their own files (tests/conformance/ is on
# sys.path): wrappers; embedding and activations; convolution and pooling; reshaping and
# noise; normalization; merging; attention.
from cases_attention import CASES as ATTENTION_CASES  # noqa: E402
from cases_conv_pooling import CASES as CONV_POOLING_CASES  # noqa: E402
from cases_embedding_activation import CASES as EMBEDDING_ACTIVATION_CASES  # noqa: E402
from cases_merge import CASES as MERGE_CASES  # noqa: E402
from cases_normalization import CASES as NORMALIZATION_CASES  # noqa: E402
from cases_reshaping_noise import CASES as RESHAPING_NOISE_CASES  # noqa: E402
from wrapper_cases import WRAPPER_CASES  # noqa: E402

CASES += WRAPPER_CASES
CASES += EMBEDDING_ACTIVATION_CASES + CONV_POOLING_CASES + RESHAPING_NOISE_CASES
CASES += NORMALIZATION_CASES + MERGE_CASES + ATTENTION_CASES
