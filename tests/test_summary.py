"""``model.summary()`` against the text real Keras prints (JAX backend) for the same model:
functional models ("Connected to", InputLayer rows, shared layers, several outputs, nested
models, sequential-like graphs), trainable / non-trainable / optimizer counts and sizes
(BatchNormalization's moving statistics, frozen layers and models), Keras's other
``print_summary`` arguments, and the parameter formulas of a functional model.

Both summaries are printed in the same process, so the terminal width Keras reads (through
``shutil`` and ``rich``) is ours too; each comparison runs at the default width and with
``COLUMNS=200``.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_functional_keras import _nested, _seq2seq, _two_in_two_out

import npylstm
from npylstm.models.summary import print_summary

pytestmark = pytest.mark.keras


def _text(model, **kwargs) -> str:
    lines = []
    model.summary(print_fn=lines.append, **kwargs)
    assert len(lines) == 1  # the whole text in one call, as Keras's print_fn
    return lines[0]


def _ours(model, **kwargs) -> str:
    """Our summary through ``print_summary`` (Keras's arguments that ``Model.summary`` does
    not take yet)."""
    lines = []
    print_summary(model, print_fn=lines.append, **kwargs)
    return lines[0]


def _named(pair, name):
    for model in pair:
        model.name = name  # automatic names depend on how many models the session made
    return pair


@pytest.fixture(params=[None, "200"], ids=["terminal", "columns200"])
def columns(request, monkeypatch):
    if request.param is None:
        monkeypatch.delenv("COLUMNS", raising=False)
    else:
        monkeypatch.setenv("COLUMNS", request.param)
    return request.param


def _seq_bn(lib, frozen_kwarg: bool = False):
    """LSTM -> BatchNormalization -> frozen LSTM -> Dense (Sequential)."""
    L = lib.layers
    model = lib.Sequential([
        lib.Input((6, 3)), L.LSTM(5, return_sequences=True, name="l1"),
        L.BatchNormalization(name="bn"),
        L.LSTM(4, name="l2", **({"trainable": False} if frozen_kwarg else {})),
        L.Dense(2, name="d")], name="seq_bn")
    if not frozen_kwarg:
        model.layers[2].trainable = False
    return model


def _functional_bn(lib):
    """Two inputs, a frozen shared Dense, BatchNormalization on one branch."""
    L = lib.layers
    a = lib.Input((5, 3), name="a")
    b = lib.Input((3,), name="b")
    shared = L.Dense(4, name="shared", trainable=False)
    h = L.BatchNormalization(name="bn")(shared(L.LSTM(3, name="enc")(a)))
    y = L.Concatenate(name="cat")([h, shared(b)])
    return lib.Model([a, b], L.Dense(1, name="out")(y), name="functional_bn")


def _two_calls(lib):
    """A two-input inner model called twice (a nested model with two nodes)."""
    L = lib.layers
    a, b = lib.Input((3,), name="a"), lib.Input((3,), name="b")
    inner = lib.Model([a, b], L.Add(name="add")([L.Dense(2, name="da")(a),
                                                 L.Dense(2, name="db")(b)]), name="inner")
    x, y = lib.Input((3,), name="x"), lib.Input((3,), name="y")
    return lib.Model([x, y], [inner([x, y]), inner([y, x])], name="two_calls")


def _unused_input(lib):
    a, b = lib.Input((3,), name="a"), lib.Input((2,), name="b")
    return lib.Model([a, b], lib.layers.Dense(1, name="d")(a), name="unused_input")


def _scalar(lib):
    a = lib.Input((), name="a")
    return lib.Model(a, lib.layers.Activation("tanh", name="t")(a), name="scalar")


def _bidirectional_dict(lib):
    """A Bidirectional layer used twice downstream; dict inputs and outputs."""
    L = lib.layers
    a = lib.Input((4, 3), name="a")
    h = L.Bidirectional(L.LSTM(2, return_sequences=True), name="bi")(a)
    return lib.Model({"a": a}, {"seq": L.Dense(1, name="seq")(L.Dropout(0.1, name="drop")(h)),
                                "last": L.GlobalAveragePooling1D(name="gap")(h)},
                     name="bidirectional_dict")


def _frozen_wrappers(lib):
    """Frozen Bidirectional, TimeDistributed and BatchNormalization layers (Sequential)."""
    L = lib.layers
    model = lib.Sequential([lib.Input((4, 3)),
                            L.Bidirectional(L.LSTM(2, return_sequences=True), name="bi"),
                            L.TimeDistributed(L.Dense(3), name="td"),
                            L.BatchNormalization(name="bn"), L.LSTM(2, name="l")],
                           name="frozen_wrappers")
    for layer in model.layers[:3]:
        layer.trainable = False
    return model


@pytest.fixture(scope="module")
def models(keras):
    seq2seq = [_named(pair, name) for pair, name in zip(
        zip(_seq2seq(npylstm), _seq2seq(keras), strict=True),
        ["training", "encoder_model", "decoder_model"], strict=True)]
    built = {"seq2seq_" + name: pair for pair, name in zip(
        seq2seq, ["training", "encoder", "decoder"], strict=True)}
    for name, fn in [("two_in_two_out", _two_in_two_out), ("functional_bn", _functional_bn),
                     ("two_calls", _two_calls), ("seq_bn", _seq_bn),
                     ("unused_input", _unused_input), ("scalar", _scalar),
                     ("bidirectional_dict", _bidirectional_dict),
                     ("frozen_wrappers", _frozen_wrappers)]:
        built[name] = _named((fn(npylstm), fn(keras)), name)
    built["seq_bn_kwarg"] = (_seq_bn(npylstm, True), _seq_bn(keras, True))
    return built


KERAS_EQUAL = ["seq2seq_training", "seq2seq_encoder", "seq2seq_decoder", "two_in_two_out",
               "functional_bn", "two_calls", "seq_bn", "seq_bn_kwarg", "unused_input", "scalar",
               "bidirectional_dict", "frozen_wrappers"]


# -- the table as Keras prints it ---------------------------------------------------------------
@pytest.mark.parametrize("name", KERAS_EQUAL)
def test_summary_text_is_keras_text(models, name, columns):
    ours, theirs = models[name]
    assert ours.count_params() == theirs.count_params()
    assert _text(ours) == _text(theirs)
    assert _text(ours, line_length=130) == _text(theirs, line_length=130)


def test_functional_summary_rows(models, monkeypatch):
    # what the comparison above covers, spelled out once (wide enough that nothing wraps)
    monkeypatch.setenv("COLUMNS", "300")

    def row(text, name):
        [line] = [line for line in text.splitlines() if line.startswith(f"│ {name} ")]
        return [cell.strip() for cell in line.strip("│").split("│")]

    text = _text(models["seq2seq_training"][0], line_length=260)
    assert "┃ Connected to" in text
    assert row(text, "encoder_inputs") == ["encoder_inputs (InputLayer)", "(None, None, 3)",
                                           "0", "-"]
    # several outputs as Keras's list; initial_state tensors among the decoder's inputs
    assert row(text, "encoder") == ["encoder (LSTM)", "[(None, 4), (None, 4), (None, 4)]",
                                    "128", "encoder_inputs[0][0]"]
    assert row(text, "decoder")[3] == "decoder_inputs[0][0], encoder[0][1], encoder[0][2]"
    # the decoder layer's second call (node 1) belongs to the inference model only
    assert row(text, "decoder_dense")[3] == "decoder[0][0]"
    decoder = _text(models["seq2seq_decoder"][0], line_length=260)
    assert row(decoder, "decoder_dense")[3] == "decoder[1][0]"
    assert row(decoder, "decoder")[3] == "decoder_inputs[0][0], h_in[0][0], c_in[0][0]"
    # a shared layer: one row with both calls; each consumer names the call it used
    text = _text(models["two_in_two_out"][0], line_length=260)
    assert row(text, "shared")[3] == "encoder[0][0], aux_dense[0][0]"
    assert row(text, "forecast")[3] == "shared[0][0]" and row(text, "label")[3] == "shared[1][0]"
    # a chain of calls is "sequential-like": Keras's three columns
    assert "Connected to" not in _text(models["seq2seq_encoder"][0])
    assert row(_text(models["scalar"][0], line_length=260), "a") == [
        "a (InputLayer)", "(None)", "0"]  # Keras's format_shape, not Python's "(None,)"


def test_summary_printed_to_stdout_is_keras_text(models, capsys, columns):
    for name in ("two_in_two_out", "seq_bn"):
        ours, theirs = models[name]
        ours.summary()
        mine = capsys.readouterr().out
        theirs.summary()
        assert mine == capsys.readouterr().out


def test_nested_model_summary_is_keras_text(keras, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    ours, theirs = _named((_nested(npylstm), _nested(keras)), "outer")
    assert _text(ours) == _text(theirs)


def test_expand_nested_is_keras_text(models, columns):
    ours, theirs = models["two_calls"]
    lines = []
    theirs.summary(print_fn=lines.append, expand_nested=True)
    assert _ours(ours, expand_nested=True) == lines[0]
    assert "└ da (Dense)" in lines[0]


# -- trainable, non-trainable and optimizer counts ----------------------------------------------
def test_non_trainable_counts_are_keras_counts(models):
    # l2 frozen: 4*4*(5+4+1) = 160; bn: gamma, beta trainable (5 + 5), moving mean and
    # variance not (5 + 5); so 180 + 10 + 10 trainable, 160 + 10 frozen, float32 bytes
    text = _text(models["seq_bn"][0])
    assert " Total params: 370 (1.45 KB)" in text  # 370 * 4 / 1024
    assert " Trainable params: 200 (800.00 B)" in text
    assert " Non-trainable params: 170 (680.00 B)" in text
    # functional: a frozen shared Dense (3*4+4 = 16) and bn's statistics (4 + 4)
    text = _text(models["functional_bn"][0])
    assert " Non-trainable params: 24 (96.00 B)" in text
    # frozen wrappers: 2 * 4*2*(3+2+1) + (4*3+3) + 4*3 = 123; only the last LSTM trains:
    # 4*2*(3+2+1) = 48
    text = _text(models["frozen_wrappers"][0])
    assert " Trainable params: 48 (192.00 B)" in text
    assert " Non-trainable params: 123 (492.00 B)" in text


def test_frozen_models_count_as_keras(keras, columns):
    ours, theirs = _named((_nested(npylstm), _nested(keras)), "outer")
    for model in (ours, theirs):
        model.layers[1].trainable = False  # the inner model
    assert _text(ours).split(" Total params:")[1] == _text(theirs).split(" Total params:")[1]
    assert " Non-trainable params: 128 (512.00 B)" in _text(ours)
    ours, theirs = _named((_two_in_two_out(npylstm), _two_in_two_out(keras)), "frozen")
    for model in (ours, theirs):
        model.trainable = False
    assert _text(ours) == _text(theirs)
    assert " Trainable params: 0 (0.00 B)" in _text(ours)


def test_a_frozen_model_shows_its_layers_frozen(keras, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    ours, theirs = _named((_two_in_two_out(npylstm), _two_in_two_out(keras)), "frozen")
    for model in (ours, theirs):
        model.trainable = False
    lines = []
    theirs.summary(print_fn=lines.append, show_trainable=True)
    assert _ours(ours, show_trainable=True) == lines[0]


def _dense_bn(lib):
    """Dense -> BatchNormalization -> frozen Dense: quick for Keras to fit."""
    L = lib.layers
    return lib.Sequential([lib.Input((3,)), L.Dense(4, name="d1"),
                           L.BatchNormalization(name="bn"),
                           L.Dense(2, name="d2", trainable=False)], name="fitted")


def _optimizer(lib, name: str):
    """The optimizer ``name`` of ``lib`` (npylstm or keras), with the same arguments."""
    if name == "adam_ema_schedule":  # no learning_rate variable; EMA adds one per weight
        schedule = lib.optimizers.schedules.ExponentialDecay(0.01, 10, 0.9)
        return lib.optimizers.Adam(learning_rate=schedule, use_ema=True)
    if name == "sgd_accumulating":  # accumulators, one per weight
        return lib.optimizers.SGD(momentum=0.9, gradient_accumulation_steps=2)
    return name


@pytest.mark.parametrize("optimizer", ["adam", "sgd", "nadam", "adam_ema_schedule",
                                       "sgd_accumulating"])
def test_optimizer_params_after_fit_are_keras_counts(keras, optimizer, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    rng = np.random.default_rng(0)
    x, y = rng.random((8, 3)).astype("float32"), rng.random((8, 2)).astype("float32")
    ours, theirs = _dense_bn(npylstm), _dense_bn(keras)
    for model, lib in ((ours, npylstm), (theirs, keras)):
        model.compile(optimizer=_optimizer(lib, optimizer), loss="mse")
    assert _text(ours) == _text(theirs)  # compiled, not yet built: no optimizer line
    assert "Optimizer params" not in _text(ours)
    for model in (ours, theirs):
        model.fit(x, y, epochs=1, batch_size=4, verbose=0)
    assert _text(ours) == _text(theirs)
    # trainable: d1 (3*4+4) and bn's gamma, beta (4+4); iteration (int32) and learning rate
    # (float32), and for Adam two slots per trainable weight: 2 + 2*24 = 50
    expected = {"adam": " Optimizer params: 50 (200.00 B)",
                "sgd": " Optimizer params: 2 (8.00 B)"}.get(optimizer, " Optimizer params: ")
    assert expected in _text(ours)


# -- Keras's other arguments ----------------------------------------------------------------
@settings(max_examples=10, deadline=None, derandomize=True)
@given(line_length=st.integers(60, 150), show_trainable=st.booleans(),
       name=st.sampled_from(["two_in_two_out", "seq_bn", "seq2seq_decoder"]),
       columns=st.sampled_from(["80", "200"]))
def test_line_length_and_trainable_column_are_keras_text(models, name, line_length,
                                                         show_trainable, columns):
    ours, theirs = models[name]
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("COLUMNS", columns)
        lines = []
        theirs.summary(print_fn=lines.append, line_length=line_length,
                       show_trainable=show_trainable)
        assert _ours(ours, line_length=line_length, show_trainable=show_trainable) == lines[0]


def test_positions_and_layer_range_are_keras_text(models, columns):
    ours, theirs = models["two_in_two_out"]
    for kwargs in ({"positions": [0.25, 0.5, 0.6, 1.0]}, {"layer_range": ["enc", "shared"]},
                   {"layer_range": ["label", "aux"]}):
        lines = []
        theirs.summary(print_fn=lines.append, **kwargs)
        assert _ours(ours, **kwargs) == lines[0]


@pytest.mark.parametrize("kwargs", [{"layer_range": ["encoder"]},
                                    {"layer_range": ["encoder", 3]},
                                    {"layer_range": ["nothing", "shared"]},
                                    {"line_length": 10}])
def test_bad_arguments_fail_as_keras(models, kwargs):
    ours, theirs = models["two_in_two_out"]
    with pytest.raises(ValueError) as keras_error:
        theirs.summary(print_fn=lambda _: None, **kwargs)
    with pytest.raises(ValueError) as our_error:
        _ours(ours, **kwargs)
    assert str(our_error.value) == str(keras_error.value)


# -- parameter formulas --------------------------------------------------------------------
def test_param_formulas_of_a_functional_model(models, monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")  # the formula table is never squeezed
    ours = models["seq2seq_training"][0]
    text = _text(ours, show_param_formulas=True)
    lines = text.splitlines()
    assert "Connected to" in lines[2] and "Param formula" in lines[2]
    assert max(len(line) for line in lines) == 140
    # LSTM: 4 × units × (input_dim + units + 1); Dense: input_dim × units + units
    assert "4 × 4 × (3 + 4 + 1) = 128" in text  # the encoder on 3 features
    assert "4 × 4 × (2 + 4 + 1) = 112" in text  # the decoder on 2
    assert "4 × 2 + 2 = 10" in text
    assert "Total params: 250" in text
    # BatchNormalization: its four vectors; a nested model: its layers' counts added
    text = _text(models["functional_bn"][0], show_param_formulas=True)
    assert "4 × 4 = 16" in text  # gamma, beta, moving mean and variance of 4 channels
    text = _text(_nested(npylstm), show_param_formulas=True)
    assert "128 = 128" in text


def test_explain_params_of_a_functional_model_with_a_nested_model():
    report = npylstm.explain_params(_nested(npylstm))
    assert [p.name for p in report.layers] == ["x", "inner", "outer_lstm", "head"]
    inner = report.layers[1]
    assert (inner.kind, inner.rule, inner.formula, inner.count) == (
        "Functional", "sum of its layers", "128 = 128", 128)
    assert inner.weights[0] == ("inner_lstm/kernel", (3, 16))
    # 128 + 4*2*(4+2+1) = 56 + 2*1+1 = 3
    assert report.total == 187
    assert "x (InputLayer)" in str(report) and "no weights = 0" in str(report)
