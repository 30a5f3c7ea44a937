"""The API boundary (issue #13, item 4): what npylstm accepts as an input array, a weight, a
shape and a name.

* Arrays: real numbers only. Each refused kind (complex, text, bytes, objects, dates, time
  spans, records) and a ragged list, for layers called directly, for Sequential and
  functional models in every data entry (predict, fit, evaluate, ``*_on_batch``,
  ``__call__``; x, y, sample_weight; arrays and generator batches), each with its exact
  message. What Keras accepts (integers, bools, float16 / float64) predicts as Keras
  (the oracle: real Keras, JAX backend).
* Shapes: the wrong rank, feature count or fixed timestep count is refused before anything
  runs.
* ``set_weights`` / ``Weight.assign``: all or nothing, bit for bit (Keras assigns as it
  checks); NaN accepted, as Keras.
* Names: Keras's rule and message (no ``/``, a string), npylstm's (no NUL, not ``""``,
  ``"."``, ``".."``), and a save/load round trip in every format for accepted odd names.
"""

from __future__ import annotations

import json
import re
import zipfile

import numpy as np
import pytest
from keras_archive import edited_keras_config  # tests/ is on sys.path

import npylstm
from npylstm.io import KerasFileError
from npylstm.layers import (
    LSTM,
    Activation,
    Add,
    Bidirectional,
    Conv1D,
    Dense,
    Dropout,
    Embedding,
    Input,
    LayerNormalization,
    Masking,
)
from npylstm.layers.inputs import InputDTypeError

# -- the refused kinds, with the message's end written out -----------------------------
REASONS = {
    "complex": "complex numbers are refused, not cast (the imaginary part would be dropped); "
               "pass x.real to keep the real part",
    "text": "text is refused, not parsed as numbers; convert it first, e.g. "
            "np.asarray(x, dtype='float32')",
    "bytes": "bytes are refused, not parsed as numbers; convert them first, e.g. "
             "np.asarray(x, dtype='float32')",
    "object": "an object array (Python objects, None, or values of mixed types) is refused; "
              "pass an array of numbers",
    "datetime": "dates are refused; convert them to numbers first (e.g. x.astype('int64'))",
    "timedelta": "time spans are refused; convert them to numbers first "
                 "(e.g. x.astype('int64'))",
    "record": "a structured (record) array is refused; pass one field (x['name']) or "
              "numpy.lib.recfunctions.structured_to_unstructured(x)",
}
DTYPES = {"complex": "complex128", "text": "<U1", "bytes": "|S1", "object": "object",
          "datetime": "datetime64[s]", "timedelta": "timedelta64[s]",
          "record": "[('a', '<f4')]"}


def bad_array(kind: str, shape: tuple) -> np.ndarray:
    """An array of ``shape`` and the refused ``kind`` whose values look like numbers."""
    ones = np.ones(shape)
    return {
        "complex": ones + 2j,
        "text": np.full(shape, "1"),
        "bytes": np.full(shape, b"1"),
        "object": ones.astype(object),
        "datetime": ones.astype("M8[s]"),
        "timedelta": ones.astype("m8[s]"),
        "record": np.zeros(shape, [("a", "f4")]),
    }[kind]


def received(kind: str, shape: tuple) -> str:
    return f"received dtype {DTYPES[kind]}, shape {shape}: {REASONS[kind]}"


KINDS = sorted(REASONS)
RAGGED = ("received a list whose nested rows differ in length (not an array: pad the "
          "sequences to one length first, e.g. with keras.utils.pad_sequences)")


def exact(message: str) -> str:
    return "^" + re.escape(message) + "$"


