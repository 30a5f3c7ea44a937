"""ONNX import: files the exporter writes come back as the same model (same Keras weight
layout, same predictions); chains without npylstm's metadata — tf2onnx's pattern for a Keras
recurrent classifier, built here by hand with ``onnx.helper`` — give a model whose
predictions equal ONNX Runtime's on that file; bad files give clear errors."""

from __future__ import annotations

import numpy as np
import pytest

onnx = pytest.importorskip("onnx", reason="the optional onnx package is not installed")
ort = pytest.importorskip("onnxruntime", reason="onnxruntime is not installed")

from onnx import TensorProto  # noqa: E402
from onnx import helper as oh  # noqa: E402
from onnx import numpy_helper as nh  # noqa: E402

import npylstm  # noqa: E402
from npylstm.io.onnx import OnnxImportError, export_onnx, import_onnx, to_onnx_model  # noqa: E402
from npylstm.layers import (  # noqa: E402
    GRU,
    LSTM,
    BatchNormalization,
    Bidirectional,
    Conv1D,
    Dense,
    Embedding,
    GlobalAveragePooling1D,
    Input,
    LayerNormalization,
    SimpleRNN,
    TimeDistributed,
)

RNG = np.random.default_rng(11)
X = RNG.normal(size=(3, 6, 4)).astype("float32")
TOL = 1e-5
LARGEST: dict[str, float] = {}


def seq(layers, shape):
    model = npylstm.Sequential(layers)
    model.build(shape)
    return model


def with_random_biases(model):
    for layer in model.layers:
        for inner in getattr(layer, "forward_layer", None), getattr(layer, "backward_layer",
                                                                    None), layer:
            if inner is not None and getattr(inner, "bias", None) is not None and hasattr(
                    inner, "recurrent_kernel"):
                inner.bias[...] = RNG.normal(size=inner.bias.shape)
    return model


def ort_run(path_or_proto, x):
    data = path_or_proto.SerializeToString() if hasattr(path_or_proto, "SerializeToString") \
        else open(path_or_proto, "rb").read()
    sess = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    return sess.run(None, {sess.get_inputs()[0].name: x})[0]


def diff(a, b) -> float:
    return float(np.max(np.abs(np.asarray(a, "f8") - np.asarray(b, "f8"))))


def test_round_trip_sequential(tmp_path):
    bn = BatchNormalization()
    model = seq([Conv1D(3, 2, padding="same"), bn, Bidirectional(GRU(3, return_sequences=True)),
                 LayerNormalization(), TimeDistributed(Dense(2)), LSTM(3, go_backwards=True),
                 Dense(2, activation="softmax")], (None, 6, 4))
    bn.set_weights([RNG.normal(size=3).astype("f4") for _ in range(3)]
                   + [RNG.uniform(0.5, 2.0, size=3).astype("f4")])
    with_random_biases(model)
    back = import_onnx(export_onnx(model, tmp_path / "m.onnx"))
    assert type(back).__name__ == "Sequential"
    assert [type(a) for a in back.layers] == [type(a) for a in model.layers]
    assert back.get_config() == model.get_config()
    for a, b in zip(model.get_weights(), back.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)  # the same Keras layout
    np.testing.assert_array_equal(back(X), model(X))


def test_round_trip_functional_and_embedding(tmp_path):
    enc_in, dec_in = Input((6, 4)), Input((None, 4))
    _, h, c = LSTM(5, return_state=True)(enc_in)
    dec = LSTM(5, return_sequences=True)(dec_in, initial_state=[h, c])
    model = npylstm.Model([enc_in, dec_in], TimeDistributed(Dense(2))(dec))
    back = import_onnx(export_onnx(model, tmp_path / "f.onnx"))
    np.testing.assert_array_equal(back([X, X[:, :2].copy()]), model([X, X[:, :2].copy()]))
    model = seq([Embedding(20, 4, mask_zero=True), GlobalAveragePooling1D(), Dense(1)],
                (None, 7))
    ids = RNG.integers(0, 20, size=(3, 7)).astype("int32")
    back = import_onnx(export_onnx(model, tmp_path / "e.onnx"))
    np.testing.assert_array_equal(back(ids), model(ids))


def strip_metadata(proto):
    del proto.metadata_props[:]
    return proto


