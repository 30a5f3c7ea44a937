"""Keras 2 (tf_keras 2.21) functional-model files, read and written without TensorFlow.

The fixtures, tf_keras's predictions and its gradients (``tf.GradientTape``) of the loss
``sum_i mean((y_i - t_i) ** 2)`` are written by
``tests/fixtures/make_keras2_functional_fixtures.py``: a seq2seq encoder-decoder (the
decoder's ``initial_state`` from the encoder's states, which tf_keras writes as extra
inbound entries of the decoder's node), a two-input two-output model with a shared Dense
(two nodes) into a Concatenate and an Add, a GRU(reset_after=False) with Keras 2's
``hard_sigmoid`` returning its state into two outputs, and Masking -> Bidirectional(LSTM)
-> LSTM -> Dense on padded rows, and a MultiHeadAttention(query, value) whose value
tf_keras writes into the node's kwargs. Each is read from ``.h5`` and tf_keras's ``.keras``,
written back, read again, and read by Keras 3 from npylstm's ``.keras``. A model with Keras
2's hard sigmoid is written in tf_keras's node format, which tf_keras itself reads back
(``test_tf_keras_reads_our_keras2_functional_h5``, slow: a TensorFlow subprocess).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import h5py
import numpy as np
import pytest

import npylstm
from npylstm import keras_io
from npylstm.layers import (
    GRU,
    LSTM,
    Add,
    Bidirectional,
    Concatenate,
    Dense,
    Masking,
    MultiHeadAttention,
)

FIXTURES = Path(__file__).parent / "fixtures"
NAMES = ["keras2_seq2seq", "keras2_shared", "keras2_func_gru", "keras2_func_bidi"]
KERAS3_NAMES = [n for n in NAMES if n != "keras2_func_gru"]  # no Keras 2 hard_sigmoid
ATOL = 1e-6
GRAD_RTOL = 1e-5  # of the largest gradient entry of each weight
TF_PYTHON = Path("/work/tfvenv/bin/python")


def data(name: str) -> dict:
    with np.load(FIXTURES / f"{name}.npz") as npz:
        arrays = dict(npz)
    count = {k: sum(1 for f in arrays if f[0] == k and f[1:].isdigit()) for k in "xytg"}
    return {k: [arrays[f"{k}{i}"] for i in range(count[k])] for k in "xytg"} | {
        "loss": float(arrays["loss"]), "weight_names": list(arrays["weight_names"])}


def one(values: list):
    """A model's inputs / targets: the array itself for one, the list for several."""
    return values[0] if len(values) == 1 else values


def as_list(y) -> list:
    return list(y) if isinstance(y, list | tuple) else [y]


def model_config(path: Path) -> dict:
    with h5py.File(path, "r") as h5:
        return json.loads(h5.attrs["model_config"])


def check_predictions(model, d: dict, atol: float = ATOL) -> None:
    ys = as_list(model.predict(one(d["x"]), verbose=0))
    assert len(ys) == len(d["y"])
    for y, expected in zip(ys, d["y"], strict=True):
        np.testing.assert_allclose(y, expected, atol=atol, rtol=0)


# -- reading ----------------------------------------------------------------------------------


def test_fixtures_hold_keras2_forms():
    """What the reading tests rely on is really in the files: keras_version 2, tf_keras's
    node lists, InputLayers with batch_input_shape, the decoder's initial state as extra
    inbound entries, the shared layer's two nodes."""
    for name in NAMES:
        config = model_config(FIXTURES / f"{name}.h5")
        assert keras_io.read_model_file(FIXTURES / f"{name}.h5").keras_version == "2.21.0"
        assert config["class_name"] == "Functional"
        layers = config["config"]["layers"]
        assert all("batch_input_shape" in layer["config"] for layer in layers
                   if layer["class_name"] == "InputLayer")
        nodes = [node for layer in layers for node in layer["inbound_nodes"]]
        assert nodes and all(isinstance(node, list) for node in nodes)
        assert all(len(entry) == 4 for node in nodes for entry in node)
        assert all(isinstance(v, list) and len(v) == 3
                   for v in config["config"]["input_layers"] + config["config"]["output_layers"])
    layers = {layer["name"]: layer for layer in
              model_config(FIXTURES / "keras2_seq2seq.h5")["config"]["layers"]}
    assert layers["decoder"]["inbound_nodes"] == [[["decoder_input", 0, 0, {}],
                                                   ["encoder", 0, 1, {}], ["encoder", 0, 2, {}]]]
    layers = {layer["name"]: layer for layer in
              model_config(FIXTURES / "keras2_shared.h5")["config"]["layers"]}
    assert layers["shared"]["inbound_nodes"] == [[["a", 0, 0, {}]], [["b", 0, 0, {}]]]
    assert layers["cat"]["inbound_nodes"] == [[["shared", 0, 0, {}], ["shared", 1, 0, {}]]]
    layers = model_config(FIXTURES / "keras2_func_gru.h5")["config"]["layers"]
    assert {layer["config"]["recurrent_activation"] for layer in layers
            if layer["class_name"] == "GRU"} == {"hard_sigmoid", "sigmoid"}


