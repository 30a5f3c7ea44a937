"""ONNX export: every exportable layer and option, run by ONNX Runtime (CPU) on the exported
file, equals npylstm's predictions within 1e-5; every file passes ``onnx.checker`` (full
check); refusals name the layer and the reason.

ONNX Runtime is the independent implementation here (its own LSTM / GRU / RNN kernels and
operators); npylstm's predictions are themselves pinned to Keras elsewhere, and
``test_keras_file_through_onnx_equals_keras`` compares ONNX Runtime with real Keras directly.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest

onnx = pytest.importorskip("onnx", reason="the optional onnx package is not installed")
ort = pytest.importorskip("onnxruntime", reason="onnxruntime is not installed")

import npylstm  # noqa: E402
from npylstm.io.onnx import ExportError, export_onnx, to_onnx_model  # noqa: E402
from npylstm.layers import (  # noqa: E402
    ELU,
    GRU,
    LSTM,
    Activation,
    Add,
    Average,
    AveragePooling1D,
    BatchNormalization,
    Bidirectional,
    Concatenate,
    Conv1D,
    Dense,
    Dropout,
    Embedding,
    Flatten,
    GaussianNoise,
    GlobalAveragePooling1D,
    GlobalMaxPooling1D,
    Input,
    LayerNormalization,
    LeakyReLU,
    Masking,
    Maximum,
    MaxPooling1D,
    Minimum,
    Multiply,
    Permute,
    ReLU,
    RepeatVector,
    Reshape,
    SimpleRNN,
    Softmax,
    Subtract,
    TimeDistributed,
)

TOL = 1e-5
RNG = np.random.default_rng(7)
X = RNG.normal(size=(3, 6, 4)).astype("float32")

#: the largest difference seen per test (printed with -s; quoted in the closing note)
LARGEST: dict[str, float] = {}


def run_onnx(proto, xs: list) -> list:
    sess = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    return sess.run(None, {i.name: x for i, x in zip(sess.get_inputs(), xs, strict=True)})


def assert_same(model, x, key: str, opset: int = 17) -> None:
    proto = to_onnx_model(model, opset=opset)
    onnx.checker.check_model(proto, full_check=True)
    xs = x if isinstance(x, list) else [x]
    got = run_onnx(proto, xs)
    want = model(x)
    want = want if isinstance(want, list) else [want]
    assert len(got) == len(want)
    diff = 0.0
    for g, w in zip(got, want, strict=True):
        assert g.shape == np.shape(w)
        diff = max(diff, float(np.max(np.abs(g.astype("f8") - np.asarray(w, "f8")))))
    LARGEST[key] = max(LARGEST.get(key, 0.0), diff)
    assert diff <= TOL, f"{key}: ONNX Runtime differs from npylstm by {diff}"


def seq(layers, shape):
    model = npylstm.Sequential(layers)
    model.build(shape)
    return model


ACTIVATION_PAIRS = [("tanh", "sigmoid"), ("relu", "hard_sigmoid"),
                    ("linear", "hard_sigmoid_keras2"), ("softsign", "softplus"),
                    ("elu", "leaky_relu"), ("tanh", "tanh")]


@pytest.mark.parametrize("activation,recurrent_activation", ACTIVATION_PAIRS)
def test_lstm_activation_pairs(activation, recurrent_activation):
    model = seq([LSTM(5, activation=activation, recurrent_activation=recurrent_activation,
                      return_sequences=True)], (None, 6, 4))
    assert_same(model, X, "lstm activations")


@pytest.mark.parametrize("go_backwards", [False, True])
@pytest.mark.parametrize("return_sequences", [False, True])
@pytest.mark.parametrize("kind", ["LSTM", "GRU", "SimpleRNN"])
def test_recurrent_directions_and_outputs(kind, go_backwards, return_sequences):
    layer = {"LSTM": LSTM, "GRU": GRU, "SimpleRNN": SimpleRNN}[kind]
    model = seq([layer(5, go_backwards=go_backwards, return_sequences=return_sequences)],
                (None, None, 4))  # a dynamic time axis
    assert_same(model, X, f"{kind} go_backwards / return_sequences")
    assert_same(model, X[:, :2].copy(), f"{kind} go_backwards / return_sequences")


@pytest.mark.parametrize("reset_after", [True, False])
def test_gru_reset_after(reset_after):
    model = seq([GRU(5, reset_after=reset_after, recurrent_activation="hard_sigmoid",
                     return_sequences=True), GRU(3, reset_after=reset_after)], (None, 6, 4))
    # non-zero biases, both rows for reset_after
    for layer in model.layers:
        kernel, recurrent, bias = layer.get_weights()
        layer.set_weights([kernel, recurrent, RNG.normal(size=bias.shape).astype("f4")])
    proto = to_onnx_model(model)
    node = next(n for n in proto.graph.node if n.op_type == "GRU")
    attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
    assert attrs["linear_before_reset"] == int(reset_after)
    assert_same(model, X, "GRU reset_after")


def test_lstm_without_bias_and_stacked_with_dense_heads():
    model = seq([LSTM(6, use_bias=False, return_sequences=True), SimpleRNN(4, activation="relu",
                 return_sequences=True), LSTM(3), Dense(4, activation="relu"),
                 Dense(2, activation="softmax")], (None, 6, 4))
    assert_same(model, X, "stacked")


@pytest.mark.parametrize("merge_mode", ["concat", "sum", "mul", "ave"])
@pytest.mark.parametrize("return_sequences", [False, True])
@pytest.mark.parametrize("inner", [LSTM, GRU, SimpleRNN])
def test_bidirectional_merge_modes(inner, merge_mode, return_sequences):
    model = seq([Bidirectional(inner(4, return_sequences=return_sequences),
                               merge_mode=merge_mode)], (None, 6, 4))
    proto = to_onnx_model(model)
    node = next(n for n in proto.graph.node if n.op_type in ("LSTM", "GRU", "RNN"))
    assert onnx.helper.get_attribute_value(
        next(a for a in node.attribute if a.name == "direction")) == b"bidirectional"
    assert_same(model, X, "Bidirectional merge modes")


def test_bidirectional_merge_none_and_states_in_a_functional_model():
    inp = Input((6, 4))
    outs = Bidirectional(LSTM(3, return_sequences=True, return_state=True),
                         merge_mode=None)(inp)
    assert_same(npylstm.Model(inp, outs), X, "Bidirectional None + states")
    inp = Input((6, 4))
    outs = Bidirectional(GRU(3, return_state=True))(inp)
    assert_same(npylstm.Model(inp, outs), X, "Bidirectional None + states")


def test_encoder_decoder_states_and_initial_state():
    enc_in, dec_in = Input((6, 4)), Input((None, 4))
    _, h, c = LSTM(5, return_state=True)(enc_in)
    dec = LSTM(5, return_sequences=True)(dec_in, initial_state=[h, c])
    out = TimeDistributed(Dense(2, activation="softmax"))(dec)
    model = npylstm.Model([enc_in, dec_in], out)
    assert_same(model, [X, X[:, :3].copy()], "seq2seq")
    inp, state = Input((6, 4)), Input((3,))
    out = GRU(3, go_backwards=True)(inp, initial_state=[state])
    model = npylstm.Model([inp, state], out)
    assert_same(model, [X, RNG.normal(size=(3, 3)).astype("f4")], "seq2seq")
    inp, states = Input((6, 4)), [Input((3,)) for _ in range(4)]
    out = Bidirectional(LSTM(3, return_sequences=True))(inp, initial_state=states)
    model = npylstm.Model([inp, *states], out)  # the halves: forward [h, c], backward [h, c]
    assert_same(model, [X] + [RNG.normal(size=(3, 3)).astype("f4") for _ in range(4)],
                "seq2seq")


DENSE_ACTIVATIONS = ["relu", "sigmoid", "tanh", "softplus", "softsign", "exponential", "elu",
                     "selu", "hard_sigmoid", "leaky_relu", "relu6", "swish", "hard_silu",
                     "mish", "gelu", "softmax", "log_softmax", "linear"]


def test_dense_every_activation():
    for act in DENSE_ACTIVATIONS:
        model = seq([Dense(3, activation=act)], (None, 6, 4))
        assert_same(model, X, "Dense activations")


def test_activation_layers_dropout_noise():
    model = seq([Dropout(0.5), GaussianNoise(0.1), ReLU(max_value=0.5, negative_slope=0.1),
                 LeakyReLU(0.3), ELU(0.7), Activation("tanh"), Softmax(axis=1)], (None, 6, 4))
    assert_same(model, X, "activation layers")


def test_embedding_text_classifiers():
    ids = RNG.integers(0, 20, size=(4, 7)).astype("int32")
    ids[:, :3] = 0  # padding, masked by mask_zero
    model = seq([Input((7,), dtype="int32"), Embedding(20, 4, mask_zero=True),
                 GlobalAveragePooling1D(), Dense(2, activation="softmax")], None)
    assert_same(model, ids, "Embedding")
    model = seq([Embedding(20, 4), LSTM(3), Dense(1, activation="sigmoid")], (None, 7))
    assert_same(model, ids, "Embedding")


@pytest.mark.parametrize("padding", ["valid", "same", "causal"])
@pytest.mark.parametrize("strides,dilation", [(1, 1), (2, 1), (1, 2)])
def test_conv1d(padding, strides, dilation):
    x = RNG.normal(size=(2, 7, 4)).astype("f4")
    model = seq([Conv1D(3, 3, strides=strides, dilation_rate=dilation, padding=padding,
                        activation="relu")], (None, 7, 4))
    assert_same(model, x, "Conv1D")


@pytest.mark.parametrize("pool", [MaxPooling1D, AveragePooling1D])
@pytest.mark.parametrize("padding", ["valid", "same"])
def test_pooling(pool, padding):
    x = RNG.normal(size=(2, 8, 4)).astype("f4")
    model = seq([Conv1D(4, 2, padding="same", groups=2), pool(pool_size=3, strides=2,
                                                             padding=padding),
                 GlobalMaxPooling1D()], (None, 8, 4))
    assert_same(model, x, "pooling")
    model = seq([pool(pool_size=2), GlobalAveragePooling1D(keepdims=True)], (None, 8, 4))
    assert_same(model, x, "pooling")


def test_normalization():
    bn = BatchNormalization()
    model = seq([bn, LayerNormalization(), LayerNormalization(rms_scaling=True),
                 LayerNormalization(axis=[1, 2], center=False)], (None, 6, 4))
    bn.set_weights([RNG.normal(size=4).astype("f4") for _ in range(3)]
                   + [RNG.uniform(0.5, 2.0, size=4).astype("f4")])
    assert_same(model, X, "normalization")
    assert_same(model, X, "normalization", opset=14)  # Reduce* with axes as attributes
    assert_same(model, X, "normalization", opset=21)  # ... and as inputs (opset 18 on)


def test_reshaping_and_time_distributed():
    model = seq([TimeDistributed(Dense(3)), Flatten(), Dense(12), Reshape((3, 4)), LSTM(2),
                 RepeatVector(3), Permute((2, 1))], (None, 6, 4))
    assert_same(model, X, "reshaping")


def test_masking_before_dense():
    x = X.copy()
    x[:, 2] = 0.0
    model = seq([Masking(0.0), Dense(3), GlobalAveragePooling1D()], (None, 6, 4))
    assert_same(model, x, "Masking")


def test_merge_layers():
    a, b = Input((6, 4)), Input((6, 4))
    h1 = LSTM(5, return_sequences=True)(a)
    h2 = GRU(5, return_sequences=True)(b)
    outs = [layer()([h1, h2]) for layer in (Add, Subtract, Multiply, Average, Maximum,
                                             Minimum, Concatenate)]
    outs.append(Add()([h1, h2, h1]))
    assert_same(npylstm.Model([a, b], outs), [X, X[::-1].copy()], "merge")


def test_float64_dense_model():
    model = seq([Dense(3, activation="tanh", dtype="float64")], (None, 6, 4))
    assert_same(model, X.astype("f8"), "float64")


def test_file_written_atomically_and_checked(tmp_path):
    model = seq([LSTM(3), Dense(1)], (None, 5, 2))
    path = export_onnx(model, tmp_path / "m.onnx")
    proto = onnx.load(str(path))
    onnx.checker.check_model(proto, full_check=True)
    assert [i.name for i in proto.graph.input] and proto.producer_name == "npylstm"
    dims = proto.graph.input[0].type.tensor_type.shape.dim
    assert dims[0].dim_param == "batch" and [d.dim_value for d in dims[1:]] == [5, 2]
    x = RNG.normal(size=(7, 5, 2)).astype("f4")  # a batch size the model never saw
    assert np.max(np.abs(run_onnx(proto, [x])[0] - model(x))) <= TOL
    with pytest.raises(ExportError, match="lstm.*activation 'sparse_plus'"):
        export_onnx(seq([LSTM(3, activation="sparse_plus")], (None, 5, 2)), tmp_path / "b.onnx")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.onnx"]  # no temporary left


# -- refusals ----------------------------------------------------------------------------
def test_refuses_mask_into_recurrent_layer():
    model = seq([Masking(0.0), LSTM(3)], (None, 6, 4))
    with pytest.raises(ExportError, match=r"layer 'lstm.*' \(LSTM\): receives a Keras time "
                                          r"mask.*sequence_lens"):
        to_onnx_model(model)
    model = seq([Embedding(10, 3, mask_zero=True), Bidirectional(GRU(2))], (None, 5))
    with pytest.raises(ExportError, match=r"\(Bidirectional\): receives a Keras time mask"):
        to_onnx_model(model)


def test_masks_through_merge_and_normalization():
    """Masks from Embedding(mask_zero) pass Dense / BatchNormalization / Add (Keras's
    Merge.compute_mask: the OR) to a masked mean; a masked Multiply / Maximum / Softmax is
    refused (Keras changes their values at masked steps)."""
    ids = Input((7,), dtype="int32")
    a = Embedding(20, 4, mask_zero=True)(ids)
    b = Dense(4)(Embedding(20, 4, mask_zero=True)(ids))
    out = GlobalAveragePooling1D()(BatchNormalization()(Add()([a, b])))
    x = RNG.integers(0, 20, size=(4, 7)).astype("int32")
    x[:, :3] = 0
    assert_same(npylstm.Model(ids, out), x, "Embedding")
    for layer in (Multiply(), Maximum()):
        ids = Input((7,), dtype="int32")
        e = Embedding(20, 4, mask_zero=True)(ids)
        with pytest.raises(ExportError, match=r"receives a Keras time mask, which changes"):
            to_onnx_model(npylstm.Model(ids, layer([e, e])))
    with pytest.raises(ExportError, match=r"\(Softmax\): receives a Keras time mask"):
        to_onnx_model(seq([Embedding(20, 4, mask_zero=True), Softmax()], (None, 7)))


def test_refuses_stateful():
    model = npylstm.Sequential([Input(batch_shape=(2, 6, 4)), LSTM(3, stateful=True)])
    with pytest.raises(ExportError, match="stateful=True.*stateless"):
        to_onnx_model(model)


@pytest.mark.parametrize("activation", ["selu", "swish", "gelu", "exponential"])
def test_refuses_recurrent_activation_without_onnx_form(activation):
    with pytest.raises(ExportError, match=f"activation '{activation}' is not one of"):
        to_onnx_model(seq([GRU(3, activation=activation)], (None, 6, 4)))


def test_refuses_dense_activation_without_onnx_form():
    with pytest.raises(ExportError, match="activation 'sparsemax' has no exact ONNX"):
        to_onnx_model(seq([Dense(3, activation="sparsemax")], (None, 4)))


def test_refuses_unknown_layers_and_options():
    from npylstm.layers import MultiHeadAttention, ZeroPadding1D

    with pytest.raises(ExportError, match=r"'zero_padding1d.*' \(ZeroPadding1D\): no exact "
                                          r"ONNX export"):
        to_onnx_model(seq([ZeroPadding1D(1)], (None, 6, 4)))
    with pytest.raises(ExportError, match=r"threshold=0.5 is not exported"):
        to_onnx_model(seq([ReLU(threshold=0.5)], (None, 4)))
    q = Input((6, 4))
    out = MultiHeadAttention(2, 2)(q, q)
    with pytest.raises(ExportError, match="MultiHeadAttention"):
        to_onnx_model(npylstm.Model(q, out))


def test_refuses_inexpressible_options():
    with pytest.raises(ExportError, match=r"\(Bidirectional\): ONNX's bidirectional operator "
                                          r"reads the forward direction first"):
        to_onnx_model(seq([Bidirectional(LSTM(3, go_backwards=True),
                                         backward_layer=LSTM(3))], (None, 6, 4)))
    with pytest.raises(ExportError, match=r"the two directions differ"):
        to_onnx_model(seq([Bidirectional(LSTM(3), backward_layer=LSTM(2, go_backwards=True))],
                          (None, 6, 4)))
    with pytest.raises(ExportError, match="data_format='channels_first' is not exported"):
        to_onnx_model(seq([Flatten(data_format="channels_first")], (None, 6, 4)))
    with pytest.raises(ExportError, match=r"dtype float64 differs from the model's float32"):
        to_onnx_model(seq([Dense(2), Dense(2, dtype="float64")], (None, 3)))
    ids = Input((7,), dtype="int32")
    e = Embedding(20, 4, mask_zero=True)(ids)
    with pytest.raises(ExportError, match="a masked Concatenate is not exported"):
        to_onnx_model(npylstm.Model(ids, Concatenate()([e, e])))


def test_refuses_bad_arguments():
    with pytest.raises(ValueError, match="opset to be an integer from 14"):
        to_onnx_model(seq([Dense(1)], (None, 2)), opset=9)
    with pytest.raises(TypeError, match="expected an npylstm model"):
        to_onnx_model(object())
    with pytest.raises(ExportError, match="not built"):
        to_onnx_model(npylstm.Sequential([Dense(1)]))


def test_without_the_onnx_package(monkeypatch, tmp_path):
    import sys

    from npylstm.io.onnx import import_onnx

    monkeypatch.setitem(sys.modules, "onnx", None)
    with pytest.raises(ImportError, match="export_onnx needs the optional onnx package"):
        to_onnx_model(seq([Dense(1)], (None, 2)))
    (tmp_path / "m.onnx").write_bytes(b"x")
    with pytest.raises(ImportError, match="import_onnx needs the optional onnx package"):
        import_onnx(tmp_path / "m.onnx")


def test_keras_file_through_onnx_equals_keras(keras, tmp_path):
    """A model made and saved by real Keras, loaded by npylstm, exported: ONNX Runtime's
    outputs equal Keras's own outputs (Keras 3's hard_sigmoid in a recurrent layer)."""
    km = keras.Sequential([
        keras.Input((6, 4)),
        keras.layers.Bidirectional(keras.layers.LSTM(5, recurrent_activation="hard_sigmoid",
                                                     return_sequences=True)),
        keras.layers.Dense(3),
    ])
    with warnings.catch_warnings():  # Keras's saver calls Variable.__array__ (NumPy 2 warns)
        warnings.filterwarnings("ignore", message="__array__ implementation doesn't accept",
                                category=DeprecationWarning)
        km.save(tmp_path / "k.keras")
    model = npylstm.load_model(tmp_path / "k.keras")
    proto = to_onnx_model(model)
    node = next(n for n in proto.graph.node if n.op_type == "LSTM")
    attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
    assert attrs["activations"] == [b"HardSigmoid", b"Tanh", b"Tanh"] * 2
    assert attrs["activation_alpha"] == [pytest.approx(1 / 6)] * 2  # Keras 3: x / 6 + 0.5
    want = np.asarray(km.predict(X, verbose=0))
    assert want.shape == (3, 6, 3) and np.ptp(want) > 0.1
    diff = float(np.max(np.abs(run_onnx(proto, [X])[0] - want)))
    LARGEST["Keras file vs Keras"] = diff
    assert diff <= TOL


FIXTURES = Path(__file__).parent / "fixtures"
KERAS2_FILES = ["keras2_stacked", "keras2_hard_sigmoid", "keras2_gru", "keras2_bidirectional",
                "keras2_seq2seq", "keras2_shared", "keras2_func_gru"]


@pytest.mark.parametrize("name", KERAS2_FILES)
def test_tf_keras_files_through_onnx_equal_tf_keras(name):
    """Legacy files written by tf_keras 2.x with its own predictions (tests/fixtures/
    make_keras2_*fixtures.py): ONNX Runtime on the export equals them; Keras 2's
    hard_sigmoid becomes HardSigmoid(alpha=0.2, beta=0.5)."""
    model = npylstm.load_model(FIXTURES / f"{name}.h5")
    data = np.load(FIXTURES / f"{name}.npz")
    proto = to_onnx_model(model)
    xs = [data[k] for k in sorted(data.files) if k == "x" or (k[0] == "x" and k[1:].isdigit())]
    ys = [data[k] for k in sorted(data.files) if k == "y" or (k[0] == "y" and k[1:].isdigit())]
    got = run_onnx(proto, xs)
    diff = max(float(np.max(np.abs(g - y))) for g, y in zip(got, ys, strict=True))
    LARGEST["tf_keras fixtures vs tf_keras"] = max(
        LARGEST.get("tf_keras fixtures vs tf_keras", 0.0), diff)
    assert diff <= TOL
    if name == "keras2_hard_sigmoid":
        node = next(n for n in proto.graph.node if n.op_type == "LSTM")
        attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
        assert attrs["activations"] == [b"HardSigmoid", b"Tanh", b"Tanh"]
        assert attrs["activation_alpha"] == [pytest.approx(0.2)]
        assert attrs["activation_beta"] == [pytest.approx(0.5)]


def test_refuses_nested_models_and_masked_functional_recurrent():
    inner_in = Input((3,))
    inner = npylstm.Model(inner_in, Dense(2)(inner_in))
    inp = Input((3,))
    with pytest.raises(ExportError, match="nested models are not exported"):
        to_onnx_model(npylstm.Model(inp, inner(inp)))
    model = npylstm.load_model(FIXTURES / "keras2_gru_masked.h5")
    with pytest.raises(ExportError, match=r"\(GRU\): receives a Keras time mask"):
        to_onnx_model(model)


def test_print_largest_differences():
    """Runs last in this module: the figures quoted in the closing note (pytest -s)."""
    for key, value in sorted(LARGEST.items()):
        print(f"{key:40s} {value:.3g}")
