"""Bad and hostile files: each gets its own clear error naming the path, and nothing unsafe
is followed, extracted or evaluated. Files are made here with zipfile / h5py (no Keras)."""

from __future__ import annotations

import json
import os
import re
import shutil
import zipfile
from pathlib import Path

import h5py
import numpy as np
import pytest

import npylstm
from npylstm.io import keras3
from npylstm.keras_io import KerasFileError

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture
def model():
    return npylstm.Sequential(
        [
            npylstm.Input((4, 3)),
            npylstm.layers.LSTM(5, return_sequences=True, name="first"),
            npylstm.layers.Dropout(0.1, name="drop"),
            npylstm.layers.LSTM(2, name="second"),
            npylstm.layers.Dense(1, name="head"),
        ]
    )


@pytest.fixture
def keras_file(model, tmp_path):
    return model.save(tmp_path / "good.keras")


def path_re(path) -> str:
    return re.escape(str(path))


# -- missing, not Keras, truncated: three different messages --------------------------------------


def test_missing_file(tmp_path):
    missing = tmp_path / "nope.keras"
    with pytest.raises(FileNotFoundError, match=f"No such file: '{path_re(missing)}'"):
        npylstm.load_model(missing)
    with pytest.raises(FileNotFoundError, match=path_re(missing)):
        npylstm.Sequential([npylstm.Input((2, 1)), npylstm.layers.LSTM(1)]).load_weights(missing)


@pytest.mark.parametrize(
    "content, message",
    [
        (b"hello, I am a CSV file\n1,2,3\n", "is not a Keras file: expected a .keras zip"),
        (b"", "is empty, not a Keras file"),
    ],
)
def test_not_a_keras_file(tmp_path, content, message):
    path = tmp_path / "model.keras"
    path.write_bytes(content)
    with pytest.raises(KerasFileError, match=f"'{path_re(path)}' {message}"):
        npylstm.load_model(path)


def test_directory_is_not_a_keras_file(tmp_path):
    with pytest.raises(KerasFileError, match=f"'{path_re(tmp_path)}' is a directory"):
        npylstm.load_model(tmp_path)


def test_other_hdf5_and_zip_files_are_not_keras_files(tmp_path):
    h5 = tmp_path / "data.h5"
    with h5py.File(h5, "w") as f:
        f["x"] = np.zeros(3)
    with pytest.raises(
        KerasFileError, match=f"'{path_re(h5)}' is an HDF5 file but not a Keras model"
    ):
        npylstm.load_model(h5)
    with pytest.raises(KerasFileError, match="not a Keras weights file"):
        npylstm.Sequential([npylstm.Input((2, 1)), npylstm.layers.LSTM(1)]).load_weights(h5)
    archive = tmp_path / "photos.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("cat.jpg", b"\xff\xd8")
    with pytest.raises(
        KerasFileError, match="is a zip archive but not a .keras file: no config.json"
    ):
        npylstm.load_model(archive)


@pytest.mark.parametrize("suffix", [".keras", ".h5", ".weights.h5"])
def test_truncated_files(model, tmp_path, suffix):
    good = tmp_path / f"good{suffix}"
    (model.save_weights if suffix == ".weights.h5" else model.save)(good)
    cut = tmp_path / f"cut{suffix}"
    cut.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(KerasFileError, match=f"'{path_re(cut)}' is truncated or corrupted"):
        if suffix == ".weights.h5":
            model.load_weights(cut)
        else:
            npylstm.load_model(cut)


def test_corrupted_zip_member(keras_file, tmp_path):
    data = bytearray(keras_file.read_bytes())
    start = data.index(b'"class_name"')  # inside config.json, stored uncompressed
    data[start + 1 : start + 6] = b"CLASS"  # still JSON, but the CRC no longer matches
    bad = tmp_path / "crc.keras"
    bad.write_bytes(bytes(data))
    with pytest.raises(KerasFileError, match=f"'{path_re(bad)}' is truncated or corrupted.*CRC"):
        npylstm.load_model(bad)