@pytest.mark.parametrize("suffix", [".h5", ".keras"])
@pytest.mark.parametrize("name", NAMES)
def test_keras2_functional_file_reproduces_tf_keras(name, suffix):
    """Predictions within 1e-6 of tf_keras's; the loss and every weight's gradient within
    1e-5 of the gradient's scale (tf_keras's tf.GradientTape), in tf_keras's
    ``trainable_weights`` order."""
    d = data(name)
    model = npylstm.load_model(FIXTURES / f"{name}{suffix}")
    assert isinstance(model, npylstm.models.Functional)
    check_predictions(model, d)
    model.compile(optimizer="adam", loss="mse")
    loss, grads = model.loss_and_gradients(one(d["x"]), one(d["t"]))
    assert loss == pytest.approx(d["loss"], abs=1e-6)
    assert len(grads) == len(d["g"])
    for grad, expected in zip(grads, d["g"], strict=True):
        np.testing.assert_allclose(grad, expected, rtol=0,
                                   atol=GRAD_RTOL * max(np.abs(expected).max(), 1e-3))


@pytest.mark.parametrize("name", NAMES)
def test_layer_order_and_weight_names_match_tf_keras(name):
    """``model.layers`` in tf_keras's order (the h5 ``layer_names`` attribute, which
    tf_keras writes from its ``model.layers``), and each trainable weight at the place of
    tf_keras's of the same layer and name."""
    model = npylstm.load_model(FIXTURES / f"{name}.h5")
    with h5py.File(FIXTURES / f"{name}.h5", "r") as h5:
        names = [str(n) for n in h5["model_weights"].attrs["layer_names"]]
    assert [layer.name for layer in model.layers] == names
    ours = [(layer.name, w.name) for layer in model.layers for w in layer.parameter_weights]
    theirs = [(n.split("/")[0], n.split("/")[-1].removesuffix(":0"))
              for n in data(name)["weight_names"]]
    assert ours == theirs


def test_layer_names_in_another_order_are_matched_by_name(tmp_path):
    """tf_keras writes ``layer_names`` in ``model.layers`` order, as the config; a file
    listing the same layers in another order (here out_b before out_a, whose kernels
    differ in shape) is matched by name."""
    path = tmp_path / "shared.h5"
    shutil.copy(FIXTURES / "keras2_shared.h5", path)
    with h5py.File(path, "r+") as h5:
        group = h5["model_weights"]
        names = [str(n) for n in group.attrs["layer_names"]]
        assert names[-2:] == ["out_a", "out_b"]
        group.attrs["layer_names"] = np.array([n.encode() for n in names[:-2]
                                               + ["out_b", "out_a"]])
    model = npylstm.load_model(path)
    assert [layer.name for layer in model.layers] == names
    check_predictions(model, data("keras2_shared"))


def test_seq2seq_reads_initial_state_as_a_keyword():
    """The decoder's node: its input, and the encoder's h and c as ``initial_state``."""
    model = npylstm.load_model(FIXTURES / "keras2_seq2seq.h5")
    decoder = next(layer for layer in model.layers if layer.name == "decoder")
    node = decoder._inbound_nodes[0]
    assert node.args[0].node.layer.name == "decoder_input"
    assert [(t.node.layer.name, t.index) for t in node.kwargs["initial_state"]] == [
        ("encoder", 1), ("encoder", 2)]


