"""Keras 3 files, in both directions, against real Keras (the oracle).

Each configuration of the matrix is built once in real Keras (JAX backend) with random
weights, saved as ``.keras``, legacy ``.h5`` and ``.weights.h5``, and predicted on once.
npylstm must load every file, without Keras, to predictions within 1e-5 of Keras's, and the
files npylstm writes must load back into real Keras with the same predictions.
"""

from __future__ import annotations

import contextlib
import warnings

import numpy as np
import pytest

import npylstm
from npylstm import keras_io

ATOL = 1e-5

# name -> (input shape without batch, list of (Keras layer class, kwargs)), weight scale
MATRIX = {
    "stacked_dropout": (
        (6, 3),
        [
            ("LSTM", dict(units=6, return_sequences=True, dropout=0.1)),
            ("Dropout", dict(rate=0.2)),
            ("LSTM", dict(units=4)),
            ("Dense", dict(units=3)),
        ],
    ),
    "backwards_sequences": (
        (5, 2),
        [
            ("LSTM", dict(units=5, go_backwards=True, return_sequences=True)),
            ("Dense", dict(units=2, activation="tanh")),
        ],
    ),
    "no_bias_no_forget_bias": (
        (4, 3),
        [
            ("LSTM", dict(units=4, use_bias=False, return_sequences=True)),
            ("LSTM", dict(units=3, unit_forget_bias=False, go_backwards=True)),
            ("Dense", dict(units=1, activation="sigmoid")),
        ],
    ),
    "activations": (
        (5, 2),
        [
            (
                "LSTM",
                dict(
                    units=4,
                    activation="relu",
                    recurrent_activation="hard_sigmoid",
                    return_sequences=True,
                ),
            ),
            ("LSTM", dict(units=3, activation="softsign", recurrent_activation="tanh")),
            ("Dense", dict(units=2, activation="softplus", use_bias=False)),
        ],
    ),
    "elu_dropout_relu": (
        (3, 4),
        [
            ("LSTM", dict(units=3, activation="elu", return_sequences=True)),
            ("Dropout", dict(rate=0.5)),
            ("Dense", dict(units=4, activation="relu")),
        ],
    ),
    "variable_timesteps": (
        (None, 2),
        [("LSTM", dict(units=7, name="only_lstm")), ("Dense", dict(units=1, name="head"))],
    ),
}


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


class Case:
    """One Keras model of the matrix, its files and its predictions."""

    def __init__(self, keras, name: str, tmp_path_factory):
        input_shape, layer_specs = MATRIX[name]
        rng = np.random.default_rng(abs(hash(name)) % 2**32)
        layers = []
        for cls, kwargs in layer_specs:
            if cls == "LSTM":
                # The weights are overwritten below; Keras's default Orthogonal initializer
                # costs ~3 s of JAX compilation per LSTM (at every build and every load).
                kwargs = {"recurrent_initializer": "zeros", **kwargs}
            layers.append(getattr(keras.layers, cls)(**kwargs))
        self.keras_model = keras.Sequential([keras.Input(input_shape), *layers])
        # Random weights everywhere (biases too), large enough that hard_sigmoid clips.
        self.keras_model.set_weights(
            [
                rng.normal(scale=0.7, size=w.shape).astype("float32")
                for w in keras_weights(self.keras_model)
            ]
        )
        timesteps = input_shape[0] or 6
        self.x = rng.normal(scale=2.0, size=(3, timesteps, input_shape[1])).astype("float32")
        self.y = np.asarray(self.keras_model(self.x, training=False))
        directory = tmp_path_factory.mktemp(name)
        self.keras_file = directory / "model.keras"
        self.legacy_file = directory / "model.h5"
        self.weights_file = directory / "model.weights.h5"
        with keras_saving():
            self.keras_model.save(self.keras_file)
            self.keras_model.save(self.legacy_file)
            self.keras_model.save_weights(self.weights_file)
        self.directory = directory


