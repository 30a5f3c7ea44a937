"""Opening untrusted Keras files safely: recognising a container from its first bytes,
zip archives read member by exact name with bomb checks, HDF5 objects reached one path
component at a time with links refused, JSON with a size cap, and atomic writes.

* Zip members are read by exact name; archives with absolute or ``..`` member names,
  duplicate names, or members declaring a huge uncompressed size are refused.
* HDF5 objects are reached one path component at a time; soft links, external links,
  external and virtual datasets, non-numeric datasets and shape bombs are refused.
* A missing file, a file that is not a Keras file, and a truncated or corrupted file give
  three different messages naming the path.
* Every size a file declares is checked against :mod:`npylstm.io.limits` before it is
  read; every read (not only the open) turns what h5py, zipfile, zlib, json or NumPy raise
  for a damaged file into a :class:`KerasFileError` naming the path and what was read.
* ``.npy`` / ``.npz`` arrays (:mod:`npylstm.io.arrays`) are read header first:
  the magic string, the dtype (object, string, complex and structured arrays refused, never
  unpickled) and the shape against the limits, then the data.
* Writers go through :func:`npylstm.io.atomic.atomic_write` (re-exported here as
  ``_atomic_write``): the whole file under a temporary name in the target directory,
  fsynced, then ``os.replace``-d into place, so an error never leaves a half-written file.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import stat
import weakref
import zipfile
import zlib
from collections import Counter
from pathlib import Path

import h5py
import numpy as np

from .atomic import atomic_write as _atomic_write  # the one writer (re-exported)
from .limits import check_array, check_size, limit
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
    "_reading",
    "_sniff",
    "not_a_regular_file",
]

_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")
_HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
_KERAS_ZIP_MEMBERS = ("config.json", "metadata.json", "model.weights.h5")
# A member declaring more than this many bytes and more than _ZIP_MAX_RATIO times what it
# stores is a decompression bomb (Keras stores members uncompressed: ratio 1).
_ZIP_BOMB_FLOOR = 1 << 20
_ZIP_MAX_RATIO = 100
_JSON_MAX_BYTES = 64 << 20  # the default of limits.MAX_JSON_BYTES (kept for its importers)
# A dataset declaring more than this many bytes and more than _H5_MAX_RATIO times its
# storage on disk is a shape / decompression bomb.
_H5_BOMB_FLOOR = 1 << 24
_H5_MAX_RATIO = 1000


# What a read of a damaged file raises, from h5py, zipfile, zlib, json and NumPy.
_READ_ERRORS = (OSError, RuntimeError, KeyError, ValueError, TypeError, EOFError, IndexError,
                OverflowError, zlib.error, zipfile.BadZipFile, NotImplementedError)


# What h5py / zipfile / zlib raise at read time for damaged bytes (never for a valid file).
_DAMAGE_ERRORS = (OSError, RuntimeError, KeyError, EOFError, OverflowError, zlib.error,
                  zipfile.BadZipFile, UnicodeDecodeError, RecursionError)


@contextlib.contextmanager
def _reading(path: Path, what: str):
    """Whatever a damaged file makes h5py / zipfile / zlib / json raise inside the block
    becomes a :class:`KerasFileError` naming ``path`` and ``what`` was being read."""
    try:
        yield
    except KerasFileError:
        raise
    except FileNotFoundError:
        raise
    except _DAMAGE_ERRORS as exc:
        raise _corrupted(path, exc, what) from exc


def not_a_regular_file(path: str | os.PathLike, what: str = "file") -> str | None:
    """Why ``path`` cannot be read as a ``what`` (None for a regular file): one message
    for a FIFO / pipe, socket or device (which would block or never end).

    >>> not_a_regular_file("/dev/null")
    "'/dev/null' is a character device, not a regular file: expected a file"
    """
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return None  # missing: the caller's FileNotFoundError
    if stat.S_ISREG(mode) or stat.S_ISDIR(mode):
        return None
    kind = ("a FIFO (named pipe)" if stat.S_ISFIFO(mode) else "a socket" if stat.S_ISSOCK(mode)
            else "a character device" if stat.S_ISCHR(mode)
            else "a block device" if stat.S_ISBLK(mode) else "not a regular file")
    return f"'{path}' is {kind}, not a regular file: expected a {what}"


def _sniff(path: Path) -> str:
    """``"zip"`` or ``"hdf5"`` from the file's first bytes; clear errors otherwise."""
    if not path.exists():
        raise FileNotFoundError(f"No such file: '{path}'")
    problem = not_a_regular_file(path, "Keras file")
    if problem:
        raise KerasFileError(problem)
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
    if _HDF5_MAGIC.startswith(head) or any(m.startswith(head) for m in _ZIP_MAGIC):
        raise KerasFileError(f"'{path}' is truncated or corrupted: only {len(head)} bytes")
    raise KerasFileError(
        f"'{path}' is not a Keras file: expected a .keras zip archive or an HDF5 file "
        f"(.weights.h5 / .h5), found a file starting with {head!r}"
    )


