"""npylstm.io.limits: every limit checked from metadata before reading, and raisable
(environment variable, scale factor, raised_limits()). Files are made here with NumPy,
zipfile and h5py; each declared size is set by hand to exceed one limit."""

from __future__ import annotations

import io
import json
import zipfile

import h5py
import numpy as np
import pytest

import npylstm
from npylstm.io import arrays, limits
from npylstm.io._safe import _parse_json
from npylstm.io.limits import LimitExceededError, limit, raised_limits


def _npy_with_header(shape, dtype="<f4") -> bytes:
    """A .npy file whose header declares ``shape`` but that holds no data."""
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        buffer, {"descr": dtype, "fortran_order": False, "shape": shape})
    return buffer.getvalue()


def test_defaults_and_overrides(monkeypatch):
    assert limit("MAX_JSON_DEPTH") == 200
    assert limit("MAX_FILE_BYTES") == 4 << 30
    monkeypatch.setenv("NPYLSTM_MAX_FILE_BYTES", "1e3")
    assert limit("MAX_FILE_BYTES") == 1000
    monkeypatch.delenv("NPYLSTM_MAX_FILE_BYTES")
    monkeypatch.setenv("NPYLSTM_LIMIT_SCALE", "0.5")
    assert limit("MAX_MEMBER_BYTES") == 1 << 30
    assert limit("MAX_JSON_DEPTH") == 200  # the depth is not a size: not scaled
    with raised_limits(scale=4, MAX_JSON_DEPTH=300):  # code wins over the environment
        assert limit("MAX_MEMBER_BYTES") == 8 << 30
        assert limit("MAX_JSON_DEPTH") == 300
    assert limit("MAX_MEMBER_BYTES") == 1 << 30


@pytest.mark.parametrize("bad", [0, -1, float("nan"), "3", True])
def test_raised_limits_refuses_bad_values(bad):
    with pytest.raises(ValueError, match="raised_limits: MAX_FILE_BYTES must be a positive"):
        with raised_limits(MAX_FILE_BYTES=bad):
            pass


def test_unknown_limit_names():
    with pytest.raises(ValueError, match=r"raised_limits: unknown limits \['MAX_UNITS'\]"):
        with raised_limits(MAX_UNITS=3):
            pass
    with pytest.raises(ValueError, match="unknown limit 'nope'"):
        limit("nope")


@pytest.mark.parametrize("text", ["abc", "-5", "0", "inf"])
def test_bad_environment_values(monkeypatch, text):
    monkeypatch.setenv("NPYLSTM_LIMIT_SCALE", text)
    with pytest.raises(ValueError, match="NPYLSTM_LIMIT_SCALE=.*expected a positive number"):
        limit("MAX_FILE_BYTES")


def test_npy_header_bomb_refused_before_allocation(tmp_path):
    """10**12 float32 values declared by a 128-byte file: refused from the header."""
    path = tmp_path / "bomb.npy"
    path.write_bytes(_npy_with_header((10**6, 10**6)))
    with pytest.raises(LimitExceededError, match=r"declares 1000000000000 values, more than "
                       r"the limit MAX_ARRAY_ELEMENTS = 536870912 \(set the environment "
                       "variable NPYLSTM_MAX_ARRAY_ELEMENTS"):
        arrays.read_npy(path)


def test_npy_truncated_data_and_random_bytes(tmp_path):
    path = tmp_path / "short.npy"
    path.write_bytes(_npy_with_header((3, 4)) + b"\0" * 8)
    with pytest.raises(ValueError, match=r"is truncated: its header declares \(3, 4\) float32 "
                       "values \\(48 bytes\\) but only 8 bytes follow"):
        arrays.read_npy(path)
    path = tmp_path / "random.npy"
    path.write_bytes(np.random.default_rng(0).bytes(300))
    with pytest.raises(ValueError, match="is not a .npy array") as info:
        arrays.read_npy(path)
    assert "pickle" not in str(info.value)


