"""Conformance rows for BatchNormalization and LayerNormalization
(:class:`layer_cases.LayerCase` rows).

BatchNormalization rows compare with Keras in training mode too (``keras_training``: batch
statistics, masked ones with ``masked``); those with ``training`` also check the training
backward (through the batch statistics) by central differences. The moving variance is
drawn positive.
"""

from __future__ import annotations

#: Waiting on a pyproject filter for Keras's deprecation UserWarning on rms_scaling=True
#: (see /tmp/lead/requests-normalization.md); tests/test_normalization.py checks it meanwhile.
RMS_ROW = {"id": "layer_norm_rms_scaling", "config": {"rms_scaling": True, "epsilon": 0.01},
           "class_name": "LayerNormalization", "input_shape": (3, 4, 5)}


def _cases() -> list:
    from layer_cases import LayerCase  # a function: layer_cases imports this module

    def bn(case_id, config, shape, **kw):
        return LayerCase(case_id, config, "BatchNormalization", shape, keras_training=True,
                         positive_weights=("moving_variance",), **kw)

    def ln(case_id, config, shape, **kw):
        return LayerCase(case_id, config, "LayerNormalization", shape, **kw)

    return [
        bn("batch_norm_2d", {}, (6, 4), training=True),
        bn("batch_norm_3d", {"momentum": 0.9, "epsilon": 0.01}, (3, 5, 4)),
        bn("batch_norm_3d_training", {}, (3, 5, 4), training=True),
        bn("batch_norm_axis_1", {"axis": 1}, (3, 4, 2), training=True),
        bn("batch_norm_no_center_no_scale", {"center": False, "scale": False}, (4, 3, 2),
           training=True),
        bn("batch_norm_scale_only", {"center": False}, (5, 3)),
        bn("batch_norm_center_only", {"scale": False, "axis": -2}, (4, 3, 2), training=True),
        bn("batch_norm_masked", {}, (4, 5, 3), masked=True, training=True),
        ln("layer_norm", {}, (3, 5, 4)),
        ln("layer_norm_2d_epsilon", {"epsilon": 0.01}, (4, 6)),
        ln("layer_norm_axes_1_2", {"axis": [1, 2]}, (2, 3, 4)),
        ln("layer_norm_axis_1", {"axis": 1}, (3, 4, 2)),
        ln("layer_norm_no_center_no_scale", {"center": False, "scale": False}, (3, 4, 5)),
        ln("layer_norm_scale_only", {"center": False, "axis": [-1, -2]}, (2, 3, 4)),
    ]


CASES: list = _cases()
