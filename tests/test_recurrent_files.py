"""GRU, SimpleRNN and masked recurrent models through every file format, both ways, against
real Keras 3 (JAX backend).

Each model of the matrix is built once in Keras with random weights, saved by Keras as
``.keras``, legacy ``.h5`` and ``.weights.h5``, and predicted on once (inputs with padded
steps where the model starts with ``Masking``: leading, trailing, middle and full padding).
npylstm must read every file to Keras's predictions (1e-5), write every format
(``.keras``, ``.weights.h5``, legacy ``.h5`` model and weights) and read its own files back
to the same weights and predictions, and Keras must load npylstm's ``.keras`` to the same
predictions and npylstm's other files to the same config and weights.
"""

from __future__ import annotations

import contextlib
import warnings

import numpy as np
import pytest

import npylstm
from npylstm import keras_io

ATOL = 1e-5

# name -> (input shape without batch, [(Keras layer class, kwargs)])
MATRIX = {
    "gru_both_resets": (
        (6, 3),
        [
            ("GRU", dict(units=5, return_sequences=True)),
            ("GRU", dict(units=3, reset_after=False, go_backwards=True)),
            ("Dense", dict(units=2)),
        ],
    ),
    "gru_no_bias": (
        (5, 2),
        [
            ("GRU", dict(units=4, use_bias=False, return_sequences=True)),
            ("GRU", dict(units=3, use_bias=False, reset_after=False,
                         recurrent_activation="hard_sigmoid")),
            ("Dense", dict(units=1, activation="sigmoid")),
        ],
    ),
    "simple_rnn": (
        (5, 3),
        [
            ("SimpleRNN", dict(units=5, return_sequences=True, go_backwards=True)),
            ("SimpleRNN", dict(units=3, activation="relu")),
            ("Dense", dict(units=2)),
        ],
    ),
    "masked_lstm": (
        (7, 2),
        [
            ("Masking", dict(mask_value=0.0)),
            ("LSTM", dict(units=4, return_sequences=True)),
            ("LSTM", dict(units=3, go_backwards=True)),
            ("Dense", dict(units=2)),
        ],
    ),
    "masked_gru": (
        (7, 2),
        [
            ("Masking", dict(mask_value=0.0)),
            ("GRU", dict(units=4, reset_after=False, return_sequences=True,
                         zero_output_for_mask=True)),
            ("SimpleRNN", dict(units=3, return_sequences=True)),
            ("Dense", dict(units=2, activation="tanh")),
        ],
    ),
}
RECURRENT = ("GRU", "SimpleRNN", "LSTM")


def keras_weights(model) -> list[np.ndarray]:
    """``model.get_weights()`` minus Keras 3.15's NumPy 2 warning (in Variable.__array__)."""
    return [np.asarray(v.value) for v in model.weights]


@contextlib.contextmanager
def keras_saving():
    """Keras's own savers call Variable.__array__, which warns under NumPy 2: ignore that one."""
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore",
            message="__array__ implementation doesn't accept a copy keyword",
            category=DeprecationWarning,
        )
        yield


def padded_input(rng, shape) -> np.ndarray:
    """(5, T, D) normal values with padding: row 0 leading, 1 trailing, 2 middle, 3 full."""
    x = rng.normal(scale=1.5, size=(5, *shape)).astype("float32")
    x[0, :3] = 0.0
    x[1, -2:] = 0.0
    x[2, 2:4] = 0.0
    x[3] = 0.0
    return x