def test_func_gru_reads_keras2_hard_sigmoid():
    config = keras_io.read_model_file(FIXTURES / "keras2_func_gru.h5").config
    layers = {layer["config"]["name"]: layer["config"] for layer in config["config"]["layers"]}
    assert layers["gru"]["recurrent_activation"] == "hard_sigmoid_keras2"
    assert layers["gru"]["reset_after"] is False
    assert layers["from_state"]["activation"] == "hard_sigmoid_keras2"
    assert layers["gru_back"]["recurrent_activation"] == "sigmoid"


# -- writing back -----------------------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_keras2_functional_written_back_reads_identically(name, tmp_path):
    d = data(name)
    model = npylstm.load_model(FIXTURES / f"{name}.h5")
    expected = as_list(model.predict(one(d["x"]), verbose=0))
    suffixes = [".h5"] + ([".keras"] if name in KERAS3_NAMES else [])
    for suffix in suffixes:
        path = tmp_path / f"again{suffix}"
        model.save(path)
        again = npylstm.load_model(path)
        assert again.get_config() == model.get_config()
        assert [layer.name for layer in again.layers] == [layer.name for layer in model.layers]
        for a, b in zip(again.get_weights(), model.get_weights(), strict=True):
            np.testing.assert_array_equal(a, b)
        for y, e in zip(as_list(again.predict(one(d["x"]), verbose=0)), expected, strict=True):
            np.testing.assert_array_equal(y, e)


def test_keras2_hard_sigmoid_functional_written_in_tf_keras_node_format(tmp_path):
    """The GRU model (Keras 2's hard_sigmoid) goes back to keras_version 2 and exactly
    tf_keras's nodes, input_layers and output_layers; each layer's config as tf_keras's
    but ``optional`` (tf_keras 2.15+'s InputLayer key, refused by older tf_keras) and a
    ``None`` activity_regularizer npylstm leaves out (tf_keras's default)."""
    source = FIXTURES / "keras2_func_gru.h5"
    model = npylstm.load_model(source)
    path = model.save(tmp_path / "gru.h5") or tmp_path / "gru.h5"
    assert keras_io.read_model_file(path).keras_version.startswith("2.")
    ours, theirs = model_config(path)["config"], model_config(source)["config"]
    for key in ("name", "trainable", "input_layers", "output_layers"):
        assert ours[key] == theirs[key], key
    for a, b in zip(ours["layers"], theirs["layers"], strict=True):
        assert (a["class_name"], a["name"], a["inbound_nodes"]) == (
            b["class_name"], b["name"], b["inbound_nodes"])
        extra = set(b["config"]) - set(a["config"])
        assert extra <= {"optional", "activity_regularizer"}, a["name"]
        assert all(b["config"][k] is None for k in extra - {"optional"})
        assert a["config"] == {k: b["config"][k] for k in a["config"]}, a["name"]
    with pytest.raises(keras_io.KerasFileError, match="hard_sigmoid"):
        model.save(tmp_path / "gru.keras")


# -- Keras 3 reading npylstm's .keras ---------------------------------------------------------


@pytest.mark.keras
@pytest.mark.parametrize("name", KERAS3_NAMES)
def test_keras3_reads_our_resaved_keras_file(name, keras, tmp_path):
    d = data(name)
    path = tmp_path / f"{name}.keras"
    npylstm.load_model(FIXTURES / f"{name}.h5").save(path)
    theirs = keras.saving.load_model(path)
    ys = as_list(theirs.predict(one(d["x"]), verbose=0))
    for y, expected in zip(ys, d["y"], strict=True):
        np.testing.assert_allclose(np.asarray(y), expected, atol=ATOL, rtol=0)


# -- tf_keras reading npylstm's Keras 2 functional .h5 ----------------------------------------