def _corrupted(path: Path, exc: BaseException | str, what: str = "") -> KerasFileError:
    if isinstance(exc, KeyError):  # str(KeyError) is the quoted key
        exc = f"missing key {exc}"
    detail = re.sub(r"\s*\n\s*", " ", str(exc) or type(exc).__name__).strip()
    where = f" (reading {what})" if what else ""
    return KerasFileError(f"'{path}' is truncated or corrupted{where}: {detail}")


# Per open HDF5 file: [datasets read, bytes read] (limits MAX_FILE_DATASETS / _BYTES).
_H5_BUDGETS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


_U64 = (1 << 64) - 1


def _global_heaps_loop(data) -> int | None:
    """The offset of a global heap collection (``GCOL``, where HDF5 keeps variable-length
    strings such as a legacy file's ``model_config``) on which libhdf5 2.0's
    ``H5HG__cache_heap_deserialize`` would loop forever (an entry whose size, in its
    64-bit arithmetic, does not move forward: a free-space entry of size 0, or a size
    that wraps), or None. Walks the collections as that function does."""
    with memoryview(data) as view:
        pos = data.find(b"GCOL")
        while pos != -1:
            if pos + 16 <= len(data) and data[pos + 4] == 1:
                size = int.from_bytes(view[pos + 8: pos + 16], "little")
                end, p = pos + size, pos + 16
                while p + 16 <= min(end, len(data)):  # a smaller tail is free space
                    index = int.from_bytes(view[p: p + 2], "little")
                    length = int.from_bytes(view[p + 8: p + 16], "little")
                    # libhdf5's size_t arithmetic: the aligned size and the step wrap
                    need = ((16 + (((length + 7) & _U64) & ~7)) & _U64) if index else length
                    if need >= 1 << 63:
                        need -= 1 << 64  # the pointer moves back
                    if need <= 0:  # no progress: libhdf5 would read this entry forever
                        return pos
                    p += need
            pos = data.find(b"GCOL", pos + 4)
    return None


def _check_global_heaps(source, path: Path) -> None:
    import mmap

    try:
        if isinstance(source, io.BytesIO):
            offset = _global_heaps_loop(source.getbuffer().tobytes())
        else:
            with open(source, "rb") as handle:
                if os.fstat(handle.fileno()).st_size == 0:
                    return
                with mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as data:
                    offset = _global_heaps_loop(data)
    except (OSError, ValueError, TypeError):
        return  # h5py reports what is wrong with the file
    if offset is not None:
        raise KerasFileError(
            f"'{path}' is truncated or corrupted (reading the HDF5 global heap at byte "
            f"{offset}): an entry whose size does not move forward, on which libhdf5 would "
            "loop forever"
        )


def _open_h5(source, path: Path) -> h5py.File:
    _check_global_heaps(source, path)
    try:
        h5 = h5py.File(source, "r")
    except _READ_ERRORS as exc:
        raise _corrupted(path, exc, "the HDF5 superblock") from exc
    with contextlib.suppress(TypeError):  # a damaged file's id may not hash
        _H5_BUDGETS[h5.id] = [0, 0, path]
    return h5


def _h5_spend(node: h5py.Dataset, nbytes: int, path: Path) -> None:
    """Count one dataset of ``nbytes`` against its file's budget before it is read."""
    try:
        budget = _H5_BUDGETS.setdefault(node.file.id, [0, 0])
    except TypeError:  # not weak-referenceable: no per-file total, the per-array limits hold
        budget = [0, 0]
    budget[0] += 1
    budget[1] += nbytes
    check_size(budget[0], "MAX_FILE_DATASETS", f"'{path}' (datasets read so far)", "datasets")
    check_size(budget[1], "MAX_FILE_BYTES", f"'{path}' (datasets read so far)")