# -- layers called directly ------------------------------------------------------------
LAYERS = {
    "dense": (lambda: Dense(2, name="l"), "Dense", (1, 3)),
    "lstm": (lambda: LSTM(2, name="l"), "LSTM", (1, 2, 3)),
    "conv1d": (lambda: Conv1D(2, 1, name="l"), "Conv1D", (1, 2, 3)),
    "layer_norm": (lambda: LayerNormalization(name="l"), "LayerNormalization", (1, 3)),
    "masking": (lambda: Masking(name="l"), "Masking", (1, 2, 3)),
    "activation": (lambda: Activation("relu", name="l"), "Activation", (1, 3)),
    "dropout": (lambda: Dropout(0.5, name="l"), "Dropout", (1, 3)),
}


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("layer_id", sorted(LAYERS))
def test_a_layer_refuses_each_non_numeric_kind(layer_id, kind):
    make, cls, shape = LAYERS[layer_id]
    message = f"{cls} 'l': expected a numeric array input, {received(kind, shape)}"
    with pytest.raises(InputDTypeError, match=exact(message)) as info:
        make()(bad_array(kind, shape))
    # a TypeError, and (as the layers raised before) a ValueError
    assert isinstance(info.value, TypeError) and isinstance(info.value, ValueError)


@pytest.mark.parametrize("kind", ["complex", "text", "object"])
def test_a_merge_layer_refuses_a_non_numeric_argument(kind):
    good = np.ones((1, 3), np.float32)
    message = f"Add 'm': expected a numeric array input, {received(kind, (1, 3))}"
    with pytest.raises(TypeError, match=exact(message)):
        Add(name="m")([good, bad_array(kind, (1, 3))])


def test_a_layer_refuses_a_ragged_list_and_a_python_string():
    with pytest.raises(ValueError, match=exact(f"Dense 'l': expected a numeric array input, "
                                               f"{RAGGED}")):
        Dense(2, name="l")([[1.0, 2.0, 3.0], [1.0, 2.0]])
    with pytest.raises(TypeError, match=exact(
            "Dense 'l': expected a numeric array input, received str (dtype <U3, shape ()): "
            + REASONS["text"])):
        Dense(2, name="l")("1.5")


def test_embedding_ids_refuse_complex_and_text_keep_integers():
    layer = Embedding(5, 2, name="emb")
    with pytest.raises(TypeError, match=exact(
            f"Embedding 'emb': expected integer ids, {received('complex', (1, 3))}")):
        layer(bad_array("complex", (1, 3)))
    with pytest.raises(TypeError, match=exact(
            f"Embedding 'emb': expected integer ids, {received('text', (1, 3))}")):
        layer(bad_array("text", (1, 3)))
    ids = np.array([[1, 4, 0]], np.int64)
    # whole floats, bools and unsigned ids are the same ids (Keras casts to int32)
    for same in (ids.astype(np.float32), ids.astype(np.uint8)):
        np.testing.assert_array_equal(layer(same), layer(ids))
    np.testing.assert_array_equal(layer(np.array([[True, False]])), layer(np.array([[1, 0]])))


def test_the_layer_boundary_is_cheap_and_casts_as_numpy():
    layer = Dense(2, name="l")
    x = np.ones((2, 3), np.float32)
    assert layer._as_float_array(x) is x  # no copy of an array already right
    view = x[:, ::2]
    assert layer._as_float_array(view) is view  # no copy of a non-contiguous view either
    for source in (np.arange(6).reshape(2, 3), np.arange(6, dtype=np.uint16).reshape(2, 3),
                   np.arange(6, dtype=np.float64).reshape(2, 3) / 7,
                   np.arange(6).reshape(2, 3) % 2 == 0, [[1, 2, 3], [4, 5, 6]]):
        converted = layer._as_float_array(source)
        assert converted.dtype == np.float32
        np.testing.assert_array_equal(converted, np.asarray(source).astype(np.float32))


def test_an_input_layer_converts_only_numbers():
    ids = npylstm.layers.InputLayer(shape=(3,), dtype="int32", name="ids")
    assert ids.forward(np.array([[1.0, 2.0, 3.0]]))[0].dtype == np.int32
    with pytest.raises(TypeError, match=exact(
            f"InputLayer 'ids': expected a numeric array input, {received('text', (1, 3))}")):
        ids.forward(bad_array("text", (1, 3)))


# -- models: every data entry ----------------------------------------------------------
@pytest.fixture(scope="module")
def seq():
    model = npylstm.Sequential([Input((2, 3)), LSTM(4, name="lstm"), Dense(1, name="head")],
                               name="seq")
    model.compile("sgd", "mse")
    return model


@pytest.fixture(scope="module")
def fn():
    inp = Input((2, 3), name="inp")
    out = Dense(1, name="head")(LSTM(4, name="lstm")(inp))
    model = npylstm.Model(inp, out, name="fn")
    model.compile("sgd", "mse")
    return model


