"""The ``npylstm`` command on a functional model written by real Keras (JAX backend).

The model has two inputs (integer ids feeding an ``Embedding``, and a float
series) and two outputs; its encoder LSTM returns its states, which start the decoder LSTM
(``initial_state``), and one Dense layer is shared (called twice). Expected numbers come
from the Keras model itself, or from the LSTM gate equations written out in NumPy.
"""

from __future__ import annotations

import contextlib
import json
import re
import warnings

import numpy as np
import pytest

import npylstm
from npylstm import cli

pytestmark = pytest.mark.keras

ATOL = 1e-5
VOCAB, T = 12, 6


@contextlib.contextmanager
def keras_quiet():
    """Keras's own savers call Variable.__array__, which warns under NumPy 2."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="__array__ implementation doesn't accept",
                                category=DeprecationWarning)
        yield


def _keras_model(keras):
    L = keras.layers
    zeros = {"kernel_initializer": "zeros", "recurrent_initializer": "zeros"}
    ids = keras.Input((T,), dtype="int32", name="ids")
    series = keras.Input((T, 3), name="series")
    # mask_zero=False: Keras 3.15 writes Embedding(mask_zero=True) -> LSTM with the mask as a
    # NotEqual op node (ops.not_equal), which npylstm's functional loader does not read yet
    embedded = L.Embedding(VOCAB, 4, name="embed")(ids)
    encoded, state_h, state_c = L.LSTM(5, return_state=True, name="encoder", **zeros)(embedded)
    decoded = L.LSTM(5, return_sequences=True, name="decoder", **zeros)(
        series, initial_state=[state_h, state_c])
    summary = L.LSTM(4, name="summary_lstm", **zeros)(decoded)
    proj = L.Dense(4, name="proj", kernel_initializer="zeros")  # shared: two calls
    joined = L.Concatenate(name="concat")([proj(encoded), proj(state_c), summary])
    y = L.Dense(3, name="y", kernel_initializer="zeros")(joined)
    aux = L.Dense(1, activation="sigmoid", name="aux", kernel_initializer="zeros")(summary)
    model = keras.Model([ids, series], [y, aux], name="two_in_two_out")
    rng = np.random.default_rng(0)
    model.set_weights([rng.normal(scale=0.5, size=w.shape).astype("float32")
                       for w in (np.asarray(v.value) for v in model.weights)])
    return model


class Files:
    def __init__(self, keras, directory):
        self.dir = directory
        self.km = _keras_model(keras)
        self.keras_file = directory / "two.keras"
        self.h5_file = directory / "two.h5"
        with keras_quiet():
            self.km.save(self.keras_file)
            self.km.save(self.h5_file)
        rng = np.random.default_rng(1)
        self.ids = rng.integers(1, VOCAB, size=(5, T)).astype("int32")
        self.ids[0, 4:] = 0  # id 0 as padding (an ordinary id without mask_zero)
        self.ids[3, 2:] = 0
        self.series = rng.normal(size=(5, T, 3)).astype("float32")
        y, aux = self.km([self.ids, self.series], training=False)
        self.y, self.aux = np.asarray(y), np.asarray(aux)
        self.ids_npy, self.ids_csv = directory / "ids.npy", directory / "ids.csv"
        self.series_npy, self.series_csv = directory / "series.npy", directory / "series.csv"
        np.save(self.ids_npy, self.ids)
        np.savetxt(self.ids_csv, self.ids, delimiter=",", fmt="%d")
        np.save(self.series_npy, self.series)
        np.savetxt(self.series_csv, self.series.reshape(5, -1), delimiter=",", fmt="%.9g")


@pytest.fixture(scope="module")
def files(keras, tmp_path_factory):
    return Files(keras, tmp_path_factory.mktemp("cli_functional"))


def run(capsys, *args) -> tuple[int, str, str]:
    code = cli.main([str(a) for a in args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def assert_error(code: int, err: str, pattern: str) -> None:
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    assert re.search(pattern, lines[0]), lines[0]


INPUTS = r"'ids' \(None, 6\) int32, 'series' \(None, 6, 3\) float32"


# -- summary ---------------------------------------------------------------------------------


@pytest.mark.parametrize("which", ["keras_file", "h5_file"])
def test_summary_counts_match_keras(files, capsys, which):
    code, out, err = run(capsys, "summary", getattr(files, which))
    assert code == 0, err
    assert ("Keras 3 .keras archive" if which == "keras_file" else "legacy HDF5 model") in out
    for layer in files.km.layers:  # Keras's own counts, the oracle
        assert re.search(rf"{layer.name} \({type(layer).__name__}\)\s.*\s{layer.count_params():,}"
                         r"\s", out), layer.name
    assert f"Total params: {files.km.count_params():,}" in out


# -- predict ---------------------------------------------------------------------------------


def test_predict_by_position_matches_keras(files, capsys, tmp_path):
    y, aux = tmp_path / "y.npy", tmp_path / "aux.npy"
    code, out, err = run(capsys, "predict", files.keras_file, "--input", files.ids_npy,
                         "--input", files.series_npy, "--output", y, "--output", aux)
    assert code == 0, err
    assert "Predicted 5 sample(s) of ids (6,) int32, series (6, 3) float32" in out
    np.testing.assert_allclose(np.load(y), files.y, atol=ATOL, rtol=0)
    np.testing.assert_allclose(np.load(aux), files.aux, atol=ATOL, rtol=0)


def test_predict_by_name_from_csv_to_csv(files, capsys, tmp_path):
    """Names in any order; the CSV ids are read as integers; outputs by name too."""
    y, aux = tmp_path / "y.csv", tmp_path / "aux.csv"
    code, _, err = run(capsys, "predict", files.h5_file, "--input", f"series={files.series_csv}",
                       "--input", f"ids={files.ids_csv}", "--output", f"aux={aux}",
                       "--output", f"y={y}")
    assert code == 0, err
    np.testing.assert_allclose(np.loadtxt(y, delimiter=",", ndmin=2), files.y, atol=ATOL)
    np.testing.assert_allclose(np.loadtxt(aux, delimiter=",", ndmin=2), files.aux, atol=ATOL)


def test_read_inputs_keeps_integer_dtypes(files, tmp_path):
    from npylstm.cli._specs import read_inputs

    model = npylstm.io.load_any(files.keras_file)
    whole = tmp_path / "whole.csv"
    np.savetxt(whole, files.ids, delimiter=",", fmt="%.1f")  # "3.0": a whole number
    for source in (files.ids_npy, files.ids_csv, whole):
        ids, series = read_inputs(model, [str(source), str(files.series_npy)])
        assert ids.dtype == np.int32 and series.dtype == np.float32
        np.testing.assert_array_equal(ids, files.ids)


def test_predict_input_errors_name_the_inputs(files, capsys, tmp_path):
    outs = ["--output", tmp_path / "y.npy", "--output", tmp_path / "aux.npy"]
    code, _, err = run(capsys, "predict", files.keras_file, "--input", files.ids_npy, *outs)
    assert_error(code, err, rf"expected 2 --input \(one per model input; the model's 2 "
                            rf"inputs: {INPUTS}\), received 1")
    code, _, err = run(capsys, "predict", files.keras_file, "--input", files.ids_npy,
                       "--input", files.series_npy, "--input", files.series_npy, *outs)
    assert_error(code, err, r"expected 2 --input .*received 3")
    code, _, err = run(capsys, "predict", files.keras_file, "--input", f"idz={files.ids_npy}",
                       "--input", f"series={files.series_npy}", *outs)
    assert_error(code, err, rf"--input 'idz=.*': no model input is named 'idz'; the model's 2 "
                            rf"inputs: {INPUTS}")
    code, _, err = run(capsys, "predict", files.keras_file, "--input", f"ids={files.ids_npy}",
                       "--input", files.series_npy, *outs)
    assert_error(code, err, r"every input by position or every one by name")
    code, _, err = run(capsys, "predict", files.keras_file, "--input", f"ids={files.ids_npy}",
                       "--input", f"ids={files.ids_npy}", *outs)
    assert_error(code, err, r"--input ids=\.\.\.: given twice")
    code, _, err = run(capsys, "predict", files.keras_file, "--input", f"ids={files.ids_npy}",
                       *outs)
    assert_error(code, err, rf"--input: no file for the input\(s\) \['series'\]; expected one "
                            rf"--input per model input \(the model's 2 inputs: {INPUTS}\)")
    code, _, err = run(capsys, "predict", files.keras_file, "--input", files.series_npy,
                       "--input", files.ids_npy, *outs)  # swapped: shapes say so
    assert_error(code, err, r"series\.npy' \(input 'ids'\) has .*shape \(5, 6, 3\)")


def test_predict_non_integer_ids_are_refused(files, capsys, tmp_path):
    outs = ["--output", tmp_path / "y.npy", "--output", tmp_path / "aux.npy"]
    bad_csv = tmp_path / "bad.csv"
    bad = files.ids.astype(float)
    bad[1, 2] = 2.5
    np.savetxt(bad_csv, bad, delimiter=",", fmt="%g")
    code, _, err = run(capsys, "predict", files.keras_file, "--input", bad_csv,
                       "--input", files.series_npy, *outs)
    assert_error(code, err, r"--input '.*bad\.csv' \(input 'ids'\) feeds an integer input: "
                            r"row 2, column 3 holds 2\.5, not an integer")
    bad_npy = tmp_path / "bad.npy"
    np.save(bad_npy, bad)
    code, _, err = run(capsys, "predict", files.keras_file, "--input", bad_npy,
                       "--input", files.series_npy, *outs)
    assert_error(code, err, r"bad\.npy' \(input 'ids'\): the input 'ids' holds integer ids "
                            r"\(int32\), found 2\.5 at index \(1, 2\)")
    assert not (tmp_path / "y.npy").exists()


def test_predict_output_errors(files, capsys, tmp_path):
    ins = ["--input", files.ids_npy, "--input", files.series_npy]
    code, _, err = run(capsys, "predict", files.keras_file, *ins, "--output", tmp_path / "y.npy")
    assert_error(code, err, r"expected 2 --output \(one per model output; the model's 2 "
                            r"outputs: 'y' \(None, 3\) float32, 'aux' \(None, 1\) float32\), "
                            r"received 1")
    code, _, err = run(capsys, "predict", files.keras_file, *ins, "--output",
                       f"why={tmp_path / 'y.npy'}", "--output", f"aux={tmp_path / 'a.npy'}")
    assert_error(code, err, r"no model output is named 'why'")
    code, _, err = run(capsys, "predict", files.keras_file, *ins, "--output", tmp_path / "y.npy",
                       "--output", tmp_path / "y.npy")
    assert_error(code, err, r"y\.npy' is given for 2 outputs")
    code, _, err = run(capsys, "predict", files.keras_file, *ins, "--output", tmp_path / "y.npy",
                       "--output", tmp_path / "aux.txt")
    assert_error(code, err, r"aux\.txt': expected a \.npy or \.csv file name")
    assert not (tmp_path / "y.npy").exists()  # checked before anything is written


def test_write_array_is_atomic(tmp_path, monkeypatch):
    from npylstm.cli import _common

    target = tmp_path / "y.npy"
    _common.write_array(target, np.ones((2, 3)))

    def broken(handle, array):
        handle.write(b"half")
        raise OSError("disk full")

    monkeypatch.setattr(_common.np, "save", broken)
    with pytest.raises(OSError, match="disk full"):
        _common.write_array(target, np.zeros((2, 3)))
    monkeypatch.undo()
    np.testing.assert_array_equal(np.load(target), np.ones((2, 3)))  # the old file, whole
    assert [p.name for p in tmp_path.iterdir()] == ["y.npy"]  # no temporary left


# -- crosscheck ------------------------------------------------------------------------------


def _row(out: str, name: str) -> tuple[float, float]:
    line = next((line for line in out.splitlines()
                 if line.strip().startswith(name + " ")), None)
    assert line is not None, f"no row {name!r} in\n{out}"
    abs_diff, rel_diff = (float(v) for v in line.split()[-2:])
    return abs_diff, rel_diff


def test_crosscheck_every_call_output_and_gradient(files, capsys):
    code, out, err = run(capsys, "crosscheck", files.keras_file, "--grad", "--samples", "4")
    assert code == 0, err
    assert "'ids' ids in [0, 12) (the Embedding's input_dim)" in out
    rows = ["embed (Embedding)", "encoder[0] (LSTM)", "encoder[1] (LSTM)", "encoder[2] (LSTM)",
            "decoder (LSTM)", "summary_lstm (LSTM)", "proj (Dense)", "proj#1 (Dense)",
            "concat (Concatenate)", "output y", "output aux",
            "input series", "embed/embeddings", "encoder/kernel", "decoder/recurrent_kernel",
            "decoder/bias", "proj/kernel", "y/bias", "aux/kernel"]
    for name in rows:
        abs_diff, rel_diff = _row(out, name)
        assert abs_diff <= ATOL and rel_diff <= 1e-4, name
    assert "input ids" not in out  # integer ids have no gradient
    assert re.search(r"OK: largest difference \S+ <= --atol 1e-05", out)


def test_crosscheck_finds_a_wrong_layer(files, capsys, monkeypatch):
    """A deliberately wrong Concatenate: its row, and only the rows after it, fail."""
    from npylstm.layers import Concatenate

    forward = Concatenate.forward

    def off(self, inputs, **kwargs):
        y, cache = forward(self, inputs, **kwargs)
        return y + 1e-3, cache

    monkeypatch.setattr(Concatenate, "forward", off)
    code, out, _ = run(capsys, "crosscheck", files.h5_file, "--input", f"ids={files.ids_npy}",
                       "--input", f"series={files.series_npy}")
    assert code == 1
    assert "the 5 samples of" in out
    assert _row(out, "proj#1 (Dense)")[0] <= ATOL
    assert 5e-4 < _row(out, "concat (Concatenate)")[0] < 2e-3
    assert re.search(r"FAIL: largest difference \S+ > --atol 1e-05 in concat \(Concatenate\), "
                     r"y \(Dense\), output y$", out.strip())


@pytest.fixture(scope="module")
def masked(tmp_path_factory):
    """An npylstm-written model whose masks meet: Embedding(mask_zero) ids and a Masking
    series, concatenated (Keras's Concatenate mask: a step is real where either input's
    is), into a Bidirectional LSTM; the inputs padded (zeros) at known steps."""
    from npylstm.layers import LSTM, Bidirectional, Concatenate, Dense, Embedding, Masking

    directory = tmp_path_factory.mktemp("cli_masked")
    ids = npylstm.Input((5,), dtype="int32", name="ids")
    series = npylstm.Input((5, 2), name="series")
    a = Embedding(9, 3, mask_zero=True, name="embed")(ids)
    b = Masking(name="masking")(series)
    c = Bidirectional(LSTM(2, name="lstm"), name="c")(Concatenate(name="concat")([a, b]))
    model = npylstm.Model([ids, series], [Dense(1, name="out")(c), a], name="masked")
    model.save(directory / "masked.keras")
    rng = np.random.default_rng(2)
    i = rng.integers(1, 9, (4, 5)).astype("int32")
    i[0, 3:] = 0
    i[1, :2] = 0
    x = rng.normal(size=(4, 5, 2)).astype("float32")
    x[2, 4:] = 0
    x[0, 3:] = 0
    np.save(directory / "ids.npy", i)
    np.save(directory / "series.npy", x)
    return directory


def test_crosscheck_compares_the_masks_along_the_graph(masked, capsys, monkeypatch):
    args = ["crosscheck", masked / "masked.keras", "--input", masked / "ids.npy",
            "--input", masked / "series.npy"]
    code, out, err = run(capsys, *args)
    assert code == 0, err
    for name in ("mask of embed", "mask of masking", "mask of concat"):
        assert _row(out, name) == (0.0, 0.0), name
    for name in ("c (Bidirectional)", "forward_layer forward_lstm (LSTM)",
                 "backward_layer backward_lstm (LSTM)", "output out", "output embed"):
        assert _row(out, name)[0] <= ATOL, name
    from npylstm.layers import Masking

    monkeypatch.setattr(Masking, "compute_mask", lambda self, x, mask=None: None)
    code, out, _ = run(capsys, *args)
    assert code == 1
    assert "mask of masking (only Keras has one)" in out


def test_sequential_of_ids(keras, capsys, tmp_path):
    """A Sequential starting with an Embedding: integer CSV ids, random ids in range for
    crosscheck (no input gradient), and gates after the Embedding (its mask)."""
    from npylstm.layers import LSTM, Dense, Embedding

    model = npylstm.Sequential([npylstm.Input((5,), dtype="int32"),
                                Embedding(9, 3, mask_zero=True, name="embedding"),
                                LSTM(2, name="lstm"), Dense(1, name="dense")])
    path = tmp_path / "ids.keras"
    model.save(path)
    ids = np.array([[7, 5, 4, 2, 2], [0, 0, 0, 1, 7]])
    csv = tmp_path / "ids.csv"
    np.savetxt(csv, ids, delimiter=",", fmt="%d")
    code, _, err = run(capsys, "predict", path, "--input", csv, "--output", tmp_path / "y.npy")
    assert code == 0, err
    with keras_quiet():
        theirs = keras.saving.load_model(path, compile=False)
    np.testing.assert_allclose(np.load(tmp_path / "y.npy"),
                               np.asarray(theirs(ids.astype("int32"), training=False)),
                               atol=ATOL, rtol=0)
    code, out, err = run(capsys, "crosscheck", path, "--grad", "--samples", "3")
    assert code == 0, err
    assert "ids in [0, 9) (the Embedding's input_dim)" in out and "input x" not in out
    assert _row(out, "embedding/embeddings")[0] <= ATOL
    code, out, err = run(capsys, "gates", path, "--input", csv, "--sample", "1")
    assert code == 0, err
    assert "masked steps (states carried): 3 of 5" in out  # the three leading 0 ids


# -- convert ---------------------------------------------------------------------------------


def test_convert_between_keras_formats_read_by_keras(files, keras, capsys, tmp_path):
    h5, weights, config = tmp_path / "m.h5", tmp_path / "m.weights.h5", tmp_path / "m.json"
    for dst in (h5, weights, config):
        code, out, err = run(capsys, "convert", files.keras_file, dst)
        assert code == 0, err
        assert f"{len(files.km.layers)} layers, {files.km.count_params():,} parameters" in out
    back = tmp_path / "back.keras"  # weights + JSON config -> .keras
    code, _, err = run(capsys, "convert", weights, back, "--config", config)
    assert code == 0, err
    with keras_quiet():
        from_json = keras.models.model_from_json(config.read_text())
        from_json.load_weights(weights)
        models = [keras.saving.load_model(path, compile=False) for path in (h5, back)]
    assert json.loads(config.read_text())["class_name"] == "Functional"
    code, out, err = run(capsys, "summary", weights, "--config", config)
    assert code == 0, err  # a Keras 3 JSON config has no keras_version: not a Keras 2 file
    assert "Keras 2" not in out and f"Total params: {files.km.count_params():,}" in out
    for model in (from_json, *models):
        y, aux = model([files.ids, files.series], training=False)
        np.testing.assert_allclose(np.asarray(y), files.y, atol=ATOL, rtol=0)
        np.testing.assert_allclose(np.asarray(aux), files.aux, atol=ATOL, rtol=0)


def test_state_dicts_refuse_a_graph_and_take_a_chain(files, capsys, tmp_path):
    code, _, err = run(capsys, "convert", files.keras_file, tmp_path / "m.npz")
    assert_error(code, err, r"DST '.*m\.npz': the model is a functional model with 2 inputs "
                            r"\['ids', 'series'\] and 2 outputs \['y', 'aux'\]: a PyTorch "
                            r"nn\.LSTM / nn\.GRU state dict holds a plain stack of layers")
    assert not (tmp_path / "m.npz").exists()
    from npylstm.layers import LSTM, Dense

    x = npylstm.Input((4, 2), name="x")
    chain = npylstm.Model(x, Dense(1)(LSTM(3)(x)))
    chain_file = tmp_path / "chain.keras"
    chain.save(chain_file)
    code, out, err = run(capsys, "convert", chain_file, tmp_path / "chain.npz")
    assert code == 0, err
    kernel = chain.layers[1].get_weights()[0]
    with np.load(tmp_path / "chain.npz") as state:
        np.testing.assert_array_equal(state["weight_ih_l0"], kernel.T)  # PyTorch's layout
    code, _, err = run(capsys, "predict", tmp_path / "chain.npz", "--config", files.keras_file,
                       "--input", files.ids_npy, "--input", files.series_npy,
                       "--output", tmp_path / "y.npy", "--output", tmp_path / "a.npy")
    assert_error(code, err, r"chain\.npz' is a PyTorch-style state dict and --config "
                            r"'.*two\.keras' is a functional model with 2 inputs")


# -- gates -----------------------------------------------------------------------------------


def _sigmoid(z):
    return 1 / (1 + np.exp(-z))


def test_gates_of_the_decoder_start_from_the_encoder_states(files, keras, capsys, tmp_path):
    plot = tmp_path / "gates.png"
    code, out, err = run(capsys, "gates", files.keras_file, "--input", files.ids_npy,
                         "--input", files.series_npy, "--layer", "decoder", "--sample", "1",
                         "--plot", plot)
    assert code == 0, err
    assert "LSTM 'decoder' on series, initial_state from encoder, sample 1" in out
    assert plot.stat().st_size > 0
    # Keras's encoder states and decoder outputs; the first step's gates by hand
    km = files.km
    probe = keras.Model(km.inputs, [km.get_layer("encoder").output[1],
                                    km.get_layer("encoder").output[2],
                                    km.get_layer("decoder").output])
    h0, c0, decoded = (np.asarray(a, dtype=np.float64)[1]
                       for a in probe([files.ids, files.series], training=False))
    kernel, recurrent, bias = (np.asarray(w, dtype=np.float64)
                               for w in (v.value for v in km.get_layer("decoder").weights))
    z = files.series[1, 0].astype(np.float64) @ kernel + h0 @ recurrent + bias  # (4 units,)
    z_i, z_f, z_c, z_o = np.split(z, 4)
    first = {"input gate": _sigmoid(z_i), "forget gate": _sigmoid(z_f),
             "candidate": np.tanh(z_c), "output gate": _sigmoid(z_o)}
    first["carry"] = first["forget gate"] * c0 + first["input gate"] * first["candidate"]
    table = {line[:12].strip(): [float(v) for v in line[26:].split()]
             for line in out.splitlines() if "=" in line[:26] or line.startswith(("carry",
                                                                                   "output"))}
    for name, values in first.items():
        assert abs(table[name][3] - values.mean()) < 1e-3, name  # the first-step column
    mean, low, high, _, last = table["output"]
    np.testing.assert_allclose([mean, low, high, last],
                               [decoded.mean(), decoded.min(), decoded.max(),
                                decoded[-1].mean()], atol=1e-3)


def test_gates_errors(files, capsys):
    code, _, err = run(capsys, "gates", files.keras_file, "--input", files.ids_npy,
                       "--input", files.series_npy, "--layer", "proj")
    assert_error(code, err, r"--layer 'proj': expected one of the recurrent layers "
                            r"\['encoder', 'decoder', 'summary_lstm'\]")
    code, _, err = run(capsys, "gates", files.keras_file, "--input", files.series_npy)
    assert_error(code, err, rf"expected 2 --input .*{INPUTS}")


def test_gates_of_a_shared_layer_call(capsys, tmp_path):
    """``NAME#1``: the second call of a shared LSTM, on the second input (any timesteps)."""
    from npylstm.layers import LSTM, Concatenate, Dense

    a, b = npylstm.Input((4, 2), name="a"), npylstm.Input((None, 2), name="b")
    shared = LSTM(3, return_sequences=True, name="shared")
    joined = Concatenate(axis=1, name="cat")([shared(a), shared(b)])
    model = npylstm.Model([a, b], Dense(1, name="out")(joined))
    model.save(tmp_path / "shared.keras")
    rng = np.random.default_rng(3)
    xa, xb = rng.normal(size=(2, 4, 2)), rng.normal(size=(2, 7, 2))
    np.save(tmp_path / "a.npy", xa.astype("float32"))
    np.save(tmp_path / "b.npy", xb.astype("float32"))
    code, out, err = run(capsys, "gates", tmp_path / "shared.keras", "--input",
                         tmp_path / "a.npy", "--input", tmp_path / "b.npy", "--layer",
                         "shared#1", "--sample", "1")
    assert code == 0, err
    assert "LSTM 'shared' call #1 on b, sample 1" in out and "7 timesteps" in out
    h = model.layers[2](xb.astype("float32"))[1]  # the layer alone on input b: (7, 3)
    row = next(line for line in out.splitlines() if line.startswith("output      h"))
    mean, low, high, first, last = (float(v) for v in row[26:].split())
    np.testing.assert_allclose([mean, low, high, first, last],
                               [h.mean(), h.min(), h.max(), h[0].mean(), h[-1].mean()],
                               atol=1e-3)
    code, _, err = run(capsys, "gates", tmp_path / "shared.keras", "--input", tmp_path / "a.npy",
                       "--input", tmp_path / "b.npy", "--layer", "shared#2")
    assert_error(code, err, r"expected one of the recurrent layers \['shared', 'shared#1'\]")


