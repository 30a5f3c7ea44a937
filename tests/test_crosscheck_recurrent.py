"""``npylstm crosscheck`` over GRU, SimpleRNN and Bidirectional models with masks, per layer
and per direction, outputs and gradients; and the Keras-version rules it reports.

The oracle is real Keras (JAX backend): one Keras model (Masking -> GRU -> Bidirectional
(LSTM) -> SimpleRNN -> Dense) saved as .keras, an input with padded rows (leading,
trailing, middle, full padding), and the command's table parsed back into numbers.
"""

from __future__ import annotations

import json
import re
import shutil
import warnings
from pathlib import Path

import h5py
import numpy as np
import pytest

import npylstm
from npylstm import cli
from npylstm.cli import crosscheck

FIXTURES = Path(__file__).parent / "fixtures"
ROW = re.compile(r"^(\s*\S.*?)\s{2,}(\(.*?\))\s+(\S+)\s+(\S+)$")


def run(capsys, *args) -> tuple[int, str, str]:
    code = cli.main([str(a) for a in args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def rows(out: str) -> dict[str, tuple[float, float]]:
    """Every table row of the command's output: name -> (max abs diff, max rel diff)."""
    found = {}
    for line in out.splitlines():
        match = ROW.match(line)
        if match:
            found[match.group(1).strip()] = (float(match.group(3)), float(match.group(4)))
    return found


class Masked:
    """The Keras model, its file and a padded input."""

    def __init__(self, keras, directory: Path):
        layers = keras.layers
        zeros = {"recurrent_initializer": "zeros"}  # replaced below; Orthogonal compiles slowly
        self.keras_model = keras.Sequential([
            keras.Input((None, 3)),
            layers.Masking(0.0, name="masking"),
            layers.GRU(4, return_sequences=True, reset_after=False, name="gru", **zeros),
            layers.Bidirectional(layers.LSTM(3, return_sequences=True, name="lstm", **zeros),
                                 name="bidirectional"),
            layers.SimpleRNN(2, go_backwards=True, name="simple_rnn", **zeros),
            layers.Dense(2, name="dense"),
        ])  # named: Keras's automatic names count the layers made before in the session
        rng = np.random.default_rng(0)
        self.keras_model.set_weights([rng.normal(scale=0.7, size=v.shape).astype("float32")
                                      for v in self.keras_model.weights])
        self.path = directory / "masked.keras"
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="__array__ implementation",
                                    category=DeprecationWarning)
            self.keras_model.save(self.path)
        x = rng.normal(size=(4, 6, 3)).astype("float32")
        x[0, :2] = 0.0  # leading padding
        x[1, 4:] = 0.0  # trailing
        x[2, 2:4] = 0.0  # middle
        x[3] = 0.0  # every step
        self.x = x
        self.x_path = directory / "x.npy"
        np.save(self.x_path, x)


@pytest.fixture(scope="module")
def masked(keras, tmp_path_factory):
    return Masked(keras, tmp_path_factory.mktemp("crosscheck"))


def test_masked_recurrent_model_per_layer_direction_and_gradient(masked, capsys):
    code, out, err = run(capsys, "crosscheck", masked.path, "--input", masked.x_path, "--grad")
    assert code == 0, err
    table = rows(out)
    expected = [
        "masking (Masking)", "mask after masking", "gru (GRU)", "mask after gru",
        "bidirectional (Bidirectional)", "forward_layer forward_lstm (LSTM)",
        "backward_layer backward_lstm (LSTM)", "mask after bidirectional",
        "simple_rnn (SimpleRNN)", "dense (Dense)", "input x",
        "gru/kernel", "gru/recurrent_kernel", "gru/bias",
        *[f"bidirectional/{d}_lstm/{w}" for d in ("forward", "backward")
          for w in ("kernel", "recurrent_kernel", "bias")],
        "simple_rnn/kernel", "simple_rnn/recurrent_kernel", "simple_rnn/bias",
        "dense/kernel", "dense/bias",
    ]
    assert list(table) == expected, out
    assert all(a <= 1e-5 for a, _ in table.values()), out
    assert "Keras 3 file (keras_version 3." in out
    assert "GRU reset_after as the file says (Keras 3's default True): gru False" in out


def test_masks_decide_the_numbers(masked):
    """The padded rows make a difference: the model without its Masking layer predicts
    otherwise, so the rows above compare masked computations."""
    model = npylstm.load_model(masked.path)
    unmasked = npylstm.Sequential([npylstm.Input((None, 3)), *[
        type(layer).from_config(layer.get_config()) for layer in model.layers[1:]]])
    unmasked.set_weights(model.get_weights())
    expected = np.asarray(masked.keras_model(masked.x, training=False))
    np.testing.assert_allclose(model.predict(masked.x, verbose=0), expected, atol=1e-5)
    assert np.abs(unmasked.predict(masked.x, verbose=0) - expected).max() > 1e-3


def test_direction_rows_point_at_the_wrong_direction(masked, keras):
    """A perturbed backward layer shows in its own row, not the forward one's."""
    model = npylstm.load_model(masked.path)
    bidi, keras_bidi = model.layers[2], masked.keras_model.layers[2]
    kernel = bidi.backward_layer.kernel
    bidi.backward_layer.kernel[...] = kernel * 1.5
    h = np.random.default_rng(3).normal(size=(2, 5, 4)).astype("float32")
    mask = np.array([[True] * 5, [False, True, True, True, False]])
    forward_row, backward_row = crosscheck._direction_rows(
        keras, bidi, keras_bidi, h, h, mask, mask)
    assert forward_row[0].strip().startswith("forward_layer") and forward_row[2] < 1e-5
    assert backward_row[0].strip().startswith("backward_layer") and backward_row[2] > 1e-2


def test_keras2_gru_file_reports_its_rules(capsys):
    """Keras 3 cannot read tf_keras's configs; the command still says how npylstm read the
    file before it stops."""
    code, out, err = run(capsys, "crosscheck", FIXTURES / "keras2_gru.h5")
    assert code == 2
    assert "Keras 2 file (keras_version 2.21.0): Keras 2 rules" in out
    assert ("\"hard_sigmoid\" read as Keras 2's clip(0.2x + 0.5, 0, 1) in "
            "gru.recurrent_activation") in out
    assert ("GRU reset_after as the file says, False where absent (Keras <= 2.2's default): "
            "gru False, gru_1 True") in out
    assert "Keras 3 does not read Keras 2 layer configs" in err


def test_keras2_bidirectional_file_reports_both_directions(capsys):
    code, out, _ = run(capsys, "crosscheck", FIXTURES / "keras2_bidirectional.keras")
    assert code == 2
    assert re.search(r"read as Keras 2's clip\(0\.2x \+ 0\.5, 0, 1\) in "
                     r"bidirectional/forward_\w+\.recurrent_activation, "
                     r"bidirectional/backward_\w+\.recurrent_activation", out), out


def test_keras22_gru_without_reset_after_is_reported_false(tmp_path, capsys):
    """A config without reset_after (standalone Keras <= 2.2) reads as False, and says so."""
    path = tmp_path / "old.h5"
    shutil.copy(FIXTURES / "keras2_gru.h5", path)
    with h5py.File(path, "r+") as f:
        config = json.loads(f.attrs["model_config"])
        for layer in config["config"]["layers"]:
            layer["config"].pop("reset_after", None)
        f.attrs["model_config"] = json.dumps(config)
        f.attrs["keras_version"] = "2.2.4"
        f["model_weights"].attrs["keras_version"] = "2.2.4"
    _, out, _ = run(capsys, "crosscheck", path)
    assert "Keras 2 file (keras_version 2.2.4)" in out
    assert "(Keras <= 2.2's default): gru False, gru_1 False" in out


def test_keras3_hard_sigmoid_is_reported_as_keras3s():
    model = npylstm.Sequential([npylstm.Input((3, 2)), npylstm.layers.Bidirectional(
        npylstm.layers.GRU(2, recurrent_activation="hard_sigmoid", name="gru"),
        name="bidirectional")])
    lines = crosscheck.keras_rules(model, "3.15.1")
    assert lines[0] == "Keras 3 file (keras_version 3.15.1): Keras 3 rules"
    assert lines[1].startswith("  \"hard_sigmoid\" is Keras 3's clip(x/6 + 0.5, 0, 1) in "
                               "bidirectional/forward_gru.recurrent_activation")
    assert "bidirectional/forward_gru True, bidirectional/backward_gru True" in lines[2]
    assert crosscheck.keras_rules(model, None) == [
        "Keras version of the file unknown: read with Keras 3 rules"]