X = np.ones((4, 2, 3), np.float32)
Y = np.ones((4, 1), np.float32)

ENTRIES = {
    "predict": lambda m, x: m.predict(x, verbose=0),
    "call": lambda m, x: m(x),
    "predict_on_batch": lambda m, x: m.predict_on_batch(x),
    "fit": lambda m, x: m.fit(x, Y, epochs=1, verbose=0),
    "evaluate": lambda m, x: m.evaluate(x, Y, verbose=0),
    "train_on_batch": lambda m, x: m.train_on_batch(x, Y),
    "test_on_batch": lambda m, x: m.test_on_batch(x, Y),
    "fit_generator": lambda m, x: m.fit((b for b in [(x, Y)]), epochs=1, verbose=0,
                                          shuffle=False),
    "loss_and_gradients": lambda m, x: m.loss_and_gradients(x, Y),
}


@pytest.mark.parametrize("kind", ["complex", "text", "object", "timedelta", "record"])
@pytest.mark.parametrize("entry", sorted(ENTRIES))
def test_a_sequential_model_refuses_bad_x_in_every_entry(seq, entry, kind):
    before = [w.tobytes() for w in seq.get_weights()]
    message = f"Sequential 'seq': expected numeric x data, {received(kind, X.shape)}"
    with pytest.raises(TypeError, match=exact(message)):
        ENTRIES[entry](seq, bad_array(kind, X.shape))
    assert [w.tobytes() for w in seq.get_weights()] == before  # nothing trained


@pytest.mark.parametrize("kind", ["complex", "text", "datetime"])
@pytest.mark.parametrize("entry", ["predict", "fit", "train_on_batch", "evaluate"])
def test_a_functional_model_refuses_bad_x(fn, entry, kind):
    message = f"Functional 'fn': expected numeric input 'inp', {received(kind, X.shape)}"
    with pytest.raises(TypeError, match=exact(message)):
        ENTRIES[entry](fn, bad_array(kind, X.shape))
    with pytest.raises(TypeError, match=exact(message)):
        ENTRIES[entry](fn, {"inp": bad_array(kind, X.shape)})


def test_bad_targets_and_sample_weights_are_refused(seq, fn):
    with pytest.raises(TypeError, match=exact(
            f"Sequential 'seq': expected numeric y data, {received('complex', (4, 1))}")):
        seq.fit(X, bad_array("complex", (4, 1)), epochs=1, verbose=0)
    with pytest.raises(TypeError, match=exact(
            f"Functional 'fn': expected numeric y for output 'head', "
            f"{received('text', (4, 1))}")):
        fn.train_on_batch(X, bad_array("text", (4, 1)))
    with pytest.raises(TypeError, match=exact(
            f"Sequential 'seq': expected sample_weight as numbers, one per sample, "
            f"{received('complex', (4,))}")):
        seq.fit(X, Y, sample_weight=bad_array("complex", (4,)), epochs=1, verbose=0)
    with pytest.raises(TypeError, match=exact(
            f"Sequential 'seq': expected sample_weight as numbers, one per sample, "
            f"{received('object', (4,))}")):
        seq.evaluate(X, Y, sample_weight=bad_array("object", (4,)), verbose=0)


def test_a_model_refuses_a_ragged_list(seq):
    ragged = [[[1.0] * 3] * 2, [[1.0] * 3]]
    with pytest.raises(ValueError, match=exact(f"Sequential 'seq': expected numeric x data, "
                                               f"{RAGGED}")):
        seq.predict(ragged, verbose=0)


def test_integer_ids_beyond_the_input_dtype_are_refused():
    ids = Input((3,), dtype="int32", name="ids")
    model = npylstm.Model(ids, Dense(1)(Embedding(5, 2)(ids)), name="ids_model")
    with pytest.raises(ValueError, match=exact(
            "Functional 'ids_model': input 'ids' holds integer ids (dtype int32), received "
            "4294967297, outside its range [-2147483648, 2147483647]")):
        model.predict(np.array([[1, 2, 2**32 + 1]]), verbose=0)  # int32 would wrap it to 1


