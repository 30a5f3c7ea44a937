"""Keras 2 (tf_keras 2.21) files of GRU and Bidirectional models, read without TensorFlow.

The fixtures and tf_keras's own predictions (``<name>.npz``) are written by
``tests/fixtures/make_keras2_fixtures.py`` (``gru_fixture``, ``gru_masked_fixture``,
``bidirectional_fixture``). Two Keras 2 rules matter here: ``"hard_sigmoid"`` is Keras 2's
``clip(0.2 x + 0.5, 0, 1)`` (the fixtures push the gates past +-2.5, where it differs from
Keras 3's ``clip(x / 6 + 0.5, 0, 1)``), and a GRU config without ``reset_after`` is from
standalone Keras <= 2.2, whose default was ``reset_after=False`` (tf_keras always writes the
key, so that case is made by removing it from a copy of the file's config).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest

import npylstm
from npylstm import keras_io

FIXTURES = Path(__file__).parent / "fixtures"
ATOL = 1e-6


def fixture(name: str):
    data = np.load(FIXTURES / f"{name}.npz")
    return data["x"], data["y"]


@pytest.mark.parametrize(("name", "suffix"), [
    ("keras2_gru", ".h5"), ("keras2_gru", ".keras"), ("keras2_gru_masked", ".h5"),
    ("keras2_bidirectional", ".h5"), ("keras2_bidirectional", ".keras"),
])
def test_keras2_file_reproduces_tf_keras(name, suffix):
    x, y = fixture(name)
    path = FIXTURES / f"{name}{suffix}"
    saved = keras_io.read_model_file(path)
    assert saved.keras_version == "2.21.0"
    model = npylstm.load_model(path)
    np.testing.assert_allclose(model.predict(x, verbose=0), y, atol=ATOL, rtol=0)


@pytest.mark.parametrize("name", ["keras2_gru", "keras2_bidirectional"])
def test_keras2_weights_only_file(name):
    x, y = fixture(name)
    model = npylstm.load_model(FIXTURES / f"{name}.h5")
    reference = model.get_weights()
    model.set_weights([np.zeros_like(w) for w in reference])
    model.load_weights(FIXTURES / f"{name}_weights.h5")
    for a, b in zip(model.get_weights(), reference, strict=True):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(model.predict(x, verbose=0), y, atol=ATOL, rtol=0)


def test_keras2_gru_config_and_hard_sigmoid():
    x, y = fixture("keras2_gru")
    model = npylstm.load_model(FIXTURES / "keras2_gru.h5")
    first, second, _ = model.layers
    assert (first.reset_after, first.recurrent_activation) == (False, "hard_sigmoid_keras2")
    assert first.bias.shape == (15,)  # reset_after=False: one bias row of 3 * 5
    assert (second.reset_after, second.go_backwards, second.use_bias) == (True, True, False)
    first.recurrent_activation = "hard_sigmoid"  # Keras 3's meaning instead: other numbers
    assert np.abs(model.predict(x, verbose=0) - y).max() > 1e-2


def test_keras2_bidirectional_hard_sigmoid_in_both_directions():
    x, y = fixture("keras2_bidirectional")
    model = npylstm.load_model(FIXTURES / "keras2_bidirectional.h5")
    bidi = model.layers[0]
    for direction in (bidi.forward_layer, bidi.backward_layer):
        assert direction.recurrent_activation == "hard_sigmoid_keras2"
    assert bidi.backward_layer.go_backwards and not bidi.forward_layer.go_backwards
    for direction in (bidi.forward_layer, bidi.backward_layer):
        before = direction.recurrent_activation
        direction.recurrent_activation = "hard_sigmoid"
        assert np.abs(model.predict(x, verbose=0) - y).max() > 1e-2, direction.name
        direction.recurrent_activation = before
    np.testing.assert_allclose(model.predict(x, verbose=0), y, atol=ATOL, rtol=0)


def test_keras2_masked_gru_config():
    """Masking -> GRU(reset_after=False) -> LSTM: rows with leading, trailing, middle and
    full padding (tf_keras's predictions for the fully padded row are the Dense's bias)."""
    x, y = fixture("keras2_gru_masked")
    model = npylstm.load_model(FIXTURES / "keras2_gru_masked.h5")
    masking, gru, lstm, dense = model.layers
    assert (type(masking).__name__, gru.reset_after) == ("Masking", False)
    np.testing.assert_allclose(y[3], dense.bias, atol=ATOL)
    np.testing.assert_allclose(model.predict(x, verbose=0), y, atol=ATOL, rtol=0)


def _strip_reset_after(src: Path, dst: Path, layer_indices, keras_version: str) -> None:
    """A copy of ``src`` whose GRU configs at ``layer_indices`` have no reset_after key (as
    standalone Keras <= 2.2 wrote them), with ``keras_version`` in the file."""
    shutil.copy(src, dst)
    with h5py.File(dst, "r+") as f:
        config = json.loads(f.attrs["model_config"])
        layers = [layer for layer in config["config"]["layers"] if layer["class_name"] == "GRU"]
        for index in layer_indices:
            del layers[index]["config"]["reset_after"]
        f.attrs["model_config"] = json.dumps(config)
        f.attrs["keras_version"] = keras_version
        f["model_weights"].attrs["keras_version"] = keras_version


def test_keras2_gru_without_reset_after_means_false(tmp_path):
    """Keras <= 2.2's default reset_after=False is applied to a config without the key: the
    first GRU (written with reset_after=False) reads the same and predicts tf_keras's numbers;
    the second (written with True; no bias, so the weights fit both) reads as False and
    then computes another function."""
    x, y = fixture("keras2_gru")
    first_only = tmp_path / "first.h5"
    _strip_reset_after(FIXTURES / "keras2_gru.h5", first_only, [0], "2.2.4")
    model = npylstm.load_model(first_only)
    assert model.layers[0].reset_after is False
    np.testing.assert_allclose(model.predict(x, verbose=0), y, atol=ATOL, rtol=0)

    both = tmp_path / "both.h5"
    _strip_reset_after(FIXTURES / "keras2_gru.h5", both, [0, 1], "2.2.4")
    model = npylstm.load_model(both)
    assert [model.layers[0].reset_after, model.layers[1].reset_after] == [False, False]
    assert np.abs(model.predict(x, verbose=0) - y).max() > 1e-3
    model.layers[1].reset_after = True  # what tf_keras wrote: its numbers again
    np.testing.assert_allclose(model.predict(x, verbose=0), y, atol=ATOL, rtol=0)


def test_keras3_gru_without_reset_after_means_true(tmp_path):
    """Keras 3's default (True) for a Keras 3 file without the key: the Keras 2 default
    applies to keras_version < 3 only."""
    keras3 = tmp_path / "keras3.h5"
    _strip_reset_after(FIXTURES / "keras2_gru.h5", keras3, [1], "3.15.1")
    model = npylstm.load_model(keras3)
    assert model.layers[1].reset_after is True


def test_keras2_gru_survives_a_legacy_round_trip(tmp_path):
    """Saved back as .h5, the Keras 2 GRU keeps keras_version 2, reset_after=False written
    out, and Keras 2's hard_sigmoid."""
    x, y = fixture("keras2_gru")
    out = npylstm.load_model(FIXTURES / "keras2_gru.h5").save(tmp_path / "back.h5")
    with h5py.File(out) as f:
        assert f.attrs["keras_version"].startswith("2.")
        config = json.loads(f.attrs["model_config"])
    grus = [layer["config"] for layer in config["config"]["layers"]
            if layer["class_name"] == "GRU"]
    assert [(c["reset_after"], c["recurrent_activation"]) for c in grus] == [
        (False, "hard_sigmoid"), (True, "sigmoid")]
    again = npylstm.load_model(out)
    np.testing.assert_allclose(again.predict(x, verbose=0), y, atol=ATOL, rtol=0)


@pytest.mark.parametrize("name", ["keras2_gru", "keras2_bidirectional"])
def test_keras2_hard_sigmoid_cannot_be_written_as_keras3(name, tmp_path):
    model = npylstm.load_model(FIXTURES / f"{name}.h5")
    with pytest.raises(keras_io.KerasFileError, match="hard_sigmoid"):
        model.save(tmp_path / "k3.keras")


def test_summary_says_which_keras2_rules_it_read_the_file_with(capsys):
    """``npylstm summary`` of a Keras 2 file names the rules applied, as crosscheck does;
    a Keras 3 file prints no such lines."""
    from npylstm.cli import main

    assert main(["summary", str(FIXTURES / "keras2_gru.h5")]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[1].startswith("Keras 2 file (keras_version 2.") and lines[1].endswith(
        "Keras 2 rules")
    assert lines[2] == ('  "hard_sigmoid" read as Keras 2\'s clip(0.2x + 0.5, 0, 1) in '
                        "gru.recurrent_activation")
    assert lines[3] == ("  GRU reset_after as the file says, False where absent "
                        "(Keras <= 2.2's default): gru False, gru_1 True")
    assert lines[4].startswith("Model: ")
