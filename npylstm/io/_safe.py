"""Opening untrusted Keras files safely: recognising a container from its first bytes,
zip archives read member by exact name with bomb checks, HDF5 objects reached one path
component at a time with links refused, JSON with a size cap, and atomic writes.

* Zip members are read by exact name; archives with absolute or ``..`` member names,
  duplicate names, or members declaring a huge uncompressed size are refused.
* HDF5 objects are reached one path component at a time; soft links, external links,
  external and virtual datasets, non-numeric datasets and shape bombs are refused.
* A missing file, a file that is not a Keras file, and a truncated or corrupted file give
  three different messages naming the path.
* Writers go through :func:`npylstm.io.atomic.atomic_write` (re-exported here as
  ``_atomic_write``): the whole file under a temporary name in the target directory,
  fsynced, then ``os.replace``-d into place, so an error never leaves a half-written file.
"""

from __future__ import annotations

import json
import math
import re
import zipfile
from collections import Counter
from pathlib import Path

import h5py
import numpy as np

from .atomic import atomic_write as _atomic_write  # the one writer (re-exported)
from .model_file import KerasFileError

__all__ = [
    "_JSON_MAX_BYTES",
    "_KerasDir",
    "_SafeZip",
    "_atomic_write",
    "_corrupted",
    "_h5_array",
    "_h5_child",
    "_h5_group",
    "_h5_strings",
    "_h5_text",
    "_open_h5",
    "_open_keras_container",
    "_parse_json",
    "_sniff",
]

_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")
_HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
_KERAS_ZIP_MEMBERS = ("config.json", "metadata.json", "model.weights.h5")
# A member declaring more than this many bytes and more than _ZIP_MAX_RATIO times what it
# stores is a decompression bomb (Keras stores members uncompressed: ratio 1).
_ZIP_BOMB_FLOOR = 1 << 20
_ZIP_MAX_RATIO = 100
_JSON_MAX_BYTES = 64 << 20
# A dataset declaring more than this many bytes and more than _H5_MAX_RATIO times its
# storage on disk is a shape / decompression bomb.
_H5_BOMB_FLOOR = 1 << 24
_H5_MAX_RATIO = 1000


def _sniff(path: Path) -> str:
    """``"zip"`` or ``"hdf5"`` from the file's first bytes; clear errors otherwise."""
    if not path.exists():
        raise FileNotFoundError(f"No such file: '{path}'")
    if path.is_dir():
        if (path / "config.json").is_file():
            return "dir"  # Keras 3's unzipped format: save_model(..., zipped=False)
        raise KerasFileError(
            f"'{path}' is a directory, not a Keras file (expected a .keras, .weights.h5 or "
            ".h5 file, or a directory holding config.json and model.weights.h5)"
        )
    with open(path, "rb") as f:
        head = f.read(8)
        if head[:4] in _ZIP_MAGIC:
            return "zip"
        # HDF5 allows a user block of 512, 1024, 2048 ... bytes before the signature.
        offset = 0
        size = path.stat().st_size
        while offset + 8 <= size:
            f.seek(offset)
            if f.read(8) == _HDF5_MAGIC:
                return "hdf5"
            offset = 512 if offset == 0 else offset * 2
    if not head:
        raise KerasFileError(f"'{path}' is empty, not a Keras file")
    raise KerasFileError(
        f"'{path}' is not a Keras file: expected a .keras zip archive or an HDF5 file "
        f"(.weights.h5 / .h5), found a file starting with {head!r}"
    )


def _corrupted(path: Path, exc: BaseException) -> KerasFileError:
    return KerasFileError(f"'{path}' is truncated or corrupted: {exc}")


def _open_h5(source, path: Path) -> h5py.File:
    try:
        return h5py.File(source, "r")
    except OSError as exc:
        raise _corrupted(path, exc) from exc


class _SafeZip:
    """A zip archive whose members are checked before anything is read."""

    def __init__(self, path: Path):
        self.path = path
        try:
            self.zf = zipfile.ZipFile(path, "r")
        except (zipfile.BadZipFile, OSError, EOFError) as exc:
            raise _corrupted(path, exc) from exc
        names = [info.filename for info in self.zf.infolist()]
        for name in names:
            parts = name.replace("\\", "/").split("/")
            if name.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", name) or ".." in parts:
                raise KerasFileError(
                    f"'{path}': refusing a zip archive with an unsafe member name {name!r} "
                    "(absolute path or '..')"
                )
        duplicates = sorted(n for n, count in Counter(names).items() if count > 1)
        if duplicates:
            raise KerasFileError(
                f"'{path}': refusing a zip archive with duplicate members {duplicates}"
            )
        self.names = set(names)

    def read(self, name: str, max_bytes: int | None = None) -> bytes:
        info = self.zf.getinfo(name)  # exact name: no globbing, no normalisation
        if max_bytes is not None and info.file_size > max_bytes:
            raise KerasFileError(
                f"'{self.path}': zip member '{name}' declares {info.file_size} bytes, "
                f"more than the {max_bytes} allowed"
            )
        if info.file_size > _ZIP_BOMB_FLOOR and info.file_size > _ZIP_MAX_RATIO * max(
            info.compress_size, 1
        ):
            raise KerasFileError(
                f"'{self.path}': zip member '{name}' declares {info.file_size} bytes but "
                f"stores only {info.compress_size}: refusing a potential decompression bomb"
            )
        try:
            with self.zf.open(info, "r") as member:
                data = member.read(info.file_size + 1)
        except (zipfile.BadZipFile, OSError, EOFError, RuntimeError) as exc:
            raise _corrupted(self.path, exc) from exc
        if len(data) != info.file_size:
            raise _corrupted(self.path, f"member '{name}' is not the size it declares")
        return data

    def close(self) -> None:
        self.zf.close()