# -- what Keras accepts predicts as Keras ---------------------------------------------
@pytest.fixture(scope="module")
def pair(keras):
    npylstm.layers.clear_session()
    model = npylstm.Sequential([Input((2, 3)), LSTM(4), Dense(2)])
    model.set_weights([np.random.default_rng(7).normal(size=w.shape).astype(np.float32) * 0.5
                       for w in model.get_weights()])
    return model, model.to_keras()


@pytest.mark.parametrize("dtype", ["int8", "int64", "uint16", "bool", "float16", "float64"])
def test_numeric_inputs_predict_as_keras(pair, dtype):
    model, keras_model = pair
    x = np.random.default_rng(3).integers(-3, 4, size=(5, 2, 3))
    x = (x > 0) if dtype == "bool" else np.abs(x) if dtype.startswith("u") else x
    x = x.astype(dtype) / (4 if dtype.startswith("float") else 1)
    x = x.astype(dtype)
    ours = model.predict(x, verbose=0)
    theirs = np.asarray(keras_model.predict(x, verbose=0))
    assert ours.dtype == np.float32
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=2e-6)


# -- shapes ---------------------------------------------------------------------------
def test_a_wrong_shape_is_refused_before_anything_runs(seq, monkeypatch):
    def boom(*args, **kwargs):
        raise AssertionError("the model ran")

    monkeypatch.setattr(seq, "_infer", boom)
    monkeypatch.setattr(seq, "_forward", boom)
    cases = [
        ((4, 2, 4), "4 features where the model reads 3"),
        ((4, 5, 3), "5 timesteps where the model reads 2"),
        ((4, 5, 1), "5 timesteps where the model reads 2; 1 features where the model reads 3"),
        ((4, 6), "2 axes where the model reads 3 (the batch axis included)"),
        ((4, 2, 3, 1), "4 axes where the model reads 3 (the batch axis included)"),
    ]
    for shape, detail in cases:
        message = (f"Sequential 'seq': x has shape {shape}, the model expects (None, 2, 3): "
                   f"{detail}")
        for entry in ("predict", "fit", "train_on_batch"):
            with pytest.raises(ValueError, match=exact(message)):
                ENTRIES[entry](seq, np.zeros(shape, np.float32))


def test_a_fixed_batch_shape_checks_timesteps_and_features():
    model = npylstm.Sequential([Input(batch_shape=(None, 4, 2)), LSTM(3)], name="fixed")
    with pytest.raises(ValueError, match=exact(
            "Sequential 'fixed': x has shape (1, 3, 2), the model expects (None, 4, 2): "
            "3 timesteps where the model reads 4")):
        model.predict(np.zeros((1, 3, 2)), verbose=0)
    free = npylstm.Sequential([Input((None, 2)), LSTM(3)], name="free")
    assert free.predict(np.zeros((1, 7, 2)), verbose=0).shape == (1, 3)  # None: any length


def test_a_functional_model_names_the_input_with_the_wrong_shape(fn):
    with pytest.raises(ValueError, match=exact(
            "Functional 'fn': input 'inp' has shape (4, 2, 5), the model expects (None, 2, 3): "
            "5 features where the model reads 3")):
        fn.predict(np.zeros((4, 2, 5)), verbose=0)
    with pytest.raises(ValueError, match=exact(
            "Functional 'fn': input 'inp' has shape (4, 7, 3), the model expects (None, 2, 3): "
            "7 timesteps where the model reads 2")):
        fn.fit({"inp": np.zeros((4, 7, 3))}, Y, verbose=0)


# -- set_weights: all or nothing -----------------------------------------------------
def _bits(model) -> list[bytes]:
    return [w.tobytes() for w in model.get_weights()]


@pytest.fixture()
def stack():
    model = npylstm.Sequential([Input((2, 3)), LSTM(4, return_sequences=True, name="lstm"),
                                Bidirectional(LSTM(2), name="bi"), Dense(1, name="head")],
                               name="stack")
    return model