def keras2_models():
    """npylstm models with Keras 2 semantics (``hard_sigmoid_keras2``), one per node form:
    initial_state tensors, a shared layer's nodes into merge layers, masks through a
    Bidirectional, and the GRU fixture."""
    npylstm.set_random_seed(5)
    rng = np.random.default_rng(5)
    enc_in = npylstm.Input((5, 3), name="enc_in")
    _, h, c = LSTM(4, return_state=True, name="enc")(enc_in)
    dec_in = npylstm.Input((4, 2), name="dec_in")
    seq = LSTM(4, return_sequences=True, recurrent_activation="hard_sigmoid_keras2",
               name="dec")(dec_in, initial_state=[h, c])
    seq2seq = npylstm.Model([enc_in, dec_in], Dense(3, activation="softmax", name="p")(seq),
                            name="s2s")
    a, b = npylstm.Input((4,), name="a"), npylstm.Input((4,), name="b")
    shared = Dense(3, activation="hard_sigmoid_keras2", name="shared")
    ha, hb = shared(a), shared(b)
    merged = npylstm.Model(
        [a, b], [Dense(2, name="o1")(Concatenate(name="cat")([ha, hb])),
                 Dense(1, name="o2")(Add(name="add")([hb, ha]))], name="merged")
    x = npylstm.Input((6, 2), name="x")
    bidi = Bidirectional(LSTM(3, return_sequences=True,
                              recurrent_activation="hard_sigmoid_keras2"), name="bidi")
    out = Dense(2, name="out")(GRU(3, reset_after=False, name="gru")(
        bidi(Masking(0.0, name="mask")(x))))
    masked = npylstm.Model(x, out, name="masked")
    xs_masked = rng.uniform(-4, 4, size=(4, 6, 2)).astype("float32")
    xs_masked[0, :2] = 0.0
    xs_masked[1, 3:] = 0.0
    xs_masked[2] = 0.0
    models = {
        "s2s": (seq2seq, [rng.uniform(-3, 3, size=(3, 5, 3)).astype("float32"),
                          rng.uniform(-3, 3, size=(3, 4, 2)).astype("float32")]),
        "merged": (merged, [rng.uniform(-4, 4, size=(5, 4)).astype("float32"),
                            rng.uniform(-4, 4, size=(5, 4)).astype("float32")]),
        "masked": (masked, [xs_masked]),
        "gru": (npylstm.load_model(FIXTURES / "keras2_func_gru.h5"),
                data("keras2_func_gru")["x"]),
    }
    for model, _ in models.values():  # weights large enough to reach the gates' clipping
        model.set_weights([3 * w for w in model.get_weights()])
    return models


TF_READER = """
import json, os, sys
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
import numpy as np
import tf_keras as keras
out = {}
for path in sys.argv[1:]:
    model = keras.models.load_model(path, compile=False)
    with np.load(path + ".npz") as d:
        xs = [d[f"x{i}"] for i in range(len(d.files))]
    ys = model.predict(xs if len(xs) > 1 else xs[0], verbose=0)
    ys = ys if isinstance(ys, list) else [ys]
    np.savez(path + ".out.npz", *ys)
    out[path] = [layer.name for layer in model.layers]
print(json.dumps(out))
"""


@pytest.mark.keras  # slow (~20 s): pytest.mark.slow once pyproject registers it
@pytest.mark.skipif(not TF_PYTHON.exists(), reason="needs the tf_keras venv /work/tfvenv")
def test_tf_keras_reads_our_keras2_functional_h5(tmp_path):
    """tf_keras 2.21 loads npylstm's Keras 2 functional .h5 files (tf_keras's node format)
    and predicts what npylstm predicts (within 1e-6 of the outputs' scale: the weights are
    tripled, so outputs reach ~5), with the layers in the same order."""
    models = keras2_models()
    paths, expected = [], {}
    for key, (model, xs) in models.items():
        path = str(tmp_path / f"{key}.h5")
        model.save(path)
        assert keras_io.read_model_file(path).keras_version.startswith("2.")
        np.savez(path + ".npz", **{f"x{i}": x for i, x in enumerate(xs)})
        expected[path] = (as_list(model.predict(one(xs), verbose=0)),
                          [layer.name for layer in model.layers])
        paths.append(path)
    script = tmp_path / "read.py"
    script.write_text(TF_READER)
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "", "PYTHONPATH": ""}
    run = subprocess.run([str(TF_PYTHON), str(script), *paths], capture_output=True, text=True,
                         env=env, timeout=600, check=False)
    assert run.returncode == 0, run.stderr[-3000:]
    layer_names = json.loads(run.stdout.strip().splitlines()[-1])
    for path in paths:
        ys, names = expected[path]
        assert layer_names[path] == names
        with np.load(path + ".out.npz") as out:
            theirs = [out[f"arr_{i}"] for i in range(len(out.files))]
        assert len(theirs) == len(ys)
        for a, b in zip(theirs, ys, strict=True):  # float32 from both: 1e-6 of the scale
            np.testing.assert_allclose(a, b, atol=ATOL * max(1.0, np.abs(b).max()), rtol=0)