@pytest.fixture(scope="module", params=sorted(MATRIX))
def case(request, keras, tmp_path_factory):
    return Case(keras, request.param, tmp_path_factory)


def predict(model, x):
    return model.predict(x, verbose=0)


def test_load_keras_file_matches_keras(case):
    model = npylstm.load_model(case.keras_file)
    np.testing.assert_allclose(predict(model, case.x), case.y, atol=ATOL, rtol=0)
    assert [layer.name for layer in model.layers] == [k.name for k in case.keras_model.layers]
    for ours, theirs in zip(model.layers, case.keras_model.layers, strict=True):
        for a, b in zip(ours.get_weights(), keras_weights(theirs), strict=True):
            np.testing.assert_array_equal(a, b)


def test_load_legacy_h5_written_by_keras3_matches_keras(case):
    saved = keras_io.read_model_file(case.legacy_file)
    assert saved.format == "legacy_h5" and saved.keras_version.startswith("3.")
    model = npylstm.load_model(case.legacy_file)
    np.testing.assert_allclose(predict(model, case.x), case.y, atol=ATOL, rtol=0)


def test_load_weights_files_into_a_model(case):
    for path in (case.weights_file, case.legacy_file, case.keras_file):
        model = npylstm.load_model(case.keras_file)
        model.set_weights([np.zeros_like(w) for w in model.get_weights()])
        model.load_weights(path)
        np.testing.assert_allclose(predict(model, case.x), case.y, atol=ATOL, rtol=0)


def test_round_trip_through_real_keras(case, keras):
    """npylstm -> .keras -> real Keras predicts the same; the other files give Keras the same
    config and weights (so the same predictions, without paying for more Keras calls)."""
    model = npylstm.load_model(case.keras_file)
    ours = predict(model, case.x)
    model.save(case.directory / "ours.keras")
    model.save(case.directory / "ours.h5")
    model.save_weights(case.directory / "ours.weights.h5")
    model.save_weights(case.directory / "ours_legacy_weights.h5")
    reloaded = keras.saving.load_model(case.directory / "ours.keras")
    np.testing.assert_allclose(
        np.asarray(reloaded(case.x, training=False)), ours, atol=ATOL, rtol=0
    )
    np.testing.assert_allclose(ours, case.y, atol=ATOL, rtol=0)
    expected_weights = keras_weights(case.keras_model)
    legacy = keras.saving.load_model(case.directory / "ours.h5")
    assert [layer["config"] for layer in legacy.get_config()["layers"]] == [
        layer["config"] for layer in reloaded.get_config()["layers"]
    ]
    for target in (reloaded, legacy):
        for a, b in zip(keras_weights(target), expected_weights, strict=True):
            np.testing.assert_array_equal(a, b)
    for path in ("ours.weights.h5", "ours_legacy_weights.h5"):
        target = keras.saving.load_model(case.keras_file)
        target.set_weights([np.zeros_like(w) for w in keras_weights(target)])
        target.load_weights(case.directory / path)
        for a, b in zip(keras_weights(target), expected_weights, strict=True):
            np.testing.assert_array_equal(a, b)


def test_from_keras_and_to_keras(case):
    """from_keras predicts as Keras; to_keras gives back a model with Keras's own layer
    configs and weights (so Keras's predictions, without paying for another Keras call)."""
    model = npylstm.from_keras(case.keras_model)
    np.testing.assert_allclose(predict(model, case.x), case.y, atol=ATOL, rtol=0)
    back = model.to_keras()
    assert type(back).__name__ == "Sequential"
    assert [layer["config"] for layer in back.get_config()["layers"]] == [
        layer["config"] for layer in case.keras_model.get_config()["layers"]
    ]
    for a, b in zip(keras_weights(back), keras_weights(case.keras_model), strict=True):
        np.testing.assert_array_equal(a, b)