class Case:
    """One Keras model of the matrix, the files Keras wrote, and its predictions."""

    def __init__(self, keras, name: str, tmp_path_factory):
        input_shape, specs = MATRIX[name]
        rng = np.random.default_rng(sum(map(ord, name)))
        layers = []
        for cls, kwargs in specs:
            if cls in RECURRENT:
                # overwritten below; Keras's Orthogonal default costs seconds of compilation
                kwargs = {"recurrent_initializer": "zeros", **kwargs}
            layers.append(getattr(keras.layers, cls)(**kwargs))
        self.keras_model = keras.Sequential([keras.Input(input_shape), *layers])
        self.keras_model.set_weights([
            rng.normal(scale=0.7, size=w.shape).astype("float32")
            for w in keras_weights(self.keras_model)
        ])
        self.masked = specs[0][0] == "Masking"
        if self.masked:
            self.x = padded_input(rng, input_shape)
        else:
            self.x = rng.normal(scale=1.5, size=(4, *input_shape)).astype("float32")
        self.y = np.asarray(self.keras_model(self.x, training=False))
        self.directory = tmp_path_factory.mktemp(name)
        self.keras_file = self.directory / "model.keras"
        self.legacy_file = self.directory / "model.h5"
        self.weights_file = self.directory / "model.weights.h5"
        with keras_saving():
            self.keras_model.save(self.keras_file)
            self.keras_model.save(self.legacy_file)
            self.keras_model.save_weights(self.weights_file)


@pytest.fixture(scope="module", params=sorted(MATRIX))
def case(request, keras, tmp_path_factory):
    return Case(keras, request.param, tmp_path_factory)


def predict(model, x):
    return model.predict(x, verbose=0)


def assert_same_weights(ours, theirs):
    assert len(ours) == len(theirs)
    for a, b in zip(ours, theirs, strict=True):
        np.testing.assert_array_equal(a, b)


def test_keras_files_read_by_npylstm(case):
    for path in (case.keras_file, case.legacy_file):
        model = npylstm.load_model(path)
        np.testing.assert_allclose(predict(model, case.x), case.y, atol=ATOL, rtol=0,
                                   err_msg=str(path))
        assert [layer.name for layer in model.layers] == [k.name for k in
                                                          case.keras_model.layers]
        assert_same_weights(model.get_weights(), keras_weights(case.keras_model))
    saved = keras_io.read_model_file(case.legacy_file)
    assert saved.format == "legacy_h5" and saved.keras_version.startswith("3.")
    if case.masked:
        # masked for real: the same layers fed the zeroed steps unmasked give other numbers
        unmasked = npylstm.Sequential(
            [npylstm.Input(case.x.shape[1:]), *[type(layer).from_config(layer.get_config())
                                                 for layer in model.layers[1:]]])
        unmasked.set_weights(model.get_weights())
        assert np.abs(predict(unmasked, case.x) - case.y).max() > 1e-3


def test_keras_weights_files_read_by_npylstm(case):
    for path in (case.weights_file, case.legacy_file, case.keras_file):
        model = npylstm.load_model(case.keras_file)
        model.set_weights([np.zeros_like(w) for w in model.get_weights()])
        model.load_weights(path)
        np.testing.assert_allclose(predict(model, case.x), case.y, atol=ATOL, rtol=0,
                                   err_msg=str(path))


def test_npylstm_files_read_back_by_npylstm(case):
    model = npylstm.load_model(case.keras_file)
    ours = predict(model, case.x)
    directory = case.directory
    model.save(directory / "back.keras")
    model.save(directory / "back.h5")
    model.save_weights(directory / "back.weights.h5")
    model.save_weights(directory / "back_legacy_weights.h5")
    for path in ("back.keras", "back.h5"):
        again = npylstm.load_model(directory / path)
        assert again.get_config() == model.get_config(), path
        assert_same_weights(again.get_weights(), model.get_weights())
        np.testing.assert_array_equal(predict(again, case.x), ours)
    for path in ("back.weights.h5", "back_legacy_weights.h5"):
        again = npylstm.load_model(case.keras_file)
        again.set_weights([np.zeros_like(w) for w in again.get_weights()])
        again.load_weights(directory / path)
        assert_same_weights(again.get_weights(), model.get_weights())