# -- MultiHeadAttention: a tensor in the node's kwargs -----------------------------------------

#: tf_keras's MultiHeadAttention keys Keras 3 dropped (its build shapes and a masking option).
MHA_KERAS2_KEYS = {"query_shape": [None, 4, 6], "key_shape": [None, 5, 6],
                   "value_shape": [None, 5, 6], "softmax_robust_masking": False}


def without_mha_keras2_keys(config: dict) -> None:
    mha = layer_entry(config, "mha")["config"]
    assert {k: mha.pop(k) for k in MHA_KERAS2_KEYS} == MHA_KERAS2_KEYS


def test_keras2_attention_file_reads_as_written():
    check_predictions(npylstm.load_model(FIXTURES / "keras2_attention.h5"),
                      data("keras2_attention"))


def test_keras2_mha_value_in_kwargs_is_read_as_its_second_argument(tmp_path):
    """tf_keras writes ``mha(query, value)`` as ``[["query", 0, 0, {"value": ["value", 0,
    0]}]]``; read as Keras 3 records the call (``args`` [query, value]): predictions and
    gradients as tf_keras's (MultiHeadAttention and Attention), written back both ways
    and read identically. (The file's four tf_keras-only MultiHeadAttention
    keys are removed from a copy.)"""
    source = FIXTURES / "keras2_attention.h5"
    layers = {layer["name"]: layer for layer in model_config(source)["config"]["layers"]}
    assert layers["mha"]["inbound_nodes"] == [[["query", 0, 0, {"value": ["value", 0, 0]}]]]
    d = data("keras2_attention")
    model = npylstm.load_model(edited_copy(tmp_path, "keras2_attention",
                                           without_mha_keras2_keys))
    mha = next(layer for layer in model.layers if layer.name == "mha")
    node = mha._inbound_nodes[0]
    assert [t.node.layer.name for t in node.args] == ["query", "value"] and not node.kwargs
    check_predictions(model, d)
    graded = npylstm.load_model(tmp_path / "keras2_attention.h5")  # compiled apart
    graded.compile(optimizer="adam", loss="mse")
    loss, grads = graded.loss_and_gradients(d["x"], d["t"])
    assert loss == pytest.approx(d["loss"], abs=1e-6)
    for grad, expected in zip(grads, d["g"], strict=True):
        np.testing.assert_allclose(grad, expected, rtol=0,
                                   atol=GRAD_RTOL * max(np.abs(expected).max(), 1e-3))
    for suffix in (".h5", ".keras"):
        model.save(tmp_path / f"again{suffix}")
        again = npylstm.load_model(tmp_path / f"again{suffix}")
        assert again.get_config() == model.get_config()
        check_predictions(again, d)


@pytest.mark.keras
def test_keras3_reads_our_resaved_attention_keras_file(tmp_path, keras):
    d = data("keras2_attention")
    model = npylstm.load_model(edited_copy(tmp_path, "keras2_attention",
                                           without_mha_keras2_keys))
    model.save(tmp_path / "again.keras")
    theirs = keras.saving.load_model(tmp_path / "again.keras")
    for y, expected in zip(theirs.predict(d["x"], verbose=0), d["y"], strict=True):
        np.testing.assert_allclose(np.asarray(y), expected, atol=ATOL, rtol=0)


def keras2_mha_model():
    query, value = npylstm.Input((4, 6), name="query"), npylstm.Input((5, 6), name="value")
    out = Dense(2, activation="hard_sigmoid_keras2", name="d")(
        MultiHeadAttention(2, 3, name="mha")(query, value))
    return npylstm.Model([query, value], out)