def test_weights_file_layout_is_keras3(case, keras):
    """Our .weights.h5 has the same groups, datasets and names as the one Keras wrote."""
    import h5py

    model = npylstm.load_model(case.keras_file)
    ours = model.save_weights(case.directory / "layout.weights.h5")

    def tree(path):
        out = {}
        with h5py.File(path, "r") as f:
            f.visititems(
                lambda name, obj: out.__setitem__(
                    name, (getattr(obj, "shape", None), dict(obj.attrs))
                )
            )
        return out

    theirs = tree(case.weights_file)
    assert tree(ours) == theirs


def test_keras_file_members(case):
    import zipfile

    model = npylstm.load_model(case.keras_file)
    path = model.save(case.directory / "members.keras")
    with zipfile.ZipFile(path) as zf:
        assert sorted(zf.namelist()) == ["config.json", "metadata.json", "model.weights.h5"]
        assert all(info.compress_type == zipfile.ZIP_STORED for info in zf.infolist())


def test_keras3_hard_sigmoid_is_keras3s(keras, tmp_path):
    """A .keras file's "hard_sigmoid" is Keras 3's clip(x/6 + 0.5), not Keras 2's."""
    km = keras.Sequential(
        [
            keras.Input((4, 2)),
            keras.layers.LSTM(
                3,
                recurrent_activation="hard_sigmoid",
                kernel_initializer="zeros",
                recurrent_initializer="zeros",
            ),
        ]
    )
    rng = np.random.default_rng(3)
    km.set_weights([rng.normal(scale=2.0, size=w.shape).astype("float32") for w in km.weights])
    x = rng.normal(scale=3.0, size=(4, 4, 2)).astype("float32")
    y = np.asarray(km(x))
    with keras_saving():
        km.save(tmp_path / "hs.keras")
    model = npylstm.load_model(tmp_path / "hs.keras")
    assert model.layers[0].recurrent_activation == "hard_sigmoid"
    np.testing.assert_allclose(predict(model, x), y, atol=ATOL, rtol=0)
    model.layers[0].recurrent_activation = keras_io.KERAS2_HARD_SIGMOID
    assert np.abs(predict(model, x) - y).max() > 1e-2  # the two really differ here


def test_save_refuses_keras2_hard_sigmoid_in_keras3_formats(tmp_path):
    model = npylstm.Sequential(
        [npylstm.Input((3, 2)), npylstm.layers.LSTM(2, recurrent_activation="hard_sigmoid_keras2")]
    )
    with pytest.raises(keras_io.KerasFileError, match=r"Keras 2's hard_sigmoid.*legacy '\.h5'"):
        model.save(tmp_path / "m.keras")
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(keras_io.KerasFileError, match="Keras 3 cannot express"):
        model.to_keras()


def test_save_needs_a_known_file_kind(tmp_path):
    model = npylstm.Sequential([npylstm.Input((3, 2)), npylstm.layers.LSTM(2)])
    with pytest.raises(ValueError, match=r"'\.keras'.*'\.h5'.*received"):
        model.save(tmp_path / "m.pkl")
    with pytest.raises(ValueError, match=r"'\.weights\.h5'.*received"):
        model.save_weights(tmp_path / "m.npz")


def test_weights_group_names_follow_classes():
    # Keras names groups after the class, numbered per class (saving_lib._get_unique_name).
    assert keras_io.weights_group_names(["LSTM", "Dropout", "LSTM", "Dense", "Dense"]) == [
        "lstm",
        "dropout",
        "lstm_1",
        "dense",
        "dense_1",
    ]


def test_from_keras_refuses_what_it_cannot_rebuild(keras):
    unsupported = keras.Sequential([keras.Input((3, 2)), keras.layers.UnitNormalization()])
    with pytest.raises(keras_io.KerasFileError,
                       match=r"unsupported layer classes \['UnitNormalization'\]"):
        npylstm.from_keras(unsupported)
    with pytest.raises(TypeError, match="expected a keras.Sequential or a functional "
                                        "keras.Model, received Dense"):
        npylstm.from_keras(keras.layers.Dense(2))