@pytest.mark.parametrize("value, kind", [
    (np.array([1 + 2j]), "complex numbers"), (np.array(["a"]), "unicode strings"),
    (np.array([b"a"]), "byte strings"), (np.array([object()], dtype=object), "Python objects"),
    (np.zeros(1, dtype=[("a", "f4")]), "structured records"),
])
def test_npy_dtype_kinds_refused(tmp_path, value, kind):
    path = tmp_path / "x.npy"
    np.save(path, value, allow_pickle=True)
    with pytest.raises(ValueError, match=f"holds {kind} \\(dtype"):
        arrays.read_npy(path)


def test_npz_member_header_and_zip_totals(tmp_path):
    path = tmp_path / "sd.npz"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("weight_ih_l0.npy", _npy_with_header((1 << 20, 1 << 10)))
    with pytest.raises(LimitExceededError, match="member 'weight_ih_l0.npy' declares "
                       f"{1 << 30} values"):
        arrays.read_npz(path)
    np.savez(path, a=np.zeros(1000))
    with raised_limits(MAX_FILE_BYTES=1000):  # 8128 bytes uncompressed in all
        with pytest.raises(LimitExceededError, match="the zip archive's members"):
            arrays.read_npz(path)
    assert arrays.read_npz(path)["a"].shape == (1000,)


def test_keras_archive_member_limit(tmp_path):
    model = npylstm.Sequential([npylstm.Input((2, 1)), npylstm.layers.LSTM(2)])
    path = model.save(tmp_path / "m.keras")
    with raised_limits(MAX_MEMBER_BYTES=2000):
        with pytest.raises(LimitExceededError, match="zip member 'model.weights.h5' declares"):
            npylstm.load_model(path)
    with raised_limits(MAX_JSON_BYTES=100):
        with pytest.raises(npylstm.io.KerasFileError, match="'config.json' declares"):
            npylstm.load_model(path)
    assert npylstm.load_model(path).layers[0].units == 2


def test_hdf5_dataset_counts_and_bytes(tmp_path):
    model = npylstm.Sequential([npylstm.Input((2, 1)), npylstm.layers.LSTM(2),
                                npylstm.layers.Dense(1)])
    path = model.save_weights(tmp_path / "m.weights.h5") or tmp_path / "m.weights.h5"
    with raised_limits(MAX_FILE_DATASETS=4):  # LSTM 3 + Dense 2
        with pytest.raises(LimitExceededError, match=r"\(datasets read so far\) declares 5 "
                           "datasets, more than the limit MAX_FILE_DATASETS = 4"):
            model.load_weights(path)
    with raised_limits(MAX_FILE_BYTES=100):
        with pytest.raises(LimitExceededError, match="MAX_FILE_BYTES = 100"):
            model.load_weights(path)
    with raised_limits(MAX_GROUP_DATASETS=2):
        with pytest.raises(LimitExceededError, match="the HDF5 group .* declares 3 members"):
            model.load_weights(path)
    with h5py.File(path, "a") as f:  # a huge attribute is checked from its header
        f.attrs["big"] = np.zeros(2000, "f4")
    with raised_limits(MAX_ARRAY_ELEMENTS=1000):
        from npylstm.io._safe import _h5_text

        with h5py.File(path) as f:
            with pytest.raises(LimitExceededError, match="the HDF5 attribute 'big' declares "
                               "2000 values"):
                _h5_text(f.attrs, "big")
    model.load_weights(path)


def test_json_depth_and_size(tmp_path):
    deep = "[" * 5000 + "]" * 5000
    with pytest.raises(npylstm.io.KerasFileError, match="config.json nests lists / objects "
                       "deeper than Python's recursion limit"):
        _parse_json(deep, "config.json", tmp_path / "m.keras")
    with pytest.raises(LimitExceededError, match="declares 201 levels of nesting, more than "
                       "the limit MAX_JSON_DEPTH = 200"):
        _parse_json("[" * 201 + "]" * 201, "config.json", tmp_path / "m.keras")
    assert _parse_json(json.dumps(np.zeros((3,)).tolist()), "x", tmp_path) == [0.0] * 3
    with raised_limits(MAX_JSON_BYTES=10):
        with pytest.raises(LimitExceededError, match="'x' declares 11 bytes"):
            _parse_json("[1,2,3,4,5]", "'x'", tmp_path)


def test_limits_module_names_every_default():
    for name, value in limits.DEFAULTS.items():
        assert f"``{name}``" in limits.__doc__
        assert limit(name) == value
