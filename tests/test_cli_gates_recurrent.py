"""``npylstm gates`` on Keras-written GRU and Bidirectional files, through the CLI entry
point (as tests/test_cli.py): the printed statistics against the GRU equations written out
in NumPy float64 here, the heatmaps saved as PNG, the errors."""

from __future__ import annotations

import contextlib
import re
import warnings

import numpy as np
import pytest

from npylstm import cli

TIMESTEPS, FEATURES, SAMPLES = 9, 3, 4


@contextlib.contextmanager
def keras_saving():
    """Keras's savers call Variable.__array__, which warns under NumPy 2: ignore that one."""
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", message="__array__ implementation doesn't accept a copy keyword",
            category=DeprecationWarning,
        )
        yield


def sigmoid(v):
    return 1.0 / (1.0 + np.exp(-v))


def gru_by_hand(x, kernel, recurrent_kernel, bias):
    """Keras's GRU with reset_after=True (gate order z, r, h) in float64."""
    units = recurrent_kernel.shape[0]
    b_x, b_r = bias
    h = np.zeros((len(x), units))
    out = {k: [] for k in ("z", "r", "hh", "h")}
    for t in range(x.shape[1]):
        x_z, x_r, x_h = np.split(x[:, t] @ kernel + b_x, 3, axis=-1)
        r_z, r_r, r_h = np.split(h @ recurrent_kernel + b_r, 3, axis=-1)
        z, r = sigmoid(x_z + r_z), sigmoid(x_r + r_r)
        hh = np.tanh(x_h + r * r_h)
        h = z * h + (1 - z) * hh
        for key, value in zip(("z", "r", "hh", "h"), (z, r, hh, h), strict=True):
            out[key].append(value)
    return {k: np.stack(v, axis=1) for k, v in out.items()}


def lstm_by_hand(x, kernel, recurrent_kernel, bias):
    """Keras's LSTM (gate order i, f, c, o) in float64."""
    units = recurrent_kernel.shape[0]
    h, c = np.zeros((len(x), units)), np.zeros((len(x), units))
    out = {k: [] for k in "ifgoch"}
    for t in range(x.shape[1]):
        z_i, z_f, z_c, z_o = np.split(x[:, t] @ kernel + h @ recurrent_kernel + bias, 4, -1)
        i, f, g, o = sigmoid(z_i), sigmoid(z_f), np.tanh(z_c), sigmoid(z_o)
        c = f * c + i * g
        h = o * np.tanh(c)
        for key, value in zip("ifgoch", (i, f, g, o, c, h), strict=True):
            out[key].append(value)
    return {k: np.stack(v, axis=1) for k, v in out.items()}


class Files:
    def __init__(self, keras, directory):
        rng = np.random.default_rng(3)
        zeros = {"kernel_initializer": "zeros", "recurrent_initializer": "zeros"}
        self.gru = keras.Sequential([
            keras.Input((TIMESTEPS, FEATURES)),
            keras.layers.GRU(5, return_sequences=True, name="gru", **zeros),
            keras.layers.Dense(1, name="dense"),
        ], name="gru_model")
        self.bidi = keras.Sequential([
            keras.Input((TIMESTEPS, FEATURES)),
            keras.layers.Bidirectional(keras.layers.LSTM(4, name="lstm", **zeros),
                                       name="bidirectional"),
            keras.layers.Dense(1, name="dense"),
        ], name="bidi_model")
        for model in (self.gru, self.bidi):
            model.set_weights([rng.normal(scale=0.5, size=w.shape).astype("float32")
                               for w in model.weights])
        self.gru_file = directory / "gru.keras"
        self.bidi_file = directory / "bidi.h5"  # the legacy format, nested scopes
        with keras_saving():
            self.gru.save(self.gru_file)
            self.bidi.save(self.bidi_file)
        self.x = rng.normal(size=(SAMPLES, TIMESTEPS, FEATURES)).astype("float32")
        self.x_npy = directory / "x.npy"
        np.save(self.x_npy, self.x)


@pytest.fixture(scope="module")
def files(keras, tmp_path_factory):
    return Files(keras, tmp_path_factory.mktemp("gates"))


def run(capsys, *args):
    code = cli.main([str(a) for a in args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def weights_of(layer):
    return [np.asarray(w.value, dtype=np.float64) for w in layer.weights]


def check_rows(lines, labels, expected, sample):
    """Each labelled row's mean, min, max, first and last step means (3 decimals)."""
    for key, label in labels.items():
        row = next(line for line in lines if line.startswith(label))
        values = [float(v) for v in row.split()[-5:]]
        a = expected[key][sample]  # (T, U)
        np.testing.assert_allclose(values, [a.mean(), a.min(), a.max(), a[0].mean(),
                                            a[-1].mean()], atol=6e-4)


def test_gates_gru_file(files, capsys, tmp_path):
    plot = tmp_path / "gru.png"
    code, out, err = run(capsys, "gates", files.gru_file, "--input", files.x_npy,
                         "--sample", "1", "--plot", plot)
    assert code == 0, err
    assert f"GRU 'gru', sample 1 of '{files.x_npy}': {TIMESTEPS} timesteps, 5 units" in out
    expected = gru_by_hand(files.x.astype(np.float64), *weights_of(files.gru.layers[0]))
    labels = {"z": "update gate z", "r": "reset gate  r", "hh": "candidate   h̃",
              "h": "output      h"}
    check_rows(out.splitlines(), labels, expected, sample=1)
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and plot.stat().st_size > 10_000


def test_gates_bidirectional_file(files, capsys, tmp_path):
    plot = tmp_path / "bidi.png"
    code, out, err = run(capsys, "gates", files.bidi_file, "--input", files.x_npy,
                         "--plot", plot)
    assert code == 0, err
    assert "Bidirectional 'bidirectional' (merge_mode concat), sample 0" in out
    lines = out.splitlines()
    start_f = lines.index("forward: LSTM 'forward_lstm', 4 units")
    start_b = lines.index("backward: LSTM 'backward_lstm', 4 units")
    k_bidi = files.bidi.layers[0]
    x = files.x.astype(np.float64)
    expected_f = lstm_by_hand(x, *weights_of(k_bidi.forward_layer))
    expected_b = lstm_by_hand(x[:, ::-1], *weights_of(k_bidi.backward_layer))
    labels = {"i": "input gate", "f": "forget gate", "g": "candidate", "o": "output gate",
              "c": "carry", "h": "output      h"}
    check_rows(lines[start_f:start_b], labels, expected_f, sample=0)
    check_rows(lines[start_b:], labels, expected_b, sample=0)
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and plot.stat().st_size > 10_000


def test_gates_recurrent_errors(files, capsys):
    code, _, err = run(capsys, "gates", files.gru_file, "--input", files.x_npy,
                       "--layer", "dense")
    assert code == 2 and "Traceback" not in err
    assert re.search(r"--layer 'dense': expected one of the recurrent layers \['gru'\]", err)
    code, _, err = run(capsys, "gates", files.bidi_file, "--input", files.x_npy,
                       "--sample", "7")
    assert code == 2 and re.search(r"--sample 7: the input has 4 sample\(s\)", err)
