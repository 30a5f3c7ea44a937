"""Conformance rows for Conv1D and the 1-D pooling layers
(:class:`layer_cases.LayerCase` rows)."""

from __future__ import annotations


def _cases() -> list:
    from layer_cases import LayerCase  # a function: layer_cases imports this module

    conv = [
        LayerCase("conv1d_valid", {"filters": 3, "kernel_size": 3}, "Conv1D", (2, 7, 4)),
        LayerCase("conv1d_same_strides_tanh",
                  {"filters": 4, "kernel_size": 4, "strides": 2, "padding": "same",
                   "activation": "tanh"}, "Conv1D", (2, 9, 3)),
        LayerCase("conv1d_valid_strides_longer_than_kernel",
                  {"filters": 2, "kernel_size": 2, "strides": 3}, "Conv1D", (2, 10, 3)),
        LayerCase("conv1d_causal_dilation",
                  {"filters": 2, "kernel_size": 3, "dilation_rate": 2, "padding": "causal"},
                  "Conv1D", (2, 8, 3)),
        LayerCase("conv1d_valid_dilation", {"filters": 2, "kernel_size": 2, "dilation_rate": 3},
                  "Conv1D", (2, 8, 2)),
        LayerCase("conv1d_same_dilation_groups_nobias",
                  {"filters": 4, "kernel_size": 3, "dilation_rate": 2, "groups": 2,
                   "padding": "same", "use_bias": False}, "Conv1D", (2, 7, 4)),
        LayerCase("conv1d_same_even_kernel",  # the odd padded step goes right
                  {"filters": 2, "kernel_size": 4, "padding": "same"}, "Conv1D", (2, 5, 2)),
        LayerCase("conv1d_channels_first_strides_sigmoid",
                  {"filters": 3, "kernel_size": 2, "strides": 3, "data_format": "channels_first",
                   "activation": "sigmoid"}, "Conv1D", (2, 4, 8)),
        LayerCase("conv1d_channels_first_groups_softmax",  # softmax over the last (steps) axis
                  {"filters": 6, "kernel_size": 2, "groups": 3, "padding": "causal",
                   "data_format": "channels_first", "activation": "softmax"},
                  "Conv1D", (2, 3, 5)),
        LayerCase("conv1d_regularized",
                  {"filters": 2, "kernel_size": 2, "kernel_regularizer": "l2",
                   "bias_regularizer": "l2", "activity_regularizer": "l2"},
                  "Conv1D", (2, 5, 3)),
    ]
    pooling = [
        LayerCase("max_pooling1d", {}, "MaxPooling1D", (2, 7, 3)),
        LayerCase("max_pooling1d_same_strides",
                  {"pool_size": 3, "strides": 2, "padding": "same"}, "MaxPooling1D", (2, 8, 3)),
        LayerCase("max_pooling1d_same_overlapping_channels_first",
                  {"pool_size": 4, "strides": 1, "padding": "same",
                   "data_format": "channels_first"}, "MaxPooling1D", (2, 3, 6)),
        LayerCase("max_pooling1d_strides_past_pool",
                  {"pool_size": 2, "strides": 3}, "MaxPooling1D", (2, 9, 2)),
        LayerCase("average_pooling1d", {"pool_size": 3}, "AveragePooling1D", (2, 7, 2)),
        LayerCase("average_pooling1d_same_strides",
                  {"pool_size": 3, "strides": 2, "padding": "same"}, "AveragePooling1D",
                  (2, 8, 3)),
        LayerCase("average_pooling1d_same_overlapping_channels_first",  # 1 left, 2 right
                  {"pool_size": 4, "strides": 1, "padding": "same",
                   "data_format": "channels_first"}, "AveragePooling1D", (2, 3, 7)),
    ]
    global_pooling = [
        LayerCase("global_average_pooling1d", {}, "GlobalAveragePooling1D", (2, 5, 3)),
        LayerCase("global_average_pooling1d_masked", {}, "GlobalAveragePooling1D", (3, 6, 2),
                  masked=True),
        LayerCase("global_average_pooling1d_keepdims_masked", {"keepdims": True},
                  "GlobalAveragePooling1D", (3, 5, 4), masked=True),
        LayerCase("global_average_pooling1d_channels_first_keepdims",
                  {"data_format": "channels_first", "keepdims": True},
                  "GlobalAveragePooling1D", (2, 3, 5)),
        LayerCase("global_max_pooling1d", {}, "GlobalMaxPooling1D", (2, 5, 3)),
        LayerCase("global_max_pooling1d_channels_first_keepdims",
                  {"data_format": "channels_first", "keepdims": True},
                  "GlobalMaxPooling1D", (2, 3, 5)),
    ]
    return conv + pooling + global_pooling


CASES: list = _cases()
