"""Conformance rows for the reshaping layers and the noise layers
(:class:`layer_cases.LayerCase` rows)."""

from __future__ import annotations


def _cases() -> list:
    from layer_cases import LayerCase  # a function: layer_cases imports this module

    return [
        # -- reshaping (keras/src/layers/reshaping/) --
        LayerCase("flatten", {}, "Flatten", (3, 4, 2)),
        LayerCase("flatten_4d", {}, "Flatten", (2, 3, 2, 4)),
        LayerCase("flatten_2d", {}, "Flatten", (3, 5)),
        LayerCase("flatten_channels_first", {"data_format": "channels_first"}, "Flatten",
                  (2, 3, 2, 4)),
        LayerCase("reshape", {"target_shape": (3, 4)}, "Reshape", (2, 6, 2)),
        LayerCase("reshape_inferred", {"target_shape": (-1, 2, 2)}, "Reshape", (2, 12)),
        LayerCase("reshape_inferred_middle", {"target_shape": (2, -1)}, "Reshape", (3, 2, 3, 2)),
        LayerCase("permute", {"dims": (2, 1)}, "Permute", (3, 4, 2)),
        LayerCase("permute_3", {"dims": (3, 1, 2)}, "Permute", (2, 3, 4, 5)),
        LayerCase("repeat_vector", {"n": 3}, "RepeatVector", (4, 5)),
        LayerCase("repeat_vector_once", {"n": 1}, "RepeatVector", (2, 3)),
        LayerCase("zero_padding1d", {}, "ZeroPadding1D", (2, 4, 3)),
        LayerCase("zero_padding1d_pair", {"padding": (2, 0)}, "ZeroPadding1D", (2, 3, 2)),
        LayerCase("zero_padding1d_channels_first",
                  {"padding": (1, 3), "data_format": "channels_first"}, "ZeroPadding1D",
                  (2, 3, 4)),
        LayerCase("cropping1d", {}, "Cropping1D", (2, 5, 3)),
        LayerCase("cropping1d_int", {"cropping": 2}, "Cropping1D", (2, 6, 2)),
        LayerCase("cropping1d_end_only", {"cropping": (0, 3)}, "Cropping1D", (3, 4, 2)),
        LayerCase("up_sampling1d", {}, "UpSampling1D", (2, 3, 4)),
        LayerCase("up_sampling1d_3", {"size": 3}, "UpSampling1D", (2, 4, 2)),
        # -- noise (keras/src/layers/regularization/): training=True checks the gradients
        # with a fixed generator; Keras's random numbers are its own: inference vs Keras.
        # No masked rows: Keras's call() of these takes no mask= (the harness passes one);
        # tests/test_reshaping_noise.py checks the mask passing through a Sequential.
        LayerCase("spatial_dropout1d", {"rate": 0.4}, "SpatialDropout1D", (4, 5, 6),
                  training=True),
        LayerCase("spatial_dropout1d_seeded", {"rate": 0.25, "seed": 3},
                  "SpatialDropout1D", (3, 4, 5), training=True),
        LayerCase("gaussian_noise", {"stddev": 0.3}, "GaussianNoise", (3, 4, 2), training=True),
        LayerCase("gaussian_noise_2d_seeded", {"stddev": 1.0, "seed": 7}, "GaussianNoise",
                  (4, 5), training=True),
        LayerCase("gaussian_dropout", {"rate": 0.3}, "GaussianDropout", (3, 4, 2),
                  training=True),
        LayerCase("gaussian_dropout_seeded", {"rate": 0.6, "seed": 2}, "GaussianDropout",
                  (3, 5, 2), training=True),
    ]


CASES: list = _cases()