def test_compile_settings_travel_both_ways(keras, tmp_path):
    """load_model compiles as the file says (optimizer hyperparameters, loss, metrics), as
    keras.saving.load_model does; a compiled npylstm model writes Keras's compile_config."""
    km = keras.Sequential(
        [
            keras.Input((3, 2)),
            keras.layers.LSTM(2, kernel_initializer="zeros", recurrent_initializer="zeros"),
            keras.layers.Dense(1),
        ]
    )
    km.compile(optimizer=keras.optimizers.RMSprop(0.02), loss="mae", metrics=["mse"])
    with keras_saving():
        km.save(tmp_path / "compiled.keras")
    model = npylstm.load_model(tmp_path / "compiled.keras")
    assert model.compiled and type(model.optimizer).__name__ == "RMSprop"
    assert model.optimizer.get_config()["learning_rate"] == pytest.approx(0.02)
    assert (model.loss.name, [m.name for m in model.compiled_metrics]) == ("mae", ["mse"])
    assert not npylstm.load_model(tmp_path / "compiled.keras", compile=False).compiled

    model.compile(optimizer=npylstm.optimizers.get("adam"), loss="mse")
    model.save(tmp_path / "ours.keras")
    # Keras compiles from our compile_config and says that it starts the optimizer afresh.
    with pytest.warns(UserWarning, match="Skipping variable loading for optimizer 'adam'"):
        back = keras.saving.load_model(tmp_path / "ours.keras")
    assert back.compiled and type(back.optimizer).__name__ == "Adam" and back.loss == "mse"


def test_unsupported_compile_settings_warn_and_leave_the_model_uncompiled(tmp_path):
    import json
    import zipfile

    model = npylstm.Sequential([npylstm.Input((3, 2)), npylstm.layers.LSTM(2)])
    good = model.save(tmp_path / "good.keras")
    bad = tmp_path / "muon.keras"
    with zipfile.ZipFile(good) as zin, zipfile.ZipFile(bad, "w") as zout:
        config = json.loads(zin.read("config.json"))
        config["compile_config"] = {
            "optimizer": {"class_name": "Muon", "config": {}},  # Keras's, not npylstm's
            "loss": "mse",
        }
        zout.writestr("config.json", json.dumps(config))
        zout.writestr("model.weights.h5", zin.read("model.weights.h5"))
    with pytest.warns(UserWarning, match=r"muon\.keras': the model was not compiled \(.*Muon"):
        loaded = npylstm.load_model(bad)
    assert not loaded.compiled


def test_unzipped_keras_directory(keras, tmp_path):
    """Keras 3's save_model(..., zipped=False) writes the three members into a directory."""
    km = keras.Sequential(
        [
            keras.Input((4, 2)),
            keras.layers.LSTM(3, kernel_initializer="zeros", recurrent_initializer="zeros"),
        ]
    )
    rng = np.random.default_rng(5)
    km.set_weights([rng.normal(size=w.shape).astype("float32") for w in km.weights])
    x = rng.normal(size=(2, 4, 2)).astype("float32")
    with keras_saving():
        keras.saving.save_model(km, tmp_path / "unzipped", zipped=False)
    members = {p.name for p in (tmp_path / "unzipped").iterdir()}
    assert {"config.json", "metadata.json", "model.weights.h5"} <= members
    model = npylstm.load_model(tmp_path / "unzipped")
    np.testing.assert_allclose(predict(model, x), np.asarray(km(x)), atol=ATOL, rtol=0)
    model.set_weights([np.zeros_like(w) for w in model.get_weights()])
    model.load_weights(tmp_path / "unzipped")
    np.testing.assert_allclose(predict(model, x), np.asarray(km(x)), atol=ATOL, rtol=0)
