"""Conformance rows for the wrapper layers (``Bidirectional``, ``TimeDistributed``): the
same :class:`layer_cases.LayerCase` rows, kept apart from the plain layers' table.

A wrapper's ``layer`` (and ``backward_layer``) is a serialized layer entry, as in a Keras
config: ``LayerCase.make`` builds it through the registry.
"""

from __future__ import annotations


def _entry(class_name: str, **config) -> dict:
    return {"module": "keras.layers", "class_name": class_name, "config": config,
            "registered_name": None}


def _bidirectional(case_id, inner, merge_mode="concat", shape=(2, 5, 3), **kwargs):
    from layer_cases import LayerCase  # a function: layer_cases imports this module

    config = {"layer": inner, "merge_mode": merge_mode, **kwargs.pop("config", {})}
    return LayerCase(case_id, config, "Bidirectional", shape, **kwargs)


def _cases() -> list:
    from layer_cases import LayerCase

    lstm = _entry("LSTM", name="lstm", units=3)
    lstm_seq = _entry("LSTM", name="lstm", units=3, return_sequences=True)
    lstm_state = _entry("LSTM", name="lstm", units=2, return_state=True)
    return [
        _bidirectional("bidirectional_lstm_concat", lstm),
        _bidirectional("bidirectional_lstm_sum_sequences", lstm_seq, "sum"),
        _bidirectional("bidirectional_lstm_mul", lstm, "mul"),
        _bidirectional("bidirectional_lstm_ave_sequences", lstm_seq, "ave"),
        _bidirectional("bidirectional_lstm_none", lstm, None, files=False),
        _bidirectional("bidirectional_lstm_none_sequences_return_state",
                       _entry("LSTM", name="lstm", units=2, return_sequences=True,
                              return_state=True), None, files=False),
        _bidirectional("bidirectional_lstm_concat_return_state", lstm_state, files=False),
        _bidirectional("bidirectional_gru", _entry("GRU", name="gru", units=3)),
        _bidirectional("bidirectional_gru_reset_before_mul_return_state",
                       _entry("GRU", name="gru", units=2, reset_after=False,
                              return_state=True), "mul", files=False),
        _bidirectional("bidirectional_simple_rnn_sequences",
                       _entry("SimpleRNN", name="simple_rnn", units=3, return_sequences=True)),
        _bidirectional(
            "bidirectional_lstm_custom_backward_layer",
            _entry("LSTM", name="lstm", units=3, return_sequences=True),
            config={"backward_layer": _entry(
                "LSTM", name="back", units=3, return_sequences=True, go_backwards=True,
                activation="relu", use_bias=False)},
        ),
        LayerCase("time_distributed_dense",
                  {"layer": _entry("Dense", name="dense", units=4, activation="tanh")},
                  "TimeDistributed", (2, 5, 3)),
    ]


WRAPPER_CASES: list = _cases()