def test_set_weights_checks_every_layer_before_assigning_any(stack):
    before = _bits(stack)
    new = [w + 1 for w in stack.get_weights()]
    cases = [
        (-1, np.ones(2, np.float32), ValueError,
         "Dense 'head': set_weights: 'bias' expected shape (1,), received (2,)"),
        (-5, np.ones((1, 8)), ValueError,  # the Bidirectional's backward kernel
         "Bidirectional 'bi': set_weights: 'kernel' expected shape (4, 8), received (1, 8)"),
        (-1, np.ones(1, complex), TypeError,
         f"Sequential 'stack': expected numeric weights (array {len(new) - 1}), "
         f"{received('complex', (1,))}"),
        (4, np.full((2, 8), "1"), TypeError,
         f"Sequential 'stack': expected numeric weights (array 4), {received('text', (2, 8))}"),
        (2, np.ones(16, object), TypeError,
         f"Sequential 'stack': expected numeric weights (array 2), "
         f"{received('object', (16,))}"),
    ]
    for index, value, error, message in cases:
        bad = list(new)
        bad[index] = value
        with pytest.raises(error, match=exact(message)):
            stack.set_weights(bad)
        assert _bits(stack) == before, message  # bit for bit unchanged
    with pytest.raises(ValueError, match=r"^Sequential 'stack': set_weights expected 11 "
                                         r"arrays .*received 10$"):
        stack.set_weights(new[:-1])
    assert _bits(stack) == before
    stack.set_weights(new)  # and the right list is taken whole
    assert _bits(stack) == [w.tobytes() for w in new]


def test_set_weights_of_a_functional_model_is_all_or_nothing(fn):
    before = _bits(fn)
    bad = [w * 2 for w in fn.get_weights()]
    bad[-1] = np.ones((3,), np.float32)
    with pytest.raises(ValueError, match=exact(
            "Dense 'head': set_weights: 'bias' expected shape (1,), received (3,)")):
        fn.set_weights(bad)
    assert _bits(fn) == before


def test_layer_set_weights_and_assign_are_all_or_nothing():
    layer = Dense(2, name="d")
    layer.build((None, 3))
    before = [w.tobytes() for w in layer.get_weights()]
    with pytest.raises(ValueError, match=exact(
            "Dense 'd': set_weights: 'bias' expected shape (2,), received (3,)")):
        layer.set_weights([np.ones((3, 2)), np.ones(3)])
    with pytest.raises(TypeError, match=exact(
            f"Dense 'd': expected numeric weights (array 1), {received('complex', (2,))}")):
        layer.set_weights([np.ones((3, 2)), np.ones(2) + 2j])
    kernel = layer.weights[0]
    with pytest.raises(TypeError, match=exact(
            f"Weight 'd/kernel': expected a numeric value, {received('complex', (3, 2))}")):
        kernel.assign(np.ones((3, 2)) + 2j)
    with pytest.raises(TypeError, match=exact(
            f"Weight 'd/kernel': expected a numeric value, {received('text', (3, 2))}")):
        kernel.assign(np.full((3, 2), "1"))
    with pytest.raises(ValueError, match=exact(
            "Weight 'd/kernel': expected shape (3, 2), received (2, 3)")):
        kernel.assign(np.ones((2, 3)))
    assert [w.tobytes() for w in layer.get_weights()] == before
    kernel.assign(np.arange(6).reshape(3, 2))  # integers are numbers
    np.testing.assert_array_equal(layer.get_weights()[0], np.arange(6).reshape(3, 2))


def test_bidirectional_set_weights_is_all_or_nothing():
    layer = Bidirectional(LSTM(2), name="bi")
    layer.build((None, 2, 3))
    before = [w.tobytes() for w in layer.get_weights()]
    bad = [w + 1 for w in layer.get_weights()]
    bad[-1] = np.ones(3, np.float32)  # the backward layer's bias
    with pytest.raises(ValueError, match=r"'bias' expected shape \(8,\), received \(3,\)"):
        layer.set_weights(bad)
    assert [w.tobytes() for w in layer.get_weights()] == before


def test_nan_weights_are_accepted_as_keras_accepts_them(keras):
    ours = Dense(2, name="d")
    ours.build((None, 3))
    theirs = keras.layers.Dense(2)
    theirs.build((None, 3))
    weights = [np.full((3, 2), np.nan, np.float32), np.array([np.inf, -np.inf], np.float32)]
    ours.set_weights(weights)
    theirs.set_weights(weights)
    for a, b in zip(ours.get_weights(), theirs.weights, strict=True):
        np.testing.assert_array_equal(a, np.asarray(b.value))


