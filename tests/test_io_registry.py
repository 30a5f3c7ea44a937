"""npylstm.io over the layer registry: the allow-list is ``registry``, a layer's variables
are found by walking its ``variable_tree``, and ``load_any`` recognises every format by
content. Files are made here with npylstm, zipfile and h5py (no Keras)."""

from __future__ import annotations

import contextlib
import json
import re
import zipfile

import h5py
import numpy as np
import pytest
from keras_archive import edited_keras_config  # tests/ is on sys.path

import npylstm
from npylstm import cli, io, registry
from npylstm.layers import Layer
from npylstm.layers.base import VarsNode


@contextlib.contextmanager
def registered(name: str, cls: type):
    """``cls`` registered under ``name`` for the duration of the block, then removed."""
    registry.register(name)(cls)
    try:
        yield cls
    finally:
        registry._CLASSES.pop(name, None)


@pytest.fixture
def model():
    npylstm.set_random_seed(0)
    return npylstm.Sequential(
        [
            npylstm.Input((4, 3)),
            npylstm.layers.LSTM(5, return_sequences=True, name="first"),
            npylstm.layers.Dropout(0.1, name="drop"),
            npylstm.layers.LSTM(2, name="second"),
            npylstm.layers.Dense(1, name="head"),
        ]
    )


# -- (1) the registry is the allow-list --------------------------------------------------------


class Scale(Layer):
    """A test-only layer: ``y = x * factor``, no weights."""

    def __init__(self, factor: float = 1.0, name=None, dtype="float32", trainable=True):
        super().__init__(name=name, dtype=dtype, trainable=trainable)
        self.factor = float(factor)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def forward(self, x, training=False, rng=None):
        return np.asarray(x, self.dtype) * self.dtype.type(self.factor), None

    def backward(self, dy, cache):
        return dy * self.dtype.type(self.factor), []

    def get_config(self) -> dict:
        return {**super().get_config(), "factor": self.factor}


def test_an_unregistered_class_is_refused_by_name(model, tmp_path):
    good = model.save(tmp_path / "good.keras")

    def unregistered(config):
        layers = config["config"]["layers"]
        layers[2]["class_name"] = "Lambda"
        layers[2]["config"] = {"name": "evil", "function": "os.system"}
        layers.append({"class_name": "Scale", "config": {"name": "s", "factor": 2.0}})
        return config

    bad = edited_keras_config(good, tmp_path / "bad.keras", unregistered)
    with pytest.raises(io.KerasFileError) as info:
        npylstm.load_model(bad)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"'{bad}': unsupported layer classes ['Lambda', 'Scale'] "
                              "(layers 'evil' (Lambda), 's' (Scale)); ")
    assert f"npylstm supports {io.supported_layers()}; a Lambda layer holds Python code" in message
    assert message.endswith("custom_objects={'Scale': YourLayer})")
    assert "Sequential" not in io.supported_layers()  # a model class is not a layer


def test_a_class_registered_at_runtime_is_loadable(model, tmp_path):
    with registered("Scale", Scale):
        assert "Scale" in io.supported_layers()
        model.add(Scale(3.0, name="triple"))
        path = model.save(tmp_path / "scaled.keras")
        x = np.random.default_rng(0).normal(size=(2, 4, 3)).astype("float32")
        loaded = npylstm.load_model(path)
        assert [type(layer) for layer in loaded.layers][-1] is Scale
        assert loaded.layers[-1].factor == 3.0
        np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    assert "Scale" not in io.supported_layers()
    with pytest.raises(io.KerasFileError, match=r"unsupported layer classes \['Scale'\]"):
        npylstm.load_model(path)


def test_an_unknown_config_key_names_the_layer_and_the_key(model, tmp_path):
    good = model.save(tmp_path / "good.keras")

    def add_key(config):
        config["config"]["layers"][3]["config"]["attention_span"] = 7  # on 'second'
        return config

    bad = edited_keras_config(good, tmp_path / "key.keras", add_key)
    with pytest.raises(io.KerasFileError) as info:
        npylstm.load_model(bad)
    message = str(info.value)
    assert "\n" not in message
    assert re.search(r"LSTM 'second': unknown config key 'attention_span'; LSTM accepts \[",
                     message), message


# -- (3) load_any recognises every format by its content ---------------------------------------