def test_predict_dict_inputs_and_outputs_by_name(capsys, tmp_path):
    """A model defined with dicts: inputs and outputs by name; sum and difference by hand."""
    from npylstm.layers import Add, Subtract

    a, b = npylstm.Input((3,), name="a"), npylstm.Input((3,), name="b")
    model = npylstm.Model({"b": b, "a": a}, {"sum": Add(name="sum")([a, b]),
                                             "diff": Subtract(name="diff")([a, b])})
    model.save(tmp_path / "dict.keras")
    rng = np.random.default_rng(4)
    xa, xb = rng.normal(size=(3, 3)), 10 + rng.normal(size=(3, 3))
    np.save(tmp_path / "a.npy", xa)
    np.save(tmp_path / "b.npy", xb)
    code, _, err = run(capsys, "predict", tmp_path / "dict.keras", "--input",
                       f"b={tmp_path / 'b.npy'}", "--input", f"a={tmp_path / 'a.npy'}",
                       "--output", f"sum={tmp_path / 's.csv'}", "--output",
                       f"diff={tmp_path / 'd.npy'}")
    assert code == 0, err
    np.testing.assert_allclose(np.loadtxt(tmp_path / "s.csv", delimiter=","), xa + xb,
                               rtol=1e-6)
    np.testing.assert_allclose(np.load(tmp_path / "d.npy"), xa - xb, rtol=1e-6)


