"""``npylstm convert SRC model.onnx``: the file ONNX Runtime runs gives the model's
predictions (the exporter itself is tested in tests/test_onnx_export.py); refusals are
one-line errors with exit status 2."""

from __future__ import annotations

import numpy as np
import pytest

import npylstm
from npylstm import cli
from npylstm.layers import LSTM, Dense, Embedding

ort = pytest.importorskip("onnxruntime")


def run(capsys, *args) -> tuple[int, str, str]:
    code = cli.main([str(a) for a in args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_convert_to_onnx_runs_in_onnx_runtime_as_npylstm_predicts(capsys, tmp_path):
    npylstm.set_random_seed(3)
    model = npylstm.Sequential([npylstm.Input((6, 3)), LSTM(5, return_sequences=True),
                                LSTM(4), Dense(2, activation="softmax")])
    src = model.save(tmp_path / "m.keras")
    code, out, err = run(capsys, "convert", src, tmp_path / "m.onnx")
    assert code == 0, err
    assert "ONNX model" in out and "3 layers" in out
    x = np.random.default_rng(0).normal(size=(7, 6, 3)).astype("float32")
    session = ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"])
    (got,) = session.run(None, {session.get_inputs()[0].name: x})
    np.testing.assert_allclose(got, model.predict(x, verbose=0), atol=1e-6, rtol=0)


def test_convert_to_onnx_refuses_a_mask_into_a_recurrent_layer(capsys, tmp_path):
    model = npylstm.Sequential([npylstm.Input((5,), dtype="int32"),
                                Embedding(10, 4, mask_zero=True), LSTM(3)])
    src = model.save(tmp_path / "masked.keras")
    code, _, err = run(capsys, "convert", src, tmp_path / "masked.onnx")
    assert code == 2
    assert err.count("\n") == 1 and "Traceback" not in err
    assert "masked.onnx" in err and "mask" in err
    assert not (tmp_path / "masked.onnx").exists()