CHAIN_MODELS = {
    "lstm-stack-dense": lambda: seq([LSTM(5, return_sequences=True), LSTM(4),
                                     Dense(3, activation="softmax")], (None, 6, 4)),
    "gru-reset-after": lambda: seq([GRU(4, return_sequences=True), Dense(2)], (None, None, 4)),
    "gru-reset-before": lambda: seq([GRU(4, reset_after=False, recurrent_activation="hard_sigmoid"),
                                     Dense(1, activation="sigmoid")], (None, 6, 4)),
    "simple-rnn-backwards": lambda: seq([SimpleRNN(3, go_backwards=True, return_sequences=True),
                                         SimpleRNN(2, go_backwards=True, activation="relu")],
                                        (None, 6, 4)),
    "dense-activations": lambda: seq([LSTM(3, return_sequences=True), Dense(3, activation="elu"),
                                      Dense(3, activation="leaky_relu"),
                                      Dense(2, activation="hard_sigmoid")], (None, 6, 4)),
    "bidirectional-concat": lambda: seq([Bidirectional(LSTM(3, return_sequences=True)),
                                         Bidirectional(GRU(2)), Dense(2, activation="tanh")],
                                        (None, 6, 4)),
}


@pytest.mark.parametrize("name", sorted(CHAIN_MODELS))
def test_chain_import_without_metadata(name, tmp_path):
    """The exporter's graphs with the metadata removed: recognised from the operators
    alone (weights back in Keras's layout, predictions equal)."""
    model = with_random_biases(CHAIN_MODELS[name]())
    path = tmp_path / "chain.onnx"
    onnx.save(strip_metadata(to_onnx_model(model)), str(path))
    back = import_onnx(path)
    assert [type(a).__name__ for a in back.layers] == [type(a).__name__ for a in model.layers]
    for a, b in zip(model.get_weights(), back.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    d = diff(back(X), model(X))
    LARGEST["chain (exporter's graphs)"] = max(LARGEST.get("chain (exporter's graphs)", 0), d)
    assert d <= TOL


# -- tf2onnx's pattern, written out by hand ------------------------------------------------
def _tf2onnx_graph(kind: str, stacked: bool = False, gemm: bool = False, opset: int = 13,
                   last: str = "y_h"):
    """What tf2onnx writes for ``Sequential([LSTM(H) (, LSTM(H)), Dense(C, softmax)])``:
    time-major Transpose, zero initial states from the input's Shape via ConstantOfShape,
    Squeeze of Y_h, MatMul + Add (or Gemm), Softmax. Returns (model, x)."""
    f, hdim, c, t = 4, 5, 3, 6
    gates = {"LSTM": 4, "GRU": 3, "RNN": 1}[kind]
    inits, nodes = {}, []

    def weights(prefix, inputs):
        inits[f"{prefix}W"] = RNG.normal(size=(1, gates * hdim, inputs)).astype("f4") * 0.5
        inits[f"{prefix}R"] = RNG.normal(size=(1, gates * hdim, hdim)).astype("f4") * 0.5
        inits[f"{prefix}B"] = np.concatenate([RNG.normal(size=(1, gates * hdim)),
                                              np.zeros((1, gates * hdim))], 1).astype("f4")

    inits.update(one=np.array([1], "i8"), hdim=np.array([hdim], "i8"),
                 ax0=np.array([0], "i8"))
    nodes += [oh.make_node("Transpose", ["input_1"], ["xt"], perm=[1, 0, 2]),
              oh.make_node("Shape", ["xt"], ["shape"]),
              oh.make_node("Gather", ["shape", "one"], ["batch"], axis=0),
              oh.make_node("Concat", ["one", "batch", "hdim"], ["zshape"], axis=0),
              oh.make_node("ConstantOfShape", ["zshape"], ["zeros"],
                           value=nh.from_array(np.zeros(1, "f4")))]
    states = ["zeros", "zeros"] if kind == "LSTM" else ["zeros"]
    extra = {"linear_before_reset": 1} if kind == "GRU" else {}
    x_in = "xt"
    if stacked:
        inits["ax1"] = np.array([1], "i8")
        weights("l0_", f)
        nodes += [oh.make_node(kind, [x_in, "l0_W", "l0_R", "l0_B", "", *states],
                               ["y0", "h0"], hidden_size=hdim, **extra),
                  oh.make_node("Squeeze", ["y0", "ax1"], ["seq0"])]
        x_in = "seq0"  # the time-major sequence feeds the next node directly
    weights("l1_", hdim if stacked else f)
    nodes.append(oh.make_node(kind, [x_in, "l1_W", "l1_R", "l1_B", "", *states],
                              ["y1", "h1"], hidden_size=hdim, **extra))
    if last == "y_h":
        nodes.append(oh.make_node("Squeeze", ["h1", "ax0"], ["last"]))
    else:  # TF2 Keras's outputs[-1] of the stacked (time-major) sequence
        inits.update(ax1=np.array([1], "i8"), minus1=np.array(-1, "i8"),
                     start=np.array([-1], "i8"), end=np.array([2**62], "i8"))
        nodes.append(oh.make_node("Squeeze", ["y1", "ax1"], ["seq1"]))
        if last == "gather":
            nodes.append(oh.make_node("Gather", ["seq1", "minus1"], ["last"], axis=0))
        else:
            nodes += [oh.make_node("Slice", ["seq1", "start", "end", "ax0"], ["last3"]),
                      oh.make_node("Squeeze", ["last3", "ax0"], ["last"])]
    inits["kernel"] = RNG.normal(size=(hdim, c)).astype("f4")
    inits["bias"] = RNG.normal(size=c).astype("f4")
    if gemm:
        inits["kernel"] = np.ascontiguousarray(inits["kernel"].T)
        nodes.append(oh.make_node("Gemm", ["last", "kernel", "bias"], ["logits"], transB=1))
    else:
        nodes += [oh.make_node("MatMul", ["last", "kernel"], ["mm"]),
                  oh.make_node("Add", ["mm", "bias"], ["logits"])]
    nodes.append(oh.make_node("Softmax", ["logits"], ["dense"], axis=-1))
    graph = oh.make_graph(nodes, "tf2onnx", [oh.make_tensor_value_info(
        "input_1", TensorProto.FLOAT, ["unk__1", t, f])], [oh.make_tensor_value_info(
            "dense", TensorProto.FLOAT, ["unk__1", c])],
        [nh.from_array(v, k) for k, v in inits.items()])
    model = oh.make_model(graph, opset_imports=[oh.make_opsetid("", opset)],
                          producer_name="tf2onnx")
    onnx.checker.check_model(model, full_check=True)
    return model, RNG.normal(size=(2, t, f)).astype("f4")


@pytest.mark.parametrize("kind,stacked,gemm,last", [
    ("LSTM", False, False, "y_h"), ("LSTM", True, False, "y_h"), ("GRU", False, True, "y_h"),
    ("RNN", True, True, "y_h"), ("LSTM", False, False, "gather"), ("GRU", True, False, "slice")])
def test_tf2onnx_pattern(kind, stacked, gemm, last, tmp_path):
    proto, x = _tf2onnx_graph(kind, stacked, gemm, last=last)
    path = tmp_path / "tf2onnx.onnx"
    onnx.save(proto, str(path))
    model = import_onnx(path)
    names = [type(a).__name__ for a in model.layers]
    recurrent = {"LSTM": "LSTM", "GRU": "GRU", "RNN": "SimpleRNN"}[kind]
    assert names == [recurrent] * (2 if stacked else 1) + ["Dense"]
    assert model.layers[-1].activation == "softmax"
    d = diff(model(x), ort_run(proto, x))
    LARGEST["tf2onnx pattern vs ONNX Runtime"] = max(
        LARGEST.get("tf2onnx pattern vs ONNX Runtime", 0), d)
    assert d <= TOL


# -- bad files -----------------------------------------------------------------------------
def test_missing_directory_and_not_onnx(tmp_path):
    with pytest.raises(FileNotFoundError, match="No such file"):
        import_onnx(tmp_path / "nope.onnx")
    with pytest.raises(OnnxImportError, match="is a directory"):
        import_onnx(tmp_path)
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"\x00\xffnot a protobuf at all" * 10)
    with pytest.raises(OnnxImportError, match="is not an? (valid )?ONNX model"):
        import_onnx(junk)
    good = export_onnx(seq([LSTM(3)], (None, 5, 2)), tmp_path / "good.onnx")
    cut = tmp_path / "cut.onnx"
    cut.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(OnnxImportError, match="cut.onnx"):
        import_onnx(cut)