def test_load_any_recognises_each_format_by_content(model, tmp_path):
    x = np.random.default_rng(1).normal(size=(3, 4, 3)).astype("float32")
    expected = model.predict(x, verbose=0)
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"class_name": "Sequential", "config": model.get_config()}))
    keras_file = model.save(tmp_path / "m.keras")
    keras_dir = tmp_path / "m_dir"
    with zipfile.ZipFile(keras_file) as zf:
        zf.extractall(keras_dir)
    files = {
        "keras": keras_file,
        "keras_dir": keras_dir,
        "legacy_h5": model.save(tmp_path / "m.h5"),
        "weights.h5": model.save_weights(tmp_path / "m.weights.h5"),
        "legacy_weights_h5": model.save_weights(tmp_path / "w.h5"),
    }
    # Names that say nothing: the kind comes from what the file holds.
    for kind, path in list(files.items()):
        if path.is_file():
            files[kind] = path.rename(tmp_path / f"{kind}.bin")
    assert {kind: io.file_kind(path) for kind, path in files.items()} == {
        kind: kind for kind in files
    }
    for kind, path in files.items():
        if kind in io.WEIGHTS_FILES:
            with pytest.raises(io.ConfigRequiredError, match="holds weights only") as info:
                io.load_any(path)
            assert info.value.reason == "weights_only"
            loaded = io.load_any(path, config=config)
        else:
            assert kind in io.MODEL_FILES
            loaded = io.load_any(path)
        np.testing.assert_allclose(loaded.predict(x, verbose=0), expected, atol=1e-6, rtol=0)

    # A state dict: np.savez's zip of .npy members (whatever the name), with the LSTM weights;
    # the Dense weights come from a model file given as config.
    lstms = io.lstm_layers(model)
    state = {f"{layer.name}.{k}": v for layer, sd in
             zip(lstms, io.to_torch_state_dicts(model), strict=True) for k, v in sd.items()}
    np.savez(tmp_path / "sd.npz", **state)
    npz = (tmp_path / "sd.npz").rename(tmp_path / "state.bin")
    assert io.file_kind(npz) == "npz"
    with pytest.raises(io.ConfigRequiredError, match="PyTorch-style state dict") as info:
        io.load_any(npz)
    assert info.value.reason == "state_dict"
    with pytest.raises(io.ConfigRequiredError, match=r"the model's \['head'\] need theirs") as info:
        io.load_any(npz, config=config)  # a JSON config brings no Dense weights
    assert (info.value.reason, info.value.missing) == ("state_dict_partial", ["head"])
    loaded = io.load_any(npz, config=files["keras"])
    np.testing.assert_allclose(loaded.predict(x, verbose=0), expected, atol=1e-6, rtol=0)


def test_load_any_refuses_what_is_no_model_file(tmp_path):
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    with pytest.raises(io.KerasFileError, match="is not a Keras file"):
        io.file_kind(text)
    plain = tmp_path / "plain.h5"
    with h5py.File(plain, "w") as h5:
        h5["x"] = np.zeros(2)
    assert io.file_kind(plain) == "hdf5"
    with pytest.raises(io.KerasFileError, match="not a Keras model file"):
        io.load_any(plain)
    bad_config = tmp_path / "config.json"
    bad_config.write_text("{not json")
    with pytest.raises(io.ConfigFileError, match="is neither a .keras/.h5 model file") as info:
        io.load_any(plain, config=bad_config)
    assert info.value.path == bad_config


def test_the_cli_gives_todays_message_for_weights_without_config(model, tmp_path, capsys):
    weights = model.save_weights(tmp_path / "m.weights.h5").rename(tmp_path / "weights.bin")
    code = cli.main(["summary", str(weights)])
    err = capsys.readouterr().err
    assert code == 2
    assert err.strip() == (
        f"npylstm summary: error: '{weights}' holds weights only (no model config): pass "
        "--config CONFIG, a .keras/.h5 model file or a JSON config (keras_model.to_json())"
    )


# -- (4) a nested variable tree through the Keras 3 and legacy writers and readers -------------