def test_keras2_writer_names_mha_value_as_tf_keras_does(tmp_path):
    """Keras 2 semantics (a hard_sigmoid_keras2 Dense after it): the MultiHeadAttention
    call goes to tf_keras's node form, its value tensor in the kwargs under its name, and
    reads back the same."""
    model = keras2_mha_model()
    model.save(tmp_path / "mha.h5")
    layers = {layer["name"]: layer for layer in
              model_config(tmp_path / "mha.h5")["config"]["layers"]}
    assert layers["mha"]["inbound_nodes"] == [[["query", 0, 0, {"value": ["value", 0, 0]}]]]
    again = npylstm.load_model(tmp_path / "mha.h5")
    ours, theirs = again.get_config(), model.get_config()
    # tf_keras always nests the outputs (get_network_config): one output as a list of one,
    # which predicts the same (Keras's unpack_singleton)
    assert ours.pop("output_layers") == [theirs.pop("output_layers")]
    assert ours == theirs
    xs = [np.linspace(-2, 2, 48, dtype="float32").reshape(2, 4, 6),
          np.linspace(2, -1, 60, dtype="float32").reshape(2, 5, 6)]
    np.testing.assert_array_equal(again.predict(xs, verbose=0), model.predict(xs, verbose=0))


def test_keras2_mha_config_is_tf_keras_s():
    model = keras2_mha_model()
    layer = next(entry for entry in model.get_config()["layers"] if entry["name"] == "mha")
    from npylstm.io.keras_config import legacy_layer_config

    config = legacy_layer_config(layer, keras2=True)["config"]
    assert {"query_shape", "key_shape", "value_shape"} <= set(config)
    assert not {"seed", "sliding_window", "use_gate"} & set(config)


# -- inputs and outputs by name; a tf_keras to_json() ---------------------------------------


def dict_fixture():
    with np.load(FIXTURES / "keras2_dict.npz") as npz:
        return {"a": npz["a"], "b": npz["b"]}, {"o": npz["o"], "p": npz["p"]}


def test_keras2_dict_inputs_and_outputs(tmp_path):
    """tf_keras writes a model built on dicts with dict ``input_layers`` / ``output_layers``;
    read (inputs by name, outputs in the dict's order, Keras 2's hard_sigmoid) and written
    back to tf_keras's form with the same dicts."""
    x, y = dict_fixture()
    source = FIXTURES / "keras2_dict.h5"
    theirs = model_config(source)["config"]
    assert theirs["input_layers"] == {"a": ["a", 0, 0], "b": ["b", 0, 0]}
    assert theirs["output_layers"] == {"o": ["d", 0, 0], "p": ["e", 0, 0]}
    model = npylstm.load_model(source)
    ours = model.predict(x, verbose=0)
    ours = list(ours.values()) if isinstance(ours, dict) else as_list(ours)
    for y_ours, expected in zip(ours, y.values(), strict=True):
        np.testing.assert_allclose(y_ours, expected, atol=ATOL, rtol=0)
    model.save(tmp_path / "again.h5")
    assert keras_io.read_model_file(tmp_path / "again.h5").keras_version.startswith("2.")
    ours = model_config(tmp_path / "again.h5")["config"]
    assert (ours["input_layers"], ours["output_layers"]) == (
        theirs["input_layers"], theirs["output_layers"])
    again = npylstm.load_model(tmp_path / "again.h5")
    assert again.get_config() == model.get_config()


def test_keras2_dict_outputs_predict_a_dict():
    """As tf_keras (and Keras 3: ``tree.pack_sequence_as`` of the outputs' structure),
    dict outputs predict a dict keyed as the outputs."""
    x, y = dict_fixture()
    ours = npylstm.load_model(FIXTURES / "keras2_dict.h5").predict(x, verbose=0)
    assert isinstance(ours, dict) and list(ours) == list(y)
    for key, expected in y.items():
        np.testing.assert_allclose(ours[key], expected, atol=ATOL, rtol=0)


def test_tf_keras_to_json_reads_keras2_hard_sigmoid():
    """``model.to_json()`` in tf_keras adds ``keras_version`` and ``backend`` beside the
    config; its "hard_sigmoid" is Keras 2's."""
    from npylstm.io.load import model_from_config

    raw = {**model_config(FIXTURES / "keras2_func_gru.h5"), "keras_version": "2.21.0",
           "backend": "tensorflow"}
    model, _ = model_from_config(raw)
    gru = next(layer for layer in model.layers if layer.name == "gru")
    assert gru.get_config()["recurrent_activation"] == "hard_sigmoid_keras2"


# -- bad configs ------------------------------------------------------------------------------


def edited_copy(tmp_path: Path, name: str, edit) -> Path:
    """A copy of a fixture whose model_config ``edit(config)`` changed."""
    path = tmp_path / f"{name}.h5"
    shutil.copy(FIXTURES / f"{name}.h5", path)
    with h5py.File(path, "r+") as h5:
        config = json.loads(h5.attrs["model_config"])
        edit(config)
        h5.attrs["model_config"] = json.dumps(config)
    return path


