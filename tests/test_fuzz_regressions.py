"""What the fuzz suite (tests/test_fuzz_files.py) found, each case rebuilt by hand here so it
stays fixed whatever the generator draws: every one gives its format's documented error
with a message naming the file (see that module's table)."""

from __future__ import annotations

import io
import json
import os
import zipfile

import h5py
import numpy as np
import pytest
from keras_archive import edited_keras_config  # tests/ is on sys.path

import npylstm
from npylstm.io import KerasFileError, arrays, read_state_dict
from npylstm.io.limits import LimitExceededError


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    where = tmp_path_factory.mktemp("regressions")
    model = npylstm.Sequential([npylstm.Input((4, 3)), npylstm.layers.LSTM(5, name="lstm"),
                                npylstm.layers.Dense(1, name="head")])
    model.save(where / "m.keras")
    model.save(where / "m.h5")
    return where, model


def test_global_heap_loop_is_refused(files, tmp_path):
    """libhdf5 2.0 loops forever in H5HG__cache_heap_deserialize on a global heap whose
    free-space entry (index 0) has size 0: the legacy model_config (a variable-length
    string) lives there. Found as a hang (legacy_h5, a chunk swap)."""
    where, _ = files
    data = bytearray((where / "m.h5").read_bytes())
    heap = data.index(b"GCOL")
    data[heap + 16: heap + 32] = bytes(16)  # the first object: index 0, size 0
    bad = tmp_path / "loop.h5"
    bad.write_bytes(bytes(data))
    with pytest.raises(KerasFileError, match=f"'{bad}' is truncated or corrupted \\(reading "
                       f"the HDF5 global heap at byte {heap}\\): an entry whose size does "
                       "not move forward, on which libhdf5 would loop forever"):
        npylstm.load_model(bad)
    # an object size of 2**64 - 1: 16 + its 8-byte alignment wraps to 16 in size_t, and
    # the entries after it are read from its data (a hang found with seed 7, legacy_h5)
    data = bytearray((where / "m.h5").read_bytes())
    data[heap + 16: heap + 18] = (7).to_bytes(2, "little")
    data[heap + 24: heap + 32] = bytes([0xFF] * 8)
    data[heap + 32: heap + 48] = bytes(16)  # and where it lands, an entry of size 0
    bad.write_bytes(bytes(data))
    with pytest.raises(KerasFileError, match="would loop forever"):
        npylstm.load_model(bad)


def test_npy_header_that_does_not_tokenize(tmp_path):
    """NumPy parses the header dict with ast/tokenize: a damaged one raised TokenError."""
    buffer = io.BytesIO()
    np.save(buffer, np.zeros((2, 3), "f4"))
    data = bytearray(buffer.getvalue())
    data[data.index(b"(2, 3)") + 5] = ord(" ")  # "(2, 3 " : unbalanced
    bad = tmp_path / "x.npy"
    bad.write_bytes(bytes(data))
    with pytest.raises(ValueError, match=f"'{bad}' is truncated or corrupted: its .npy header "
                       "cannot be read"):
        arrays.read_npy(bad)


def test_deep_json_in_a_keras_archive(files, tmp_path):
    where, _ = files
    bad = tmp_path / "deep.keras"
    with zipfile.ZipFile(where / "m.keras") as zin, zipfile.ZipFile(bad, "w") as zout:
        for info in zin.infolist():
            data = zin.read(info)
            if info.filename == "config.json":
                config = json.loads(data)
                config["config"]["layers"][1]["config"]["units"] = "__DEEP__"
                data = json.dumps(config).replace('"__DEEP__"', "[" * 5000 + "]" * 5000)
            zout.writestr(info, data)
    with pytest.raises(KerasFileError, match=f"'{bad}': config.json nests lists / objects "
                       "deeper than Python's recursion limit"):
        npylstm.load_model(bad)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs os.mkfifo")