class Twin(Layer):
    """A test-only wrapper-like layer: two Dense-like halves, stored as Keras stores a
    Bidirectional (``forward_layer`` / ``backward_layer``, each keeping its variables in
    a ``cell``). ``y = concat(x @ k_f + b_f, x @ k_b + b_b)``."""

    WEIGHT_NAMES = ("kernel", "bias")

    def __init__(self, units: int, name=None, dtype="float32", trainable=True):
        super().__init__(name=name, dtype=dtype, trainable=trainable)
        self.units = self._check_units(units)

    @classmethod
    def variable_tree(cls, config: dict) -> VarsNode:
        def half(direction: str) -> VarsNode:
            cell = VarsNode(weights=("kernel", "bias"), name="twin_cell", legacy_scope="twin_cell")
            return VarsNode(name=f"{direction}_twin", legacy_scope=f"{direction}_twin",
                            children=(("cell", cell),))

        return VarsNode(children=(("forward_layer", half("forward")),
                                  ("backward_layer", half("backward"))))

    def build(self, input_shape):
        d = int(input_shape[-1])
        rng = np.random.default_rng(7)
        self._weights = []
        for direction in ("forward", "backward"):
            self.add_weight(f"{direction}_kernel", rng.normal(size=(d, self.units)))  # (D, U)
            self.add_weight(f"{direction}_bias", rng.normal(size=(self.units,)))  # (U,)
        super().build(input_shape)

    def input_shape_from_weights(self, weights):
        return (None, int(np.shape(weights[0])[0])) if weights else None

    def compute_output_shape(self, input_shape):
        return (*tuple(input_shape)[:-1], 2 * self.units)

    def forward(self, x, training=False, rng=None):
        kf, bf, kb, bb = (w.value for w in self._weights)
        x = np.asarray(x, self.dtype)
        return np.concatenate([x @ kf + bf, x @ kb + bb], axis=-1), None  # (B, 2U)

    def backward(self, dy, cache):  # pragma: no cover - not needed here
        raise NotImplementedError

    def get_config(self) -> dict:
        return {**super().get_config(), "units": self.units}


def test_a_nested_tree_round_trips_through_the_writers(tmp_path):
    with registered("Twin", Twin):
        model = npylstm.Sequential([npylstm.Input((3,)), Twin(2, name="tw"),
                                    npylstm.layers.Dense(1, name="out")])
        x = np.random.default_rng(2).normal(size=(4, 3)).astype("float32")
        expected = model.predict(x, verbose=0)
        weights = model.layers[0].get_weights()

        path = model.save_weights(tmp_path / "twin.weights.h5")
        with h5py.File(path) as h5:
            group = h5["layers/twin"]
            assert group["vars"].attrs["name"] == "tw" and len(group["vars"]) == 0
            for direction, start in (("forward", 0), ("backward", 2)):
                half = group[f"{direction}_layer"]
                assert half["vars"].attrs["name"] == f"{direction}_twin"
                assert len(half["vars"]) == 0
                cell = half["cell/vars"]
                assert cell.attrs["name"] == "twin_cell" and sorted(cell) == ["0", "1"]
                np.testing.assert_array_equal(cell["0"], weights[start])
                np.testing.assert_array_equal(cell["1"], weights[start + 1])
            np.testing.assert_array_equal(h5["layers/dense/vars/0"], model.layers[1].kernel)

        keras_file = model.save(tmp_path / "twin.keras")
        legacy = model.save_weights(tmp_path / "twin_legacy.h5")
        with h5py.File(legacy) as h5:
            names = [n.decode() for n in h5["tw"].attrs["weight_names"]]
        assert names == [f"tw/{d}_twin/twin_cell/{w}:0"
                         for d in ("forward", "backward") for w in ("kernel", "bias")]

        for source in (keras_file, path, legacy):
            fresh = npylstm.Sequential([Twin(2, name="tw"), npylstm.layers.Dense(1, name="out")])
            fresh.load_weights(source)  # built from the first kernel's input size
            for got, want in zip(fresh.layers[0].get_weights(), weights, strict=True):
                np.testing.assert_array_equal(got, want)
            np.testing.assert_allclose(fresh.predict(x, verbose=0), expected, rtol=0, atol=1e-6)
        loaded = npylstm.load_model(keras_file)
        np.testing.assert_allclose(loaded.predict(x, verbose=0), expected, rtol=0, atol=1e-6)

        # A nested tree needs one array per declared variable.
        with pytest.raises(ValueError, match=r"layer 'tw' \(Twin\): expected 4 weights"):
            io.write_weights_file(tmp_path / "short.weights.h5", ["Twin"], [weights[:3]],
                                  ["tw"], layer_configs=[{"units": 2}])