class _KerasDir:
    """Keras 3's unzipped ``.keras`` (a directory): the same reads as :class:`_SafeZip`."""

    def __init__(self, path: Path):
        self.path = path
        # Regular files only, at the top level: symbolic links are not followed.
        self.names = {p.name for p in path.iterdir() if p.is_file() and not p.is_symlink()}

    def read(self, name: str, max_bytes: int | None = None) -> bytes:
        member = self.path / name
        size = member.stat().st_size
        if max_bytes is not None and size > max_bytes:
            raise KerasFileError(
                f"'{self.path}': '{name}' has {size} bytes, more than the {max_bytes} allowed"
            )
        return member.read_bytes()

    def close(self) -> None:
        pass


def _h5_child(parent: h5py.Group, name: str, where: str, path: Path):
    """``parent[name]`` one component at a time, refusing links; None when absent."""
    node = parent
    parts = name.split("/")
    for part in parts:
        if part in ("", ".", ".."):
            raise KerasFileError(f"'{path}': refusing the HDF5 path {name!r} in {where}")
        if not isinstance(node, h5py.Group):
            return None
        link = node.get(part, getlink=True)  # the link itself, never followed
        if link is None:
            return None
        if isinstance(link, h5py.SoftLink | h5py.ExternalLink):
            raise KerasFileError(
                f"'{path}': refusing an HDF5 {type(link).__name__} at "
                f"{node.name.rstrip('/')}/{part} (links are not followed)"
            )
        try:
            node = node[part]
        except (KeyError, OSError) as exc:
            raise _corrupted(path, exc) from exc
    return node


def _h5_group(parent: h5py.Group, name: str, where: str, path: Path) -> h5py.Group | None:
    node = _h5_child(parent, name, where, path)
    if node is not None and not isinstance(node, h5py.Group):
        raise KerasFileError(f"'{path}': expected an HDF5 group at {node.name}, found a dataset")
    return node


def _h5_array(parent: h5py.Group, name: str, where: str, path: Path) -> np.ndarray:
    node = _h5_child(parent, name, where, path)
    if node is None:
        raise KerasFileError(f"'{path}': {where}: the weight {name!r} is missing")
    if not isinstance(node, h5py.Dataset):
        raise KerasFileError(f"'{path}': expected an HDF5 dataset at {node.name}, found a group")
    if node.external:
        raise KerasFileError(f"'{path}': refusing the external dataset {node.name}")
    if node.is_virtual:
        raise KerasFileError(f"'{path}': refusing the virtual dataset {node.name}")
    if node.dtype.kind not in "fiu":
        raise KerasFileError(
            f"'{path}': {where}: the weight {node.name} has dtype {node.dtype}, expected numbers"
        )
    declared = math.prod(node.shape or ()) * node.dtype.itemsize
    stored = node.id.get_storage_size()
    if declared > _H5_BOMB_FLOOR and declared > _H5_MAX_RATIO * max(stored, 1):
        raise KerasFileError(
            f"'{path}': the dataset {node.name} declares {declared} bytes but stores only "
            f"{stored}: refusing a potential shape bomb"
        )
    try:
        return np.array(node)
    except OSError as exc:
        raise _corrupted(path, exc) from exc


def _h5_strings(group: h5py.Group, name: str) -> list[str]:
    """A list-of-strings attribute, joined from ``name0, name1, ...`` when it was split."""

    def decode(values) -> list[str]:
        return [v.decode("utf8") if isinstance(v, bytes) else str(v) for v in np.atleast_1d(values)]

    if name in group.attrs:
        values = group.attrs[name]
        return [] if np.size(values) == 0 else decode(values)
    out: list[str] = []
    chunk = 0
    while f"{name}{chunk}" in group.attrs:  # long lists spill over (HDF5 header limit)
        out.extend(decode(group.attrs[f"{name}{chunk}"]))
        chunk += 1
    return out


def _h5_text(attrs, name: str) -> str | None:
    value = attrs.get(name)
    if value is None:
        return None
    if isinstance(value, bytes):
        return value.decode("utf8")
    if isinstance(value, np.ndarray) and value.shape == ():
        value = value.item()
        return value.decode("utf8") if isinstance(value, bytes) else str(value)
    return str(value)


def _parse_json(text: str | bytes, what: str, path: Path):
    try:
        return json.loads(text)
    except (ValueError, UnicodeDecodeError) as exc:
        raise _corrupted(path, f"{what} is not valid JSON ({exc})") from exc

def _open_keras_container(path: Path, kind: str) -> _SafeZip | _KerasDir:
    """The members of a ``.keras`` zip (``kind == "zip"``) or unzipped directory (``"dir"``)."""
    return _SafeZip(path) if kind == "zip" else _KerasDir(path)