# -- names ----------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["a/b", "/", 3, 1.5])
def test_a_name_keras_refuses_is_refused_with_its_message(keras, name):
    with pytest.raises(ValueError) as info:
        keras.layers.Dense(2, name=name)
    keras_message = str(info.value)
    assert keras_message.startswith("Argument `name` must be a string")
    for make in (lambda: Dense(2, name=name), lambda: Input((3,), name=name),
                 lambda: npylstm.Sequential(name=name)):
        with pytest.raises(ValueError, match=exact(keras_message)):
            make()
    inp = Input((3,))
    with pytest.raises(ValueError, match=exact(keras_message)):
        npylstm.Model(inp, Dense(1)(inp), name=name)
    with pytest.raises(ValueError) as info:
        keras.Sequential(name=name)
    assert str(info.value) == keras_message  # Keras's models follow the same rule


@pytest.mark.parametrize(("name", "message"), [
    ("a\x00b", "Dense: expected a name without the NUL character, received 'a\\x00b': no "
               "Keras file format can store it"),
    ("", "Dense: expected a name other than '', '.' and '..', received '': a legacy HDF5 "
         "(.h5) file cannot hold a layer of that name"),
    (".", "Dense: expected a name other than '', '.' and '..', received '.': a legacy HDF5 "
          "(.h5) file cannot hold a layer of that name"),
    ("..", "Dense: expected a name other than '', '.' and '..', received '..': a legacy HDF5 "
           "(.h5) file cannot hold a layer of that name"),
])
def test_a_name_no_file_can_hold_is_refused(name, message):
    with pytest.raises(ValueError, match=exact(message)):
        Dense(2, name=name)
    with pytest.raises(ValueError, match=exact(message.replace("Dense", "Sequential"))):
        npylstm.Sequential(name=name)


ODD_NAMES = ["ünï cödé", "日本語", "a b", " lead and trail ", "a.b", "...", "a\\b", "tab\tnew\n",
             "layers", "vars", "x:0"]


@pytest.mark.parametrize("suffix", [".keras", ".h5", ".weights.h5"])
def test_accepted_odd_names_round_trip_every_format(tmp_path, suffix):
    x = np.random.default_rng(0).normal(size=(2, 2, 3)).astype(np.float32)
    for i, name in enumerate(ODD_NAMES):
        def build(name=name):
            return npylstm.Sequential([Input((2, 3)), LSTM(3, name=name),
                                       Dense(1, name=name + "_head")], name=name)

        model = build()
        path = tmp_path / f"m{i}{suffix}"
        if suffix == ".weights.h5":
            model.save_weights(path)
            loaded = build()
            loaded.load_weights(path)
        else:
            model.save(path)
            loaded = npylstm.load_model(path)
            assert [layer.name for layer in loaded.layers] == [name, name + "_head"]
            assert loaded.name == name
        assert _bits(loaded) == _bits(model), name
        np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))


def test_keras_reads_our_odd_names(keras, tmp_path):
    model = npylstm.Sequential([Input((3,)), Dense(2, name="ünï cödé.v2")], name="a b")
    model.save(tmp_path / "odd.keras")
    theirs = keras.saving.load_model(tmp_path / "odd.keras")
    assert theirs.name == "a b" and theirs.layers[0].name == "ünï cödé.v2"
    for a, b in zip(model.get_weights(), theirs.weights, strict=True):
        np.testing.assert_array_equal(a, np.asarray(b.value))


def test_a_file_whose_config_names_a_layer_with_a_slash_is_a_file_error(tmp_path, keras):
    model = npylstm.Sequential([Input((3,)), Dense(2, name="head")])
    model.save(tmp_path / "m.keras")
    with zipfile.ZipFile(tmp_path / "m.keras") as src, \
            zipfile.ZipFile(tmp_path / "bad.keras", "w") as dst:
        for item in src.infolist():
            data = src.read(item.filename)
            if item.filename == "config.json":
                config = json.loads(data)
                config["config"]["layers"][1]["config"]["name"] = "a/b"
                data = json.dumps(config).encode()
            dst.writestr(item, data)
    with pytest.raises(ValueError) as info:
        keras.layers.Dense(2, name="a/b")
    with pytest.raises(KerasFileError, match=re.escape(str(info.value)) + "$"):
        npylstm.load_model(tmp_path / "bad.keras")