def test_config_that_is_not_json(tmp_path):
    bad = tmp_path / "json.keras"
    with zipfile.ZipFile(bad, "w") as zf:
        zf.writestr("config.json", "{not json")
        zf.writestr("model.weights.h5", b"")
    with pytest.raises(
        KerasFileError, match="truncated or corrupted: config.json is not valid JSON"
    ):
        npylstm.load_model(bad)


# -- zip safety -----------------------------------------------------------------------------------


def _rezip(src: Path, dst: Path, extra: dict[str, bytes]) -> None:
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for info in zin.infolist():
            zout.writestr(info.filename, zin.read(info.filename))
        for name, data in extra.items():
            zout.writestr(name, data)


@pytest.mark.parametrize("member", ["../evil.py", "/etc/evil", "assets/../../evil", "C:/evil"])
def test_unsafe_member_names_are_refused(keras_file, tmp_path, member):
    bad = tmp_path / "unsafe.keras"
    _rezip(keras_file, bad, {member: b"print('pwned')"})
    with pytest.raises(KerasFileError, match=r"unsafe member name .*absolute path or '\.\.'"):
        npylstm.load_model(bad)


def test_duplicate_members_are_refused(keras_file, tmp_path):
    bad = tmp_path / "dup.keras"
    with pytest.warns(UserWarning, match="Duplicate name"):  # zipfile itself warns on writing
        _rezip(keras_file, bad, {"config.json": b"{}"})
    with pytest.raises(KerasFileError, match=r"duplicate members \['config.json'\]"):
        npylstm.load_model(bad)


def test_zip_bomb_is_refused(keras_file, tmp_path):
    """A member whose central-directory entry declares 4 GB for a few bytes stored."""
    data = bytearray(keras_file.read_bytes())
    with zipfile.ZipFile(keras_file) as zf:
        stored = zf.getinfo("model.weights.h5").compress_size
    name = b"model.weights.h5"
    # Find this member's central directory record and set its uncompressed size (offset 24).
    central = data.index(b"PK\x01\x02")
    while data[central + 46 : central + 46 + len(name)] != name:
        central = data.index(b"PK\x01\x02", central + 4)
    data[central + 24 : central + 28] = (0xFFFF0000).to_bytes(4, "little")
    bad = tmp_path / "bomb.keras"
    bad.write_bytes(bytes(data))
    with pytest.raises(
        KerasFileError,
        match=f"'model.weights.h5' declares {0xFFFF0000} bytes but stores only {stored}: "
        "refusing a potential decompression bomb",
    ):
        npylstm.load_model(bad)


# -- HDF5 safety ----------------------------------------------------------------------------------


@pytest.fixture
def weights_file(model, tmp_path):
    return model.save_weights(tmp_path / "good.weights.h5")


def _edit_h5(src: Path, dst: Path, edit) -> Path:
    shutil.copy(src, dst)
    with h5py.File(dst, "r+") as f:
        edit(f)
    return dst


def test_soft_links_are_refused(model, weights_file, tmp_path):
    def soft(f):
        del f["layers/lstm/cell/vars/0"]
        f["layers/lstm/cell/vars/0"] = h5py.SoftLink("/layers/lstm_1/cell/vars/0")

    bad = _edit_h5(weights_file, tmp_path / "soft.weights.h5", soft)
    with pytest.raises(
        KerasFileError, match=r"refusing an HDF5 SoftLink at /layers/lstm/cell/vars/0"
    ):
        model.load_weights(bad)


def test_dangling_soft_links_are_refused_not_missing(model, weights_file, tmp_path):
    def dangling(f):
        del f["layers/dense/vars/1"]
        f["layers/dense/vars/1"] = h5py.SoftLink("/nowhere")

    bad = _edit_h5(weights_file, tmp_path / "dangling.weights.h5", dangling)
    with pytest.raises(KerasFileError, match=r"refusing an HDF5 SoftLink at /layers/dense/vars/1"):
        model.load_weights(bad)