def test_outputs_sharing_a_name_go_by_position(capsys, tmp_path):
    """An LSTM's two states as the outputs: both named after the layer, so by position."""
    from npylstm.layers import LSTM

    x = npylstm.Input((4, 2), name="x")
    _, state_h, state_c = LSTM(3, return_state=True, name="lstm")(x)
    model = npylstm.Model(x, [state_h, state_c])
    model.save(tmp_path / "states.keras")
    data = np.random.default_rng(5).normal(size=(2, 4, 2)).astype("float32")
    np.save(tmp_path / "x.npy", data)
    args = ["predict", tmp_path / "states.keras", "--input", tmp_path / "x.npy"]
    code, _, err = run(capsys, *args, "--output", f"lstm={tmp_path / 'h.npy'}",
                       "--output", f"lstm={tmp_path / 'c.npy'}")
    assert_error(code, err, r"the name 'lstm' is shared by 2 outputs; give them by position")
    code, _, err = run(capsys, "predict", tmp_path / "states.keras", "--input",
                       f"x={tmp_path / 'x.npy'}", "--output", tmp_path / "h.npy",
                       "--output", tmp_path / "c.npy")
    assert code == 0, err
    _, h, c = model.layers[1].forward(data)[0]  # the layer alone: [output, h, c]
    np.testing.assert_array_equal(np.load(tmp_path / "h.npy"), h)
    np.testing.assert_array_equal(np.load(tmp_path / "c.npy"), c)
    code, _, err = run(capsys, *args[:2], "--input", f"y={tmp_path / 'x.npy'}",
                       "--output", tmp_path / "h.npy", "--output", tmp_path / "c.npy")
    assert_error(code, err, r"no model input is named 'y'; the model's 1 input: 'x' "
                            r"\(None, 4, 2\) float32")
