"""The ``npylstm`` command, through its real entry points, on files written by real Keras.

Most tests call :func:`npylstm.cli.main` in-process and capture its output; a few run
``python -m npylstm`` (and the ``npylstm`` console script) as subprocesses. Expected
numbers come from real Keras (JAX backend), from PyTorch's ``nn.LSTM`` where installed, or
from the gate equations written out in NumPy float64 below.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

from npylstm import cli

ATOL = 1e-5
TIMESTEPS, FEATURES = 12, 3


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


def keras_weights(model) -> list[np.ndarray]:
    return [np.asarray(v.value) for v in model.weights]


def random_keras_model(keras, layers, input_shape, seed: int, name: str):
    """A Keras Sequential with random weights (biases too). Zero initializers at build time
    avoid ~3 s of JAX compilation per LSTM for Keras's Orthogonal; the weights are replaced."""
    model = keras.Sequential([keras.Input(input_shape), *layers], name=name)
    rng = np.random.default_rng(seed)
    model.set_weights([rng.normal(scale=0.5, size=w.shape).astype("float32")
                       for w in keras_weights(model)])
    return model


class Files:
    """Keras-written files of one small stacked model, its inputs and Keras's predictions."""

    def __init__(self, keras, directory: Path):
        zeros = {"kernel_initializer": "zeros", "recurrent_initializer": "zeros"}
        self.keras_model = random_keras_model(
            keras,
            [
                keras.layers.LSTM(6, return_sequences=True, name="lstm", **zeros),
                keras.layers.Dropout(0.2, name="dropout"),
                keras.layers.LSTM(4, name="lstm_1", **zeros),
                keras.layers.Dense(2, name="dense"),
            ],
            (TIMESTEPS, FEATURES), seed=0, name="small",
        )
        self.dir = directory
        self.keras_file = directory / "model.keras"
        self.legacy_file = directory / "model.h5"
        self.weights_file = directory / "model.weights.h5"
        self.config_file = directory / "config.json"
        with keras_saving():
            self.keras_model.save(self.keras_file)
            self.keras_model.save(self.legacy_file)
            self.keras_model.save_weights(self.weights_file)
        self.config_file.write_text(self.keras_model.to_json())
        rng = np.random.default_rng(1)
        self.x = rng.normal(size=(5, TIMESTEPS, FEATURES)).astype("float32")
        self.y = np.asarray(self.keras_model(self.x, training=False))
        self.x_npy = directory / "x.npy"
        self.x_csv = directory / "x.csv"
        np.save(self.x_npy, self.x)
        np.savetxt(self.x_csv, self.x.reshape(len(self.x), -1), delimiter=",", fmt="%.9g")

        # A stack one nn.LSTM can hold (same units), for the PyTorch conversions.
        self.same_units = random_keras_model(
            keras,
            [keras.layers.LSTM(5, return_sequences=True, **zeros),
             keras.layers.LSTM(5, **zeros), keras.layers.Dense(1)],
            (7, 2), seed=2, name="same_units",
        )
        self.same_units_file = directory / "same_units.keras"
        with keras_saving():
            self.same_units.save(self.same_units_file)


@pytest.fixture(scope="module")
def files(keras, tmp_path_factory):
    return Files(keras, tmp_path_factory.mktemp("cli"))