def layer_entry(config: dict, name: str) -> dict:
    return next(layer for layer in config["config"]["layers"] if layer["name"] == name)


@pytest.mark.parametrize(("edit", "message"), [
    (lambda c: layer_entry(c, "decoder")["inbound_nodes"][0][1].__setitem__(0, "ghost"),
     r"layer 'decoder' \(LSTM\) call 0 names layer 'ghost', which the config does not have"),
    (lambda c: layer_entry(c, "probs")["inbound_nodes"][0][0].__setitem__(1, 1),
     r"layer 'probs' \(Dense\) call 0 names call 1 of layer 'decoder', which has 1 call "),
    (lambda c: layer_entry(c, "encoder")["inbound_nodes"][0][0].__setitem__(1, 2),
     r"layer 'encoder' \(LSTM\) call 0 names call 2 of layer 'encoder_input', which has 1"),
    (lambda c: c["config"]["output_layers"][0].__setitem__(0, "nowhere"),
     r"output_layers names layer 'nowhere', which the config does not have"),
    (lambda c: c["config"]["input_layers"][1].__setitem__(1, 3),
     r"input_layers names call 3 of layer 'decoder_input', which has 1 call"),
    (lambda c: layer_entry(c, "decoder")["inbound_nodes"][0][1].__setitem__(2, 7),
     r"layer 'encoder' has 3 outputs, the config asks for output 7"),
    (lambda c: layer_entry(c, "probs")["inbound_nodes"][0].__setitem__(0, ["decoder", 0]),
     r"layer 'probs' \(Dense\) call 0: expected inbound entries \[layer, node, tensor"),
    (lambda c: layer_entry(c, "probs")["inbound_nodes"][0][0].__setitem__(3, "kw"),
     r"layer 'probs' \(Dense\) call 0: expected the call's kwargs as a dict"),
    (lambda c: layer_entry(c, "decoder")["inbound_nodes"][0][2][3].__setitem__(
        "initial_state", [["encoder", 0, 1], ["encoder", 0, 2]]),
     r"layer 'decoder' \(LSTM\) call 0: initial_state given both as inputs and as a keyword"),
    (lambda c: layer_entry(c, "probs")["inbound_nodes"][0].__setitem__(
        0, ["_CONSTANT_VALUE", -1, 1.0, {}]),
     r"layer 'probs' \(Dense\) call 0: a constant \(not a tensor\)"),
])
def test_bad_keras2_functional_config_is_refused_clearly(tmp_path, edit, message):
    path = edited_copy(tmp_path, "keras2_seq2seq", edit)
    with pytest.raises(keras_io.KerasFileError, match=message):
        npylstm.load_model(path)


def test_keras2_kwargs_tensors_are_read(tmp_path):
    """tf_keras writes a tensor inside a call's kwargs as ``[layer, node, tensor]``: the
    decoder's initial state given that way (not as extra entries) reads the same."""
    def edit(config):
        layer_entry(config, "decoder")["inbound_nodes"] = [[["decoder_input", 0, 0, {
            "initial_state": [["encoder", 0, 1], ["encoder", 0, 2]]}]]]

    d = data("keras2_seq2seq")
    check_predictions(npylstm.load_model(edited_copy(tmp_path, "keras2_seq2seq", edit)), d)


def test_keras2_writer_refuses_several_positional_arguments(tmp_path):
    """tf_keras's node form names every argument after the first (by the call's
    signature); a call with more positional arguments than the layer takes (a GRU called
    on two) has no such form: refused clearly, before a file is made."""
    from npylstm.io.legacy_h5 import write_legacy_h5

    model = npylstm.load_model(FIXTURES / "keras2_func_gru.h5")
    config = {"class_name": "Functional", "config": model.get_config()}
    node = config["config"]["layers"][2]["inbound_nodes"][0]
    node["args"] = node["args"] * 2
    weights = [layer.get_weights() for layer in model.layers[1:]]
    with pytest.raises(keras_io.KerasFileError,
                       match=r"layer 'gru_back' \(GRU\) call 0: a call with 2 positional"):
        write_legacy_h5(tmp_path / "x.h5", config, weights)
    assert not (tmp_path / "x.h5").exists()
