"""A catalogue of bad inputs for every ``npylstm`` command (issue #13, item 5): each gives
exactly its one-line message on stderr (no traceback) and exit status 2.

Calls :func:`npylstm.cli.main` in-process (no subprocess) in a folder of small files made
here with npylstm and NumPy: a missing file, a directory, a FIFO, an empty file, random
bytes, a truncated file, a wrong suffix, a bad ``--input`` spec, wrong shapes, complex and
string arrays, a declared-size bomb, and bad numbers for numeric options. Argparse's own
errors print the usage line first: for them the message is the last line.
"""

from __future__ import annotations

import io
import os

import numpy as np
import pytest

import npylstm
from npylstm import cli

pytestmark = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs os.mkfifo")


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    where = tmp_path_factory.mktemp("bad_input")
    model = npylstm.Sequential([npylstm.Input((4, 3)), npylstm.layers.LSTM(5, name="lstm"),
                                npylstm.layers.Dense(1, name="head")])
    model.save(where / "m.keras")
    model.save_weights(where / "m.weights.h5")
    rng = np.random.default_rng(0)
    np.save(where / "x.npy", rng.normal(size=(2, 4, 3)).astype("float32"))
    np.save(where / "c.npy", np.zeros((2, 4, 3), "complex64"))
    np.save(where / "s.npy", np.array([["a", "b"]]))
    np.save(where / "o.npy", np.array([None, 1], dtype=object), allow_pickle=True)
    np.save(where / "wrong.npy", np.zeros((2, 5, 3), "float32"))
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        header, {"descr": "<f4", "fortran_order": False, "shape": (10**6, 10**6)})
    (where / "bomb.npy").write_bytes(header.getvalue())
    (where / "short.npy").write_bytes((where / "x.npy").read_bytes()[:-20])
    for name in ("empty.csv", "empty.keras", "empty.npy"):
        (where / name).write_bytes(b"")
    (where / "blank.csv").write_text("\n  \n")
    (where / "rand.keras").write_bytes(b"\x01\x02random" + rng.bytes(200))
    (where / "rand.npy").write_bytes(b"\x01\x02random" + rng.bytes(200))
    (where / "strings.csv").write_text("a,b,c\n")
    (where / "cplx.csv").write_text("1+2j,3\n")
    data = (where / "m.keras").read_bytes()
    (where / "trunc.keras").write_bytes(data[: len(data) // 2])
    (where / "x.txt").write_text("1,2,3\n")
    (where / "adir").mkdir()
    os.mkfifo(where / "fifo")
    return where


def run(folder, monkeypatch, capsys, argv) -> tuple[int, str]:
    monkeypatch.chdir(folder)
    code = cli.main(argv)
    captured = capsys.readouterr()
    return code, captured.err


MAGIC = "is not a .npy array: it does not start with NumPy's \\x93NUMPY magic string"
PREDICT = ["predict", "m.keras", "--output", "y.npy", "--input"]

CASES = [
    # summary: the model file
    (["summary", "nope.keras"], "npylstm summary: error: no such file: 'nope.keras'"),
    (["summary", "adir"], "npylstm summary: error: 'adir' is a directory; expected a file"),
    (["summary", "fifo"], "npylstm summary: error: 'fifo' is a FIFO (named pipe), not a "
     "regular file: expected a file"),
    (["summary", "empty.keras"], "npylstm summary: error: 'empty.keras' is empty, not a "
     "Keras file"),
    (["summary", "rand.keras"], "npylstm summary: error: 'rand.keras' is not a Keras file: "
     "expected a .keras zip archive or an HDF5 file (.weights.h5 / .h5), found a file "
     "starting with b'\\x01\\x02random'"),
    (["summary", "trunc.keras"], "npylstm summary: error: 'trunc.keras' is truncated or "
     "corrupted (reading the zip directory): File is not a zip file"),
    (["summary", "x.txt"], "npylstm summary: error: 'x.txt' is not a Keras file: expected a "
     ".keras zip archive or an HDF5 file (.weights.h5 / .h5), found a file starting with "
     "b'1,2,3\\n'"),
    (["summary", "m.weights.h5"], "npylstm summary: error: 'm.weights.h5' holds weights only "
     "(no model config): pass --config CONFIG, a .keras/.h5 model file or a JSON config "
     "(keras_model.to_json())"),
    (["summary", "m.weights.h5", "--config", "fifo"], "npylstm summary: error: 'fifo' is a "
     "FIFO (named pipe), not a regular file: expected a config file"),
    # predict: the inputs
    (PREDICT + ["nope.npy"], "npylstm predict: error: no such --input file: 'nope.npy'"),
    (PREDICT + ["adir"], "npylstm predict: error: 'adir' is a directory; expected a --input "
     "file"),
    (PREDICT + ["fifo"], "npylstm predict: error: 'fifo' is a FIFO (named pipe), not a "
     "regular file: expected a --input file"),
    (PREDICT + ["empty.csv"], "npylstm predict: error: --input 'empty.csv' is empty: "
     "expected a comma-separated table of numbers, one sample per row"),
    (PREDICT + ["blank.csv"], "npylstm predict: error: --input 'blank.csv' is empty: "
     "expected a comma-separated table of numbers, one sample per row"),
    (PREDICT + ["empty.npy"], "npylstm predict: error: --input 'empty.npy' is empty, not a "
     ".npy array"),
    (PREDICT + ["rand.npy"], f"npylstm predict: error: --input 'rand.npy' {MAGIC}"),
    (PREDICT + ["short.npy"], "npylstm predict: error: --input 'short.npy' is truncated: its "
     "header declares (2, 4, 3) float32 values (96 bytes) but only 76 bytes follow"),
    (PREDICT + ["bomb.npy"], "npylstm predict: error: --input 'bomb.npy' declares "
     "1000000000000 values, more than the limit MAX_ARRAY_ELEMENTS = 536870912 (set the "
     "environment variable NPYLSTM_MAX_ARRAY_ELEMENTS, NPYLSTM_LIMIT_SCALE, or use "
     "npylstm.io.limits.raised_limits() for a genuinely large file)"),
    (PREDICT + ["c.npy"], "npylstm predict: error: --input 'c.npy' holds complex numbers "
     "(dtype complex64): expected real numbers"),
    (PREDICT + ["s.npy"], "npylstm predict: error: --input 's.npy' holds unicode strings "
     "(dtype <U1): expected real numbers"),
    (PREDICT + ["o.npy"], "npylstm predict: error: --input 'o.npy' holds Python objects "
     "(dtype object): expected real numbers; object arrays are never unpickled"),
    (PREDICT + ["strings.csv"], "npylstm predict: error: --input 'strings.csv': expected a "
     "comma-separated table of numbers, one sample per row (could not convert string 'a' "
     "to float64 at row 0, column 1.)"),
    (PREDICT + ["cplx.csv"], "npylstm predict: error: --input 'cplx.csv': expected a "
     "comma-separated table of numbers, one sample per row (could not convert string "
     "'1+2j' to float64 at row 0, column 1.)"),
    (PREDICT + ["wrong.npy"], "npylstm predict: error: --input 'wrong.npy' has shape "
     "(2, 5, 3), the model expects (None, 4, 3): 5 timesteps where the model reads 4"),
    (PREDICT + ["x.txt"], "npylstm predict: error: --input 'x.txt': expected a .npy or .csv "
     "file, received '.txt'"),
    (PREDICT + ["foo=x.npy"], "npylstm predict: error: --input 'foo=x.npy': no model input "
     "is named 'foo'; a Sequential model's input has no name: give the file by position"),
    (["predict", "m.keras", "--input", "x.npy", "--output", "y.txt"], "npylstm predict: "
     "error: --output 'y.txt': expected a .npy or .csv file name"),
    (["predict", "fifo", "--input", "x.npy", "--output", "y.npy"], "npylstm predict: error: "
     "'fifo' is a FIFO (named pipe), not a regular file: expected a file"),
    (["predict", "m.keras", "--input", "x.npy", "--output", "y.npy", "--batch-size", "0"],
     "npylstm predict: error: argument --batch-size: expected a positive whole number, "
     "received '0'"),
    # the shared options
    (["--threads", "-1", "summary", "m.keras"], "npylstm: error: argument --threads: "
     "expected 0 (leave BLAS alone) or a positive number of threads, received '-1'"),
    (["summary", "m.keras", "--threads", "two"], "npylstm summary: error: argument --threads:"
     " expected a whole number, received 'two'"),
    # crosscheck
    (["crosscheck", "nope.keras"], "npylstm crosscheck: error: no such file: 'nope.keras'"),
    (["crosscheck", "fifo"], "npylstm crosscheck: error: 'fifo' is a FIFO (named pipe), not "
     "a regular file: expected a file"),
    (["crosscheck", "m.keras", "--atol", "-1"], "npylstm crosscheck: error: argument --atol: "
     "expected a finite number >= 0, received '-1'"),
    (["crosscheck", "m.keras", "--atol", "nan"], "npylstm crosscheck: error: argument --atol:"
     " expected a finite number >= 0, received 'nan'"),
    (["crosscheck", "m.keras", "--timesteps", "0"], "npylstm crosscheck: error: argument "
     "--timesteps: expected a positive whole number, received '0'"),
    (["crosscheck", "m.keras", "--samples", "0"], "npylstm crosscheck: error: --samples: "
     "expected an integer >= 1, received 0"),
    (["crosscheck", "m.keras", "--input", "c.npy"], "npylstm crosscheck: error: --input "
     "'c.npy' holds complex numbers (dtype complex64): expected real numbers"),
    # convert
    (["convert", "nope.keras", "out.npz"], "npylstm convert: error: no such SRC file: "
     "'nope.keras'"),
    (["convert", "fifo", "out.npz"], "npylstm convert: error: 'fifo' is a FIFO (named pipe), "
     "not a regular file: expected a SRC file"),
    (["convert", "m.keras", "adir"], "npylstm convert: error: 'adir' is a directory; expected "
     "a file name to write"),
    (["convert", "m.keras", "out.txt"], "npylstm convert: error: DST 'out.txt': expected a "
     "name ending in .keras, .weights.h5, .h5, .json, .npz, .pt or .onnx"),
    (["convert", "trunc.keras", "out.npz"], "npylstm convert: error: 'trunc.keras' is "
     "truncated or corrupted (reading the zip directory): File is not a zip file"),
    # gates
    (["gates", "nope.keras", "--input", "x.npy"], "npylstm gates: error: no such file: "
     "'nope.keras'"),
    (["gates", "m.keras", "--input", "x.npy", "--sample", "-1"], "npylstm gates: error: "
     "argument --sample: expected a whole number >= 0, received '-1'"),
    (["gates", "m.keras", "--input", "x.npy", "--sample", "9"], "npylstm gates: error: "
     "--sample 9: the input has 2 sample(s)"),
    (["gates", "m.keras", "--input", "x.npy", "--layer", "nope"], "npylstm gates: error: "
     "--layer 'nope': expected one of the LSTM layers ['lstm']"),
    (["gates", "m.keras", "--input", "s.npy"], "npylstm gates: error: --input 's.npy' holds "
     "unicode strings (dtype <U1): expected real numbers"),
    (["gates", "m.keras", "--input", "fifo"], "npylstm gates: error: 'fifo' is a FIFO (named "
     "pipe), not a regular file: expected a --input file"),
    # info
    (["info", "--threads", "-1"], "npylstm info: error: argument --threads: expected 0 "
     "(leave BLAS alone) or a positive number of threads, received '-1'"),
    # demo
    (["demo", "--epochs", "0"], "npylstm demo: error: --epochs: expected an integer >= 1, "
     "received 0"),
    (["demo", "--samples", "7"], "npylstm demo: error: --samples: expected a multiple of 5 "
     "(five wave patterns), >= 5, received 7"),
    (["demo", "--batch-size", "0"], "npylstm demo: error: argument --batch-size: expected a "
     "positive whole number, received '0'"),
    (["demo", "--out", "m.keras"], "npylstm demo: error: --out 'm.keras' exists and is not a "
     "directory"),
]


@pytest.mark.parametrize("argv, message", CASES, ids=[" ".join(c[0]) for c in CASES])
def test_bad_input(folder, monkeypatch, capsys, argv, message):
    code, err = run(folder, monkeypatch, capsys, argv)
    assert code == 2
    assert "Traceback" not in err
    lines = err.splitlines()
    if "argument " in message:  # argparse: the usage line, then the message
        assert lines[0].startswith("usage: npylstm")
        assert lines[-1] == message
    else:
        assert lines == [message]
    assert not (folder / "y.npy").exists() and not (folder / "out.npz").exists()


def test_every_command_is_in_the_catalogue():
    from npylstm.cli.parser import build_parser

    parser = build_parser()
    commands = parser._subparsers._group_actions[0].choices
    covered = {argv[0] if not argv[0].startswith("-") else argv[2] for argv, _ in CASES}
    assert set(commands) - {"bench"} <= covered, set(commands) - covered


# -- more dtype kinds and shapes for predict's --input (issue #13, item 4) ----------------
@pytest.fixture(scope="module")
def kinds_folder(folder):
    """The catalogue's folder plus arrays of every other refused kind and shape."""
    np.save(folder / "td.npy", np.zeros((2, 4, 3), "m8[s]"))
    np.save(folder / "dt.npy", np.zeros((2, 4, 3), "M8[s]"))
    np.save(folder / "rec.npy", np.zeros((2, 4, 3), [("a", "<f4")]))
    np.save(folder / "bytes.npy", np.array([[b"a", b"b"]]))
    np.save(folder / "feat.npy", np.zeros((2, 4, 2), "float32"))
    np.save(folder / "rank.npy", np.zeros((2, 4, 3, 1), "float32"))
    (folder / "feat.csv").write_text("1,2,3,4,5\n")
    return folder


KIND_CASES = [
    (PREDICT + ["td.npy"], "npylstm predict: error: --input 'td.npy' holds timedeltas (dtype "
     "timedelta64[s]): expected real numbers"),
    (PREDICT + ["dt.npy"], "npylstm predict: error: --input 'dt.npy' holds datetimes (dtype "
     "datetime64[s]): expected real numbers"),
    (PREDICT + ["rec.npy"], "npylstm predict: error: --input 'rec.npy' holds structured "
     "records (dtype [('a', '<f4')]): expected real numbers"),
    (PREDICT + ["bytes.npy"], "npylstm predict: error: --input 'bytes.npy' holds byte strings "
     "(dtype |S1): expected real numbers"),
    (PREDICT + ["feat.npy"], "npylstm predict: error: --input 'feat.npy' has shape (2, 4, 2), "
     "the model expects (None, 4, 3): 2 features where the model reads 3"),
    (PREDICT + ["rank.npy"], "npylstm predict: error: --input 'rank.npy' has 4 dimensions "
     "(2, 4, 3, 1); the model expects (None, 4, 3) (samples, timesteps, features)"),
    (PREDICT + ["feat.csv"], "npylstm predict: error: --input 'feat.csv' has shape (1, 5); the "
     "model expects (None, 4, 3): each row (one sample) must hold timesteps × features = "
     "4 × 3 = 12 values, found 5"),
    (["gates", "m.keras", "--input", "rec.npy"], "npylstm gates: error: --input 'rec.npy' "
     "holds structured records (dtype [('a', '<f4')]): expected real numbers"),
    (["crosscheck", "m.keras", "--input", "td.npy"], "npylstm crosscheck: error: --input "
     "'td.npy' holds timedeltas (dtype timedelta64[s]): expected real numbers"),
]


@pytest.mark.parametrize("argv, message", KIND_CASES, ids=[" ".join(c[0]) for c in KIND_CASES])
def test_bad_input_kind_or_shape(kinds_folder, monkeypatch, capsys, argv, message):
    test_bad_input(kinds_folder, monkeypatch, capsys, argv, message)