def run(capsys, *args) -> tuple[int, str, str]:
    """``npylstm ARGS`` in-process: (exit status, stdout, stderr)."""
    code = cli.main([str(a) for a in args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def assert_error(code: int, err: str, pattern: str) -> None:
    """Exit status 2 and one line on stderr matching ``pattern``, no traceback."""
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    assert re.search(pattern, lines[0]), lines[0]


# -- summary ---------------------------------------------------------------------------------


def test_summary_keras_file_counts_and_formulas(files, capsys):
    code, out, err = run(capsys, "summary", files.keras_file)
    assert code == 0, err
    assert "Keras 3 .keras archive" in out
    for keras_layer in files.keras_model.layers:
        count = keras_layer.count_params()  # Keras's own count, the oracle
        assert re.search(rf"{keras_layer.name} \({type(keras_layer).__name__}\).*{count:,}", out)
    assert f"Total params: {files.keras_model.count_params():,}" in out
    # hand: 4 gates × 6 units × (3 inputs + 6 recurrent + 1 bias) = 240;
    #       4 × 4 × (6 + 4 + 1) = 176; Dense 2 × (4 + 1) = 10
    assert "4 × 6 × (3 + 6 + 1) = 240" in out
    assert "4 × 4 × (6 + 4 + 1) = 176" in out
    assert "2 × (4 + 1) = 10" in out


def test_summary_legacy_h5(files, capsys):
    code, out, _ = run(capsys, "summary", files.legacy_file)
    assert code == 0
    assert "legacy HDF5 model, Keras 3." in out
    assert f"Total params: {files.keras_model.count_params():,}" in out


def test_summary_weights_file_needs_config(files, capsys):
    code, _, err = run(capsys, "summary", files.weights_file)
    assert_error(code, err, r"^npylstm summary: error: .*model\.weights\.h5' holds weights only "
                            r".*pass --config")
    code, out, err = run(capsys, "summary", files.weights_file, "--config", files.config_file)
    assert code == 0, err
    assert "Keras 3 .weights.h5" in out
    assert f"Total params: {files.keras_model.count_params():,}" in out


def test_summary_errors(files, capsys, tmp_path):
    code, _, err = run(capsys, "summary", tmp_path / "missing.keras")
    assert_error(code, err, r"no such file: '.*missing\.keras'")
    fake = tmp_path / "notes.keras"
    fake.write_text("not a model")
    code, _, err = run(capsys, "summary", fake)
    assert_error(code, err, r"is not a Keras file")
    code, _, err = run(capsys, "summary", files.weights_file, "--config", files.x_csv)
    assert_error(code, err, r"--config .*x\.csv' is neither a \.keras/\.h5 model file nor a JSON")


# -- predict ---------------------------------------------------------------------------------


@pytest.mark.parametrize("source", ["keras_file", "legacy_file"])
def test_predict_npy_matches_keras(files, capsys, tmp_path, source):
    out_file = tmp_path / "y.npy"
    code, out, err = run(capsys, "predict", getattr(files, source), "--input", files.x_npy,
                         "--output", out_file)
    assert code == 0, err
    assert "Predicted 5 sample(s)" in out
    np.testing.assert_allclose(np.load(out_file), files.y, atol=ATOL, rtol=0)


def test_predict_csv_to_csv_with_weights_and_config(files, capsys, tmp_path):
    out_file = tmp_path / "y.csv"
    code, _, err = run(capsys, "predict", files.weights_file, "--config", files.config_file,
                       "--input", files.x_csv, "--output", out_file)
    assert code == 0, err
    y = np.loadtxt(out_file, delimiter=",", ndmin=2)
    np.testing.assert_allclose(y, files.y, atol=ATOL, rtol=0)


def test_predict_shape_errors_are_explained(files, capsys, tmp_path):
    short = tmp_path / "short.npy"
    np.save(short, files.x[:, :-1])
    code, _, err = run(capsys, "predict", files.keras_file, "--input", short,
                       "--output", tmp_path / "y.npy")
    assert_error(code, err, r"has shape \(5, 11, 3\), the model expects \(None, 12, 3\): "
                            r"11 timesteps where the model reads 12")
    wide = tmp_path / "wide.csv"
    np.savetxt(wide, np.ones((2, 35)), delimiter=",")
    code, _, err = run(capsys, "predict", files.keras_file, "--input", wide,
                       "--output", tmp_path / "y.csv")
    assert_error(code, err, r"each row \(one sample\) must hold timesteps × features = "
                            r"12 × 3 = 36 values, found 35")
    flat = tmp_path / "features.npy"
    np.save(flat, np.ones((2, TIMESTEPS, 4)))
    code, _, err = run(capsys, "predict", files.keras_file, "--input", flat,
                       "--output", tmp_path / "y.npy")
    assert_error(code, err, r"4 features where the model reads 3")


def test_predict_file_errors(files, capsys, tmp_path):
    code, _, err = run(capsys, "predict", files.keras_file, "--input", files.x_npy,
                       "--output", tmp_path / "y.txt")
    assert_error(code, err, r"--output .*y\.txt': expected a \.npy or \.csv file name")
    code, _, err = run(capsys, "predict", files.keras_file, "--input", tmp_path / "none.npy",
                       "--output", tmp_path / "y.npy")
    assert_error(code, err, r"no such --input file: '.*none\.npy'")
    text = tmp_path / "words.csv"
    text.write_text("a,b,c\n")
    code, _, err = run(capsys, "predict", files.keras_file, "--input", text,
                       "--output", tmp_path / "y.npy")
    assert_error(code, err, r"expected a comma-separated table of numbers")
    code, _, err = run(capsys, "predict", files.keras_file, "--input", files.x_npy,
                       "--output", tmp_path / "no_dir" / "y.npy")
    assert_error(code, err, r"the directory '.*no_dir' does not exist")


def test_usage_errors_and_help(capsys):
    code, out, _ = run(capsys)
    assert code == 2 and "COMMAND" in out
    code, _, err = run(capsys, "predict", "model.keras")
    assert code == 2 and "the following arguments are required: --input, --output" in err
    code, out, _ = run(capsys, "--help")
    assert code == 0 and "crosscheck" in out and "convert" in out


# -- crosscheck ------------------------------------------------------------------------------


def test_crosscheck_outputs_and_gradients_within_tolerance(files, capsys):
    code, out, err = run(capsys, "crosscheck", files.keras_file, "--grad", "--samples", "4")
    assert code == 0, err
    for name in ("lstm (LSTM)", "dropout (Dropout)", "lstm_1 (LSTM)", "dense (Dense)",
                 "input x", "lstm/kernel", "lstm/recurrent_kernel", "lstm_1/bias",
                 "dense/kernel"):
        row = next(line for line in out.splitlines() if line.startswith(name))
        abs_diff, rel_diff = (float(v) for v in row.split()[-2:])
        assert abs_diff <= ATOL and rel_diff <= 1e-4, row
    assert re.search(r"OK: largest difference \S+ <= --atol 1e-05", out)


def test_crosscheck_given_input_weights_and_config(files, capsys):
    code, out, err = run(capsys, "crosscheck", files.weights_file, "--config", files.config_file,
                         "--input", files.x_csv)
    assert code == 0, err
    assert "the 5 samples of" in out and "dense (Dense)      (5, 2)" in out


def test_crosscheck_exit_1_over_tolerance(files, capsys):
    # float32 LSTMs in npylstm (Numba) and Keras (XLA) differ by ~1e-7, never by < 1e-12
    code, out, _ = run(capsys, "crosscheck", files.keras_file, "--atol", "1e-12")
    assert code == 1
    assert re.search(r"FAIL: largest difference \S+ > --atol 1e-12 in lstm \(LSTM\)", out)


def test_crosscheck_keras_cannot_read_keras2_file(capsys):
    # A tf_keras 2 file: npylstm reads it, Keras 3 refuses its LSTM config.
    fixture = Path(__file__).parent / "fixtures" / "keras2_stacked.h5"
    code, _, err = run(capsys, "crosscheck", fixture)
    assert_error(code, err, r"Keras 3\.\S+ cannot load '.*keras2_stacked\.h5'")


def test_missing_keras_is_one_line(files, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "keras", None)  # import keras -> ImportError
    code, _, err = run(capsys, "crosscheck", files.keras_file)
    assert_error(code, err, r"crosscheck needs Keras, which is not installed")


# -- convert ---------------------------------------------------------------------------------


def test_convert_keras_to_weights_and_legacy_read_by_keras(files, keras, capsys, tmp_path):
    weights = tmp_path / "out.weights.h5"
    legacy = tmp_path / "out.h5"
    code, out, err = run(capsys, "convert", files.keras_file, weights)
    assert code == 0, err
    assert "Keras 3 .weights.h5 file): 4 layers, 426 parameters" in out
    code, _, err = run(capsys, "convert", files.keras_file, legacy)
    assert code == 0, err
    with keras_saving():
        fresh = keras.models.model_from_json(files.config_file.read_text())
        fresh.load_weights(weights)
        reloaded = keras.saving.load_model(legacy, compile=False)
    for model in (fresh, reloaded):
        np.testing.assert_allclose(np.asarray(model(files.x, training=False)), files.y,
                                   atol=ATOL, rtol=0)


def test_convert_legacy_to_keras_and_weights_only_h5(files, keras, capsys, tmp_path):
    code, _, err = run(capsys, "convert", files.legacy_file, tmp_path / "m.keras")
    assert code == 0, err
    code, out, err = run(capsys, "convert", files.keras_file, tmp_path / "w.h5", "--weights-only")
    assert code == 0, err
    assert "legacy HDF5 weights file" in out
    with keras_saving():
        model = keras.saving.load_model(tmp_path / "m.keras", compile=False)
        fresh = keras.models.model_from_json(files.config_file.read_text())
        fresh.load_weights(tmp_path / "w.h5")
    for m in (model, fresh):
        np.testing.assert_allclose(np.asarray(m(files.x, training=False)), files.y,
                                   atol=ATOL, rtol=0)


def test_convert_npz_round_trip_takes_lstm_weights_from_the_state_dict(files, keras, capsys,
                                                                        tmp_path):
    npz = tmp_path / "sd.npz"
    code, out, err = run(capsys, "convert", files.keras_file, npz)
    assert code == 0, err
    assert "one nn.LSTM per layer (sizes differ)" in out and "['dense']" in out
    with np.load(npz) as data:
        assert sorted(data.files) == sorted(
            f"{layer}.{key}_l0" for layer in ("lstm", "lstm_1")
            for key in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"))
        # PyTorch's layout: weight_ih = kernel.T, and bias_ih + bias_hh = bias
        kernel, _, bias = keras_weights(files.keras_model.layers[0])
        np.testing.assert_array_equal(data["lstm.weight_ih_l0"], kernel.T)
        np.testing.assert_allclose(data["lstm.bias_ih_l0"] + data["lstm.bias_hh_l0"], bias)
    # --config supplies the layers (and the Dense weights): a Keras model of the same shape
    # with other random weights; the LSTM weights must come from the state dict.
    other = random_keras_model(keras, [keras.layers.LSTM(6, return_sequences=True,
                                                         recurrent_initializer="zeros"),
                                       keras.layers.Dropout(0.2),
                                       keras.layers.LSTM(4, recurrent_initializer="zeros"),
                                       keras.layers.Dense(2)],
                               (TIMESTEPS, FEATURES), seed=9, name="other")
    other.layers[3].set_weights(keras_weights(files.keras_model.layers[3]))
    template = tmp_path / "template.keras"
    with keras_saving():
        other.save(template)
    back = tmp_path / "back.keras"
    code, _, err = run(capsys, "convert", npz, back, "--config", template)
    assert code == 0, err
    with keras_saving():
        reloaded = keras.saving.load_model(back, compile=False)
    np.testing.assert_allclose(np.asarray(reloaded(files.x, training=False)), files.y,
                               atol=ATOL, rtol=0)


def test_convert_errors(files, capsys, tmp_path, monkeypatch):
    code, _, err = run(capsys, "convert", files.keras_file, tmp_path / "m.tflite")
    assert_error(code, err, r"DST .*m\.tflite': expected a name ending in \.keras, "
                            r"\.weights\.h5, .* or \.onnx")
    npz = tmp_path / "sd.npz"
    assert run(capsys, "convert", files.keras_file, npz)[0] == 0
    code, _, err = run(capsys, "convert", npz, tmp_path / "m.keras")
    assert_error(code, err, r"PyTorch-style state dict, which holds only the LSTM / GRU "
                            r"weights: pass --config")
    code, _, err = run(capsys, "convert", npz, tmp_path / "m.keras", "--config", files.config_file)
    assert_error(code, err, r"holds only LSTM weights; the model's \['dense'\] need theirs")
    monkeypatch.setitem(sys.modules, "torch", None)
    code, _, err = run(capsys, "convert", files.keras_file, tmp_path / "m.pt")
    assert_error(code, err, r"writing '.*m\.pt' needs PyTorch, which is not installed")


def test_convert_to_pt_matches_torch_lstm(files, keras, capsys, tmp_path):
    torch = pytest.importorskip("torch")
    pt = tmp_path / "stack.pt"
    code, out, err = run(capsys, "convert", files.same_units_file, pt)
    assert code == 0, err
    assert "one nn.LSTM(input_size=2, hidden_size=5, num_layers=2, batch_first=True)" in out
    module = torch.nn.LSTM(2, 5, num_layers=2, batch_first=True)
    module.load_state_dict(torch.load(pt, weights_only=True))
    x = np.random.default_rng(3).normal(size=(4, 7, 2)).astype("float32")
    with torch.no_grad():
        _, (h_n, _) = module(torch.from_numpy(x))
    # Keras's second LSTM output (the last h) is PyTorch's h_n of the top layer
    lstm_stack = keras.Sequential([keras.Input((7, 2)), *files.same_units.layers[:2]])
    np.testing.assert_allclose(h_n[-1].numpy(), np.asarray(lstm_stack(x)), atol=ATOL, rtol=0)
    # and back: .pt + the .keras for the Dense layer gives Keras's predictions
    back = tmp_path / "back.keras"
    code, _, err = run(capsys, "convert", pt, back, "--config", files.same_units_file)
    assert code == 0, err
    y_file = tmp_path / "y.npy"
    x_file = tmp_path / "x.npy"
    np.save(x_file, x)
    assert run(capsys, "predict", back, "--input", x_file, "--output", y_file)[0] == 0
    np.testing.assert_allclose(np.load(y_file), np.asarray(files.same_units(x)), atol=ATOL,
                               rtol=0)


# -- gates -----------------------------------------------------------------------------------


def gates_by_hand(x, kernel, recurrent_kernel, bias):
    """The LSTM equations in float64 (Keras gate order i, f, c, o; sigmoid and tanh)."""
    units = recurrent_kernel.shape[0]
    sigmoid = lambda v: 1 / (1 + np.exp(-v))  # noqa: E731
    h = np.zeros((len(x), units))
    c = np.zeros((len(x), units))
    out = {k: [] for k in "ifgoch"}
    for t in range(x.shape[1]):
        z = x[:, t] @ kernel + h @ recurrent_kernel + bias
        i, f = sigmoid(z[:, :units]), sigmoid(z[:, units:2 * units])
        g, o = np.tanh(z[:, 2 * units:3 * units]), sigmoid(z[:, 3 * units:])
        c = f * c + i * g
        h = o * np.tanh(c)
        for key, value in zip("ifgoch", (i, f, g, o, c, h), strict=True):
            out[key].append(value)
    return {k: np.stack(v, axis=1) for k, v in out.items()}  # each (B, T, U)


def test_gates_table_and_plot(files, capsys, tmp_path):
    plot = tmp_path / "gates.png"
    code, out, err = run(capsys, "gates", files.keras_file, "--input", files.x_npy,
                         "--plot", plot, "--sample", "2")
    assert code == 0, err
    assert "LSTM 'lstm', sample 2" in out and "12 timesteps, 6 units" in out
    weights = [w.astype(np.float64) for w in keras_weights(files.keras_model.layers[0])]
    expected = gates_by_hand(files.x.astype(np.float64), *weights)
    labels = {"i": "input gate", "f": "forget gate", "g": "candidate", "o": "output gate",
              "c": "carry", "h": "output      h"}
    for key, label in labels.items():
        row = next(line for line in out.splitlines() if line.startswith(label))
        mean, low, high, first, last = (float(v) for v in row.split()[-5:])
        a = expected[key][2]  # (T, U) of sample 2
        np.testing.assert_allclose([mean, low, high, first, last],
                                   [a.mean(), a.min(), a.max(), a[0].mean(), a[-1].mean()],
                                   atol=6e-4)  # printed to 3 decimals
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_gates_errors(files, capsys):
    code, _, err = run(capsys, "gates", files.keras_file, "--input", files.x_npy,
                       "--layer", "dense")
    assert_error(code, err, r"--layer 'dense': expected one of the LSTM layers "
                            r"\['lstm', 'lstm_1'\]")
    code, _, err = run(capsys, "gates", files.keras_file, "--input", files.x_npy,
                       "--sample", "9")
    assert_error(code, err, r"--sample 9: the input has 5 sample\(s\)")


# -- bench -----------------------------------------------------------------------------------


def test_bench_passes_options_to_the_harness(capsys, monkeypatch, tmp_path):
    script = tmp_path / "benchmarks" / "run.py"
    script.parent.mkdir()
    script.write_text("import sys\nprint('harness got', sys.argv[1:])\nsys.exit(3)\n")
    monkeypatch.setattr(cli.bench, "find_benchmarks", lambda: script)
    code = cli.main(["bench", "--quick", "--threads", "1"])
    out = capsys.readouterr().out
    assert code == 3  # the harness's own exit status
    assert "run.py --quick --threads 1" in out


def test_bench_without_harness(capsys, monkeypatch):
    monkeypatch.setattr(cli.bench, "find_benchmarks", lambda: None)
    code, _, err = run(capsys, "bench", "--quick")
    assert_error(code, err, r"benchmarks/run.py not found: the benchmark harness lives in the "
                            r"source checkout")


def test_find_benchmarks_in_this_checkout():
    found = cli.find_benchmarks()
    repo_script = Path(__file__).resolve().parent.parent / "benchmarks" / "run.py"
    assert found == (repo_script if repo_script.is_file() else None)


# -- demo ------------------------------------------------------------------------------------


def test_demo_small(keras, capsys, tmp_path):
    out_dir = tmp_path / "demo"
    code, out, err = run(capsys, "demo", "--epochs", "1", "--samples", "50", "--out", out_dir)
    assert code == 0, err
    assert 'Model: "damped_sine"' in out
    assert "4 × 20 × (1 + 20 + 1) = 1,760" in out and "Total params: 5,145" in out
    # Keras prints "Epoch i/N" only for N > 1; 40 training rows: 2 batches of 32
    assert "Epoch 1/1" not in out and "2/2" in out
    saved = out_dir / "damped_sine.keras"
    assert (out_dir / "predictions.png").read_bytes()[:4] == b"\x89PNG"
    assert (out_dir / "history.png").is_file()
    # The printed validation MAE is that of the saved model on the last 10 rows, as Keras
    # computes it from the same file.
    from npylstm import datasets

    x, y = datasets.damped_sine(n_samples=50)
    with keras_saving():
        keras_model = keras.saving.load_model(saved, compile=False)
    keras_mae = float(np.mean(np.abs(np.asarray(keras_model(x[40:])) - y[40:])))
    printed = float(re.search(r"Validation MAE: (\S+) \(10 rows", out).group(1))
    assert printed == pytest.approx(keras_mae, abs=1e-4)
    diff = float(re.search(r"difference over 10 validation predictions: (\S+)", out).group(1))
    assert diff <= ATOL


def test_demo_bad_options(capsys, tmp_path):
    code, _, err = run(capsys, "demo", "--samples", "52", "--out", tmp_path / "d")
    assert_error(code, err, r"--samples: expected a multiple of 5")
    (tmp_path / "file").write_text("")
    code, _, err = run(capsys, "demo", "--out", tmp_path / "file")
    assert_error(code, err, r"--out '.*file' exists and is not a directory")


# -- the real entry points -------------------------------------------------------------------


def subprocess_env() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("KERAS_BACKEND", "jax")
    env["PYTHONWARNINGS"] = "ignore"  # other packages' warnings are not the CLI's output
    return env


def test_python_m_npylstm_predict(files, tmp_path):
    out_file = tmp_path / "y.csv"
    result = subprocess.run(
        [sys.executable, "-m", "npylstm", "predict", str(files.keras_file), "--input",
         str(files.x_csv), "--output", str(out_file)],
        capture_output=True, text=True, env=subprocess_env(), timeout=300,
    )
    assert result.returncode == 0, result.stderr
    np.testing.assert_allclose(np.loadtxt(out_file, delimiter=",", ndmin=2), files.y,
                               atol=ATOL, rtol=0)


def test_python_m_npylstm_error_and_debug(tmp_path):
    missing = str(tmp_path / "missing.keras")
    plain = subprocess.run([sys.executable, "-m", "npylstm", "summary", missing],
                           capture_output=True, text=True, env=subprocess_env(), timeout=300)
    assert plain.returncode == 2
    assert plain.stderr.strip().splitlines()[-1] == (
        f"npylstm summary: error: no such file: '{missing}'")
    assert "Traceback" not in plain.stderr
    debug = subprocess.run([sys.executable, "-m", "npylstm", "--debug", "summary", missing],
                           capture_output=True, text=True, env=subprocess_env(), timeout=300)
    assert debug.returncode != 0 and "Traceback" in debug.stderr and "CLIError" in debug.stderr


def test_console_script_summary(files):
    script = Path(sys.executable).parent / "npylstm"
    if not script.exists():
        pytest.skip("the npylstm console script is not installed next to this Python")
    result = subprocess.run([str(script), "summary", str(files.keras_file)],
                            capture_output=True, text=True, env=subprocess_env(), timeout=300)
    assert result.returncode == 0, result.stderr
    assert "Total params: 426" in result.stdout


def test_config_json_forms(files, capsys, tmp_path):
    # The bare Sequential config (what get_config() returns) works as well as to_json()'s.
    bare = tmp_path / "bare.json"
    bare.write_text(json.dumps(json.loads(files.config_file.read_text())["config"]))
    code, out, err = run(capsys, "summary", files.weights_file, "--config", bare)
    assert code == 0, err
    assert "Total params: 426" in out
    wrong = tmp_path / "wrong.json"
    wrong.write_text(json.dumps({"class_name": "MyModel", "config": {}}))
    code, _, err = run(capsys, "summary", files.weights_file, "--config", wrong)
    assert_error(code, err, r"expected a Sequential or functional model config .* received "
                            r"'MyModel'")


def test_predict_and_crosscheck_any_timesteps(keras, capsys, tmp_path):
    # Input((None, 2)): a CSV row of 14 values is 7 timesteps of 2 features.
    zeros = {"kernel_initializer": "zeros", "recurrent_initializer": "zeros"}
    model = random_keras_model(
        keras, [keras.layers.LSTM(3, go_backwards=True, return_sequences=True, name="back",
                                  **zeros),
                keras.layers.LSTM(3, **zeros)],
        (None, 2), seed=5, name="any_timesteps",
    )
    path = tmp_path / "any.keras"
    with keras_saving():
        model.save(path)
    x = np.random.default_rng(6).normal(size=(2, 7, 2)).astype("float32")
    x_csv = tmp_path / "x.csv"
    np.savetxt(x_csv, x.reshape(2, -1), delimiter=",", fmt="%.9g")
    y_file = tmp_path / "y.npy"
    code, _, err = run(capsys, "predict", path, "--input", x_csv, "--output", y_file)
    assert code == 0, err
    np.testing.assert_allclose(np.load(y_file), np.asarray(model(x)), atol=ATOL, rtol=0)
    code, out, err = run(capsys, "crosscheck", path, "--timesteps", "4", "--samples", "3")
    assert code == 0, err
    assert "3 random N(0, 1) samples of shape (4, 2)" in out
    code, _, err = run(capsys, "crosscheck", path, "--samples", "0")
    assert_error(code, err, r"--samples: expected an integer >= 1, received 0")
    code, _, err = run(capsys, "convert", path, tmp_path / "any.npz")
    assert_error(code, err, r"LSTM 'back': nn.LSTM has no go_backwards")