def test_a_fifo_is_refused_without_blocking(tmp_path):
    fifo = tmp_path / "pipe.keras"
    os.mkfifo(fifo)
    message = f"'{fifo}' is a FIFO \\(named pipe\\), not a regular file: expected a"
    with pytest.raises(KerasFileError, match=message + " Keras file"):
        npylstm.load_model(fifo)
    with pytest.raises(ValueError, match=message + " .npy file"):
        arrays.read_npy(fifo)
    with pytest.raises(ValueError, match=message + " .npz file"):
        read_state_dict(fifo, "npz")
    with pytest.raises(ValueError, match=message + " .pt file"):
        read_state_dict(fifo, "pt")


def test_state_dict_values_must_be_real_tensors(tmp_path):
    torch = pytest.importorskip("torch")
    path = tmp_path / "sd.pt"
    torch.save({"weight_ih_l0": torch.zeros(4, 2), "step": 3}, path)
    with pytest.raises(ValueError, match=f"'{path}': the state dict entry 'step' is a int, "
                       "expected a tensor"):
        read_state_dict(path)
    torch.save({"weight_ih_l0": torch.zeros(4, 2, dtype=torch.complex64)}, path)
    with pytest.raises(ValueError, match="entry 'weight_ih_l0' holds complex numbers \\(dtype "
                       "torch.complex64\\), expected real numbers"):
        read_state_dict(path)
    npz = tmp_path / "sd.npz"
    np.savez(npz, weight_ih_l0=np.zeros((4, 2), "complex64"))
    with pytest.raises(ValueError, match="member 'weight_ih_l0.npy' holds complex numbers "
                       "\\(dtype complex64\\): expected real numbers"):
        read_state_dict(npz)


@pytest.mark.parametrize("value, message", [
    (b"\xff\xfe{", "is truncated or corrupted: model_config is not valid JSON"),
    (np.arange(3), "the HDF5 attribute 'model_config' holds an array of shape \\(3,\\), "
     "expected text"),
])
def test_legacy_attributes_of_the_wrong_kind(files, tmp_path, value, message):
    where, _ = files
    bad = tmp_path / "attr.h5"
    bad.write_bytes((where / "m.h5").read_bytes())
    with h5py.File(bad, "r+") as f:
        f.attrs["model_config"] = value
    with pytest.raises(KerasFileError, match=message):
        npylstm.load_model(bad)


def test_npz_member_that_is_not_an_array(tmp_path):
    path = tmp_path / "sd.npz"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("weight_ih_l0.npy", b"\x93NUMPY\x01\x00")
        zf.writestr("notes.txt", b"hello")
    with pytest.raises(ValueError, match="is truncated or corrupted: its .npy header"):
        arrays.read_npz(path)
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("notes.txt", b"hello")
    with pytest.raises(ValueError, match="the member 'notes.txt' is not a .npy array"):
        arrays.read_npz(path)


def test_a_config_declaring_huge_units_is_refused_before_allocation(files, tmp_path):
    """Found by fuzzing (keras, a config value edit): units 10**9 over 5-unit weights."""
    where, _ = files
    bad = edited_keras_config(where / "m.keras", tmp_path / "units.keras", lambda config:
                              config["config"]["layers"][1]["config"].update(units=10**9))
    # refused before any allocation (issue #13 item 1): the layers are built with zero
    # placeholders within the file's 186 values (+ npylstm.io.load.BUDGET_SLACK)
    with pytest.raises(LimitExceededError, match=f"^'{bad}': layer 'lstm' \\(LSTM\\), its "
                       "kernel_initializer: GlorotUniform\\(seed=None\\) declares a weight of "
                       "shape \\(3, 4000000000\\) \\(12000000000 values\\), bringing the "
                       "weights declared so far to 12000000000 values, more than the 1048762 "
                       "the file holds \\(186 values in its weight arrays, plus 1048576 of "
                       "slack\\)$"):
        npylstm.load_model(bad)