def test_npylstm_files_read_by_keras(case, keras):
    """Keras 3 loads npylstm's .keras to the same predictions (masked inputs included); its
    .h5 and weights files give Keras the same config and weights."""
    model = npylstm.load_model(case.keras_file)
    ours = predict(model, case.x)
    directory = case.directory
    model.save(directory / "ours.keras")
    model.save(directory / "ours.h5")
    model.save_weights(directory / "ours.weights.h5")
    model.save_weights(directory / "ours_legacy_weights.h5")
    reloaded = keras.saving.load_model(directory / "ours.keras")
    np.testing.assert_allclose(np.asarray(reloaded(case.x, training=False)), ours,
                               atol=ATOL, rtol=0)
    expected = keras_weights(case.keras_model)
    legacy = keras.saving.load_model(directory / "ours.h5")
    configs = [layer["config"] for layer in case.keras_model.get_config()["layers"]]
    for target in (reloaded, legacy):
        assert [layer["config"] for layer in target.get_config()["layers"]] == configs
        assert_same_weights(keras_weights(target), expected)
    for path in ("ours.weights.h5", "ours_legacy_weights.h5"):
        legacy.set_weights([np.zeros_like(w) for w in expected])
        legacy.load_weights(directory / path)
        assert_same_weights(keras_weights(legacy), expected)


def test_weights_file_layout_is_keras3(case):
    """npylstm's .weights.h5 has the groups, datasets, shapes and attributes Keras wrote."""
    import h5py

    model = npylstm.load_model(case.keras_file)
    ours = model.save_weights(case.directory / "layout.weights.h5")

    def tree(path):
        out = {}
        with h5py.File(path, "r") as f:
            f.visititems(lambda name, obj: out.__setitem__(
                name, (getattr(obj, "shape", None), dict(obj.attrs))))
        return out

    assert tree(ours) == tree(case.weights_file)


def test_simple_rnn_cell_is_named_as_keras_names_it(tmp_path):
    import h5py

    model = npylstm.Sequential([npylstm.Input((3, 2)),
                                npylstm.layers.SimpleRNN(2, name="simple_rnn")])
    model.save_weights(tmp_path / "m.weights.h5")
    model.save(tmp_path / "m.h5")
    with h5py.File(tmp_path / "m.weights.h5") as f:
        assert f["layers/simple_rnn/cell/vars"].attrs["name"] == "simple_rnn_cell"
    with h5py.File(tmp_path / "m.h5") as f:
        names = [n.decode() for n in f["model_weights/simple_rnn"].attrs["weight_names"]]
    assert names == [f"simple_rnn/simple_rnn_cell/{w}:0"
                     for w in ("kernel", "recurrent_kernel", "bias")]


@pytest.mark.parametrize("reset_after", [True, False])
def test_npylstm_model_of_every_layer_round_trips(reset_after, tmp_path):
    """A model made in npylstm (not read from Keras): GRU without bias, SimpleRNN, LSTM after
    Masking, written in every format and read back to the same config and predictions."""
    layers = npylstm.layers
    model = npylstm.Sequential([
        npylstm.Input((6, 3)),
        layers.Masking(0.0),
        layers.GRU(4, use_bias=False, reset_after=reset_after, return_sequences=True),
        layers.SimpleRNN(3, go_backwards=True, return_sequences=True),
        layers.LSTM(2),
        layers.Dense(2),
    ])
    rng = np.random.default_rng(5)
    model.set_weights([rng.normal(size=w.shape).astype("float32") for w in model.get_weights()])
    x = padded_input(rng, (6, 3))
    y = predict(model, x)
    model.save(tmp_path / "m.keras")
    model.save(tmp_path / "m.h5")
    model.save_weights(tmp_path / "m.weights.h5")
    model.save_weights(tmp_path / "m_weights.h5")
    for path in ("m.keras", "m.h5"):
        again = npylstm.load_model(tmp_path / path)
        assert again.get_config() == model.get_config()
        np.testing.assert_array_equal(predict(again, x), y)
    for path in ("m.weights.h5", "m_weights.h5", "m.keras", "m.h5"):
        again = npylstm.load_model(tmp_path / "m.keras")
        again.set_weights([np.zeros_like(w) for w in again.get_weights()])
        again.load_weights(tmp_path / path)
        np.testing.assert_array_equal(predict(again, x), y)