def test_external_links_are_refused(model, weights_file, tmp_path):
    secret = tmp_path / "secret.h5"
    with h5py.File(secret, "w") as f:
        f["vars/0"] = np.zeros((5, 8), "float32")

    def external(f):
        del f["layers/lstm_1/cell"]
        f["layers/lstm_1/cell"] = h5py.ExternalLink(str(secret), "/")

    bad = _edit_h5(weights_file, tmp_path / "ext.weights.h5", external)
    with pytest.raises(
        KerasFileError, match=r"refusing an HDF5 ExternalLink at /layers/lstm_1/cell"
    ):
        model.load_weights(bad)


def test_external_datasets_are_refused(model, weights_file, tmp_path):
    raw = tmp_path / "raw.bin"
    raw.write_bytes(np.zeros(3 * 20, "float32").tobytes())

    def external(f):
        del f["layers/lstm/cell/vars/0"]
        f["layers/lstm/cell/vars"].create_dataset(
            "0", shape=(3, 20), dtype="float32", external=[(str(raw), 0, h5py.h5f.UNLIMITED)]
        )

    bad = _edit_h5(weights_file, tmp_path / "extds.weights.h5", external)
    with pytest.raises(
        KerasFileError, match=r"refusing the external dataset /layers/lstm/cell/vars/0"
    ):
        model.load_weights(bad)


def test_shape_bombs_and_strings_are_refused(model, weights_file, tmp_path):
    def bomb(f):
        del f["layers/dense/vars/0"]
        f["layers/dense/vars"].create_dataset(
            "0", shape=(1 << 20, 1 << 10), dtype="float32", chunks=(1024, 1024), compression="gzip"
        )  # 4 GiB declared, nothing written: nothing stored

    bad = _edit_h5(weights_file, tmp_path / "bomb.weights.h5", bomb)
    assert bad.stat().st_size < 1 << 20
    with pytest.raises(KerasFileError, match="declares 4294967296 bytes but stores only 0"):
        model.load_weights(bad)

    def strings(f):
        del f["layers/dense/vars/1"]
        f["layers/dense/vars/1"] = np.array([b"rm -rf /"])

    bad = _edit_h5(weights_file, tmp_path / "str.weights.h5", strings)
    with pytest.raises(
        KerasFileError, match=r"layer 'head' \(Dense\).*has dtype \|S8, expected numbers"
    ):
        model.load_weights(bad)


# -- mismatches name the layer and the shapes -----------------------------------------------------


def test_shape_mismatch_names_layer_and_shapes(model, tmp_path):
    other = npylstm.Sequential(
        [
            npylstm.Input((4, 3)),
            npylstm.layers.LSTM(5, return_sequences=True),
            npylstm.layers.Dropout(0.1),
            npylstm.layers.LSTM(3),
            npylstm.layers.Dense(1),
        ]
    )
    path = other.save_weights(tmp_path / "other.weights.h5")
    before = model.get_weights()
    with pytest.raises(
        KerasFileError,
        match=re.escape(
            "layer 'second' (LSTM) expects 3 weights ['kernel', 'recurrent_kernel', 'bias'] with "
            "shapes [(5, 8), (2, 8), (8,)], the file has 3 with shapes [(5, 12), (3, 12), (12,)]"
        ),
    ):
        model.load_weights(path)
    for a, b in zip(model.get_weights(), before, strict=True):  # nothing was half-loaded
        np.testing.assert_array_equal(a, b)


def test_weight_count_mismatch(model, tmp_path):
    no_bias = npylstm.Sequential(
        [
            npylstm.Input((4, 3)),
            npylstm.layers.LSTM(5, return_sequences=True, use_bias=False),
            npylstm.layers.Dropout(0.1),
            npylstm.layers.LSTM(2),
            npylstm.layers.Dense(1),
        ]
    )
    path = no_bias.save(tmp_path / "nobias.h5")
    with pytest.raises(KerasFileError, match=r"expects 3 weights .* the file has 2 with shapes"):
        model.load_weights(path)