def _save(proto, tmp_path, name="bad.onnx"):
    path = tmp_path / name
    path.write_bytes(proto.SerializeToString())
    return path


def test_shape_bomb_and_external_data_refused(tmp_path):
    proto = to_onnx_model(seq([Dense(2)], (None, 3)))
    kernel = next(t for t in proto.graph.initializer if t.name.endswith("/kernel"))
    kernel.dims[:] = [100000, 100000]  # declares 10^10 values; holds 6
    with pytest.raises(OnnxImportError, match="declares"):
        import_onnx(_save(proto, tmp_path))
    proto = to_onnx_model(seq([Dense(2)], (None, 3)))
    kernel = next(t for t in proto.graph.initializer if t.name.endswith("/kernel"))
    kernel.dims[:] = [3, 3]  # 9 declared, 6 present
    with pytest.raises(OnnxImportError, match=r"declares dims \[3, 3\] \(9 values\) but holds 6"):
        import_onnx(_save(proto, tmp_path))
    proto = to_onnx_model(seq([Dense(2)], (None, 3)))
    kernel = next(t for t in proto.graph.initializer if t.name.endswith("/kernel"))
    kernel.data_location = TensorProto.EXTERNAL
    entry = kernel.external_data.add()
    entry.key, entry.value = "location", "/etc/passwd"
    kernel.ClearField("raw_data")
    with pytest.raises(OnnxImportError, match="external file"):
        import_onnx(_save(proto, tmp_path))