class _SafeZip:
    """A zip archive whose members are checked before anything is read."""

    def __init__(self, path: Path):
        self.path = path
        try:
            self.zf = zipfile.ZipFile(path, "r")
        except _READ_ERRORS as exc:
            raise _corrupted(path, exc, "the zip directory") from exc
        infos = self.zf.infolist()
        check_size(len(infos), "MAX_ARCHIVE_MEMBERS", f"'{path}': the zip archive", "members")
        check_size(sum(info.file_size for info in infos), "MAX_FILE_BYTES",
                   f"'{path}': the zip archive's members (uncompressed)")
        names = [info.filename for info in infos]
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

    def open_member(self, name: str, max_bytes: int | None = None):
        """``(info, stream)`` of member ``name`` after its declared size is checked."""
        info = self.zf.getinfo(name)  # exact name: no globbing, no normalisation
        if max_bytes == _JSON_MAX_BYTES:  # a JSON member: the limit as raised
            max_bytes = limit("MAX_JSON_BYTES")
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
        check_size(info.file_size, "MAX_MEMBER_BYTES", f"'{self.path}': zip member '{name}'")
        try:
            return info, self.zf.open(info, "r")
        except _READ_ERRORS as exc:
            raise _corrupted(self.path, exc, f"zip member '{name}'") from exc

    def read(self, name: str, max_bytes: int | None = None) -> bytes:
        info, stream = self.open_member(name, max_bytes)
        try:
            with stream as member:
                data = member.read(info.file_size + 1)
        except _READ_ERRORS as exc:
            raise _corrupted(self.path, exc, f"zip member '{name}'") from exc
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
        problem = not_a_regular_file(member)
        if problem:
            raise KerasFileError(problem)
        size = member.stat().st_size
        check_size(size, "MAX_MEMBER_BYTES", f"'{self.path}': '{name}'")
        if max_bytes is not None and size > max_bytes:
            raise KerasFileError(
                f"'{self.path}': '{name}' has {size} bytes, more than the {max_bytes} allowed"
            )
        try:
            return member.read_bytes()
        except OSError as exc:
            raise _corrupted(self.path, exc, f"'{name}'") from exc

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
        try:
            link = node.get(part, getlink=True)  # the link itself, never followed
        except _READ_ERRORS as exc:
            raise _corrupted(path, exc, f"the HDF5 link {part!r} in {where}") from exc
        if link is None:
            return None
        if isinstance(link, h5py.SoftLink | h5py.ExternalLink):
            raise KerasFileError(
                f"'{path}': refusing an HDF5 {type(link).__name__} at "
                f"{node.name.rstrip('/')}/{part} (links are not followed)"
            )
        try:
            node = node[part]
        except _READ_ERRORS as exc:
            raise _corrupted(path, exc, f"the HDF5 object {part!r} in {where}") from exc
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
    try:
        return _h5_read_dataset(parent, node, where, path)
    except KerasFileError:
        raise
    except _READ_ERRORS as exc:
        raise _corrupted(path, exc, f"the dataset {name!r} of {where}") from exc


def _h5_read_dataset(parent: h5py.Group, node: h5py.Dataset, where: str, path: Path):
    check_size(len(parent), "MAX_GROUP_DATASETS", f"'{path}': the HDF5 group {parent.name}",
               "members")
    if node.external:
        raise KerasFileError(f"'{path}': refusing the external dataset {node.name}")
    if node.is_virtual:
        raise KerasFileError(f"'{path}': refusing the virtual dataset {node.name}")
    if node.dtype.kind not in "fiu":
        raise KerasFileError(
            f"'{path}': {where}: the weight {node.name} has dtype {node.dtype}, expected numbers"
        )
    declared = int(np.prod(node.shape or (), dtype=object)) * node.dtype.itemsize
    stored = node.id.get_storage_size()
    if declared > _H5_BOMB_FLOOR and declared > _H5_MAX_RATIO * max(stored, 1):
        raise KerasFileError(
            f"'{path}': the dataset {node.name} declares {declared} bytes but stores only "
            f"{stored}: refusing a potential shape bomb"
        )
    check_array(node.shape or (), node.dtype.itemsize, f"'{path}': {where}: the dataset "
                f"{node.name}")
    _h5_spend(node, declared, path)
    return np.array(node)


def _h5_path(obj) -> str:
    """The path an HDF5 object's file was opened as (:func:`_open_h5`), for messages."""
    try:
        fid = h5py.h5i.get_file_id(obj._id if isinstance(obj, h5py.AttributeManager)
                                   else obj.id)
        budget = _H5_BUDGETS.get(fid)
        return str(budget[2]) if budget and len(budget) > 2 else fid.name.decode("utf8", "replace")
    except Exception:  # only for a message
        return "<HDF5 file>"


