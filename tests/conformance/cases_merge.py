"""Conformance rows for the merge layers (Concatenate, Add, ..., Dot)
(:class:`layer_cases.LayerCase` rows).

Every row is a list call (``Add()([a, b])``), so none sits alone in a Sequential
(``files=False``). Masked rows: Keras's merge layers take their masks from the tensors
(``_keras_mask``), not from a ``mask=`` argument, so the harness cannot hand Keras the masks
yet: those rows run the float64 central differences here (``keras=False``), and
``tests/test_merge.py`` compares the masked outputs, gradients and output masks with Keras.
"""

from __future__ import annotations

_KERAS_MASKS = ("Keras takes merge masks from the tensors: compared in tests/test_merge.py",)


def _cases() -> list:
    from layer_cases import LayerCase  # a function: layer_cases imports this module

    def row(case_id, class_name, shapes, config=None, **kwargs):
        return LayerCase(f"merge_{case_id}", dict(config or {}), class_name, shapes,
                         files=False, **kwargs)

    def masked(case_id, class_name, shapes, config=None):
        return row(case_id, class_name, shapes, config, masked=True, keras=False,
                   notes=_KERAS_MASKS)

    return [
        row("concatenate_features", "Concatenate", [(2, 3, 4), (2, 3, 2)]),
        row("concatenate_time_3", "Concatenate", [(2, 3, 4), (2, 5, 4), (2, 1, 4)],
            {"axis": 1}),
        row("concatenate_2d", "Concatenate", [(3, 4), (3, 2), (3, 1)], {"axis": 1}),
        row("concatenate_single", "Concatenate", [(2, 3, 4)], {"axis": -2}),
        row("add", "Add", [(2, 5, 4), (2, 5, 4)]),
        row("add_broadcast_3", "Add", [(2, 5, 4), (2, 1, 4), (2, 5, 1)]),
        row("add_ranks", "Add", [(2, 4), (2, 5, 4)]),
        row("subtract_broadcast", "Subtract", [(2, 5, 4), (2, 1, 4)]),
        row("multiply_3", "Multiply", [(2, 5, 4), (2, 1, 4), (2, 5, 4)]),
        row("average_3", "Average", [(2, 5, 4), (2, 5, 4), (2, 5, 4)]),
        row("average_2d", "Average", [(3, 4), (3, 4)]),
        row("maximum", "Maximum", [(2, 5, 4), (2, 5, 4)]),
        row("maximum_broadcast_3", "Maximum", [(2, 5, 4), (2, 1, 4), (2, 5, 4)]),
        row("minimum_3", "Minimum", [(2, 5, 4), (2, 5, 4), (2, 5, 4)]),
        row("dot_axes_1", "Dot", [(2, 3, 4), (2, 3, 5)], {"axes": (1, 1)}),
        row("dot_axes_2", "Dot", [(2, 3, 4), (2, 5, 4)], {"axes": (2, 2)}),
        row("dot_int_negative_normalize", "Dot", [(2, 3, 4), (2, 5, 4)],
            {"axes": -1, "normalize": True}),
        row("dot_pair_normalize", "Dot", [(2, 4, 3), (2, 5, 4)],
            {"axes": [1, -1], "normalize": True}),
        row("dot_2d", "Dot", [(3, 4), (3, 4)], {"axes": 1}),
        row("dot_ranks_3_2", "Dot", [(2, 3, 4), (2, 4)], {"axes": (2, 1)}),
        row("dot_ranks_2_4", "Dot", [(2, 3), (2, 5, 2, 3)], {"axes": (1, 3)}),
        masked("multiply_masked", "Multiply", [(2, 5, 4), (2, 5, 4)]),
        masked("multiply_masked_broadcast_3", "Multiply", [(2, 5, 4), (2, 1, 4), (2, 5, 4)]),
        masked("maximum_masked_3", "Maximum", [(2, 5, 4), (2, 5, 4), (2, 5, 4)]),
        masked("minimum_masked", "Minimum", [(2, 5, 4), (2, 5, 4)]),
        masked("add_masked", "Add", [(2, 5, 4), (2, 5, 4)]),
        masked("concatenate_masked_time", "Concatenate", [(2, 3, 4), (2, 5, 4)], {"axis": 1}),
    ]


CASES: list = _cases()