def test_layer_count_mismatch(model, tmp_path):
    small = npylstm.Sequential([npylstm.Input((4, 3)), npylstm.layers.LSTM(5)])
    path = small.save(tmp_path / "small.h5")
    with pytest.raises(
        KerasFileError, match=r"config has 3 layers with weights, the file stores weights for 1"
    ):
        model.load_weights(path)
    path = small.save_weights(tmp_path / "small.weights.h5")
    with pytest.raises(
        KerasFileError, match=r"layer 'second' \(LSTM\): no weights at layers/lstm_1/cell/vars"
    ):
        model.load_weights(path)


# -- atomic writes --------------------------------------------------------------------------------


def test_failed_save_leaves_no_file(model, tmp_path, monkeypatch):
    target = tmp_path / "model.weights.h5"
    original = keras3._write_keras3_weights

    def fail_halfway(h5, *args):
        original(h5, *args)  # the whole file is written ...
        raise OSError("disk full")  # ... then the "disk" fails

    monkeypatch.setattr(keras3, "_write_keras3_weights", fail_halfway)
    with pytest.raises(OSError, match="disk full"):
        model.save_weights(target)
    with pytest.raises(OSError, match="disk full"):
        model.save(tmp_path / "model.keras")
    assert os.listdir(tmp_path) == []  # neither the target nor a temporary file


def test_failed_save_keeps_the_old_file(model, tmp_path, monkeypatch):
    target = model.save(tmp_path / "model.keras")
    before = target.read_bytes()

    def fail(*args, **kwargs):
        raise RuntimeError("interrupted")

    monkeypatch.setattr(zipfile.ZipFile, "writestr", fail)
    with pytest.raises(RuntimeError, match="interrupted"):
        model.save(target)
    assert target.read_bytes() == before
    assert os.listdir(tmp_path) == ["model.keras"]


def test_save_into_missing_directory(model, tmp_path):
    with pytest.raises(FileNotFoundError, match="the directory .* does not exist"):
        model.save(tmp_path / "no" / "such" / "model.keras")


def test_nothing_in_a_file_is_evaluated(tmp_path):
    """A config naming an importable callable as activation is rejected, never called."""
    good = npylstm.Sequential([npylstm.Input((2, 1)), npylstm.layers.LSTM(1, name="l")])
    good = good.save(tmp_path / "good.keras")
    config = {
        "class_name": "Sequential",
        "config": {
            "name": "s",
            "layers": [
                {"class_name": "InputLayer", "config": {"batch_shape": [None, 2, 1], "name": "in"}},
                {
                    "class_name": "LSTM",
                    "config": {
                        "name": "l",
                        "units": 1,
                        "activation": {
                            "module": "os",
                            "class_name": "function",
                            "config": "system",
                        },
                    },
                },
            ],
        },
    }
    bad = tmp_path / "eval.keras"
    with zipfile.ZipFile(good) as zin, zipfile.ZipFile(bad, "w") as zout:
        zout.writestr("config.json", json.dumps(config))
        zout.writestr("model.weights.h5", zin.read("model.weights.h5"))
    with pytest.raises(
        KerasFileError, match="cannot rebuild the model.*Unknown activation 'system'"
    ):
        npylstm.load_model(bad)


def test_unzipped_directory_does_not_follow_symlinks(keras_file, tmp_path):
    directory = tmp_path / "unzipped"
    directory.mkdir()
    with zipfile.ZipFile(keras_file) as zf:
        (tmp_path / "elsewhere.json").write_bytes(zf.read("config.json"))
        (directory / "model.weights.h5").write_bytes(zf.read("model.weights.h5"))
    (directory / "config.json").symlink_to(tmp_path / "elsewhere.json")
    with pytest.raises(
        KerasFileError, match="is a directory but not a .keras file: no config.json"
    ):
        npylstm.load_model(directory)
