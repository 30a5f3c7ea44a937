"""Conformance rows for weight constraints and ``Dropout(noise_shape)``
(:class:`layer_cases.LayerCase` rows): a constraint changes no forward or backward, so these
rows check that configs holding constraints equal Keras's, round-trip and survive every
file format both ways (Keras reading ours included)."""

from __future__ import annotations


def _c(class_name: str, **config) -> dict:
    return {"module": "keras.constraints", "class_name": class_name, "config": config,
            "registered_name": None}


_MAX = _c("MaxNorm", max_value=1.5, axis=0)
_NONNEG = _c("NonNeg")
_UNIT = _c("UnitNorm", axis=1)
_MINMAX = _c("MinMaxNorm", min_value=0.1, max_value=0.9, rate=0.5, axis=0)


def _cases() -> list:
    from layer_cases import LayerCase  # a function: layer_cases imports this module

    mha = {"num_heads": 2, "key_dim": 3, "kernel_constraint": _MAX, "bias_constraint": _NONNEG}
    return [
        LayerCase("dense_constraints", {"units": 3, "kernel_constraint": _MAX,
                                        "bias_constraint": _NONNEG}, "Dense", (3, 4)),
        LayerCase("conv1d_constraints", {"filters": 2, "kernel_size": 3,
                                         "kernel_constraint": _c("MaxNorm", max_value=2,
                                                                 axis=[0, 1]),
                                         "bias_constraint": _MINMAX}, "Conv1D", (2, 6, 3)),
        LayerCase("embedding_constraint", {"input_dim": 7, "output_dim": 3,
                                           "embeddings_constraint": _UNIT}, "Embedding", (3, 5),
                  int_input=7),
        LayerCase("lstm_constraints", {"units": 3, "kernel_constraint": _MAX,
                                       "recurrent_constraint": _UNIT,
                                       "bias_constraint": _MINMAX}, "LSTM", (2, 4, 3)),
        LayerCase("gru_constraints", {"units": 3, "kernel_constraint": _NONNEG,
                                      "bias_constraint": _MAX}, "GRU", (2, 4, 3)),
        LayerCase("simple_rnn_constraint", {"units": 3, "recurrent_constraint": _UNIT},
                  "SimpleRNN", (2, 4, 3)),
        LayerCase("batch_normalization_constraints", {"gamma_constraint": _NONNEG,
                                                      "beta_constraint": _MAX},
                  "BatchNormalization", (4, 3), positive_weights=("moving_variance",)),
        LayerCase("layer_normalization_constraints", {"gamma_constraint": _NONNEG,
                                                      "beta_constraint": _UNIT},
                  "LayerNormalization", (3, 4)),
        LayerCase("prelu_constraint", {"alpha_constraint": _NONNEG}, "PReLU", (3, 4)),
        LayerCase("mha_constraints", mha, "MultiHeadAttention", [(2, 4, 5), (2, 3, 5)],
                  positional=True, files=False),
        LayerCase("dropout_noise_shape", {"rate": 0.4, "noise_shape": (None, 1, None)},
                  "Dropout", (4, 3, 6), training=True),
    ]


CASES = _cases()