def test_bad_metadata(tmp_path):
    proto = to_onnx_model(seq([LSTM(3)], (None, 5, 2)))
    proto.metadata_props[0].value = "{not json"
    with pytest.raises(OnnxImportError, match="keras_config metadata is not valid JSON"):
        import_onnx(_save(proto, tmp_path))
    proto = to_onnx_model(seq([LSTM(3)], (None, 5, 2)))
    proto.metadata_props[0].value = '{"class_name": "Evil", "config": {}}'
    with pytest.raises(OnnxImportError, match="does not describe an npylstm model"):
        import_onnx(_save(proto, tmp_path))
    proto = to_onnx_model(seq([LSTM(3)], (None, 5, 2)))
    w = next(t for t in proto.graph.initializer if t.name.endswith("/W"))
    w.name = "renamed"
    for node in proto.graph.node:
        node.input[:] = ["renamed" if i.endswith("/W") else i for i in node.input]
    with pytest.raises(OnnxImportError, match=r"needs the initializer 'lstm.*/W'"):
        import_onnx(_save(proto, tmp_path))
    proto = to_onnx_model(seq([LSTM(3)], (None, 5, 2)))
    b = next(t for t in proto.graph.initializer if t.name.endswith("/B"))
    arr = nh.to_array(b).copy()
    arr[0, -1] = 1.0  # a non-zero recurrent bias Rb
    b.CopyFrom(nh.from_array(arr, b.name))
    with pytest.raises(OnnxImportError, match="recurrent bias Rb is not zero"):
        import_onnx(_save(proto, tmp_path))


def _edit_tf2onnx(tmp_path, edit):
    proto, _ = _tf2onnx_graph("LSTM")
    edit(proto)
    return _save(proto, tmp_path)


def test_unrecognised_chains_name_the_node(tmp_path):
    def nonzero_state(proto):
        lstm = next(n for n in proto.graph.node if n.op_type == "LSTM")
        proto.graph.initializer.append(nh.from_array(np.ones((1, 1, 5), "f4"), "h0"))
        lstm.input[5] = "h0"

    with pytest.raises(OnnxImportError, match=r"\(LSTM\): initial state 'h0' is not zeros"):
        import_onnx(_edit_tf2onnx(tmp_path, nonzero_state))

    def sequence_lens(proto):
        lstm = next(n for n in proto.graph.node if n.op_type == "LSTM")
        proto.graph.initializer.append(nh.from_array(np.array([6, 6], "i4"), "lens"))
        lstm.input[4] = "lens"

    with pytest.raises(OnnxImportError, match=r"\(LSTM\): sequence_lens is set"):
        import_onnx(_edit_tf2onnx(tmp_path, sequence_lens))

    def foreign_op(proto):
        soft = next(n for n in proto.graph.node if n.op_type == "Softmax")
        soft.op_type = "Hardmax"

    with pytest.raises(OnnxImportError, match=r"\(Hardmax\): not part of a recognised"):
        import_onnx(_edit_tf2onnx(tmp_path, foreign_op))

    def peephole_like_activation(proto):
        lstm = next(n for n in proto.graph.node if n.op_type == "LSTM")
        lstm.attribute.append(oh.make_attribute("activations", ["Sigmoid", "Tanh", "Relu"]))

    with pytest.raises(OnnxImportError, match=r"different cell and output activations"):
        import_onnx(_edit_tf2onnx(tmp_path, peephole_like_activation))


def test_chain_refusals_of_the_graph_shape(tmp_path):
    """A reverse node whose sequence stays in input order (no Keras layer returns that),
    and a graph of two inputs without npylstm's metadata."""
    model = seq([LSTM(3, go_backwards=True, return_sequences=True)], (None, 6, 4))
    proto = strip_metadata(to_onnx_model(model))
    rev = next(n for n in proto.graph.node if n.op_type == "Slice")
    squeeze_out = rev.input[0]
    for node in proto.graph.node:  # bypass the reversal
        node.input[:] = [squeeze_out if i == rev.output[0] else i for i in node.input]
    proto.graph.node.remove(rev)
    with pytest.raises(OnnxImportError, match=r"\(LSTM\): a reverse node's sequence in input "
                                              r"order is not a Keras layer's output"):
        import_onnx(_save(proto, tmp_path))
    a, b = Input((6, 4)), Input((6, 4))
    from npylstm.layers import Add

    proto = strip_metadata(to_onnx_model(npylstm.Model([a, b], Add()([a, b]))))
    with pytest.raises(OnnxImportError, match="no npylstm metadata, and 2 inputs"):
        import_onnx(_save(proto, tmp_path))


def test_print_largest_differences():
    for key, value in sorted(LARGEST.items()):
        print(f"{key:40s} {value:.3g}")
