"""Conformance rows for Embedding and the activation layers
(:class:`layer_cases.LayerCase` rows)."""

from __future__ import annotations

_L2 = {"module": "keras.regularizers", "class_name": "L2", "config": {"l2": 0.01},
       "registered_name": None}


def _cases() -> list:
    from layer_cases import LayerCase  # a function: layer_cases imports this module

    embedding = [
        LayerCase("embedding", {"input_dim": 7, "output_dim": 3}, "Embedding", (3, 5),
                  int_input=7),
        LayerCase("embedding_rank3_ids", {"input_dim": 6, "output_dim": 2}, "Embedding",
                  (2, 4, 3), int_input=6),
        LayerCase("embedding_mask_zero", {"input_dim": 5, "output_dim": 4, "mask_zero": True},
                  "Embedding", (3, 6), int_input=5),
        LayerCase("embedding_regularizer_repeated_ids",  # 12 ids out of 3: repeats add up
                  {"input_dim": 3, "output_dim": 2, "embeddings_regularizer": _L2},
                  "Embedding", (4, 3), int_input=3),
    ]
    softmax = [
        LayerCase("softmax", {}, "Softmax", (3, 5)),
        LayerCase("softmax_axis1", {"axis": 1}, "Softmax", (2, 4, 3)),
        LayerCase("softmax_axes12", {"axis": (1, 2)}, "Softmax", (2, 3, 4)),
        LayerCase("softmax_masked", {"axis": -1}, "Softmax", (4, 5), masked=True,
                  files=False),  # a one-layer Sequential has no mask to give
    ]
    relu = [
        LayerCase("relu", {}, "ReLU", (3, 4)),
        LayerCase("relu_max6", {"max_value": 6.0}, "ReLU", (3, 4)),
        LayerCase("relu_leaky_branch", {"negative_slope": 0.2}, "ReLU", (2, 3, 4)),
        LayerCase("relu_all_options", {"max_value": 0.8, "negative_slope": 0.1,
                                       "threshold": 0.3}, "ReLU", (4, 5)),
        LayerCase("relu_threshold", {"threshold": 0.4}, "ReLU", (4, 5)),
        LayerCase("leaky_relu", {}, "LeakyReLU", (3, 4)),
        LayerCase("leaky_relu_slope", {"negative_slope": 0.05}, "LeakyReLU", (2, 3, 4)),
        LayerCase("elu", {}, "ELU", (3, 4)),
        LayerCase("prelu", {}, "PReLU", (3, 4)),
        LayerCase("prelu_shared_axis1", {"shared_axes": [1]}, "PReLU", (2, 5, 3)),
        LayerCase("prelu_shared_axes_regularizer",
                  {"shared_axes": [1, 2], "alpha_regularizer": _L2}, "PReLU", (2, 3, 4, 2)),
    ]
    names = ["gelu", "mish", "hard_silu", "leaky_relu", "relu6", "squareplus", "celu",
             "log_sigmoid", "tanh_shrink", "sparse_plus", "hard_tanh", "soft_shrink",
             "sparse_sigmoid"]
    activation = [LayerCase(f"activation_{n}", {"activation": n}, "Activation", (3, 2, 4))
                  for n in names]
    activation += [
        # Keras 3.15's sparsemax is wrong for supports of several entries (keras#23425);
        # Keras's glu output shape is the input's (its compute_output_shape): no Keras rows
        LayerCase("activation_sparsemax", {"activation": "sparsemax"}, "Activation", (4, 5),
                  keras=False, notes=("Keras 3.15: keras-team/keras#23425",)),
        LayerCase("activation_glu", {"activation": "glu"}, "Activation", (3, 2, 6),
                  keras=False, notes=("Keras reports the input shape for glu",)),
    ]
    return embedding + softmax + relu + activation


CASES: list = _cases()
