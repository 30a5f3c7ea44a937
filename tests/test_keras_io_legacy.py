"""Legacy Keras 2 files (written by tf_keras 2.21, committed in tests/fixtures), read without
TensorFlow; the expected predictions are tf_keras's own, stored beside each file by
tests/fixtures/make_keras2_fixtures.py.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest

import npylstm
from npylstm import keras_io

FIXTURES = Path(__file__).parent / "fixtures"
ATOL = 1e-5
MODELS = ["keras2_stacked", "keras2_hard_sigmoid", "keras2_options"]


def fixture(name: str):
    data = np.load(FIXTURES / f"{name}.npz")
    return FIXTURES / f"{name}.h5", data["x"], data["y"]


@pytest.mark.parametrize("name", MODELS)
def test_keras2_model_matches_tf_keras(name):
    path, x, y = fixture(name)
    saved = keras_io.read_model_file(path)
    assert saved.format == "legacy_h5" and saved.keras_version == "2.21.0"
    model = npylstm.load_model(path)
    np.testing.assert_allclose(model.predict(x, verbose=0), y, atol=ATOL, rtol=0)


def test_keras2_hard_sigmoid_means_keras2s():
    """The fixture drives the gates past +-2.5, where the two hard sigmoids differ."""
    path, x, y = fixture("keras2_hard_sigmoid")
    model = npylstm.load_model(path)
    lstm = model.layers[0]
    assert lstm.recurrent_activation == "hard_sigmoid_keras2"
    assert lstm.go_backwards
    np.testing.assert_allclose(model.predict(x, verbose=0), y, atol=ATOL, rtol=0)
    lstm.recurrent_activation = "hard_sigmoid"  # Keras 3's clip(x/6 + 0.5) instead
    assert np.abs(model.predict(x, verbose=0) - y).max() > 1e-2


def test_keras2_options_config():
    model = npylstm.load_model(FIXTURES / "keras2_options.h5")
    first, second, dense = model.layers
    assert (first.activation, first.use_bias, first.return_sequences, first.go_backwards) == (
        "softsign",
        False,
        True,
        True,
    )
    assert (second.name, second.unit_forget_bias, second.recurrent_activation) == (
        "second_lstm",
        False,
        "hard_sigmoid_keras2",
    )
    assert dense.activation == "hard_sigmoid_keras2"
    assert model.input_shape == (None, 4, 3)


def test_keras2_weights_only_file():
    path, x, y = fixture("keras2_stacked")
    model = npylstm.load_model(path)
    reference = model.get_weights()
    model.set_weights([np.zeros_like(w) for w in reference])
    model.load_weights(FIXTURES / "keras2_stacked_weights.h5")
    for a, b in zip(model.get_weights(), reference, strict=True):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(model.predict(x, verbose=0), y, atol=ATOL, rtol=0)


def test_weights_only_file_is_not_a_model(tmp_path):
    with pytest.raises(keras_io.KerasFileError, match="weights-only file.*load_weights"):
        npylstm.load_model(FIXTURES / "keras2_stacked_weights.h5")


def test_keras2_semantics_survive_a_legacy_round_trip(tmp_path):
    """Saved back as .h5, a Keras 2 model keeps keras_version 2 and its hard_sigmoid."""
    path, x, y = fixture("keras2_hard_sigmoid")
    model = npylstm.load_model(path)
    out = model.save(tmp_path / "back.h5")
    with h5py.File(out) as f:
        assert f.attrs["keras_version"].startswith("2.")
        config = json.loads(f.attrs["model_config"])
    assert config["config"]["layers"][1]["config"]["recurrent_activation"] == "hard_sigmoid"
    assert "batch_input_shape" in config["config"]["layers"][0]["config"]  # tf_keras's spelling
    again = npylstm.load_model(out)
    assert again.layers[0].recurrent_activation == "hard_sigmoid_keras2"
    np.testing.assert_allclose(again.predict(x, verbose=0), y, atol=ATOL, rtol=0)


def test_keras3_legacy_file_keeps_keras3_hard_sigmoid(tmp_path):
    model = npylstm.Sequential(
        [npylstm.Input((3, 2)), npylstm.layers.LSTM(2, recurrent_activation="hard_sigmoid")]
    )
    out = model.save(tmp_path / "k3.h5")
    with h5py.File(out) as f:
        assert f.attrs["keras_version"].startswith("3.")
    assert npylstm.load_model(out).layers[0].recurrent_activation == "hard_sigmoid"


def _rewrite_config(src: Path, dst: Path, edit) -> None:
    shutil.copy(src, dst)
    with h5py.File(dst, "r+") as f:
        config = json.loads(f.attrs["model_config"])
        f.attrs["model_config"] = json.dumps(edit(config))


def test_old_keras2_config_forms(tmp_path):
    """Keras 2.0-2.2 wrote a Sequential config as a bare list of layers, with the input shape
    as batch_input_shape on the first layer (no InputLayer), and bytes attributes."""
    path, x, y = fixture("keras2_stacked")

    def old_form(config):
        layers = config["config"]["layers"]
        assert layers[0]["class_name"] == "InputLayer"
        first = layers[1]
        first["config"]["batch_input_shape"] = layers[0]["config"]["batch_input_shape"]
        return {"class_name": "Sequential", "config": layers[1:]}

    old = tmp_path / "old.h5"
    _rewrite_config(path, old, old_form)
    with h5py.File(old, "r+") as f:
        f.attrs["keras_version"] = b"2.2.4"
        f["model_weights"].attrs["keras_version"] = b"2.2.4"
    model = npylstm.load_model(old)
    assert model.input_shape == (None, 6, 3)
    np.testing.assert_allclose(model.predict(x, verbose=0), y, atol=ATOL, rtol=0)


def test_weight_names_split_over_several_attributes(tmp_path):
    """Keras splits long weight_names lists into weight_names0, weight_names1, ...
    (legacy_h5_format.save_attributes_to_hdf5_group)."""
    path, x, y = fixture("keras2_stacked")
    split = tmp_path / "split.h5"
    shutil.copy(path, split)
    with h5py.File(split, "r+") as f:
        group = f["model_weights/lstm"]
        names = group.attrs["weight_names"]
        del group.attrs["weight_names"]
        group.attrs["weight_names0"] = names[:2]
        group.attrs["weight_names1"] = names[2:]
        layer_names = f["model_weights"].attrs["layer_names"]
        del f["model_weights"].attrs["layer_names"]
        f["model_weights"].attrs["layer_names0"] = layer_names[:1]
        f["model_weights"].attrs["layer_names1"] = layer_names[1:]
    model = npylstm.load_model(split)
    np.testing.assert_allclose(model.predict(x, verbose=0), y, atol=ATOL, rtol=0)


def test_keras1_files_are_refused(tmp_path):
    path, _, _ = fixture("keras2_stacked")
    old = tmp_path / "keras1.h5"
    shutil.copy(path, old)
    with h5py.File(old, "r+") as f:
        del f.attrs["keras_version"]
        del f["model_weights"].attrs["keras_version"]
    with pytest.raises(keras_io.KerasFileError, match=r"keras1\.h5.*Keras 1.*12 arrays per LSTM"):
        npylstm.load_model(old)


def test_unsupported_layers_are_listed(tmp_path):
    path, _, _ = fixture("keras2_stacked")
    bad = tmp_path / "conv_lstm.h5"

    def add_layers(config):
        layers = config["config"]["layers"]
        layers[1]["class_name"] = "ConvLSTM1D"
        layers.append({"class_name": "Lambda", "config": {"name": "evil", "function": "os.system"}})
        return config

    _rewrite_config(path, bad, add_layers)
    # The allow-list is the registry: every registered layer class, named in the message.
    registered = npylstm.io.supported_layers()
    assert {"Dense", "Dropout", "InputLayer", "LSTM"} <= set(registered)
    with pytest.raises(
        keras_io.KerasFileError,
        match=r"unsupported layer classes \['ConvLSTM1D', 'Lambda'\] \(layers 'lstm' "
        r"\(ConvLSTM1D\), 'evil' \(Lambda\)\); npylstm supports " + re.escape(str(registered))
        + r"; a Lambda layer holds Python code, which npylstm never runs .*custom_objects="
        r"\{'ConvLSTM1D': YourLayer\}",
    ):
        npylstm.load_model(bad)


def test_subclassed_models_and_broken_functional_configs_are_refused(tmp_path):
    path, _, _ = fixture("keras2_stacked")
    bad = tmp_path / "subclassed.h5"
    _rewrite_config(path, bad, lambda c: {"class_name": "MyModel", "config": c["config"]})
    with pytest.raises(keras_io.KerasFileError,
                       match="'MyModel' model; npylstm rebuilds Sequential and functional"):
        npylstm.load_model(bad)
    # a Sequential's layers relabelled Functional: no input_layers / inbound nodes
    broken = tmp_path / "functional.h5"
    _rewrite_config(path, broken, lambda c: {"class_name": "Functional", "config": c["config"]})
    with pytest.raises(keras_io.KerasFileError,
                       match=r"cannot rebuild the model .*expected input_layers as "
                             r"\[layer, node, tensor\] entries, received None"):
        npylstm.load_model(broken)


def test_time_major_is_refused(tmp_path):
    path, _, _ = fixture("keras2_stacked")
    bad = tmp_path / "time_major.h5"

    def time_major(config):
        config["config"]["layers"][1]["config"]["time_major"] = True
        return config

    _rewrite_config(path, bad, time_major)
    with pytest.raises(
        keras_io.KerasFileError, match="layer 'lstm' \\(LSTM\\) has time_major=True"
    ):
        npylstm.load_model(bad)


def test_normalize_keeps_input():
    config = {
        "class_name": "Sequential",
        "config": {
            "layers": [
                {
                    "class_name": "LSTM",
                    "config": {"name": "l", "units": 2, "activation": "hard_sigmoid"},
                }
            ]
        },
    }
    before = json.dumps(config)
    out = keras_io.normalize_model_config(config, "2.15.0")
    assert json.dumps(config) == before  # the input is not modified
    assert out["config"]["layers"][0]["config"]["activation"] == "hard_sigmoid_keras2"
    out3 = keras_io.normalize_model_config(config, "3.1.0")
    assert out3["config"]["layers"][0]["config"]["activation"] == "hard_sigmoid"


def test_load_weights_builds_an_unbuilt_model():
    """A model without an input shape is built from the first kernel, as Keras does."""
    _, x, y = fixture("keras2_stacked")
    model = npylstm.Sequential(
        [
            npylstm.layers.LSTM(8, return_sequences=True),
            npylstm.layers.Dropout(0.2),
            npylstm.layers.LSTM(5),
            npylstm.layers.Dense(2),
        ]
    )
    model.load_weights(FIXTURES / "keras2_stacked_weights.h5")
    np.testing.assert_allclose(model.predict(x, verbose=0), y, atol=ATOL, rtol=0)


def test_keras_zip_written_by_tf_keras_means_keras2():
    """tf_keras 2.13+ writes .keras too; metadata.json's keras_version 2.x decides hard_sigmoid."""
    _, x, y = fixture("keras2_hard_sigmoid")
    saved = keras_io.read_model_file(FIXTURES / "keras2_hard_sigmoid.keras")
    assert saved.format == "keras" and saved.keras_version == "2.21.0"
    model = npylstm.load_model(FIXTURES / "keras2_hard_sigmoid.keras")
    assert model.layers[0].recurrent_activation == "hard_sigmoid_keras2"
    np.testing.assert_allclose(model.predict(x, verbose=0), y, atol=ATOL, rtol=0)


def test_tf_keras_training_config_compiles_the_model():
    """tf_keras's training_config: "Custom>Adam" with jit_compile / is_legacy_optimizer keys."""
    model = npylstm.load_model(FIXTURES / "keras2_stacked.h5")
    assert model.compiled and type(model.optimizer).__name__ == "Adam"
    assert model.optimizer.get_config()["learning_rate"] == pytest.approx(1e-3)
    assert model.loss.name == "mse"


def test_keras2_file_keeps_its_compile_settings(tmp_path):
    model = npylstm.load_model(FIXTURES / "keras2_hard_sigmoid.h5")
    model.compile(optimizer=npylstm.optimizers.get("rmsprop"), loss="mae", metrics=["mse"])
    out = model.save(tmp_path / "compiled.h5")
    with h5py.File(out) as f:
        training = json.loads(f.attrs["training_config"])
    assert training["optimizer_config"]["class_name"] == "Custom>RMSprop"  # tf_keras's name
    again = npylstm.load_model(out)
    assert type(again.optimizer).__name__ == "RMSprop"
    assert (again.loss.name, [m.name for m in again.compiled_metrics]) == ("mae", ["mse"])