def _h5_attr(attrs, name: str):
    """``attrs[name]`` (None when absent) after its declared size is checked; what a
    damaged header raises becomes a :class:`KerasFileError`."""
    path = _h5_path(attrs)
    try:
        if name not in attrs:
            return None
        aid = attrs.get_id(name)
        check_array(aid.shape or (), aid.dtype.itemsize if aid.dtype.itemsize else 1,
                    f"'{path}': the HDF5 attribute {name!r}")
        return attrs[name]
    except KerasFileError:
        raise
    except _READ_ERRORS as exc:
        raise _corrupted(path, exc, f"the HDF5 attribute {name!r}") from exc


def _decode(value, name: str, path) -> str:
    if isinstance(value, bytes | np.bytes_):
        try:
            return bytes(value).decode("utf8")
        except UnicodeDecodeError as exc:
            raise _corrupted(path, f"the attribute {name!r} is not UTF-8 text ({exc})") from exc
    if isinstance(value, str):
        return value
    raise KerasFileError(f"'{path}': the HDF5 attribute {name!r} holds "
                         f"{type(value).__name__} {value!r}, expected text")


def _h5_strings(group: h5py.Group, name: str) -> list[str]:
    """A list-of-strings attribute, joined from ``name0, name1, ...`` when it was split."""
    path = _h5_path(group.attrs)

    def decode(values, key) -> list[str]:
        values = np.asarray(values)
        if values.dtype.kind not in "SUO":
            raise KerasFileError(f"'{path}': the HDF5 attribute {key!r} of {group.name} has "
                                 f"dtype {values.dtype}, expected strings")
        return [_decode(v, key, path) for v in values.reshape(-1)]

    values = _h5_attr(group.attrs, name)
    if values is not None:
        return [] if np.size(values) == 0 else decode(values, name)
    out: list[str] = []
    chunk = 0
    while True:  # long lists spill over (HDF5 header limit)
        values = _h5_attr(group.attrs, f"{name}{chunk}")
        if values is None:
            return out
        out.extend(decode(values, f"{name}{chunk}"))
        check_size(len(out), "MAX_GROUP_DATASETS", f"'{path}': the attribute {name!r}",
                   "names")
        chunk += 1


def _h5_text(attrs, name: str) -> str | None:
    value = _h5_attr(attrs, name)
    if value is None:
        return None
    path = _h5_path(attrs)
    if isinstance(value, np.ndarray):
        if value.shape != () and value.size != 1:
            raise KerasFileError(f"'{path}': the HDF5 attribute {name!r} holds an array of "
                                 f"shape {value.shape}, expected text")
        value = value.reshape(()).item()
    if isinstance(value, bytes | np.bytes_ | str):
        return _decode(value, name, path)
    return str(value)


def _json_depth(value) -> int:
    """Nesting depth of parsed JSON (iterative: deep input cannot overflow the stack)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict | list):
            deepest = max(deepest, depth)
            stack.extend((child, depth + 1)
                         for child in (node.values() if isinstance(node, dict) else node))
    return deepest


def _parse_json(text: str | bytes, what: str, path: Path):
    """JSON text (``what`` of ``path``) parsed within MAX_JSON_BYTES / MAX_JSON_DEPTH."""
    check_size(len(text), "MAX_JSON_BYTES", f"'{path}': {what}")
    try:
        value = json.loads(text)
    except RecursionError:
        value = None
        depth = None
    except (ValueError, UnicodeDecodeError, TypeError) as exc:
        raise _corrupted(path, f"{what} is not valid JSON ({exc})") from exc
    else:
        depth = _json_depth(value)
    if depth is None:
        raise KerasFileError(f"'{path}': {what} nests lists / objects deeper than Python's "
                             f"recursion limit, more than the limit MAX_JSON_DEPTH = "
                             f"{limit('MAX_JSON_DEPTH')}")
    check_size(depth, "MAX_JSON_DEPTH", f"'{path}': {what}", "levels of nesting")
    return value


def _open_keras_container(path: Path, kind: str) -> _SafeZip | _KerasDir:
    """The members of a ``.keras`` zip (``kind == "zip"``) or unzipped directory (``"dir"``)."""
    return _SafeZip(path) if kind == "zip" else _KerasDir(path)