# -- the CLI --------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", ["int16", "uint8", "bool", "float16", "float64"])
def test_cli_predict_takes_every_numeric_kind_as_the_api_does(tmp_path, monkeypatch, dtype):
    from npylstm import cli

    model = npylstm.Sequential([Input((2, 3)), LSTM(3), Dense(1)])
    model.save(tmp_path / "m.keras")
    x = np.random.default_rng(5).integers(0, 3, size=(4, 2, 3)).astype(dtype)
    np.save(tmp_path / "x.npy", x)
    monkeypatch.chdir(tmp_path)
    assert cli.main(["predict", "m.keras", "--input", "x.npy", "--output", "y.npy"]) == 0
    np.testing.assert_array_equal(np.load(tmp_path / "y.npy"),
                                  model.predict(x.astype(np.float32), verbose=0))


# -- the states a user hands a recurrent layer or a stream ----------------------------
def test_an_initial_state_refuses_complex_and_text():
    layer = LSTM(2, name="lstm")
    x = np.ones((1, 3, 4), np.float32)
    h = np.zeros((1, 2), np.float32)
    with pytest.raises(TypeError, match=exact(
            f"LSTM 'lstm': expected a numeric array input, {received('complex', (1, 2))}")):
        layer(x, initial_state=[h.astype(np.complex128) + 1j, h])
    with pytest.raises(TypeError, match=exact(
            f"LSTM 'lstm': expected a numeric array input, {received('text', (1, 2))}")):
        layer(x, initial_state=[h, np.full((1, 2), "1")])


def test_a_stream_step_refuses_complex():
    model = npylstm.Sequential([Input((None, 3)), LSTM(2), Dense(1)], name="stream")
    with pytest.raises(TypeError, match=exact(
            f"Sequential 'stream': expected numeric x_t data, {received('complex', (1, 3))}")):
        model.step(np.ones((1, 3)) + 1j, model.initial_states(1))


# -- outputs whose size a config drives (not bounded by any weight) ---------------------
@pytest.mark.parametrize("layer, x, what, shape", [
    (npylstm.layers.RepeatVector(10**12, name="r"), np.ones((2, 3), np.float32),
     "n = 1000000000000", (2, 10**12, 3)),
    (npylstm.layers.UpSampling1D(10**12, name="u"), np.ones((2, 3, 4), np.float32),
     "size = 1000000000000", (2, 3 * 10**12, 4)),
    (npylstm.layers.ZeroPadding1D((0, 10**12), name="z"), np.ones((2, 3, 4), np.float32),
     "padding = (0, 1000000000000)", (2, 3 + 10**12, 4)),
])
def test_an_output_a_config_sizes_is_refused_before_allocation(layer, x, what, shape):
    values = shape[0] * shape[1] * shape[2]  # hand count: far above MAX_ARRAY_ELEMENTS = 2**29
    with pytest.raises(ValueError, match=exact(
            f"{type(layer).__name__} '{layer.name}': {what} makes an output of shape {shape} "
            f"({values} values), more than the limit MAX_ARRAY_ELEMENTS = {2**29} (set the "
            "environment variable NPYLSTM_MAX_ARRAY_ELEMENTS or NPYLSTM_LIMIT_SCALE, or use "
            "npylstm.io.limits.raised_limits())")):
        layer(x)


def test_a_loaded_model_whose_config_repeats_hugely_fails_predict_clearly(tmp_path):
    model = npylstm.Sequential([Input((3,)), npylstm.layers.RepeatVector(2, name="rep"),
                                LSTM(2, name="lstm")])
    path = tmp_path / "rep.keras"
    model.save(path)
    bad = edited_keras_config(path, tmp_path / "bad.keras", lambda config: config["config"][
        "layers"][1]["config"].update(n=10**12))
    loaded = npylstm.load_model(bad)  # the weights do not depend on n: it loads
    with pytest.raises(ValueError, match="RepeatVector 'rep': n = 1000000000000 makes an "
                       "output of shape"):
        loaded.predict(np.ones((1, 3), np.float32), verbose=0)
